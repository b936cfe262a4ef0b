"""The step-through HTML replay: the page's data, its safety, the CLI, and the page in a real browser.

The browser tests drive Debian's chromium through chromedriver with selenium; without them they
skip, saying what to install.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import support
from click.testing import CliRunner
from test_timeline import record_loops
from trace_samples import ROOT, consume, record_sample, trace_awaits, trace_event

import gentrace
from gentrace import replay
from gentrace.cli import main
from gentrace.logview import Filters, render_log
from gentrace.page import page as page_html
from gentrace.reader import END, START, Gap, TraceReader
from gentrace.records import AFTER, INST, INSTANT_OPS, NAME, OP, is_finished
from gentrace.renderers import TextOptions
from gentrace.replay import TooManyEvents, build_page, html_sink
from gentrace.sources import path_shower, source_line, source_lookup

TIMEOUT = 30
GENTRACE = [sys.executable, "-m", "gentrace"]
DATA = re.compile(r'<script type="application/json" id="trace-data">(.*?)</script>', re.S)
SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)
STYLE = re.compile(r"<style>(.*?)</style>", re.S)
EVIL = "</script><script>alert(1)</script>"


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # paths in the log are shown relative to the current directory


def options() -> TextOptions:
    return TextOptions(max_repr=1000, source=source_lookup(source_line), show_path=path_shower(str(ROOT)))


def page_of(trace: Path, **kwargs: Any) -> str:
    with open(trace, "rb") as stream:
        reader = TraceReader(stream, name=str(trace))
        return build_page(reader.in_log_order(), options(), title="t", ended=lambda: reader.ended, **kwargs)


def data_of(page: str) -> dict[str, Any]:
    found = DATA.search(page)
    assert found is not None
    return json.loads(found.group(1))  # type: ignore[no-any-return]


def event(seq: int, **fields: Any) -> dict[str, Any]:
    """A JSON Lines event of a generator named g#1, at no place and time (fields override)."""
    return trace_event(seq, **{"time": 0.0, "filename": None, "lineno": None, **fields})


def write_trace(path: Path, *events: dict[str, Any]) -> Path:
    path.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events), encoding="utf-8")
    return path


def crafted(path: Path) -> Path:
    """A trace whose names and values try to end the script element and load things."""
    return write_trace(
        path,
        event(
            1,
            gen=f"{EVIL}#1",
            op="create",
            outcome="created",
            value=None,
            state_before=None,
            state_after="GEN_CREATED",
            arg="<img src=x onerror=alert(2)>",
        ),
        event(2, gen=f"{EVIL}#1", value=f"'{EVIL}<!-- & \u2028'", state_before="GEN_CREATED"),
    )


def last_update(data: dict[str, Any], name: str, step: int) -> list[Any] | None:
    """What the card of instance `name` says at `step` (its last change up to it)."""
    gen = data["gens"].index(name)
    found = None
    for k, st in enumerate(data["steps"][: step + 1]):
        for update in st[3]:
            if update[0] == gen:
                found = [k, *update[1:]]
    return found


# -- the page's data ------------------------------------------------------------------------------


@pytest.mark.parametrize("sample", ["delegation", "fib", "averager", "exception_demo", "loops"])
def test_the_steps_lines_are_the_log_of_show(sample: str, tmp_path: Path) -> None:
    trace = sample_trace(sample, tmp_path)
    data = data_of(page_of(trace))
    with open(trace, "rb") as stream:
        log = list(render_log(TraceReader(stream).in_log_order(), options()))
    assert [line for step in data["steps"] for line in step[2]] == log
    events = [json.loads(line) for line in trace.read_text().splitlines()]
    assert [step[1] for step in data["steps"]] == sorted(e["seq"] for e in events if "seq" in e)


def test_results_of_nested_steps_come_at_the_first_step_they_are_known(tmp_path: Path) -> None:
    data = data_of(page_of(record_sample("delegation", tmp_path / "t.jsonl")))
    steps = data["steps"]
    assert steps[1][2] == [">>> next(report#1)"]
    assert steps[5][2][0] == "        >>> next(read_numbers#1)"
    assert steps[5][2][-2] == "... next(report#1)"  # report#1's first result, after the inner ones


def test_cards_follow_an_instance_from_creation_to_its_end(tmp_path: Path) -> None:
    data = data_of(page_of(record_sample("delegation", tmp_path / "t.jsonl")))
    created = last_update(data, "report#1", 0)
    assert created == [
        0,
        "GEN_CREATED",
        "line 32: def report(lines):",
        "sent in: nothing yet",
        "yielded out: nothing yet",
        "",
        -1,
    ]
    # While its nested steps run, report#1 is running; then it is paused at its yield from.
    assert last_update(data, "report#1", 4)[:2] == [1, "GEN_RUNNING"]  # type: ignore[index]
    assert last_update(data, "report#1", 5) == [
        5,
        "GEN_SUSPENDED",
        "line 34: summary = yield from counted(lines)",
        "sent in: None (next)",
        "yielded out: 3",
        "",
        -1,
    ]
    report, counted = data["gens"].index("report#1"), data["gens"].index("counted#1")
    assert last_update(data, "read_numbers#1", 5)[-1] == counted  # type: ignore[index]
    assert last_update(data, "counted#1", 5)[-1] == report  # type: ignore[index]
    ended = last_update(data, "counted#1", len(data["steps"]) - 1)
    assert ended == [
        20,
        "GEN_CLOSED",
        "",
        "sent in: None (next)",
        "yielded out: 5",
        "returned '5 numbers read'",
        0,
    ]


def test_cards_say_what_was_sent_thrown_and_how_it_ended(tmp_path: Path) -> None:
    data = data_of(page_of(record_sample("averager", tmp_path / "t.jsonl")))
    sent = {update[3] for step in data["steps"] for update in step[3]}
    assert "sent in: 10" in sent and "sent in: None (next)" in sent
    data = data_of(page_of(record_sample("exception_demo", tmp_path / "e.jsonl")))
    updates = [update for step in data["steps"] for update in step[3]]
    assert any(u[3].startswith("thrown in: ") for u in updates)
    assert any(u[5].startswith("raised ") for u in updates) or any(
        u[5] == "closed by close()" for u in updates
    )


def test_a_collected_instance_ends_there(tmp_path: Path) -> None:
    data = data_of(page_of(record_sample("fib", tmp_path / "t.jsonl")))
    last = len(data["steps"]) - 1
    update = last_update(data, "fib#2", last)
    assert update is not None and update[1:2] == ["GEN_CLOSED"]
    assert update[5] == "collected without close()"
    # The sample leaves fib#1 suspended; recording it here, its namespace is cleared at the end.
    assert last_update(data, "fib#1", last - 1)[1:3] == ["GEN_SUSPENDED", "line 16: yield a"]  # type: ignore[index]
    assert last_update(data, "fib#1", last) == [
        last,
        "GEN_CLOSED",
        "",
        "sent in: None (next)",
        "yielded out: 13",
        "collected without close()",
        -1,
    ]


