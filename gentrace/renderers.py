"""Pure functions from a flat record to text: the REPL-style log and the one-line form.

No I/O, no clock, no environment: everything a rendering depends on is an argument, which is what
makes the golden files possible. A record read back from a trace (`gentrace show`) renders through
the same functions: its reprs are `ReprText` and its exceptions `ExcText`.

The layout: a result's comment starts at the comment column, counted in the columns a terminal
shows (a wide character takes two, a combining mark none). In a file or a pipe that column is 40 and
reprs are cut at `max_repr`; on a terminal (`TextOptions.width`) the column follows its width
(`comment_column`) and, unless a `max_repr` was asked for (`TextOptions.fit`), each repr is cut to
the room its line leaves, so that lines wrap as little as the width allows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, cast

from gentrace.names import call_name
from gentrace.records import (
    ACLOSE,
    AFTER,
    AITER,
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
    INSTANT_OPS,
    ITER,
    ITER_EXHAUSTED,
    LASTI,
    LEAVE,
    LOOP,
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
    kind_of,
    lineno_at,
)
from gentrace.reprs import (
    PLAIN_TYPES,
    SMALL_INT,
    ExcText,
    ReprText,
    cut,
    display_width,
    escape_controls,
    exc_line,
    safe_repr,
    short_type_name,
    type_name,
)
from gentrace.styles import PLAIN, Styles

INDENT: Final = "    "
COMMENT_COLUMN: Final = 40  # in a file or a pipe; a terminal's follows its width
MIN_FIT: Final = 10  # columns a repr keeps when its line has less room: shorter says too little

MEMO_SIZE: Final = 4096  # entries in each memo of a renderer; cleared when full

SourceLookup = Callable[[str, int], str]


def comment_column(width: int | None) -> int:
    """The column where a result's comment starts: 2/5 of a terminal's `width`, between 16 and 80.

    ``comment_column(80) == 32``; a file or a pipe (`width` None) keeps `COMMENT_COLUMN`, 40.
    """
    if width is None:
        return COMMENT_COLUMN
    return min(max(width * 2 // 5, 16), 80)


def call_args(arg: Any, limit: int | None, *, columns: bool = False) -> str:
    """The argument list of a create's call, ``(args, kwargs)``, as source text."""
    if isinstance(arg, str):
        return escape_controls(arg)
    if not isinstance(arg, tuple) or len(arg) != 2:
        return ""
    args, kwargs = arg
    parts = [_arg_text(a, limit, columns) for a in args]
    parts.extend(f"{k}={_arg_text(v, limit, columns)}" for k, v in kwargs.items())
    return cut(", ".join(parts), limit, columns=columns)


def _arg_text(arg: Any, limit: int | None, columns: bool) -> str:
    # A traced generator passed on (a pipeline's stages) is written by its name: `scaled(readings#1, 1)`.
    if isinstance(getattr(type(arg), "gentrace_name", None), property):
        return escape_controls(arg.gentrace_name)
    return safe_repr(arg, limit, columns=columns)


def expression(record: Record, limit: int | None, *, columns: bool = False) -> str:
    """The Python expression that performed the operation: ``averager#1.send(10)``.

    Its reprs are cut to `limit` characters, or with `columns` to `limit` columns of a terminal.
    """
    info: Info = record[INST]
    op = record[OP]
    name = info[NAME]
    if op == NEXT:
        arg = record[ARG]
        if arg is None or arg is LOOP:
            return f"next({name})"
        return f"next({name}, {safe_repr(arg, limit, columns=columns)})"
    if op == ITER or op == AITER:
        source = record[ARG]
        if source is None:
            return f"{name} = gentrace.wrap(...)"
        shown = cut(escape_controls(source), limit, columns=columns)
        return f"{name} = {'iter' if op == ITER else 'aiter'}({shown})"
    if op == LEAVE:
        return ""
    if op in ASYNC_OPS:
        return _await_expression(record, name, limit, columns)
    if op == SEND:
        return f"{name}.send({safe_repr(record[ARG], limit, columns=columns)})"
    if op == CLOSE:
        return f"{name}.close()"
    if op == CREATE:
        arg = record[ARG]
        if arg is None:
            return f"{name} = gentrace.wrap(...)"
        function = call_name(info[FUNC])
        if function.endswith("<genexpr>") and isinstance(arg, str):  # its source, as written
            return f"{name} = {cut(escape_controls(arg), limit, columns=columns)}"
        return f"{name} = {function}({call_args(arg, limit, columns=columns)})"
    if op == COLLECT:
        return f"del {name}  # collected"
    return f"{name}.throw({_thrown(record[ARG], limit, columns)})"


