"""Run real libraries' own test suites under `gentrace run` and compare them with python's.

Each library's suite runs twice, with the same arguments, in a venv of its own: once as
``python -m pytest ...`` and once as ``gentrace run -q --include 'LIB*' -m pytest ...``. Every test's
outcome is read from pytest's JUnit XML and the two runs are compared test by test: a transparent
tracer changes none. With ``--iterators`` the traced run is ``gentrace run -q --iterators ...``
(every loop, ``iter()``/``next()`` call and generator expression of the library recorded too). Not
part of the default ``pytest`` run (it downloads, installs and runs other projects' suites for many
minutes); see README.md beside this file.

    python tests/real/run_real.py                 # every library
    python tests/real/run_real.py toolz boltons   # some of them
    python tests/real/run_real.py --table         # the Markdown table for the README
    python tests/real/run_real.py --iterators more-itertools toolz
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CACHE = Path(os.environ.get("GENTRACE_REAL_CACHE", Path.home() / ".cache" / "gentrace-real"))
# Every run: no cache folder written into the library's tree, no plugin that reorders or spreads the
# tests, and the result of every test in a file.
PYTEST_ARGS = ("-p", "no:cacheprovider", "-p", "no:randomly", "-p", "no:xdist", "-q")
REPORTED = 4  # lines of gentrace's own exit report kept per library
LISTED = 50  # differing tests listed per library
PYTEST = "pytest==9.2.0"


@dataclass(frozen=True)
class Library:
    """One library's suite: the sdist that ships its tests, what they need, how they are run.

    ``args`` are pytest's arguments, run from the unpacked sdist (so its pytest configuration
    applies); ``deps`` are installed beside the library (the released wheel) and gentrace. With
    ``installed``, ``args`` name test modules inside the installed package (``--pyargs``), and the
    run is rooted at site-packages so that the test ids name their modules.
    """

    name: str
    version: str
    include: str
    args: tuple[str, ...]
    deps: tuple[str, ...] = ()
    installed: bool = False

    @property
    def key(self) -> str:
        return f"{self.name}-{self.version}"


LIBRARIES = (
    # The docstring of a class in its tests is no doctest (it fails untraced too).
    Library(
        "more-itertools",
        "11.2.1",
        "more_itertools*",
        (
            "--doctest-modules",
            "--deselect=tests/test_more.py::tests.test_more.IterOnlyRange",
            "more_itertools",
            "tests",
        ),
    ),
    Library("toolz", "1.2.0", "toolz*", ("--doctest-modules", "toolz")),
    Library("boltons", "26.2.0", "boltons*", ("--doctest-modules", "boltons", "tests")),
    # Its addopts ask for coverage (pytest-cov), which would trace the run too.
    Library(
        "aiostream",
        "0.8.1",
        "aiostream*",
        ("-o", "addopts=--strict-markers", "tests"),
        ("pytest-asyncio==1.5.0",),
    ),
    Library("pygments", "2.21.0", "pygments*", ("tests",), ("wcag-contrast-ratio==0.9",)),
    # Trio ships its tests inside the package: the installed copy's core tests, with the sdist's
    # pytest configuration (its plugin).
    Library(
        "trio",
        "0.35.0",
        "trio*",
        ("-c", "pyproject.toml", "--run-slow", "trio._core._tests"),
        ("async_generator==1.10",),
        installed=True,
    ),
    Library("jinja2", "3.1.6", "jinja2*", ("tests",), ("trio==0.35.0",)),
    Library(
        "anyio",
        "4.16.0",
        "anyio*",
        # Without network, and without the tests that need an IPv6 loopback (none here).
        ("-m", "not network", "-k", "not ipv6 and not dualstack and not test_connection_refused", "tests"),
        (
            "trio==0.35.0",
            "blockbuster==1.5.29",
            "hypothesis==6.170.17",
            "psutil==7.2.2",
            "pytest-mock==3.17.0",
            "pytest-timeout==2.4.0",
            "trustme==1.2.1",
            "truststore==0.10.5",
            "uvloop==0.23.0",
        ),
    ),
    Library("pytest-asyncio", "1.5.0", "pytest_asyncio*", (), ("hypothesis==6.170.17",)),
    # Twisted's tests run under pytest too: its Deferred and inlineCallbacks tests, from the installed
    # package.
    Library(
        "twisted",
        "26.10.0",
        "twisted*",
        (
            "twisted.test.test_defer",
            "twisted.internet.test.test_defer_await",
            "twisted.internet.test.test_defer_yieldfrom",
            "twisted.internet.test.test_inlinecb",
        ),
        ("hypothesis==6.170.17", "PyHamcrest==2.1.0", "cython-test-exception-raiser==26.4.1"),
        installed=True,
    ),
)
BY_NAME = {lib.name: lib for lib in LIBRARIES}


@dataclass(frozen=True)
class Outcome:
    """One test's result in one run (``passed``, ``failed``, ``error``, ``skipped``, ``xfailed``, or
    several joined by commas: a call that failed and a teardown that erred), and the first line of
    its failure's message."""

    result: str
    message: str = ""


