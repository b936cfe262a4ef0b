"""Where records go: a text stream or file (the REPL-style log), a JSON Lines file, a logger.

A sink is told when an operation starts (`start`, only if it `wants_start`), when it ends
(`end`), about facts of the trace (`note`), and is closed with what remains to say (`close`).
Text and JSON take their reprs when the event happens, so a later mutation of a yielded object
cannot rewrite history. Files are block-buffered and flushed on close; a terminal is flushed per
line. Each sink serialises its writers with a re-entrant lock: a `collect` recorded from a
finalizer may arrive while the same thread is inside the sink.
"""

from __future__ import annotations

import functools
import io
import json
import linecache
import logging
import os
import sys
import threading
import tokenize
from collections import deque
from collections.abc import Callable
from typing import IO, Any, cast

from gentrace.events import to_event
from gentrace.jsonl import JsonRenderer
from gentrace.recorder import Final
from gentrace.records import (
    AFTER,
    CLOSE,
    COLLECT,
    CREATE,
    FILENAME,
    GEN_CLOSED,
    GEN_CREATED,
    INST,
    NAME,
    OP,
    OUTCOME,
    SEQ,
    YIELD,
    Record,
)
from gentrace.renderers import (
    TextOptions,
    TextSteps,
    end_line,
    one_line,
    repeat_line,
    single_line,
)
from gentrace.reprs import safe_repr
from gentrace.styles import PLAIN, styles_for

FILE_BUFFER = 1 << 16
TERMINAL_MAX_REPR = 80
FILE_MAX_REPR = 1000


def open_log(path: str) -> IO[str]:
    """Open a log file for writing: UTF-8, block-buffered, never failing on an odd character."""
    return open(path, "w", encoding="utf-8", errors="backslashreplace", buffering=FILE_BUFFER)


def _is_tty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


@functools.lru_cache(maxsize=4096)
def source_line(filename: str, lineno: int) -> str:
    """The source line, stripped of indentation and of a trailing comment, if it can be read."""
    line = linecache.getline(filename, lineno).strip()
    if "#" not in line:
        return line
    try:
        for token in tokenize.generate_tokens(io.StringIO(line).readline):
            if token.type == tokenize.COMMENT:
                return line[: token.start[1]].rstrip()
    except (tokenize.TokenError, SyntaxError):  # a line of a multi-line statement
        pass
    return line


def path_shower(cwd: str) -> Callable[[str], str]:
    """A function showing a path relative to `cwd` when it lies below it, else as it is."""
    prefix = cwd.rstrip(os.sep) + os.sep

    def show(path: str) -> str:
        return path[len(prefix) :] if path.startswith(prefix) else path

    return show


FrameLookup = Callable[[str], Any]


def frame_locals(frame_of: FrameLookup | None, record: Record, limit: int | None) -> dict[str, str] | None:
    """The paused generator's local variables as safe reprs, if it is still alive."""
    frame = frame_of(record[INST][NAME]) if frame_of is not None else None
    if frame is None:
        return None
    return {name: safe_repr(value, limit) for name, value in frame.f_locals.items()}


