"""Every field of an Event, and its JSON-safe form (`to_dict`, the JSON Lines schema)."""

from __future__ import annotations

import dataclasses
import io
import json
import threading
from collections.abc import Generator
from typing import Any

import pytest
from trace_samples import EVENT_KEYS

import gentrace
from gentrace import Event
from gentrace.records import Sleep


class DemoError(Exception):
    pass


class Outer:
    class InnerError(Exception):
        pass

    def gen(self) -> Generator[int, None, None]:
        yield 1


def averager() -> Generator[float | None, float, None]:
    total = 0.0
    count = 0
    average = None
    while True:
        term = yield average
        total += term
        count += 1
        average = total / count


def inner() -> Generator[int, Any, str]:
    yield 1
    return "inner done"


def ops(events: list[Event]) -> list[tuple[str, str, str]]:
    return [(e.gen, e.op, e.outcome) for e in events]


# -- seq, names, ops ------------------------------------------------------------------------------


def test_seq_starts_at_one_and_increases_without_gaps(tracer: gentrace.Tracer) -> None:
    a = tracer.trace(averager)()
    next(a)
    a.send(10)
    a.close()
    assert [e.seq for e in tracer.events] == [1, 2, 3, 4]


def test_seq_is_taken_when_the_operation_starts(tracer: gentrace.Tracer) -> None:
    traced_inner = tracer.trace(inner)

    @tracer.trace(name="outer")
    def outer() -> Generator[int, Any, None]:
        yield from traced_inner()

    p = outer()
    next(p)
    # The outer next() started before the inner generator was created, and ends after it.
    assert [(e.seq, e.gen, e.op) for e in tracer.events] == [
        (1, "outer#1", "create"),
        (2, "outer#1", "next"),
        (3, "inner#1", "create"),
        (4, "inner#1", "next"),
    ]


def test_instance_names_count_per_name_per_tracer(clock: Any) -> None:
    first, second = gentrace.Tracer(clock=clock), gentrace.Tracer(clock=clock)
    kept = [first.trace(averager)(), first.trace(averager)(), first.trace(inner)(), second.trace(averager)()]
    assert [e.gen for e in first.events] == ["averager#1", "averager#2", "inner#1"]
    assert [e.gen for e in second.events] == ["averager#1"]
    assert [p.gentrace_name for p in kept] == ["averager#1", "averager#2", "inner#1", "averager#1"]


def test_name_overrides_the_qualname_but_not_func(tracer: gentrace.Tracer) -> None:
    kept = [
        tracer.trace(name="avg")(averager)(),
        tracer.trace(name="avg")(inner)(),  # the same name: numbered together
        tracer.wrap(inner(), name="w"),
    ]
    assert [(e.gen, e.func) for e in tracer.events] == [
        ("avg#1", f"{__name__}:averager"),
        ("avg#2", f"{__name__}:inner"),
        ("w#1", f"{__name__}:inner"),
    ]
    assert len(kept) == 3


def test_local_functions_and_genexprs_are_named_without_angle_brackets(tracer: gentrace.Tracer) -> None:
    def local() -> Generator[int, None, None]:
        yield 1

    kept = [tracer.trace(local)(), tracer.wrap(x for x in [1])]
    here = "test_local_functions_and_genexprs_are_named_without_angle_brackets"
    assert [(e.gen, e.func) for e in tracer.events] == [
        (f"{here}.local#1", f"{__name__}:{here}.local"),
        (f"{here}.genexpr#1", f"{__name__}:{here}.<genexpr>"),
    ]
    assert len(kept) == 2


def test_op_and_outcome_names(tracer: gentrace.Tracer) -> None:
    @tracer.trace
    def forever() -> Generator[None, None, None]:
        while True:
            yield

    a = forever()
    for value in a:  # a for loop is next()
        assert value is None
        break
    a.send(None)  # send, even with None
    with pytest.raises(ValueError):
        a.throw(ValueError("bad"))
    a.close()
    b = tracer.trace(inner)()
    list(b)
    c = tracer.trace(inner)()
    del c
    assert [(e.op, e.outcome) for e in tracer.events] == [
        ("create", "created"),
        ("next", "yield"),
        ("send", "yield"),
        ("throw", "raise"),
        ("close", "closed"),
        ("create", "created"),
        ("next", "yield"),
        ("next", "return"),
        ("create", "created"),
        ("collect", "closed"),
    ]


