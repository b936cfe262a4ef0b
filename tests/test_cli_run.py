"""`gentrace run`: arguments with Click's CliRunner, behaviour in real subprocesses.

Argument handling is checked in-process with the program's start faked (nothing runs). Everything
else runs `gentrace` as installed (and `python -m gentrace`) on the samples and on small programs
written to `tmp_path`, and compares with what `python` does with the same program: its stdout, its
stderr, its exit code.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner
from trace_samples import EVENT_KEYS

from gentrace import Tracer, cli

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
GENTRACE = shutil.which("gentrace", path=sysconfig.get_path("scripts")) or shutil.which("gentrace")
LAUNCHERS = {"gentrace": [str(GENTRACE)], "python -m gentrace": [sys.executable, "-m", "gentrace"]}
TIMEOUT = 30  # seconds; a hung subprocess fails its test instead of the whole run
ANSI = "\x1b["
OWN_FRAMES = re.compile(r'File "[^"]*(gentrace|click|runpy)[^"]*"')


# -- running things -------------------------------------------------------------------------------


def environ(**changes: str) -> dict[str, str]:
    """The test process's environment without colour settings, UTF-8 on the standard streams."""
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "PYTHONWARNINGS")}
    env.update(PYTHONIOENCODING="utf-8", PYTHONDONTWRITEBYTECODE="1")
    env.update(changes)
    return env


