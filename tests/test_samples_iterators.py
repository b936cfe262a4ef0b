"""samples/iterators.py under `gentrace run --iterators`, in real subprocesses from the repository
root: the program's own output, as python prints it, and a log that names each loop's iterator and
shows the shared `enumerate` exhausted (tests/golden/run/iterators.log, and the README's excerpt).
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import pytest
from support import check_golden

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = "samples/iterators.py"
GENTRACE = shutil.which("gentrace", path=sysconfig.get_path("scripts")) or shutil.which("gentrace")
COMMAND = f"gentrace run --iterators {SAMPLE}"
# The README block that this test checks, as an excerpt of the log (tests/test_readme.py checks
# only whole outputs).
EXCERPT_MARKER = f"<!-- excerpt of: {COMMAND} -->"
TIMEOUT = 30  # seconds; a hung subprocess fails its test instead of the whole run


def run(*command: Any) -> subprocess.CompletedProcess[str]:
    """`command` in a subprocess from the repository root, without colour."""
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "PYTHONWARNINGS")}
    env.update(NO_COLOR="1", PYTHONIOENCODING="utf-8", PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run(
        list(map(str, command)),
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        encoding="utf-8",
        timeout=TIMEOUT,
    )


@pytest.fixture(scope="module")
def traced() -> subprocess.CompletedProcess[str]:
    return run(GENTRACE, "run", "--iterators", SAMPLE)


def line_of(text: str) -> int:
    """The number of the first line of the sample that contains `text`."""
    lines = (ROOT / SAMPLE).read_text(encoding="utf-8").splitlines()
    return next(number for number, line in enumerate(lines, 1) if text in line)


def results(log: str, expression: str) -> list[tuple[str, str]]:
    """(result, comment) of each unnested step of the log written as `expression`."""
    lines = log.splitlines()
    found = []
    for line, after in itertools.pairwise(lines):
        if line == f">>> {expression}":
            result, _, comment = after.partition("# ")
            found.append((result.strip(), comment))
    return found


def test_prints_what_python_prints(traced: subprocess.CompletedProcess[str]) -> None:
    plain = run(sys.executable, SAMPLE)
    assert plain.returncode == traced.returncode == 0, traced.stderr
    assert traced.stdout == plain.stdout
    assert plain.stderr == ""
    assert "  (0, 'a') (1, 'b')\n" in plain.stdout  # the enumerate loops print a single pair


def test_log_golden(traced: subprocess.CompletedProcess[str]) -> None:
    check_golden("run/iterators.log", traced.stderr)


def test_each_list_loop_gets_an_iterator_of_its_own(traced: subprocess.CompletedProcess[str]) -> None:
    log = traced.stderr
    outer, inner = line_of("for a in items:"), line_of("for b in items:")
    site = "samples/iterators.py"
    assert f">>> list_iterator#1 = iter(items)  # {site}:{outer} · for a in items:\n" in log
    # The inner loop gets a new one each time round the outer loop.
    for name in ("list_iterator#2", "list_iterator#3"):
        assert f">>> {name} = iter(items)  # {site}:{inner} · for b in items:\n" in log
        assert results(log, f"next({name})") == [
            ("'a'", ""),
            ("'b'", ""),
            ("StopIteration", f"loop at line {inner} ends"),
        ]
    assert results(log, "next(list_iterator#1)") == [
        ("'a'", ""),
        ("'b'", ""),
        ("StopIteration", f"loop at line {outer} ends"),
    ]


def test_the_enumerate_loops_share_one_iterator(traced: subprocess.CompletedProcess[str]) -> None:
    log = traced.stderr
    outer, inner = line_of("for a in items:"), line_of("for b in items:")
    site = "samples/iterators.py"
    made = [line for line in log.splitlines() if line.startswith(">>> enumerate#")]
    assert made == [
        f">>> enumerate#1 = iter(items)  # {site}:{outer} · for a in items: · its own iterator",
        f">>> enumerate#1 = iter(items)  # {site}:{inner} · for b in items: · its own iterator"
        ": the same enumerate#1 again",
    ]
    assert results(log, "next(enumerate#1)") == [
        ("(0, 'a')", ""),
        ("(1, 'b')", ""),
        ("StopIteration", f"loop at line {inner} ends"),
        ("StopIteration", f"loop at line {outer} ends at once: enumerate#1 was already exhausted"),
    ]
    assert "enumerate#2" not in log


def test_the_saved_trace_shows_the_same_log(traced: subprocess.CompletedProcess[str], tmp_path: Path) -> None:
    saved = run(GENTRACE, "run", "--iterators", "-q", "-o", tmp_path / "t.jsonl", SAMPLE)
    assert (saved.returncode, saved.stderr) == (0, "")
    shown = run(GENTRACE, "show", tmp_path / "t.jsonl")
    assert (shown.returncode, shown.stderr) == (0, "")
    assert shown.stdout == traced.stderr


def test_the_readme_excerpt_is_part_of_the_log(traced: subprocess.CompletedProcess[str]) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    marker = readme.index(EXCERPT_MARKER)
    assert readme[marker + 1] == "```", f"README.md:{marker + 1}: no block right after the marker"
    block = readme[marker + 2 : readme.index("```", marker + 2)]
    log = traced.stderr.splitlines()
    assert block, f"README.md:{marker + 1}: the excerpt is empty"
    assert any(log[i : i + len(block)] == block for i in range(len(log))), (
        f"README.md:{marker + 1}: the block is not a run of lines of what `{COMMAND}` prints (from "
        "the repository root, NO_COLOR=1); if the log is right, paste its lines into the block:\n"
        + traced.stderr
    )
