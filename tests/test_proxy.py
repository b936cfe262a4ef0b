"""The proxy's contract: a traced generator behaves exactly like the untraced one, and says so truly.

The differential test runs random sequences of next/send/throw/close on twins — one traced, one
not — over many generator shapes, and compares everything a program can observe after every
step; it also checks that each step produced exactly one event that tells what happened.
"""

from __future__ import annotations

import collections.abc
import contextlib
import gc
import inspect
import io
import itertools
import json
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable, Generator
from dataclasses import dataclass
from inspect import getgeneratorstate
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import (
    PROXY_FRAME_IN_TRACEBACKS,
    FakeClock,
    keeps_generator_proxy_frame_on_310,
    keeps_proxy_frame_on_310,
    locals_after,
    noted_local,
    run_threads,
)

import gentrace
from gentrace.compiled import speedups
from gentrace.records import NEXT, OP, SEND

GENTRACE_DIR = os.path.dirname(gentrace.__file__)


# -- generator shapes -----------------------------------------------------------------------------


class Env:
    """What a shape uses besides its log: a way to make inner generators, and its own handle."""

    def __init__(self, tracer: gentrace.Tracer | None) -> None:
        self.tracer = tracer
        self.me: Any = None  # the object the driver steps: the proxy, or the plain generator
        self.made: list[Any] = []  # inner generators, kept so the end can finish them all

    def inner(self, func: Callable[..., Generator[Any, Any, Any]], *args: Any) -> Any:
        gen = self.tracer.trace(func)(*args) if self.tracer is not None else func(*args)
        self.made.append(gen)
        return gen


def plain(log: list[Any], env: Env) -> Generator[Any, Any, Any]:
    x = yield 1
    log.append(("sent", x))
    y = yield None
    log.append(("sent", y))
    yield (x, y)
    return ("done", x)


def catching(log: list[Any], env: Env) -> Generator[Any, Any, Any]:
    for i in range(4):
        try:
            sent = yield i
            log.append(("sent", sent))
        except KeyError:
            log.append("re-raise KeyError")
            raise
        except ZeroDivisionError as exc:
            log.append("wrap ZeroDivisionError")
            raise LookupError("wrapped") from exc
        except Exception as exc:
            log.append(("caught", type(exc).__name__, str(exc)))
            yield "caught"
    return "ran out"


def ignores_exit(log: list[Any], env: Env) -> Generator[Any, Any, Any]:
    # Answers the first two close() calls with another yield, then gives in.
    for ignored in range(3):
        try:
            yield ("ignoring", ignored)
        except GeneratorExit:
            log.append(("GeneratorExit", ignored))
            if ignored == 2:
                raise


def catch_all(log: list[Any], env: Env) -> Generator[Any, Any, Any]:
    # Swallows everything for a while, BaseException subclasses and GeneratorExit included.
    for i in range(3):
        try:
            x = yield i
            log.append(x)
        except BaseException as exc:
            log.append(type(exc).__name__)
            yield "swallowed " + type(exc).__name__
    return "catch_all done"


def with_finally(log: list[Any], env: Env) -> Generator[Any, Any, Any]:
    try:
        log.append("start")
        x = yield "a"
        log.append(x)
        yield "b"
    finally:
        log.append("finally")


def raise_in_finally(log: list[Any], env: Env) -> Generator[Any, Any, Any]:
    try:
        yield 1
        yield 2
    finally:
        log.append("finally")
        raise OSError("raised in finally")


def yield_in_finally(log: list[Any], env: Env) -> Generator[Any, Any, Any]:
    try:
        yield 1
    finally:
        log.append("finally")
        yield "from finally"
        log.append("after the yield in finally")


def return_on_exit(log: list[Any], env: Env) -> Generator[Any, Any, Any]:
    try:
        yield 1
    except GeneratorExit:
        log.append("exit")
        return "a value close() drops"


def pep479(log: list[Any], env: Env) -> Generator[Any, Any, Any]:
    x = yield 1
    log.append(x)
    if x is None:
        next(iter(()))  # a StopIteration escaping a generator becomes RuntimeError
    raise StopIteration(x)


def empty(log: list[Any], env: Env) -> Generator[Any, Any, Any]:
    log.append("ran")
    return "nothing to yield"
    yield  # makes this a generator function


def raises_at_once(log: list[Any], env: Env) -> Generator[Any, Any, Any]:
    # A TypeError from the body of a fresh generator looks like a refused non-None send; it is not.
    log.append("started")
    raise TypeError("raised by the body")
    yield  # makes this a generator function


def empty_none(log: list[Any], env: Env) -> Generator[Any, Any, Any]:
    yield from ()


def delegating(log: list[Any], env: Env) -> Generator[Any, Any, Any]:
    try:
        result = yield from env.inner(catching, log, env)
    except LookupError as exc:
        log.append(("outer caught", str(exc)))
        result = "recovered"
    log.append(("inner returned", result))
    got = yield result
    return ("outer done", got)


def delegating_deep(log: list[Any], env: Env) -> Generator[Any, Any, Any]:
    result = yield from env.inner(delegating, log, env)
    log.append(("deep got", result))
    return result


