"""The command line: ``gentrace run`` (and later ``repl``, ``show``). The only importer of click."""

from __future__ import annotations

import atexit
import importlib.util
import os
import signal
import sys
from typing import Any, NoReturn

import click

import gentrace
from gentrace.children import RunSettings, close_whole, trace_children
from gentrace.instrument import (
    InstrumentingFinder,
    NoSuchModule,
    clean_exception,
    compile_script,
    install,
    module_roots,
    run_module,
    run_script,
)
from gentrace.tracer import Tracer
from gentrace.tracing import set_default

EXIT_USAGE = 2
EXIT_FAILURE = 1
EXIT_INTERRUPTED = 130


class UserError(click.ClickException):
    """A mistake in what the user asked for: one line, exit 2, the program never starts."""

    exit_code = EXIT_USAGE


def _print_version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    # Read only now: gentrace looks its version up when asked (importlib.metadata is slow to import).
    click.echo(f"gentrace, version {gentrace.__version__}")
    ctx.exit()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the version and exit.",
)
def main() -> None:
    """See what Python generators actually do: every next, send, throw and close, as a REPL log."""


class RunCommand(click.Command):
    """``run``, which leaves everything after SCRIPT or ``-m MODULE`` to the program, as python does.

    Click stops at the first argument (SCRIPT) by itself; ``-m MODULE`` is an option, so a ``--``
    is put after it.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        options = [p for p in self.params if isinstance(p, click.Option) and not p.is_flag]
        end = _module_end(args, {name for option in options for name in option.opts})
        if end is not None:
            args = [*args[:end], "--", *args[end:]]
        return super().parse_args(ctx, args)


def _module_end(args: list[str], valued: set[str]) -> int | None:
    """The position just after ``-m MODULE`` among gentrace's own options, if it is there."""
    i = 0
    while i < len(args) and args[i].startswith("-") and args[i] not in ("-", "--"):
        arg = args[i]
        i += 1
        if arg.startswith("--"):
            if arg in valued:  # its value is the next argument
                i += 1
            continue
        for j, letter in enumerate(arg[1:], 2):  # short options run together: -qm MODULE, -mMODULE
            if f"-{letter}" in valued:
                end = i if j < len(arg) else i + 1  # the value is the rest, or the next argument
                if letter == "m":
                    return end if end <= len(args) else None
                i = end
                break
    return None


