"""The terminal timeline: one lane per instance, readable without colour."""

from __future__ import annotations

import contextlib
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
import support
from click.testing import CliRunner
from trace_samples import ROOT, check_golden, record_sample, trace_awaits, trace_event

import gentrace
from gentrace.cli import main
from gentrace.instrument import instrument_source
from gentrace.reader import Gap, TraceReader
from gentrace.records import Record
from gentrace.timeline import (
    ITERATOR_LEGEND,
    LANE_ACTIVE,
    LANE_EXHAUSTED,
    LANE_ITER,
    LANE_LEFT,
    LANE_RUNNING,
    LEGEND,
    Lanes,
    timeline,
)

WIDTHS = [40, 41, 47, 60, 72, 80, 100, 133, 200]
LONG = "a_generator_whose_name_is_longer_than_any_label#1"


# Iterators as `gentrace run --iterators` records them: loops left early, one enumerate shared by
# two loops, iter() and next() by hand, a generator expression, and an iterator class whose next()
# raises, which a loop then exhausts and which answers again after that.
LOOPS = """\
numbers = [1, 2, 3]
for n in numbers:
    for m in numbers:
        if m == 2:
            break
pairs = enumerate("ab")
for i, a in pairs:
    for j, b in pairs:
        pass
it = iter(numbers)
next(it), next(it), next(it), next(it, "done")
total = sum(x * x for x in numbers)


class Flaky:
    def __init__(self):
        self.calls = 0

    def __iter__(self):
        return self

    def __next__(self):
        self.calls += 1
        if self.calls == 2:
            raise ValueError("flaky")
        if self.calls == 3:
            raise StopIteration
        return self.calls


flaky = Flaky()
try:
    for x in flaky:
        pass
except ValueError:
    pass
for x in flaky:
    pass
next(flaky)
"""


def record_loops(where: Path, source: str = LOOPS) -> Path:
    """Run `source` as ``where/loops.py`` instrumented as ``gentrace run --iterators`` does, with a
    fake clock; its JSON Lines trace is ``where/loops.jsonl``.

    No event is kept in memory, as under ``run``: a kept event would keep the exception a next()
    raised, and through its traceback the loop's iterator, whose loop is then never seen to leave it.
    """
    script, out = where / "loops.py", where / "loops.jsonl"
    script.write_text(source, encoding="utf-8")
    code = instrument_source(source, str(script), "__main__", iterators=True)
    tracer = gentrace.Tracer(out=str(out), clock=support.FakeClock(), iterators=True, keep=0)
    with contextlib.redirect_stdout(io.StringIO()), tracer:
        exec(code, {"__name__": "__main__", "__file__": str(script)})
    tracer.close()
    return out


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
        if gap and label.strip() and not label.startswith(("#", ".", "|", "-", "~", "[", ":", "^", "]")):
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


# -- iterators ------------------------------------------------------------------------------------


def test_iterators_timeline_golden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    lines = chart(record_loops(tmp_path), 72)
    assert all(len(line) <= 72 for line in lines)
    check_golden("loops.timeline", "".join(line + "\n" for line in lines))


@pytest.mark.parametrize("width", [100, 133, 200])
def test_iterator_lanes_mark_iter_leave_and_exhaustion(width: int, tmp_path: Path) -> None:
    lines = chart(record_loops(tmp_path), width)
    shown = lanes(lines)
    # The outer loop's iterator: taken by the loop, active between its nexts, exhausted.
    assert re.fullmatch(r"\[[:#]*#\]", shown["list_iterator#1"]), shown
    # The inner loops' (each a new one) are left after two nexts, not exhausted: active to the end.
    for name in ("list_iterator#2", "list_iterator#3", "list_iterator#4"):
        assert re.fullmatch(r"\[[:#]*#:*\^:+", shown[name]), shown
    # Two loops take the one enumerate; the inner exhausts it, the outer's next then ends at once.
    assert re.fullmatch(r"\[[:#]*\[[:#]*#\]#+", shown["enumerate#1"]), shown
    # Left by a loop when its next raised; taken again and exhausted; then a next answers again.
    assert re.fullmatch(r"\[[:#]*#:*\^:*\[[:#]*#\] *#+:*", shown["Flaky#1"]), shown
    # A generator expression keeps a generator's lane; the iterator it loops over has its own.
    assert re.fullmatch(r"\.+[#-]*#\|", shown["genexpr@12#1"]), shown


