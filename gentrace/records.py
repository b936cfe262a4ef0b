"""The record layout: one flat tuple per operation, the names of operations, outcomes and states.

The hot path builds one tuple per operation (`Record`), sharing a per-instance info tuple; the
public `Event` is built from it on demand (`events`). Every rule about states — which count as
running, suspended, created or finished — is a set here, used everywhere by name. Also here: what
a sink is (`Sink`) and what it is told when tracing ends (`Ending`), the seam between recording
and output. Standard library only.
"""

from __future__ import annotations

import bisect
from types import CodeType
from typing import Any, Final

# Operations.
CREATE: Final = "create"
NEXT: Final = "next"
SEND: Final = "send"
THROW: Final = "throw"
CLOSE: Final = "close"
COLLECT: Final = "collect"
OPS = frozenset({CREATE, NEXT, SEND, THROW, CLOSE, COLLECT})

# Outcomes.
CREATED: Final = "created"
YIELD: Final = "yield"
RETURN: Final = "return"
RAISE: Final = "raise"
CLOSED: Final = "closed"
LEFT: Final = "left"  # a loop left its iterator before the end (`LEAVE`)
OUTCOMES: Final = frozenset({CREATED, YIELD, RETURN, RAISE, CLOSED, LEFT})

# States, as inspect.getgeneratorstate names them.
GEN_CREATED: Final = "GEN_CREATED"
GEN_RUNNING: Final = "GEN_RUNNING"
GEN_SUSPENDED: Final = "GEN_SUSPENDED"
GEN_CLOSED: Final = "GEN_CLOSED"

# Async generators and coroutines (`aproxy`): their operations and states, as
# inspect.getasyncgenstate / getcoroutinestate name them.
ANEXT: Final = "anext"
ASEND: Final = "asend"
ATHROW: Final = "athrow"
ACLOSE: Final = "aclose"
AGEN_CREATED: Final = "AGEN_CREATED"
AGEN_RUNNING: Final = "AGEN_RUNNING"
AGEN_SUSPENDED: Final = "AGEN_SUSPENDED"
AGEN_CLOSED: Final = "AGEN_CLOSED"
CORO_CREATED: Final = "CORO_CREATED"
CORO_RUNNING: Final = "CORO_RUNNING"
CORO_SUSPENDED: Final = "CORO_SUSPENDED"
CORO_CLOSED: Final = "CORO_CLOSED"
ASYNC_OPS: Final = frozenset({ANEXT, ASEND, ATHROW, ACLOSE})
OPS = OPS | ASYNC_OPS

# Iterators (`iterators`): besides next and anext, the iter() (or aiter()) call that gets one, and
# a loop left before its iterator was exhausted (by break, return or an exception).
ITER: Final = "iter"
AITER: Final = "aiter"
LEAVE: Final = "leave"
OPS = OPS | {ITER, AITER, LEAVE}
INSTANT_OPS: Final = frozenset({CREATE, COLLECT, ITER, AITER, LEAVE})
"""Operations recorded once, when done, and written on one line (no ``>>>`` line at their start)."""
ITER_ACTIVE: Final = "ITER_ACTIVE"
ITER_RUNNING: Final = "ITER_RUNNING"
ITER_EXHAUSTED: Final = "ITER_EXHAUSTED"

STATES: Final = frozenset(
    {GEN_CREATED, GEN_RUNNING, GEN_SUSPENDED, GEN_CLOSED}
    | {AGEN_CREATED, AGEN_RUNNING, AGEN_SUSPENDED, AGEN_CLOSED}
    | {CORO_CREATED, CORO_RUNNING, CORO_SUSPENDED, CORO_CLOSED}
    | {ITER_ACTIVE, ITER_RUNNING, ITER_EXHAUSTED}
)
CREATED_STATES: Final = frozenset({GEN_CREATED, AGEN_CREATED, CORO_CREATED})
RUNNING_STATES: Final = frozenset({GEN_RUNNING, AGEN_RUNNING, CORO_RUNNING, ITER_RUNNING})
SUSPENDED_STATES: Final = frozenset({GEN_SUSPENDED, AGEN_SUSPENDED, CORO_SUSPENDED, ITER_ACTIVE})
CLOSED_STATES: Final = frozenset({GEN_CLOSED, AGEN_CLOSED, CORO_CLOSED, ITER_EXHAUSTED})
"""Finished, whatever the kind: `is_finished` is the one answer to "did this instance end".

An iterator has no state of its own that Python shows: gentrace calls it active until a next()
raised StopIteration, then exhausted (a class's ``__next__`` may answer again after that)."""

