"""Pure functions from a flat record to text: the REPL-style log, the one-line form, JSON.

No I/O, no clock, no environment: everything a rendering depends on is an argument, which is what
makes the golden files possible. A record read back from a trace (`gentrace show`) renders through
the same functions: its reprs are `ReprText` and its exceptions `ExcText`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from gentrace.events import (
    ACLOSE,
    AFTER,
    ANEXT,
    ARG,
    ASEND,
    ASYNC_OPS,
    ATHROW,
    BEFORE,
    CLOSE,
    CLOSED_STATES,
    COLLECT,
    CREATE,
    CREATED_STATES,
    DEPTH,
    DURATION,
    FILENAME,
    FUNC,
    INST,
    LASTI,
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
    Info,
    Record,
    lineno_at,
)
from gentrace.reprs import ReprText, cut, escape_controls, safe_repr, safe_str, short_type_name, type_name
from gentrace.styles import PLAIN, Styles

INDENT: Final = "    "
COMMENT_COLUMN: Final = 40
MAIN_THREAD: Final = "MainThread"

# Numbers (not huge ints, whose repr may be cut), bools and None: their repr needs no escaping.
_PLAIN_REPR_TYPES: Final = (float, bool, type(None))
_PLAIN_TYPES: Final = frozenset({int, *_PLAIN_REPR_TYPES})
_SMALL_INT: Final = 1 << 62
MEMO_SIZE: Final = 4096  # entries in each memo of a renderer; cleared when full

SourceLookup = Callable[[str, int], str]
_js = json.encoder.encode_basestring_ascii


class ExcText:
    """An exception (or exception class) read back from a trace: its type name, message and repr."""

    __slots__ = ("is_class", "message", "text", "type")

    def __init__(self, type: str, message: str | None, text: str) -> None:
        self.type = type
        self.message = message
        self.text = text
        self.is_class = text.startswith("<class ")

    def __repr__(self) -> str:
        return self.text


def is_exception(obj: Any) -> bool:
    """Whether `obj` is an exception or an exception class (it gets ``*_exc`` in JSON)."""
    return isinstance(obj, (BaseException, ExcText)) or (
        isinstance(obj, type) and issubclass(obj, BaseException)
    )


def exc_info(obj: Any) -> dict[str, str | None]:
    """``{"type": "module.QualName", "message": str(exc) or None}`` for an exception or class."""
    if isinstance(obj, ExcText):
        return {"type": obj.type, "message": obj.message}
    if isinstance(obj, type):
        return {"type": type_name(obj), "message": None}
    return {"type": type_name(type(obj)), "message": safe_str(obj) or None}


def exc_line(obj: Any, limit: int | None) -> str:
    """An exception as a traceback's last line shows it: ``ValueError: bad``."""
    info = exc_info(obj)
    name = short_type_name(info["type"] or "?")
    message = info["message"]
    return cut(f"{name}: {message}" if message else name, limit)


def call_args(arg: Any, limit: int | None) -> str:
    """The argument list of a create's call, ``(args, kwargs)``, as source text."""
    if isinstance(arg, str):
        return escape_controls(arg)
    if not isinstance(arg, tuple) or len(arg) != 2:
        return ""
    args, kwargs = arg
    parts = [_arg_text(a, limit) for a in args]
    parts.extend(f"{k}={_arg_text(v, limit)}" for k, v in kwargs.items())
    return cut(", ".join(parts), limit)


def _arg_text(arg: Any, limit: int | None) -> str:
    # A traced generator passed on (a pipeline's stages) is written by its name: `scaled(readings#1, 1)`.
    if isinstance(getattr(type(arg), "gentrace_name", None), property):
        return escape_controls(arg.gentrace_name)
    return safe_repr(arg, limit)


def call_name(func: str) -> str:
    """The name a call to the generator function is written with: its qualname."""
    return func.rpartition(":")[2].replace("<locals>.", "")


def expression(record: Record, limit: int | None) -> str:
    """The Python expression that performed the operation: ``averager#1.send(10)``."""
    info: Info = record[INST]
    op = record[OP]
    name = info[NAME]
    if op == NEXT:
        return f"next({name})"
    if op in ASYNC_OPS:
        return _await_expression(record, name, limit)
    if op == SEND:
        return f"{name}.send({safe_repr(record[ARG], limit)})"
    if op == CLOSE:
        return f"{name}.close()"
    if op == CREATE:
        arg = record[ARG]
        if arg is None:
            return f"{name} = gentrace.wrap(...)"
        return f"{name} = {call_name(info[FUNC])}({call_args(arg, limit)})"
    if op == COLLECT:
        return f"del {name}  # collected"
    return f"{name}.throw({_thrown(record[ARG], limit)})"


