"""The renderers: golden files for each output, and the pure functions one by one.

Golden files live in tests/golden/ and are written by the code, never by hand:
``GENTRACE_REGEN=1 pytest tests/test_renderers.py`` rewrites them; review the diff.
"""

from __future__ import annotations

import io
import json
import logging
import os
from typing import Any

import golden_scenarios
import pytest
from support import FakeClock, check_golden

import gentrace
from gentrace.records import make_info
from gentrace.renderers import TextOptions, annotation, end_line, expression, one_line, result, start_line
from gentrace.styles import COLORFUL

SCENARIOS = golden_scenarios.averager.__code__.co_filename


def normalized(text: str) -> str:
    """The text with the scenarios' path as it would be from any working directory."""
    cwd = os.getcwd() + os.sep
    shown = SCENARIOS[len(cwd) :] if SCENARIOS.startswith(cwd) else SCENARIOS
    return text.replace(SCENARIOS, "golden_scenarios.py").replace(shown, "golden_scenarios.py")


def run_scenario(**options: Any) -> tuple[str, gentrace.Tracer]:
    stream = io.StringIO()
    tracer = gentrace.Tracer(out=stream, clock=FakeClock(), **options)
    kept = golden_scenarios.run(tracer)
    tracer.close()
    del kept
    return normalized(stream.getvalue()), tracer


@pytest.fixture(autouse=True)
def plain_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)


def test_golden_text_log() -> None:
    text, _ = run_scenario()
    check_golden("scenario.log", text)


def test_golden_text_log_in_colour() -> None:
    text, _ = run_scenario(color=True)
    check_golden("scenario.color.log", text)
    plain, _ = run_scenario()
    for code in {
        COLORFUL.prompt,
        COLORFUL.expr,
        COLORFUL.value,
        COLORFUL.error,
        COLORFUL.comment,
        COLORFUL.reset,
    }:
        text = text.replace(code, "")
    assert text == plain  # colour adds codes and nothing else


def test_golden_text_log_with_timings_and_locals() -> None:
    text, _ = run_scenario(timings=True, locals=True)
    check_golden("scenario.timings-locals.log", text)


def test_golden_text_log_with_short_reprs() -> None:
    text, _ = run_scenario(max_repr=12)
    check_golden("scenario.max-repr-12.log", text)


def test_golden_json_lines() -> None:
    text, tracer = run_scenario(format="jsonl")
    check_golden("scenario.jsonl", text)
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines[-1] == {"note": "end", "events": len(tracer.events)}


