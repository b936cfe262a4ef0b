"""A console session as a Markdown doctest that replays against the current code (`repl --save`).

Each input is one example: its source, the annotations of its generator steps as ``... #``
comment lines, and what it printed or raised. Instance names become Python names in the
annotations (``averager#1`` → ``averager_1``); addresses become ``0x...`` under ``+ELLIPSIS``.
"""

from __future__ import annotations

import re
import traceback
from dataclasses import dataclass, field

HELPERS = ("state", "history", "where", "locals_of")
"""The console's helper functions: their answers describe the session, so they are not compared."""


@dataclass
class Entry:
    """One compiled input and what it did."""

    source: str
    notes: list[str] = field(default_factory=list)
    output: str = ""
    exception: str | None = None


_INSTANCE = re.compile(r"\b([A-Za-z_][\w.]*)#(\d+)")
_PROXY = re.compile(r"<traced generator \S+ of (<generator object .*? at 0x[0-9a-fA-F]+>)>")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]+")
_HELPER_CALL = re.compile(r"\b(?:" + "|".join(HELPERS) + r")\s*\(")


def python_name(text: str) -> str:
    """Instance names made valid Python names: ``Counter.count#2`` → ``Counter_count_2``."""
    return _INSTANCE.sub(lambda m: f"{m.group(1).replace('.', '_')}_{m.group(2)}", text)


def doctest_example(entry: Entry) -> str:
    """One input as a doctest example: source, annotations as ``... #`` lines, expected output."""
    lines = entry.source.rstrip("\n").split("\n")
    output = entry.exception if entry.exception is not None else entry.output
    output = _ADDRESS.sub("0x...", _PROXY.sub(r"\1", output))
    directives = []
    if _HELPER_CALL.search(entry.source):
        directives.append("+SKIP")
        output = python_name(output)
    if "0x..." in output:
        directives.append("+ELLIPSIS")
    if directives:
        lines[0] += f"  # doctest: {' '.join(directives)}"
    text = [f">>> {lines[0]}", *(f"... {line}" for line in lines[1:])]
    text.extend(f"... # {python_name(note)}" for note in entry.notes)
    for line in output.splitlines():
        if "+SKIP" in directives and line.lstrip().startswith((">>>", "...")):
            line = f"# {line}"  # a skipped output is never compared, but a prompt in it would be parsed
        text.append(line if line.strip() else "<BLANKLINE>")
    return "\n".join(text) + "\n"


def doctest_text(entries: list[Entry]) -> str:
    """The whole session as a Markdown doctest: one ``pycon`` fence, a blank line before it closes."""
    return "```pycon\n" + "".join(doctest_example(e) for e in entries) + "\n```\n"


def exception_text(exc: BaseException) -> str:
    """An exception in doctest's form: the header, an elided stack, the exception's own lines."""
    last = "".join(traceback.format_exception_only(type(exc), exc))
    return f"Traceback (most recent call last):\n  ...\n{last}"
