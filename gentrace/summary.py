"""A per-instance summary of a trace: counts, values yielded, how it ended, time inside; anomalies.

Works on flat records, live (`gentrace run --summary`) or read back (`gentrace show --summary`);
it keeps one small entry per instance, never the events. An iterator's line says what matters for
one: its nexts, the items it gave, whether it ended exhausted, and the loops that left it early;
an iterator not exhausted is no anomaly (a loop may stop when it likes).

>>> summary = Summary()
>>> for record in records: summary.add(record)
>>> print("\\n".join(summary.lines(ended=True)))
"""

from __future__ import annotations

from typing import Any, Final

from gentrace.records import (
    AFTER,
    ARG,
    BEFORE,
    CLOSE,
    CLOSED,
    COLLECT,
    CREATED_STATES,
    DURATION,
    FILENAME,
    INST,
    INSTANT_OPS,
    LASTI,
    LEAVE,
    NAME,
    NEXT,
    OP,
    OUTCOME,
    RAISE,
    RETURN,
    RUNNING_STATES,
    SEND,
    SUSPENDED_STATES,
    SYNC_OP,
    THROW,
    VALUE,
    YIELD,
    Record,
    is_finished,
    kind_of,
    lineno_at,
)
from gentrace.reprs import ReprText, exc_line, is_exception, safe_repr

COUNTED: Final = (NEXT, SEND, THROW, CLOSE)


class _Instance:
    __slots__ = (
        "anomalies",
        "counts",
        "ending",
        "iterator",
        "left",
        "name",
        "raised",
        "site",
        "state",
        "time_ns",
        "yields",
    )

    def __init__(self, name: str, site: str, iterator: bool) -> None:
        self.name = name
        self.site = site
        self.iterator = iterator
        self.counts = dict.fromkeys(COUNTED, 0)
        self.yields = 0
        self.ending = ""
        self.time_ns = 0
        self.state: str | None = None
        self.anomalies: list[str] = []
        # An iterator's: the lines of the loops that left it early, what a next() of it last raised.
        self.left: dict[int, None] = {}
        self.raised = ""


def _is_none(value: Any) -> bool:
    return value is None or (isinstance(value, ReprText) and value == "None")


class Summary:
    """Accumulates records; `lines()` gives the table and the anomalies."""

    def __init__(self, show_path: Any = str, max_repr: int | None = 80) -> None:
        self._instances: dict[str, _Instance] = {}
        self._show_path = show_path
        self._limit = max_repr

    def add(self, record: Record) -> None:
        """Count one event (in seq order)."""
        info = record[INST]
        name = info[NAME]
        inst = self._instances.get(name)
        if inst is None:
            lineno = record[LASTI]
            site = f"{self._show_path(info[FILENAME])}:{lineno}" if info[FILENAME] and lineno > 0 else "?"
            iterator = kind_of(record[AFTER]) == "iterator"
            inst = self._instances[name] = _Instance(name, site, iterator)
        op = SYNC_OP.get(record[OP], record[OP])
        outcome = record[OUTCOME]
        before = record[BEFORE]
        if op in inst.counts:
            inst.counts[op] += 1
        if op not in INSTANT_OPS:
            inst.time_ns += record[DURATION]
        if outcome == YIELD:
            inst.yields += 1
        value = record[VALUE]
        if inst.iterator:
            if op == LEAVE:
                inst.left[lineno_at(info, record[LASTI]) or 0] = None
            elif outcome == RAISE:
                text = exc_line(value, self._limit) if is_exception(value) else safe_repr(value, self._limit)
                inst.raised = f"{record[OP]}() raised {text}"
            inst.state = record[AFTER]
            return
        if is_finished(before):
            pass  # an operation on a finished instance: how it ended was said already
        elif outcome == RETURN:
            inst.ending = "returned" if _is_none(value) else f"returned {safe_repr(value, self._limit)}"
        elif outcome == RAISE:
            text = exc_line(value, self._limit) if is_exception(value) else safe_repr(value, self._limit)
            if op == CLOSE and before in SUSPENDED_STATES and record[AFTER] in SUSPENDED_STATES:
                inst.anomalies.append(f"close() raised {text}")
            elif is_finished(record[AFTER]):  # not refused (re-entrant, or a non-None send to a fresh one)
                inst.ending = f"raised {text}"
        elif outcome == CLOSED:
            inst.ending = "collected" if op == COLLECT else "closed"
        if op == COLLECT:
            inst.anomalies.append("collected without close")
        if op == SEND and before in CREATED_STATES and not _is_none(record[ARG]):
            inst.anomalies.append(
                f"non-None send to a fresh generator: send({safe_repr(record[ARG], self._limit)})"
            )
        if before in RUNNING_STATES:
            inst.anomalies.append(f"re-entrant call: {record[OP]}() while it was running")
        inst.state = record[AFTER]

    def lines(self, *, ended: bool = True, cut_after: int | None = None) -> list[str]:
        """The summary: one line per instance, then one per anomaly (or a line saying none)."""
        if not self._instances:
            return ["# summary: no generator instances"]
        width = max(len(inst.name) for inst in self._instances.values())
        out = [f"# summary: {len(self._instances)} instance{'s' if len(self._instances) != 1 else ''}"]
        anomalies: list[str] = []
        for inst in self._instances.values():
            inside = f"{inst.time_ns / 1e6:.3f} ms inside"
            if inst.iterator:
                line = f"next {inst.counts[NEXT]} · gave {inst.yields} · {_iterator_ending(inst)}"
                out.append(f"{inst.name:<{width}}  {inst.site} · {line} · {inside}")
                continue
            counts = ", ".join(f"{op} {n}" for op, n in inst.counts.items())
            ending = inst.ending or _unfinished(inst.state)
            line = f"{counts} · yielded {inst.yields} · {ending}"
            out.append(f"{inst.name:<{width}}  {inst.site} · {line} · {inside}")
            for anomaly in inst.anomalies:
                anomalies.append(f"{inst.name}: {anomaly}")
            if inst.state in CREATED_STATES or inst.state in SUSPENDED_STATES:
                what = "never started" if inst.state in CREATED_STATES else "still suspended"
                if cut_after is not None:
                    pass  # the trace was cut, not the generator left unfinished
                elif not ended:
                    anomalies.append(f"{inst.name}: {what} when the trace ended early (no end note: killed?)")
                else:
                    anomalies.append(f"{inst.name}: never finished ({what})")
        if cut_after is not None:
            out.append(
                f"# the trace was cut by max-events after {cut_after} events: unfinished ones not flagged"
            )
        out.append("# anomalies:" if anomalies else "# anomalies: none")
        out.extend(anomalies)
        return out


def _iterator_ending(inst: _Instance) -> str:
    """``exhausted``, or ``not exhausted``, then what else its end says: ``(next() raised
    ValueError: bad; loop at line 3 left early)``."""
    notes = [inst.raised] if inst.raised else []
    lines = [str(line) for line in inst.left if line]
    if len(lines) == 1:
        notes.append(f"loop at line {lines[0]} left early")
    elif lines:
        notes.append(f"loops at lines {', '.join(lines)} left early")
    elif inst.left:
        notes.append("a loop left early")
    ended = "exhausted" if is_finished(inst.state) else "not exhausted"
    return f"{ended} ({'; '.join(notes)})" if notes else ended


def _unfinished(state: str | None) -> str:
    if state in CREATED_STATES:
        return "never started"
    if state in SUSPENDED_STATES:
        return "suspended"
    return state or "?"
