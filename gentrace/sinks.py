"""Where records go: a text stream or file (the REPL-style log), a JSON Lines file, a logger.

A sink is told when an operation starts (`start`, only if it `wants_start`), when it ends
(`end`), about facts of the trace (`note`), and is closed with what remains to say (`close`).
Text and JSON take their reprs when the event happens, so a later mutation of a yielded object
cannot rewrite history. A file's lines are written in batches: when a batch is full, at least every
100 ms while events come, before a fork, at close and at exit (`JsonlSink`); a terminal is flushed
per line. Each sink serialises its writers with a re-entrant lock: a `collect` recorded from a
finalizer may arrive while the same thread is inside the sink.
"""

from __future__ import annotations

import atexit
import functools
import itertools
import os
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any, cast

from gentrace.compiled import speedups
from gentrace.events import to_event
from gentrace.records import (
    AFTER,
    INST,
    LOOP,
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

_monotonic = time.monotonic
_batched: weakref.WeakSet[JsonlSink | TextSink] = weakref.WeakSet()
"""The file sinks whose lines wait in a batch: written before a fork and at exit."""


def write_batches() -> None:
    """Write every file sink's waiting lines (before a fork, at exit)."""
    for sink in list(_batched):
        try:
            sink.write_batch()
        except Exception:  # a full disk, a closed stream: the sink's next write says so
            pass


def _new_locks() -> None:
    # In a forked child: another thread of the parent may have held a sink's lock at the fork.
    for sink in list(_batched):
        sink._lock = threading.RLock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=write_batches, after_in_child=_new_locks)
atexit.register(write_batches)


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


def _write_bytes(binary: Any, compiled: Any) -> None:
    """Write a compiled batch's bytes to the file's buffer, and flush it."""
    data = compiled.take_bytes()
    if data:
        binary.write(data)
        binary.flush()


class TextSink(Sink):
    """The REPL-style log, to a stream (looked up at each write if given as a callable) or a file.

    A file's lines wait in a batch, written when full, when an operation ends `INTERVAL` seconds or
    more after the last write (while events come), before a fork, at close and at exit, as
    `JsonlSink`'s are: compiled, a ``_speedups.TextLines`` that writes the common steps itself and
    whose ``start`` and ``end`` the recorder calls directly; else the file's own buffer
    (`FILE_BUFFER`). So a `kill -9` loses no more than the last batch. `through` writes each line
    at once, as on a terminal (a run's child process may be killed at any moment:
    ``Pool.terminate()`` sends its workers SIGTERM).
    """

    wants_start = True
    INTERVAL = 0.1

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
        self._batching = file and not through
        self._written = _monotonic()  # when the file was last flushed
        # Compiled, a file's common steps are written in C, in batches of their own, and every
        # other line through the Python methods below (under the lock).
        self._compiled: Any = None
        self._binary: Any = None
        if self._batching:
            _batched.add(self)
            if speedups is not None and locals is None and not timings:
                self._compiled = speedups.TextLines(
                    self._compiled_writer, self._start_text, self._end_text, self.write_batch, LOOP
                )
                self.start = self._compiled.start  # type: ignore[method-assign]
                self.end = self._compiled.end  # type: ignore[method-assign]
                # Everything written to the file goes through the batch, which holds the bytes
                # `open_log`'s encoding makes of it: they go to the file as they are.
                if getattr(target, "encoding", None) in ("utf-8", "UTF-8") and (
                    getattr(target, "errors", None) == "backslashreplace"
                ):
                    self._binary = getattr(target, "buffer", None)

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
        if self._compiled is not None:
            self._out = self._compiled.append
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
            if self._batching and _monotonic() - self._written >= self.INTERVAL:
                self.write_batch()

    def write_batch(self) -> None:
        """Write the lines waiting in the batch or the file's buffer."""
        with self._lock:
            self._written = _monotonic()
            if self._stream is not None:
                if self._binary is not None:
                    _write_bytes(self._binary, self._compiled)
                    return
                if self._compiled is not None:
                    text = self._compiled.take()
                    if text:
                        self._stream.write(text)
                self._stream.flush()

    def _compiled_writer(self) -> LogWriter:
        with self._lock:
            self._prepare()
            return self._writer

    def _start_text(self, record: Record) -> str:
        with self._lock:
            return self._writer.start(record)

    def _end_text(self, record: Record) -> str:
        with self._lock:
            return self._writer.end(record)

    def close(self, ending: Ending) -> None:
        _batched.discard(self)
        with self._lock:
            options = self._prepare()
            lines = closing_lines(ending.unfinished, ending.cut_after, options)
            if lines:
                self._write("".join(line + "\n" for line in lines))
            if self._batching:
                self.write_batch()
            stream = self._get()
            if self._file:
                stream.close()
            else:
                try:
                    stream.flush()
                except (AttributeError, ValueError, OSError):
                    pass


