"""`gentrace repl`: an interactive console whose every generator step is annotated.

Each input is instrumented with the same AST rewrite as `gentrace run`, so generator functions
defined at the prompt are traced; each step writes one comment on stderr as it ends, so a note
comes before what the input prints after that step (and before Python's echo of the result),
also while a long statement runs. A session can be saved as a doctest (`transcript`) that
replays against the current code.
"""

from __future__ import annotations

import ast
import code
import contextlib
import inspect
import linecache
import os
import sys
import threading
import traceback
import types
from collections.abc import Callable
from typing import IO, Any

from gentrace.instrument import (
    InstrumentingFinder,
    clean_exception,
    compile_script,
    install,
    instrument_interactive,
    run_script,
)
from gentrace.proxy import GeneratorProxy
from gentrace.records import (
    CODE,
    CREATED_STATES,
    DEPTH,
    INST,
    INSTANT_OPS,
    NAME,
    OP,
    SEQ,
    THREAD,
    Record,
    Sink,
    is_finished,
)
from gentrace.renderers import (
    INDENT,
    TextOptions,
    end_line,
    expression,
    one_line,
    single_line,
    start_line,
)
from gentrace.reprs import safe_repr
from gentrace.sinks import TextSink
from gentrace.sources import path_shower, source_line
from gentrace.styles import PLAIN, Styles, styles_for
from gentrace.tracer import Tracer
from gentrace.tracing import set_default
from gentrace.transcript import Entry, doctest_text, exception_text

__all__ = ["Console", "main"]


BANNER = """gentrace repl — Python {version}; every generator step is annotated (on stderr).
Helpers: state(g)      the state, and the line where g is paused
         history(g)    g's steps so far, as the log shows them
         where(g)      the source around the line where g is paused
         locals_of(g)  g's local variables
Ctrl-D (EOF) exits."""


class Text(str):
    """A helper's answer: a str whose repr is itself, so the console echoes it as text."""

    def __repr__(self) -> str:
        return str(self)


# -- rendering ----------------------------------------------------------------------------------


class Sources:
    """The source of each console input, found by code object (linecache knows only files)."""

    def __init__(self) -> None:
        self._lines: dict[types.CodeType, list[str]] = {}

    def add(self, compiled: types.CodeType, source: str) -> None:
        lines = source.splitlines()
        pending = [compiled]
        while pending:
            item = pending.pop()
            self._lines[item] = lines
            pending.extend(c for c in item.co_consts if isinstance(c, types.CodeType))

    def has(self, code: types.CodeType) -> bool:
        """Whether `code` comes from a console input."""
        return code in self._lines

    def lines(self, filename: str | None, code: types.CodeType | None) -> list[str]:
        """All lines of the file or input that `code` comes from."""
        if code is not None and code in self._lines:
            return self._lines[code]
        if filename:
            return [line.rstrip("\n") for line in linecache.getlines(filename)]
        return []

    def line(self, filename: str | None, code: types.CodeType | None, lineno: int) -> str:
        if code is not None and code in self._lines:
            lines = self._lines[code]
            return lines[lineno - 1].strip() if 0 < lineno <= len(lines) else ""
        return source_line(filename, lineno) if filename else ""


def annotation_line(record: Record, options: TextOptions) -> str:
    """A step as the console shows it: ``next(averager#1) → 10.0 · GEN_SUSPENDED · line 17: ...``."""
    return f"{INDENT * record[DEPTH]}{one_line(record, options=options)}"


# -- where the steps go -------------------------------------------------------------------------


