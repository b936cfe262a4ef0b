"""`Tracer`: options checked once, a recorder and its sinks, `wrap()`, `with`, `close()`.

Also the decorator object (`TracedFunction`) that puts a proxy around each generator a traced
function makes, and the context variable that `with tracer:` sets.
"""

from __future__ import annotations

import atexit
import contextvars
import functools
import inspect
import os
import sys
import threading
import types
from collections.abc import Callable, Sequence
from typing import IO, Any, ClassVar, TypeVar

from gentrace.compiled import clock as default_clock
from gentrace.compiled import speedups
from gentrace.events import Event, to_event
from gentrace.iterators import Iterators
from gentrace.names import clean_qualname, matches_only
from gentrace.proxy import GeneratorProxy, forward, proxy_class
from gentrace.recorder import Clock, Recorder
from gentrace.records import CORO_CREATED, GEN_CREATED, Ending, Sink
from gentrace.sinks import FrameLookup, JsonlSink, LoggerSink, TextSink, open_log

F = TypeVar("F", bound=Callable[..., Any])

FORMATS = ("text", "jsonl")

DEBUG = 10  # logging.DEBUG: logging is imported only for a level given by its name


class _Unset:
    def __repr__(self) -> str:
        return "<unset>"


UNSET: Any = _Unset()

current: contextvars.ContextVar[Tracer | _Unset | None] = contextvars.ContextVar(
    "gentrace_current", default=UNSET
)
"""The tracer of the innermost ``with tracer:`` in this context."""

_open_tracers: dict[int, Tracer] = {}
_open_lock = threading.RLock()  # close_all() may run in a signal handler (SIGTERM under run)


class StderrTarget:
    """`out=` value meaning "``sys.stderr`` as it is when each line is written"."""

    def __repr__(self) -> str:
        return "<sys.stderr, looked up when writing>"


STDERR = StderrTarget()


