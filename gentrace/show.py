"""A saved trace as the REPL-style log of `gentrace run`, filtered, one line at a time.

Events arrive in seq order (see `reader`), so an operation's nested events come after its start:
its result line is held back until they are shown — a stack as deep as the nesting, per thread —
and repeated with ``... `` as the live log does. What this module keeps besides that stack is one
small entry per instance, for the closing lines about generators that never finished.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, NamedTuple

from gentrace.chrome import write_chrome
from gentrace.reader import Gap, TraceError, TraceEvent, TraceReader, clean
from gentrace.records import (
    AFTER,
    COLLECT,
    CREATE,
    DEPTH,
    FILENAME,
    FUNC,
    GEN_CLOSED,
    GEN_CREATED,
    INST,
    LASTI,
    NAME,
    OP,
    SEQ,
    THREAD,
    Record,
)
from gentrace.renderers import (
    TextOptions,
    annotation,
    end_line,
    expression,
    repeat_line,
    result,
    single_line,
    start_line,
)
from gentrace.sinks import FILE_MAX_REPR, TERMINAL_MAX_REPR, _is_tty, open_log, path_shower, source_line
from gentrace.styles import PLAIN, styles_for
from gentrace.summary import Summary
from gentrace.timeline import timeline


def source_lookup(reader: Callable[[str, int], str]) -> Callable[[str, int], str]:
    """A source lookup that reads only existing ``.py`` files named in a trace."""

    def lookup(filename: str, lineno: int) -> str:
        if not filename.endswith(".py") or not os.path.isfile(filename):
            return ""
        return reader(filename, lineno)

    return lookup


@dataclass(frozen=True, slots=True)
class Filters:
    """Which events to show: `only` globs on the function, `gens` globs on the instance, `grep`."""

    only: Sequence[str] = ()
    gens: Sequence[str] = ()
    grep: str | None = None

    def keep(self, record: Record, limit: int | None) -> bool:
        """Whether the event passes every filter given."""
        info = record[INST]
        if self.only and not _matches_func(info[FUNC], self.only):
            return False
        if self.gens and not any(fnmatch.fnmatchcase(info[NAME], pattern) for pattern in self.gens):
            return False
        if self.grep is not None:
            options = TextOptions(max_repr=None)
            text = f"{expression(record, None)}\n{result(record, None)}\n{annotation(record, options)}"
            if self.grep not in text:
                return False
        return True


def _matches_func(func: str, patterns: Sequence[str]) -> bool:
    """`--only` as under `run`: the qualname without ``<locals>.``, the bare name, module:qualname."""
    module, _, qualname = func.rpartition(":")
    qualname = qualname.replace("<locals>.", "")
    names = (qualname, qualname.rpartition(".")[2], f"{module}:{qualname}", func)
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns for name in names)


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
        self._unfinished: dict[str, tuple[str, str | None, int]] = {}

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
        if after == GEN_CLOSED:
            self._unfinished.pop(info[NAME], None)
        else:
            self._unfinished[info[NAME]] = (after, info[FILENAME], record[LASTI])
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
        s = self.options.styles
        finished: list[Record] = []
        lines: list[str] = []
        for thread in list(self._open):
            self._close_until(thread, 0, finished, lines)
        for name, (state, filename, lineno) in self._unfinished.items():
            where = (
                f"{self.options.show_path(filename)}:{lineno}"
                if filename and lineno > 0
                else "an unknown line"
            )
            if state == GEN_CREATED:
                lines.append(f"{s.comment}# never started: {name}, created at {where}{s.reset}")
            else:
                when = "at exit" if ended else "when the trace ends (killed?)"
                lines.append(f"{s.comment}# still suspended {when}: {name}, paused at {where}{s.reset}")
        if cut_after is not None:
            lines.append(
                f"{s.comment}# max-events: recording stopped after {cut_after} events; "
                f"the program ran on{s.reset}"
            )
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


class MissingTrace(Exception):
    """The trace file cannot be opened (a usage error: exit 2)."""


@dataclass(frozen=True, slots=True)
class ShowOptions:
    """What `gentrace show` was asked for, settled by the command line."""

    color: bool | None = None
    only: Sequence[str] = ()
    gens: Sequence[str] = ()
    grep: str | None = None
    max_repr: int | None = None
    strict: bool = False
    summary: bool = False
    timeline: bool = False
    to: str = "text"
    out: str | None = None
    html: str | None = None


Echo = Callable[[str, bool], None]
_BATCH = 1 << 16


def _open(trace: str) -> IO[bytes]:
    if trace == "-":
        return sys.stdin.buffer
    try:
        return open(trace, "rb")
    except OSError as exc:
        raise MissingTrace(f"can't open trace {clean(trace)!r}: {exc.strerror or exc}") from None


def _copy_stdin() -> str:
    fd, path = tempfile.mkstemp(prefix="gentrace-", suffix=".jsonl")
    with os.fdopen(fd, "wb") as copy:
        shutil.copyfileobj(sys.stdin.buffer, copy, _BATCH)
    return path


def main(trace: str, opts: ShowOptions, echo: Echo) -> int:
    """Run `gentrace show`; `echo(text, err)` writes. Returns the exit status."""
    temp = None
    if trace == "-" and opts.timeline:
        temp = trace = _copy_stdin()  # two passes over the trace
    try:
        return _show(trace, opts, echo)
    except BrokenPipeError:
        # The reader of our stdout left (`| head`): not an error, and nothing more to say.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    finally:
        if temp is not None:
            os.unlink(temp)


def _show(trace: str, opts: ShowOptions, echo: Echo) -> int:
    if opts.html is not None:
        return _show_html(trace, opts.html, opts, echo)
    name = "<stdin>" if trace == "-" else trace
    stream = sys.stdout
    tty = _is_tty(stream)
    styles = PLAIN if opts.out is not None else styles_for(stream, opts.color)
    limit = opts.max_repr if opts.max_repr is not None else (TERMINAL_MAX_REPR if tty else FILE_MAX_REPR)
    show_path = path_shower(os.getcwd())
    options = TextOptions(
        styles=styles, max_repr=limit, source=source_lookup(source_line), show_path=show_path
    )
    filters = (
        Filters(opts.only, opts.gens, opts.grep) if opts.only or opts.gens or opts.grep is not None else None
    )
    reader = TraceReader(_open(trace), name=name, strict=opts.strict)
    target: IO[str] | None = None
    extra: list[TraceReader] = []
    chunks: list[str] = []
    size = 0

    def write(line: str) -> None:
        nonlocal size
        chunks.append(line)
        size += len(line)
        if size > _BATCH:
            flush()

    def flush() -> None:
        nonlocal size
        text = "".join(chunks)
        chunks.clear()
        size = 0
        if target is not None:
            target.write(text)
        elif text:
            echo(text, False)

    def records(source: TraceReader) -> Iterator[Record]:
        for item in source:
            if isinstance(item, TraceEvent) and (filters is None or filters.keep(item.record, limit)):
                yield item.record

    try:
        if opts.out is not None:
            try:
                target = open_log(opts.out)
            except OSError as exc:
                raise MissingTrace(
                    f"can't open --out file {clean(opts.out)!r}: {exc.strerror or exc}"
                ) from None
        if opts.to == "chrome":
            write_chrome(records(reader), write)
        elif opts.summary or opts.timeline:
            if opts.summary:
                summary = Summary(show_path=show_path)
                for record in records(reader):
                    summary.add(record)
                for line in summary.lines(ended=reader.ended, cut_after=reader.cut_after):
                    write(line + "\n")
            if opts.timeline:
                passes = [TraceReader(_open(trace), name=name) for _ in range(2 if opts.summary else 1)]
                passes.insert(0, reader) if not opts.summary else None
                extra.extend(passes)
                for line in timeline(lambda: records(passes.pop(0))):
                    write(line + "\n")
        else:
            for line in render_log(
                reader, options, filters, cut_after=lambda: reader.cut_after, ended=lambda: reader.ended
            ):
                write(line + "\n")
        flush()
    except TraceError as exc:
        flush()
        echo(f"{reader.name}: {exc}\n", True)
        return 1
    finally:
        if target is not None:
            target.close()
        for opened in [reader, *extra]:
            if trace != "-":
                opened.close()
    problems = reader.problems()
    if problems is not None:
        echo(problems + "\n", True)
    if reader.events == 0:
        echo(f"{reader.name}: no events in the trace\n", True)
        return 1
    return 0


def _show_html(trace: str, path: str, opts: ShowOptions, echo: Echo) -> int:
    """Write the page replaying the trace to `path`: whole, or not at all."""
    from gentrace.replay import PageFile, TooManyEvents, build_page  # only when asked for

    name = "<stdin>" if trace == "-" else trace
    options = TextOptions(
        max_repr=opts.max_repr if opts.max_repr is not None else FILE_MAX_REPR,
        source=source_lookup(source_line),
        show_path=path_shower(os.getcwd()),
    )
    filters = (
        Filters(opts.only, opts.gens, opts.grep) if opts.only or opts.gens or opts.grep is not None else None
    )
    reader = TraceReader(_open(trace), name=name, strict=opts.strict)
    try:
        try:
            page = PageFile(path)
        except OSError as exc:
            raise MissingTrace(f"can't open --html file {clean(path)!r}: {exc.strerror or exc}") from None
        try:
            text = build_page(
                reader,
                options,
                title=reader.name,
                filters=filters,
                ended=lambda: reader.ended,
                cut_after=lambda: reader.cut_after,
            )
        except TraceError as exc:
            page.discard()
            echo(f"{reader.name}: {exc}\n", True)
            return 1
        except TooManyEvents as exc:
            page.discard()
            echo(f"{reader.name}: {exc}: narrow it with --only, --gen or --grep; no page written\n", True)
            return 1
        if reader.events == 0:
            page.discard()
            echo(f"{reader.name}: no events in the trace; no page written\n", True)
            return 1
        try:
            page.write(text)
        except OSError as exc:
            echo(f"can't write --html file {clean(path)!r}: {exc.strerror or exc}\n", True)
            return 1
    finally:
        if trace != "-":
            reader.close()
    problems = reader.problems()
    if problems is not None:
        echo(problems + "\n", True)
    return 0
