"""The pytest plugin: assert on what generators did, and see their log when a test fails.

Installed with gentrace (entry point ``pytest11``; ``-p no:gentrace`` turns it off). It gives:

- the ``gentracer`` fixture: a fresh in-memory `GenTracer`, the process-wide tracer for the test;
- ``--gentrace`` (and ``--gentrace-only PATTERN``, ``--gentrace-iterators``): the project's
  generator functions are instrumented at import, as ``gentrace run`` does (with its loops,
  ``iter()``/``next()`` calls and generator expressions, as ``--iterators``), and each test is
  recorded;
- the ``@pytest.mark.gentrace(only=...)`` marker: record one test.

A recorded test that fails gets its generator log as a report section, shown by pytest as
"Captured gentrace log call": its last `TAIL_LINES` lines, after one that counts those left out. A
log is kept in memory while it is small and in a temporary file past that, and let go when its test
ends. All state lives on the config and on the items, so in-process runs (pytester) and xdist
workers each keep their own.
"""

from __future__ import annotations

import importlib
import io
import sys
import tempfile
import threading
from collections.abc import Callable, Generator, Sequence
from typing import Any

import pytest

from gentrace.events import Event
from gentrace.records import GEN_RUNNING, YIELD
from gentrace.tracer import Tracer
from gentrace.tracing import replace_default

__all__ = ["GenTracer"]

MARKER = "gentrace"
SECTION = "gentrace log"
TAIL_LINES = 1000  # of a failing test's log, in its report
TAIL_BYTES = 1 << 20  # at most, however long those lines are
IN_MEMORY = 1 << 20  # of a log: past this, the rest goes to a temporary file


class _Log(io.TextIOBase):
    """A tracer's text log: in memory while small, then in a temporary file (gone once closed).

    It gives the whole text back (`getvalue`), or its last lines and how many came before (`tail`).
    """

    def __init__(self) -> None:
        self._file = tempfile.SpooledTemporaryFile(max_size=IN_MEMORY, mode="w+b")  # noqa: SIM115 (closed by close())
        # Reentrant: a generator finalized at an allocation in write() records its collect here.
        self._lock = threading.RLock()
        self.lines = 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with self._lock:
            self._file.write(text.encode("utf-8", "surrogatepass"))
            self.lines += text.count("\n")
        return len(text)

    def getvalue(self) -> str:
        """The whole log."""
        return self._read(0).decode("utf-8", "surrogatepass")

    def tail(self, lines: int) -> tuple[str, int]:
        """The log's last `lines` lines (within `TAIL_BYTES`), and the number of lines before them."""
        with self._lock:
            start = max(self._file.seek(0, io.SEEK_END) - TAIL_BYTES, 0)
            data = self._read(start)
            total = self.lines
        if start:
            data = data[data.find(b"\n") + 1 :]  # from a line's start
        *ended, last = data.decode("utf-8", "surrogatepass").split("\n")
        found = [line + "\n" for line in ended]
        if last:  # a line not ended yet
            found.append(last)
            total += 1
        kept = found[len(found) - lines :] if lines else []
        return "".join(kept), total - len(kept)

    def _read(self, start: int) -> bytes:
        with self._lock:
            self._file.seek(start)
            data: bytes = self._file.read()
            self._file.seek(0, io.SEEK_END)
        return data

    def close(self) -> None:
        with self._lock:
            self._file.close()
        super().close()