@dataclass
class Comparison:
    """A library's two runs, test by test, and what else was seen (gentrace's own exit report, a
    run that gave no result)."""

    library: Library
    python: dict[str, Outcome]
    traced: dict[str, Outcome]
    notes: list[str]
    untraced: bool  # gentrace said that the --include glob matched no module the suite imported

    @property
    def differing(self) -> list[str]:
        ids = sorted(self.python.keys() | self.traced.keys())
        return [t for t in ids if _result(self.python.get(t)) != _result(self.traced.get(t))]

    @property
    def identical(self) -> str:
        if not self.python or not self.traced or self.differing:
            return "no"
        return "yes, nothing traced" if self.untraced else "yes"


@dataclass(frozen=True)
class Options:
    """What the command line chose for every library."""

    python: str
    cache: Path
    timeout: float
    reuse_python: bool
    pytest_args: tuple[str, ...]
    iterators: bool  # the traced run records iterators too (``gentrace run --iterators``)

    @property
    def traced_run(self) -> str:
        """What the traced run's files are named: ``traced.xml`` or ``iterators.xml``, and so on."""
        return "iterators" if self.iterators else "traced"


def _result(outcome: Outcome | None) -> str:
    return outcome.result if outcome else "missing"


def _run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, text=True, check=False, **kwargs)


def _check(done: subprocess.CompletedProcess[str], doing: str) -> None:
    if done.returncode:
        sys.exit(f"run_real: failed {doing} (exit {done.returncode})")


