"""Proxies for async generators and native coroutines: the generator proxy's idea, one level up.

An async generator's operation is an *awaitable*: ``await agen.asend(5)`` may suspend to the event
loop many times before it completes. It is one event: `seq`, `task`, `depth` and `state_before`
are taken at its first step, the outcome when it completes; an awaitable never awaited records
nothing. A coroutine's steps are the loop's own (``send``/``throw``/``close``), one event each.

States are derived from outcomes, as for generators (3.11 has neither `getasyncgenstate` nor
``ag_suspended``). Exceptions pass through unchanged, the proxy's frames taken off their traceback.

Longer than a module should be, on purpose: the hot steps (`AsyncStep.__next__`,
`CoroutineProxy.send`) each inline their whole step beside the general `_step` that the rare
operations share — a shared body would cost a call per step — and the two proxies and their
awaitable belong together.
"""

from __future__ import annotations

import dis
import inspect
import sys
import weakref
from asyncio import sleep
from asyncio import tasks as asyncio_tasks
from collections.abc import AsyncGenerator, Callable, Coroutine, Generator
from types import AsyncGeneratorType, CodeType, CoroutineType, FrameType, GeneratorType, TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from gentrace.compiled import speedups
from gentrace.proxy import forward, hide_from_warnings, pass_for
from gentrace.recorder import InstanceRef, Recorder, task_of, thread_state
from gentrace.records import (
    ACLOSE,
    AGEN_CLOSED,
    AGEN_CREATED,
    AGEN_RUNNING,
    AGEN_SUSPENDED,
    ANEXT,
    ASEND,
    ATHROW,
    CLOSE,
    CLOSED,
    CORO_CLOSED,
    CORO_CREATED,
    CORO_RUNNING,
    CORO_SUSPENDED,
    RAISE,
    RETURN,
    SEND,
    THROW,
    YIELD,
    Info,
    Sleep,
    state_after_raise,
)

__all__ = ["AsyncGeneratorProxy", "AsyncStep", "CoroutineProxy", "adopt"]


# -- async generators ---------------------------------------------------------------------------


_Step = TypeVar("_Step", bound="_PythonAsyncStep")
_Agen = TypeVar("_Agen", bound="_PythonAsyncGeneratorSteps")


