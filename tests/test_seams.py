"""The public seams on `gentrace.Tracer`: user sinks (`sinks=`, `add_sink`), the `only` filter, and
`gentrace.sinks.SpoolSink`, which hands the run over as a JSON Lines file when tracing ends."""

from __future__ import annotations

import asyncio
import io
import os
import types
from collections.abc import AsyncGenerator, Generator
from typing import Any

import pytest
from support import FakeClock, RecordingSink

import gentrace
from gentrace import GeneratorProxy
from gentrace.reader import TraceEvent, TraceReader
from gentrace.records import INST, NAME, OP, OUTCOME, SEQ, Ending, Record, Sink
from gentrace.sinks import SpoolSink


def numbers(n: int) -> Generator[int, Any, str]:
    yield from range(n)
    return "done"


def letters() -> Generator[str, Any, None]:
    yield "a"


async def countdown(n: int) -> AsyncGenerator[int, None]:
    while n:
        yield n
        n -= 1


async def double(x: int) -> int:
    return 2 * x


def seqs(records: list[Record]) -> list[int]:
    return [r[SEQ] for r in records]


# -- sinks= -------------------------------------------------------------------------------------


def test_a_user_sink_gets_every_end_and_is_closed_once(clock: FakeClock) -> None:
    sink = RecordingSink()
    t = gentrace.Tracer(sinks=[sink], clock=clock)
    assert list(t.trace(numbers)(2)) == [0, 1]
    assert seqs(sink.ends) == [e.seq for e in t.events] == [1, 2, 3, 4]
    assert [(r[INST][NAME], r[OP], r[OUTCOME]) for r in sink.ends] == [
        ("numbers#1", "create", "created"),
        ("numbers#1", "next", "yield"),
        ("numbers#1", "next", "yield"),
        ("numbers#1", "next", "return"),
    ]
    assert sink.starts == []  # it did not ask for them
    assert sink.closings == []
    t.close()
    t.close()
    assert len(sink.closings) == 1
    assert sink.closings[0].events == 4
    assert sink.closings[0].cut_after is None


def test_start_only_for_a_sink_that_wants_it(clock: FakeClock) -> None:
    plain, starter = RecordingSink(), RecordingSink(wants_start=True)
    t = gentrace.Tracer(sinks=[plain, starter], clock=clock)
    gen = t.trace(numbers)(1)
    assert next(gen) == 0
    assert plain.starts == []
    assert seqs(starter.starts) == [2]  # a create has no start
    assert starter.starts[0][OP] == "next"
    assert seqs(starter.ends) == seqs(plain.ends) == [1, 2]
    t.close()


def test_the_ending_says_what_is_unfinished(clock: FakeClock) -> None:
    sink = RecordingSink()
    with gentrace.Tracer(sinks=[sink], clock=clock) as t:
        gen = t.trace(numbers)(3)
        next(gen)
    (ending,) = sink.closings
    assert ending.events == 2
    assert [(u.info[NAME], u.state) for u in ending.unfinished] == [("numbers#1", "GEN_SUSPENDED")]


def test_sinks_are_fed_after_the_outputs_of_out(clock: FakeClock) -> None:
    stream = io.StringIO()
    seen: list[str] = []

    class Peeking(Sink):
        def end(self, record: Record) -> None:
            seen.append(stream.getvalue())

    t = gentrace.Tracer(out=stream, sinks=[Peeking()], clock=clock)
    gen = t.trace(numbers)(1)
    assert next(gen) == 0
    assert len(seen) == 2
    assert seen[1] == stream.getvalue()  # the log's line was written before the sink was told
    assert seen[0].startswith(">>> numbers#1 = numbers(1)")
    assert seen[1].startswith(seen[0])
    t.close()


def test_max_events_is_noted_to_user_sinks(clock: FakeClock) -> None:
    sink = RecordingSink()
    t = gentrace.Tracer(sinks=[sink], max_events=2, clock=clock)
    assert list(t.trace(numbers)(3)) == [0, 1, 2]
    t.close()
    assert seqs(sink.ends) == [1, 2]
    assert sink.notes == [{"note": "max-events", "after_seq": 2}]
    assert (sink.closings[0].events, sink.closings[0].cut_after) == (2, 2)


@pytest.mark.parametrize("bad", [object(), "run.log", Sink.end])
def test_a_sink_without_end_is_refused(bad: Any) -> None:
    with pytest.raises(TypeError, match=r"^Tracer\(sinks=...\): .* is not a sink \(subclass gentrace.Sink\)"):
        gentrace.Tracer(sinks=[bad])