def install(lib: Library, python: str, cache: Path) -> tuple[Path, Path]:
    """The library's venv (gentrace from this tree, editable, so that it runs the tree as it is now)
    and its unpacked sdist; both made once, in `cache`."""
    tag = _run([python, "-c", "import sys; print('py%d.%d' % sys.version_info[:2])"], capture_output=True)
    _check(tag, f"running {python}")
    venv = cache / "venvs" / tag.stdout.strip() / lib.key
    venv_python = str(venv / "bin" / "python")
    wanted = [str(ROOT), f"{lib.name}=={lib.version}", PYTEST, *lib.deps]
    ready = venv / "gentrace-real.txt"
    if not ready.exists() or ready.read_text() != "\n".join(wanted):
        if not (venv / "bin" / "python").exists():
            _check(_run([python, "-m", "venv", str(venv)]), f"making the venv {venv}")
        pip = [venv_python, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        _check(_run([*pip, "-e", *wanted]), f"installing {lib.key} in {venv}")
        ready.write_text("\n".join(wanted))

    sdists = cache / "sdist" / lib.key
    if not sdists.exists() or not any(sdists.iterdir()):
        sdists.mkdir(parents=True, exist_ok=True)
        download = [venv_python, "-m", "pip", "download", "-q", "--disable-pip-version-check"]
        spec = f"{lib.name}=={lib.version}"
        cmd = [*download, "--no-binary", ":all:", "--no-deps", "-d", str(sdists), spec]
        _check(_run(cmd), f"downloading the sdist of {lib.key}")
    (sdist,) = sdists.iterdir()
    unpacked = cache / "src" / lib.key
    if not unpacked.exists():
        scratch = cache / "src" / f".{lib.key}"
        shutil.rmtree(scratch, ignore_errors=True)
        with tarfile.open(sdist) as tar:
            if sys.version_info >= (3, 12):
                tar.extractall(scratch, filter="data")
            else:
                tar.extractall(scratch)
        (top,) = scratch.iterdir()
        top.rename(unpacked)
        shutil.rmtree(scratch)
    return venv, unpacked


def site_packages(venv: Path) -> str:
    (found,) = (venv / "lib").glob("python*/site-packages")
    return str(found)


def outcomes(junit: Path) -> dict[str, Outcome]:
    """Every test case in a JUnit XML file, by ``classname::name``."""
    found: dict[str, Outcome] = {}
    if not junit.exists():
        return found
    for case in ET.parse(junit).iter("testcase"):
        test = f"{case.get('classname', '')}::{case.get('name', '')}"
        results, message = [], ""
        for child in case:
            if child.tag not in ("failure", "error", "skipped"):
                continue
            if child.tag == "skipped" and child.get("type") == "pytest.xfail":
                results.append("xfailed")
            else:
                results.append({"failure": "failed"}.get(child.tag, child.tag))
            text = (child.get("message") or child.text or "").strip()
            if text and not message:
                message = text.splitlines()[0][:200]
        name, n = test, 2
        while name in found:  # the same id twice (a doctest found twice): keep both
            name, n = f"{test}#{n}", n + 1
        found[name] = Outcome(",".join(results) or "passed", message)
    return found


def run_suite(
    lib: Library, venv: Path, unpacked: Path, out: Path, traced: bool, options: Options
) -> list[str]:
    """One run of the suite, its JUnit XML at ``out/<python|traced|iterators>.xml`` and its output
    beside it; gentrace's own exit report and a run that gave no result, as notes."""
    which = options.traced_run if traced else "python"
    junit, log, argv = out / f"{which}.xml", out / f"{which}.out", out / f"{which}.args"
    pytest = ["-m", "pytest", *PYTEST_ARGS, *options.pytest_args, f"--junitxml={junit}"]
    if lib.installed:
        pytest += [f"--rootdir={site_packages(venv)}", "--pyargs"]
    pytest += lib.args
    if traced:
        flags = ["--iterators"] if options.iterators else []
        cmd = [str(venv / "bin" / "gentrace"), "run", "-q", *flags, "--include", lib.include, *pytest]
    else:
        cmd = [str(venv / "bin" / "python"), *pytest]
    kept = junit.exists() and argv.exists() and argv.read_text() == "\n".join(cmd)
    if not traced and options.reuse_python and kept:
        print(f"  {which}: kept from an earlier run", file=sys.stderr)
        return []
    junit.unlink(missing_ok=True)
    argv.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "GENTRACE_", "PYTHON"))}
    env["PYTHONHASHSEED"] = "0"
    started = time.monotonic()
    with log.open("w") as f:
        # A session of its own: a suite that hangs is ended with the processes it started.
        suite = subprocess.Popen(
            cmd, cwd=unpacked, env=env, stdout=f, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            returncode = suite.wait(options.timeout)
        except subprocess.TimeoutExpired:
            os.killpg(suite.pid, signal.SIGKILL)
            suite.wait()
            return [f"{which}: stopped after {options.timeout:g}s"]
        except BaseException:
            os.killpg(suite.pid, signal.SIGKILL)
            raise
    print(f"  {which}: exit {returncode}, {time.monotonic() - started:.0f}s", file=sys.stderr)
    notes = []
    text = log.read_text(errors="replace").splitlines()
    if traced:
        notes += [line for line in text if line.startswith("gentrace:")][:REPORTED]
    if junit.exists():
        argv.write_text("\n".join(cmd))
    else:
        notes.append(f"{which}: no result file (exit {returncode}): {' | '.join(text[-3:])}")
    return notes


def summary(log: Path) -> str:
    """pytest's closing line in `log` (``12 passed, 3 warnings``), without the time it took."""
    for line in reversed(log.read_text(errors="replace").splitlines() if log.exists() else []):
        found = re.fullmatch(r"=* ?(\d+ \w+.*?) in [\d.]+s\b.*", line)
        if found:
            return found.group(1)
    return ""


def compare(lib: Library, options: Options) -> Comparison:
    print(f"{lib.key}:", file=sys.stderr)
    venv, unpacked = install(lib, options.python, options.cache)
    mode = "assert-plain" if options.pytest_args else "default"
    out = options.cache / "results" / venv.parent.name / mode / lib.key
    out.mkdir(parents=True, exist_ok=True)
    notes = run_suite(lib, venv, unpacked, out, traced=False, options=options)
    notes += run_suite(lib, venv, unpacked, out, traced=True, options=options)
    # Warnings and subtests are counted only there.
    which = options.traced_run
    python, traced = summary(out / "python.out"), summary(out / f"{which}.out")
    if python and traced and python != traced:
        notes.append(f"pytest's summary: python {python!r}, traced {traced!r}")
    untraced = any("matched no module" in note for note in notes)
    return Comparison(lib, outcomes(out / "python.xml"), outcomes(out / f"{which}.xml"), notes, untraced)


def counts(results: dict[str, Outcome]) -> str:
    if not results:
        return "no result"
    by = Counter(o.result for o in results.values())
    order = ["passed", "failed", "error", "skipped", "xfailed"]
    keys = sorted(by, key=lambda k: (order.index(k) if k in order else len(order), k))
    return ", ".join(f"{by[k]} {k}" for k in keys)


def table(rows: list[Comparison], markdown: bool, traced: str = "traced") -> str:
    head = ["library", "version", "tests", "python", traced, "identical", "differing"]
    body = [
        [
            c.library.name,
            c.library.version,
            str(len(c.python.keys() | c.traced.keys())),
            counts(c.python),
            counts(c.traced),
            c.identical,
            str(len(c.differing) or ""),
        ]
        for c in rows
    ]
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in body])
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in [head, *body]
    )


