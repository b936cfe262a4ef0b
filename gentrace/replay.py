"""A trace as one self-contained HTML page that replays it step by step, as Python Tutor does.

`build_page` is a pure function of the items `gentrace show` renders: Python works out, per event,
its lines of the log (`show.LogSteps`, so the page reads exactly like ``gentrace show``), the cards
it changes and the timeline lanes; the page's script only indexes into that data and sets
``textContent``. `HtmlSink` is ``gentrace run --out trace.html``: it keeps the run in a temporary
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
  alive) and one ``.arrow[data-to=NAME]`` (``delegates to NAME``) per instance whose operations ran
  inside its own last ones (``yield from``); ``svg#arrows`` draws them. The card of the current
  event's instance is ``.current``. A card stays for the step where its instance closes, then goes.
- ``#lanes``: one ``div.lane[data-gen=NAME]`` per instance (at most `MAX_LANES`), a label and a
  canvas with a cell per event; ``#cursor`` marks the current event. A click on a lane jumps there.
- ``html[data-ready]`` once the script has run, ``html[data-error]`` if a script error happened;
  ``html.empty`` and ``#empty`` (``No events to show.``) when the filters left no event.

Nothing from the trace is ever parsed as HTML: the data sits in a ``<script type="application/json">``
with ``<``, ``>`` and ``&`` escaped, the Content-Security-Policy allows nothing but the page's own
script and style (by hash), and source lines come only from existing ``.py`` files.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterable
from typing import Any, Final

from gentrace.reader import Gap, TraceEvent, TraceReader
from gentrace.recorder import Final as FinalInfo
from gentrace.records import (
    ACLOSE,
    AFTER,
    ANEXT,
    ARG,
    ASEND,
    ATHROW,
    BEFORE,
    CLOSE,
    CLOSED_STATES,
    COLLECT,
    CREATE,
    CREATED_STATES,
    FILENAME,
    INST,
    LASTI,
    NAME,
    NEXT,
    OP,
    OUTCOME,
    RAISE,
    RETURN,
    SEND,
    SEQ,
    STATES,
    THROW,
    VALUE,
    YIELD,
    Record,
    lineno_at,
)
from gentrace.renderers import TextOptions
from gentrace.reprs import escape_controls, exc_line, is_exception, safe_repr
from gentrace.show import Filters, LogSteps, source_lookup
from gentrace.sinks import FILE_MAX_REPR, FrameLookup, JsonlSink, open_log, path_shower, source_line
from gentrace.timeline import runs_code

MAX_EVENTS: Final = 200_000
"""The most events one page replays; a longer trace is refused (`TooManyEvents`)."""

WINDOW: Final = 500
"""Events whose lines the transcript holds at once: the current one and those just before it."""

MAX_LANES: Final = 500
"""Instances given a timeline lane (the first to appear); the page says how many more there were."""

# The kinds of cell in a timeline lane.
LANE_CREATED, LANE_RUNNING, LANE_SUSPENDED, LANE_ENDED = range(4)

_RUNNING_STATES: Final = frozenset(state for state in STATES if state.endswith("_RUNNING"))
_NOTHING_SENT: Final = "sent in: nothing yet"
_NOTHING_YIELDED: Final = "yielded out: nothing yet"
_THROWN: Final = {CLOSE: "thrown in: GeneratorExit (close)", ACLOSE: "thrown in: GeneratorExit (aclose)"}


class TooManyEvents(Exception):
    """The trace has more events than one page replays."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} events, too many for one page")
        self.limit = limit


class _Card:
    """What an instance's card says between steps."""

    __slots__ = ("ended", "line", "parent", "sent", "state", "yielded")

    def __init__(self) -> None:
        self.state = ""
        self.line = ""
        self.sent = _NOTHING_SENT
        self.yielded = _NOTHING_YIELDED
        self.ended = ""
        self.parent = -1


def _running(state: str) -> str:
    """The running state of the kind of `state` (GEN_, AGEN_ or CORO_)."""
    return state.rpartition("_")[0] + "_RUNNING"


