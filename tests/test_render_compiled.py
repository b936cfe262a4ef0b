"""The compiled renderers write exactly what the Python renderers write.

`gentrace._speedups.JsonLines` writes the common records in C (numbers, big ints under 2**1024,
str, bytes, None, bools, small tuples, lists and dicts of them; no exception) and hands every other
one to the Python renderer. Here both render random records with plain and odd values — huge ints,
nan and -0.0, control characters, surrogates, odd dict keys, nesting, failing reprs, reprs cut by
max_repr — and must agree byte for byte; and the batch a file sink writes holds the same lines, in
order. Likewise `TextLines`, a text log file's common steps: the files written by both paths are the
same.
"""

from __future__ import annotations

import io
import itertools
import math
from collections.abc import Generator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from record_samples import ORIGIN, OUTCOMES, STATE_PAIRS, BadRepr, Colour, EmptyRepr, yield_offsets
from support import FakeClock
from test_jsonl_speed_paths import INFOS, LIMITS, OPS, TASKS, THREADS, VALUES
from test_text_speed_paths import fields as text_fields

import gentrace
from gentrace import sinks
from gentrace.compiled import speedups
from gentrace.jsonl import JsonRenderer
from gentrace.records import (
    CREATE,
    GEN_SUSPENDED,
    LOOP,
    NEXT,
    SEND,
    YIELD,
    Default,
    Ending,
    Record,
)

pytestmark = pytest.mark.skipif(
    speedups is None, reason="gentrace._speedups is not built here, or GENTRACE_PURE_PYTHON is set"
)


def pure(limit: int | None) -> JsonRenderer:
    renderer = JsonRenderer(ORIGIN, limit)
    renderer._compiled = None
    return renderer


class PythonRendersNothing(JsonRenderer):
    """A renderer whose Python path fails: what it renders, C rendered."""

    __slots__ = ()

    def _render(self, record: Record, locals_: Any = None) -> str:
        raise AssertionError("rendered in Python")


def record(op: str = SEND, arg: Any = 5, value: Any = 1, **fields: Any) -> Record:
    rec: dict[str, Any] = {
        "seq": 5,
        "info": INFOS[0],
        "op": op,
        "arg": arg,
        "outcome": YIELD,
        "value": value,
        "before": GEN_SUSPENDED,
        "after": GEN_SUSPENDED,
        "depth": 0,
        "thread": "MainThread",
        "task": None,
        "start": ORIGIN + 4000,
        "duration": 1500,
        "lasti": yield_offsets()[2],
        "ended_after": 7,
    }
    rec.update(fields)
    return tuple(rec.values())


COMMON: list[Any] = [
    None,
    True,
    False,
    0,
    -7,
    2**62 - 1,
    -(2**62) + 1,
    1.5,
    -0.0,
    math.nan,
    math.inf,
    -math.inf,
    1e300,
    5e-324,
    "",
    "text",
    'say "hi" \\ back',
    "\x00\t\n\r\x08\x0c\x1b[2J\x7f\x85\u200f\u202e\u2028",
    "naïve ☃ 😀 \U0010ffff",
    "\ud800 lone \udfff",
    b"",
    b"\x00\xff'\"\\",
    (),
    (1,),
    [],
    [1, "a", None, 2.5, b"b", (True, [False, 0])],
    ("x" * 50, "y" * 50),
    2**62,
    -(2**62),
    2**70,
    -(2**1023),
    2**1000 + 1,
    {},
    {"k": 1},
    {"a": [1, (2.5, None)], 3: b"x", None: True, 1.5: {"deep": ()}},
    {False: 0, True: 1, -2.5: "float", math.nan: "nan", (1, "t"): "tuple key"},
    {'say "hi"\n': "naïve ☃", "\x1b[2J": "\u202e"},
    dict.fromkeys(range(16)),
    [[[1]], {"k": [2]}],
]