def test_lanes_by_step_mark_running_suspended_and_created_cells(tmp_path: Path) -> None:
    data = data_of(page_of(record_sample("fib", tmp_path / "t.jsonl")))
    lanes = data["step_lanes"]
    assert len(lanes) == len(data["gens"]) == 3
    fib1 = [tuple(lanes[0][i : i + 3]) for i in range(0, len(lanes[0]), 3)]
    created, running, suspended = replay.LANE_CREATED, replay.LANE_RUNNING, replay.LANE_SUSPENDED
    last = len(data["steps"]) - 1
    # Created at 0, six next() calls (one run of cells each), suspended, collected at the end.
    assert sorted(fib1) == [
        (0, 0, created),
        *[(k, k, running) for k in range(1, 7)],
        (7, last - 1, suspended),
        (last, last, running),  # a collect runs the generator's finally blocks
        (last, last, replay.LANE_ENDED),
    ]


def spans(lane: list[int]) -> list[tuple[int, int, int]]:
    """A lane's data as (from, to, kind) triples."""
    return [(lane[i], lane[i + 1], lane[i + 2]) for i in range(0, len(lane), 3)]


def test_lanes_by_time_are_the_records_times(tmp_path: Path) -> None:
    data = data_of(page_of(record_sample("fib", tmp_path / "t.jsonl")))
    events = sorted(
        (json.loads(line) for line in (tmp_path / "t.jsonl").read_text().splitlines() if '"seq"' in line),
        key=lambda e: e["seq"],
    )
    ns = [round(e["time"] * 1e9) for e in events]
    origin = min(ns)
    assert [step[4] for step in data["steps"]] == [t - origin for t in ns]  # each event's start
    took = {e["seq"]: round((e["time"] + e["duration"]) * 1e9) - origin for e in events}
    assert data["span"] == max(took.values()) and data["span_label"] == f"{data['span'] / 1000:.3g} µs"
    fib1 = [e for e in events if e["gen"] == "fib#1"]
    lane = spans(data["time_lanes"][data["gens"].index("fib#1")])
    created, running, suspended, ended = (
        replay.LANE_CREATED,
        replay.LANE_RUNNING,
        replay.LANE_SUSPENDED,
        replay.LANE_ENDED,
    )
    # Created, then each operation running for as long as it took, suspended in between, and
    # collected at the end (its finally blocks run), where it ends.
    expected = [(ns[0] - origin, ns[fib1[1]["seq"] - 1] - origin, created)]
    for before, now in itertools.pairwise(fib1[1:]):
        expected.append((ns[before["seq"] - 1] - origin, took[before["seq"]], running))
        expected.append((took[before["seq"]], ns[now["seq"] - 1] - origin, suspended))
    last = fib1[-1]["seq"]
    expected += [(ns[last - 1] - origin, took[last], running), (took[last], took[last], ended)]
    assert lane == expected


def test_lanes_by_time_show_where_coroutines_await(tmp_path: Path) -> None:
    data = data_of(page_of(trace_awaits(tmp_path / "t.jsonl", ticks=2)))
    created, running, suspended, ended, awaiting = (
        replay.LANE_CREATED,
        replay.LANE_RUNNING,
        replay.LANE_SUSPENDED,
        replay.LANE_ENDED,
        replay.LANE_AWAITING,
    )
    consume_lane = spans(data["time_lanes"][data["gens"].index("consume#1")])
    numbers_lane = spans(data["time_lanes"][data["gens"].index("numbers#1")])
    # The coroutine awaits between its ten steps; it is never suspended at a yield.
    assert [kind for _, _, kind in consume_lane] == [created, *[running, awaiting] * 9, running, ended]
    # The async generator awaits twice inside each anext() (while the coroutine does), then is
    # suspended at its yield; its last anext() returns.
    assert [kind for _, _, kind in numbers_lane] == [
        created,
        *[running, awaiting, running, awaiting, running, suspended] * 3,
        running,
        ended,
    ]
    waits = [(start, end) for start, end, kind in consume_lane if kind == awaiting]
    for start, end, kind in numbers_lane:
        if kind == awaiting:
            assert (start, end) in waits
    for lane in (consume_lane, numbers_lane):  # one after the other
        assert all(a[1] == b[0] for a, b in itertools.pairwise(lane))


def test_coroutines_taking_turns_await_while_the_other_runs(tmp_path: Path) -> None:
    trace = tmp_path / "t.jsonl"
    clock = support.FakeClock()
    tracer = gentrace.Tracer(out=str(trace), clock=clock)
    with tracer:
        tasks = [consume(2), consume(2)]
        while tasks:  # round robin, waiting 20 µs after each round
            for task in list(tasks):
                try:
                    task.send(None)
                except StopIteration:
                    tasks.remove(task)
            clock.now += 20_000
    tracer.close()
    data = data_of(page_of(trace))

    def lane(key: str, name: str) -> list[tuple[int, int, int]]:
        return spans(data[key][data["gens"].index(name)])

    running, suspended, awaiting = replay.LANE_RUNNING, replay.LANE_SUSPENDED, replay.LANE_AWAITING
    for name in ("consume#1", "consume#2"):
        kinds = {kind for _, _, kind in lane("step_lanes", name)}  # by step: while the other one runs
        assert awaiting in kinds and suspended not in kinds
    for n in ("1", "2"):
        driver = lane("time_lanes", f"consume#{n}")
        runs = [(start, end) for start, end, kind in driver if kind == running]
        waits = [(start, end) for start, end, kind in driver if kind == awaiting]
        # An async generator runs only inside its coroutine's steps, and awaits when that one does.
        for start, end, kind in lane("time_lanes", f"numbers#{n}"):
            if kind == running:
                assert any(a <= start and end <= b for a, b in runs), (n, start, end)
            elif kind == awaiting:
                assert (start, end) in waits, (n, start, end)


def finished_so_far(trace: Path) -> list[dict[str, bool]]:
    """Per event of the page (and of `gentrace show`'s log), whether each instance has finished:
    whether its last record so far (its result written by then) left it closed."""
    found: list[dict[str, bool]] = []
    now: dict[str, bool] = {}
    with open(trace, "rb") as stream:
        for item in TraceReader(stream).in_log_order():
            if isinstance(item, Gap):
                continue
            kind, event = item
            record = event.record
            instant = record[OP] in INSTANT_OPS
            if kind == END:
                now[record[INST][NAME]] = is_finished(record[AFTER])
            if kind == START or instant:
                found.append(dict(now))
            else:
                found[-1] = dict(now)
    return found


