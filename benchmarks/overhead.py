"""How much a traced generator step costs, side by side with the alternatives.

Run it from the repository root::

    python benchmarks/overhead.py            # about 30-60 s
    python benchmarks/overhead.py --quick    # a few seconds, noisier

Every row drives the same generator (``numbers`` below, yielding small ints) with three drivers:
a for-loop, ``g.send(i)`` and ``next(g)``. Each measurement is the best of several repeats, every
repeat with a fresh generator and a fresh tracer, the variants interleaved so that a slow spell of
the machine hits them all alike. A step is one operation on the generator (the for-loop's final
StopIteration counts as one); the time of a gentrace row includes ``Tracer.close()``, so the
files are flushed and complete. The garbage collector stays on, as in a real program.

The rows:

* bare generator — no proxy at all;
* minimal proxy — a pure-Python ``__slots__`` class whose ``__next__`` is ``next(self._gen)``
  and whose ``send`` is ``self._gen.send(v)``: the floor for any pure-Python proxy, and the
  unit of the ``×`` columns;
* gentrace in memory — ``Tracer()`` (keep=None: every event kept), ``t.wrap(gen)``;
* gentrace JSONL — ``Tracer(out="….jsonl", keep=0)``;
* gentrace text log — ``Tracer(out="….log", keep=0)``;
* snoop, PySnooper, hunter — when installed (``pip install -e '.[bench]'``), writing to a file in
  the temporary directory, with fewer steps (they take tens of µs a step). snoop and PySnooper
  get an open file object (given a path, PySnooper reopens the file for every line, which would
  be unfair to it); hunter runs as ``hunter.trace(function="numbers", action=CallPrinter(…))``
  (``hunter.wrap`` stops tracing when the generator function returns, i.e. at once).

It prints a markdown table and checks the speed targets: in memory within 5× the minimal
proxy; JSON Lines at ≥ 1,000,000 events/s (below 500,000 is a defect); the text log ≥ 30× faster
per step than the fastest of snoop, PySnooper and hunter.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from common import BenchmarkInvalid, expect, fmt_ratio, load_average, markdown

import gentrace

DRIVERS = ("for", "send", "next")
DRIVER_TITLES = {"for": "for-loop", "send": "send()", "next": "next()"}

MEMORY_TARGET = 5.0  # × the minimal proxy
JSONL_TARGET = 1_000_000  # events/s
JSONL_DEFECT = 500_000
TEXT_TARGET = 30.0  # × faster than the fastest external tracer
EXTERNAL = {"snoop": "snoop", "pysnooper": "PySnooper", "hunter": "hunter"}

# What a run is timed with: wall time by default; --cpu-time uses the process's CPU time (user +
# system, so file writes count), which a busy machine disturbs less.
CLOCK: list[Callable[[], int]] = [time.perf_counter_ns]


# -- the generator and its drivers ----------------------------------------------------------------


def numbers(n: int) -> Iterator[int]:
    # Not `yield from range(n)`: a range iterator has no send(), and every row must be a plain
    # generator's own step.
    for i in range(n):  # noqa: UP028
        yield i


class MinimalProxy:
    """The floor for any pure-Python proxy: forwarding only, nothing recorded."""

    __slots__ = ("_gen",)

    def __init__(self, gen: Any) -> None:
        self._gen = gen

    def __iter__(self) -> MinimalProxy:
        return self

    def __next__(self) -> Any:
        return next(self._gen)

    def send(self, v: Any) -> Any:
        return self._gen.send(v)


def drive_for(g: Any, n: int) -> int:
    for _ in g:
        pass
    return n + 1  # n yields, then the return


def drive_send(g: Any, n: int) -> int:
    g.send(None)
    for i in range(1, n):
        g.send(i)
    return n


def drive_next(g: Any, n: int) -> int:
    for _ in range(n):
        next(g)
    return n


Drive = Callable[[Any, int], int]  # (generator, steps) -> operations performed
DRIVE: dict[str, Drive] = {"for": drive_for, "send": drive_send, "next": drive_next}


# -- variants: each makes a fresh generator (and tracer), runs one driver, and cleans up ----------


@dataclass
class Variant:
    key: str
    title: str
    run: Callable[[str, int, str], float]  # (driver, steps, tmpdir) -> ns per step
    steps: int
    best: dict[str, float] = field(default_factory=dict)
    error: str | None = None  # why this row's timings mean nothing (it did not record)


def _timed(drive: Drive, g: Any, n: int, finish: Callable[[], Any] | None = None) -> float:
    t0 = CLOCK[0]()
    ops = drive(g, n)
    if finish is not None:
        finish()
    t1 = CLOCK[0]()
    return (t1 - t0) / ops


def run_bare(driver: str, n: int, tmp: str) -> float:
    return _timed(DRIVE[driver], numbers(n), n)


def run_minimal(driver: str, n: int, tmp: str) -> float:
    return _timed(DRIVE[driver], MinimalProxy(numbers(n)), n)


def run_memory(driver: str, n: int, tmp: str) -> float:
    t = gentrace.Tracer()
    g = t.wrap(numbers(n))
    ns = _timed(DRIVE[driver], g, n, t.close)
    if ("memory", driver) not in _checked:  # once per driver: reading the events is slow
        _checked.add(("memory", driver))
        expect("it", len(t.events), 1 + n + (driver == "for"), exact=True)
    return ns


def run_file(ext: str, source: Callable[[int], Iterator[Any]] = numbers) -> Callable[[str, int, str], float]:
    """A variant writing the file `….ext` of `source(n)`'s steps (keep=0: nothing in memory)."""

    def run(driver: str, n: int, tmp: str) -> float:
        path = os.path.join(tmp, f"gentrace-{source.__name__}-{driver}.{ext}")
        t = gentrace.Tracer(out=path, keep=0)
        g = t.wrap(source(n))
        ns = _timed(DRIVE[driver], g, n, t.close)
        if (path, driver) not in _checked:
            _checked.add((path, driver))
            with open(path, encoding="utf-8") as f:
                lines = sum(1 for _ in f)
            # one line per event (JSONL: plus notes; text: a `>>>` line and a result line each)
            expect("its file", lines, 1 + n + (driver == "for"), exact=False)
        return ns

    return run