KINDS: Final = {"GEN": "generator", "AGEN": "async_generator", "CORO": "coroutine", "ITER": "iterator"}
"""The prefix of a state → the kind of instance in that state: the JSON Lines ``kind``."""


def kind_of(state: str) -> str:
    """The kind of instance in `state`: ``"generator"``, ``"async_generator"``, ``"coroutine"`` or
    ``"iterator"``."""
    return KINDS[state.partition("_")[0]]


def keeps_position(state: str | None) -> bool:
    """Whether a record ending in `state` has a position: all but a finished generator's or
    coroutine's (an iterator's records are placed where the call was made)."""
    return state not in CLOSED_STATES or state == ITER_EXHAUSTED


SYNC_OP: Final = {ANEXT: NEXT, ASEND: SEND, ATHROW: THROW, ACLOSE: CLOSE}
"""An async generator's operation → the generator operation it mirrors (counted as that one)."""
COLLECTED: Final = {
    GEN_CREATED: GEN_CLOSED,
    GEN_SUSPENDED: GEN_CLOSED,
    AGEN_CREATED: AGEN_CLOSED,
    AGEN_SUSPENDED: AGEN_CLOSED,
    CORO_CREATED: CORO_CLOSED,
    CORO_SUSPENDED: CORO_CLOSED,
}
"""The state a live instance is left in when it is garbage-collected (others are not recorded)."""

MAIN_THREAD: Final = "MainThread"
"""The name of the main thread, which the log does not mention."""

IGNORED_EXIT_MESSAGE: Final = "generator ignored GeneratorExit"


def is_finished(state: str | None) -> bool:
    """Whether an instance in `state` has finished (any kind's closed state)."""
    return state in CLOSED_STATES


def running_state(state: str) -> str:
    """The running state of the kind of `state`: ``GEN_RUNNING`` for ``GEN_SUSPENDED``."""
    return state.rpartition("_")[0] + "_RUNNING"


# Positions of the fields in a Record tuple.
(
    SEQ,
    INST,
    OP,
    ARG,
    OUTCOME,
    VALUE,
    BEFORE,
    AFTER,
    DEPTH,
    THREAD,
    TASK,
    START,
    DURATION,
    LASTI,
    ENDED_AFTER,
) = range(15)
RECORD_SIZE: Final = 15

Record = tuple[Any, ...]
"""(seq, info, op, arg, outcome, value, state_before, state_after, depth, thread,
task, start_ns, duration_ns, lasti, ended_after) — see the positions above.

`ended_after` is the seq of the latest operation started when this one ended: the live log wrote
this operation's result after that one's ``>>>`` line (and before the next one's), which is how a
trace read back is written in the live log's order. A create or collect ends where it starts."""


_AFTER_RAISE: Final = {
    "GEN": (GEN_SUSPENDED, GEN_CLOSED, (IGNORED_EXIT_MESSAGE,)),
    "CORO": (CORO_SUSPENDED, CORO_CLOSED, ("coroutine ignored GeneratorExit",)),
}


def state_after_raise(op: str, before: str, arg: Any, exc: BaseException) -> str:
    """The state a generator or coroutine (the kind of `before`) is left in when `op` raised `exc`.

    An exception that escapes a generator's frame finishes it, except where the generator never
    ran: a non-None send to a fresh generator, a call while it is already executing, and a
    close() that the generator answered with another yield. (``send(None)`` to a fresh generator
    does run it, so a TypeError from its body closes it like any other exception.)
    """
    if before in RUNNING_STATES:
        return before
    if before in CREATED_STATES and op == SEND and arg is not None and type(exc) is TypeError:
        return before
    suspended, closed, ignored = _AFTER_RAISE[before.partition("_")[0]]
    if op == CLOSE and type(exc) is RuntimeError and exc.args == ignored:
        return suspended
    return closed