def cards_at(data: dict[str, Any], step: int) -> dict[str, str]:
    """The cards the page shows at `step`: each instance's state, from its last change up to it;
    a finished one (or an iterator a loop left) only at the step where it finished (or was left)."""
    shown = {}
    for name in data["gens"]:
        update = last_update(data, name, step)
        gone = update is not None and (update[1] in data["closed"] or update[7:] == [True])
        if update is not None and (not gone or update[0] == step):
            shown[name] = update[1]
    return shown


def damaged(trace: Path, seq: int, to: Path) -> Path:
    """The trace with the line of event `seq` broken (as a disk error or a cut copy leaves one)."""
    lines = trace.read_text().splitlines()
    to.write_text("".join(('{"seq": ' if f'"seq":{seq},' in line else line) + "\n" for line in lines))
    return to


def sample_trace(sample: str, where: Path) -> Path:
    """The trace of a sample, or of `test_timeline.LOOPS` (``loops``: iterators)."""
    return record_loops(where) if sample == "loops" else record_sample(sample, where / "t.jsonl")


@pytest.mark.parametrize("sample", ["delegation", "fib", "averager", "exception_demo", "loops"])
def test_cards_agree_with_the_trace_at_every_step(sample: str, tmp_path: Path) -> None:
    trace = sample_trace(sample, tmp_path)
    events = len([line for line in trace.read_text().splitlines() if '"seq"' in line])
    for broken in [None, *range(1, events + 1)]:
        read = trace if broken is None else damaged(trace, broken, tmp_path / f"d{broken}.jsonl")
        data = data_of(page_of(read))
        truth = finished_so_far(read)
        assert len(truth) == len(data["steps"])
        for step, finished in enumerate(truth):
            for name, state in cards_at(data, step).items():
                assert (state in data["closed"]) == finished.get(name, False), (broken, step, name, state)


def test_a_broken_line_changes_no_other_instance(tmp_path: Path) -> None:
    trace = record_sample("averager", tmp_path / "t.jsonl")
    whole = data_of(page_of(trace))
    data = data_of(page_of(damaged(trace, 7, tmp_path / "d.jsonl")))  # accumulate#1's creation
    # averager#1 was closed before the gap: its cards and lanes are those of the whole trace.
    for key in ("step_lanes", "time_lanes"):
        assert data[key][0] == whole[key][0]
    assert [cards_at(data, k).get("averager#1") for k in range(7)] == [
        cards_at(whole, k).get("averager#1") for k in range(7)
    ]


@gentrace.trace
def one() -> Iterator[int]:
    yield 1


def test_operations_on_a_finished_instance_change_nothing(tmp_path: Path) -> None:
    trace = tmp_path / "t.jsonl"
    tracer = gentrace.Tracer(out=str(trace), clock=support.FakeClock())
    with tracer:
        g = one()
        assert list(g) == [1]
        assert next(g, None) is None
        g.close()
        h = one()
        h.close()
        assert next(h, None) is None
    tracer.close()
    data = data_of(page_of(trace))
    truth = finished_so_far(trace)
    for step, finished in enumerate(truth):
        for name, state in cards_at(data, step).items():
            assert (state in data["closed"]) == finished[name], (step, name, state)
    # one#1 returns at step 2; one#2 is closed unstarted at step 6: then their cards go.
    assert [k for k in range(len(truth)) if "one#1" in cards_at(data, k)] == [0, 1, 2]
    assert [k for k in range(len(truth)) if "one#2" in cards_at(data, k)] == [5, 6]
    running, ended = replay.LANE_RUNNING, replay.LANE_ENDED
    for lane in data["time_lanes"]:
        kinds = [kind for _, _, kind in spans(lane)]
        assert kinds.count(ended) == 1 and kinds[-1] == ended
    assert max(k for k, _, kind in spans(data["step_lanes"][0]) if kind == running) == 2
    assert running not in {kind for _, _, kind in spans(data["step_lanes"][1])}


def test_an_iterators_card_says_what_was_asked_what_it_gave_and_if_it_is_exhausted(tmp_path: Path) -> None:
    data = data_of(page_of(record_loops(tmp_path)))
    assert [data["gens"][g] for g in data["iterators"]] == [
        *(f"list_iterator#{n}" for n in range(1, 5)),
        "enumerate#1",
        "list_iterator#5",
        "list_iterator#6",
        "Flaky#1",
    ]
    assert data["active"] == ["ITER_ACTIVE"]
    said = {}  # the first card each iterator showed with each thing asked of it
    for k, step in enumerate(data["steps"]):
        for update in step[3]:
            said.setdefault((data["gens"][update[0]], update[3]), [k, *update[1:]])
    loop = "for m in numbers:"
    assert said["list_iterator#2", "iter(numbers)"][1:] == [
        "ITER_ACTIVE",
        f"line 3: {loop}",
        "iter(numbers)",
        "gave: nothing yet",
        "",
        -1,
    ]
    k, *card = said["list_iterator#2", "next() by the loop at line 3"]
    assert card == ["ITER_ACTIVE", f"line 3: {loop}", "next() by the loop at line 3", "gave: 1", "", -1]
    k, *card = said["list_iterator#2", "left by the loop at line 3 before the end"]
    assert card == [
        "ITER_ACTIVE",
        f"line 3: {loop}",
        "left by the loop at line 3 before the end",
        "gave: 2",
        "",
        -1,
        True,  # left by a loop: the card goes after this step
    ]
    assert data["steps"][k][2] == ["# loop at line 3 left before the end: list_iterator#2 not exhausted"]
    assert "list_iterator#2" in cards_at(data, k) and "list_iterator#2" not in cards_at(data, k + 1)
    # A loop left Flaky#1 when its next() raised; another loop takes it up again: its card is back.
    k, *_ = said["Flaky#1", "left by the loop at line 33 before the end"]
    again = next(
        j for j, step in enumerate(data["steps"]) if j > k and step[2][0].startswith(">>> Flaky#1 = iter")
    )
    assert [step for step in range(k, again + 2) if "Flaky#1" in cards_at(data, step)] == [
        k,
        again,
        again + 1,
    ]
    assert said["enumerate#1", "iter(pairs) · its own iterator"][1] == "ITER_ACTIVE"
    # The outer loop's next finds the enumerate exhausted: its card shows again at that step.
    k, *card = said["enumerate#1", "next() by the loop at line 7"]
    last = last_update(data, "enumerate#1", len(data["steps"]) - 1)
    assert last is not None and last[0] > k
    assert last[1:] == [
        "ITER_EXHAUSTED",
        "line 7: for i, a in pairs:",
        "next() by the loop at line 7",
        "gave: (1, 'b')",
        "exhausted",
        -1,
    ]
    assert cards_at(data, last[0])["enumerate#1"] == "ITER_EXHAUSTED"
    assert "enumerate#1" not in cards_at(data, last[0] + 1)
    assert said["list_iterator#5", "next() with the default 'done'"][1:6:4] == ["ITER_EXHAUSTED", "exhausted"]
    # A class's next() raises (the card says so), a loop exhausts it, and it answers again.
    assert said["Flaky#1", "next() by the loop at line 33"][4] == "gave: 1"
    assert "raised ValueError: flaky" in {update[4] for step in data["steps"] for update in step[3]}
    assert last_update(data, "Flaky#1", len(data["steps"]) - 1)[1:6] == [  # type: ignore[index]
        "ITER_ACTIVE",
        "line 39: next(flaky)",
        "next()",
        "gave: 4",
        "",
    ]
    # The generator expression's steps ran the next()s of the iterator it loops over.
    genexpr = data["gens"].index("genexpr@12#1")
    assert said["list_iterator#6", "next() by the loop at line 12"][-1] == genexpr