class OnlyEnd:
    """Looks like a sink at a glance (it has end), but lacks the rest a sink is told."""

    def end(self, record: Any) -> None:
        pass


def test_an_object_that_only_has_end_is_refused_before_anything_is_recorded() -> None:
    with pytest.raises(TypeError, match=r"is not a sink \(subclass gentrace.Sink\)"):
        gentrace.Tracer(sinks=[OnlyEnd()])
    t = gentrace.Tracer()
    with pytest.raises(TypeError, match=r"^add_sink\(\): .* is not a sink"):
        t.add_sink(OnlyEnd())  # type: ignore[arg-type]
    assert list(t.trace(numbers)(2)) == [0, 1]
    t.close()


# -- add_sink -----------------------------------------------------------------------------------


def test_add_sink_feeds_from_the_next_operation_and_closes_with_the_tracer(clock: FakeClock) -> None:
    t = gentrace.Tracer(clock=clock)
    gen = t.trace(numbers)(2)
    next(gen)
    sink, starter = RecordingSink(), RecordingSink(wants_start=True)
    t.add_sink(sink)
    t.add_sink(starter)
    assert list(gen) == [1]
    assert seqs(sink.ends) == [3, 4]
    assert sink.starts == []
    assert seqs(starter.starts) == [3, 4]
    assert [e.seq for e in t.events] == [1, 2, 3, 4]
    t.close()
    assert len(sink.closings) == len(starter.closings) == 1
    assert sink.closings[0].events == 4


def test_add_sink_refuses_a_non_sink(clock: FakeClock) -> None:
    t = gentrace.Tracer(clock=clock)
    with pytest.raises(TypeError, match=r"^add_sink\(\): .* is not a sink \(subclass gentrace.Sink\)"):
        t.add_sink(object())  # type: ignore[arg-type]
    assert list(t.trace(numbers)(1)) == [0]
    t.close()


# -- only= --------------------------------------------------------------------------------------


def test_only_leaves_unselected_generators_untraced(clock: FakeClock) -> None:
    t = gentrace.Tracer(only=["numb*"], clock=clock)
    picked, skipped = t.trace(numbers)(2), t.trace(letters)()
    assert isinstance(picked, GeneratorProxy)
    assert type(skipped) is types.GeneratorType
    assert list(skipped) == ["a"]
    assert list(picked) == [0, 1]
    assert {e.gen for e in t.events} == {"numbers#1"}
    t.close()


@pytest.mark.parametrize(
    ("only", "traced"),
    [
        (["numbers"], {"numbers"}),
        (["letters", "numbers"], {"letters", "numbers"}),
        ([f"{__name__}:letters"], {"letters"}),
        (["other_module:*"], set()),
        ([], {"letters", "numbers"}),
    ],
)
def test_only_patterns(clock: FakeClock, only: list[str], traced: set[str]) -> None:
    t = gentrace.Tracer(only=only, clock=clock)
    assert list(t.trace(numbers)(1)) == [0]
    assert list(t.trace(letters)()) == ["a"]
    assert {e.gen.partition("#")[0] for e in t.events} == traced
    t.close()


def test_only_applies_to_the_current_tracer_of_gentrace_trace(clock: FakeClock) -> None:
    t = gentrace.Tracer(only=["letters"], clock=clock)
    with t:
        assert type(gentrace.trace(numbers)(1)) is types.GeneratorType
        assert isinstance(gentrace.trace(letters)(), GeneratorProxy)


def test_only_for_async_defs(clock: FakeClock) -> None:
    t = gentrace.Tracer(only=["countdown"], clock=clock)
    traced_countdown, traced_double = t.trace(countdown), t.trace(double)

    async def main() -> tuple[list[int], int]:
        agen = traced_countdown(2)
        coro = traced_double(3)
        assert type(agen).__module__ == "gentrace.aproxy"
        assert type(coro) is types.CoroutineType
        return [x async for x in agen], await coro

    assert asyncio.run(main()) == ([2, 1], 6)
    assert {e.gen for e in t.events} == {"countdown#1"}
    t.close()
    t = gentrace.Tracer(only=["double"], clock=clock)
    coro = t.trace(double)(5)
    assert type(coro) is not types.CoroutineType
    assert asyncio.run(coro) == 10
    assert {e.gen for e in t.events} == {"double#1"}
    t.close()


