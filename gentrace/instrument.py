"""Tracing code that was not written for it: an AST rewrite at import, and running a program.

The rewrite only adds a decorator (``gentrace.instrument.auto_trace``) under the other decorators
of every generator function — a ``def`` whose own body contains ``yield`` — that passes the
``--only`` patterns (and with ``--iterators``, calls around loops' iterables, ``iter()``/``next()``
calls and generator expressions); all behaviour stays in `tracer`/`proxy`/`iterators`. The names
it calls are builtins (`_bind`), so a module's globals stay its own. Line numbers are kept, so
tracebacks point at the user's lines. An import hook applies it to the modules of the program's own tree
(never to installed packages or the standard library), plus modules named by ``--include``.
"""

from __future__ import annotations

import ast
import builtins
import fnmatch
import importlib.machinery
import importlib.util
import os
import runpy
import site
import sys
import sysconfig
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final, cast

from gentrace.iterators import Iterators, Site
from gentrace.names import matches_only
from gentrace.tracer import Tracer, traced
from gentrace.tracing import active_tracer

DECORATOR = "__gentrace_auto_trace__"


def auto_trace(func: Any) -> Any:
    """The decorator the rewrite adds: trace with the current or process-wide tracer, if any.

    Never with the stderr tracer that ``@gentrace.trace`` falls back on: instrumented code outside
    a ``gentrace run`` (or a test) must not start printing a log.
    """
    return traced(func, resolve=active_tracer, hidden=True)


class _OwnYield(ast.NodeVisitor):
    """Finds a yield in a function's own body, not in nested functions, lambdas or classes."""

    def __init__(self) -> None:
        self.found = False

    def visit_Yield(self, node: ast.Yield) -> None:
        self.found = True

    def visit_YieldFrom(self, node: ast.YieldFrom) -> None:
        self.found = True

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        pass

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        pass

    def visit_Lambda(self, node: ast.Lambda) -> None:
        pass

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        pass


def _has_own_yield(node: ast.FunctionDef) -> bool:
    finder = _OwnYield()
    for statement in node.body:
        finder.visit(statement)
    # Default values and decorators run in the enclosing scope: not this function's yields.
    return finder.found


