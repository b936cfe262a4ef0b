"""Read a JSON Lines trace back, line by line, into the flat records the renderers take.

A trace is streamed: one line in memory at a time (a line is capped at 1 MiB, the rest of an
overlong line is skipped unread), plus a bounded window that restores `seq` order — JSON Lines
are written when an operation completes, so a nested event's line precedes its parent's.
Nothing in a trace is evaluated: reprs become `ReprText`, exceptions `ExcText`, and every string
that reaches a renderer or a message has its control characters escaped.

>>> reader = TraceReader(open("trace.jsonl", "rb"), name="trace.jsonl")
>>> for item in reader:            # TraceEvent objects, in seq order
...     print(item.record[SEQ], item.late)
"""

from __future__ import annotations

import heapq
import json
from collections import deque
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import IO, Any, Final, Union

from gentrace.records import (
    AITER,
    ANEXT,
    ATHROW,
    ENDED_AFTER,
    INSTANT_OPS,
    ITER,
    LOOP,
    MAIN_THREAD,
    NEXT,
    OP,
    OPS,
    OUTCOMES,
    RETURN,
    SEQ,
    STATES,
    THROW,
    Record,
    make_info,
)
from gentrace.reprs import ExcText, ReprText, cut, escape_controls

MAX_LINE: Final = 1 << 20
"""Longest line read (bytes, newline excluded); a longer one is a bad line, skipped unread."""

WINDOW: Final = 10_000
"""Events held back to restore seq order; a seq missing this long is skipped."""

_CHUNK: Final = 1 << 16


START: Final = "start"
END: Final = "end"

LogItem = Union[tuple[str, "TraceEvent"], "Gap"]
"""What `TraceReader.in_log_order` gives: ``(START | END, event)``, or a `Gap`."""


class TraceError(Exception):
    """A bad line in a trace (raised under strict reading); the message says ``line N: ...``."""


@dataclass(frozen=True, slots=True)
class TraceEvent:
    """One event read back: its flat record, its ``locals`` if recorded, whether it came late."""

    record: Record
    locals: dict[str, str] | None = None
    late: bool = False


@dataclass(frozen=True, slots=True)
class Gap:
    """Sequence numbers that never arrived (the run was killed inside those operations)."""

    first: int
    last: int


def clean(text: str, limit: int | None = 200) -> str:
    """A string from a trace made safe for a terminal: controls escaped, cut to `limit`."""
    return cut(escape_controls(text), limit)


def _lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes | None, bool]]:
    """(line number, bytes or None when too long, whether it ended with a newline)."""
    number = 0
    while True:
        raw = stream.readline(MAX_LINE + 1)
        if not raw:
            return
        number += 1
        if raw.endswith(b"\n"):
            yield number, raw[:-1], True
            continue
        if len(raw) <= MAX_LINE:
            yield number, raw, False  # the last line, cut short
            return
        # Too long: skip the rest of it without holding it.
        ended = False
        while True:
            chunk = stream.readline(_CHUNK)
            if not chunk:
                break
            if chunk.endswith(b"\n"):
                ended = True
                break
        yield number, None, ended
        if not ended:
            return


def _state(data: dict[str, Any], key: str, nullable: bool) -> str | None:
    value = data.get(key)
    if value is None and nullable:
        return None
    if not isinstance(value, str) or value not in STATES:
        raise ValueError(f"unknown {key} {clean(repr(value), 40)}")
    return value


