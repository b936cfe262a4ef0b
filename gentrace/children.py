"""The processes of a ``gentrace run``: the program's child processes traced as it is, each into its
own files; SIGTERM closing the main process's logs before it dies.

A child writes its files beside the run's ``--out`` files, its pid before the extension
(``t.jsonl`` → ``t.4242.jsonl``, ``t.log`` → ``t.4242.log``, ``t.json`` → ``t.4242.json``; no
``.html`` page, which ``gentrace show t.4242.jsonl --html`` makes); its JSON Lines events carry
``"pid"``, and each line of its terminal log starts with ``[pid 4242]``. The main process writes
what it always did. How multiprocessing's children (every start method, and so
``concurrent.futures``' process pools) come to be traced:

- A child starts recording when multiprocessing starts it (`util.register_after_fork`, called in
  every forked child just before the process's target runs; a spawned child, in `start`), and its
  tracer is closed once the target has returned (a multiprocessing finalizer: forked children end
  with ``os._exit``). A child killed before (``Pool.terminate()`` kills its workers) has its JSON
  Lines and text files written up to its last event; its end note and closing lines, and the end
  of its ``.json`` output, are what it could not write.
- At a fork, the child forgets the tracers it inherited: their outputs hold the parent's unwritten
  lines, and are the parent's to write. A bare ``os.fork()`` child is not traced.
- ``spawn`` and ``forkserver`` start a new interpreter with a ``-c`` program; the run prefixes it
  with `start` (gentrace's import hook, and the program's script run instrumented where
  multiprocessing runs it again as ``__mp_main__``). The fork server itself records nothing.

Only on POSIX, where multiprocessing starts interpreters through ``util.spawnv_passfds``.
"""

from __future__ import annotations

import functools
import importlib._abc
import importlib.machinery
import importlib.util
import os
import signal
import sys
import threading
import types
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from gentrace.instrument import InstrumentingFinder, compile_script, install, run_as
from gentrace.tracer import Tracer, close_all, forget_all
from gentrace.tracing import set_default

if TYPE_CHECKING:
    import importlib.abc

_HOME = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the folder gentrace is in
_SPAWN = "from multiprocessing.spawn import spawn_main"
_FORKSERVER = "from multiprocessing.forkserver import main"
_LAST = -sys.maxsize  # multiprocessing's finalizers run from the highest exit priority down


@dataclass(frozen=True)
class RunSettings:
    """What a child process needs to trace as the run does: the import hook's and the tracer's
    options (`outs` absolute, `script` the program's script, None under ``-m``)."""

    roots: Sequence[str]
    include: Sequence[str]
    only: Sequence[str]
    outs: Sequence[str]
    quiet: bool
    color: bool | None
    max_repr: int | None
    max_events: int | None
    locals: bool
    timings: bool
    iterators: bool
    script: str | None

    def to_json(self) -> str:
        import json  # only once the program starts an interpreter

        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> RunSettings:
        import json

        return cls(**json.loads(text))


def child_path(path: str, pid: int) -> str:
    """Where a child process writes the output the run writes to `path`: its pid before the
    extension (``t.jsonl`` → ``t.4242.jsonl``; ``t`` → ``t.4242``)."""
    stem, extension = os.path.splitext(path)
    return f"{stem}.{pid}{extension}"


_settings: RunSettings | None = None  # set in every process of a run


def trace_children(settings: RunSettings) -> None:
    """In the main process of a run (started by `run`): trace the child processes it starts, and
    have SIGTERM close the logs first."""
    _begin(settings)
    close_logs_on_sigterm()
    if "multiprocessing.util" in sys.modules:
        _patch_multiprocessing(sys.modules["multiprocessing.util"])
    else:
        # multiprocessing is not imported for the program: its util module is patched once it is.
        sys.meta_path.insert(0, _AfterImport("multiprocessing.util", _patch_multiprocessing))


