"""`Tracer` and `trace`: decorator forms, which tracer is current, options, keep, max_events, close."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import threading
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

import gentrace
from gentrace import GeneratorProxy


def numbers(n: int) -> Generator[int, Any, str]:
    i = 0
    while i < n:
        yield i
        i += 1
    return "done"


HERE = numbers.__code__.co_filename
# The text log shows a path below the working directory relative to it.
SHOWN = os.path.relpath(HERE) if HERE.startswith(os.getcwd() + os.sep) else HERE


def ops(tracer: gentrace.Tracer) -> list[tuple[str, str]]:
    return [(e.gen, e.op) for e in tracer.events]


# -- decorator forms ------------------------------------------------------------------------------


def test_all_decorator_forms_trace_with_the_right_name(tracer: gentrace.Tracer) -> None:
    forms = {
        "gentrace.trace": gentrace.trace(numbers),
        "gentrace.trace()": gentrace.trace()(numbers),
        "gentrace.trace(name=)": gentrace.trace(name="gt")(numbers),
        "t.trace": tracer.trace(numbers),
        "t.trace()": tracer.trace()(numbers),
        "t.trace(name=)": tracer.trace(name="tt")(numbers),
    }
    with tracer:
        for decorated in forms.values():
            assert list(decorated(2)) == [0, 1]
    assert [e.gen for e in tracer.events if e.op == "create"] == [
        "numbers#1",
        "numbers#2",
        "gt#1",
        "numbers#3",
        "numbers#4",
        "tt#1",
    ]


def test_trace_with_a_positional_name_says_to_use_the_keyword() -> None:
    with pytest.raises(TypeError, match=r"pass the name as a keyword: @gentrace.trace\(name=...\)"):
        gentrace.trace("avg")  # type: ignore[call-overload]


def test_trace_name_must_be_a_string(tracer: gentrace.Tracer) -> None:
    with pytest.raises(TypeError, match=r"trace\(name=...\): expected a str, got int"):
        tracer.trace(name=3)(numbers)  # type: ignore[arg-type]


def test_decorating_twice_traces_once(tracer: gentrace.Tracer) -> None:
    twice = tracer.trace(tracer.trace(numbers))
    p = twice(1)
    assert not isinstance(p._gen, GeneratorProxy)
    assert list(p) == [0]
    assert ops(tracer) == [("numbers#1", "create"), ("numbers#1", "next"), ("numbers#1", "next")]


# -- the current tracer ---------------------------------------------------------------------------


def test_with_makes_a_tracer_current_and_closes_it(clock: Any) -> None:
    decorated = gentrace.trace(numbers)
    outer, inner = gentrace.Tracer(clock=clock), gentrace.Tracer(clock=clock)
    with outer:
        assert gentrace.current_tracer() is outer
        a = decorated(1)
        with inner:
            assert gentrace.current_tracer() is inner
            b = decorated(1)
        assert gentrace.current_tracer() is outer
        assert inner.closed and not outer.closed
        c = decorated(1)
    assert outer.closed
    assert [e.gen for e in outer.events] == ["numbers#1", "numbers#2"]
    assert [e.gen for e in inner.events] == ["numbers#1"]
    assert [p.gentrace_name for p in (a, b, c)] == ["numbers#1", "numbers#1", "numbers#2"]


def test_with_closes_the_tracer_when_the_block_raises(clock: Any) -> None:
    t = gentrace.Tracer(clock=clock)
    with pytest.raises(KeyError), t:
        raise KeyError("x")
    assert t.closed


def test_an_instance_stays_with_the_tracer_current_when_it_was_created(clock: Any) -> None:
    decorated = gentrace.trace(numbers)
    first, second = gentrace.Tracer(clock=clock), gentrace.Tracer(clock=clock)
    with first:
        p = decorated(3)
    gentrace.set_default(second)
    next(p)
    q = decorated(1)
    next(q)
    assert ops(first) == [("numbers#1", "create")]  # first closed when its with block ended
    assert ops(second) == [("numbers#1", "create"), ("numbers#1", "next")]
    third = gentrace.Tracer(clock=clock)
    with third:
        r = decorated(2)
    with second:  # third is closed now, and stepping r under another tracer changes nothing
        next(r)
    assert ops(third) == [("numbers#1", "create")]
    assert ops(second) == [("numbers#1", "create"), ("numbers#1", "next")]


def test_the_with_tracer_is_per_thread_and_the_default_is_for_all(clock: Any) -> None:
    decorated = gentrace.trace(numbers)
    default, local = gentrace.Tracer(clock=clock), gentrace.Tracer(clock=clock)
    gentrace.set_default(default)
    seen: list[Any] = []

    def in_thread() -> None:
        seen.append(gentrace.current_tracer())
        list(decorated(1))

    with local:
        worker = threading.Thread(target=in_thread, name="worker")
        worker.start()
        worker.join()
        list(decorated(1))
    assert seen == [default]
    assert [(e.op, e.thread) for e in default.events] == [
        ("create", "worker"),
        ("next", "worker"),
        ("next", "worker"),
    ]
    assert [(e.op, e.thread) for e in local.events] == [
        ("create", "MainThread"),
        ("next", "MainThread"),
        ("next", "MainThread"),
    ]


def test_asyncio_tasks_inherit_the_current_tracer(clock: Any) -> None:
    decorated = gentrace.trace(numbers)
    t = gentrace.Tracer(clock=clock)

    async def main() -> list[int]:
        async def task() -> list[int]:
            return list(decorated(2))

        return await asyncio.create_task(task())

    with t:
        assert asyncio.run(main()) == [0, 1]
    assert [e.op for e in t.events] == ["create", "next", "next", "next"]


def test_set_default_none_records_nothing(clock: Any) -> None:
    decorated = gentrace.trace(numbers)
    gentrace.set_default(None)
    assert gentrace.current_tracer() is None
    p = decorated(2)
    assert not isinstance(p, GeneratorProxy)
    assert list(p) == [0, 1]


def test_set_default_takes_only_a_tracer_or_none() -> None:
    with pytest.raises(TypeError, match=r"set_default\(\): expected a Tracer or None, got str"):
        gentrace.set_default("run.log")  # type: ignore[arg-type]


def test_with_beats_the_default(clock: Any) -> None:
    default, local = gentrace.Tracer(clock=clock), gentrace.Tracer(clock=clock)
    gentrace.set_default(default)
    with local:
        p = gentrace.trace(numbers)(1)
    assert [e.op for e in local.events] == ["create"]
    assert p.gentrace_name == "numbers#1"
    assert default.events == []


def test_without_any_tracer_the_log_goes_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    p = gentrace.trace(numbers)(2)
    assert next(p) == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        f">>> numbers#1 = numbers(2)  # {SHOWN}:{numbers.__code__.co_firstlineno} · GEN_CREATED",
        ">>> next(numbers#1)",
        f"0                                       # GEN_CREATED → GEN_SUSPENDED · paused at line "
        f"{numbers.__code__.co_firstlineno + 3}: yield i",
    ]
    lazy = gentrace.current_tracer()
    assert lazy is not None
    assert lazy.events == []  # keep=0: a long-running program never grows


def test_the_stderr_tracer_looks_stderr_up_when_writing(monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr("sys.stderr", first)
    p = gentrace.trace(numbers)(2)
    monkeypatch.setattr("sys.stderr", second)
    next(p)
    assert first.getvalue().startswith(">>> numbers#1 = numbers(2)")
    assert second.getvalue().startswith(">>> next(numbers#1)\n0 ")


# -- options --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"format": "xml"}, ValueError, r"Tracer\(format=...\): expected one of text, jsonl, got 'xml'"),
        ({"color": "yes"}, TypeError, r"Tracer\(color=...\): expected True, False or None, got str"),
        ({"max_repr": 0}, ValueError, r"Tracer\(max_repr=...\): must be at least 1, got 0"),
        ({"max_repr": "80"}, TypeError, r"Tracer\(max_repr=...\): expected an int or None, got str"),
        ({"max_repr": True}, TypeError, r"Tracer\(max_repr=...\): expected an int or None, got bool"),
        ({"max_events": -1}, ValueError, r"Tracer\(max_events=...\): must be at least 0, got -1"),
        ({"keep": -5}, ValueError, r"Tracer\(keep=...\): must be at least 0, got -5"),
        ({"keep": 1.5}, TypeError, r"Tracer\(keep=...\): expected an int or None, got float"),
        ({"level": "loud"}, ValueError, r"Tracer\(level=...\): unknown logging level 'loud'"),
        ({"level": None}, TypeError, r"Tracer\(level=...\): expected a logging level"),
        ({"locals": "yes"}, TypeError, r"Tracer\(locals=...\): expected True or False, got str"),
        ({"timings": 1}, TypeError, r"Tracer\(timings=...\): expected True or False, got int"),
        ({"clock": 5}, TypeError, r"Tracer\(clock=...\): expected a callable returning integer nanoseconds"),
        (
            {"out": 42},
            TypeError,
            r"Tracer\(out=...\): expected a path, a stream with write\(\), a logging.Logger",
        ),
    ],
)
def test_options_are_checked_at_construction(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        gentrace.Tracer(**kwargs)


def test_a_bad_target_in_a_list_closes_the_files_already_opened(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    with pytest.raises(TypeError, match="out="):
        gentrace.Tracer(out=[log, 42])
    assert log.read_text() == ""  # opened, then closed (an unclosed file would warn under -W error)


def test_level_by_name(clock: Any, caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("gentrace.test.level")
    with caplog.at_level(logging.DEBUG, logger=logger.name):
        t = gentrace.Tracer(out=logger, level="info", clock=clock)
        p = t.trace(numbers)(1)
        t.close()
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.INFO, f"numbers#1 created · {HERE}:{numbers.__code__.co_firstlineno} · GEN_CREATED")
    ]
    assert p.gentrace_name == "numbers#1"


# -- memory: keep, max_events ---------------------------------------------------------------------


def test_events_are_all_kept_by_default(tracer: gentrace.Tracer) -> None:
    assert list(tracer.trace(numbers)(100)) == list(range(100))
    assert len(tracer.events) == 102


def test_keep_n_keeps_the_latest_n(clock: Any) -> None:
    t = gentrace.Tracer(keep=3, clock=clock)
    list(t.trace(numbers)(5))  # create + 5 yields + return = 7 events
    assert [e.seq for e in t.events] == [5, 6, 7]
    assert [e.outcome for e in t.events] == ["yield", "yield", "return"]


def test_keep_zero_keeps_nothing_but_still_writes(clock: Any) -> None:
    stream = io.StringIO()
    t = gentrace.Tracer(out=stream, format="jsonl", keep=0, clock=clock)
    list(t.trace(numbers)(2))
    t.close()
    assert t.events == []
    assert len(stream.getvalue().splitlines()) == 4 + 1  # four events and the end note


def test_max_events_stops_recording_and_the_program_runs_on(clock: Any) -> None:
    stream = io.StringIO()
    t = gentrace.Tracer(out=stream, format="jsonl", max_events=3, clock=clock)
    p = t.trace(numbers)(5)
    assert list(p) == [0, 1, 2, 3, 4]
    t.close()
    assert [e.seq for e in t.events] == [1, 2, 3]
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line.get("seq") for line in lines[:3]] == [1, 2, 3]
    assert lines[3:] == [{"note": "max-events", "after_seq": 3}, {"note": "end", "events": 3}]


def test_max_events_is_noted_at_the_end_of_the_text_log(clock: Any) -> None:
    stream = io.StringIO()
    t = gentrace.Tracer(out=stream, max_events=2, clock=clock)
    list(t.trace(numbers)(3))
    t.close()
    assert stream.getvalue().splitlines()[-1] == (
        "# max-events: recording stopped after 2 events; the program ran on"
    )


def test_after_max_events_no_instance_is_wrongly_reported_unfinished(clock: Any) -> None:
    stream = io.StringIO()
    t = gentrace.Tracer(out=stream, max_events=2, clock=clock)
    p = t.trace(numbers)(3)
    next(p)
    assert list(p) == [1, 2]  # finished after recording stopped
    t.close()
    assert "still suspended" not in stream.getvalue()


# -- close, wrap ----------------------------------------------------------------------------------


def test_close_stops_recording_and_is_idempotent(clock: Any) -> None:
    t = gentrace.Tracer(clock=clock)
    decorated = t.trace(numbers)
    p = decorated(3)
    next(p)
    t.close()
    t.close()
    assert t.closed
    assert next(p) == 1  # a proxy goes on working, unrecorded
    q = decorated(1)  # and a closed tracer traces nothing new
    assert not isinstance(q, GeneratorProxy)
    assert [e.op for e in t.events] == ["create", "next"]


def test_close_reports_generators_still_suspended(tmp_path: Path, clock: Any) -> None:
    path = tmp_path / "run.log"
    t = gentrace.Tracer(out=path, clock=clock)
    fib = t.trace(name="fib")(numbers)(5)
    next(fib)
    fresh = t.trace(name="fresh")(numbers)(1)
    done = t.trace(name="done")(numbers)(1)
    list(done)
    t.close()
    lines = path.read_text().splitlines()
    first_line = numbers.__code__.co_firstlineno
    assert lines[-2:] == [
        f"# still suspended at exit: fib#1, paused at {SHOWN}:{first_line + 3}",
        f"# never started: fresh#1, created at {SHOWN}:{first_line}",
    ]
    assert fresh is not None


def test_wrap_traces_an_existing_generator_from_where_it_is(tracer: gentrace.Tracer) -> None:
    gen = numbers(3)
    next(gen)
    p = tracer.wrap(gen)
    assert list(p) == [1, 2]
    create = tracer.events[0]
    assert (create.gen, create.op, create.arg, create.state_after) == (
        "numbers#1",
        "create",
        None,
        "GEN_SUSPENDED",
    )
    assert create.lineno == numbers.__code__.co_firstlineno + 3

    closed = numbers(1)
    closed.close()
    tracer.wrap(closed, name="closed")
    assert tracer.events[-1].state_after == "GEN_CLOSED"

    tracer.wrap(x * 2 for x in range(2))
    assert tracer.events[-1].gen == "test_wrap_traces_an_existing_generator_from_where_it_is.genexpr#1"


def test_multiple_outputs_each_get_every_event(tmp_path: Path, clock: Any) -> None:
    stream = io.StringIO()
    t = gentrace.Tracer(out=[tmp_path / "run.log", str(tmp_path / "run.jsonl"), stream], clock=clock)
    list(t.trace(numbers)(1))
    t.close()
    text = (tmp_path / "run.log").read_text()
    assert text == stream.getvalue()
    assert text.count(">>> ") == 3
    assert len((tmp_path / "run.jsonl").read_text().splitlines()) == 3 + 1
