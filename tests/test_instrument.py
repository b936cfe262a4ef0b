"""`gentrace.instrument` without the CLI: which functions the AST rewrite decorates (own yields,
async defs, ``only``), kept line numbers, where the decorator's import goes, what instrumented
code does with and without a tracer, which modules the import hook wants, and tracebacks cleaned
of gentrace's frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.machinery
import importlib.metadata
import inspect
import json.decoder
import os
import sys
import sysconfig
import textwrap
import traceback
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import gentrace
import gentrace.instrument
from gentrace import GeneratorProxy, tracing
from gentrace.instrument import (
    InstrumentingFinder,
    clean_exception,
    install,
    instrument_source,
    run_script,
    uninstall,
    user_traceback,
)
from gentrace.tracer import TracedFunction

FILENAME = "/virtual/prog.py"
OWN_DIR = os.path.dirname(os.path.abspath(gentrace.instrument.__file__))


def run(source: str, module: str = "mymod", only: tuple[str, ...] = ()) -> dict[str, Any]:
    """The namespace left by running `source` instrumented (dedented) as module `module`."""
    namespace: dict[str, Any] = {"__name__": module}
    exec(instrument_source(textwrap.dedent(source), FILENAME, module, only), namespace)
    return namespace


def run_plain(source: str, module: str = "mymod") -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": module}
    exec(compile(textwrap.dedent(source), FILENAME, "exec", dont_inherit=True), namespace)
    return namespace


def is_traced(obj: Any) -> bool:
    return isinstance(obj, TracedFunction)


# -- what is decorated --------------------------------------------------------------------------


KINDS = """
    def gen():
        yield 1

    def delegating():
        yield from gen()

    def plain():
        return 1

    def nested_yields():
        def inner():
            yield 2
        return inner

    def lambda_yields():
        return lambda: (yield)

    def class_inside():
        class Inner:
            def items(self):
                yield 3
        return Inner

    async def coro():
        return 4

    async def agen():
        yield 5

    class Box:
        def items(self):
            yield 6

        def size(self):
            return 0

        @staticmethod
        def static_items():
            yield 7