def test_arg_and_value_are_the_objects_themselves(tracer: gentrace.Tracer) -> None:
    items: list[int] = []

    @tracer.trace
    def echo() -> Generator[Any, Any, Any]:
        received = yield items
        return received

    p = echo()
    assert next(p) is items
    sent = {"k": 1}
    with pytest.raises(StopIteration):
        p.send(sent)
    create, first, last = tracer.events
    assert create.arg == ((), {})
    assert first.value is items
    assert last.arg is sent
    assert last.value is sent


def test_create_records_the_call_arguments(tracer: gentrace.Tracer) -> None:
    @tracer.trace
    def takes(a: int, b: int = 2, *, c: str = "x") -> Generator[int, None, None]:
        yield a

    takes(1, c="y")
    assert tracer.events[0].arg == ((1,), {"c": "y"})
    assert tracer.events[0].to_dict()["arg"] == "1, c='y'"


# -- state -----------------------------------------------------------------------------------------


def test_states_before_and_after(tracer: gentrace.Tracer) -> None:
    p = tracer.trace(inner)()
    next(p)
    with pytest.raises(StopIteration):
        next(p)
    with pytest.raises(StopIteration):
        next(p)  # closed already
    assert [(e.state_before, e.state_after) for e in tracer.events] == [
        (None, "GEN_CREATED"),
        ("GEN_CREATED", "GEN_SUSPENDED"),
        ("GEN_SUSPENDED", "GEN_CLOSED"),
        ("GEN_CLOSED", "GEN_CLOSED"),
    ]


def test_non_none_send_to_a_fresh_generator_leaves_it_created(tracer: gentrace.Tracer) -> None:
    p = tracer.trace(averager)()
    with pytest.raises(TypeError, match="can't send non-None value to a just-started generator"):
        p.send(1)
    event = tracer.events[-1]
    assert (event.op, event.outcome, event.state_before, event.state_after) == (
        "send",
        "raise",
        "GEN_CREATED",
        "GEN_CREATED",
    )
    assert type(event.value) is TypeError
    assert next(p) is None  # and it can still be started


def test_a_call_while_running_leaves_it_running(tracer: gentrace.Tracer) -> None:
    me: list[Any] = []

    @tracer.trace
    def reenters() -> Generator[str, None, None]:
        try:
            next(me[0])
        except ValueError as exc:
            yield str(exc)

    me.append(reenters())
    assert next(me[0]) == "generator already executing"
    outer_step, inner_step = tracer.events[1:]
    assert (inner_step.op, inner_step.outcome, inner_step.state_before, inner_step.state_after) == (
        "next",
        "raise",
        "GEN_RUNNING",
        "GEN_RUNNING",
    )
    assert inner_step.depth == 1
    assert (outer_step.state_before, outer_step.state_after) == ("GEN_CREATED", "GEN_SUSPENDED")


def test_a_close_the_generator_ignores_leaves_it_suspended(tracer: gentrace.Tracer) -> None:
    @tracer.trace
    def stubborn() -> Generator[int, None, None]:
        try:
            yield 1
        except GeneratorExit:
            yield 2  # not allowed: close() raises RuntimeError
        yield 3

    p = stubborn()
    next(p)
    with pytest.raises(RuntimeError, match="generator ignored GeneratorExit"):
        p.close()
    event = tracer.events[-1]
    assert (event.op, event.outcome, event.state_before, event.state_after) == (
        "close",
        "raise",
        "GEN_SUSPENDED",
        "GEN_SUSPENDED",
    )
    assert event.lineno == p.gi_frame.f_lineno  # paused at `yield 2`
    assert next(p) == 3


# -- depth, thread, func, place, time --------------------------------------------------------------


def test_depth_counts_nesting_in_yield_from(tracer: gentrace.Tracer) -> None:
    traced_inner = tracer.trace(inner)

    @tracer.trace(name="middle")
    def middle() -> Generator[int, Any, str]:
        return (yield from traced_inner())

    @tracer.trace(name="outer")
    def outer() -> Generator[int, Any, None]:
        yield from middle()

    assert list(outer()) == [1]
    assert [(e.gen, e.op, e.outcome, e.depth) for e in tracer.events] == [
        ("outer#1", "create", "created", 0),
        ("outer#1", "next", "yield", 0),
        ("middle#1", "create", "created", 1),  # created inside outer's step: one deeper
        ("middle#1", "next", "yield", 1),
        ("inner#1", "create", "created", 2),
        ("inner#1", "next", "yield", 2),
        ("outer#1", "next", "return", 0),
        ("middle#1", "next", "return", 1),
        ("inner#1", "next", "return", 2),
    ]


