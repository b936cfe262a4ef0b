"""Issue 17's table, every row measured on both paths in one run: pure Python and compiled.

Run it from the repository root::

    python benchmarks/paths.py --cpu-time    # a few minutes; CPU time is steadier on a busy machine
    python benchmarks/paths.py --quick       # seconds: a smoke check, not figures

``gentrace.compiled`` settles the path when gentrace is imported (``GENTRACE_PURE_PYTHON=1`` forces
the pure one), so nothing here measures gentrace in this process: every figure comes from a child
process started with ``GENTRACE_PURE_PYTHON=1`` or without it, each child saying which path it ran
(a compiled child that fell back to pure Python is an error, not a fast pure row). Each repeat runs,
for each path in turn, so that a slow spell of the machine hits both alike:

* one worker process (this script with ``--worker``) that measures the in-process rows once with
  ``overhead.py``'s and ``async_overhead.py``'s own variants and checks: the minimal ``__slots__``
  proxy, gentrace in memory, JSON Lines (plain values and mixed ones) and the text log written to
  a file, an async generator driven by ``async for``, and 2,000 coroutine tasks gathered;
* the whole programs, as ``python`` runs them and as ``python -m gentrace run`` does:
  ``run_overhead.py``'s script under ``run -q --out t.jsonl`` at two sizes (its CPU time, and its
  peak RSS, ``VmHWM``, printed by the script itself at its end), an empty script (the start-up),
  and a chain of ``yield from`` 12 generators deep under ``run -q``.

Every child runs with its bytecode cached (``common.bytecode_cached``: in a temporary
``PYTHONPYCACHEPREFIX``, filled by a first run of each command that is not counted), as an
installed gentrace has it, even where ``PYTHONDONTWRITEBYTECODE`` is set: without it, the start-up
would time the compiling of gentrace's modules, 30 ms and more. Each figure is the best of the
repeats. The table has one row per line of the issue's table: the baseline (the minimal proxy,
python, or the untraced code), each path's figure, each path's ratio to the baseline and the
verdict on the target, which is the compiled path's to meet. The exit
status is 1 when a run did not do what it should (it failed, printed to stderr, recorded too few
events, or gave another result than untraced), never because a target was missed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import async_overhead
import overhead
import run_overhead
from common import (
    PATHS,
    BenchmarkInvalid,
    Child,
    bytecode_cached,
    compiled_is_built,
    env_of,
    fmt_ratio,
    load_average,
    markdown,
    run_child,
)

import gentrace

GENTRACE_RUN = [sys.executable, "-m", "gentrace", "run"]
LEVELS = 12  # generators in the `yield from` chain
TASKS = 2_000  # coroutine tasks gathered

PEAK = """
with open("/proc/self/status") as status:
    print(next(line.split()[1] for line in status if line.startswith("VmHWM:")))
"""
RUN_SCRIPT = run_overhead.SCRIPT + PEAK  # prints the sum, then its peak RSS in KiB

CHAIN_SCRIPT = """
import sys

def level(depth, n):
    if depth == 1:
        for i in range(n):
            yield i
    else:
        yield from level(depth - 1, n)

total = 0
for value in level(int(sys.argv[1]), int(sys.argv[2])):
    total += value