def _await_expression(record: Record, name: str, limit: int | None) -> str:
    op = record[OP]
    if op == ANEXT:
        return f"await anext({name})"
    if op == ASEND:
        return f"await {name}.asend({safe_repr(record[ARG], limit)})"
    if op == ACLOSE:
        return f"await {name}.aclose()"
    return f"await {name}.athrow({_thrown(record[ARG], limit)})"


def _thrown(arg: Any, limit: int | None) -> str:
    """What was thrown in, as written in the call: a class by its name, an instance by its repr."""
    if isinstance(arg, type):
        return short_type_name(type_name(arg))
    if isinstance(arg, ExcText) and arg.is_class:
        return short_type_name(arg.type)
    return safe_repr(arg, limit)


def result(record: Record, limit: int | None) -> str:
    """The result as the REPL would print it (a None result is shown, unlike the REPL)."""
    outcome = record[OUTCOME]
    if outcome == YIELD:
        return safe_repr(record[VALUE], limit)
    if outcome == RETURN:
        value = record[VALUE]
        if record[OP] in ASYNC_OPS:
            return "StopAsyncIteration"
        if value is None or (type(value) is ReprText and value == "None"):
            return "StopIteration"
        return f"StopIteration: {safe_repr(value, limit)}"
    if outcome == RAISE:
        return exc_line(record[VALUE], limit)
    return ""


def _state_change(before: str | None, after: str) -> str:
    return after if before == after or before is None else f"{before} → {after}"


@dataclass(frozen=True, slots=True)
class TextOptions:
    """Everything the REPL-style text depends on, settled when a sink is made."""

    styles: Styles = PLAIN
    max_repr: int | None = 80
    origin_ns: int = 0
    timings: bool = False
    source: SourceLookup | None = None
    show_path: Callable[[str], str] = str
    locals: Mapping[str, str] | None = field(default=None)

    def with_locals(self, loc: Mapping[str, str]) -> TextOptions:
        """These options, showing the local variables `loc` (one record's)."""
        return TextOptions(
            styles=self.styles,
            max_repr=self.max_repr,
            origin_ns=self.origin_ns,
            timings=self.timings,
            source=self.source,
            show_path=self.show_path,
            locals=loc,
        )


def _where(record: Record, options: TextOptions, changed: bool) -> str:
    info: Info = record[INST]
    if record[AFTER] in CLOSED_STATES or record[AFTER] in CREATED_STATES:
        return ""
    lineno = lineno_at(info, record[LASTI])
    if lineno is None:
        return ""
    text = f" · paused at line {lineno}" if changed else f" · line {lineno}"
    if options.source is not None and info[FILENAME]:
        line = options.source(info[FILENAME], lineno)
        if line:
            text += f": {escape_controls(line)}"
    return text


def annotation(record: Record, options: TextOptions) -> str:
    """What the comment after a result says: the outcome, the state change, where it is paused."""
    op = record[OP]
    outcome = record[OUTCOME]
    before, after = record[BEFORE], record[AFTER]
    info: Info = record[INST]
    if op == CREATE:
        lineno = lineno_at(info, record[LASTI])
        site = f"{options.show_path(info[FILENAME])}:{lineno} · " if info[FILENAME] and lineno else ""
        text = f"{site}{after}"
    elif op == COLLECT:
        text = f"collected without close() · {_state_change(before, after)}"
    else:
        text = _state_change(before, after)
        if outcome == RETURN:
            value = record[VALUE]
            shown = "" if value is None else f" {safe_repr(value, options.max_repr)}"
            text = f"returned{shown} · {text}"
        elif outcome == RAISE:
            text = f"raised · {text}"
        text += _where(record, options, before != after)
    thread = record[THREAD]
    if thread != MAIN_THREAD:
        text += f" · thread {escape_controls(thread)}"
    if record[TASK] is not None:
        text += f" · task {escape_controls(record[TASK])}"
    if options.timings and op not in (CREATE, COLLECT):
        text += f" · {record[DURATION] / 1000:.1f} µs"
    return text


