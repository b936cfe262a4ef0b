"""Async generators and coroutines: traced twins behave exactly as untraced, and the events are true."""

from __future__ import annotations

import asyncio
import gc
import inspect
import io
import json
import re
import sys
import threading
import traceback
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import keeps_proxy_frame_on_310, locals_after, noted_local

import gentrace
from gentrace.aproxy import AsyncGeneratorProxy, CoroutineProxy, _fresh


@types.coroutine
def pause(tag: Any = "pause") -> Any:
    """Suspend to whoever drives the awaitable (no event loop needed)."""
    return (yield tag)


def agen_state(agen: Any) -> str:
    """What `inspect.getasyncgenstate` says on 3.12+, from what 3.11 exposes."""
    if agen.ag_running:
        return "AGEN_RUNNING"
    if agen.ag_frame is None:
        return "AGEN_CLOSED"
    return "AGEN_CREATED" if _fresh(agen.ag_frame) else "AGEN_SUSPENDED"


def make_agen(log: list[Any], catch: str, await_in_finally: bool) -> Callable[[int], Any]:
    async def ticker(n: int) -> Any:
        try:
            for i in range(n):
                try:
                    x = yield i
                    log.append(("got", x))
                except ValueError as exc:
                    log.append(("caught", str(exc)))
                    if catch == "reraise":
                        raise
                    if catch == "return":
                        return
                except GeneratorExit:
                    log.append("exit")
                    if catch == "ignore-exit":
                        yield "ignored"
                    raise
                log.append(("paused", await pause(i)))
        finally:
            log.append("finally")
            if await_in_finally:
                log.append(("finally-paused", await pause("finally")))

    return ticker


def drive(aw: Any, max_steps: int) -> list[Any]:
    """Step an awaitable; if it is still suspended after `max_steps`, close it half-way."""
    steps: list[Any] = []
    for k in range(max_steps):
        try:
            steps.append(("suspend", aw.send(None if k == 0 else k)))
        except StopIteration as stop:
            steps.append(("done", stop.value))
            return steps
        except StopAsyncIteration:
            steps.append(("stop-async",))
            return steps
        except BaseException as exc:
            steps.append(("raise", type(exc).__name__, str(exc)))
            return steps
    try:
        aw.close()
    except RuntimeError as exc:  # 3.13+: closing an asend/athrow whose generator awaits in finally
        steps.append(("close-raised", str(exc)))
    steps.append(("closed-halfway",))
    return steps


OP = st.one_of(
    st.tuples(st.just("anext"), st.none(), st.sampled_from([1, 2, 10])),
    st.tuples(st.just("asend"), st.sampled_from([None, 1, "x"]), st.sampled_from([1, 2, 10])),
    st.tuples(st.just("athrow"), st.sampled_from(["bad", "worse"]), st.sampled_from([1, 10])),
    st.tuples(st.just("aclose"), st.none(), st.sampled_from([1, 10])),
    st.tuples(st.just("overlap"), st.none(), st.just(10)),
)


def run_agen(agen: Any, ops: list[tuple[str, Any, int]], real: Any) -> tuple[list[Any], list[str]]:
    results: list[Any] = []
    states: list[str] = []
    for kind, arg, max_steps in ops:
        if kind == "anext":
            results.append(drive(agen.__anext__(), max_steps))
        elif kind == "asend":
            results.append(drive(agen.asend(arg), max_steps))
        elif kind == "athrow":
            results.append(drive(agen.athrow(ValueError(arg)), max_steps))
        elif kind == "aclose":
            results.append(drive(agen.aclose(), max_steps))
        else:  # start one anext, run another inside it ("already running"), finish the first
            first = agen.__anext__()
            try:
                results.append(("first", first.send(None)))
            except BaseException as exc:
                results.append(("first-ended", type(exc).__name__))
                first = None
            results.append(drive(agen.__anext__(), 10))
            if first is not None:
                results.append(drive(first, 10))
        states.append(agen_state(real))
    return results, states


