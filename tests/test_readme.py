"""The README tells the truth: its example logs are what the commands they name print, and its
first lines are the commands a fresh clone needs, the test one being the one CI runs.

An example block is marked by an HTML comment on the line right before its opening fence::

    <!-- output of: gentrace run samples/averager.py -->
    ```
    >>> averager#1 = averager()  # samples/averager.py:12 · GEN_CREATED
    ...
    ```

Each marked command runs in a real subprocess from the repository root, as a user types it there,
without colour and 80 columns wide; the block must be exactly its stderr (`run`: the log) or its
stdout (`show`). Unmarked blocks are not checked.
"""

from __future__ import annotations

import difflib
import os
import re
import shlex
import shutil
import subprocess
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
CI_SCRIPT = ROOT / ".ci" / "run"
GENTRACE = shutil.which("gentrace", path=sysconfig.get_path("scripts")) or shutil.which("gentrace")
MARKER = re.compile(r"<!-- output of: (?P<command>.+?) -->")
FENCE = "```"
# Where each checked subcommand writes what a block shows.
STREAM = {"run": "stderr", "show": "stdout"}
VENV = "python3 -m venv .venv && . .venv/bin/activate && "
TIMEOUT = 60  # seconds; a hung command fails its test instead of the whole run


@dataclass(frozen=True)
class Example:
    """A marked block of README.md: the command, the marker's line (from 1), the block's text."""

    command: str
    line: int
    text: str


def examples(readme: str) -> list[Example]:
    """The marked blocks of `readme`, in order; a marker without a block right after it is an error."""
    lines = readme.splitlines()
    found = []
    for i, line in enumerate(lines):
        marker = MARKER.fullmatch(line.strip())
        if marker is None:
            continue
        where = f"README.md:{i + 1}"
        if i + 1 == len(lines) or not lines[i + 1].startswith(FENCE):
            raise ValueError(f"{where}: an output marker must be followed at once by a fenced block")
        try:
            end = lines.index(FENCE, i + 2)
        except ValueError:
            raise ValueError(f"{where}: the block after the output marker is never closed") from None
        text = "".join(f"{body}\n" for body in lines[i + 2 : end])
        found.append(Example(marker["command"], i + 1, text))
    return found


EXAMPLES = examples(README.read_text(encoding="utf-8"))


def output_of(command: str) -> tuple[str, int]:
    """What `command` (``gentrace run ...`` or ``gentrace show ...``) writes where its block shows
    it, run from the repository root without colour in 80 columns; and its exit code."""
    program, subcommand, *args = shlex.split(command)
    assert program == "gentrace" and subcommand in STREAM, (
        f"only `gentrace run ...` and `gentrace show ...` blocks can be checked, not `{command}`"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "PYTHONWARNINGS")}
    env.update(NO_COLOR="1", COLUMNS="80", PYTHONIOENCODING="utf-8", PYTHONDONTWRITEBYTECODE="1")
    done = subprocess.run(
        [str(GENTRACE), subcommand, *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        encoding="utf-8",
        timeout=TIMEOUT,
    )
    return getattr(done, STREAM[subcommand]), done.returncode


def test_the_readme_has_checked_examples() -> None:
    assert EXAMPLES, "README.md has no `<!-- output of: gentrace ... -->` block: the check checks nothing"


@pytest.mark.parametrize("example", EXAMPLES, ids=[example.command for example in EXAMPLES])
def test_an_example_block_is_what_its_command_prints(example: Example) -> None:
    output, code = output_of(example.command)
    if output != example.text:
        diff = difflib.unified_diff(
            example.text.splitlines(),
            output.splitlines(),
            fromfile=f"README.md:{example.line}",
            tofile=f"{example.command} (exit code {code})",
            lineterm="",
        )
        raise AssertionError(
            f"README.md:{example.line}: the block is not what `{example.command}` prints (from the "
            f"repository root, NO_COLOR=1 COLUMNS=80); if the new output is right, paste it into the "
            "block.\n" + "\n".join(diff)
        )


def test_the_first_lines_install_and_run_and_install_and_test_in_a_venv() -> None:
    # A fresh Debian or Ubuntu refuses `pip install` outside a virtual environment (PEP 668).
    readme = README.read_text(encoding="utf-8").splitlines()
    assert readme[2] == "```bash" and readme[5] == FENCE, "README.md's first block should be two lines"
    run, test = readme[3], readme[4]
    assert run.startswith(VENV) and run.endswith("pip install . && gentrace run samples/averager.py")
    # The suite twice: on the compiled core, then on the pure-Python path; with the jupyter extra,
    # so that the IPython and notebook tests run rather than skip.
    assert test.startswith(VENV) and test.endswith(
        "pip install -e '.[test,jupyter]' && pytest && GENTRACE_PURE_PYTHON=1 pytest"
    )
    ci_lines = CI_SCRIPT.read_text(encoding="utf-8").splitlines()
    assert any(line.startswith(test) for line in ci_lines), (
        f".ci/run should run the README's test command, as written there: {test}"
    )
