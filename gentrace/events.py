"""The flat record the recorder makes per operation, and the `Event` built from it on demand.

The hot path builds one tuple per operation (`Record`), sharing a per-instance `Instance`. An
`Event` — the documented, public form — is built only when `Tracer.events` is read or a sink
asks for one, so recording in memory costs a tuple and an append.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from types import CodeType
from collections.abc import Callable
from typing import Any, Final

# Operations.
CREATE: Final = "create"
NEXT: Final = "next"
SEND: Final = "send"
THROW: Final = "throw"
CLOSE: Final = "close"
COLLECT: Final = "collect"
OPS: Final = frozenset({CREATE, NEXT, SEND, THROW, CLOSE, COLLECT})

# Outcomes.
CREATED: Final = "created"
YIELD: Final = "yield"
RETURN: Final = "return"
RAISE: Final = "raise"
CLOSED: Final = "closed"
OUTCOMES: Final = frozenset({CREATED, YIELD, RETURN, RAISE, CLOSED})

# States, as inspect.getgeneratorstate names them.
GEN_CREATED: Final = "GEN_CREATED"
GEN_RUNNING: Final = "GEN_RUNNING"
GEN_SUSPENDED: Final = "GEN_SUSPENDED"
GEN_CLOSED: Final = "GEN_CLOSED"
STATES: Final = frozenset({GEN_CREATED, GEN_RUNNING, GEN_SUSPENDED, GEN_CLOSED})

IGNORED_EXIT_MESSAGE: Final = "generator ignored GeneratorExit"

# Positions of the fields in a Record tuple.
SEQ, INST, OP, ARG, OUTCOME, VALUE, BEFORE, AFTER, DEPTH, THREAD, TASK, START, DURATION, LASTI = range(14)

Record = tuple[Any, ...]
"""(seq, Instance, op, arg, outcome, value, state_before, state_after, depth, thread,
task, start_ns, duration_ns, lasti) — see the positions above."""


def state_after_raise(op: str, before: str | None, exc: BaseException) -> str:
    """The state a generator is left in when an operation on it raised `exc`.

    An exception that escapes a generator's frame finishes it, except where the generator never
    ran: a non-None send to a fresh generator, a call while it is already executing, and a
    close() that the generator answered with another yield.
    """
    if before == GEN_RUNNING:
        return GEN_RUNNING
    if before == GEN_CREATED and op == SEND and type(exc) is TypeError:
        return GEN_CREATED
    if op == CLOSE and type(exc) is RuntimeError and exc.args == (IGNORED_EXIT_MESSAGE,):
        return GEN_SUSPENDED
    return GEN_CLOSED


class Instance:
    """What every event of one generator instance shares: its name, function and code."""

    __slots__ = ("name", "func", "filename", "code", "state", "proxy", "_lines")

    def __init__(
        self, name: str, func: str, code: CodeType | None, filename: str | None = None
    ) -> None:
        self.name = name
        self.func = func
        self.code = code
        self.filename = code.co_filename if code is not None else filename
        # The instance's current state lives here rather than on the proxy, so that a collect
        # callback still knows it when a garbage cycle has already cleared the proxy.
        self.state: str = GEN_CREATED
        self.proxy: Callable[[], Any] | None = None  # a weak reference to the live proxy
        self._lines: tuple[list[int], list[int | None]] | None = None

    def lineno_at(self, lasti: int) -> int | None:
        """The source line of bytecode offset `lasti` (what `frame.f_lineno` would say).

        Without a code object (an event read back, or rebuilt from an `Event`) the position
        recorded is the line number itself.
        """
        if self.code is None:
            return lasti if lasti >= 0 else None
        if lasti < 0:  # not started yet (Python 3.10)
            return self.code.co_firstlineno
        if self._lines is None:
            starts: list[int] = []
            lines: list[int | None] = []
            for start, _end, line in self.code.co_lines():
                starts.append(start)
                lines.append(line)
            self._lines = (starts, lines)
        starts, lines = self._lines
        i = bisect.bisect_right(starts, lasti) - 1
        line = lines[i] if i >= 0 else None
        return line if line is not None else self.code.co_firstlineno


@dataclass(frozen=True, slots=True)
class Event:
    """One operation on one traced generator instance.

    Attributes:
        seq: assigned when the operation starts; strictly increasing per tracer, from 1.
        gen: the instance's name, e.g. ``"averager#1"``.
        op: ``"create" | "next" | "send" | "throw" | "close" | "collect"``.
        arg: the value sent, the exception thrown, the call's ``(args, kwargs)`` for create, else None.
        outcome: ``"created" | "yield" | "return" | "raise" | "closed"``.
        value: the yielded value, the returned value, the raised exception, else None.
        state_before / state_after: ``GEN_CREATED | GEN_RUNNING | GEN_SUSPENDED | GEN_CLOSED``
            (``state_before`` is None for create).
        depth: traced operations already executing on this thread when this one started.
        thread: the name of the thread that performed it.
        task: the asyncio task's name, or None.
        func: ``module:qualname`` of the generator function.
        time: seconds since the tracer started, at the operation's start.
        duration: seconds spent inside the generator during the operation.
        filename / lineno: where the generator is paused afterwards (None once closed).
    """

    seq: int
    gen: str
    op: str
    arg: Any
    outcome: str
    value: Any
    state_before: str | None
    state_after: str
    depth: int
    thread: str
    task: str | None
    func: str
    time: float
    duration: float
    filename: str | None
    lineno: int | None

    def to_dict(self, max_repr: int = 1000) -> dict[str, Any]:
        """The JSON-safe form written to JSON Lines files (reprs taken now)."""
        from gentrace.renderers import record_to_dict  # renderers builds on this module

        return record_to_dict(
            (
                self.seq,
                Instance(self.gen, self.func, None, self.filename),
                self.op,
                self.arg,
                self.outcome,
                self.value,
                self.state_before,
                self.state_after,
                self.depth,
                self.thread,
                self.task,
                round(self.time * 1e9),
                round(self.duration * 1e9),
                -1 if self.lineno is None else self.lineno,
            ),
            0,
            max_repr,
        )


def thread_name(thread: Any) -> str:
    """The name of a recorded thread (a `threading.Thread`, or already a name)."""
    return thread if isinstance(thread, str) else str(thread.name)


def to_event(record: Record, origin_ns: int) -> Event:
    """Build the public `Event` for a flat record."""
    inst: Instance = record[INST]
    after = record[AFTER]
    closed = after == GEN_CLOSED
    return Event(
        seq=record[SEQ],
        gen=inst.name,
        op=record[OP],
        arg=record[ARG],
        outcome=record[OUTCOME],
        value=record[VALUE],
        state_before=record[BEFORE],
        state_after=after,
        depth=record[DEPTH],
        thread=thread_name(record[THREAD]),
        task=record[TASK],
        func=inst.func,
        time=(record[START] - origin_ns) / 1e9,
        duration=record[DURATION] / 1e9,
        filename=None if closed else inst.filename,
        lineno=None if closed else inst.lineno_at(record[LASTI]),
    )
