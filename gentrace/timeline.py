"""What each instance's lane shows over time, and the terminal's swimlane chart of it.

`Lanes` reads records in seq order and says, per instance, from when to when it was created and
not started, running, suspended at a ``yield``, awaiting, and when it ended. Awaiting is where the
records say an instance is suspended in an ``await``: a coroutine between a step that left it
``CORO_SUSPENDED`` and its next step, and the part of an async generator's operation (an
``anext()`` that awaits a sleep) during which a coroutine whose step it runs inside was so
suspended (its task waiting in the event loop). An iterator's lane has its own marks: where an
``iter()`` took it, where a loop left it, where it was exhausted; between its nexts it is active.
Its exhaustion is not an end like a generator's (a next after it still runs its ``__next__``, and
a class's may answer again): later nexts are drawn too. The chart here and the replay page's
timeline (`replay`) both draw these spans, so they agree.

`timeline` makes two passes over the records (the time span and the lanes first, then the
marks), so memory is one row of characters per instance whatever the trace's length.

>>> print("\\n".join(timeline(lambda: iter(records), width=80)))
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable
from typing import Final

from gentrace.records import (
    AFTER,
    ASYNC_OPS,
    BEFORE,
    CORO_SUSPENDED,
    CREATE,
    CREATED_STATES,
    DURATION,
    INST,
    INSTANT_OPS,
    LEAVE,
    NAME,
    OP,
    START,
    SUSPENDED_STATES,
    THREAD,
    Record,
    is_finished,
    kind_of,
    runs_code,
)

# What a lane shows: the kinds of span (the page's data uses the numbers too). An iterator's
# iter(), a loop leaving it and its exhaustion are marks, spans that take no time.
LANE_CREATED, LANE_RUNNING, LANE_SUSPENDED, LANE_ENDED, LANE_AWAITING = range(5)
LANE_ACTIVE, LANE_ITER, LANE_LEFT, LANE_EXHAUSTED = range(5, 9)
MARKS: Final = frozenset({LANE_ITER, LANE_LEFT, LANE_EXHAUSTED})
"""An iterator's marks: drawn in a column of their own, which no operation covers."""

SYMBOLS: Final = {
    LANE_CREATED: ".",
    LANE_RUNNING: "#",
    LANE_SUSPENDED: "-",
    LANE_ENDED: "|",
    LANE_AWAITING: "~",
    LANE_ACTIVE: ":",
    LANE_ITER: "[",
    LANE_LEFT: "^",
    LANE_EXHAUSTED: "]",
}
LEGEND: Final = ("# running", "~ awaiting", "- suspended", ". created, not started", "| ended")
"""The chart's legend, item by item (wrapped to the width)."""
ITERATOR_LEGEND: Final = ("[ iter()", ": active iterator", "^ a loop left it", "] exhausted")
"""What the legend adds when the chart has an iterator's lane."""

MAX_LABEL: Final = 30
MIN_COLUMNS: Final = 10
MIN_WIDTH: Final = 24
"""A chart narrower than this is drawn this wide."""

Span = tuple[str, int, int, int]
"""(instance, kind, start_ns, end_ns): the instance's lane shows `kind` from start to end."""


class _AsyncOp:
    """An async operation whose running span waits until its awaiting gaps are known."""

    __slots__ = ("drivers", "end", "finishes", "gaps", "name", "start")

    def __init__(self, record: Record, finishes: int | None, drivers: frozenset[str]) -> None:
        self.name: str = record[INST][NAME]
        self.start: int = record[START]
        self.end: int = record[START] + record[DURATION]
        self.finishes = finishes  # the mark it ends with (LANE_ENDED, LANE_EXHAUSTED), if any
        self.drivers = drivers  # the instances whose operations it ran inside
        self.gaps: list[tuple[int, int]] = []


