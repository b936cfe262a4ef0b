"""Source lines and paths as the log shows them: a line without its comment, a path made relative.

>>> source_line("samples/averager.py", 20)
'term = yield average'
>>> path_shower("/home/me/project")("/home/me/project/samples/fib.py")
'samples/fib.py'
"""

from __future__ import annotations

import functools
import io
import linecache
import os
import tokenize
from collections.abc import Callable

SourceLookup = Callable[[str, int], str]
"""``(filename, lineno) -> line``: the source line, or "" when it cannot be read."""


@functools.lru_cache(maxsize=4096)
def source_line(filename: str, lineno: int) -> str:
    """The source line, stripped of indentation and of a trailing comment, if it can be read."""
    line = linecache.getline(filename, lineno).strip()
    if "#" not in line:
        return line
    try:
        for token in tokenize.generate_tokens(io.StringIO(line).readline):
            if token.type == tokenize.COMMENT:
                return line[: token.start[1]].rstrip()
    except (tokenize.TokenError, SyntaxError):  # a line of a multi-line statement
        pass
    return line


def source_lookup(reader: SourceLookup) -> SourceLookup:
    """A source lookup that reads only existing ``.py`` files (a trace read back names any path)."""

    def lookup(filename: str, lineno: int) -> str:
        if not filename.endswith(".py") or not os.path.isfile(filename):
            return ""
        return reader(filename, lineno)

    return lookup


SHOWN_AS: dict[str, str] = {}
"""Paths the log shows by another name: an IPython cell's file is ``In[3]``, as its tracebacks say."""


def path_shower(cwd: str) -> Callable[[str], str]:
    """A function showing a path relative to `cwd` when it lies below it, else as it is (or by
    the name it has in `SHOWN_AS`)."""
    prefix = cwd.rstrip(os.sep) + os.sep

    def show(path: str) -> str:
        if path.startswith(prefix):
            return path[len(prefix) :]
        return SHOWN_AS.get(path, path)

    return show
