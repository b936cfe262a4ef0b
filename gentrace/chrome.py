"""The Chrome Trace Event Format (Perfetto, chrome://tracing, speedscope) of a trace.

One ``tid`` per generator instance in creation order, named by a ``thread_name`` metadata event;
``X`` slices for the operations that run the generator's code, ``i`` instants for the others.
Times are written as exact decimals of integer nanoseconds, so nested slices stay inside their
parents. `ChromeSink` streams the JSON Array Format under ``gentrace run --out trace.json``
(its closing ``]`` is optional, so a killed run still loads).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from typing import IO, Any, Final

from gentrace.records import (
    AFTER,
    BEFORE,
    DURATION,
    INST,
    NAME,
    OP,
    OUTCOME,
    SEQ,
    START,
    THREAD,
    Ending,
    Record,
    Sink,
    runs_code,
)
from gentrace.renderers import expression, result

PID: Final = 1


def _us(ns: int) -> str:
    """Integer nanoseconds as an exact decimal number of microseconds."""
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    return f"{sign}{ns // 1000}.{ns % 1000:03d}"


class ChromeEvents:
    """Turns records (in seq order) into Chrome trace events, numbering instances as they appear."""

    def __init__(self, origin_ns: int = 0, max_repr: int | None = 1000) -> None:
        self._tids: dict[str, int] = {}
        self._origin = origin_ns
        self._limit = max_repr

    def events(self, record: Record) -> list[str]:
        """The JSON texts of the Chrome events for one record (a name event first for a new instance)."""
        name = record[INST][NAME]
        out = []
        tid = self._tids.get(name)
        if tid is None:
            tid = self._tids[name] = len(self._tids) + 1
            meta = {"ph": "M", "pid": PID, "tid": tid, "name": "thread_name", "args": {"name": name}}
            out.append(json.dumps(meta, ensure_ascii=True))
        op = record[OP]
        before, after = record[BEFORE], record[AFTER]
        args: dict[str, Any] = {
            "seq": record[SEQ],
            "expr": expression(record, self._limit),
            "result": result(record, self._limit),
            "state": after if before is None or before == after else f"{before} → {after}",
            "thread": record[THREAD],
        }
        ts = _us(record[START] - self._origin)
        head = {"ph": "X", "pid": PID, "tid": tid, "name": f"{op} → {record[OUTCOME]}"}
        if runs_code(record):
            text = json.dumps(head, ensure_ascii=True)[:-1]
            dur = _us(record[DURATION])
            out.append(f'{text}, "ts": {ts}, "dur": {dur}, "args": {json.dumps(args, ensure_ascii=True)}}}')
        else:
            head["ph"] = "i"
            head["s"] = "t"
            text = json.dumps(head, ensure_ascii=True)[:-1]
            out.append(f'{text}, "ts": {ts}, "args": {json.dumps(args, ensure_ascii=True)}}}')
        return out


def write_chrome(records: Iterable[Record], write: Callable[[str], None]) -> int:
    """Write ``{"traceEvents": [...], "displayTimeUnit": "ms"}``; returns the events written."""
    maker = ChromeEvents()
    write('{"traceEvents": [\n')
    first = True
    count = 0
    for record in records:
        for text in maker.events(record):
            write(text if first else ",\n" + text)
            first = False
            count += 1
    write('\n], "displayTimeUnit": "ms"}\n')
    return count


class ChromeSink(Sink):
    """Streams the JSON Array Format to a file as operations complete."""

    def __init__(self, stream: IO[str], *, origin_ns: int, max_repr: int | None = None) -> None:
        self._stream = stream
        self._events = ChromeEvents(origin_ns, max_repr if max_repr is not None else 1000)
        self._lock = threading.RLock()
        self._first = True
        stream.write("[\n")

    def end(self, record: Record) -> None:
        with self._lock:
            for text in self._events.events(record):
                self._stream.write(text if self._first else ",\n" + text)
                self._first = False

    def close(self, ending: Ending) -> None:
        with self._lock:
            self._stream.write("\n]\n")
            self._stream.close()