def start(settings: str, serve: bool) -> None:
    """In a new interpreter started by multiprocessing, before its own ``-c`` program: trace as the run.

    `serve` is true in a fork server, which records nothing itself: the children it forks do.
    """
    global _fixup_main_from_path
    begun = RunSettings.from_json(settings)
    _begin(begun)
    install(
        InstrumentingFinder(begun.roots, include=begun.include, only=begun.only, iterators=begun.iterators)
    )
    from multiprocessing import spawn, util

    if begun.script is not None:
        # Where multiprocessing runs the program's script again, as __mp_main__: instrumented.
        _fixup_main_from_path = spawn._fixup_main_from_path  # type: ignore[attr-defined]
        spawn._fixup_main_from_path = functools.partial(_run_main, begun)  # type: ignore[attr-defined]
    _patch_multiprocessing(util)
    if not serve:
        _child_started(_token)  # a spawned child: multiprocessing calls no after-fork hook in it


def _begin(settings: RunSettings) -> None:
    global _settings
    if _settings is None and hasattr(os, "register_at_fork"):
        os.register_at_fork(before=_forking, after_in_parent=_release, after_in_child=_forked)
    _settings = settings


# A forked child dies by SIGTERM at once, from its first instant, as under python: the handler it
# would inherit could run too late, once the child blocks (Pool.terminate() takes the lock its idle
# workers wait for, then kills them), or not at all, if SIGTERM came before the child put the
# default back. So SIGTERM is held back across the fork, and the child lets it in only then. The
# child's outputs are written through (`Tracer(pid=...)`): it loses nothing but its closing lines.
_fork = threading.local()  # per forking thread: whether SIGTERM is held back for this fork


def _forking() -> None:
    held = signal.getsignal(signal.SIGTERM) is _terminate
    if held:
        held = signal.SIGTERM not in signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    _fork.held = held


def _release() -> None:
    if getattr(_fork, "held", False):
        _fork.held = False
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})


def _forked() -> None:
    forget_all()  # the parent's tracers are its own to write
    if signal.getsignal(signal.SIGTERM) is _terminate:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _release()


def close_logs_on_sigterm() -> None:
    """Have SIGTERM close the log files first, then kill the process as it kills python."""
    # Only over the default action: a SIGTERM ignored or handled where gentrace started stays so.
    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _terminate)


def close_whole(tracer: Tracer) -> None:
    """Close `tracer`, SIGTERM held back meanwhile (on POSIX): it kills once the files are whole."""
    if not hasattr(signal, "pthread_sigmask"):
        tracer.close()
        return
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    try:
        tracer.close()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def _terminate(signum: int, frame: Any) -> None:
    # Not an exception the program could catch: python dies by the signal, with no finally block
    # or atexit handler run, and its parent sees it. The default comes back first, so that a second
    # SIGTERM kills at once if closing hangs.
    signal.signal(signum, signal.SIG_DFL)
    try:
        close_all()
    finally:
        os.kill(os.getpid(), signum)


# -- multiprocessing -------------------------------------------------------------------------------


def _patch_multiprocessing(util: types.ModuleType) -> None:
    """Have the interpreters multiprocessing starts trace too, and every child start recording."""
    spawnv_passfds = getattr(util, "spawnv_passfds", None)  # POSIX only
    if spawnv_passfds is not None and getattr(spawnv_passfds, "__wrapped__", None) is None:
        wrapped = functools.partial(_spawnv_passfds, spawnv_passfds)
        setattr(util, "spawnv_passfds", functools.update_wrapper(wrapped, spawnv_passfds))  # noqa: B010
        util.register_after_fork(_token, _child_started)


def _spawnv_passfds(spawnv_passfds: Callable[..., int], path: str, args: Sequence[str], passfds: Any) -> int:
    return spawnv_passfds(path, traced_command(list(args)), passfds)


