"""Every view tells what ran: `gentrace show` of a saved trace prints, line for line, the log that
`gentrace run` printed live — for every sample, for threads and for asyncio — through real
subprocesses, as a user runs them; and with iterators, so do the summary, the timeline, the page
and the Chrome trace, made live or from the saved trace (with or without its events' ``kind``)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

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


# Iterators in two threads (loops left early) and in asyncio (`async for` over a class with
# __aiter__ and __anext__, one loop left early), and a generator expression.
ITERATORS = """
import asyncio
import threading


class Ticks:
    def __init__(self, n):
        self.n = n

    def __aiter__(self):
        self.i = 0
        return self

    async def __anext__(self):
        if self.i == self.n:
            raise StopAsyncIteration
        self.i += 1
        await asyncio.sleep(0)
        return self.i


async def count(n):
    total = 0
    async for t in Ticks(n):
        total += t
        if t == 3:
            break
    return total


async def main():
    print(await asyncio.gather(count(2), count(4)))


def work(items, found):
    for x in items:
        if x > 1:
            found.append(x)
            break


found = []
threads = [threading.Thread(target=work, args=([1, 2, 3], found), name=f"T{k}") for k in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
asyncio.run(main())
print(sum(x for x in found))
"""

DATA = re.compile(r'<script type="application/json" id="trace-data">(.*?)</script>', re.S)


def page_data(path: Path) -> dict[str, Any]:
    """The replay page's data, but its title (the script's name, or the trace's)."""
    found = DATA.search(path.read_text(encoding="utf-8"))
    assert found is not None
    data: dict[str, Any] = json.loads(found.group(1))
    del data["title"]
    return data


def views(trace: str, cwd: Path, *, log: bool = False) -> tuple[str, dict[str, Any], Any]:
    """What `gentrace show` makes of `trace`: the summary and timeline (after the log, with `log`);
    the page's data; the Chrome trace."""
    text = ""
    for options in ([[]] if log else []) + [["--summary"], ["--timeline"]]:
        shown = gentrace("show", "--no-color", trace, *options, cwd=cwd)
        assert (shown.returncode, shown.stderr) == (0, "")
        text += shown.stdout
    assert gentrace("show", trace, "--html", "shown.html", cwd=cwd).returncode == 0
    assert gentrace("show", trace, "--to", "chrome", "-o", "shown.json", cwd=cwd).returncode == 0
    return text, page_data(cwd / "shown.html"), json.loads((cwd / "shown.json").read_text(encoding="utf-8"))


def test_every_view_of_iterators_is_the_same_live_and_shown(tmp_path: Path) -> None:
    (tmp_path / "iterators.py").write_text(ITERATORS)
    outs = ["-o", "t.jsonl", "-o", "t.html", "-o", "t.json"]
    ran = gentrace("run", "-q", "--iterators", "--summary", "--timeline", *outs, "iterators.py", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "[3, 6]\n4\n"
    text, page, chrome = views("t.jsonl", tmp_path)
    assert ran.stderr == text
    assert page_data(tmp_path / "t.html") == page
    assert json.loads((tmp_path / "t.json").read_text(encoding="utf-8")) == chrome
    # What the views are about: the loops' iterators, the loops that left them, in every view.
    lines = ITERATORS.splitlines()
    async_for, thread_for = (
        next(n for n, line in enumerate(lines, 1) if code in line) for code in ("async for", "for x in")
    )
    log = "\n".join(line for step in page["steps"] for line in step[2])
    assert f">>> Ticks#1 = aiter(Ticks(n))  # iterators.py:{async_for} · async for t in Ticks(n):" in log
    assert f"# loop at line {thread_for} left before the end: list_iterator#2 not exhausted · thread T" in log
    left = f"not exhausted (loop at line {async_for} left early)"
    assert re.search(rf"\nTicks#2 +iterators.py:{async_for} · next 3 · gave 3 · {re.escape(left)} · ", text)
    assert re.search(r"\nTicks#1 +\[.*\]\n", text) and "^ a loop left it" in text
    assert {"ITER_ACTIVE", "ITER_EXHAUSTED"} <= {u[1] for step in page["steps"] for u in step[3]}
    assert f"loop at line {async_for} left Ticks#2" in {
        e["name"] for e in chrome["traceEvents"] if e["ph"] == "i"
    }

    # A trace written before events had a kind reads the same.
    old = tmp_path / "old.jsonl"
    with (tmp_path / "t.jsonl").open(encoding="utf-8") as src, old.open("w", encoding="utf-8") as dst:
        for line in src:
            data = json.loads(line)
            data.pop("kind", None)
            dst.write(json.dumps(data) + "\n")
    assert views("old.jsonl", tmp_path, log=True) == views("t.jsonl", tmp_path, log=True)