def delegating_twice(log: list[Any], env: Env) -> Generator[Any, Any, Any]:
    first = yield from env.inner(with_finally, log, env)
    second = yield from env.inner(plain, log, env)
    return (first, second)


def delegating_to_stubborn(log: list[Any], env: Env) -> Generator[Any, Any, Any]:
    result = yield from env.inner(catch_all, log, env)
    yield ("stubborn returned", result)


# 3.12's gen.close() and gen.throw() on a running generator read a "yield from" target off its
# stack without checking that it runs, and may crash the interpreter (3.12.1: close() untraced too;
# throw() in CI on the pure-Python path, whose proxy calls the real throw): there a generator is not
# told to close or throw into itself.
SELF_CLOSING = ("next", "send") if sys.version_info[:2] == (3, 12) else ("next", "send", "throw", "close")


def reentrant(log: list[Any], env: Env) -> Generator[Any, Any, Any]:
    # Told "next", "send", "throw" or "close", it does that to itself: "generator already executing".
    while True:
        x = yield "ready"
        if x in SELF_CLOSING:
            me = env.me
            try:
                if x == "next":
                    next(me)
                elif x == "send":
                    me.send(1)
                elif x == "throw":
                    me.throw(ValueError("into myself"))
                else:
                    me.close()
            except ValueError as exc:
                log.append(str(exc))
                yield "re-entered"
        elif x == "stop":
            return "stopped"


SHAPES = [
    plain,
    catching,
    ignores_exit,
    catch_all,
    with_finally,
    raise_in_finally,
    yield_in_finally,
    return_on_exit,
    pep479,
    empty,
    raises_at_once,
    empty_none,
    delegating,
    delegating_deep,
    delegating_twice,
    delegating_to_stubborn,
    reentrant,
]


# -- what the driver does -------------------------------------------------------------------------


class Interrupt(BaseException):
    """Like KeyboardInterrupt: not an Exception, so ``except Exception`` lets it through."""


class NeedsArgument(Exception):
    """throw(NeedsArgument) cannot instantiate it: a TypeError, traced or not."""

    def __init__(self, required: Any) -> None:
        super().__init__(required)


class BadRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr for you")

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # how hypothesis shows it
        printer.text("BadRepr()")


@dataclass(frozen=True)
class Throw:
    """Something to throw: a fresh object per twin, so identity can be compared."""

    label: str
    make: Callable[[], Any]

    def __repr__(self) -> str:
        return self.label


THROWN = [
    Throw("ValueError('bad value')", lambda: ValueError("bad value")),
    Throw("ValueError", lambda: ValueError),
    Throw("KeyError('key')", lambda: KeyError("key")),
    Throw("ZeroDivisionError('zero')", lambda: ZeroDivisionError("zero")),
    Throw("RuntimeError()", lambda: RuntimeError()),
    Throw("GeneratorExit()", lambda: GeneratorExit()),
    Throw("GeneratorExit", lambda: GeneratorExit),
    Throw("StopIteration('stop value')", lambda: StopIteration("stop value")),
    Throw("Interrupt('interrupted')", lambda: Interrupt("interrupted")),
    Throw("Interrupt", lambda: Interrupt),
    Throw("KeyboardInterrupt()", lambda: KeyboardInterrupt()),
    Throw("NeedsArgument", lambda: NeedsArgument),
]

SENT = [None, 0, 1, "x", "next", "send", "throw", "close", "stop", BadRepr(), [1, 2]]

_op_choices = [
    st.just(("next",)),
    st.tuples(st.just("send"), st.sampled_from(SENT)),
    st.tuples(st.just("throw"), st.sampled_from(THROWN)),
    st.just(("close",)),
]
if sys.version_info < (3, 12):  # the (type, value) form is deprecated from 3.12
    _op_choices.append(
        st.tuples(
            st.just("throw_type_value"),
            st.sampled_from([t for t in THROWN if isinstance(t.make(), BaseException)]),
        )
    )
OPS = st.one_of(_op_choices)

OP_NAMES = {"next": "next", "send": "send", "throw": "throw", "throw_type_value": "throw", "close": "close"}


def perform(target: Any, op: tuple[Any, ...], thrown: Any) -> Any:
    kind = op[0]
    if kind == "next":
        return next(target)
    if kind == "send":
        return target.send(op[1])
    if kind == "throw":
        return target.throw(thrown)
    if kind == "throw_type_value":
        return target.throw(type(thrown), thrown)
    return target.close()


@dataclass
class Step:
    """What one operation did, as the program sees it."""

    kind: str  # "value" | "stop" | "raise"
    value: Any
    exc: BaseException | None
    exc_is_thrown: bool


def run_step(target: Any, op: tuple[Any, ...], thrown: Any) -> Step:
    try:
        value = perform(target, op, thrown)
    except StopIteration as exc:
        return Step("stop", exc.value, exc, exc is thrown)
    except BaseException as exc:
        return Step("raise", None, exc, exc is thrown)
    return Step("value", value, None, False)


def tb_summary(tb: Any) -> list[tuple[str, int, str]]:
    frames = [(f.f_code.co_filename, lineno, f.f_code.co_name) for f, lineno in traceback.walk_tb(tb)]
    if PROXY_FRAME_IN_TRACEBACKS:  # compare the program's frames (test_tracebacks_have_no_gentrace_frames)
        frames = [frame for frame in frames if not os.path.abspath(frame[0]).startswith(GENTRACE_DIR)]
    return frames