def test_an_iterators_lanes_by_step_mark_iter_leave_and_exhaustion(tmp_path: Path) -> None:
    data = data_of(page_of(record_loops(tmp_path)))
    running, active = replay.LANE_RUNNING, replay.LANE_ACTIVE
    taken, left, exhausted = replay.LANE_ITER, replay.LANE_LEFT, replay.LANE_EXHAUSTED
    steps = {
        name: [k for k, step in enumerate(data["steps"]) if data["gens"][step[0]] == name]
        for name in data["gens"]
    }
    # list_iterator#2: taken at its first step, two nexts, left: active from then on, to the end.
    first, one, two, leave = steps["list_iterator#2"]
    last = len(data["steps"]) - 1
    assert sorted(spans(data["step_lanes"][data["gens"].index("list_iterator#2")])) == [
        (first, first, active),
        (first, first, taken),
        (one, one, running),
        (two, two, running),
        (leave, leave, left),
        (leave, last, active),
    ]
    # enumerate#1 is exhausted once (a mark over its running cell), and runs once more after that.
    lane = spans(data["step_lanes"][data["gens"].index("enumerate#1")])
    marks = [(k, kind) for k, _, kind in lane if kind in (taken, left, exhausted)]
    enum = steps["enumerate#1"]
    assert marks == [(enum[0], taken), (enum[2], taken), (enum[-2], exhausted)]
    assert (enum[-1], enum[-1], running) in lane
    assert max(end for _, end, kind in lane if kind != running) == enum[-2]  # nothing drawn once exhausted
    # By time, the same kinds of span as the terminal chart: the marks included.
    kinds = {kind for k in data["time_lanes"] for kind in k[2::3]}
    assert {active, running, taken, left, exhausted} <= kinds


def test_filters_apply(tmp_path: Path) -> None:
    trace = record_sample("delegation", tmp_path / "t.jsonl")
    data = data_of(page_of(trace, filters=Filters(gens=["counted#*"])))
    assert data["gens"] == ["counted#1"]
    data = data_of(page_of(trace, filters=Filters(gens=["nothing"])))
    assert data["steps"] == [] and data["gens"] == []


def test_beyond_the_limit_there_is_no_page(tmp_path: Path) -> None:
    trace = record_sample("delegation", tmp_path / "t.jsonl")
    assert len(data_of(page_of(trace, limit=22))["steps"]) == 22
    with pytest.raises(TooManyEvents, match="more than 21 events"):
        page_of(trace, limit=21)


# -- safety ---------------------------------------------------------------------------------------


def test_the_trace_cannot_end_the_script_element(tmp_path: Path) -> None:
    page = page_of(crafted(tmp_path / "t.jsonl"))
    assert page.count("<script") == 2 and page.count("</script>") == 2
    assert "<img" not in page and "<!--" not in page and "\u2028" not in page
    data = data_of(page)
    assert data["gens"] == [f"{EVIL}#1"]
    assert f"yielded out: '{EVIL}<!-- & \\u2028'" in {u[4] for st in data["steps"] for u in st[3]}


def test_only_the_pages_own_script_and_style_may_run_and_nothing_loads(tmp_path: Path) -> None:
    page = page_of(record_sample("delegation", tmp_path / "t.jsonl"))
    csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">', page)
    assert csp is not None
    policy = dict(part.strip().split(" ", 1) for part in csp.group(1).split(";"))
    script, style = SCRIPT.search(page), STYLE.search(page)
    assert script is not None and style is not None

    def digest(text: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"

    assert policy == {
        "default-src": "'none'",
        "script-src": digest(script.group(1)),
        "style-src": digest(style.group(1)),
        "base-uri": "'none'",
        "form-action": "'none'",
    }
    assert re.findall(r"[a-z]+://[^\s\"']*", page) == ["http://www.w3.org/2000/svg"]
    assert not re.search(r"\s(src|href|action)=", page)


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("/etc/passwd", "line 1"),
        ("{samples}/fib.py.txt", "line 16"),
        ("{samples}/no_such_file.py", "line 16"),
        ("{samples}/fib.py", "line 16: yield a"),
    ],
)
def test_source_lines_come_only_from_existing_py_files(filename: str, expected: str, tmp_path: Path) -> None:
    samples = tmp_path / "samples"
    samples.mkdir()
    shutil.copy(ROOT / "samples" / "fib.py", samples / "fib.py")
    shutil.copy(ROOT / "samples" / "fib.py", samples / "fib.py.txt")
    lineno = int(expected.split()[1].rstrip(":"))
    path = filename.format(samples=samples)
    trace = write_trace(tmp_path / "t.jsonl", event(1, filename=path, lineno=lineno))
    page = page_of(trace)
    assert last_update(data_of(page), "g#1", 0)[2] == expected  # type: ignore[index]
    if path == "/etc/passwd":
        assert Path(path).read_text().splitlines()[0] not in page


# -- the command line -----------------------------------------------------------------------------


def show(*args: str, input: bytes | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["show", *args], input=input)
    return result.exit_code, result.stdout, result.stderr


def test_show_html_writes_the_page_and_nothing_else(tmp_path: Path) -> None:
    trace = record_sample("delegation", tmp_path / "t.jsonl")
    out = tmp_path / "out.html"
    assert show(str(trace), "--html", str(out)) == (0, "", "")
    data = data_of(out.read_text(encoding="utf-8"))
    assert data["title"] == str(trace) and len(data["steps"]) == 22
    assert show("-", "--html", str(out), input=trace.read_bytes())[0] == 0
    from_stdin = data_of(out.read_text(encoding="utf-8"))
    assert from_stdin.pop("title") == "<stdin>"
    data.pop("title")
    assert from_stdin == data