class _PythonAsyncStep:
    """The awaitable's fields and its hot step in Python: the twin of the compiled
    ``_speedups.AsyncStepCore``; `AsyncStep` has the rest, for both."""

    __slots__ = ("_arg", "_aw", "_before", "_depth", "_op", "_proxy", "_seq", "_start", "_task", "_thread")

    if TYPE_CHECKING:  # AsyncStep's, which this step calls

        def _started(
            self, seq: int, before: str, depth: int, thread: str, task: str | None, start: int
        ) -> None: ...
        def _finish(self, exc: BaseException) -> None: ...
        def _step(self, call: Callable[..., Any], *args: Any) -> Any: ...

    def __init__(self, proxy: AsyncGeneratorProxy, op: str, arg: Any, aw: Any) -> None:
        self._proxy = proxy
        self._op = op
        self._arg = arg
        self._aw = aw
        self._seq = 0  # 0: not started; -1: not recorded (past the limit) or completed

    def __await__(self: _Step) -> _Step:
        return self

    def __iter__(self: _Step) -> _Step:
        return self

    def __next__(self) -> Any:
        # The path `await` takes. The common operation — started, and ended by a value without
        # suspending to the loop — is done here in one frame; everything else goes through _step.
        if self._seq != 0:
            try:
                return self._step(self._aw.send, None)
            except BaseException as exc:
                _strip_own_frames(exc)
                del self  # see proxy._strip_own_frame
                raise
        proxy = self._proxy
        rec = proxy._rec
        seq = next(rec.counter)
        if seq > rec.limit:
            rec.overflow(seq)
            self._seq = -1
            try:
                return self._aw.send(None)
            except BaseException as exc:
                _strip_own_frames(exc)
                del self  # see proxy._strip_own_frame
                raise
        rec.latest = seq
        inst = proxy._ref
        before = inst.state
        inst.state = AGEN_RUNNING
        st = thread_state.s
        depth = st[0]
        tasks = rec.tasks
        task = task_of(tasks) if tasks else None
        clock = rec.clock
        start = clock()
        if rec.starting:
            # (seq, info, op, arg, outcome, value, before, after, depth, thread, task, start, took, lasti, ended_after)
            rec.start((seq, proxy._info, self._op, self._arg, None, None, before, None, depth, st[1], task, start, 0, -1, 0))  # fmt: skip
        st[0] = depth + 1
        try:
            result = self._aw.send(None)
        except StopIteration as exc:
            st[0] = depth
            frame = proxy._agen.ag_frame
            if frame is not None and self._op != ACLOSE:
                end = clock()
                self._seq = -1
                inst.state = AGEN_SUSPENDED
                # (seq, info, op, arg, outcome, value, before, after, depth, thread, task, start, took, lasti, ended_after)
                rec.emit((seq, proxy._info, self._op, self._arg, YIELD, exc.value, before, AGEN_SUSPENDED, depth, st[1], task, start, end - start, frame.f_lasti, rec.latest))  # fmt: skip
                raise  # `await` takes the value from it: its traceback is never shown
            self._started(seq, before, depth, st[1], task, start)
            self._finish(exc)
            raise
        except BaseException as exc:
            st[0] = depth
            self._started(seq, before, depth, st[1], task, start)
            self._finish(exc)
            _strip_own_frames(exc)
            del self  # see proxy._strip_own_frame
            raise
        st[0] = depth
        self._started(seq, before, depth, st[1], task, start)  # suspended to the loop: not an event
        return result


if TYPE_CHECKING or speedups is None:
    _AsyncStepBase = _PythonAsyncStep
else:
    _AsyncStepBase = speedups.AsyncStepCore