class Replay:
    """Turns items (in seq order) into the page's data, one event at a time.

    An event's step holds its own lines of the log and everything written before the next
    event's own lines: the results held back for nested steps come at the first step they are
    known, and the cards change there too. An operation still running (its nested steps follow)
    shows its instance ``*_RUNNING`` until then.
    """

    def __init__(self, options: TextOptions, filters: Filters | None = None, limit: int = MAX_EVENTS) -> None:
        self._log = LogSteps(options, filters)
        self._options = options
        self._limit = limit
        self._index: dict[str, int] = {}
        self._names: list[str] = []
        self._cards: list[_Card] = []
        self._steps: list[list[Any]] = []  # [gen, seq, lines, card changes]
        self._pending: list[str] = []  # lines before the first event
        self._subject: Record | None = None
        self._opened = False
        self._open: dict[int, int] = {}  # instance -> its operations in progress
        self._lanes: list[list[int]] = []  # per instance: from, to, kind, from, to, kind, ...
        self._kind: list[int | None] = []
        self._since: list[int] = []
        self._recheck: set[int] = set()  # instances whose lane cell may change without a card change

    def feed(self, item: TraceEvent | Gap) -> None:
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
        record = item.record
        gen = self._gen(record)
        self._steps.append([gen, record[SEQ], self._pending + step.lines, []])
        self._pending = []
        self._subject = record
        self._opened = step.opened
        if record[OP] not in (CREATE, COLLECT):
            card = self._cards[gen]
            card.sent = self._sent(record)
            outer = -1 if step.outer is None else self._gen(step.outer)
            card.parent = -1 if outer == gen else outer
        if step.opened:
            self._open[gen] = self._open.get(gen, 0) + 1

    def finish(self, *, ended: bool = True, cut_after: int | None = None) -> dict[str, Any]:
        """The page's data, once the items are done (`ended`, `cut_after`: the trace's notes)."""
        step = self._log.end(ended=ended, cut_after=cut_after)
        if self._steps:
            self._steps[-1][2].extend(step.before)
            self._settle(step.finished)
        last = len(self._steps) - 1
        for gen, lane in enumerate(self._lanes):
            kind = self._kind[gen]
            if kind is not None:
                lane += (self._since[gen], last, kind)
        return {
            "gens": self._names,
            "steps": self._steps,
            "lanes": self._lanes,
            "closed": sorted(CLOSED_STATES),
            "running": sorted(_RUNNING_STATES),
            "window": WINDOW,
        }

    def _gen(self, record: Record) -> int:
        name = record[INST][NAME]
        gen = self._index.get(name)
        if gen is None:
            gen = self._index[name] = len(self._names)
            self._names.append(name)
            self._cards.append(_Card())
            if gen < MAX_LANES:
                self._lanes.append([])
                self._kind.append(None)
                self._since.append(0)
        return gen

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
            return f"raised {exc_line(value, limit) if is_exception(value) else safe_repr(value, limit)}"
        return f"closed by {record[OP]}()" if record[OP] in (CLOSE, ACLOSE) else "closed"

    def _finished(self, record: Record) -> int:
        """Bring the card up to date with a finished operation; returns its instance."""
        gen = self._gen(record)
        card = self._cards[gen]
        after = record[AFTER]
        card.state = after
        if after in CLOSED_STATES:
            card.line = ""
            card.ended = self._ending(record)
        else:
            card.line = self._line(record)
        if record[OUTCOME] == YIELD:
            card.yielded = f"yielded out: {safe_repr(record[VALUE], self._options.max_repr)}"
        return gen

    def _settle(self, finished: list[Record]) -> None:
        """Complete the last step: the cards it changed, its lanes' cells."""
        subject = self._subject
        assert subject is not None
        k = len(self._steps) - 1
        running = set(self._open)
        changed: dict[int, None] = {}
        if not self._opened:
            changed[self._finished(subject)] = None
        for record in finished:
            gen = self._finished(record)
            changed[gen] = None
            if self._open[gen] == 1:
                del self._open[gen]
            else:
                self._open[gen] -= 1
        if self._opened and not any(record is subject for record in finished):
            gen = self._gen(subject)
            self._cards[gen].state = _running(subject[BEFORE])
            changed[gen] = None
        updates = self._steps[k][3]
        for gen in changed:
            card = self._cards[gen]
            updates.append([gen, card.state, card.line, card.sent, card.yielded, card.ended, card.parent])
        started = self._gen(subject) if runs_code(subject) else None
        if started is not None:
            running.add(started)
        self._mark_lanes(k, running, changed, started)

    def _mark_lanes(self, k: int, running: set[int], changed: dict[int, None], started: int | None) -> None:
        """The lanes' cells at step `k`; an operation that starts there starts a new run of cells."""
        recheck = set()
        for gen in running | changed.keys() | self._recheck:
            if gen >= MAX_LANES:
                continue
            state = self._cards[gen].state
            kind: int | None
            if gen in running or state in _RUNNING_STATES:
                kind = LANE_RUNNING
            elif state in CLOSED_STATES:
                kind = LANE_ENDED if gen in changed else None
            elif state in CREATED_STATES:
                kind = LANE_CREATED
            else:
                kind = LANE_SUSPENDED
            if kind == LANE_RUNNING or kind == LANE_ENDED:
                recheck.add(gen)
            if kind == LANE_RUNNING and gen in changed and state in CLOSED_STATES:
                self._lanes[gen] += (k, k, LANE_ENDED)  # drawn over the running cell it ends
            if kind != self._kind[gen] or gen == started:
                previous = self._kind[gen]
                if previous is not None:
                    self._lanes[gen] += (self._since[gen], k - 1, previous)
                self._kind[gen] = kind
                self._since[gen] = k
        self._recheck = recheck


