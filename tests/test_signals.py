"""SIGTERM under ``gentrace run``: the program dies by it as under python, after the logs are written;
a program that handles or ignores SIGTERM is left to do so. Real subprocesses, python beside gentrace.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from test_cli_run import GENTRACE, TIMEOUT, environ, read_jsonl, results, write

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

KILLED = -signal.SIGTERM  # what a parent sees of a child that SIGTERM killed


def run_both(
    tmp_path: Path, script: str, *args: Any, options: tuple[str, ...] = (), **popen: Any
) -> tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
    """`python script.py ARGS` and `gentrace run OPTIONS script.py ARGS`, in `tmp_path`."""
    write(tmp_path, {"script.py": script})
    done = []
    for command in ([sys.executable], [GENTRACE, "run", *options]):
        done.append(
            subprocess.run(
                [*command, "script.py", *map(str, args)],
                cwd=tmp_path,
                env=environ(),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                encoding="utf-8",
                timeout=TIMEOUT,
                **popen,
            )
        )
    return done[0], done[1]


# A generator that sends SIGTERM to its own process in its last step: python dies there, and
# neither its `finally` nor the program's next line runs.
SELF_TERMINATING = """\
import os
import signal
import sys


def steps(n):
    try:
        for i in range(n):
            yield i
        print("killing", flush=True)
        os.kill(os.getpid(), signal.SIGTERM)
        yield "never"
    finally:
        print("finally", flush=True)


n = int(sys.argv[1])
for value in steps(n):
    pass
print("after", flush=True)
"""


def test_sigterm_kills_the_program_as_under_python_after_every_log_is_written(tmp_path: Path) -> None:
    plain, traced = run_both(
        tmp_path, SELF_TERMINATING, 50, options=("-o", "t.jsonl", "-o", "t.log", "-o", "t.json")
    )
    assert plain.returncode == traced.returncode == KILLED
    assert plain.stdout == traced.stdout == "killing\n"
    assert plain.stderr == ""
    events, notes = read_jsonl(tmp_path / "t.jsonl")
    assert [(e["op"], e["value"]) for e in events] == [
        ("create", None),
        *[("next", str(i)) for i in range(50)],
    ]
    assert notes == [{"note": "end", "events": 52}]  # the step that was killed had started
    log = (tmp_path / "t.log").read_text(encoding="utf-8")
    assert results(log, "next(steps#1)") == [*map(str, range(50)), ""]  # the last one never ended
    assert log == traced.stderr  # the file holds what the terminal was shown, to the end
    assert log.endswith(">>> next(steps#1)\n# still suspended at exit: steps#1, paused at script.py:11\n")
    assert (tmp_path / "t.json").read_text(encoding="utf-8").endswith("\n]}\n")


# The program's own handler, chained to the one it replaced as libraries do: python's default
# cannot be called, so it is put back and the signal sent again.
CHAINED = """\
import os
import signal


def on_term(signum, frame):
    print("cleaning up", flush=True)
    if callable(previous):
        previous(signum, frame)
    else:
        signal.signal(signum, previous)
        os.kill(os.getpid(), signum)


def steps():
    yield 1
    os.kill(os.getpid(), signal.SIGTERM)
    yield 2


previous = signal.signal(signal.SIGTERM, on_term)
print(list(steps()))
"""

# The program's own handler that lets the program go on.
HANDLED = """\
import os
import signal

signal.signal(signal.SIGTERM, lambda signum, frame: print("handled", signum, flush=True))


def steps():
    yield 1
    os.kill(os.getpid(), signal.SIGTERM)
    yield 2


print(list(steps()))
"""

IGNORED = """\
import os
import signal

signal.signal(signal.SIGTERM, signal.SIG_IGN)


def steps():
    yield 1
    os.kill(os.getpid(), signal.SIGTERM)
    yield 2


print(list(steps()))
"""

# SIGTERM is left as the program finds it (here: ignored by whoever started it).
AS_FOUND = """\
import os
import signal


def steps():
    yield 1
    os.kill(os.getpid(), signal.SIGTERM)
    yield 2


print(signal.getsignal(signal.SIGTERM) == signal.SIG_IGN)
print(list(steps()))
"""


@pytest.mark.parametrize(
    ("script", "status", "stdout"),
    [
        (CHAINED, KILLED, "cleaning up\n"),
        (HANDLED, 0, f"handled {signal.SIGTERM:d}\n[1, 2]\n"),
        (IGNORED, 0, "[1, 2]\n"),
    ],
    ids=["chained", "handled", "ignored"],
)
def test_a_program_that_handles_sigterm_runs_as_under_python(
    tmp_path: Path, script: str, status: int, stdout: str
) -> None:
    plain, traced = run_both(tmp_path, script, options=("-o", "t.jsonl"))
    assert plain.returncode == traced.returncode == status
    assert plain.stdout == traced.stdout == stdout
    events, notes = read_jsonl(tmp_path / "t.jsonl")
    assert len(events) == (2 if status == KILLED else 4) and [n["note"] for n in notes] == ["end"]


def test_sigterm_ignored_by_the_parent_stays_ignored(tmp_path: Path) -> None:
    def ignore_sigterm() -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)

    plain, traced = run_both(tmp_path, AS_FOUND, preexec_fn=ignore_sigterm)
    assert plain.returncode == traced.returncode == 0
    assert plain.stdout == traced.stdout == "True\n[1, 2]\n"
    assert traced.stderr.endswith("# returned · GEN_SUSPENDED → GEN_CLOSED\n")


# A forked child shares the files' unflushed buffers: when SIGTERM kills it, the parent's log is
# written once, by the parent.
FORKED = """\
import multiprocessing
import os
import signal


def steps(n):
    yield from range(n)


def child():
    os.kill(os.getpid(), signal.SIGTERM)


print(sum(steps(10)))
process = multiprocessing.get_context("fork").Process(target=child)
process.start()
process.join()
print(process.exitcode)
pid = os.fork()
if pid == 0:
    child()
    os._exit(0)
print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
print(sum(steps(3)))
"""


def test_a_forked_child_dies_by_sigterm_and_leaves_the_log_to_its_parent(tmp_path: Path) -> None:
    plain, traced = run_both(tmp_path, FORKED, options=("-q", "-o", "t.jsonl"))
    assert plain.returncode == traced.returncode == 0
    assert plain.stdout == traced.stdout == f"45\n{KILLED}\n{KILLED}\n3\n"
    events, notes = read_jsonl(tmp_path / "t.jsonl")
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert notes == [{"note": "end", "events": len(events)}]