class AsyncStep(_AsyncStepBase):
    """The awaitable of one operation on a traced async generator (what ``asend()`` returns).

    It forwards each step to the real generator's awaitable; its first step starts the event and
    its completion (a value, ``StopAsyncIteration``, an exception, or ``close()``) ends it. The
    first step is compiled when the C core is there, else `_PythonAsyncStep`'s.
    """

    __slots__ = ()

    def send(self, value: Any) -> Any:
        """Send `value` into the awaitable, as the awaiting coroutine does."""
        try:
            return self._step(self._aw.send, value)
        except BaseException as exc:
            _strip_own_frames(exc)
            del self  # see proxy._strip_own_frame
            raise

    def throw(self, typ: Any, val: Any = None, tb: TracebackType | None = None, /) -> Any:
        """Raise an exception in the awaitable (a cancellation, for instance)."""
        args = (typ,) if val is None and tb is None else (typ, val, tb)
        try:
            return self._step(self._aw.throw, *args)
        except BaseException as exc:
            _strip_own_frames(exc)
            del self, typ, val, tb, args  # see proxy._strip_own_frame
            raise

    def close(self) -> None:
        """Close the awaitable; one closed half-way is recorded with outcome ``closed``.

        3.13+ (gh-117714) closes the generator too, and raises "coroutine ignored GeneratorExit"
        when it awaits or yields in ``finally``: that is recorded as the operation's end.
        """
        try:
            self._aw.close()
        except BaseException as exc:
            if self._seq > 0:
                self._end(RAISE, exc, self._state_now())
            _strip_own_frames(exc)
            raise
        if self._seq > 0:
            self._end(CLOSED, None, self._state_now())

    def _state_now(self) -> str:
        # 3.11 leaves the generator "running" when an awaitable is closed half-way: ask it.
        agen = self._proxy._agen
        if agen.ag_frame is None:
            return AGEN_CLOSED
        return AGEN_RUNNING if agen.ag_running else AGEN_SUSPENDED

    def _started(self, seq: int, before: str, depth: int, thread: str, task: str | None, start: int) -> None:
        # What the end of an operation that goes on past its first step needs.
        self._seq = seq
        self._before = before
        self._depth = depth
        self._thread = thread
        self._task = task
        self._start = start

    def _begin(self) -> None:
        proxy = self._proxy
        rec = proxy._rec
        seq = next(rec.counter)
        if seq > rec.limit:
            rec.overflow(seq)
            self._seq = -1
            return
        rec.latest = seq
        inst = proxy._ref
        before = inst.state
        inst.state = AGEN_RUNNING
        st = thread_state.s
        tasks = rec.tasks
        task = task_of(tasks) if tasks else None
        start = rec.clock()
        self._started(seq, before, st[0], st[1], task, start)
        if rec.starting:
            # (seq, info, op, arg, outcome, value, before, after, depth, thread, task, start, took, lasti, ended_after)
            rec.start((seq, proxy._info, self._op, self._arg, None, None, before, None, st[0], st[1], task, start, 0, -1, 0))  # fmt: skip

    def _end(self, outcome: str, value: Any, after: str) -> None:
        proxy = self._proxy
        rec = proxy._rec
        end = rec.clock()
        seq = self._seq
        self._seq = -1
        proxy._ref.state = after
        frame = proxy._agen.ag_frame
        lasti = -1 if after == AGEN_CLOSED or frame is None else frame.f_lasti
        # (seq, info, op, arg, outcome, value, before, after, depth, thread, task, start, took, lasti, ended_after)
        rec.emit((seq, proxy._info, self._op, self._arg, outcome, value, self._before, after, self._depth, self._thread, self._task, self._start, end - self._start, lasti, rec.latest))  # fmt: skip

    def _finish(self, exc: BaseException) -> None:
        """End the operation with what its last step raised."""
        if isinstance(exc, StopIteration):
            if self._proxy._agen.ag_frame is None:  # finished (or already was: 3.11's athrow)
                self._end(CLOSED, None, AGEN_CLOSED)
            elif self._op == ACLOSE:  # 3.11: a second aclose() after "ignored GeneratorExit" does nothing
                self._end(CLOSED, None, AGEN_SUSPENDED)
            else:
                self._end(YIELD, exc.value, AGEN_SUSPENDED)
        elif isinstance(exc, StopAsyncIteration):
            self._end(RETURN, None, self._state_after_raise())  # 3.11: aclose() twice may leave it
        else:
            self._end(RAISE, exc, self._state_after_raise())

    def _state_after_raise(self) -> str:
        # Rare, and 3.11's flags (ag_closed set by a first aclose(), ag_running left set by an
        # awaitable closed half-way) make a table wrong here: ask the generator.
        state = self._state_now()
        return AGEN_CREATED if state == AGEN_SUSPENDED and self._before == AGEN_CREATED else state

    def _step(self, call: Callable[..., Any], *args: Any) -> Any:
        if self._seq == 0:
            self._begin()
        if self._seq < 0:
            try:
                return call(*args)
            except BaseException:
                del self, call, args  # see proxy._strip_own_frame
                raise
        st = thread_state.s
        outer = st[0]
        st[0] = self._depth + 1
        try:
            result = call(*args)
        except BaseException as exc:
            st[0] = outer
            self._finish(exc)
            del self, call, args  # see proxy._strip_own_frame
            raise
        st[0] = outer
        return result  # suspended to the loop inside the operation: not an event


_CollectHook = Callable[[Any], Any]


class _PythonAsyncGeneratorSteps:
    """A traced async generator's fields and ``__anext__`` in Python: the twin of the compiled
    ``_speedups.AsyncGeneratorSteps``."""

    __slots__ = ("__weakref__", "_agen", "_handle", "_hooked", "_info", "_rec", "_ref")

    if TYPE_CHECKING:  # AsyncGeneratorProxy's

        def _anext_first(self) -> AsyncStep: ...

    def __init__(self, agen: AsyncGeneratorType[Any, Any], recorder: Recorder, ref: InstanceRef) -> None:
        self._agen = agen
        self._rec = recorder
        self._ref = ref
        self._info: Info = ref.info
        self._hooked = False
        self._handle: _LoopHandle | None = None

    def __aiter__(self: _Agen) -> _Agen:
        return self

    def __anext__(self) -> AsyncStep:
        if self._hooked:
            return AsyncStep(self, ANEXT, None, self._agen.__anext__())  # type: ignore[arg-type]
        return self._anext_first()