def _check_int(name: str, value: Any, minimum: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"Tracer({name}=...): expected an int or None, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"Tracer({name}=...): must be at least {minimum}, got {value}")
    return value


def _format_of(target: Any, format: str | None) -> str:
    if format is not None:
        return format
    if isinstance(target, (str, os.PathLike)) and os.fspath(target).endswith(".jsonl"):
        return "jsonl"
    if isinstance(target, (str, os.PathLike)) and os.fspath(target).endswith(".json"):
        return "chrome"
    if isinstance(target, (str, os.PathLike)) and os.fspath(target).endswith(".html"):
        return "html"
    return "text"


class Tracer:
    """Records what traced generators do, in memory and to the outputs given as `out`.

    >>> t = Tracer()                      # in memory only
    >>> t = Tracer(out="run.jsonl")       # JSON Lines (by extension, or format="jsonl")
    >>> t = Tracer(out=[sys.stderr, "run.log"], max_repr=200, timings=True)

    `out` is a path, a stream, a `logging.Logger`, or a list of them. `sinks` are more outputs of
    your own (`gentrace.Sink` objects), fed after those of `out`; `add_sink` adds one
    later. `only` (glob patterns, as ``--only``) leaves generators whose function does not match
    untraced. `keep` bounds the events kept in memory (None: all). `max_events` stops recording
    after that many events. `color` forces colour on or off for streams (default: only on a
    terminal, ``NO_COLOR`` respected). `locals` adds the generator's local variables to the text
    and JSON outputs each time it pauses; `timings` shows the time spent in each resume. `pid`
    makes the tracer a `gentrace run` child process's: it is written into every JSON Lines event,
    and files get each event at once. `iterators` records, in instrumented code (``gentrace run
    --iterators``), every loop's iterator and every ``iter()``/``next()`` call, and traces generator
    expressions. `clock` (integer nanoseconds) is for tests.
    """

    _adopt_async: ClassVar[Callable[..., Any] | None] = None  # aproxy.adopt, once async code is traced
    _coroutine_proxy: ClassVar[type | None] = None  # aproxy.CoroutineProxy then, on the compiled path

    def __init__(
        self,
        out: Any = None,
        *,
        format: str | None = None,
        color: bool | None = None,
        max_repr: int | None = None,
        max_events: int | None = None,
        keep: int | None = None,
        locals: bool = False,
        timings: bool = False,
        level: int | str = DEBUG,
        clock: Clock | None = None,
        sinks: Sequence[Sink] = (),
        only: Sequence[str] = (),
        pid: int | None = None,
        iterators: bool = False,
    ) -> None:
        if format is not None and format not in FORMATS:
            raise ValueError(f"Tracer(format=...): expected one of {', '.join(FORMATS)}, got {format!r}")
        if color is not None and not isinstance(color, bool):
            raise TypeError(f"Tracer(color=...): expected True, False or None, got {type(color).__name__}")
        self.max_repr = _check_int("max_repr", max_repr, 1)
        max_events = _check_int("max_events", max_events, 0)
        keep = _check_int("keep", keep, 0)
        self._pid = _check_int("pid", pid, 0)
        for flag, value in (("locals", locals), ("timings", timings), ("iterators", iterators)):
            if not isinstance(value, bool):
                raise TypeError(f"Tracer({flag}=...): expected True or False, got {type(value).__name__}")
        if isinstance(level, str):
            import logging

            resolved = logging.getLevelName(level.upper())
            if not isinstance(resolved, int):
                raise ValueError(f"Tracer(level=...): unknown logging level {level!r}")
            level = resolved
        elif isinstance(level, bool) or not isinstance(level, int):
            raise TypeError(
                f"Tracer(level=...): expected a logging level (an int or a name), got {type(level).__name__}"
            )
        if isinstance(only, str) or not all(isinstance(pattern, str) for pattern in only):
            raise TypeError("Tracer(only=...): expected a list of glob patterns (str)")
        self.only = tuple(only)
        for sink in sinks:
            if not isinstance(sink, Sink):
                raise TypeError(f"Tracer(sinks=...): {sink!r} is not a sink (subclass gentrace.Sink)")
        if clock is not None and not callable(clock):
            raise TypeError("Tracer(clock=...): expected a callable returning integer nanoseconds")
        self._clock = clock or default_clock
        origin = self._clock()
        outputs = sinks_for(
            out,
            format=format,
            color=color,
            max_repr=self.max_repr,
            locals=self._frame_of if locals else None,
            timings=timings,
            level=level,
            origin=origin,
            pid=self._pid,
        )
        outputs.extend(sinks)
        self._recorder = Recorder(outputs, keep=keep, max_events=max_events, clock=self._clock)
        self._recorder.origin = origin
        self.iterators = Iterators(self._recorder) if iterators else None
        self._tokens: list[contextvars.Token[Any]] = []
        if outputs:
            with _open_lock:
                _open_tracers[id(self)] = self

    def add_sink(self, sink: Sink) -> None:
        """Feed `sink` too, from the next operation on; it is closed with the tracer."""
        if not isinstance(sink, Sink):
            raise TypeError(f"add_sink(): {sink!r} is not a sink (subclass gentrace.Sink)")
        self._recorder.add_sink(sink)
        with _open_lock:
            _open_tracers[id(self)] = self

    def _frame_of(self, name: str) -> Any:
        return self._recorder.frame_of(name)

    # -- tracing --------------------------------------------------------------------------------

    def trace(self, func: F | None = None, *, name: str | None = None) -> Any:
        """Decorate a generator function so that its generators are traced by this tracer.

        Use as ``@t.trace``, ``@t.trace()`` or ``@t.trace(name="avg")``.
        """
        if func is None:
            return lambda f: traced(f, tracer=self, name=name)
        return traced(func, tracer=self, name=name)

    def wrap(self, iterable: Any, *, name: str | None = None) -> Any:
        """Trace an existing generator, async generator or coroutine object (`name` replaces its
        function's name); any other iterable gives an iterator over it that records each next.

        >>> for row in tracer.wrap(csv.reader(f)): ...
        """
        if isinstance(iterable, GeneratorProxy) or type(iterable).__module__ == "gentrace.aproxy":
            raise TypeError(f"wrap(): {iterable!r} is already traced")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"wrap(name=...): expected a str, got {type(name).__name__}")
        if type(iterable) in _TRACEABLE:
            return self._adopt(iterable, name, None, None)
        iterators = self.iterators if self.iterators is not None else Iterators(self._recorder)
        if self.iterators is None:
            self.iterators = iterators  # kept: names stay the same from one wrap() to the next
        return iterators.wrap(iterable, name)

    def _adopt(self, gen: Any, name: str | None, func: Callable[..., Any] | None, arg: Any) -> Any:
        """Put a proxy around a generator, async generator or coroutine, and record its creation.

        A generator whose function is not selected by `only` is handed back as it is.
        """
        if self.only and func is not None and not _selected(func, self.only):
            return gen
        if type(gen) is not types.GeneratorType:
            coroutine_proxy = Tracer._coroutine_proxy
            if coroutine_proxy is not None and func is not None and type(gen) is types.CoroutineType:
                # aproxy.adopt's compiled way for a coroutine (the commonest), a call less
                return self._recorder.adopt(gen, name, func, arg, coroutine_proxy, CORO_CREATED, "cr_frame")
            adopt = Tracer._adopt_async
            if adopt is None:
                from gentrace import aproxy  # imports asyncio: only when async code is traced

                adopt = Tracer._adopt_async = aproxy.adopt
                if speedups is not None:
                    Tracer._coroutine_proxy = aproxy.CoroutineProxy
            return adopt(self._recorder, gen, name, func, arg)
        if func is not None and speedups is not None:  # the same three steps, compiled
            return self._recorder.adopt(gen, name, func, arg, proxy_class(gen), GEN_CREATED, "gi_frame")
        ref = self._recorder.instance(gen, name, func)
        proxy = proxy_class(gen)(gen, self._recorder, ref)
        # A generator from a traced function is fresh; one handed to wrap() may be anywhere.
        state = GEN_CREATED if func is not None else inspect.getgeneratorstate(gen)
        frame = gen.gi_frame
        self._recorder.created(ref, arg, state, frame.f_lasti if frame is not None else -1)
        return proxy

    @property
    def events(self) -> list[Event]:
        """The events kept in memory, in order of seq."""
        origin = self._recorder.origin
        return [to_event(r, origin) for r in self._recorder.records()]

    @property
    def closed(self) -> bool:
        """Whether `close()` was called (a closed tracer records nothing more)."""
        return self._recorder.closed

    def close(self) -> None:
        """Stop recording, write what remains (unfinished instances, end notes), close files."""
        with _open_lock:
            _open_tracers.pop(id(self), None)
        self._recorder.close()
        if self.iterators is not None:
            self.iterators.clear()

    def __enter__(self) -> Tracer:
        self._tokens.append(current.set(self))
        return self

    def __exit__(self, *exc: object) -> None:
        current.reset(self._tokens.pop())
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<gentrace.Tracer {state}, {len(self._recorder.records())} events kept>"