@main.command(
    cls=RunCommand,
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
    short_help="Run a script or module with its generators traced.",
)
@click.option("-m", "module", metavar="MODULE", help="Run library module MODULE as a script, like python -m.")
@click.option(
    "-o",
    "--out",
    "outs",
    multiple=True,
    metavar="FILE",
    help="Also write the log to FILE: JSON Lines for .jsonl, a Chrome trace for .json, a page that "
    "replays the run step by step for .html, plain text otherwise. Repeatable.",
)
@click.option("-q", "--quiet", is_flag=True, help="No log on the terminal, only in --out files.")
@click.option(
    "--color/--no-color",
    default=None,
    help="Colour the log. Default: only when stderr is a terminal and NO_COLOR is unset.",
)
@click.option(
    "--only",
    multiple=True,
    metavar="PATTERN",
    help="Trace only generator functions whose name matches this glob (qualname, bare name, or "
    "module:qualname). Repeatable; a pattern that matched none is reported at exit.",
)
@click.option(
    "--include",
    multiple=True,
    metavar="GLOB",
    help="Also instrument modules whose name matches GLOB (even outside the program's tree). "
    "Repeatable; a GLOB that matched no module the program imported is reported at exit.",
)
@click.option("--max-repr", type=click.IntRange(min=1), metavar="N", help="Cut reprs to N characters.")
@click.option(
    "--max-events",
    type=click.IntRange(min=0),
    metavar="N",
    help="Stop recording after N events; the program runs on.",
)
@click.option(
    "--locals", "show_locals", is_flag=True, help="Show a generator's local variables each time it pauses."
)
@click.option("--timings", is_flag=True, help="Show the time spent inside each resume.")
@click.option(
    "--iterators",
    is_flag=True,
    help="Also trace iterators: every for loop's iter() and next() calls, iter() and next() written "
    "in the code, and generator expressions.",
)
@click.option("--summary", is_flag=True, help="At exit, print one line per instance and the anomalies.")
@click.option("--timeline", is_flag=True, help="At exit, print a swimlane chart, one lane per instance.")
@click.argument("program", nargs=-1, type=click.UNPROCESSED, metavar="[SCRIPT] [ARGS]...")
def run(
    module: str | None,
    outs: tuple[str, ...],
    quiet: bool,
    color: bool | None,
    only: tuple[str, ...],
    include: tuple[str, ...],
    max_repr: int | None,
    max_events: int | None,
    show_locals: bool,
    timings: bool,
    iterators: bool,
    summary: bool,
    timeline: bool,
    program: tuple[str, ...],
) -> NoReturn:
    """Run SCRIPT (or -m MODULE) like python does, with the REPL-style log of every generator
    step on stderr. Everything after SCRIPT or MODULE is passed to the program.

    \b
    gentrace run samples/averager.py
    gentrace run -o trace.jsonl samples/event_loop.py --tick 0.01
    """
    if module is None and not program:
        raise click.UsageError("missing SCRIPT or -m MODULE")
    args = list(program) if module is not None else list(program[1:])

    code = None
    if module is None:
        script = program[0]
        finder = InstrumentingFinder(
            [os.path.dirname(os.path.realpath(script))], include=include, only=only, iterators=iterators
        )
        try:
            code = compile_script(script, only, finder.selected, iterators)
        except OSError as exc:
            raise UserError(f"can't open file {script!r}: {exc.strerror or exc}") from None
        except (SyntaxError, ValueError) as exc:
            _print_compile_error(exc)
    else:
        sys.path[0] = os.getcwd()
        # Only the top-level name is looked up now: finding a submodule imports its packages,
        # which are the program's own code, to run traced (run_module imports them).
        try:
            found = importlib.util.find_spec(module.partition(".")[0])
        except (ImportError, ValueError) as exc:
            raise UserError(f"no module named {module!r} ({exc})") from None
        if found is None:
            raise UserError(f"no module named {module!r}")
        finder = InstrumentingFinder(module_roots(module), include=include, only=only, iterators=iterators)

    targets: list[Any] = list(outs)
    if not quiet:
        targets.append(sys.stderr)
    sinks = []
    if summary or timeline:
        from gentrace.recap import recap_sink

        sinks.append(recap_sink(lambda: sys.stderr, summary=summary, timeline=timeline))
    try:
        tracer = Tracer(
            out=targets,
            sinks=sinks,
            color=color,
            max_repr=max_repr,
            max_events=max_events,
            keep=0,
            locals=show_locals,
            timings=timings,
            iterators=iterators,
        )
    except OSError as exc:
        raise UserError(f"can't open --out file {exc.filename!r}: {exc.strerror or exc}") from None

    set_default(tracer)
    untraced = finder.imported_already(sys.modules)
    install(finder)
    # The tracer is closed at exit (after the program's other threads and its own atexit handlers
    # are done) by this handler, which then says which options selected nothing; the one every
    # tracer with outputs registers was registered first, so it runs after and finds it closed.
    atexit.register(_at_exit, os.getpid(), tracer, finder, untraced, int(code is not None))
    # The program's child processes are traced too; SIGTERM closes the logs before it kills.
    trace_children(
        RunSettings(
            roots=finder.roots,
            include=include,
            only=only,
            outs=[os.path.abspath(out) for out in outs],
            quiet=quiet,
            color=color,
            max_repr=max_repr,
            max_events=max_events,
            locals=show_locals,
            timings=timings,
            iterators=iterators,
            script=None if code is None else os.path.abspath(program[0]),
        )
    )
    try:
        if code is not None:
            run_script(code, program[0], args)
        else:
            assert module is not None
            run_module(module, args)
    except NoSuchModule as exc:
        atexit.unregister(_at_exit)  # nothing ran: nothing to say about what it selected
        raise UserError(str(exc)) from None
    except SystemExit:
        raise
    except KeyboardInterrupt as exc:
        _report(exc)
        _die_by_sigint()
    except BaseException as exc:
        _report(exc)
        sys.exit(EXIT_FAILURE)
    sys.exit(0)


