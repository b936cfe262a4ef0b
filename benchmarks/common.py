"""What the benchmarks share: running children on either path, checking a run recorded what it
should, and formatting figures."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

PATHS = {"pure": "1", "compiled": ""}  # gentrace's path -> GENTRACE_PURE_PYTHON, read at import


class BenchmarkInvalid(Exception):
    """The run did not do what it should have: its timing would mean nothing."""


def expect(what: str, got: int, wanted: int, *, exact: bool) -> None:
    """Check that a traced run recorded what it should have (a tracer that gave up is fast)."""
    if got < wanted or (exact and got != wanted):
        raise BenchmarkInvalid(
            f"{what} recorded {got:,} events/lines, expected {'' if exact else 'at least '}{wanted:,}"
        )


def load_average() -> str:
    """The one-minute load average, which says how busy the machine was."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except (AttributeError, OSError):  # not on Windows
        return "?"


def fmt_ratio(x: float) -> str:
    return f"{x:.2f}×" if x < 10 else f"{x:,.0f}×"


def markdown(rows: list[list[str]]) -> str:
    """A markdown table, its columns padded: `rows` is the head, the alignment row, the body."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for i, r in enumerate(rows):
        pairs = list(zip(r, widths, strict=True))
        if i == 1:  # the alignment row: `:---` style, padded with dashes
            cells = [c.ljust(w, "-") if c == "---" else c.rjust(w, "-") for c, w in pairs]
        else:
            cells = [c.ljust(w) if j == 0 else c.rjust(w) for j, (c, w) in enumerate(pairs)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


@dataclass(frozen=True)
class Child:
    """A finished child process: its wall and CPU seconds (user + system) and what it printed."""

    wall: float
    cpu: float
    stdout: str


def run_child(command: Sequence[str], env: Mapping[str, str] | None = None) -> Child:
    """Run `command` to its end; a child that failed or wrote to stderr ran for nothing."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage, not all children's
        wall = time.perf_counter() - start
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        said = err.read()
        if code != 0 or said:  # "gentrace: stopped recording: ...", a traceback
            raise BenchmarkInvalid(f"{' '.join(command)} exited {code}: {said.strip()[-500:]}")
        return Child(wall, usage.ru_utime + usage.ru_stime, out.read())


def env_of(path: str, base: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The environment of a child process that runs gentrace on `path`: "pure" or "compiled"."""
    return {**base, "GENTRACE_PURE_PYTHON": PATHS[path]}


def bytecode_cached(tmp: str) -> dict[str, str]:
    """The environment with Python's bytecode cached in `tmp`, not in the tree, even where
    PYTHONDONTWRITEBYTECODE is set: an installed gentrace has its bytecode (pip compiles it), and a
    start-up that compiles every module times the compiler. The first run of each command fills the
    cache; it is not to be counted."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = tmp
    return env


def compiled_is_built() -> bool:
    """Whether a child without GENTRACE_PURE_PYTHON runs the compiled path (it is built here)."""
    probe = "from gentrace.compiled import speedups; print(speedups is not None)"
    return run_child([sys.executable, "-c", probe], env_of("compiled")).stdout.strip() == "True"
