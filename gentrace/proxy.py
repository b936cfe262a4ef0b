"""`GeneratorProxy`: forwards the generator protocol to a real generator and records each step.

This is the hot path. Each operation reads a few slots, calls the real generator, builds one tuple
and hands it to the recorder; the state after the step comes from the outcome (a table in
`events`), never from `inspect`. There is deliberately no ``__getattr__``: it would defeat
Python 3.11's specialization of the ``self._x`` reads below; the ``gi_*`` attributes are properties.
The proxy holds no frame (it asks ``gi_frame`` for the instruction a step ended at): a frame object
held elsewhere keeps the generator's locals alive after it finishes or is cleared.

Exceptions pass through unchanged — the very object — and the proxy's own frame is taken off
their traceback, so a traceback reads as it would without gentrace.
"""

from __future__ import annotations

import gc
import inspect
import linecache
import operator
import os
import sys
from collections.abc import Generator
from types import CodeType, GeneratorType, TracebackType
from typing import TYPE_CHECKING, Any

from gentrace.compiled import speedups
from gentrace.recorder import (
    InstanceRef,
    Recorder,
    discard,
    new_thread_state,
    running_tasks,
    task_of,
    thread_state,
)
from gentrace.records import (
    CLOSE,
    CLOSED,
    COLLECTED,
    CREATE,
    CREATED,
    GEN_CLOSED,
    GEN_CREATED,
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

# Each traced step adds frames between a generator and the one it delegates to (the proxy's
# step; 3.10 and 3.11 also count the slot call from C), so a `yield from` recursion would meet
# RecursionError sooner than untraced. Past DEEP nested steps on a thread, each step raises the
# recursion limit by what it adds (the first one also by what the DEEP below it added) and
# lowers it back when it ends. 3.12's separate C recursion limit cannot be raised: there,
# traced recursion stops sooner (the README's "Transparency").
DEEP = 50
ROOM = 6  # for the recorder's call at the deepest step (a sink that needs more gets it: Recorder)
STEP_FRAMES = 2 if sys.version_info < (3, 11) else 1
# The compiled step has no frame, but on 3.10 and 3.11 a generator run from C counts one more.
COMPILED_STEP_FRAMES = 1 if sys.version_info < (3, 12) else 0


def _strip_own_frame(exc: BaseException, code: CodeType) -> None:
    # The step's frame on top of a traceback is gentrace's, not the program's.
    #
    # A step that lets an exception go also deletes the locals by which its frame reaches it (what
    # was thrown, an awaitable that holds it, the step itself), on every path, recorded or not: the
    # exception's traceback may still reach that frame (3.10's re-raise puts it back; on 3.12 and
    # 3.13 a generator's frame in the traceback links to it as its f_back when it ends). The cycle
    # would keep the generator's locals until the next collection; untraced, they go at once.
    tb = exc.__traceback__
    if tb is not None and tb.tb_frame.f_code is code:
        exc.__traceback__ = tb.tb_next


def record_raised(
    proxy: Any,
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
    """Record a step that raised `exc` (both paths: the compiled one calls this too)."""
    inst = proxy._ref
    info = proxy._info
    after = state_after_raise(op, before, arg, exc)
    frame = proxy._gen.gi_frame
    if after == GEN_SUSPENDED and frame is None:
        # "generator ignored GeneratorExit" came from a generator this one delegates to (or
        # closed itself), and finished this one on its way out.
        after = GEN_CLOSED
    lasti = -1 if after == GEN_CLOSED or frame is None else frame.f_lasti
    # A re-entrant call leaves the state to the outer call, which is still running.
    inst.state = after
    rec = proxy._rec
    # (seq, info, op, arg, outcome, value, before, after, depth, thread, task, start, took, lasti, ended_after)
    rec.emit((seq, info, op, arg, RAISE, exc, before, after, depth, thread, task, start, end - start, lasti, rec.latest))  # fmt: skip


class _PythonSteps:
    """A traced generator's steps in Python: the twin of the compiled ``_speedups.GeneratorSteps``."""

    __slots__ = ("__weakref__", "_gen", "_info", "_rec", "_ref")

    def __init__(self, gen: GeneratorType[Any, Any, Any], recorder: Recorder, ref: InstanceRef) -> None:
        self._gen: Any = gen  # (its gi_frame is there while it is suspended)
        self._rec = recorder
        self._ref = ref
        self._info: Info = ref.info

    def __iter__(self) -> _PythonSteps:
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
        if depth >= DEEP:
            extra = STEP_FRAMES * (DEEP + 1) + ROOM if depth == DEEP else STEP_FRAMES
            sys.setrecursionlimit(sys.getrecursionlimit() + extra)
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
            if depth >= DEEP:
                sys.setrecursionlimit(sys.getrecursionlimit() - extra)
            inst.state = GEN_CLOSED
            # (seq, info, op, arg, outcome, value, before, after, depth, thread, task, start, took, lasti, ended_after)
            rec.emit((seq, info, NEXT, None, RETURN, exc.value, before, GEN_CLOSED, depth, st[1], task, start, end - start, -1, rec.latest))  # fmt: skip
            _strip_own_frame(exc, _PythonSteps.__next__.__code__)
            raise
        except BaseException as exc:
            end = clock()
            st[0] = depth
            if depth >= DEEP:
                sys.setrecursionlimit(sys.getrecursionlimit() - extra)
            record_raised(self, seq, NEXT, None, exc, before, depth, st[1], task, start, end)
            _strip_own_frame(exc, _PythonSteps.__next__.__code__)
            raise
        end = clock()
        st[0] = depth
        if depth >= DEEP:
            sys.setrecursionlimit(sys.getrecursionlimit() - extra)
        inst.state = GEN_SUSPENDED
        # (seq, info, op, arg, outcome, value, before, after, depth, thread, task, start, took, lasti, ended_after)
        rec.emit((seq, info, NEXT, None, YIELD, value, before, GEN_SUSPENDED, depth, st[1], task, start, end - start, self._gen.gi_frame.f_lasti, rec.latest))  # fmt: skip
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
        if depth >= DEEP:
            extra = STEP_FRAMES * (DEEP + 1) + ROOM if depth == DEEP else STEP_FRAMES
            sys.setrecursionlimit(sys.getrecursionlimit() + extra)
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
            if depth >= DEEP:
                sys.setrecursionlimit(sys.getrecursionlimit() - extra)
            inst.state = GEN_CLOSED
            # (seq, info, op, arg, outcome, value, before, after, depth, thread, task, start, took, lasti, ended_after)
            rec.emit((seq, info, SEND, value, RETURN, exc.value, before, GEN_CLOSED, depth, st[1], task, start, end - start, -1, rec.latest))  # fmt: skip
            _strip_own_frame(exc, _PythonSteps.send.__code__)
            raise
        except BaseException as exc:
            end = clock()
            st[0] = depth
            if depth >= DEEP:
                sys.setrecursionlimit(sys.getrecursionlimit() - extra)
            record_raised(self, seq, SEND, value, exc, before, depth, st[1], task, start, end)
            _strip_own_frame(exc, _PythonSteps.send.__code__)
            raise
        end = clock()
        st[0] = depth
        if depth >= DEEP:
            sys.setrecursionlimit(sys.getrecursionlimit() - extra)
        inst.state = GEN_SUSPENDED
        # (seq, info, op, arg, outcome, value, before, after, depth, thread, task, start, took, lasti, ended_after)
        rec.emit((seq, info, SEND, value, YIELD, result, before, GEN_SUSPENDED, depth, st[1], task, start, end - start, self._gen.gi_frame.f_lasti, rec.latest))  # fmt: skip
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
            _strip_own_frame(exc, _PythonSteps.throw.__code__)
            raise
        finally:
            del typ, val, tb, args, thrown  # see _strip_own_frame

    def close(self) -> Any:
        """Close the generator, as `generator.close` does (which returns its return value on 3.13+)."""
        try:
            return self._step_slow(CLOSE, None, self._gen.close, ())
        except BaseException as exc:
            _strip_own_frame(exc, _PythonSteps.close.__code__)
            raise

    def _step_slow(self, op: str, arg: Any, call: Any, args: tuple[Any, ...]) -> Any:
        # throw() and close() are rare: one shared body is worth the extra call.
        rec = self._rec
        seq = next(rec.counter)
        if seq > rec.limit:
            rec.overflow(seq)
            try:
                return call(*args)
            except BaseException:
                del arg, args  # see _strip_own_frame
                raise
        rec.latest = seq
        inst = self._ref
        info = self._info
        before = inst.state
        inst.state = GEN_RUNNING
        st = thread_state.s
        depth = st[0]
        st[0] = depth + 1
        if depth >= DEEP:
            extra = (STEP_FRAMES + 1) * (DEEP + 1) + ROOM if depth == DEEP else STEP_FRAMES + 1
            sys.setrecursionlimit(sys.getrecursionlimit() + extra)
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
            if depth >= DEEP:
                sys.setrecursionlimit(sys.getrecursionlimit() - extra)
            inst.state = GEN_CLOSED
            # (seq, info, op, arg, outcome, value, before, after, depth, thread, task, start, took, lasti, ended_after)
            rec.emit((seq, info, op, arg, RETURN, exc.value, before, GEN_CLOSED, depth, st[1], task, start, end - start, -1, rec.latest))  # fmt: skip
            _strip_own_frame(exc, _PythonSteps._step_slow.__code__)
            raise
        except BaseException as exc:
            end = clock()
            st[0] = depth
            if depth >= DEEP:
                sys.setrecursionlimit(sys.getrecursionlimit() - extra)
            record_raised(self, seq, op, arg, exc, before, depth, st[1], task, start, end)
            _strip_own_frame(exc, _PythonSteps._step_slow.__code__)
            del arg, args  # see _strip_own_frame
            raise
        end = clock()
        st[0] = depth
        if depth >= DEEP:
            sys.setrecursionlimit(sys.getrecursionlimit() - extra)
        if op == CLOSE:
            inst.state = GEN_CLOSED
            # (seq, info, op, arg, outcome, value, before, after, depth, thread, task, start, took, lasti, ended_after)
            rec.emit((seq, info, op, arg, CLOSED, None, before, GEN_CLOSED, depth, st[1], task, start, end - start, -1, rec.latest))  # fmt: skip
        else:
            inst.state = GEN_SUSPENDED
            # (seq, info, op, arg, outcome, value, before, after, depth, thread, task, start, took, lasti, ended_after)
            rec.emit((seq, info, op, arg, YIELD, result, before, GEN_SUSPENDED, depth, st[1], task, start, end - start, self._gen.gi_frame.f_lasti, rec.latest))  # fmt: skip
        return result


if TYPE_CHECKING or speedups is None:
    _Steps = _PythonSteps
else:
    _Steps = speedups.GeneratorSteps
    speedups.configure(
        (NEXT, SEND, THROW, CLOSE),
        (YIELD, RETURN, CLOSED),
        (GEN_RUNNING, GEN_SUSPENDED, GEN_CLOSED),
        (CREATE, CREATED, GEN_CREATED),
        COLLECTED,
        raised=record_raised,
        task_of=task_of,
        new_thread_state=new_thread_state,
        running_tasks=running_tasks,
        instance_ref=InstanceRef,
        discard=discard,
        deep=DEEP,
        room=ROOM,
        step_frames=COMPILED_STEP_FRAMES,
    )


class GeneratorProxy(_Steps, Generator[Any, Any, Any]):
    """A traced generator: behaves exactly like the generator it wraps, and records every step.

    Its steps (``__next__``, ``send``, ``throw``, ``close``) are compiled when the C core is there,
    else `_PythonSteps`; everything else is here, for both.
    """

    __slots__ = ()

    # -- what a generator also has: gi_* and the rest, forwarded by `pass_for` below ------------

    @property
    def gentrace_name(self) -> str:
        """The instance's name in the log, e.g. ``averager#1``."""
        return self._info[0]

    def __repr__(self) -> str:
        return f"<traced generator {self._info[0]} of {self._gen!r}>"


class AwaitableGeneratorProxy(GeneratorProxy):
    """A traced ``@types.coroutine`` generator: ``await`` takes it, as it takes the real one.

    Only these: a plain generator is not awaitable (``inspect.isawaitable`` and ``await`` say
    so), and an ``__await__`` on `GeneratorProxy` would make every traced generator one.
    """

    __slots__ = ()

    def __await__(self) -> AwaitableGeneratorProxy:
        return self


def proxy_class(gen: GeneratorType[Any, Any, Any]) -> type[GeneratorProxy]:
    """The proxy class for `gen`: awaitable if its code is a ``@types.coroutine``'s."""
    return AwaitableGeneratorProxy if gen.gi_code.co_flags & inspect.CO_ITERABLE_COROUTINE else GeneratorProxy


def hide_from_warnings(*functions: Any) -> None:
    """Make the step frames of `functions` invisible to a warning's ``stacklevel``, as untraced.

    A warning with ``stacklevel=2`` raised in a generator names the line that called ``next()``
    or ``send()``; traced, a step frame of the proxy stands between the two. `warnings` (its C
    and Python versions, 3.10 to 3.14) skips frames whose file name holds "importlib" and
    "_bootstrap", the import system's own frames: the step methods' code gets such a file name
    (still under gentrace's folder, so `instrument.user_traceback` knows it), and `linecache`
    serves this module's lines under it, so a printed stack still shows their source.
    """
    for func in functions:
        code = func.__code__
        hidden = os.path.join(
            os.path.dirname(code.co_filename),
            f"{os.path.basename(code.co_filename)} (a step: warnings skip it, as importlib._bootstrap)",
        )
        if hidden not in linecache.cache:
            lines = linecache.getlines(code.co_filename)
            linecache.cache[hidden] = (sum(map(len, lines)), None, lines, hidden)
        func.__code__ = code.replace(co_filename=hidden)


def _forwarding(name: str, attribute: str) -> property:
    # Read, write and delete `name` on the real object, which answers each as it would untraced:
    # its value, or its own error ("readonly attribute", "__name__ must be set to a string object").
    def set_(self: Any, value: Any) -> None:
        setattr(getattr(self, attribute), name, value)

    def delete(self: Any) -> None:
        delattr(getattr(self, attribute), name)

    return property(operator.attrgetter(f"{attribute}.{name}"), set_, delete)


def forward(cls: type, attribute: str, names: tuple[str, ...], **properties: property) -> None:
    """Give `cls` properties that read, set and delete `names` on ``getattr(self, attribute)``.

    They go straight into the class's namespace, with `properties`: a class body cannot define
    ``__qualname__`` (type() insists it is a str and keeps it off the class dict), and setting
    ``__class__`` or ``__name__`` on the class would change the class itself. The type's attribute
    cache is then dropped.
    """
    namespace = gc.get_referents(cls.__dict__)[0]
    for name in names:
        namespace[name] = _forwarding(name, attribute)
    namespace.update(properties)
    cls._gentrace_refresh = None  # type: ignore[attr-defined]
    del cls._gentrace_refresh  # type: ignore[attr-defined]


def pass_for(cls: type, real: type, attribute: str, names: tuple[str, ...]) -> None:
    """Make the proxy class `cls` answer what programs ask of a `real` object as the real one does.

    - ``isinstance(proxy, real)``, ``inspect.isgenerator()`` and the like are True: `isinstance`
      consults ``__class__`` when the type does not match (as for `unittest.mock`'s specs), so
      ``proxy.__class__`` is `real`. Only ``type(proxy) is real`` and C-level checks can tell.
    - The class is named as `real` (``generator``, ``coroutine``, ``async_generator``): the
      messages of ``len()``, subscripting, calling, a missing attribute name it as Python does.
    - `names` (``gi_frame``…), ``__name__`` and ``__qualname__`` are read, set and deleted on the
      real object (`forward`); ``copy``/``pickle`` fail with its error.
    """
    forward_class = _forwarding("__class__", attribute)
    forward(
        cls,
        attribute,
        (*names, "__name__", "__qualname__"),
        __class__=property(lambda self: real, forward_class.fset, forward_class.fdel),
    )
    cls.__name__ = real.__name__

    def reduce_ex(self: Any, protocol: int) -> Any:
        return getattr(self, attribute).__reduce_ex__(protocol)

    def reduce(self: Any) -> Any:
        return getattr(self, attribute).__reduce__()

    cls.__reduce__ = reduce  # type: ignore[method-assign,assignment]
    cls.__reduce_ex__ = reduce_ex  # type: ignore[method-assign,assignment]


pass_for(
    GeneratorProxy,
    GeneratorType,
    "_gen",
    ("gi_frame", "gi_code", "gi_running", "gi_suspended", "gi_yieldfrom"),
)
hide_from_warnings(
    _PythonSteps.__next__,
    _PythonSteps.send,
    _PythonSteps.throw,
    _PythonSteps.close,
    _PythonSteps._step_slow,
)
AwaitableGeneratorProxy.__name__ = GeneratorType.__name__