def _await_expression(record: Record, name: str, limit: int | None, columns: bool) -> str:
    op = record[OP]
    if op == ANEXT:
        return f"await anext({name})"
    if op == ASEND:
        return f"await {name}.asend({safe_repr(record[ARG], limit, columns=columns)})"
    if op == ACLOSE:
        return f"await {name}.aclose()"
    return f"await {name}.athrow({_thrown(record[ARG], limit, columns)})"


def _thrown(arg: Any, limit: int | None, columns: bool) -> str:
    """What was thrown in, as written in the call: a class by its name, an instance by its repr."""
    if isinstance(arg, type):
        return short_type_name(type_name(arg))
    if isinstance(arg, ExcText) and arg.is_class:
        return short_type_name(arg.type)
    return safe_repr(arg, limit, columns=columns)


_STOP: Final = "StopIteration: "


def result(record: Record, limit: int | None, *, fitted: bool = False) -> str:
    """The result as the REPL would print it (a None result is shown, unlike the REPL).

    Its repr is cut to `limit` characters; `fitted`, the whole result to `limit` columns (a
    repr after ``StopIteration: `` keeps MIN_FIT columns however small `limit` is).
    """
    outcome = record[OUTCOME]
    if outcome == YIELD:
        return safe_repr(record[VALUE], limit, columns=fitted)
    if outcome == RETURN:
        value = record[VALUE]
        if record[OP] in ASYNC_OPS:
            return "StopAsyncIteration"
        arg = record[ARG]
        if arg is not None and arg is not LOOP and record[OP] == NEXT and record[AFTER] == ITER_EXHAUSTED:
            return safe_repr(value, limit, columns=fitted)  # next(it, default) gave the default
        if value is None or (type(value) is ReprText and value == "None"):
            return "StopIteration"
        if fitted and limit is not None:
            return f"{_STOP}{safe_repr(value, max(limit - len(_STOP), MIN_FIT), columns=True)}"
        return f"{_STOP}{safe_repr(value, limit)}"
    if outcome == RAISE:
        return exc_line(record[VALUE], limit, columns=fitted)
    return ""


def _state_change(before: str | None, after: str) -> str:
    return after if before == after or before is None else f"{before} → {after}"


@dataclass(frozen=True, slots=True)
class TextOptions:
    """Everything the REPL-style text depends on, settled when a sink is made.

    `width` is a terminal's columns (None for a file or a pipe): the comment column follows it.
    With `fit` (a terminal, and no `max_repr` asked for), each repr on a line is cut to the room the
    line leaves, and the source line in a comment to the width; `max_repr` still cuts the rest.
    """

    styles: Styles = PLAIN
    max_repr: int | None = 80
    origin_ns: int = 0
    timings: bool = False
    source: SourceLookup | None = None
    show_path: Callable[[str], str] = str
    locals: Mapping[str, str] | None = field(default=None)
    width: int | None = None
    fit: bool = False

    def __post_init__(self) -> None:
        if self.fit and self.width is None:
            raise ValueError("TextOptions(fit=True) needs the terminal's width")

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
            width=self.width,
            fit=self.fit,
        )


def _result_room(indent: str, options: TextOptions) -> int:
    """The columns a fitted result has before the two spaces that precede its comment."""
    return max(comment_column(options.width) - len(indent) - 2, MIN_FIT)


def _expression_limit(record: Record, options: TextOptions, used: int) -> int | None:
    """How far the reprs of an expression are cut, on a line of which `used` columns are taken.

    `max_repr`; fitted, the columns the line leaves after the rest of the expression.
    """
    if not options.fit:
        return options.max_repr
    rest = display_width(expression(record, 0, columns=True))  # the expression without its reprs
    return max(cast(int, options.width) - used - rest, MIN_FIT)


def _where(record: Record, options: TextOptions, changed: bool) -> tuple[str, str]:
    """Where the instance is paused (`` · line 7``), and the source of that line (escaped)."""
    info: Info = record[INST]
    if record[AFTER] in CLOSED_STATES or record[AFTER] in CREATED_STATES:
        return "", ""
    lineno = lineno_at(info, record[LASTI])
    if lineno is None:
        return "", ""
    text = f" · paused at line {lineno}" if changed else f" · line {lineno}"
    if options.source is not None and info[FILENAME]:
        line = options.source(info[FILENAME], lineno)
        if line:
            return text, escape_controls(line)
    return text, ""