def traced_command(args: list[str]) -> list[str]:
    """multiprocessing's command line for a new interpreter, its program run after `start` if it is
    a child's or a fork server's (the resource tracker's is left alone)."""
    if "-c" not in args or _settings is None:
        return args
    at = args.index("-c") + 1
    program = args[at] if at < len(args) else ""
    if _SPAWN not in program and _FORKSERVER not in program:  # (3.14's begins "import sys; ")
        return args
    serve = _FORKSERVER in program
    prefix = (
        f"import sys; sys.path.insert(0, {_HOME!r}); import gentrace.children; del sys.path[0]; "
        f"gentrace.children.start({_settings.to_json()!r}, {serve!r})\n"
    )
    return [*args[:at], prefix + program, *args[at + 1 :]]


class _Token:
    """What `util.register_after_fork` keeps a weak reference to."""


_token = _Token()


def _child_started(token: _Token) -> None:
    # In every child multiprocessing starts, before its target runs.
    settings = _settings
    if settings is None:
        return
    from multiprocessing import util

    pid = os.getpid()
    # Not a page: it is made at the end from a temporary file, which a killed child would leave.
    outs: list[Any] = [child_path(out, pid) for out in settings.outs if not out.endswith(".html")]
    if not settings.quiet:
        outs.append(LabelledStderr(f"[pid {pid}] "))
    tracer = Tracer(
        out=outs,
        color=settings.color,
        max_repr=settings.max_repr,
        max_events=settings.max_events,
        keep=0,
        locals=settings.locals,
        timings=settings.timings,
        iterators=settings.iterators,
        pid=pid,
    )
    set_default(tracer)
    # Forked children end with os._exit: multiprocessing's finalizers are their atexit.
    util.Finalize(None, close_whole, args=(tracer,), exitpriority=_LAST)


_fixup_main_from_path: Callable[[str], None] | None = None  # multiprocessing's own


def _run_main(settings: RunSettings, main_path: str) -> None:
    """multiprocessing's ``spawn._fixup_main_from_path``, the program's script run instrumented."""
    from multiprocessing import spawn

    current = sys.modules["__main__"]
    if main_path != settings.script or getattr(current, "__file__", None) == main_path:
        assert _fixup_main_from_path is not None
        return _fixup_main_from_path(main_path)
    spawn.old_main_modules.append(current)
    main = types.ModuleType("__mp_main__")
    main.__dict__.update(
        run_as(
            compile_script(main_path, settings.only, iterators=settings.iterators), main_path, "__mp_main__"
        )
    )
    sys.modules["__main__"] = sys.modules["__mp_main__"] = main
    return None


class LabelledStderr:
    """``sys.stderr`` as it is at each write, each line started with `label`; the program's stdout
    is flushed first, as for the main process's log."""

    def __init__(self, label: str) -> None:
        self.label = label

    def write(self, text: str) -> int:
        try:
            sys.stdout.flush()
        except (AttributeError, ValueError, OSError):
            pass
        lines = text.splitlines(keepends=True)
        return sys.stderr.write("".join(self.label + line for line in lines))

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()

    def fileno(self) -> int:
        return sys.stderr.fileno()


class _AfterImport:
    """Calls `then(module)` once module `name` has been imported the first time.

    First on ``sys.meta_path``, it answers for that one name, once, with the spec the finders after
    it find; it stays there, answering nothing (taking it off could make an import running in
    another thread skip a finder). Like `InstrumentingFinder`, a finder by its `find_spec` alone.
    """

    def __init__(self, name: str, then: Callable[[types.ModuleType], None]) -> None:
        self.name: str | None = name
        self.then = then

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.name:
            return None
        self.name = None
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _Then(spec.loader, self.then)
        return spec


class _Then(importlib._abc.Loader):  # importlib.abc's Loader, without importing importlib.abc
    """`loader`, calling `then(module)` after executing the module (which sees `loader` as its own)."""

    def __init__(self, loader: importlib.abc.Loader, then: Callable[[types.ModuleType], None]) -> None:
        self.loader = loader
        self.then = then

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        module.__loader__ = self.loader
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        self.loader.exec_module(module)
        self.then(module)