if TYPE_CHECKING or speedups is None:
    _AgenBase = _PythonAsyncGeneratorSteps
else:
    _AgenBase = speedups.AsyncGeneratorSteps


class AsyncGeneratorProxy(_AgenBase, AsyncGenerator[Any, Any]):
    """A traced async generator: behaves exactly like the one it wraps, and records each operation.

    The event loop's async-generator hooks (asyncio's, trio's) see a `_LoopHandle` for it, both of
    them: ``shutdown_asyncgens`` closes it through the handle, and the finalizer, called when the
    generator is garbage-collected while suspended, is told after `collect` is recorded — the
    generator's async ``finally`` then runs on the loop, untraced, exactly as without gentrace.
    Its ``__anext__`` is compiled when the C core is there, else `_PythonAsyncGeneratorSteps`'.
    """

    __slots__ = ()

    def _hook(self, make: Callable[..., Any], *args: Any) -> Any:
        # The real generator calls the hooks on its first operation: swap them for that call.
        self._hooked = True
        firstiter, finalizer = sys.get_asyncgen_hooks()
        if firstiter is None and finalizer is None:
            return make(*args)
        handle = _LoopHandle(self)
        self._handle = handle  # the loop holds it weakly, as it would the generator
        sys.set_asyncgen_hooks(
            firstiter=None if firstiter is None else lambda _agen: firstiter(handle),
            finalizer=None if finalizer is None else _finalizer(finalizer, handle),
        )
        try:
            return make(*args)
        finally:
            sys.set_asyncgen_hooks(firstiter=firstiter, finalizer=finalizer)

    def _anext_first(self) -> AsyncStep:
        # The first __anext__: the loop's hooks are called with the handle.
        return AsyncStep(self, ANEXT, None, self._hook(self._agen.__anext__))

    def asend(self, value: Any) -> AsyncStep:
        """``await proxy.asend(value)``, as `agen.asend` does."""
        if self._hooked:
            return AsyncStep(self, ASEND, value, self._agen.asend(value))
        return AsyncStep(self, ASEND, value, self._hook(self._agen.asend, value))

    def athrow(self, typ: Any, val: Any = None, tb: TracebackType | None = None, /) -> AsyncStep:
        """``await proxy.athrow(exc)``, as `agen.athrow` does."""
        args = (typ,) if val is None and tb is None else (typ, val, tb)
        thrown = typ if val is None else val
        if self._hooked:
            return AsyncStep(self, ATHROW, thrown, self._agen.athrow(*args))
        return AsyncStep(self, ATHROW, thrown, self._hook(self._agen.athrow, *args))

    def aclose(self) -> AsyncStep:
        """``await proxy.aclose()``, as `agen.aclose` does."""
        if self._hooked:
            return AsyncStep(self, ACLOSE, None, self._agen.aclose())
        return AsyncStep(self, ACLOSE, None, self._hook(self._agen.aclose))

    # -- what an async generator also has: ag_* and the rest, forwarded by `pass_for` below ------

    @property
    def gentrace_name(self) -> str:
        """The instance's name in the log, e.g. ``ticker#1``."""
        return self._info[0]

    def __repr__(self) -> str:
        return f"<traced async generator {self._info[0]} of {self._agen!r}>"


