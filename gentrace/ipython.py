"""IPython and Jupyter: ``%load_ext gentrace``, the ``%%gentrace`` cell magic, ``%gentrace on|off``.

The only importer of IPython, and only imported by IPython (``gentrace.load_ipython_extension``).

A ``%%gentrace`` cell is not run by a magic function: its first line is turned into an assignment
at its end (an input transformer: the cell's lines are numbered from the one after the magic, as
under IPython's own cell magics, and it goes on through IPython's own path: top-level ``await``,
the value of its last line, its history), and an AST transformer takes the options out again,
applies ``gentrace run``'s rewrite to the cell, and puts a call first that starts the cell's log
when the cell runs. One tracer (`Session`) serves the whole session, so a
generator keeps its name from cell to cell; each traced cell has its own outputs (`Cell`), fed by
the tracer's one sink (`Relay`) with seqs counted from the cell's start. In a notebook the log is
rich output (HTML in the terminal's colours, and text), shown before anything the cell writes and
when it ends, so prints and steps interleave as under ``gentrace run``; in a terminal IPython it is
the terminal log on stderr, as under ``gentrace run``.
"""

from __future__ import annotations

import argparse
import ast
import builtins
import functools
import html
import itertools
import linecache
import shlex
import sys
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any, cast

from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.display import display as _display

from gentrace.instrument import clean_exception, instrument_tree, without_own_frames
from gentrace.iterators import Iterators
from gentrace.recorder import running_tasks, task_of
from gentrace.records import ENDED_AFTER, SEQ, TASK, Ending, Record, Sink
from gentrace.repl import Tee
from gentrace.sinks import TextSink
from gentrace.sources import SHOWN_AS, source_line
from gentrace.styles import html_of, plain_of
from gentrace.tracer import STDERR, Tracer, sinks_for
from gentrace.tracing import replace_default

__all__ = ["load", "unload"]

MAGIC = "%%gentrace"
HEADER = "__gentrace_magic__"  # the header line becomes ``__gentrace_magic__ = "<options>"``
START = "__gentrace_cell__"  # the builtin that the rewritten cell calls first: the log starts

display = cast("Callable[..., None]", _display)
_sessions: weakref.WeakKeyDictionary[InteractiveShell, Session] = weakref.WeakKeyDictionary()


# -- options ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    """The options of one traced cell, as ``%%gentrace`` (or ``%gentrace on``) gave them."""

    only: tuple[str, ...] = ()
    outs: tuple[str, ...] = ()
    quiet: bool = False
    locals: bool = False
    timings: bool = False
    max_repr: int | None = None
    iterators: bool = False
    summary: bool = False
    timeline: bool = False
    html: bool = False


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        raise UsageError(f"{self.prog}: {message} (see %gentrace?)")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of characters ≥ 1, got {text!r}")
    return value


def _parser(prog: str) -> _Parser:
    parser = _Parser(prog=prog, add_help=False, allow_abbrev=False)
    parser.add_argument("-o", "--out", action="append", default=[], metavar="FILE")
    parser.add_argument("-q", "--quiet", action="store_true")
    parser.add_argument("--only", action="append", default=[], metavar="PATTERN")
    parser.add_argument("--locals", action="store_true")
    parser.add_argument("--timings", action="store_true")
    parser.add_argument("--max-repr", type=_positive, metavar="N")
    parser.add_argument("--iterators", action="store_true")
    parser.add_argument("--summary", action="store_true")
    parser.add_argument("--timeline", action="store_true")
    parser.add_argument("--html", action="store_true")
    return parser


def parse(line: str, prog: str = MAGIC) -> Options:
    """The options on a ``%%gentrace`` line; raises `UsageError` (one line) for a bad one."""
    try:
        words = shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"{prog}: {exc}") from None
    args = _parser(prog).parse_args(words)
    return Options(
        only=tuple(args.only),
        outs=tuple(args.out),
        quiet=args.quiet,
        locals=args.locals,
        timings=args.timings,
        max_repr=args.max_repr,
        iterators=args.iterators,
        summary=args.summary,
        timeline=args.timeline,
        html=args.html,
    )


