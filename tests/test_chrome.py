"""The Chrome Trace Event Format export, checked structurally."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from trace_samples import ROOT, record_sample

from gentrace.cli import main


def check_structure(events: list[dict[str, Any]]) -> None:
    names = [e["args"]["name"] for e in events if e["ph"] == "M"]
    tids = [e["tid"] for e in events if e["ph"] == "M"]
    assert tids == list(range(1, len(tids) + 1))
    assert len(set(names)) == len(names)
    for e in events:
        assert e["pid"] == 1 and e["ph"] in ("M", "X", "i")
        if e["ph"] == "X":
            assert " → " in e["name"] and "(" not in e["name"]
            assert e["dur"] >= 0 and "expr" in e["args"] and "thread" in e["args"]
        if e["ph"] == "i":
            assert e["s"] == "t"


def test_show_to_chrome(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    trace = record_sample("delegation", tmp_path / "t.jsonl")
    out = tmp_path / "t.json"
    result = CliRunner().invoke(main, ["show", str(trace), "--to", "chrome", "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    doc = json.loads(out.read_text(), parse_float=Decimal)
    assert doc["displayTimeUnit"] == "ms"
    events = doc["traceEvents"]
    check_structure(events)
    assert [e["args"]["name"] for e in events if e["ph"] == "M"] == [
        "report#1",
        "counted#1",
        "read_numbers#1",
    ]
    slices = {e["tid"]: [] for e in events}  # type: dict[int, list[dict[str, Any]]]
    for e in events:
        if e["ph"] == "X":
            slices[e["tid"]].append(e)
    # Each inner step lies inside its outer step (exact decimals, no rounding slips).
    for outer, inner in zip(slices[1], slices[2], strict=False):
        assert outer["ts"] <= inner["ts"] and inner["ts"] + inner["dur"] <= outer["ts"] + outer["dur"]
    creates = [e for e in events if e["ph"] == "i" and e["name"] == "create → created"]
    assert len(creates) == 3


def test_run_out_json_streams_the_array_format(tmp_path: Path) -> None:
    out = tmp_path / "trace.json"
    proc = subprocess.run(
        [sys.executable, "-m", "gentrace", "run", "-q", "--out", str(out), "samples/averager.py"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    events = json.loads(text)
    check_structure(events)
    assert {e["args"]["name"] for e in events if e["ph"] == "M"} == {"averager#1", "accumulate#1"}
    # Without its closing bracket (a killed run) it is still an array a loader can finish.
    assert json.loads(text.rstrip().removesuffix("]") + "]") == events
