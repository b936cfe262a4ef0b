"""The `trace` decorator and which tracer it uses: the current one.

The current tracer is the one of the innermost ``with tracer:`` in this context (a `ContextVar`),
else the process-wide default set with `set_default` (seen by every thread; ``None`` records
nothing), else a lazy default tracer that writes the REPL-style log to stderr and keeps nothing in
memory — so adding the decorator shows a log at once, and a long-running program never grows.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar, cast, overload

from gentrace.tracer import STDERR, UNSET, Tracer, current, traced

F = TypeVar("F", bound=Callable[..., Any])

_default: Any = UNSET
_lazy: Tracer | None = None
_lazy_lock = threading.Lock()


def set_default(tracer: Tracer | None) -> None:
    """Make `tracer` the process-wide tracer (all threads); ``None`` records nothing."""
    global _default
    if tracer is not None and not isinstance(tracer, Tracer):
        raise TypeError(f"set_default(): expected a Tracer or None, got {type(tracer).__name__}")
    _default = tracer


def replace_default(tracer: Tracer | None) -> Callable[[], None]:
    """Make `tracer` the process-wide tracer; the function returned puts back what was there.

    Putting back restores "never set" too (and with it the stderr tracer), which
    ``set_default(get_default())`` cannot: the pytest plugin swaps a tracer in for each test.
    """
    global _default
    previous = _default
    set_default(tracer)

    def restore() -> None:
        global _default
        _default = previous

    return restore


def get_default() -> Tracer | None:
    """The process-wide tracer set with `set_default` (None if none, or set to None)."""
    return None if _default is UNSET else _default


def _stderr_tracer() -> Tracer:
    global _lazy
    with _lazy_lock:
        if _lazy is None or _lazy.closed:
            _lazy = Tracer(out=STDERR, keep=0)
        return _lazy


def current_tracer() -> Tracer | None:
    """The tracer that a generator created now by a ``@trace`` function would be recorded by.

    The innermost ``with tracer:``, else the process-wide default, else the lazy stderr tracer;
    None when the default was set to None (nothing recorded).
    """
    tracer = current.get()
    if tracer is UNSET:
        tracer = _default
        if tracer is UNSET:
            return _stderr_tracer()
    return cast("Tracer | None", tracer)


def active_tracer() -> Tracer | None:
    """Like `current_tracer`, without the stderr fallback: the tracer of instrumented code."""
    tracer = current.get()
    if tracer is UNSET:
        tracer = _default
    return None if tracer is UNSET else cast("Tracer | None", tracer)


def wrap(iterable: Any, name: str | None = None) -> Any:
    """Trace `iterable` with the current tracer: a generator, async generator or coroutine as
    ``@trace`` would, any other iterable as an iterator that records each next.

    >>> for row in gentrace.wrap(csv.reader(f)): ...

    With no tracer (the default set to None), `iterable` is given back as it is.
    """
    tracer = current_tracer()
    if tracer is None:
        return iterable
    return tracer.wrap(iterable, name=name)


@overload
def trace(func: F, *, name: str | None = None) -> F: ...


@overload
def trace(func: None = None, *, name: str | None = None) -> Callable[[F], F]: ...


def trace(func: Any = None, *, name: str | None = None) -> Any:
    """Trace every generator this generator function creates, with the current tracer.

    >>> @gentrace.trace
    ... def averager(): ...

    Also ``@gentrace.trace()`` and ``@gentrace.trace(name="avg")``. Works on methods, static and
    class methods. Raises `TypeError` at once if `func` is not a generator function.
    """
    if func is None:
        return lambda f: traced(f, resolve=current_tracer, name=name)
    if isinstance(func, str):
        raise TypeError("trace(): pass the name as a keyword: @gentrace.trace(name=...)")
    return traced(func, resolve=current_tracer, name=name)
