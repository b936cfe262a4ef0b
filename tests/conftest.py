"""Shared fixtures: a fake clock, an in-memory tracer, and no process-wide tracer left behind; the
hypothesis profile."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings
from support import FakeClock

import gentrace
from gentrace import tracing

# Property tests check what is computed, never how fast: on a busy machine (`pytest -n 2` beside
# other work) a deadline or the too-slow health check fails them for nothing. Test modules are
# imported after this, so their own @settings start from this profile; --hypothesis-profile wins.
settings.register_profile("gentrace", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("gentrace")


def pytest_configure(config: pytest.Config) -> None:
    # A suite started in the background of a non-interactive shell inherits SIGINT ignored, and so
    # would every program it starts (python then never raises KeyboardInterrupt): the Ctrl-C tests
    # need Ctrl-C as a terminal gives it. A handler here is the default again in each child.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    # When a hypothesis test fails, hypothesis imports libcst to suggest a patch, and libcst warns
    # about mypy_extensions; under `-W error` that turned a plain failure into an INTERNALERROR.
    config.addinivalue_line(
        "filterwarnings", "ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning"
    )


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
