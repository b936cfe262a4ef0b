"""The Chrome Trace Event Format (Perfetto, chrome://tracing) of a trace: the log's story as slices.

One format, the JSON Object Format ``{"displayTimeUnit": "ms", "traceEvents": [...]}`` with one
event a line, whether ``gentrace run -o trace.json`` streams it (`ChromeSink`) or ``gentrace show
trace.jsonl --to chrome`` writes it from a saved trace (`write_chrome`). Both feed `ChromeEvents`
the operations' starts and ends in the live log's order, so a run's file and the one made from its
JSON Lines hold the same events, in the same order.

What it holds:

- one track (``tid``) per generator instance, in the order they appear, named after it
  (``averager#1``) by a ``thread_name`` metadata event;
- an ``X`` slice for each operation that runs the generator's code, named by the expression the
  log writes (``averager#1.send(10)``, ``next(fib#1)``, ``await anext(readings#1)``), with its
  result, states, seq, thread and task in ``args``; an ``i`` instant for the others (a create, a
  close of a generator that never started). An iterator's track is alike: a slice per next
  (``next(list_iterator#1)``), an instant for its ``iter()`` (``list_iterator#1 = iter(numbers)``)
  and for a loop that left it before the end (``loop at line 3 left list_iterator#2``, its state
  saying whether it was exhausted);
- a **flow** (an arrow: an ``s`` event on the caller's track, an ``f`` event with ``"bp": "e"`` on
  the resumed one, sharing an ``id`` and named ``resume``) from an operation to each operation its
  code made on *another* traced instance: a ``next()``/``send()``/``anext()`` written in a
  generator's body, an ``async for`` over another, or ``yield from``/``await`` handing the step down
  to an inner generator. The operation a step ran inside is the latest one still running on its
  thread with a lower depth (as the log's nesting has it, see `logview`); a step made by untraced
  code has no arrow. Both ends lie at the resumed step's start, inside the caller's slice.

Times are exact decimals of integer nanoseconds, in microseconds (the format's unit), so a nested
slice never slips out of its parent by a rounding.

The streamed file gets its closing ``]}`` when tracing closes: at exit, also after an exception,
Ctrl-C or SIGTERM under ``gentrace run``. A ``kill -9`` leaves it without that ending, and perhaps
with a cut last line: the Trace Event Format lets a viewer finish only a bare JSON array, and
Perfetto's JSON importer ends such a file with an error ("JSON trace file is incomplete"). For a run
that may be killed, write ``-o trace.jsonl`` too (valid line by line) and make the Chrome file from
it: ``gentrace show trace.jsonl --to chrome -o trace.json``.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable
from typing import IO, Any, Final

from gentrace.records import (
    AFTER,
    BEFORE,
    DEPTH,
    DURATION,
    INST,
    LASTI,
    LEAVE,
    NAME,
    OP,
    SEQ,
    START,
    TASK,
    THREAD,
    Ending,
    Record,
    Sink,
    lineno_at,
    runs_code,
)
from gentrace.renderers import expression, result
from gentrace.sinks import FILE_MAX_REPR

PID: Final = 1
FLOW: Final = '"name": "resume", "cat": "gentrace"'
HEAD: Final = '{"displayTimeUnit": "ms", "traceEvents": [\n'
TAIL: Final = "\n]}\n"


def _us(ns: int) -> str:
    """Integer nanoseconds as an exact decimal number of microseconds."""
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    return f"{sign}{ns // 1000}.{ns % 1000:03d}"


def _json(data: Any) -> str:
    return json.dumps(data, ensure_ascii=True)


class ChromeEvents:
    """Turns operations into Chrome trace events: `start` each one, then `end` gives its events.

    Instances are numbered as they appear. Starts and ends come in the order the live log wrote
    them (`TraceReader.in_log_order` for a saved trace); an operation started but never ended gives
    no event.
    """

    def __init__(self, origin_ns: int = 0, max_repr: int | None = None) -> None:
        self._tids: dict[str, int] = {}
        self._origin = origin_ns
        self._limit = max_repr if max_repr is not None else FILE_MAX_REPR
        self._running: dict[str, list[Record]] = {}  # per thread: operations started, not ended
        self._callers: dict[int, Record] = {}  # seq → the operation whose code made it

    def start(self, record: Record) -> None:
        """An operation starts: note the operation it runs inside, if that one is another's step."""
        stack = self._running.setdefault(record[THREAD], [])
        depth = record[DEPTH]
        for other in reversed(stack):
            if other[DEPTH] < depth:
                if other[INST][NAME] != record[INST][NAME] and runs_code(other) and runs_code(record):
                    self._callers[record[SEQ]] = other
                break
        stack.append(record)

    def end(self, record: Record) -> list[str]:
        """The JSON texts of the events of an ended operation (a create or collect: no start).

        A name event comes first for an instance not seen before; a flow's pair after the slice.
        """
        seq = record[SEQ]
        thread = record[THREAD]
        stack = self._running.get(thread)
        if stack is not None:
            for i in range(len(stack) - 1, -1, -1):
                if stack[i][SEQ] == seq:
                    del stack[i]
                    break
            if not stack:
                del self._running[thread]
        out: list[str] = []
        tid = self._tid(record[INST][NAME], out)
        before, after = record[BEFORE], record[AFTER]
        args: dict[str, Any] = {
            "seq": seq,
            "result": result(record, self._limit),
            "state": after if before is None or before == after else f"{before} → {after}",
            "thread": thread,
        }
        if record[TASK] is not None:
            args["task"] = record[TASK]
        name = _json(_name(record, self._limit))
        ts = _us(record[START] - self._origin)
        where = f'"pid": {PID}, "tid": {tid}, "name": {name}, "ts": {ts}'
        if runs_code(record):
            out.append(f'{{"ph": "X", {where}, "dur": {_us(record[DURATION])}, "args": {_json(args)}}}')
        else:
            out.append(f'{{"ph": "i", "s": "t", {where}, "args": {_json(args)}}}')
        caller = self._callers.pop(seq, None)
        if caller is not None:
            source = self._tid(caller[INST][NAME], out)
            flow = f'{FLOW}, "id": {seq}, "ts": {ts}'
            out.append(f'{{"ph": "s", "pid": {PID}, "tid": {source}, {flow}}}')
            out.append(f'{{"ph": "f", "bp": "e", "pid": {PID}, "tid": {tid}, {flow}}}')
        return out

    def _tid(self, name: str, out: list[str]) -> int:
        tid = self._tids.get(name)
        if tid is None:
            tid = self._tids[name] = len(self._tids) + 1
            meta = {"ph": "M", "pid": PID, "tid": tid, "name": "thread_name", "args": {"name": name}}
            out.append(_json(meta))
        return tid


