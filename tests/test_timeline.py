"""The terminal timeline: one lane per instance, readable without colour."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from trace_samples import ROOT, check_golden, record_sample, trace_awaits, trace_event

from gentrace.cli import main
from gentrace.reader import Gap, TraceReader
from gentrace.records import Record
from gentrace.timeline import LEGEND, timeline

WIDTHS = [40, 41, 47, 60, 72, 80, 100, 133, 200]
LONG = "a_generator_whose_name_is_longer_than_any_label#1"


def records_of(trace: Path) -> Iterator[Record]:
    with open(trace, "rb") as f:
        for item in TraceReader(f):
            if not isinstance(item, Gap):
                yield item.record


def chart(trace: Path, width: int) -> list[str]:
    """`gentrace show TRACE --timeline` in a terminal `width` columns wide."""
    result = CliRunner().invoke(main, ["show", str(trace), "--timeline"], env={"COLUMNS": str(width)})
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()


def lanes(lines: list[str]) -> dict[str, str]:
    """Each lane of the chart by its label, the label cut off."""
    found = {}
    for line in lines:
        label, gap, lane = line.partition("  ")
        if gap and label.strip() and not label.startswith(("#", ".", "|", "-", "~")):
            found[label.strip()] = lane.lstrip()
    return found


def legend(lines: list[str]) -> list[str]:
    """The legend's items, from the lines after the time axis."""
    axis = next(i for i, line in enumerate(lines) if re.search(r"\s0\s+\S+ (ns|µs|ms|s)$", line))
    return re.split(r"\s{2,}", "  ".join(line.strip() for line in lines[axis + 1 :]))


def test_timeline_golden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    trace = record_sample("delegation", tmp_path / "t.jsonl")
    result = CliRunner().invoke(main, ["show", str(trace), "--timeline"], env={"COLUMNS": "72"})
    assert result.exit_code == 0
    assert all(len(line) <= 72 for line in result.stdout.splitlines())
    check_golden("delegation.timeline", result.stdout)


# -- the width ------------------------------------------------------------------------------------


def created(seq: int, **fields: object) -> dict[str, object]:
    """The JSON Lines event of a generator's creation (fields override)."""
    made = {"op": "create", "outcome": "created", "value": None, "state_before": None}
    return trace_event(seq, **{**made, "state_after": "GEN_CREATED", **fields})


