"""The compiled core and its pure-Python twin: which one runs, that they record alike, and that the
compiled one neither leaks nor keeps what it should let go.

The whole suite runs on both paths (CI runs it again with ``GENTRACE_PURE_PYTHON=1``); these tests
compare the two directly, in subprocesses, on the same programs.
"""

from __future__ import annotations

import asyncio
import gc
import os
import shutil
import subprocess
import sys
import sysconfig
import time
import weakref
from collections.abc import AsyncGenerator, Generator
from pathlib import Path
from typing import Any

import pytest
from support import RecordingSink

import gentrace
from gentrace.compiled import speedups

HERE = Path(__file__).parent

try:
    import gentrace._speedups as built
except ImportError:
    built = None

needs_built = pytest.mark.skipif(built is None, reason="gentrace._speedups is not built (no C compiler?)")


def on_path(pure: bool, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GENTRACE_PURE_PYTHON": "1" if pure else ""}
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120
    )


def test_a_machine_that_can_build_the_core_runs_it() -> None:
    # An optional build that silently fell back would pass every other test: this one says so.
    compiler = (sysconfig.get_config_var("CC") or "").split()
    headers = os.path.join(sysconfig.get_paths()["include"], "Python.h")
    if os.environ.get("GENTRACE_PURE_PYTHON", "") not in ("", "0"):
        assert speedups is None
    elif compiler and shutil.which(compiler[0]) and os.path.exists(headers):
        assert speedups is not None, (
            f"a C compiler and {headers} are here, but gentrace._speedups was not built"
        )
    else:
        pytest.skip("no C compiler or Python headers: the pure-Python path is the one there is")


@needs_built
@pytest.mark.parametrize(("pure", "steps"), [(True, "_PythonSteps"), (False, "GeneratorSteps")])
def test_gentrace_pure_python_chooses_the_path(pure: bool, steps: str) -> None:
    probe = "import gentrace.proxy as p; print([c.__name__ for c in p.GeneratorProxy.__mro__][1])"
    assert on_path(pure, "-c", probe).stdout.strip() == steps


@needs_built
@pytest.mark.parametrize(
    ("worker", "count"),
    [
        # Random operations (next, send, throw of any exception, the three-argument throw, close,
        # for, yield from) on generators of every shape.
        pytest.param("differential_worker.py", 400, id="generators"),
        # Random operations on async generators (anext, asend, athrow, aclose, async for, an
        # awaitable closed half-way) and coroutines (gathered, awaited, stepped by hand), on a loop.
        pytest.param("differential_async_worker.py", 300, id="async"),
    ],
)
def test_both_paths_record_and_write_the_same(tmp_path: Path, worker: str, count: int) -> None:
    # The clock is fake, so even times must agree.
    script = str(HERE / worker)
    compiled = on_path(False, script, "0", str(count), str(tmp_path / "compiled"))
    pure = on_path(True, script, "0", str(count), str(tmp_path / "pure"))
    assert compiled.returncode == 0 and pure.returncode == 0, compiled.stderr + pure.stderr
    assert compiled.stdout.count("-- scenario") == count
    assert compiled.stdout == pure.stdout
    files = sorted(p.name for p in (tmp_path / "compiled").iterdir())
    assert len(files) == 2 * count
    for name in files:
        assert (tmp_path / "compiled" / name).read_bytes() == (tmp_path / "pure" / name).read_bytes(), name


@needs_built
@pytest.mark.parametrize(
    ("pure", "bases"),
    [(True, "_PythonAsyncStep _PythonAsyncGeneratorSteps _PythonCoroutineSteps"),
     (False, "AsyncStepCore AsyncGeneratorSteps CoroutineSteps")],
)  # fmt: skip
def test_gentrace_pure_python_chooses_the_async_path(pure: bool, bases: str) -> None:
    probe = (
        "import gentrace.aproxy as a; "
        "print(*[c.__mro__[1].__name__ for c in (a.AsyncStep, a.AsyncGeneratorProxy, a.CoroutineProxy)])"
    )
    assert on_path(pure, "-c", probe).stdout.strip() == bases


class Marker:
    """A value whose references are counted: sent, yielded, returned and thrown many times."""


def echo() -> Generator[Any, Any, Any]:
    received = yield
    while received is not None:
        received = yield received
    return received


