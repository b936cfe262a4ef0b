"""Records for the differential tests of the renderers' fast paths (JSON Lines and text)."""

from __future__ import annotations

from collections.abc import Iterator
from enum import IntEnum
from typing import Any

from gentrace.records import (
    AGEN_CLOSED,
    AGEN_CREATED,
    AGEN_RUNNING,
    AGEN_SUSPENDED,
    CLOSED,
    CORO_CLOSED,
    CORO_CREATED,
    CORO_RUNNING,
    CORO_SUSPENDED,
    CREATED,
    GEN_CLOSED,
    GEN_CREATED,
    GEN_RUNNING,
    GEN_SUSPENDED,
    RAISE,
    RETURN,
    YIELD,
)

ORIGIN = 1_000_000


def numbers(n: int) -> Iterator[int]:
    for i in range(n):  # noqa: UP028
        yield i


def yield_offsets() -> list[int]:
    """Real bytecode offsets of `numbers`: before it starts, and where it pauses."""
    g = numbers(2)
    next(g)
    assert g.gi_frame is not None
    return [-1, 0, g.gi_frame.f_lasti]


class Colour(IntEnum):
    RED = 1


class EmptyRepr:
    def __repr__(self) -> str:
        return ""


class BadRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


OUTCOMES = [CREATED, YIELD, RETURN, RAISE, CLOSED]
STATE_PAIRS: list[tuple[str | None, str]] = [
    (None, GEN_CREATED),
    (GEN_CREATED, GEN_SUSPENDED),
    (GEN_SUSPENDED, GEN_SUSPENDED),
    (GEN_SUSPENDED, GEN_CLOSED),
    (GEN_RUNNING, GEN_RUNNING),
    (GEN_CREATED, GEN_CLOSED),
    (AGEN_CREATED, AGEN_SUSPENDED),
    (AGEN_SUSPENDED, AGEN_SUSPENDED),
    (AGEN_RUNNING, AGEN_CLOSED),
    (CORO_CREATED, CORO_SUSPENDED),
    (CORO_SUSPENDED, CORO_SUSPENDED),
    (CORO_SUSPENDED, CORO_RUNNING),
    (CORO_SUSPENDED, CORO_CLOSED),
]
# What the fast paths take: numbers (not huge ints, whose repr may be cut), bools, None.
PLAIN_VALUES: list[Any] = [
    0,
    7,
    -1,
    2**62 - 1,
    -(2**62) + 1,
    True,
    False,
    None,
    0.5,
    -0.0,
    float("nan"),
    float("-inf"),
    1e300,
]