# -- the cell's source: the header out, the rewrite in -------------------------------------------


def header_to_code(lines: list[str]) -> list[str]:
    """IPython input transformer: a first line ``%%gentrace OPTIONS`` becomes an assignment of the
    options after the cell's last line, which the AST transformer takes out again: the cell's lines
    are numbered from the one after the magic, as in the cells of IPython's own cell magics."""
    if lines and lines[0].startswith(MAGIC):
        rest = lines[0][len(MAGIC) :]
        if not rest or rest[0].isspace():
            body = lines[1:]
            if body and not body[-1].endswith("\n"):
                body[-1] += "\n"
            return [*body, f"{HEADER} = {rest.strip()!r}\n"]
    return lines


# Not applied when IPython asks whether an input is complete: a terminal then sees a cell magic,
# which ends with an empty line.
header_to_code.has_side_effects = True  # type: ignore[attr-defined]


def _header(node: ast.stmt) -> str | None:
    if (
        isinstance(node, ast.Assign)
        and len(node.targets) == 1
        and isinstance(node.targets[0], ast.Name)
        and node.targets[0].id == HEADER
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    ):
        return node.value.value
    return None


def _first_statement(body: list[ast.stmt]) -> int:
    """Where the cell's code starts: after a docstring and ``from __future__`` imports."""
    position = 0
    for position, node in enumerate(body):
        is_docstring = (
            position == 0
            and isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        )
        if not is_docstring and not (isinstance(node, ast.ImportFrom) and node.module == "__future__"):
            return position
    return len(body)


def _forget_header(filename: str) -> None:
    """The cell's source as IPython keeps it for tracebacks, without the header's assignment."""
    entry = linecache.cache.get(filename)
    if entry is not None and len(entry) == 4 and entry[2] and entry[2][-1].startswith(HEADER):
        size, mtime, lines, name = entry
        linecache.cache[filename] = (size, mtime, lines[:-1], name)


class CellRewriter(ast.NodeTransformer):
    """IPython AST transformer: a ``%%gentrace`` cell (or every cell, after ``%gentrace on``)
    rewritten as ``gentrace run`` rewrites a module, with a call first that starts its log."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def visit(self, node: ast.AST) -> ast.AST:
        if not isinstance(node, ast.Module):
            return node
        body = node.body
        line = _header(body[-1]) if body else None
        filename = self.session.cell_filename()
        if line is not None:
            del body[-1]
            _forget_header(filename)
        elif self.session.every is None:
            return node
        else:
            line = self.session.every
        try:
            options = parse(line)
        except UsageError:
            del body[:]  # the call below says why, and the cell does not run
        else:
            instrument_tree(node, filename, "__main__", iterators=options.iterators)
        start = ast.Expr(ast.Call(ast.Name(START, ast.Load()), [ast.Constant(line)], []))
        body.insert(_first_statement(body), start)
        ast.fix_missing_locations(node)
        return node


# -- where a cell's records go ------------------------------------------------------------------


class Relay(Sink):
    """The session tracer's one sink: each record goes to the cell running, if any."""

    wants_start = True

    def __init__(self) -> None:
        self.cell: Cell | None = None

    def start(self, record: Record) -> None:
        cell = self.cell
        if cell is not None:
            cell.start(record)

    def end(self, record: Record) -> None:
        cell = self.cell
        if cell is not None:
            cell.end(record)


class CellLog:
    """A notebook cell's log: the text sink writes here; `show` puts what waits as rich output
    (HTML in the terminal's colours, and the same text plain), before the cell writes and at its end.
    """

    def __init__(self) -> None:
        self._parts: list[str] = []

    def write(self, text: str) -> int:
        self._parts.append(text)
        return len(text)

    def flush(self) -> None:
        """Nothing: the log is shown by `show`."""

    def isatty(self) -> bool:
        return False

    def show(self) -> None:
        parts, self._parts = self._parts, []
        text = "".join(parts).rstrip("\n")
        if text:
            display(
                {
                    "text/plain": plain_of(text),
                    "text/html": f'<pre class="gentrace-log" style="margin:0">{html_of(text)}</pre>',
                },
                raw=True,
            )