def test_show_html_filters_and_max_repr(tmp_path: Path) -> None:
    trace = record_sample("averager", tmp_path / "t.jsonl")
    out = tmp_path / "out.html"
    assert show(str(trace), "--html", str(out), "--only", "averager")[0] == 0
    assert data_of(out.read_text(encoding="utf-8"))["gens"] == ["averager#1"]
    assert show(str(trace), "--html", str(out), "--grep", "14")[0] == 0
    assert data_of(out.read_text(encoding="utf-8"))["gens"] == ["accumulate#1"]
    assert show(str(trace), "--html", str(out), "--max-repr", "10")[0] == 0
    data = data_of(out.read_text(encoding="utf-8"))
    assert "StopIteration: {'count..." in "\n".join(line for step in data["steps"] for line in step[2])


def test_show_html_bad_lines(tmp_path: Path) -> None:
    trace = tmp_path / "t.jsonl"
    lines = record_sample("averager", trace).read_text().splitlines()
    lines.insert(3, "not json")
    trace.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.html"
    code, _, err = show(str(trace), "--html", str(out), "--strict")
    assert (code, err) == (1, f"{trace}: line 4: not JSON\n") and not out.exists()
    out.write_text("the old page")
    assert show(str(trace), "--html", str(out), "--strict")[0] == 1
    assert out.read_text() == "the old page"  # no half page, and the old one left alone
    code, _, err = show(str(trace), "--html", str(out))
    assert code == 0 and "1 bad line skipped; first: line 4: not JSON" in err
    assert "averager#1" in data_of(out.read_text(encoding="utf-8"))["gens"]


@pytest.mark.parametrize("where", ["no/such/dir/out.html", "."])
def test_show_html_to_a_path_that_cannot_be_written_exits_2(where: str, tmp_path: Path) -> None:
    trace = record_sample("fib", tmp_path / "t.jsonl")
    code, _, err = show(str(trace), "--html", where)
    assert code == 2 and err.startswith("Error: can't open --html file") and len(err.splitlines()) == 1


def test_show_html_of_a_missing_or_empty_trace(tmp_path: Path) -> None:
    code, _, err = show(str(tmp_path / "nope.jsonl"), "--html", str(tmp_path / "out.html"))
    assert code == 2 and "nope.jsonl" in err and not (tmp_path / "out.html").exists()
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    code, _, err = show(str(empty), "--html", str(tmp_path / "out.html"))
    assert code == 1 and "no events in the trace" in err and not (tmp_path / "out.html").exists()


def test_show_html_is_a_page_of_its_own(tmp_path: Path) -> None:
    trace = str(record_sample("fib", tmp_path / "t.jsonl"))
    for other in (["--summary"], ["--timeline"], ["--to", "chrome"], ["-o", str(tmp_path / "x")]):
        code, _, err = show(trace, "--html", str(tmp_path / "out.html"), *other)
        assert code == 2 and "--html writes a page of its own" in err


def test_show_html_beyond_the_limit_exits_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(replay, "MAX_EVENTS", 21)
    trace = record_sample("delegation", tmp_path / "t.jsonl")
    out = tmp_path / "out.html"
    code, _, err = show(str(trace), "--html", str(out))
    assert code == 1 and not out.exists()
    assert err == (
        f"{trace}: more than 21 events, too many for one page: narrow it with --only, --gen or --grep; "
        "no page written\n"
    )


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    return subprocess.run(
        [*GENTRACE, "run", *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        encoding="utf-8",
        timeout=TIMEOUT,
        check=False,
    )


def test_run_out_html_writes_the_page_at_exit(tmp_path: Path) -> None:
    out = tmp_path / "trace.html"
    proc = run("-q", "--out", str(out), "samples/delegation.py")
    assert (proc.returncode, proc.stderr) == (0, "")
    data = data_of(out.read_text(encoding="utf-8"))
    assert data["title"] == "delegation.py" and len(data["steps"]) == 22
    assert last_update(data, "read_numbers#1", 5)[2] == "line 20: yield int(line)"  # type: ignore[index]


CRASH = """\
import os, signal

def numbers():
    yield 1
    yield 2

gen = numbers()
next(gen)
if os.environ.get("HOW") == "interrupt":
    os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C
raise ValueError("boom")
"""


@pytest.mark.parametrize(
    ("how", "status", "last"),
    [("raise", 1, "ValueError: boom"), ("interrupt", -signal.SIGINT, "KeyboardInterrupt")],
)
def test_run_out_html_writes_the_page_after_a_crash_or_ctrl_c(
    how: str, status: int, last: str, tmp_path: Path
) -> None:
    (tmp_path / "crash.py").write_text(CRASH)
    out = tmp_path / "trace.html"
    env_how = {"HOW": how}
    proc = subprocess.run(
        [*GENTRACE, "run", "-q", "--out", str(out), "crash.py"],
        cwd=tmp_path,
        env={**os.environ, **env_how},
        capture_output=True,
        encoding="utf-8",
        timeout=TIMEOUT,
        check=False,
    )
    assert proc.returncode == status and proc.stderr.splitlines()[-1] == last
    data = data_of(out.read_text(encoding="utf-8"))
    assert data["gens"] == ["numbers#1"]
    assert [line for step in data["steps"] for line in step[2]][-1] == (
        "# still suspended at exit: numbers#1, paused at crash.py:4"
    )


def test_run_out_html_that_cannot_be_written_exits_2(tmp_path: Path) -> None:
    proc = run("-q", "--out", str(tmp_path / "no" / "trace.html"), "samples/fib.py")
    assert proc.returncode == 2 and "can't open --out file" in proc.stderr and "fib" not in proc.stdout


def test_run_beyond_the_limit_writes_no_page_and_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "trace.html"
    tracer = gentrace.Tracer(sinks=[html_sink(str(out), origin_ns=0, limit=3)])

    @tracer.trace
    def count() -> Iterator[int]:
        yield from range(5)

    assert list(count()) == [0, 1, 2, 3, 4]
    tracer.close()
    assert not out.exists()
    assert capsys.readouterr().err == (
        f"gentrace: {out} not written: more than 3 events, too many for one page; "
        "record fewer with --only or --max-events\n"
    )


# -- in a real browser ----------------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
NEEDS = "needs chromium and chromium-driver: apt-get install -y chromium chromium-driver"


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip(NEEDS + " (and pip install selenium)")
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.skip(NEEDS)
    profile = tempfile.mkdtemp(prefix="gentrace-chromium-")
    chrome_options = webdriver.ChromeOptions()
    chrome_options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--window-size=1280,900",
        f"--user-data-dir={profile}",
    ):
        chrome_options.add_argument(arg)
    chrome_options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=chrome_options)
    try:
        yield browser
    finally:
        browser.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("pages")
    made = {"delegation": root / "delegation.html", "fib": root / "fib.html"}
    made["delegation"].write_text(page_of(record_sample("delegation", root / "d.jsonl")), encoding="utf-8")
    assert run("-q", "--out", str(made["fib"]), "samples/fib.py").returncode == 0
    made["empty"] = root / "empty.html"
    made["empty"].write_text(page_of(root / "d.jsonl", filters=Filters(gens=["nothing"])), encoding="utf-8")
    made["crafted"] = root / "crafted.html"
    made["crafted"].write_text(page_of(crafted(root / "crafted.jsonl")), encoding="utf-8")
    made["timed"] = root / "timed.html"
    made["timed"].write_text(page_of(timed(root / "timed.jsonl")), encoding="utf-8")
    # averager: everything finishes; one of its lines broken, as a disk error or a cut copy leaves it.
    trace = record_sample("averager", root / "a.jsonl")
    for name, read in (("averager", trace), ("averager-damaged", damaged(trace, 7, root / "ad.jsonl"))):
        made[name] = root / f"{name}.html"
        code, _, _ = show(str(read), "--html", str(made[name]))
        assert code == 0
    made["averager-truth"] = root / "ad.jsonl"
    made["loops-truth"] = record_loops(root)
    made["loops"] = root / "loops.html"
    made["loops"].write_text(page_of(made["loops-truth"]), encoding="utf-8")
    made["unknown"] = root / "unknown.html"
    made["unknown"].write_text(page_html(unknown(page_of(timed(root / "u.jsonl")))), encoding="utf-8")
    return made