def runs_code(record: Record) -> bool:
    """Whether the operation ran the generator's code (a close or collect only if it was suspended;
    an iterator's iter() or a loop left, never)."""
    op = record[OP]
    if op in INSTANT_OPS and op != COLLECT:
        return False
    if op == CLOSE or op == COLLECT or op == ACLOSE:
        return record[BEFORE] in SUSPENDED_STATES
    return True


# Positions in an instance's info tuple (shared by all its records).
NAME: Final = 0
FUNC: Final = 1
CODE: Final = 2
FILENAME: Final = 3

Info = tuple[str, str, "CodeType | None", "str | None"]
"""(name, func, code, filename): what every record of one instance shares. Only strings and a
code object (which the garbage collector does not track), so records kept in memory are
untracked by the collector and cost it nothing."""


def make_info(name: str, func: str, code: CodeType | None, filename: str | None = None) -> Info:
    """The info tuple of an instance; without `code`, positions in its records are line numbers."""
    return (name, func, code, code.co_filename if code is not None else filename)


_line_tables: dict[CodeType, tuple[list[int], list[int | None]]] = {}


def lineno_at(info: Info, lasti: int) -> int | None:
    """The source line at bytecode offset `lasti` of the instance's code (as `f_lineno` says).

    Without a code object (an event read back, or rebuilt from an `Event`) the position recorded
    is the line number itself.
    """
    code = info[CODE]
    if code is None:
        return lasti if lasti >= 0 else None
    if lasti < 0:  # not started yet (Python 3.10)
        return code.co_firstlineno
    table = _line_tables.get(code)
    if table is None:
        starts: list[int] = []
        lines: list[int | None] = []
        for start, _end, line in code.co_lines():
            starts.append(start)
            lines.append(line)
        table = _line_tables[code] = (starts, lines)
    starts, lines = table
    i = bisect.bisect_right(starts, lasti) - 1
    line = lines[i] if i >= 0 else None
    return line if line is not None else code.co_firstlineno


class Loop:
    """The arg of a loop's next (or anext) of an iterator: the loop's own call, not one written in
    the code (``next(it)`` records None). `Event.arg` is None."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<loop>"


LOOP: Final = Loop()


class Default:
    """The default of ``next(it, default)``, as a next of an iterator records it (``next(it)``
    records None): shown as the default's repr; `Event.arg` is the default itself."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return repr(self.value)


class Sleep:
    """What a traced coroutine yielded to the loop while in ``asyncio.sleep``: ``<sleep 0.1s>``.

    Records keep it so the log can say what the coroutine waits for; `Event.value` is the object
    actually yielded (`obj`: a Future, or None for ``sleep(0)``).
    """

    __slots__ = ("delay", "obj")

    def __init__(self, obj: Any, delay: Any) -> None:
        self.obj = obj
        self.delay = delay

    def __repr__(self) -> str:
        try:
            shown = format(self.delay, "g")
        except (TypeError, ValueError):
            shown = repr(self.delay)
        return f"<sleep {shown}s>"


# -- what a sink is, and what it is told at the end --------------------------------------------


class Unfinished:
    """An instance that had not finished when its tracer closed."""

    __slots__ = ("info", "lineno", "state")

    def __init__(self, info: Info, state: str, lineno: int | None) -> None:
        self.info = info
        self.state = state
        self.lineno = lineno


class Ending:
    """What remains to say when a tracer closes: events recorded, unfinished instances, a cut."""

    __slots__ = ("cut_after", "events", "unfinished")

    def __init__(self, events: int, unfinished: list[Unfinished], cut_after: int | None) -> None:
        self.events = events
        self.unfinished = unfinished
        self.cut_after = cut_after


class Sink:
    """Where records go. A sink is told when an operation starts (only if `wants_start`), when it
    ends (`end`: the one method every sink has), about facts of the trace (`note`: a ``max-events``
    cut), and is closed once with what remains to say (`close`).

    Subclasses override what they need; the rest does nothing.
    """

    wants_start = False

    def start(self, record: Record) -> None:
        """An operation starts (called only if `wants_start`)."""

    def end(self, record: Record) -> None:
        """An operation ended: its complete record."""
        raise NotImplementedError

    def note(self, note: dict[str, Any]) -> None:
        """A fact about the trace, e.g. ``{"note": "max-events", "after_seq": N}``."""

    def close(self, ending: Ending) -> None:
        """Tracing ended; nothing more comes."""