def sinks_for(
    out: Any,
    *,
    format: str | None = None,
    color: bool | None = None,
    max_repr: int | None = None,
    locals: FrameLookup | None = None,
    timings: bool = False,
    level: int = DEBUG,
    origin: int,
    pid: int | None = None,
) -> list[Sink]:
    """The sinks writing to `out` as `Tracer(out=...)` takes it (a target or a list of them); if
    one cannot be made, those already made are closed and the error raised."""
    targets = out if isinstance(out, (list, tuple)) else ([] if out is None else [out])
    outputs: list[Sink] = []
    try:
        for target in targets:
            outputs.append(_sink_for(target, format, color, max_repr, locals, timings, level, origin, pid))
    except BaseException:
        for sink in outputs:
            sink.close(Ending(0, [], None))
        raise
    return outputs


def _sink_for(
    target: Any,
    format: str | None,
    color: bool | None,
    max_repr: int | None,
    locals: FrameLookup | None,
    timings: bool,
    level: int,
    origin: int,
    pid: int | None,
) -> Sink:
    kind = _format_of(target, format)
    # A Logger exists only once the program has imported logging: gentrace does not import it.
    logging = sys.modules.get("logging")
    if logging is not None and isinstance(target, logging.Logger):
        return LoggerSink(target, level=level, origin_ns=origin, max_repr=max_repr)
    if isinstance(target, StderrTarget):
        return TextSink(
            _stderr,
            origin_ns=origin,
            color=color,
            max_repr=max_repr,
            timings=timings,
            locals=locals,
            sync_stdout=True,
        )
    if isinstance(target, (str, os.PathLike)):
        if kind == "html":
            from gentrace.replay import html_sink  # only when asked for

            return html_sink(os.fspath(target), origin_ns=origin, max_repr=max_repr, locals=locals)
        stream = open_log(os.fspath(target))
        if kind == "chrome":
            from gentrace.chrome import ChromeSink  # only when asked for

            return ChromeSink(stream, origin_ns=origin, max_repr=max_repr)
        if kind == "jsonl":
            return JsonlSink(stream, origin_ns=origin, max_repr=max_repr, locals=locals, pid=pid)
        return TextSink(
            stream,
            origin_ns=origin,
            max_repr=max_repr,
            timings=timings,
            locals=locals,
            file=True,
            through=pid is not None,
        )
    if hasattr(target, "write"):
        if kind == "jsonl":
            return JsonlSink(target, origin_ns=origin, max_repr=max_repr, locals=locals, owns=False, pid=pid)
        return TextSink(
            target,
            origin_ns=origin,
            color=color,
            max_repr=max_repr,
            timings=timings,
            locals=locals,
            sync_stdout=target is sys.stderr or target is sys.__stderr__,
        )
    raise TypeError(
        "Tracer(out=...): expected a path, a stream with write(), a logging.Logger, or a list "
        f"of them; got {type(target).__name__}"
    )