def test_the_common_records_are_rendered_in_c_as_in_python() -> None:
    compiled = PythonRendersNothing(ORIGIN, 1000)
    python = pure(1000)
    for value, arg in itertools.product(COMMON, COMMON):
        for op in (SEND, NEXT):
            rec = record(op, arg, value)
            assert compiled(rec) == python(rec), rec
    for rec in (
        record(NEXT, LOOP, 3),
        record("close", None, None, outcome="closed", after="GEN_CLOSED"),
        record("next", None, "done", outcome="return", after="GEN_CLOSED"),
        record("create", None, None, outcome="created", before=None, after="GEN_CREATED"),
        record(task="Task-1", thread="worker", depth=3),
    ):
        assert compiled(rec) == python(rec), rec


@pytest.mark.parametrize(
    "rec",
    [
        record(value=2**1024),
        record(value=-(10**400)),
        record(value=10**5000),
        record(value="x" * 2000),
        record(value=b"x" * 2000),
        record(value=ValueError("bad")),
        record(value=ValueError),
        record(value=Colour.RED),
        record(value=BadRepr()),
        record(value=EmptyRepr()),
        record(value=list(range(100))),
        record(value=dict.fromkeys(range(17))),
        record(value={"k": 2**70}),
        record(value={"k": Colour.RED}),
        record(value={Colour.RED: 1}),
        record(value={"x" * 2000: 1}),
        record(value={"k": "v" * 2000}),
        record(value=[[[[1]]]]),
        record(value={1: {2: {3: {}}}}),
        record(value=[[["x" * 400] * 3] * 3]),
        record("throw", ValueError("x"), None),
        record(NEXT, Default(3), None, outcome="return"),
        record(SEND, LOOP, None),
        record(outcome="raise", value=ValueError("x"), after="GEN_CLOSED"),
        record("iter", "range(3)", False, outcome="created"),
        record("create", ((1,), {}), None, outcome="created", before=None, after="GEN_CREATED"),
        record(start=ORIGIN + 2**63),
        record(seq=True),
    ],
)
def test_every_other_record_is_handed_to_the_python_renderer(rec: Record) -> None:
    with pytest.raises(AssertionError, match="rendered in Python"):
        PythonRendersNothing(ORIGIN, 1000)(rec)
    assert JsonRenderer(ORIGIN, 1000)(rec) == pure(1000)(rec)


def test_a_list_that_holds_itself_is_shown_as_python_shows_it() -> None:
    looped: list[Any] = [1]
    looped.append(looped)
    rec = record(value=looped)
    assert JsonRenderer(ORIGIN, 1000)(rec) == pure(1000)(rec) == pure(1000)._line(rec, None)


def test_the_batch_holds_the_same_lines_in_order_and_drains_when_full() -> None:
    assert speedups is not None
    drained: list[str] = []
    renderer = JsonRenderer(ORIGIN, 1000)
    batch = speedups.JsonLines(renderer, LOOP, Default, lambda: drained.append(batch.take()))
    records = [record(seq=seq, value=COMMON[seq % len(COMMON)]) for seq in range(1, 3000)]
    records.append(record(value=ValueError("odd one")))
    for rec in records:
        batch.end(rec)
    batch.append('{"note":"end"}\n')
    drained.append(batch.take())
    assert len(drained) > 2  # drained on the way, when the batch was full
    assert batch.take() == ""
    python = pure(1000)
    assert "".join(drained) == "".join(python(rec) + "\n" for rec in records) + '{"note":"end"}\n'


def test_the_memos_stay_bounded() -> None:
    renderer = JsonRenderer(ORIGIN, 1000)
    python = pure(1000)
    for depth in range(5000):
        rec = record(depth=depth, seq=depth, value="s" if depth % 2 else 1)
        assert renderer(rec) == python(rec)
    assert len(renderer._steps) <= 4096


def sample(i: int) -> Any:
    return VALUES[i]  # not sampled_from(VALUES): the strategy's repr would fail on a BadRepr


def rendered(renderer: JsonRenderer, rec: Record) -> str:
    """The line, or the error a record no trace holds gave (a create's arg not a call's)."""
    try:
        return renderer(rec)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