def annotation(record: Record, options: TextOptions) -> str:
    """What the comment after a result says: the outcome, the state change, where it is paused.

    Fitted to a terminal, the one part that may be long (the value returned, or the source of the
    line where the instance paused) is cut to what the width leaves of the comment.
    """
    op = record[OP]
    outcome = record[OUTCOME]
    before, after = record[BEFORE], record[AFTER]
    info: Info = record[INST]
    # The comment is `head`, the part a width may cut (`value`'s repr or the source `line`), `tail`.
    value: Any = None
    line = tail = ""
    if op == ITER or op == AITER or kind_of(after) == "iterator":  # (iter() of a generator too)
        head, line, tail = _iterator_note(record, options)
    elif op == CREATE:
        lineno = lineno_at(info, record[LASTI])
        site = f"{options.show_path(info[FILENAME])}:{lineno} · " if info[FILENAME] and lineno else ""
        head = f"{site}{after}"
    elif op == COLLECT:
        head = f"collected without close() · {_state_change(before, after)}"
    else:
        head = _state_change(before, after)
        where, line = _where(record, options, before != after)
        if outcome == RETURN and record[VALUE] is not None:
            value = record[VALUE]
            head, tail = "returned ", f" · {head}{where}{': ' + line if line else ''}"
            line = ""
        else:
            if outcome == RETURN:
                head = f"returned · {head}"
            elif outcome == RAISE:
                head = f"raised · {head}"
            head += f"{where}: " if line else where
    thread = record[THREAD]
    if thread != MAIN_THREAD:
        tail += f"{' · ' if head or line else ''}thread {escape_controls(thread)}"
    if record[TASK] is not None:
        tail += f"{' · ' if head or line or tail else ''}task {escape_controls(record[TASK])}"
    if options.timings and op not in INSTANT_OPS:
        tail += f"{' · ' if head or line or tail else ''}{record[DURATION] / 1000:.1f} µs"
    if not options.fit:
        return f"{head}{'' if value is None else safe_repr(value, options.max_repr)}{line}{tail}"
    if value is None and not line:
        return head + tail
    # A result line's comment starts at the comment column, or two spaces after a deeper indent;
    # an iter()'s, two spaces after its `>>>` line.
    if op == ITER or op == AITER:
        start = len(INDENT) * record[DEPTH] + 4 + display_width(expression(record, None)) + 2
    else:
        start = max(comment_column(options.width), len(INDENT) * record[DEPTH] + 2)
    room = max(cast(int, options.width) - start - 2 - display_width(head) - display_width(tail), MIN_FIT)
    part = cut(line, room, columns=True) if value is None else safe_repr(value, room, columns=True)
    return f"{head}{part}{tail}"


def _iterator_note(record: Record, options: TextOptions) -> tuple[str, str, str]:
    """The comment on an iterator's record, as (head, source line, notes): where an iter() was
    called and what it gave, how a loop ended; nothing on a step that gave an item. The source
    line (`` · for n in numbers``) is the part a width may cut."""
    op = record[OP]
    info: Info = record[INST]
    name = info[NAME]
    lineno = lineno_at(info, record[LASTI])
    outcome = record[OUTCOME]
    before, after = record[BEFORE], record[AFTER]
    in_loop = record[ARG] is LOOP
    if op == ITER or op == AITER:
        notes = []
        own = record[VALUE]
        if own is True or (type(own) is ReprText and own == "True"):
            notes.append("its own iterator")  # the iterable itself: `iter(x) is x`
        if before is not None:
            again = f"the same {name} again"
            notes.append(f"{again}, already exhausted" if before == ITER_EXHAUSTED else again)
        notes = [": ".join(notes)] if notes else []
        if not (info[FILENAME] and lineno):
            return " · ".join(notes), "", ""
        source = options.source(info[FILENAME], lineno) if options.source is not None else ""
        line = f" · {escape_controls(source)}" if source else ""
        return f"{options.show_path(info[FILENAME])}:{lineno}", line, "".join(f" · {n}" for n in notes)
    if op == LEAVE:
        state = "exhausted" if after == ITER_EXHAUSTED else "not exhausted"
        if not lineno:  # gentrace.wrap()'s iterator
            return f"gentrace.wrap() of {name} dropped before the end: {state}", "", ""
        return f"loop at line {lineno} left before the end: {name} {state}", "", ""
    if outcome == RETURN:
        if in_loop and lineno:
            ended = f"loop at line {lineno} ends"
            if before == ITER_EXHAUSTED:
                return f"{ended} at once: {name} was already exhausted", "", ""
            return ended, "", ""
        if before == ITER_EXHAUSTED:
            return f"{name} was already exhausted", "", ""
        default = record[ARG] is not None and not in_loop
        return f"{name} exhausted{': the default' if default else ''}", "", ""
    if outcome == RAISE:
        return (f"raised · loop at line {lineno}" if in_loop and lineno else "raised"), "", ""
    return "", "", ""


