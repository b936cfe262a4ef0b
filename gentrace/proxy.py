"""`GeneratorProxy`: forwards the generator protocol to a real generator and records each step.

This is the hot path. Each operation reads a few slots, calls the real generator, builds one tuple
and hands it to the recorder; the state after the step comes from the outcome (a table in
`events`), never from `inspect`. There is deliberately no ``__getattr__``: it would defeat
Python 3.11's specialization of the ``self._x`` reads below; the ``gi_*`` attributes are properties.

Exceptions pass through unchanged — the very object — and the proxy's own frame is taken off
their traceback, so a traceback reads as it would without gentrace.
"""

from __future__ import annotations

import gc
from collections.abc import Generator
from types import CodeType, FrameType, GeneratorType, TracebackType
from typing import Any

from gentrace.recorder import InstanceRef, Recorder, task_of, thread_state
from gentrace.records import (
    CLOSE,
    CLOSED,
    GEN_CLOSED,
    GEN_RUNNING,
    GEN_SUSPENDED,
    NEXT,
    RAISE,
    RETURN,
    SEND,
    THROW,
    YIELD,
    Info,
    state_after_raise,
)


def _strip_own_frame(exc: BaseException, code: CodeType) -> None:
    tb = exc.__traceback__
    if tb is not None and tb.tb_frame.f_code is code:
        exc.__traceback__ = tb.tb_next