def gentrace(
    *args: Any, cwd: Path = ROOT, env: dict[str, str] | None = None, launcher: str = "gentrace"
) -> subprocess.CompletedProcess[str]:
    """`gentrace run ARGS...` in a subprocess."""
    return subprocess.run(
        [*LAUNCHERS[launcher], "run", *map(str, args)],
        cwd=cwd,
        env=env or environ(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        encoding="utf-8",
        timeout=TIMEOUT,
    )


def python(
    *args: Any, cwd: Path = ROOT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`python ARGS...` in a subprocess: what gentrace run must look like."""
    return subprocess.run(
        [sys.executable, *map(str, args)],
        cwd=cwd,
        env=env or environ(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        encoding="utf-8",
        timeout=TIMEOUT,
    )


def write(root: Path, files: dict[str, str]) -> Path:
    """Write a tree of source files under `root`; returns `root`."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def read_jsonl(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The events and the notes of a JSON Lines trace; every line must parse."""
    events, notes = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        (notes if "note" in item else events).append(item)
    return events, notes


def steps(log: str) -> list[tuple[str, str, str]]:
    """(expression, result, annotation) of each step of a log with no nesting and no program output."""
    lines = log.splitlines()
    found = []
    for line, after in itertools.pairwise(lines):
        if line.startswith(">>> ") and "  # " not in line:
            result, _, annotation = after.partition("# ")
            found.append((line[4:], result.strip(), annotation))
    return found


def results(log: str, expression: str) -> list[str]:
    """The results of every step written as `expression`."""
    return [result for expr, result, _ in steps(log) if expr == expression]


def instances(log: str) -> set[str]:
    """The names of the functions whose generators the log shows being created."""
    return set(re.findall(r"^\s*>>> (\S+)#\d+ = ", log, re.MULTILINE))


def line_of(path: Path, text: str) -> int:
    """The number of the first line of `path` that contains `text`."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if text in line:
            return number
    raise AssertionError(f"{text!r} not in {path}")


def is_interleaving(whole: list[str], first: list[str], second: list[str]) -> bool:
    """Whether `whole` is `first` and `second` merged, each keeping its own order."""
    i = j = 0
    for line in whole:
        if i < len(first) and line == first[i]:
            i += 1
        elif j < len(second) and line == second[j]:
            j += 1
        else:
            return False
    return i == len(first) and j == len(second)


def test_gentrace_is_installed() -> None:
    assert GENTRACE is not None, "the gentrace console script is not installed: pip install -e '.[test]'"
    version = subprocess.run([GENTRACE, "--version"], capture_output=True, text=True, timeout=TIMEOUT)
    assert version.stdout.startswith("gentrace, version ")


# -- arguments (CliRunner, nothing runs) ----------------------------------------------------------


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """`run` up to the program's start, in-process: what it would run, with which argv and options."""
    calls: dict[str, Any] = {}

    def tracer(**options: Any) -> object:
        calls["tracer"] = options
        return object()

    monkeypatch.setattr(cli, "Tracer", tracer)
    monkeypatch.setattr(cli, "set_default", lambda tracer: None)
    monkeypatch.setattr(cli, "install", lambda finder: calls.update(finder=finder))
    monkeypatch.setattr(
        cli, "run_script", lambda code, path, argv: calls.update(script=path, argv=list(argv))
    )
    monkeypatch.setattr(cli, "run_module", lambda name, argv: calls.update(module=name, argv=list(argv)))
    monkeypatch.setattr(
        cli, "atexit", SimpleNamespace(register=lambda *args: None, unregister=lambda f: None)
    )
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.chdir(tmp_path)
    write(tmp_path, {"prog.py": "print('never run')\n", "gentrace_test_mod.py": "print('never run')\n"})
    terminate = signal.getsignal(signal.SIGTERM)
    yield calls
    signal.signal(signal.SIGTERM, terminate)


@pytest.mark.parametrize(
    ("args", "what", "argv"),
    [
        (["prog.py"], ("script", "prog.py"), []),
        (["prog.py", "--tick", "0.01"], ("script", "prog.py"), ["--tick", "0.01"]),
        (
            ["prog.py", "-q", "--out", "x.log", "--help"],
            ("script", "prog.py"),
            ["-q", "--out", "x.log", "--help"],
        ),
        (["prog.py", "--", "a"], ("script", "prog.py"), ["--", "a"]),
        (["--", "prog.py", "a"], ("script", "prog.py"), ["a"]),
        (["-q", "prog.py", "-m", "x"], ("script", "prog.py"), ["-m", "x"]),
        (["-m", "gentrace_test_mod"], ("module", "gentrace_test_mod"), []),
        (["-m", "gentrace_test_mod", "a", "-b"], ("module", "gentrace_test_mod"), ["a", "-b"]),
        (["-m", "gentrace_test_mod", "--color", "-q"], ("module", "gentrace_test_mod"), ["--color", "-q"]),
        (["-m", "gentrace_test_mod", "-o", "x.log"], ("module", "gentrace_test_mod"), ["-o", "x.log"]),
        (["-m", "gentrace_test_mod", "--", "a"], ("module", "gentrace_test_mod"), ["--", "a"]),
        (["-mgentrace_test_mod", "-q"], ("module", "gentrace_test_mod"), ["-q"]),
        (["-qm", "gentrace_test_mod", "-q"], ("module", "gentrace_test_mod"), ["-q"]),
        (["--only", "-m", "-m", "gentrace_test_mod", "x"], ("module", "gentrace_test_mod"), ["x"]),
    ],
)
def test_everything_after_the_script_or_module_belongs_to_the_program(
    runner: CliRunner, started: dict[str, Any], args: list[str], what: tuple[str, str], argv: list[str]
) -> None:
    result = runner.invoke(cli.main, ["run", *args])
    assert result.exit_code == 0, result.output
    kind, name = what
    assert started[kind] == name
    assert started["argv"] == argv


def test_options_reach_the_tracer(runner: CliRunner, started: dict[str, Any]) -> None:
    flags = ["--color", "--max-repr", "7", "--max-events", "3", "--locals", "--timings", "-q"]
    selections = ["-o", "a.jsonl", "--out", "b.log", "--only", "f*", "--include", "json*"]
    result = runner.invoke(cli.main, ["run", *flags, *selections, "prog.py"])
    assert result.exit_code == 0, result.output
    options = started["tracer"]
    assert options["out"] == ["a.jsonl", "b.log"]  # -q: no terminal
    assert options["color"] is True
    assert [options[name] for name in ("max_repr", "max_events", "locals", "timings")] == [7, 3, True, True]
    assert (started["finder"].only, started["finder"].include) == (["f*"], ["json*"])
    default = runner.invoke(cli.main, ["run", "prog.py"])
    assert default.exit_code == 0, default.output
    options = started["tracer"]
    assert [hasattr(out, "write") for out in options["out"]] == [True]  # stderr, and no file
    assert (options["color"], options["max_repr"], options["max_events"]) == (None, None, None)
    assert (options["locals"], options["timings"]) == (False, False)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "missing SCRIPT or -m MODULE"),
        (["--max-repr", "0", "prog.py"], "--max-repr"),
        (["--max-events", "-1", "prog.py"], "--max-events"),
        (["--max-events", "many", "prog.py"], "--max-events"),
        (["-m"], "-m"),
        (["--no-such-option-here"], "no-such-option-here"),
    ],
)
def test_usage_errors_exit_2_before_anything_runs(
    runner: CliRunner, started: dict[str, Any], args: list[str], message: str
) -> None:
    result = runner.invoke(cli.main, ["run", *args])
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert "script" not in started and "module" not in started


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.py"], "can't open file 'missing.py'"),
        (["-m", "gentrace_test_missing"], "no module named 'gentrace_test_missing'"),
        (["-m", "gentrace_test_missing.sub"], "gentrace_test_missing.sub"),
        (["-o", "no/such/dir/t.jsonl", "prog.py"], "no/such/dir/t.jsonl"),
    ],
)
def test_what_cannot_be_found_or_opened_is_one_line_and_exit_2(
    runner: CliRunner, started: dict[str, Any], monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    monkeypatch.setattr(cli, "Tracer", Tracer)  # the real one opens the files
    result = runner.invoke(cli.main, ["run", *args])
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: ")
    assert message in result.stderr
    assert "script" not in started and "module" not in started


def test_help_describes_every_option(runner: CliRunner) -> None:
    result = runner.invoke(cli.main, ["run", "--help"])
    assert result.exit_code == 0
    options = ["-m MODULE", "--out FILE", "--quiet", "--color / --no-color", "--only PATTERN"]
    options += ["--include GLOB", "--max-repr N", "--max-events N", "--locals", "--timings"]
    for option in options:
        assert option in result.output
    assert "[SCRIPT] [ARGS]..." in result.output


def test_version(runner: CliRunner) -> None:
    result = runner.invoke(cli.main, ["--version"])
    assert result.exit_code == 0
    assert re.fullmatch(r"gentrace, version \S+\n", result.output)


# -- the samples ----------------------------------------------------------------------------------


@pytest.mark.parametrize("sample", ["fib.py", "averager.py", "exception_demo.py"])
def test_each_sample_prints_what_it_prints_under_python(sample: str) -> None:
    plain = python(f"samples/{sample}")
    traced = gentrace(f"samples/{sample}")
    assert plain.returncode == traced.returncode == 0, traced.stderr
    assert traced.stdout == plain.stdout
    assert plain.stderr == ""
    assert traced.stderr.startswith(">>> ")


def test_event_loop_prints_what_it_prints_under_python() -> None:
    plain = python("samples/event_loop.py", "--tick", "0.01")
    traced = gentrace("samples/event_loop.py", "--tick", "0.01")
    assert plain.returncode == traced.returncode == 0, traced.stderr
    *statuses, elapsed = traced.stdout.splitlines()
    assert statuses == plain.stdout.splitlines()[:-1]
    assert elapsed.startswith("finished in ")


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_averager_log(launcher: str) -> None:
    log = gentrace("samples/averager.py", launcher=launcher).stderr
    created = line_of(SAMPLES / "averager.py", "def averager")
    assert log.startswith(f">>> averager#1 = averager()  # samples/averager.py:{created} · GEN_CREATED\n")
    assert results(log, "next(averager#1)") == ["None"]
    assert [results(log, f"averager#1.send({n})") for n in (10, 20, 6)] == [["10.0"], ["15.0"], ["12.0"]]
    [(_, closed, annotation)] = [step for step in steps(log) if step[0] == "averager#1.close()"]
    assert (closed, annotation) == ("", "GEN_SUSPENDED → GEN_CLOSED")
    assert [results(log, f"accumulate#1.send({n})") for n in (10, 20, 6, 14)] == [["None"]] * 4
    [(_, returned, annotation)] = [step for step in steps(log) if step[0] == "accumulate#1.send(None)"]
    assert returned == "StopIteration: {'count': 4, 'average': 12.5}"
    assert annotation.startswith("returned {'count': 4, 'average': 12.5} · GEN_SUSPENDED → GEN_CLOSED")
    assert "still suspended" not in log and "never started" not in log


def test_fib_log() -> None:
    log = gentrace("samples/fib.py").stderr
    assert results(log, "next(fib#1)") == ["1", "2", "3", "5", "8", "13"]
    assert results(log, "next(fib#2)") == ["1", "2", "3", "5", "8", "13", "21", "34", "55", "89", "144"]
    assert results(log, "next(squares#1)") == ["0", "1", "4", "9", "StopIteration"]
    assert "# fib#2 collected without close() · GEN_SUSPENDED → GEN_CLOSED\n" in log
    # fib#1 is left suspended on purpose, and said so last: nothing is recorded during shutdown.
    paused = line_of(SAMPLES / "fib.py", "yield a")
    assert log.endswith(f"# still suspended at exit: fib#1, paused at samples/fib.py:{paused}\n")


def test_exception_demo_log() -> None:
    log = gentrace("samples/exception_demo.py").stderr
    name = "demo_exc_handling#1"
    assert [(expr, result) for expr, result, _ in steps(log) if name in expr] == [
        (f"next({name})", "None"),
        (f"{name}.send(34)", "None"),
        (f"{name}.send(343444)", "None"),
        (f"{name}.throw(DemoException)", "None"),
        (f"{name}.send('hi')", "None"),
        (f"{name}.throw(ZeroDivisionError)", "ZeroDivisionError"),
    ]
    [handled] = [a for expr, _, a in steps(log) if expr == f"{name}.throw(DemoException)"]
    assert handled.startswith("GEN_SUSPENDED · line ")  # handled: still suspended
    [unhandled] = [a for expr, _, a in steps(log) if expr == f"{name}.throw(ZeroDivisionError)"]
    assert unhandled == "raised · GEN_SUSPENDED → GEN_CLOSED"
    [closed] = [a for expr, _, a in steps(log) if expr == "with_finally#1.close()"]
    assert closed == "GEN_SUSPENDED → GEN_CLOSED"


def test_event_loop_log() -> None:
    log = gentrace("samples/event_loop.py", "--tick", "0.01").stderr
    assert ">>> task_one#1 = task_one(0.01)" in log
    assert ">>> task_two#1 = task_two(0.01)" in log
    assert results(log, "task_one#1.send(None)")[-1] == "StopIteration: 'task 1: done after 8 ticks'"
    assert results(log, "task_two#1.send(True)") == ["'task 2: working, told that task 1 is done'"]
    assert results(log, "task_two#1.send(None)")[-1] == "StopIteration: 'task 2: done after 12 ticks'"
    assert "still suspended" not in log


def test_asyncio_loop_prints_what_it_prints_under_python() -> None:
    plain = python("samples/asyncio_loop.py", "--tick", "0.01")
    traced = gentrace("samples/asyncio_loop.py", "--tick", "0.01")
    assert plain.returncode == traced.returncode == 0, traced.stderr
    *statuses, elapsed = traced.stdout.splitlines()
    assert statuses == plain.stdout.splitlines()[:-1]
    assert elapsed.startswith("finished in ")
    log = traced.stderr
    assert results(log, "task_one#1.send(None)")[-1] == "StopIteration: 'task 1: done after 8 ticks'"
    assert results(log, "task_two#1.send(None)")[-1] == "StopIteration: 'task 2: done after 12 ticks'"
    assert "<sleep 0.01s>" in results(log, "task_one#1.send(None)")
    assert re.search(r"^>>> task_one#1\.send\(None\)\n<sleep 0\.01s> +# .* · task task 1$", log, re.M)


def test_async_pipeline_sample() -> None:
    plain = python("samples/async_pipeline.py", "--tick", "0.005")
    traced = gentrace("samples/async_pipeline.py", "--tick", "0.005")
    assert plain.returncode == traced.returncode == 0, traced.stderr
    assert traced.stdout == plain.stdout
    assert "consumer: total 73" in plain.stdout
    log = traced.stderr
    assert "    >>> scaled#1 = scaled(readings#1, 1)  # " in log
    assert "    >>> consume#1 = consume(scaled#1, 4, 0.005)  # " in log
    # Backpressure: the producer is asked for each reading from inside the consumer's request.
    lines = log.splitlines()
    asks = [i for i, line in enumerate(lines) if line.strip() == ">>> await anext(readings#1)"]
    assert len(asks) == 4
    assert [lines[i - 1].strip() for i in asks] == [
        ">>> await anext(scaled#1)",
        ">>> await anext(scaled#1)",
        ">>> await scaled#1.asend(10)",
        ">>> await anext(scaled#1)",
    ]
    assert ">>> await scaled#1.aclose()" in log
    assert ">>> await readings#1.aclose()" in log
    assert "<sleep 0.015s>" in log  # the consumer busy with an item
    # ... or waiting for the producer, down through both traced async generators
    assert re.search(r"^    \.\.\. consume#1\.send\(None\)\n    <sleep 0\.005s> ", log, re.M)
    assert re.search(r"^>>> consume#2\.throw\(CancelledError\(\)\)$", log, re.M)
    cancelled = "asyncio.exceptions.CancelledError"
    assert re.search(rf"^{cancelled} +# raised · CORO_SUSPENDED → CORO_CLOSED · task consumer 2$", log, re.M)


ASYNC_PROGRAM = """\
import asyncio
import inspect
import sys


async def fetch(n):
    await asyncio.sleep(0)
    return n * 2


async def ticks(n):
    for i in range(n):
        yield i


class Client:
    async def get(self, n):
        return await fetch(n)

    async def stream(self):
        async for i in ticks(2):
            yield i


async def main():
    client = Client()
    got = await client.get(3)
    streamed = [i async for i in client.stream()]
    print(got, streamed, [i async for i in ticks(2)])


for f in (fetch, ticks, Client.get, Client().get, Client.stream, Client().stream):
    print(
        f.__qualname__,
        inspect.iscoroutinefunction(f),
        inspect.isasyncgenfunction(f),
        (inspect if sys.version_info >= (3, 14) else asyncio).iscoroutinefunction(f),  # asyncio's: deprecated
    )
asyncio.run(main())
"""


def test_run_traces_async_functions_which_still_look_async(tmp_path: Path) -> None:
    write(tmp_path, {"aio.py": ASYNC_PROGRAM})
    plain = python("aio.py", cwd=tmp_path)
    traced = gentrace("aio.py", cwd=tmp_path)
    assert plain.returncode == traced.returncode == 0, traced.stderr
    assert traced.stdout == plain.stdout
    assert "fetch True False True" in plain.stdout and "ticks False True False" in plain.stdout
    log = traced.stderr
    assert instances(log) >= {"main", "fetch", "ticks", "Client.get", "Client.stream"}
    assert ">>> await anext(Client.stream#1)" in log
    assert re.search(r"^ +<sleep 0s> +# CORO_CREATED → CORO_SUSPENDED .* · task Task-1$", log, re.M)

    only = gentrace("--only", "ticks", "aio.py", cwd=tmp_path)
    assert only.stdout == plain.stdout
    assert instances(only.stderr) == {"ticks"}


# -- what is traced ---------------------------------------------------------------------------------

USER_PROGRAM = {
    "main.py": """\
import os

from helpers import countdown
from pkg.deep import letters


class Box:
    def items(self):
        yield 1
        yield 2

    @staticmethod
    def stat():
        yield "s"

    @classmethod
    def made_by(cls):
        yield cls.__name__


def outer():
    def nested():
        yield "n"

    yield from nested()


def makes_lambda():
    return lambda: (yield)  # a generator, but from a lambda, not a def


squares = (x * x for x in range(3))  # a generator expression is not a function
print(list(countdown(2)), list(letters()), list(Box().items()), list(Box.stat()), list(Box.made_by()))
print(list(outer()), list(makes_lambda()()), type(squares).__name__, list(squares))
print(sorted(n for _, _, names in os.walk(os.path.dirname(__file__)) for n in names if n.endswith(".py")))
""",
    "helpers.py": """\
def countdown(n):
    while n:
        yield n
        n -= 1
""",
    "pkg/__init__.py": "",
    "pkg/deep.py": """\
def letters():
    yield from "ab"
""",
}


def test_a_program_and_the_modules_of_its_tree_are_traced_and_nothing_else(tmp_path: Path) -> None:
    write(tmp_path, USER_PROGRAM)
    plain = python("main.py", cwd=tmp_path)
    traced = gentrace("-o", "t.jsonl", "main.py", cwd=tmp_path)
    assert traced.returncode == 0, traced.stderr
    assert traced.stdout == plain.stdout
    log = traced.stderr
    assert instances(log) == {
        "countdown",
        "letters",
        "Box.items",
        "Box.stat",
        "Box.made_by",
        "outer",
        "outer.nested",
    }
    assert ">>> countdown#1 = countdown(2)  # helpers.py:1 · GEN_CREATED\n" in log
    assert ">>> letters#1 = letters()  # pkg/deep.py:1 · GEN_CREATED\n" in log
    main = tmp_path / "main.py"
    assert f">>> Box.items#1 = Box.items()  # main.py:{line_of(main, 'def items')} · GEN_CREATED\n" in log
    nested = line_of(main, "def nested")
    assert (
        f"    >>> outer.nested#1 = outer.nested()  # main.py:{nested} · GEN_CREATED\n" in log
    )  # in next(outer#1)
    assert results(log, "next(letters#1)") == ["'a'", "'b'", "StopIteration"]
    for stranger in ("walk", "genexpr", "lambda", "<"):
        assert stranger not in log
    events, _ = read_jsonl(tmp_path / "t.jsonl")
    assert {e["func"] for e in events} == {
        "helpers:countdown",
        "pkg.deep:letters",
        "__main__:Box.items",
        "__main__:Box.stat",
        "__main__:Box.made_by",
        "__main__:outer",
        "__main__:outer.nested",
    }


THREADS = """\
import threading


def countdown(n):
    while n:
        yield n
        n -= 1


def worker():
    print("worker", list(countdown(2)))


def late():
    done.wait()
    print("late", list(countdown(1)))


done = threading.Event()
thread = threading.Thread(target=worker, name="worker-1")
thread.start()
thread.join()
threading.Thread(target=late, name="late-1").start()
print("main", list(countdown(1)))
done.set()  # the program's last line: late-1 runs on after it
"""


def test_generators_driven_in_other_threads_are_logged_with_the_thread(tmp_path: Path) -> None:
    write(tmp_path, {"threads.py": THREADS})
    traced = gentrace("-o", "t.jsonl", "threads.py", cwd=tmp_path)
    assert traced.returncode == 0, traced.stderr
    assert traced.stdout == python("threads.py", cwd=tmp_path).stdout
    by_instance: dict[str, set[str]] = {}
    instance = None
    for line in traced.stderr.splitlines():  # the threads take turns: no step overlaps another
        named = re.search(r">>> (countdown#\d)", line)
        instance = named[1] if named else instance
        if "  # " in line:  # a create line, or a step's result line
            thread = re.search(r" · thread (\S+)$", line)
            by_instance.setdefault(str(instance), set()).add(thread[1] if thread else "MainThread")
    assert by_instance == {
        "countdown#1": {"worker-1"},
        "countdown#2": {"MainThread"},
        "countdown#3": {"late-1"},
    }
    events, notes = read_jsonl(tmp_path / "t.jsonl")
    assert {(e["gen"], e["thread"]) for e in events} == {
        ("countdown#1", "worker-1"),
        ("countdown#2", "MainThread"),
        ("countdown#3", "late-1"),
    }
    assert notes[-1] == {"note": "end", "events": len(events)}  # closed after late-1 was done


# -- running like python ----------------------------------------------------------------------------

SHOW_MAIN = '''\
"""A program that shows how it was started."""
import builtins
import sys


def args():
    yield sys.argv[1:]


print("argv", sys.argv)
print("file", __file__)
print("path0", sys.path[0])
print("name", __name__, __package__, __spec__, __cached__, __doc__)
print("builtins", __builtins__ is builtins, type(__loader__).__name__)
print("args", list(args()))
'''


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_a_script_sees_argv_file_path_and_name_as_under_python(tmp_path: Path, launcher: str) -> None:
    write(tmp_path, {"sub/show.py": SHOW_MAIN})
    args = ["sub/show.py", "--tick", "0.01", "-q", "--out", "x.log", "--", "-m", "x"]
    plain = python(*args, cwd=tmp_path)
    traced = gentrace(*args, cwd=tmp_path, launcher=launcher)
    assert traced.returncode == 0, traced.stderr
    assert traced.stdout == plain.stdout
    assert "args [['--tick', '0.01', '-q', '--out', 'x.log', '--', '-m', 'x']]\n" in traced.stdout
    assert ">>> args#1 = args()" in traced.stderr  # the program's -q is not gentrace's
    assert not (tmp_path / "x.log").exists()


def test_a_symlinked_script_gets_the_real_directory_on_sys_path(tmp_path: Path) -> None:
    write(tmp_path, {"real/show.py": SHOW_MAIN, "real/helper.py": "def ones():\n    yield 1\n"})
    (tmp_path / "real/show.py").write_text(SHOW_MAIN + "import helper\nprint(list(helper.ones()))\n")
    (tmp_path / "link.py").symlink_to(tmp_path / "real/show.py")
    plain = python("link.py", "a", cwd=tmp_path)
    traced = gentrace("link.py", "a", cwd=tmp_path)
    assert plain.returncode == 0, plain.stderr
    assert traced.returncode == 0, traced.stderr
    assert traced.stdout == plain.stdout
    assert "ones#1" in traced.stderr  # the script's real tree is its tree


MODULES = {
    "app/__init__.py": """\
import os

if "GENTRACE_TEST_SIDE_EFFECT" in os.environ:
    open(os.environ["GENTRACE_TEST_SIDE_EFFECT"], "w").close()


def from_init():
    yield "init"
""",
    "app/__main__.py": """\
print("globals", sorted(name for name in globals() if not name.startswith("__")))
import sys

from app import from_init
from app.tool import from_tool


def from_main():
    yield "main"


print("argv", sys.argv)
print("name", __name__, __package__, __spec__.name, __file__)
print("path0", sys.path[0])
print(list(from_init()), list(from_tool()), list(from_main()))
""",
    "app/tool.py": """\
print("globals", sorted(name for name in globals() if not name.startswith("__")))
import sys

from app import from_init


def from_tool():
    yield "tool"


if __name__ == "__main__":
    print("argv", sys.argv)
    print("name", __name__, __package__, __spec__.name, __file__)
    print("path0", sys.path[0])
    print(list(from_init()), list(from_tool()))
""",
    "top.py": """\
print("globals", sorted(name for name in globals() if not name.startswith("__")))
import sys


def from_top():
    yield sys.argv[1:]


print("argv", sys.argv)
print("name", __name__, __package__, __spec__.name, __file__)
print("path0", sys.path[0])
print(list(from_top()))
""",
}


@pytest.mark.parametrize(
    ("args", "traced_functions"),
    [
        (["app", "--color", "-q", "-o", "x.log"], {"from_init", "from_tool", "from_main"}),
        (["app.tool", "y", "--", "z"], {"from_init", "from_tool"}),
        (["top", "--tick", "0.01"], {"from_top"}),
    ],
)
def test_a_module_runs_as_under_python_m(tmp_path: Path, args: list[str], traced_functions: set[str]) -> None:
    write(tmp_path, MODULES)
    plain = python("-m", *args, cwd=tmp_path)
    traced = gentrace("-m", *args, cwd=tmp_path)
    assert plain.returncode == 0, plain.stderr
    assert traced.returncode == 0, traced.stderr
    assert traced.stdout == plain.stdout
    assert instances(traced.stderr) == traced_functions
    assert not (tmp_path / "x.log").exists()


def test_python_m_gentrace_runs_a_module_as_under_python_m(tmp_path: Path) -> None:
    write(tmp_path, MODULES)
    traced = gentrace("-m", "top", "a", cwd=tmp_path, launcher="python -m gentrace")
    assert traced.returncode == 0, traced.stderr
    assert traced.stdout == python("-m", "top", "a", cwd=tmp_path).stdout
    assert instances(traced.stderr) == {"from_top"}


# -- options ----------------------------------------------------------------------------------------


def test_out_files_jsonl_and_text_several_at_once(tmp_path: Path) -> None:
    outs = [tmp_path / "t.jsonl", tmp_path / "t.log", tmp_path / "t.txt", tmp_path / "u.jsonl"]
    traced = gentrace(*[a for out in outs for a in ("-o", out)], "--color", "samples/averager.py")
    assert traced.returncode == 0, traced.stderr
    assert ANSI in traced.stderr  # --color is for the terminal only
    plain_log = gentrace("samples/averager.py").stderr
    for text in outs[1:3]:
        assert text.read_text(encoding="utf-8") == plain_log  # no colour codes in a file
    events, notes = read_jsonl(outs[0])
    assert outs[3].read_text(encoding="utf-8") == outs[0].read_text(encoding="utf-8")
    assert [e["seq"] for e in events] == list(range(1, 14))
    for event in events:
        assert set(event) >= EVENT_KEYS
        assert set(event) - EVENT_KEYS <= {"arg_exc", "value_exc"}
    assert notes == [{"note": "end", "events": 13}]
    expected = {
        "seq": 3,
        "gen": "averager#1",
        "op": "send",
        "arg": "10",
        "outcome": "yield",
        "value": "10.0",
        "state_before": "GEN_SUSPENDED",
        "state_after": "GEN_SUSPENDED",
        "depth": 0,
        "thread": "MainThread",
        "task": None,
        "func": "__main__:averager",
        "filename": str(SAMPLES / "averager.py"),
        "lineno": line_of(SAMPLES / "averager.py", "term = yield average"),
    }
    assert {key: events[2][key] for key in expected} == expected
    assert events[-1]["value"] == "{'count': 4, 'average': 12.5}" and events[-1]["outcome"] == "return"


def test_quiet_logs_only_to_the_out_files(tmp_path: Path) -> None:
    traced = gentrace("-q", "-o", tmp_path / "t.log", "samples/averager.py")
    assert traced.returncode == 0
    assert traced.stderr == ""
    assert traced.stdout == python("samples/averager.py").stdout
    assert "10.0 " in (tmp_path / "t.log").read_text(encoding="utf-8")


ONLY = """\
import types

from helpers import countdown


def outer():
    def nested():
        yield "n"

    yield from nested()


def other():
    yield "o"


class K:
    def meth(self):
        yield "m"


for name, make in [("outer", outer), ("other", other), ("K.meth", K().meth), ("countdown", countdown)]:
    gen = make(1) if make is countdown else make()
    print(name, type(gen) is types.GeneratorType, list(gen))
"""


@pytest.mark.parametrize(
    ("patterns", "traced_functions"),
    [
        (["outer.nested"], {"outer.nested"}),
        (["nested"], {"outer.nested"}),
        (["__main__:outer.nested"], {"outer.nested"}),
        (["K.meth", "other"], {"K.meth", "other"}),
        (["meth"], {"K.meth"}),
        (["o*"], {"outer", "outer.nested", "other"}),
        (["helpers:*"], {"countdown"}),
        (["__main__:*"], {"outer", "outer.nested", "other", "K.meth"}),
        (["no-such-function"], set()),
    ],
)
def test_only_traces_the_matching_functions_and_leaves_the_rest_alone(
    tmp_path: Path, patterns: list[str], traced_functions: set[str]
) -> None:
    write(tmp_path, {"only.py": ONLY, "helpers.py": USER_PROGRAM["helpers.py"]})
    traced = gentrace(*[a for p in patterns for a in ("--only", p)], "only.py", cwd=tmp_path)
    assert traced.returncode == 0, traced.stderr
    assert instances(traced.stderr) == traced_functions
    # An unmatched function is not even wrapped: its generators are plain ones.
    plain_generators = {line.split()[0] for line in traced.stdout.splitlines() if line.split()[1] == "True"}
    assert plain_generators == {"outer", "other", "K.meth", "countdown"} - traced_functions


def test_include_adds_modules_outside_the_tree(tmp_path: Path) -> None:
    write(
        tmp_path,
        {"diff.py": 'import difflib\nprint(list(difflib.unified_diff(["a"], ["b"], lineterm="")))\n'},
    )
    alone = gentrace("diff.py", cwd=tmp_path)
    included = gentrace("--include", "diff*", "diff.py", cwd=tmp_path)
    assert alone.returncode == included.returncode == 0, included.stderr
    assert alone.stdout == included.stdout == python("diff.py", cwd=tmp_path).stdout
    assert alone.stderr == ""  # the standard library is never traced by default
    assert ">>> unified_diff#1 = unified_diff(['a'], ['b'], lineterm='')" in included.stderr


def test_max_events_stops_recording_and_the_program_runs_on(tmp_path: Path) -> None:
    traced = gentrace(
        "--max-events", "3", "-o", tmp_path / "t.jsonl", "-o", tmp_path / "t.log", "samples/averager.py"
    )
    assert traced.returncode == 0, traced.stderr
    assert traced.stdout == python("samples/averager.py").stdout
    log = traced.stderr
    assert [expr for expr, _, _ in steps(log)] == ["next(averager#1)", "averager#1.send(10)"]
    assert log.endswith("# max-events: recording stopped after 3 events; the program ran on\n")
    assert (tmp_path / "t.log").read_text(encoding="utf-8") == log
    events, notes = read_jsonl(tmp_path / "t.jsonl")
    assert [e["seq"] for e in events] == [1, 2, 3]
    assert notes == [{"note": "max-events", "after_seq": 3}, {"note": "end", "events": 3}]


def test_max_events_zero_records_nothing(tmp_path: Path) -> None:
    traced = gentrace("-q", "--max-events", "0", "-o", tmp_path / "t.jsonl", "samples/fib.py")
    assert traced.returncode == 0, traced.stderr
    events, notes = read_jsonl(tmp_path / "t.jsonl")
    assert events == []
    assert notes == [{"note": "max-events", "after_seq": 0}, {"note": "end", "events": 0}]


def test_max_events_zero_still_reports_what_is_left_suspended() -> None:
    log = gentrace("--max-events", "0", "samples/fib.py").stderr
    paused = line_of(SAMPLES / "fib.py", "yield a")
    assert log == (
        f"# still suspended at exit: fib#1, paused at samples/fib.py:{paused}\n"
        "# max-events: recording stopped after 0 events; the program ran on\n"
    )


def test_locals_shows_the_paused_generators_variables(tmp_path: Path) -> None:
    traced = gentrace("--locals", "-o", tmp_path / "t.jsonl", "samples/averager.py")
    assert traced.returncode == 0, traced.stderr
    lines = traced.stderr.splitlines()
    after_send = lines[lines.index(">>> averager#1.send(10)") + 2]
    assert after_send == "# locals: total=10.0, count=1, average=10.0, term=10"
    events, _ = read_jsonl(tmp_path / "t.jsonl")
    assert events[2]["locals"] == {"total": "10.0", "count": "1", "average": "10.0", "term": "10"}
    assert "locals" not in gentrace("samples/averager.py").stderr


def test_timings_show_the_time_inside_each_resume() -> None:
    timed = steps(gentrace("--timings", "samples/averager.py").stderr)
    assert timed and all(re.search(r" · \d+\.\d µs$", annotation) for _, _, annotation in timed)
    assert not any("µs" in annotation for _, _, annotation in steps(gentrace("samples/averager.py").stderr))


def test_max_repr_cuts_long_values(tmp_path: Path) -> None:
    write(tmp_path, {"long.py": 'def long():\n    yield "x" * 200\n\n\nprint(len(next(long())))\n'})
    full = gentrace("long.py", cwd=tmp_path)
    cut = gentrace("--max-repr", "12", "long.py", cwd=tmp_path)
    assert full.stdout == cut.stdout == "200\n"
    assert results(full.stderr, "next(long#1)") == [repr("x" * 200)]  # a pipe is not a terminal: no cut
    [shown] = results(cut.stderr, "next(long#1)")
    assert len(shown) <= 12 and shown.startswith("'xxx")


# -- colour ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "env", "coloured"),
    [
        ([], {}, False),  # a pipe is not a terminal
        (["--color"], {}, True),
        (["--no-color"], {}, False),
        ([], {"FORCE_COLOR": "1"}, True),
        (["--no-color"], {"FORCE_COLOR": "1"}, False),
        ([], {"NO_COLOR": "1"}, False),
        (["--color"], {"NO_COLOR": "1"}, True),
    ],
)
def test_colour_rules_when_piped(flags: list[str], env: dict[str, str], coloured: bool) -> None:
    traced = gentrace(*flags, "samples/averager.py", env=environ(**env))
    assert traced.returncode == 0
    assert (ANSI in traced.stderr) is coloured
    assert ANSI not in traced.stdout