@settings(max_examples=300, deadline=None)
@given(
    catch=st.sampled_from(["swallow", "reraise", "return", "ignore-exit"]),
    await_in_finally=st.booleans(),
    n=st.integers(0, 3),
    ops=st.lists(OP, max_size=8),
)
def test_async_generator_differential(catch: str, await_in_finally: bool, n: int, ops: list[Any]) -> None:
    # Generators left suspended (some ignoring GeneratorExit, or awaiting in `finally`) complain
    # when collected without a loop; both twins alike. Keep that out of pytest's way.
    old_hook = sys.unraisablehook
    sys.unraisablehook = lambda _unraisable: None
    try:
        check_async_generator_twins(catch, await_in_finally, n, ops)
        gc.collect()
    finally:
        sys.unraisablehook = old_hook


def check_async_generator_twins(catch: str, await_in_finally: bool, n: int, ops: list[Any]) -> None:
    plain_log: list[Any] = []
    plain = make_agen(plain_log, catch, await_in_finally)(n)
    expected = run_agen(plain, ops, plain)

    traced_log: list[Any] = []
    tracer = gentrace.Tracer()
    proxy = tracer.trace(make_agen(traced_log, catch, await_in_finally))(n)
    assert isinstance(proxy, AsyncGeneratorProxy)
    got = run_agen(proxy, ops, proxy._agen)
    assert got == expected
    assert traced_log == plain_log

    events = [e for e in tracer.events if e.op != "create"]
    seqs = [e.seq for e in tracer.events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    for event in events:
        assert event.op in ("anext", "asend", "athrow", "aclose")
        assert event.outcome in ("yield", "return", "raise", "closed")
        if event.outcome == "return":
            assert event.value is None  # (3.11: a second aclose() may end so, leaving it suspended)
        if event.outcome == "yield":
            assert event.state_after == "AGEN_SUSPENDED"
    # The last completed operation leaves the state the generator is really in.
    if events and events[-1].seq == max(e.seq for e in events):
        last_states = expected[1]
        if last_states and ops[-1][0] != "overlap":
            assert events[-1].state_after == last_states[-1]
    tracer.close()


def make_coro(log: list[Any], catch: bool) -> Callable[[int], Any]:
    async def worker(n: int) -> Any:
        total = 0
        for i in range(n):
            try:
                total += (await pause(i)) or 0
            except ValueError as exc:
                log.append(("caught", str(exc)))
                if not catch:
                    raise
        log.append("done")
        return total

    return worker


COP = st.one_of(
    st.tuples(st.just("send"), st.sampled_from([None, 1, 2])),
    st.tuples(st.just("next"), st.none()),
    st.tuples(st.just("throw"), st.just("bad")),
    st.tuples(st.just("close"), st.none()),
)


def run_coro(coro: Any, ops: list[tuple[str, Any]], real: Any) -> tuple[list[Any], list[str]]:
    results: list[Any] = []
    states: list[str] = []
    for kind, arg in ops:
        try:
            if kind == "send":
                results.append(("value", coro.send(arg)))
            elif kind == "next":
                results.append(
                    ("value", coro.__next__() if isinstance(coro, CoroutineProxy) else coro.send(None))
                )
            elif kind == "throw":
                results.append(("value", coro.throw(ValueError(arg))))
            else:
                results.append(("value", coro.close()))
        except StopIteration as stop:
            results.append(("return", stop.value))
        except BaseException as exc:
            results.append(("raise", type(exc).__name__, str(exc)))
        states.append(inspect.getcoroutinestate(real))
    return results, states


@settings(max_examples=300, deadline=None)
@given(catch=st.booleans(), n=st.integers(0, 3), ops=st.lists(COP, max_size=8))
def test_coroutine_differential(catch: bool, n: int, ops: list[Any]) -> None:
    plain_log: list[Any] = []
    plain = make_coro(plain_log, catch)(n)
    expected = run_coro(plain, ops, plain)
    traced_log: list[Any] = []
    tracer = gentrace.Tracer()
    proxy = tracer.trace(make_coro(traced_log, catch))(n)
    got = run_coro(proxy, ops, proxy._coro)
    assert got == expected and traced_log == plain_log
    events = [e for e in tracer.events if e.op != "create"]
    assert len(events) == len(ops)
    assert [e.state_after for e in events] == expected[1]
    for event, (kind, _arg) in zip(events, ops, strict=True):
        assert event.op == {"next": "send"}.get(kind, kind)
    tracer.close()
    plain.close()
    proxy._coro.close()


# -- asyncio scenarios, traced and untraced ------------------------------------------------------


def scenario(decorate: Callable[[Any], Any]) -> list[Any]:
    log: list[Any] = []

    @decorate
    async def work(name: str, delay: float) -> str:
        try:
            await asyncio.sleep(delay)
            log.append(("done", name))
            return name.upper()
        except asyncio.CancelledError:
            log.append(("cancelled", name))
            raise

    @decorate
    async def ticks(n: int) -> Any:
        try:
            for i in range(n):
                await asyncio.sleep(0)
                yield i
        finally:
            await asyncio.sleep(0)
            log.append("ticks finally")

    async def main() -> Any:
        # b, second, ends first whatever the machine's load: its sleep(0) resumes on the next turn of
        # the loop, before any timer (two timers 1 ms apart could swap when a is scheduled late)
        log.append(await asyncio.gather(work("a", 0.002), work("b", 0)))
        try:
            await asyncio.wait_for(work("slow", 1), timeout=0.001)
        except asyncio.TimeoutError:
            log.append("timeout")
        started = asyncio.create_task(work("started", 1))
        await asyncio.sleep(0)
        started.cancel()
        never = asyncio.create_task(work("never", 1))
        never.cancel()
        for task in (started, never):
            try:
                await task
            except asyncio.CancelledError:
                log.append(("task cancelled", task.get_name().startswith("Task-")))
        log.append([i async for i in ticks(3)])
        left = ticks(5)
        log.append(await left.__anext__())
        return left  # still suspended, and alive: the loop closes it at shutdown (shutdown_asyncgens)

    left = asyncio.run(main())
    assert left.ag_frame is None
    return log


def test_asyncio_scenarios_traced_as_untraced() -> None:
    expected = scenario(lambda f: f)
    tracer = gentrace.Tracer()
    assert scenario(tracer.trace) == expected
    events = tracer.events
    assert {e.gen.rpartition(".")[2] for e in events} >= {"work#1", "work#2", "ticks#1", "ticks#2"}
    assert any(e.op == "throw" and isinstance(e.arg, asyncio.CancelledError) for e in events)
    assert all(e.task is not None for e in events if e.op not in ("create", "collect"))
    assert "ticks finally" in expected


def test_a_dropped_async_generator_is_finalised_when_it_would_be_untraced() -> None:
    # No gc.collect(): the loop's finalizer hook runs as the last reference goes, as untraced.
    def run(decorate: Callable[[Any], Any]) -> list[str]:
        log: list[str] = []

        @decorate
        async def ticks() -> Any:
            try:
                while True:
                    yield 1
            finally:
                log.append("finally")

        async def main() -> None:
            g = ticks()
            await g.__anext__()
            del g
            log.append("dropped")
            await asyncio.sleep(0)
            log.append("after one loop turn")
            await asyncio.sleep(0)
            log.append("after two")

        asyncio.run(main())
        return log

    tracer = gentrace.Tracer()
    expected = ["dropped", "after one loop turn", "finally", "after two"]  # not at the loop's shutdown
    assert run(tracer.trace) == run(lambda f: f) == expected
    assert [e.op for e in tracer.events][-1] == "collect"


def test_collected_async_generator_runs_its_async_finally() -> None:
    log: list[str] = []
    tracer = gentrace.Tracer()

    @tracer.trace
    async def ticks() -> Any:
        try:
            while True:
                yield 1
        finally:
            await asyncio.sleep(0)
            log.append("finally")

    async def main() -> None:
        g = ticks()
        await g.__anext__()
        del g
        gc.collect()
        await asyncio.sleep(0.01)

    asyncio.run(main())
    assert log == ["finally"]
    collect = [e for e in tracer.events if e.op == "collect"]
    assert [(e.state_before, e.state_after) for e in collect] == [("AGEN_SUSPENDED", "AGEN_CLOSED")]


def test_decorated_functions_still_look_async() -> None:
    tracer = gentrace.Tracer()

    async def coro() -> None: ...

    async def agen() -> Any:
        yield 1

    class C:
        @tracer.trace
        async def method(self) -> None: ...

    for original in (coro, agen):
        traced = tracer.trace(original)
        assert inspect.iscoroutinefunction(traced) == inspect.iscoroutinefunction(original)
        assert inspect.isasyncgenfunction(traced) == inspect.isasyncgenfunction(original)
        if sys.version_info < (3, 14):  # deprecated there, for inspect's
            assert asyncio.iscoroutinefunction(traced) == asyncio.iscoroutinefunction(original)
    assert inspect.iscoroutinefunction(C().method) and inspect.iscoroutinefunction(C.method)


def test_coroutine_proxy_passes_for_a_coroutine() -> None:
    tracer = gentrace.Tracer()

    @tracer.trace
    async def fetch() -> int:
        return 1

    c = fetch()
    assert asyncio.iscoroutine(c) and inspect.isawaitable(c)
    assert inspect.iscoroutine(c) and isinstance(c, types.CoroutineType)
    assert c.__name__ == "fetch" and c.__qualname__.endswith("fetch")
    assert c.cr_code is fetch.__code__ and c.cr_frame is not None and c.cr_await is None
    assert asyncio.run(c) == 1
    g = tracer.wrap(fetch.__wrapped__())
    assert isinstance(g, CoroutineProxy) and asyncio.run(g) == 1


def test_never_awaited_traced_coroutine_still_warns() -> None:
    tracer = gentrace.Tracer()

    @tracer.trace
    async def lazy() -> None: ...

    with pytest.warns(RuntimeWarning, match="was never awaited"):
        lazy()
        gc.collect()
    assert [e.op for e in tracer.events] == ["create", "collect"]


def test_text_log_shows_awaits() -> None:
    out = io.StringIO()
    tracer = gentrace.Tracer(out=out)

    @tracer.trace(name="ticker")
    async def ticker() -> Any:
        x = yield 1
        await asyncio.sleep(0)
        yield x

    async def main() -> None:
        g = ticker()
        await g.__anext__()
        await g.asend(5)
        await g.aclose()

    asyncio.run(main())
    tracer.close()
    text = out.getvalue()
    assert ">>> await anext(ticker#1)" in text
    assert ">>> await ticker#1.asend(5)" in text
    assert ">>> await ticker#1.aclose()" in text
    assert "AGEN_SUSPENDED → AGEN_CLOSED" in text


def test_plain_generator_steps_carry_the_running_task() -> None:
    out = io.StringIO()
    tracer = gentrace.Tracer(out=out, format="jsonl")

    @tracer.trace(name="count")
    def count() -> Any:
        yield from range(3)

    outside = count()
    next(outside)

    async def main() -> None:
        async def step(name: str) -> None:
            next(outside)
            g = count()
            next(g)
            g.close()

        await asyncio.gather(
            asyncio.create_task(step("alpha"), name="alpha"), asyncio.create_task(step("beta"), name="beta")
        )

    asyncio.run(main())
    tracer.close()
    tasks = [(e.gen, e.op, e.task) for e in tracer.events]
    assert tasks[:2] == [("count#1", "create", None), ("count#1", "next", None)]
    assert ("count#1", "next", "alpha") in tasks
    assert ("count#1", "next", "beta") in tasks
    assert [t for g, op, t in tasks if g == "count#2"] == ["alpha", "alpha", "alpha"]
    assert [t for g, op, t in tasks if g == "count#3"] == ["beta", "beta", "beta"]
    lines = [line for line in map(json.loads, out.getvalue().splitlines()) if "note" not in line]
    assert len(lines) == len(tasks) and all("task" in line for line in lines)
    assert [line["task"] for line in lines if line["gen"] == "count#2"] == ["alpha", "alpha", "alpha"]


def test_a_sleeping_coroutine_yields_a_described_sleep(tmp_path: Path) -> None:
    text = io.StringIO()
    tracer = gentrace.Tracer(out=[text, tmp_path / "t.jsonl"])

    @tracer.trace(name="nap")
    async def nap() -> str:
        await asyncio.sleep(0.001)
        await asyncio.sleep(0)
        future = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_soon(future.set_result, 1)
        await future
        return "rested"

    @tracer.trace(name="outer")
    async def outer() -> str:
        return await nap()

    assert asyncio.run(outer()) == "rested"
    tracer.close()
    log = text.getvalue()
    assert re.search(r"^    <sleep 0.001s> +# CORO_CREATED → CORO_SUSPENDED", log, re.M)
    assert re.search(r"^<sleep 0.001s> +# CORO_CREATED → CORO_SUSPENDED", log, re.M)  # outer waits on it
    assert re.search(r"^    <sleep 0s> ", log, re.M)
    assert re.search(r"^    <Future pending> ", log, re.M)
    yields = [e for e in tracer.events if e.gen == "nap#1" and e.outcome == "yield"]
    assert isinstance(yields[0].value, asyncio.Future)  # the object yielded to the loop
    assert yields[1].value is None  # sleep(0) yields None
    written = [json.loads(line) for line in (tmp_path / "t.jsonl").read_text().splitlines()]
    assert [w["value"] for w in written if w.get("outcome") == "yield"][:2] == ["<sleep 0.001s>"] * 2


def test_loop_shutdown_of_a_suspended_async_generator_is_a_collect() -> None:
    log: list[str] = []
    kept: list[Any] = []

    def run(decorate: Callable[[Any], Any]) -> list[str]:
        log.clear()

        @decorate
        async def ticks() -> Any:
            try:
                yield 1
                yield 2
            finally:
                await asyncio.sleep(0)
                log.append("finally")

        async def main() -> None:
            g = ticks()
            kept.append(g)  # alive: only the loop's shutdown_asyncgens closes it
            log.append(str(await g.__anext__()))

        asyncio.run(main())
        log.append("after run")
        return list(log)

    tracer = gentrace.Tracer()
    assert run(tracer.trace) == run(lambda f: f) == ["1", "finally", "after run"]
    ops = [(e.op, e.state_before, e.state_after) for e in tracer.events]
    assert ops == [
        ("create", None, "AGEN_CREATED"),
        ("anext", "AGEN_CREATED", "AGEN_SUSPENDED"),
        ("collect", "AGEN_SUSPENDED", "AGEN_CLOSED"),
    ]
    assert kept[0].ag_frame is None  # the traced one was closed for real


@keeps_proxy_frame_on_310
def test_tracebacks_from_async_code_show_the_programs_frames_only() -> None:
    def frames(decorate: Callable[[Any], Any]) -> list[list[str]]:
        @decorate
        async def fails() -> None:
            await asyncio.sleep(0)
            raise ValueError("coroutine")

        @decorate
        async def ticks() -> Any:
            yield 1
            await asyncio.sleep(0)
            raise ValueError("async generator")

        async def main() -> list[list[str]]:
            seen = []
            try:
                await fails()
            except ValueError as exc:
                seen.append([f.name for f in traceback.extract_tb(exc.__traceback__)])
            g = ticks()
            await g.__anext__()
            try:
                await g.__anext__()
            except ValueError as exc:
                seen.append([f.name for f in traceback.extract_tb(exc.__traceback__)])
            return seen

        seen = asyncio.run(main())
        try:
            asyncio.run(fails())
        except ValueError as exc:
            seen.append([f.name for f in traceback.extract_tb(exc.__traceback__)])
        return seen

    expected = frames(lambda f: f)
    assert expected[0] == ["main", "fails"] and expected[1] == ["main", "ticks"]
    assert frames(gentrace.Tracer().trace) == expected


def test_task_of_each_thread_when_loops_run_in_several() -> None:
    tracer = gentrace.Tracer()
    together = threading.Barrier(2)

    @tracer.trace(name="count")
    def count() -> Any:
        yield from range(3)

    def run(name: str) -> None:
        async def step() -> None:
            g = count()
            next(g)
            together.wait(timeout=5)  # both threads' tasks are running now
            next(g)
            together.wait(timeout=5)

        async def main() -> None:
            await asyncio.create_task(step(), name=name)

        asyncio.run(main())

    threads = [threading.Thread(target=run, args=(name,), name=name) for name in ("red", "blue")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {(e.thread, e.task) for e in tracer.events} == {("red", "red"), ("blue", "blue")}


def test_an_event_loops_async_generator_hooks_see_one_async_generator() -> None:
    # As trio's do: the first-iteration hook and the finalizer get the same object (trio matches
    # them by id), which is an async generator with its frame; the finalizer can close it.
    def run(decorate: Callable[[Any], Any]) -> list[Any]:
        seen: list[Any] = []
        firsts: set[int] = set()  # ids only, as trio keeps: the hooks hold no generator

        def firstiter(agen: Any) -> None:
            firsts.add(id(agen))
            seen.append(("first", isinstance(agen, types.AsyncGeneratorType), agen.ag_frame is not None))

        def finalizer(agen: Any) -> None:
            seen.append(("finalize", id(agen) in firsts, agen.__qualname__.rpartition(".")[2]))
            closing = agen.aclose()
            try:
                closing.send(None)
            except StopIteration:
                seen.append("closed")

        @decorate
        async def ticks() -> Any:
            try:
                while True:
                    yield 1
            finally:
                seen.append("finally")

        old = sys.get_asyncgen_hooks()
        sys.set_asyncgen_hooks(firstiter=firstiter, finalizer=finalizer)
        try:
            agen = ticks()
            step = agen.__anext__()
            with pytest.raises(StopIteration):
                step.send(None)
            del agen, step  # dropped while suspended: the finalizer hook runs now
        finally:
            sys.set_asyncgen_hooks(*old)
        return seen

    tracer = gentrace.Tracer()
    expected = [("first", True, True), ("finalize", True, "ticks"), "finally", "closed"]
    assert run(tracer.trace) == run(lambda f: f) == expected
    assert [e.op for e in tracer.events][-1] == "collect"


def test_the_loop_may_close_at_shutdown_a_finished_generator_that_is_gone() -> None:
    # An exhausted async generator is not finalised; if the loop's handle for it outlives it (a
    # garbage cycle, here a list), asyncio.run's shutdown closes the handle: nothing to do, as
    # untraced, where the loop's weak set has lost the generator itself.
    tracer = gentrace.Tracer()

    @tracer.trace
    async def once() -> Any:
        yield 1

    kept: list[Any] = []

    async def main() -> list[int]:
        g = once()
        items = [item async for item in g]
        kept.append(g._handle)
        del g
        return items

    errors: list[dict[str, Any]] = []

    async def checked() -> list[int]:
        asyncio.get_running_loop().set_exception_handler(lambda loop, context: errors.append(context))
        return await main()

    assert asyncio.run(checked()) == [1]
    assert errors == []


async def _plain_agen(gone: list[Any]) -> Any:
    local = noted_local(gone)  # noqa: F841  # held by the frame
    yield 1
    yield 2


async def _agen_awaiting_before_it_reraises(gone: list[Any]) -> Any:
    local = noted_local(gone)  # noqa: F841  # held by the frame
    try:
        yield 1
    except KeyError:
        await asyncio.sleep(0)
        raise


async def _agen_then_sleep(gone: list[Any]) -> Any:
    local = noted_local(gone)  # noqa: F841  # held by the frame
    yield 1
    await asyncio.sleep(10)
    yield 2


async def _sleeping(gone: list[Any], delay: float) -> None:
    local = noted_local(gone)  # noqa: F841  # held by the frame
    await asyncio.sleep(delay)


def _athrow(make: Callable[..., Any]) -> Callable[[Callable[..., Any], list[Any]], None]:
    def ending(trace: Callable[..., Any], gone: list[Any]) -> None:
        async def main() -> None:
            agen = trace(make)(gone)
            await anext(agen)
            with pytest.raises(KeyError):
                await agen.athrow(KeyError("x"))

        asyncio.run(main())

    return ending


def _cancel_anext(trace: Callable[..., Any], gone: list[Any]) -> None:
    async def main() -> None:
        agen = trace(_agen_then_sleep)(gone)
        await anext(agen)
        task = asyncio.ensure_future(anext(agen))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())


def _cancel_task(trace: Callable[..., Any], gone: list[Any]) -> None:
    async def main() -> None:
        task = asyncio.ensure_future(trace(_sleeping)(gone, 10))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())


def _coroutine_throw(trace: Callable[..., Any], gone: list[Any]) -> None:
    coro = trace(_sleeping)(gone, 0)
    coro.send(None)
    with pytest.raises(KeyError):
        coro.throw(KeyError("x"))


@pytest.mark.parametrize("max_events", [None, 1, 2, 3], ids=lambda n: f"max_events={n}")
@pytest.mark.parametrize(
    "ending",
    [
        _athrow(_plain_agen),
        _athrow(_agen_awaiting_before_it_reraises),
        _cancel_anext,
        _cancel_task,
        _coroutine_throw,
    ],
    ids=["athrow", "athrow-awaiting-first", "cancelled-anext", "cancelled-task", "coroutine-throw"],
)
def test_an_exception_that_ends_one_lets_its_locals_go_at_once_as_untraced(
    ending: Callable[[Callable[..., Any], list[Any]], None], max_events: int | None
) -> None:
    # On 3.10, 3.12 and 3.13 a step's frame that still held what was thrown stayed reachable from
    # the exception's traceback: the cycle kept the locals until the next collection. Past
    # `max_events` the steps are not recorded, by other lines of the same steps.
    assert locals_after(ending, max_events) == [None, None]
