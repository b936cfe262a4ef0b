"""The JSON Lines form of a record: one JSON object per line, built by hand for speed.

The schema is `Event.to_dict`'s (documented in ARCHITECTURE.md); `record_to_dict` is what a line
decodes to. Like every renderer, a pure function of the record: no I/O, no clock.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Final

from gentrace.compiled import speedups
from gentrace.records import (
    AFTER,
    AITER,
    ANEXT,
    ARG,
    ASEND,
    ATHROW,
    BEFORE,
    CLOSE,
    COLLECT,
    CREATE,
    DEPTH,
    DURATION,
    ENDED_AFTER,
    FILENAME,
    FUNC,
    INST,
    ITER,
    LASTI,
    LOOP,
    NAME,
    NEXT,
    OP,
    OUTCOME,
    RAISE,
    RETURN,
    SEND,
    SEQ,
    START,
    STATES,
    TASK,
    THREAD,
    THROW,
    VALUE,
    YIELD,
    Default,
    Info,
    Record,
    keeps_position,
    kind_of,
    lineno_at,
)
from gentrace.renderers import MEMO_SIZE, call_args
from gentrace.reprs import (
    PLAIN_REPR_TYPES,
    PLAIN_TYPES,
    SMALL_INT,
    escape_controls,
    exc_info,
    is_exception,
    safe_repr,
)

_js = json.encoder.encode_basestring_ascii


def _json_repr(obj: Any, limit: int | None) -> str:
    """A value as the JSON string of its safe repr, with a fast path for common types."""
    cls = type(obj)
    if cls is int and -SMALL_INT < obj < SMALL_INT:
        return f'"{obj}"'
    if cls in PLAIN_REPR_TYPES:
        return f'"{obj!r}"'
    return _js(safe_repr(obj, limit))


def _arg_json(record: Record, limit: int | None) -> str:
    op = record[OP]
    arg = record[ARG]
    if op == SEND or op == THROW or op == ASEND or op == ATHROW:
        return _json_repr(arg, limit)
    if op == CREATE and arg is not None:
        return _js(call_args(arg, limit))
    if (op == ITER or op == AITER) and arg is not None:
        return _js(escape_controls(arg))  # the source of the iterable
    if type(arg) is Default:
        return _json_repr(arg.value, limit)
    return "null"


_STATE_JSON: Final[dict[str | None, str]] = {None: "null", **{state: f'"{state}"' for state in STATES}}
_VALUE_OUTCOMES: Final = frozenset({YIELD, RETURN, RAISE})
_CLOSED_WHERE: Final = '"filename":null,"lineno":null'
_LOOP_JSON: Final = ',"loop":true'
_STEP_OPS: Final = frozenset({NEXT, ANEXT, SEND, ASEND})


def _plain_json(obj: Any) -> str | None:
    """`_json_repr` of a number (not a huge int), a bool or None; None for anything else."""
    cls = type(obj)
    if cls in PLAIN_TYPES and (cls is not int or -SMALL_INT < obj < SMALL_INT):
        return f'"{obj!r}"'
    return None


class JsonRenderer:
    """Builds the JSON Lines form of records (the schema of `Event.to_dict`) by hand, for speed.

    The parts that repeat — an instance's name and function, where it is paused, a thread's name,
    and for the common step all of the line but its seq, arg, value and times — are built once and
    remembered; the output is a pure function of the record all the same.

    Compiled (`gentrace.compiled`), the lines of the common records — numbers (ints under 2**1024),
    str, bytes, None, bools and small tuples, lists and dicts of them as values and args, no
    exception — are written in C from the same parts, and every other line here.
    """

    __slots__ = ("_compiled", "_heads", "_steps", "_threads", "_wheres", "limit", "origin")

    def __init__(self, origin_ns: int, limit: int | None) -> None:
        self.origin = origin_ns
        self.limit = limit
        self._heads: dict[str, str] = {}
        self._wheres: dict[tuple[str, int], str] = {}
        self._threads: dict[str, str] = {}
        self._steps: dict[tuple[Any, ...], tuple[str, str, str]] = {}
        self._compiled = None if speedups is None else speedups.JsonLines(self, LOOP, Default)

    def batch(self, drain: Callable[[], object]) -> Any:
        """A compiled batch of this renderer's lines (`gentrace._speedups.JsonLines`): its
        ``end(record)`` adds a record's line, calling `drain` first when the batch is due, and
        ``take()`` empties it. None on the pure-Python path."""
        return None if speedups is None else speedups.JsonLines(self, LOOP, Default, drain)

    def _head(self, info: Info) -> str:
        # The memos are bounded: a long-running program makes ever new instances.
        if len(self._heads) >= MEMO_SIZE:
            self._heads.clear()
        head = f'"gen":{_js(info[NAME])},"func":{_js(info[FUNC])},'
        self._heads[info[NAME]] = head
        return head

    def _where(self, info: Info, lasti: int) -> str:
        if len(self._wheres) >= MEMO_SIZE:
            self._wheres.clear()
        lineno = lineno_at(info, lasti)
        filename = "null" if info[FILENAME] is None else _js(info[FILENAME])
        where = f'"filename":{filename},"lineno":{"null" if lineno is None else lineno}'
        self._wheres[(info[NAME], lasti)] = where
        return where

    def __call__(self, record: Record, locals_: Mapping[str, str] | None = None) -> str:
        if locals_ is None and self._compiled is not None:
            return self._compiled.render(record)  # type: ignore[no-any-return]
        return self._render(record, locals_)

    def _render(self, record: Record, locals_: Mapping[str, str] | None = None) -> str:
        # Any record, in Python (the compiled renderer's fallback).
        seq, info, op, arg, outcome, value, before, after, depth, thread, task, start, took, lasti, ended = (
            record
        )
        # Most records are steps that yield a number or None: such a line has no exception type or
        # locals to add, and all but its seq, arg, value and times is the same as the last time this
        # instance paused there (in the same thread and task), so that part is remembered.
        if outcome == YIELD and locals_ is None and op in _STEP_OPS:
            value_json = _plain_json(value)
            arg_json = "null" if op == NEXT or op == ANEXT else _plain_json(arg)
            if value_json is not None and arg_json is not None:
                key = (info[NAME], op, before, after, depth, thread, task, lasti, arg is LOOP)
                lead, tail, where = self._steps.get(key) or self._step_parts(info, key)
                return (
                    f'{{"seq":{seq},{lead}{arg_json},"outcome":"yield","value":{value_json}{tail}'
                    f'{start - self.origin}e-9,"duration":{took}e-9,{where},"ended_after":{ended}}}'
                )
        return self._line(record, locals_)

    def _step_parts(self, info: Info, key: tuple[Any, ...]) -> tuple[str, str, str]:
        # A step's line before its arg, from its states to its time, and from its filename on.
        if len(self._steps) >= MEMO_SIZE:
            self._steps.clear()
        parts = self._steps[key] = self._parts(info, key)
        return parts

    def _parts(self, info: Info, key: tuple[Any, ...]) -> tuple[str, str, str]:
        # The parts of any record's line, its outcome aside (`_step_parts`): the compiled
        # renderer's, which remembers them itself.
        name, op, before, after, depth, thread, task, lasti, loop = key
        head = self._heads.get(name) or self._head(info)
        if not keeps_position(after):
            where = _CLOSED_WHERE
        else:
            where = self._wheres.get((name, lasti)) or self._where(info, lasti)
        if loop:
            where += _LOOP_JSON
        return (
            f'{head}"kind":"{kind_of(after)}","op":"{op}","arg":',
            f',"state_before":{_STATE_JSON[before]},"state_after":"{after}","depth":{depth},'
            f'"thread":{_js(thread)},"task":{"null" if task is None else _js(task)},"time":',
            where,
        )

    def _line(self, record: Record, locals_: Mapping[str, str] | None) -> str:
        # Any record, field by field.
        info: Info = record[INST]
        name = info[NAME]
        head = self._heads.get(name) or self._head(info)
        after = record[AFTER]
        if not keeps_position(after):
            where = _CLOSED_WHERE
        else:
            lasti = record[LASTI]
            where = self._wheres.get((name, lasti)) or self._where(info, lasti)
        thread = record[THREAD]
        thread_json = self._threads.get(thread)
        if thread_json is None:
            if len(self._threads) >= MEMO_SIZE:
                self._threads.clear()
            thread_json = self._threads[thread] = _js(thread)
        op = record[OP]
        outcome = record[OUTCOME]
        limit = self.limit
        value = record[VALUE]
        cls = type(value)
        if op == ITER or op == AITER:
            value_json = "true" if value is True else "false"  # whether it gave the iterable itself
        elif outcome not in _VALUE_OUTCOMES:
            value_json = "null"
        elif cls is int and -SMALL_INT < value < SMALL_INT:
            value_json = f'"{value}"'
        else:
            value_json = _json_repr(value, limit)
        if op == CLOSE or op == COLLECT:
            arg_json = "null"
        else:
            arg_json = _arg_json(record, limit)
        task = record[TASK]
        line = (
            f'{{"seq":{record[SEQ]},{head}"kind":"{kind_of(after)}","op":"{op}","arg":{arg_json},"outcome":"{outcome}",'
            f'"value":{value_json},"state_before":{_STATE_JSON[record[BEFORE]]},"state_after":"{after}",'
            f'"depth":{record[DEPTH]},"thread":{thread_json},"task":{"null" if task is None else _js(task)},'
            f'"time":{record[START] - self.origin}e-9,"duration":{record[DURATION]}e-9,{where},'
            f'"ended_after":{record[ENDED_AFTER]}'
        )
        # An exception (or exception class) gets its type and message, wherever it appears: raised,
        # but also yielded, returned, sent or thrown.
        if outcome == RAISE or (cls is not int and outcome in _VALUE_OUTCOMES and is_exception(value)):
            line += f',"value_exc":{json.dumps(exc_info(value, limit), ensure_ascii=True)}'
        if op == THROW or op == ATHROW or op == SEND or op == ASEND:
            arg = record[ARG]
            if type(arg) is not int and is_exception(arg):
                line += f',"arg_exc":{json.dumps(exc_info(arg, limit), ensure_ascii=True)}'
        if record[ARG] is LOOP:
            line += _LOOP_JSON
        if locals_ is not None:
            line += f',"locals":{json.dumps(dict(locals_), ensure_ascii=True)}'
        return line + "}"


def json_line(
    record: Record,
    origin_ns: int,
    limit: int | None,
    locals_: Mapping[str, str] | None = None,
) -> str:
    """The JSON Lines form of one record (see `JsonRenderer`)."""
    return JsonRenderer(origin_ns, limit)(record, locals_)


def record_to_dict(record: Record, origin_ns: int, limit: int | None) -> dict[str, Any]:
    """The JSON-safe dict of a record: exactly what its JSON line decodes to."""
    return json.loads(json_line(record, origin_ns, limit))  # type: ignore[no-any-return]