def unknown(text: str) -> dict[str, Any]:
    """The page's data, with a state and a kind of lane span that no gentrace writes (yet)."""
    data = data_of(text)
    data["title"] = "t"
    data["steps"][1][3][0][1] = "NEW_STATE"
    data["time_lanes"][0] += [0, data["span"], 42]
    data["step_lanes"][0] += [0, 1, 42]
    return data


def timed(path: Path) -> Path:
    """g#1 made at 0 ms, run from 1 to 2 ms, suspended, run from 9 ms until it returns at 10 ms."""
    return write_trace(
        path,
        event(1, op="create", outcome="created", value=None, state_before=None, state_after="GEN_CREATED"),
        event(2, state_before="GEN_CREATED", time=0.001, duration=0.001),
        event(3, outcome="return", value=None, state_after="GEN_CLOSED", time=0.009, duration=0.001),
    )


class Page:
    """The replay page open in the browser, read the way a person reads it."""

    def __init__(self, driver: Any, path: Path) -> None:
        from selenium.webdriver.common.by import By

        self.driver = driver
        self.by = By
        driver.get(path.as_uri())
        assert driver.find_element(By.TAG_NAME, "html").get_attribute("data-ready") == "1"

    def press(self, key: str, times: int = 1) -> None:
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.keys import Keys

        chain = ActionChains(self.driver)
        for _ in range(times):
            chain.send_keys(getattr(Keys, key))
        chain.perform()

    @property
    def slider(self) -> Any:
        return self.driver.find_element(self.by.ID, "step")

    @property
    def value(self) -> int:
        return int(self.slider.get_attribute("value"))

    def steps(self) -> list[str]:
        return [e.text for e in self.driver.find_elements(self.by.CSS_SELECTOR, "#transcript .step")]

    def current(self) -> str:
        return str(self.driver.find_element(self.by.CSS_SELECTOR, "#transcript .step.current").text)

    def cards(self) -> dict[str, dict[str, str]]:
        found = {}
        for card in self.driver.find_elements(self.by.CSS_SELECTOR, "#cards .card"):
            parts = {
                part: card.find_element(self.by.CLASS_NAME, part).get_attribute("textContent")
                for part in ("name", "state", "line", "sent", "yielded", "ended")
            }
            parts["arrows"] = " ".join(
                a.get_attribute("data-to") for a in card.find_elements(self.by.CLASS_NAME, "arrow")
            )
            found[card.get_attribute("data-gen")] = parts
        return found

    def go(self, index: int) -> None:
        self.press("HOME")
        self.press("ARROW_RIGHT", index)
        assert self.value == index

    def errors(self) -> list[Any]:
        logs = self.driver.get_log("browser")
        return [entry for entry in logs if entry["level"] == "SEVERE"]

    def card_kinds(self) -> dict[str, tuple[str, str]]:
        """Each card's state and how it is drawn (``closed``, ``running``, ``suspended`` or ``active``)."""
        found = {}
        for card in self.driver.find_elements(self.by.CSS_SELECTOR, "#cards .card"):
            drawn = set(card.get_attribute("class").split()) & {"closed", "running", "suspended", "active"}
            state = card.find_element(self.by.CLASS_NAME, "state").get_attribute("textContent")
            found[card.get_attribute("data-gen")] = (state, " ".join(sorted(drawn)))
        return found

    def canvas(self, gen: str) -> Any:
        return self.driver.find_element(self.by.CSS_SELECTOR, f'.lane[data-gen="{gen}"] canvas')

    def colour(self, gen: str, x: float, y: float) -> str:
        """The colour drawn in `gen`'s lane at (x, y), fractions of its width and height."""
        rgba = self.driver.execute_script(
            "var c = arguments[0], ctx = c.getContext('2d');"
            "return Array.from(ctx.getImageData(Math.floor(arguments[1] * c.width),"
            " Math.floor(arguments[2] * c.height), 1, 1).data);",
            self.canvas(gen),
            x,
            y,
        )
        return "" if rgba[3] == 0 else "#" + "".join(f"{v:02x}" for v in rgba[:3])

    def cursor_at(self, gen: str) -> float:
        """Where the timeline's cursor stands, as a fraction of the lanes' width."""
        canvas, cursor = self.canvas(gen).rect, self.driver.find_element(self.by.ID, "cursor").rect
        return float((cursor["x"] + cursor["width"] / 2 - canvas["x"]) / canvas["width"])

    def click_lane(self, gen: str, x: float) -> None:
        from selenium.webdriver.common.action_chains import ActionChains

        canvas = self.canvas(gen)
        offset = int((x - 0.5) * canvas.rect["width"])  # from the canvas's centre
        ActionChains(self.driver).move_to_element_with_offset(canvas, offset, 0).click().perform()


def test_the_page_opens_at_the_first_event_and_the_keys_step(driver: Any, pages: dict[str, Path]) -> None:
    page = Page(driver, pages["delegation"])
    assert page.value == 0 and page.slider.get_attribute("max") == "21"
    assert driver.find_element(page.by.ID, "position").text == "event 1 / 22 · seq 1"
    assert page.steps() == [
        ">>> report#1 = report(['3', '1', '4', '1', '5'])  # samples/delegation.py:32 · GEN_CREATED"
    ]
    page.press("ARROW_RIGHT")
    assert page.value == 1 and len(page.steps()) == 2 and page.current() == ">>> next(report#1)"
    page.press("END")
    assert page.value == 21 and len(page.steps()) == 22
    assert page.current().startswith(">>> next(report#1)\nStopIteration")
    page.press("ARROW_LEFT")
    assert page.value == 20
    page.press("HOME")
    assert page.value == 0 and len(page.steps()) == 1
    page.press("ARROW_LEFT")  # nothing before the first
    assert page.value == 0
    assert (
        page.errors() == []
        and driver.find_element(page.by.TAG_NAME, "html").get_attribute("data-error") is None
    )


