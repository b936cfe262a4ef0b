"""Names as the log writes them, and the one ``--only`` matcher.

A generator function's qualname is written without its ``<locals>.`` parts (``outer.nested``); an
instance is that name (without angle brackets) and a number: ``outer.nested#2``.

>>> clean_qualname("outer.<locals>.nested")
'outer.nested'
>>> matches_only(["nested"], "outer.<locals>.nested", "app")
True
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence


def clean_qualname(qualname: str) -> str:
    """A qualname without its ``<locals>.`` parts: ``outer.<locals>.nested`` → ``outer.nested``."""
    return qualname.replace("<locals>.", "")


def display_name(qualname: str) -> str:
    """The name part of ``NAME#N``: a qualname without ``<locals>.`` and angle brackets."""
    return clean_qualname(qualname).replace("<", "").replace(">", "")


def call_name(func: str) -> str:
    """The name a call to the generator function ``module:qualname`` is written with."""
    return clean_qualname(func.rpartition(":")[2])


def matches_only(patterns: Sequence[str], qualname: str, module: str) -> bool:
    """Whether a function is selected by ``--only`` glob patterns (no patterns: all are).

    A pattern is matched against the qualname without ``<locals>.`` parts (``outer.nested``), the
    bare name (``nested``) and ``module:qualname``, as given or cleaned.
    """
    if not patterns:
        return True
    dotted = clean_qualname(qualname)
    candidates = (dotted, dotted.rpartition(".")[2], f"{module}:{dotted}", f"{module}:{qualname}")
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns for name in candidates)