print(total)
"""

MIXED = (7, 2.5, "text", None, True, b"bytes", (1, "a"), [2, 3.0], {"k": 1}, 2**70, -1, "é")


def mixed(n: int) -> Iterator[Any]:
    """Values of every kind the compiled renderers know, and a dict, which they leave to Python."""
    for i in range(n):
        yield MIXED[i % len(MIXED)]


@dataclass(frozen=True)
class Sizes:
    steps: int  # generator steps per in-process run
    items: int  # items of the async generator
    run_steps: tuple[int, int]  # `gentrace run` on the script: peak memory at both, time at the larger
    chain_items: int  # items through the `yield from` chain
    repeats: int
    starts: int  # start-up runs per repeat: each is short, and start-up is noisy


FULL = Sizes(100_000, 100_000, (200_000, 1_000_000), 200_000, repeats=5, starts=3)
QUICK = Sizes(5_000, 5_000, (20_000, 100_000), 5_000, repeats=1, starts=1)


# -- the worker: one repeat of the in-process rows, on the path this process runs ------------------


def worker(steps: int, items: int, cpu_time: bool) -> dict[str, Any]:
    from gentrace.compiled import speedups

    overhead.CLOCK[0] = async_overhead.CLOCK[0] = time.process_time_ns if cpu_time else time.perf_counter_ns
    generators = [
        overhead.Variant("minimal", "minimal proxy", overhead.run_minimal, steps),
        overhead.Variant("memory", "in memory", overhead.run_memory, steps),
        overhead.Variant("jsonl", "JSON Lines", overhead.run_file("jsonl"), steps),
        overhead.Variant("jsonl-mixed", "JSON Lines, mixed", overhead.run_file("jsonl", mixed), steps),
        overhead.Variant("text", "text log", overhead.run_file("log"), steps),
    ]
    agen = async_overhead.Workload(
        "async for",
        items,
        "step",
        items + 1,
        [
            async_overhead.Variant("agen-untraced", "untraced", async_overhead.run_agen_untraced),
            async_overhead.Variant("agen-memory", "in memory", async_overhead.run_agen_memory),
        ],
    )
    gather = async_overhead.Workload(
        "gather",
        TASKS,
        "task",
        TASKS,
        [
            async_overhead.Variant("gather-untraced", "untraced", async_overhead.run_gather_untraced),
            async_overhead.Variant("gather-memory", "in memory", async_overhead.run_gather_memory),
        ],
    )
    with tempfile.TemporaryDirectory(prefix="gentrace-bench-") as tmp:
        overhead.measure(generators, 1, tmp, progress=False)
        async_overhead.measure([agen, gather], 1, tmp, progress=False)
    best: dict[str, float] = {}
    errors: dict[str, str] = {}
    for g in generators:
        best.update({f"{g.key} {d}": ns for d, ns in g.best.items()})
        if g.error is not None:
            errors[g.key] = g.error
    for w in (agen, gather):
        for v in w.variants:
            if v.best is not None:
                best[v.key] = v.best / w.steps
            if v.error is not None:
                errors[v.key] = v.error
    return {"compiled": speedups is not None, "best": best, "errors": errors}


# -- measuring, in children -----------------------------------------------------------------------


@dataclass
class Figures:
    """The best of each figure so far, by name, and why a group of them means nothing."""

    run_steps: tuple[int, int]  # the sizes `gentrace run` ran the script at
    best: dict[str, float] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, value: float) -> None:
        self.best[name] = min(value, self.best.get(name, value))

    def get(self, name: str) -> float:
        return self.best[name]


@dataclass
class Bench:
    sizes: Sizes
    cpu_time: bool
    tmp: str
    figures: Figures = field(init=False)
    checked: set[str] = field(default_factory=set)  # the runs whose JSON Lines were counted
    env: dict[str, str] = field(init=False)  # every child's: bytecode cached, as once installed

    def __post_init__(self) -> None:
        self.figures = Figures(self.sizes.run_steps)
        self.env = bytecode_cached(os.path.join(self.tmp, "pycache"))

    def seconds(self, child: Child) -> float:
        return child.cpu if self.cpu_time else child.wall

    def script(self, name: str, text: str) -> str:
        path = os.path.join(self.tmp, name)
        if not os.path.exists(path):
            with open(path, "w") as f:
                f.write(text)
        return path

    def guarded(self, group: str, measure: Callable[..., None], *args: Any) -> None:
        """Run `measure(*args)` unless `group` failed before; a failure marks its figures invalid."""
        if group in self.figures.errors:
            return
        try:
            measure(*args)
        except BenchmarkInvalid as exc:
            self.figures.errors[group] = str(exc)

    def warm(self, paths: list[str]) -> None:
        """Fill the bytecode cache: python and `gentrace run` on each path, once, not counted."""
        empty = self.script("empty.py", "")
        self.guarded("python", run_child, [sys.executable, empty], self.env)
        for path in paths:
            self.guarded(f"{path} programs", run_child, [*GENTRACE_RUN, empty], env_of(path, self.env))

    def repeat(self, paths: list[str]) -> None:
        """One repeat: python's runs, then each path's worker and whole programs."""
        self.guarded("python", self.programs, "python", [sys.executable], False, self.env)
        for path in paths:
            self.guarded(f"{path} worker", self.in_process, path)
            self.guarded(f"{path} programs", self.programs, path, GENTRACE_RUN, True, env_of(path, self.env))

    def in_process(self, path: str) -> None:
        command = [sys.executable, os.path.abspath(__file__), "--worker", *self.worker_args()]
        said = json.loads(run_child(command, env_of(path, self.env)).stdout)
        if said["compiled"] != (path == "compiled"):
            raise BenchmarkInvalid(f"the {path} worker ran on the other path")
        for name, value in said["best"].items():
            self.figures.add(f"{path} {name}", value)
        for key, error in said["errors"].items():
            self.figures.errors[f"{path} {key}"] = error

    def worker_args(self) -> list[str]:
        s = self.sizes
        args = ["--steps", str(s.steps), "--items", str(s.items)]
        return [*args, "--cpu-time"] if self.cpu_time else args

    def programs(self, who: str, command: list[str], traced: bool, env: dict[str, str]) -> None:
        """The whole programs, under python (`command` is python) or `gentrace run` on a path."""
        out = os.path.join(self.tmp, f"{who}.jsonl")
        run = [*command, "-q", "--out", out] if traced else command
        for n in self.sizes.run_steps:
            done = run_child([*run, self.script("drive.py", RUN_SCRIPT), str(n)], env)
            total, peak_kib = done.stdout.split()
            if int(total) != n * (n - 1) // 2:
                raise BenchmarkInvalid(f"{' '.join(run)} drive.py {n} printed {total}")
            if traced and f"{who} {n}" not in self.checked:
                self.checked.add(f"{who} {n}")
                with open(out, encoding="utf-8") as f:
                    lines = sum(1 for _ in f)
                if lines < n + 1:
                    raise BenchmarkInvalid(f"gentrace run wrote {lines:,} JSON Lines for {n:,} steps")
            self.figures.add(f"{who} run cpu {n}", done.cpu)
            self.figures.add(f"{who} run peak {n}", int(peak_kib) / 1024)
        empty = self.script("empty.py", "")
        for _ in range(self.sizes.starts):
            self.figures.add(f"{who} start", self.seconds(run_child([*command, empty], env)))
        items = self.sizes.chain_items
        chain = [*command, "-q"] if traced else command
        done = run_child([*chain, self.script("chain.py", CHAIN_SCRIPT), str(LEVELS), str(items)], env)
        if int(done.stdout) != items * (items - 1) // 2:
            raise BenchmarkInvalid(f"the yield-from chain printed {done.stdout.strip()}")
        self.figures.add(f"{who} chain", self.seconds(done))


# -- the table ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """A path's figure in a row: as shown, its ratio to the row's baseline, and the verdict."""

    shown: str
    ratio: float
    met: bool


@dataclass(frozen=True)
class Row:
    title: str
    target: str
    needs: tuple[str, ...]  # the error groups that invalidate it ("{path}" is filled in)
    baseline: Callable[[Figures], str]
    cell: Callable[[Figures, str], Cell]


def ns(x: float) -> str:
    return f"{x:,.0f} ns"


def rate(ns_per_event: float) -> str:
    return f"{1e3 / ns_per_event:.2f}M events/s"


def untraced_best(f: Figures, name: str) -> float:
    """The best of an untraced figure, whichever path's worker measured it (gentrace is not in it)."""
    return min(f.get(f"{path} {name}") for path in PATHS if f"{path} {name}" in f.best)