class _LoopHandle:
    """What the event loop's async-generator hooks are given for a traced async generator.

    Both hooks get this one object, as both get the one generator untraced (trio matches them by
    ``id()``), and it passes for an async generator (`pass_for`: ``isinstance``, ``ag_frame``…,
    read on the real one). The loop keeps it (weakly) to close the generator at shutdown
    (``shutdown_asyncgens`` calls its ``aclose()``), or is handed it by the finalizer hook when
    the generator is garbage-collected while suspended: that is recorded as `collect`, and the
    real generator's ``aclose()`` runs its async ``finally`` exactly as without gentrace.

    Only the proxy and the finalizer hook (which the real generator keeps) hold it, and it holds
    the generator weakly: a proxy dropped while suspended frees the generator at once, and its
    finalizer hook runs when it would untraced, reviving it here for the loop's ``aclose()``.
    """

    __slots__ = ("__weakref__", "_rec", "_ref", "_revived", "_weak")

    def __init__(self, proxy: AsyncGeneratorProxy) -> None:
        self._weak = weakref.ref(proxy._agen)
        self._revived: AsyncGeneratorType[Any, Any] | None = None
        self._rec = proxy._rec
        self._ref = proxy._ref

    @property
    def _agen(self) -> Any:
        revived = self._revived
        return revived if revived is not None else self._weak()

    def aclose(self) -> Any:
        agen = self._agen
        if agen is None:  # it finished and is gone, this handle kept alive (a garbage cycle)
            return _awaited()  # as the loop's weak set would have lost it untraced: nothing to close
        self._revived = None  # the awaitable holds it now: no cycle through the finalizer hook
        self._rec._collected(self._ref)
        return agen.aclose()

    def asend(self, value: Any) -> Any:
        return self._agen.asend(value)

    def athrow(self, *args: Any) -> Any:
        return self._agen.athrow(*args)

    def __aiter__(self) -> _LoopHandle:
        return self

    def __anext__(self) -> Any:
        return self._agen.__anext__()

    def __repr__(self) -> str:
        return f"<traced async generator {self._ref.info[0]} of {self._agen!r}>"


def _finalizer(finalizer: _CollectHook, handle: _LoopHandle) -> _CollectHook:
    # The real generator keeps this hook: it holds the handle, which holds the generator weakly.
    def collect_then_finalize(agen: Any) -> Any:
        handle._revived = agen
        handle._rec._collected(handle._ref)
        return finalizer(handle)

    return collect_then_finalize


pass_for(
    AsyncGeneratorProxy,
    AsyncGeneratorType,
    "_agen",
    ("ag_frame", "ag_code", "ag_running", "ag_await", "ag_suspended"),
)
pass_for(
    _LoopHandle,
    AsyncGeneratorType,
    "_agen",
    ("ag_frame", "ag_code", "ag_running", "ag_await", "ag_suspended"),
)


# -- coroutines ---------------------------------------------------------------------------------