"""


def test_exactly_the_functions_whose_own_body_yields_are_decorated() -> None:
    ns = run(KINDS)
    assert {name for name, obj in ns.items() if is_traced(obj)} == {"gen", "delegating", "coro", "agen"}
    for name in ("plain", "nested_yields", "lambda_yields", "class_inside"):
        assert inspect.isfunction(ns[name]), name
    assert is_traced(ns["nested_yields"]())  # the nested function itself is
    assert not is_traced(ns["lambda_yields"]())  # a lambda is never decorated
    assert is_traced(ns["class_inside"]().__dict__["items"])
    box = ns["Box"].__dict__
    assert is_traced(box["items"])
    assert not is_traced(box["size"])
    assert is_traced(box["static_items"].__func__)


def test_async_defs_are_always_decorated() -> None:
    ns = run(
        """
        async def no_await():
            return 1

        async def agen():
            yield 1
        """
    )
    assert is_traced(ns["no_await"])
    assert is_traced(ns["agen"])


@pytest.mark.parametrize(
    ("only", "expected"),
    [
        ((), {"keep_me", "drop_me", "Box.items", "outer.inner", "coro"}),
        (("keep_*",), {"keep_me"}),
        (("Box.items",), {"Box.items"}),
        (("items",), {"Box.items"}),
        (("mymod:drop_me",), {"drop_me"}),
        (("outer.inner",), {"outer.inner"}),
        (("mymod:outer.<locals>.inner",), {"outer.inner"}),
        (("co*", "keep_me"), {"coro", "keep_me"}),
        (("othermod:*",), set()),
    ],
)
def test_only_patterns_choose_what_is_decorated(only: tuple[str, ...], expected: set[str]) -> None:
    ns = run(
        """
        def keep_me():
            yield 1

        def drop_me():
            yield 2

        class Box:
            def items(self):
                yield 3

        def outer():
            def inner():
                yield 4
            return inner

        async def coro():
            return 5
        """,
        only=only,
    )
    found = {
        "keep_me": is_traced(ns["keep_me"]),
        "drop_me": is_traced(ns["drop_me"]),
        "Box.items": is_traced(ns["Box"].__dict__["items"]),
        "outer.inner": is_traced(ns["outer"]()),
        "coro": is_traced(ns["coro"]),
    }
    assert {name for name, traced in found.items() if traced} == expected


# -- line numbers, docstrings, globals --------------------------------------------------------


RAISING = '''\
"""A program whose generator fails."""
from __future__ import annotations


def mark(func):
    return func


@mark
def numbers(n):
    for i in range(n):
        yield i
    raise ValueError("ran out")


def consume():
    return list(numbers(2))
'''


def frames_in_program(exc: BaseException) -> list[tuple[int, str]]:
    return [
        (f.lineno or 0, f.name) for f in traceback.extract_tb(exc.__traceback__) if f.filename == FILENAME
    ]


def test_line_numbers_are_kept(clock: Any) -> None:
    plain = run_plain(RAISING)
    tracer = gentrace.Tracer(clock=clock)
    with tracer:
        traced = run(RAISING)
        with pytest.raises(ValueError, match="ran out") as got:
            traced["consume"]()
    with pytest.raises(ValueError, match="ran out") as expected:
        plain["consume"]()
    assert (
        frames_in_program(got.value)
        == frames_in_program(expected.value)
        == [(17, "consume"), (13, "numbers")]
    )
    assert traced["numbers"].__code__.co_firstlineno == plain["numbers"].__code__.co_firstlineno == 9
    assert [e.lineno for e in tracer.events if e.op == "create"] == [9]
    assert [e.lineno for e in tracer.events if e.outcome == "yield"] == [12, 12]


def test_a_rewritten_modules_globals_are_its_own() -> None:
    source = """\
        import gentrace
        squares = [x * x for x in range(3)]
        pairs = list(zip("ab", (n for n in range(2))))

        def g():
            for x in iter(squares):
                yield next(iter([x]))
        """
    plain = run_plain(source)
    for iterators in (False, True):
        namespace: dict[str, Any] = {"__name__": "mymod"}
        with gentrace.Tracer(iterators=True) as tracer:
            exec(
                instrument_source(textwrap.dedent(source), FILENAME, "mymod", iterators=iterators), namespace
            )
            assert list(namespace["g"]()) == [0, 1, 4]
        assert namespace.keys() == plain.keys()
        assert namespace["pairs"] == plain["pairs"]
        assert ("iter" in [e.op for e in tracer.events]) is iterators


def test_the_rewrite_keeps_the_docstring_and_future_imports() -> None:
    ns = run(RAISING)
    assert ns["__doc__"] == "A program whose generator fails."
    ns = run(
        '''\
        """Doc."""
        from __future__ import annotations
        from __future__ import generator_stop

        def g(x: Undefined):
            yield x
        '''
    )
    assert ns["__doc__"] == "Doc."
    assert inspect.unwrap(ns["g"]).__annotations__ == {"x": "Undefined"}  # the future import still works
    ns = run(
        """\
        from __future__ import annotations

        def g(x: Undefined):
            yield x
        """
    )
    assert is_traced(ns["g"])
    assert ns.get("__doc__") is None
    ns = run('"""Only a docstring."""\ndef g():\n    yield 1\n')
    assert ns["__doc__"] == "Only a docstring."
    assert is_traced(ns["g"])


def test_decorators_above_get_the_traced_function(clock: Any) -> None:
    ns = run(
        """
        import contextlib

        @contextlib.contextmanager
        def opened(name):
            yield name.upper()
        """
    )
    tracer = gentrace.Tracer(clock=clock)
    with tracer, ns["opened"]("x") as value:
        assert value == "X"
    assert [(e.gen, e.op, e.outcome) for e in tracer.events] == [
        ("opened#1", "create", "created"),
        ("opened#1", "next", "yield"),
        ("opened#1", "next", "return"),
    ]


# -- running instrumented code ------------------------------------------------------------------


PROGRAM = """
    def numbers(n):
        yield from range(n)

    async def double(x):
        return 2 * x