class StepNotes(Sink):
    """A sink that writes each step's note on stderr the moment the step ends.

    stdout is flushed first, so a note comes after what was printed before the step and before
    what is printed after it, even when both streams are pipes read together. A step that prints
    while it runs is announced first (``# next(talk#1) ...``, by `before_output`), so its output
    sits under a line naming it, as under ``gentrace run``'s ``>>>`` lines. The notes of the
    current input are also kept (`kept`) for ``--save``. While a SCRIPT runs, the steps go to the
    REPL-style log instead (`log`), as `gentrace run` shows them.
    """

    wants_start = True

    def __init__(
        self, log: TextSink | None, styles: Styles, sources: Sources, show_path: Callable[[str], str]
    ) -> None:
        self.log = log
        self.kept: list[str] | None = None
        self._styles = styles
        self._sources = sources
        self._show_path = show_path
        self._options = TextOptions(max_repr=80, source=self._file_line, show_path=show_path)
        # Re-entrant: a `collect` recorded from a finalizer may arrive while a note is written.
        self._lock = threading.RLock()
        self._running: dict[str, list[list[Any]]] = {}  # per thread: [record, announced] of steps running

    def _file_line(self, filename: str, lineno: int) -> str:
        return self._sources.line(filename, None, lineno)

    def _options_for(self, code: types.CodeType | None) -> TextOptions:
        if code is None or not self._sources.has(code):
            return self._options
        sources = self._sources  # a function defined at the prompt: its lines are the input's

        def line(filename: str, lineno: int) -> str:
            return sources.line(filename, code, lineno)

        return TextOptions(max_repr=80, source=line, show_path=self._show_path)

    def start(self, record: Record) -> None:
        if self.log is not None:
            self.log.start(record)
            return
        with self._lock:
            self._running.setdefault(record[THREAD], []).append([record, False])

    def before_output(self) -> None:
        """Announce the steps running on this thread that have not said so yet: something prints."""
        steps = self._running.get(threading.current_thread().name)
        if not steps or steps[-1][1]:
            return
        s = self._styles
        with self._lock:
            for step in steps:
                if not step[1]:
                    step[1] = True
                    record = step[0]
                    expr = expression(record, self._options.max_repr)
                    sys.stderr.write(f"{s.comment}# {INDENT * record[DEPTH]}{expr} ...{s.reset}\n")
            sys.stderr.flush()

    def end(self, record: Record) -> None:
        if self.log is not None:
            self.log.end(record)
            return
        with self._lock:
            steps = self._running.get(record[THREAD], [])
            for i in range(len(steps) - 1, -1, -1):
                if steps[i][0][SEQ] == record[SEQ]:
                    del steps[i]
                    break
        line = annotation_line(record, self._options_for(record[INST][CODE]))
        s = self._styles
        with self._lock:
            if self.kept is not None:
                self.kept.append(line)
            with contextlib.suppress(AttributeError, ValueError, OSError):
                sys.stdout.flush()
            sys.stderr.write(f"{s.comment}# {line}{s.reset}\n")
            sys.stderr.flush()


# -- the helpers --------------------------------------------------------------------------------


def _describe(g: Any, tracer: Tracer) -> tuple[str, str, types.FrameType | None, Any]:
    """(name, state, frame, ref) of a generator, traced or not, or of a traced instance's name."""
    if isinstance(g, str):
        ref = tracer._recorder.by_name.get(g)
        gen = ref() if ref is not None else None
        if ref is None or gen is None:
            raise ValueError(f"no live traced generator named {g!r}")
        return g, ref.state, getattr(gen, "gi_frame", None), ref
    if isinstance(g, GeneratorProxy):
        ref = g._ref
        return str(ref.info[NAME]), ref.state, g._gen.gi_frame, ref
    if isinstance(g, types.GeneratorType):
        return g.__qualname__, inspect.getgeneratorstate(g), g.gi_frame, None
    raise TypeError(f"expected a generator (or a traced instance's name), got {type(g).__name__}")


