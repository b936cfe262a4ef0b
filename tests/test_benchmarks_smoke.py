"""The benchmarks that compare the two paths still run: `--quick`, in real subprocesses.

A smoke check, not a measurement: nothing here looks at a figure. A benchmark that broke (a
changed API, a run that recorded nothing, a path that fell back) exits 1 or fails; one that runs
prints every row of issue 17's table.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 180  # seconds; both paths, on a busy machine

ROWS = [
    "in memory ÷ minimal proxy (worst of for/send/next)",
    "JSON Lines to a file, send loop, plain values",
    "JSON Lines to a file, send loop, mixed values",
    "text log to a file (slowest of for/send/next)",
    "`gentrace run -q --out t.jsonl`: overhead per step (CPU)",
    "start-up of `gentrace run` on an empty script",
    "peak memory of `gentrace run -q --out t.jsonl`, small → large",
    "`yield from` chain, 12 levels, under `gentrace run -q` ÷ python",
    "`async for` over a traced async generator, in memory ÷ untraced",
    "2,000 gathered coroutine tasks, in memory ÷ untraced",
]


def quick(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, f"benchmarks/{script}", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=TIMEOUT,
    )


def test_paths_prints_every_row_of_the_table() -> None:
    ran = quick("paths.py")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    table = [line for line in ran.stdout.splitlines() if line.startswith("| ")]
    titles = [line.split("|")[1].strip() for line in table[2:]]  # after the head and the ---
    assert titles == ROWS
    assert all(line.count("|") == 9 for line in table)  # the eight columns


def test_leak_check_runs_both_paths() -> None:
    ran = quick("leak_check.py")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    paths = [line.split("|")[1].strip() for line in ran.stdout.splitlines() if line.startswith("| ")]
    assert paths[2:] in (["pure", "compiled"], ["pure"])
    if paths[2:] == ["pure"]:
        assert "gentrace._speedups is not built" in ran.stdout