class TextSink:
    """The REPL-style log, to a stream (looked up at each write if given as a callable) or a file."""

    wants_start = True

    def __init__(
        self,
        target: IO[str] | Callable[[], IO[str]],
        *,
        origin_ns: int,
        color: bool | None = None,
        max_repr: int | None = None,
        timings: bool = False,
        locals: FrameLookup | None = None,
        file: bool = False,
        sync_stdout: bool = False,
    ) -> None:
        if callable(target) and not hasattr(target, "write"):
            self._get: Callable[[], IO[str]] = target
        else:
            fixed = cast("IO[str]", target)
            self._get = lambda: fixed
        self._file = file
        self._color = color
        self._max_repr = max_repr
        self._origin = origin_ns
        self._timings = timings
        self._locals = locals
        self._sync_stdout = sync_stdout
        self._lock = threading.RLock()
        self._stream: IO[str] | None = None
        self._out: Callable[[str], object] = self._synced
        self._options = TextOptions()
        self._flush = False
        self._open_seq: int | None = None  # the seq whose `>>> ` line was written last
        self._bare = locals is None and not timings  # then a yield's line comes from `_steps`
        self._steps = TextSteps(self._options)

    def _configure(self, stream: IO[str]) -> None:
        tty = not self._file and _is_tty(stream)
        limit = (
            self._max_repr if self._max_repr is not None else (TERMINAL_MAX_REPR if tty else FILE_MAX_REPR)
        )
        styles = PLAIN if self._file else styles_for(stream, self._color)
        self._options = TextOptions(
            styles=styles,
            max_repr=limit,
            origin_ns=self._origin,
            timings=self._timings,
            source=source_line,
            show_path=path_shower(os.getcwd()),
        )
        self._flush = tty
        self._stream = stream
        # Most streams take a line as it is; stderr waits for stdout, and a terminal shows it at once.
        self._out = self._synced if self._sync_stdout or tty else stream.write
        # The remembered parts carry the old stream's colours (a terminal's, in a file).
        self._steps = TextSteps(self._options)

    def _write(self, text: str) -> None:
        stream = self._get()
        if stream is not self._stream:
            self._configure(stream)
        self._out(text)

    def _synced(self, text: str) -> None:
        if self._sync_stdout:
            try:
                sys.stdout.flush()
            except (AttributeError, ValueError, OSError):
                pass
        stream = cast("IO[str]", self._stream)
        stream.write(text)
        if self._flush:
            stream.flush()

    def _prepare(self) -> TextOptions:
        stream = self._get()
        if stream is not self._stream:
            self._configure(stream)
        return self._options

    def start(self, record: Record) -> None:
        with self._lock:
            stream = self._get()
            if stream is not self._stream:
                self._configure(stream)
            self._out(self._steps.start(record))
            self._open_seq = record[SEQ]

    def end(self, record: Record) -> None:
        with self._lock:
            stream = self._get()
            if stream is not self._stream:
                self._configure(stream)
            op = record[OP]
            if op == CREATE or op == COLLECT:
                self._out(single_line(record, self._options) + "\n")
            # The common step: a yield right after its `>>> ` line, without locals or timings.
            elif record[OUTCOME] == YIELD and self._open_seq == record[SEQ] and self._bare:
                self._out(self._steps.yielded(record))
            else:
                self._out(self._end_text(record))
            self._open_seq = None

    def _end_text(self, record: Record) -> str:
        # The result line of any step, after a `... ` line if others came after its `>>> ` line.
        options = self._options
        text = ""
        if self._open_seq != record[SEQ]:
            text = repeat_line(record, options) + "\n"
        if self._locals is not None and record[AFTER] != GEN_CLOSED and record[OP] != CLOSE:
            loc = frame_locals(self._locals, record, options.max_repr)
            if loc is not None:
                options = options.with_locals(loc)
        return text + end_line(record, options) + "\n"

    def note(self, note: dict[str, Any]) -> None:
        pass  # the text log says what it has to say when it closes

    def close(self, final: Final) -> None:
        with self._lock:
            options = self._prepare()
            lines = []
            for item in final.unfinished:
                name, filename = item.info[NAME], item.info[FILENAME]
                if filename:
                    filename = options.show_path(filename)
                where = f"{filename}:{item.lineno}" if filename and item.lineno else "an unknown line"
                if item.state == GEN_CREATED:
                    lines.append(f"# never started: {name}, created at {where}")
                else:
                    lines.append(f"# still suspended at exit: {name}, paused at {where}")
            if final.cut_after is not None:
                lines.append(
                    f"# max-events: recording stopped after {final.cut_after} events; the program ran on"
                )
            if lines:
                s = self._prepare().styles
                self._write("".join(f"{s.comment}{line}{s.reset}\n" for line in lines))
            stream = self._get()
            if self._file:
                stream.close()
            else:
                try:
                    stream.flush()
                except (AttributeError, ValueError, OSError):
                    pass


class JsonlSink:
    """One JSON object per line, written when each operation completes.

    Lines are queued and written in batches: a `deque` takes appends from any thread without a
    lock, and the writer drains it under one. A batch is small next to the file's own buffer, so a
    `kill -9` loses no more than an unflushed buffer would, and never splits a line but the last.
    """

    wants_start = False
    BATCH = 256

    def __init__(
        self,
        stream: IO[str],
        *,
        origin_ns: int,
        max_repr: int | None = None,
        locals: FrameLookup | None = None,
        owns: bool = True,
    ) -> None:
        self._stream = stream
        self._limit = max_repr if max_repr is not None else FILE_MAX_REPR
        # Its bound `__call__`: calling the renderer itself goes through a slot lookup every line.
        self._render = JsonRenderer(origin_ns, self._limit).__call__
        self._locals = locals
        self._owns = owns
        self._lock = threading.RLock()
        self._queue: deque[str] = deque()
        # A terminal shows each line at once; elsewhere lines go in batches.
        self._tty = _is_tty(stream)
        self._batch = 1 if self._tty else self.BATCH

    def start(self, record: Record) -> None:
        pass

    def end(self, record: Record) -> None:
        if self._locals is not None and record[AFTER] != GEN_CLOSED:
            self._queue.append(self._render(record, frame_locals(self._locals, record, self._limit)))
        else:
            self._queue.append(self._render(record))
        if len(self._queue) >= self._batch:
            self._drain()

    def _drain(self) -> None:
        with self._lock:
            queue = self._queue
            lines = [queue.popleft() for _ in range(len(queue))]
            if lines:
                self._stream.write("\n".join(lines) + "\n")
                if self._tty:
                    self._stream.flush()

    def note(self, note: dict[str, Any]) -> None:
        self._queue.append(json.dumps(note))
        self._drain()

    def close(self, final: Final) -> None:
        self._queue.append(json.dumps({"note": "end", "events": final.events}))
        self._drain()
        with self._lock:
            if self._owns:
                self._stream.close()
            else:
                self._stream.flush()


class LoggerSink:
    """One log record per event; the message is the one-line form, the Event rides along."""

    wants_start = False

    def __init__(
        self, logger: logging.Logger, *, level: int, origin_ns: int, max_repr: int | None = None
    ) -> None:
        self._logger = logger
        self._level = level
        self._origin = origin_ns
        self._limit = max_repr if max_repr is not None else TERMINAL_MAX_REPR

    def start(self, record: Record) -> None:
        pass

    def end(self, record: Record) -> None:
        if self._logger.isEnabledFor(self._level):
            event = to_event(record, self._origin)
            # No args: the message is taken as it is, a "%" in a repr included.
            self._logger.log(self._level, one_line(record, self._limit), extra={"gentrace_event": event})

    def note(self, note: dict[str, Any]) -> None:
        pass

    def close(self, final: Final) -> None:
        pass