class Helpers:
    """``state``, ``history``, ``where`` and ``locals_of``, bound to the session's tracer."""

    def __init__(self, tracer: Tracer, sources: Sources, show_path: Callable[[str], str]) -> None:
        self.tracer = tracer
        self.sources = sources
        self.show_path = show_path

    def namespace(self) -> dict[str, Callable[[Any], Text]]:
        return {
            "state": self.state,
            "history": self.history,
            "where": self.where,
            "locals_of": self.locals_of,
        }

    def _place(self, frame: types.FrameType | None) -> tuple[str, int, str] | None:
        if frame is None:
            return None
        filename = frame.f_code.co_filename
        lineno = frame.f_lineno
        return self.show_path(filename), lineno, self.sources.line(filename, frame.f_code, lineno)

    def state(self, g: Any) -> Text:
        """The state of `g` and where it is paused: ``g#1: GEN_SUSPENDED · paused at f.py:3: yield x``."""
        name, state, frame, _ = _describe(g, self.tracer)
        place = self._place(frame)
        if place is None or is_finished(state):
            return Text(f"{name}: {state}")
        path, lineno, line = place
        verb = "created at" if state in CREATED_STATES else "paused at"
        return Text(f"{name}: {state} · {verb} {path}:{lineno}" + (f": {line}" if line else ""))

    def history(self, g: Any) -> Text:
        """The steps of `g` so far, as the log shows them."""
        name, _, _, _ = _describe(g, self.tracer)
        options = TextOptions(styles=PLAIN, max_repr=80, source=self._source, show_path=self.show_path)
        lines = []
        for record in self.tracer._recorder.records():
            if record[INST][NAME] != name:
                continue
            if record[OP] in INSTANT_OPS:
                lines.append(single_line(record, options))
            else:
                lines.append(start_line(record, options))
                lines.append(end_line(record, options))
        return Text("\n".join(lines) if lines else f"{name}: no steps recorded")

    def _source(self, filename: str, lineno: int) -> str:
        return source_line(filename, lineno)

    def where(self, g: Any) -> Text:
        """The source around the line where `g` is paused, that line marked with ``-->``."""
        name, state, frame, _ = _describe(g, self.tracer)
        if frame is None or is_finished(state):
            return Text(f"{name}: {state}, not paused anywhere")
        lines = self.sources.lines(frame.f_code.co_filename, frame.f_code)
        lineno = frame.f_lineno
        path = self.show_path(frame.f_code.co_filename)
        out = [f"{name}: {state} at {path}:{lineno}"]
        for number in range(max(1, lineno - 3), min(len(lines), lineno + 3) + 1):
            mark = "-->" if number == lineno else "   "
            out.append(f"{mark} {number:4d}  {lines[number - 1]}")
        return Text("\n".join(out))

    def locals_of(self, g: Any) -> Text:
        """The local variables of `g`, one ``name = repr`` a line."""
        name, state, frame, _ = _describe(g, self.tracer)
        if frame is None or is_finished(state):
            return Text(f"{name}: {state}, no locals")
        pairs = [f"{key} = {safe_repr(value, 200)}" for key, value in frame.f_locals.items()]
        return Text("\n".join(pairs) if pairs else f"{name}: no locals")


class Tee:
    """A stdout that also keeps what is written while the console listens, and calls `before`
    (the notes' `before_output`) before it writes."""

    def __init__(self, stream: IO[str], before: Callable[[], None] | None = None) -> None:
        self.stream = stream
        self.kept: list[str] | None = None
        self.before = before

    def write(self, text: str) -> int:
        if text and self.before is not None:
            self.before()
        if self.kept is not None:
            self.kept.append(text)
        return self.stream.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


# -- the console --------------------------------------------------------------------------------