class _Instrumenter(ast.NodeTransformer):
    def __init__(
        self,
        module: str,
        only: Sequence[str],
        selected: set[str] | None = None,
        iterators: bool = False,
        filename: str = "",
    ) -> None:
        self.module = module
        self.only = only
        self.selected = selected
        self.iterators = iterators
        self.filename = filename
        self.scope: list[str] = []
        self.count = 0
        self.used = False  # whether the rewrite calls this module's functions

    def _selects(self, qualname: str) -> bool:
        """Whether the ``--only`` patterns select this function; notes in `selected` which did."""
        if not matches_only(self.only, qualname, self.module):
            return False
        if self.selected is not None:
            # Each pattern is tried alone until it has selected a function: once all have, this
            # costs a set lookup per pattern, at import.
            for pattern in self.only:
                if pattern not in self.selected and matches_only((pattern,), qualname, self.module):
                    self.selected.add(pattern)
        return True

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.ClassDef:
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.FunctionDef:
        qualname = ".".join([*self.scope, node.name])
        self.scope.extend([node.name, "<locals>"])
        self.generic_visit(node)
        del self.scope[-2:]
        if _has_own_yield(node) and self._selects(qualname):
            decorator = ast.copy_location(ast.Name(id=DECORATOR, ctx=ast.Load()), node)
            node.decorator_list.append(decorator)
            self.count += 1
        return node

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> ast.AsyncFunctionDef:
        # Every selected `async def` is traced: a coroutine function or an async generator function.
        qualname = ".".join([*self.scope, node.name])
        self.scope.extend([node.name, "<locals>"])
        self.generic_visit(node)
        del self.scope[-2:]
        if self._selects(qualname):
            decorator = ast.copy_location(ast.Name(id=DECORATOR, ctx=ast.Load()), node)
            node.decorator_list.append(decorator)
            self.count += 1
        return node

    # -- iterators (--iterators): loops, iter() and next() calls, generator expressions -----------
    # Each becomes a call of one of the functions below, placed where the expression was (so a
    # traceback's line and columns stay), with the place as a constant: (filename, line, source).

    def _call(self, function: str, node: ast.expr, args: list[ast.expr]) -> ast.Call:
        self.used = True
        call = ast.Call(func=ast.Name(id=_CALLS[function], ctx=ast.Load()), args=args, keywords=[])
        return ast.copy_location(call, node)

    def _site(self, line: int, source: str) -> ast.Constant:
        return ast.Constant(value=(self.filename, line, source))  # type: ignore[arg-type]  # a tuple constant compiles

    def _loop(self, node: ast.For | ast.AsyncFor, function: str) -> ast.stmt:
        # Unparsed before the visit rewrites it, and only for iterators: 3.14's ast.unparse imports
        # a module at its first call, which may be the one being rewritten (--include '*').
        source = ast.unparse(node.iter) if self.iterators else ""
        self.generic_visit(node)
        if self.iterators:
            node.iter = self._call(function, node.iter, [node.iter, self._site(node.lineno, source)])
        return node

    def visit_For(self, node: ast.For) -> ast.stmt:
        return self._loop(node, "loop")

    def visit_AsyncFor(self, node: ast.AsyncFor) -> ast.stmt:
        return self._loop(node, "aloop")

    def visit_comprehension(self, node: ast.comprehension) -> ast.comprehension:
        source = ast.unparse(node.iter) if self.iterators else ""
        self.generic_visit(node)
        if self.iterators:
            site = self._site(node.iter.lineno, source)
            node.iter = self._call("aloop" if node.is_async else "loop", node.iter, [node.iter, site])
        return node

    def visit_GeneratorExp(self, node: ast.GeneratorExp) -> ast.expr:
        source = ast.unparse(node) if self.iterators else ""
        self.generic_visit(node)
        if not self.iterators:
            return node
        return self._call("genexpr", node, [node, self._site(node.lineno, source)])

    def visit_Call(self, node: ast.Call) -> ast.expr:
        self.generic_visit(node)
        func = node.func
        if (
            self.iterators
            and isinstance(func, ast.Name)
            and func.id in ("iter", "next")
            and not node.keywords
            and 1 <= len(node.args) <= 2
            and not any(isinstance(arg, ast.Starred) for arg in node.args)
        ):
            source = ", ".join(ast.unparse(arg) for arg in node.args)
            # The name is looked up where it was: a program's own `next` is called, unrecorded.
            name = ast.copy_location(ast.Name(id=func.id, ctx=ast.Load()), func)
            return self._call(func.id, node, [name, self._site(node.lineno, source), *node.args])
        return node


_CALLS: Final = {
    "loop": "__gentrace_loop__",
    "aloop": "__gentrace_aloop__",
    "genexpr": "__gentrace_genexpr__",
    "iter": "__gentrace_iter__",
    "next": "__gentrace_next__",
}
"""The functions of this module that rewritten code calls → the names it binds them to."""


def _recorder_of_iterators() -> Tracer | None:
    """The current tracer, if it records iterators (and is open)."""
    tracer = active_tracer()
    if tracer is None or tracer.iterators is None or tracer.closed:
        return None
    return tracer


def _recording() -> Iterators | None:
    tracer = _recorder_of_iterators()
    return None if tracer is None else tracer.iterators


def loop(iterable: Any, site: Site) -> Any:
    """What a rewritten ``for`` loop (or comprehension) iterates: `iterable` itself unless iterators
    are recorded, else a recording iterator (the loop's own iter() is made here, once)."""
    iterators = _recording()
    if iterators is None:
        return iterable
    try:
        return iterators.loop(iterable, site)
    except BaseException as exc:  # iter() failed: the program's own error, raised from its line
        _strip_call(exc, loop.__code__)
        raise


def aloop(iterable: Any, site: Site) -> Any:
    """`loop` for an ``async for`` (or async comprehension)."""
    iterators = _recording()
    if iterators is None:
        return iterable
    try:
        return iterators.aloop(iterable, site)
    except BaseException as exc:
        _strip_call(exc, aloop.__code__)
        raise


