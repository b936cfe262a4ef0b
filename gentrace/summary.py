"""A per-instance summary of a trace: counts, values yielded, how it ended, time inside; anomalies.

Works on flat records, live (`gentrace run --summary`) or read back (`gentrace show --summary`);
it keeps one small entry per instance, never the events.

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
    CREATE,
    CREATED_STATES,
    DURATION,
    FILENAME,
    INST,
    LASTI,
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
)
from gentrace.reprs import ReprText, exc_line, is_exception, safe_repr

COUNTED: Final = (NEXT, SEND, THROW, CLOSE)


class _Instance:
    __slots__ = ("anomalies", "counts", "ending", "name", "site", "state", "time_ns", "yields")

    def __init__(self, name: str, site: str) -> None:
        self.name = name
        self.site = site
        self.counts = dict.fromkeys(COUNTED, 0)
        self.yields = 0
        self.ending = ""
        self.time_ns = 0
        self.state: str | None = None
        self.anomalies: list[str] = []


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
            inst = self._instances[name] = _Instance(name, site)
        op = SYNC_OP.get(record[OP], record[OP])
        outcome = record[OUTCOME]
        before = record[BEFORE]
        if op in inst.counts:
            inst.counts[op] += 1
        if op != CREATE and op != COLLECT:
            inst.time_ns += record[DURATION]
        if outcome == YIELD:
            inst.yields += 1
        value = record[VALUE]
        if is_finished(before):
            pass  # an operation on a finished instance: how it ended was said already
        elif outcome == RETURN:
            inst.ending = "returned" if _is_none(value) else f"returned {safe_repr(value, self._limit)}"
        elif outcome == RAISE:
            text = exc_line(value, self._limit) if is_exception(value) else safe_repr(value, self._limit)
            if op == CLOSE and before in SUSPENDED_STATES and record[AFTER] in SUSPENDED_STATES:
                inst.anomalies.append(f"close() raised {text}")
            elif before in RUNNING_STATES:
                pass
            elif not (op == SEND and before in CREATED_STATES):
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
            counts = ", ".join(f"{op} {n}" for op, n in inst.counts.items())
            ending = inst.ending or _unfinished(inst.state)
            out.append(
                f"{inst.name:<{width}}  {inst.site} · {counts} · yielded {inst.yields} · {ending}"
                f" · {inst.time_ns / 1e6:.3f} ms inside"
            )
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


def _unfinished(state: str | None) -> str:
    if state in CREATED_STATES:
        return "never started"
    if state in SUSPENDED_STATES:
        return "suspended"
    return state or "?"