def details(c: Comparison) -> str:
    """The tests whose outcome differs, each with the first line of its failure (traced first)."""
    lines = [f"{c.library.key}: {len(c.differing)} differing"]
    lines += [f"  note: {note}" for note in c.notes]
    if not c.python or not c.traced:
        return "\n".join(lines)  # a run gave no result: the note says why
    for test in c.differing[:LISTED]:
        python, traced = c.python.get(test), c.traced.get(test)
        lines.append(f"  {test}: python {_result(python)}, traced {_result(traced)}")
        message = next((o.message for o in (traced, python) if o and o.message), "")
        if message:
            lines.append(f"      {message}")
    if len(c.differing) > LISTED:
        lines.append(f"  … and {len(c.differing) - LISTED} more")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "libraries", nargs="*", metavar="LIBRARY", help=f"of: {', '.join(BY_NAME)} (default: all)"
    )
    parser.add_argument("--table", action="store_true", help="print the result table in Markdown")
    parser.add_argument(
        "--assert-plain",
        action="store_true",
        help="run both with pytest's --assert=plain, so that test modules and libraries that are pytest "
        "plugins are imported through gentrace's import hook (pytest's assertion rewriter imports "
        "them otherwise, and they run untraced)",
    )
    parser.add_argument(
        "--iterators",
        action="store_true",
        help="trace with gentrace run --iterators (python's run is the same: --reuse-python keeps it)",
    )
    parser.add_argument(
        "--reuse-python",
        action="store_true",
        help="keep python's results from an earlier run with the same arguments",
    )
    parser.add_argument("--python", default=sys.executable, help="the interpreter for the venvs")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="venvs, sdists and results")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds for one run of a suite")
    args = parser.parse_args()
    unknown = [name for name in args.libraries if name not in BY_NAME]
    if unknown:
        parser.error(f"unknown library {unknown[0]!r}; choose from {', '.join(BY_NAME)}")
    options = Options(
        python=args.python,
        cache=args.cache.expanduser(),
        timeout=args.timeout,
        reuse_python=args.reuse_python,
        pytest_args=("--assert=plain",) if args.assert_plain else (),
        iterators=args.iterators,
    )
    rows = [compare(BY_NAME[name], options) for name in args.libraries or BY_NAME]
    print(table(rows, args.table, "traced --iterators" if args.iterators else "traced"))
    for c in rows:
        if c.differing or c.notes:
            print()
            print(details(c))
    return 0 if all(c.identical.startswith("yes") for c in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
