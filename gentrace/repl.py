"""`gentrace repl`: an interactive console whose every generator step is annotated.

Each input is instrumented with the same AST rewrite as `gentrace run`, so generator functions
defined at the prompt are traced; after each input the console writes, on stderr and before
Python's echo of the result, one comment per step that input caused. A session can be saved as
a doctest (`save_doctest`) that replays against the current code.
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
    DECORATOR,
    InstrumentingFinder,
    auto_trace,
    clean_exception,
    compile_script,
    install,
    instrument_interactive,
    run_script,
)
from gentrace.proxy import GeneratorProxy
from gentrace.records import COLLECT, CREATE, CREATED_STATES, DEPTH, INST, NAME, OP, Record, Sink, is_finished
from gentrace.renderers import (
    INDENT,
    TextOptions,
    end_line,
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


# -- where the steps of an input go -------------------------------------------------------------


class StepCollector(Sink):
    """A sink that keeps the records of the current input until the console shows them.

    While a SCRIPT runs, it passes the steps on to the REPL-style log instead (as `run` shows them).
    """

    wants_start = True

    def __init__(self, log: TextSink | None) -> None:
        self.log = log
        self.pending: list[Record] = []
        self._lock = threading.Lock()

    def start(self, record: Record) -> None:
        if self.log is not None:
            self.log.start(record)

    def end(self, record: Record) -> None:
        if self.log is not None:
            self.log.end(record)
            return
        with self._lock:
            self.pending.append(record)

    def take(self) -> list[Record]:
        """The records collected since the last call."""
        with self._lock:
            taken, self.pending = self.pending, []
        return taken


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
        return str(ref.info[NAME]), ref.state, g.gi_frame, ref
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
            if record[OP] in (CREATE, COLLECT):
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
    """A stdout that also keeps what is written while the console listens."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.kept: list[str] | None = None

    def write(self, text: str) -> int:
        if self.kept is not None:
            self.kept.append(text)
        return self.stream.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


# -- the console --------------------------------------------------------------------------------


class Console(code.InteractiveConsole):
    """An interactive console whose inputs are instrumented and whose steps are annotated."""

    def __init__(
        self,
        namespace: dict[str, Any],
        tracer: Tracer,
        collector: StepCollector,
        styles: Styles,
        sources: Sources,
        show_path: Callable[[str], str],
    ) -> None:
        super().__init__(namespace, filename="<stdin>")
        self.tracer = tracer
        self.collector = collector
        self.styles = styles
        self.sources = sources
        self.options = TextOptions(max_repr=80, source=self._source_of, show_path=show_path)
        self.entries: list[Entry] = []
        self._entry: Entry | None = None
        self._tee: Tee | None = None
        self._displayhook = sys.displayhook
        self.interactive = sys.stdin.isatty()

    def _source_of(self, filename: str, lineno: int) -> str:
        return self.sources.line(filename, None, lineno)

    # -- annotations ----------------------------------------------------------------------------

    def flush_notes(self) -> None:
        """Write the annotations of the steps taken since the last flush, on stderr."""
        records = self.collector.take()
        if not records:
            return
        with contextlib.suppress(AttributeError, ValueError, OSError):
            sys.stdout.flush()
        s = self.styles
        lines = []
        for record in records:
            info = record[INST]
            options = self.options
            if info[2] is not None and info[2] in self.sources._lines:
                options = TextOptions(
                    max_repr=80, source=self._input_line(info[2]), show_path=self.options.show_path
                )
            line = annotation_line(record, options)
            lines.append(line)
            if self._entry is not None:
                self._entry.notes.append(line)
        sys.stderr.write("".join(f"{s.comment}# {line}{s.reset}\n" for line in lines))
        sys.stderr.flush()

    def _input_line(self, compiled: types.CodeType) -> Callable[[str, int], str]:
        return lambda filename, lineno: self.sources.line(filename, compiled, lineno)

    def displayhook(self, value: Any) -> None:
        """Show the pending annotations, then echo the value as Python does."""
        self.flush_notes()
        self._displayhook(value)

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
            compiled = instrument_interactive(source, filename, flags)
        except (OverflowError, SyntaxError, ValueError):
            self.showsyntaxerror(filename)
            return False
        self.sources.add(compiled, source)
        self._entry = Entry(source)
        if self._tee is not None:
            self._tee.kept = []
        try:
            self.runcode(compiled)
        finally:
            self.flush_notes()
            if self._tee is not None and self._tee.kept is not None:
                if self._entry.exception is None:
                    self._entry.output = "".join(self._tee.kept)
                self._tee.kept = None
            self.entries.append(self._entry)
            self._entry = None
        return False

    def showtraceback(self) -> None:
        self.flush_notes()
        exc = sys.exc_info()[1]
        if exc is None:
            return
        clean_exception(exc)
        sys.last_type, sys.last_value, sys.last_traceback = type(exc), exc, exc.__traceback__
        if self._entry is not None:
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
        """Run the console until EOF; `sys.displayhook` and stdout are the console's meanwhile."""
        original_stdout = sys.stdout
        self._tee = Tee(original_stdout)
        self._displayhook = sys.displayhook
        sys.stdout = self._tee
        sys.displayhook = self.displayhook
        try:
            self.interact(banner=banner, exitmsg="")
        finally:
            sys.displayhook = self._displayhook
            if sys.stdout is self._tee:
                sys.stdout = original_stdout


# -- the command --------------------------------------------------------------------------------


def _report(exc: BaseException) -> None:
    clean_exception(exc)
    sys.stderr.write("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))


def main(
    script: str | None,
    outs: list[str],
    color: bool | None,
    save: str | None,
) -> int:
    """Run the console (after SCRIPT, if given); the exit code. Raises OSError for an --out file."""
    code_obj = None
    if script is not None:
        code_obj = compile_script(script)  # OSError and SyntaxError are the caller's to report
    stderr_styles = styles_for(sys.stderr, color)
    tracer = Tracer(out=list(outs), color=color, keep=None)
    recorder = tracer._recorder
    log = TextSink(_stderr, origin_ns=recorder.origin, color=color, sync_stdout=True) if script else None
    collector = StepCollector(log)
    tracer.add_sink(collector)
    set_default(tracer)
    show_path = path_shower(os.getcwd())
    sources = Sources()
    helpers = Helpers(tracer, sources, show_path)

    root = os.path.dirname(os.path.abspath(script)) if script is not None else os.getcwd()
    install(InstrumentingFinder([root]))
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
            replay.exception = exception_text(exc)
        finally:
            if sys.stdout is tee:
                sys.stdout = tee.stream
        replay.output = "".join(tee.kept)
        entries.append(replay)
        namespace = sys.modules["__main__"].__dict__
    else:
        module = types.ModuleType("__main__")
        module.__dict__["__builtins__"] = __builtins__
        sys.modules["__main__"] = module
        if sys.path and sys.path[0] != "":
            sys.path.insert(0, "")
        namespace = module.__dict__
    collector.log = None
    namespace.update(helpers.namespace())
    namespace[DECORATOR] = auto_trace

    if sys.stdin.isatty():
        with contextlib.suppress(ImportError):
            import readline  # noqa: F401  (line editing and history for input())
    console = Console(namespace, tracer, collector, stderr_styles, sources, show_path)
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
