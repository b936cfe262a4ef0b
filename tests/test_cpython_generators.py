"""CPython's own generator tests (``Lib/test/test_generators.py``) pass under ``gentrace run``.

The file of the running Python is copied next to the test, so that it is the program (instrumented,
every generator it defines traced), and run by ``gentrace run`` and by python. What fails traced
and not untraced must be exactly the tests no proxy can pass: one looks at the frames on the stack
while a generator runs (before 3.14), and one needs ``_testcapi`` to deliver a signal in the middle
of a step. On the pure-Python path more look at the frames: there the proxy's step frame stands
between caller and generator; the compiled path has no such frame.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gentrace.compiled import speedups

try:
    from test import test_generators
except ImportError:  # a Python without its test package (Debian's libpython3.X-testsuite)
    test_generators = None

if speedups is None:  # the pure-Python step's own frame is on the stack the tests inspect
    STACK_FRAMES = {"test_send_with_yield_from", "test_throw_with_yield_from"}
    if sys.version_info >= (3, 14):
        STACK_FRAMES.add("test_throw_with_yield_from_custom_generator")
elif sys.version_info < (3, 14):
    # Before 3.14, a generator's throw() calls the throw() of what it delegates to without putting
    # its own frame on the stack, unless that is a real generator.
    STACK_FRAMES = {"test_throw_with_yield_from"}
else:
    STACK_FRAMES = set()
# _testcapi.raise_SIGINT_then_send_None: it takes only a real generator (the compiled path), or the
# KeyboardInterrupt comes in the proxy's frame (the pure-Python path).
SIGNAL_IN_STEP = {"test_raise_and_yield_from"}

FAILURE = re.compile(r"^(?:FAIL|ERROR): (\w+) ", re.M)


def failures(output: str) -> set[str]:
    return set(FAILURE.findall(output))


@pytest.mark.skipif(test_generators is None, reason="this Python has no test package (Lib/test)")
def test_cpython_test_generators_passes_traced(tmp_path: Path) -> None:
    assert test_generators is not None and test_generators.__file__ is not None
    shutil.copy(test_generators.__file__, tmp_path / "test_generators.py")
    command = ["test_generators.py"]
    plain = subprocess.run(
        [sys.executable, *command], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    traced = subprocess.run(
        [sys.executable, "-m", "gentrace", "run", "-q", "-o", "t.jsonl", *command],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    plain_output, traced_output = plain.stdout + plain.stderr, traced.stdout + traced.stderr
    ran = re.search(r"^Ran (\d+) tests", plain_output, re.M)
    assert ran is not None, plain_output
    assert f"Ran {ran.group(1)} tests" in traced_output, traced_output
    assert "doctest" not in traced_output or "with zero failures" in traced_output  # 3.10 reports them so
    expected = STACK_FRAMES | (SIGNAL_IN_STEP if "needs _testcapi" not in plain_output else set())
    assert failures(traced_output) - failures(plain_output) == expected, traced_output
    with open(tmp_path / "t.jsonl", encoding="utf-8") as log:
        functions = {json.loads(line).get("func") for line in log}
    traced_functions = {f for f in functions if f and f.startswith("__main__:")}
    assert len(traced_functions) > 20, functions  # the file's generators were traced