def exc_summary(exc: BaseException | None, depth: int = 0) -> Any:
    if exc is None:
        return None
    try:
        message = str(exc)
    except RuntimeError:  # StopIteration(BadRepr()): its str is its argument's repr
        message = "<str failed>"
    summary = [type(exc), message, exc.args, tb_summary(exc.__traceback__), exc.__suppress_context__]
    if depth == 0:
        summary += [exc_summary(exc.__cause__, 1), exc_summary(exc.__context__, 1)]
    return summary


def assert_no_gentrace_frames(exc: BaseException | None) -> None:
    if PROXY_FRAME_IN_TRACEBACKS:  # xfail on 3.10: test_tracebacks_have_no_gentrace_frames
        return
    seen = 0
    while exc is not None and seen < 4:
        for frame, _ in traceback.walk_tb(exc.__traceback__):
            assert not os.path.abspath(frame.f_code.co_filename).startswith(GENTRACE_DIR), (
                traceback.format_tb(exc.__traceback__)
            )
        exc = exc.__cause__ or exc.__context__
        seen += 1


def where(target: Any) -> Any:
    frame = target.gi_frame
    return None if frame is None else frame.f_lineno


class Twins:
    """One shape run twice: untraced, and traced (by the decorator or by wrap())."""

    def __init__(self, shape: Callable[..., Any], via: str, output: str | None) -> None:
        self.shape = shape
        self.stream = io.StringIO()
        self.tracer = gentrace.Tracer(
            out=self.stream if output else None, format=output, clock=itertools.count(1000, 1000).__next__
        )
        self.plain_log: list[Any] = []
        self.traced_log: list[Any] = []
        self.plain_env = Env(None)
        self.traced_env = Env(self.tracer)
        self.plain = shape(self.plain_log, self.plain_env)
        if via == "decorator":
            self.traced = self.tracer.trace(shape)(self.traced_log, self.traced_env)
        else:
            self.traced = self.tracer.wrap(shape(self.traced_log, self.traced_env))
        self.plain_env.me = self.plain
        self.traced_env.me = self.traced
        self.name = self.traced.gentrace_name
        self.last_seq = 1  # the create

    def step(self, target_pair: tuple[Any, Any], op: tuple[Any, ...], name: str | None) -> None:
        plain, traced = target_pair
        thrown_plain = op[1].make() if op[0].startswith("throw") else None
        thrown_traced = op[1].make() if op[0].startswith("throw") else None
        state_before = getgeneratorstate(traced)
        assert state_before == getgeneratorstate(plain)

        expected = run_step(plain, op, thrown_plain)
        got = run_step(traced, op, thrown_traced)

        # Everything the program can observe is the same.
        assert got.kind == expected.kind, (got, expected)
        assert got.value == expected.value
        assert got.exc_is_thrown == expected.exc_is_thrown
        assert exc_summary(got.exc) == exc_summary(expected.exc)
        assert_no_gentrace_frames(got.exc)
        assert self.traced_log == self.plain_log
        state_after = getgeneratorstate(traced)
        assert state_after == getgeneratorstate(plain)
        assert where(traced) == where(plain)
        assert (traced.gi_yieldfrom is None) == (plain.gi_yieldfrom is None)

        # The events tell the truth: one for this operation, plus any of inner generators.
        events = [e for e in self.tracer.events if e.seq > self.last_seq]
        self.last_seq = max([self.last_seq, *(e.seq for e in events)])
        mine = [e for e in events if e.depth == 0]
        assert len(mine) == 1, events
        assert mine[0].gen == name
        (event,) = mine
        assert event.op == OP_NAMES[op[0]]
        if op[0] == "send":
            assert event.arg is op[1]
        elif op[0].startswith("throw"):
            assert event.arg is thrown_traced
        else:
            assert event.arg is None
        assert event.state_before == state_before
        assert event.state_after == state_after
        if got.kind == "raise":
            assert event.outcome == "raise"
            assert event.value is got.exc
        elif got.kind == "stop":
            assert event.outcome == "return"
            assert event.value is got.value
        elif op[0] == "close":
            assert (event.outcome, event.value) == ("closed", None)
        else:
            assert event.outcome == "yield"
            assert event.value is got.value
        if state_after == "GEN_CLOSED":
            assert (event.filename, event.lineno) == (None, None)
        else:
            assert event.filename == traced.gi_code.co_filename
            assert event.lineno == where(traced)
        assert event.thread == "MainThread"
        assert event.duration >= 0

    def finish(self) -> None:
        """Close whatever a failed example left open (quietly: the failure is reported already)."""
        self.plain_env.me = self.traced_env.me = None
        for gen in [self.plain, self.traced, *self.plain_env.made, *self.traced_env.made]:
            for _ in range(4):
                try:
                    gen.close()
                    break
                except BaseException:
                    pass
        self.tracer.close()

    def check_whole_record(self) -> None:
        events = self.tracer.events
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        assert events[0].op == "create"
        assert events[0].gen == self.name
        assert events[0].func == f"{__name__}:{self.shape.__qualname__}"
        times = [e.time for e in events]
        assert times == sorted(times)  # seq and time are both taken when an operation starts
        last: dict[str, gentrace.Event] = {}
        for event in events:
            assert event.time > 0
            if event.state_before == "GEN_RUNNING":
                # A re-entrant call fails without changing the state; the outer step owns it.
                assert (event.outcome, event.state_after) == ("raise", "GEN_RUNNING")
                assert "already executing" in str(event.value)
                continue
            previous = last.get(event.gen)
            if previous is None:
                assert event.op == "create"
            else:
                assert event.state_before == previous.state_after, (previous, event)
            last[event.gen] = event
        # Each inner generator ended in the state its last event says.
        for made in self.traced_env.made:
            assert last[made.gentrace_name].state_after == getgeneratorstate(made)


