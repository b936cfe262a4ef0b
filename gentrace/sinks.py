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
import itertools
import os
import sys
import threading
from collections import deque
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any, cast

from gentrace.events import to_event
from gentrace.records import (
    AFTER,
    INST,
    NAME,
    Ending,
    Record,
    Sink,
    is_finished,
)
from gentrace.renderers import (
    TextOptions,
    closing_lines,
    one_line,
)
from gentrace.reprs import safe_repr
from gentrace.sources import path_shower, source_line
from gentrace.styles import PLAIN, is_terminal, styles_for
from gentrace.textlog import LogWriter, shows_locals

if TYPE_CHECKING:
    import logging

FILE_BUFFER = 1 << 16
TERMINAL_MAX_REPR = 80
FILE_MAX_REPR = 1000


def terminal_columns(stream: IO[str]) -> int:
    """The columns of the terminal `stream` writes to: ``COLUMNS`` if set, else the terminal's own."""
    import shutil  # only for a terminal

    if not os.environ.get("COLUMNS"):
        try:
            return os.get_terminal_size(stream.fileno()).columns or shutil.get_terminal_size().columns
        except (AttributeError, ValueError, OSError):  # not a real terminal: a stand-in that says it is
            pass
    return shutil.get_terminal_size().columns  # COLUMNS, else stdout's terminal, else 80


def open_log(path: str) -> IO[str]:
    """Open a log file for writing: UTF-8, block-buffered, never failing on an odd character."""
    return open(path, "w", encoding="utf-8", errors="backslashreplace", buffering=FILE_BUFFER)


FrameLookup = Callable[[str], Any]


def frame_locals(frame_of: FrameLookup | None, record: Record, limit: int | None) -> dict[str, str] | None:
    """The paused generator's local variables as safe reprs, if it is still alive."""
    frame = frame_of(record[INST][NAME]) if frame_of is not None else None
    if frame is None:
        return None
    return {name: safe_repr(value, limit) for name, value in frame.f_locals.items()}


class TextSink(Sink):
    """The REPL-style log, to a stream (looked up at each write if given as a callable) or a file.

    `through` writes each line at once, as on a terminal (a run's child process may be killed at
    any moment: ``Pool.terminate()`` sends its workers SIGTERM).
    """

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
        through: bool = False,
    ) -> None:
        if callable(target) and not hasattr(target, "write"):
            self._get: Callable[[], IO[str]] = target
        else:
            fixed = cast("IO[str]", target)
            self._get = lambda: fixed
        self._file = file
        self._through = through
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
        self._writer = LogWriter(self._options)

    def _configure(self, stream: IO[str]) -> None:
        tty = not self._file and is_terminal(stream)
        limit = (
            self._max_repr if self._max_repr is not None else (TERMINAL_MAX_REPR if tty else FILE_MAX_REPR)
        )
        styles = PLAIN if self._file else styles_for(stream, self._color)
        # A terminal's width is settled here, once per stream: the layout follows it.
        self._options = TextOptions(
            styles=styles,
            max_repr=limit,
            origin_ns=self._origin,
            timings=self._timings,
            source=source_line,
            show_path=path_shower(os.getcwd()),
            width=terminal_columns(stream) if tty else None,
            fit=tty and self._max_repr is None,
        )
        self._flush = tty or self._through
        self._stream = stream
        # Most streams take a line as it is; stderr waits for stdout, and a terminal shows it at once.
        self._out = self._synced if self._sync_stdout or self._flush else stream.write
        # The remembered parts carry the old stream's colours (a terminal's, in a file).
        self._writer = LogWriter(self._options)

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
            self._out(self._writer.start(record))

    def end(self, record: Record) -> None:
        with self._lock:
            stream = self._get()
            if stream is not self._stream:
                self._configure(stream)
            loc = None
            if self._locals is not None and shows_locals(record):
                loc = frame_locals(self._locals, record, self._options.max_repr)
            self._out(self._writer.end(record, loc))

    def close(self, ending: Ending) -> None:
        with self._lock:
            options = self._prepare()
            lines = closing_lines(ending.unfinished, ending.cut_after, options)
            if lines:
                self._write("".join(line + "\n" for line in lines))
            stream = self._get()
            if self._file:
                stream.close()
            else:
                try:
                    stream.flush()
                except (AttributeError, ValueError, OSError):
                    pass


