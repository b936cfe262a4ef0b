"""What tracing costs an async generator driven by ``async for``, and 10,000 gathered tasks.

Run it from the repository root::

    python benchmarks/async_overhead.py            # about 10 s
    python benchmarks/async_overhead.py --quick    # a few seconds, noisier

Two workloads, each with its untraced run and its traced runs side by side:

``async for`` — an async generator (``anumbers`` below, yielding small ints, never suspending to
the loop) consumed by ``async for`` inside a task on a running event loop, as in a real program
(so gentrace looks up the current task, and asyncio's async-generator hooks are installed). A step
is one ``__anext__`` awaited to completion, the final ``StopAsyncIteration`` included. The rows:

* untraced — the async generator itself;
* forwarding proxy — a pure-Python ``__slots__`` class whose ``__anext__`` returns
  ``self._agen.__anext__()``: the generator's own awaitable, handed straight back;
* awaitable proxy (floor) — the same, but ``__anext__`` returns a minimal pure-Python awaitable
  (``__await__`` returning itself, ``__next__``/``send``/``throw``/``close`` forwarding to the
  generator's awaitable); the unit of the ``× floor`` column and of the target;
* gentrace in memory — ``Tracer()`` (keep=None: every event kept), ``t.wrap(agen)``;
* gentrace JSONL — ``Tracer(out="….jsonl", keep=0)``, for information.

Why the awaitable proxy is the floor, not the forwarding one: an async generator's operation is an
awaitable that may suspend to the loop many times before it completes, and it is one event whose
outcome is known only when it completes. A proxy that hands back the generator's own awaitable
never sees that completion, so it cannot record anything; any recording proxy must put an
awaitable of its own between the ``async for`` and the generator, which costs a Python
``__anext__``, an allocation, a Python ``__await__`` and a Python ``__next__`` through whose frame
the item travels as ``StopIteration`` — per step. That is what gentrace's ``AsyncStep`` does, so
it is the honest floor; the forwarding proxy is shown to say what the extra awaitable costs.

gather — 10,000 coroutines (``job`` below: one ``await asyncio.sleep(0)``, then a
multiplication) run as tasks by ``asyncio.gather``, the time being that of the whole
``asyncio.run`` (a fresh event loop each time: creating, scheduling and finishing the tasks is the
work). The rows: untraced; a minimal pure-Python coroutine proxy (a ``Coroutine`` subclass that
forwards ``send``/``throw``/``close``, for information); gentrace in memory (the coroutine function
decorated with ``t.trace``); gentrace JSONL (keep=0, for information).

Each measurement is the best of several repeats, every repeat with fresh generators, a fresh
tracer and a fresh event loop, all the variants of both workloads interleaved so that a slow spell
of the machine hits them all alike. The time of a gentrace row includes ``Tracer.close()``. Every
run's result (the sum of the items, of the tasks' results) must equal the untraced one, and each
traced row is checked once to have recorded every event, so a broken run cannot pass for a fast
one. The garbage collector stays on, as in a real program.

It prints two markdown tables and checks the targets: in memory, ``async for`` within
5× the awaitable proxy, and the 10,000 gathered tasks within 2.5× untraced.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import io
import os
import platform
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Generator
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from common import BenchmarkInvalid, expect, fmt_ratio, load_average, markdown

import gentrace

ASYNC_FOR_TARGET = 5.0  # × the awaitable proxy
GATHER_TARGET = 2.5  # × untraced

# What a run is timed with: wall time by default; --cpu-time uses the process's CPU time (user +
# system, so file writes count), which a busy machine disturbs less.
CLOCK: list[Callable[[], int]] = [time.perf_counter_ns]


# -- the async generator, its proxies and its driver ----------------------------------------------


async def anumbers(n: int) -> AsyncIterator[int]:
    for i in range(n):
        yield i


class ForwardingProxy:
    """Hands back the generator's own awaitable: it cannot see an operation complete."""

    __slots__ = ("_agen",)

    def __init__(self, agen: Any) -> None:
        self._agen = agen

    def __aiter__(self) -> ForwardingProxy:
        return self

    def __anext__(self) -> Any:
        return self._agen.__anext__()