@settings(max_examples=2000, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    shape=st.sampled_from(SHAPES),
    via=st.sampled_from(["decorator", "wrap"]),
    ops=st.lists(OPS, max_size=7),
    output=st.sampled_from([None, "text", "jsonl"]),
)
def test_traced_generator_behaves_exactly_like_the_untraced_one(
    shape: Callable[..., Any], via: str, ops: list[tuple[Any, ...]], output: str | None
) -> None:
    twins = Twins(shape, via, output)
    pair = (twins.plain, twins.traced)
    try:
        for op in ops:
            twins.step(pair, op, twins.name)
        # Finish everything, through the same comparisons: stubborn shapes need several closes.
        for _ in range(4):
            if getgeneratorstate(twins.traced) == "GEN_CLOSED":
                break
            twins.step(pair, ("close",), twins.name)
        assert getgeneratorstate(twins.plain) == "GEN_CLOSED"
        for inner_pair in zip(twins.plain_env.made, twins.traced_env.made, strict=True):
            for _ in range(4):
                if getgeneratorstate(inner_pair[1]) == "GEN_CLOSED":
                    break
                twins.step(inner_pair, ("close",), inner_pair[1].gentrace_name)
            assert getgeneratorstate(inner_pair[0]) == "GEN_CLOSED"
        twins.check_whole_record()
    finally:
        twins.finish()
    if output == "jsonl":
        # Each event's JSON line says what its to_dict() says; the end note counts them all.
        events = {e.seq: e for e in twins.tracer.events}
        lines = [json.loads(line) for line in twins.stream.getvalue().splitlines()]
        assert lines[-1] == {"note": "end", "events": len(events)}
        assert sorted(line["seq"] for line in lines[:-1]) == sorted(events)
        for line in lines[:-1]:
            expected = events[line["seq"]].to_dict()
            if line["op"] == "create":  # its arguments include the log, appended to since
                del line["arg"], expected["arg"]
            assert line == expected
    elif output == "text":
        text = twins.stream.getvalue()
        assert text.count(">>> ") >= len(twins.tracer.events) - text.count("collected")
        assert all(ch == "\n" or ch.isprintable() for ch in text)


# -- what a program can see of a proxy ------------------------------------------------------------


def counter(n: int) -> Generator[int, Any, str]:
    """Count up to n (a loop of plain yields: it accepts send())."""
    i = 0
    while i < n:
        yield i
        i += 1
    return "counted"


def test_proxy_is_a_generator_and_its_own_iterator(tracer: gentrace.Tracer) -> None:
    p = tracer.trace(counter)(3)
    assert isinstance(p, collections.abc.Generator)
    assert isinstance(p, collections.abc.Iterator)
    assert iter(p) is p
    assert list(p) == [0, 1, 2]


def test_proxy_forwards_the_generator_attributes(tracer: gentrace.Tracer) -> None:
    gen = counter(3)
    p = tracer.wrap(gen)
    assert p.gi_code is gen.gi_code
    assert p.gi_frame is gen.gi_frame
    assert p.__name__ == "counter"
    assert p.__qualname__ == gen.__qualname__ == "counter"
    assert running_and_suspended(p) == (False, False)
    next(p)
    assert running_and_suspended(p) == (False, True)
    assert p.gi_frame.f_lineno == gen.gi_frame.f_lineno
    p.close()
    assert p.gi_frame is None
    assert running_and_suspended(p) == (False, False)


def running_and_suspended(gen: Any) -> tuple[bool, bool]:
    if sys.version_info < (3, 11):  # no gi_suspended yet: the proxy has none either
        with pytest.raises(AttributeError, match="'generator' object has no attribute 'gi_suspended'"):
            gen.gi_suspended  # noqa: B018
        return gen.gi_running, inspect.getgeneratorstate(gen) == "GEN_SUSPENDED"
    return gen.gi_running, gen.gi_suspended


def test_gi_running_is_true_while_the_generator_runs(tracer: gentrace.Tracer) -> None:
    me: list[Any] = []

    def looks_at_itself() -> Generator[bool, None, None]:
        yield me[0].gi_running

    me.append(tracer.wrap(looks_at_itself()))
    assert next(me[0]) is True


def test_gi_yieldfrom_is_the_traced_inner_generator(tracer: gentrace.Tracer) -> None:
    inner = tracer.trace(counter)

    @tracer.trace
    def outer() -> Generator[int, Any, None]:
        yield from inner(2)

    p = outer()
    assert p.gi_yieldfrom is None
    next(p)
    assert p.gi_yieldfrom.gentrace_name == "counter#1"
    assert list(p) == [1]