def write_trace(path: Path, *events: dict[str, object]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


def long_named(path: Path) -> Path:
    """A trace of two generators, one with a name longer than any label, that both finish: g#1
    with the trace, its end in the last column."""
    closed = {"outcome": "return", "value": None, "state_after": "GEN_CLOSED", "lineno": None}
    return write_trace(
        path,
        created(1, gen=LONG, time=0.0),
        created(2, gen="g#1", time=0.001),
        trace_event(3, gen=LONG, state_before="GEN_CREATED", time=0.002, duration=0.002),
        trace_event(4, gen="g#1", state_before="GEN_CREATED", time=0.005, duration=0.001),
        trace_event(5, gen=LONG, time=0.007, duration=0.001, **closed),
        trace_event(6, gen="g#1", time=0.009, duration=0.003, **closed),
    )


@pytest.mark.parametrize("width", WIDTHS)
def test_every_line_fits_the_width(width: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    for trace in (long_named(tmp_path / "long.jsonl"), record_sample("delegation", tmp_path / "d.jsonl")):
        lines = chart(trace, width)
        assert max(len(line) for line in lines) <= width, "\n".join(lines)
        assert legend(lines) == list(LEGEND)
        assert len(lines) - len(lanes(lines)) - 1 <= 2  # the legend takes two lines at most
    shown = lanes(chart(tmp_path / "long.jsonl", width))
    cut = next(label for label in shown if label != "g#1")
    assert cut.endswith("…") and LONG.startswith(cut[:-1])


def test_the_legend_keeps_to_one_line_where_it_fits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    lines = chart(record_sample("delegation", tmp_path / "t.jsonl"), 100)
    assert lines[-1] == " " * 16 + "  ".join(LEGEND)  # under the lanes, after their labels


# -- end marks ------------------------------------------------------------------------------------


@pytest.mark.parametrize("width", WIDTHS)
def test_every_instance_that_finished_has_its_end_mark(
    width: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    # report#1 finishes with the trace: its end falls in the last column.
    for trace in (record_sample("delegation", tmp_path / "d.jsonl"), long_named(tmp_path / "long.jsonl")):
        shown = lanes(chart(trace, width))
        assert all(lane.endswith("|") and lane.count("|") == 1 for lane in shown.values()), shown
    # fib#1 is left suspended (collected at the end: it ends too); squares#1 returns.
    shown = lanes(chart(record_sample("fib", tmp_path / "f.jsonl"), width))
    assert all(lane.endswith("|") for lane in shown.values()), shown


def test_an_instance_still_suspended_has_no_end_mark(tmp_path: Path) -> None:
    trace = write_trace(
        tmp_path / "t.jsonl",
        created(1),
        trace_event(2, state_before="GEN_CREATED"),
        created(3, gen="h#1", time=0.005),
    )
    shown = lanes(chart(trace, 60))
    assert re.fullmatch(r"\.+#+-+", shown["g#1"]), shown  # suspended to the end
    assert shown["h#1"] == ".", shown  # created at the end, never started


def test_run_timeline_fits_the_terminal_and_marks_the_ends(tmp_path: Path) -> None:
    env = {**os.environ, "COLUMNS": "60", "PYTHONIOENCODING": "utf-8"}
    proc = subprocess.run(
        [sys.executable, "-m", "gentrace", "run", "-q", "--timeline", "samples/delegation.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        encoding="utf-8",
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert max(len(line) for line in lines) <= 60, proc.stderr
    shown = lanes(lines)
    assert list(shown) == ["report#1", "counted#1", "read_numbers#1"]
    assert all(lane.endswith("|") for lane in shown.values()), proc.stderr
    assert legend(lines) == list(LEGEND)


# -- awaiting -------------------------------------------------------------------------------------


@pytest.mark.parametrize("width", WIDTHS)
def test_awaiting_is_drawn_apart_from_running(width: int, tmp_path: Path) -> None:
    shown = lanes(chart(trace_awaits(tmp_path / "t.jsonl"), width))
    consume, numbers = shown["consume#1"], shown["numbers#1"]
    # The coroutine awaits between its steps, never suspended at a yield; it returns.
    assert re.fullmatch(r"\.?#+(~+#+){6}\|", consume), consume
    # The async generator awaits a tick inside each anext(), then is suspended at its yield.
    assert re.fullmatch(r"\.?#+~+#+-+#+~+#+-+#+~+#+-+#+\|", numbers), numbers
    # Most of the time both are waiting, not running.
    assert consume.count("~") > consume.count("#")
    assert numbers.count("~") + numbers.count("-") > numbers.count("#")
    assert "~ awaiting" in legend(chart(tmp_path / "t.jsonl", width))


def test_generators_are_never_awaiting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    for sample in ("delegation", "fib", "averager", "exception_demo"):
        for lane in lanes(chart(record_sample(sample, tmp_path / f"{sample}.jsonl"), 100)).values():
            assert "~" not in lane


# -- the hand-made event loop ---------------------------------------------------------------------


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

    lines = timeline(lambda: records_of(trace), width=100)
    one, two = (line for line in lines if line.startswith("task_"))
    assert one.startswith("task_one#1") and two.startswith("task_two#1")
    assert one.count("#-") >= 6 and two.count("#-") >= 10  # resumed, then suspended, again and again
    assert one.rstrip().endswith("|") and len(one.rstrip()) < len(two.rstrip())
    assert two.rstrip().endswith("|")
    assert legend(lines) == list(LEGEND)


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