def _stderr() -> IO[str]:
    return sys.stderr


def _selected(func: Callable[..., Any], only: Sequence[str]) -> bool:
    qualname = getattr(func, "__qualname__", None) or "?"
    return matches_only(only, qualname, getattr(func, "__module__", None) or "?")


def _not_generator(where: str, obj: Any, wanted: str) -> str:
    label = getattr(obj, "__qualname__", None) or type(obj).__name__
    return (
        f"{where}: {label!s} is not {wanted} (a generator function is a def whose body contains yield; "
        "async def functions are traced too)"
    )


def close_all() -> None:
    """Close every tracer that still has outputs open (at exit, after a crash or Ctrl-C)."""
    with _open_lock:
        tracers = list(_open_tracers.values())
    for tracer in tracers:
        tracer.close()


atexit.register(close_all)

_forgotten: list[Tracer] = []


def forget_all() -> None:
    """Stop every tracer that has outputs open, writing nothing: for a forked child process.

    Its copies of those outputs hold the parent's unwritten lines, which closing them would write a
    second time; they are the parent's to write. The tracers are kept, never collected here.
    """
    global _open_lock
    _open_lock = threading.RLock()  # another thread of the parent may have held it at the fork
    tracers = list(_open_tracers.values())
    _open_tracers.clear()
    for tracer in tracers:
        tracer._recorder.limit = -1
        tracer._recorder.closed = True
    _forgotten.extend(tracers)


_TRACEABLE = frozenset({types.GeneratorType, types.AsyncGeneratorType, types.CoroutineType})