def test_thread_is_the_name_of_the_thread_that_did_it(tracer: gentrace.Tracer) -> None:
    p = tracer.trace(inner)()
    worker = threading.Thread(target=next, args=(p,), name="worker-7")
    worker.start()
    worker.join()
    assert [e.thread for e in tracer.events] == ["MainThread", "worker-7"]
    assert [e.task for e in tracer.events] == [None, None]


def test_filename_and_lineno_say_where_it_is_paused(tracer: gentrace.Tracer) -> None:
    p = tracer.trace(averager)()
    next(p)
    p.send(2)
    p.close()
    first_line = averager.__code__.co_firstlineno
    here = averager.__code__.co_filename
    create, started, sent, closed = tracer.events
    assert create.filename == here
    assert create.lineno == first_line
    assert (started.filename, started.lineno) == (here, first_line + 5)  # term = yield average
    assert (sent.filename, sent.lineno) == (here, first_line + 5)
    assert (closed.filename, closed.lineno) == (None, None)


def test_time_and_duration_come_from_the_clock() -> None:
    now = [1_000_000]

    def clock() -> int:
        return now[0]

    tracer = gentrace.Tracer(clock=clock)

    @tracer.trace
    def slow() -> Generator[None, None, None]:
        now[0] += 2_500  # 2.5 µs pass inside the generator
        yield
        now[0] += 40_000

    p = slow()
    now[0] += 1_000_000
    next(p)
    now[0] += 3_000_000_000
    with pytest.raises(StopIteration):
        next(p)
    create, first, second = tracer.events
    assert (create.time, create.duration) == (0.0, 0.0)
    assert (first.time, first.duration) == (0.001, 2.5e-06)
    assert (second.time, second.duration) == (3.0010025, 4e-05)


def test_func_is_module_and_qualname(tracer: gentrace.Tracer) -> None:
    kept = [
        tracer.trace(averager)(),
        tracer.trace(Outer.gen)(Outer()),
        tracer.trace(name="x")(Outer.gen)(Outer()),
    ]
    assert [(e.gen, e.func) for e in tracer.events] == [
        ("averager#1", f"{__name__}:averager"),
        ("Outer.gen#1", f"{__name__}:Outer.gen"),
        ("x#1", f"{__name__}:Outer.gen"),
    ]
    assert len(kept) == 3


