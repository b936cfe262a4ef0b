"""Pure functions from a flat record to text: the REPL-style log and the one-line form.

No I/O, no clock, no environment: everything a rendering depends on is an argument, which is what
makes the golden files possible. A record read back from a trace (`gentrace show`) renders through
the same functions: its reprs are `ReprText` and its exceptions `ExcText`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from gentrace.names import call_name
from gentrace.records import (
    ACLOSE,
    AFTER,
    ANEXT,
    ARG,
    ASEND,
    ASYNC_OPS,
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
    MAIN_THREAD,
    NAME,
    NEXT,
    OP,
    OUTCOME,
    RAISE,
    RETURN,
    SEND,
    TASK,
    THREAD,
    VALUE,
    YIELD,
    Info,
    Record,
    Unfinished,
    lineno_at,
)
from gentrace.reprs import (
    PLAIN_TYPES,
    SMALL_INT,
    ExcText,
    ReprText,
    cut,
    escape_controls,
    exc_line,
    safe_repr,
    short_type_name,
    type_name,
)
from gentrace.styles import PLAIN, Styles

INDENT: Final = "    "
COMMENT_COLUMN: Final = 40

MEMO_SIZE: Final = 4096  # entries in each memo of a renderer; cleared when full

SourceLookup = Callable[[str, int], str]


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
    if cls in PLAIN_TYPES and (cls is not int or -SMALL_INT < value < SMALL_INT):
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
        _, info, _, _, _, value, before, after, depth, thread, task, _, _, lasti, _ = record
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


def closing_lines(
    unfinished: Iterable[Unfinished], cut_after: int | None, options: TextOptions, *, ended: bool = True
) -> list[str]:
    """The comment lines that end a log: instances never started or still suspended, and a cut.

    `ended` says whether the program ran to its end (a trace read back without its ``end`` note
    was killed: its suspended instances are "still suspended when the trace ends").
    """
    s = options.styles
    lines = []
    for item in unfinished:
        name, filename = item.info[NAME], item.info[FILENAME]
        lineno = item.lineno
        where = f"{options.show_path(filename)}:{lineno}" if filename and lineno and lineno > 0 else None
        where = where or "an unknown line"
        if item.state in CREATED_STATES:
            lines.append(f"# never started: {name}, created at {where}")
        else:
            when = "at exit" if ended else "when the trace ends (killed?)"
            lines.append(f"# still suspended {when}: {name}, paused at {where}")
    if cut_after is not None:
        lines.append(f"# max-events: recording stopped after {cut_after} events; the program ran on")
    return [f"{s.comment}{line}{s.reset}" for line in lines]


def one_line(record: Record, max_repr: int | None = 80, *, options: TextOptions | None = None) -> str:
    """The event on one line, without colour: ``averager#1.send(10) → 10.0 · GEN_SUSPENDED · line 17``.

    With `options`, they say how it is written (their `max_repr` replaces `max_repr`).
    """
    if options is None:
        options = TextOptions(max_repr=max_repr)
    max_repr = options.max_repr
    op = record[OP]
    name = record[INST][NAME]
    if op == CREATE:
        return f"{name} created · {annotation(record, options)}"
    if op == COLLECT:
        return f"{name} {annotation(record, options)}"
    shown = result(record, max_repr)
    arrow = f" → {shown}" if shown else ""
    return f"{expression(record, max_repr)}{arrow} · {annotation(record, options)}"