odd_text = st.text(st.characters(blacklist_categories=()), max_size=40)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**61, max_value=2**200).map(lambda i: -i if i % 2 else i)
    | st.floats(allow_nan=True, allow_infinity=True)
    | odd_text
    | st.text(max_size=1200)
    | st.binary(max_size=40)
    | st.integers(0, len(VALUES) - 1).map(sample)
    | st.builds(ValueError, odd_text)
    | st.builds(BadRepr)
)
keys = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True)
    | odd_text
    | st.tuples(st.integers(), odd_text)
    | st.just(Colour.RED)
)
values = st.recursive(
    scalars | st.integers(min_value=2**1000, max_value=2**1100),
    lambda inner: (
        st.lists(inner, max_size=20)
        | st.lists(inner, max_size=20).map(tuple)
        | st.dictionaries(keys, inner, max_size=20)
    ),
    max_leaves=30,
)
fields = st.fixed_dictionaries(
    {
        "info": st.sampled_from(INFOS),
        "op": st.sampled_from(OPS),
        "arg": values | st.just(LOOP) | st.builds(Default, values),
        "outcome": st.sampled_from([YIELD, YIELD, *OUTCOMES]),
        "value": values,
        "states": st.sampled_from(STATE_PAIRS),
        "depth": st.integers(0, 2),
        "thread": st.sampled_from(THREADS) | st.text(max_size=3),
        "task": st.sampled_from(TASKS) | st.text(max_size=3),
        "start": st.integers(ORIGIN - 10**6, ORIGIN + 10**12),
        "duration": st.integers(0, 10**9),
        "lasti": st.sampled_from([-1, 7, *yield_offsets()]),
        "ended_after": st.integers(0, 10**6),
    }
)


@settings(max_examples=200, deadline=None, database=None)
@given(st.lists(fields, min_size=1, max_size=12), st.sampled_from(LIMITS))
def test_random_records_render_in_c_as_in_python(draws: list[dict[str, Any]], limit: int | None) -> None:
    compiled = JsonRenderer(ORIGIN, limit)
    python = pure(limit)
    for seq, f in enumerate(draws, 1):
        before, after = f["states"]
        rec = (
            seq,
            f["info"],
            f["op"],
            f["arg"],
            f["outcome"],
            f["value"],
            before,
            after,
            f["depth"],
            f["thread"],
            f["task"],
            f["start"],
            f["duration"],
            f["lasti"],
            f["ended_after"],
        )
        assert rendered(compiled, rec) == rendered(python, rec), rec


# -- the text log of a file ------------------------------------------------------------------------


class File(io.StringIO):
    """A file's stream that keeps what it was given when closed."""

    text = ""

    def close(self) -> None:
        self.text = self.getvalue()
        super().close()


def file_log(events: list[tuple[str, Record]], limit: int | None, *, compiled: bool, **options: Any) -> str:
    stream = File()
    with mock.patch.object(sinks, "speedups", speedups if compiled else None):
        sink = sinks.TextSink(stream, origin_ns=ORIGIN, max_repr=limit, file=True, **options)
    assert (sink._compiled is not None) == compiled
    for kind, rec in events:
        (sink.start if kind == "start" else sink.end)(rec)
    sink.close(Ending(len(events), [], None))
    return stream.text


class CountingSink(sinks.TextSink):
    """A file's sink that counts the lines its Python path wrote."""

    python = 0

    def _start_text(self, record: Record) -> str:
        self.python += 1
        return super()._start_text(record)

    def _end_text(self, record: Record) -> str:
        self.python += 1
        return super()._end_text(record)


def test_a_text_files_common_steps_are_written_in_c_as_in_python() -> None:
    events = []
    for seq, (op, value) in enumerate(itertools.product((NEXT, SEND, "anext", "asend"), COMMON), 1):
        if not repr(value).isascii():
            continue  # padded by the columns it takes: written in Python
        rec = record(op, value if op in (SEND, "asend") else None, value, seq=seq)
        events += [("start", rec), ("end", rec)]
    stream = File()
    sink = CountingSink(stream, origin_ns=ORIGIN, file=True)
    for kind, rec in events:
        (sink.start if kind == "start" else sink.end)(rec)
    sink.close(Ending(len(events), [], None))
    assert sink.python == 2  # a next's and an anext's `>>>` line, the first time: then remembered
    assert stream.text == file_log(events, None, compiled=False)


