"""What ``gentrace run --summary/--timeline`` prints at exit, read back from a temporary trace.

The run's events go to a temporary JSON Lines file (memory stays flat however long the program
runs); when the tracer closes, the summary and the timeline are computed from it like ``gentrace
show`` does, written to the stream, and the file is removed.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from typing import IO, Any

from gentrace.reader import Gap, TraceReader
from gentrace.recorder import Final
from gentrace.records import Record
from gentrace.sinks import JsonlSink, path_shower
from gentrace.summary import Summary
from gentrace.timeline import timeline


def records_of(path: str) -> Iterator[Record]:
    """The records of a JSON Lines trace file, in seq order (bad lines skipped)."""
    with open(path, "rb") as stream:
        for item in TraceReader(stream, name=path):
            if not isinstance(item, Gap):
                yield item.record


class RecapSink:
    """A sink that keeps the trace in a temporary file and prints a summary/timeline on close."""

    wants_start = False

    def __init__(
        self,
        out: Callable[[], IO[str]],
        *,
        summary: bool,
        timeline: bool,
        show_path: Callable[[str], str] | None = None,
        width: int | None = None,
    ) -> None:
        fd, self._path = tempfile.mkstemp(prefix="gentrace-", suffix=".jsonl")
        self._jsonl = JsonlSink(os.fdopen(fd, "w", encoding="utf-8"), origin_ns=0)
        self._out = out
        self._summary = summary
        self._timeline = timeline
        self._show_path = show_path or path_shower(os.getcwd())
        self._width = width

    def start(self, record: Record) -> None:
        pass

    def end(self, record: Record) -> None:
        self._jsonl.end(record)

    def note(self, note: dict[str, Any]) -> None:
        self._jsonl.note(note)

    def close(self, final: Final) -> None:
        self._jsonl.close(final)
        try:
            lines: list[str] = []
            if self._summary:
                summary = Summary(show_path=self._show_path)
                for record in records_of(self._path):
                    summary.add(record)
                lines += summary.lines(ended=True, cut_after=final.cut_after)
            if self._timeline:
                lines += timeline(lambda: records_of(self._path), self._width)
            stream = self._out()
            stream.write("".join(line + "\n" for line in lines))
            stream.flush()
        finally:
            os.unlink(self._path)