def test_events_are_frozen_and_slotted(tracer: gentrace.Tracer) -> None:
    tracer.trace(inner)()
    event = tracer.events[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.seq = 2  # type: ignore[misc]
    assert not hasattr(event, "__dict__")
    assert [f.name for f in dataclasses.fields(Event)] == [
        "seq",
        "gen",
        "op",
        "arg",
        "outcome",
        "value",
        "state_before",
        "state_after",
        "depth",
        "thread",
        "task",
        "func",
        "time",
        "duration",
        "filename",
        "lineno",
        "ended_after",
        "loop",
    ]


# -- to_dict: the JSON Lines schema ---------------------------------------------------------------


def scenario(tracer: gentrace.Tracer) -> None:
    """One of every operation and outcome."""
    a = tracer.trace(averager)()
    next(a)
    a.send(10)
    with pytest.raises(TypeError):
        a.send(None)
    b = tracer.trace(averager)()
    next(b)
    b.close()
    c = tracer.trace(inner)()
    list(c)
    d = tracer.trace(averager)()
    next(d)
    with pytest.raises(DemoError):
        d.throw(DemoError("demo"))
    e = tracer.trace(averager)()
    next(e)
    with pytest.raises(ValueError):
        e.throw(ValueError)
    f = tracer.trace(averager)()
    next(f)
    del f


def test_to_dict_has_the_same_keys_for_every_operation(tracer: gentrace.Tracer) -> None:
    scenario(tracer)
    for event in tracer.events:
        keys = set(event.to_dict())
        assert keys - {"arg_exc", "value_exc"} == EVENT_KEYS, event
        assert ("value_exc" in keys) == (event.outcome == "raise"), event  # no other exceptions here
        assert ("arg_exc" in keys) == (event.op == "throw"), event


def test_to_dict_is_null_only_where_the_operation_has_none(tracer: gentrace.Tracer) -> None:
    scenario(tracer)
    for event in tracer.events:
        d = event.to_dict()
        assert (d["arg"] is None) == (event.op in ("next", "close", "collect")), d
        assert (d["value"] is None) == (event.op in ("create", "close", "collect")), d
        assert (d["state_before"] is None) == (event.op == "create")
        assert (d["filename"] is None) == (d["lineno"] is None) == (event.state_after == "GEN_CLOSED")
        assert d["task"] is None
        assert isinstance(d["arg"], (str, type(None))) and isinstance(d["value"], (str, type(None)))


def test_to_dict_shows_a_real_none_as_the_string_none(tracer: gentrace.Tracer) -> None:
    @tracer.trace
    def nones() -> Generator[None, None, None]:
        yield None
        yield None

    p = nones()
    next(p)  # yields None
    p.send(None)  # sends None
    with pytest.raises(StopIteration):
        next(p)  # returns None
    _, yielded, sent, returned = (e.to_dict() for e in tracer.events)
    assert (yielded["arg"], yielded["value"]) == (None, "None")
    assert (sent["arg"], sent["value"]) == ("None", "None")
    assert (returned["outcome"], returned["value"]) == ("return", "None")


def test_to_dict_values_are_safe_reprs(tracer: gentrace.Tracer) -> None:
    @tracer.trace
    def values() -> Generator[Any, Any, Any]:
        yield "text"
        yield 2.5
        yield [1, "a\x1b[2J"]
        return {"k": (1, 2)}

    p = values()
    next(p)
    p.send(True)
    next(p)
    with pytest.raises(StopIteration):
        next(p)
    dicts = [e.to_dict() for e in tracer.events[1:]]
    assert [d["value"] for d in dicts] == ["'text'", "2.5", "[1, 'a\\x1b[2J']", "{'k': (1, 2)}"]
    assert dicts[1]["arg"] == "True"


def test_exceptions_in_json_carry_type_and_message(tracer: gentrace.Tracer) -> None:
    p = tracer.trace(averager)()
    next(p)
    with pytest.raises(DemoError):
        p.throw(DemoError("it broke"))
    q = tracer.trace(averager)()
    next(q)
    with pytest.raises(Outer.InnerError):
        q.throw(Outer.InnerError)  # a class: no message
    r = tracer.trace(averager)()
    with pytest.raises(RuntimeError):
        r.throw(RuntimeError())  # an instance with an empty message
    demo, inner_error, empty = (e.to_dict() for e in tracer.events if e.op == "throw")
    assert demo["arg"] == demo["value"] == "DemoError('it broke')"
    assert demo["arg_exc"] == demo["value_exc"] == {"type": f"{__name__}.DemoError", "message": "it broke"}
    assert inner_error["arg"] == f"<class '{__name__}.Outer.InnerError'>"
    assert inner_error["arg_exc"] == {"type": f"{__name__}.Outer.InnerError", "message": None}
    assert inner_error["value_exc"] == {"type": f"{__name__}.Outer.InnerError", "message": None}
    assert empty["arg_exc"] == {"type": "builtins.RuntimeError", "message": None}


def test_json_line_decodes_to_the_events_to_dict(clock: Any) -> None:
    stream = io.StringIO()
    tracer = gentrace.Tracer(out=stream, format="jsonl", clock=clock)
    scenario(tracer)
    tracer.close()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[-1] == {"note": "end", "events": len(tracer.events)}
    by_seq = {line["seq"]: line for line in lines[:-1]}
    assert sorted(by_seq) == [e.seq for e in tracer.events]
    for event in tracer.events:
        assert by_seq[event.seq] == event.to_dict()


def test_exceptions_yielded_returned_or_sent_carry_type_and_message_too(tracer: gentrace.Tracer) -> None:
    @tracer.trace
    def passes_exceptions() -> Generator[Any, Any, Any]:
        received = yield DemoError("yielded")
        return received

    p = passes_exceptions()
    next(p)
    with pytest.raises(StopIteration):
        p.send(Outer.InnerError)
    _, yielded, sent = (e.to_dict() for e in tracer.events)
    assert "arg_exc" not in yielded
    assert yielded["value_exc"] == {"type": f"{__name__}.DemoError", "message": "yielded"}
    assert sent["arg_exc"] == sent["value_exc"] == {"type": f"{__name__}.Outer.InnerError", "message": None}


def test_a_sleep_is_shown_with_its_delay() -> None:
    assert [repr(Sleep(None, d)) for d in (0.1, 0, 2, 1e-05)] == [
        "<sleep 0.1s>",
        "<sleep 0s>",
        "<sleep 2s>",
        "<sleep 1e-05s>",
    ]
    assert repr(Sleep(None, "soon")) == "<sleep 'soon's>"  # not a number: its repr
