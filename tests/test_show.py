"""`gentrace show`: the saved trace re-rendered as run's log, filters, colour, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from trace_samples import ROOT, check_golden, record_sample

from gentrace.cli import main

SAMPLES = ["averager", "exception_demo", "fib", "delegation"]


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # paths in the output are shown relative to the current directory
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)


def show(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["show", *args], input=input, env={"COLUMNS": "80"})
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("sample", SAMPLES)
def test_log_golden(sample: str, tmp_path: Path) -> None:
    trace = record_sample(sample, tmp_path / "t.jsonl")
    code, out, err = show(str(trace))
    assert (code, err) == (0, "")
    check_golden(f"{sample}.log", out)


def test_nested_results_come_after_the_inner_steps(tmp_path: Path) -> None:
    trace = record_sample("delegation", tmp_path / "t.jsonl")
    out = show(str(trace))[1].splitlines()
    first = out.index(">>> next(report#1)")
    assert out[first + 1].startswith("    >>> counted#1 = counted(")
    assert out[first : first + 10].count("... next(report#1)") == 1


def test_stdin_and_file_give_the_same_log(tmp_path: Path) -> None:
    trace = record_sample("averager", tmp_path / "t.jsonl")
    assert show("-", input=trace.read_text())[1] == show(str(trace))[1]


def test_gen_only_and_grep_filter(tmp_path: Path) -> None:
    trace = str(record_sample("averager", tmp_path / "t.jsonl"))
    out = show(trace, "--gen", "accumulate#*")[1]
    assert "accumulate#1.send(14)" in out and "averager#1" not in out
    out = show(trace, "--only", "averager")[1]
    assert "averager#1.send(10)" in out and "accumulate#1" not in out
    out = show(trace, "--grep", "15.0")[1]
    assert out.splitlines()[:2] == [">>> averager#1.send(20)", out.splitlines()[1]]
    assert "send(10)" not in out


def test_max_repr_cuts_values(tmp_path: Path) -> None:
    trace = str(record_sample("averager", tmp_path / "t.jsonl"))
    out = show(trace, "--max-repr", "10")[1]
    assert "StopIteration: {'count..." in out


def test_colour_follows_the_flags_and_no_color(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trace = str(record_sample("averager", tmp_path / "t.jsonl"))
    assert "\x1b[" in show(trace, "--color")[1]
    assert "\x1b[" not in show(trace)[1]
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert "\x1b[" in show(trace)[1]
    assert "\x1b[" not in show(trace, "--no-color")[1]
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[" not in show(trace)[1]


def test_missing_file_exits_2(tmp_path: Path) -> None:
    code, _out, err = show(str(tmp_path / "nope.jsonl"))
    assert code == 2 and "nope.jsonl" in err and "Traceback" not in err


def test_strict_stops_at_the_first_bad_line(tmp_path: Path) -> None:
    trace = tmp_path / "t.jsonl"
    lines = record_sample("averager", trace).read_text().splitlines()
    lines.insert(3, "not json")
    trace.write_text("\n".join(lines) + "\n")
    code, out, err = show(str(trace), "--strict")
    assert code == 1 and "line 4: not JSON" in err
    code, out, err = show(str(trace))
    assert code == 0 and "1 bad line skipped; first: line 4: not JSON" in err
    assert "averager#1.send(10)" in out


def test_crafted_trace_puts_no_control_characters_on_the_terminal(tmp_path: Path) -> None:
    event = {
        "seq": 1,
        "gen": "evil\x1b[2J#1",
        "op": "next",
        "arg": None,
        "outcome": "yield",
        "value": "'\x9b31m\u202e'",
        "state_before": "GEN_CREATED",
        "state_after": "GEN_SUSPENDED",
        "depth": 0,
        "thread": "Main\x07",
        "task": None,
        "func": "m:evil\x1b",
        "time": 0.0,
        "duration": 0.0,
        "filename": "/no/such\x1b.py",
        "lineno": 3,
    }
    bad = dict(event, seq=2, op="\x1b[31m\x85")
    trace = tmp_path / "t.jsonl"
    trace.write_text(
        json.dumps(event, ensure_ascii=False) + "\n" + json.dumps(bad, ensure_ascii=False) + "\n"
    )
    _code, out, err = show(str(trace), "--color")
    for text in (out.replace("\x1b[", "").replace("\x1b(", ""), err):
        assert not any(ch in text for ch in "\x1b\x9b\u202e\x07\x85"), text
    assert "evil\\x1b[2J#1" in out and "unknown op" in err


def test_a_real_subprocess_pipes_the_log(tmp_path: Path) -> None:
    trace = record_sample("averager", tmp_path / "t.jsonl")
    proc = subprocess.run(
        [sys.executable, "-m", "gentrace", "show", "-"],
        input=trace.read_bytes(),
        capture_output=True,
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode().startswith(">>> averager#1 = averager()  # samples/averager.py:12")


# -- filters that match nothing say so ------------------------------------------------------------


@pytest.mark.parametrize(
    ("filters", "unmatched"),
    [
        (["--gen", "averager#1"], []),
        (["--gen", "averager#9"], ["--gen 'averager#9'"]),
        (["--only", "accumulate"], []),
        (["--only", "nosuchfunc"], ["--only 'nosuchfunc'"]),
        (["--only", "averager.py:*"], ["--only 'averager.py:*'"]),  # a module, not a file
        (["--grep", "15.0"], []),
        (["--grep", "no such text"], ["--grep 'no such text'"]),
        (
            [
                "--gen",
                "accumulate#*",
                "--gen",
                "nope#*",
                "--only",
                "x",
                "--only",
                "acc*",
                "--grep",
                "send(14)",
            ],
            ["--only 'x'", "--gen 'nope#*'"],
        ),
        (["--only", "accumulate", "--grep", "send(14)"], []),
        # Each matches some event on its own, but no event passes both.
        (
            ["--only", "averager", "--gen", "accumulate#*"],
            ["--only 'averager' and --gen 'accumulate#*' together"],
        ),
        (["--only", "averager", "--grep", "send(14)"], ["--only 'averager' and --grep 'send(14)' together"]),
    ],
)
def test_a_filter_that_matches_no_event_says_so_and_fails_under_strict(
    tmp_path: Path, filters: list[str], unmatched: list[str]
) -> None:
    trace = str(record_sample("averager", tmp_path / "t.jsonl"))
    code, out, err = show(trace, *filters)
    assert (code, err) == (0, "".join(f"{trace}: {given} matched no event\n" for given in unmatched))
    strict = show(trace, *filters, "--strict")
    assert strict == (1 if unmatched else 0, out, err)


@pytest.mark.parametrize(
    "mode",
    [["--summary"], ["--timeline"], ["--summary", "--timeline"], ["--to", "chrome"], ["--html", "t.html"]],
)
def test_every_kind_of_output_says_when_a_filter_matched_nothing(tmp_path: Path, mode: list[str]) -> None:
    trace = str(record_sample("averager", tmp_path / "t.jsonl"))
    mode = [str(tmp_path / arg) if arg.endswith(".html") else arg for arg in mode]
    assert show(trace, *mode, "--gen", "averager#*")[::2] == (0, "")
    assert show(trace, *mode, "--gen", "nope#*", "--strict")[::2] == (
        1,
        f"{trace}: --gen 'nope#*' matched no event\n",
    )


def test_stdin_names_itself_when_a_filter_matched_nothing(tmp_path: Path) -> None:
    trace = record_sample("averager", tmp_path / "t.jsonl")
    code, _out, err = show("-", "--grep", "nope", input=trace.read_text())
    assert (code, err) == (0, "<stdin>: --grep 'nope' matched no event\n")
