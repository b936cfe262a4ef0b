"""Each output: the text log to files and streams, JSON Lines, a logger; colour; repr limits."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

import gentrace

ESC = "\x1b"


class FakeTerminal(io.StringIO):
    """A stream that says it is a terminal, and counts its flushes."""

    def __init__(self) -> None:
        super().__init__()
        self.flushes = 0

    def isatty(self) -> bool:
        return True

    def flush(self) -> None:
        self.flushes += 1
        super().flush()


def averager() -> Generator[float | None, float, None]:
    total = 0.0
    count = 0
    average = None
    while True:
        term = yield average
        total += term
        count += 1
        average = total / count


YIELD_LINE = averager.__code__.co_firstlineno + 5  # term = yield average


def echo(values: list[Any]) -> Generator[Any, Any, None]:
    for value in values:
        _ = yield value


@pytest.fixture(autouse=True)
def no_colour_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)


def run_averager(tracer: gentrace.Tracer) -> Any:
    a = tracer.trace(averager)()
    next(a)
    a.send(10)
    a.send(20)
    return a


# -- the text log ---------------------------------------------------------------------------------


def test_text_log_to_a_file(tmp_path: Path, clock: Any) -> None:
    path = tmp_path / "run.log"
    t = gentrace.Tracer(out=str(path), clock=clock)
    a = run_averager(t)
    a.close()
    t.close()
    assert path.read_text(encoding="utf-8").splitlines()[1:] == [
        ">>> next(averager#1)",
        "None                                    # GEN_CREATED → GEN_SUSPENDED · "
        f"paused at line {YIELD_LINE}: term = yield average",
        ">>> averager#1.send(10)",
        f"10.0                                    # GEN_SUSPENDED · line {YIELD_LINE}: term = yield average",
        ">>> averager#1.send(20)",
        f"15.0                                    # GEN_SUSPENDED · line {YIELD_LINE}: term = yield average",
        ">>> averager#1.close()",
        "                                        # GEN_SUSPENDED → GEN_CLOSED",
    ]


def test_text_files_never_get_colour(tmp_path: Path, clock: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    path = tmp_path / "run.log"
    t = gentrace.Tracer(out=path, color=True, clock=clock)
    run_averager(t)
    t.close()
    text = path.read_text(encoding="utf-8")
    assert ">>> next(averager#1)" in text
    assert ESC not in text


def test_files_are_complete_once_closed(tmp_path: Path, clock: Any) -> None:
    t = gentrace.Tracer(out=[tmp_path / "run.log", tmp_path / "run.jsonl"], clock=clock)
    list(t.trace(echo)(list(range(500))))
    t.close()
    assert (tmp_path / "run.log").read_text().count(">>> ") == 502
    lines = (tmp_path / "run.jsonl").read_text().splitlines()
    assert [json.loads(line).get("seq") for line in lines] == [*range(1, 503), None]


def test_files_are_flushed_at_exit_after_an_uncaught_exception(tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    script.write_text(
        textwrap.dedent(
            """
            import gentrace
            t = gentrace.Tracer(out=["run.log", "run.jsonl"])

            @t.trace
            def numbers():
                yield 1
                yield 2

            g = numbers()
            next(g)
            raise SystemExit("the program dies with g suspended and the tracer open")
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert done.returncode == 1
    assert done.stderr == "the program dies with g suspended and the tracer open\n"
    log = (tmp_path / "run.log").read_text().splitlines()
    assert log[1] == ">>> next(numbers#1)"
    assert log[-1] == "# still suspended at exit: numbers#1, paused at script.py:7"
    jsonl = [json.loads(line) for line in (tmp_path / "run.jsonl").read_text().splitlines()]
    assert [line.get("op") for line in jsonl] == ["create", "next", None]
    assert jsonl[-1] == {"note": "end", "events": 2}