def start_line(record: Record, options: TextOptions) -> str:
    """The ``>>> `` line written when an operation starts."""
    s = options.styles
    indent = INDENT * record[DEPTH]
    limit = _expression_limit(record, options, len(indent) + 4)
    shown = expression(record, limit, columns=options.fit)
    return f"{indent}{s.prompt}>>>{s.reset} {s.expr}{shown}{s.reset}"


def repeat_line(record: Record, options: TextOptions) -> str:
    """The ``... `` line that repeats an operation whose result comes after other lines."""
    s = options.styles
    indent = INDENT * record[DEPTH]
    limit = _expression_limit(record, options, len(indent) + 4)
    shown = expression(record, limit, columns=options.fit)
    return f"{indent}{s.prompt}...{s.reset} {s.expr}{shown}{s.reset}"


def padded(indent: str, shown: str, style: str, comment: str, s: Styles, column: int = COMMENT_COLUMN) -> str:
    """A result line: the result, then the (already styled) comment from the comment `column` on.

    Columns are counted as a terminal shows them (`display_width`), at least two spaces apart.
    """
    pad = max(column - len(indent) - display_width(shown), 2)
    body = f"{style}{shown}{s.reset}" if shown else ""
    return f"{indent}{body}{' ' * pad}{comment}"


def end_line(record: Record, options: TextOptions) -> str:
    """The result line written when an operation ends, with its annotation."""
    s = options.styles
    indent = INDENT * record[DEPTH]
    if options.fit:
        shown = result(record, _result_room(indent, options), fitted=True)
    else:
        shown = result(record, options.max_repr)
    style = s.error if record[OUTCOME] == RAISE else s.value
    note = annotation(record, options)
    if note:
        comment = f"{s.comment}# {note}{s.reset}"
        line = padded(indent, shown, style, comment, s, comment_column(options.width))
    else:  # an iterator's item: nothing to say
        line = f"{indent}{style}{shown}{s.reset}" if shown else indent
    if options.locals is not None:
        pairs = ", ".join(f"{k}={v}" for k, v in options.locals.items())
        line += f"\n{indent}{s.comment}# locals: {pairs or '(none)'}{s.reset}"
    return line


def single_line(record: Record, options: TextOptions) -> str:
    """A create, collect, iter() or loop left, which has no separate start and end: one line."""
    s = options.styles
    indent = INDENT * record[DEPTH]
    op = record[OP]
    if op == LEAVE:
        return f"{indent}{s.comment}# {annotation(record, options)}{s.reset}"
    if op == CREATE or op == ITER or op == AITER:
        comment = annotation(record, options)
        # Fitted, the call's arguments leave room for the comment: `>>> `, then `  # ` and it.
        limit = _expression_limit(record, options, len(indent) + 8 + display_width(comment))
        shown = expression(record, limit, columns=options.fit)
        line = f"{indent}{s.prompt}>>>{s.reset} {s.expr}{shown}{s.reset}"
        return f"{line}  {s.comment}# {comment}{s.reset}" if comment else line
    return f"{indent}{s.comment}# {record[INST][NAME]} {annotation(record, options)}{s.reset}"


# What a step's lines are made of, from what is remembered (`TextSteps`): ops whose `>>> ` line
# is the same every time, and those whose line differs only by the value sent.
_FIXED_STARTS: Final = frozenset({NEXT, ANEXT, CLOSE, ACLOSE})
_SEND_CALLS: Final = {SEND: "{}.send(", ASEND: "await {}.asend("}


def _shown(value: Any, limit: int | None, columns: bool) -> str:
    """`safe_repr(value, limit, columns=columns)`, quicker for a number (not a huge int), a bool or None."""
    cls = type(value)
    if cls in PLAIN_TYPES and (cls is not int or -SMALL_INT < value < SMALL_INT):
        text = repr(value)  # printable ASCII, and too short to cut but for a tiny limit
        if limit is None or len(text) <= limit:
            return text
    return safe_repr(value, limit, columns=columns)


