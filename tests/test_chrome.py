"""The Chrome Trace Event Format: slices named as the log names them, flows from a caller to the
generator it resumed, one format for `run -o x.json` and `show --to chrome`; and `show`'s edges (a
Chrome file given to it, ``--html -``)."""

from __future__ import annotations

import io
import json
import signal
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from test_cli_run import GENTRACE, TIMEOUT, environ, start_blocked, write
from test_timeline import LOOPS, record_loops
from trace_samples import ROOT, record_sample

from gentrace.chrome import is_chrome_trace
from gentrace.cli import main

Event = dict[str, Any]

DRIVER = """\
def doubler():
    n = yield
    while True:
        n = yield n * 2


def driver(source):
    next(source)
    for i in range(2):
        yield source.send(i)


for x in driver(doubler()):
    print(x)
"""

CRASH = """\
def steps():
    yield 1
    raise ValueError("boom")


for step in steps():
    pass
"""


def gentrace(*args: Any, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """`gentrace ARGS...` in a subprocess (run or show)."""
    return subprocess.run(
        [str(GENTRACE), *map(str, args)],
        cwd=cwd,
        env=environ(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        encoding="utf-8",
        timeout=TIMEOUT,
    )


def events_of(path: Path) -> list[Event]:
    """The events of a Chrome trace file, which must be the JSON Object Format, whole."""
    doc = json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
    assert set(doc) == {"traceEvents", "displayTimeUnit"} and doc["displayTimeUnit"] == "ms"
    events: list[Event] = doc["traceEvents"]
    check_structure(events)
    return events


def show_chrome(trace: Path, tmp_path: Path, *options: str) -> list[Event]:
    out = tmp_path / "shown.json"
    result = CliRunner().invoke(main, ["show", str(trace), "--to", "chrome", "-o", str(out), *options])
    assert result.exit_code == 0, result.stderr
    return events_of(out)


def check_structure(events: list[Event]) -> None:
    """One named track per instance, numbered from 1; slices, instants and flows as documented."""
    tids = [e["tid"] for e in events if e["ph"] == "M"]
    assert tids == list(range(1, len(tids) + 1))
    assert len({e["args"]["name"] for e in events if e["ph"] == "M"}) == len(tids)
    for e in events:
        assert e["pid"] == 1 and e["ph"] in ("M", "X", "i", "s", "f")
        assert e["ph"] == "M" or e["tid"] in tids
        if e["ph"] == "X":
            assert e["dur"] >= 0 and {"seq", "result", "state", "thread"} <= set(e["args"])
        if e["ph"] == "i":
            assert e["s"] == "t"
        if e["ph"] in ("s", "f"):
            assert (e["name"], e["cat"]) == ("resume", "gentrace")
    starts = sorted(e["id"] for e in events if e["ph"] == "s")
    assert starts == sorted(e["id"] for e in events if e["ph"] == "f" and e["bp"] == "e")
    assert len(set(starts)) == len(starts)


def track_names(events: list[Event]) -> dict[int, str]:
    return {e["tid"]: e["args"]["name"] for e in events if e["ph"] == "M"}


def enclosing(events: list[Event], tid: int, ts: Decimal) -> Event:
    """The slice on track `tid` that `ts` lies in (the one a ``bp: e`` flow end binds to)."""
    found = [e for e in events if e["ph"] == "X" and e["tid"] == tid and e["ts"] <= ts <= e["ts"] + e["dur"]]
    assert len(found) == 1, (tid, ts, found)
    return found[0]


def flows(events: list[Event]) -> list[tuple[Event, Event]]:
    """(caller's slice, resumed slice) for each flow, in the file's order."""
    ends = {e["id"]: e for e in events if e["ph"] == "f"}
    pairs = []
    for start in (e for e in events if e["ph"] == "s"):
        end = ends[start["id"]]
        assert end["ts"] == start["ts"]
        pairs.append((enclosing(events, start["tid"], start["ts"]), enclosing(events, end["tid"], end["ts"])))
    return pairs


def named_flows(events: list[Event]) -> list[tuple[str, str]]:
    return [(caller["name"], resumed["name"]) for caller, resumed in flows(events)]


# -- slices -----------------------------------------------------------------------------------------


def test_slices_are_named_by_the_expression_the_log_writes(tmp_path: Path) -> None:
    events = show_chrome(record_sample("averager", tmp_path / "t.jsonl"), tmp_path)
    assert track_names(events) == {1: "averager#1", 2: "accumulate#1"}
    slices = [(e["tid"], e["name"], e["args"]["result"]) for e in events if e["ph"] == "X"]
    assert slices == [
        (1, "next(averager#1)", "None"),
        (1, "averager#1.send(10)", "10.0"),
        (1, "averager#1.send(20)", "15.0"),
        (1, "averager#1.send(6)", "12.0"),
        (1, "averager#1.close()", ""),
        (2, "next(accumulate#1)", "None"),
        (2, "accumulate#1.send(10)", "None"),
        (2, "accumulate#1.send(20)", "None"),
        (2, "accumulate#1.send(6)", "None"),
        (2, "accumulate#1.send(14)", "None"),
        (2, "accumulate#1.send(None)", "StopIteration: {'count': 4, 'average': 12.5}"),
    ]
    instants = [e["name"] for e in events if e["ph"] == "i"]
    assert instants == ["averager#1 = averager()", "accumulate#1 = accumulate()"]
    assert not flows(events)  # main() is not traced: nothing resumed them from a traced step


def test_async_slices_and_the_pipelines_flows(tmp_path: Path) -> None:
    traced = gentrace("run", "-q", "-o", tmp_path / "t.json", "samples/async_pipeline.py", "--tick", "0.001")
    assert traced.returncode == 0, traced.stderr
    events = events_of(tmp_path / "t.json")
    names = {e["name"] for e in events if e["ph"] == "X"}
    assert {"await anext(readings#1)", "await anext(scaled#1)", "await scaled#1.asend(10)"} <= names
    linked = named_flows(events)
    # The transform's step pulls a reading; the consumer's step pulls an item from the transform.
    assert ("await anext(scaled#1)", "await anext(readings#1)") in linked
    assert ("await scaled#1.asend(10)", "await anext(readings#1)") in linked
    assert ("consume#1.send(None)", "await anext(scaled#1)") in linked
    assert ("await scaled#1.aclose()", "await readings#1.aclose()") in linked
    assert ("main#1.send(None)", "consume#1.send(None)") in linked  # `await consume(...)`
    # The second consumer runs in a task of its own: no step of main#1 resumed it.
    assert not [pair for pair in linked if pair[1].startswith("consume#2")]


def test_an_iterators_track_has_its_nexts_as_slices_and_its_iter_and_leave_as_instants(
    tmp_path: Path,
) -> None:
    events = show_chrome(record_loops(tmp_path), tmp_path)
    tracks = track_names(events)
    assert list(tracks.values()) == [
        *(f"list_iterator#{n}" for n in range(1, 5)),
        "enumerate#1",
        "list_iterator#5",
        "list_iterator#6",
        "genexpr@12#1",
        "Flaky#1",
    ]

    def on(name: str, ph: str) -> list[tuple[str, str, str]]:
        return [
            (e["name"], e["args"]["result"], e["args"]["state"])
            for e in events
            if e["ph"] == ph and tracks[e["tid"]] == name
        ]

    assert on("list_iterator#2", "X") == [
        ("next(list_iterator#2)", "1", "ITER_ACTIVE"),
        ("next(list_iterator#2)", "2", "ITER_ACTIVE"),
    ]
    assert on("list_iterator#2", "i") == [
        ("list_iterator#2 = iter(numbers)", "", "ITER_ACTIVE"),
        ("loop at line 3 left list_iterator#2", "", "ITER_ACTIVE"),  # not exhausted
    ]
    assert on("list_iterator#5", "X")[-1] == (
        "next(list_iterator#5, 'done')",
        "'done'",
        "ITER_ACTIVE → ITER_EXHAUSTED",
    )
    assert on("enumerate#1", "i") == [("enumerate#1 = iter(pairs)", "", "ITER_ACTIVE")] * 2
    assert on("Flaky#1", "X")[1] == ("next(Flaky#1)", "ValueError: flaky", "ITER_ACTIVE")
    # The generator expression's steps call its iterator's next(): an arrow each.
    assert named_flows(events) == [("next(genexpr@12#1)", "next(list_iterator#6)")] * 4


def test_run_and_show_write_the_same_trace_of_iterators(tmp_path: Path) -> None:
    write(tmp_path, {"loops.py": LOOPS})
    traced = gentrace("run", "-q", "--iterators", "-o", "run.json", "-o", "t.jsonl", "loops.py", cwd=tmp_path)
    assert traced.returncode == 0, traced.stderr
    shown = gentrace("show", "t.jsonl", "--to", "chrome", "-o", "show.json", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    from_run = events_of(tmp_path / "run.json")
    assert from_run == events_of(tmp_path / "show.json")
    assert "loop at line 3 left list_iterator#2" in {e["name"] for e in from_run if e["ph"] == "i"}


# -- flows --------------------------------------------------------------------------------------------


def test_delegation_flows_go_down_the_yield_from_chain(tmp_path: Path) -> None:
    events = show_chrome(record_sample("delegation", tmp_path / "t.jsonl"), tmp_path)
    assert track_names(events) == {1: "report#1", 2: "counted#1", 3: "read_numbers#1"}
    linked = named_flows(events)
    # Five steps for the five numbers, a sixth in which read_numbers#1 and counted#1 return and
    # report#1 yields the summary: each goes down the chain. The seventh ends report#1 on its own.
    assert linked == [("next(counted#1)", "next(read_numbers#1)"), ("next(report#1)", "next(counted#1)")] * 6
    steps = [e["name"] for e in events if e["ph"] == "X" and e["tid"] == 1]
    assert steps == ["next(report#1)"] * 7


def test_a_generator_driving_another_links_each_of_its_steps_to_the_steps_it_made(tmp_path: Path) -> None:
    write(tmp_path, {"driver.py": DRIVER})
    traced = gentrace("run", "-q", "-o", "t.json", "driver.py", cwd=tmp_path)
    assert traced.returncode == 0, traced.stderr
    events = events_of(tmp_path / "t.json")
    assert named_flows(events) == [
        ("next(driver#1)", "next(doubler#1)"),
        ("next(driver#1)", "doubler#1.send(0)"),
        ("next(driver#1)", "doubler#1.send(1)"),
    ]
    callers = [caller["args"]["seq"] for caller, _ in flows(events)]
    assert callers[0] == callers[1] != callers[2]  # the first step of driver#1 made two of them


def test_a_resumed_step_lies_within_the_step_that_resumed_it(tmp_path: Path) -> None:
    for sample in ("delegation", "fib", "exception_demo"):
        trace = record_sample(sample, tmp_path / f"{sample}.jsonl")
        for caller, resumed in flows(show_chrome(trace, tmp_path)):
            assert caller["tid"] != resumed["tid"]
            assert caller["ts"] < resumed["ts"]
            assert resumed["ts"] + resumed["dur"] < caller["ts"] + caller["dur"]


def test_filtered_out_callers_leave_no_dangling_flow(tmp_path: Path) -> None:
    trace = record_sample("delegation", tmp_path / "t.jsonl")
    events = show_chrome(trace, tmp_path, "--gen", "report#1", "--gen", "read_numbers#1")
    assert track_names(events) == {1: "report#1", 2: "read_numbers#1"}
    # counted#1 is not shown: report#1's steps made read_numbers#1's, by way of it.
    assert named_flows(events) == [("next(report#1)", "next(read_numbers#1)")] * 6


# -- one format ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("script", ["samples/delegation.py", "driver.py"])
def test_run_and_show_write_the_same_trace(tmp_path: Path, script: str) -> None:
    write(tmp_path, {"driver.py": DRIVER})
    where = ROOT if script.startswith("samples") else tmp_path
    traced = gentrace("run", "-q", "-o", tmp_path / "run.json", "-o", tmp_path / "t.jsonl", script, cwd=where)
    assert traced.returncode == 0, traced.stderr
    shown = gentrace("show", tmp_path / "t.jsonl", "--to", "chrome", "-o", tmp_path / "show.json")
    assert shown.returncode == 0, shown.stderr
    from_run, from_show = events_of(tmp_path / "run.json"), events_of(tmp_path / "show.json")
    assert from_run == from_show
    assert flows(from_run)


def test_show_to_chrome_on_stdout_is_the_same_format(tmp_path: Path) -> None:
    trace = record_sample("fib", tmp_path / "t.jsonl")
    result = CliRunner().invoke(main, ["show", str(trace), "--to", "chrome"])
    assert result.exit_code == 0, result.stderr
    (tmp_path / "out.json").write_text(result.stdout, encoding="utf-8")
    assert events_of(tmp_path / "out.json") == show_chrome(trace, tmp_path)


def test_the_run_file_is_whole_after_an_uncaught_exception(tmp_path: Path) -> None:
    write(tmp_path, {"crash.py": CRASH})
    traced = gentrace("run", "-q", "-o", "t.json", "crash.py", cwd=tmp_path)
    assert traced.returncode == 1
    slices = [(e["name"], e["args"]["result"]) for e in events_of(tmp_path / "t.json") if e["ph"] == "X"]
    assert slices == [("next(steps#1)", "1"), ("next(steps#1)", "ValueError: boom")]


@pytest.mark.parametrize(("how", "status"), [("interrupt", -signal.SIGINT), ("terminate", -signal.SIGTERM)])
def test_the_run_file_is_whole_after_ctrl_c_or_sigterm(tmp_path: Path, how: str, status: int) -> None:
    proc = start_blocked(tmp_path, 50, "-q", "-o", "t.json")
    if how == "interrupt":
        proc.send_signal(signal.SIGINT)
    else:
        proc.terminate()
    proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == status
    text = (tmp_path / "t.json").read_text(encoding="utf-8")
    assert text.endswith("\n]}\n")
    slices = [e for e in events_of(tmp_path / "t.json") if e["ph"] == "X"]
    if how == "interrupt":  # the step it came in raised KeyboardInterrupt
        assert len(slices) == 51 and slices[-1]["args"]["state"] == "GEN_SUSPENDED → GEN_CLOSED"
    else:  # SIGTERM killed the program in that step, which never ended
        assert len(slices) == 50 and slices[-1]["args"]["result"] == "49"


def test_after_kill_9_the_run_file_lacks_its_ending_but_its_whole_lines_are_events(tmp_path: Path) -> None:
    proc = start_blocked(tmp_path, 5000, "-q", "-o", "t.json")  # far more than one buffer's worth
    proc.kill()
    proc.communicate(timeout=TIMEOUT)
    head, *lines, _cut = (tmp_path / "t.json").read_text(encoding="utf-8").split("\n")
    assert head == '{"displayTimeUnit": "ms", "traceEvents": ['
    assert len(lines) > 100 and not lines[-1].endswith("]}")
    events = [json.loads(line.removesuffix(",")) for line in lines]
    check_structure(events)


# -- show's edges --------------------------------------------------------------------------------------

CHROME_MESSAGE = (
    "{}: this is a Chrome trace (open it in https://ui.perfetto.dev); gentrace show reads the JSON Lines "
    "of gentrace run -o trace.jsonl\n"
)


def test_show_of_a_run_chrome_file_says_what_it_is_and_exits_2(tmp_path: Path) -> None:
    traced = gentrace("run", "-q", "-o", tmp_path / "t.json", "samples/fib.py")
    assert traced.returncode == 0, traced.stderr
    for options in ([], ["--summary"], ["--to", "chrome"], ["--html", str(tmp_path / "t.html")]):
        shown = gentrace("show", tmp_path / "t.json", *options)
        assert (shown.returncode, shown.stdout) == (2, "")
        assert shown.stderr == "Error: " + CHROME_MESSAGE.format(tmp_path / "t.json")
    assert not (tmp_path / "t.html").exists()
    result = CliRunner().invoke(main, ["show", "-"], input=(tmp_path / "t.json").read_bytes())
    assert result.exit_code == 2 and result.stderr == "Error: " + CHROME_MESSAGE.format("<stdin>")


@pytest.mark.parametrize(
    "text",
    [
        '{"traceEvents": [{"ph": "X", "ts": 1, "dur": 2, "pid": 1, "tid": 1, "name": "a"}]}',
        '{\n  "otherData": {"v": 1},\n  "traceEvents": [\n    {\n      "ph": "B"',
        '[{"ph": "B", "ts": 1, "pid": 1, "tid": 1, "name": "a"}, {"ph": "E", "ts": 2, "pid": 1, "tid": 1}]',
        '[\n{"name": "a", "ph": "X", "ts": 1, "dur": 2, "pid": 1, "tid": 1},\n{"name": "b"',
    ],
)
def test_chrome_traces_are_recognised_in_either_format(text: str) -> None:
    stream = io.BytesIO(text.encode())
    assert is_chrome_trace(stream) and stream.tell() == 0


def test_json_lines_traces_are_not_chrome_traces(tmp_path: Path) -> None:
    trace = record_sample("averager", tmp_path / "t.jsonl")
    with open(trace, "rb") as stream:
        assert not is_chrome_trace(stream)
        assert stream.read().startswith(b'{"seq":1,')  # nothing was read
    lookalike = '{"seq": 1, "gen": "g#1", "op": "create", "arg": "{\\"traceEvents\\": []}"}\n'
    for text in (lookalike, "", "\n\n", "[]", '[{"seq": 1}]', '{"traceEvents"', "not json"):
        assert not is_chrome_trace(io.BytesIO(text.encode())), text


def test_show_html_dash_writes_the_page_to_stdout(tmp_path: Path) -> None:
    trace = record_sample("fib", tmp_path / "t.jsonl")
    shown = gentrace("show", trace, "--html", "-", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("<!DOCTYPE html>") and shown.stdout.rstrip().endswith("</html>")
    assert "next(fib#1)" in shown.stdout
    assert not (tmp_path / "-").exists()
    written = gentrace("show", trace, "--html", "t.html", cwd=tmp_path)
    assert written.returncode == 0, written.stderr
    assert (tmp_path / "t.html").read_text(encoding="utf-8") == shown.stdout


def test_show_html_dash_of_an_empty_trace_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").write_text("")
    shown = gentrace("show", tmp_path / "empty.jsonl", "--html", "-", cwd=tmp_path)
    assert (shown.returncode, shown.stdout) == (1, "")
    assert "no events in the trace; no page written" in shown.stderr
    assert not (tmp_path / "-").exists()