class GenTracer(Tracer):
    """The tracer the ``gentracer`` fixture gives a test: a `gentrace.Tracer` with helpers.

    >>> def test_averager(gentracer):
    ...     g = averager(); next(g); g.send(10); g.close()
    ...     assert gentracer.ops("averager#1") == ["create", "next", "send", "close"]

    It records in memory (`keep`: as for `Tracer`) and keeps the REPL-style log, without colour,
    for `log()` (past a megabyte, in a temporary file). Generators whose function does not match
    `only` (``--only`` globs) are not traced.
    """

    def __init__(self, *, keep: int | None = None, only: Sequence[str] = (), iterators: bool = False) -> None:
        self._text = _Log()
        self._keep = keep
        super().__init__(out=self._text, color=False, keep=keep, only=only, iterators=iterators)

    def ops(self, name: str) -> list[str]:
        """The operations on instance `name`, in order: ``["create", "next", "send", "close"]``."""
        __tracebackhide__ = True  # a LookupError points at the test's line, not at ours
        return [event.op for event in self._events_of(name)]

    def values(self, name: str) -> list[Any]:
        """The objects instance `name` yielded, in order (``None`` included)."""
        __tracebackhide__ = True
        return [event.value for event in self._events_of(name) if event.outcome == YIELD]

    def final_state(self, name: str) -> str:
        """The state instance `name` was last left in (``GEN_RUNNING`` passed over)."""
        __tracebackhide__ = True
        events = self._events_of(name)
        for event in reversed(events):
            if event.state_after != GEN_RUNNING:
                return event.state_after
        return events[-1].state_after

    def log(self) -> str:
        """The REPL-style log of what was recorded so far, as plain text."""
        return self._text.getvalue()

    def _events_of(self, name: str) -> list[Event]:
        __tracebackhide__ = True
        events = self.events
        found = [event for event in events if event.gen == name]
        if not found:
            recorded = ", ".join(dict.fromkeys(event.gen for event in events)) or "none"
            raise LookupError(f"no generator instance named {name!r} was recorded; recorded: {recorded}")
        return found


class _Recording:
    """What one test records: its tracers (usually one) and how to put the previous default back."""

    def __init__(self, only: Sequence[str], iterators: bool = False) -> None:
        self.only = only
        self.iterators = iterators
        self.tracers: list[GenTracer] = []
        self._restores: list[Callable[[], None]] = []

    def start(self, *, keep: int | None) -> GenTracer:
        tracer = GenTracer(keep=keep, only=self.only, iterators=self.iterators)
        self.tracers.append(tracer)
        self._restores.append(replace_default(tracer))
        return tracer

    def in_memory(self) -> GenTracer | None:
        for tracer in self.tracers:
            if tracer._keep != 0:
                return tracer
        return None

    def stop(self) -> None:
        while self._restores:
            self._restores.pop()()
        for tracer in self.tracers:
            tracer.close()

    def report(self) -> str:
        """What a failing test's report shows: each log's tail, after a line counting what it left out."""
        parts = []
        for tracer in self.tracers:
            text, before = tracer._text.tail(TAIL_LINES)
            if before:
                text = f"# ... {before:,} earlier lines left out\n{text}"
            if text:
                parts.append(text)
        return "\n".join(parts)

    def release(self) -> None:
        """Let the logs go (a generator kept past the test keeps its tracer, not the log)."""
        for tracer in self.tracers:
            tracer._text.close()


_RECORDING = pytest.StashKey[_Recording]()
_ONLY = pytest.StashKey[tuple[str, ...]]()  # set when --gentrace is on: its --gentrace-only patterns
_ITERATORS = pytest.StashKey[bool]()  # --gentrace-iterators


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gentrace", "gentrace: trace generators")
    group.addoption(
        "--gentrace",
        action="store_true",
        default=False,
        help="Trace the generator functions of the code under test; show a failing test's generator log.",
    )
    group.addoption(
        "--gentrace-only",
        action="append",
        default=[],
        metavar="PATTERN",
        help="With --gentrace (implied), record only generator functions matching the glob "
        "(outer.nested, nested, module:outer.nested). Repeatable.",
    )
    group.addoption(
        "--gentrace-iterators",
        action="store_true",
        default=False,
        help="With --gentrace (implied), also record iterators: every for loop's iter() and next() "
        "calls, iter() and next() written in the code, and generator expressions.",
    )


