"""`Recorder` on its own: instance names and functions, seq under threads, max_events and its note,
keep, unfinished instances, collect records, add_sink, a failing sink, and closing once.

Most tests drive a `Recorder` directly (a proxy around a generator, as `Tracer` builds it), with a
fake clock and a sink that remembers what it was told.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Generator
from typing import Any

import pytest
from support import FakeClock, RecordingSink, run_threads

import gentrace
from gentrace.proxy import GeneratorProxy
from gentrace.recorder import Recorder
from gentrace.records import (
    AFTER,
    BEFORE,
    FUNC,
    INST,
    NAME,
    OP,
    OUTCOME,
    SEQ,
    Ending,
    Record,
)


def numbers(n: int) -> Generator[int, Any, str]:
    i = 0
    while i < n:
        yield i  # PAUSE
        i += 1
    return "done"


FIRST_LINE = numbers.__code__.co_firstlineno
PAUSE_LINE = FIRST_LINE + 3


def traced(
    rec: Recorder,
    gen: Any,
    *,
    name: str | None = None,
    func: Callable[..., Any] | None = None,
) -> GeneratorProxy:
    """A proxy around `gen` recorded by `rec`, with its create record (as `Tracer` does it)."""
    ref = rec.instance(gen, name, func)
    proxy = GeneratorProxy(gen, rec, ref)
    rec.created(ref, None, "GEN_CREATED", gen.gi_frame.f_lasti)
    return proxy


def call(rec: Recorder, func: Callable[..., Generator[Any, Any, Any]], *args: Any) -> GeneratorProxy:
    """Call generator function `func` and trace what it returns, as a traced function would."""
    return traced(rec, func(*args), func=func)


def names(records: list[Record]) -> list[str]:
    return [r[INST][NAME] for r in records if r[OP] == "create"]


def created(rec: Recorder) -> list[tuple[str, str]]:
    """(name, func) of each instance created (instances nothing holds are also collected)."""
    return [(r[INST][NAME], r[INST][FUNC]) for r in rec.records() if r[OP] == "create"]


# -- names --------------------------------------------------------------------------------------


def test_instances_are_numbered_per_name(clock: FakeClock) -> None:
    def other(n: int) -> Generator[int, Any, None]:
        yield n

    rec = Recorder(clock=clock)
    call(rec, numbers, 1)
    call(rec, other, 1)
    call(rec, numbers, 1)
    traced(rec, numbers(1), name="avg", func=numbers)
    traced(rec, numbers(1), name="avg", func=numbers)
    call(rec, numbers, 1)
    assert names(rec.records()) == [
        "numbers#1",
        "test_instances_are_numbered_per_name.other#1",
        "numbers#2",
        "avg#1",
        "avg#2",
        "numbers#3",  # name= took no number from the function's own count
    ]


def test_two_functions_with_the_same_name_share_one_count(clock: FakeClock) -> None:
    def make() -> Callable[[], Generator[int, Any, None]]:
        def step() -> Generator[int, Any, None]:
            yield 1

        return step

    first, second = make(), make()
    assert first is not second
    rec = Recorder(clock=clock)
    call(rec, first)
    call(rec, second)
    call(rec, first)
    base = "test_two_functions_with_the_same_name_share_one_count.make.step"
    assert names(rec.records()) == [f"{base}#1", f"{base}#2", f"{base}#3"]


def test_func_is_module_and_qualname_without_locals(clock: FakeClock) -> None:
    class Box:
        def items(self) -> Generator[int, Any, None]:
            yield 1

    def outer() -> Callable[[], Generator[int, Any, None]]:
        def inner() -> Generator[int, Any, None]:
            yield 2

        return inner

    rec = Recorder(clock=clock)
    call(rec, numbers, 1)
    traced(rec, Box().items(), func=Box.items)
    call(rec, outer())
    here = "test_func_is_module_and_qualname_without_locals"
    assert created(rec) == [
        ("numbers#1", f"{__name__}:numbers"),
        (f"{here}.Box.items#1", f"{__name__}:{here}.Box.items"),
        (f"{here}.outer.inner#1", f"{__name__}:{here}.outer.inner"),
    ]


def test_a_generator_expression_drops_its_angle_brackets(clock: FakeClock) -> None:
    rec = Recorder(clock=clock)
    top_level = eval("(x for x in range(3))", {"__name__": "somemod"})
    assert top_level.__qualname__ == "<genexpr>"
    traced(rec, top_level)
    traced(rec, eval("(x for x in range(2))", {"__name__": "somemod"}))
    traced(rec, (x for x in range(2)))
    assert created(rec) == [
        ("genexpr#1", "somemod:<genexpr>"),
        ("genexpr#2", "somemod:<genexpr>"),
        (
            "test_a_generator_expression_drops_its_angle_brackets.genexpr#1",
            f"{__name__}:test_a_generator_expression_drops_its_angle_brackets.<genexpr>",
        ),
    ]


# -- seq ----------------------------------------------------------------------------------------


def stepping(n: int, barrier: threading.Barrier) -> Generator[int, Any, None]:
    for i in range(n):
        barrier.wait()  # every thread is inside a step of its own at once
        yield i


def test_seq_is_gapless_and_unique_under_eight_threads() -> None:
    threads, steps = 8, 500
    t = gentrace.Tracer(keep=None)
    decorated = t.trace(stepping)
    barrier = threading.Barrier(threads, timeout=60)
    results: list[list[int]] = []

    def work() -> None:
        results.append(list(decorated(steps, barrier)))

    workers = [threading.Thread(target=work, name=f"w{i}") for i in range(threads)]
    run_threads(workers)
    t.close()
    assert results == [list(range(steps))] * threads
    events = t.events
    per_instance = 1 + steps + 1  # create, the yields, the return
    assert [e.seq for e in events] == list(range(1, threads * per_instance + 1))
    assert sorted({e.gen for e in events}) == sorted(f"stepping#{i}" for i in range(1, threads + 1))
    for name in {e.gen for e in events}:
        mine = [e for e in events if e.gen == name]
        assert len(mine) == per_instance
        assert len({e.thread for e in mine}) == 1
        assert {e.depth for e in mine} == {0}


# -- max_events, keep ---------------------------------------------------------------------------


def test_max_events_stops_recording_and_notes_the_cut_once(clock: FakeClock) -> None:
    sink = RecordingSink()
    rec = Recorder([sink], max_events=3, clock=clock)
    p = call(rec, numbers, 5)
    assert list(p) == [0, 1, 2, 3, 4]  # the program runs on
    q = call(rec, numbers, 2)  # a create past the limit is not recorded either
    assert list(q) == [0, 1]
    assert [r[SEQ] for r in sink.ends] == [1, 2, 3]
    assert [r[SEQ] for r in rec.records()] == [1, 2, 3]
    assert sink.notes == [{"note": "max-events", "after_seq": 3}]
    rec.close()
    assert len(sink.closings) == 1
    ending = sink.closings[0]
    assert (ending.events, ending.cut_after) == (3, 3)


def test_no_cut_without_reaching_max_events(clock: FakeClock) -> None:
    sink = RecordingSink()
    rec = Recorder([sink], max_events=4, clock=clock)
    assert list(call(rec, numbers, 2)) == [0, 1]  # exactly four events
    rec.close()
    assert sink.notes == []
    assert (sink.closings[0].events, sink.closings[0].cut_after) == (4, None)


def test_keep_zero_keeps_nothing_but_feeds_the_sinks(clock: FakeClock) -> None:
    sink = RecordingSink()
    rec = Recorder([sink], keep=0, clock=clock)
    assert list(call(rec, numbers, 3)) == [0, 1, 2]
    assert rec.records() == []
    assert [r[SEQ] for r in sink.ends] == [1, 2, 3, 4, 5]


def test_keep_n_keeps_only_the_latest_n(clock: FakeClock) -> None:
    rec = Recorder(keep=2, clock=clock)
    assert list(call(rec, numbers, 3)) == [0, 1, 2]
    assert [(r[SEQ], r[OUTCOME]) for r in rec.records()] == [(4, "yield"), (5, "return")]


def test_keep_none_keeps_everything_in_seq_order(clock: FakeClock) -> None:
    rec = Recorder(clock=clock)
    assert list(call(rec, numbers, 3)) == [0, 1, 2]
    assert [(r[SEQ], r[OP], r[OUTCOME]) for r in rec.records()] == [
        (1, "create", "created"),
        (2, "next", "yield"),
        (3, "next", "yield"),
        (4, "next", "yield"),
        (5, "next", "return"),
    ]


# -- unfinished, collect ------------------------------------------------------------------------


def test_unfinished_lists_live_unfinished_instances_in_creation_order(clock: FakeClock) -> None:
    rec = Recorder(clock=clock)
    paused = call(rec, numbers, 3)
    next(paused)
    fresh = call(rec, numbers, 1)
    done = call(rec, numbers, 1)
    assert list(done) == [0]
    call(rec, numbers, 4)  # collected at once: nothing holds it
    later = call(rec, numbers, 2)
    next(later)
    found = [(u.info[NAME], u.state, u.lineno) for u in rec.unfinished()]
    assert found == [
        ("numbers#1", "GEN_SUSPENDED", PAUSE_LINE),
        ("numbers#2", "GEN_CREATED", FIRST_LINE),
        ("numbers#5", "GEN_SUSPENDED", PAUSE_LINE),
    ]
    assert fresh is not None


def test_the_ending_carries_the_unfinished_instances(clock: FakeClock) -> None:
    sink = RecordingSink()
    rec = Recorder([sink], clock=clock)
    paused = call(rec, numbers, 3)
    next(paused)
    rec.close()
    (ending,) = sink.closings
    assert [(u.info[NAME], u.state, u.lineno) for u in ending.unfinished] == [
        ("numbers#1", "GEN_SUSPENDED", PAUSE_LINE)
    ]
    assert ending.events == 2


@pytest.mark.parametrize(("steps", "before"), [(0, "GEN_CREATED"), (1, "GEN_SUSPENDED")])
def test_collect_is_recorded_for_an_unfinished_instance(clock: FakeClock, steps: int, before: str) -> None:
    sink = RecordingSink()
    rec = Recorder([sink], clock=clock)
    p = call(rec, numbers, 3)
    for _ in range(steps):
        next(p)
    del p
    gc.collect()
    last = sink.ends[-1]
    assert (last[SEQ], last[INST][NAME], last[OP], last[OUTCOME], last[BEFORE], last[AFTER]) == (
        steps + 2,
        "numbers#1",
        "collect",
        "closed",
        before,
        "GEN_CLOSED",
    )
    assert rec.unfinished() == []


def test_no_collect_for_a_finished_instance(clock: FakeClock) -> None:
    sink = RecordingSink()
    rec = Recorder([sink], clock=clock)
    p = call(rec, numbers, 1)
    assert list(p) == [0]
    closed = call(rec, numbers, 2)
    next(closed)
    closed.close()
    del p, closed
    gc.collect()
    assert [r[OP] for r in sink.ends] == ["create", "next", "next", "create", "next", "close"]


# -- sinks --------------------------------------------------------------------------------------


def test_add_sink_feeds_it_from_the_next_operation_on(clock: FakeClock) -> None:
    rec = Recorder(clock=clock)
    p = call(rec, numbers, 3)
    next(p)
    plain, starter = RecordingSink(), RecordingSink(wants_start=True)
    rec.add_sink(plain)
    assert next(p) == 1
    rec.add_sink(starter)
    assert list(p) == [2]
    assert [r[SEQ] for r in plain.ends] == [3, 4, 5]
    assert plain.starts == []
    assert [r[SEQ] for r in starter.starts] == [4, 5]
    assert [r[SEQ] for r in starter.ends] == [4, 5]
    assert [r[OUTCOME] for r in starter.starts] == [None, None]  # told before the outcome is known
    assert [r[SEQ] for r in rec.records()] == [1, 2, 3, 4, 5]  # memory missed nothing


def test_start_comes_only_to_sinks_that_want_it(clock: FakeClock) -> None:
    plain, starter = RecordingSink(), RecordingSink(wants_start=True)
    rec = Recorder([plain, starter], clock=clock)
    assert list(call(rec, numbers, 1)) == [0]
    assert plain.starts == []
    assert [(r[SEQ], r[OP]) for r in starter.starts] == [(2, "next"), (3, "next")]  # not the create
    assert [r[SEQ] for r in plain.ends] == [r[SEQ] for r in starter.ends] == [1, 2, 3]


class Failing(RecordingSink):
    """Fails at its `fail_at`-th end (and at close, if `fail_close`)."""

    def __init__(self, fail_at: int, fail_close: bool = False) -> None:
        super().__init__()
        self.fail_at = fail_at
        self.fail_close = fail_close

    def end(self, record: Record) -> None:
        super().end(record)
        if len(self.ends) == self.fail_at:
            raise OSError(28, "No space left on device")

    def close(self, ending: Ending) -> None:
        super().close(ending)
        if self.fail_close:
            raise OSError(5, "Input/output error")


def test_a_failing_sink_stops_recording_with_one_line_on_stderr(
    clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    bad, good = Failing(fail_at=2, fail_close=True), RecordingSink()
    rec = Recorder([bad, good], max_events=5, clock=clock)
    p = call(rec, numbers, 6)
    assert list(p) == [0, 1, 2, 3, 4, 5]  # the program runs on
    assert [r[SEQ] for r in bad.ends] == [1, 2]
    assert [r[SEQ] for r in rec.records()] == [1, 2]
    rec.close()
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "gentrace: stopped recording: OSError: [Errno 28] No space left on device\n"
    assert bad.notes == [] and good.notes == []  # a failure is not a max-events cut
    assert len(bad.closings) == len(good.closings) == 1


def test_a_failing_only_sink_stops_recording_too(
    clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = Failing(fail_at=1)
    rec = Recorder([bad], keep=0, clock=clock)
    assert list(call(rec, numbers, 3)) == [0, 1, 2]
    assert [r[SEQ] for r in bad.ends] == [1]
    assert (
        capsys.readouterr().err
        == "gentrace: stopped recording: OSError: [Errno 28] No space left on device\n"
    )


def test_close_twice_closes_the_sinks_once(clock: FakeClock) -> None:
    sink = RecordingSink()
    rec = Recorder([sink], clock=clock)
    p = call(rec, numbers, 3)
    next(p)
    rec.close()
    rec.close()
    assert len(sink.closings) == 1
    assert rec.closed
    assert next(p) == 1  # still works, unrecorded
    assert [r[SEQ] for r in sink.ends] == [1, 2]
