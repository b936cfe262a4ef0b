"""The proxy's contract: a traced generator behaves exactly like the untraced one, and says so truly.

The differential test runs random sequences of next/send/throw/close on twins — one traced, one
not — over many generator shapes, and compares everything a program can observe after every
step; it also checks that each step produced exactly one event that tells what happened.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import sys
import traceback
from collections.abc import Callable, Generator
from dataclasses import dataclass
from inspect import getgeneratorstate
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gentrace

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


def reentrant(log: list[Any], env: Env) -> Generator[Any, Any, Any]:
    # Told "next", "send", "throw" or "close", it does that to itself: "generator already executing".
    while True:
        x = yield "ready"
        if x in ("next", "send", "throw", "close"):
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
    return [(f.f_code.co_filename, lineno, f.f_code.co_name) for f, lineno in traceback.walk_tb(tb)]


def exc_summary(exc: BaseException | None, depth: int = 0) -> Any:
    if exc is None:
        return None
    summary = [type(exc), str(exc), exc.args, tb_summary(exc.__traceback__), exc.__suppress_context__]
    if depth == 0:
        summary += [exc_summary(exc.__cause__, 1), exc_summary(exc.__context__, 1)]
    return summary


def assert_no_gentrace_frames(exc: BaseException | None) -> None:
    seen = 0
    while exc is not None and seen < 4:
        for frame, _ in traceback.walk_tb(exc.__traceback__):
            assert not frame.f_code.co_filename.startswith(GENTRACE_DIR), traceback.format_tb(
                exc.__traceback__
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
        self.output = output
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


@settings(max_examples=1500, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
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
