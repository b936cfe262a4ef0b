"""Safe, short, terminal-proof reprs (a repr is a view of a value, cut to fit), and exceptions as text.

`safe_repr` never raises (a failing ``__repr__`` gives a fallback naming the type), never takes
long on a huge builtin value (`gentrace.heads` renders it only as far as the cut shows it), and
never lets a control character through: C0, DEL, C1 and the bidi
controls are shown escaped, so a repr cannot move the cursor or reorder a terminal line. A cut
repr ends where one of its characters ends: never inside an escape (``\\x0b``, ``\\u200b``,
``\\n``), nor between a letter and its combining marks.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import Any, Final

from gentrace.heads import SMALL_INT as SMALL_INT  # an int below it in size has a short repr
from gentrace.heads import is_short, renders, repr_head, str_head

ELLIPSIS: Final = "..."

# Numbers (not huge ints, whose repr may be cut), bools and None: their repr needs no escaping.
PLAIN_REPR_TYPES: Final = (float, bool, type(None))
PLAIN_TYPES: Final = frozenset({int, *PLAIN_REPR_TYPES})


class ReprText(str):
    """Text that already is a repr (read back from a trace): shown as it is, never evaluated."""

    __slots__ = ()


def escape_controls(text: str) -> str:
    """Escape every character that is not printable (C0, DEL, C1, bidi controls, separators)."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _escape_char(ch) for ch in text)


def _escape_char(ch: str) -> str:
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


# What a cut keeps whole: an escape as a repr writes it (a backslash always starts one there), or one
# character. The longest, ``\U0001f600``, is ten characters.
_TOKEN: Final = re.compile(r"\\(?:x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|.)|.", re.DOTALL)
_LONGEST_TOKEN: Final = 10
# Characters drawn on the one before them: combining marks, and the emoji skin-tone modifiers.
_EXTENDING: Final = frozenset({"Mn", "Me", "Mc"})
_SKIN_TONES: Final = range(0x1F3FB, 0x1F400)


def char_width(ch: str) -> int:
    """The columns a terminal gives one printable character: 2 if wide, 0 if combining, else 1."""
    if unicodedata.category(ch) in ("Mn", "Me"):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def display_width(text: str) -> int:
    """The columns `text` (printable) takes on a terminal: East Asian wide characters count 2."""
    if text.isascii():
        return len(text)
    return sum(map(char_width, text))


def _extends(token: str) -> bool:
    # A token that is drawn on the character before it: no cut may come between them.
    return (
        len(token) == 1
        and not token.isascii()
        and (unicodedata.category(token) in _EXTENDING or ord(token) in _SKIN_TONES)
    )


def _boundary(text: str, room: int, columns: bool) -> int:
    """The longest prefix of `text` within `room` (characters or columns) that ends a character."""
    window = text[: room + 1]
    if window.isascii() and "\\" not in window[max(room - _LONGEST_TOKEN + 1, 0) : room]:
        return room  # no escape can straddle the cut, and no combining mark follows it
    best = used = 0
    for match in _TOKEN.finditer(text):
        token = match.group()
        if not _extends(token):
            best = match.start()
        used += display_width(token) if columns else len(token)
        if used > room:
            return best
    return len(text)


def cut(text: str, limit: int | None, *, columns: bool = False) -> str:
    """`text` shortened to at most `limit` characters, marked with an ellipsis when cut.

    The cut falls between two characters of the repr, never inside an escape or before a combining
    mark: ``cut(repr(b"\\x00\\x01\\x02"), 13) == "b'\\x00\\x01..."``. With `columns`, `limit` counts
    the columns a terminal shows (`display_width`) instead.
    """
    if limit is None:
        return text
    if columns and not text.isascii():
        if display_width(text) <= limit:
            return text
    elif len(text) <= limit:
        return text
    if limit <= len(ELLIPSIS):
        return text[: _boundary(text, max(limit, 0), columns)]
    return text[: _boundary(text, limit - len(ELLIPSIS), columns)] + ELLIPSIS


def safe_repr(obj: Any, limit: int | None = None, *, columns: bool = False) -> str:
    """The repr of `obj`, escaped and cut to `limit` characters (or `columns`); never raises.

    A builtin value (str, bytes, int, the containers, nested) is rendered only as far as the cut
    shows it, and shows what the full repr would: a 50 MB bytes costs no more than a short one. A
    class's own ``__repr__`` is its code, called as it is, and so is cut only afterwards.
    """
    if type(obj) is ReprText:
        return _cut_rendering(_whole, str(obj), limit, columns)
    return _cut_rendering(_repr_rendering, obj, limit, columns)


def safe_str(obj: Any, limit: int | None = None) -> str:
    """`str(obj)`, escaped and cut; never raises."""
    return _cut_rendering(_str_rendering, obj, limit, False)


