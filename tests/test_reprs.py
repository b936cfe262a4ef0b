"""Safe reprs: never raising, cut to fit, and terminal-proof."""

from __future__ import annotations

import sys
import tracemalloc
from collections import defaultdict, deque
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gentrace.reprs import (
    ReprText,
    cut,
    escape_controls,
    exc_info,
    exc_line,
    safe_repr,
    safe_str,
    short_type_name,
    type_name,
)


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


# -- cut before rendering: what is shown is the start of the full repr, and no more is rendered --------


class Sub(list[Any]):
    """A list whose repr is list's: shown as a list."""


class SubDict(dict[Any, Any]):
    pass


class SubStr(str):
    __slots__ = ()


class SubInt(int):
    pass


class AppError(Exception):
    pass


def full(obj: Any, limit: int | None, columns: bool = False) -> str:
    """What safe_repr shows: the full repr (or its fallback when repr fails), escaped and cut."""
    try:
        text = repr(obj)
    except ValueError:  # an int past sys.get_int_max_str_digits()
        text = f"<{type_name(type(obj))} object (repr failed: ValueError)>"
    return cut(escape_controls(text), limit, columns=columns)


TRICKY = "ab'\"\\\x00\n\t\x1b\u0301\u200b中😀\U0001f3fde "
texts = st.text(st.sampled_from(TRICKY)) | st.text()
# Long enough to be cut, with a start unlike the rest (a quote only past the cut, say).
long_texts = st.builds(lambda head, times, tail: head * times + tail, texts, st.integers(1, 60), texts)
byte_strings = st.lists(st.sampled_from(b"ab'\"\\\x00\n\x80")).map(bytes)
long_bytes = st.builds(
    lambda head, times, tail: head * times + tail, byte_strings, st.integers(1, 60), byte_strings
)
big_ints = st.integers(0, 1500).flatmap(
    lambda digits: st.integers(-(10**digits), 10**digits) | st.sampled_from([10**digits, 10**digits - 1])
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | big_ints
    | st.floats()
    | st.complex_numbers()
    | texts
    | long_texts
    | long_texts.map(SubStr)
    | st.binary()
    | long_bytes
    | big_ints.map(SubInt)
)
hashables = st.recursive(
    scalars,
    lambda children: st.tuples(children, children) | st.frozensets(children, max_size=4),
    max_leaves=8,
)


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    items = st.lists(children, max_size=6)
    return (
        items
        | items.map(tuple)
        | items.map(Sub)
        | st.dictionaries(hashables, children, max_size=5)
        | st.dictionaries(hashables, children, max_size=5).map(SubDict)
        | st.sets(hashables, max_size=5)
        | st.frozensets(hashables, max_size=5)
        | st.builds(deque, items, st.none() | st.integers(0, 8))
        | st.builds(
            defaultdict, st.sampled_from([None, list, int]), st.dictionaries(hashables, children, max_size=4)
        )
        | st.dictionaries(hashables, children, max_size=4).flatmap(
            lambda d: st.sampled_from([d.keys(), d.values(), d.items()])
        )
        | items.map(lambda args: ValueError(*args))
        | items.map(lambda args: AppError(*args))
        | items.map(lambda args: KeyError(*args))
        | long_bytes.map(bytearray)
    )


values = st.recursive(scalars, _containers, max_leaves=30)


# The strategies' own repr is long (hypothesis warns when it writes it, drawing unique set items).
big_strategy = pytest.mark.filterwarnings("ignore:Generating overly large repr")


@big_strategy
@settings(max_examples=1000, database=None)
@given(values, st.integers(0, 120) | st.integers(0, 3000), st.booleans())
def test_a_cut_repr_is_the_start_of_the_full_one(value: Any, limit: int, columns: bool) -> None:
    assert safe_repr(value, limit, columns=columns) == full(value, limit, columns)
    assert safe_repr(value) == full(value, None)


