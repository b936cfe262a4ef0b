"""Safe reprs: never raising, cut to fit, and terminal-proof."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gentrace.reprs import ReprText, cut, escape_controls, safe_repr, safe_str, short_type_name, type_name


class BadRepr:
    def __repr__(self) -> str:
        raise RuntimeError("broken")


class NotAString:
    def __repr__(self) -> Any:
        return 42


class Interrupted:
    def __repr__(self) -> str:
        raise KeyboardInterrupt


class BaseFailure(BaseException):
    pass


class BaseFailingRepr:
    def __repr__(self) -> str:
        raise BaseFailure


class Raw:
    """A repr that writes control characters straight through (str's repr would escape them)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


class Outer:
    class Inner(Exception):
        pass


@pytest.mark.parametrize(
    "value", [None, 0, -3, 2.5, "text", b"bytes", [1, "a"], (1,), {"k": {1, 2}}, frozenset()]
)
def test_ordinary_values_are_their_repr(value: Any) -> None:
    assert safe_repr(value) == repr(value)
    assert safe_repr(value, 1000) == repr(value)


def test_a_repr_that_raises_gives_a_fallback_naming_the_type() -> None:
    assert safe_repr(BadRepr()) == f"<{__name__}.BadRepr object (repr failed: RuntimeError)>"
    assert safe_repr(NotAString()) == f"<{__name__}.NotAString object (repr failed: TypeError)>"
    assert safe_repr(BaseFailingRepr()) == f"<{__name__}.BaseFailingRepr object (repr failed: BaseFailure)>"
    assert safe_repr([BadRepr()]) == "<builtins.list object (repr failed: RuntimeError)>"  # whose repr failed


def test_ctrl_c_during_a_repr_still_interrupts() -> None:
    with pytest.raises(KeyboardInterrupt):
        safe_repr(Interrupted())


def test_long_reprs_are_cut_to_the_limit() -> None:
    assert safe_repr("x" * 100, 10) == "'xxxxxx..."
    assert len(safe_repr("x" * 100, 10)) == 10
    assert safe_repr("x" * 8, 10) == "'xxxxxxxx'"  # fits: untouched
    assert safe_repr("abcdef", 3) == "'ab"  # no room for the ellipsis
    assert safe_repr("x" * 5000) == repr("x" * 5000)  # no limit


def test_cut() -> None:
    assert cut("abcdefgh", 5) == "ab..."
    assert cut("abc", 3) == "abc"
    assert cut("abcd", 2) == "ab"
    assert cut("abc", None) == "abc"


@pytest.mark.parametrize(
    "big",
    [
        list(range(100_000)),
        tuple(range(100_000)),
        {str(i): i for i in range(100_000)},
        {i * 8 for i in range(3000)} | {1, 2, 3},  # iteration order depends on the table size
        frozenset({i * 8 for i in range(3000)} | {1, 2, 3}),
    ],
    ids=["list", "tuple", "dict", "set", "frozenset"],
)
@pytest.mark.parametrize("limit", [1, 4, 10, 80, 1000])
def test_huge_containers_show_the_start_of_their_true_repr(big: Any, limit: int) -> None:
    assert safe_repr(big, limit) == cut(repr(big), limit)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\x1b[2J", "\\x1b[2J"),  # C0: ESC
        ("a\x00b\tc", "a\\x00b\\x09c"),
        ("del\x7f", "del\\x7f"),  # DEL
        ("\x9b31m", "\\x9b31m"),  # C1: CSI, an escape sequence on some terminals
        ("\x85", "\\x85"),  # C1: next line
        ("\u202eabc", "\\u202eabc"),  # right-to-left override
        ("\u2066x\u2069", "\\u2066x\\u2069"),  # isolates
        ("\u200f\u061c", "\\u200f\\u061c"),  # marks
        ("a\u2028b", "a\\u2028b"),  # line separator
        ("café 中文 🐍", "café 中文 🐍"),  # printable: untouched
    ],
)
def test_control_and_bidi_characters_are_escaped(text: str, shown: str) -> None:
    assert safe_repr(Raw(text)) == shown
    assert escape_controls(text) == shown


@settings(max_examples=300, deadline=None, database=None)
@given(st.text())
def test_no_safe_repr_has_a_character_a_terminal_would_act_on(text: str) -> None:
    for shown in (safe_repr(Raw(text)), safe_repr(text), safe_repr(Raw(text), 20)):
        assert shown.isprintable()


def test_repr_text_is_shown_as_it_is_but_still_safe() -> None:
    assert safe_repr(ReprText("Point(x=1)")) == "Point(x=1)"
    assert safe_repr(ReprText("a\x1bb" + "x" * 50), 10) == "a\\x1bbx..."


def test_safe_str() -> None:
    assert safe_str(ValueError("bad\x1b")) == "bad\\x1b"
    assert safe_str(ValueError("x" * 50), 10) == "xxxxxxx..."

    class BadStr:
        def __str__(self) -> str:
            raise RuntimeError

    assert safe_str(BadStr()) == "<str() failed: RuntimeError>"


def test_type_names() -> None:
    assert type_name(ValueError) == "builtins.ValueError"
    assert type_name(Outer.Inner) == f"{__name__}.Outer.Inner"
    assert short_type_name("builtins.ValueError") == "ValueError"
    assert short_type_name("__main__.DemoError") == "DemoError"
    assert short_type_name("pkg.mod.Error") == "pkg.mod.Error"