def _die_by_sigint() -> NoReturn:
    """End as python does after an uncaught KeyboardInterrupt: the exit handlers run (gentrace's
    write the logs), then the process kills itself with SIGINT, so its parent (a shell, a test
    runner) sees that it was interrupted. Where SIGINT cannot kill it, it exits 130."""
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):  # closed or replaced by the program
            pass
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    except (OSError, ValueError):  # not the main thread, or no such signal here
        pass
    os._exit(EXIT_INTERRUPTED)


def _at_exit(
    pid: int, tracer: Tracer, finder: InstrumentingFinder, untraced: dict[str, list[str]], scripts: int
) -> None:
    """Close the tracer, then say which ``--include`` and ``--only`` options selected nothing."""
    if os.getpid() != pid:
        return  # a forked child's: the main process's tracer and warnings are its own
    close_whole(tracer)  # the log's closing lines, --summary and --timeline come first
    lines = _unselected(finder, untraced, scripts)
    if lines:
        try:
            sys.stderr.write("".join(f"gentrace: {line}\n" for line in lines))
            sys.stderr.flush()
        except (OSError, ValueError):  # the program closed stderr: nowhere to say it
            pass


_NAMED = 5  # modules named in a warning; the rest are counted


def _unselected(finder: InstrumentingFinder, untraced: dict[str, list[str]], scripts: int) -> list[str]:
    """The options that selected nothing, so that an empty log is not taken for generators that never
    ran: `untraced` holds the modules each ``--include`` glob named that were imported before the
    run, `scripts` counts the modules instrumented besides those the finder found (the script)."""
    lines = []
    for glob in dict.fromkeys(finder.include):
        if glob in untraced:
            names = untraced[glob]
            more = f" and {len(names) - _NAMED} more" if len(names) > _NAMED else ""
            lines.append(
                f"--include {glob!r} matched {', '.join(names[:_NAMED])}{more}, imported before "
                "tracing started: not traced"
            )
        elif glob not in finder.included:
            lines.append(f"--include {glob!r} matched no module the program imported from source")
    modules = len(finder.instrumented) + scripts
    for pattern in dict.fromkeys(finder.only):
        if pattern not in finder.selected:
            lines.append(
                f"--only {pattern!r} matched no generator function or async def in the {modules} "
                f"module{'' if modules == 1 else 's'} instrumented"
            )
    return lines


def _print_compile_error(exc: SyntaxError | ValueError) -> NoReturn:
    """Say why the script could not be compiled, as python does (no traceback), and exit 1."""
    import traceback  # only for a script that does not compile

    sys.stderr.write("".join(traceback.format_exception_only(type(exc), exc)))
    sys.exit(EXIT_FAILURE)


def _report(exc: BaseException) -> None:
    """Print an uncaught exception as python would, without gentrace's own frames."""
    clean_exception(exc)
    sys.excepthook(type(exc), exc, exc.__traceback__)