@pytest.mark.parametrize("width", WIDTHS)
def test_iterator_lanes_fit_the_width_and_keep_their_marks(width: int, tmp_path: Path) -> None:
    lines = chart(record_loops(tmp_path), width)
    assert max(len(line) for line in lines) <= width, "\n".join(lines)
    shown = lanes(lines)
    assert all(lane.startswith("[") for name, lane in shown.items() if not name.startswith("genexpr"))
    assert shown["list_iterator#1"].endswith("]") and shown["list_iterator#1"].count("]") == 1
    for name in ("list_iterator#2", "list_iterator#3", "list_iterator#4"):
        assert "^" in shown[name] and "]" not in shown[name], shown
    assert legend(lines) == [*LEGEND, *ITERATOR_LEGEND]


def test_only_a_chart_with_an_iterator_explains_its_marks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    assert legend(chart(record_sample("delegation", tmp_path / "d.jsonl"), 100)) == list(LEGEND)
    one = chart(record_loops(tmp_path, "for n in [1]:\n    pass\n"), 100)
    assert re.fullmatch(r"\[:*#+:+#+\]", lanes(one)["list_iterator#1"]), one
    assert legend(one) == [*LEGEND, *ITERATOR_LEGEND]


def iterator_event(seq: int, op: str, before: str | None, after: str, **fields: object) -> dict[str, object]:
    """A JSON Lines event of an iterator named it#1 (fields override)."""
    outcome = {"iter": "created", "leave": "left"}.get(op, "yield")
    made = {"gen": "it#1", "func": "builtins:list_iterator", "kind": "iterator", "op": op, "outcome": outcome}
    return trace_event(seq, **{**made, "state_before": before, "state_after": after, **fields})


def spans_of(trace: Path) -> list[tuple[int, int, int]]:
    shown = Lanes()
    records = list(records_of(trace))
    found = [span for record in records for span in shown.feed(record)]
    found += shown.close(max(r[11] + r[12] for r in records))
    return [(kind, start // 1000, end // 1000) for _, kind, start, end in found]


def test_an_iterators_exhaustion_is_not_a_generators_end(tmp_path: Path) -> None:
    active, exhausted = "ITER_ACTIVE", "ITER_EXHAUSTED"
    stop = {"outcome": "return", "value": "None"}
    trace = write_trace(
        tmp_path / "t.jsonl",
        iterator_event(1, "iter", None, active, time=0.0, duration=0.0),
        iterator_event(2, "next", active, active, time=2e-6, duration=1e-6),
        iterator_event(3, "next", active, exhausted, time=5e-6, duration=1e-6, **stop),
        # A next after the end still calls __next__; a class's may answer again.
        iterator_event(4, "next", exhausted, exhausted, time=8e-6, duration=1e-6, **stop),
        iterator_event(5, "next", exhausted, active, time=10e-6, duration=1e-6),
        iterator_event(6, "leave", active, active, time=13e-6, duration=0.0, value=None),
        iterator_event(7, "next", active, active, time=15e-6, duration=1e-6),
    )
    assert spans_of(trace) == [
        (LANE_ITER, 0, 0),
        (LANE_ACTIVE, 0, 2),
        (LANE_RUNNING, 2, 3),
        (LANE_ACTIVE, 3, 5),
        (LANE_RUNNING, 5, 6),
        (LANE_EXHAUSTED, 6, 6),
        (LANE_RUNNING, 8, 9),  # exhausted already: no second mark
        (LANE_RUNNING, 10, 11),
        (LANE_ACTIVE, 11, 13),
        (LANE_LEFT, 13, 13),
        (LANE_ACTIVE, 13, 15),  # a loop left it, not exhausted: it may be used again
        (LANE_RUNNING, 15, 16),
        (LANE_ACTIVE, 16, 16),
    ]