def _text(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{key} is not a string")
    return value


def _exc(data: dict[str, Any], key: str, text: str | None) -> ExcText | None:
    info = data.get(key)
    if not isinstance(info, dict):
        return None
    type_ = info.get("type")
    message = info.get("message")
    if not isinstance(type_, str) or not (message is None or isinstance(message, str)):
        raise ValueError(f"{key} is not {{type, message}}")
    return ExcText(clean(type_, None), None if message is None else clean(message, None), text or type_)


def _number(data: dict[str, Any], key: str) -> float:
    value = data.get(key, 0.0)
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{key} is not a number")
    return float(value)


def parse_event(data: Any) -> TraceEvent:
    """The event a decoded JSON line holds; ValueError says what is wrong with it."""
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    seq = data.get("seq")
    if isinstance(seq, bool) or not isinstance(seq, int):
        raise ValueError("not a gentrace event (no integer 'seq')")
    gen = data.get("gen")
    if not isinstance(gen, str):
        raise ValueError("not a gentrace event (no string 'gen')")
    op = data.get("op")
    if not isinstance(op, str) or op not in OPS:
        raise ValueError(f"unknown op {clean(repr(op), 40)}")
    outcome = data.get("outcome")
    if not isinstance(outcome, str) or outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {clean(repr(outcome), 40)}")
    before = _state(data, "state_before", True)
    after = _state(data, "state_after", False)
    depth = data.get("depth", 0)
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 0:
        raise ValueError("depth is not a non-negative integer")
    lineno = data.get("lineno")
    if lineno is not None and (isinstance(lineno, bool) or not isinstance(lineno, int)):
        raise ValueError("lineno is not an integer")
    ended_after = data.get("ended_after")  # absent from traces written before it was recorded
    if ended_after is not None and (isinstance(ended_after, bool) or not isinstance(ended_after, int)):
        raise ValueError("ended_after is not an integer")
    arg_text = _text(data, "arg")
    own = data.get("value") if op == ITER or op == AITER else None
    value_text = None if own is not None else _text(data, "value")
    filename = _text(data, "filename")
    func = _text(data, "func") or "?"
    thread = _text(data, "thread") or MAIN_THREAD
    task = _text(data, "task")

    arg: Any = _exc(data, "arg_exc", arg_text) if op == THROW or op == ATHROW else None
    if arg is None and arg_text is not None:
        arg = ReprText(arg_text)
    if data.get("loop") is True and (op == NEXT or op == ANEXT):
        arg = LOOP
    value: Any = _exc(data, "value_exc", value_text) if own is None else own is True
    if value is None and value_text is not None:
        # The log says "returned · ..." for a None return, as the live log does.
        value = None if outcome == RETURN and value_text == "None" else ReprText(value_text)
    info = make_info(
        clean(gen, None), clean(func, None), None, None if filename is None else clean(filename, None)
    )
    record: Record = (
        seq,
        info,
        op,
        arg,
        outcome,
        value,
        before,
        after,
        depth,
        clean(thread, None),
        None if task is None else clean(task, None),
        round(_number(data, "time") * 1e9),
        round(_number(data, "duration") * 1e9),
        -1 if lineno is None else lineno,
        ended_after,
    )
    loc = data.get("locals")
    locals_ = None
    if isinstance(loc, dict):
        locals_ = {clean(str(k), None): clean(str(v), None) for k, v in loc.items()}
    return TraceEvent(record, locals_)


class TraceReader:
    """Iterate over a trace's events in seq order, with its notes and bad lines counted.

    Bad lines are skipped (counted in `bad`, the first described in `first_bad`), or raise
    `TraceError` at the first when `strict`. After iterating, `notes` holds the known notes:
    ``cut_after`` (the ``max-events`` note's seq) and ``ended`` (whether the ``end`` note came).
    Besides `TraceEvent` objects the iterator yields a `Gap` for seqs that never arrived, where
    they would have been.
    """

    def __init__(
        self, stream: IO[bytes], *, name: str = "trace", strict: bool = False, window: int = WINDOW
    ) -> None:
        self.name = clean(name)
        self.strict = strict
        self.window = window
        self.bad = 0
        self.first_bad: str | None = None
        self.events = 0
        self.cut_after: int | None = None
        self.ended = False
        self.end_events: int | None = None
        self._stream = stream

    def _bad(self, number: int, why: str) -> None:
        message = f"line {number}: {why}"
        if self.strict:
            raise TraceError(message)
        self.bad += 1
        if self.first_bad is None:
            self.first_bad = message

    def _note(self, data: dict[str, Any]) -> None:
        kind = data.get("note")
        if kind == "max-events":
            after = data.get("after_seq")
            if isinstance(after, int) and not isinstance(after, bool):
                self.cut_after = after
        elif kind == "end":
            self.ended = True
            events = data.get("events")
            if isinstance(events, int) and not isinstance(events, bool):
                self.end_events = events

    def _parsed(self) -> Iterator[TraceEvent]:
        for number, raw, newline in _lines(self._stream):
            if raw is None:
                self._bad(number, f"longer than {MAX_LINE} bytes")
                continue
            if not raw.strip():
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                self._bad(number, "not UTF-8 text (a binary file?)")
                continue
            try:
                data = json.loads(text)
            except (ValueError, RecursionError):
                why = "cut short (no newline at the end: was the run killed?)" if not newline else "not JSON"
                self._bad(number, why)
                continue
            if isinstance(data, dict) and "note" in data and "seq" not in data:
                self._note(data)
                continue
            try:
                event = parse_event(data)
            except ValueError as exc:
                self._bad(number, str(exc))
                continue
            self.events += 1
            yield event

    def __iter__(self) -> Iterator[TraceEvent | Gap]:
        heap: list[tuple[int, int, TraceEvent]] = []
        expected = 1
        order = 0  # ties between equal seqs keep their arrival order
        for event in self._parsed():
            seq = event.record[0]
            if seq < expected:
                yield TraceEvent(event.record, event.locals, late=True)
                continue
            heapq.heappush(heap, (seq, order, event))
            order += 1
            while heap and (heap[0][0] == expected or len(heap) > self.window):
                seq, _, event = heapq.heappop(heap)
                if seq > expected:
                    yield Gap(expected, seq - 1)
                yield event
                expected = max(expected, seq + 1)
        while heap:
            seq, _, event = heapq.heappop(heap)
            if seq > expected:
                yield Gap(expected, seq - 1)
            if seq < expected:
                event = TraceEvent(event.record, event.locals, late=True)
            yield event
            expected = max(expected, seq + 1)

    def in_log_order(self) -> Iterator[LogItem]:
        """The events in the order the live log wrote their lines.

        ``(START, event)`` for an operation's ``>>>`` line, in seq order; ``(END, event)`` for its
        result — or a create's or collect's only line — right after the start of the operation
        its record says it ended after (`ended_after`), in the order the operations ended (the
        file's). A `Gap` stands for seqs that never arrived; a late event comes as a start and an
        end at once. A trace written before `ended_after` was recorded gets, for each operation,
        the highest seq ended before it (exact for one thread of generators; async code and
        threads may come out in seq order instead).
        """
        pending: dict[int, TraceEvent] = {}  # read; its start not given yet
        ends: deque[tuple[int, TraceEvent]] = deque()  # (ended after, event), in the file's order
        expected = 1  # the seq whose start comes next
        highest = 0  # the highest seq ended so far
        for event in self._parsed():
            record = event.record
            seq = record[SEQ]
            highest = max(highest, seq)
            after = record[ENDED_AFTER]
            # An operation ends after its own start, whatever a race between threads recorded.
            resolved = max(seq, highest if after is None else after)
            if resolved != after:
                event = TraceEvent((*record[:ENDED_AFTER], resolved), event.locals, event.late)
            if seq < expected:
                late = TraceEvent(event.record, event.locals, late=True)
                if record[OP] not in INSTANT_OPS:
                    yield START, late
                yield END, late
                continue
            pending[seq] = event
            ends.append((resolved, event))
            expected = yield from _given(pending, ends, expected, self.window)
        yield from _given(pending, ends, expected, 0)

    def close(self) -> None:
        """Close the stream read."""
        self._stream.close()

    def problems(self) -> str | None:
        """One line about the bad lines skipped, naming the first; None when there were none."""
        if not self.bad:
            return None
        lines = "line" if self.bad == 1 else "lines"
        return f"{self.name}: {self.bad} bad {lines} skipped; first: {self.first_bad}"


def _given(
    pending: dict[int, TraceEvent], ends: deque[tuple[int, TraceEvent]], expected: int, hold: int
) -> Generator[LogItem, None, int]:
    """What can be given of the held events, in log order; the next seq expected.

    Up to `hold` events may wait for a missing seq to arrive; past that it is a `Gap`.
    """
    while pending or ends:
        if ends and ends[0][0] < expected:
            yield END, ends.popleft()[1]
        elif expected in pending:
            event = pending.pop(expected)
            expected += 1
            if event.record[OP] not in INSTANT_OPS:
                yield START, event
        elif len(pending) + len(ends) > hold:
            first = min(pending) if pending else ends[0][0] + 1
            yield Gap(expected, first - 1)
            expected = first
        else:
            break
    return expected