def test_repr_names_the_instance(tracer: gentrace.Tracer) -> None:
    p = tracer.trace(counter)(1)
    assert repr(p).startswith("<traced generator counter#1 of <generator object counter at ")


def test_state_as_inspect_sees_it(tracer: gentrace.Tracer) -> None:
    p = tracer.trace(counter)(1)
    assert inspect.getgeneratorstate(p) == "GEN_CREATED"
    next(p)
    assert inspect.getgeneratorstate(p) == "GEN_SUSPENDED"
    with pytest.raises(StopIteration):
        next(p)
    assert inspect.getgeneratorstate(p) == "GEN_CLOSED"


def test_return_value_reaches_the_caller_and_a_yield_from(tracer: gentrace.Tracer) -> None:
    traced_counter = tracer.trace(counter)
    p = traced_counter(0)
    with pytest.raises(StopIteration) as stop:
        next(p)
    assert stop.value.value == "counted"

    def outer() -> Generator[int, Any, str]:
        result = yield from traced_counter(1)
        return f"inner said {result}"

    with pytest.raises(StopIteration) as stop:
        g = outer()
        next(g)
        next(g)
    assert stop.value.value == "inner said counted"


def _frames(exc: BaseException) -> list[str]:
    return [frame.filename for frame in traceback.extract_tb(exc.__traceback__)]


@keeps_generator_proxy_frame_on_310
def test_tracebacks_have_no_gentrace_frames(tracer: gentrace.Tracer) -> None:
    @tracer.trace
    def fails() -> Generator[int, Any, None]:
        yield 1
        raise ValueError("inside")

    @tracer.trace
    def outer() -> Generator[int, Any, None]:
        yield from fails()

    def in_gentrace(filename: str) -> bool:
        return os.path.abspath(filename).startswith(GENTRACE_DIR)

    for step in (next, lambda p: p.send(None), lambda p: p.throw(ValueError("inside"))):
        p = outer()
        next(p)
        with pytest.raises(ValueError, match="inside") as info:
            step(p)
        assert not any(map(in_gentrace, _frames(info.value))), _frames(info.value)
        # What remains is the caller, the outer and the inner generator.
        assert [f.name for f in traceback.extract_tb(info.value.__traceback__)][-2:] == ["outer", "fails"]

    @tracer.trace
    def raises_on_close() -> Generator[int, Any, None]:
        try:
            yield 1
        finally:
            raise OSError("in finally")

    p = raises_on_close()
    next(p)
    with pytest.raises(OSError) as info:
        p.close()
    assert not any(map(in_gentrace, _frames(info.value)))


@keeps_proxy_frame_on_310
def test_a_bad_call_of_a_traced_function_has_no_gentrace_frames(tracer: gentrace.Tracer) -> None:
    traced_counter = tracer.trace(counter)
    with pytest.raises(TypeError) as info:
        traced_counter(1, 2, 3)
    assert str(info.value) == "counter() takes 1 positional argument but 3 were given"
    assert not any(os.path.abspath(f).startswith(GENTRACE_DIR) for f in _frames(info.value))


def test_throw_delivers_base_exceptions(tracer: gentrace.Tracer) -> None:
    @tracer.trace
    def catches_everything() -> Generator[str, Any, None]:
        while True:
            try:
                yield "waiting"
            except BaseException as exc:
                yield f"caught {type(exc).__name__}"

    p = catches_everything()
    next(p)
    assert p.throw(Interrupt("stop")) == "caught Interrupt"
    next(p)
    assert p.throw(KeyboardInterrupt) == "caught KeyboardInterrupt"
    next(p)
    assert p.throw(GeneratorExit()) == "caught GeneratorExit"
    next(p)
    with pytest.raises(RuntimeError, match="generator ignored GeneratorExit"):
        p.close()


def test_thrown_exception_comes_back_as_the_same_object(tracer: gentrace.Tracer) -> None:
    p = tracer.trace(counter)(3)
    next(p)
    thrown = Interrupt("identity")
    with pytest.raises(Interrupt) as info:
        p.throw(thrown)
    assert info.value is thrown
    assert tracer.events[-1].value is thrown


def test_contextmanager_over_a_traced_function(tracer: gentrace.Tracer) -> None:
    log: list[Any] = []

    @contextlib.contextmanager
    @tracer.trace(name="managed")
    def managed() -> Generator[str, None, None]:
        log.append("enter")
        try:
            yield "resource"
        except ValueError as exc:
            log.append(f"handled {exc}")
        finally:
            log.append("exit")

    with managed() as resource:
        assert resource == "resource"
    with managed():
        raise ValueError("in the body")  # handled inside: the with statement goes on
    error = KeyError("not handled")
    with pytest.raises(KeyError) as info, managed():
        raise error
    assert info.value is error
    assert log == ["enter", "exit", "enter", "handled in the body", "exit", "enter", "exit"]
    thrown = [(e.gen, e.arg) for e in tracer.events if e.op == "throw"]
    assert [(gen, type(arg)) for gen, arg in thrown] == [("managed#2", ValueError), ("managed#3", KeyError)]
    assert thrown[1][1] is error


