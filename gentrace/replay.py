"""A trace as one self-contained HTML page that replays it step by step, as Python Tutor does.

`build_page` is a pure function of the items `gentrace show` renders: Python works out, per event,
its lines of the log (`show.LogSteps`, so the page reads exactly like ``gentrace show``), the cards
it changes and the timeline lanes; the page's script only indexes into that data and sets
``textContent``. `html_sink` is ``gentrace run --out trace.html``: it keeps the run in a temporary
JSON Lines file and writes the page when the tracer closes (at exit, also after a crash or Ctrl-C).

The page's DOM, for people and for the browser tests:

- ``input#step`` (a range): its value is the current event's index, 0 (where the page opens) to
  N-1; ``button#first``, ``#prev``, ``#next``, ``#last``; ``#position`` says ``event I / N · seq S``.
  ←, →, Home and End on the document step (a focused slider does not move twice).
- ``#transcript``: one ``div.step[data-step=K]`` per event up to the current one (the last `WINDOW`),
  holding that event's lines of the log; the current one is ``.current``.
- ``#cards``: one ``div.card[data-gen=NAME]`` per live instance, in order of appearance, holding
  ``.name``, ``.state`` (``GEN_SUSPENDED``), ``.line`` (``line 20: yield int(line)``), ``.sent``
  (``sent in: 10``), ``.yielded`` (``yielded out: 3``), ``.ended`` (``returned 5``; empty while
  alive) and one ``.arrow[data-to=NAME]`` (``delegates to NAME``, or ``iterates NAME`` for an
  iterator) per instance whose operations ran inside its own last ones (``yield from``, a loop);
  ``svg#arrows`` draws them. The card of the current event's instance is ``.current``. A card
  stays for the step where its instance closes, then goes; so does an iterator's after the step
  where a loop left it, until it is used again (most often no code can reach it any more, and a
  program that breaks out of inner loops would pile up their cards). A card is ``.closed``,
  ``.running``, ``.active`` (an iterator between its nexts) or ``.suspended``. An iterator's card
  says where its last operation was made (``line 3: for m in numbers:``), what was asked of it in
  ``.sent`` (``iter(numbers)``, ``next() by the loop at line 3``, ``left by the loop at line 3
  before the end``), what it gave in ``.yielded`` (``gave: 2``, or ``raised ValueError: bad``)
  and ``exhausted`` in ``.ended``. Its exhaustion is not an end like a generator's: a later next,
  or iter() again, shows its card at that step (a class's ``__next__`` may even answer again).
- ``#lanes``: one ``div.lane[data-gen=NAME]`` per instance (at most `MAX_LANES`), a label and a
  canvas. By default the lanes are drawn by time, as ``gentrace show --timeline`` draws them (the
  spans of `timeline.Lanes`: created, running, awaiting, suspended, and a mark where it ended; an
  iterator's are active, running, and marks where an iter() took it, a loop left it, and it was
  exhausted),
  ``#lanes[data-axis=time]``, and ``#cursor`` stands at the current event's start time; with
  ``input#by-step`` (a checkbox) checked they are drawn by event index instead, a cell per event,
  ``#lanes[data-axis=step]``, and the cursor is on the current event's cell. ``#axis`` says what the
  lanes span: ``.from`` (``0``, or ``event 1``) and ``.to`` (``40 µs``, or ``event N``). A click on a
  lane jumps to the event at that time (the last one started by then), or at that index.
- ``#legend``: the lanes' colours; ``#iterator-legend`` in it, for the iterators' (shown when the
  trace has an iterator: ``html.iterators``).
- ``html[data-ready]`` once the script has run, ``html[data-error]`` if a script error happened;
  ``html.empty`` and ``#empty`` (``No events to show.``) when the filters left no event.

Nothing from the trace is ever parsed as HTML: the data sits in a ``<script type="application/json">``
with ``<``, ``>`` and ``&`` escaped, the Content-Security-Policy allows nothing but the page's own
script and style (by hash), and source lines come only from existing ``.py`` files.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from typing import Any, Final

from gentrace.logview import Filters, LogSteps
from gentrace.page import PageFile, page
from gentrace.reader import Gap, LogItem, TraceReader
from gentrace.records import (
    ACLOSE,
    AFTER,
    AITER,
    ANEXT,
    ARG,
    ASEND,
    ATHROW,
    BEFORE,
    CLOSE,
    CLOSED_STATES,
    COLLECT,
    CORO_SUSPENDED,
    CREATE,
    CREATED_STATES,
    DURATION,
    FILENAME,
    INST,
    ITER,
    ITER_ACTIVE,
    LASTI,
    LEAVE,
    LOOP,
    NAME,
    NEXT,
    OP,
    OUTCOME,
    RAISE,
    RETURN,
    RUNNING_STATES,
    SEND,
    SEQ,
    START,
    THROW,
    VALUE,
    YIELD,
    Ending,
    Record,
    is_finished,
    kind_of,
    lineno_at,
    running_state,
    runs_code,
)
from gentrace.renderers import TextOptions
from gentrace.reprs import cut, escape_controls, exc_line, is_exception, safe_repr
from gentrace.sinks import FILE_MAX_REPR, FrameLookup, SpoolSink
from gentrace.sources import SourceLookup, path_shower, source_line, source_lookup
from gentrace.timeline import (
    LANE_ACTIVE,
    LANE_AWAITING,
    LANE_CREATED,
    LANE_ENDED,
    LANE_EXHAUSTED,
    LANE_ITER,
    LANE_LEFT,
    LANE_RUNNING,
    LANE_SUSPENDED,
    Lanes,
    Span,
    format_duration,
)

MAX_EVENTS: Final = 200_000
"""The most events one page replays; a longer trace is refused (`TooManyEvents`)."""

WINDOW: Final = 500
"""Events whose lines the transcript holds at once: the current one and those just before it."""

MAX_LANES: Final = 500
"""Instances given a timeline lane (the first to appear); the page says how many more there were."""

_NOTHING_SENT: Final = "sent in: nothing yet"
_NOTHING_YIELDED: Final = "yielded out: nothing yet"
_NOTHING_GIVEN: Final = "gave: nothing yet"
_THROWN: Final = {CLOSE: "thrown in: GeneratorExit (close)", ACLOSE: "thrown in: GeneratorExit (aclose)"}


class TooManyEvents(Exception):
    """The trace has more events than one page replays."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} events, too many for one page")
        self.limit = limit