def test_a_focused_slider_moves_once_per_key(driver: Any, pages: dict[str, Path]) -> None:
    page = Page(driver, pages["delegation"])
    driver.execute_script("arguments[0].focus()", page.slider)
    assert driver.switch_to.active_element == page.slider
    page.press("ARROW_RIGHT")
    assert page.value == 1 and len(page.steps()) == 2
    page.press("ARROW_RIGHT", 3)
    assert page.value == 4
    page.press("ARROW_LEFT")
    assert page.value == 3


def test_cards_and_delegation_arrows(driver: Any, pages: dict[str, Path]) -> None:
    page = Page(driver, pages["delegation"])
    assert list(page.cards()) == ["report#1"]
    assert page.cards()["report#1"]["state"] == "GEN_CREATED"
    page.go(5)  # read_numbers#1 yields 3, through counted#1 and report#1
    cards = page.cards()
    assert list(cards) == ["report#1", "counted#1", "read_numbers#1"]
    assert cards["read_numbers#1"] == {
        "name": "read_numbers#1",
        "state": "GEN_SUSPENDED",
        "line": "line 20: yield int(line)",
        "sent": "sent in: None (next)",
        "yielded": "yielded out: 3",
        "ended": "",
        "arrows": "",
    }
    assert cards["report#1"]["arrows"] == "counted#1" and cards["counted#1"]["arrows"] == "read_numbers#1"
    assert len(driver.find_elements(page.by.CSS_SELECTOR, "#arrows path")) == 4  # two arrows and their heads
    page.press("ARROW_RIGHT")
    assert page.cards()["report#1"]["state"] == "GEN_RUNNING"
    page.go(20)  # both inner generators return: their cards stay for this step
    cards = page.cards()
    assert (
        cards["counted#1"]["state"] == "GEN_CLOSED"
        and cards["counted#1"]["ended"] == "returned '5 numbers read'"
    )
    assert cards["read_numbers#1"]["ended"] == "returned 5"
    page.press("ARROW_RIGHT")
    assert list(page.cards()) == ["report#1"] and page.cards()["report#1"]["ended"] == "returned"
    page.press("ARROW_LEFT")
    assert list(page.cards()) == ["report#1", "counted#1", "read_numbers#1"]


def test_fib_cards_lanes_and_cursor(driver: Any, pages: dict[str, Path]) -> None:
    page = Page(driver, pages["fib"])
    lanes = driver.find_elements(page.by.CSS_SELECTOR, "#lanes .lane")
    assert [lane.get_attribute("data-gen") for lane in lanes] == ["fib#1", "fib#2", "squares#1"]
    cursor = driver.find_element(page.by.ID, "cursor")
    start = cursor.location["x"]
    page.press("END")
    assert cursor.location["x"] > start
    cards = page.cards()
    assert list(cards) == ["fib#1", "squares#1"]  # fib#2 was collected; squares#1 ends at this last step
    assert cards["fib#1"]["state"] == "GEN_SUSPENDED" and cards["fib#1"]["yielded"] == "yielded out: 13"
    assert cards["squares#1"]["ended"] == "returned"
    assert page.current().endswith("# still suspended at exit: fib#1, paused at samples/fib.py:16")
    assert page.errors() == []


def test_cards_at_the_last_step_when_everything_finished(driver: Any, pages: dict[str, Path]) -> None:
    for name in ("averager", "averager-damaged"):
        page = Page(driver, pages[name])
        page.press("END")
        # averager#1 was closed before; accumulate#1 returns at this last step.
        assert page.card_kinds() == {"accumulate#1": ("GEN_CLOSED", "closed")}, name
        assert page.errors() == []


def test_cards_agree_with_the_trace_at_every_step_in_the_page(driver: Any, pages: dict[str, Path]) -> None:
    page = Page(driver, pages["averager-damaged"])
    truth = finished_so_far(pages["averager-truth"])
    for step, finished in enumerate(truth):
        page.go(step)
        for name, (state, drawn) in page.card_kinds().items():
            if finished.get(name, False):
                assert (state, drawn) == ("GEN_CLOSED", "closed"), (step, name)
            else:
                assert drawn in ("running", "suspended") and state != "GEN_CLOSED", (step, name)


RUNNING, SUSPENDED, CREATED, ENDED = "#2f6fda", "#8fa3bf", "#c9d3e0", "#b42318"  # the page's colours
ACTIVE, TAKEN, LEFT, EXHAUSTED = "#6fbf9f", "#1a7f37", "#dc6803", "#7a271a"  # an iterator's
TOP, MIDDLE = 0.1, 0.5  # a running operation fills its lane's height; the rest is a line across the middle


def test_lanes_by_time_and_by_step(driver: Any, pages: dict[str, Path]) -> None:
    page = Page(driver, pages["timed"])
    lanes, by_step = driver.find_element(page.by.ID, "lanes"), driver.find_element(page.by.ID, "by-step")
    axis = [e.text for e in driver.find_elements(page.by.CSS_SELECTOR, "#axis span")]
    # By time (at first): 10 ms across; run 1-2 ms, suspended until 9 ms, run again, ended.
    assert lanes.get_attribute("data-axis") == "time" and not by_step.is_selected() and axis == ["0", "10 ms"]
    assert page.colour("g#1", 0.05, MIDDLE) == CREATED
    assert page.colour("g#1", 0.15, TOP) == RUNNING
    assert page.colour("g#1", 0.5, MIDDLE) == SUSPENDED and page.colour("g#1", 0.5, TOP) == ""
    assert page.colour("g#1", 0.95, TOP) == RUNNING and page.colour("g#1", 0.999, TOP) == ENDED
    # The cursor at the current event's start.
    assert page.cursor_at("g#1") == pytest.approx(0.0, abs=0.01)
    page.go(1)
    assert page.cursor_at("g#1") == pytest.approx(0.1, abs=0.01)
    page.go(2)
    assert page.cursor_at("g#1") == pytest.approx(0.9, abs=0.01)
    # By step: three events, a cell each; the second and third ran.
    by_step.click()
    axis = [e.text for e in driver.find_elements(page.by.CSS_SELECTOR, "#axis span")]
    assert lanes.get_attribute("data-axis") == "step" and axis == ["event 1", "event 3"]
    assert page.colour("g#1", 0.15, MIDDLE) == CREATED
    assert page.colour("g#1", 0.5, TOP) == RUNNING and page.colour("g#1", 0.8, TOP) == RUNNING
    assert page.value == 2 and page.cursor_at("g#1") == pytest.approx(2.5 / 3, abs=0.01)
    page.go(1)
    assert page.cursor_at("g#1") == pytest.approx(0.5, abs=0.01)
    # A click on a lane goes to the event there: the third cell; by time, the event started by 7 ms.
    page.click_lane("g#1", 0.7)
    assert page.value == 2
    by_step.click()
    assert lanes.get_attribute("data-axis") == "time"
    page.click_lane("g#1", 0.7)
    assert page.value == 1 and page.cursor_at("g#1") == pytest.approx(0.1, abs=0.01)
    assert page.errors() == []


