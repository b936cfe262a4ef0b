"""`gentrace.names`: qualnames without ``<locals>.``, instance and call names, and the one ``--only``
matcher (qualname, bare name, ``module:qualname``, globs, ``<locals>`` parts, no patterns)."""

from __future__ import annotations

import pytest

from gentrace.names import call_name, clean_qualname, display_name, matches_only


@pytest.mark.parametrize(
    ("qualname", "clean"),
    [
        ("numbers", "numbers"),
        ("Box.items", "Box.items"),
        ("outer.<locals>.nested", "outer.nested"),
        ("a.<locals>.b.<locals>.c", "a.b.c"),
        ("Box.method.<locals>.helper", "Box.method.helper"),
        ("outer.<locals>.<genexpr>", "outer.<genexpr>"),
        ("<genexpr>", "<genexpr>"),
        ("outer.<locals>.<lambda>", "outer.<lambda>"),
    ],
)
def test_clean_qualname_drops_locals_parts_only(qualname: str, clean: str) -> None:
    assert clean_qualname(qualname) == clean


@pytest.mark.parametrize(
    ("qualname", "shown"),
    [
        ("numbers", "numbers"),
        ("<genexpr>", "genexpr"),
        ("outer.<locals>.<genexpr>", "outer.genexpr"),
        ("outer.<locals>.nested", "outer.nested"),
        ("<lambda>", "lambda"),
        ("Box.<locals>.<listcomp>", "Box.listcomp"),
    ],
)
def test_display_name_drops_locals_and_angle_brackets(qualname: str, shown: str) -> None:
    assert display_name(qualname) == shown


@pytest.mark.parametrize(
    ("func", "name"),
    [
        ("app.core:numbers", "numbers"),
        ("__main__:Box.items", "Box.items"),
        ("mod:outer.<locals>.nested", "outer.nested"),
        ("?:<genexpr>", "<genexpr>"),
        ("numbers", "numbers"),  # no module part
    ],
)
def test_call_name_is_the_cleaned_qualname_after_the_module(func: str, name: str) -> None:
    assert call_name(func) == name


def test_no_patterns_select_everything() -> None:
    assert matches_only([], "anything.<locals>.at_all", "mod")
    assert matches_only((), "<genexpr>", "?")


@pytest.mark.parametrize(
    "pattern",
    [
        "outer.nested",  # the qualname without <locals>
        "nested",  # the bare name
        "app.core:outer.nested",  # module:qualname, cleaned
        "app.core:outer.<locals>.nested",  # module:qualname, as given
        "outer.*",
        "*nest*",
        "app.*:*",
        "app.core:outer.ne?ted",
        "[no]ested",
    ],
)
def test_patterns_that_select_a_nested_function(pattern: str) -> None:
    assert matches_only([pattern], "outer.<locals>.nested", "app.core")


@pytest.mark.parametrize(
    "pattern",
    [
        "outer",  # the enclosing function is not the nested one
        "other:outer.nested",
        "app:outer.nested",  # a module pattern must match the whole module name
        "Nested",  # case matters
        "nested*x",
        "core:nested",
        "app.core:nested",  # with a module, the whole qualname
    ],
)
def test_patterns_that_do_not_select_it(pattern: str) -> None:
    assert not matches_only([pattern], "outer.<locals>.nested", "app.core")


def test_a_method_by_class_and_name_or_bare_name() -> None:
    assert matches_only(["Box.items"], "Box.items", "m")
    assert matches_only(["items"], "Box.items", "m")
    assert matches_only(["Box.*"], "Box.items", "m")
    assert not matches_only(["Box"], "Box.items", "m")
    assert not matches_only(["Other.items"], "Box.items", "m")


def test_any_pattern_of_several_selects() -> None:
    assert matches_only(["nope", "other", "numbers"], "numbers", "m")
    assert not matches_only(["nope", "other"], "numbers", "m")


def test_a_pattern_is_not_a_substring_match() -> None:
    assert not matches_only(["number"], "numbers", "m")
    assert not matches_only(["umbers"], "numbers", "m")
    assert matches_only(["number*"], "numbers", "m")