@pytest.mark.parametrize("only", ["numbers", [1], ["numbers", None]])
def test_only_must_be_a_list_of_strings(only: Any) -> None:
    with pytest.raises(TypeError, match=r"^Tracer\(only=...\): expected a list of glob patterns \(str\)$"):
        gentrace.Tracer(only=only)


# -- SpoolSink ----------------------------------------------------------------------------------


def read_trace(path: str) -> tuple[list[Record], TraceReader]:
    with open(path, "rb") as f:
        reader = TraceReader(f, name=path, strict=True)
        records = [item.record for item in reader if isinstance(item, TraceEvent)]
    return records, reader


def test_spool_sink_hands_over_the_run_as_json_lines(clock: FakeClock) -> None:
    handed: list[tuple[str, list[Record], int, bool, int]] = []

    def at_close(path: str, ending: Ending) -> None:
        records, reader = read_trace(path)
        handed.append((path, records, ending.events, reader.ended, reader.end_events or -1))

    spool = SpoolSink(at_close)
    t = gentrace.Tracer(sinks=[spool], clock=clock)
    assert list(t.trace(numbers)(2)) == [0, 1]
    assert handed == []
    assert os.path.exists(spool.path)
    t.close()
    (path, records, events, ended, end_events) = handed[0]
    assert len(handed) == 1
    assert path == spool.path
    assert [(r[SEQ], r[INST][NAME], r[OP], r[OUTCOME]) for r in records] == [
        (1, "numbers#1", "create", "created"),
        (2, "numbers#1", "next", "yield"),
        (3, "numbers#1", "next", "yield"),
        (4, "numbers#1", "next", "return"),
    ]
    assert (events, ended, end_events) == (4, True, 4)
    assert str(records[3][5]) == "'done'"  # the returned value, as its repr
    assert not os.path.exists(path)
    assert spool.over is False


def test_spool_sink_keeps_the_max_events_note(clock: FakeClock) -> None:
    cut: list[int | None] = []

    def at_close(path: str, ending: Ending) -> None:
        records, reader = read_trace(path)
        cut.extend([reader.cut_after, ending.cut_after, len(records)])

    t = gentrace.Tracer(sinks=[SpoolSink(at_close)], max_events=2, clock=clock)
    assert list(t.trace(numbers)(3)) == [0, 1, 2]
    t.close()
    assert cut == [2, 2, 2]


def test_spool_file_is_removed_even_if_at_close_raises() -> None:
    def at_close(path: str, ending: Ending) -> None:
        assert os.path.exists(path)
        raise RuntimeError("cannot render")

    spool = SpoolSink(at_close)
    with pytest.raises(RuntimeError, match="cannot render"):
        spool.close(Ending(0, [], None))
    assert not os.path.exists(spool.path)


def test_a_raising_at_close_does_not_break_the_program(
    clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    def at_close(path: str, ending: Ending) -> None:
        raise RuntimeError("cannot render")

    spool = SpoolSink(at_close)
    t = gentrace.Tracer(sinks=[spool], clock=clock)
    assert list(t.trace(numbers)(1)) == [0]
    t.close()  # does not raise
    assert not os.path.exists(spool.path)
    assert capsys.readouterr().err == "gentrace: stopped recording: RuntimeError: cannot render\n"


@pytest.mark.parametrize(("limit", "over", "kept"), [(3, True, 3), (4, False, 4), (None, False, 4)])
def test_spool_sink_limit(clock: FakeClock, limit: int | None, over: bool, kept: int) -> None:
    seen: list[Any] = []

    def at_close(path: str, ending: Ending) -> None:
        records, _ = read_trace(path)
        seen.append(([r[SEQ] for r in records], ending.events))

    spool = SpoolSink(at_close, limit=limit)
    t = gentrace.Tracer(sinks=[spool], clock=clock)
    gen = t.trace(numbers)(2)
    next(gen)
    next(gen)
    assert spool.over is False  # three events so far
    assert list(gen) == []
    assert spool.over is over
    t.close()
    assert seen == [(list(range(1, kept + 1)), 4)]


def test_a_sink_of_ones_own_subclasses_gentrace_sink_and_overrides_only_end() -> None:
    class Count(gentrace.Sink):
        def __init__(self) -> None:
            self.ops: list[str] = []

        def end(self, record: Record) -> None:
            self.ops.append(record[OP])

    sink = Count()
    t = gentrace.Tracer(sinks=[sink])
    assert list(t.trace(numbers)(2)) == [0, 1]
    t.close()  # the base class's close, note and start do nothing
    assert sink.ops == ["create", "next", "next", "next"]