def start_line(record: Record, options: TextOptions) -> str:
    """The ``>>> `` line written when an operation starts."""
    s = options.styles
    indent = INDENT * record[DEPTH]
    return f"{indent}{s.prompt}>>>{s.reset} {s.expr}{expression(record, options.max_repr)}{s.reset}"


def repeat_line(record: Record, options: TextOptions) -> str:
    """The ``... `` line that repeats an operation whose result comes after other lines."""
    s = options.styles
    indent = INDENT * record[DEPTH]
    return f"{indent}{s.prompt}...{s.reset} {s.expr}{expression(record, options.max_repr)}{s.reset}"


def padded(indent: str, shown: str, style: str, comment: str, s: Styles) -> str:
    """A result line: the result, then the (already styled) comment from the comment column on."""
    pad = max(COMMENT_COLUMN - len(indent) - len(shown), 2)
    body = f"{style}{shown}{s.reset}" if shown else ""
    return f"{indent}{body}{' ' * pad}{comment}"


def _with_comment(indent: str, shown: str, style: str, comment: str, s: Styles) -> str:
    return padded(indent, shown, style, f"{s.comment}# {comment}{s.reset}", s)


def end_line(record: Record, options: TextOptions) -> str:
    """The result line written when an operation ends, with its annotation."""
    s = options.styles
    indent = INDENT * record[DEPTH]
    shown = result(record, options.max_repr)
    style = s.error if record[OUTCOME] == RAISE else s.value
    line = _with_comment(indent, shown, style, annotation(record, options), s)
    if options.locals is not None:
        pairs = ", ".join(f"{k}={v}" for k, v in options.locals.items())
        line += f"\n{indent}{s.comment}# locals: {pairs or '(none)'}{s.reset}"
    return line


def single_line(record: Record, options: TextOptions) -> str:
    """A create or collect, which has no separate start and end: one line."""
    s = options.styles
    indent = INDENT * record[DEPTH]
    if record[OP] == CREATE:
        return (
            f"{indent}{s.prompt}>>>{s.reset} {s.expr}{expression(record, options.max_repr)}{s.reset}"
            f"  {s.comment}# {annotation(record, options)}{s.reset}"
        )
    return f"{indent}{s.comment}# {record[INST][NAME]} {annotation(record, options)}{s.reset}"


# What a step's lines are made of, from what is remembered (`TextSteps`): ops whose `>>> ` line
# is the same every time, and those whose line differs only by the value sent.
_FIXED_STARTS: Final = frozenset({NEXT, ANEXT, CLOSE, ACLOSE})
_SEND_CALLS: Final = {SEND: "{}.send(", ASEND: "await {}.asend("}


def _shown(value: Any, limit: int | None) -> str:
    """`safe_repr(value, limit)`, quicker for a number (not a huge int), a bool or None."""
    cls = type(value)
    if cls in _PLAIN_TYPES and (cls is not int or -_SMALL_INT < value < _SMALL_INT):
        text = repr(value)  # printable, and too short to cut but for a tiny limit
        if limit is None or len(text) <= limit:
            return text
    return safe_repr(value, limit)


