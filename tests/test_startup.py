"""What ``gentrace run`` imports before the program starts: only what every run needs.

A script that prints ``sys.modules`` runs under ``python`` and under ``gentrace run`` (as ``python
-m gentrace`` and as the console script starts it), in real subprocesses; what gentrace added must
hold none of the modules it imports only when a feature asks for them (tests/test_layers.py's LAZY
says where and why). No timing: ``benchmarks/import_time.py`` measures the start-up.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 30  # seconds

SCRIPT = "import sys\nprint(sorted(sys.modules))\n"

NOT_AT_START: dict[str, str] = {
    "asyncio": "gentrace.aproxy's, once async code is traced",
    "json": "for JSON Lines outputs and child processes",
    "logging": "for a logging.Logger output, which the program imports",
    "tempfile": "for --summary, --timeline and .html outputs",
    "shutil": "for a log on a terminal",
    "traceback": "for a script that does not compile",
    "importlib.abc": "never: gentrace's finders are finders by their methods",
    "importlib.metadata": "for --version",
    "multiprocessing": "the program's, if it starts processes",
    "readline": "for gentrace repl",
    "colorama": "for a log in colour (its Windows fix), which a file or pipe is not",
    "ctypes": "colorama's",
    "gentrace.aproxy": "once async code is traced",
    "gentrace.jsonl": "for JSON Lines outputs",
    "gentrace.chrome": "for .json outputs",
    "gentrace.replay": "for .html outputs",
    "gentrace.page": "for .html outputs",
    "gentrace.recap": "for --summary and --timeline",
    "gentrace.summary": "for --summary",
    "gentrace.timeline": "for --timeline",
    "gentrace.reader": "for what is read back from JSON Lines",
    "gentrace.show": "for gentrace show",
    "gentrace.repl": "for gentrace repl",
    "gentrace.pytest_plugin": "for pytest",
}
"""A module not imported before the program starts → what it is for."""

# From Python 3.13, `PathFinder.invalidate_caches()` imports importlib.metadata, which imports these:
# `gentrace.instrument.install` calls it, as it puts its finder in PathFinder's place.
METADATA_IMPORTS = {"importlib.metadata", "importlib.abc", "json", "shutil", "tempfile"}


def not_at_start() -> dict[str, str]:
    """`NOT_AT_START` on this Python."""
    if sys.version_info < (3, 13):
        return NOT_AT_START
    return {module: why for module, why in NOT_AT_START.items() if module not in METADATA_IMPORTS}


LAUNCHERS = {
    "python -m gentrace": ["-m", "gentrace"],
    # What the console script does (it is not installed for every Python the tests run on).
    "gentrace": ["-c", "import sys; from gentrace.cli import main; sys.argv[0] = 'gentrace'; main()"],
}


def modules_at_start(tmp_path: Path, *launcher: str) -> tuple[set[str], str]:
    """The modules imported when the script starts, run by ``python LAUNCHER... SCRIPT``, and its
    stderr."""
    script = tmp_path / "modules.py"
    script.write_text(SCRIPT, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONSTARTUP", "PYTHONWARNINGS")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, *launcher, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert proc.returncode == 0, proc.stderr
    modules: list[str] = ast.literal_eval(proc.stdout)
    return set(modules), proc.stderr


@pytest.fixture(scope="module")
def python_modules(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    return modules_at_start(tmp_path_factory.mktemp("python"))[0]


@pytest.mark.parametrize("launcher", sorted(LAUNCHERS))
def test_run_starts_the_program_without_what_only_features_need(
    launcher: str, tmp_path: Path, python_modules: set[str]
) -> None:
    modules, stderr = modules_at_start(tmp_path, *LAUNCHERS[launcher], "run")
    assert stderr == ""  # an empty log: the script has no generator
    added = modules - python_modules
    assert {"gentrace.cli", "gentrace.tracer", "click"} <= added  # it did start through gentrace
    unwanted = {
        module: why
        for module, why in not_at_start().items()
        if module in added or any(name.startswith(module + ".") for name in added)
    }
    assert unwanted == {}


def test_a_feature_asked_for_imports_its_modules_before_the_program(tmp_path: Path) -> None:
    # --summary is written at the end from a temporary file of the run's JSON Lines.
    modules, _ = modules_at_start(tmp_path, "-m", "gentrace", "run", "--summary")
    assert {"gentrace.recap", "gentrace.jsonl", "json", "tempfile"} <= modules