def test_values_through_steps_are_not_leaked_nor_freed_too_soon() -> None:
    value, error = Marker(), ValueError("thrown")
    tracer = gentrace.Tracer(keep=0)
    before = sys.getrefcount(value), sys.getrefcount(error)
    for _ in range(2000):
        gen = tracer.trace(echo)()
        next(gen)
        assert gen.send(value) is value
        with pytest.raises(ValueError) as raised:
            gen.throw(error)
        assert raised.value is error
        del raised
        gen = tracer.trace(echo)()
        next(gen)
        gen.close()
        gen = tracer.trace(echo)()
        for _ in gen:
            break
    del gen
    gc.collect()
    error.__traceback__ = None
    assert (sys.getrefcount(value), sys.getrefcount(error)) == before
    tracer.close()


async def aecho() -> AsyncGenerator[Any, Any]:
    received = yield
    while received is not None:
        received = yield received


async def returning(value: Any) -> Any:
    await asyncio.sleep(0)
    return value


def test_values_through_async_steps_are_not_leaked_nor_freed_too_soon() -> None:
    value, error = Marker(), ValueError("thrown")
    tracer = gentrace.Tracer(keep=0)

    async def main() -> None:
        for _ in range(1000):
            agen = tracer.trace(aecho)()
            await agen.__anext__()
            assert await agen.asend(value) is value
            with pytest.raises(ValueError) as raised:
                await agen.athrow(error)
            assert raised.value is error
            del raised
            agen = tracer.trace(aecho)()
            async for _ in agen:
                break
            await agen.aclose()
            assert await tracer.trace(returning)(value) is value
            assert await asyncio.gather(tracer.trace(returning)(value)) == [value]

    before = sys.getrefcount(value), sys.getrefcount(error)
    asyncio.run(main())
    gc.collect()
    error.__traceback__ = None
    assert (sys.getrefcount(value), sys.getrefcount(error)) == before
    tracer.close()


def test_a_traced_async_generator_or_coroutine_dropped_is_freed_at_once() -> None:
    tracer = gentrace.Tracer(keep=0)

    async def main() -> list[weakref.ref[Any]]:
        agen = tracer.trace(aecho)()
        await agen.__anext__()
        await agen.asend(Marker())
        coro = tracer.trace(returning)(Marker())
        coro.send(None)  # suspended in asyncio.sleep(0)
        return [weakref.ref(agen), weakref.ref(coro)]

    gc.disable()  # freed by their reference counts, not by the collector
    try:
        gone = asyncio.run(main())
        assert [ref() for ref in gone] == [None, None]
    finally:
        gc.enable()
    tracer.close()


def test_a_sink_added_during_a_step_when_nothing_recorded_gets_that_step() -> None:
    # With nothing keeping records the compiled step reads no clock; the step that adds a sink
    # is still recorded, its times real ones.
    tracer = gentrace.Tracer(keep=0)
    sink = RecordingSink()

    def adding() -> Generator[int, None, None]:
        yield 1
        tracer.add_sink(sink)
        yield 2
        yield 3

    gen = tracer.wrap(adding())
    assert list(gen) == [1, 2, 3]
    tracer.close()
    steps = [(r[2], r[4], r[5]) for r in sink.ends]
    assert steps == [("next", "yield", 2), ("next", "yield", 3), ("next", "return", None)]
    assert all(r[11] >= tracer._recorder.origin and r[12] >= 0 for r in sink.ends)
    assert [r[0] for r in sink.ends] == [3, 4, 5]


def test_a_traced_generator_dropped_is_freed_at_once() -> None:
    tracer = gentrace.Tracer(keep=0)
    gen = tracer.trace(echo)()
    next(gen)
    gen.send(Marker())
    gone = weakref.ref(gen)
    del gen
    assert gone() is None  # no cycle keeps it: freed by its reference count, not by the collector
    tracer.close()