class TextSteps:
    """The REPL-style lines of the common steps, from parts remembered per instance and place.

    A next, send or close (or its async form) starts with a ``>>> `` line that differs from the
    instance's last one at that depth at most by the value sent; a yield ends with a result line
    whose comment depends only on the instance, its states, where it paused and who ran it, not on
    the value. Those parts are built once (bounded by MEMO_SIZE); every line is the one
    `start_line` and `end_line` make all the same.
    """

    __slots__ = ("_ends", "_fixed", "_limit", "_options", "_sends")

    def __init__(self, options: TextOptions) -> None:
        self._options = options
        self._limit = options.max_repr
        self._fixed: dict[tuple[str, str, int], str] = {}
        self._sends: dict[tuple[str, str, int], tuple[str, str]] = {}
        self._ends: dict[tuple[Any, ...], tuple[str, str, int, str]] = {}

    def start(self, record: Record) -> str:
        """`start_line` and its newline."""
        op = record[OP]
        if op in _SEND_CALLS:
            key = (record[INST][NAME], op, record[DEPTH])
            head, tail = self._sends.get(key) or self._send_parts(key)
            return f"{head}{_shown(record[ARG], self._limit)}{tail}"
        if op in _FIXED_STARTS:
            key = (record[INST][NAME], op, record[DEPTH])
            line = self._fixed.get(key)
            if line is None:
                if len(self._fixed) >= MEMO_SIZE:
                    self._fixed.clear()
                line = self._fixed[key] = start_line(record, self._options) + "\n"
            return line
        return start_line(record, self._options) + "\n"

    def _send_parts(self, key: tuple[str, str, int]) -> tuple[str, str]:
        # The line before the value sent, and after it.
        if len(self._sends) >= MEMO_SIZE:
            self._sends.clear()
        name, op, depth = key
        s = self._options.styles
        head = f"{INDENT * depth}{s.prompt}>>>{s.reset} {s.expr}{_SEND_CALLS[op].format(name)}"
        parts = self._sends[key] = (head, f"){s.reset}\n")
        return parts

    def yielded(self, record: Record) -> str:
        """`end_line` and its newline, for a step (not a create or collect) that yielded.

        The options have neither timings nor locals.
        """
        _, info, _, _, _, value, before, after, depth, thread, task, _, _, lasti = record
        key = (info[NAME], before, after, lasti, thread, task, depth)
        lead, reset, width, comment = self._ends.get(key) or self._end_parts(record, key)
        shown = _shown(value, self._limit)
        if not shown:  # `padded` styles no empty value
            return end_line(record, self._options) + "\n"
        return f"{lead}{(shown + reset).ljust(width)}{comment}"

    def _end_parts(self, record: Record, key: tuple[Any, ...]) -> tuple[str, str, int, str]:
        # Before the value, after it, the width the value and its reset are padded to (as `padded`
        # does: the comment at COMMENT_COLUMN, at least two spaces after the value), and the rest.
        if len(self._ends) >= MEMO_SIZE:
            self._ends.clear()
        s = self._options.styles
        indent = INDENT * record[DEPTH]
        comment = f"  {s.comment}# {annotation(record, self._options)}{s.reset}\n"
        width = COMMENT_COLUMN - len(indent) - 2 + len(s.reset)
        parts = self._ends[key] = (indent + s.value, s.reset, width, comment)
        return parts


def one_line(record: Record, max_repr: int | None = 80) -> str:
    """The event on one line, without colour: ``averager#1.send(10) → 10.0 · GEN_SUSPENDED · line 17``."""
    options = TextOptions(max_repr=max_repr)
    op = record[OP]
    name = record[INST][NAME]
    if op == CREATE:
        return f"{name} created · {annotation(record, options)}"
    if op == COLLECT:
        return f"{name} {annotation(record, options)}"
    shown = result(record, max_repr)
    arrow = f" → {shown}" if shown else ""
    return f"{expression(record, max_repr)}{arrow} · {annotation(record, options)}"


# -- JSON ---------------------------------------------------------------------------------------


def _json_repr(obj: Any, limit: int | None) -> str:
    """A value as the JSON string of its safe repr, with a fast path for common types."""
    cls = type(obj)
    if cls is int and -_SMALL_INT < obj < _SMALL_INT:
        return f'"{obj}"'
    if cls in _PLAIN_REPR_TYPES:
        return f'"{obj!r}"'
    return _js(safe_repr(obj, limit))


def _arg_json(record: Record, limit: int | None) -> str:
    op = record[OP]
    if op == SEND or op == THROW or op == ASEND or op == ATHROW:
        return _json_repr(record[ARG], limit)
    if op == CREATE and record[ARG] is not None:
        return _js(call_args(record[ARG], limit))
    return "null"


def _value_json(record: Record, limit: int | None) -> str:
    if record[OUTCOME] in (YIELD, RETURN, RAISE):
        return _json_repr(record[VALUE], limit)
    return "null"


_STATE_JSON: Final[dict[str | None, str]] = {None: "null", **{state: f'"{state}"' for state in STATES}}
_VALUE_OUTCOMES: Final = frozenset({YIELD, RETURN, RAISE})
_CLOSED_WHERE: Final = '"filename":null,"lineno":null'
_STEP_OPS: Final = frozenset({NEXT, ANEXT, SEND, ASEND})


def _plain_json(obj: Any) -> str | None:
    """`_json_repr` of a number (not a huge int), a bool or None; None for anything else."""
    cls = type(obj)
    if cls in _PLAIN_TYPES and (cls is not int or -_SMALL_INT < obj < _SMALL_INT):
        return f'"{obj!r}"'
    return None


def seconds_json(ns: int) -> str:
    """Integer nanoseconds as a JSON number of seconds, without float formatting (``1500e-9``)."""
    return f"{ns}e-9"