class JsonlSink(Sink):
    """One JSON object per line, rendered when each operation completes (its reprs taken then).

    To a file, lines are written in batches, the file flushed after each: when the batch is full
    (`BATCH` lines, or `BATCH_BYTES` compiled), when a line comes `INTERVAL` seconds or more after
    the batch's first, before a fork (a child must not write its parent's lines again), at close —
    so at exit, after an uncaught exception or Ctrl-C, and under ``gentrace run`` on SIGTERM — and
    at exit even if never closed. So a `kill -9` loses no more than the last batch, never splits a
    line but the last, and a file being read while the program runs is never more than a batch
    behind (as long as events come: nothing writes it while the program records nothing). Lines
    are taken from any thread without a lock; the writer holds one. Compiled, the batch is a
    `JsonRenderer.batch`, whose ``end`` the recorder calls directly.

    With `pid`, every event carries it and is written at once: the trace of a run's child process,
    which may be killed at any moment (``Pool.terminate()`` sends its workers SIGTERM). A terminal
    gets each line at once too.
    """

    BATCH = 256
    BATCH_BYTES = 1 << 16
    INTERVAL = 0.1

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

        renderer = JsonRenderer(origin_ns, self._limit)
        # Its bound `__call__`: calling the renderer itself goes through a slot lookup every line.
        self._render: Callable[..., str] = renderer.__call__
        if pid is not None:
            self._render = functools.partial(_with_pid, self._render, f',"pid":{pid}}}')
        self._locals = locals
        self._owns = owns
        self._lock = threading.RLock()
        self._queue: deque[str] = deque()
        self._since = 0.0  # when the first line of the queue came
        self._compiled: Any = None
        if is_terminal(stream) or pid is not None:
            self.end = self._end_through  # type: ignore[method-assign]
        else:
            if locals is None:
                self._compiled = renderer.batch(self.write_batch)
            if self._compiled is not None:
                self.end = self._compiled.end  # type: ignore[method-assign]
            _batched.add(self)
        # A file of gentrace's own (everything written to it goes through the batch) takes the
        # batch's bytes as they are.
        self._binary: Any = None
        if owns and self._compiled is not None and getattr(stream, "encoding", None) in ("utf-8", "UTF-8"):
            self._binary = getattr(stream, "buffer", None)

    def _line(self, record: Record) -> str:
        if self._locals is not None and not is_finished(record[AFTER]):
            return self._render(record, frame_locals(self._locals, record, self._limit))
        return self._render(record)

    def end(self, record: Record) -> None:
        line = self._line(record)
        queue = self._queue
        # The batch is written before the line joins it: a record whose end() failed (no stack room
        # left, say: the recorder gives it again later) is written never or once.
        if queue and (len(queue) >= self.BATCH or _monotonic() - self._since >= self.INTERVAL):
            self.write_batch()
        if not queue:
            self._since = _monotonic()
        queue.append(line + "\n")

    def _end_through(self, record: Record) -> None:
        line = self._line(record)
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()

    def write_batch(self) -> None:
        """Write the lines waiting, and flush the file."""
        with self._lock:
            if self._binary is not None:
                _write_bytes(self._binary, self._compiled)
                return
            if self._compiled is not None:
                text = self._compiled.take()
            else:
                queue = self._queue
                text = "".join([queue.popleft() for _ in range(len(queue))])
            if text:
                self._stream.write(text)
                self._stream.flush()

    def _add(self, line: str) -> None:
        if self._compiled is not None:
            self._compiled.append(line + "\n")
        else:
            self._queue.append(line + "\n")

    def note(self, note: dict[str, Any]) -> None:
        import json

        self._add(json.dumps(note))
        self.write_batch()

    def close(self, ending: Ending) -> None:
        import json

        _batched.discard(self)
        self._add(json.dumps({"note": "end", "events": ending.events}))
        self.write_batch()
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
