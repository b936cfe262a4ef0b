"""The compiled core, `gentrace._speedups`, when it is built and not turned off.

`speedups` is the C module, or None on the pure-Python path: an install without a C compiler, or
``GENTRACE_PURE_PYTHON=1`` in the environment. Every compiled part has a pure-Python twin that the
same tests run on.

`clock` is what records are timed by unless a tracer is given another: ``time.perf_counter_ns``,
which the compiled core reads as ``speedups.clock`` (from the CPU's time-stamp counter where the
kernel keeps time by it, within a few µs of ``perf_counter_ns``, never going back).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from types import ModuleType

speedups: ModuleType | None = None
if os.environ.get("GENTRACE_PURE_PYTHON", "") in ("", "0"):
    try:
        import gentrace._speedups as _speedups
    except ImportError:  # built without a C compiler: the pure-Python path
        pass
    else:
        speedups = _speedups

clock: Callable[[], int] = time.perf_counter_ns if speedups is None else speedups.clock