class GeneratorProxy(Generator[Any, Any, Any]):
    """A traced generator: behaves exactly like the generator it wraps, and records every step."""

    __slots__ = ("__weakref__", "_frame", "_gen", "_info", "_rec", "_ref")

    def __init__(self, gen: GeneratorType[Any, Any, Any], recorder: Recorder, ref: InstanceRef) -> None:
        self._gen = gen
        self._rec = recorder
        self._ref = ref
        self._info: Info = ref.info
        # The frame stays the same object for the generator's life: reading its f_lasti is far
        # cheaper than f_lineno (the line is looked up only when shown). None once finished.
        self._frame: Any = gen.gi_frame

    def __iter__(self) -> GeneratorProxy:
        return self

    def __next__(self) -> Any:
        rec = self._rec
        seq = next(rec.counter)
        if seq > rec.limit:
            rec.overflow(seq)
            return next(self._gen)
        rec.latest = seq
        inst = self._ref
        info = self._info
        before = inst.state
        inst.state = GEN_RUNNING
        st = thread_state.s
        depth = st[0]
        st[0] = depth + 1
        clock = rec.clock
        tasks = rec.tasks
        task = task_of(tasks) if tasks else None
        if rec.starting:
            rec.start(
                (seq, info, NEXT, None, None, None, before, None, depth, st[1], task, clock(), 0, -1, 0)
            )
        start = clock()
        try:
            value = next(self._gen)
        except StopIteration as exc:
            end = clock()
            st[0] = depth
            inst.state = GEN_CLOSED
            self._frame = None
            # (seq, info, op, arg, outcome, value, before, after, depth, thread, task, start, took, lasti, ended_after)
            rec.emit((seq, info, NEXT, None, RETURN, exc.value, before, GEN_CLOSED, depth, st[1], task, start, end - start, -1, rec.latest))  # fmt: skip
            _strip_own_frame(exc, GeneratorProxy.__next__.__code__)
            raise
        except BaseException as exc:
            end = clock()
            st[0] = depth
            self._raised(seq, NEXT, None, exc, before, depth, st[1], task, start, end)
            _strip_own_frame(exc, GeneratorProxy.__next__.__code__)
            raise
        end = clock()
        st[0] = depth
        inst.state = GEN_SUSPENDED
        # (seq, info, op, arg, outcome, value, before, after, depth, thread, task, start, took, lasti, ended_after)
        rec.emit((seq, info, NEXT, None, YIELD, value, before, GEN_SUSPENDED, depth, st[1], task, start, end - start, self._frame.f_lasti, rec.latest))  # fmt: skip
        return value

    def send(self, value: Any) -> Any:
        """Send `value` into the generator, as `generator.send` does."""
        rec = self._rec
        seq = next(rec.counter)
        if seq > rec.limit:
            rec.overflow(seq)
            return self._gen.send(value)
        rec.latest = seq
        inst = self._ref
        info = self._info
        before = inst.state
        inst.state = GEN_RUNNING
        st = thread_state.s
        depth = st[0]
        st[0] = depth + 1
        clock = rec.clock
        tasks = rec.tasks
        task = task_of(tasks) if tasks else None
        if rec.starting:
            rec.start(
                (seq, info, SEND, value, None, None, before, None, depth, st[1], task, clock(), 0, -1, 0)
            )
        start = clock()
        try:
            result = self._gen.send(value)
        except StopIteration as exc:
            end = clock()
            st[0] = depth
            inst.state = GEN_CLOSED
            self._frame = None
            # (seq, info, op, arg, outcome, value, before, after, depth, thread, task, start, took, lasti, ended_after)
            rec.emit((seq, info, SEND, value, RETURN, exc.value, before, GEN_CLOSED, depth, st[1], task, start, end - start, -1, rec.latest))  # fmt: skip
            _strip_own_frame(exc, GeneratorProxy.send.__code__)
            raise
        except BaseException as exc:
            end = clock()
            st[0] = depth
            self._raised(seq, SEND, value, exc, before, depth, st[1], task, start, end)
            _strip_own_frame(exc, GeneratorProxy.send.__code__)
            raise
        end = clock()
        st[0] = depth
        inst.state = GEN_SUSPENDED
        # (seq, info, op, arg, outcome, value, before, after, depth, thread, task, start, took, lasti, ended_after)
        rec.emit((seq, info, SEND, value, YIELD, result, before, GEN_SUSPENDED, depth, st[1], task, start, end - start, self._frame.f_lasti, rec.latest))  # fmt: skip
        return result

    def throw(self, typ: Any, val: Any = None, tb: TracebackType | None = None, /) -> Any:
        """Raise an exception inside the generator, as `generator.throw` does."""
        # Forward exactly the arguments given: the one- and three-argument forms differ
        # (Python 3.12 deprecates the latter).
        args = (typ,) if val is None and tb is None else (typ, val, tb)
        thrown = typ if val is None else val
        try:
            return self._step_slow(THROW, thrown, self._gen.throw, args)
        except BaseException as exc:
            _strip_own_frame(exc, GeneratorProxy.throw.__code__)
            raise

    def close(self) -> Any:
        """Close the generator, as `generator.close` does (which returns its return value on 3.13+)."""
        try:
            return self._step_slow(CLOSE, None, self._gen.close, ())
        except BaseException as exc:
            _strip_own_frame(exc, GeneratorProxy.close.__code__)
            raise

    def _step_slow(self, op: str, arg: Any, call: Any, args: tuple[Any, ...]) -> Any:
        # throw() and close() are rare: one shared body is worth the extra call.
        rec = self._rec
        seq = next(rec.counter)
        if seq > rec.limit:
            rec.overflow(seq)
            return call(*args)
        rec.latest = seq
        inst = self._ref
        info = self._info
        before = inst.state
        inst.state = GEN_RUNNING
        st = thread_state.s
        depth = st[0]
        st[0] = depth + 1
        clock = rec.clock
        tasks = rec.tasks
        task = task_of(tasks) if tasks else None
        if rec.starting:
            rec.start((seq, info, op, arg, None, None, before, None, depth, st[1], task, clock(), 0, -1, 0))
        start = clock()
        try:
            result = call(*args)
        except StopIteration as exc:
            end = clock()
            st[0] = depth
            inst.state = GEN_CLOSED
            self._frame = None
            # (seq, info, op, arg, outcome, value, before, after, depth, thread, task, start, took, lasti, ended_after)
            rec.emit((seq, info, op, arg, RETURN, exc.value, before, GEN_CLOSED, depth, st[1], task, start, end - start, -1, rec.latest))  # fmt: skip
            _strip_own_frame(exc, GeneratorProxy._step_slow.__code__)
            raise
        except BaseException as exc:
            end = clock()
            st[0] = depth
            self._raised(seq, op, arg, exc, before, depth, st[1], task, start, end)
            _strip_own_frame(exc, GeneratorProxy._step_slow.__code__)
            raise
        end = clock()
        st[0] = depth
        if op == CLOSE:
            inst.state = GEN_CLOSED
            self._frame = None
            # (seq, info, op, arg, outcome, value, before, after, depth, thread, task, start, took, lasti, ended_after)
            rec.emit((seq, info, op, arg, CLOSED, None, before, GEN_CLOSED, depth, st[1], task, start, end - start, -1, rec.latest))  # fmt: skip
        else:
            inst.state = GEN_SUSPENDED
            # (seq, info, op, arg, outcome, value, before, after, depth, thread, task, start, took, lasti, ended_after)
            rec.emit((seq, info, op, arg, YIELD, result, before, GEN_SUSPENDED, depth, st[1], task, start, end - start, self._frame.f_lasti, rec.latest))  # fmt: skip
        return result

    def _raised(
        self,
        seq: int,
        op: str,
        arg: Any,
        exc: BaseException,
        before: str,
        depth: int,
        thread: Any,
        task: str | None,
        start: int,
        end: int,
    ) -> None:
        inst = self._ref
        info = self._info
        after = state_after_raise(op, before, arg, exc)
        if after == GEN_SUSPENDED and self._gen.gi_frame is None:
            # "generator ignored GeneratorExit" came from a generator this one delegates to (or
            # closed itself), and finished this one on its way out.
            after = GEN_CLOSED
        if after == GEN_CLOSED:
            self._frame = None
            lasti = -1
        else:
            lasti = self._frame.f_lasti if self._frame is not None else -1
        # A re-entrant call leaves the state to the outer call, which is still running.
        inst.state = after
        rec = self._rec
        # (seq, info, op, arg, outcome, value, before, after, depth, thread, task, start, took, lasti, ended_after)
        rec.emit((seq, info, op, arg, RAISE, exc, before, after, depth, thread, task, start, end - start, lasti, rec.latest))  # fmt: skip

    # -- what a generator also has --------------------------------------------------------------

    @property
    def gi_frame(self) -> FrameType | None:
        return self._gen.gi_frame

    @property
    def gi_code(self) -> CodeType:
        return self._gen.gi_code

    @property
    def gi_running(self) -> bool:
        return self._gen.gi_running

    @property
    def gi_suspended(self) -> bool:
        return self._gen.gi_suspended  # type: ignore[attr-defined,no-any-return]

    @property
    def gi_yieldfrom(self) -> Any:
        return self._gen.gi_yieldfrom

    @property
    def __name__(self) -> str:
        return self._gen.__name__

    @property
    def gentrace_name(self) -> str:
        """The instance's name in the log, e.g. ``averager#1``."""
        return self._info[0]

    def __repr__(self) -> str:
        return f"<traced generator {self._info[0]} of {self._gen!r}>"


def _forward_qualname(cls: type, attribute: str = "_gen") -> None:
    # A class body cannot define `__qualname__` (type() insists it is a str and keeps it off the
    # class dict), yet a generator has one. Put the property into the class dict directly, then
    # make the type drop its attribute cache.
    namespace = gc.get_referents(cls.__dict__)[0]
    namespace["__qualname__"] = property(lambda self: getattr(self, attribute).__qualname__)
    cls._gentrace_refresh = None  # type: ignore[attr-defined]
    del cls._gentrace_refresh  # type: ignore[attr-defined]


_forward_qualname(GeneratorProxy)