def test_pytest_yield_fixture_with_a_traced_generator(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        import gentrace

        tracer = gentrace.Tracer()

        @pytest.fixture
        @tracer.trace
        def resource():
            yield "ready"
            print("torn down")

        def test_uses_it(resource):
            assert resource == "ready"

        def test_fixture_was_traced_and_torn_down():
            assert [(e.gen, e.op, e.outcome) for e in tracer.events] == [
                ("resource#1", "create", "created"),
                ("resource#1", "next", "yield"),
                ("resource#1", "next", "return"),
            ]
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


# -- the decorator --------------------------------------------------------------------------------


def test_decorated_function_keeps_what_inspect_and_frameworks_ask(tracer: gentrace.Tracer) -> None:
    def averager(start: float = 0.0, *, scale: int = 1) -> Generator[float, float, None]:
        """Yield the running average."""
        yield start

    for decorated in (
        gentrace.trace(averager),
        gentrace.trace()(averager),
        tracer.trace(name="avg")(averager),
    ):
        assert inspect.isgeneratorfunction(decorated)
        assert decorated.__name__ == "averager"
        assert decorated.__qualname__ == averager.__qualname__
        assert decorated.__doc__ == "Yield the running average."
        assert decorated.__wrapped__ is averager
        assert inspect.signature(decorated) == inspect.signature(averager)
        assert decorated.__module__ == __name__


METHODS_TRACER = gentrace.Tracer()


class Counter:
    def __init__(self) -> None:
        self.start = 10

    @METHODS_TRACER.trace
    def count(self, n: int) -> Generator[int, None, None]:
        yield from range(self.start, self.start + n)

    @staticmethod
    @METHODS_TRACER.trace
    def evens(n: int) -> Generator[int, None, None]:
        yield from range(0, 2 * n, 2)

    @classmethod
    @METHODS_TRACER.trace
    def named(cls, n: int) -> Generator[str, None, None]:
        for i in range(n):
            yield f"{cls.__name__}{i}"

    @METHODS_TRACER.trace
    @staticmethod
    def odds(n: int) -> Generator[int, None, None]:
        yield from range(1, 2 * n, 2)


def test_methods_static_and_class_methods() -> None:
    tracer = METHODS_TRACER
    c = Counter()
    assert list(c.count(2)) == [10, 11]
    assert list(Counter.evens(2)) == [0, 2]
    assert list(c.evens(1)) == [0]
    assert list(Counter.named(2)) == ["Counter0", "Counter1"]
    assert list(c.odds(2)) == [1, 3]
    assert inspect.isgeneratorfunction(Counter.count)
    assert list(inspect.signature(c.count).parameters) == ["n"]
    creates = [(e.gen, e.arg) for e in tracer.events if e.op == "create"]
    assert creates == [
        ("Counter.count#1", ((2,), {})),  # self is not shown
        ("Counter.evens#1", ((2,), {})),
        ("Counter.evens#2", ((1,), {})),
        ("Counter.named#1", ((2,), {})),  # nor cls
        ("Counter.odds#1", ((2,), {})),
    ]


def test_decorating_what_is_not_a_generator_function_fails_at_once(tracer: gentrace.Tracer) -> None:
    def plain_function() -> int:
        return 1

    for decorate in (gentrace.trace, tracer.trace):
        with pytest.raises(TypeError, match="plain_function is not a generator function"):
            decorate(plain_function)
        with pytest.raises(TypeError, match="int is not a generator function"):
            decorate(42)
        with pytest.raises(TypeError, match="not a generator function"):
            decorate(counter(1))  # a generator, not a generator function


def test_wrap_accepts_generator_objects_and_iterables(tracer: gentrace.Tracer) -> None:
    with pytest.raises(TypeError, match="an iterable; got function"):
        tracer.wrap(counter)
    p = tracer.wrap(counter(1))
    with pytest.raises(TypeError, match="already traced"):
        tracer.wrap(p)
    assert list(tracer.wrap([1, 2])) == [1, 2]
    assert [(e.op, e.gen) for e in tracer.events] == [
        ("create", "counter#1"),
        ("iter", "list_iterator#1"),
        ("next", "list_iterator#1"),
        ("next", "list_iterator#1"),
        ("next", "list_iterator#1"),
    ]


# -- garbage collection ---------------------------------------------------------------------------


def resource(log: list[str]) -> Generator[int, None, None]:
    try:
        yield 1
        yield 2
    finally:
        log.append("finally ran")


def test_a_dropped_suspended_generator_is_recorded_as_collected(tracer: gentrace.Tracer) -> None:
    log: list[str] = []
    p = tracer.trace(resource)(log)
    next(p)
    del p
    assert log == ["finally ran"]  # Python closed it, as it would untraced
    event = tracer.events[-1]
    assert (event.gen, event.op, event.outcome) == ("resource#1", "collect", "closed")
    assert (event.state_before, event.state_after) == ("GEN_SUSPENDED", "GEN_CLOSED")
    assert (event.arg, event.value, event.filename, event.lineno) == (None, None, None, None)


def test_a_generator_never_started_is_recorded_as_collected_too(tracer: gentrace.Tracer) -> None:
    log: list[str] = []
    p = tracer.trace(resource)(log)
    del p
    assert log == []
    assert [(e.op, e.state_before, e.state_after) for e in tracer.events] == [
        ("create", None, "GEN_CREATED"),
        ("collect", "GEN_CREATED", "GEN_CLOSED"),
    ]


def test_a_finished_generator_that_is_dropped_records_nothing_more(tracer: gentrace.Tracer) -> None:
    p = tracer.trace(counter)(1)
    assert list(p) == [0]
    p2 = tracer.trace(counter)(1)
    p2.close()
    del p, p2
    assert [e.op for e in tracer.events] == ["create", "next", "next", "create", "close"]


def test_a_generator_in_a_garbage_cycle_is_recorded_when_the_collector_frees_it(
    tracer: gentrace.Tracer,
) -> None:
    log: list[str] = []

    class Holder:
        pass

    holder = Holder()
    holder.gen = tracer.trace(resource)(log)  # type: ignore[attr-defined]
    holder.me = holder  # type: ignore[attr-defined]
    next(holder.gen)  # type: ignore[attr-defined]
    del holder
    gc.collect()
    assert log == ["finally ran"]
    assert [(e.op, e.state_before) for e in tracer.events][-1] == ("collect", "GEN_SUSPENDED")


def test_wrap_never_closes_a_generator_the_user_still_holds(tracer: gentrace.Tracer) -> None:
    log: list[str] = []
    g = resource(log)
    next(g)
    p = tracer.wrap(g)
    del p
    gc.collect()
    assert inspect.getgeneratorstate(g) == "GEN_SUSPENDED"
    assert log == []
    assert next(g) == 2
    assert [e.op for e in tracer.events] == ["create"]
    del g  # now it is collected, and that is recorded
    assert log == ["finally ran"]
    assert [(e.op, e.state_before) for e in tracer.events] == [("create", None), ("collect", "GEN_SUSPENDED")]


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="CPython clears a generator's weak references before its finalizer runs (gen_dealloc), "
    "so the weakref callback records the collect before the generator's finally runs",
)
def test_collect_is_recorded_after_the_generators_finally_ran(tracer: gentrace.Tracer) -> None:
    seen: list[list[str]] = []

    @tracer.trace
    def watched() -> Generator[int, None, None]:
        try:
            yield 1
        finally:
            seen.append([e.op for e in tracer.events])

    p = watched()
    next(p)
    del p
    assert seen == [["create", "next"]]