class JsonRenderer:
    """Builds the JSON Lines form of records (the schema of `Event.to_dict`) by hand, for speed.

    The parts that repeat — an instance's name and function, where it is paused, a thread's name,
    and for the common step all of the line but its seq, arg, value and times — are built once and
    remembered; the output is a pure function of the record all the same.
    """

    __slots__ = ("_heads", "_steps", "_threads", "_wheres", "limit", "origin")

    def __init__(self, origin_ns: int, limit: int | None) -> None:
        self.origin = origin_ns
        self.limit = limit
        self._heads: dict[str, str] = {}
        self._wheres: dict[tuple[str, int], str] = {}
        self._threads: dict[str, str] = {}
        self._steps: dict[tuple[Any, ...], tuple[str, str, str]] = {}

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
        seq, info, op, arg, outcome, value, before, after, depth, thread, task, start, took, lasti = record
        # Most records are steps that yield a number or None: such a line has no exception type or
        # locals to add, and all but its seq, arg, value and times is the same as the last time this
        # instance paused there (in the same thread and task), so that part is remembered.
        if outcome == YIELD and locals_ is None and op in _STEP_OPS:
            value_json = _plain_json(value)
            arg_json = "null" if op == NEXT or op == ANEXT else _plain_json(arg)
            if value_json is not None and arg_json is not None:
                key = (info[NAME], op, before, after, depth, thread, task, lasti)
                lead, tail, where = self._steps.get(key) or self._step_parts(info, key)
                return (
                    f'{{"seq":{seq},{lead}{arg_json},"outcome":"yield","value":{value_json}{tail}'
                    f'{start - self.origin}e-9,"duration":{took}e-9,{where}}}'
                )
        return self._line(record, locals_)

    def _step_parts(self, info: Info, key: tuple[Any, ...]) -> tuple[str, str, str]:
        # A step's line before its arg, from its states to its time, and from its filename on.
        if len(self._steps) >= MEMO_SIZE:
            self._steps.clear()
        name, op, before, after, depth, thread, task, lasti = key
        head = self._heads.get(name) or self._head(info)
        if after in CLOSED_STATES:
            where = _CLOSED_WHERE
        else:
            where = self._wheres.get((name, lasti)) or self._where(info, lasti)
        parts = self._steps[key] = (
            f'{head}"op":"{op}","arg":',
            f',"state_before":{_STATE_JSON[before]},"state_after":"{after}","depth":{depth},'
            f'"thread":{_js(thread)},"task":{"null" if task is None else _js(task)},"time":',
            where,
        )
        return parts

    def _line(self, record: Record, locals_: Mapping[str, str] | None) -> str:
        # Any record, field by field.
        info: Info = record[INST]
        name = info[NAME]
        head = self._heads.get(name) or self._head(info)
        after = record[AFTER]
        if after in CLOSED_STATES:
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
        if outcome not in _VALUE_OUTCOMES:
            value_json = "null"
        elif cls is int and -_SMALL_INT < value < _SMALL_INT:
            value_json = f'"{value}"'
        else:
            value_json = _json_repr(value, limit)
        if op == NEXT or op == CLOSE or op == COLLECT:
            arg_json = "null"
        else:
            arg_json = _arg_json(record, limit)
        task = record[TASK]
        line = (
            f'{{"seq":{record[SEQ]},{head}"op":"{op}","arg":{arg_json},"outcome":"{outcome}",'
            f'"value":{value_json},"state_before":{_STATE_JSON[record[BEFORE]]},"state_after":"{after}",'
            f'"depth":{record[DEPTH]},"thread":{thread_json},"task":{"null" if task is None else _js(task)},'
            f'"time":{record[START] - self.origin}e-9,"duration":{record[DURATION]}e-9,{where}'
        )
        # An exception (or exception class) gets its type and message, wherever it appears: raised,
        # but also yielded, returned, sent or thrown.
        if outcome == RAISE or (cls is not int and outcome in _VALUE_OUTCOMES and is_exception(value)):
            line += f',"value_exc":{json.dumps(exc_info(value), ensure_ascii=True)}'
        if op == THROW or op == ATHROW or op == SEND or op == ASEND:
            arg = record[ARG]
            if type(arg) is not int and is_exception(arg):
                line += f',"arg_exc":{json.dumps(exc_info(arg), ensure_ascii=True)}'
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