@settings(max_examples=300, database=None)
@given(st.integers(1500, 20_000).flatmap(lambda n: st.integers(-(10**n), 10**n)), st.integers(0, 2000))
def test_a_huge_int_shows_its_first_digits_when_python_would_print_it(value: int, limit: int) -> None:
    most = sys.get_int_max_str_digits() if hasattr(sys, "get_int_max_str_digits") else 0
    assert safe_repr(value, limit) == full(value, limit)  # past the limit: repr failed, as it is today
    if most:
        sys.set_int_max_str_digits(0)
        try:
            assert safe_repr(value, limit) == full(value, limit)
        finally:
            sys.set_int_max_str_digits(most)


@big_strategy
@settings(max_examples=300, database=None)
@given(values, st.integers(0, 200), st.booleans())
def test_an_exception_line_is_cut_from_the_start_of_its_message(
    value: Any, limit: int, columns: bool
) -> None:
    exc = AppError(value)
    message = escape_controls(str(exc))
    line = f"{__name__}.AppError: {message}" if message else f"{__name__}.AppError"
    assert exc_line(exc, limit, columns=columns) == cut(line, limit, columns=columns)
    assert safe_str(exc, limit) == cut(message, limit)


def recursive_values() -> list[Any]:
    in_list: list[Any] = [1, "x" * 50]
    in_list.append(in_list)
    in_dict: dict[str, Any] = {"a": "y" * 40}
    in_dict["self"] = in_dict
    in_deque: deque[Any] = deque([2])
    in_deque.append(in_deque)
    in_tuple = ([],)
    in_tuple[0].append(in_tuple)
    nested = [in_list, in_dict, in_deque, in_tuple]
    return [in_list, in_dict, in_deque, in_tuple, nested, Sub([nested])]


@pytest.mark.parametrize("value", recursive_values(), ids=["list", "dict", "deque", "tuple", "all", "sub"])
@pytest.mark.parametrize("limit", [0, 5, 20, 50, 1000])
def test_a_container_met_again_inside_itself_is_shown_as_repr_shows_it(value: Any, limit: int) -> None:
    assert safe_repr(value, limit) == full(value, limit)


def test_a_nesting_deeper_than_the_renderer_goes_is_still_its_repr() -> None:
    deep: list[Any] = ["end"]
    for _ in range(400):  # past this module's own recursion, within the builtin repr's
        deep = [deep]
    assert safe_repr(deep, 1000) == full(deep, 1000)


HUGE = 50 * 1024 * 1024


@pytest.mark.parametrize(
    "make",
    [
        lambda: bytes(range(256)) * (HUGE // 256),
        lambda: bytearray(HUGE),
        lambda: "\x00é" * (HUGE // 2),
        lambda: [b"\x01" * HUGE],
        lambda: ("x", {"k": deque(["'" * HUGE])}),
        lambda: ValueError("\x1b" * HUGE),
    ],
    ids=["bytes", "bytearray", "str", "in-list", "nested", "exception"],
)
def test_a_huge_value_is_never_rendered_in_full(make: Callable[[], Any]) -> None:
    value = make()
    tracemalloc.start()
    try:
        shown = [safe_repr(value, 1000), safe_repr(value, 80, columns=True), exc_line(value, 1000)]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1024 * 1024  # its full repr (at least 50 MB) was never built
    assert shown[0].endswith("...") and 990 < len(shown[0]) <= 1000  # what it shows is checked above


class Counted:
    calls = 0

    def __repr__(self) -> str:
        Counted.calls += 1
        return "C"


def test_only_the_items_shown_are_rendered() -> None:
    value = [[Counted()] * 1000] * 1000
    Counted.calls = 0
    shown = safe_repr(value, 80)
    assert Counted.calls <= 40  # each shows as 3 characters (`C, `): 80 characters hold 27 of them
    assert shown == full(value, 80)


def test_a_class_repr_is_called_as_it_is_and_cut_after() -> None:
    assert safe_repr(Raw("z" * 5000), 10) == "zzzzzzz..."


def test_a_message_is_cut_in_the_json_lines_too() -> None:
    assert exc_info(ValueError("m" * 5000), 20) == {
        "type": "builtins.ValueError",
        "message": "m" * 17 + "...",
    }
    assert exc_info(ValueError("m" * 5000))["message"] == "m" * 5000  # no limit: whole
