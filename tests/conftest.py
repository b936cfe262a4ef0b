"""Shared fixtures: a fake clock, an in-memory tracer, and no process-wide tracer left behind."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import gentrace
from gentrace import tracing


def pytest_configure(config: pytest.Config) -> None:
    # When a hypothesis test fails, hypothesis imports libcst to suggest a patch, and libcst warns
    # about mypy_extensions; under `-W error` that turned a plain failure into an INTERNALERROR.
    config.addinivalue_line(
        "filterwarnings", "ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning"
    )


class FakeClock:
    """An integer-nanosecond clock that advances `step` each time it is read."""

    def __init__(self, step: int = 1000) -> None:
        self.now = 0
        self.step = step

    def __call__(self) -> int:
        self.now += self.step
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def tracer(clock: FakeClock) -> Iterator[gentrace.Tracer]:
    """A tracer that records in memory only, on the fake clock."""
    t = gentrace.Tracer(clock=clock)
    yield t
    t.close()


@pytest.fixture(autouse=True)
def no_process_wide_tracer(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts with no `set_default` tracer and no lazy stderr tracer, and leaves none."""
    monkeypatch.setattr(tracing, "_default", tracing.UNSET)
    monkeypatch.setattr(tracing, "_lazy", None)
    yield
    if tracing._lazy is not None:
        tracing._lazy.close()