def test_a_crafted_trace_stays_text(driver: Any, pages: dict[str, Path]) -> None:
    from selenium.common.exceptions import NoAlertPresentException

    page = Page(driver, pages["crafted"])
    page.press("END")
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text  # noqa: B018
    assert len(driver.find_elements(page.by.TAG_NAME, "script")) == 2
    assert driver.find_elements(page.by.TAG_NAME, "img") == []
    assert list(page.cards()) == [f"{EVIL}#1"]
    assert page.cards()[f"{EVIL}#1"]["yielded"] == f"yielded out: '{EVIL}<!-- & \\u2028'"
    assert driver.find_element(page.by.ID, "title").text == "t"
    assert page.errors() == []


def test_a_page_without_events_says_so(driver: Any, pages: dict[str, Path]) -> None:
    page = Page(driver, pages["empty"])
    assert driver.find_element(page.by.ID, "empty").text == "No events to show."
    assert not page.slider.is_displayed() and not driver.find_element(page.by.ID, "cards").is_displayed()
    assert page.errors() == []


# -- iterators in the browser ---------------------------------------------------------------------


def test_iterator_cards_at_every_step_in_the_page(driver: Any, pages: dict[str, Path]) -> None:
    page = Page(driver, pages["loops"])
    truth = finished_so_far(pages["loops-truth"])
    data = data_of(pages["loops"].read_text(encoding="utf-8"))
    seen = set()
    for step, finished in enumerate(truth):
        page.go(step)
        kinds = page.card_kinds()
        assert {name: state for name, (state, _) in kinds.items()} == cards_at(data, step), step
        for name, (state, drawn) in kinds.items():
            seen.add(drawn)
            if finished.get(name, False):
                assert drawn == "closed" and state in ("ITER_EXHAUSTED", "GEN_CLOSED"), (step, name)
            elif state == "ITER_ACTIVE":
                assert drawn == "active", (step, name)
            else:
                assert drawn in ("running", "suspended"), (step, name, state)
    assert seen == {"active", "closed", "running", "suspended"}
    assert (
        page.errors() == []
        and driver.find_element(page.by.TAG_NAME, "html").get_attribute("data-error") is None
    )


def test_an_iterators_card_and_the_loop_that_iterates_it(driver: Any, pages: dict[str, Path]) -> None:
    page = Page(driver, pages["loops"])
    steps = ["\n".join(step[2]) for step in data_of(pages["loops"].read_text(encoding="utf-8"))["steps"]]
    left = next(k for k, lines in enumerate(steps) if "left before the end: list_iterator#2" in lines)
    page.go(left)
    card = page.cards()["list_iterator#2"]
    assert card == {
        "name": "list_iterator#2",
        "state": "ITER_ACTIVE",
        "line": "line 3: for m in numbers:",
        "sent": "left by the loop at line 3 before the end",
        "yielded": "gave: 2",
        "ended": "",
        "arrows": "",
    }
    page.press("ARROW_RIGHT")  # a loop left it: its card goes
    assert "list_iterator#2" not in page.cards() and "list_iterator#1" in page.cards()
    # The generator expression's next() runs the next() of the list's iterator it loops over.
    inner = next(k for k, lines in enumerate(steps) if lines.startswith("    >>> next(list_iterator#6)"))
    page.go(inner)
    assert page.cards()["genexpr@12#1"]["arrows"] == "list_iterator#6"
    arrow = driver.find_element(page.by.CSS_SELECTOR, '.card[data-gen="genexpr@12#1"] .arrow')
    assert arrow.text == "iterates list_iterator#6"
    assert page.errors() == []


def test_the_iterators_legend_and_lanes(driver: Any, pages: dict[str, Path]) -> None:
    page = Page(driver, pages["delegation"])
    assert not driver.find_element(page.by.ID, "iterator-legend").is_displayed()
    page = Page(driver, pages["loops"])
    legend = driver.find_element(page.by.ID, "iterator-legend")
    assert legend.is_displayed()
    assert all(key in legend.text for key in ("iter()", "active iterator", "a loop left it", "exhausted"))
    driver.find_element(page.by.ID, "by-step").click()
    data = data_of(pages["loops"].read_text(encoding="utf-8"))
    n = len(data["steps"])
    # list_iterator#2, by step: taken (a mark at its cell's start), two nexts, left (a mark at its
    # cell's end), then active to the end.
    first, one, _, leave = [k for k, step in enumerate(data["steps"]) if step[0] == 1]
    assert page.colour("list_iterator#2", (first + 0.05) / n, TOP) == TAKEN
    assert page.colour("list_iterator#2", (one + 0.5) / n, TOP) == RUNNING
    assert page.colour("list_iterator#2", (leave + 0.95) / n, TOP) == LEFT
    assert page.colour("list_iterator#2", (leave + n) / 2 / n, MIDDLE) == ACTIVE
    assert page.colour("list_iterator#2", (leave + n) / 2 / n, TOP) == ""
    exhausted = max(k for k, step in enumerate(data["steps"]) if step[0] == 0)
    assert page.colour("list_iterator#1", (exhausted + 0.95) / n, TOP) == EXHAUSTED
    assert page.colour("list_iterator#1", (exhausted + 0.5) / n, TOP) == RUNNING
    assert page.errors() == []


def test_a_state_or_a_lane_the_script_does_not_know_breaks_nothing(
    driver: Any, pages: dict[str, Path]
) -> None:
    page = Page(driver, pages["unknown"])
    page.go(1)
    assert page.card_kinds() == {"g#1": ("NEW_STATE", "suspended")}
    page.press("END")
    driver.find_element(page.by.ID, "by-step").click()
    assert page.value == 2 and page.colour("g#1", 0.5, TOP) == RUNNING
    assert page.colour("g#1", 0.15, MIDDLE) == "#98a2b3"  # drawn as a span between operations, in grey
    assert (
        page.errors() == []
        and driver.find_element(page.by.TAG_NAME, "html").get_attribute("data-error") is None
    )