def genexpr(gen: Any, site: Site) -> Any:
    """A generator expression's generator, traced as ``genexpr@LINE#N``."""
    tracer = _recorder_of_iterators()
    if tracer is None:
        return gen
    return tracer._adopt(gen, f"genexpr@{site[1]}", None, site[2])


def iter_(function: Any, site: Site, *args: Any) -> Any:
    """A rewritten ``iter(...)``: the real call (recorded if it is the builtin's) and its result."""
    try:
        if function is not builtins.iter or (iterators := _recording()) is None:
            return function(*args)
        return iterators.iter_call(args, site)
    except BaseException as exc:
        _strip_call(exc, iter_.__code__)
        raise


def next_(function: Any, site: Site, it: Any, *default: Any) -> Any:
    """A rewritten ``next(...)``: the real call (recorded if it is the builtin's) and its result."""
    try:
        if function is not builtins.next or (iterators := _recording()) is None:
            return function(it, *default)
        return iterators.next_call(it, default, site)
    except BaseException as exc:
        _strip_call(exc, next_.__code__)
        raise


def _strip_call(exc: BaseException, code: types.CodeType) -> None:
    tb = exc.__traceback__
    if tb is not None and tb.tb_frame.f_code is code:
        exc.__traceback__ = tb.tb_next


def instrument_source(
    source: str | bytes,
    filename: str,
    module: str,
    only: Sequence[str] = (),
    selected: set[str] | None = None,
    iterators: bool = False,
) -> types.CodeType:
    """Compile `source` with every selected generator function traced (may raise SyntaxError).

    `selected`, if given, gets each of the `only` patterns that selected a function here.
    `iterators` also rewrites loops, ``iter()``/``next()`` calls and generator expressions.
    """
    # compile() rather than ast.parse(): a SyntaxError then carries no frame of the ast module.
    tree = cast("ast.Module", compile(source, filename, "exec", ast.PyCF_ONLY_AST, dont_inherit=True))
    tree = instrument_tree(tree, filename, module, only, selected, iterators)
    return compile(tree, filename, "exec", dont_inherit=True)


def instrument_tree(
    tree: ast.Module,
    filename: str,
    module: str,
    only: Sequence[str] = (),
    selected: set[str] | None = None,
    iterators: bool = False,
) -> ast.Module:
    """`tree` (of the code in `filename`) rewritten as `instrument_source` rewrites it."""
    instrumenter = _Instrumenter(module, only, selected, iterators, filename)
    tree = instrumenter.visit(tree)
    if instrumenter.count or instrumenter.used:
        _bind()
    ast.fix_missing_locations(tree)
    return tree


def instrument_interactive(
    source: str, filename: str = "<stdin>", flags: int = 0, iterators: bool = False
) -> types.CodeType:
    """Compile one console input (``'single'`` mode) with its generator functions traced.

    `flags` are the ``__future__`` flags the console has seen so far.
    """
    tree = ast.parse(source, filename, mode="single")
    tree = _Instrumenter("__main__", (), iterators=iterators, filename=filename).visit(tree)
    _bind()
    ast.fix_missing_locations(tree)
    code: types.CodeType = compile(tree, filename, "single", flags=flags, dont_inherit=True)
    return code


def _bind() -> None:
    """Make the names rewritten code calls builtins: a module's globals stay its own (a program
    may go through them: toolz checks every name of its curried modules)."""
    names = builtins.__dict__
    if names.get(DECORATOR) is not auto_trace:
        names[DECORATOR] = auto_trace
        names.update((name, _FUNCTIONS[function]) for function, name in _CALLS.items())


_FUNCTIONS: Final = {"loop": loop, "aloop": aloop, "genexpr": genexpr, "iter": iter_, "next": next_}


# -- the import hook ----------------------------------------------------------------------------


def _excluded_roots() -> list[str]:
    roots = set()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            roots.add(os.path.realpath(path))
    for path in [*site.getsitepackages(), site.getusersitepackages()]:
        roots.add(os.path.realpath(path))
    roots.add(os.path.realpath(os.path.dirname(__file__)))
    return sorted(roots)


def _is_under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


