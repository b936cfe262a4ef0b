"""The per-instance summary and its anomalies."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from test_reader import jsonl
from test_timeline import iterator_event, record_loops
from trace_samples import ROOT, check_golden, record_sample
from trace_samples import trace_event as event

from gentrace.cli import main
from gentrace.reader import Gap, TraceReader
from gentrace.summary import Summary


def summarize(*items: dict[str, Any] | str) -> list[str]:
    reader = TraceReader(io.BytesIO(jsonl(*items)))
    summary = Summary()
    for item in reader:
        if not isinstance(item, Gap):
            summary.add(item.record)
    return summary.lines(ended=reader.ended, cut_after=reader.cut_after)


END = {"note": "end", "events": 0}


def create(seq: int, gen: str = "g#1") -> dict[str, Any]:
    return event(
        seq,
        gen=gen,
        op="create",
        arg="",
        outcome="created",
        value=None,
        state_before=None,
        state_after="GEN_CREATED",
    )


@pytest.mark.parametrize("sample", ["fib", "delegation"])
def test_summary_golden(sample: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    trace = record_sample(sample, tmp_path / "t.jsonl")
    result = CliRunner().invoke(main, ["show", str(trace), "--summary"])
    assert result.exit_code == 0
    check_golden(f"{sample}.summary", result.stdout)


def test_counts_values_ending_and_time() -> None:
    lines = summarize(
        create(1),
        event(2, state_before="GEN_CREATED", duration=0.002),
        event(3, op="send", arg="5", duration=0.001),
        event(4, op="send", arg="None", outcome="return", value="'done'", state_after="GEN_CLOSED"),
        END,
    )
    assert (
        lines[1]
        == "g#1  m.py:3 · next 1, send 2, throw 0, close 0 · yielded 2 · returned 'done' · 3.000 ms inside"
    )
    assert lines[-1] == "# anomalies: none"


def test_how_it_ended_is_what_ended_it_not_a_later_operation() -> None:
    bad = {"type": "builtins.ValueError", "message": "bad"}
    raised = {"outcome": "raise", "value": "ValueError('bad')", "value_exc": bad, "state_after": "GEN_CLOSED"}
    closed = {"state_before": "GEN_CLOSED", "state_after": "GEN_CLOSED", "value": None}
    lines = summarize(
        create(1),
        event(2, state_before="GEN_CREATED", **raised),
        event(3, op="close", outcome="closed", **closed),
        event(4, outcome="return", **{**closed, "value": "None"}),
        END,
    )
    assert " · raised ValueError: bad · " in lines[1]


def test_never_finished_and_killed_and_cut() -> None:
    trace = (create(1), event(2, state_before="GEN_CREATED"), create(3, "h#1"))
    assert summarize(*trace, END)[-2:] == [
        "g#1: never finished (still suspended)",
        "h#1: never finished (never started)",
    ]
    assert "g#1: still suspended when the trace ended early (no end note: killed?)" in summarize(*trace)
    cut = summarize(*trace, {"note": "max-events", "after_seq": 3}, END)
    assert cut[-1] == "# anomalies: none" and any("cut by max-events after 3" in line for line in cut)


def test_each_anomaly_names_the_instance() -> None:
    lines = summarize(
        create(1),
        event(
            2,
            op="send",
            arg="1",
            state_before="GEN_CREATED",
            state_after="GEN_CREATED",
            outcome="raise",
            value="TypeError(...)",
            value_exc={"type": "builtins.TypeError", "message": "can't send"},
        ),
        event(3, state_before="GEN_CREATED"),
        event(
            4,
            state_before="GEN_RUNNING",
            state_after="GEN_RUNNING",
            outcome="raise",
            value="ValueError()",
            value_exc={"type": "builtins.ValueError", "message": "generator already executing"},
        ),
        event(
            5,
            op="close",
            outcome="raise",
            value="RuntimeError()",
            value_exc={"type": "builtins.RuntimeError", "message": "generator ignored GeneratorExit"},
        ),
        event(6, op="collect", outcome="closed", value=None, state_after="GEN_CLOSED"),
        END,
    )
    anomalies = lines[lines.index("# anomalies:") + 1 :]
    assert anomalies == [
        "g#1: non-None send to a fresh generator: send(1)",
        "g#1: re-entrant call: next() while it was running",
        "g#1: close() raised RuntimeError: generator ignored GeneratorExit",
        "g#1: collected without close",
    ]
    assert "· collected ·" in lines[1] and "close 1" in lines[1]


def test_async_operations_count_and_flag_alike() -> None:
    lines = summarize(
        create(1) | {"state_after": "AGEN_CREATED"},
        event(2, op="anext", state_before="AGEN_CREATED", state_after="AGEN_SUSPENDED"),
        event(3, op="asend", arg="2", state_before="AGEN_SUSPENDED", state_after="AGEN_SUSPENDED"),
        END,
    )
    assert "next 1, send 1" in lines[1]
    assert lines[-1] == "g#1: never finished (still suspended)"


def test_run_summary_is_printed_at_exit(tmp_path: Path) -> None:
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "gentrace", "run", "-q", "--summary", "samples/fib.py"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "fib#2: collected without close" in proc.stderr
    assert json.dumps("fib#1")[1:-1] in proc.stderr.split("# summary")[1]


def test_a_coroutine_whose_first_step_raised_ended_there() -> None:
    lines = summarize(
        create(1) | {"state_after": "CORO_CREATED"},
        event(
            2,
            op="send",
            arg="None",
            outcome="raise",
            value="StopAsyncIteration()",
            value_exc={"type": "builtins.StopAsyncIteration", "message": None},
            state_before="CORO_CREATED",
            state_after="CORO_CLOSED",
        ),
        END,
    )
    assert " · raised StopAsyncIteration · " in lines[1]


# -- iterators ------------------------------------------------------------------------------------


def test_iterators_summary_golden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["show", str(record_loops(tmp_path)), "--summary"])
    assert result.exit_code == 0
    check_golden("loops.summary", result.stdout)
    lines = result.stdout.splitlines()
    # A loop that leaves its iterator early is no anomaly, nor is an iterator not exhausted.
    assert lines[-1] == "# anomalies: none"
    assert (
        "genexpr@12#1     loops.py:12 · next 4, send 0, throw 0, close 0 · yielded 3 · returned · "
        in lines[8]
    )


ACTIVE, EXHAUSTED = "ITER_ACTIVE", "ITER_EXHAUSTED"
STOP = {"outcome": "return", "value": "None"}


def test_an_iterators_line_says_nexts_items_and_whether_it_was_exhausted() -> None:
    def line(*events: dict[str, Any]) -> str:
        lines = summarize(iterator_event(1, "iter", None, ACTIVE, duration=0.001), *events)
        assert lines[-1] == "# anomalies: none"  # never "never finished", even killed (no end note)
        return lines[1]

    assert line() == "it#1  m.py:3 · next 0 · gave 0 · not exhausted · 0.000 ms inside"
    assert (
        line(
            iterator_event(2, "next", ACTIVE, ACTIVE, duration=0.002),
            iterator_event(3, "next", ACTIVE, EXHAUSTED, duration=0.001, **STOP),
        )
        == "it#1  m.py:3 · next 2 · gave 1 · exhausted · 3.000 ms inside"
    )
    assert (
        line(
            iterator_event(2, "next", ACTIVE, ACTIVE, lineno=3),
            iterator_event(3, "leave", ACTIVE, ACTIVE, lineno=3, value=None),
            iterator_event(4, "iter", ACTIVE, ACTIVE, lineno=7),
            iterator_event(5, "leave", ACTIVE, ACTIVE, lineno=7, value=None),
            iterator_event(6, "iter", ACTIVE, ACTIVE, lineno=3),
            iterator_event(7, "leave", ACTIVE, ACTIVE, lineno=3, value=None),
        )
        == "it#1  m.py:3 · next 1 · gave 1 · not exhausted (loops at lines 3, 7 left early) · 0.000 ms inside"
    )
    # An exhausted iterator a next() found exhausted again stays so; one that answered again is not.
    again = iterator_event(3, "next", EXHAUSTED, EXHAUSTED, **STOP)
    exhausted = iterator_event(2, "next", ACTIVE, EXHAUSTED, **STOP)
    assert " · next 2 · gave 0 · exhausted · " in line(exhausted, again)
    assert " · next 2 · gave 1 · not exhausted · " in line(
        exhausted, iterator_event(3, "next", EXHAUSTED, ACTIVE)
    )
    bad = {
        "outcome": "raise",
        "value": "ValueError('bad')",
        "value_exc": {"type": "builtins.ValueError", "message": "bad"},
    }
    raised = line(
        iterator_event(2, "anext", ACTIVE, ACTIVE, **bad),
        iterator_event(3, "leave", ACTIVE, ACTIVE, lineno=5, value=None),
    )
    assert (
        " · next 1 · gave 0 · not exhausted (anext() raised ValueError: bad; loop at line 5 left early) · "
        in raised
    )


def test_run_and_show_summarize_iterators_alike(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess
    import sys

    monkeypatch.chdir(tmp_path)
    (tmp_path / "loop.py").write_text("for n in [1, 2]:\n    break\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "gentrace",
            "run",
            "-q",
            "--iterators",
            "--summary",
            "-o",
            "t.jsonl",
            "loop.py",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines == CliRunner().invoke(main, ["show", "t.jsonl", "--summary"]).stdout.splitlines()
    assert lines[1].startswith(
        "list_iterator#1  loop.py:1 · next 1 · gave 1 · not exhausted (loop at line 1 left early) · "
    )
    assert lines[-1] == "# anomalies: none"
