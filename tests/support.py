"""What several test modules share: a fake clock, the comparison with a golden file, and what
checks that a generator's locals go as untraced.

Golden files live under tests/golden/ and are written by the code, never by hand: with
``GENTRACE_REGEN=1`` in the environment, `check_golden` rewrites the file instead of comparing
(``GENTRACE_REGEN=1 pytest`` rewrites them all); review the diff before committing it.
"""

from __future__ import annotations

import difflib
import gc
import os
import sys
import threading
import weakref
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

import gentrace
from gentrace.compiled import speedups
from gentrace.records import Ending, Record, Sink

GOLDEN = Path(__file__).resolve().parent / "golden"
REGEN_VARIABLE = "GENTRACE_REGEN"
# How much of a difference an assertion message shows.
MAX_DIFF_LINES = 60

# On 3.10 a bare `raise` restores the traceback the exception had when the proxy caught it, so
# the proxy's step frame stays on it; 3.11 re-raises the exception's own (trimmed) traceback.
# No pure-Python proxy can avoid it there: the README's "Transparency" section says so.
PROXY_FRAME_IN_TRACEBACKS = sys.version_info < (3, 11)
keeps_proxy_frame_on_310 = pytest.mark.xfail(
    PROXY_FRAME_IN_TRACEBACKS,
    reason="3.10: a bare raise keeps the proxy's frame on the traceback",
    strict=True,
)
# The compiled generator proxy has no frame to leave there.
keeps_generator_proxy_frame_on_310 = pytest.mark.xfail(
    PROXY_FRAME_IN_TRACEBACKS and speedups is None,
    reason="3.10: a bare raise keeps the pure-Python proxy's frame on the traceback",
    strict=True,
)


class FakeClock:
    """An integer-nanosecond clock that advances `step` each time it is read (the first reading is
    `step`). The tracer measures times from its first reading, so where the count starts does not
    show in any output."""

    def __init__(self, step: int = 1000) -> None:
        self.now = 0
        self.step = step

    def __call__(self) -> int:
        self.now += self.step
        return self.now


def regenerating() -> bool:
    """Whether golden files are being rewritten (``GENTRACE_REGEN=1``) rather than compared."""
    return os.environ.get(REGEN_VARIABLE) == "1"


def regen_command() -> str:
    """The command that rewrites the golden files of the running test's module."""
    # pytest sets this to "tests/test_x.py::test_y[id] (call)", the path from the rootdir.
    current = os.environ.get("PYTEST_CURRENT_TEST", "")
    module = current.split("::", 1)[0] if "::" in current else "tests"
    return f"{REGEN_VARIABLE}=1 pytest {module}"


def check_golden(name: str, text: str) -> None:
    """Compare `text` with the golden file tests/golden/NAME (NAME may have folders, as in
    ``show/fib.log``); under ``GENTRACE_REGEN=1``, write `text` to that file instead."""
    path = GOLDEN / name
    if regenerating():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    shown = f"tests/golden/{name}"
    command = f"`{regen_command()}` (from the repository root)"
    if not path.exists():
        raise AssertionError(f"there is no golden file {shown}: write it with {command} and review it")
    expected = path.read_text(encoding="utf-8")
    if text != expected:
        raise AssertionError(
            f"the output differs from the golden file {shown}; if the new output is right, rewrite "
            f"the file with {command} and review its diff.\n{_difference(expected, text, shown)}"
        )


def _difference(expected: str, text: str, shown: str) -> str:
    """A unified diff of the golden file and the output, unprintable characters escaped; when
    only line ends differ, one with the line ends shown."""
    for keepends in (False, True):
        lines = list(
            difflib.unified_diff(
                expected.splitlines(keepends),
                text.splitlines(keepends),
                fromfile=shown,
                tofile="output",
                lineterm="",
            )
        )
        if lines:
            break
    if len(lines) > MAX_DIFF_LINES:
        lines[MAX_DIFF_LINES:] = [f"… {len(lines) - MAX_DIFF_LINES} more lines of diff"]
    return "\n".join(_escaped(line) for line in lines)


def _escaped(line: str) -> str:
    """The line with its unprintable characters (the colour log's escapes) as Python escapes."""
    return "".join(c if c.isprintable() or c == "\t" else repr(c)[1:-1] for c in line)


class RecordingSink(Sink):
    """A sink that remembers every call made to it (``wants_start`` as asked)."""

    def __init__(self, wants_start: bool = False) -> None:
        self.wants_start = wants_start
        self.starts: list[Record] = []
        self.ends: list[Record] = []
        self.notes: list[dict[str, Any]] = []
        self.closings: list[Ending] = []

    def start(self, record: Record) -> None:
        self.starts.append(record)

    def end(self, record: Record) -> None:
        self.ends.append(record)

    def note(self, note: dict[str, Any]) -> None:
        self.notes.append(note)

    def close(self, ending: Ending) -> None:
        self.closings.append(ending)


def run_threads(workers: Iterable[threading.Thread]) -> None:
    """Start the threads and wait for them, switching between threads as often as possible."""
    started = list(workers)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for worker in started:
            worker.start()
        for worker in started:
            worker.join()
    finally:
        sys.setswitchinterval(interval)


class Local:
    """A generator's local whose going a weak reference sees."""


def noted_local(gone: list[Any]) -> Local:
    """A new local, its weak reference appended to `gone`."""
    local = Local()
    gone.append(weakref.ref(local))
    return local


def locals_after(
    ending: Callable[[Callable[..., Any], list[Any]], None], max_events: int | None
) -> list[Any]:
    """Run `ending` untraced, then traced (keeping nothing, recording up to `max_events`), with the
    collector off: what the locals it noted (`noted_local`) are now, None for each one gone."""
    tracer = gentrace.Tracer(keep=0, max_events=max_events)
    gone: list[Any] = []
    gc.disable()  # freed by reference counts, as untraced, not by the collector
    try:
        ending(lambda func: func, gone)
        ending(tracer.trace, gone)
    finally:
        gc.enable()
        tracer.close()
    return [ref() for ref in gone]