class TextSteps:
    """The REPL-style lines of the common steps, from parts remembered per instance and place.

    A next, send or close (or its async form) starts with a ``>>> `` line that differs from the
    instance's last one at that depth at most by the value sent; a yield ends with a result line
    whose comment depends only on the instance, its states, where it paused and who ran it, not on
    the value. Those parts are built once (bounded by MEMO_SIZE), with how far the value is cut
    there; every line is the one `start_line` and `end_line` make all the same.
    """

    __slots__ = ("_columns", "_ends", "_fixed", "_options", "_sends")

    def __init__(self, options: TextOptions) -> None:
        self._options = options
        self._columns = options.fit
        self._fixed: dict[tuple[str, str, int], str] = {}
        self._sends: dict[tuple[str, str, int], tuple[str, str, int | None]] = {}
        self._ends: dict[tuple[Any, ...], tuple[str, str, int, str, int | None]] = {}

    def start(self, record: Record) -> str:
        """`start_line` and its newline."""
        op = record[OP]
        if op in _SEND_CALLS:
            key = (record[INST][NAME], op, record[DEPTH])
            head, tail, limit = self._sends.get(key) or self._send_parts(record, key)
            return f"{head}{_shown(record[ARG], limit, self._columns)}{tail}"
        if op in _FIXED_STARTS and (record[ARG] is None or record[ARG] is LOOP):
            key = (record[INST][NAME], op, record[DEPTH])
            line = self._fixed.get(key)
            if line is None:
                if len(self._fixed) >= MEMO_SIZE:
                    self._fixed.clear()
                line = self._fixed[key] = start_line(record, self._options) + "\n"
            return line
        return start_line(record, self._options) + "\n"

    def _send_parts(self, record: Record, key: tuple[str, str, int]) -> tuple[str, str, int | None]:
        # The line before the value sent, after it, and how far the value is cut.
        if len(self._sends) >= MEMO_SIZE:
            self._sends.clear()
        name, op, depth = key
        s = self._options.styles
        indent = INDENT * depth
        head = f"{indent}{s.prompt}>>>{s.reset} {s.expr}{_SEND_CALLS[op].format(name)}"
        limit = _expression_limit(record, self._options, len(indent) + 4)
        parts = self._sends[key] = (head, f"){s.reset}\n", limit)
        return parts

    def yielded(self, record: Record) -> str:
        """`end_line` and its newline, for a step (not a create or collect) that yielded.

        The options have neither timings nor locals.
        """
        _, info, _, _, _, value, before, after, depth, thread, task, _, _, lasti, _ = record
        key = (info[NAME], before, after, lasti, thread, task, depth)
        lead, reset, width, comment, limit = self._ends.get(key) or self._end_parts(record, key)
        shown = _shown(value, limit, self._columns)
        if shown.isascii():
            if not shown:  # `padded` styles no empty value
                return end_line(record, self._options) + "\n"
            return f"{lead}{(shown + reset).ljust(width)}{comment}"
        # A wide character takes two columns, a combining mark none: pad by what a terminal shows.
        pad = " " * (width - len(reset) - display_width(shown))
        return f"{lead}{shown}{reset}{pad}{comment}"

    def _end_parts(self, record: Record, key: tuple[Any, ...]) -> tuple[str, str, int, str, int | None]:
        # Before the value, after it, the width the value and its reset are padded to (as `padded`
        # does: the comment at the comment column, at least two spaces after the value), the rest,
        # and how far the value is cut.
        if len(self._ends) >= MEMO_SIZE:
            self._ends.clear()
        options = self._options
        s = options.styles
        indent = INDENT * record[DEPTH]
        note = annotation(record, options)
        comment = f"  {s.comment}# {note}{s.reset}\n" if note else "\n"
        width = comment_column(options.width) - len(indent) - 2 + len(s.reset) if note else 0
        limit = _result_room(indent, options) if options.fit else options.max_repr
        parts = self._ends[key] = (indent + s.value, s.reset, width, comment, limit)
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
    if op == ITER or op == AITER or op == LEAVE:
        note = annotation(record, options)
        shown = expression(record, max_repr)
        return f"{shown} · {note}" if shown and note else shown or note
    shown = result(record, max_repr)
    arrow = f" → {shown}" if shown else ""
    note = annotation(record, options)
    return f"{expression(record, max_repr)}{arrow}{' · ' if note else ''}{note}"
