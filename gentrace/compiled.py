"""The compiled core, `gentrace._speedups`, when it is built and not turned off.

`speedups` is the C module, or None on the pure-Python path: an install without a C compiler, or
``GENTRACE_PURE_PYTHON=1`` in the environment. Every compiled part has a pure-Python twin that the
same tests run on.
"""

from __future__ import annotations

import os
from types import ModuleType

speedups: ModuleType | None = None
if os.environ.get("GENTRACE_PURE_PYTHON", "") in ("", "0"):
    try:
        import gentrace._speedups as _speedups
    except ImportError:  # built without a C compiler: the pure-Python path
        pass
    else:
        speedups = _speedups