@main.command(short_help="An interactive Python console where every generator step is annotated.")
@click.option(
    "--color/--no-color",
    default=None,
    help="Colour the annotations. Default: only when stderr is a terminal and NO_COLOR is unset.",
)
@click.option(
    "-o",
    "--out",
    "outs",
    multiple=True,
    metavar="FILE",
    help="Also write the session's events to FILE. Repeatable.",
)
@click.option("--save", metavar="FILE", help="Write the session as a Markdown doctest to FILE on exit.")
@click.option(
    "--iterators",
    is_flag=True,
    help="Also trace iterators: every for loop's iter() and next() calls, iter() and next() written "
    "in the code, and generator expressions.",
)
@click.argument("script", required=False, metavar="[SCRIPT]")
def repl(
    color: bool | None, outs: tuple[str, ...], save: str | None, iterators: bool, script: str | None
) -> NoReturn:
    """Open a Python console whose generator steps are annotated on stderr. With SCRIPT, run it
    first (traced, as `gentrace run` does) and open the console in its namespace, like python -i.

    \b
    gentrace repl
    gentrace repl --save session.md samples/averager.py
    """
    from gentrace import repl as console

    try:
        status = console.main(script, list(outs), color, save, iterators)
    except OSError as exc:
        name = exc.filename if exc.filename is not None else script
        raise UserError(f"can't open file {name!r}: {exc.strerror or exc}") from None
    except (SyntaxError, ValueError) as exc:
        _print_compile_error(exc)
    sys.exit(status)


@main.command(short_help="Show a saved JSON Lines trace: the log, a summary, a timeline, Chrome's format.")
@click.argument("trace", metavar="TRACE.jsonl")
@click.option(
    "--color/--no-color",
    default=None,
    help="Colour the log. Default: only when stdout is a terminal and NO_COLOR is unset.",
)
@click.option(
    "--only",
    multiple=True,
    metavar="PATTERN",
    help="Show only generator functions whose name matches this glob, as under run. Repeatable.",
)
@click.option(
    "--gen", "gens", multiple=True, metavar="NAME", help="Show only instance NAME (a glob). Repeatable."
)
@click.option("--grep", metavar="TEXT", help="Show only events whose expression, result or note has TEXT.")
@click.option("--max-repr", type=click.IntRange(min=1), metavar="N", help="Cut reprs to N characters.")
@click.option(
    "--strict",
    is_flag=True,
    help="Exit 1 at the first bad line instead of skipping it, and if a filter matched no event.",
)
@click.option("--summary", is_flag=True, help="Show one line per instance and the anomalies, not the log.")
@click.option("--timeline", is_flag=True, help="Show a swimlane chart, one lane per instance, not the log.")
@click.option(
    "--to",
    "to",
    type=click.Choice(["text", "chrome"]),
    default="text",
    show_default=True,
    help="The output format: the REPL-style log, or the Chrome Trace Event Format (Perfetto).",
)
@click.option("-o", "--out", metavar="FILE", help="Write to FILE instead of stdout.")
@click.option(
    "--html",
    metavar="FILE",
    help="Write a self-contained page to FILE (- for stdout) that replays the trace step by step, "
    "instead of the log.",
)
def show(
    trace: str,
    color: bool | None,
    only: tuple[str, ...],
    gens: tuple[str, ...],
    grep: str | None,
    max_repr: int | None,
    strict: bool,
    summary: bool,
    timeline: bool,
    to: str,
    out: str | None,
    html: str | None,
) -> None:
    """Show TRACE.jsonl (written by `gentrace run -o TRACE.jsonl`; - reads stdin) as the log of
    run, in seq order; or its summary, timeline or Chrome trace; or a page that replays it.

    \b
    gentrace show trace.jsonl --gen 'averager#*'
    gentrace show trace.jsonl --summary --timeline
    gentrace show trace.jsonl --to chrome -o trace.json
    gentrace show trace.jsonl --html trace.html
    """
    from gentrace import show as showing

    if html is not None and (summary or timeline or to != "text" or out is not None):
        raise click.UsageError(
            "--html writes a page of its own: not with --summary, --timeline, --to or --out"
        )
    try:
        status = showing.main(
            trace,
            showing.ShowOptions(color, only, gens, grep, max_repr, strict, summary, timeline, to, out, html),
            lambda text, err: click.echo(text, err=err, nl=False, color=True),
        )
    except showing.MissingTrace as exc:
        raise UserError(str(exc)) from None
    sys.exit(status)