def test_golden_logger_messages(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("gentrace.test.golden")
    with caplog.at_level(logging.DEBUG, logger=logger.name):
        tracer = gentrace.Tracer(out=logger, clock=FakeClock())
        kept = golden_scenarios.run(tracer)
        tracer.close()
    del kept
    check_golden("scenario.logger.txt", normalized("".join(r.getMessage() + "\n" for r in caplog.records)))


# -- the pure functions ---------------------------------------------------------------------------

CLOSED = "GEN_CLOSED"
INFO = make_info("g#1", "mod:Gen.g", None, "/src/mod.py")


def record(
    op: str,
    arg: Any = None,
    outcome: str = "yield",
    value: Any = None,
    before: str | None = "GEN_SUSPENDED",
    after: str = "GEN_SUSPENDED",
    depth: int = 0,
    thread: str = "MainThread",
    line: int = 7,
) -> tuple[Any, ...]:
    return (1, INFO, op, arg, outcome, value, before, after, depth, thread, None, 5000, 2500, line)


@pytest.mark.parametrize(
    ("rec", "shown"),
    [
        (record("next"), "next(g#1)"),
        (record("send", None), "g#1.send(None)"),
        (record("send", [1, "a"]), "g#1.send([1, 'a'])"),
        (record("throw", ValueError("bad")), "g#1.throw(ValueError('bad'))"),
        (record("throw", ValueError), "g#1.throw(ValueError)"),
        (record("throw", golden_scenarios.DemoError), "g#1.throw(golden_scenarios.DemoError)"),
        (record("close", outcome="closed"), "g#1.close()"),
        (record("create", ((1, "x"), {"k": None}), "created"), "g#1 = Gen.g(1, 'x', k=None)"),
        (record("create", None, "created"), "g#1 = gentrace.wrap(...)"),
        (record("collect", outcome="closed"), "del g#1  # collected"),
    ],
)
def test_expression_is_the_python_that_did_it(rec: tuple[Any, ...], shown: str) -> None:
    assert expression(rec, 80) == shown


@pytest.mark.parametrize(
    ("rec", "shown"),
    [
        (record("next", value=None), "None"),  # unlike the REPL, a None result is shown
        (record("next", value="x" * 100), "'" + "x" * 16 + "..."),
        (record("next", outcome="return", value=None, after="GEN_CLOSED"), "StopIteration"),
        (record("next", outcome="return", value="done", after="GEN_CLOSED"), "StopIteration: 'done'"),
        (record("next", outcome="raise", value=ValueError("bad"), after="GEN_CLOSED"), "ValueError: bad"),
        (record("next", outcome="raise", value=KeyError("k"), after="GEN_CLOSED"), "KeyError: 'k'"),
        (record("throw", ValueError, outcome="raise", value=ValueError, after="GEN_CLOSED"), "ValueError"),
        (record("next", outcome="raise", value=RuntimeError(), after="GEN_CLOSED"), "RuntimeError"),
        (record("close", outcome="closed", after="GEN_CLOSED"), ""),
    ],
)
def test_result_is_what_the_repl_would_print(rec: tuple[Any, ...], shown: str) -> None:
    assert result(rec, 20) == shown


@pytest.mark.parametrize(
    ("rec", "shown"),
    [
        (record("next", before="GEN_CREATED"), "GEN_CREATED → GEN_SUSPENDED · paused at line 7"),
        (record("send", 1), "GEN_SUSPENDED · line 7"),
        (
            record("next", outcome="return", value=3, after="GEN_CLOSED"),
            "returned 3 · GEN_SUSPENDED → GEN_CLOSED",
        ),
        (
            record("next", outcome="return", value=None, after="GEN_CLOSED"),
            "returned · GEN_SUSPENDED → GEN_CLOSED",
        ),
        (
            record("throw", outcome="raise", value=KeyError(), after="GEN_CLOSED"),
            "raised · GEN_SUSPENDED → GEN_CLOSED",
        ),
        (record("close", outcome="closed", after="GEN_CLOSED"), "GEN_SUSPENDED → GEN_CLOSED"),
        (record("next", thread="worker"), "GEN_SUSPENDED · line 7 · thread worker"),
        (record("next", thread="evil\x1b[2J"), "GEN_SUSPENDED · line 7 · thread evil\\x1b[2J"),
        (record("create", None, "created", before=None, after="GEN_CREATED"), "/src/mod.py:7 · GEN_CREATED"),
        (
            record("collect", outcome="closed", after="GEN_CLOSED"),
            "collected without close() · GEN_SUSPENDED → GEN_CLOSED",
        ),
    ],
)
def test_annotation_says_what_changed_and_where_it_paused(rec: tuple[Any, ...], shown: str) -> None:
    assert annotation(rec, TextOptions()) == shown


def test_nested_operations_are_indented_and_the_comment_column_lines_up() -> None:
    options = TextOptions()
    assert start_line(record("next", depth=2), options) == "        >>> next(g#1)"
    line = end_line(record("next", value=1, depth=1), options)
    assert line == "    1" + " " * 35 + "# GEN_SUSPENDED · line 7"
    assert line.index("#") == 40
    long = end_line(record("next", value="y" * 60), options)
    assert "'" + "y" * 60 + "'  # GEN_SUSPENDED" in long  # past the column: two spaces


def test_timings_show_the_time_spent_inside() -> None:
    assert annotation(record("next"), TextOptions(timings=True)) == "GEN_SUSPENDED · line 7 · 2.5 µs"
    create = record("create", None, "created", before=None, after="GEN_CREATED")
    assert "µs" not in annotation(create, TextOptions(timings=True))


def test_source_lines_come_from_the_lookup_and_are_escaped() -> None:
    options = TextOptions(source=lambda filename, lineno: f"{filename}:{lineno} x = yield\x1b")
    assert annotation(record("next"), options) == "GEN_SUSPENDED · line 7: /src/mod.py:7 x = yield\\x1b"


def test_one_line_form() -> None:
    assert one_line(record("send", 10, value=10.0)) == "g#1.send(10) → 10.0 · GEN_SUSPENDED · line 7"
    assert one_line(record("close", outcome="closed", after="GEN_CLOSED")) == (
        "g#1.close() · GEN_SUSPENDED → GEN_CLOSED"
    )
    assert (
        one_line(record("next", value="z" * 50), max_repr=10)
        == "next(g#1) → 'zzzzzz... · GEN_SUSPENDED · line 7"
    )


def test_renderers_are_pure() -> None:
    rec = record("send", [1], value={"a": 1})
    options = TextOptions()
    assert [end_line(rec, options) for _ in range(2)] == [end_line(rec, options)] * 2
    assert one_line(rec) == one_line(rec)
