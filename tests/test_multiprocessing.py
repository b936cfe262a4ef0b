"""multiprocessing under ``gentrace run``: the children, by every start method, traced into files of
their own beside the run's (``t.jsonl`` → ``t.<pid>.jsonl``), their events carrying their pid and
their terminal log's lines their ``[pid N]`` label; the main process's files and log as they always
were, nothing of a child's in them. Real subprocesses, python beside gentrace.
"""

from __future__ import annotations

import json
import multiprocessing
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from test_cli_run import GENTRACE, TIMEOUT, environ, python, read_jsonl, write

from gentrace.children import child_path

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="children are traced on POSIX")

METHODS = [m for m in ("fork", "spawn", "forkserver") if m in multiprocessing.get_all_start_methods()]

# A pool whose workers run a generator, a process that runs one and sends what it yielded back,
# and the main process running it too. The pool ends with terminate() (the `with` block): its
# workers die by SIGTERM at once, as under python, their files written up to their last event.
PROGRAM = """\
import multiprocessing
import sys


def squares(n):
    for i in range(n):
        yield i * i


def work(n):
    return sum(squares(n))


def report(queue, n):
    queue.put(list(squares(n)))


if __name__ == "__main__":
    context = multiprocessing.get_context(sys.argv[1])
    with context.Pool(2) as pool:
        print(pool.map(work, [3, 4]))
    queue = context.Queue()
    process = context.Process(target=report, args=(queue, 2))
    process.start()
    print(queue.get())
    process.join()
    print(process.exitcode, sum(squares(5)))
"""
PRINTED = "[5, 14]\n[0, 1]\n0 30\n"
LABEL = re.compile(r"^\[pid (\d+)\] (.*)$")


def run_traced(
    tmp_path: Path, *options: str, program: tuple[str, ...], **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(GENTRACE), "run", *options, *program],
        cwd=tmp_path,
        env=environ(**env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        encoding="utf-8",
        timeout=TIMEOUT,
    )


def children_files(tmp_path: Path, pattern: str) -> dict[int, Path]:
    """The children's files named like the run's `pattern` (``t.*.jsonl``), by pid."""
    found = {}
    for path in tmp_path.glob(pattern):
        middle = path.name.split(".")[1]
        if middle.isdigit():
            found[int(middle)] = path
    return found


def creates(events: list[dict[str, Any]]) -> list[str]:
    return sorted(e["arg"] for e in events if e["op"] == "create")


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("how", ["script", "module"])
def test_children_are_traced_into_files_of_their_own(tmp_path: Path, method: str, how: str) -> None:
    write(tmp_path, {"prog.py": PROGRAM})
    program = ("prog.py", method) if how == "script" else ("-m", "prog", method)
    plain = python(*program, cwd=tmp_path)
    traced = run_traced(tmp_path, "-o", "t.jsonl", "-o", "t.log", program=program)
    assert (plain.returncode, plain.stdout, plain.stderr) == (0, PRINTED, "")
    assert (traced.returncode, traced.stdout) == (0, PRINTED), traced.stderr

    # The main process: its own events only, each once, without a pid, as they always were written.
    events, notes = read_jsonl(tmp_path / "t.jsonl")
    assert creates(events) == ["5"]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert notes == [{"note": "end", "events": len(events)}]
    assert not any("pid" in e for e in events)

    # The children: one JSON Lines and one text file each, every event carrying the pid; the end
    # note from those that ended (the process; a pool's worker, unless it was killed first).
    jsonl, logs = children_files(tmp_path, "t.*.jsonl"), children_files(tmp_path, "t.*.log")
    # A pool's idle worker killed while it opened its files may have one of them, empty.
    for pid in set(jsonl) ^ set(logs):
        assert (jsonl.get(pid) or logs[pid]).read_text(encoding="utf-8") == ""
        jsonl.pop(pid, None)
        logs.pop(pid, None)
    assert set(jsonl) == set(logs)
    done, ended = [], []
    for pid, path in jsonl.items():
        assert path.name == Path(child_path("t.jsonl", pid)).name
        child_events, child_notes = read_jsonl(path)
        assert {e["pid"] for e in child_events} <= {pid}
        assert [e["seq"] for e in child_events] == list(range(1, len(child_events) + 1))
        assert child_notes in ([], [{"note": "end", "events": len(child_events)}])
        done += creates(child_events)
        ended += creates(child_events) if child_notes else []
    assert sorted(done) == ["2", "3", "4"]  # the idle worker of a pool may write nothing
    assert "2" in ended

    # On the terminal, a child's lines carry its label; the main process's are as in its log file.
    main_lines, child_lines = [], dict[int, list[str]]()
    for line in traced.stderr.splitlines(keepends=True):
        labelled = LABEL.match(line.rstrip("\n"))
        if labelled is None:
            main_lines.append(line)
        else:
            child_lines.setdefault(int(labelled.group(1)), []).append(labelled.group(2) + "\n")
    assert "".join(main_lines) == (tmp_path / "t.log").read_text(encoding="utf-8")
    assert set(child_lines) <= set(logs)
    for pid, lines in child_lines.items():
        assert "".join(lines) == logs[pid].read_text(encoding="utf-8")