class Cell:
    """One traced cell's run: its outputs, and the hooks that place the log among its output."""

    def __init__(self, session: Session, options: Options) -> None:
        self.session = session
        shell = session.shell
        tracer = session.tracer
        recorder = tracer._recorder
        self.base = recorder.latest  # this cell's records are numbered from the next seq on
        # The task the cell itself runs in is the kernel's (ipykernel runs each cell in a task of
        # its own, IPython a cell with top-level await): not the program's, so not named.
        tasks = running_tasks()
        self.own_task = task_of(tasks) if tasks else None
        self._events = itertools.count(1)
        self.log = CellLog() if session.rich and not options.quiet else None
        origin = recorder.clock()
        frames = tracer._frame_of if options.locals else None
        sinks: list[Sink] = []
        if self.log is not None:
            sinks.append(
                TextSink(
                    cast("IO[str]", self.log),
                    origin_ns=origin,
                    color=True,
                    max_repr=options.max_repr,
                    timings=options.timings,
                    locals=frames,
                )
            )
        targets: list[Any] = list(options.outs)
        if not options.quiet and not session.rich:
            targets.insert(0, STDERR)
        try:
            sinks += sinks_for(
                targets, max_repr=options.max_repr, locals=frames, timings=options.timings, origin=origin
            )
        except OSError as exc:
            for sink in sinks:
                sink.close(Ending(0, [], None))
            raise UsageError(
                f"{MAGIC}: can't open --out file {exc.filename!r}: {exc.strerror or exc}"
            ) from None
        if options.summary or options.timeline:
            from gentrace.recap import recap_sink

            sinks.append(recap_sink(self._text_out, summary=options.summary, timeline=options.timeline))
        if options.html:
            if session.rich:
                from gentrace.replay import page_sink

                sinks.append(
                    page_sink(
                        self._show_page,
                        lambda refused: self._text_out().write(f"gentrace: no page: {refused}\n"),
                        title=functools.partial(str, f"In[{shell.execution_count}]"),
                        origin_ns=origin,
                        max_repr=options.max_repr,
                        locals=frames,
                        source=source_line,
                    )
                )
            else:
                sys.stderr.write("gentrace: --html shows the page in a notebook; here, use --out FILE.html\n")
        self.sinks = sinks
        self.starters = [sink for sink in sinks if sink.wants_start]
        self._broken = False

        self._restore_default = replace_default(tracer)
        tracer.only = options.only
        tracer.iterators = session.iterators() if options.iterators else None
        self._hooks: list[Callable[[], None]] = []
        if self.log is not None:
            self._place_log_before_output(shell)

    def _text_out(self) -> Any:
        return self.log if self.log is not None else sys.stderr

    def _place_log_before_output(self, shell: InteractiveShell) -> None:
        """Show the waiting log before the cell writes, shows a value or displays anything."""
        show = self.log.show if self.log is not None else None
        for name in ("stdout", "stderr"):
            stream = getattr(sys, name)
            tee = Tee(stream, before=show)
            setattr(sys, name, tee)
            self._hooks.append(functools.partial(_put_back, sys, name, tee, stream))
        hook = sys.displayhook

        def displayhook(value: object) -> None:
            if value is not None and self.log is not None:
                self.log.show()
            hook(value)

        sys.displayhook = displayhook
        self._hooks.append(lambda: _put_back(sys, "displayhook", displayhook, hook))
        publisher = shell.display_pub
        publish = publisher.publish

        def publish_after_log(*args: Any, **kwargs: Any) -> Any:
            if self.log is not None:
                self.log.show()
            return publish(*args, **kwargs)

        publisher.publish = publish_after_log  # type: ignore[method-assign]
        self._hooks.append(lambda: _put_back(publisher, "publish", publish_after_log, None))

    def _renumbered(self, record: Record) -> Record | None:
        seq = record[SEQ] - self.base
        if seq <= 0:  # an operation that started before the cell
            return None
        task = record[TASK]
        if task is not None and task == self.own_task:
            task = None
        return (
            seq,
            *record[SEQ + 1 : TASK],
            task,
            *record[TASK + 1 : ENDED_AFTER],
            record[ENDED_AFTER] - self.base,
        )

    def start(self, record: Record) -> None:
        renumbered = self._renumbered(record)
        if renumbered is None or self._broken:
            return
        try:
            for sink in self.starters:
                sink.start(renumbered)
        except RecursionError:  # the program used the stack up: the recorder tries again later
            raise
        except Exception as exc:
            self._break(exc)

    def end(self, record: Record) -> None:
        renumbered = self._renumbered(record)
        if renumbered is None or self._broken:
            return
        next(self._events)
        try:
            for sink in self.sinks:
                sink.end(renumbered)
        except RecursionError:
            raise
        except Exception as exc:
            self._break(exc)

    def _break(self, exc: Exception) -> None:
        self._broken = True
        sys.stderr.write(f"gentrace: this cell's log stopped: {type(exc).__name__}: {exc}\n")

    def _show_page(self, page: str) -> None:
        if self.log is not None:
            self.log.show()
        frame = (
            '<iframe title="gentrace replay page" sandbox="allow-scripts" '
            'style="width:100%;height:36em;border:1px solid #8886" '
            f'srcdoc="{html.escape(page, quote=True)}"></iframe>'
        )
        display(
            {"text/html": frame, "text/plain": "(the replay page of this cell: open it in Jupyter)"}, raw=True
        )

    def finish(self) -> None:
        """The cell ended: its outputs complete and closed, the log shown, the hooks taken out."""
        tracer = self.session.tracer
        self.session.relay.cell = None
        self._restore_default()
        tracer.only = ()
        tracer.iterators = None
        events = next(self._events) - 1
        ending = Ending(events, [], None)
        for sink in self.sinks:
            try:
                sink.close(ending)
            except Exception as exc:
                self._break(exc)
        for put_back in reversed(self._hooks):
            put_back()
        if self.log is not None:
            self.log.show()