def test_text_log_interleaves_with_what_the_generator_prints(clock: Any) -> None:
    stream = io.StringIO()
    t = gentrace.Tracer(out=stream, clock=clock)

    @t.trace(name="inner")
    def inner() -> Generator[int, None, str]:
        stream.write("inner runs\n")
        yield 1
        return "r"

    @t.trace(name="outer")
    def outer() -> Generator[int, None, None]:
        stream.write("outer runs\n")
        yield from inner()

    list(outer())
    here = "test_text_log_interleaves_with_what_the_generator_prints"  # the call as written
    lines = [line.split("  #")[0].rstrip() for line in stream.getvalue().splitlines()]
    assert lines == [
        f">>> outer#1 = {here}.outer()",
        ">>> next(outer#1)",
        "outer runs",
        f"    >>> inner#1 = {here}.inner()",
        "    >>> next(inner#1)",
        "inner runs",
        "    1",
        "... next(outer#1)",
        "1",
        ">>> next(outer#1)",
        "    >>> next(inner#1)",
        "    StopIteration: 'r'",
        "... next(outer#1)",
        "StopIteration",
    ]


def test_a_mutated_value_is_logged_as_it_was(tmp_path: Path, clock: Any) -> None:
    t = gentrace.Tracer(out=[tmp_path / "run.log", tmp_path / "run.jsonl"], clock=clock)
    items: list[int] = []

    @t.trace
    def grows() -> Generator[list[int], None, None]:
        items.append(1)
        yield items
        items.append(2)
        yield items

    g = grows()
    next(g)
    items.append(99)  # after the event: must not rewrite it
    next(g)
    t.close()
    text = (tmp_path / "run.log").read_text()
    assert "\n[1]  " in text
    assert "\n[1, 99, 2]  " in text
    values = [json.loads(line).get("value") for line in (tmp_path / "run.jsonl").read_text().splitlines()]
    assert values[1:3] == ["[1]", "[1, 99, 2]"]
    assert t.events[1].value is items  # memory keeps the object itself