# The text log's fields, or the same with an arg and a value drawn as the JSON test draws them.
text_draws = text_fields | st.builds(
    lambda f, arg, value: {**f, "arg": arg, "value": value}, text_fields, values, values
)

# A create's `>>>` line (the one line of an instant), as drawn.
CREATE_DRAWN: dict[str, Any] = {
    "kind": "start",
    "seq": 1,
    "info": INFOS[0],
    "op": CREATE,
    "arg": None,
    "outcome": YIELD,
    "value": 0,
    "states": (None, "GEN_CREATED"),
    "depth": 0,
    "thread": "MainThread",
    "task": None,
    "start": ORIGIN,
    "duration": 0,
    "lasti": -1,
    "ended_after": 0,
}


def as_recorded(op: str, arg: Any) -> Any:
    """A drawn arg as a trace holds it: a create's is None, a str or its call's ``(args, kwargs)``,
    so any other value drawn for a create is the call's one argument."""
    if op != CREATE or arg is None or isinstance(arg, str):
        return arg
    return (arg,), {}


@settings(max_examples=150, deadline=None, database=None)
@given(st.lists(text_draws, min_size=1, max_size=16), st.sampled_from(LIMITS))
# Once drawn: a create whose arg no call makes, which the Python renderer (both paths') failed on.
@example([{**CREATE_DRAWN, "arg": ([], None)}, {**CREATE_DRAWN, "arg": (None, None)}], None)
def test_random_sequences_log_to_a_file_in_c_as_in_python(
    draws: list[dict[str, Any]], limit: int | None
) -> None:
    events = []
    for f in draws:
        before, after = f["states"]
        rec = (
            f["seq"],
            f["info"],
            f["op"],
            as_recorded(f["op"], f["arg"]),
            f["outcome"],
            f["value"],
            before,
            after,
            f["depth"],
            f["thread"],
            f["task"],
            f["start"],
            f["duration"],
            f["lasti"],
            f["seq"],
        )
        events.append((f["kind"], rec))
    assert file_log(events, limit, compiled=True) == file_log(events, limit, compiled=False)


def test_a_traced_program_logs_to_a_file_in_c_as_in_python(tmp_path: Path) -> None:
    def echo() -> Generator[Any, Any, None]:
        got = None
        for value in [*COMMON, ValueError("odd"), "x" * 2000, {"k": [1]}, "naïve"]:
            got = yield (value, got) if got is not None else value

    def run(path: Path) -> str:
        t = gentrace.Tracer(out=path, clock=FakeClock())
        outer = t.wrap(echo())
        next(outer)
        for i in range(len(COMMON) + 3):
            outer.send(i if i % 2 else "sent")
        outer.close()
        t.close()
        return path.read_text(encoding="utf-8")

    compiled = run(tmp_path / "c.log")
    with mock.patch.object(sinks, "speedups", None):
        python = run(tmp_path / "py.log")
    assert compiled == python


def test_a_path_with_an_undecodable_byte_is_logged_as_python_logs_it(tmp_path: Path) -> None:
    # Such a file name holds a lone surrogate, which the log file writes escaped.
    namespace: dict[str, Any] = {}
    exec(compile("def gen():\n    yield 1\n    yield {'k': 2**70}\n", "/tmp/odd\udcff.py", "exec"), namespace)

    def run(path: Path) -> bytes:
        t = gentrace.Tracer(out=path, clock=FakeClock())
        for _ in t.wrap(namespace["gen"]()):
            pass
        t.close()
        return path.read_bytes()

    compiled = run(tmp_path / "c.log")
    with mock.patch.object(sinks, "speedups", None):
        python = run(tmp_path / "py.log")
    assert compiled == python
    assert b"/tmp/odd\\udcff.py:1" in compiled
