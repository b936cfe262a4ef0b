"""The replay page's front end as package data: shipped in the wheel, read lazily, hashed into the CSP.

The wheel tests build a wheel from a copy of the repository's files (tracked, plus new ones not
ignored), as ``pip wheel`` would for a user, unpack it, and write a page with the code in it.
"""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from trace_samples import ROOT

ASSETS = ("replay.html", "replay.css", "replay.js")
TIMEOUT = 120
GIT_FILES = ["ls-files", "-z", "--cached", "--others", "--exclude-standard"]
PIP_WHEEL = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
CSP = re.compile(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">')
SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)
STYLE = re.compile(r"<style>(.*?)</style>", re.S)

# A small program whose trace the pages show (a string that could end a <script> included).
PROGRAM = """\
def count(n):
    for i in range(n):
        got = yield i
        if got:
            print(got)
    return "</script><script>alert(1)</script>"


c = count(3)
next(c)
c.send("hi & bye")
list(c)
"""

# Writes the page of the trace argv[2] to argv[3] with the gentrace found first on argv[1].
WRITE_PAGE = """\
import os, runpy, sys
where = os.path.realpath(sys.argv[1])
sys.path.insert(0, where)
import gentrace
assert os.path.realpath(gentrace.__file__).startswith(where + os.sep), gentrace.__file__
sys.argv = ["gentrace", "show", sys.argv[2], "--html", sys.argv[3]]
runpy.run_module("gentrace", run_name="__main__")
"""

# Imports gentrace's modules, then builds two pages; prints the assets opened at each point.
LAZY = """\
import os, sys
opened = []
def hook(event, args):
    if event == "open" and isinstance(args[0], str) and os.sep + "assets" + os.sep in args[0]:
        opened.append(os.path.basename(args[0]))
sys.addaudithook(hook)
import gentrace, gentrace.cli, gentrace.page, gentrace.replay, gentrace.show
print(sorted(opened))
gentrace.page.page({"title": "a"})
gentrace.page.page({"title": "b"})
print(sorted(opened))
"""


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, f"{args}:\n{done.stdout}\n{done.stderr}"
    return done


def _copy_repository(dest: Path) -> None:
    """The repository's files as a fresh checkout (plus new files not yet committed) would have them."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs the git repository to copy its files")
    listed = _run(["git", "-C", str(ROOT), *GIT_FILES], ROOT)
    for name in filter(None, listed.stdout.split("\0")):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the work tree is not copied
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from a copy of the repository (one build for the module: it takes seconds)."""
    source = tmp_path_factory.mktemp("source")
    _copy_repository(source)
    out = tmp_path_factory.mktemp("wheel")
    _run([*PIP_WHEEL, "-w", str(out), "."], source)
    (built,) = out.glob("gentrace-*.whl")
    return built


@pytest.fixture(scope="module")
def unpacked(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("unpacked")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(where)
    return where


@pytest.fixture(scope="module")
def trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("program")
    (where / "program.py").write_text(PROGRAM, encoding="utf-8")
    _run([sys.executable, "-m", "gentrace", "run", "-q", "-o", "trace.jsonl", "program.py"], where)
    return where / "trace.jsonl"


def _page_by(code: Path, trace: Path) -> str:
    out = trace.parent / f"page-{hashlib.sha256(str(code).encode()).hexdigest()[:8]}.html"
    _run([sys.executable, "-c", WRITE_PAGE, str(code), trace.name, out.name], trace.parent)
    return out.read_text(encoding="utf-8")


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def test_the_wheel_ships_the_front_end(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        for name in ASSETS:
            shipped = archive.read(f"gentrace/assets/{name}")
            assert shipped == (ROOT / "gentrace" / "assets" / name).read_bytes(), name


def test_a_page_from_the_installed_wheel_is_the_source_trees_page(unpacked: Path, trace: Path) -> None:
    installed = _page_by(unpacked, trace)
    assert installed == _page_by(ROOT, trace)

    csp = CSP.search(installed)
    assert csp is not None
    directives = dict(part.strip().split(" ", 1) for part in csp.group(1).split(";"))
    (script,) = SCRIPT.findall(installed)  # the page's one script (the data is not in a bare <script>)
    (style,) = STYLE.findall(installed)
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == _sha256(script)
    assert directives["style-src"] == _sha256(style)
    assert script == (unpacked / "gentrace" / "assets" / "replay.js").read_text(encoding="utf-8")
    assert style == (unpacked / "gentrace" / "assets" / "replay.css").read_text(encoding="utf-8")
    assert "</script><script>alert(1)" not in installed
    assert "@CSP@" not in installed and "@DATA@" not in installed


def test_importing_gentrace_reads_no_asset_and_pages_read_each_once() -> None:
    done = _run([sys.executable, "-c", LAZY], ROOT)  # cwd first on sys.path: the source tree
    at_import, after_pages = done.stdout.splitlines()
    assert at_import == "[]"
    assert after_pages == str(sorted(ASSETS))
