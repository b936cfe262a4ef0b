"""What the benchmarks share: checking a run recorded what it should, and formatting figures."""

from __future__ import annotations

import os


class BenchmarkInvalid(Exception):
    """The run did not do what it should have: its timing would mean nothing."""


def expect(what: str, got: int, wanted: int, *, exact: bool) -> None:
    """Check that a traced run recorded what it should have (a tracer that gave up is fast)."""
    if got < wanted or (exact and got != wanted):
        raise BenchmarkInvalid(
            f"{what} recorded {got:,} events/lines, expected {'' if exact else 'at least '}{wanted:,}"
        )


def load_average() -> str:
    """The one-minute load average, which says how busy the machine was."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except (AttributeError, OSError):  # not on Windows
        return "?"


def fmt_ratio(x: float) -> str:
    return f"{x:.2f}×" if x < 10 else f"{x:,.0f}×"