@pytest.mark.parametrize("ending", ["return", "throw", "close"])
def test_a_finished_generators_locals_go_when_it_finishes(ending: str) -> None:
    # A frame kept by the proxy would keep them until the proxy goes, past the step that ended it.
    # (Kept records would keep a thrown exception, and its traceback the frame: none are kept.)
    tracer = gentrace.Tracer(keep=0)
    gone: list[weakref.ref[Marker]] = []

    @tracer.trace
    def holder() -> Generator[int, None, None]:
        local = Marker()
        gone.append(weakref.ref(local))
        yield 1
        yield 2

    gen = holder()
    assert next(gen) == 1 and next(gen) == 2 and gone[0]() is not None
    try:
        if ending == "return":
            next(gen)
        elif ending == "throw":
            gen.throw(KeyError("x"))
        else:
            gen.close()
    except (StopIteration, KeyError):
        pass  # the traceback, which holds the frame, goes with the exception at the end of this block
    assert gone[0]() is None
    tracer.close()


def test_a_finished_async_generators_locals_go_when_it_finishes() -> None:
    tracer = gentrace.Tracer(keep=0)
    gone: list[weakref.ref[Marker]] = []

    @tracer.trace
    async def holder() -> AsyncGenerator[int, None]:
        local = Marker()
        gone.append(weakref.ref(local))
        yield 1
        yield 2

    async def main() -> None:
        agen = holder()
        assert [await anext(agen), await anext(agen)] == [1, 2] and gone[0]() is not None
        with pytest.raises(StopAsyncIteration):
            await anext(agen)
        assert gone[0]() is None
        with pytest.raises(StopAsyncIteration):
            await anext(agen)  # a finished one's frame is not read again

    asyncio.run(main())
    tracer.close()


def test_peak_rss_stays_flat_over_many_traced_generators(tmp_path: Path) -> None:
    # On the path this suite runs on (benchmarks/leak_check.py runs a million on both).
    script = tmp_path / "flat.py"
    script.write_text(
        "import resource, gentrace\n"
        "def gen(n):\n"
        "    for i in range(n):\n"
        "        x = yield [i]\n"
        "tracer = gentrace.Tracer(keep=0)\n"
        "def rss():\n"
        "    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "def run(count):\n"
        "    for _ in range(count):\n"
        "        g = tracer.trace(gen)(5)\n"
        "        next(g)\n"
        "        g.send('x')\n"
        "        for _ in g: pass\n"
        "run(20000)\n"
        "first = rss()\n"
        "run(100000)\n"
        "print(rss() - first)\n"
    )
    ran = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    grown_kib = int(ran.stdout)
    assert grown_kib < 2048, f"peak RSS grew {grown_kib} KiB over 700,000 more steps"


# From import on, as the clock learns the counter's rate (after 20 ms) and re-anchors (about every
# 0.1 s): each reading, taken between two of perf_counter_ns, lies between them give or take
# TOLERANCE, and none goes back. Printed: the readings checked and how far out the worst one was.
CLOCK_CHECK = """
import sys, time
from gentrace.compiled import clock
import gentrace._speedups
pc = time.perf_counter_ns
end = pc() + 1_000_000_000
last = clock()
checked = worst = 0
while pc() < end:
    before = pc()
    now = clock()
    after = pc()
    if now < last:
        sys.exit(f"went back by {last - now} ns")
    last = now
    worst = max(worst, before - now, now - after)
    checked += 1
    if checked % 20_000 == 0:
        time.sleep(0.02)
print(clock is gentrace._speedups.clock, checked, worst)
"""
TOLERANCE = 20_000  # ns: ten times the worst a pair read together allows, 40 times the worst seen


@needs_built
def test_the_compiled_clock_keeps_to_perf_counter_ns_and_never_goes_back(tmp_path: Path) -> None:
    script = tmp_path / "clock.py"
    script.write_text(CLOCK_CHECK)
    ran = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    compiled_clock, checked, worst = ran.stdout.split()
    assert compiled_clock == str(speedups is not None) and int(checked) > 20_000
    assert int(worst) <= TOLERANCE


def test_records_are_timed_by_the_paths_clock() -> None:
    # perf_counter_ns itself on the pure path; the compiled core's reading of it on the other.
    tracer = gentrace.Tracer()
    assert tracer._clock is (time.perf_counter_ns if speedups is None else speedups.clock)
    tracer.close()


