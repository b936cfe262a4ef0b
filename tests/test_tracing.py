"""`gentrace.tracing`: which tracer is current (`current_tracer`, `active_tracer`), the process-wide
default (`set_default`, `replace_default`, `get_default`), threads, and `trace` used wrongly.

The conftest's autouse fixture leaves no default and no lazy stderr tracer between tests.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator
from typing import Any

import pytest
from support import FakeClock

import gentrace
from gentrace import GeneratorProxy, tracing
from gentrace.tracer import UNSET
from gentrace.tracing import active_tracer, current_tracer, get_default, replace_default, set_default


def numbers(n: int) -> Generator[int, Any, None]:
    yield from range(n)


def in_thread(action: Callable[[], Any]) -> Any:
    """What `action` returns when run in a new thread."""
    result: list[Any] = []
    worker = threading.Thread(target=lambda: result.append(action()))
    worker.start()
    worker.join()
    return result[0]


# -- precedence ---------------------------------------------------------------------------------


def test_current_tracer_innermost_with_then_default_then_stderr(clock: FakeClock) -> None:
    default, outer, inner = (gentrace.Tracer(clock=clock) for _ in range(3))
    lazy = current_tracer()
    assert isinstance(lazy, gentrace.Tracer)
    assert lazy not in (default, outer, inner)
    assert current_tracer() is lazy  # made once
    set_default(default)
    assert current_tracer() is default
    with outer:
        assert current_tracer() is outer
        with inner:
            assert current_tracer() is inner
        assert current_tracer() is outer
    assert current_tracer() is default


def test_the_stderr_tracer_keeps_nothing_and_is_made_again_once_closed() -> None:
    lazy = current_tracer()
    assert lazy is not None
    assert list(gentrace.trace(numbers)(2)) == [0, 1]
    assert lazy.events == []
    lazy.close()
    again = current_tracer()
    assert again is not None
    assert again is not lazy
    assert not again.closed


def test_the_tracer_is_looked_up_when_the_generator_is_made(clock: FakeClock) -> None:
    decorated = gentrace.trace(numbers)  # decorated before any tracer exists
    default = gentrace.Tracer(clock=clock)
    set_default(default)
    assert list(decorated(1)) == [0]
    assert [e.op for e in default.events] == ["create", "next", "next"]


def test_set_default_none_records_nothing_and_prints_nothing(
    clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    set_default(None)
    assert current_tracer() is None
    assert active_tracer() is None
    assert get_default() is None
    gen = gentrace.trace(numbers)(2)
    assert not isinstance(gen, GeneratorProxy)
    assert list(gen) == [0, 1]
    assert capsys.readouterr() == ("", "")
    assert tracing._lazy is None  # no stderr tracer was even made
    inside = gentrace.Tracer(clock=clock)
    with inside:  # a `with` still wins over a None default
        assert current_tracer() is inside
        assert isinstance(gentrace.trace(numbers)(1), GeneratorProxy)
    assert current_tracer() is None


def test_active_tracer_has_no_stderr_fallback(clock: FakeClock) -> None:
    assert active_tracer() is None
    assert tracing._lazy is None
    default, local = gentrace.Tracer(clock=clock), gentrace.Tracer(clock=clock)
    set_default(default)
    assert active_tracer() is default
    with local:
        assert active_tracer() is local
    assert active_tracer() is default
    set_default(None)
    assert active_tracer() is None


def test_without_a_default_active_tracer_still_sees_a_with(clock: FakeClock) -> None:
    local = gentrace.Tracer(clock=clock)
    with local:
        assert active_tracer() is local
    assert active_tracer() is None


# -- set_default, replace_default ---------------------------------------------------------------


@pytest.mark.parametrize(("value", "type_name"), [("run.log", "str"), (42, "int"), (gentrace.Tracer, "type")])
def test_set_default_takes_only_a_tracer_or_none(value: Any, type_name: str) -> None:
    with pytest.raises(TypeError, match=rf"^set_default\(\): expected a Tracer or None, got {type_name}$"):
        set_default(value)
    assert get_default() is None
    assert tracing._default is UNSET  # a refused value changes nothing


def test_set_default_takes_a_tracer_subclass(clock: FakeClock) -> None:
    class Mine(gentrace.Tracer):
        pass

    mine = Mine(clock=clock)
    set_default(mine)
    assert current_tracer() is mine


def test_replace_default_restores_never_set(clock: FakeClock) -> None:
    swapped = gentrace.Tracer(clock=clock)
    restore = replace_default(swapped)
    assert current_tracer() is swapped
    assert get_default() is swapped
    restore()
    assert get_default() is None
    assert active_tracer() is None  # not a default of None ...
    lazy = current_tracer()
    assert isinstance(lazy, gentrace.Tracer)  # ... but never set: the stderr tracer is back
    assert lazy is not swapped


def test_replace_default_restores_none(clock: FakeClock) -> None:
    set_default(None)
    restore = replace_default(gentrace.Tracer(clock=clock))
    restore()
    assert current_tracer() is None


def test_replace_default_restores_a_tracer_and_nests(clock: FakeClock) -> None:
    first, second, third = (gentrace.Tracer(clock=clock) for _ in range(3))
    set_default(first)
    restore_second = replace_default(second)
    restore_third = replace_default(third)
    assert current_tracer() is third
    restore_third()
    assert current_tracer() is second
    restore_second()
    assert current_tracer() is first


def test_replace_default_refuses_a_non_tracer_and_changes_nothing(clock: FakeClock) -> None:
    first = gentrace.Tracer(clock=clock)
    set_default(first)
    with pytest.raises(TypeError, match=r"got str"):
        replace_default("run.log")  # type: ignore[arg-type]
    assert get_default() is first


# -- threads ------------------------------------------------------------------------------------


def test_a_with_does_not_leak_into_another_thread(clock: FakeClock) -> None:
    local = gentrace.Tracer(clock=clock)
    with local:
        assert in_thread(active_tracer) is None
        seen = in_thread(current_tracer)
    assert seen is not local
    assert isinstance(seen, gentrace.Tracer)  # the other thread falls back on the stderr tracer
    assert local.events == []


def test_the_default_is_seen_by_every_thread(clock: FakeClock) -> None:
    default, local = gentrace.Tracer(clock=clock), gentrace.Tracer(clock=clock)
    set_default(default)
    decorated = gentrace.trace(numbers)
    with local:
        assert in_thread(current_tracer) is default
        assert in_thread(active_tracer) is default
        assert in_thread(lambda: list(decorated(1))) == [0]
    assert [(e.op, e.thread != "MainThread") for e in default.events] == [
        ("create", True),
        ("next", True),
        ("next", True),
    ]
    assert local.events == []


def test_a_with_in_another_thread_does_not_leak_into_this_one(clock: FakeClock) -> None:
    default, theirs = gentrace.Tracer(clock=clock), gentrace.Tracer(clock=clock)
    set_default(default)
    entered, checked = threading.Event(), threading.Event()

    def worker() -> None:
        with theirs:
            entered.set()
            checked.wait(10)

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        assert entered.wait(10)
        assert current_tracer() is default
        gen = gentrace.trace(numbers)(1)
    finally:
        checked.set()
        thread.join()
    assert list(gen) == [0]
    assert [e.op for e in default.events] == ["create", "next", "next"]
    assert theirs.events == []


# -- trace used wrongly -------------------------------------------------------------------------


def test_trace_with_a_positional_name_says_to_pass_it_by_keyword() -> None:
    with pytest.raises(
        TypeError, match=r"^trace\(\): pass the name as a keyword: @gentrace.trace\(name=...\)$"
    ):
        gentrace.trace("avg")  # type: ignore[call-overload]


def plain_function(n: int) -> list[int]:
    return list(range(n))


@pytest.mark.parametrize(
    ("thing", "label"),
    [
        (plain_function, "plain_function"),
        (lambda: 1, "<lambda>"),
        (len, "len"),
        (numbers(1), "numbers"),  # a generator object: named by its function
    ],
    ids=["function", "lambda", "builtin", "generator-object"],
)
def test_trace_on_a_non_generator_says_what_is_wrong(thing: Any, label: str) -> None:
    with pytest.raises(TypeError) as info:
        gentrace.trace(thing)
    message = str(info.value)
    assert message.startswith(f"trace: {label} is not a generator function")
    assert "a generator function is a def whose body contains yield" in message


def test_trace_with_parentheses_checks_at_decoration_too() -> None:
    with pytest.raises(TypeError, match=r"^trace: plain_function is not a generator function"):
        gentrace.trace(name="p")(plain_function)


def test_trace_on_a_non_generator_staticmethod_is_refused() -> None:
    with pytest.raises(TypeError, match=r"is not a generator function"):

        class Holder:
            @gentrace.trace
            @staticmethod
            def make() -> int:
                return 1

        del Holder
