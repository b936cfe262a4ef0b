"""A terminal swimlane chart of a trace: one lane per instance, time across, no colour needed.

Two passes over the records (the time span and the lanes first, then the marks), so memory is
one row of characters per instance whatever the trace's length.

>>> print("\\n".join(timeline(lambda: iter(records), width=80)))
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable
from typing import Final

from gentrace.records import (
    AFTER,
    CREATE,
    CREATED_STATES,
    DURATION,
    INST,
    NAME,
    OP,
    START,
    SUSPENDED_STATES,
    Record,
    is_finished,
    runs_code,
)

RUNNING: Final = "#"
SUSPENDED: Final = "-"
NOT_STARTED: Final = "."
ENDED: Final = "|"
LEGEND: Final = f"{RUNNING} running  {SUSPENDED} suspended  {NOT_STARTED} created, not started  {ENDED} ended"
MAX_LABEL: Final = 30


def terminal_width() -> int:
    """The terminal's width, else ``$COLUMNS``, else 80."""
    return shutil.get_terminal_size((80, 24)).columns


def _fmt_time(ns: int) -> str:
    if ns >= 1_000_000_000:
        return f"{ns / 1e9:.3g} s"
    if ns >= 1_000_000:
        return f"{ns / 1e6:.3g} ms"
    if ns >= 1_000:
        return f"{ns / 1e3:.3g} µs"
    return f"{ns} ns"


def timeline(records: Callable[[], Iterable[Record]], width: int | None = None) -> list[str]:
    """The chart's lines; `records` is called twice and must give the same records in seq order."""
    start: int | None = None
    end = 0
    names: dict[str, None] = {}
    for record in records():
        t = record[START]
        start = t if start is None else min(start, t)
        end = max(end, t + record[DURATION])
        names.setdefault(record[INST][NAME], None)
    if start is None:
        return ["# timeline: no events"]
    total = width if width is not None else terminal_width()
    label = min(max(len(name) for name in names), MAX_LABEL)
    cols = max(total - label - 2, 10)
    span = max(end - start, 1)

    def col(t: int) -> int:
        return min((t - start) * (cols - 1) // span, cols - 1)

    lanes = {name: [" "] * cols for name in names}
    filled = dict.fromkeys(names, -1)  # the last column marked in each lane
    state: dict[str, str] = {}
    for record in records():
        name = record[INST][NAME]
        lane = lanes[name]
        first = col(record[START])
        fill = {"": " ", NOT_STARTED: NOT_STARTED, SUSPENDED: SUSPENDED, ENDED: " "}[state.get(name, "")]
        for c in range(filled[name] + 1, first):
            lane[c] = fill
        if runs_code(record):
            last = col(record[START] + record[DURATION])
            for c in range(first, last + 1):
                lane[c] = RUNNING
            filled[name] = max(filled[name], last)
        else:
            if lane[first] != RUNNING:
                lane[first] = NOT_STARTED if record[OP] == CREATE else ENDED
            filled[name] = max(filled[name], first)
        after = record[AFTER]
        if is_finished(after):
            if record[OP] != CREATE and lane[filled[name]] != ENDED:
                nxt = min(filled[name] + 1, cols - 1)
                if lane[nxt] == " ":
                    lane[nxt] = ENDED
                    filled[name] = nxt
            state[name] = ENDED
        elif after in CREATED_STATES:
            state[name] = NOT_STARTED
        elif after in SUSPENDED_STATES:
            state[name] = SUSPENDED
    for name, lane in lanes.items():
        fill = {"": " ", NOT_STARTED: NOT_STARTED, SUSPENDED: SUSPENDED, ENDED: " "}[state.get(name, "")]
        for c in range(filled[name] + 1, cols):
            lane[c] = fill
    out = [f"{_cut(name, label):<{label}}  {''.join(lane).rstrip()}" for name, lane in lanes.items()]
    left, right = "0", _fmt_time(end - start)
    out.append(f"{'':<{label}}  {left}{right:>{cols - len(left)}}")
    out.append(f"{'':<{label}}  {LEGEND}")
    return out


def _cut(name: str, width: int) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"