_checked: set[tuple[str, str]] = set()  # (the row: "memory" or its file, the driver) checked once


def run_snoop(driver: str, n: int, tmp: str) -> float:
    import snoop  # type: ignore[import-not-found,import-untyped,unused-ignore]

    with open(os.path.join(tmp, f"snoop-{driver}.log"), "w") as out:
        traced = snoop.Config(out=out, color=False).snoop(numbers)
        return _timed(DRIVE[driver], traced(n), n, out.flush)


def run_pysnooper(driver: str, n: int, tmp: str) -> float:
    import pysnooper  # type: ignore[import-not-found,import-untyped,unused-ignore]

    with open(os.path.join(tmp, f"pysnooper-{driver}.log"), "w") as out:
        traced = pysnooper.snoop(out, color=False)(numbers)
        return _timed(DRIVE[driver], traced(n), n, out.flush)


def run_hunter(driver: str, n: int, tmp: str) -> float:
    import hunter  # type: ignore[import-not-found,import-untyped,unused-ignore]

    with open(os.path.join(tmp, f"hunter-{driver}.log"), "w") as out:
        g = numbers(n)
        t0 = CLOCK[0]()
        tracer = hunter.trace(
            function="numbers",
            action=hunter.CallPrinter(stream=out, force_colors=False),
            threading_support=False,
        )
        try:
            ops = DRIVE[driver](g, n)
        finally:
            tracer.stop()
        out.flush()
        t1 = CLOCK[0]()
        if os.path.getsize(out.name) == 0:
            raise BenchmarkInvalid("hunter wrote nothing: its filter did not match the generator")
        return (t1 - t0) / ops