def test_control_characters_never_reach_any_output(
    tmp_path: Path, clock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    nasty = ["\x1b[2J", "a\x9b31mb", "\u202eevil", "del\x7f", "bell\x07", "line\nbreak", "\u2028sep"]
    logger = logging.getLogger("gentrace.test.controls")
    terminal = FakeTerminal()
    t = gentrace.Tracer(
        out=[tmp_path / "run.log", tmp_path / "run.jsonl", logger, terminal], color=False, clock=clock
    )
    with caplog.at_level(logging.DEBUG, logger=logger.name):
        assert list(t.trace(echo)(nasty)) == nasty
        t.close()
    outputs = {
        "text file": (tmp_path / "run.log").read_text(),
        "terminal": terminal.getvalue(),
        "logger": "\n".join(r.getMessage() for r in caplog.records),
    }
    forbidden = [chr(c) for c in [*range(0x20), 0x7F, *range(0x80, 0xA0), 0x202E, 0x2028] if c != 0x0A]
    for where, text in outputs.items():
        assert not [ch for ch in forbidden if ch in text], where
        for shown in [
            "'\\x1b[2J'",
            "'a\\x9b31mb'",
            "'\\u202eevil'",
            "'del\\x7f'",
            "'line\\nbreak'",
            "'\\u2028sep'",
        ]:
            assert shown in text, (where, shown)
    values = [json.loads(line).get("value") for line in (tmp_path / "run.jsonl").read_text().splitlines()]
    assert values[1:8] == [
        "'\\x1b[2J'",
        "'a\\x9b31mb'",
        "'\\u202eevil'",
        "'del\\x7f'",
        "'bell\\x07'",
        "'line\\nbreak'",
        "'\\u2028sep'",
    ]


# -- streams and colour ---------------------------------------------------------------------------


def test_a_terminal_gets_colour_and_a_flush_per_line(clock: Any) -> None:
    terminal = FakeTerminal()
    t = gentrace.Tracer(out=terminal, clock=clock)
    run_averager(t)
    text = terminal.getvalue()
    assert f"{ESC}[36m>>>{ESC}[0m {ESC}[1mnext(averager#1){ESC}[0m" in text
    assert terminal.flushes >= text.count("\n")  # what was written is on screen at once
    t.close()


def test_a_stream_that_is_not_a_terminal_gets_no_colour(clock: Any) -> None:
    stream = io.StringIO()
    t = gentrace.Tracer(out=stream, clock=clock)
    run_averager(t)
    t.close()
    assert ">>> next(averager#1)" in stream.getvalue()
    assert ESC not in stream.getvalue()


@pytest.mark.parametrize(
    ("env", "color", "terminal", "coloured"),
    [
        ({}, None, True, True),
        ({}, None, False, False),
        ({"NO_COLOR": "1"}, None, True, False),
        ({"FORCE_COLOR": "1"}, None, False, True),
        ({"NO_COLOR": "1", "FORCE_COLOR": "1"}, None, True, False),  # NO_COLOR wins
        ({"NO_COLOR": ""}, None, True, True),  # set but empty: not a request
        ({"FORCE_COLOR": "1"}, False, True, False),  # color= beats the environment
        ({"NO_COLOR": "1"}, True, False, True),
    ],
)
def test_colour_rules(
    monkeypatch: pytest.MonkeyPatch,
    clock: Any,
    env: dict[str, str],
    color: bool | None,
    terminal: bool,
    coloured: bool,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    stream = FakeTerminal() if terminal else io.StringIO()
    t = gentrace.Tracer(out=stream, color=color, clock=clock)
    run_averager(t)
    t.close()
    assert (ESC in stream.getvalue()) == coloured


def test_the_stderr_tracer_decides_colour_for_each_stream_it_finds(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal, piped = FakeTerminal(), io.StringIO()
    monkeypatch.setattr("sys.stderr", terminal)
    a = gentrace.trace(averager)()
    next(a)
    a.send(1)
    monkeypatch.setattr("sys.stderr", piped)  # e.g. redirected to a file
    a.send(2)
    next(gentrace.trace(averager)())
    assert ESC in terminal.getvalue()
    assert ">>> averager#1.send(2)" in piped.getvalue()
    assert ESC not in piped.getvalue()


# -- JSON Lines -----------------------------------------------------------------------------------


def test_jsonl_by_extension_or_format(tmp_path: Path, clock: Any) -> None:
    t = gentrace.Tracer(out=[tmp_path / "a.jsonl", str(tmp_path / "b.txt")], clock=clock)
    kept = [run_averager(t)]
    t.close()
    t2 = gentrace.Tracer(out=tmp_path / "c.log", format="jsonl", clock=clock)
    kept.append(run_averager(t2))
    t2.close()
    for name in ("a.jsonl", "c.log"):
        lines = [json.loads(line) for line in (tmp_path / name).read_text().splitlines()]
        assert [line.get("op") for line in lines] == ["create", "next", "send", "send", None]
    assert (tmp_path / "b.txt").read_text().startswith(">>> averager#1 = averager()")
    assert len(kept) == 2


def test_jsonl_lines_are_one_event_each_in_completion_order(clock: Any) -> None:
    stream = io.StringIO()
    t = gentrace.Tracer(out=stream, format="jsonl", clock=clock)
    inner = t.trace(echo)

    @t.trace(name="outer")
    def outer() -> Generator[int, None, None]:
        yield from inner([1])

    list(outer())
    t.close()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    # A nested event completes first, so its line comes before its parent's; seq keeps the start order.
    assert [(line.get("seq"), line.get("gen"), line.get("op")) for line in lines] == [
        (1, "outer#1", "create"),
        (3, "echo#1", "create"),
        (4, "echo#1", "next"),
        (2, "outer#1", "next"),
        (6, "echo#1", "next"),
        (5, "outer#1", "next"),
        (None, None, None),
    ]
    assert lines[-1] == {"note": "end", "events": 6}
    assert stream.getvalue().isascii()


def test_jsonl_to_a_terminal_is_flushed_per_line(clock: Any) -> None:
    terminal = FakeTerminal()
    t = gentrace.Tracer(out=terminal, format="jsonl", clock=clock)
    a = t.trace(averager)()
    next(a)
    assert [json.loads(line)["op"] for line in terminal.getvalue().splitlines()] == ["create", "next"]
    assert ESC not in terminal.getvalue()
    t.close()


def test_jsonl_stream_is_left_open(clock: Any) -> None:
    stream = io.StringIO()
    t = gentrace.Tracer(out=stream, format="jsonl", clock=clock)
    t.close()
    assert not stream.closed
    assert stream.getvalue() == '{"note": "end", "events": 0}\n'


# -- a logger -------------------------------------------------------------------------------------


def test_logger_gets_one_record_per_event(clock: Any, caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("gentrace.test.logger")
    with caplog.at_level(logging.DEBUG, logger=logger.name):
        t = gentrace.Tracer(out=logger, clock=clock)
        a = run_averager(t)
        with pytest.raises(ValueError):
            a.throw(ValueError("bad"))
        t.close()
    here = averager.__code__.co_filename
    assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records] == [
        (
            logger.name,
            logging.DEBUG,
            f"averager#1 created · {here}:{averager.__code__.co_firstlineno} · GEN_CREATED",
        ),
        (
            logger.name,
            logging.DEBUG,
            f"next(averager#1) → None · GEN_CREATED → GEN_SUSPENDED · paused at line {YIELD_LINE}",
        ),
        (logger.name, logging.DEBUG, f"averager#1.send(10) → 10.0 · GEN_SUSPENDED · line {YIELD_LINE}"),
        (logger.name, logging.DEBUG, f"averager#1.send(20) → 15.0 · GEN_SUSPENDED · line {YIELD_LINE}"),
        (
            logger.name,
            logging.DEBUG,
            "averager#1.throw(ValueError('bad')) → ValueError: bad · raised · GEN_SUSPENDED → GEN_CLOSED",
        ),
    ]
    events = [r.gentrace_event for r in caplog.records]  # type: ignore[attr-defined]
    assert events == t.events
    assert all(isinstance(e, gentrace.Event) for e in events)


def test_logger_level_and_percent_signs(clock: Any, caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("gentrace.test.logger.level")
    with caplog.at_level(logging.DEBUG, logger=logger.name):
        t = gentrace.Tracer(out=logger, level=logging.WARNING, clock=clock)
        list(t.trace(echo)(["100%s", "%d"]))
        t.close()
    assert {r.levelno for r in caplog.records} == {logging.WARNING}
    messages = [r.getMessage() for r in caplog.records]
    assert "next(echo#1) → '100%s' · GEN_CREATED → GEN_SUSPENDED" in messages[1]
    assert ESC not in "".join(messages)


def test_a_disabled_logger_costs_no_record(clock: Any, caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("gentrace.test.logger.quiet")
    with caplog.at_level(logging.INFO, logger=logger.name):
        t = gentrace.Tracer(out=logger, clock=clock)  # DEBUG records: below the logger's level
        list(t.trace(echo)([1]))
        t.close()
    assert caplog.records == []
    assert len(t.events) == 3


# -- repr limits ----------------------------------------------------------------------------------


def test_max_repr_defaults_to_the_terminal_width_1000_in_files_and_json(
    tmp_path: Path, clock: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")  # the result fits before the comment, at column 32
    logger = logging.getLogger("gentrace.test.limits")
    terminal = FakeTerminal()
    long = "x" * 5000
    with caplog.at_level(logging.DEBUG, logger=logger.name):
        t = gentrace.Tracer(
            out=[terminal, tmp_path / "run.log", tmp_path / "run.jsonl", logger], color=False, clock=clock
        )
        list(t.trace(echo)([long]))
        t.close()

    def shown(text: str) -> str:
        return next(line for line in text.splitlines() if line.startswith("'xxx")).split("  #")[0]

    assert shown(terminal.getvalue()) == "'" + "x" * 26 + "..."
    assert len(shown((tmp_path / "run.log").read_text())) == 1000
    value = json.loads((tmp_path / "run.jsonl").read_text().splitlines()[1])["value"]
    assert value == "'" + "x" * 996 + "..."
    assert caplog.records[1].getMessage().startswith("next(echo#1) → '" + "x" * 76 + "... · ")
    assert t.events[1].value is long


def test_max_repr_applies_to_every_output(tmp_path: Path, clock: Any) -> None:
    terminal = FakeTerminal()
    t = gentrace.Tracer(out=[terminal, tmp_path / "run.jsonl"], max_repr=10, clock=clock)
    list(t.trace(echo)(["abcdefghijklmnop"]))
    t.close()
    assert "\n'abcdef...  " in terminal.getvalue().replace(f"{ESC}[32m", "\n").replace(f"{ESC}[0m", "")
    assert json.loads((tmp_path / "run.jsonl").read_text().splitlines()[1])["value"] == "'abcdef..."


# -- a sink that fails ----------------------------------------------------------------------------


def test_a_failing_output_stops_recording_with_one_warning(
    clock: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    class DiskFull(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError(28, "No space left on device")

    t = gentrace.Tracer(out=DiskFull(), clock=clock)
    a = t.trace(averager)()
    next(a)
    assert a.send(4) == 4.0  # the program runs on
    assert a.send(6) == 5.0
    t.close()
    err = capsys.readouterr().err
    assert err == "gentrace: stopped recording: OSError: [Errno 28] No space left on device\n"


def test_the_stderr_log_interleaves_with_prints_through_a_pipe(tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    script.write_text(
        textwrap.dedent(
            """
            import gentrace

            @gentrace.trace
            def gen():
                print("inside")
                yield 1

            print("before")
            g = gen()
            next(g)
            print("after")
            g.close()
            """
        )
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONUNBUFFERED", "NO_COLOR", "FORCE_COLOR")}
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # one pipe: stdout is block-buffered there
        text=True,
        env=env,
        check=True,
    )
    lines = [line.split("  #")[0].rstrip() for line in done.stdout.splitlines()]
    assert lines == [
        "before",
        ">>> gen#1 = gen()",
        ">>> next(gen#1)",
        "inside",
        "1",
        "after",
        ">>> gen#1.close()",
        "",
    ]


# -- batches: what a file sink keeps is written, however the program ends -------------------------

STEPS = 3000  # lines of several batches, and some waiting in the last one

BATCHED_PROGRAM = """\
import os, signal, sys, time
import gentrace

t = gentrace.Tracer(out=["run.jsonl", "run.log"]) if "--tracer" in sys.argv else None


def numbers(n):
    for i in range(n):
        yield i


g = t.wrap(numbers({steps})) if t is not None else numbers({steps})
for value in g:
    pass
{ending}
"""

ENDINGS = {
    "sys.exit": "sys.exit(3)",
    "an uncaught exception": "raise RuntimeError('the end')",
    "Ctrl-C": "os.kill(os.getpid(), signal.SIGINT)\ntime.sleep(30)",
    "SIGTERM": "os.kill(os.getpid(), signal.SIGTERM)\ntime.sleep(30)",
}


def assert_every_step_written(tmp_path: Path, steps: int) -> None:
    lines = (tmp_path / "run.jsonl").read_text(encoding="utf-8").splitlines()
    events = [json.loads(line) for line in lines]
    assert [e["value"] for e in events if e.get("outcome") == "yield"] == [str(i) for i in range(steps)]
    assert events[-1]["note"] == "end"
    log = (tmp_path / "run.log").read_text(encoding="utf-8")
    assert log.count(">>> next(numbers#1)") == steps + 1
    assert f"\n{steps - 1}  " in log


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("ending", list(ENDINGS))
def test_no_line_waiting_in_a_batch_is_lost_when_the_program_ends(tmp_path: Path, ending: str) -> None:
    (tmp_path / "script.py").write_text(BATCHED_PROGRAM.format(steps=STEPS, ending=ENDINGS[ending]))
    if ending == "SIGTERM":  # python dies by it at once: `gentrace run` writes the logs first
        command = [sys.executable, "-m", "gentrace", "run", "-q", "-o", "run.jsonl", "-o", "run.log"]
    else:
        command = [sys.executable, "script.py", "--tracer"]
    done = subprocess.run(
        [*command, "script.py"] if ending == "SIGTERM" else command,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # python dies by an uncaught KeyboardInterrupt's SIGINT, and by SIGTERM, as without gentrace
    expected = {
        "sys.exit": 3,
        "an uncaught exception": 1,
        "Ctrl-C": -signal.SIGINT,
        "SIGTERM": -signal.SIGTERM,
    }
    assert done.returncode == expected[ending], done.stderr
    assert_every_step_written(tmp_path, STEPS)


FORKING_PROGRAM = """\
import os, sys
import gentrace

t = gentrace.Tracer(out=["run.jsonl", "run.log"])


def numbers(name, n):
    for i in range(n):
        yield f"{name}{i}"


list(t.wrap(numbers("before", 500)))
pid = os.fork()
if pid == 0:
    list(t.wrap(numbers("child", 500)))
    sys.exit(0)  # the child's exit handlers close its tracer
list(t.wrap(numbers("after", 500)))
os.waitpid(pid, 0)
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork")
def test_a_forked_child_writes_its_own_lines_and_never_its_parents_again(tmp_path: Path) -> None:
    (tmp_path / "script.py").write_text(FORKING_PROGRAM)
    done = subprocess.run(
        [sys.executable, "script.py"], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in (tmp_path / "run.jsonl").read_text().splitlines()]
    values = sorted(e["value"] for e in events if e.get("outcome") == "yield")
    assert values == sorted(repr(f"{name}{i}") for name in ("before", "child", "after") for i in range(500))
    log = (tmp_path / "run.log").read_text()
    for name in ("before", "child", "after"):
        assert sum(f"'{name}{i}'  " in log for i in range(500)) == 500


@pytest.mark.parametrize("out", ["run.jsonl", "run.log"])
def test_a_file_is_written_while_the_program_runs(tmp_path: Path, out: str) -> None:
    # The first step's line is written when an operation ends 100 ms or more after it, and the
    # program then waits, its tracer open: the file is read meanwhile.
    program = f"""\
import sys, time
import gentrace

t = gentrace.Tracer(out={out!r})


def numbers():
    yield "first"
    yield "second"


g = t.wrap(numbers())
next(g)
time.sleep(0.3)
next(g)
print("ready", flush=True)
sys.stdin.readline()
"""
    (tmp_path / "script.py").write_text(program)
    child = subprocess.Popen(
        [sys.executable, "script.py"],
        cwd=tmp_path,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
        assert "'first'" in (tmp_path / out).read_text()
    finally:
        child.communicate("\n", timeout=60)
    assert "'second'" in (tmp_path / out).read_text()


def test_a_yielded_list_changed_afterwards_is_written_as_it_was(tmp_path: Path) -> None:
    def grow() -> Generator[list[int], None, None]:
        items: list[int] = []
        for i in range(600):
            items.append(i)
            yield items

    t = gentrace.Tracer(out=[tmp_path / "run.jsonl", tmp_path / "run.log"])
    for items in t.wrap(grow()):
        items.append(-1)  # after the yield: the trace shows the list without it
        items.pop()
    t.close()
    events = [json.loads(line) for line in (tmp_path / "run.jsonl").read_text().splitlines()]
    shown = [e["value"] for e in events if e.get("outcome") == "yield"]
    assert shown[:3] == ["[0]", "[0, 1]", "[0, 1, 2]"]
    assert len(shown) == 600 and all("-1" not in value for value in shown)