class MinimalStep:
    """The least an awaitable of one's own can be: every step forwarded, nothing recorded."""

    __slots__ = ("_aw",)

    def __init__(self, aw: Any) -> None:
        self._aw = aw

    def __await__(self) -> MinimalStep:
        return self

    def __iter__(self) -> MinimalStep:
        return self

    def __next__(self) -> Any:
        return self._aw.send(None)

    def send(self, value: Any) -> Any:
        return self._aw.send(value)

    def throw(self, typ: Any, val: Any = None, tb: TracebackType | None = None, /) -> Any:
        return self._aw.throw(*((typ,) if val is None and tb is None else (typ, val, tb)))

    def close(self) -> None:
        self._aw.close()


class AwaitableProxy:
    """The floor for a proxy that records async-generator operations: an awaitable per step."""

    __slots__ = ("_agen",)

    def __init__(self, agen: Any) -> None:
        self._agen = agen

    def __aiter__(self) -> AwaitableProxy:
        return self

    def __anext__(self) -> MinimalStep:
        return MinimalStep(self._agen.__anext__())


async def _timed_async_for(agen: Any, finish: Callable[[], Any] | None) -> tuple[int, int]:
    # Timed inside the task, on the running loop: the loop's start and end are not the work.
    t0 = CLOCK[0]()
    total = 0
    async for x in agen:
        total += x
    if finish is not None:
        finish()
    t1 = CLOCK[0]()
    return t1 - t0, total


# -- the coroutines, their proxy and their driver ------------------------------------------------


async def job(i: int) -> int:
    await asyncio.sleep(0)
    return i * 3


class MinimalCoroutineProxy(Coroutine[Any, Any, Any]):
    """The floor for a pure-Python coroutine proxy: forwarding only, nothing recorded."""

    __slots__ = ("_coro",)

    def __init__(self, coro: Any) -> None:
        self._coro = coro

    def __await__(self) -> Generator[Any, None, Any]:
        return self  # type: ignore[return-value]

    def __next__(self) -> Any:
        return self._coro.send(None)

    def send(self, value: Any) -> Any:
        return self._coro.send(value)

    def throw(self, typ: Any, val: Any = None, tb: TracebackType | None = None, /) -> Any:
        return self._coro.throw(*((typ,) if val is None and tb is None else (typ, val, tb)))

    def close(self) -> None:
        self._coro.close()


def proxied_job(i: int) -> MinimalCoroutineProxy:
    return MinimalCoroutineProxy(job(i))


async def gather_all(make: Callable[[int], Awaitable[int]], n: int) -> int:
    return sum(await asyncio.gather(*[make(i) for i in range(n)]))


def _timed_gather(make: Callable[[int], Awaitable[int]], n: int, finish: Callable[[], Any] | None) -> Run:
    t0 = CLOCK[0]()
    total = asyncio.run(gather_all(make, n))
    if finish is not None:
        finish()
    t1 = CLOCK[0]()
    return Run(t1 - t0, total)


# -- variants: each makes a fresh generator or tasks (and tracer), runs once, and cleans up -----


@dataclass
class Run:
    ns: int  # the whole run
    total: int  # its result, which every variant of a workload must agree on


@dataclass
class Variant:
    key: str
    title: str
    run: Callable[[int, str], Run]  # (items or tasks, tmpdir) -> the run
    best: int | None = None  # ns, the best run
    total: int | None = None
    error: str | None = None  # why this row's timings mean nothing


def run_agen_untraced(n: int, tmp: str) -> Run:
    return Run(*asyncio.run(_timed_async_for(anumbers(n), None)))


def run_agen_forwarding(n: int, tmp: str) -> Run:
    return Run(*asyncio.run(_timed_async_for(ForwardingProxy(anumbers(n)), None)))


def run_agen_awaitable(n: int, tmp: str) -> Run:
    return Run(*asyncio.run(_timed_async_for(AwaitableProxy(anumbers(n)), None)))


def run_agen_memory(n: int, tmp: str) -> Run:
    t = gentrace.Tracer()
    run = Run(*asyncio.run(_timed_async_for(t.wrap(anumbers(n)), t.close)))
    _check_memory("agen-memory", t, 1 + n + 1)  # created, n items, the end
    return run


def run_agen_jsonl(n: int, tmp: str) -> Run:
    path = os.path.join(tmp, "gentrace-agen.jsonl")
    t = gentrace.Tracer(out=path, keep=0)
    run = Run(*asyncio.run(_timed_async_for(t.wrap(anumbers(n)), t.close)))
    _check_file("agen-jsonl", path, 1 + n + 1)
    return run