"""


def test_with_a_default_tracer_its_generators_are_traced(clock: Any) -> None:
    tracer = gentrace.Tracer(clock=clock)
    gentrace.set_default(tracer)
    ns = run(PROGRAM)
    gen = ns["numbers"](2)
    assert isinstance(gen, GeneratorProxy)
    assert list(gen) == [0, 1]
    assert asyncio.run(ns["double"](4)) == 8
    events = tracer.events
    assert [(e.gen, e.op, e.outcome) for e in events] == [
        ("numbers#1", "create", "created"),
        ("numbers#1", "next", "yield"),
        ("numbers#1", "next", "yield"),
        ("numbers#1", "next", "return"),
        ("double#1", "create", "created"),
        ("double#1", "send", "return"),
    ]
    assert events[0].func == "mymod:numbers"
    assert events[0].filename == FILENAME


def test_without_a_tracer_nothing_is_recorded_or_printed(capsys: pytest.CaptureFixture[str]) -> None:
    ns = run(PROGRAM)
    gen = ns["numbers"](2)
    assert type(gen) is types.GeneratorType
    assert list(gen) == [0, 1]
    coro = ns["double"](4)
    assert type(coro) is types.CoroutineType
    assert asyncio.run(coro) == 8
    assert capsys.readouterr() == ("", "")
    assert tracing._lazy is None  # the stderr tracer of @gentrace.trace was never made


def test_a_with_tracer_traces_instrumented_code(clock: Any) -> None:
    ns = run(PROGRAM)
    tracer = gentrace.Tracer(clock=clock)
    with tracer:
        assert list(ns["numbers"](1)) == [0]
    assert [e.op for e in tracer.events] == ["create", "next", "next"]


# -- which modules the import hook wants --------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    return root.resolve()


def test_modules_under_the_roots_are_wanted(project: Path) -> None:
    finder = InstrumentingFinder([str(project)])
    assert finder.wants("main", str(project / "main.py"))
    assert finder.wants("app.util", str(project / "app" / "util.py"))
    assert finder.wants("app", str(project / "app" / "__init__.py"))


def test_modules_outside_the_roots_are_not(project: Path) -> None:
    finder = InstrumentingFinder([str(project)])
    assert not finder.wants("other", str(project.parent / "other.py"))
    # A directory whose name starts with the root's is not under it.
    assert not finder.wants("sibling", str(project.parent / "proj2" / "sibling.py"))
    assert not finder.wants("json.decoder", json.decoder.__file__)


def test_several_roots(project: Path, tmp_path: Path) -> None:
    second = (tmp_path / "lib").resolve()
    finder = InstrumentingFinder([str(project), str(second)])
    assert finder.wants("a", str(project / "a.py"))
    assert finder.wants("b", str(second / "b.py"))
    assert not finder.wants("c", str(tmp_path / "c.py"))


@pytest.mark.parametrize("folder", ["site-packages", "dist-packages"])
def test_installed_packages_inside_the_tree_are_not_wanted(project: Path, folder: str) -> None:
    finder = InstrumentingFinder([str(project)])
    origin = project / ".venv" / "lib" / "python3.11" / folder / "pkg" / "mod.py"
    assert not finder.wants("pkg.mod", str(origin))


def test_include_globs_add_modules_by_name(project: Path, tmp_path: Path) -> None:
    finder = InstrumentingFinder([str(project)], include=["vendored.*", "single"])
    assert finder.wants("vendored.lib", str(tmp_path / "elsewhere" / "vendored" / "lib.py"))
    assert finder.wants("single", str(tmp_path / "elsewhere" / "single.py"))
    site = tmp_path / "venv" / "lib" / "site-packages"
    assert finder.wants("vendored.x", str(site / "vendored" / "x.py"))  # by name, wherever it is
    assert not finder.wants("vendored", str(tmp_path / "elsewhere" / "vendored" / "__init__.py"))
    assert not finder.wants("singles", str(tmp_path / "elsewhere" / "singles.py"))


def test_exclude_file_globs_win_over_everything(project: Path) -> None:
    finder = InstrumentingFinder(
        [str(project)], include=["tests.*"], exclude=["test_*.py", "*_test.py", "conftest.py"]
    )
    assert not finder.wants("tests.test_app", str(project / "tests" / "test_app.py"))
    assert not finder.wants("tests.app_test", str(project / "tests" / "app_test.py"))
    assert not finder.wants("conftest", str(project / "conftest.py"))
    assert finder.wants("tests.helpers", str(project / "tests" / "helpers.py"))
    assert finder.wants("app", str(project / "app.py"))


def test_gentrace_itself_is_never_wanted() -> None:
    package_dir = Path(gentrace.__file__).resolve().parent
    finder = InstrumentingFinder([str(package_dir.parent), str(package_dir)])
    assert not finder.wants("gentrace", str(package_dir / "__init__.py"))
    assert not finder.wants("gentrace.aproxy", str(package_dir / "aproxy.py"))
    assert not finder.wants("gentrace.reader", str(package_dir / "reader.py"))
    assert finder.wants("gentrace_extras", str(package_dir.parent / "gentrace_extras.py"))


@pytest.mark.parametrize("include", ["*", "gentrace*", "gentrace.*"])
def test_gentrace_itself_is_not_wanted_even_by_include(include: str) -> None:
    package_dir = Path(gentrace.__file__).resolve().parent
    finder = InstrumentingFinder([str(package_dir.parent)], include=[include])
    assert not finder.wants("gentrace.aproxy", str(package_dir / "aproxy.py"))


def test_the_standard_library_is_wanted_only_when_it_is_the_tree() -> None:
    stdlib = os.path.realpath(sysconfig.get_paths()["stdlib"])
    assert InstrumentingFinder([stdlib]).wants("json.decoder", json.decoder.__file__)


def test_the_standard_library_inside_the_tree_is_not_wanted() -> None:
    stdlib = os.path.realpath(sysconfig.get_paths()["stdlib"])
    finder = InstrumentingFinder([os.path.dirname(stdlib)])
    assert not finder.wants("json.decoder", json.decoder.__file__)


@contextlib.contextmanager
def installed(finder: InstrumentingFinder) -> Iterator[None]:
    install(finder)
    try:
        yield
    finally:
        uninstall(finder)


def test_the_installed_finder_instruments_an_imported_module(
    project: Path, monkeypatch: pytest.MonkeyPatch, clock: Any
) -> None:
    (project / "gt_inst_sample.py").write_text("def numbers(n):\n    yield from range(n)\n")
    monkeypatch.syspath_prepend(str(project))
    monkeypatch.delitem(sys.modules, "gt_inst_sample", raising=False)
    finder = InstrumentingFinder([str(project)])
    try:
        with installed(finder):
            module = importlib.import_module("gt_inst_sample")
        assert finder not in sys.meta_path
        assert is_traced(module.numbers)
        tracer = gentrace.Tracer(clock=clock)
        with tracer:
            assert list(module.numbers(1)) == [0]
        assert [(e.gen, e.func) for e in tracer.events][:1] == [("numbers#1", "gt_inst_sample:numbers")]
        assert not (project / "__pycache__").exists()  # instrumented bytecode is never cached
    finally:
        sys.modules.pop("gt_inst_sample", None)


# What the installed finder costs an import it leaves alone: nothing but the one search of the path
# that the import system makes anyway. Checked as an event loop's blocking-call detector would
# (anyio runs its suite under one): the os functions that touch the filesystem are replaced by
# spies, and the import system's own calls (through `posix`, never `os`) are not seen.
FILESYSTEM_CALLS = [
    (os, "stat"),
    (os, "lstat"),
    (os, "listdir"),
    (os, "scandir"),
    (os, "readlink"),
    (os.path, "realpath"),
    (os.path, "abspath"),
    (os.path, "exists"),
    (os.path, "isdir"),
    (os.path, "isfile"),
    (os.path, "islink"),
    (os.path, "samefile"),
]


@contextlib.contextmanager
def spied_filesystem(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The names of the filesystem functions called in the block, through `os` and `os.path`."""
    calls: list[str] = []
    with monkeypatch.context() as patch:
        for module, name in FILESYSTEM_CALLS:
            real = getattr(module, name)

            def spy(*args: Any, _real: Any = real, _name: str = f"{module.__name__}.{name}") -> Any:
                calls.append(_name)
                return _real(*args)

            patch.setattr(module, name, spy)
        yield calls