class Lanes:
    """Turns records, fed in seq order, into the spans each instance's lane shows.

    An instance's spans do not overlap (an end is an instant, after its last running span), except
    that the span between two operations starts where the first ends and ends where the second
    starts. A running span may take no time; draw it anyway, it is an operation.

    >>> lanes = Lanes()
    >>> spans = [span for record in records for span in lanes.feed(record)] + lanes.close(end)
    """

    def __init__(self) -> None:
        self._state: dict[str, tuple[int | None, int]] = {}  # kind shown since when; None: ended
        self._parked: dict[str, tuple[int, str]] = {}  # coroutine -> suspended since, on thread
        self._pending: dict[str, list[_AsyncOp]] = {}  # per thread
        self._running: dict[str, list[tuple[str, int]]] = {}  # per thread: operations, until when

    def feed(self, record: Record) -> list[Span]:
        """The spans known once `record` (the next in seq order) is read."""
        out: list[Span] = []
        name = record[INST][NAME]
        start = record[START]
        end = start + record[DURATION]
        thread = record[THREAD]
        if thread in self._pending:
            self._flush(thread, start, out)
        # The operations running on the thread when this one starts: it runs inside them.
        around = [(outer, until) for outer, until in self._running.get(thread, ()) if until >= start]
        self._running[thread] = around
        if record[OP] == CREATE:
            self._state[name] = (LANE_CREATED, start)
            return out
        shown = self._state.get(name)
        if shown is not None and shown[0] is not None:
            out.append((name, shown[0], shown[1], max(start, shown[1])))
        parked = self._parked.pop(name, None)
        if parked is not None:
            self._awaited(name, parked, start)
        if kind_of(record[AFTER]) == "iterator":
            self._iterator(record, around, out)
            return out
        was_over = is_finished(record[BEFORE])
        ends = is_finished(record[AFTER]) and not was_over
        if runs_code(record) and not was_over:
            self._ran(record, around, LANE_ENDED if ends else None, out)
        elif ends:
            out.append((name, LANE_ENDED, end, end))
        after = record[AFTER]
        kind: int | None
        if is_finished(after):
            kind = None
        elif after in CREATED_STATES:
            kind = LANE_CREATED
        elif after == CORO_SUSPENDED:
            kind = LANE_AWAITING
            self._parked[name] = (end, thread)
        elif after in SUSPENDED_STATES:
            kind = LANE_SUSPENDED
        else:  # still running: an operation refused while another runs
            kind = shown[0] if shown is not None else None
        if not was_over:
            self._state[name] = (kind, end)
        return out

    def _ran(
        self, record: Record, around: list[tuple[str, int]], finishes: int | None, out: list[Span]
    ) -> None:
        # An operation that ran the instance's code, and the mark it ends with; an async one's spans
        # wait for its awaiting gaps.
        name = record[INST][NAME]
        end = record[START] + record[DURATION]
        if record[OP] in ASYNC_OPS:
            drivers = frozenset(outer for outer, _ in around)
            self._pending.setdefault(record[THREAD], []).append(_AsyncOp(record, finishes, drivers))
        else:
            out.append((name, LANE_RUNNING, record[START], end))
            if finishes is not None:
                out.append((name, finishes, end, end))
        around.append((name, end))

    def _iterator(self, record: Record, around: list[tuple[str, int]], out: list[Span]) -> None:
        # An iterator's record: an iter() or a loop leaving it is a mark where it starts; a next runs.
        name = record[INST][NAME]
        start = record[START]
        exhausted = is_finished(record[AFTER])
        if record[OP] in INSTANT_OPS:
            out.append((name, LANE_LEFT if record[OP] == LEAVE else LANE_ITER, start, start))
            since = start
        else:
            finishes = LANE_EXHAUSTED if exhausted and not is_finished(record[BEFORE]) else None
            self._ran(record, around, finishes, out)
            since = start + record[DURATION]
        self._state[name] = (None if exhausted else LANE_ACTIVE, since)

    def close(self, end: int) -> list[Span]:
        """The remaining spans, the trace having ended at `end`."""
        out: list[Span] = []
        for thread in list(self._pending):
            self._flush(thread, None, out)
        for name, (kind, since) in self._state.items():
            if kind is not None:
                out.append((name, kind, since, max(end, since)))
        return out

    def _awaited(self, coroutine: str, parked: tuple[int, str], resumed: int) -> None:
        # The coroutine was suspended in an await from `since` to `resumed`: so was every async
        # generator operation that runs inside its steps, in progress all along.
        since, thread = parked
        for op in self._pending.get(thread, ()):
            if coroutine in op.drivers and op.start <= since and resumed <= op.end:
                op.gaps.append((since, resumed))

    def _flush(self, thread: str, now: int | None, out: list[Span]) -> None:
        # Operations of the thread that ended before `now` (None: all): no gap can come for them.
        ops = self._pending[thread]
        keep = []
        for op in ops:
            if now is not None and op.end >= now:
                keep.append(op)
                continue
            at = op.start
            for since, resumed in sorted(op.gaps):
                if resumed <= at:
                    continue
                since = max(since, at)
                out.append((op.name, LANE_RUNNING, at, since))
                out.append((op.name, LANE_AWAITING, since, resumed))
                at = resumed
            out.append((op.name, LANE_RUNNING, at, op.end))
            if op.finishes is not None:
                out.append((op.name, op.finishes, op.end, op.end))
        if keep:
            self._pending[thread] = keep
        else:
            del self._pending[thread]


