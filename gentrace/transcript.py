"""A console session as a Markdown doctest that replays against the current code (`repl --save`).

Each input that completed is one example: its source, the annotations of its generator steps as
``... #`` comment lines, and what it printed or raised. Instance names become Python names in the
annotations (``averager#1`` → ``averager_1``); addresses become ``0x...`` under ``+ELLIPSIS``.

An input that did not complete is never an example: one stopped by Ctrl-C is kept as a comment
(where it stopped is chance, and a long loop would run on in the replay), one that ended the
session (``exit()``, ``SystemExit``) is left out. The inputs after a Ctrl-C that use a name it
used, or a name bound by such an input, are marked ``+SKIP``: their values are not the replay's.
"""

from __future__ import annotations

import ast
import builtins
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
    stopped_by: str | None = None
    """The exception that stopped the input before it completed: ``KeyboardInterrupt`` or
    ``SystemExit`` (an exception of the input's own is its `exception`, a completion)."""
    names: frozenset[str] | None = None
    """The names the input bound, where its source does not say (a script run by `exec`)."""


_INSTANCE = re.compile(r"\b([A-Za-z_][\w.]*)#(\d+)")
_PROXY = re.compile(r"<traced generator \S+ of (<generator object .*? at 0x[0-9a-fA-F]+>)>")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]+")
_HELPER_CALL = re.compile(r"\b(?:" + "|".join(HELPERS) + r")\s*\(")


def python_name(text: str) -> str:
    """Instance names made valid Python names: ``Counter.count#2`` → ``Counter_count_2``."""
    return _INSTANCE.sub(lambda m: f"{m.group(1).replace('.', '_')}_{m.group(2)}", text)


def doctest_example(entry: Entry, skip: bool = False) -> str:
    """One input as a doctest example: source, annotations as ``... #`` lines, expected output.

    With `skip` (or a helper call), the example is marked ``+SKIP``.
    """
    lines = entry.source.rstrip("\n").split("\n")
    output = entry.exception if entry.exception is not None else entry.output
    output = _ADDRESS.sub("0x...", _PROXY.sub(r"\1", output))
    directives = []
    if skip or _HELPER_CALL.search(entry.source):
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


INTERRUPTED_NOTES = 10
"""The notes kept at each end of an interrupted input's (a runaway loop's may be countless)."""


def interrupted_comment(entry: Entry) -> str:
    """An input stopped by Ctrl-C as comment lines, after a blank line that ends the example before.

    Doctest reads no example in them (no line starts with ``>>>``), and nothing is expected.
    """
    notes = entry.notes
    if len(notes) > 2 * INTERRUPTED_NOTES:
        left_out = len(notes) - 2 * INTERRUPTED_NOTES
        notes = [*notes[:INTERRUPTED_NOTES], f"({left_out} more steps)", *notes[-INTERRUPTED_NOTES:]]
    shown = doctest_example(Entry(entry.source, notes, entry.output))
    commented = "".join(f"# {line}" for line in shown.splitlines(keepends=True))
    return f"\n# not replayed: stopped by {entry.stopped_by}\n{commented}"


_BUILTINS = frozenset(dir(builtins))


def used_names(source: str) -> frozenset[str] | None:
    """The names an input binds or uses, builtins it only reads left out; None if it cannot say."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    bound: set[str] = set()
    read: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.alias):
            bound.add(node.asname or node.name.partition(".")[0])
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            bound.update(node.names)
        elif isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and node.name:
            bound.add(node.name)
    return frozenset(bound | (read - _BUILTINS))


def doctest_text(entries: list[Entry]) -> str:
    """The whole session as a Markdown doctest: one ``pycon`` fence, a blank line before it closes."""
    unsure: set[str] = set()  # names whose values a replay does not reproduce
    parts = []
    for entry in entries:
        if entry.stopped_by is not None and entry.stopped_by != "KeyboardInterrupt":
            continue  # it ended the session
        names = entry.names if entry.names is not None else used_names(entry.source)
        if entry.stopped_by is not None:
            parts.append(interrupted_comment(entry))
        elif unsure and (names is None or not unsure.isdisjoint(names)):
            parts.append(doctest_example(entry, skip=True))
        else:
            parts.append(doctest_example(entry))
            continue
        unsure.update(names or ())
    return "```pycon\n" + "".join(parts) + "\n```\n"


def exception_text(exc: BaseException) -> str:
    """An exception in doctest's form: the header, an elided stack, the exception's own lines."""
    last = "".join(traceback.format_exception_only(type(exc), exc))
    return f"Traceback (most recent call last):\n  ...\n{last}"
