"""The terminal timeline: one lane per instance, readable without colour."""

from __future__ import annotations

import io
import sys
import types
from pathlib import Path

import pytest
from click.testing import CliRunner
from trace_samples import ROOT, check_golden, record_sample

from gentrace.cli import main
from gentrace.reader import Gap, TraceReader
from gentrace.timeline import LEGEND, timeline


def test_timeline_golden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    trace = record_sample("delegation", tmp_path / "t.jsonl")
    result = CliRunner().invoke(main, ["show", str(trace), "--timeline"], env={"COLUMNS": "72"})
    assert result.exit_code == 0
    assert all(len(line) <= 72 for line in result.stdout.splitlines())
    check_golden("delegation.timeline", result.stdout)


def test_event_loop_tasks_alternate_and_task_one_ends_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(sys, "argv", ["event_loop.py", "--tick", "0.002"])
    # The sample's loop sleeps a tick between rounds and its tasks end after so many ticks of
    # `time.monotonic()`: on a busy machine a sleep overshoots and fewer rounds fit. Its `import time`
    # gets a clock that a sleep advances by exactly the time asked, so every run has the same rounds.
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    fake_time = types.ModuleType("time")
    fake_time.monotonic = lambda: now[0]  # type: ignore[attr-defined]
    fake_time.sleep = sleep  # type: ignore[attr-defined]
    with monkeypatch.context() as patched:
        patched.setitem(sys.modules, "time", fake_time)
        trace = record_sample("event_loop", tmp_path / "t.jsonl")

    def records():  # type: ignore[no-untyped-def]
        with open(trace, "rb") as f:
            for item in TraceReader(f):
                if not isinstance(item, Gap):
                    yield item.record

    lines = timeline(records, width=100)
    one, two = (line for line in lines if line.startswith("task_"))
    assert one.startswith("task_one#1") and two.startswith("task_two#1")
    assert one.count("#-") >= 6 and two.count("#-") >= 10  # resumed, then suspended, again and again
    assert one.rstrip().endswith("|") and len(one.rstrip()) < len(two.rstrip())
    assert lines[-1].strip() == LEGEND


def test_stdin_is_copied_for_the_two_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    trace = record_sample("delegation", tmp_path / "t.jsonl")
    env = {"COLUMNS": "72"}
    from_file = CliRunner().invoke(main, ["show", str(trace), "--timeline"], env=env).stdout
    from_stdin = (
        CliRunner().invoke(main, ["show", "-", "--timeline"], input=trace.read_bytes(), env=env).stdout
    )
    assert from_stdin == from_file and "report#1" in from_stdin


def test_no_events() -> None:
    assert timeline(lambda: iter(TraceReader(io.BytesIO(b""))), width=80) == ["# timeline: no events"]  # type: ignore[arg-type,return-value]
