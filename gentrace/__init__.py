"""gentrace: see what Python generators actually do.

>>> import gentrace
>>> @gentrace.trace
... def averager(): ...
>>> t = gentrace.Tracer(out="run.jsonl")
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from gentrace.events import Event
from gentrace.proxy import GeneratorProxy
from gentrace.tracer import Tracer
from gentrace.tracing import current_tracer, set_default, trace

try:
    __version__ = version("gentrace")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["Event", "GeneratorProxy", "Tracer", "__version__", "current_tracer", "set_default", "trace"]