class _PythonCoroutineSteps:
    """A traced coroutine's fields and ``send`` in Python: the twin of the compiled
    ``_speedups.CoroutineSteps``."""

    __slots__ = ("__weakref__", "_coro", "_info", "_rec", "_ref")

    if TYPE_CHECKING:  # CoroutineProxy's

        def _ended(
            self,
            seq: int,
            op: str,
            arg: Any,
            exc: BaseException,
            before: str,
            depth: int,
            thread: str,
            task: str | None,
            start: int,
            end: int,
        ) -> None: ...

    def __init__(self, coro: CoroutineType[Any, Any, Any], recorder: Recorder, ref: InstanceRef) -> None:
        self._coro = coro
        self._rec = recorder
        self._ref = ref
        self._info: Info = ref.info

    def send(self, value: Any = None) -> Any:
        """Send `value` into the coroutine, as `coroutine.send` does (``__next__`` sends None)."""
        # The loop's step and an `await`'s: the common path, in one frame.
        rec = self._rec
        seq = next(rec.counter)
        if seq > rec.limit:
            rec.overflow(seq)
            try:
                return self._coro.send(value)
            except BaseException as exc:
                _strip_own_frames(exc)
                raise
        rec.latest = seq
        inst = self._ref
        before = inst.state
        inst.state = CORO_RUNNING
        st = thread_state.s
        depth = st[0]
        st[0] = depth + 1
        tasks = rec.tasks
        task = task_of(tasks) if tasks else None
        clock = rec.clock
        start = clock()
        if rec.starting:
            rec.start(
                (seq, self._info, SEND, value, None, None, before, None, depth, st[1], task, start, 0, -1, 0)
            )
        try:
            result = self._coro.send(value)
        except BaseException as exc:
            end = clock()
            st[0] = depth
            self._ended(seq, SEND, value, exc, before, depth, st[1], task, start, end)
            _strip_own_frames(exc)
            raise
        end = clock()
        st[0] = depth
        inst.state = CORO_SUSPENDED
        aw = self._coro.cr_await
        shown = result if aw is None else _described(result, aw)
        lasti = self._coro.cr_frame.f_lasti  # type: ignore[union-attr]  # suspended: it has its frame
        # (seq, info, op, arg, outcome, value, before, after, depth, thread, task, start, took, lasti, ended_after)
        rec.emit((seq, self._info, SEND, value, YIELD, shown, before, CORO_SUSPENDED, depth, st[1], task, start, end - start, lasti, rec.latest))  # fmt: skip
        return result

    __next__ = send


if TYPE_CHECKING or speedups is None:
    _CoroutineBase = _PythonCoroutineSteps
else:
    _CoroutineBase = speedups.CoroutineSteps


class CoroutineProxy(_CoroutineBase, Coroutine[Any, Any, Any]):
    """A traced coroutine: asyncio accepts it wherever it accepts a coroutine, and each step the
    loop (or an ``await``) takes is recorded: ``send`` (also ``__next__``), ``throw``, ``close``.

    ``inspect.iscoroutine()``, ``asyncio.iscoroutine()`` and ``inspect.isawaitable()`` are True
    (`pass_for`). A traced coroutine never awaited still gets Python's "coroutine ... was never
    awaited" warning, from the real coroutine. Its ``send`` is compiled when the C core is there,
    else `_PythonCoroutineSteps`'.
    """

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, Any]:
        # Never refused, as a coroutine's __await__() is not (anext()'s awaitable asks for it at
        # every step on 3.10 and 3.11); only `await` itself refuses a native coroutine that is
        # being awaited already, which it cannot tell of a proxy (README, "Transparency").
        return _CoroutineAwait(self)

    def throw(self, typ: Any, val: Any = None, tb: TracebackType | None = None, /) -> Any:
        """Raise an exception inside the coroutine, as `coroutine.throw` does."""
        args = (typ,) if val is None and tb is None else (typ, val, tb)
        try:
            return self._step(THROW, typ if val is None else val, self._coro.throw, *args)
        except BaseException as exc:
            _strip_own_frames(exc)
            del typ, val, tb, args  # see proxy._strip_own_frame
            raise

    def close(self) -> None:
        """Close the coroutine, as `coroutine.close` does."""
        try:
            self._step(CLOSE, None, self._coro.close)
        except BaseException as exc:
            _strip_own_frames(exc)
            raise

    def _step(self, op: str, arg: Any, call: Callable[..., Any], *args: Any) -> Any:
        # throw() and close() are rare: one body for both.
        rec = self._rec
        seq = next(rec.counter)
        if seq > rec.limit:
            rec.overflow(seq)
            try:
                return call(*args)
            except BaseException:
                del arg, call, args  # see proxy._strip_own_frame
                raise
        rec.latest = seq
        inst = self._ref
        before = inst.state
        inst.state = CORO_RUNNING
        st = thread_state.s
        depth = st[0]
        st[0] = depth + 1
        tasks = rec.tasks
        task = task_of(tasks) if tasks else None
        clock = rec.clock
        start = clock()
        if rec.starting:
            rec.start(
                (seq, self._info, op, arg, None, None, before, None, depth, st[1], task, start, 0, -1, 0)
            )
        try:
            result = call(*args)
        except BaseException as exc:
            end = clock()
            st[0] = depth
            self._ended(seq, op, arg, exc, before, depth, st[1], task, start, end)
            del arg, call, args  # see proxy._strip_own_frame
            raise
        end = clock()
        st[0] = depth
        if op == CLOSE:
            inst.state = CORO_CLOSED
            outcome, shown, after, lasti = CLOSED, None, CORO_CLOSED, -1
        else:
            inst.state = CORO_SUSPENDED
            aw = self._coro.cr_await
            shown = result if aw is None else _described(result, aw)
            outcome, after = YIELD, CORO_SUSPENDED
            lasti = self._coro.cr_frame.f_lasti  # type: ignore[union-attr]  # suspended: it has its frame
        # (seq, info, op, arg, outcome, value, before, after, depth, thread, task, start, took, lasti, ended_after)
        rec.emit((seq, self._info, op, arg, outcome, shown, before, after, depth, st[1], task, start, end - start, lasti, rec.latest))  # fmt: skip
        return result

    def _ended(
        self,
        seq: int,
        op: str,
        arg: Any,
        exc: BaseException,
        before: str,
        depth: int,
        thread: str,
        task: str | None,
        start: int,
        end: int,
    ) -> None:
        # The coroutine returned (StopIteration) or raised.
        if isinstance(exc, StopIteration):
            outcome, value, after = RETURN, exc.value, CORO_CLOSED
        else:
            outcome, value, after = RAISE, exc, state_after_raise(op, before, arg, exc)
        self._ref.state = after
        frame = self._coro.cr_frame
        lasti = -1 if after == CORO_CLOSED or frame is None else frame.f_lasti
        # (seq, info, op, arg, outcome, value, before, after, depth, thread, task, start, took, lasti, ended_after)
        self._rec.emit((seq, self._info, op, arg, outcome, value, before, after, depth, thread, task, start, end - start, lasti, self._rec.latest))  # fmt: skip

    # -- what a coroutine also has: cr_* and the rest, forwarded by `pass_for` below -----------

    @property
    def gentrace_name(self) -> str:
        """The instance's name in the log, e.g. ``fetch#1``."""
        return self._info[0]

    def __repr__(self) -> str:
        return f"<traced coroutine {self._info[0]} of {self._coro!r}>"