def terminal_width() -> int:
    """The terminal's width, else ``$COLUMNS``, else 80."""
    return shutil.get_terminal_size((80, 24)).columns


def format_duration(ns: int) -> str:
    """A duration for people, to three figures: ``40 µs``, ``1.5 s``."""
    if ns >= 100_000_000_000:
        return f"{ns / 1e9:.0f} s"
    if ns >= 1_000_000_000:
        return f"{ns / 1e9:.3g} s"
    if ns >= 1_000_000:
        return f"{ns / 1e6:.3g} ms"
    if ns >= 1_000:
        return f"{ns / 1e3:.3g} µs"
    return f"{ns} ns"


def timeline(records: Callable[[], Iterable[Record]], width: int | None = None) -> list[str]:
    """The chart's lines, none wider than `width` (default: the terminal's); `records` is called
    twice and must give the same records in seq order."""
    start: int | None = None
    end = 0
    names: dict[str, None] = {}
    iterators = False
    for record in records():
        t = record[START]
        start = t if start is None else min(start, t)
        end = max(end, t + record[DURATION])
        names.setdefault(record[INST][NAME], None)
        iterators = iterators or kind_of(record[AFTER]) == "iterator"
    if start is None:
        return ["# timeline: no events"]
    total = max(width if width is not None else terminal_width(), MIN_WIDTH)
    label = min(max(len(name) for name in names), MAX_LABEL, total - 2 - MIN_COLUMNS)
    cols = total - label - 2
    span = max(end - start, 1)

    def col(t: int) -> int:
        return max(0, min((t - start) * (cols - 1) // span, cols - 1))

    lanes = {name: [" "] * cols for name in names}
    last = dict.fromkeys(names, -1)  # the last column an operation or an end took, per lane
    marked = dict.fromkeys(names, -1)  # the last column an iterator's mark took, per lane

    def draw(spans: list[Span]) -> None:
        for name, kind, begin, until in spans:
            lane = lanes[name]
            first, final = col(begin), col(until)
            if kind == LANE_RUNNING:
                first = min(max(first, marked[name] + 1), cols - 1)  # a mark keeps its column
                final = max(final, first)
                lane[first : final + 1] = "#" * (final - first + 1)
                last[name] = max(last[name], final)
            elif kind == LANE_ENDED or kind == LANE_EXHAUSTED:
                # In the column after its last operation; past the chart's end, in its last column.
                at = min(max(last[name], first) + 1, cols - 1)
                lane[at] = SYMBOLS[kind]
                last[name] = at
                if kind == LANE_EXHAUSTED:
                    marked[name] = at
            elif kind in MARKS:  # an iter() or a loop left: after the last operation or mark
                at = min(max(last[name] + 1, first), cols - 1)
                lane[at] = SYMBOLS[kind]
                last[name] = marked[name] = at
            else:  # between operations: never over one
                symbol = SYMBOLS[kind]
                for c in range(first, final + 1):
                    if lane[c] == " ":
                        lane[c] = symbol

    shown = Lanes()
    for record in records():
        draw(shown.feed(record))
    draw(shown.close(end))
    out = [f"{_cut(name, label):<{label}}  {''.join(lane).rstrip()}" for name, lane in lanes.items()]
    left, right = "0", format_duration(end - start)
    out.append(f"{'':<{label}}  {left}{right:>{cols - len(left)}}")
    out += _legend(LEGEND + ITERATOR_LEGEND if iterators else LEGEND, label + 2, total)
    return out


def _legend(items: tuple[str, ...], indent: int, width: int) -> list[str]:
    """The legend in lines of at most `width`: under the lanes if two lines hold it there."""
    lines = _wrapped(items, width - indent)
    if len(lines) > 2:
        indent, lines = 0, _wrapped(items, width)
    return [" " * indent + line for line in lines]


def _wrapped(items: tuple[str, ...], room: int) -> list[str]:
    lines: list[str] = []
    for item in items:
        if lines and len(lines[-1]) + 2 + len(item) <= room:
            lines[-1] += "  " + item
        else:
            lines.append(item)
    return lines


def _cut(name: str, width: int) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"