class InstrumentingLoader(importlib.machinery.SourceFileLoader):
    """Loads a module's source with its generator functions traced; never writes bytecode."""

    only: Sequence[str] = ()
    selected: set[str] | None = None
    iterators = False

    def get_code(self, fullname: str) -> types.CodeType:
        path = self.get_filename(fullname)
        source = self.get_data(path)
        return instrument_source(source, path, fullname, self.only, self.selected, self.iterators)

    def set_data(self, path: str, data: Any, *, _mode: int = 0o666) -> None:
        pass  # instrumented bytecode must never land in __pycache__ for plain runs to load


class InstrumentingFinder:
    """Finds the program's own modules (under `roots`) and those named by `include`.

    `install` puts it in the place of `PathFinder` on ``sys.meta_path``: it asks `PathFinder` for
    each module's spec, once, and gives the spec back as it is unless the module is instrumented.
    Elsewhere on ``sys.meta_path`` (in front of other finders), it answers only for the modules it
    instruments. Either way, whether a module is instrumented is decided from its name and the
    path the import system found, as strings: no file is looked at for a module left alone (a
    program may import in an event loop that checks for blocking calls).

    `exclude` holds file-name globs never instrumented (the pytest plugin leaves test files and
    ``conftest.py`` to pytest's assertion rewriter). What the options selected is noted as modules
    are found, for the warnings at the end of a run: `instrumented` (the modules' names),
    `included` (the `include` globs that matched one) and `selected` (the `only` patterns that
    selected a function, also in a script compiled with ``compile_script(..., finder.selected)``).

    It is a finder by its methods, as `PathFinder` is, not by an `importlib.abc.MetaPathFinder`
    base: that module imports `importlib.resources`, and tempfile with it (Python 3.11 to 3.13),
    before every ``gentrace run``.
    """

    def __init__(
        self,
        roots: Iterable[str],
        include: Sequence[str] = (),
        only: Sequence[str] = (),
        exclude: Sequence[str] = (),
        iterators: bool = False,
    ) -> None:
        given = list(roots)
        self.iterators = iterators
        if iterators:  # the rewrite calls ast.unparse, which imports its module when first called
            ast.unparse(ast.Constant(None))  # (3.14): now, not while the finder instruments that module
        self.roots = [os.path.realpath(r) for r in given]
        self.include = list(include)
        self.only = list(only)
        self.exclude = list(exclude)
        self.excluded = _excluded_roots()
        self.instrumented: set[str] = set()
        self.included: set[str] = set()
        self.selected: set[str] = set()
        self.stands_in = False  # for PathFinder, on sys.meta_path (see `install`)
        # Every spelling of the roots and of the excluded trees that do not hold a root: the
        # paths the import system finds are the strings on sys.path joined with file names, so
        # the entries that lead into these trees through a symbolic link are spellings of them
        # too. All the filesystem work is done here, before the program starts.
        excluding = [ex for ex in self.excluded if not any(_is_under(r, ex) for r in self.roots)]
        tree = {os.path.abspath(root) for root in given} | set(self.roots)
        outside = set(excluding)
        for entry in sys.path:
            if not entry:
                continue
            real = os.path.realpath(entry)
            if any(_is_under(real, ex) for ex in excluding):
                outside.add(os.path.abspath(entry))
            elif any(_is_under(real, root) for root in self.roots):
                tree.add(os.path.abspath(entry))
        self._tree = sorted(tree)
        self._outside = sorted(outside)
        self._folders: dict[str, bool] = {}  # a folder's string → whether its modules are the tree's

    def wants(self, fullname: str, origin: str) -> bool:
        """Whether the module `fullname`, loaded from `origin`, is instrumented."""
        if fullname == "gentrace" or fullname.startswith("gentrace."):
            return False  # gentrace's own modules, whatever --include says
        folder, _, filename = origin.rpartition(os.sep)
        if self.exclude and any(fnmatch.fnmatchcase(filename, pattern) for pattern in self.exclude):
            return False
        if self.include and any(fnmatch.fnmatchcase(fullname, pattern) for pattern in self.include):
            return True
        known = self._folders.get(folder)
        if known is None:
            known = self._folders[folder] = self._in_tree(folder)
        return known

    def _in_tree(self, folder: str) -> bool:
        # Strings only: no filesystem access.
        if not os.path.isabs(folder):  # found through a relative sys.path entry
            folder = os.path.join(os.getcwd(), folder)
        path = os.path.normpath(folder)
        if not any(_is_under(path, root) for root in self._tree):
            return False
        parts = path.split(os.sep)
        if "site-packages" in parts or "dist-packages" in parts:
            return False
        # The tree may contain a virtual environment or the standard library; those stay untouched
        # unless the program itself lives in them (a script of the standard library's tests).
        return not any(_is_under(path, ex) for ex in self._outside)

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if (
            spec is None
            or spec.origin is None
            or not isinstance(spec.loader, importlib.machinery.SourceFileLoader)
            or not self.wants(fullname, spec.origin)
        ):
            return spec if self.stands_in else None
        loader = InstrumentingLoader(fullname, spec.origin)
        loader.only = self.only
        loader.iterators = self.iterators
        loader.selected = self.selected
        spec.loader = loader
        self.instrumented.add(fullname)
        self.included.update(glob for glob in self.include if fnmatch.fnmatchcase(fullname, glob))
        return spec

    # Standing in for PathFinder, the finder answers what the import system and importlib.metadata
    # ask every finder on sys.meta_path as PathFinder does.

    def invalidate_caches(self) -> None:
        if self.stands_in:
            importlib.machinery.PathFinder.invalidate_caches()

    def find_distributions(self, *args: Any, **kwargs: Any) -> Iterable[Any]:
        if self.stands_in:
            return importlib.machinery.PathFinder.find_distributions(*args, **kwargs)
        return ()

    def imported_already(self, modules: Mapping[str, Any]) -> dict[str, list[str]]:
        """The source modules among `modules` (``sys.modules``) that an `include` glob names, by glob.

        Imported before the finder was installed, they stay untraced.
        """
        found: dict[str, list[str]] = {}
        for name, module in sorted(modules.items()):
            if name == "__main__" or name == "gentrace" or name.startswith("gentrace."):
                continue  # the launcher's, and gentrace's own: never instrumented
            origin = getattr(module, "__file__", None)
            if not (isinstance(origin, str) and origin.endswith(".py")):
                continue  # built in, or not from source: never instrumented either
            for glob in self.include:
                if fnmatch.fnmatchcase(name, glob):
                    found.setdefault(glob, []).append(name)
        return found


