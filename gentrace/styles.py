"""Colours as data, and the decision whether a stream gets them. The only importer of colorama."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import IO, Any

import colorama


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
COLORFUL = Styles(
    prompt=colorama.Fore.CYAN,
    expr=colorama.Style.BRIGHT,
    value=colorama.Fore.GREEN,
    error=colorama.Fore.RED,
    comment=colorama.Style.DIM,
    reset=colorama.Style.RESET_ALL,
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
    colorama.just_fix_windows_console()
    return COLORFUL