pass_for(
    CoroutineProxy,
    CoroutineType,
    "_coro",
    ("cr_frame", "cr_code", "cr_await", "cr_running", "cr_suspended", "cr_origin"),
)


class _CoroutineAwait(CoroutineProxy):
    """What ``__await__()`` of a traced coroutine gives, as a coroutine's gives its iterator: the
    same traced coroutine (its steps recorded alike, with no frame more), but iterable, so that
    ``yield from coro.__await__()`` (a hand-written ``__await__``, as anyio's futures have) works.
    """

    __slots__ = ()

    def __init__(self, proxy: CoroutineProxy) -> None:
        super().__init__(proxy._coro, proxy._rec, proxy._ref)

    def __iter__(self) -> _CoroutineAwait:
        return self


async def _awaited() -> None:
    pass


_example = _awaited()
_COROUTINE_WRAPPER = type(_example.__await__())
_example.close()
forward(_CoroutineAwait, "_coro", (), __class__=property(lambda self: _COROUTINE_WRAPPER))
_CoroutineAwait.__name__ = _COROUTINE_WRAPPER.__name__


_AWAKE: Any = object()
_SLEEP_CODE: CodeType = sleep.__code__
_SLEEP0_CODE: CodeType = getattr(asyncio_tasks, "__sleep0").__code__
_SLEEP0 = Sleep(None, 0)