def floor(f: Figures, driver: str) -> float:
    return untraced_best(f, f"minimal {driver}")


def worst_driver(f: Figures, path: str, key: str) -> tuple[str, float]:
    """The driver on which `key` is the most times the minimal proxy, and that ratio."""
    ratios = {d: f.get(f"{path} {key} {d}") / floor(f, d) for d in overhead.DRIVERS}
    driver = max(ratios, key=ratios.__getitem__)
    return driver, ratios[driver]


def floors(f: Figures) -> str:
    return " · ".join(f"{d} {floor(f, d):,.0f}" for d in overhead.DRIVERS) + " ns"


def memory_cell(f: Figures, path: str) -> Cell:
    driver, ratio = worst_driver(f, path, "memory")
    return Cell(f"{driver} {ns(f.get(f'{path} memory {driver}'))}", ratio, ratio <= 2)


def text_cell(f: Figures, path: str) -> Cell:
    driver = max(overhead.DRIVERS, key=lambda d: f.get(f"{path} text {d}"))  # the slowest
    each = f.get(f"{path} text {driver}")
    return Cell(f"{rate(each)} ({driver})", each / floor(f, driver), 1e9 / each >= 2e6)


def jsonl_cell(key: str, events_per_s: float) -> Callable[[Figures, str], Cell]:
    def cell(f: Figures, path: str) -> Cell:
        each = f.get(f"{path} {key} send")
        return Cell(rate(each), each / floor(f, "send"), 1e9 / each >= events_per_s)

    return cell