def test_a_collect_during_a_sink_write_does_not_deadlock(clock: Any) -> None:
    # A finalizer can run at any allocation, even inside a sink: recording `collect` must not
    # wait for a lock its own thread holds.
    held: list[Any] = []

    class DropsOnWrite(io.StringIO):
        def write(self, text: str) -> int:
            if held and ">>> next(counter#1)" in text:
                held.pop()  # the last reference to a suspended traced generator
            return super().write(text)

    stream = DropsOnWrite()
    tracer = gentrace.Tracer(out=stream, clock=clock)
    dropped = tracer.trace(resource)([])
    next(dropped)
    held.append(dropped)
    del dropped

    def drive() -> None:
        list(tracer.trace(counter)(1))

    worker = threading.Thread(target=drive, daemon=True)
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive(), "recording a collect from inside a sink deadlocked"
    tracer.close()
    assert "# resource#1 collected without close() · GEN_SUSPENDED → GEN_CLOSED" in stream.getvalue()
    assert [e.op for e in tracer.events if e.gen == "resource#1"] == ["create", "next", "collect"]


# -- threads --------------------------------------------------------------------------------------


def test_threads_lose_and_duplicate_no_event(clock: Any) -> None:
    threads, rounds, length = 8, 25, 20
    stream = io.StringIO()
    tracer = gentrace.Tracer(out=stream, format="jsonl", clock=clock)
    barrier = threading.Barrier(threads)

    @tracer.trace(name="counter")
    def numbers(n: int) -> Generator[int, int, None]:
        for i in range(n):
            if i % 4 == 0:
                time.sleep(0)  # let other threads in while this step is running
            yield i

    def drive() -> None:
        barrier.wait()
        for _ in range(rounds):
            gen = numbers(length)
            next(gen)
            for i in range(1, length):
                assert gen.send(i) == i
            with pytest.raises(StopIteration):
                next(gen)

    workers = [threading.Thread(target=drive, name=f"driver-{k}") for k in range(threads)]
    run_threads(workers)
    tracer.close()

    events = tracer.events
    per_instance = 1 + length + 1  # create, the steps, the return
    total = threads * rounds * per_instance
    assert [e.seq for e in events] == list(range(1, total + 1))
    by_gen: dict[str, list[gentrace.Event]] = {}
    for event in events:
        by_gen.setdefault(event.gen, []).append(event)
    assert set(by_gen) == {f"counter#{n}" for n in range(1, threads * rounds + 1)}
    for gen_events in by_gen.values():
        assert [e.op for e in gen_events] == ["create", "next", *["send"] * (length - 1), "next"]
        assert len({e.thread for e in gen_events}) == 1
        assert all(e.depth == 0 for e in gen_events)  # nesting is counted per thread
    assert {e.thread for e in events} == {f"driver-{k}" for k in range(threads)}
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert sorted(line["seq"] for line in lines if "seq" in line) == list(range(1, total + 1))
    assert lines[-1] == {"note": "end", "events": total}