def _put_back(owner: Any, name: str, ours: Any, previous: Any) -> None:
    """Put `previous` back as `owner.name` if ours is still there (None: delete our attribute)."""
    if getattr(owner, name, None) == ours:
        if previous is None:
            delattr(owner, name)
        else:
            setattr(owner, name, previous)


# -- the session --------------------------------------------------------------------------------


def _is_terminal(shell: InteractiveShell) -> bool:
    return any(cls.__module__.startswith("IPython.terminal.") for cls in type(shell).__mro__)


class Session:
    """gentrace in one IPython shell: one tracer for all its cells, the cell running, the mode."""

    def __init__(self, shell: InteractiveShell) -> None:
        self.shell = shell
        self.rich = not _is_terminal(shell)
        self.relay = Relay()
        self.tracer = Tracer(sinks=[self.relay], keep=0)
        self.every: str | None = None  # the options of `%gentrace on`, while on
        self._iterators: Iterators | None = None
        self.rewriter = CellRewriter(self)
        self._original_showtraceback = shell.showtraceback

    def iterators(self) -> Iterators:
        """The session's iterator names, kept from one ``--iterators`` cell to the next."""
        if self._iterators is None:
            self._iterators = Iterators(self.tracer._recorder)
        return self._iterators

    def cell_filename(self) -> str:
        """The file name IPython gave the cell being compiled (the latest); its log shows ``In[N]``."""
        names: dict[str, int] = getattr(self.shell.compile, "_filename_map", {})
        for name, number in names.items():
            SHOWN_AS.setdefault(name, f"In[{number}]")
        return next(reversed(names), "<cell>")

    def start_cell(self, line: str) -> None:
        """The rewritten cell's first call: its log starts (once, however often it is called)."""
        if self.relay.cell is None:
            self.relay.cell = Cell(self, parse(line))

    def finish_cell(self) -> None:
        """IPython's ``post_execute``: the cell's log, if it had one, is complete."""
        cell = self.relay.cell
        if cell is not None:
            cell.finish()

    def showtraceback(self, exc_tuple: Any = None, *args: Any, **kwargs: Any) -> Any:
        """IPython's, for a cell with a log: the log so far first, then the traceback without
        gentrace's frames."""
        cell = self.relay.cell
        if cell is not None:
            _, value, tb = sys.exc_info() if exc_tuple is None else exc_tuple
            if isinstance(value, BaseException):
                value.__traceback__ = tb
                clean_exception(value, without_own_frames)
                exc_tuple = (type(value), value, value.__traceback__)
            if cell.log is not None:
                cell.log.show()
        return self._original_showtraceback(exc_tuple, *args, **kwargs)

    def magic(self, line: str, cell: str | None = None) -> None:
        """Trace the generators, coroutines and async generators of a cell, with a log of every step.

        %%gentrace [options]   this cell: its generator functions, async defs (and with
                               --iterators, its loops and generator expressions) traced, the
                               log shown under its output
        %gentrace on [options] every following cell, until %gentrace off
        %gentrace off          stop
        %gentrace              say whether it is on

        Options (as for `gentrace run`):
          -o, --out FILE     also write the log to FILE: .jsonl, .json (Chrome), .html, else text;
                             complete when the cell ends; repeatable
          -q, --quiet        no log under the cell, only --out files
          --only PATTERN     trace only generator functions matching this glob; repeatable
          --locals           show a generator's local variables each time it pauses
          --timings          show the time spent inside each resume
          --max-repr N       cut reprs to N characters
          --iterators        also trace iterators: loops, iter() and next(), generator expressions
          --summary          after the log, one line per instance and the anomalies
          --timeline         after the log, a swimlane chart, one lane per instance
          --html             the replay page, stepped forward and back, under the cell
        """
        if cell is not None:  # called directly (run_cell_magic): as the same cell typed in
            run_cell: Callable[..., object] = self.shell.run_cell
            run_cell(f"{MAGIC} {line}\n{cell}", store_history=False)
            return
        command, _, rest = line.strip().partition(" ")
        if command == "on":
            parse(rest, "%gentrace on")
            self.every = rest
        elif command == "off" and not rest.strip():
            self.every = None
        elif not command:
            state = f"on ({self.every or 'no options'})" if self.every is not None else "off"
            print(f"gentrace: {state}; %%gentrace traces one cell, %gentrace on|off every cell")
        else:
            raise UsageError(
                f"%gentrace: expected on [options] or off, got {line.strip()!r} (see %gentrace?)"
            )