def run_cell(f: Figures, path: str) -> Cell:
    n = f.run_steps[1]
    ours, python = f.get(f"{path} run cpu {n}"), f.get(f"python run cpu {n}")
    per_step_us = (ours - python) / n * 1e6
    return Cell(f"+{per_step_us:.2f} µs/step", ours / python, per_step_us <= 0.5)


def start_cell(f: Figures, path: str) -> Cell:
    ours, python = f.get(f"{path} start"), f.get("python start")
    more_ms = (ours - python) * 1e3
    return Cell(f"{ours * 1e3:.0f} ms (+{more_ms:.0f})", ours / python, more_ms <= 80)


def peaks(f: Figures, who: str) -> tuple[float, float]:
    small, large = f.run_steps
    return f.get(f"{who} run peak {small}"), f.get(f"{who} run peak {large}")


def peak_cell(f: Figures, path: str) -> Cell:
    small, large = peaks(f, path)
    return Cell(f"{small:.1f} → {large:.1f} MiB", large / small, large <= small * 1.05)


def seconds_cell(key: str, target: float) -> Callable[[Figures, str], Cell]:
    def cell(f: Figures, path: str) -> Cell:
        ours, base = f.get(f"{path} {key}"), f.get(f"python {key}")
        return Cell(f"{ours:.2f} s", ours / base, ours / base <= target)

    return cell


def untraced_cell(key: str, unit: str, target: float) -> Callable[[Figures, str], Cell]:
    def cell(f: Figures, path: str) -> Cell:
        ours, base = f.get(f"{path} {key}-memory"), untraced_best(f, f"{key}-untraced")
        return Cell(f"{ns(ours)}/{unit}", ours / base, ours / base <= target)

    return cell


def untraced(key: str, unit: str) -> Callable[[Figures], str]:
    def baseline(f: Figures) -> str:
        return f"untraced {ns(untraced_best(f, f'{key}-untraced'))}/{unit}"

    return baseline


ROWS = [
    Row(
        "in memory ÷ minimal proxy (worst of for/send/next)",
        "≤ 2×",
        ("{path} worker", "{path} minimal", "{path} memory"),
        floors,
        memory_cell,
    ),
    Row(
        "JSON Lines to a file, send loop, plain values",
        "≥ 2M events/s",
        ("{path} worker", "{path} minimal", "{path} jsonl"),
        lambda f: f"proxy {ns(floor(f, 'send'))}",
        jsonl_cell("jsonl", 2e6),
    ),
    Row(
        "JSON Lines to a file, send loop, mixed values",
        "≥ 1M events/s",
        ("{path} worker", "{path} minimal", "{path} jsonl-mixed"),
        lambda f: f"proxy {ns(floor(f, 'send'))}",
        jsonl_cell("jsonl-mixed", 1e6),
    ),
    Row(
        "text log to a file (slowest of for/send/next)",
        "≥ 2M events/s",
        ("{path} worker", "{path} minimal", "{path} text"),
        floors,
        text_cell,
    ),
    Row(
        "`gentrace run -q --out t.jsonl`: overhead per step (CPU)",
        "≤ 0.5 µs",
        ("python", "{path} programs"),
        lambda f: f"python {f.get(f'python run cpu {f.run_steps[1]}'):.2f} s CPU",
        run_cell,
    ),
    Row(
        "start-up of `gentrace run` on an empty script",
        "≤ +80 ms",
        ("python", "{path} programs"),
        lambda f: f"python {f.get('python start') * 1e3:.0f} ms",
        start_cell,
    ),
    Row(
        "peak memory of `gentrace run -q --out t.jsonl`, small → large",
        "flat (≤ 1.05×)",
        ("python", "{path} programs"),
        lambda f: "python {:.1f} → {:.1f} MiB".format(*peaks(f, "python")),
        peak_cell,
    ),
    Row(
        f"`yield from` chain, {LEVELS} levels, under `gentrace run -q` ÷ python",
        "≤ 3×",
        ("python", "{path} programs"),
        lambda f: f"python {f.get('python chain'):.2f} s",
        seconds_cell("chain", 3),
    ),
    Row(
        "`async for` over a traced async generator, in memory ÷ untraced",
        "≤ 4×",
        ("{path} worker", "{path} agen-untraced", "{path} agen-memory"),
        untraced("agen", "step"),
        untraced_cell("agen", "step", 4),
    ),
    Row(
        f"{TASKS:,} gathered coroutine tasks, in memory ÷ untraced",
        "≤ 1.5×",
        ("{path} worker", "{path} gather-untraced", "{path} gather-memory"),
        untraced("gather", "task"),
        untraced_cell("gather", "task", 1.5),
    ),
]