# -- the inlined step bodies and the general one record alike --------------------------------------


def _shape_yields() -> Generator[int, Any, str]:
    yield 1
    return "done"


def _shape_raises() -> Generator[int, Any, None]:
    yield 1
    raise ValueError("bad")


def _records_of(shape: Callable[[], Generator[Any, Any, Any]], step: str) -> list[tuple[Any, ...]]:
    # Two steps of a fresh generator through one path; an exception is compared by type and args.
    tracer = gentrace.Tracer(clock=FakeClock())
    proxy = tracer.wrap(shape())
    for _ in range(2):
        with contextlib.suppress(StopIteration, ValueError):
            if step == "__next__":
                next(proxy)
            elif step == "send":
                proxy.send(None)
            elif step == "general next":
                proxy._step_slow(NEXT, None, proxy._gen.__next__, ())
            else:
                proxy._step_slow(SEND, None, proxy._gen.send, (None,))
    return [
        tuple((type(f), f.args) if isinstance(f, BaseException) else f for f in record)
        for record in tracer._recorder.records()
    ]


@pytest.mark.skipif(
    speedups is not None, reason="the pure-Python path's step bodies (GENTRACE_PURE_PYTHON=1)"
)
@pytest.mark.parametrize("shape", [_shape_yields, _shape_raises])
def test_next_send_and_the_general_step_record_alike(shape: Callable[[], Generator[Any, Any, Any]]) -> None:
    assert _records_of(shape, "__next__") == _records_of(shape, "general next")
    assert _records_of(shape, "send") == _records_of(shape, "general send")
    by_next, by_send = _records_of(shape, "__next__"), _records_of(shape, "send")
    assert [r[:OP] + r[OP + 1 :] for r in by_next] == [r[:OP] + r[OP + 1 :] for r in by_send]
    assert [r[OP] for r in by_next[1:]] == [NEXT, NEXT] and [r[OP] for r in by_send[1:]] == [SEND, SEND]


def chain(n: int) -> Generator[str, None, str]:
    if n == 0:
        yield "bottom"
        return "done"
    return (yield from chain(n - 1))


def deepest(make: Callable[[int], Any]) -> int:
    """The deepest `yield from` recursion that does not end in RecursionError (a binary search)."""
    lo, hi = 1, 3 * sys.getrecursionlimit()
    while lo < hi:
        mid = (lo + hi + 1) // 2
        try:
            gen = make(mid)
            next(gen)
            gen.close()
            lo = mid
        except RecursionError:
            hi = mid - 1
    return lo


@pytest.mark.xfail(
    sys.version_info[:2] == (3, 12),
    reason="3.12's C recursion limit, which no program can raise, stops the proxy's extra frames sooner",
    strict=True,
)
@pytest.mark.parametrize("out", ["none", "text"])
def test_yield_from_recursion_goes_as_deep_as_untraced(
    out: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from gentrace import proxy

    limit = sys.getrecursionlimit()
    untraced = deepest(chain)
    log = io.StringIO()
    tracer = gentrace.Tracer(out=log if out == "text" else None, keep=0)
    monkeypatch.setitem(globals(), "chain", tracer.trace(chain))
    traced = deepest(chain)
    assert untraced <= traced <= untraced + proxy.ROOM  # room for the recorder at the deepest step
    assert sys.getrecursionlimit() == limit
    if out == "text":  # the sink wrote the deepest steps too, once there was room for it
        assert "'bottom'" in log.getvalue() and "RecursionError" in log.getvalue()
    assert "stopped recording" not in capsys.readouterr().err


def _holding(gone: list[Any]) -> Generator[int, None, None]:
    local = noted_local(gone)  # noqa: F841  # held by the frame
    yield 1
    yield 2


def _delegating(gone: list[Any], inner: Any) -> Generator[int, None, None]:
    local = noted_local(gone)  # noqa: F841  # held by the frame
    yield from inner


def _thrown_into(trace: Callable[..., Any], gone: list[Any]) -> None:
    gen = trace(_holding)(gone)
    next(gen)
    with pytest.raises(KeyError):
        gen.throw(KeyError("x"))


def _thrown_through_yield_from(trace: Callable[..., Any], gone: list[Any]) -> None:
    gen = trace(_delegating)(gone, trace(_holding)(gone))
    next(gen)
    with pytest.raises(KeyError):
        gen.throw(KeyError("x"))


@pytest.mark.parametrize("max_events", [None, 1, 2, 3, 4], ids=lambda n: f"max_events={n}")
@pytest.mark.parametrize("ending", [_thrown_into, _thrown_through_yield_from], ids=["throw", "yield-from"])
def test_a_generator_ended_by_throw_lets_its_locals_go_at_once_as_untraced(
    ending: Callable[[Callable[..., Any], list[Any]], None], max_events: int | None
) -> None:
    # The pure path's throw() held what was thrown in a frame the traceback reaches (see
    # proxy._strip_own_frame); past `max_events` too, where the step is not recorded.
    left = locals_after(ending, max_events)
    assert left == [None] * len(left)