def install(finder: InstrumentingFinder) -> None:
    """Put `finder` on ``sys.meta_path`` in the place of `PathFinder` (first if it is not there).

    Standing in for it, the finder finds every module that `PathFinder` would, with one search of
    the path per import, and the finders before it (built-in and frozen modules, other import
    hooks) keep their turn. Cached finders' negative results are forgotten.
    """
    path_finder = importlib.machinery.PathFinder
    if path_finder in sys.meta_path:
        sys.meta_path[sys.meta_path.index(path_finder)] = finder
        finder.stands_in = True
    else:
        sys.meta_path.insert(0, finder)
    importlib.invalidate_caches()


def uninstall(finder: InstrumentingFinder) -> None:
    """Take `finder` off ``sys.meta_path`` (if it is there), `PathFinder` back in its place."""
    if finder not in sys.meta_path:
        return
    index = sys.meta_path.index(finder)
    if finder.stands_in and importlib.machinery.PathFinder not in sys.meta_path:
        sys.meta_path[index] = importlib.machinery.PathFinder
    else:
        del sys.meta_path[index]
    finder.stands_in = False


# -- running a program as __main__ --------------------------------------------------------------


def compile_script(
    path: str, only: Sequence[str] = (), selected: set[str] | None = None, iterators: bool = False
) -> types.CodeType:
    """The instrumented code of a script (raises OSError, SyntaxError, ValueError).

    `selected`, if given, gets each of the `only` patterns that selected a function in it.
    """
    with open(path, "rb") as f:
        source = f.read()
    return instrument_source(source, os.path.abspath(path), "__main__", only, selected, iterators)


