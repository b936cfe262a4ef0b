"""Generators the golden files are made from (kept apart so their line numbers stay put).

Editing this file changes the golden files: regenerate them with ``GENTRACE_REGEN=1 pytest``.
"""

from __future__ import annotations

import threading
from collections.abc import Generator
from typing import Any

import gentrace


class DemoError(Exception):
    pass


def averager() -> Generator[float | None, float, None]:
    total = 0.0
    count = 0
    average = None
    while True:
        term = yield average
        total += term
        count += 1
        average = total / count


def accumulate() -> Generator[None, float | None, dict[str, float]]:
    total = 0.0
    count = 0
    while True:
        term = yield
        if term is None:
            break
        total += term
        count += 1
    return {"count": count, "average": total / count}


def fib() -> Generator[int, None, None]:
    a, b = 1, 2
    while True:
        yield a
        a, b = b, a + b


def inner(n: int) -> Generator[int, Any, str]:
    for i in range(n):
        sent = yield i
        if sent == "stop":
            break
    return "inner done"


def outer() -> Generator[Any, Any, None]:
    result = yield from traced_inner(2)
    yield f"inner said {result}"


def fragile() -> Generator[str, None, None]:
    try:
        yield "ok"
    except KeyError:
        yield "recovered from KeyError"
    yield "last"


def stubborn() -> Generator[str, None, None]:
    try:
        yield "first"
    except GeneratorExit:
        yield "not closing"


def odd_values() -> Generator[Any, Any, None]:
    yield None
    yield "x" * 200
    yield "\x1b[31mred\x9b"
    yield [1, (2, 3), {"k": b"v"}]
    yield DemoError("yielded, not raised")


traced_inner: Any = inner  # replaced by the traced form while a scenario runs


def run(tracer: gentrace.Tracer) -> list[Any]:
    """One of everything the log shows; returns what must stay alive until the tracer closes."""
    global traced_inner
    traced_inner = tracer.trace(inner)
    kept: list[Any] = []
    try:
        avg = tracer.trace(averager)()
        next(avg)
        avg.send(10)
        avg.send(20)
        avg.close()

        acc = tracer.trace(accumulate)()
        next(acc)
        acc.send(6)
        try:
            acc.send(None)
        except StopIteration:
            pass

        numbers = tracer.trace(fib)()
        for n in numbers:
            if n > 3:
                break
        kept.append(numbers)  # left suspended: "still suspended at exit"

        delegating = tracer.trace(outer)()
        list(delegating)

        bad = tracer.trace(fragile)()
        next(bad)
        bad.throw(KeyError("k"))
        try:
            bad.throw(DemoError)
        except DemoError:
            pass
        try:
            bad.send("too late")
        except StopIteration:
            pass

        fresh = tracer.trace(averager)()
        try:
            fresh.send(1)
        except TypeError:
            pass
        kept.append(fresh)  # never started

        held = tracer.trace(stubborn)()
        next(held)
        try:
            held.close()
        except RuntimeError:
            pass
        next(held, None)

        odd = tracer.trace(odd_values)()
        list(odd)

        dropped = tracer.trace(fib)()
        next(dropped)
        del dropped  # collected without close()

        worker = tracer.trace(name="worker_gen")(inner)(1)
        thread = threading.Thread(target=lambda: list(worker), name="worker")
        thread.start()
        thread.join()

        tracer.wrap(x * x for x in range(2))
    finally:
        traced_inner = inner
    return kept