# -- rendering no more than is shown ------------------------------------------------------------------
#
# A rendering of a value for a budget is ``(text, True)``, the whole text, or ``(text, False)``, a
# prefix of it at least `budget` characters long (`budget` None: whole). Escaping is done character
# by character, so the escaped prefix is a prefix of the escaped text; with `_LONGEST_TOKEN`
# characters to spare past the limit, `cut` ends it where it ends the whole.

Rendering = Callable[[Any, "int | None"], "tuple[str, bool]"]

_MARGIN: Final = _LONGEST_TOKEN + 1


def _budget(limit: int | None) -> int | None:
    return None if limit is None else limit + _MARGIN


def _cut_rendering(
    render: Rendering,
    obj: Any,
    limit: int | None,
    columns: bool,
    lead: str = "",
    first: tuple[str, bool] | None = None,
) -> str:
    """``cut(lead + escape_controls(text), limit, columns=columns)`` of `obj`'s text as `render`
    gives it, rendering as little of it as it takes; `lead` is escaped already, `first` is what
    `render` gave for `_budget(limit)`."""
    if limit is None:
        return lead + escape_controls((first or render(obj, None))[0])
    budget = limit + _MARGIN
    text, whole = first or render(obj, budget)
    while True:
        part = text if len(text) <= budget else text[:budget]
        shown = lead + escape_controls(part)
        if whole and part is text:
            return cut(shown, limit, columns=columns)
        # A prefix decides the cut once it runs past the limit with a token to spare: always in
        # characters; in columns, unless it is wide-open (combining marks take none).
        if not columns or display_width(shown[:-_LONGEST_TOKEN]) > limit:
            return cut(shown, limit, columns=columns)
        budget *= 4
        if not whole and len(text) < budget:
            text, whole = render(obj, budget)


def _whole(text: str, budget: int | None) -> tuple[str, bool]:
    return text, True


def _repr_rendering(obj: Any, budget: int | None) -> tuple[str, bool]:
    try:
        if budget is None or is_short(obj, 4 * budget) or not renders(type(obj)):
            text, whole = repr(obj), True  # no longer than it takes to show, or a class's own
        else:
            text, whole = repr_head(obj, budget)
        return (text if type(text) is str else str(text)), whole
    except BaseException as exc:  # a user's __repr__ may raise anything; the log goes on
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        return f"<{type_name(type(obj))} object (repr failed: {type(exc).__name__})>", True


def _str_rendering(obj: Any, budget: int | None) -> tuple[str, bool]:
    try:
        return (str(obj), True) if budget is None else str_head(obj, budget)
    except Exception as exc:
        return f"<str() failed: {type(exc).__name__}>", True


def type_name(cls: type) -> str:
    """``module.QualName`` of a class (what a trace's ``*_exc.type`` holds)."""
    module = getattr(cls, "__module__", None)
    qualname = getattr(cls, "__qualname__", None) or getattr(cls, "__name__", "?")
    return f"{module}.{qualname}" if module else str(qualname)


def short_type_name(full: str) -> str:
    """A type name as a traceback shows it: builtins and ``__main__`` without their module."""
    for prefix in ("builtins.", "__main__."):
        if full.startswith(prefix):
            return full[len(prefix) :]
    return full


# -- exceptions, as a trace shows them ----------------------------------------------------------


class ExcText:
    """An exception (or exception class) read back from a trace: its type name, message and repr."""

    __slots__ = ("is_class", "message", "text", "type")

    def __init__(self, type: str, message: str | None, text: str) -> None:
        self.type = type
        self.message = message
        self.text = text
        self.is_class = text.startswith("<class ")

    def __repr__(self) -> str:
        return self.text


def is_exception(obj: Any) -> bool:
    """Whether `obj` is an exception or an exception class (it gets ``*_exc`` in JSON)."""
    return isinstance(obj, (BaseException, ExcText)) or (
        isinstance(obj, type) and issubclass(obj, BaseException)
    )


def exc_info(obj: Any, limit: int | None = None) -> dict[str, str | None]:
    """``{"type": "module.QualName", "message": str(exc) or None}`` for an exception or class; the
    message cut to `limit`."""
    if isinstance(obj, ExcText):
        return {"type": obj.type, "message": obj.message}
    if isinstance(obj, type):
        return {"type": type_name(obj), "message": None}
    return {"type": type_name(type(obj)), "message": safe_str(obj, limit) or None}


def exc_line(obj: Any, limit: int | None, *, columns: bool = False) -> str:
    """An exception as a traceback's last line shows it: ``ValueError: bad``."""
    if isinstance(obj, (ExcText, type)):
        info = exc_info(obj)
        name = short_type_name(info["type"] or "?")
        message = info["message"]
        return cut(f"{name}: {message}" if message else name, limit, columns=columns)
    name = short_type_name(type_name(type(obj)))
    first = _str_rendering(obj, _budget(limit))
    if first == ("", True):  # no message: the name alone
        return cut(name, limit, columns=columns)
    return _cut_rendering(_str_rendering, obj, limit, columns, f"{name}: ", first)
