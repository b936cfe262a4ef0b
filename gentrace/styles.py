"""Colours as data, and the decision whether a stream gets them. The only importer of colorama.

The colours are the ANSI sequences colorama's `Fore` and `Style` name, written out: colorama (and
the ctypes it imports, 3 ms) is imported only when a stream gets colour, for its Windows fix.
"""

from __future__ import annotations

import html
import os
import re
from dataclasses import dataclass
from typing import IO, Any


@dataclass(frozen=True, slots=True)
class Styles:
    """The escape sequences a text renderer puts around each part of a log line."""

    prompt: str = ""
    expr: str = ""
    value: str = ""
    error: str = ""
    comment: str = ""
    reset: str = ""


PLAIN = Styles()
COLORFUL = Styles(  # colorama's Fore.CYAN, Style.BRIGHT, Fore.GREEN, Fore.RED, Style.DIM, RESET_ALL
    prompt="\x1b[36m",
    expr="\x1b[1m",
    value="\x1b[32m",
    error="\x1b[31m",
    comment="\x1b[2m",
    reset="\x1b[0m",
)


def _env_flag(name: str) -> bool:
    return bool(os.environ.get(name))


def is_terminal(stream: IO[Any] | Any) -> bool:
    """Whether `stream` is a terminal (a closed or odd stream is not)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def wants_color(stream: IO[Any] | Any, color: bool | None) -> bool:
    """Whether text written to `stream` gets colour.

    An explicit `color` wins; else ``NO_COLOR`` turns it off and ``FORCE_COLOR`` on; else colour
    only on a terminal.
    """
    if color is not None:
        return color
    if _env_flag("NO_COLOR"):
        return False
    if _env_flag("FORCE_COLOR"):
        return True
    return is_terminal(stream)


def styles_for(stream: IO[Any] | Any, color: bool | None) -> Styles:
    """The styles to use on `stream` (colorama's Windows fix applied when colour is on)."""
    if not wants_color(stream, color):
        return PLAIN
    import colorama  # only when colour is on: see the docstring

    colorama.just_fix_windows_console()
    return COLORFUL


_CSS: dict[str, str] = {
    "1": "font-weight:bold",
    "2": "opacity:0.65",
    "31": "color:#d03030",
    "32": "color:#1a8a1a",
    "36": "color:#1588a8",
}
_ESCAPE = re.compile("\x1b\\[([0-9;]*)m")


def html_of(text: str) -> str:
    """`text` written with `COLORFUL` as HTML: escaped, each style a ``<span>`` with the same colour
    (readable on a light or a dark background); other escape sequences dropped."""
    out: list[str] = []
    active: list[str] = []
    position = 0
    for match in _ESCAPE.finditer(text):
        out.append(html.escape(text[position : match.start()], quote=False))
        position = match.end()
        if active:
            out.append("</span>")
        for code in match.group(1).split(";"):
            if code in ("", "0"):
                active.clear()
            elif code in _CSS and _CSS[code] not in active:
                active.append(_CSS[code])
        if active:
            out.append(f'<span style="{";".join(active)}">')
    out.append(html.escape(text[position:], quote=False))
    if active:
        out.append("</span>")
    return "".join(out)


def plain_of(text: str) -> str:
    """`text` without its escape sequences."""
    return _ESCAPE.sub("", text)