class _Card:
    """What an instance's card says between steps."""

    __slots__ = ("ended", "iterator", "left", "line", "parent", "sent", "state", "yielded")

    def __init__(self, iterator: bool) -> None:
        self.iterator = iterator
        self.state = ""
        self.line = ""
        self.sent = "" if iterator else _NOTHING_SENT
        self.yielded = _NOTHING_GIVEN if iterator else _NOTHING_YIELDED
        self.ended = ""
        self.parent = -1
        self.left = False  # a loop left it (an iterator): the card goes after this step


def _changes(record: Record) -> bool:
    """Whether the operation changes its instance's card: not if the instance had finished, but an
    iterator's exhaustion is no such end."""
    return not is_finished(record[BEFORE]) or kind_of(record[AFTER]) == "iterator"


def _raised(exc: Any, limit: int | None) -> str:
    return f"raised {exc_line(exc, limit) if is_exception(exc) else safe_repr(exc, limit)}"


def _mark(record: Record) -> int | None:
    """The mark an iterator's record leaves on its lane: an iter(), a loop left, its exhaustion."""
    if kind_of(record[AFTER]) != "iterator":
        return None
    op = record[OP]
    if op == ITER or op == AITER:
        return LANE_ITER
    if op == LEAVE:
        return LANE_LEFT
    if is_finished(record[AFTER]) and not is_finished(record[BEFORE]):
        return LANE_EXHAUSTED
    return None