def _installed(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


# -- measuring ------------------------------------------------------------------------------------


def measure(variants: list[Variant], repeats: int, tmp: str, progress: bool) -> None:
    for r in range(repeats):
        for v in variants:
            for driver in DRIVERS:
                if v.error is not None:
                    break
                gc.collect()
                err = io.StringIO()
                try:
                    with contextlib.redirect_stderr(err):
                        ns = v.run(driver, v.steps, tmp)
                except BenchmarkInvalid as exc:
                    said = err.getvalue().strip().splitlines()
                    v.error = f"{exc}; it wrote to stderr: {said[0]}" if said else str(exc)
                    break
                except Exception as exc:  # e.g. an external tracer whose API changed
                    v.error = f"failed: {type(exc).__name__}: {exc}"
                    break
                if err.getvalue():
                    # e.g. "gentrace: stopped recording: ..." — it no longer traces, so it is fast
                    v.error = f"wrote to stderr: {err.getvalue().strip().splitlines()[0]}"
                    break
                if driver not in v.best or ns < v.best[driver]:
                    v.best[driver] = ns
        if progress:
            print(f"  repeat {r + 1}/{repeats} done", file=sys.stderr, flush=True)


def fmt_ns(ns: float) -> str:
    return f"{ns:,.0f}" if ns < 10_000 else f"{ns / 1000:,.1f} µs"


def table(variants: list[Variant], floor: Variant) -> str:
    head = ["tracer", "steps"]
    for d in DRIVERS:
        head += [f"{DRIVER_TITLES[d]} ns/step", "× proxy"]
    head.append("events/s (slowest driver)")
    rows = [head, ["---", "---:"] + ["---:"] * (2 * len(DRIVERS) + 1)]
    notes = []
    for v in variants:
        row = [v.title, f"{v.steps:,}"]
        if v.error is not None:
            notes.append(f"{v.title}: {v.error}")
            row += ["invalid¹" if i == 0 else "—" for i in range(2 * len(DRIVERS) + 1)]
        else:
            for d in DRIVERS:
                row += [fmt_ns(v.best[d]), fmt_ratio(v.best[d] / floor.best[d])]
            row.append(f"{1e9 / max(v.best.values()):,.0f}")
        rows.append(row)
    return "\n".join([markdown(rows), *[f"\n¹ {note}" for note in notes]])


def verdict(ok: bool, defect: bool = False) -> str:
    return "PASS" if ok else ("DEFECT" if defect else "MISS")


def summary(by: dict[str, Variant]) -> str:
    floor, memory, jsonl, text = by["minimal"], by["memory"], by["jsonl"], by["text"]
    out = ["Targets, each judged on its worst driver:"]

    if memory.error is not None:
        out.append(f"- in memory ≤ {MEMORY_TARGET:g}× the minimal proxy: NOT MEASURED ({memory.error})")
    else:
        ratios = {d: memory.best[d] / floor.best[d] for d in DRIVERS}
        worst = max(ratios.values())
        detail = ", ".join(f"{DRIVER_TITLES[d]} {ratios[d]:.2f}×" for d in DRIVERS)
        ok = verdict(worst <= MEMORY_TARGET)
        out.append(f"- in memory ≤ {MEMORY_TARGET:g}× the minimal proxy: {ok} (worst {worst:.2f}×; {detail})")

    title = f"- JSON Lines ≥ {JSONL_TARGET:,} events/s (< {JSONL_DEFECT:,} is a defect)"
    if jsonl.error is not None:
        out.append(f"{title}: NOT MEASURED ({jsonl.error})")
    else:
        rates = {d: 1e9 / jsonl.best[d] for d in DRIVERS}
        slowest = min(rates.values())
        detail = ", ".join(f"{DRIVER_TITLES[d]} {rates[d]:,.0f}" for d in DRIVERS)
        ok = verdict(slowest >= JSONL_TARGET, slowest < JSONL_DEFECT)
        out.append(f"{title}: {ok} (slowest {slowest:,.0f}/s; {detail})")

    title = f"- text log ≥ {TEXT_TARGET:g}× faster per step than the fastest of snoop/PySnooper/hunter"
    external = [by[k] for k in EXTERNAL if k in by and by[k].error is None]
    if text.error is not None:
        out.append(f"{title}: NOT MEASURED ({text.error})")
    elif not external:
        out.append(f"{title}: NOT MEASURED (none of them installed: pip install -e '.[bench]')")
    else:
        speedups = {}
        for d in DRIVERS:
            fastest = min(external, key=lambda v: v.best[d])
            speedups[d] = (fastest.best[d] / text.best[d], fastest.title)
        least = min(x for x, _ in speedups.values())
        detail = ", ".join(f"{DRIVER_TITLES[d]} {x:,.1f}× vs {name}" for d, (x, name) in speedups.items())
        out.append(f"{title}: {verdict(least >= TEXT_TARGET)} (least {least:,.1f}×; {detail})")
        missing = [EXTERNAL[k] for k in EXTERNAL if k not in by or by[k].error is not None]
        if missing:
            out.append(f"  (not compared, not installed or failed: {', '.join(missing)})")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument(
        "--steps",
        type=int,
        default=None,
        help="steps per run for gentrace and the baselines (default 100,000; --quick 20,000)",
    )
    p.add_argument(
        "--ext-steps",
        type=int,
        default=None,
        help="steps per run for snoop/PySnooper/hunter (default 2,000; --quick 500)",
    )
    p.add_argument("--repeats", type=int, default=None, help="best of this many runs (default 7; --quick 3)")
    p.add_argument("--quick", action="store_true", help="fewer steps and repeats: a few seconds, noisier")
    p.add_argument("--no-external", action="store_true", help="skip snoop, PySnooper and hunter")
    p.add_argument(
        "--cpu-time",
        action="store_true",
        help="time runs with the process's CPU time instead of wall time (steadier on a busy machine)",
    )
    args = p.parse_args(argv)
    steps = args.steps or (20_000 if args.quick else 100_000)
    ext_steps = args.ext_steps or (500 if args.quick else 2_000)
    repeats = args.repeats or (3 if args.quick else 7)
    if steps < 2 or ext_steps < 2 or repeats < 1:
        p.error("--steps and --ext-steps must be at least 2, --repeats at least 1")
    CLOCK[0] = time.process_time_ns if args.cpu_time else time.perf_counter_ns

    variants = [
        Variant("bare", "bare generator", run_bare, steps),
        Variant("minimal", "minimal proxy (floor)", run_minimal, steps),
        Variant("memory", "gentrace, in memory", run_memory, steps),
        Variant("jsonl", "gentrace, JSONL file", run_file("jsonl"), steps),
        Variant("text", "gentrace, text log file", run_file("log"), steps),
    ]
    external = []
    if not args.no_external:
        runs = {"snoop": run_snoop, "pysnooper": run_pysnooper, "hunter": run_hunter}
        for key, title in EXTERNAL.items():
            if _installed(key):
                external.append(Variant(key, title, runs[key], ext_steps))

    print(
        f"gentrace {getattr(gentrace, '__version__', '?')} · Python {platform.python_version()} "
        f"({platform.python_implementation()}) · {platform.machine()} · {platform.system()} · "
        f"{os.cpu_count()} CPUs, load {load_average()} · steps {steps:,} (external tracers {ext_steps:,}) · "
        f"best of {repeats} · {'CPU' if args.cpu_time else 'wall'} time",
        flush=True,
    )
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gentrace-bench-") as tmp:
        measure(variants, repeats, tmp, progress=True)
        if external:
            # They are two orders of magnitude slower: fewer repeats keep the run short.
            measure(external, max(1, min(repeats, 3)), tmp, progress=False)
    elapsed = time.perf_counter() - t0
    every = variants + external
    print()
    print(table(every, variants[1]))
    print()
    print(summary({v.key: v for v in every}))
    print(f"\n(measured in {elapsed:.1f} s; load average afterwards {load_average()})")
    return 1 if any(v.error is not None for v in every) else 0


if __name__ == "__main__":
    sys.exit(main())
