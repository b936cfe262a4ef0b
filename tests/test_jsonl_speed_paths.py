"""The JSON Lines fast path writes exactly the line the general renderer writes.

`JsonRenderer` builds the common step (a next or send that yields a number or None) from parts it
remembers, and every other record field by field (`_line`). Here both render many varied records —
every op, outcome and state, awkward names, values and reprs cut short — and must agree byte for
byte. The golden file (test_renderers.py) pins the general form itself.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from record_samples import (
    ORIGIN,
    OUTCOMES,
    PLAIN_VALUES,
    STATE_PAIRS,
    BadRepr,
    Colour,
    numbers,
    yield_offsets,
)

from gentrace.jsonl import JsonRenderer
from gentrace.records import (
    ACLOSE,
    ANEXT,
    ASEND,
    ATHROW,
    CLOSE,
    COLLECT,
    CREATE,
    GEN_CLOSED,
    GEN_SUSPENDED,
    NEXT,
    RETURN,
    SEND,
    THROW,
    YIELD,
    Info,
    Record,
    Sleep,
    make_info,
)
from gentrace.renderers import MEMO_SIZE
from gentrace.reprs import ExcText, ReprText

# One info per name, as in a trace: the renderer remembers parts of a line by instance name.
INFOS: list[Info] = [
    make_info("numbers#1", f"{numbers.__module__}:numbers", numbers.__code__),
    make_info('odd "name"\\#2', "mod:odd\x00\u202e", None, 'C:\\dir\\"quoted"\x1b.py'),
    make_info("naïve☃#3", "módule:naïve", None, None),
    make_info("agen#1", "m:<locals>.agen", None, "/src/ü.py"),
]
OPS = [CREATE, NEXT, SEND, THROW, CLOSE, COLLECT, ANEXT, ASEND, ATHROW, ACLOSE]
VALUES: list[Any] = [
    *PLAIN_VALUES,
    2**62,
    -(2**62),
    2**64 + 3,
    10**40,
    "",
    "plain",
    'say "hi"',
    "back\\slash",
    "\x00\t\n\x1b[2J\x7f\x85\u200f\u202e\u2028",
    "naïve ☃ 😀",
    "x" * 1500,
    ReprText("ReprText('read back')"),
    ExcText("builtins.ValueError", "bad", "ValueError('bad')"),
    ExcText("mod.Err", None, "<class 'mod.Err'>"),
    ValueError("bad"),
    ValueError("\x1b[31mred\u202e"),
    KeyError(),
    ValueError,
    Colour.RED,
    1.5j,
    [1, "a", None],
    {"k": (1, 2)},
    list(range(3000)),
    BadRepr(),
    Sleep(None, 0.1),
]
THREADS = ["MainThread", 'worker "1"\\', "t\x1b[31m\u202e", "nöt-ascii"]
TASKS = [None, "Task-1", 'evil "task"\\\x00', "tâche"]
LIMITS = [None, 5, 80, 1000]
LOCALS = {"i": "3", "s": "'x\\x1b'"}


def general(rec: Record, limit: int | None, locals_: dict[str, str] | None = None) -> str:
    """The line rendered field by field, by a renderer that remembers nothing yet."""
    return JsonRenderer(ORIGIN, limit)._line(rec, locals_)


def varied_records() -> Iterator[Record]:
    offsets = yield_offsets()
    seq = itertools.count(1)
    for i, (op, outcome, (before, after), info) in enumerate(
        itertools.product(OPS, OUTCOMES, STATE_PAIRS, INFOS)
    ):
        # What the fast path remembers changes from one kind of record to the next; within a kind,
        # only the rest does (every other record with a plain value and arg, so that the
        # remembered parts are reused).
        depth, thread, task = i % 3, THREADS[i % len(THREADS)], TASKS[(i // 3) % len(TASKS)]
        lasti = offsets[i % 3] if info[2] is not None else [-1, 7, 12][i % 3]
        for j in range(8):
            values = PLAIN_VALUES if j % 2 else VALUES
            k = 8 * i + j
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


def test_every_kind_of_record_renders_as_the_general_path_does() -> None:
    records = list(varied_records())
    for limit in (None, 12):
        renderer = JsonRenderer(ORIGIN, limit)  # one for all: its remembered parts are reused
        for rec in records:
            assert renderer(rec) == general(rec, limit), rec
        assert renderer._steps  # the fast path did run


def test_with_locals_the_line_is_the_general_one() -> None:
    renderer = JsonRenderer(ORIGIN, 80)
    for rec in itertools.islice(varied_records(), 0, None, 7):
        assert renderer(rec, LOCALS) == general(rec, 80, LOCALS)


def step(op: str = NEXT, arg: Any = None, value: Any = 1, **fields: Any) -> Record:
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


def test_the_fast_path_takes_steps_that_yield_numbers_or_none() -> None:
    renderer = JsonRenderer(ORIGIN, 1000)
    for op, arg in ((NEXT, None), (SEND, 5), (ANEXT, None), (ASEND, 2.5), (SEND, None), (SEND, False)):
        for value in (0, -7, 2**62 - 1, None, True, 1.5):
            rec = step(op, arg, value)
            assert renderer(rec) == general(rec, 1000)
    assert len(renderer._steps) == 4  # one per op: the values do not matter
    for rec in (
        step(value="text"),
        step(value=2**62),
        step(value=ValueError("x")),
        step(value=Colour.RED),
        step(SEND, "sent"),
        step(SEND, ValueError),
        step(THROW, ValueError("x")),
        step(CLOSE),
        step(outcome=RETURN, after=GEN_CLOSED),
    ):
        assert renderer(rec) == general(rec, 1000)
    assert len(renderer._steps) == 4
    assert renderer(step(), LOCALS) == general(step(), 1000, LOCALS)
    assert len(renderer._steps) == 4


def test_the_remembered_steps_are_bounded() -> None:
    renderer = JsonRenderer(ORIGIN, 1000)
    for depth in range(MEMO_SIZE + 10):
        rec = step(depth=depth, seq=depth)
        line = renderer(rec)
        if depth % 500 == 0 or depth > MEMO_SIZE:
            assert line == general(rec, 1000)
        assert len(renderer._steps) <= MEMO_SIZE


# Small pools, so that records often share an instance, place, thread or task but not the rest.
fields = st.fixed_dictionaries(
    {
        "info": st.sampled_from(INFOS),
        "op": st.sampled_from(OPS),
        "arg": st.sampled_from(VALUES) | st.integers() | st.floats() | st.text(),
        "outcome": st.sampled_from([YIELD, YIELD, *OUTCOMES]),
        "value": st.sampled_from(VALUES) | st.integers() | st.floats() | st.text(),
        "states": st.sampled_from(STATE_PAIRS),
        "depth": st.integers(0, 2),
        "thread": st.sampled_from(THREADS) | st.text(max_size=3),
        "task": st.sampled_from(TASKS) | st.text(max_size=3),
        "start": st.integers(ORIGIN, ORIGIN + 10**12),
        "duration": st.integers(0, 10**9),
        "lasti": st.sampled_from([-1, 7, *yield_offsets()]),
        "ended_after": st.integers(0, 10**6),
    }
)


@settings(max_examples=100, deadline=None, database=None)
@given(st.lists(fields, min_size=1, max_size=12), st.sampled_from(LIMITS))
def test_random_records_render_as_the_general_path_does(
    draws: list[dict[str, Any]], limit: int | None
) -> None:
    renderer = JsonRenderer(ORIGIN, limit)
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
        assert renderer(rec) == general(rec, limit)
