"""Drive traced generators through random operations and print everything gentrace recorded.

Run by tests/test_compiled.py once on each path (``GENTRACE_PURE_PYTHON=1`` or not): the two
outputs must be identical. The clock is fake, so times are part of what is compared. Usage:
``python differential_worker.py SEED COUNT DIR`` (DIR receives each scenario's .log and .jsonl).
"""

from __future__ import annotations

import io
import random
import sys
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from support import FakeClock

import gentrace
from gentrace.sinks import JsonlSink


class Boom(Exception):
    pass


def plain(n: int) -> Generator[Any, Any, Any]:
    yield from range(n)
    return "done"


def echo(n: int) -> Generator[Any, Any, Any]:
    received = None
    for _ in range(n):
        received = yield [received, "x"]
    return received


def catcher(n: int) -> Generator[Any, Any, Any]:
    for i in range(n):
        try:
            yield i
        except Boom as exc:
            yield ("caught", exc.args)
        except KeyboardInterrupt:
            return "interrupted"


def stubborn(n: int) -> Generator[Any, Any, Any]:
    for i in range(n):
        try:
            yield i
        except GeneratorExit:
            yield "ignored GeneratorExit"


def returns_on_close(n: int) -> Generator[Any, Any, Any]:
    try:
        yield from range(n)
    except GeneratorExit:
        return "closed value"


def raiser(n: int) -> Generator[Any, Any, Any]:
    yield from range(n)
    raise Boom("at the end", n)


def stop_value(n: int) -> Generator[Any, Any, Any]:
    yield n
    return (1, 2)  # a tuple: StopIteration wraps it


SHAPES: list[Callable[[int], Generator[Any, Any, Any]]] = [
    plain,
    echo,
    catcher,
    stubborn,
    returns_on_close,
    raiser,
    stop_value,
]


def delegating(tracer: gentrace.Tracer, inner: Generator[Any, Any, Any]) -> Generator[Any, Any, Any]:
    result = yield from inner
    yield ("delegate got", result)
    return result


def throwable(rng: random.Random) -> Any:
    return rng.choice(
        [Boom("thrown"), Boom, KeyboardInterrupt(), GeneratorExit(), StopIteration("s"), ValueError(1)]
    )


def operate(rng: random.Random, gen: Any) -> Any:
    op = rng.choice(["next", "next", "send", "send", "throw", "close", "for", "throw3"])
    try:
        if op == "next":
            return ("next", next(gen))
        if op == "send":
            return ("send", gen.send(rng.choice([None, 0, -5, 2**70, "s", 1.5, [1, 2], (3,)])))
        if op == "throw":
            return ("throw", gen.throw(throwable(rng)))
        if op == "throw3":
            return ("throw3", gen.throw(Boom, Boom("three"), None))
        if op == "close":
            return ("close", gen.close())
        return ("for", [x for _, x in zip(range(3), gen, strict=False)])
    except BaseException as exc:  # every outcome is part of what is compared
        return (op, "raised", type(exc).__name__, repr(exc.args))


def comparable(field: Any) -> Any:
    # Exceptions by type and args; an info tuple's code object by its name (not its address).
    if isinstance(field, BaseException):
        return (type(field).__name__, field.args)
    if isinstance(field, tuple) and len(field) == 4 and hasattr(field[2], "co_name"):
        return (*field[:2], field[2].co_name, field[3])
    return field


def scenario(seed: int, directory: Path) -> list[str]:
    rng = random.Random(seed)
    text = io.StringIO()
    jsonl = directory / f"{seed}.jsonl"
    with gentrace.Tracer(clock=FakeClock(), out=text) as tracer:
        stream = open(jsonl, "w", encoding="utf-8")  # noqa: SIM115 (the sink closes it)
        tracer.add_sink(JsonlSink(stream, origin_ns=tracer._recorder.origin))
        shape = rng.choice(SHAPES)
        gen = tracer.trace(shape)(rng.randint(0, 4))
        if rng.random() < 0.3:
            gen = tracer.wrap(delegating(tracer, gen))
        outcomes = [repr(operate(rng, gen)) for _ in range(rng.randint(1, 6))]
        records = [repr(tuple(map(comparable, record))) for record in tracer._recorder.records()]
        del gen
    (directory / f"{seed}.log").write_text(text.getvalue())
    return [*outcomes, *records]


def main(scenario: Callable[[int, Path], list[str]]) -> None:
    """Print the scenarios SEED to SEED + COUNT (from the command line), writing their files to DIR."""
    seed, count, directory = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    directory.mkdir(parents=True, exist_ok=True)
    for n in range(seed, seed + count):
        print(f"-- scenario {n}")
        for line in scenario(n, directory):
            print(line)


if __name__ == "__main__":
    main(scenario)