def run_script(code: types.CodeType, path: str, argv: Sequence[str]) -> None:
    """Run compiled script `code` as ``__main__``, with the argv and sys.path that python gives it."""
    main = types.ModuleType("__main__")
    main.__dict__.update(
        __file__=os.path.abspath(path),
        __builtins__=builtins,
        __spec__=None,
        __loader__=importlib.machinery.SourceFileLoader("__main__", os.path.abspath(path)),
        __cached__=None,
    )
    sys.modules["__main__"] = main
    sys.argv[:] = [path, *argv]
    sys.path[0] = os.path.dirname(os.path.realpath(path))  # python resolves a symlinked script
    exec(code, main.__dict__)


def run_as(code: types.CodeType, path: str, name: str) -> dict[str, Any]:
    """Run compiled script `code` as module `name`, as ``runpy.run_path(path, run_name=name)`` runs
    a script (multiprocessing runs the program's script again so in its children); its globals."""
    run: dict[str, Any] = runpy._run_module_code(  # type: ignore[attr-defined]
        code, None, name, pkg_name=name.rpartition(".")[0], script_name=path
    )
    return run


def module_roots(name: str) -> list[str]:
    """The tree of a module run with ``-m``: the current directory, which python -m puts first on
    sys.path (the project that ``-m pytest`` tests), and the module's top-level package wherever it
    is (an installed one is left out all the same)."""
    roots = [os.getcwd()]
    spec = importlib.util.find_spec(name.partition(".")[0])
    if spec is not None and spec.submodule_search_locations:
        roots.extend(os.path.abspath(folder) for folder in spec.submodule_search_locations)
    return roots


class NoSuchModule(Exception):
    """``-m NAME`` names nothing python could run: python -m's "No module named ..." errors."""


def run_module(name: str, argv: Sequence[str]) -> None:
    """Run module `name` as ``__main__``, as ``python -m`` does.

    Its packages are imported first, as part of the program (so they are traced); if that leaves
    nothing to run, `NoSuchModule` is raised before any of the module's own code has run.
    """
    sys.argv[:] = ["-m", *argv]  # what python -m shows the packages while it imports them
    _, spec, code = runpy._get_module_details(name, NoSuchModule)  # type: ignore[attr-defined]
    main = types.ModuleType("__main__")
    main.__dict__["__builtins__"] = builtins
    sys.modules["__main__"] = main
    sys.argv[0] = spec.origin
    runpy._run_code(code, main.__dict__, None, "__main__", spec)  # type: ignore[attr-defined]


# -- tracebacks as python shows them --------------------------------------------------------------

_OWN_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_IMPORT_SYSTEM = "<frozen importlib._bootstrap"


def _is_program_start(tb: types.TracebackType) -> bool:
    frame = tb.tb_frame
    return frame.f_code.co_name == "<module>" and frame.f_globals.get("__name__") == "__main__"


def user_traceback(tb: types.TracebackType | None) -> types.TracebackType | None:
    """`tb` as python would show it: from the program's first frame on, gentrace's frames left out."""
    start = tb
    while start is not None and not _is_program_start(start):
        start = start.tb_next
    if start is None:  # raised before the program started (e.g. while importing it)
        start = tb
    return without_own_frames(start)


def without_own_frames(tb: types.TracebackType | None) -> types.TracebackType | None:
    """`tb` without gentrace's frames (nor the import system's frames that called its loader)."""
    start = tb
    kept: list[types.TracebackType] = []
    while start is not None:
        if not start.tb_frame.f_code.co_filename.startswith(_OWN_DIR):
            kept.append(start)
        else:
            # The import system's frames that called our loader go with it, as python drops
            # those that lead to its own compile().
            while kept and kept[-1].tb_frame.f_code.co_filename.startswith(_IMPORT_SYSTEM):
                kept.pop()
        start = start.tb_next
    rebuilt = None
    for entry in reversed(kept):
        rebuilt = types.TracebackType(rebuilt, entry.tb_frame, entry.tb_lasti, entry.tb_lineno)
    return rebuilt


def clean_exception(
    exc: BaseException,
    clean: Callable[[types.TracebackType | None], types.TracebackType | None] = user_traceback,
) -> None:
    """Rewrite the tracebacks of `exc` and of the exceptions chained to it, in place (with `clean`:
    as python shows them, by default)."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        item = pending.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        item.__traceback__ = clean(item.__traceback__)
        pending.extend((item.__cause__, item.__context__))
