"""What programs ask of a generator, coroutine or async generator, a traced one answers as the real one.

Each check runs the same operation on a real object and on its traced twin and compares the
outcome: the value, or the exception's type and message. Type checks (``isinstance``,
``inspect.isgenerator``…), error messages, ``copy``/``pickle``, attribute writes, and traced
generator *functions* pickling and copying like the functions they wrap.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import inspect
import json
import pickle
import sys
import types
import warnings
import weakref
from collections.abc import Callable
from typing import Any

import pytest

import gentrace
from gentrace.aproxy import AsyncGeneratorProxy


def numbers(n: int) -> Any:
    """A generator function, module level so that it pickles by reference."""
    yield from range(n)


async def ticks(n: int) -> Any:
    for i in range(n):
        yield i


async def fetch(x: int) -> int:
    return x


@pytest.fixture
def tracer() -> Any:
    with gentrace.Tracer(out=None) as t:
        yield t


def outcome(operation: Callable[[Any], Any], obj: Any) -> Any:
    """What `operation(obj)` gives: ("value", v) or ("raises", type, message)."""
    try:
        return ("value", operation(obj))
    except BaseException as exc:
        return ("raises", type(exc), str(exc))


def twins(kind: str, tracer: gentrace.Tracer) -> tuple[Any, Any]:
    make = {
        "generator": lambda: numbers(3),
        "coroutine": lambda: fetch(1),
        "async_generator": lambda: ticks(3),
    }[kind]
    return make(), tracer.wrap(make())


def close_both(real: Any, traced: Any) -> None:
    for obj in (real, traced):
        if type(obj) is not types.AsyncGeneratorType and not isinstance(obj, AsyncGeneratorProxy):
            obj.close()  # a coroutine never awaited would warn


KINDS = ["generator", "coroutine", "async_generator"]

TYPE_CHECKS: dict[str, Callable[[Any], Any]] = {
    "isinstance GeneratorType": lambda g: isinstance(g, types.GeneratorType),
    "isinstance CoroutineType": lambda g: isinstance(g, types.CoroutineType),
    "isinstance AsyncGeneratorType": lambda g: isinstance(g, types.AsyncGeneratorType),
    "inspect.isgenerator": inspect.isgenerator,
    "inspect.iscoroutine": inspect.iscoroutine,
    "inspect.isasyncgen": inspect.isasyncgen,
    "inspect.isawaitable": inspect.isawaitable,
    "asyncio.iscoroutine": asyncio.iscoroutine,
    "__class__": lambda g: g.__class__,
    "__name__": lambda g: g.__name__,
    "__qualname__": lambda g: g.__qualname__,
}


@pytest.mark.parametrize("check", TYPE_CHECKS, ids=str)
@pytest.mark.parametrize("kind", KINDS)
def test_type_checks_answer_as_for_the_real_object(kind: str, check: str, tracer: gentrace.Tracer) -> None:
    real, traced = twins(kind, tracer)
    try:
        assert outcome(TYPE_CHECKS[check], traced) == outcome(TYPE_CHECKS[check], real)
    finally:
        close_both(real, traced)


@types.coroutine
def legacy_coroutine() -> Any:
    got = yield "pause"
    return got * 2


async def awaits(make: Callable[[], Any]) -> Any:
    return await make()


@pytest.mark.parametrize("make", [legacy_coroutine, lambda: numbers(2)], ids=["types.coroutine", "plain"])
def test_a_traced_generator_is_awaitable_exactly_when_the_real_one_is(
    make: Any, tracer: gentrace.Tracer
) -> None:
    def run(wrap: Callable[[Any], Any]) -> Any:
        coro = awaits(lambda: wrap(make()))
        return inspect.isawaitable(wrap(make())), outcome(lambda c: (c.send(None), c.send(21)), coro)

    assert run(tracer.wrap) == run(lambda g: g)


def test_types_coroutine_over_a_traced_function_makes_its_generators_awaitable() -> None:
    def run(decorate: Callable[[Any], Any]) -> Any:
        def legacy() -> Any:
            got = yield "pause"
            return got * 2

        made = types.coroutine(decorate(legacy))
        coro = awaits(made)
        return inspect.isawaitable(made()), outcome(lambda c: (c.send(None), c.send(21)), coro)

    tracer = gentrace.Tracer(out=None)
    assert run(tracer.trace) == run(lambda f: f) == (True, ("raises", StopIteration, "42"))
    assert [e.op for e in tracer.events if e.op != "create"] == ["collect", "next", "send"]


def test_inspect_reads_a_traced_generators_state_and_locals(tracer: gentrace.Tracer) -> None:
    real, traced = numbers(3), tracer.wrap(numbers(3))
    for obj in (real, traced):
        next(obj)
    assert inspect.getgeneratorstate(traced) == inspect.getgeneratorstate(real) == "GEN_SUSPENDED"
    assert dict(inspect.getgeneratorlocals(traced)) == dict(inspect.getgeneratorlocals(real)) == {"n": 3}


def _set_attribute(g: Any) -> None:
    g.anything = 1


def _set_code(g: Any) -> None:
    g.gi_code = None


def _del_name(g: Any) -> None:
    del g.__name__


def _await_it(g: Any) -> Any:
    async def main() -> Any:
        return await g

    return asyncio.run(main())


MISUSES: dict[str, Callable[[Any], Any]] = {
    "len": len,
    "subscript": lambda g: g[0],
    "call": lambda g: g(),
    "missing attribute": lambda g: g.anything,
    "set attribute": _set_attribute,
    "add": lambda g: g + 1,
    "int": int,
    "json.dumps": json.dumps,
    "copy.copy": copy.copy,
    "copy.deepcopy": copy.deepcopy,
    "pickle.dumps": pickle.dumps,
    "hash is an int": lambda g: isinstance(hash(g), int),
    "bool": bool,
    "set __name__": lambda g: setattr(g, "__name__", 5),
    "set __qualname__": lambda g: setattr(g, "__qualname__", 5),
    "delete __name__": _del_name,
    "set gi_code": _set_code,
}


@pytest.mark.parametrize("misuse", MISUSES, ids=str)
@pytest.mark.parametrize("kind", KINDS)
def test_misuse_fails_with_the_real_objects_error(kind: str, misuse: str, tracer: gentrace.Tracer) -> None:
    real, traced = twins(kind, tracer)
    try:
        assert outcome(MISUSES[misuse], traced) == outcome(MISUSES[misuse], real)
    finally:
        close_both(real, traced)


def test_awaiting_a_generator_fails_as_for_the_real_one(tracer: gentrace.Tracer) -> None:
    real, traced = twins("generator", tracer)
    assert outcome(_await_it, traced) == outcome(_await_it, real)


@pytest.mark.parametrize("kind", KINDS)
def test_name_and_qualname_can_be_set_as_on_the_real_object(kind: str, tracer: gentrace.Tracer) -> None:
    real, traced = twins(kind, tracer)
    for obj in (real, traced):
        obj.__name__ = "renamed"
        obj.__qualname__ = "Some.renamed"
    assert (traced.__name__, traced.__qualname__) == (real.__name__, real.__qualname__)
    close_both(real, traced)


def test_renaming_a_traced_function_names_its_generators_as_untraced(tracer: gentrace.Tracer) -> None:
    def func() -> Any:
        yield 1

    def renamed(f: Any) -> tuple[str, str, str, str]:
        f.__name__, f.__qualname__ = "func_name", "func_qualname"
        gen = f()
        return f.__name__, f.__qualname__, gen.__name__, gen.__qualname__

    assert renamed(tracer.trace(func)) == renamed(func) == ("func_name", "func_qualname") * 2


def test_renaming_does_not_rename_the_instance_in_the_log(tracer: gentrace.Tracer) -> None:
    traced = tracer.wrap(numbers(2), name="nums")
    traced.__name__ = "other"
    next(traced)
    assert traced.gentrace_name == "nums#1"
    assert tracer.events[-1].gen == "nums#1"


traced_numbers = gentrace.Tracer(out=None).trace(numbers)


class Holder:
    @gentrace.Tracer(out=None).trace
    def items(self) -> Any:
        yield 1


def test_a_traced_generator_function_pickles_by_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    # As the module attribute it replaces (what the import hook and @trace do), it pickles by
    # name and unpickles as itself, like the function it wraps.
    monkeypatch.setattr(sys.modules[__name__], "numbers", traced_numbers)
    assert pickle.loads(pickle.dumps(traced_numbers)) is traced_numbers
    assert pickle.loads(pickle.dumps(Holder.items)) is Holder.items


def test_a_traced_generator_function_copies_as_itself() -> None:
    assert copy.copy(traced_numbers) is traced_numbers
    assert copy.deepcopy(traced_numbers) is traced_numbers
    assert copy.deepcopy({"f": traced_numbers})["f"] is traced_numbers


def test_a_traced_local_generator_function_fails_to_pickle_as_the_real_one() -> None:
    def local() -> Any:
        yield 1

    traced_local = gentrace.Tracer(out=None).trace(local)
    real = outcome(pickle.dumps, local)
    traced = outcome(pickle.dumps, traced_local)
    assert real[0] == "raises"
    # 3.14 names the object by its repr (the traced one's says it is traced)
    assert traced == (*real[:2], real[2].replace(repr(local), repr(traced_local)))


def test_warnings_point_at_the_callers_line_as_untraced(tracer: gentrace.Tracer) -> None:
    def warns() -> Any:
        warnings.warn("careful", UserWarning, stacklevel=2)
        yield 1

    def where(gen: Any) -> tuple[str, int]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            next(gen)  # the line the warning is attributed to
        return caught[0].filename, caught[0].lineno

    assert where(tracer.wrap(warns())) == where(warns())


class Tracked:
    """An object whose death a weak reference sees."""


def holds_a_local(arg: Tracked) -> Any:
    local = arg
    yield local
    yield 2


FINISHES: dict[str, Callable[[Any], Any]] = {
    "close a fresh one": lambda g: g.close(),
    "close a suspended one": lambda g: (next(g), g.close()),
    "gi_frame.clear() a fresh one": lambda g: g.gi_frame.clear(),
    "exhaust it": list,
}


@pytest.mark.parametrize("finish", FINISHES)
def test_a_generators_locals_die_when_they_would_untraced(finish: str) -> None:
    # The proxy holds no frame object: one held elsewhere keeps the locals alive (3.11+ moves
    # them into it when the generator finishes or is cleared). A tracer keeping no events
    # holds nothing of the program's.
    tracer = gentrace.Tracer(out=None, keep=0)

    def locals_alive(wrap: Callable[[Any], Any]) -> bool:
        obj = Tracked()
        alive = weakref.ref(obj)
        gen = wrap(holds_a_local(obj))
        del obj
        FINISHES[finish](gen)
        return alive() is not None

    assert locals_alive(tracer.wrap) == locals_alive(lambda g: g)  # (3.13.0 keeps a closed fresh one's)


def test_a_traced_generator_function_passes_for_a_function(tracer: gentrace.Tracer) -> None:
    def gen(a: int, b: int = 2) -> Any:
        yield a + b

    traced = tracer.trace(gen)
    checks: list[Callable[[Any], Any]] = [
        lambda f: isinstance(f, types.FunctionType),
        inspect.isfunction,
        inspect.isgeneratorfunction,
        lambda f: str(inspect.signature(f)),
        lambda f: inspect.getfullargspec(f).args,
        lambda f: f.__globals__ is globals(),
        lambda f: f.__closure__,
        lambda f: f.__defaults__,
    ]
    assert [check(traced) for check in checks] == [check(gen) for check in checks]


class FutureLike:
    """An awaitable whose ``__await__`` is a generator delegating to a coroutine's (as anyio's)."""

    def __init__(self, wait: Callable[[], Any]) -> None:
        self.wait = wait

    def __await__(self) -> Any:
        got = yield from self.wait().__await__()
        return ("done", got)


def test_a_traced_coroutines_await_iterator_is_an_iterator(tracer: gentrace.Tracer) -> None:
    def run(decorate: Callable[[Any], Any]) -> Any:
        @decorate
        async def wait() -> Any:
            return await legacy_coroutine()

        async def main() -> Any:
            return await FutureLike(wait)

        coro = main()
        it = wait().__await__()
        shape = (type(it).__name__, isinstance(it, types.CoroutineType), iter(it) is it)
        it.close()
        return shape, outcome(lambda c: (c.send(None), c.send(21)), coro)

    assert run(tracer.trace) == run(lambda f: f)


class Countdown:
    """An async iterator whose ``__anext__`` is a coroutine function that suspends (as anyio's tee)."""

    def __init__(self, n: int, pause: Callable[[], Any]) -> None:
        self.n = n
        self.pause = pause

    def __aiter__(self) -> Countdown:
        return self

    async def __anext__(self) -> int:
        await self.pause()
        if self.n == 0:
            raise StopAsyncIteration
        self.n -= 1
        return self.n


def test_anext_with_a_default_over_a_traced_coroutine_that_suspends(tracer: gentrace.Tracer) -> None:
    def run(decorate: Callable[[Any], Any]) -> Any:
        Counting = type("Counting", (Countdown,), {"__anext__": decorate(Countdown.__anext__)})

        async def main() -> list[Any]:
            it = Counting(2, legacy_coroutine)
            return [await anext(it, "end") for _ in range(3)]

        coro, steps = main(), []
        try:
            steps.append(coro.send(None))
            while True:
                steps.append(coro.send(1))
        except StopIteration as stop:
            return steps, stop.value

    assert run(tracer.trace) == run(lambda f: f) == (["pause"] * 3, [1, 0, "end"])


def test_functools_wraps_over_a_traced_method_copies_no_state_of_gentraces(tracer: gentrace.Tracer) -> None:
    # As anyio's run(event.wait) does: @wraps(bound method) over a traced wrapper of its own.
    class Event:
        @tracer.trace
        async def wait(self) -> str:
            return "waited"

    def run_wrapped(func: Any) -> Any:
        @functools.wraps(func)
        @tracer.trace
        async def wrapper() -> Any:
            return await func()

        return outcome(lambda c: c.send(None), wrapper())

    assert run_wrapped(Event().wait) == ("raises", StopIteration, "waited")
    assert "_func" not in vars(Event.__dict__["wait"])