class JsonlSink(Sink):
    """One JSON object per line, written when each operation completes.

    Lines are queued and written in batches: a `deque` takes appends from any thread without a
    lock, and the writer drains it under one. A batch is small next to the file's own buffer, so a
    `kill -9` loses no more than an unflushed buffer would, and never splits a line but the last.
    With `pid`, every event carries it and is written at once: the trace of a run's child process,
    which may be killed at any moment (``Pool.terminate()`` sends its workers SIGTERM).
    """

    BATCH = 256

    def __init__(
        self,
        stream: IO[str],
        *,
        origin_ns: int,
        max_repr: int | None = None,
        locals: FrameLookup | None = None,
        owns: bool = True,
        pid: int | None = None,
    ) -> None:
        self._stream = stream
        self._limit = max_repr if max_repr is not None else FILE_MAX_REPR
        from gentrace.jsonl import JsonRenderer  # imports json: only for JSON Lines

        # Its bound `__call__`: calling the renderer itself goes through a slot lookup every line.
        self._render: Callable[..., str] = JsonRenderer(origin_ns, self._limit).__call__
        if pid is not None:
            self._render = functools.partial(_with_pid, self._render, f',"pid":{pid}}}')
        self._locals = locals
        self._owns = owns
        self._lock = threading.RLock()
        self._queue: deque[str] = deque()
        # A terminal shows each line at once, and a child process's trace has it at once; elsewhere
        # lines go in batches.
        self._tty = is_terminal(stream) or pid is not None
        self._batch = 1 if self._tty else self.BATCH

    def end(self, record: Record) -> None:
        if self._locals is not None and not is_finished(record[AFTER]):
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
        import json

        self._queue.append(json.dumps(note))
        self._drain()

    def close(self, ending: Ending) -> None:
        import json

        self._queue.append(json.dumps({"note": "end", "events": ending.events}))
        self._drain()
        with self._lock:
            if self._owns:
                self._stream.close()
            else:
                self._stream.flush()


def _with_pid(render: Callable[..., str], tail: str, record: Record, locals_: Any = None) -> str:
    return render(record, locals_)[:-1] + tail  # the line's closing brace, after one more key


class LoggerSink(Sink):
    """One log record per event; the message is the one-line form, the Event rides along."""

    def __init__(
        self, logger: logging.Logger, *, level: int, origin_ns: int, max_repr: int | None = None
    ) -> None:
        self._logger = logger
        self._level = level
        self._origin = origin_ns
        self._limit = max_repr if max_repr is not None else TERMINAL_MAX_REPR

    def end(self, record: Record) -> None:
        if self._logger.isEnabledFor(self._level):
            event = to_event(record, self._origin)
            # No args: the message is taken as it is, a "%" in a repr included.
            self._logger.log(self._level, one_line(record, self._limit), extra={"gentrace_event": event})


class SpoolSink(Sink):
    """Keeps the run as JSON Lines in a temporary file, and hands the file over when tracing ends.

    What a run shows only at its end (``--summary``, ``--timeline``, an ``.html`` page) is computed
    from this file as ``gentrace show`` would, so memory stays flat however long the program runs.
    `at_close(path, ending)` is called once; the file is removed after it, whatever it raises.
    Past `limit` events the rest is not kept, and `over` says so.
    """

    def __init__(
        self,
        at_close: Callable[[str, Ending], None],
        *,
        origin_ns: int = 0,
        max_repr: int | None = None,
        locals: FrameLookup | None = None,
        limit: int | None = None,
    ) -> None:
        import tempfile  # only for what a run shows at its end

        fd, self.path = tempfile.mkstemp(prefix="gentrace-", suffix=".jsonl")
        self._jsonl = JsonlSink(
            os.fdopen(fd, "w", encoding="utf-8"), origin_ns=origin_ns, max_repr=max_repr, locals=locals
        )
        self._at_close = at_close
        self._limit = sys.maxsize if limit is None else limit
        self._count = itertools.count(1)  # atomic: records may come from several threads
        self.over = False

    def end(self, record: Record) -> None:
        if next(self._count) <= self._limit:
            self._jsonl.end(record)
        else:
            self.over = True

    def note(self, note: dict[str, Any]) -> None:
        self._jsonl.note(note)

    def close(self, ending: Ending) -> None:
        self._jsonl.close(ending)
        try:
            self._at_close(self.path, ending)
        finally:
            os.unlink(self.path)