def test_a_clock_past_64_bits_is_refused_on_both_paths() -> None:
    with pytest.raises(ValueError, match=r"clock\(\) must give integer nanoseconds \(64 bits\), got 1180"):
        gentrace.Tracer(clock=lambda: 2**70)
    with pytest.raises(ValueError, match=r"got 1\.5"):
        gentrace.Tracer(clock=lambda: 1.5)


@needs_built
def test_compiled_memory_gives_back_what_it_kept() -> None:
    # Numbers as C integers, and a record whose numbers do not fit kept whole.
    memory = built.Memory()
    info = ("echo#1", "m:echo", None, "m.py")
    plain = (
        7,
        info,
        "next",
        None,
        "yield",
        [1],
        "GEN_CREATED",
        "GEN_SUSPENDED",
        0,
        "T",
        None,
        -(2**63),
        5,
        8,
        7,
    )
    odd = (
        2**64,
        info,
        "send",
        2,
        "yield",
        None,
        "GEN_SUSPENDED",
        "GEN_SUSPENDED",
        1,
        "T",
        "t",
        1.5,
        0,
        -1,
        8,
    )
    for _ in range(30_000):  # past the second chunk: 1,024 records, then 26,214 a chunk
        memory.append(plain)
    memory.append(odd)
    kept = memory.records()
    assert len(memory) == len(kept) == 30_001
    assert kept[0] == plain and kept[0][5] is plain[5] and kept[-1] is odd
    with pytest.raises(TypeError, match="a tuple of 15"):
        memory.append(plain[:14])


# Each field of a record at and past the edges of what a kept record holds in C (its numbers in 16
# or 32 bits, ended as ended - seq, the words as codes of interned strs), the rest plain.
EDGES = [
    *[("seq", n) for n in (0, 2**31, 2**63 - 1, -(2**63))],
    *[("depth", n) for n in (-1, 2**16 - 1, 2**16)],
    *[("start", n) for n in (-(2**63), 2**63 - 1)],
    *[("took", n) for n in (-1, 0, 2**32 - 1, 2**32)],
    *[("lasti", n) for n in (-2, -1, 2**31 - 1, 2**31)],
    *[("ended_by", n) for n in (-1, 2**31 - 1, 2**31, -(2**31), -(2**31) - 1, 2**64)],
    *[(word, "".join(["ne", "xt"])) for word in ("op", "outcome", "before", "after")],  # not interned
    *[(word, w) for word in ("op", "outcome", "before", "after") for w in ("unheard-of", None, 3)],
]


@needs_built
@pytest.mark.parametrize(("field", "edge"), EDGES)
def test_compiled_memory_gives_back_every_record_as_it_was(field: str, edge: object) -> None:
    # Kept in small fields when it fits, whole when it doesn't: either way, what comes back is the
    # record, its objects the same ones.
    memory = built.Memory()
    value, arg, info = [1], {"a": 2}, ("echo#1", "m:echo", None, "m.py")
    fields: dict[str, Any] = {
        "seq": 7, "depth": 1, "start": 10, "took": 5, "lasti": 8, "ended_by": 0,
        "op": "send", "outcome": "yield", "before": "GEN_SUSPENDED", "after": "GEN_SUSPENDED",
    }  # fmt: skip
    fields[field] = edge
    f = fields
    seq = f["seq"]
    record = (seq, info, f["op"], arg, f["outcome"], value, f["before"], f["after"], f["depth"],
              "MainThread", "Task-1", f["start"], f["took"], f["lasti"], seq + f["ended_by"])  # fmt: skip
    for _ in range(2):
        memory.append(record)
    kept = memory.records()
    assert kept == [record, record]
    for got in kept:
        assert got[1] is info and got[3] is arg and got[5] is value


# A lone sink and no memory: the recorder's emit is LoneEmit (compiled) or emit_one (pure). The
# sink fails at the calls of `end` the scenario names; the program prints what it saw.
LONE_SINK = """
import sys
import gentrace
from gentrace.records import Sink

class Flaky(Sink):
    def __init__(self, faults):
        self.faults = faults
        self.calls = 0
        self.seqs = []

    def end(self, record):
        self.calls += 1
        if self.calls in self.faults:
            raise self.faults[self.calls]
        self.seqs.append(record[0])

def numbers(n):
    for i in range(n):
        yield i

faults = {
    "recursion": {2: RecursionError(), 3: RecursionError(), 6: RecursionError()},
    "value": {3: ValueError("bad value")},
    "interrupt": {3: KeyboardInterrupt()},
}[sys.argv[1]]
sink = Flaky(faults)
tracer = gentrace.Tracer(keep=0, sinks=[sink])
emit = tracer._recorder.emit
print(getattr(emit, "__name__", type(emit).__name__))
gen = tracer.trace(numbers)(4)
seen = []
try:
    for i in gen:
        seen.append(i)
except KeyboardInterrupt:
    seen.append("KeyboardInterrupt")
seen.extend(gen)
tracer.close()
print(seen, sink.calls, sink.seqs)
"""