def _wanted(namespace: Any) -> bool:
    return bool(
        getattr(namespace, "gentrace", False)
        or getattr(namespace, "gentrace_only", None)
        or getattr(namespace, "gentrace_iterators", False)
    )


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    # Before the initial conftests import the code under test: a module imported earlier stays
    # uninstrumented.
    if not _wanted(early_config.known_args_namespace):
        return
    from gentrace.instrument import InstrumentingFinder, uninstall

    test_files = [str(pattern) for pattern in early_config.getini("python_files")]
    finder = InstrumentingFinder(
        [str(early_config.rootpath)],
        exclude=[*test_files, "conftest.py"],
        iterators=bool(early_config.known_args_namespace.gentrace_iterators),
    )
    # Behind pytest's assertion rewriter, so that it keeps every module it wants (test files,
    # conftest.py, registered plugins) even when a test file's name escapes `exclude`.
    rewriter: object = early_config.pluginmanager.rewrite_hook
    position = next((i + 1 for i, hook in enumerate(sys.meta_path) if hook is rewriter), 0)
    sys.meta_path.insert(position, finder)
    importlib.invalidate_caches()
    # Cleanups run right after pytest_unconfigure, and also when configuring failed half-way.
    early_config.add_cleanup(lambda: uninstall(finder))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(only=None): record this test's generators and show their log if it fails; "
        "only= (a glob or a list of globs) replaces --gentrace-only for it.",
    )
    if _wanted(config.option):
        config.stash[_ONLY] = tuple(config.option.gentrace_only)
        config.stash[_ITERATORS] = bool(config.option.gentrace_iterators)


def _marker_only(marker: pytest.Mark) -> tuple[str, ...] | None:
    unknown = sorted(set(marker.kwargs) - {"only"})
    if marker.args or unknown:
        given = ", ".join([*map(repr, marker.args), *unknown])
        raise TypeError(f"@pytest.mark.{MARKER}(): takes only the keyword only=, got {given}")
    only = marker.kwargs.get("only")
    if only is None:
        return None
    if isinstance(only, str):
        return (only,)
    if isinstance(only, (list, tuple)) and all(isinstance(p, str) for p in only):
        return tuple(only)
    raise TypeError(f"@pytest.mark.{MARKER}(only=...): expected a glob or a list of globs, got {only!r}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    # Started before any fixture: a generator made by a fixture and driven by the test is traced.
    only = item.config.stash.get(_ONLY, None)
    marker = item.get_closest_marker(MARKER)
    uses_fixture = "gentracer" in getattr(item, "fixturenames", ())
    if only is not None or marker is not None or uses_fixture:
        marked = _marker_only(marker) if marker is not None else None
        iterators = item.config.stash.get(_ITERATORS, False)
        recording = _Recording(marked if marked is not None else only or (), iterators)
        item.stash[_RECORDING] = recording
        recording.start(keep=None if uses_fixture else 0)  # keep nothing alive that needs no keeping
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    yield
    recording = item.stash.get(_RECORDING, None)
    if recording is not None:
        recording.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, None, None]:
    recording = item.stash.get(_RECORDING, None)
    if (
        recording is not None
        and call.excinfo is not None
        and not call.excinfo.errisinstance(pytest.skip.Exception)
    ):
        text = recording.report()
        if text:
            item.add_report_section(call.when, SECTION, text)
    yield
    if call.when == "teardown" and recording is not None:
        recording.release()
        del item.stash[_RECORDING]  # the records may hold the test's objects: let them go


@pytest.fixture
def gentracer(request: pytest.FixtureRequest) -> GenTracer:
    """A fresh in-memory `GenTracer`, the process-wide tracer for this test (threads included).

    Every ``@gentrace.trace`` generator the test drives is recorded (and, under ``--gentrace``,
    the instrumented ones). Helpers: ``ops(name)``, ``values(name)``, ``final_state(name)``,
    ``log()``. An enclosing ``with tracer:`` still wins in its own context.
    """
    item: pytest.Item = request.node
    recording = item.stash.get(_RECORDING, None)
    if recording is None:  # asked for with request.getfixturevalue(): record from now on
        recording = item.stash[_RECORDING] = _Recording((), item.config.stash.get(_ITERATORS, False))
    return recording.in_memory() or recording.start(keep=None)