class TracedFunction:
    """A traced generator function: calling it returns a traced generator.

    It passes for the function it wraps: same ``__name__``, ``__qualname__``, ``__doc__``,
    signature, ``__globals__`` and the rest; ``isinstance(f, types.FunctionType)``
    and ``inspect.isfunction()`` are True (its ``__class__``: pluggy, for one, takes only functions
    as hooks), ``inspect.isgeneratorfunction`` too (it exposes the original's ``__code__``); it
    binds as a method through ``__get__``, and pickles and copies by reference. ``@trace`` sets
    ``__wrapped__`` to the function, as a decorator does; the import hook's does not.

    Its own state is in slots, not in ``__dict__``: ``functools.wraps(traced)`` copies the
    ``__dict__`` of what it wraps into the wrapper (a traced one too), as it copies a function's.
    """

    __slots__ = ("__dict__", "__weakref__", "_func", "_how")

    def __init__(
        self,
        func: Callable[..., Any],
        tracer: Tracer | None,
        resolve: Callable[[], Tracer | None] | None,
        name: str | None,
        hidden: bool = False,
    ) -> None:
        self._func = func
        functools.update_wrapper(self, func)
        if hidden:  # the import hook's: no __wrapped__, which the function has not either
            del self.__wrapped__
        code = func.__code__
        drops_first = (
            code.co_argcount > 0
            and code.co_varnames[0] in ("self", "cls")
            and "." in clean_qualname(func.__qualname__)
        )
        # What a call reads, in one slot: each read of an attribute of this class (which has a
        # __getattr__) costs a lookup of __getattr__ too, and a coroutine is often a call each.
        self._how = (func, tracer, resolve, name, drops_first)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        func, tracer, resolve, name, drops_first = self._how
        try:
            gen = func(*args, **kwargs)
        except BaseException as exc:
            tb = exc.__traceback__
            if tb is not None and tb.tb_frame.f_code is TracedFunction.__call__.__code__:
                exc.__traceback__ = tb.tb_next
            raise
        if tracer is None:
            tracer = resolve()  # type: ignore[misc]
        if tracer is None or tracer._recorder.closed:
            return gen
        if type(gen) not in _TRACEABLE:
            return gen
        shown = args[1:] if drops_first and args else args
        return tracer._adopt(gen, name, func, (shown, kwargs))

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        return types.MethodType(self, obj)

    def __getattr__(self, name: str) -> Any:
        # What a function has besides what update_wrapper copied: __globals__, __closure__...
        if name == "_func":  # not set yet (a copy being built): no recursion
            raise AttributeError(name)
        return getattr(self._func, name)

    def __reduce__(self) -> str:
        # Pickle, copy and deepcopy by reference, as a function: the module's attribute (which the
        # import hook or @trace made this very object) is looked up by qualified name.
        return self._func.__qualname__

    def __repr__(self) -> str:
        return f"<traced generator function {self._func.__qualname__}>"


# Renaming a traced function renames the function, whose generators take its names; __code__ and
# the rest are the function's too, also when set (@types.coroutine sets the __code__ of what passes
# for a function: the function's generators are then awaitable).
forward(
    TracedFunction,
    "_func",
    ("__name__", "__qualname__", "__code__", "__defaults__", "__kwdefaults__"),
    __class__=property(lambda self: types.FunctionType),
)


def traced(
    func: Any,
    *,
    tracer: Tracer | None = None,
    resolve: Callable[[], Tracer | None] | None = None,
    name: str | None = None,
    hidden: bool = False,
) -> Any:
    """`func` (a generator function, staticmethod or classmethod) made to trace its generators.

    A `hidden` one (the import hook's, which the program did not write) has no ``__wrapped__``:
    ``inspect.unwrap()`` of its bound method would give the unbound function.
    """
    if name is not None and not isinstance(name, str):
        raise TypeError(f"trace(name=...): expected a str, got {type(name).__name__}")
    if isinstance(func, (staticmethod, classmethod)):
        return type(func)(traced(func.__func__, tracer=tracer, resolve=resolve, name=name, hidden=hidden))
    if isinstance(func, TracedFunction):
        func = func._func
    is_generator = (
        inspect.isgeneratorfunction(func)
        or inspect.isasyncgenfunction(func)
        or inspect.iscoroutinefunction(func)
    )
    if not is_generator or not hasattr(func, "__code__"):
        raise TypeError(_not_generator("trace", func, "a generator function"))
    return TracedFunction(func, tracer, resolve, name, hidden)