def on_terminal(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    """Run `args` with stderr on a pseudo-terminal: the exit code and what was written to it."""
    master, slave = os.openpty()
    try:
        proc = subprocess.Popen(
            args, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave
        )
    finally:
        os.close(slave)
    chunks = []
    try:
        while select.select([master], [], [], TIMEOUT)[0]:
            try:
                chunk = os.read(master, 1 << 16)
            except OSError:  # EIO: the program has closed its end
                break
            if not chunk:
                break
            chunks.append(chunk)
        else:
            proc.kill()
    finally:
        os.close(master)
    return proc.wait(timeout=TIMEOUT), b"".join(chunks).decode("utf-8")


@pytest.mark.parametrize(("env", "coloured"), [({}, True), ({"NO_COLOR": "1"}, False)])
def test_on_a_terminal_colour_is_the_default_and_reprs_are_cut(
    tmp_path: Path, env: dict[str, str], coloured: bool
) -> None:
    write(tmp_path, {"long.py": 'def long():\n    yield "x" * 200\n\n\nprint(len(next(long())))\n'})
    status, text = on_terminal([GENTRACE, "run", "long.py"], tmp_path, environ(COLUMNS="200", **env))
    assert status == 0
    assert (ANSI in text) is coloured
    assert "next(long#1)" in text
    assert "'" + "x" * 70 in text and "x" * 100 not in text  # cut to fit a terminal (comments at 80)


# -- order ------------------------------------------------------------------------------------------


def test_program_output_and_log_keep_their_true_order_in_one_file(tmp_path: Path) -> None:
    combined = tmp_path / "all.txt"
    with combined.open("w", encoding="utf-8") as both:
        status = subprocess.run(
            [GENTRACE, "run", "-o", tmp_path / "t.log", "samples/exception_demo.py"],
            cwd=ROOT,
            env=environ(),
            stdout=both,
            stderr=subprocess.STDOUT,
            timeout=TIMEOUT,
        ).returncode
    assert status == 0
    lines = combined.read_text(encoding="utf-8").splitlines()
    program = python("samples/exception_demo.py").stdout.splitlines()
    log = (tmp_path / "t.log").read_text(encoding="utf-8").splitlines()
    assert is_interleaving(lines, program, log)
    # What a generator prints during a step comes between the step's >>> line and its result.
    for step, printed in [
        (">>> next(demo_exc_handling#1)", "-> coroutine started"),
        (">>> demo_exc_handling#1.send(34)", "-> coroutine received: 34"),
        (">>> demo_exc_handling#1.throw(DemoException)", "*** DemoException handled. Continuing..."),
        (">>> demo_exc_handling#1.throw(ZeroDivisionError)", "-> coroutine ending"),
        (">>> with_finally#1.close()", "-> cleaning up"),
    ]:
        at = lines.index(step)
        assert lines[at + 1] == printed
        assert lines[at + 2].startswith(("None ", "ZeroDivisionError ", " " * 40 + "# "))
    # And what the caller prints after a step comes after its result.
    at = lines.index("with_finally gave 1")
    assert lines[at - 2] == ">>> next(with_finally#1)"
    assert lines[at - 1].startswith("1 ")


def test_quiet_output_in_one_file_is_the_programs_own(tmp_path: Path) -> None:
    combined = tmp_path / "all.txt"
    with combined.open("w", encoding="utf-8") as both:
        subprocess.run(
            [GENTRACE, "run", "-q", "samples/exception_demo.py"],
            cwd=ROOT,
            env=environ(),
            stdout=both,
            stderr=subprocess.STDOUT,
            timeout=TIMEOUT,
            check=True,
        )
    assert combined.read_text(encoding="utf-8") == python("samples/exception_demo.py").stdout


# -- errors -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_a_missing_script_is_one_line_and_exit_2(tmp_path: Path, launcher: str) -> None:
    traced = gentrace("-o", tmp_path / "t.jsonl", "no_such_script.py", "arg", cwd=tmp_path, launcher=launcher)
    assert traced.returncode == 2
    assert traced.stderr == "Error: can't open file 'no_such_script.py': No such file or directory\n"
    assert traced.stdout == ""
    assert not (tmp_path / "t.jsonl").exists()


@pytest.mark.parametrize(
    ("module", "named"),
    [
        ("no_such_module", "no_such_module"),
        ("app.no_such_module", "app.no_such_module"),
        ("plain.sub", "plain.sub"),  # plain is a module, not a package
        ("empty_package", "empty_package"),  # a package without __main__ cannot run
    ],
)
def test_a_missing_module_is_one_line_and_exit_2(tmp_path: Path, module: str, named: str) -> None:
    write(tmp_path, {**MODULES, "empty_package/__init__.py": "", "plain.py": ""})
    traced = gentrace("-m", module, cwd=tmp_path)
    assert traced.returncode == 2, traced.stderr
    assert traced.stderr.count("\n") == 1 and traced.stderr.startswith("Error: ")
    assert named in traced.stderr
    assert "Traceback" not in traced.stderr


@pytest.mark.parametrize("bad", ["missing_dir/t.jsonl", "missing_dir/t.log", "."])
@pytest.mark.parametrize("program", [["prog.py"], ["-m", "app.tool"]])
def test_an_out_file_that_cannot_be_opened_stops_everything_before_the_program_starts(
    tmp_path: Path, bad: str, program: list[str]
) -> None:
    side_effect = tmp_path / "side-effect"
    prog = f"open({str(side_effect)!r}, 'w').close()\n"
    write(tmp_path, {**MODULES, "prog.py": prog})
    traced = gentrace(
        "-o",
        "t.jsonl",
        "-o",
        bad,
        *program,
        cwd=tmp_path,
        env=environ(GENTRACE_TEST_SIDE_EFFECT=str(side_effect)),
    )
    assert traced.returncode == 2
    assert traced.stderr.count("\n") == 1 and traced.stderr.startswith("Error: ")
    assert repr(bad) in traced.stderr
    assert not side_effect.exists()


def test_a_syntax_error_is_reported_as_python_reports_it(tmp_path: Path) -> None:
    write(tmp_path, {"bad.py": "def gen(:\n    yield\n"})
    plain = python("bad.py", cwd=tmp_path)
    traced = gentrace("bad.py", cwd=tmp_path)
    assert plain.returncode == traced.returncode == 1
    assert traced.stderr == plain.stderr
    assert "SyntaxError" in traced.stderr


def test_a_syntax_error_in_an_imported_module_is_reported_as_python_reports_it(tmp_path: Path) -> None:
    write(tmp_path, {"main.py": "print('start')\nimport bad\n", "bad.py": "def gen(:\n    yield\n"})
    plain = python("main.py", cwd=tmp_path)
    traced = gentrace("main.py", cwd=tmp_path)
    assert plain.returncode == traced.returncode == 1
    assert traced.stdout == plain.stdout
    assert traced.stderr == plain.stderr


CRASH = {
    "main.py": """\
from crashing import gen


def main():
    g = gen()
    print(next(g))
    next(g)


main()
""",
    "crashing.py": """\
def gen():
    try:
        yield 1
        {}["key"]
    except KeyError as exc:
        raise ValueError("boom") from exc
""",
}


def test_an_uncaught_exception_shows_pythons_traceback_and_exits_1(tmp_path: Path) -> None:
    write(tmp_path, CRASH)
    plain = python("main.py", cwd=tmp_path)
    quiet = gentrace("-q", "main.py", cwd=tmp_path)
    assert plain.returncode == quiet.returncode == 1
    assert quiet.stdout == plain.stdout
    assert quiet.stderr == plain.stderr  # no frame of gentrace, click or runpy
    assert "The above exception was the direct cause" in plain.stderr
    logged = gentrace("main.py", cwd=tmp_path)
    assert logged.returncode == 1
    assert logged.stderr.endswith(plain.stderr)
    assert results(logged.stderr, "next(gen#1)") == ["1", "ValueError: boom"]


def test_every_event_up_to_a_crash_is_in_the_log_files(tmp_path: Path) -> None:
    write(tmp_path, CRASH)
    traced = gentrace("-q", "-o", "t.jsonl", "-o", "t.log", "main.py", cwd=tmp_path)
    assert traced.returncode == 1
    events, notes = read_jsonl(tmp_path / "t.jsonl")
    assert [(e["op"], e["outcome"]) for e in events] == [
        ("create", "created"),
        ("next", "yield"),
        ("next", "raise"),
    ]
    assert events[-1]["value_exc"] == {"type": "builtins.ValueError", "message": "boom"}
    assert notes == [{"note": "end", "events": 3}]
    text = (tmp_path / "t.log").read_text(encoding="utf-8")
    assert text.endswith("ValueError: boom                        # raised · GEN_SUSPENDED → GEN_CLOSED\n")


def test_an_uncaught_exception_in_a_module_run_with_m_has_no_gentrace_frames(tmp_path: Path) -> None:
    write(tmp_path, {**CRASH, "main.py": CRASH["main.py"].replace("main()\n", "main()  # run\n")})
    traced = gentrace("-m", "main", cwd=tmp_path)
    assert traced.returncode == 1
    assert traced.stderr.endswith("ValueError: boom\n")
    assert 'main.py", line 10, in <module>' in traced.stderr
    assert not OWN_FRAMES.search(traced.stderr)


def test_an_exception_in_a_package_run_with_m_is_the_programs(tmp_path: Path) -> None:
    write(tmp_path, {"broken/__init__.py": "raise RuntimeError('broken package')\n", "broken/mod.py": ""})
    traced = gentrace("-m", "broken.mod", cwd=tmp_path)
    plain = python("-m", "broken.mod", cwd=tmp_path)
    assert traced.returncode == plain.returncode == 1
    assert traced.stderr.startswith("Traceback (most recent call last):\n")
    # From the program's own frame on, as python shows it (which shows runpy's frames before it)
    assert traced.stderr.endswith(plain.stderr[plain.stderr.index('  File "' + str(tmp_path)) :])
    assert not re.search(r'File "[^"]*(gentrace|click)', traced.stderr)


EXITS = """\
import sys


def stopper(code):
    yield "ready"
    sys.exit(code)


print("before")
code = int(sys.argv[1]) if sys.argv[1].isdigit() else sys.argv[1]
g = stopper(code)
next(g)
next(g)
"""


@pytest.mark.parametrize(("arg", "status", "stderr"), [("3", 3, ""), ("0", 0, ""), ("msg", 1, "msg\n")])
def test_sys_exit_is_the_programs_exit(tmp_path: Path, arg: str, status: int, stderr: str) -> None:
    write(tmp_path, {"exits.py": EXITS})
    plain = python("exits.py", arg, cwd=tmp_path)
    traced = gentrace("exits.py", arg, cwd=tmp_path)
    assert plain.returncode == traced.returncode == status
    assert plain.stderr == stderr
    assert traced.stdout == plain.stdout == "before\n"
    assert traced.stderr.endswith(stderr)
    assert results(traced.stderr, "next(stopper#1)")[-1] == f"SystemExit: {arg}"
    assert "Traceback" not in traced.stderr


# -- signals ----------------------------------------------------------------------------------------

BLOCKING = """\
import sys
import time
from pathlib import Path


def steps(n, marker):
    for i in range(n):
        yield i
    Path(marker).write_text("blocked")
    time.sleep(60)  # the test signals us here, inside a step
    yield "never"


n = int(sys.argv[1])
g = steps(n, sys.argv[2])
for _ in range(n + 1):
    next(g)
"""


def start_blocked(tmp_path: Path, count: int, *options: Any) -> subprocess.Popen[str]:
    """`gentrace run` on a program that blocks inside a generator step after `count` steps."""
    write(tmp_path, {"blocking.py": BLOCKING})
    marker = tmp_path / "blocked"
    proc = subprocess.Popen(
        [GENTRACE, "run", *map(str, options), "blocking.py", str(count), str(marker)],
        cwd=tmp_path,
        env=environ(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        encoding="utf-8",
    )
    deadline = time.monotonic() + TIMEOUT
    while not marker.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the program did not reach its blocking step: {proc.communicate()[1]}")
        time.sleep(0.01)
    return proc


def test_ctrl_c_flushes_the_logs_and_dies_by_sigint_as_python_does(tmp_path: Path) -> None:
    proc = start_blocked(tmp_path, 50, "-q", "-o", "t.jsonl", "-o", "t.log")
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == -signal.SIGINT, stderr  # python, after an uncaught KeyboardInterrupt, too
    assert stderr.startswith("Traceback (most recent call last):\n"), stderr
    assert stderr.endswith("\nKeyboardInterrupt\n"), stderr
    assert not OWN_FRAMES.search(stderr)
    events, notes = read_jsonl(tmp_path / "t.jsonl")
    assert len(events) == 1 + 50 + 1
    assert events[-1]["value_exc"] == {"type": "builtins.KeyboardInterrupt", "message": None}
    assert notes == [{"note": "end", "events": 52}]
    text = (tmp_path / "t.log").read_text(encoding="utf-8")
    assert text.endswith("KeyboardInterrupt                       # raised · GEN_SUSPENDED → GEN_CLOSED\n")


def test_sigterm_flushes_the_logs_and_kills_as_under_python(tmp_path: Path) -> None:
    proc = start_blocked(tmp_path, 50, "-q", "-o", "t.jsonl", "-o", "t.log")
    proc.terminate()
    proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == -signal.SIGTERM  # killed by it (more in test_signals.py)
    events, notes = read_jsonl(tmp_path / "t.jsonl")
    assert len(events) == 51  # the step it came in never ended
    assert notes == [{"note": "end", "events": 52}]
    assert results((tmp_path / "t.log").read_text(encoding="utf-8"), "next(steps#1)")[49] == "49"


def test_after_kill_9_the_jsonl_file_is_valid_but_for_a_cut_last_line(tmp_path: Path) -> None:
    proc = start_blocked(tmp_path, 5000, "-q", "-o", "t.jsonl")  # far more than one buffer's worth
    proc.kill()
    proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == -signal.SIGKILL
    *lines, _cut = (tmp_path / "t.jsonl").read_text(encoding="utf-8").split("\n")  # "" if not cut
    assert len(lines) > 100
    events = [json.loads(line) for line in lines]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert "note" not in events[-1]  # no end note: it was killed


# -- options that select nothing say so -----------------------------------------------------------

SELECTING = {
    "app.py": """\
import sys

import helper


def numbers():
    yield 1
    yield 2


async def later():
    return 3


def plain():
    return 4


paused = numbers()
next(paused)  # left suspended: the log closes with a line about it
print(list(numbers()), list(helper.letters()))
sys.exit(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
""",
    "helper.py": "def letters():\n    yield 'a'\n",
}


def warnings_of(stderr: str) -> list[str]:
    """gentrace's warnings at the end of a run: they must come last, after the log."""
    lines = stderr.splitlines()
    found = [line for line in lines if line.startswith("gentrace: ")]
    assert lines[len(lines) - len(found) :] == found, stderr
    return found


def only_warning(pattern: str, modules: int) -> str:
    return (
        f"gentrace: --only {pattern!r} matched no generator function or async def in the {modules} "
        "modules instrumented"
    )


@pytest.mark.parametrize(
    ("patterns", "unmatched"),
    [
        (["numbers"], []),
        (["letters"], []),  # in a module the script imports
        (["later"], []),  # an async def
        (["helper:*"], []),
        (["nosuchfunc"], ["nosuchfunc"]),
        (["plain"], ["plain"]),  # a function, but not a generator function
        (["numbers", "nope*", "later", "app:*"], ["nope*", "app:*"]),  # the script is __main__
    ],
)
def test_an_only_pattern_that_selects_no_generator_function_says_so_at_exit(
    tmp_path: Path, patterns: list[str], unmatched: list[str]
) -> None:
    write(tmp_path, SELECTING)
    traced = gentrace(*[a for p in patterns for a in ("--only", p)], "app.py", cwd=tmp_path)
    untraced = python("app.py", cwd=tmp_path)
    assert (traced.returncode, traced.stdout) == (untraced.returncode, untraced.stdout)
    assert warnings_of(traced.stderr) == [only_warning(pattern, 2) for pattern in unmatched]


def test_the_warnings_come_after_the_logs_closing_lines_and_keep_the_exit_status(tmp_path: Path) -> None:
    write(tmp_path, SELECTING)
    traced = gentrace("--only", "numbers", "--only", "nosuchfunc", "--summary", "app.py", "3", cwd=tmp_path)
    assert traced.returncode == 3
    lines = traced.stderr.splitlines()
    assert lines[-1] == only_warning("nosuchfunc", 2)
    assert "# still suspended at exit: numbers#1, paused at app.py:7" in lines
    assert any(line.startswith("# anomalies") for line in lines[:-1])  # --summary comes before too


def test_an_only_pattern_is_looked_for_in_the_modules_instrumented_and_no_others(tmp_path: Path) -> None:
    write(tmp_path / "lib", {"helper.py": SELECTING["helper.py"]})
    write(tmp_path / "work", {"pkg/__init__.py": "", "pkg/__main__.py": SELECTING["app.py"]})
    path = os.pathsep.join([str(tmp_path / "lib"), *filter(None, [os.environ.get("PYTHONPATH")])])
    env, cwd = environ(PYTHONPATH=path), tmp_path / "work"
    outside = gentrace("--only", "letters", "-m", "pkg", cwd=cwd, env=env)
    assert outside.returncode == 0, outside.stderr
    assert warnings_of(outside.stderr) == [only_warning("letters", 2)]  # helper is outside the tree
    included = gentrace("--only", "letters", "--include", "helper", "-m", "pkg", cwd=cwd, env=env)
    assert included.returncode == 0, included.stderr
    assert instances(included.stderr) == {"letters"}
    assert warnings_of(included.stderr) == []


@pytest.mark.parametrize(
    ("globs", "warnings"),
    [
        (["diff*"], []),
        (["difflib", "nosuch*"], ["--include 'nosuch*' matched no module the program imported from source"]),
        (
            ["diff*", "csv"],
            ["--include 'csv' matched no module the program imported from source"],
        ),  # never imported
        (["ast", "difflib"], ["--include 'ast' matched ast, imported before tracing started: not traced"]),
        (
            ["tok*", "diff*"],
            ["--include 'tok*' matched token, tokenize, imported before tracing started: not traced"],
        ),
    ],
)
def test_an_include_glob_that_instruments_no_module_says_so_at_exit(
    tmp_path: Path, globs: list[str], warnings: list[str]
) -> None:
    write(
        tmp_path,
        {"diff.py": 'import difflib, json\nprint(list(difflib.unified_diff(["a"], ["b"], lineterm="")))\n'},
    )
    traced = gentrace(*[a for g in globs for a in ("--include", g)], "diff.py", cwd=tmp_path)
    assert traced.returncode == 0, traced.stderr
    assert traced.stdout == python("diff.py", cwd=tmp_path).stdout
    assert ">>> unified_diff#1 = unified_diff(['a'], ['b'], lineterm='')" in traced.stderr
    assert warnings_of(traced.stderr) == [f"gentrace: {warning}" for warning in warnings]


def test_a_long_list_of_modules_imported_before_tracing_is_cut(tmp_path: Path) -> None:
    write(tmp_path, {"hello.py": "print('hello')\n"})
    traced = gentrace("-q", "--include", "*", "hello.py", cwd=tmp_path)
    assert (traced.returncode, traced.stdout) == (0, "hello\n")
    [warning] = warnings_of(traced.stderr)
    match = re.fullmatch(
        r"gentrace: --include '\*' matched (.*) and (\d+) more, imported before tracing started: not traced",
        warning,
    )
    assert match is not None, warning
    named, more = match.groups()
    assert len(named.split(", ")) == 5 and int(more) > 10


def test_nothing_is_said_of_what_was_selected_when_the_module_cannot_be_run(tmp_path: Path) -> None:
    write(tmp_path, {"pkg/__init__.py": ""})
    proc = gentrace("--only", "nosuchfunc", "--include", "nosuch", "-m", "pkg.missing", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr == "Error: No module named pkg.missing\n"


# -- start-up ------------------------------------------------------------------------------------


def test_importing_gentrace_and_its_cli_does_not_import_importlib_metadata() -> None:
    # Only --version needs the distribution's version, and importlib.metadata is slow to import.
    code = "import sys, gentrace, gentrace.cli; print('importlib.metadata' in sys.modules)"
    assert python("-c", code).stdout == "False\n"
    code = "import sys, gentrace; gentrace.__version__; print('importlib.metadata' in sys.modules)"
    assert python("-c", code).stdout == "True\n"  # the check above would see it


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_version_is_the_installed_distributions(launcher: str) -> None:
    import importlib.metadata

    proc = subprocess.run(
        [*LAUNCHERS[launcher], "--version"], capture_output=True, text=True, timeout=TIMEOUT
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (
        0,
        f"gentrace, version {importlib.metadata.version('gentrace')}\n",
        "",
    )


# -- the import hook under an event loop's blocking-call detector ----------------------------------

# As anyio's suite runs: while a loop runs, a call that touches the filesystem from anything but the
# import system raises. A coroutine imports modules of the standard library lazily (the idna codec
# among them): python calls none of these functions for those imports, nor must gentrace.
BLOCKING_DETECTOR = """\
import asyncio
import codecs
import os
import sys


def detector(module, name):
    real = getattr(module, name)

    def check(*args, **kwargs):
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return real(*args, **kwargs)
        raise RuntimeError(f"Blocking call to {module.__name__}.{name}")

    setattr(module, name, check)


for module, name in [(os, "stat"), (os, "lstat"), (os, "listdir"), (os, "scandir"), (os.path, "abspath"),
                     (os.path, "realpath"), (os.path, "exists"), (os.path, "isdir"), (os.path, "isfile")]:
    detector(module, name)


async def main():
    encoder = codecs.getincrementalencoder("idna")()  # imports encodings.idna
    import colorsys  # the standard library, not imported yet

    return encoder.encode("bücher.example", final=True), colorsys.rgb_to_hsv(1, 0, 0)


print(asyncio.run(main()))
print("encodings.idna" in sys.modules)
"""


def test_an_import_the_hook_leaves_alone_touches_no_file_under_a_blocking_call_detector(
    tmp_path: Path,
) -> None:
    write(tmp_path, {"prog.py": BLOCKING_DETECTOR})
    plain = python("prog.py", cwd=tmp_path)
    traced = gentrace("-q", "prog.py", cwd=tmp_path)
    assert plain.returncode == 0, plain.stderr
    assert (traced.returncode, traced.stdout, traced.stderr) == (0, plain.stdout, "")
    assert plain.stdout == "(b'xn--bcher-kva.example', (0.0, 1.0, 1))\nTrue\n"


# -- gentrace run -m pytest --------------------------------------------------------------------------

PYTEST_PROJECT = {
    "pytest.ini": "[pytest]\nfilterwarnings = error\n",
    "app.py": "def numbers(n):\n    yield from range(n)\n",
    "tests/test_app.py": """\
import app


def test_numbers():
    assert list(app.numbers(3)) == [0, 1, 2]


def test_inner_run(pytester):
    pytester.makepyfile("def test_x():\\n    assert 1\\n")
    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=1, warnings=0)
""",
    "conftest.py": 'pytest_plugins = ["pytester"]\n',
}


def test_run_m_pytest_passes_as_python_m_pytest_does_under_filterwarnings_error(tmp_path: Path) -> None:
    # gentrace (imported before pytest's assertion rewriter, as a pytest plugin marked for rewriting)
    # is found on the path as an installed copy is: pytest looks for it there.
    write(tmp_path, PYTEST_PROJECT)
    env = environ(PYTHONPATH=str(ROOT))
    args = ["-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", "-p", "no:xdist"]
    plain = python(*args, cwd=tmp_path, env=env)
    traced = gentrace("-o", "t.jsonl", *args, cwd=tmp_path, env=env)
    took = re.compile(r" in [\d.]+s")
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert traced.returncode == 0, traced.stdout + traced.stderr
    assert took.sub("", traced.stdout) == took.sub("", plain.stdout)
    # The program's tree is the current directory's project, not pytest's folder: app is traced (its
    # log on stderr is pytest's to capture, as all a test writes there).
    events, _ = read_jsonl(tmp_path / "t.jsonl")
    assert {event["func"] for event in events} == {"app:numbers"}
