"""Drive traced async generators and coroutines through random operations on an event loop, and
print everything gentrace recorded.

The async twin of differential_worker.py, run by tests/test_compiled.py once on each path
(``GENTRACE_PURE_PYTHON=1`` or not): the two outputs must be identical. The clock is fake, so times
are part of what is compared. Usage: ``python differential_async_worker.py SEED COUNT DIR`` (DIR
receives each scenario's .log and .jsonl).
"""

from __future__ import annotations

import asyncio
import io
import random
import sys
from collections.abc import AsyncGenerator, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from differential_worker import Boom, comparable, main
from support import FakeClock

import gentrace
from gentrace.sinks import JsonlSink


async def plain(n: int) -> AsyncGenerator[Any, Any]:
    for i in range(n):
        yield i


async def sleepy(n: int) -> AsyncGenerator[Any, Any]:
    for i in range(n):
        await asyncio.sleep(0)  # suspends to the loop inside the operation
        yield [i, "x"]


async def echo(n: int) -> AsyncGenerator[Any, Any]:
    received = None
    for _ in range(n):
        received = yield received


async def catcher(n: int) -> AsyncGenerator[Any, Any]:
    for i in range(n):
        try:
            yield i
        except Boom as exc:
            yield ("caught", exc.args)


async def stubborn(n: int) -> AsyncGenerator[Any, Any]:
    for i in range(n):
        try:
            yield i
        except GeneratorExit:
            yield "ignored GeneratorExit"


async def raiser(n: int) -> AsyncGenerator[Any, Any]:
    for i in range(n):
        yield i
    raise Boom("at the end", n)


AGENS: list[Callable[[int], AsyncGenerator[Any, Any]]] = [plain, sleepy, echo, catcher, stubborn, raiser]


async def job(n: int) -> Any:
    for _ in range(n):
        await asyncio.sleep(0)
    return n * 2


async def waiting(n: int) -> Any:
    # Suspends on a future of the loop's (set by a callback: its order among tasks is fixed).
    loop = asyncio.get_running_loop()
    future = loop.create_future()
    loop.call_soon(future.set_result, n)
    return await future


async def delayed(n: int) -> Any:
    # Suspends in asyncio.sleep with a delay: run alone, so that real time orders nothing.
    await asyncio.sleep(0.0001 * n)
    return n


async def failing(n: int) -> Any:
    await asyncio.sleep(0)
    raise Boom("failing", n)


async def awaiting(tracer: gentrace.Tracer, n: int) -> Any:
    return await tracer.trace(job)(n) + await tracer.trace(delayed)(n)


def throwable(rng: random.Random) -> Any:
    return rng.choice([Boom("thrown"), Boom, GeneratorExit(), ValueError(1), StopAsyncIteration()])


async def operate_agen(rng: random.Random, agen: Any) -> Any:
    op = rng.choice(["anext", "anext", "asend", "athrow", "aclose", "for", "halfway"])
    try:
        if op == "anext":
            return ("anext", await agen.__anext__())
        if op == "asend":
            return ("asend", await agen.asend(rng.choice([None, 0, 2**70, "s", [1, 2], (3,)])))
        if op == "athrow":
            return ("athrow", await agen.athrow(throwable(rng)))
        if op == "aclose":
            return ("aclose", await agen.aclose())
        if op == "halfway":  # an awaitable stepped once by hand, then closed
            aw = agen.__anext__()
            try:
                first = aw.send(None)
            except StopIteration as stop:
                return ("halfway", "done", stop.value)
            aw.close()
            return ("halfway", "closed", first)
        items = []
        async for item in agen:
            items.append(item)
            if len(items) == 3:
                break
        return ("for", items)
    except BaseException as exc:  # every outcome is part of what is compared
        return (op, "raised", type(exc).__name__, repr(exc.args))


def operate_coro(rng: random.Random, coro: Any) -> Any:
    op = rng.choice(["send", "send", "throw", "close"])
    try:
        if op == "send":
            return ("send", coro.send(None))
        if op == "throw":
            return ("throw", coro.throw(throwable(rng)))
        return ("close", coro.close())
    except BaseException as exc:
        return (op, "raised", type(exc).__name__, repr(exc.args))


async def drive(rng: random.Random, tracer: gentrace.Tracer) -> list[str]:
    kind = rng.choice(["agen", "agen", "gather", "await", "by hand"])
    if kind == "agen":
        agen = tracer.trace(rng.choice(AGENS))(rng.randint(0, 4))
        outcomes = [repr(await operate_agen(rng, agen)) for _ in range(rng.randint(1, 6))]
        try:
            await agen.aclose()
        except BaseException as exc:
            outcomes.append(repr(("final aclose", type(exc).__name__)))
        return outcomes
    if kind == "gather":
        coros = [
            tracer.trace(rng.choice([job, failing, waiting]))(rng.randint(0, 2))
            for _ in range(rng.randint(1, 4))
        ]
        return [repr(await asyncio.gather(*coros, return_exceptions=True))]
    if kind == "await":
        return [repr(await awaiting(tracer, rng.randint(0, 3)))]
    coro = tracer.trace(rng.choice([job, failing]))(rng.randint(0, 3))
    outcomes = [repr(operate_coro(rng, coro)) for _ in range(rng.randint(1, 5))]
    coro.close()
    return outcomes


def scenario(seed: int, directory: Path) -> list[str]:
    rng = random.Random(seed)
    text = io.StringIO()
    jsonl = directory / f"{seed}.jsonl"
    with gentrace.Tracer(clock=FakeClock(), out=text) as tracer:
        stream = open(jsonl, "w", encoding="utf-8")  # noqa: SIM115 (the sink closes it)
        tracer.add_sink(JsonlSink(stream, origin_ns=tracer._recorder.origin))
        outcomes = asyncio.run(drive(rng, tracer))
        records = [repr(tuple(map(comparable, record))) for record in tracer._recorder.records()]
    (directory / f"{seed}.log").write_text(text.getvalue())
    return [*outcomes, *records]


if __name__ == "__main__":
    main(scenario)