def run_gather_untraced(n: int, tmp: str) -> Run:
    return _timed_gather(job, n, None)


def run_gather_minimal(n: int, tmp: str) -> Run:
    return _timed_gather(proxied_job, n, None)


def run_gather_memory(n: int, tmp: str) -> Run:
    t = gentrace.Tracer()
    run = _timed_gather(t.trace(job), n, t.close)
    _check_memory("gather-memory", t, 3 * n)  # per task: created, the step to sleep(0), the return
    return run


def run_gather_jsonl(n: int, tmp: str) -> Run:
    path = os.path.join(tmp, "gentrace-gather.jsonl")
    t = gentrace.Tracer(out=path, keep=0)
    run = _timed_gather(t.trace(job), n, t.close)
    _check_file("gather-jsonl", path, 3 * n)
    return run


_checked: set[str] = set()


def _check_memory(key: str, t: gentrace.Tracer, wanted: int) -> None:
    if key not in _checked:  # once: reading the events is slow
        _checked.add(key)
        expect("it", len(t.events), wanted, exact=True)


def _check_file(key: str, path: str, wanted: int) -> None:
    if key not in _checked:
        _checked.add(key)
        with open(path, encoding="utf-8") as f:
            lines = sum(1 for _ in f)
        expect("its file", lines, wanted, exact=False)  # one line per event, plus notes


# -- measuring ------------------------------------------------------------------------------------


@dataclass
class Workload:
    title: str
    size: int  # items or tasks
    unit: str  # what a "per" figure is per
    steps: int  # how many of them a run makes
    variants: list[Variant]


def measure(workloads: list[Workload], repeats: int, tmp: str, progress: bool) -> None:
    for r in range(repeats):
        for w in workloads:
            for v in w.variants:
                if v.error is None:
                    _measure_once(v, w, tmp)
        if progress:
            print(f"  repeat {r + 1}/{repeats} done", file=sys.stderr, flush=True)


def _measure_once(v: Variant, w: Workload, tmp: str) -> None:
    gc.collect()
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            run = v.run(w.size, tmp)
    except BenchmarkInvalid as exc:
        said = err.getvalue().strip().splitlines()
        v.error = f"{exc}; it wrote to stderr: {said[0]}" if said else str(exc)
        return
    except Exception as exc:  # a broken build of gentrace: say so in its row, measure the rest
        v.error = f"failed: {type(exc).__name__}: {exc}"
        return
    if err.getvalue():
        # e.g. "gentrace: stopped recording: ..." — it no longer traces, so it is fast
        v.error = f"wrote to stderr: {err.getvalue().strip().splitlines()[0]}"
        return
    expected = w.variants[0].total  # the untraced row runs first
    if expected is not None and run.total != expected:
        v.error = f"its result was {run.total:,}, untraced {expected:,}"
        return
    v.total = run.total
    if v.best is None or run.ns < v.best:
        v.best = run.ns


# -- reporting ------------------------------------------------------------------------------------


def fmt_ns(ns: float) -> str:
    return f"{ns:,.0f} ns" if ns < 10_000 else f"{ns / 1000:,.1f} µs"


def table(w: Workload, units: list[tuple[str, Variant]], events: dict[str, int]) -> str:
    """One row per variant: the best run, per step or task, × each unit, and events/s if traced."""
    head = ["variant", "best run", f"per {w.unit}", *[f"× {name}" for name, _ in units], "events/s"]
    rows = [head, ["---", *["---:"] * (len(head) - 1)]]
    notes = []
    for v in w.variants:
        row = [v.title]
        if v.error is not None or v.best is None:
            notes.append(f"{v.title}: {v.error}")
            row += ["invalid¹", *["—"] * (len(head) - 2)]
        else:
            row += [f"{v.best / 1e6:,.2f} ms", fmt_ns(v.best / w.steps)]
            for _, unit in units:
                ok = unit.error is None and unit.best is not None
                row.append(fmt_ratio(v.best / unit.best) if ok else "—")  # type: ignore[operator]
            row.append(f"{events[v.key] * 1e9 / v.best:,.0f}" if v.key in events else "")
        rows.append(row)
    return markdown(rows) + "".join(f"\n\n¹ {note}" for note in notes)