EMITS = [pytest.param(True, "emit_one", id="pure"), pytest.param(False, "LoneEmit", id="compiled")]


@needs_built
@pytest.mark.parametrize(("pure", "emit"), EMITS)
def test_a_lone_sink_out_of_stack_room_gets_its_records_later_in_order(pure: bool, emit: str) -> None:
    ran = on_path(pure, "-c", LONE_SINK, "recursion")
    assert ran.returncode == 0 and ran.stderr == "", ran.stderr
    # Record 2 deferred at call 2, still no room at call 3 (record 3 deferred behind it), both
    # written before record 4 at calls 4 and 5; record 4 deferred at call 6, written at call 7.
    assert ran.stdout == f"{emit}\n[0, 1, 2, 3] 10 [1, 2, 3, 4, 5, 6, 7]\n"


@needs_built
@pytest.mark.parametrize(("pure", "emit"), EMITS)
def test_a_lone_sink_that_fails_stops_recording_not_the_program(pure: bool, emit: str) -> None:
    ran = on_path(pure, "-c", LONE_SINK, "value")
    assert ran.returncode == 0
    assert ran.stderr == "gentrace: stopped recording: ValueError: bad value\n"
    assert ran.stdout == f"{emit}\n[0, 1, 2, 3] 3 [1, 2]\n"


@needs_built
@pytest.mark.parametrize(("pure", "emit"), EMITS)
def test_keyboard_interrupt_in_a_lone_sink_reaches_the_program(pure: bool, emit: str) -> None:
    ran = on_path(pure, "-c", LONE_SINK, "interrupt")
    assert ran.returncode == 0 and ran.stderr == "", ran.stderr
    # The step that yielded 1 was done when its record (3) met the interrupt: the program sees
    # the interrupt instead of the 1, and the generator goes on from there, recorded.
    assert ran.stdout == f"{emit}\n[0, 'KeyboardInterrupt', 2, 3] 6 [1, 2, 4, 5, 6]\n"


@needs_built
def test_lone_emit_neither_leaks_nor_holds_on() -> None:
    class Sink:
        def __init__(self) -> None:
            self.calls = self.taken = 0
            self.result = Marker()  # what `end` returns: dropped

        def end(self, record: Any) -> Marker:
            self.calls += 1
            if self.calls % 1000 == 0:
                raise RecursionError  # deferred, written at the next emit
            if self.calls % 1000 == 500:
                raise ValueError(record)  # given to _fail
            self.taken += 1
            return self.result

    class Recorder:
        def __init__(self) -> None:
            self.deferred: list[Any] = []
            self.failures = 0
            self.emit: Any = None

        def _catch_up(self) -> bool:
            while self.deferred:
                write, record = self.deferred.pop(0)
                write(record)
            return True

        def _fail(self, exc: Exception) -> None:
            self.failures += 1

    sink, recorder, record = Sink(), Recorder(), (Marker(),)
    end = sink.end
    watched = (end, record, recorder, sink.result)
    before = [sys.getrefcount(o) for o in watched]
    emit = built.LoneEmit(end, recorder.deferred, recorder)
    for _ in range(1_000_000):
        emit(record)
    recorder._catch_up()
    assert sink.taken + recorder.failures == 1_000_000 and recorder.failures > 900
    del emit
    assert [sys.getrefcount(o) for o in watched] == before
    recorder.emit = built.LoneEmit(end, recorder.deferred, recorder)  # a cycle, as a Recorder's
    gone = weakref.ref(recorder), weakref.ref(sink)
    del watched, end, sink, recorder
    gc.collect()
    assert [ref() for ref in gone] == [None, None]
