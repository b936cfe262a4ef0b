"""The package's layers, enforced: a module imports only from its own layer or a lower one, never in
a circle, and imports inside functions only where listed here (see ARCHITECTURE.md).

record  — the compiled core and its switch, the record layout and state sets, names, reprs, the
          recorder, the proxies (stdlib only)
output  — styles, sources, renderers, the public Event, sinks, the Chrome format, the page
trace   — reading a trace back and what is made of it: reader, summary, timeline, log view, recap, replay
front   — the ways in: Tracer and tracing, instrumentation, the CLI, show, the console, the pytest
          plugin, the IPython extension
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "gentrace"

LAYERS: dict[str, list[str]] = {
    "record": [
        "_speedups",
        "compiled",
        "records",
        "names",
        "heads",
        "reprs",
        "recorder",
        "proxy",
        "aproxy",
        "iterators",
    ],
    "output": ["styles", "sources", "renderers", "textlog", "jsonl", "events", "sinks", "chrome", "page"],
    "trace": ["reader", "summary", "timeline", "logview", "recap", "replay"],
    "front": [
        "tracer",
        "tracing",
        "instrument",
        "children",
        "cli",
        "show",
        "transcript",
        "repl",
        "pytest_plugin",
        "ipython",
        "__init__",
        "__main__",
    ],
}
RANK = {module: rank for rank, modules in enumerate(LAYERS.values()) for module in modules}
LAYER_OF = {module: layer for layer, modules in LAYERS.items() for module in modules}

LAZY: dict[tuple[str, str], str] = {
    ("tracer", "aproxy"): "aproxy imports asyncio: only once async code is traced",
    ("tracer", "chrome"): "only for an out= file ending in .json",
    ("tracer", "replay"): "only for an out= file ending in .html",
    ("cli", "recap"): "only under run --summary/--timeline",
    ("cli", "repl"): "only for gentrace repl",
    ("cli", "show"): "only for gentrace show",
    ("show", "page"): "only for show --html",
    ("show", "replay"): "only for show --html",
    ("pytest_plugin", "instrument"): "the AST machinery, only under --gentrace",
    ("__init__", "ipython"): "imports IPython: only for %load_ext gentrace, in IPython",
    ("ipython", "recap"): "only for %%gentrace --summary/--timeline",
    ("ipython", "replay"): "only for %%gentrace --html",
    ("styles", "colorama"): "its Windows fix (and ctypes), only for a stream that gets colour",
    ("events", "jsonl"): "jsonl imports json: only for Event.to_dict",
    ("sinks", "jsonl"): "jsonl imports json: only for a JSON Lines output",
    # The standard library's, kept out of the start of `gentrace run` (tests/test_startup.py).
    ("__init__", "importlib.metadata"): "only for gentrace.__version__",
    ("children", "json"): "only once the program starts an interpreter (spawn, forkserver)",
    ("children", "multiprocessing"): "only in a process multiprocessing started",
    ("cli", "traceback"): "only for a script that does not compile",
    ("repl", "readline"): "only for gentrace repl on a terminal",
    ("sinks", "json"): "only for a JSON Lines output",
    ("sinks", "shutil"): "only for a log on a terminal",
    ("sinks", "tempfile"): "only for what a run shows at its end (--summary, --timeline, .html)",
    ("tracer", "logging"): "only for a logging level given by its name",
}
"""(importer, imported) → why the import is inside a function rather than at the module's top:
`imported` is a gentrace module or a module of the standard library."""

THIRD_PARTY: dict[str, str] = {
    "click": "cli",
    "colorama": "styles",
    "pytest": "pytest_plugin",
    "IPython": "ipython",
}
"""Each dependency is imported by one module only."""


@dataclass(frozen=True)
class Import:
    """One import statement: who imports what (a gentrace module name, or a top-level package)."""

    source: str
    target: str
    lazy: bool  # inside a function, not at the module's top level
    line: int


def _module_name(path: Path) -> str:
    return path.stem


def _targets(node: ast.Import | ast.ImportFrom) -> list[str]:
    # `from gentrace.x import y` → x; `from gentrace import x` → x if x is a module, else the package.
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        raise AssertionError("relative imports are not used in gentrace")
    module = node.module or ""
    if module == "gentrace":
        names = [alias.name for alias in node.names]
        return [f"gentrace.{n}" if (PACKAGE / f"{n}.py").exists() else "gentrace" for n in names]
    return [module]


def imports_of(path: Path) -> list[Import]:
    """Every import in the module at `path`, marked lazy when it sits inside a function."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found: list[Import] = []
    source = _module_name(path)

    def visit(node: ast.AST, lazy: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                for target in _targets(child):
                    if target == "gentrace":
                        target = "gentrace.__init__"
                    found.append(Import(source, target, lazy, child.lineno))
            inner = lazy or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            visit(child, inner)

    visit(tree, False)
    return found


def package_graph() -> list[Import]:
    """The imports between gentrace's modules, and of other packages."""
    return [imp for path in sorted(PACKAGE.glob("*.py")) for imp in imports_of(path)]


def violations(
    imports: list[Import], rank: dict[str, int], lazy_allowed: dict[tuple[str, str], str]
) -> list[str]:
    """What breaks the layering in `imports`: upward imports, unlisted lazy imports, cycles."""
    problems = []
    edges: dict[str, set[str]] = {}
    for imp in imports:
        if not imp.target.startswith("gentrace."):
            continue
        target = imp.target.removeprefix("gentrace.").partition(".")[0]
        if imp.source not in rank or target not in rank:
            problems.append(f"{imp.source} → {target}: a module in no layer (add it to LAYERS)")
            continue
        if rank[target] > rank[imp.source]:
            problems.append(f"{imp.source}:{imp.line} imports {target}, a higher layer")
        if imp.lazy and (imp.source, target) not in lazy_allowed:
            problems.append(f"{imp.source}:{imp.line} imports {target} inside a function, unlisted")
        edges.setdefault(imp.source, set()).add(target)
    problems.extend(f"import cycle: {' → '.join(cycle)}" for cycle in cycles(edges))
    return problems


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each strongly connected group of modules (none for a layered graph)."""
    found = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def walk(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt == node:
                continue
            if state.get(nxt) == 1:
                found.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                walk(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            walk(node)
    return found


def test_every_module_has_a_layer() -> None:
    # _speedups is the C module (gentrace/_speedups.c and the other .c files it is built from).
    modules = {_module_name(path) for path in PACKAGE.glob("*.py")} | {"_speedups"}
    assert modules == set(RANK), "every module of gentrace/ belongs to exactly one layer"


def test_the_package_imports_only_downward_without_cycles() -> None:
    assert violations(package_graph(), RANK, LAZY) == []


def test_every_listed_lazy_import_still_exists() -> None:
    lazy = {(imp.source, imp.target.removeprefix("gentrace.")) for imp in package_graph() if imp.lazy}
    assert set(LAZY) == lazy, "LAZY lists exactly the imports made inside functions"


def test_the_record_layer_uses_the_standard_library_only() -> None:
    for imp in package_graph():
        if LAYER_OF[imp.source] == "record" and not imp.target.startswith("gentrace."):
            top = imp.target.partition(".")[0]
            assert top in sys.stdlib_module_names or top == "__future__", f"{imp.source} imports {top}"


@pytest.mark.parametrize(("package", "owner"), sorted(THIRD_PARTY.items()))
def test_each_dependency_stays_in_its_room(package: str, owner: str) -> None:
    importers = {imp.source for imp in package_graph() if imp.target.partition(".")[0] == package}
    assert importers == {owner}


# -- the checker itself, on graphs made up for it ----------------------------------------------------

SYNTHETIC_RANK = {"low": 0, "mid": 1, "high": 2}


def _graph(*edges: tuple[str, str, bool]) -> list[Import]:
    return [
        Import(source, f"gentrace.{target}", lazy, n) for n, (source, target, lazy) in enumerate(edges, 1)
    ]


def test_the_checker_passes_a_downward_graph() -> None:
    graph = _graph(("high", "mid", False), ("mid", "low", False), ("high", "low", True))
    assert violations(graph, SYNTHETIC_RANK, {("high", "low"): "listed"}) == []


def test_the_checker_reports_an_upward_import() -> None:
    graph = _graph(("low", "high", False), ("high", "mid", False))
    assert violations(graph, SYNTHETIC_RANK, {}) == ["low:1 imports high, a higher layer"]


def test_the_checker_reports_an_upward_import_that_closes_a_cycle() -> None:
    graph = _graph(("high", "low", False), ("low", "high", True))
    assert violations(graph, SYNTHETIC_RANK, {("low", "high"): "listed"}) == [
        "low:2 imports high, a higher layer",
        "import cycle: high → low → high",
    ]


def test_the_checker_reports_a_cycle_within_a_layer() -> None:
    rank = {"a": 0, "b": 0, "c": 0}
    graph = _graph(("a", "b", False), ("b", "c", False), ("c", "a", True))
    assert violations(graph, rank, {("c", "a"): "listed"}) == ["import cycle: a → b → c → a"]


def test_the_checker_reports_an_unlisted_lazy_import() -> None:
    graph = _graph(("high", "low", True))
    assert violations(graph, SYNTHETIC_RANK, {}) == ["high:1 imports low inside a function, unlisted"]


def test_the_checker_reports_a_module_in_no_layer() -> None:
    graph = _graph(("high", "stray", False))
    assert violations(graph, SYNTHETIC_RANK, {}) == ["high → stray: a module in no layer (add it to LAYERS)"]
