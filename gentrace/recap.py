"""What ``gentrace run --summary/--timeline`` prints at exit, read back from the spooled trace.

The run's events are spooled to a temporary JSON Lines file (`sinks.SpoolSink`: memory stays flat
however long the program runs); when the tracer closes, the summary and the timeline are computed
from it as ``gentrace show`` does, and written to the stream.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import IO

from gentrace.reader import Gap, TraceReader
from gentrace.records import Ending, Record
from gentrace.sinks import SpoolSink
from gentrace.sources import path_shower
from gentrace.summary import Summary
from gentrace.timeline import timeline as swimlanes


def records_of(path: str) -> Iterator[Record]:
    """The records of a JSON Lines trace file, in seq order (bad lines skipped)."""
    with open(path, "rb") as stream:
        for item in TraceReader(stream, name=path):
            if not isinstance(item, Gap):
                yield item.record


def recap_sink(
    out: Callable[[], IO[str]],
    *,
    summary: bool,
    timeline: bool,
    show_path: Callable[[str], str] | None = None,
    width: int | None = None,
) -> SpoolSink:
    """A sink that prints the run's summary and/or timeline to `out()` when tracing ends."""
    shown = show_path or path_shower(os.getcwd())

    def at_close(path: str, ending: Ending) -> None:
        lines = recap_lines(path, ending, summary=summary, timeline=timeline, show_path=shown, width=width)
        stream = out()
        stream.write("".join(line + "\n" for line in lines))
        stream.flush()

    return SpoolSink(at_close)


def recap_lines(
    path: str,
    ending: Ending,
    *,
    summary: bool,
    timeline: bool,
    show_path: Callable[[str], str],
    width: int | None = None,
) -> list[str]:
    """The summary and/or timeline of the trace in `path`, a run that ended with `ending`."""
    lines: list[str] = []
    if summary:
        table = Summary(show_path=show_path)
        for record in records_of(path):
            table.add(record)
        lines += table.lines(ended=True, cut_after=ending.cut_after)
    if timeline:
        lines += swimlanes(lambda: records_of(path), width)
    return lines
