"""A saved trace as the REPL-style log of `gentrace run`, filtered, one line at a time.

Events arrive in seq order (see `reader`), so an operation's nested events come after its start:
its result line is held back until they are shown — a stack as deep as the nesting, per thread —
and repeated with ``... `` as the live log does. What this module keeps besides that stack is one
small entry per instance, for the closing lines about generators that never finished.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from gentrace.names import matches_only
from gentrace.reader import END, START, Gap, LogItem
from gentrace.records import (
    AFTER,
    DEPTH,
    FUNC,
    INST,
    INSTANT_OPS,
    LASTI,
    NAME,
    OP,
    SEQ,
    THREAD,
    Record,
    Unfinished,
    is_finished,
    kind_of,
    lineno_at,
)
from gentrace.renderers import (
    TextOptions,
    annotation,
    closing_lines,
    expression,
    result,
)
from gentrace.textlog import LogWriter


@dataclass(slots=True)
class Filters:
    """Which events to show: `only` globs on the function, `gens` globs on the instance, `grep`.

    Each filter is also watched on its own, for `unmatched()`: one that matched no event in the
    whole trace deserves a warning, lest its empty log be taken for generators that never ran.
    """

    only: Sequence[str] = ()
    gens: Sequence[str] = ()
    grep: str | None = None
    # What has matched nothing so far. A filter is tried on an event the others left out only
    # until it has matched one: then it costs what it cost before.
    _only_left: list[str] = field(init=False, repr=False, compare=False)
    _gens_left: list[str] = field(init=False, repr=False, compare=False)
    _grep_left: bool = field(init=False, repr=False, compare=False)
    _kept: bool = field(default=False, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._only_left = list(dict.fromkeys(self.only))
        self._gens_left = list(dict.fromkeys(self.gens))
        self._grep_left = self.grep is not None

    def keep(self, record: Record, limit: int | None) -> bool:
        """Whether the event passes every filter given."""
        info = record[INST]
        kept = True
        if self.only:
            module, _, qualname = info[FUNC].rpartition(":")
            kept = matches_only(self.only, qualname, module)
            if kept and self._only_left:
                self._only_left = [p for p in self._only_left if not matches_only((p,), qualname, module)]
        if self.gens and (kept or self._gens_left):
            name = info[NAME]
            if self._gens_left:
                self._gens_left = [p for p in self._gens_left if not fnmatch.fnmatchcase(name, p)]
            kept = kept and any(fnmatch.fnmatchcase(name, pattern) for pattern in self.gens)
        if self.grep is not None and (kept or self._grep_left):
            options = TextOptions(max_repr=None)
            text = f"{expression(record, None)}\n{result(record, None)}\n{annotation(record, options)}"
            if self.grep in text:
                self._grep_left = False
            else:
                kept = False
        if kept:
            self._kept = True
        return kept

    def unmatched(self) -> list[str]:
        """The filters that matched no event so far, each on its own, as given: ``--gen 'x#9'``.

        When each matched some event but none passed them all, the filters given, as one item.
        """
        left = [f"--only {p!r}" for p in self._only_left] + [f"--gen {p!r}" for p in self._gens_left]
        if self._grep_left:
            left.append(f"--grep {self.grep!r}")
        if left or self._kept:
            return left
        given = [f"--only {p!r}" for p in self.only] + [f"--gen {p!r}" for p in self.gens]
        if self.grep is not None:
            given.append(f"--grep {self.grep!r}")
        return [" and ".join(given) + " together"] if given else []


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
    """The log of `render_log`, item by item, with the seam between two operations exposed.

    Items come in the live log's order (`TraceReader.in_log_order`) and are written by the live
    text sink's own writer (`textlog.LogWriter`), so the lines are those ``gentrace run`` wrote.
    A step is made at each operation's start (and at each create or collect, a line of its own):
    the results written since the last one come in its `before`.

    >>> steps = LogSteps(TextOptions())
    >>> for item in reader.in_log_order(): step = steps.feed(item)   # None: no new step yet
    >>> last = steps.end(ended=True, cut_after=None)     # its `before` holds the closing lines
    """

    def __init__(self, options: TextOptions, filters: Filters | None = None) -> None:
        self.options = options
        self.filters = filters
        self._writer = LogWriter(options)
        self._finished: list[Record] = []  # results written since the last step
        self._before: list[str] = []
        self._open: dict[str, list[Record]] = {}  # per thread: operations started, not ended
        self._unfinished: dict[str, Unfinished] = {}

    def _step(self, lines: list[str], opened: bool = False, outer: Record | None = None) -> Step:
        step = Step(self._finished, self._before, lines, opened, outer)
        self._finished, self._before = [], []
        return step

    def feed(self, item: LogItem) -> Step | None:
        """Take the next item; a new step if it starts one (None for a result, or one filtered out)."""
        options = self.options
        s = options.styles
        if isinstance(item, Gap):
            span = str(item.first) if item.first == item.last else f"{item.first}–{item.last}"
            gap = f"{s.comment}# seq {span}: missing from the trace (never completed){s.reset}"
            self._before += _split(self._writer.comment(gap))
            return self._step([])
        kind, event = item
        record = event.record
        info = record[INST]
        if kind == END:
            after = record[AFTER]
            if is_finished(after) or kind_of(after) == "iterator":  # (an iterator is never "suspended")
                self._unfinished.pop(info[NAME], None)
            else:
                self._unfinished[info[NAME]] = Unfinished(info, after, lineno_at(info, record[LASTI]))
        if self.filters is not None and not self.filters.keep(record, options.max_repr):
            return None
        instant = record[OP] in INSTANT_OPS
        lines = []
        if event.late and (kind == START or instant):
            lines = _split(self._writer.comment(_late(record, options)))
        stack = self._open.setdefault(record[THREAD], [])
        if kind == START:
            lines += _split(self._writer.start(record))
            outer = _outer(stack, record)
            stack.append(record)
            return self._step(lines, True, outer)
        if instant:
            lines += _split(self._writer.end(record))
            return self._step(lines, False, _outer(stack, record))
        for i in range(len(stack) - 1, -1, -1):
            if stack[i] is record:
                del stack[i]
                break
        self._before += _split(self._writer.end(record, event.locals))
        self._finished.append(record)
        return None

    def end(self, *, ended: bool, cut_after: int | None) -> Step:
        """The results not yet in a step, then the notes on unfinished instances and on a cut trace.

        `ended` says whether the trace's ``end`` note came (else the program was killed);
        `cut_after` is its ``max-events`` note's seq.
        """
        self._before.extend(closing_lines(self._unfinished.values(), cut_after, self.options, ended=ended))
        return self._step([])


def _split(text: str) -> list[str]:
    # The writer's text, each line ending in a newline, as lines without.
    return text[:-1].split("\n")


def _outer(stack: list[Record], record: Record) -> Record | None:
    """The operation `record` runs inside: the latest one still running on its thread, less deep."""
    depth = record[DEPTH]
    for other in reversed(stack):
        if other[DEPTH] < depth:
            return other
    return None


def render_log(
    items: Iterable[LogItem],
    options: TextOptions,
    filters: Filters | None = None,
    *,
    cut_after: Callable[[], int | None] = lambda: None,
    ended: Callable[[], bool] = lambda: True,
) -> Iterator[str]:
    """The log lines (without newlines) of the items (`TraceReader.in_log_order`), as `run` wrote them.

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