@pytest.mark.parametrize("method", METHODS)
def test_show_reads_a_childs_trace_as_its_log(tmp_path: Path, method: str) -> None:
    write(tmp_path, {"prog.py": PROGRAM})
    traced = run_traced(tmp_path, "-q", "-o", "t.jsonl", "-o", "t.log", program=("prog.py", method))
    assert traced.returncode == 0, traced.stderr
    logs = children_files(tmp_path, "t.*.log")
    assert logs
    shows = 0
    for pid, path in children_files(tmp_path, "t.*.jsonl").items():
        events, notes = read_jsonl(path)
        if not notes or not events:
            continue  # a killed worker's (show says so), or one that ran nothing (show says that)
        shows += 1
        shown = subprocess.run(
            [str(GENTRACE), "show", path.name],
            cwd=tmp_path,
            env=environ(),
            capture_output=True,
            encoding="utf-8",
            timeout=TIMEOUT,
        )
        assert (shown.returncode, shown.stderr) == (0, "")
        assert shown.stdout == logs[pid].read_text(encoding="utf-8")
    assert shows >= 1  # the process's, at least


def test_a_fork_child_leaves_the_parents_files_to_it(tmp_path: Path) -> None:
    # The parent's lines still in its buffers when it forks are written once, by the parent: the
    # child, whose lines fill its copies of those buffers many times over, neither writes them
    # again nor adds its own to the parent's files.
    script = """\
import multiprocessing


def squares(n):
    yield from range(n)


def work():
    assert sum(squares(3000)) == 4498500


if __name__ == "__main__":
    print(sum(squares(100)))  # buffered in the parent's file when it forks
    process = multiprocessing.get_context("fork").Process(target=work)
    process.start()
    process.join()
    print(process.exitcode, sum(squares(2)))
"""
    write(tmp_path, {"prog.py": script})
    traced = run_traced(tmp_path, "-q", "-o", "t.jsonl", "-o", "t.log", program=("prog.py",))
    assert (traced.returncode, traced.stdout, traced.stderr) == (0, "4950\n0 1\n", "")
    events, notes = read_jsonl(tmp_path / "t.jsonl")
    assert creates(events) == ["100", "2"]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert notes == [{"note": "end", "events": len(events)}]
    assert (tmp_path / "t.log").read_text(encoding="utf-8").count(">>> squares#1 = squares(100)") == 1
    [(pid, path)] = children_files(tmp_path, "t.*.jsonl").items()
    child_events, _ = read_jsonl(path)
    assert creates(child_events) == ["3000"]
    assert json.loads(path.read_text(encoding="utf-8").splitlines()[0])["pid"] == pid


@pytest.mark.parametrize(
    ("out", "child"), [("t.jsonl", "t.42.jsonl"), ("a/t.log", "a/t.42.log"), ("t", "t.42")]
)
def test_a_childs_file_has_its_pid_before_the_extension(out: str, child: str) -> None:
    assert child_path(out, 42) == child


# What a child knows of SIGTERM, and its parent after starting it: as under python. A forked child
# that inherited gentrace's handler could miss a SIGTERM (caught too early or too late to run the
# handler), and Pool.terminate() would wait for it forever.
SIGNALS = """\
import multiprocessing
import os
import signal
import sys


def state(where):
    blocked = signal.SIGTERM in signal.pthread_sigmask(signal.SIG_BLOCK, [])
    return f"{where}: default {signal.getsignal(signal.SIGTERM) == signal.SIG_DFL}, blocked {blocked}"


def child(queue):
    queue.put(state("child"))


if __name__ == "__main__":
    context = multiprocessing.get_context(sys.argv[1])
    queue = context.Queue()
    process = context.Process(target=child, args=(queue,))
    process.start()
    print(queue.get())
    process.join()
    blocked = signal.SIGTERM in signal.pthread_sigmask(signal.SIG_BLOCK, [])
    print("parent: blocked", blocked, process.exitcode)
    pid = os.fork()
    if pid == 0:
        print(state("forked"), flush=True)
        os._exit(0)
    os.waitpid(pid, 0)
"""


@pytest.mark.parametrize("method", METHODS)
def test_a_child_dies_by_sigterm_as_under_python(tmp_path: Path, method: str) -> None:
    write(tmp_path, {"prog.py": SIGNALS})
    plain = python("prog.py", method, cwd=tmp_path)
    traced = run_traced(tmp_path, "-q", "-o", "t.jsonl", program=("prog.py", method))
    assert (plain.returncode, plain.stderr) == (0, "")
    assert plain.stdout == (
        "child: default True, blocked False\nparent: blocked False 0\nforked: default True, blocked False\n"
    )
    assert (traced.returncode, traced.stdout, traced.stderr) == (0, plain.stdout, "")


@pytest.mark.parametrize("method", METHODS)
def test_a_page_is_the_main_processs_and_no_child_leaves_a_temporary_file(
    tmp_path: Path, method: str
) -> None:
    # A page is made at the end from a temporary file, which a killed worker would leave behind.
    write(tmp_path, {"prog.py": PROGRAM})
    options = ("-q", "-o", "t.html", "-o", "t.jsonl")
    # Short: the fork server's socket is made there too, and its path has a limit.
    with tempfile.TemporaryDirectory(prefix="gt") as temporary:
        traced = run_traced(tmp_path, *options, program=("prog.py", method), TMPDIR=temporary)
        left = [path.name for path in Path(temporary).iterdir() if path.name.startswith("gentrace-")]
    assert (traced.returncode, traced.stdout, traced.stderr) == (0, PRINTED, "")
    assert (tmp_path / "t.html").stat().st_size > 0
    assert children_files(tmp_path, "t.*.html") == {}
    assert children_files(tmp_path, "t.*.jsonl")
    assert left == []
