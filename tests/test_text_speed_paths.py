"""The text log's fast path writes exactly what the general path writes.

`TextSteps` builds the common lines — a next's, send's or close's ``>>> `` line, a yield's result
line — from parts it remembers per instance and place, and `TextSink` takes a yield's line from it
when the yield ends right after its ``>>> `` line. Here both are checked against the general
functions (`start_line`, `end_line`, `repeat_line`, `single_line`) over many varied records and
sequences of them, byte for byte, in a file's layout and fitted to terminals of several widths.
The golden files (test_renderers.py) pin the general form itself.
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import os
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from record_samples import (
    ORIGIN,
    OUTCOMES,
    PLAIN_VALUES,
    STATE_PAIRS,
    BadRepr,
    Colour,
    EmptyRepr,
    numbers,
    yield_offsets,
)

from gentrace.records import (
    ACLOSE,
    AFTER,
    ANEXT,
    ARG,
    ASEND,
    ATHROW,
    BEFORE,
    CLOSE,
    CLOSED,
    COLLECT,
    CREATE,
    CREATED,
    DEPTH,
    GEN_CLOSED,
    GEN_CREATED,
    GEN_RUNNING,
    GEN_SUSPENDED,
    INST,
    LASTI,
    NEXT,
    OP,
    OUTCOME,
    RAISE,
    SEND,
    SEQ,
    TASK,
    THREAD,
    THROW,
    VALUE,
    YIELD,
    Info,
    Record,
    is_finished,
    make_info,
)
from gentrace.renderers import (
    MEMO_SIZE,
    TextOptions,
    TextSteps,
    end_line,
    repeat_line,
    single_line,
    start_line,
)
from gentrace.sinks import FILE_MAX_REPR, TERMINAL_MAX_REPR, TextSink, frame_locals
from gentrace.sources import path_shower, source_line
from gentrace.styles import COLORFUL, PLAIN

# One info per name, as in a trace: the parts of a line are remembered by instance name.
INFOS: list[Info] = [
    make_info("numbers#1", f"{numbers.__module__}:numbers", numbers.__code__),
    make_info("odd\x1b[2J\u202e#2", "mod:odd", None, "C:\\dir\\x\x1b.py"),
    make_info("naïve☃#3", "módule:naïve", None, None),
    make_info("agen#1", "m:<locals>.agen", None, __file__),
]
OPS = [NEXT, SEND, THROW, CLOSE, ANEXT, ASEND, ATHROW, ACLOSE, CREATE, COLLECT]
VALUES: list[Any] = [
    *PLAIN_VALUES,
    2**62,
    10**40,
    10**5000,  # too long for `repr` to make
    -1.2345678901234567e-300,
    "",
    "plain",
    "\x00\t\n\x1b[2J\x7f\x85\u200f\u202e\u2028",
    "naïve ☃ 😀",
    "x" * 60,
    "中文字符" * 12,  # wide: two columns each
    "e\u0301" * 30,  # a combining mark: none
    "👍🏽" * 20,  # an emoji and its skin tone
    b"\x00\x0b\\" * 20,  # escapes a cut must keep whole
    ValueError("bad"),
    ValueError,
    KeyError(),
    Colour.RED,
    [1, "a", None],
    list(range(3000)),
    EmptyRepr(),
    BadRepr(),
]
THREADS = ["MainThread", "worker-1", "t\x1b[31m\u202e"]
TASKS = [None, "Task-1", "tâche\x00"]
LIMITS = [None, 0, 2, 5, 12, 80, 1000]
DEPTHS = [0, 1, 2, 11]  # 11 levels indent past the comment column
# A file's or a pipe's layout, then terminals: (width, fit), fitted unless a max_repr was asked for.
LAYOUTS: list[tuple[int | None, bool]] = [(None, False), (60, False), (20, True), (80, True)]


def options_for(
    styles: Any, limit: int | None, timings: bool = False, width: int | None = None, fit: bool = False
) -> TextOptions:
    """What a `TextSink` settles on: for a stream that is not a terminal unless given a `width`."""
    return TextOptions(
        styles=styles,
        max_repr=limit,
        origin_ns=ORIGIN,
        timings=timings,
        source=source_line,
        show_path=path_shower(os.getcwd()),
        width=width,
        fit=fit,
    )


def varied_records() -> Iterator[Record]:
    offsets = yield_offsets()
    seq = itertools.count(1)
    for i, (op, outcome, (before, after), info) in enumerate(
        itertools.product(OPS, OUTCOMES, STATE_PAIRS, INFOS)
    ):
        # Within a kind of record, what is remembered stays and the values change; from one kind to
        # the next, every part of the key changes in turn.
        depth, thread, task = DEPTHS[(i // 5) % 4], THREADS[(i // 7) % 3], TASKS[(i // 11) % 3]
        lasti = offsets[(i // 2) % 3] if info[2] is not None else [-1, 7, 12][(i // 2) % 3]
        for j in range(6):
            values = PLAIN_VALUES if j % 2 else VALUES
            k = 6 * i + j
            value, arg = values[k % len(values)], values[(3 * k + 1) % len(values)]
            yield (
                next(seq),
                info,
                op,
                arg,
                outcome,
                value,
                before,
                after,
                depth,
                thread,
                task,
                ORIGIN + k,
                j,
                lasti,
                k,
            )


@pytest.mark.parametrize(("width", "fit"), LAYOUTS)
def test_every_kind_of_record_renders_as_the_general_path_does(width: int | None, fit: bool) -> None:
    records = list(varied_records())
    for styles, limit in itertools.product((PLAIN, COLORFUL), LIMITS):
        options = options_for(styles, limit, width=width, fit=fit)
        steps = TextSteps(options)  # one for all: its remembered parts are reused
        for rec in records:
            if rec[OP] == CREATE or rec[OP] == COLLECT:  # one line each, never from `TextSteps`
                continue
            assert steps.start(rec) == start_line(rec, options) + "\n", rec
            if rec[OUTCOME] == YIELD:
                assert steps.yielded(rec) == end_line(rec, options) + "\n", rec
        assert steps._fixed and steps._sends and steps._ends  # the memos did serve


def step(seq: int, op: str = NEXT, value: Any = 1, **fields: Any) -> Record:
    rec: dict[str, Any] = {
        "seq": seq,
        "info": INFOS[0],
        "op": op,
        "arg": seq if op == SEND else None,
        "outcome": YIELD,
        "value": value,
        "before": GEN_SUSPENDED,
        "after": GEN_SUSPENDED,
        "depth": 0,
        "thread": "MainThread",
        "task": None,
        "start": ORIGIN + 10 * seq,
        "duration": 1000 * seq,  # timings differ from step to step
        "lasti": yield_offsets()[2],
        "ended_after": seq,
    }
    rec.update(fields)
    return tuple(rec.values())


# Each field a line may show, and another value for it.
OTHER_VALUES: dict[int, Any] = {
    INST: INFOS[3],
    ARG: 8,
    VALUE: None,
    BEFORE: GEN_CREATED,
    AFTER: GEN_RUNNING,
    DEPTH: 1,
    THREAD: "worker-1",
    TASK: "Task-1",
    LASTI: 0,
}


@pytest.mark.parametrize(("width", "fit"), [(None, False), (50, True)])
@pytest.mark.parametrize("op", [NEXT, SEND, THROW, CLOSE, ANEXT, ASEND, ATHROW, ACLOSE])
@pytest.mark.parametrize("field", list(OTHER_VALUES))
def test_a_line_follows_every_field_it_shows(op: str, field: int, width: int | None, fit: bool) -> None:
    # A step like the last in all but one field: a part remembered under a key that leaves that
    # field out would show the last step's (fitted, how far its value is cut too).
    options = options_for(COLORFUL, 80, width=width, fit=fit)
    steps = TextSteps(options)
    first = step(1, op, 7)
    then = tuple(OTHER_VALUES[field] if i == field else v for i, v in enumerate(step(2, op, 7)))
    for rec in (first, then):
        assert steps.start(rec) == start_line(rec, options) + "\n"
        assert steps.yielded(rec) == end_line(rec, options) + "\n"


def test_the_remembered_parts_are_bounded() -> None:
    options = options_for(PLAIN, 80)
    steps = TextSteps(options)
    info = INFOS[0]
    for n in range(MEMO_SIZE + 10):
        for op in (NEXT, SEND):
            rec = (
                n,
                info,
                op,
                n if op == SEND else None,
                YIELD,
                n,
                GEN_SUSPENDED,
                GEN_SUSPENDED,
                n % 7,
                "MainThread",
                None,
                0,
                0,
                n,
                n,
            )
            start, end = steps.start(rec), steps.yielded(rec)
            if n % 500 == 0 or n > MEMO_SIZE:
                assert start == start_line(rec, options) + "\n"
                assert end == end_line(rec, options) + "\n"
    for memo in (steps._fixed, steps._sends, steps._ends):
        assert 0 < len(memo) <= MEMO_SIZE


# -- the sink: the fast path only where nothing came between a step's start and its end ---------

FRAME = SimpleNamespace(f_locals={"i": 3, "s": "x\x1b"})


def frame_of(name: str) -> Any:
    return FRAME if name.startswith("numbers") else None


def general_log(events: list[tuple[str, Record]], options: TextOptions, locals_: bool) -> str:
    """The log as the general functions write it, a ``... `` line wherever a result comes late."""
    out = []
    open_seq = None
    for kind, rec in events:
        if kind == "start":
            out.append(start_line(rec, options) + "\n")
            open_seq = rec[SEQ]
            continue
        if rec[OP] == CREATE or rec[OP] == COLLECT:
            out.append(single_line(rec, options) + "\n")
        else:
            if open_seq != rec[SEQ]:
                out.append(repeat_line(rec, options) + "\n")
            shown = options
            if locals_ and not is_finished(rec[AFTER]) and rec[OP] != CLOSE:
                loc = frame_locals(frame_of, rec, options.max_repr)
                if loc is not None:
                    shown = dataclasses.replace(options, locals=loc)
            out.append(end_line(rec, shown) + "\n")
        open_seq = None
    return "".join(out)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def sink_log(
    events: list[tuple[str, Record]],
    color: bool,
    limit: int | None,
    timings: bool,
    locals_: bool,
    width: int | None = None,
) -> str:
    stream = io.StringIO() if width is None else Terminal()
    sink = TextSink(
        stream,
        origin_ns=ORIGIN,
        color=color,
        max_repr=limit,
        timings=timings,
        locals=frame_of if locals_ else None,
    )
    columns = {} if width is None else {"COLUMNS": str(width)}
    with mock.patch.dict(os.environ, columns):  # read once, at the first line
        for kind, rec in events:
            (sink.start if kind == "start" else sink.end)(rec)
    return stream.getvalue()


def check(
    events: list[tuple[str, Record]],
    color: bool,
    limit: int | None,
    timings: bool,
    locals_: bool,
    width: int | None = None,
) -> None:
    # A sink given no max_repr cuts reprs at its default for a stream that is not a terminal; on a
    # terminal, it fits them to the width.
    if width is None:
        options = options_for(
            COLORFUL if color else PLAIN, FILE_MAX_REPR if limit is None else limit, timings
        )
    else:
        shown_limit = TERMINAL_MAX_REPR if limit is None else limit
        options = options_for(COLORFUL if color else PLAIN, shown_limit, timings, width, fit=limit is None)
    assert sink_log(events, color, limit, timings, locals_, width) == general_log(events, options, locals_)


def test_steps_nested_and_interleaved_log_as_the_general_path_does() -> None:
    agen = INFOS[3]
    events = [
        ("end", step(1, CREATE, None, outcome=CREATED, before=None, after=GEN_CREATED, lasti=-1)),
        *[
            (kind, step(n, op, n * 1.5))
            for n in range(2, 8)
            for op in (NEXT, SEND)
            for kind in ("start", "end")
        ],
        # a step during which another runs (a pipeline's stages), then one during which a line is
        # written from another thread: both end with a `... ` line
        ("start", step(8)),
        ("start", step(9, SEND, "inner", info=agen, depth=1)),
        ("end", step(9, SEND, "inner", info=agen, depth=1)),
        ("end", step(8)),
        ("start", step(10, value=None)),
        ("start", step(11, thread="worker-1")),
        ("end", step(10, value=None)),
        ("end", step(11, thread="worker-1")),
        ("start", step(12, value=ValueError("x"), outcome=RAISE, after=GEN_CLOSED)),
        ("end", step(12, value=ValueError("x"), outcome=RAISE, after=GEN_CLOSED)),
        ("end", step(13, COLLECT, None, outcome=CLOSED, before=GEN_SUSPENDED, after=GEN_CLOSED)),
    ]
    for color, limit, timings, locals_, width in itertools.product(
        (False, True), (None, 5, 80), (False, True), (False, True), (None, 30, 100)
    ):
        check(events, color, limit, timings, locals_, width)


def test_a_new_stream_gets_its_own_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    # A callable target is looked up at each write: colour and the terminal's width on a terminal,
    # neither in what follows.
    monkeypatch.setenv("COLUMNS", "30")
    streams = [Terminal(), io.StringIO()]
    current = [streams[0]]
    sink = TextSink(lambda: current[0], origin_ns=ORIGIN)
    for stream in streams:
        current[0] = stream
        for n in (1, 2):
            sink.start(step(n, SEND))
            sink.end(step(n, SEND))
    assert "\x1b[" in streams[0].getvalue()
    assert streams[0].getvalue() == general_log(
        [(kind, step(n, SEND)) for n in (1, 2) for kind in ("start", "end")],
        options_for(COLORFUL, TERMINAL_MAX_REPR, width=30, fit=True),
        False,
    )
    assert streams[1].getvalue() == general_log(
        [(kind, step(n, SEND)) for n in (1, 2) for kind in ("start", "end")], options_for(PLAIN, 1000), False
    )


# Small pools, so that records often share an instance, place, thread or task but not the rest.
fields = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(["start", "end", "end"]),
        "seq": st.integers(1, 3),
        "info": st.sampled_from(INFOS),
        "op": st.sampled_from([NEXT, NEXT, SEND, SEND, *OPS]),
        "arg": st.sampled_from(VALUES) | st.integers() | st.floats() | st.text() | st.binary(),
        "outcome": st.sampled_from([YIELD, YIELD, *OUTCOMES]),
        "value": st.sampled_from(VALUES) | st.integers() | st.floats() | st.text() | st.binary(),
        "states": st.sampled_from(STATE_PAIRS),
        "depth": st.sampled_from(DEPTHS),
        "thread": st.sampled_from(THREADS) | st.text(max_size=3),
        "task": st.sampled_from(TASKS) | st.text(max_size=3),
        "start": st.integers(ORIGIN, ORIGIN + 10**12),
        "duration": st.integers(0, 10**9),
        "lasti": st.sampled_from([-1, 7, *yield_offsets()]),
        "ended_after": st.integers(0, 10**6),
    }
)


@settings(max_examples=150, deadline=None, database=None)
@given(
    st.lists(fields, min_size=1, max_size=16),
    st.booleans(),
    st.sampled_from(LIMITS),
    st.booleans(),
    st.booleans(),
    st.sampled_from([None, None, 1, 24, 60, 80, 200]),
)
def test_random_sequences_log_as_the_general_path_does(
    draws: list[dict[str, Any]],
    color: bool,
    limit: int | None,
    timings: bool,
    locals_: bool,
    width: int | None,
) -> None:
    events = []
    for f in draws:
        before, after = f["states"]
        rec = (
            f["seq"],
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
            f["seq"],
        )
        events.append((f["kind"], rec))
    check(events, color, limit, timings, locals_, width)
