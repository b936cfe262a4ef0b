"""What ``--iterators`` costs per loop step, what it costs without the flag (nothing), and its memory.

Run it from the repository root::

    python benchmarks/iterators.py            # about 1-2 minutes: 1,000,000 steps, best of 5
    python benchmarks/iterators.py --quick    # about 15 s: 200,000 steps, best of 3, noisier

Three tables, every time the CPU time (user + system) of the process that ran the code, best of
N: a busy machine disturbs it less than wall time. A command's cost per step is its slope: its
best time at N steps minus its best time at 0 steps (the start-up: imports, the rewrite at
compile), divided by N; "more than python" is that slope minus python's.

1. Without ``--iterators`` nothing changes. A loop-heavy script (for loops, a comprehension, a
   generator expression, ``iter()``/``next()`` calls: 5 × N steps; no generator function) is run
   as ``python``, ``gentrace run -q`` and ``gentrace run -q --iterators``. The code that
   ``gentrace run`` compiles for it without the flag is checked to be python's own (an equal code
   object: no loop rewritten), so its steps cost what python's do.
2. With ``--iterators``, a ``for`` loop over a list of N items (N + 1 next steps), recorded:
   ``gentrace run -q --iterators`` (recorded, written nowhere) and with ``-o t.jsonl``, as
   subprocesses; in this process, the loop's function compiled by python, compiled by the rewrite
   with no tracer recording, and run under ``Tracer(iterators=True, keep=0)`` and
   ``Tracer(out="t.jsonl", iterators=True, keep=0)``. Every recorded run is checked: the JSON
   Lines name the list's iterator in N + 2 records (its iter() and N + 1 steps); a tracer that
   writes nowhere cannot give up, and a first, untimed run with a counting sink checks that it
   records as many.
3. Memory with many short-lived iterators: ``gentrace run -q --iterators`` over a script that
   makes and drops N of them (a loop over a one-item list; a loop left at its first item by
   ``break``; ``it = iter(lst); next(it)``; the same with an iterator class of the program's, which
   can be weakly referenced), at two sizes: the child's peak RSS (python's beside it) and the
   largest the name table of iterators got (sampled every 1,024 iterators). Both should stay flat
   from the smaller size to the larger. The peak RSS is the child's own ``VmHWM`` (Linux's
   ``/proc/self/status``; not measured elsewhere): ``ru_maxrss`` would count the memory of the
   process that started it too. ``--tracemalloc`` adds how far the traced memory rose during the
   loop (``python -X tracemalloc``; about 6× slower).

It checks the targets: without the flag, the same code, and per step at most 10% slower than
python (the code is python's own: what remains is the machine's noise); with it, at most 1 µs per
step more than python for ``gentrace run -q --iterators`` and for ``Tracer(iterators=True,
keep=0)``; memory flat (from the smaller size to the larger, the peak RSS within 10% or 4 MiB,
whichever is more, and the name table within 64 entries). Writing JSON Lines is mostly the JSON
Lines sink's cost per event, which a generator step pays too (``benchmarks/overhead.py``): shown,
not judged here.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from common import BenchmarkInvalid, load_average

import gentrace
from gentrace.instrument import compile_script

STEP_TARGET_NS = 1000.0  # at most this much more than python per step, with --iterators
SAME_SPEED = 0.10  # without --iterators: per step at most 10% slower than python (noise)
RSS_FLAT = (1.10, 4)  # the larger size's peak RSS within 10% or 4 MiB of the smaller's
TABLE_FLAT = 64  # the largest name table within this many entries at both sizes

GENTRACE = [sys.executable, "-m", "gentrace", "run", "-q"]

# Part 1: every kind of loop the rewrite touches, 5 steps per N, and no generator function (a
# generator function is traced by `gentrace run` with or without --iterators).
LOOPS = """\
import sys

n = int(sys.argv[1])
numbers = list(range(n))
total = 0
for x in numbers:
    total += x
squares = [x * x for x in numbers]
total += sum(x for x in squares)
it = iter(numbers)
for _ in range(n):
    total += next(it)
print(total)
"""
LOOPS_STEPS = 5  # per N: the for loop, the comprehension, the generator expression, range, next()

# Part 2: the loop of the issue, over a list.
LIST_LOOP = """\
import sys


