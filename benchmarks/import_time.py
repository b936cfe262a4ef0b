"""What importing gentrace costs: ``gentrace``, ``gentrace.pytest_plugin`` and ``gentrace.cli``.

Run it from the repository root::

    python benchmarks/import_time.py              # ~5-10 s: best of 7
    python benchmarks/import_time.py --repeats 20

Each figure is the cumulative import time (µs) that ``python -X importtime`` reports for the
module, everything it imports included, in a fresh interpreter, with the bytecode cached (in a
temporary ``PYTHONPYCACHEPREFIX``, filled by one run that is not counted, so the tree gets no
``__pycache__``). The three commands take turns, so that a slow spell of the machine hits them all
alike; the best of N runs is the figure, the median and the worst say how noisy the machine was.

* ``gentrace`` — ``import gentrace``: what a program that traces pays;
* ``gentrace.pytest_plugin`` — ``import pytest; import gentrace.pytest_plugin``: what the plugin
  adds to every pytest session (it is installed as a ``pytest11`` entry point, so pytest loads it
  even without ``--gentrace``); pytest's own imports are not its cost. It was once bounded at
  20 ms by a test, which a busy machine made fail now and then: it is measured here instead;
* ``gentrace.cli`` — ``import gentrace.cli``: the start of every ``gentrace`` command, click
  included.

Nothing is asserted: it prints a markdown table.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile

from common import load_average

# (module, the code run with -X importtime): the figure is `module`'s cumulative time.
COMMANDS = [
    ("gentrace", "import gentrace"),
    ("gentrace.pytest_plugin", "import pytest; import gentrace.pytest_plugin"),
    ("gentrace.cli", "import gentrace.cli"),
]


def cumulative_us(module: str, stderr: str) -> int:
    """The cumulative µs of `module` in the output of ``-X importtime``."""
    pattern = rf"^import time:\s+\d+ \|\s+(\d+) \| *{re.escape(module)}$"
    match = re.search(pattern, stderr, re.MULTILINE)
    if match is None:
        raise SystemExit(f"no import time for {module} in:\n{stderr[-2000:]}")
    return int(match.group(1))


def import_us(module: str, code: str, env: dict[str, str]) -> int:
    """One run in a fresh interpreter."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], env=env, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise SystemExit(f"python -c {code!r} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    return cumulative_us(module, proc.stderr)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--repeats", type=int, default=7, help="best of this many runs (default 7)")
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error("--repeats must be at least 1")

    print(
        f"Python {platform.python_version()} ({platform.python_implementation()}) · "
        f"{platform.machine()} · {platform.system()} · {os.cpu_count()} CPUs, load {load_average()} · "
        f"best of {args.repeats} · bytecode cached",
        flush=True,
    )
    runs: dict[str, list[int]] = {module: [] for module, _ in COMMANDS}
    with tempfile.TemporaryDirectory(prefix="gentrace-bench-") as tmp:
        env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = tmp  # cached bytecode, but not in the tree
        for module, code in COMMANDS:
            import_us(module, code, env)  # fills the bytecode cache: not counted
        for _ in range(args.repeats):
            for module, code in COMMANDS:
                runs[module].append(import_us(module, code, env))

    print()
    print("| module | imported by | best µs | median µs | worst µs |")
    print("| --- | --- | ---: | ---: | ---: |")
    for module, code in COMMANDS:
        times = runs[module]
        print(
            f"| `{module}` | `{code}` | {min(times):,} | {statistics.median(times):,.0f} | {max(times):,} |"
        )
    print(f"\n(load average afterwards {load_average()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