class Console(code.InteractiveConsole):
    """An interactive console whose inputs are instrumented and whose steps are annotated."""

    def __init__(
        self, namespace: dict[str, Any], notes: StepNotes, sources: Sources, iterators: bool = False
    ) -> None:
        super().__init__(namespace, filename="<stdin>")
        self.notes = notes
        self.sources = sources
        self.iterators = iterators
        self.entries: list[Entry] = []
        self._entry: Entry | None = None
        self._tee: Tee | None = None
        self.interactive = sys.stdin.isatty()

    # -- compiling and running ------------------------------------------------------------------

    def runsource(self, source: str, filename: str = "<stdin>", symbol: str = "single") -> bool:
        try:
            complete = self.compile(source, filename, symbol)
        except (OverflowError, SyntaxError, ValueError):
            self.showsyntaxerror(filename)
            return False
        if complete is None:
            return True
        flags = self.compile.compiler.flags & ~ast.PyCF_ONLY_AST
        try:
            compiled = instrument_interactive(source, filename, flags, self.iterators)
        except (OverflowError, SyntaxError, ValueError):
            self.showsyntaxerror(filename)
            return False
        self.sources.add(compiled, source)
        entry = self._entry = Entry(source)
        self.entries.append(entry)
        self.notes.kept = entry.notes
        if self._tee is not None:
            self._tee.kept = []
        try:
            self.runcode(compiled)
        except BaseException as exc:  # SystemExit, or a Ctrl-C that came while one was shown
            entry.stopped_by = type(exc).__name__
            raise
        finally:
            self.notes.kept = None
            self._entry = None
            if self._tee is not None and self._tee.kept is not None:
                if entry.exception is None:
                    entry.output = "".join(self._tee.kept)
                self._tee.kept = None
            _flush_stdout()  # what this input printed, before the next prompt or error on stderr
        return False

    def showsyntaxerror(self, filename: str | None = None, **kwargs: Any) -> None:
        _flush_stdout()
        super().showsyntaxerror(filename, **kwargs)

    def showtraceback(self) -> None:
        _flush_stdout()
        exc = sys.exc_info()[1]
        if exc is None:
            return
        clean_exception(exc)
        sys.last_type, sys.last_value, sys.last_traceback = type(exc), exc, exc.__traceback__
        if self._entry is not None:
            if isinstance(exc, KeyboardInterrupt):
                self._entry.stopped_by = "KeyboardInterrupt"  # where it stopped is chance
            else:
                self._entry.exception = exception_text(exc)
        self.write("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))

    def raw_input(self, prompt: str = "") -> str:
        if self.interactive:
            return input(prompt)
        # As python does with piped input: the prompt goes to stderr, stdout keeps the output.
        sys.stderr.write(prompt)
        sys.stderr.flush()
        line = sys.stdin.readline()
        if not line:
            raise EOFError
        return line.rstrip("\n")

    def session(self, banner: str) -> None:
        """Run the console until EOF; stdout is the console's meanwhile (to keep what is printed)."""
        original_stdout = sys.stdout
        self._tee = Tee(original_stdout, self.notes.before_output)
        sys.stdout = self._tee
        try:
            self.interact(banner=banner, exitmsg="")
        finally:
            if sys.stdout is self._tee:
                sys.stdout = original_stdout


# -- the command --------------------------------------------------------------------------------


def _flush_stdout() -> None:
    with contextlib.suppress(AttributeError, ValueError, OSError):
        sys.stdout.flush()


def _report(exc: BaseException) -> None:
    clean_exception(exc)
    sys.stderr.write("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))


def main(
    script: str | None,
    outs: list[str],
    color: bool | None,
    save: str | None,
    iterators: bool = False,
) -> int:
    """Run the console (after SCRIPT, if given); the exit code. Raises OSError for an --out file.

    `iterators` records iterators too, as ``gentrace run --iterators`` does.
    """
    code_obj = None
    if script is not None:
        code_obj = compile_script(script, iterators=iterators)  # OSError, SyntaxError: the caller's
    stderr_styles = styles_for(sys.stderr, color)
    tracer = Tracer(out=list(outs), color=color, keep=None, iterators=iterators)
    recorder = tracer._recorder
    log = TextSink(_stderr, origin_ns=recorder.origin, color=color, sync_stdout=True) if script else None
    show_path = path_shower(os.getcwd())
    sources = Sources()
    notes = StepNotes(log, stderr_styles, sources, show_path)
    tracer.add_sink(notes)
    set_default(tracer)
    helpers = Helpers(tracer, sources, show_path)

    root = os.path.dirname(os.path.abspath(script)) if script is not None else os.getcwd()
    install(InstrumentingFinder([root], iterators=iterators))
    entries: list[Entry] = []
    if script is not None and code_obj is not None:
        # In the saved doctest, the script is replayed by the first example, its output expected.
        replay = Entry(f"with open({script!r}) as f: exec(compile(f.read(), {script!r}, 'exec'))")
        tee = Tee(sys.stdout)
        tee.kept = []
        sys.stdout = tee
        try:
            run_script(code_obj, script, [])
        except BaseException as exc:  # python -i shows it, SystemExit included, and carries on
            sys.stdout.flush()
            _report(exc)
            if isinstance(exc, KeyboardInterrupt):  # a replay would run on where this one stopped
                replay.stopped_by = type(exc).__name__
            else:
                replay.exception = exception_text(exc)
        finally:
            if sys.stdout is tee:
                sys.stdout = tee.stream
        replay.output = "".join(tee.kept)
        entries.append(replay)
        namespace = sys.modules["__main__"].__dict__
        replay.names = frozenset(name for name in namespace if not name.startswith("__"))
    else:
        module = types.ModuleType("__main__")
        module.__dict__["__builtins__"] = __builtins__
        sys.modules["__main__"] = module
        if sys.path and sys.path[0] != "":
            sys.path.insert(0, "")
        namespace = module.__dict__
    notes.log = None
    namespace.update(helpers.namespace())

    if sys.stdin.isatty():
        with contextlib.suppress(ImportError):
            import readline  # noqa: F401  (line editing and history for input())
    console = Console(namespace, notes, sources, iterators)
    console.entries = entries
    status = 0
    try:
        console.session(BANNER.format(version=sys.version.split()[0]))
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if exc.code is not None and not isinstance(exc.code, int):
            sys.stderr.write(f"{exc.code}\n")
    finally:
        set_default(None)
        tracer.close()
        if save is not None:
            with open(save, "w", encoding="utf-8") as f:
                f.write(doctest_text(console.entries))
    return status


def _stderr() -> IO[str]:
    return sys.stderr