def run(numbers):
    total = 0
    for x in numbers:
        total += x
    return total


if __name__ == "__main__":
    print(run(list(range(int(sys.argv[1])))))
"""

# Part 3: N short-lived iterators made and dropped, by four patterns. Under `gentrace run` the
# largest name table is sampled; under python, gentrace is never imported.
MEMORY = """\
import sys


class Countdown:
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return self

    def __next__(self):
        if self.n <= 0:
            raise StopIteration
        self.n -= 1
        return self.n


def table_size():
    gentrace = sys.modules.get("gentrace")
    tracer = gentrace.current_tracer() if gentrace is not None else None
    return -1 if tracer is None or tracer.iterators is None else len(tracer.iterators)


def loop(n):
    largest = 0
    for i in range(n):
        for x in [i]:
            pass
        if i % 1024 == 0:
            largest = max(largest, table_size())
    return largest


def left(n):
    largest = 0
    for i in range(n):
        for x in [i, i]:
            break
        if i % 1024 == 0:
            largest = max(largest, table_size())
    return largest


def calls(n):
    largest = 0
    numbers = [1, 2, 3]
    for i in range(n):
        it = iter(numbers)
        next(it)
        if i % 1024 == 0:
            largest = max(largest, table_size())
    return largest


def objects(n):
    largest = 0
    for i in range(n):
        it = iter(Countdown(2))
        next(it)
        if i % 1024 == 0:
            largest = max(largest, table_size())
    return largest


import tracemalloc

pattern, n = sys.argv[1], int(sys.argv[2])
tracing = tracemalloc.is_tracing()  # python -X tracemalloc
if tracing:
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
largest = globals()[pattern](n)
rose = tracemalloc.get_traced_memory()[1] - before if tracing else -1
peak = -1  # KiB: this process's own peak RSS, which Linux gives; ru_maxrss counts the parent's too
try:
    with open("/proc/self/status") as status:
        peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
except OSError:
    pass