def check(title: str, variant: Variant, unit: Variant, target: float) -> str:
    line = f"- {title} ≤ {target:g}× {unit.title}"
    for v in (variant, unit):
        if v.error is not None or v.best is None:
            return f"{line}: NOT MEASURED ({v.title}: {v.error})"
    ratio = variant.best / unit.best  # type: ignore[operator]
    return f"{line}: {'met' if ratio <= target else 'missed'} ({ratio:.2f}×)"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument(
        "--items",
        type=int,
        default=None,
        help="items of the async generator (default 100,000; --quick 20,000)",
    )
    p.add_argument("--tasks", type=int, default=None, help="tasks gathered (default 10,000; --quick 2,000)")
    p.add_argument(
        "--repeats", "--repeat", type=int, default=None, help="best of this many runs (default 5; --quick 3)"
    )
    p.add_argument(
        "--quick", action="store_true", help="fewer items, tasks and repeats: a few seconds, noisier"
    )
    p.add_argument(
        "--cpu-time",
        action="store_true",
        help="time runs with the process's CPU time instead of wall time (steadier on a busy machine)",
    )
    args = p.parse_args(argv)
    items = args.items or (20_000 if args.quick else 100_000)
    tasks = args.tasks or (2_000 if args.quick else 10_000)
    repeats = args.repeats or (3 if args.quick else 5)
    if items < 1 or tasks < 1 or repeats < 1:
        p.error("--items, --tasks and --repeats must be at least 1")
    CLOCK[0] = time.process_time_ns if args.cpu_time else time.perf_counter_ns

    agen = Workload(
        f"`async for` over an async generator, {items:,} items ({items + 1:,} steps)",
        items,
        "step",
        items + 1,
        [
            Variant("agen-untraced", "untraced", run_agen_untraced),
            Variant("agen-forwarding", "forwarding proxy", run_agen_forwarding),
            Variant("agen-awaitable", "awaitable proxy (floor)", run_agen_awaitable),
            Variant("agen-memory", "gentrace, in memory", run_agen_memory),
            Variant("agen-jsonl", "gentrace, JSONL file", run_agen_jsonl),
        ],
    )
    gather = Workload(
        f"{tasks:,} coroutine tasks gathered (the whole `asyncio.run`)",
        tasks,
        "task",
        tasks,
        [
            Variant("gather-untraced", "untraced", run_gather_untraced),
            Variant("gather-minimal", "minimal coroutine proxy", run_gather_minimal),
            Variant("gather-memory", "gentrace, in memory", run_gather_memory),
            Variant("gather-jsonl", "gentrace, JSONL file", run_gather_jsonl),
        ],
    )

    print(
        f"gentrace {getattr(gentrace, '__version__', '?')} · Python {platform.python_version()} "
        f"({platform.python_implementation()}) · {platform.machine()} · {platform.system()} · "
        f"{os.cpu_count()} CPUs, load {load_average()} · best of {repeats} · "
        f"{'CPU' if args.cpu_time else 'wall'} time",
        flush=True,
    )
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gentrace-bench-") as tmp:
        measure([agen, gather], repeats, tmp, progress=True)
    elapsed = time.perf_counter() - t0

    a_untraced, a_forwarding, a_floor, a_memory, _ = agen.variants
    g_untraced, _, g_memory, _ = gather.variants
    a_events = {"agen-memory": items + 2, "agen-jsonl": items + 2}
    g_events = {"gather-memory": 3 * tasks, "gather-jsonl": 3 * tasks}
    print(f"\n{agen.title}\n")
    print(table(agen, [("untraced", a_untraced), ("forwarding", a_forwarding), ("floor", a_floor)], a_events))
    print(f"\n{gather.title}\n")
    print(table(gather, [("untraced", g_untraced)], g_events))
    print("\nTargets:")
    print(check("`async for`, in memory,", a_memory, a_floor, ASYNC_FOR_TARGET))
    print(check(f"{tasks:,} gathered tasks, in memory,", g_memory, g_untraced, GATHER_TARGET))
    print(f"\n(measured in {elapsed:.1f} s; load average afterwards {load_average()})")
    every = agen.variants + gather.variants
    return 1 if any(v.error is not None for v in every) else 0


if __name__ == "__main__":
    sys.exit(main())
