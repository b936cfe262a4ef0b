"""Record the samples' traces with a fake clock, for the show/summary/timeline/chrome tests."""

from __future__ import annotations

import ast
import contextlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import support

import gentrace

ROOT = Path(__file__).resolve().parent.parent


def _own_yield(func: ast.FunctionDef) -> bool:
    todo: list[ast.AST] = list(func.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Yield, ast.YieldFrom)):
            return True
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            todo.extend(ast.iter_child_nodes(node))
    return False


def traced_code(path: Path) -> object:
    """The sample's code with its top-level generator functions decorated with ``__trace__``
    (independent of `gentrace run`'s instrumentation, which has its own tests)."""
    tree = ast.parse(path.read_text(), str(path))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and _own_yield(node):
            deco = ast.Name("__trace__", ast.Load(), lineno=node.lineno, col_offset=0)
            node.decorator_list.append(deco)
    return compile(ast.fix_missing_locations(tree), str(path), "exec")


def record_sample(name: str, out: Path) -> Path:
    """Run samples/NAME.py instrumented, its JSON Lines trace written to `out` with a fake clock."""
    path = ROOT / "samples" / f"{name}.py"
    code = traced_code(path)
    tracer = gentrace.Tracer(out=str(out), clock=support.FakeClock())
    namespace = {"__name__": "__main__", "__file__": str(path), "__trace__": tracer.trace}
    with contextlib.redirect_stdout(io.StringIO()), tracer:
        exec(code, namespace)  # type: ignore[arg-type]
        namespace.clear()  # collect what the sample left suspended, as at exit
    tracer.close()
    return out


def check_golden(name: str, text: str) -> None:
    """Compare `text` with tests/golden/show/NAME (rewritten under GENTRACE_REGEN=1)."""
    support.check_golden(f"show/{name}", text)


def trace_event(seq: int, **fields: Any) -> dict[str, Any]:
    """A JSON Lines event of a generator named g#1, as `gentrace run` writes it (fields override)."""
    data: dict[str, Any] = {
        "seq": seq,
        "gen": "g#1",
        "op": "next",
        "arg": None,
        "outcome": "yield",
        "value": "1",
        "state_before": "GEN_SUSPENDED",
        "state_after": "GEN_SUSPENDED",
        "depth": 0,
        "thread": "MainThread",
        "task": None,
        "func": "m:g",
        "time": seq / 1000,
        "duration": 0.0,
        "filename": "m.py",
        "lineno": 3,
    }
    data.update(fields)
    return data


# The keys of every JSON Lines event (arg_exc/value_exc come on top where an exception is).
EVENT_KEYS = {
    "seq",
    "gen",
    "kind",
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
}


# -- a coroutine and an async generator that await: the timelines' "awaiting" -------------------


class Tick:
    """What a sleep gives the event loop: the coroutine awaiting it is suspended until resumed."""

    def __await__(self) -> Iterator[str]:
        yield "tick"


@gentrace.trace
async def numbers(ticks: int = 1):  # type: ignore[no-untyped-def]
    for n in range(3):
        for _ in range(ticks):
            await Tick()  # awaiting, inside an anext()
        yield n  # suspended at a yield


@gentrace.trace
async def consume(ticks: int = 1):  # type: ignore[no-untyped-def]
    total = 0
    async for n in numbers(ticks):
        await Tick()
        total += n
    return total


def trace_awaits(path: Path, ticks: int = 1) -> Path:
    """`consume` run by a loop that waits 20 µs (of a fake clock) before each resumption; the
    async generator awaits `ticks` times inside each anext()."""
    clock = support.FakeClock()
    tracer = gentrace.Tracer(out=str(path), clock=clock)
    with tracer:
        coro = consume(ticks)
        while True:
            try:
                coro.send(None)
            except StopIteration:
                break
            clock.now += 20_000
    tracer.close()
    return path