print(largest, rose, peak)
"""
PATTERNS = {
    "loop": "for x in [i]: pass",
    "left": "for x in [i, i]: break",
    "calls": "it = iter(lst); next(it)",
    "objects": "it = iter(Countdown(2)); next(it)",
}

# -- running a child -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Child:
    cpu: float  # seconds, user + system
    stdout: str


def child(command: Sequence[str]) -> Child:
    """Run `command` to its end: its own CPU time (``wait4``: this child's only) and its output."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(command, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        said = err.read()
        if code != 0 or said:  # "gentrace: stopped recording: ...", a traceback
            raise BenchmarkInvalid(f"{' '.join(command)} exited {code}: {said.strip()[-500:]}")
        return Child(usage.ru_utime + usage.ru_stime, out.read())


@dataclass
class Row:
    """A command's best CPU time at N steps and at 0, and its cost per step."""

    title: str
    at_n: float = float("inf")
    at_0: float = float("inf")
    steps: int = 1

    @property
    def per_step_ns(self) -> float:
        return (self.at_n - self.at_0) / self.steps * 1e9


def best_of(
    rows: list[Row],
    commands: list[list[str]],
    script: str,
    n: int,
    repeats: int,
    check: Callable[[int, int, Child], None],
) -> None:
    """Each command, run as ``COMMAND script N`` and ``COMMAND script 0``, `repeats` times,
    interleaved so that a slow spell of the machine hits them all alike; `check(row_index, N,
    child)` checks each run."""
    for _ in range(repeats):
        for i, (row, command) in enumerate(zip(rows, commands, strict=True)):
            for size in (n, 0):
                done = child([*command, script, str(size)])
                check(i, size, done)
                if size:
                    row.at_n = min(row.at_n, done.cpu)
                else:
                    row.at_0 = min(row.at_0, done.cpu)


def markdown(head: list[str], body: list[list[str]]) -> str:
    rows = [head, ["---"] + ["---:"] * (len(head) - 1), *body]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = []
    for i, r in enumerate(rows):
        pairs = list(zip(r, widths, strict=True))
        if i == 1:
            cells = [c.ljust(w, "-") if c == "---" else c.rjust(w, "-") for c, w in pairs]
        else:
            cells = [c.ljust(w) if j == 0 else c.rjust(w) for j, (c, w) in enumerate(pairs)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


# -- part 1: without --iterators ---------------------------------------------------------------------


def without_flag(tmp: str, steps: int, repeats: int) -> tuple[str, list[str]]:
    script = os.path.join(tmp, "loops.py")
    with open(script, "w") as f:
        f.write(LOOPS)
    plain = compile(LOOPS, os.path.abspath(script), "exec", dont_inherit=True)
    same_code = compile_script(script) == plain
    rewritten = compile_script(script, iterators=True) != plain
    n = steps  # 5 × n steps: enough work that the start-up's noise is small beside it
    titles = ["python", "gentrace run -q", "gentrace run -q --iterators"]
    commands = [[sys.executable], GENTRACE, [*GENTRACE, "--iterators"]]
    rows = [Row(t, steps=n * LOOPS_STEPS) for t in titles]
    wanted = {k: child([sys.executable, script, str(k)]).stdout for k in (n, 0)}

    def check(i: int, size: int, done: Child) -> None:
        if done.stdout != wanted[size]:
            raise BenchmarkInvalid(f"{rows[i].title} printed {done.stdout!r}, python {wanted[size]!r}")

    best_of(rows, commands, script, n, repeats, check)
    python = rows[0].per_step_ns
    body = [
        [
            r.title,
            f"{r.at_0 * 1e3:,.0f}",
            f"{r.at_n * 1e3:,.0f}",
            f"{r.per_step_ns:,.0f}",
            f"{r.per_step_ns - python:+,.0f}" if i else "",
        ]
        for i, r in enumerate(rows)
    ]
    head = ["command", "start-up ms", f"{n * LOOPS_STEPS:,} steps ms", "ns/step", "ns/step more than python"]
    table = markdown(head, body)
    diff = rows[1].per_step_ns - python
    ok = same_code and rewritten and diff <= SAME_SPEED * python
    code = "equal to python's" if same_code else "NOT python's"
    summary = [
        f"- without --iterators, the same code and speed as python: {verdict(ok)} (the code {code}"
        f"{'' if rewritten else ', and --iterators rewrote nothing: the script tests nothing'}; "
        f"{diff:+,.0f} ns/step, {diff / python:+.1%} of python's {python:,.0f})"
    ]
    return table, summary


# -- part 2: with --iterators, per step ------------------------------------------------------------


class Counting(gentrace.Sink):
    """Counts the records (an untimed run's check)."""

    def __init__(self) -> None:
        self.records = 0

    def end(self, record: Any) -> None:
        self.records += 1


def _jsonl_records(path: str) -> int:
    with open(path, encoding="utf-8") as f:
        return sum('"gen":"list_iterator#1"' in line for line in f)


def in_process(tmp: str, script: str, steps: int, repeats: int) -> list[Row]:
    """The loop's function: python's, the rewrite's with nothing recording, and recorded."""
    plain: dict[str, Any] = {"__name__": "list_loop"}
    rewritten: dict[str, Any] = {"__name__": "list_loop"}
    with open(script) as f:
        exec(compile(f.read(), script, "exec", dont_inherit=True), plain)
    exec(compile_script(script, iterators=True), rewritten)
    numbers = list(range(steps))
    wanted = sum(numbers)
    path = os.path.join(tmp, "in-process.jsonl")

    counting = Counting()
    with gentrace.Tracer(sinks=[counting], iterators=True, keep=0):
        rewritten["run"](numbers)
    if counting.records != steps + 2:
        raise BenchmarkInvalid(
            f"Tracer(iterators=True) recorded {counting.records:,}, expected {steps + 2:,}"
        )

    def tracer(out: str | None) -> Callable[[], int]:
        def run() -> int:
            with gentrace.Tracer(out, iterators=True, keep=0):
                result: int = rewritten["run"](numbers)
            return result

        return run

    runs: list[tuple[str, Callable[[], int]]] = [
        ("python's code", lambda: plain["run"](numbers)),
        ("the rewrite's code, nothing recording", lambda: rewritten["run"](numbers)),
        ("Tracer(iterators=True, keep=0)", tracer(None)),
        ('Tracer(out="t.jsonl", iterators=True, keep=0)', tracer(path)),
    ]
    rows = [Row(title, at_0=0.0, steps=steps) for title, _ in runs]
    for _ in range(repeats):
        for row, (title, run) in zip(rows, runs, strict=True):
            t0 = time.process_time()
            result = run()
            took = time.process_time() - t0
            if result != wanted:
                raise BenchmarkInvalid(f"{title} returned {result}, expected {wanted}")
            row.at_n = min(row.at_n, took)
        if _jsonl_records(path) != steps + 2:
            raise BenchmarkInvalid(
                f"Tracer(out=t.jsonl) wrote {_jsonl_records(path):,} records, not {steps + 2:,}"
            )
    return rows


def with_flag(tmp: str, steps: int, repeats: int) -> tuple[str, list[str]]:
    script = os.path.join(tmp, "list_loop.py")
    with open(script, "w") as f:
        f.write(LIST_LOOP)
    jsonl = os.path.join(tmp, "t.jsonl")
    titles = ["python", "gentrace run -q --iterators", "gentrace run -q --iterators -o t.jsonl"]
    commands = [[sys.executable], [*GENTRACE, "--iterators"], [*GENTRACE, "--iterators", "-o", jsonl]]
    rows = [Row(t, steps=steps) for t in titles]

    def check(i: int, size: int, done: Child) -> None:
        if done.stdout != f"{size * (size - 1) // 2}\n":
            raise BenchmarkInvalid(f"{rows[i].title} printed {done.stdout!r}")
        if i == 2 and _jsonl_records(jsonl) != size + 2:
            raise BenchmarkInvalid(
                f"{rows[i].title} wrote {_jsonl_records(jsonl):,} records, not {size + 2:,}"
            )

    best_of(rows, commands, script, steps, repeats, check)
    mine = in_process(tmp, script, steps, repeats)
    python, here = rows[0].per_step_ns, mine[0].per_step_ns

    def line(r: Row, base: float, startup: str) -> list[str]:
        more = r.per_step_ns - base
        return [
            r.title,
            startup,
            f"{r.at_n * 1e3:,.0f}",
            f"{r.per_step_ns:,.0f}",
            f"{more:+,.0f}" if more else "",
        ]

    body = [line(r, python, f"{r.at_0 * 1e3:,.0f}") for r in rows]
    body += [line(r, here, "—") for r in mine]
    head = ["command", "start-up ms", f"{steps:,} steps ms", "ns/step", "ns/step more than python"]
    table = markdown(head, body)
    cli = rows[1].per_step_ns - python
    in_memory = mine[2].per_step_ns - here
    jsonl_cli, jsonl_here = rows[2].per_step_ns - python, mine[3].per_step_ns - here
    ok = verdict(max(cli, in_memory) <= STEP_TARGET_NS)
    summary = [
        f"- with --iterators, at most {STEP_TARGET_NS / 1000:g} µs per step more than python: {ok} "
        f"(gentrace run -q --iterators {cli / 1000:+.2f} µs, Tracer(iterators=True, keep=0) "
        f"{in_memory / 1000:+.2f} µs; writing JSON Lines {jsonl_cli / 1000:+.2f} µs and "
        f"{jsonl_here / 1000:+.2f} µs)"
    ]
    return table, summary


# -- part 3: memory ----------------------------------------------------------------------------------


def _mib(kib: int) -> str:
    return "?" if kib < 0 else f"{kib / 1024:.1f}"


def memory(tmp: str, sizes: list[int], tracemalloc: bool) -> tuple[str, list[str]]:
    script = os.path.join(tmp, "short_lived.py")
    with open(script, "w") as f:
        f.write(MEMORY)
    python = [sys.executable, script]
    traced = [sys.executable, *(["-X", "tracemalloc"] if tracemalloc else []), *GENTRACE[1:], "--iterators"]
    traced.append(script)
    head = ["iterators made and dropped", "N", "python peak MiB", "--iterators peak MiB"]
    head += ["largest name table", "µs per iterator more than python"]
    head += ["traced memory rose KiB"] if tracemalloc else []
    body, summary = [], []
    # The start-up of each (no iterator made), taken off the CPU time per iterator.
    python_0 = child([*python, "loop", "0"]).cpu
    traced_0 = child([*traced, "loop", "0"]).cpu
    for pattern, shown in PATTERNS.items():
        seen: list[tuple[int, int]] = []  # (peak RSS KiB, largest name table) at each size
        for n in sizes:
            plain = child([*python, pattern, str(n)])
            done = child([*traced, pattern, str(n)])
            largest, rose, peak = (int(x) for x in done.stdout.split())
            if largest < 0:
                raise BenchmarkInvalid(f"{pattern}: the script saw no tracer recording iterators")
            seen.append((peak, largest))
            more_us = ((done.cpu - traced_0) - (plain.cpu - python_0)) / n * 1e6
            row = [f"`{shown}`", f"{n:,}", _mib(int(plain.stdout.split()[2])), _mib(peak), f"{largest:,}"]
            row += [f"{more_us:.2f}"] + ([f"{rose / 1024:,.0f}"] if tracemalloc else [])
            body.append(row)
        (small_rss, small_table), (large_rss, large_table) = seen[0], seen[-1]
        flat = large_table <= small_table + TABLE_FLAT
        if small_rss >= 0:  # measured (Linux)
            flat = flat and large_rss <= max(small_rss * RSS_FLAT[0], small_rss + RSS_FLAT[1] * 1024)
        summary.append(
            f"  - `{shown}`: {verdict(flat)} (peak RSS {_mib(small_rss)} → {_mib(large_rss)} MiB, "
            f"name table {small_table} → {large_table})"
        )
    title = f"- memory flat from {sizes[0]:,} to {sizes[-1]:,} short-lived iterators:"
    return markdown(head, body), [title, *summary]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--steps", type=int, default=None, help="loop steps (default 1,000,000; --quick 200,000)")
    p.add_argument("--repeats", type=int, default=None, help="best of this many runs (default 5; --quick 3)")
    p.add_argument(
        "--sizes",
        type=int,
        nargs=2,
        default=None,
        metavar=("SMALL", "LARGE"),
        help="short-lived iterators made (default 200,000 and 1,000,000; --quick 40,000 and 200,000)",
    )
    p.add_argument("--quick", action="store_true", help="fewer steps and repeats: about 15 s, noisier")
    p.add_argument(
        "--tracemalloc", action="store_true", help="also measure the traced memory's rise (slow: about 6×)"
    )
    args = p.parse_args(argv)
    steps = args.steps or (200_000 if args.quick else 1_000_000)
    repeats = args.repeats or (3 if args.quick else 5)
    sizes = sorted(args.sizes or ([40_000, 200_000] if args.quick else [200_000, 1_000_000]))
    if steps < 1 or repeats < 1 or sizes[0] < 1:
        p.error("--steps, --repeats and --sizes must be at least 1")

    print(
        f"gentrace {getattr(gentrace, '__version__', '?')} · Python {platform.python_version()} "
        f"({platform.python_implementation()}) · {platform.machine()} · {platform.system()} · "
        f"{os.cpu_count()} CPUs, load {load_average()} · steps {steps:,} · best of {repeats} · CPU time",
        flush=True,
    )
    t0 = time.perf_counter()
    summary = ["Targets:"]
    try:
        with tempfile.TemporaryDirectory(prefix="gentrace-bench-") as tmp:
            parts: list[tuple[str, Callable[[], tuple[str, list[str]]]]] = [
                ("Without --iterators: a loop-heavy script", lambda: without_flag(tmp, steps, repeats)),
                ("With --iterators: a for loop over a list", lambda: with_flag(tmp, steps, repeats)),
                ("Memory: short-lived iterators", lambda: memory(tmp, sizes, args.tracemalloc)),
            ]
            for title, part in parts:
                table, said = part()
                print(f"\n{title}\n\n{table}", flush=True)
                summary += said
    except BenchmarkInvalid as exc:
        print(f"\ninvalid: {exc}")
        return 1
    print()
    print("\n".join(summary))
    print(f"\n(measured in {time.perf_counter() - t0:.1f} s; load average afterwards {load_average()})")
    return 0 if all("MISS" not in line for line in summary) else 1


if __name__ == "__main__":
    sys.exit(main())
