"""A saved trace as the REPL-style log of `gentrace run`, filtered, one line at a time.

Events arrive in seq order (see `reader`), so an operation's nested events come after its start:
its result line is held back until they are shown — a stack as deep as the nesting, per thread —
and repeated with ``... `` as the live log does. What this module keeps besides that stack is one
small entry per instance, for the closing lines about generators that never finished.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from gentrace.names import matches_only
from gentrace.reader import Gap, TraceEvent
from gentrace.records import (
    AFTER,
    COLLECT,
    CREATE,
    DEPTH,
    FUNC,
    INST,
    LASTI,
    NAME,
    OP,
    SEQ,
    THREAD,
    Record,
    Unfinished,
    is_finished,
    lineno_at,
)
from gentrace.renderers import (
    TextOptions,
    annotation,
    closing_lines,
    end_line,
    expression,
    repeat_line,
    result,
    single_line,
    start_line,
)


@dataclass(frozen=True, slots=True)
class Filters:
    """Which events to show: `only` globs on the function, `gens` globs on the instance, `grep`."""

    only: Sequence[str] = ()
    gens: Sequence[str] = ()
    grep: str | None = None

    def keep(self, record: Record, limit: int | None) -> bool:
        """Whether the event passes every filter given."""
        info = record[INST]
        if self.only:
            module, _, qualname = info[FUNC].rpartition(":")
            if not matches_only(self.only, qualname, module):
                return False
        if self.gens and not any(fnmatch.fnmatchcase(info[NAME], pattern) for pattern in self.gens):
            return False
        if self.grep is not None:
            options = TextOptions(max_repr=None)
            text = f"{expression(record, None)}\n{result(record, None)}\n{annotation(record, options)}"
            if self.grep not in text:
                return False
        return True


def _late(record: Record, options: TextOptions) -> str:
    s = options.styles
    return f"{s.comment}# late: seq {record[SEQ]} arrived after the reorder window{s.reset}"


class Step(NamedTuple):
    """What one item adds to the log: the lines that come before its own, then its own.

    `finished` are the operations whose results were held back and come now (their lines open
    `before`); `opened` says whether the item's own result is held back in turn (it may have nested
    steps), and `outer` is the operation it ran inside, if that one is shown.
    """

    finished: list[Record]
    before: list[str]
    lines: list[str]
    opened: bool = False
    outer: Record | None = None


class LogSteps:
    """The log of `render_log`, item by item, with the seam between two events exposed.

    >>> steps = LogSteps(TextOptions())
    >>> for item in items: step = steps.feed(item)      # None when filtered out
    >>> last = steps.end(ended=True, cut_after=None)     # its `before` holds the closing lines
    """

    def __init__(self, options: TextOptions, filters: Filters | None = None) -> None:
        self.options = options
        self.filters = filters
        self._open: dict[str, list[tuple[Record, TextOptions]]] = {}  # per thread: results held back
        self._last_start: Record | None = None
        self._unfinished: dict[str, Unfinished] = {}

    def _close_until(self, thread: str, depth: int, finished: list[Record], lines: list[str]) -> None:
        stack = self._open.get(thread)
        while stack and stack[-1][0][DEPTH] >= depth:
            record, record_options = stack.pop()
            if self._last_start is not record:
                lines.append(repeat_line(record, self.options))
            self._last_start = None
            lines.extend(end_line(record, record_options).split("\n"))
            finished.append(record)

    def feed(self, item: TraceEvent | Gap) -> Step | None:
        """The lines `item` adds; None when the filters leave it out."""
        options = self.options
        s = options.styles
        if isinstance(item, Gap):
            span = str(item.first) if item.first == item.last else f"{item.first}–{item.last}"
            return Step(
                [], [f"{s.comment}# seq {span}: missing from the trace (never completed){s.reset}"], []
            )
        record = item.record
        info = record[INST]
        after = record[AFTER]
        if is_finished(after):
            self._unfinished.pop(info[NAME], None)
        else:
            self._unfinished[info[NAME]] = Unfinished(info, after, lineno_at(info, record[LASTI]))
        if self.filters is not None and not self.filters.keep(record, options.max_repr):
            return None
        thread = record[THREAD]
        finished: list[Record] = []
        before: list[str] = []
        self._close_until(thread, record[DEPTH], finished, before)
        stack = self._open.get(thread)
        outer = stack[-1][0] if stack else None
        lines = [_late(record, options)] if item.late else []
        if record[OP] in (CREATE, COLLECT):
            self._last_start = None
            lines.append(single_line(record, options))
            return Step(finished, before, lines, False, outer)
        record_options = options
        if item.locals is not None:
            record_options = options.with_locals(item.locals)
        lines.append(start_line(record, options))
        self._last_start = record
        self._open.setdefault(thread, []).append((record, record_options))
        return Step(finished, before, lines, True, outer)

    def end(self, *, ended: bool, cut_after: int | None) -> Step:
        """The held-back results, then the notes on unfinished instances and on a cut trace.

        `ended` says whether the trace's ``end`` note came (else the program was killed);
        `cut_after` is its ``max-events`` note's seq.
        """
        finished: list[Record] = []
        lines: list[str] = []
        for thread in list(self._open):
            self._close_until(thread, 0, finished, lines)
        lines.extend(closing_lines(self._unfinished.values(), cut_after, self.options, ended=ended))
        return Step(finished, lines, [])


def render_log(
    items: Iterable[TraceEvent | Gap],
    options: TextOptions,
    filters: Filters | None = None,
    *,
    cut_after: Callable[[], int | None] = lambda: None,
    ended: Callable[[], bool] = lambda: True,
) -> Iterator[str]:
    """The log lines (without newlines) of the events, as `gentrace run` wrote them.

    `cut_after` and `ended` are asked once the events are done: the trace's ``max-events`` note,
    and whether its ``end`` note came (else the program was killed).
    """
    steps = LogSteps(options, filters)
    for item in items:
        step = steps.feed(item)
        if step is not None:
            yield from step.before
            yield from step.lines
    yield from steps.end(ended=ended(), cut_after=cut_after()).before
