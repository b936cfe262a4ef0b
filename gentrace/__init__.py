"""gentrace: see what Python generators actually do.

>>> import gentrace
>>> @gentrace.trace
... def averager(): ...
>>> t = gentrace.Tracer(out="run.jsonl")

PYTEST_DONT_REWRITE: pytest rewrites the asserts of its plugins' packages, gentrace's included, and
warns about one imported before it starts, as gentrace is under ``gentrace run -m pytest``; gentrace
has no assert for it to rewrite.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gentrace.events import Event
from gentrace.proxy import GeneratorProxy
from gentrace.records import Sink
from gentrace.tracer import Tracer
from gentrace.tracing import current_tracer, set_default, trace, wrap

__all__ = [
    "Event",
    "GeneratorProxy",
    "Sink",
    "Tracer",
    "__version__",
    "current_tracer",
    "set_default",
    "trace",
    "wrap",
]


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext gentrace`` in IPython or Jupyter: the ``%%gentrace`` and ``%gentrace`` magics."""
    from gentrace.ipython import load  # imports IPython, which is there: it is calling

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext gentrace``: the magics and hooks taken out."""
    from gentrace.ipython import unload

    unload(ipython)


def _version() -> str:
    """The installed distribution's version, looked up once (importlib.metadata is slow to import)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("gentrace")
    except PackageNotFoundError:  # running from a source tree that was never installed
        found = "0+unknown"
    globals()["__version__"] = found
    return found


if TYPE_CHECKING:
    __version__: str
else:

    def __getattr__(name: str) -> str:
        # `__version__` is computed when first read (PEP 562), so that importing gentrace (every
        # `gentrace run`) does not pay for importlib.metadata. Hidden from type checkers, which
        # would otherwise give every unknown attribute of the module this function's type.
        if name == "__version__":
            return _version()
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