@contextlib.contextmanager
def counted_searches(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[tuple[str, str], int]]:
    """How many times each folder of the path was searched for each module, in the block."""
    counts: dict[tuple[str, str], int] = {}
    real = importlib.machinery.FileFinder.find_spec

    def find_spec(self: Any, fullname: str, target: Any = None) -> Any:
        key = (self.path, fullname)
        counts[key] = counts.get(key, 0) + 1
        return real(self, fullname, target)

    with monkeypatch.context() as patch:
        patch.setattr(importlib.machinery.FileFinder, "find_spec", find_spec)
        yield counts


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder on sys.path, outside the program's tree, with a module that imports another."""
    folder = (tmp_path / "elsewhere").resolve()
    folder.mkdir()
    (folder / "gt_plain_a.py").write_text("import gt_plain_b\n\ndef numbers(n):\n    yield from range(n)\n")
    (folder / "gt_plain_b.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(folder))
    for name in ("gt_plain_a", "gt_plain_b"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    return folder


def test_a_module_left_alone_costs_no_filesystem_call(
    project: Path, elsewhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    finder = InstrumentingFinder([str(project)])
    with installed(finder), spied_filesystem(monkeypatch) as calls:
        module = importlib.import_module("gt_plain_a")
    assert calls == []
    assert not is_traced(module.numbers)
    assert finder.instrumented == set()


IMPORTED = ("gt_inst_mine", "gt_plain_a", "gt_plain_b")


def import_all() -> types.ModuleType:
    """Import the modules of the project and of elsewhere, and one that is nowhere; forget them."""
    try:
        with pytest.raises(ModuleNotFoundError, match="No module named 'gt_no_such_module'"):
            importlib.import_module("gt_no_such_module")
        return importlib.import_module("gt_inst_mine")
    finally:
        for name in IMPORTED:
            sys.modules.pop(name, None)


def test_an_import_searches_the_path_as_often_as_python_does(
    project: Path, elsewhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "gt_inst_mine.py").write_text("import gt_plain_a\n\ndef mine():\n    yield 1\n")
    monkeypatch.syspath_prepend(str(project))
    monkeypatch.delitem(sys.modules, "gt_inst_mine", raising=False)
    with counted_searches(monkeypatch) as plain:
        assert not is_traced(import_all().mine)
    finder = InstrumentingFinder([str(project)])
    with installed(finder), counted_searches(monkeypatch) as traced:
        assert is_traced(import_all().mine)
    assert finder.instrumented == {"gt_inst_mine"}
    assert {name for _, name in plain} == {*IMPORTED, "gt_no_such_module"}
    assert traced == plain  # found or not, instrumented or not: one search of the path


def test_installed_it_stands_in_for_the_path_finder_and_uninstalled_puts_it_back(project: Path) -> None:
    before = list(sys.meta_path)
    finder = InstrumentingFinder([str(project)])
    with installed(finder):
        assert importlib.machinery.PathFinder not in sys.meta_path
        assert sys.meta_path.index(finder) == before.index(importlib.machinery.PathFinder)
        # importlib.metadata asks the finders on sys.meta_path for the installed distributions.
        assert importlib.metadata.version("pytest") == pytest.__version__
    assert sys.meta_path == before


# -- tracebacks without gentrace's frames -------------------------------------------------------


def fake_code(source: str, filename: str) -> dict[str, Any]:
    """Functions compiled as if they lived in `filename` (a gentrace module, the import system)."""
    namespace: dict[str, Any] = {"__name__": "fake"}
    exec(compile(textwrap.dedent(source), filename, "exec"), namespace)
    return namespace


OWN = fake_code(
    """
    def through(f, *args):
        return f(*args)
    """,
    os.path.join(OWN_DIR, "fake_frames.py"),
)["through"]
BOOT = fake_code(
    """
    def bootstrap(f, *args):
        return f(*args)
    """,
    "<frozen importlib._bootstrap>",
)["bootstrap"]


def run_main(source: str) -> BaseException:
    """The exception that running `source` as ``__main__`` raises, from here."""
    namespace = {"__name__": "__main__", "through": OWN, "bootstrap": BOOT}
    try:
        exec(compile(textwrap.dedent(source), "prog.py", "exec"), namespace)
    except BaseException as exc:
        return exc
    raise AssertionError("the program did not raise")


def shown(tb: types.TracebackType | None) -> list[tuple[str, str, int]]:
    return [(os.path.basename(f.filename), f.name, f.lineno or 0) for f in traceback.extract_tb(tb)]


def test_user_traceback_starts_at_the_program_and_drops_gentrace_frames() -> None:
    exc = run_main(
        """\
        def fail():
            raise ValueError("boom")
        def go():
            return through(fail)
        bootstrap(through, go)
        """
    )
    assert [name for _, name, _ in shown(exc.__traceback__)] == [
        "run_main",
        "<module>",
        "bootstrap",
        "through",
        "go",
        "through",
        "fail",
    ]
    # The import system's frame that led to gentrace's goes with it.
    assert shown(user_traceback(exc.__traceback__)) == [
        ("prog.py", "<module>", 5),
        ("prog.py", "go", 4),
        ("prog.py", "fail", 2),
    ]


def test_user_traceback_keeps_import_frames_that_lead_elsewhere() -> None:
    exc = run_main(
        """\
        def fail():
            raise ValueError("boom")
        bootstrap(fail)
        """
    )
    assert shown(user_traceback(exc.__traceback__)) == [
        ("prog.py", "<module>", 3),
        ("<frozen importlib._bootstrap>", "bootstrap", 3),
        ("prog.py", "fail", 2),
    ]


def test_user_traceback_before_the_program_started_keeps_all_but_gentrace() -> None:
    def fail() -> None:
        raise KeyError("early")

    try:
        OWN(fail)
    except KeyError as exc:
        tb = exc.__traceback__
    assert [name for _, name, _ in shown(tb)] == [
        "test_user_traceback_before_the_program_started_keeps_all_but_gentrace",
        "through",
        "fail",
    ]
    assert [name for _, name, _ in shown(user_traceback(tb))] == [
        "test_user_traceback_before_the_program_started_keeps_all_but_gentrace",
        "fail",
    ]
    assert user_traceback(None) is None


def test_run_script_traceback_is_the_programs_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: Any
) -> None:
    script = tmp_path / "prog.py"
    source = (
        "def numbers():\n"
        "    yield 1\n"
        "    raise ValueError('boom')\n"
        "def main():\n"
        "    for _ in numbers():\n"
        "        pass\n"
        "main()\n"
    )
    script.write_text(source)
    monkeypatch.setitem(sys.modules, "__main__", sys.modules["__main__"])
    monkeypatch.setattr(sys, "argv", ["pytest"])
    monkeypatch.setattr(sys, "path", list(sys.path))
    tracer = gentrace.Tracer(clock=clock)
    gentrace.set_default(tracer)
    code = gentrace.instrument.compile_script(str(script))
    with pytest.raises(ValueError, match="boom") as info:
        run_script(code, str(script), [])
    exc = info.value
    assert "run_script" in [name for _, name, _ in shown(exc.__traceback__)]
    clean_exception(exc)
    assert shown(exc.__traceback__) == [
        ("prog.py", "<module>", 7),
        ("prog.py", "main", 5),
        ("prog.py", "numbers", 3),
    ]
    assert [e.outcome for e in tracer.events] == ["created", "yield", "raise"]


def test_clean_exception_cleans_the_chain_and_survives_a_cycle() -> None:
    cause = run_main(
        """\
        def fail():
            raise KeyError("cause")
        through(fail)
        """
    )
    exc = run_main(
        """\
        def fail():
            raise ValueError("effect")
        through(fail)
        """
    )
    exc.__cause__ = cause
    cause.__context__ = exc  # a cycle
    clean_exception(exc)
    assert shown(exc.__traceback__) == [("prog.py", "<module>", 3), ("prog.py", "fail", 2)]
    assert shown(cause.__traceback__) == [("prog.py", "<module>", 3), ("prog.py", "fail", 2)]


def test_an_instrumented_method_unwraps_as_the_plain_one() -> None:
    # What the program did not write it does not see: no __wrapped__ leading to the unbound
    # function (inspect.unwrap of a bound method would give it, called then without self).
    source = """
        class Event:
            async def wait(self):
                return "waited"

            def items(self):
                yield 1
        """
    for namespace in (run(source), run_plain(source)):
        event = namespace["Event"]()
        for method in (event.wait, event.items):
            assert inspect.unwrap(method) == method
            assert not hasattr(method, "__wrapped__")
        assert str(inspect.signature(event.wait)) == "()"
    assert is_traced(run(source)["Event"].__dict__["wait"])