def build_page(
    items: Iterable[TraceEvent | Gap],
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


def script_json(data: Any) -> str:
    """`data` as JSON that cannot end the ``<script>`` element holding it, nor any other."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    for char, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escaped)
    return text


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def page(data: dict[str, Any]) -> str:
    """The HTML page for the data `Replay.finish` made (plus its ``title``)."""
    csp = (
        f"default-src 'none'; script-src {_sha256(_SCRIPT)}; style-src {_sha256(_STYLE)}; "
        "base-uri 'none'; form-action 'none'"
    )
    return (
        _PAGE.replace("@CSP@", csp)
        .replace("@STYLE@", _STYLE)
        .replace("@SCRIPT@", _SCRIPT)
        .replace("@DATA@", script_json(data))
    )


class PageFile:
    """Where a page goes: checked writable at once, written whole at the end, or not at all.

    Opening it to append creates it without touching what is there; a file this made and never
    wrote is removed by `discard`, and one that already existed keeps its old content.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._made = not os.path.lexists(path)
        with open(path, "a", encoding="utf-8"):
            pass

    def write(self, text: str) -> None:
        """Write the page; a page cut short by an error is removed (the error propagates)."""
        try:
            with open_log(self.path) as stream:
                stream.write(text)
        except OSError:
            if os.path.isfile(self.path):
                os.unlink(self.path)
            raise

    def discard(self) -> None:
        """Leave no page behind: remove the file if it was made for it."""
        if self._made and os.path.isfile(self.path):
            os.unlink(self.path)


class HtmlSink:
    """``gentrace run --out trace.html``: the run kept as JSON Lines, the page written at close.

    The page's path is checked at once (one that cannot be written fails before the program
    starts). Past `limit` events the rest is not kept, and at close a one-line message on stderr
    says why there is no page.
    """

    wants_start = False

    def __init__(
        self,
        path: str,
        *,
        origin_ns: int,
        max_repr: int | None = None,
        locals: FrameLookup | None = None,
        limit: int | None = None,
    ) -> None:
        self._page = PageFile(path)
        fd, self._temp = tempfile.mkstemp(prefix="gentrace-", suffix=".jsonl")
        self._jsonl = JsonlSink(
            os.fdopen(fd, "w", encoding="utf-8"), origin_ns=origin_ns, max_repr=max_repr, locals=locals
        )
        self._max_repr = max_repr if max_repr is not None else FILE_MAX_REPR
        self._limit = MAX_EVENTS if limit is None else limit
        self._count = itertools.count(1)
        self._over = False
        self._show_path = path_shower(os.getcwd())

    def start(self, record: Record) -> None:
        pass

    def end(self, record: Record) -> None:
        if next(self._count) <= self._limit:
            self._jsonl.end(record)
        else:
            self._over = True

    def note(self, note: dict[str, Any]) -> None:
        self._jsonl.note(note)

    def close(self, final: FinalInfo) -> None:
        self._jsonl.close(final)
        try:
            if self._over:
                self._refuse(TooManyEvents(self._limit))
                return
            options = TextOptions(
                max_repr=self._max_repr, source=source_lookup(source_line), show_path=self._show_path
            )
            with open(self._temp, "rb") as stream:
                reader = TraceReader(stream, name=self._temp)
                text = build_page(
                    reader,
                    options,
                    title=os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "trace",
                    ended=lambda: reader.ended,
                    cut_after=lambda: reader.cut_after,
                    limit=self._limit,
                )
            self._page.write(text)
        finally:
            os.unlink(self._temp)

    def _refuse(self, exc: TooManyEvents) -> None:
        self._page.discard()
        sys.stderr.write(
            f"gentrace: {self._page.path} not written: {exc}; record fewer with --only or --max-events\n"
        )


_STYLE: Final = """
:root { --ink: #1d2330; --muted: #667085; --line: #d0d5dd; --paper: #fff; --soft: #f5f7fa;
  --run: #2f6fda; --sus: #8fa3bf; --new: #c9d3e0; --end: #b42318; --now: #fff4cc;
  --pane: max(240px, calc(100vh - 400px)); }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, sans-serif; color: var(--ink); background: var(--soft); }
header { position: sticky; top: 0; z-index: 2; background: var(--paper);
  border-bottom: 1px solid var(--line); padding: 8px 16px; }
h1 { font-size: 15px; margin: 0 0 6px; font-weight: 600; }
h1 .what { color: var(--muted); font-weight: 400; }
h2 { font-size: 12px; text-transform: uppercase; letter-spacing: .06em; color: var(--muted);
  margin: 0 0 6px; }
#controls { display: flex; align-items: center; gap: 6px; }
#controls button { font: inherit; min-width: 34px; padding: 2px 8px; border: 1px solid var(--line);
  border-radius: 6px; background: var(--paper); cursor: pointer; }
#controls button:hover { background: var(--soft); }
#step { flex: 1; min-width: 120px; }
#position { font-variant-numeric: tabular-nums; min-width: 15em; text-align: right; }
.hint { color: var(--muted); font-size: 12px; }
main { display: grid; grid-template-columns: minmax(0, 3fr) minmax(260px, 2fr); gap: 12px;
  padding: 12px 16px 0; }
section { background: var(--paper); border: 1px solid var(--line); border-radius: 8px; padding: 10px; }
#transcript { font: 12.5px/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  white-space: pre; height: var(--pane); overflow: auto; }
#transcript .step { color: #4a5565; padding: 0 4px; }
#transcript .step.current { background: var(--now); color: var(--ink); border-left: 3px solid #e0a800;
  padding-left: 1px; }
#transcript .more { color: var(--muted); font-style: italic; }
#cards-pane .scroll { position: relative; height: var(--pane); overflow: auto; }
#cards { position: relative; padding-right: 56px; }
#arrows { position: absolute; top: 0; left: 0; pointer-events: none; overflow: visible; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 6px 10px; margin: 0 0 10px;
  background: var(--paper); }
.card.current { border-color: #e0a800; box-shadow: 0 0 0 2px var(--now); }
.card.closed { opacity: .7; border-style: dashed; }
.card .name { font-weight: 600; font-family: ui-monospace, Menlo, Consolas, monospace; }
.card .state { display: inline-block; font: 11px ui-monospace, Menlo, Consolas, monospace;
  padding: 0 6px; border-radius: 10px; background: var(--new); margin: 2px 0; }
.card.running .state { background: var(--run); color: #fff; }
.card.suspended .state { background: #dce6f5; }
.card.closed .state { background: #fde2e1; color: var(--end); }
.card .line, .card .sent, .card .yielded, .card .ended, .card .arrow {
  font: 12px/1.4 ui-monospace, Menlo, Consolas, monospace; overflow-wrap: anywhere; }
.card .line { color: #344054; }
.card .sent, .card .yielded { color: var(--muted); }
.card .ended { color: var(--end); }
.card .ended:empty, .card .line:empty { display: none; }
.card .arrow { color: var(--run); }
#arrows path { fill: none; stroke: var(--run); stroke-width: 1.5; }
#arrows path.head { fill: var(--run); stroke: none; }
#timeline-pane { margin: 12px 16px 16px; }
#lanes-scroll { max-height: 180px; overflow: auto; }
#lanes { position: relative; }
.lane { display: flex; align-items: center; height: 16px; }
.lane .label { width: 180px; flex: none; font: 11px ui-monospace, Menlo, Consolas, monospace;
  white-space: nowrap; overflow: hidden; text-overflow: ellipsis; padding-right: 8px; text-align: right; }
.lane canvas { flex: 1; height: 12px; min-width: 0; cursor: pointer; }
.lane.current .label { font-weight: 700; }
#cursor { position: absolute; top: 0; bottom: 0; width: 2px; background: #e0a800; pointer-events: none; }
#legend { margin-top: 6px; color: var(--muted); font-size: 12px; }
#legend span { display: inline-block; width: 18px; height: 8px; margin: 0 4px 0 12px; border-radius: 2px; }
#legend .running { background: var(--run); }
#legend .suspended { background: var(--sus); }
#legend .created { background: var(--new); }
#legend .ended { background: var(--end); width: 3px; }
#more-lanes:empty, #empty:empty { display: none; }
.empty #controls, .empty .hint, .empty main, .empty #timeline-pane { display: none; }
#empty { padding: 24px 16px; font-size: 16px; }
"""

_SCRIPT: Final = """
"use strict";
(function () {
  var root = document.documentElement;
  window.addEventListener("error", function () { root.setAttribute("data-error", "1"); });
  var SVG = "http://www.w3.org/2000/svg";
  var data = JSON.parse(document.getElementById("trace-data").textContent);
  var gens = data.gens, steps = data.steps, n = steps.length;
  var closed = new Set(data.closed), runningStates = new Set(data.running);
  function $(id) { return document.getElementById(id); }
  function el(tag, cls) { var e = document.createElement(tag); if (cls) e.className = cls; return e; }
  document.title = data.title + " · gentrace replay";
  $("title").textContent = data.title;
  if (n === 0) {
    $("empty").textContent = "No events to show.";
    root.classList.add("empty");
    root.setAttribute("data-ready", "1");
    return;
  }

  // Per instance: the steps that changed its card, and what the card said from then on.
  var when = gens.map(function () { return []; }), what = gens.map(function () { return []; });
  steps.forEach(function (step, k) {
    step[3].forEach(function (u) { when[u[0]].push(k); what[u[0]].push(u); });
  });
  function latest(g, i) {
    var list = when[g], lo = 0, hi = list.length - 1, found = -1;
    while (lo <= hi) {
      var mid = (lo + hi) >> 1;
      if (list[mid] <= i) { found = mid; lo = mid + 1; } else { hi = mid - 1; }
    }
    return found;
  }

  var slider = $("step"), position = $("position"), transcript = $("transcript");
  var cardsBox = $("cards"), arrows = $("arrows"), lanesBox = $("lanes"), cursor = $("cursor");
  slider.max = String(n - 1);
  var current = 0, cardEls = [];

  function showTranscript(i) {
    var first = Math.max(0, i - data.window + 1), parts = [];
    if (first > 0) {
      var more = el("div", "more");
      more.textContent = "… " + first + " earlier events: step back to see them";
      parts.push(more);
    }
    for (var k = first; k <= i; k++) {
      var div = el("div", k === i ? "step current" : "step");
      div.setAttribute("data-step", String(k));
      div.textContent = steps[k][2].join("\\n");
      parts.push(div);
    }
    transcript.replaceChildren.apply(transcript, parts);
    transcript.scrollTop = transcript.scrollHeight;
  }

  function card(g) {
    var c = cardEls[g];
    if (c) return c;
    c = { root: el("div", "card") };
    c.root.setAttribute("data-gen", gens[g]);
    ["name", "state", "line", "sent", "yielded", "ended", "arrows"].forEach(function (part) {
      c[part] = el("div", part);
      c.root.appendChild(c[part]);
    });
    c.name.textContent = gens[g];
    cardEls[g] = c;
    return c;
  }

  function showCards(i) {
    var live = [], shown = new Set();
    for (var g = 0; g < gens.length; g++) {
      var j = latest(g, i);
      if (j < 0) continue;
      var u = what[g][j];
      if (closed.has(u[1]) && when[g][j] !== i) continue;
      live.push(u);
      shown.add(g);
    }
    var els = [], links = [];
    live.forEach(function (u) {
      var c = card(u[0]);
      var kind = closed.has(u[1]) ? " closed" : runningStates.has(u[1]) ? " running" : " suspended";
      c.root.className = "card" + kind + (u[0] === steps[i][0] ? " current" : "");
      c.state.textContent = u[1];
      c.line.textContent = u[2];
      c.sent.textContent = u[3];
      c.yielded.textContent = u[4];
      c.ended.textContent = u[5];
      c.arrows.replaceChildren();
      if (u[6] >= 0 && shown.has(u[6])) links.push([u[6], u[0]]);
      els.push(c.root);
    });
    links.forEach(function (link) {
      var a = el("div", "arrow");
      a.setAttribute("data-to", gens[link[1]]);
      a.textContent = "delegates to " + gens[link[1]];
      card(link[0]).arrows.appendChild(a);
    });
    cardsBox.replaceChildren.apply(cardsBox, els);
    drawArrows(links);
  }

  function drawArrows(links) {
    arrows.replaceChildren();
    arrows.setAttribute("width", String(cardsBox.offsetWidth));
    arrows.setAttribute("height", String(cardsBox.offsetHeight));
    links.forEach(function (link) {
      var from = card(link[0]).root, to = card(link[1]).root;
      var x = from.offsetLeft + from.offsetWidth;
      var y1 = from.offsetTop + from.offsetHeight / 2, y2 = to.offsetTop + Math.min(to.offsetHeight / 2, 18);
      var bend = 40;
      var path = document.createElementNS(SVG, "path");
      path.setAttribute("d", "M" + x + " " + y1 + " C" + (x + bend) + " " + y1 + " " + (x + bend) + " " + y2 +
        " " + (x + 7) + " " + y2);
      arrows.appendChild(path);
      var head = document.createElementNS(SVG, "path");
      head.setAttribute("class", "head");
      head.setAttribute("d", "M" + x + " " + y2 + " l8 -4.5 v9 z");
      arrows.appendChild(head);
    });
  }

  var laneEls = [];
  var COLORS = ["#c9d3e0", "#2f6fda", "#8fa3bf", "#b42318"];
  data.lanes.forEach(function (segments, g) {
    var lane = el("div", "lane"), label = el("div", "label"), canvas = el("canvas");
    lane.setAttribute("data-gen", gens[g]);
    label.textContent = gens[g];
    label.title = gens[g];
    lane.appendChild(label);
    lane.appendChild(canvas);
    canvas.addEventListener("click", function (e) {
      show(Math.floor(e.offsetX / Math.max(canvas.clientWidth, 1) * n));
    });
    lanesBox.appendChild(lane);
    laneEls.push({ lane: lane, canvas: canvas, segments: segments });
  });
  if (gens.length > data.lanes.length) {
    $("more-lanes").textContent = (gens.length - data.lanes.length) + " more instances have no lane";
  }

  function drawLanes() {
    var ratio = window.devicePixelRatio || 1;
    laneEls.forEach(function (l) {
      var w = l.canvas.clientWidth, h = l.canvas.clientHeight;
      l.canvas.width = Math.max(1, Math.round(w * ratio));
      l.canvas.height = Math.max(1, Math.round(h * ratio));
      var ctx = l.canvas.getContext("2d");
      ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
      ctx.clearRect(0, 0, w, h);
      var s = l.segments;
      [false, true].forEach(function (ends) {  // the end marks over the cells they end
        for (var j = 0; j < s.length; j += 3) {
          var x = s[j] * w / n, width = Math.max((s[j + 1] - s[j] + 1) * w / n, 1), kind = s[j + 2];
          if ((kind === 3) !== ends) continue;
          ctx.fillStyle = COLORS[kind];
          if (kind === 1) ctx.fillRect(x, 0, width > 4 ? width - 1 : width, h);  // a gap between operations
          else if (kind === 3) ctx.fillRect(x + Math.max(width - 3, 0), 0, Math.min(width, 3), h);
          else ctx.fillRect(x, h / 2 - 2, width, 4);
        }
      });
    });
  }

  var lanesScroll = $("lanes-scroll");
  function moveCursor(i) {
    laneEls.forEach(function (l, g) { l.lane.classList.toggle("current", g === steps[i][0]); });
    if (!laneEls.length) { cursor.hidden = true; return; }
    var mine = laneEls[steps[i][0]];
    if (mine) {  // keep the current instance's lane in sight
      var top = mine.lane.offsetTop, bottom = top + mine.lane.offsetHeight;
      if (top < lanesScroll.scrollTop) lanesScroll.scrollTop = top;
      else if (bottom > lanesScroll.scrollTop + lanesScroll.clientHeight) {
        lanesScroll.scrollTop = bottom - lanesScroll.clientHeight;
      }
    }
    var canvas = laneEls[0].canvas;
    var left = canvas.offsetLeft + (i + 0.5) * canvas.clientWidth / n;
    cursor.style.left = (left - 1) + "px";
  }

  function show(i) {
    i = Math.max(0, Math.min(n - 1, i));
    current = i;
    slider.value = String(i);
    position.textContent = "event " + (i + 1) + " / " + n + " · seq " + steps[i][1];
    showTranscript(i);
    showCards(i);
    moveCursor(i);
  }

  document.addEventListener("keydown", function (e) {
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    var to;
    if (e.key === "ArrowLeft") to = current - 1;
    else if (e.key === "ArrowRight") to = current + 1;
    else if (e.key === "Home") to = 0;
    else if (e.key === "End") to = n - 1;
    else return;
    e.preventDefault();
    show(to);
  });
  slider.addEventListener("input", function () { show(Number(slider.value)); });
  $("first").addEventListener("click", function () { show(0); });
  $("prev").addEventListener("click", function () { show(current - 1); });
  $("next").addEventListener("click", function () { show(current + 1); });
  $("last").addEventListener("click", function () { show(n - 1); });
  window.addEventListener("resize", function () { drawLanes(); show(current); });

  drawLanes();
  show(0);
  root.setAttribute("data-ready", "1");
})();
"""

_PAGE: Final = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="@CSP@">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>gentrace replay</title>
<style>@STYLE@</style>
</head>
<body>
<header>
<h1><span class="what">gentrace replay:</span> <span id="title"></span></h1>
<div id="controls">
<button id="first" type="button" title="first event (Home)">|◀</button>
<button id="prev" type="button" title="previous event (←)">◀</button>
<input id="step" type="range" min="0" max="0" value="0" aria-label="event">
<button id="next" type="button" title="next event (→)">▶</button>
<button id="last" type="button" title="last event (End)">▶|</button>
<span id="position"></span>
</div>
<div class="hint">← → Home End step through the events; click a timeline lane to jump.</div>
<noscript>This page replays the trace with JavaScript, which is off.</noscript>
</header>
<div id="empty"></div>
<main>
<section id="transcript-pane"><h2>Log</h2><div id="transcript"></div></section>
<section id="cards-pane"><h2>Live instances</h2>
<div class="scroll"><div id="cards"></div><svg id="arrows"></svg></div></section>
</main>
<section id="timeline-pane"><h2>Timeline</h2>
<div id="lanes-scroll"><div id="lanes"><div id="cursor"></div></div></div>
<div id="more-lanes"></div>
<div id="legend"><span class="running"></span>running<span class="suspended"></span>suspended<span
class="created"></span>created, not started<span class="ended"></span>ended</div></section>
<script type="application/json" id="trace-data">@DATA@</script>
<script>@SCRIPT@</script>
</body>
</html>
"""