class Replay:
    """Turns items (in seq order) into the page's data, one event at a time.

    An event's step holds its own lines of the log and everything written before the next
    event's own lines: the results held back for nested steps come at the first step they are
    known, and the cards change there too. An operation still running (its nested steps follow)
    shows its instance ``*_RUNNING`` until then. A card says what the trace says so far: its
    instance has finished exactly when its last record up to the step left it closed, and an
    operation on an instance already finished changes nothing (but on an exhausted iterator, it
    does: the exhaustion of an iterator is no end).

    The timeline comes twice: by time, the spans `timeline.Lanes` makes of the events (as the
    terminal chart draws them), and by step, a run of cells of one kind per stretch of events
    (and an iterator's marks, a cell each).
    """

    def __init__(self, options: TextOptions, filters: Filters | None = None, limit: int = MAX_EVENTS) -> None:
        self._log = LogSteps(options, filters)
        self._options = options
        self._limit = limit
        self._index: dict[str, int] = {}
        self._names: list[str] = []
        self._cards: list[_Card] = []
        self._steps: list[list[Any]] = []  # [gen, seq, lines, card changes, start time]
        self._pending: list[str] = []  # lines before the first event
        self._iterators: list[int] = []
        self._subject: Record | None = None
        self._opened = False
        self._settled = False  # the last step was settled once (a gap in the trace settles it again)
        self._open: dict[int, int] = {}  # instance -> its operations in progress that run its code
        self._step_lanes: list[list[int]] = []  # per instance: from, to, kind, from, to, kind, ...
        self._kind: list[int | None] = []
        self._since: list[int] = []
        self._recheck: set[int] = set()  # instances whose lane cell may change without a card change
        self._spans = Lanes()
        self._time_lanes: list[list[int]] = []  # per instance: start, end, kind, ... (ns)
        self._origin: int | None = None
        self._end = 0

    def feed(self, item: LogItem) -> None:
        """Take the next item; raises `TooManyEvents` past the limit."""
        step = self._log.feed(item)
        if step is None:
            return
        if not self._steps:
            self._pending.extend(step.before)
        else:
            self._steps[-1][2].extend(step.before)
            self._settle(step.finished)
        if isinstance(item, Gap):
            return
        if len(self._steps) >= self._limit:
            raise TooManyEvents(self._limit)
        record = item[1].record
        gen = self._gen(record)
        start = record[START]
        self._steps.append([gen, record[SEQ], self._pending + step.lines, [], start])
        self._pending = []
        self._subject = record
        self._opened = step.opened
        self._settled = False
        alive = _changes(record)
        if record[OP] not in (CREATE, COLLECT) and alive:
            card = self._cards[gen]
            card.sent = self._asked(record) if card.iterator else self._sent(record)
            outer = -1 if step.outer is None else self._gen(step.outer)
            card.parent = -1 if outer == gen else outer
        if step.opened and alive and runs_code(record):
            self._open[gen] = self._open.get(gen, 0) + 1
        self._origin = start if self._origin is None else min(self._origin, start)
        self._end = max(self._end, start + record[DURATION])
        self._draw(self._spans.feed(record))

    def finish(self, *, ended: bool = True, cut_after: int | None = None) -> dict[str, Any]:
        """The page's data, once the items are done (`ended`, `cut_after`: the trace's notes)."""
        step = self._log.end(ended=ended, cut_after=cut_after)
        if self._steps:
            self._steps[-1][2].extend(step.before)
            self._settle(step.finished)
        last = len(self._steps) - 1
        for gen, lane in enumerate(self._step_lanes):
            kind = self._kind[gen]
            if kind is not None:
                lane += (self._since[gen], last, kind)
        self._draw(self._spans.close(self._end))
        origin = self._origin if self._origin is not None else 0
        for each in self._steps:
            each[4] -= origin
        for lane in self._time_lanes:
            for i in range(0, len(lane), 3):
                lane[i] -= origin
                lane[i + 1] -= origin
        span = max(self._end - origin, 0)
        return {
            "gens": self._names,
            "steps": self._steps,
            "time_lanes": self._time_lanes,
            "step_lanes": self._step_lanes,
            "span": span,
            "span_label": format_duration(span),
            "closed": sorted(CLOSED_STATES),
            "running": sorted(RUNNING_STATES),
            "active": [ITER_ACTIVE],
            "iterators": self._iterators,
            "window": WINDOW,
        }

    def _gen(self, record: Record) -> int:
        name = record[INST][NAME]
        gen = self._index.get(name)
        if gen is None:
            gen = self._index[name] = len(self._names)
            self._names.append(name)
            iterator = kind_of(record[AFTER]) == "iterator"
            if iterator:
                self._iterators.append(gen)
            self._cards.append(_Card(iterator))
            if gen < MAX_LANES:
                self._step_lanes.append([])
                self._kind.append(None)
                self._since.append(0)
                self._time_lanes.append([])
        return gen

    def _draw(self, spans: list[Span]) -> None:
        for name, kind, start, end in spans:
            gen = self._index[name]
            if gen < MAX_LANES:
                self._time_lanes[gen] += (start, end, kind)

    def _sent(self, record: Record) -> str:
        op = record[OP]
        limit = self._options.max_repr
        if op == NEXT or op == ANEXT:
            return f"sent in: None ({op})"
        if op == SEND or op == ASEND:
            return f"sent in: {safe_repr(record[ARG], limit)}"
        if op == THROW or op == ATHROW:
            arg = record[ARG]
            return f"thrown in: {exc_line(arg, limit) if is_exception(arg) else safe_repr(arg, limit)}"
        return _THROWN.get(op, "")

    def _asked(self, record: Record) -> str:
        """What was asked of an iterator: ``iter(numbers)``, ``next() by the loop at line 3``."""
        op = record[OP]
        arg = record[ARG]
        limit = self._options.max_repr
        lineno = lineno_at(record[INST], record[LASTI])
        loop = f"the loop at line {lineno}" if lineno else "a loop"
        if op == ITER or op == AITER:
            call = "gentrace.wrap(...)" if arg is None else f"{op}({cut(escape_controls(arg), limit)})"
            return f"{call} · its own iterator" if record[VALUE] is True else call
        if op == LEAVE:
            return f"left by {loop} before the end"
        if arg is LOOP:
            return f"{op}() by {loop}"
        return f"{op}()" if arg is None else f"{op}() with the default {safe_repr(arg, limit)}"

    def _line(self, record: Record) -> str:
        info = record[INST]
        lineno = lineno_at(info, record[LASTI])
        if lineno is None or lineno <= 0:
            return ""
        source = self._options.source
        text = source(info[FILENAME], lineno) if source is not None and info[FILENAME] else ""
        return f"line {lineno}: {escape_controls(text)}" if text else f"line {lineno}"

    def _ending(self, record: Record) -> str:
        limit = self._options.max_repr
        outcome = record[OUTCOME]
        value = record[VALUE]
        if record[OP] == COLLECT:
            return "collected without close()"
        if outcome == RETURN:
            return "returned" if value is None else f"returned {safe_repr(value, limit)}"
        if outcome == RAISE:
            return _raised(value, limit)
        return f"closed by {record[OP]}()" if record[OP] in (CLOSE, ACLOSE) else "closed"

    def _finished(self, record: Record) -> int:
        """Bring the card up to date with a finished operation; returns its instance."""
        gen = self._gen(record)
        card = self._cards[gen]
        after = record[AFTER]
        card.state = after
        if card.iterator:
            card.left = record[OP] == LEAVE
            card.line = self._line(record)
            card.ended = "exhausted" if is_finished(after) else ""
            limit = self._options.max_repr
            if record[OUTCOME] == YIELD:
                card.yielded = f"gave: {safe_repr(record[VALUE], limit)}"
            elif record[OUTCOME] == RAISE:
                card.yielded = _raised(record[VALUE], limit)
            return gen
        if after in CLOSED_STATES:
            card.line = ""
            card.ended = self._ending(record)
        else:
            card.line = self._line(record)
        if record[OUTCOME] == YIELD:
            card.yielded = f"yielded out: {safe_repr(record[VALUE], self._options.max_repr)}"
        return gen

    def _settle(self, finished: list[Record]) -> None:
        """Complete the last step: the cards it changed, its lanes' cells.

        A gap in the trace settles the step before it again, with the results that came after the
        gap: what only the step's own event changes (its card running, its run of cells) is done
        the first time only.
        """
        subject = self._subject
        assert subject is not None
        k = len(self._steps) - 1
        first = not self._settled
        self._settled = True
        alive = _changes(subject)
        running = set(self._open)
        changed: dict[int, None] = {}
        marks: list[tuple[int, int]] = []  # an iterator's marks at this step
        if first and not self._opened:
            gen = self._finished(subject)
            changed[gen] = None
            mark = _mark(subject)
            if mark is not None:
                marks.append((gen, mark))
        for record in finished:
            if not _changes(record):
                continue  # an operation on an instance already finished: nothing changed
            gen = self._finished(record)
            changed[gen] = None
            mark = _mark(record)
            if mark is not None:
                marks.append((gen, mark))
            if runs_code(record):
                self._open[gen] -= 1
                if not self._open[gen]:
                    del self._open[gen]
        if first and self._opened and alive and not any(record is subject for record in finished):
            gen = self._gen(subject)
            self._cards[gen].state = running_state(subject[BEFORE])
            changed[gen] = None
        updates = self._steps[k][3]
        for gen in changed:
            card = self._cards[gen]
            update = [gen, card.state, card.line, card.sent, card.yielded, card.ended, card.parent]
            updates.append([*update, True] if card.left else update)
        started = self._gen(subject) if first and alive and runs_code(subject) else None
        if started is not None:
            running.add(started)
        self._mark_lanes(k, running, changed, started, first)
        for gen, mark in marks:
            if gen < MAX_LANES:
                self._step_lanes[gen] += (k, k, mark)

    def _mark_lanes(
        self, k: int, running: set[int], changed: dict[int, None], started: int | None, first: bool
    ) -> None:
        """The lanes' cells at step `k`; an operation that starts there starts a new run of cells.

        Settling step `k` again changes only the cells of the instances it concerns. (An iterator's
        marks are not cells: `_settle` adds them.)
        """
        recheck = set()
        for gen in running | changed.keys() | (self._recheck if first else set()):
            if gen >= MAX_LANES:
                continue
            card = self._cards[gen]
            state = card.state
            ends = gen in changed and not card.iterator  # an iterator's exhaustion is a mark
            kind: int | None
            if gen in running or state in RUNNING_STATES:
                kind = LANE_RUNNING
            elif state in CLOSED_STATES:
                kind = LANE_ENDED if ends else None
            elif state in CREATED_STATES:
                kind = LANE_CREATED
            elif state == CORO_SUSPENDED:
                kind = LANE_AWAITING  # a coroutine is suspended only in an await
            elif state == ITER_ACTIVE:
                kind = LANE_ACTIVE
            else:
                kind = LANE_SUSPENDED
            if kind == LANE_RUNNING or kind == LANE_ENDED:
                recheck.add(gen)
            if kind == LANE_RUNNING and ends and state in CLOSED_STATES:
                self._step_lanes[gen] += (k, k, LANE_ENDED)  # drawn over the running cell it ends
            if kind != self._kind[gen] or gen == started:
                previous = self._kind[gen]
                if previous is not None and self._since[gen] < k:
                    self._step_lanes[gen] += (self._since[gen], k - 1, previous)
                self._kind[gen] = kind
                self._since[gen] = k
        self._recheck = recheck if first else self._recheck | recheck


