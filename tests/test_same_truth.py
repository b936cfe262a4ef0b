"""Every view tells what ran: `gentrace show` of a saved trace prints, line for line, the log that
`gentrace run` printed live — for every sample, for threads and for asyncio — through real
subprocesses, as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from trace_samples import ROOT

TIMEOUT = 120

SAMPLES = {
    "averager": [],
    "fib": [],
    "exception_demo": [],
    "event_loop": ["--tick", "0.001"],
    "delegation": [],
    "asyncio_loop": [],
    "async_pipeline": [],
}

# Thread A closes its generator while thread B is inside a step of its own, and thread C's
# generator finishes while B still runs: the live log interleaves them.
THREADS = """
import threading

def worker(ready, go):
    yield "first"
    ready.set()
    go.wait()
    yield "second"

def closer():
    try:
        yield 1
    finally:
        print("closer cleans up")

def short():
    yield 1

ready, go = threading.Event(), threading.Event()
w = worker(ready, go)
next(w)
c = closer()
next(c)
b = threading.Thread(target=lambda: next(w), name="B")
b.start()
ready.wait()
a = threading.Thread(target=c.close, name="A")
a.start()
a.join()
s = short()
list(s)
go.set()
b.join()
"""


def gentrace(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "80", "PYTHONIOENCODING": "utf-8"}
    env.pop("NO_COLOR", None)
    env.pop("FORCE_COLOR", None)
    return subprocess.run(
        [sys.executable, "-m", "gentrace", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def run_then_show(script: Path, args: list[str], cwd: Path, trace: Path) -> tuple[str, str]:
    ran = gentrace("run", "--no-color", "-o", str(trace), str(script), *args, cwd=cwd)
    assert ran.returncode == 0, ran.stderr
    shown = gentrace("show", "--no-color", str(trace), cwd=cwd)
    assert (shown.returncode, shown.stderr) == (0, "")
    return ran.stderr, shown.stdout


@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_show_prints_what_run_printed(sample: str, tmp_path: Path) -> None:
    live, shown = run_then_show(
        ROOT / "samples" / f"{sample}.py", SAMPLES[sample], ROOT, tmp_path / "t.jsonl"
    )
    assert ">>> " in live
    assert shown == live


def test_show_prints_what_run_printed_for_threads(tmp_path: Path) -> None:
    script = tmp_path / "threads.py"
    script.write_text(textwrap.dedent(THREADS))
    live, shown = run_then_show(script, [], tmp_path, tmp_path / "t.jsonl")
    lines = live.splitlines()
    # The interleaving the test is about: A's close() and C's whole life inside B's step.
    b_start = lines.index(">>> next(worker#1)", 3)
    assert lines[b_start + 1] == ">>> closer#1.close()"
    assert lines.index("... next(worker#1)") > lines.index(">>> next(short#1)") > b_start
    assert shown == live


def test_a_trace_from_before_ended_after_still_reads_in_order(tmp_path: Path) -> None:
    # Written by an older gentrace: no ended_after. One thread of generators comes out as run wrote it.
    trace = tmp_path / "t.jsonl"
    live, _ = run_then_show(ROOT / "samples" / "delegation.py", [], ROOT, trace)
    old = tmp_path / "old.jsonl"
    with trace.open(encoding="utf-8") as src, old.open("w", encoding="utf-8") as dst:
        for line in src:
            data = json.loads(line)
            data.pop("ended_after", None)
            dst.write(json.dumps(data) + "\n")
    shown = gentrace("show", "--no-color", str(old), cwd=ROOT)
    assert shown.stdout == live