def table(f: Figures, paths: list[str]) -> str:
    head = ["row", "minimal proxy / python", "gentrace pure", "gentrace compiled"]
    head += ["ratio pure", "ratio compiled", "target", "met?"]
    rows = [head, ["---", *["---:"] * 6, "---"]]
    for row in ROWS:
        cells: dict[str, Cell | str] = {}
        for path in PATHS:
            wrong = [f.errors[g] for n in row.needs if (g := n.format(path=path)) in f.errors]
            if path not in paths:
                cells[path] = "not built"
            elif wrong:
                cells[path] = f"invalid: {wrong[0][:60]}"
            else:
                cells[path] = row.cell(f, path)
        try:
            baseline = row.baseline(f)
        except (KeyError, ValueError):  # its runs failed: the invalid cells say why
            baseline = "—"
        shown = [c.shown if isinstance(c, Cell) else c for c in cells.values()]
        ratios = [fmt_ratio(c.ratio) if isinstance(c, Cell) else "—" for c in cells.values()]
        judged = [f"{'yes' if c.met else 'no'}" if isinstance(c, Cell) else "—" for c in cells.values()]
        met = f"{judged[1]} (pure {judged[0]})" if "compiled" in paths else f"pure {judged[0]}"
        rows.append([row.title, baseline, *shown, *ratios, row.target, met])
    return markdown(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--quick", action="store_true", help="small sizes, one repeat: a smoke check in seconds")
    p.add_argument("--repeats", type=int, default=None, help="best of this many runs (default 5; --quick 1)")
    p.add_argument(
        "--cpu-time",
        action="store_true",
        help="time runs with CPU time instead of wall time (steadier on a busy machine); "
        "the `gentrace run` overhead per step is always CPU time",
    )
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--steps", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--items", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    if args.repeats is not None:
        if args.repeats < 1:
            p.error("--repeats must be at least 1")
        sizes = dataclasses.replace(sizes, repeats=args.repeats)
    if args.worker:
        print(json.dumps(worker(args.steps, args.items, args.cpu_time)))
        return 0
    paths = ["pure", "compiled"] if compiled_is_built() else ["pure"]
    small, large = sizes.run_steps
    print(
        f"gentrace {getattr(gentrace, '__version__', '?')} · Python {platform.python_version()} "
        f"({platform.python_implementation()}) · {platform.machine()} · {os.cpu_count()} CPUs, "
        f"load {load_average()} · best of {sizes.repeats} · {'CPU' if args.cpu_time else 'wall'} time\n"
        f"sizes: {sizes.steps:,} generator steps, {sizes.items:,} async items, {TASKS:,} tasks; "
        f"`gentrace run` on {small:,} and {large:,} steps (time at {large:,}); "
        f"the chain {sizes.chain_items:,} items",
        flush=True,
    )
    if "compiled" not in paths:
        print("the compiled module gentrace._speedups is not built: the pure-Python path only")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gentrace-paths-") as tmp:
        bench = Bench(sizes, args.cpu_time, tmp)
        bench.warm(paths)
        for r in range(sizes.repeats):
            bench.repeat(paths)
            print(f"  repeat {r + 1}/{sizes.repeats} done", file=sys.stderr, flush=True)
    print()
    print(table(bench.figures, paths))
    errors = bench.figures.errors
    for group, error in errors.items():
        print(f"\n{group}: {error}")
    elapsed = time.perf_counter() - t0
    print(f"\n(measured in {elapsed:.1f} s; load average afterwards {load_average()})")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