def build_page(
    items: Iterable[LogItem],
    options: TextOptions,
    *,
    title: str,
    filters: Filters | None = None,
    ended: Callable[[], bool] = lambda: True,
    cut_after: Callable[[], int | None] = lambda: None,
    limit: int | None = None,
) -> str:
    """The page replaying `items` (as `gentrace show` reads them), rendered with `options`.

    `ended` and `cut_after` are asked once the items are done (see `show.render_log`). Raises
    `TooManyEvents` beyond `limit` events shown (default `MAX_EVENTS`).
    """
    replay = Replay(options, filters, MAX_EVENTS if limit is None else limit)
    for item in items:
        replay.feed(item)
    data = replay.finish(ended=ended(), cut_after=cut_after())
    data["title"] = title
    return page(data)


def html_sink(
    path: str,
    *,
    origin_ns: int,
    max_repr: int | None = None,
    locals: FrameLookup | None = None,
    limit: int | None = None,
) -> SpoolSink:
    """``gentrace run --out trace.html``: the run spooled as JSON Lines, the page written at close.

    The page's path is checked at once (one that cannot be written fails before the program
    starts). Past `limit` events the rest is not kept, and at close a one-line message on stderr
    says why there is no page.
    """
    target = PageFile(path)

    def refuse(refused: TooManyEvents) -> None:
        target.discard()
        sys.stderr.write(
            f"gentrace: {path} not written: {refused}; record fewer with --only or --max-events\n"
        )

    return page_sink(
        target.write,
        refuse,
        title=lambda: os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "trace",
        origin_ns=origin_ns,
        max_repr=max_repr,
        locals=locals,
        limit=limit,
    )