def load(shell: InteractiveShell) -> None:
    """``%load_ext gentrace``: the magics, the transformers and the hooks, in this shell."""
    if shell in _sessions:
        return
    session = _sessions[shell] = Session(shell)
    shell.input_transformers_cleanup.append(header_to_code)
    shell.ast_transformers.append(session.rewriter)
    shell.events.register("post_execute", session.finish_cell)
    shell.showtraceback = session.showtraceback  # type: ignore[method-assign]
    setattr(builtins, START, session.start_cell)
    register: Callable[..., None] = shell.register_magic_function
    register(session.magic, "line_cell", "gentrace")


def unload(shell: InteractiveShell) -> None:
    """``%unload_ext gentrace``: everything `load` put in taken out, the session's tracer closed."""
    session = _sessions.pop(shell, None)
    if session is None:
        return
    session.finish_cell()
    if header_to_code in shell.input_transformers_cleanup:
        shell.input_transformers_cleanup.remove(header_to_code)
    if session.rewriter in shell.ast_transformers:
        shell.ast_transformers.remove(session.rewriter)
    shell.events.unregister("post_execute", session.finish_cell)
    _put_back(shell, "showtraceback", session.showtraceback, None)
    if getattr(builtins, START, None) == session.start_cell:
        delattr(builtins, START)
    for kind in ("line", "cell"):
        shell.magics_manager.magics[kind].pop("gentrace", None)
    session.tracer.close()
