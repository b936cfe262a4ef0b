"""`gentrace show`: a saved JSON Lines trace as the log, a summary, a timeline, Chrome's format or a page.

The command's options are settled in `ShowOptions`; the log itself comes from `logview`, the
summary and timeline from their modules, the page from `replay`. User mistakes (a trace that
cannot be opened) raise `MissingTrace`, which the CLI turns into a one-line usage error.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO

from gentrace.chrome import is_chrome_trace, write_chrome
from gentrace.logview import Filters, render_log
from gentrace.reader import START, Gap, TraceError, TraceEvent, TraceReader, clean
from gentrace.records import (
    Record,
)
from gentrace.renderers import (
    TextOptions,
)
from gentrace.sinks import FILE_MAX_REPR, TERMINAL_MAX_REPR, open_log, terminal_columns
from gentrace.sources import path_shower, source_line, source_lookup
from gentrace.styles import PLAIN, is_terminal, styles_for
from gentrace.summary import Summary
from gentrace.timeline import timeline


class MissingTrace(Exception):
    """The trace file cannot be opened, or is a Chrome trace (a usage error: exit 2)."""


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
    stream = sys.stdin.buffer if trace == "-" else _open_file(trace)
    if is_chrome_trace(stream):  # a run's -o trace.json, given where its .jsonl belongs
        if trace != "-":
            stream.close()
        name = "<stdin>" if trace == "-" else clean(trace)
        raise MissingTrace(
            f"{name}: this is a Chrome trace (open it in https://ui.perfetto.dev); "
            "gentrace show reads the JSON Lines of gentrace run -o trace.jsonl"
        )
    return stream


def _open_file(trace: str) -> IO[bytes]:
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
    tty = is_terminal(stream)
    styles = PLAIN if opts.out is not None else styles_for(stream, opts.color)
    limit = opts.max_repr if opts.max_repr is not None else (TERMINAL_MAX_REPR if tty else FILE_MAX_REPR)
    show_path = path_shower(os.getcwd())
    width = terminal_columns(stream) if tty and opts.out is None else None  # the log follows a terminal
    options = TextOptions(
        styles=styles,
        max_repr=limit,
        source=source_lookup(source_line),
        show_path=show_path,
        width=width,
        fit=width is not None and opts.max_repr is None,
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
            steps = (
                (item[0] == START, item[1].record)
                for item in reader.in_log_order()
                if not isinstance(item, Gap) and (filters is None or filters.keep(item[1].record, limit))
            )
            write_chrome(steps, write, opts.max_repr)
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
                reader.in_log_order(),
                options,
                filters,
                cut_after=lambda: reader.cut_after,
                ended=lambda: reader.ended,
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
    return _unmatched(filters, reader.name, opts, echo)


def _unmatched(filters: Filters | None, name: str, opts: ShowOptions, echo: Echo) -> int:
    """Warn of each filter that matched no event in the trace (a failure under --strict)."""
    left = filters.unmatched() if filters is not None else []
    for given in left:
        echo(f"{name}: {given} matched no event\n", True)
    return 1 if left and opts.strict else 0


class _StdoutPage:
    """``--html -``: the page goes to stdout, whole once it is built, or not at all."""

    def __init__(self, echo: Echo) -> None:
        self._echo = echo

    def write(self, text: str) -> None:
        self._echo(text, False)

    def discard(self) -> None:
        """Nothing was written."""


def _show_html(trace: str, path: str, opts: ShowOptions, echo: Echo) -> int:
    """Write the page replaying the trace to `path` (- for stdout): whole, or not at all."""
    from gentrace.page import PageFile  # only when asked for
    from gentrace.replay import TooManyEvents, build_page

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
    page: PageFile | _StdoutPage
    try:
        try:
            page = _StdoutPage(echo) if path == "-" else PageFile(path)
        except OSError as exc:
            raise MissingTrace(f"can't open --html file {clean(path)!r}: {exc.strerror or exc}") from None
        try:
            text = build_page(
                reader.in_log_order(),
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
    return _unmatched(filters, reader.name, opts, echo)