def page_sink(
    deliver: Callable[[str], object],
    refuse: Callable[[TooManyEvents], object],
    *,
    title: Callable[[], str],
    origin_ns: int,
    max_repr: int | None = None,
    locals: FrameLookup | None = None,
    limit: int | None = None,
    source: SourceLookup | None = None,
) -> SpoolSink:
    """A sink that builds the replay page of what it is fed when tracing ends, and hands its
    text to `deliver` — or, past `limit` events (default `MAX_EVENTS`), the refusal to `refuse`.

    `title` is asked then (the program's name: ``sys.argv`` is set by then); `source` reads the
    source lines shown (default: lines of existing ``.py`` files only).
    """
    most = MAX_EVENTS if limit is None else limit
    options = TextOptions(
        max_repr=max_repr if max_repr is not None else FILE_MAX_REPR,
        source=source or source_lookup(source_line),
        show_path=path_shower(os.getcwd()),
    )

    def at_close(spooled: str, ending: Ending) -> None:
        if spool.over:
            refuse(TooManyEvents(most))
            return
        with open(spooled, "rb") as stream:
            reader = TraceReader(stream, name=spooled)
            text = build_page(
                reader.in_log_order(),
                options,
                title=title(),
                ended=lambda: reader.ended,
                cut_after=lambda: reader.cut_after,
                limit=most,
            )
        deliver(text)

    spool = SpoolSink(at_close, origin_ns=origin_ns, max_repr=max_repr, locals=locals, limit=most)
    return spool