def _described(result: Any, aw: Any) -> Any:
    """What a coroutine yielded to the loop, as the log shows it: a `Sleep` while in asyncio.sleep."""
    while True:
        cls = type(aw)
        if cls is CoroutineType:
            if aw.cr_code is _SLEEP_CODE:
                inner = aw.cr_await
                if type(inner) is GeneratorType and inner.gi_code is _SLEEP0_CODE:
                    # sleep(0), or any delay <= 0: it yields None (one shared Sleep), no locals to read
                    return _SLEEP0 if result is None else Sleep(result, 0)
                frame = aw.cr_frame
                return result if frame is None else Sleep(result, frame.f_locals.get("delay"))
            aw = aw.cr_await
        elif cls is CoroutineProxy or cls is _CoroutineAwait:
            aw = aw._coro
        elif cls is AsyncStep:  # awaiting a traced async generator: what is it awaiting?
            aw = aw._proxy._agen.ag_await
        elif cls is GeneratorType:  # a @types.coroutine generator
            aw = aw.gi_yieldfrom
        else:
            return result


def _strip_own_frames(exc: BaseException) -> None:
    # The proxies' frames on top of a traceback are gentrace's, not the program's. A step that
    # lets an exception go also deletes its locals that reach it: see `proxy._strip_own_frame`.
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code in _OWN_CODES:
        tb = tb.tb_next
    exc.__traceback__ = tb


_STEPS = (
    _PythonAsyncStep.__next__,
    AsyncStep.send,
    AsyncStep.throw,
    AsyncStep.close,
    AsyncStep._step,
    _PythonCoroutineSteps.send,
    CoroutineProxy.throw,
    CoroutineProxy.close,
    CoroutineProxy._step,
)
hide_from_warnings(*_STEPS)
_OWN_CODES: frozenset[CodeType] = frozenset(step.__code__ for step in _STEPS)

if speedups is not None:
    speedups.configure_async(
        (ANEXT, ACLOSE),
        (AGEN_RUNNING, AGEN_SUSPENDED),
        (CORO_RUNNING, CORO_SUSPENDED, CORO_CLOSED),
        step=AsyncStep,
        described=_described,
        sleep=(_SLEEP_CODE, _SLEEP0_CODE, _SLEEP0),
    )


def _fresh(frame: FrameType) -> bool:
    # A frame that has not reached its first RESUME has not started (3.11 has no ag_suspended);
    # 3.10 has no RESUME: there, a frame that never ran is at instruction -1.
    if sys.version_info < (3, 11):
        return frame.f_lasti < 0
    for instruction in dis.get_instructions(frame.f_code):
        if instruction.opname == "RESUME":
            return frame.f_lasti < instruction.offset
    return False


def adopt(
    recorder: Recorder, obj: Any, name: str | None, func: Callable[..., Any] | None, arg: Any
) -> AsyncGeneratorProxy | CoroutineProxy:
    """Put a proxy around an async generator or coroutine object and record its creation."""
    if func is not None and speedups is not None:  # the same steps, compiled, for a fresh one
        if type(obj) is AsyncGeneratorType:
            return recorder.adopt(obj, name, func, arg, AsyncGeneratorProxy, AGEN_CREATED, "ag_frame")  # type: ignore[no-any-return]
        return recorder.adopt(obj, name, func, arg, CoroutineProxy, CORO_CREATED, "cr_frame")  # type: ignore[no-any-return]
    ref = recorder.instance(obj, name, func)
    proxy: AsyncGeneratorProxy | CoroutineProxy
    if type(obj) is AsyncGeneratorType:
        proxy = AsyncGeneratorProxy(obj, recorder, ref)
        frame = obj.ag_frame
        if obj.ag_running:
            state = AGEN_RUNNING
        elif frame is None:
            state = AGEN_CLOSED
        else:  # 3.11 has no ag_suspended; a fresh frame has not run an instruction
            state = AGEN_CREATED if func is not None or _fresh(frame) else AGEN_SUSPENDED
    else:
        proxy = CoroutineProxy(obj, recorder, ref)
        frame = obj.cr_frame
        state = CORO_CREATED if func is not None else inspect.getcoroutinestate(obj)
    recorder.created(ref, arg, state, frame.f_lasti if frame is not None else -1)
    return proxy