def _name(record: Record, limit: int | None) -> str:
    """An event's name: the log's expression, or for a loop that left its iterator (which the log
    writes as a comment), ``loop at line 3 left list_iterator#2``."""
    if record[OP] != LEAVE:
        return expression(record, limit)
    name = record[INST][NAME]
    lineno = lineno_at(record[INST], record[LASTI])
    return f"loop at line {lineno} left {name}" if lineno else f"a loop left {name}"


def write_chrome(
    steps: Iterable[tuple[bool, Record]], write: Callable[[str], None], max_repr: int | None = None
) -> int:
    """Write the Chrome trace of `steps`: ``(True, record)`` at an operation's start, ``(False,
    record)`` at its end (a create or collect ends only), in the live log's order. Returns the
    number of events written.
    """
    maker = ChromeEvents(max_repr=max_repr)
    write(HEAD)
    first = True
    count = 0
    for started, record in steps:
        if started:
            maker.start(record)
            continue
        for text in maker.end(record):
            write(text if first else ",\n" + text)
            first = False
            count += 1
    write(TAIL)
    return count


class ChromeSink(Sink):
    """Streams the Chrome trace to a file as operations end; its closing ``]}`` comes at close."""

    wants_start = True

    def __init__(self, stream: IO[str], *, origin_ns: int, max_repr: int | None = None) -> None:
        self._stream = stream
        self._events = ChromeEvents(origin_ns, max_repr)
        self._lock = threading.RLock()
        self._first = True
        stream.write(HEAD)

    def start(self, record: Record) -> None:
        with self._lock:
            self._events.start(record)

    def end(self, record: Record) -> None:
        with self._lock:
            for text in self._events.end(record):
                self._stream.write(text if self._first else ",\n" + text)
                self._first = False

    def close(self, ending: Ending) -> None:
        with self._lock:
            self._stream.write(TAIL)
            self._stream.close()


_OBJECT = re.compile(rb'"traceEvents"\s*:\s*\[')
_ARRAY = re.compile(rb'\[\s*\{[^\[\]{}]*"ph"\s*:')
_HEAD_SIZE = 1 << 13


def is_chrome_trace(stream: IO[bytes]) -> bool:
    """Whether the stream holds a Chrome trace (as far as its first bytes tell), left unread.

    A Chrome trace is a JSON object with ``traceEvents`` or a JSON array of events (objects with a
    ``ph``). A JSON Lines trace's first line is an event or a note, never either.
    """
    peek = getattr(stream, "peek", None)
    if peek is not None:
        head = peek(_HEAD_SIZE)[:_HEAD_SIZE]
    elif stream.seekable():
        at = stream.tell()
        head = stream.read(_HEAD_SIZE)
        stream.seek(at)
    else:
        return False
    head = head.lstrip()
    try:
        data = json.loads(head.split(b"\n", 1)[0])
    except (ValueError, RecursionError):  # a line cut by the head, or not one JSON value
        if head.startswith(b"{"):
            return _OBJECT.search(head) is not None and not head.startswith((b'{"seq"', b'{"note"'))
        return _ARRAY.match(head) is not None
    if isinstance(data, dict):
        return "traceEvents" in data
    return isinstance(data, list) and bool(data) and all(isinstance(e, dict) and "ph" in e for e in data)
