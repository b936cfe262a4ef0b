"""What importing gentrace costs (``gentrace``, ``gentrace.pytest_plugin``, ``gentrace.cli``), and
what ``gentrace run`` adds to the start-up of a script.

Run it from the repository root::

    python benchmarks/import_time.py              # ~10-20 s: best of 7
    python benchmarks/import_time.py --repeats 20
    python benchmarks/import_time.py --cpu-time   # start-up in CPU time: steadier on a busy machine

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

Then the start-up of a script that does nothing, run by ``python``, ``python -m gentrace run`` and
the ``gentrace run`` console script (when it is installed beside this python): the time of the whole
process, best of N, and what ``gentrace run`` adds to python's (issue 17's target: at most 80 ms).
Last, the imports that ``gentrace run`` makes before the script starts and python does not, the
costliest first by cumulative time (best of N for each module): what to make lazy next.

Nothing is asserted: it prints markdown tables.
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
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from common import bytecode_cached, load_average

# (module, the code run with -X importtime): the figure is `module`'s cumulative time.
COMMANDS = [
    ("gentrace", "import gentrace"),
    ("gentrace.pytest_plugin", "import pytest; import gentrace.pytest_plugin"),
    ("gentrace.cli", "import gentrace.cli"),
]

T = TypeVar("T")

# A line of ``-X importtime``: self µs, cumulative µs, the module indented two spaces per level.
LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)$", re.MULTILINE)


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


@dataclass
class Imported:
    """One module in the output of ``-X importtime``: its best times over the runs."""

    module: str
    importer: str  # the module whose import imported it ("" at the top)
    self_us: int
    cumulative_us: int


def imports_of(stderr: str) -> dict[str, Imported]:
    """Every module in the output of ``-X importtime``, with the module that imported it.

    A module's line comes after those of the modules it imported, which are indented one level more.
    """
    found: dict[str, Imported] = {}
    waiting: dict[int, list[Imported]] = {}  # by indentation: lines whose importer comes later
    for match in LINE.finditer(stderr):
        self_us, cumulative, indent, module = match.groups()
        level = len(indent) // 2
        for child in waiting.pop(level + 1, []):
            child.importer = module
        entry = Imported(module, "", int(self_us), int(cumulative))
        waiting.setdefault(level, []).append(entry)
        found[module] = entry
    return found


def run_once(command: list[str], env: dict[str, str], cpu_time: bool) -> tuple[float, str]:
    """Run `command` to its end: its seconds (wall, or its own CPU time: ``wait4`` gives this
    child's only) and its stderr."""
    with tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        elapsed = time.perf_counter() - start
        err.seek(0)
        said = err.read()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"{' '.join(command)} exited {code}:\n{said[-2000:]}")
    return (usage.ru_utime + usage.ru_stime if cpu_time else elapsed), said


def startup_commands(script: str) -> list[tuple[str, list[str]]]:
    """(label, command) for an empty script under python, ``python -m gentrace run`` and the
    console script, if it is installed beside this python."""
    commands = [
        ("python SCRIPT", [sys.executable, script]),
        ("python -m gentrace run SCRIPT", [sys.executable, "-m", "gentrace", "run", script]),
    ]
    console = os.path.join(os.path.dirname(sys.executable), "gentrace")
    if os.path.exists(console):
        commands.append(("gentrace run SCRIPT", [console, "run", script]))
    return commands


def interleaved(
    commands: list[tuple[str, list[str]]], repeats: int, measure: Callable[[list[str]], T]
) -> dict[str, list[T]]:
    """`measure(command)` of each command, `repeats` times: they take turns, so that a slow spell of
    the machine hits them all alike."""
    runs: dict[str, list[T]] = {label: [] for label, _ in commands}
    for _ in range(repeats):
        for label, command in commands:
            runs[label].append(measure(command))
    return runs


def print_startup(runs: dict[str, list[float]], clock: str) -> None:
    base = min(runs["python SCRIPT"])
    print(f"| command (SCRIPT empty) | best ms | median ms | worst ms | more than python, ms ({clock}) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for label, times in runs.items():
        more = "" if label == "python SCRIPT" else f"{(min(times) - base) * 1e3:+.1f}"
        print(
            f"| `{label}` | {min(times) * 1e3:.1f} | {statistics.median(times) * 1e3:.1f} | "
            f"{max(times) * 1e3:.1f} | {more} |"
        )


def print_top_imports(gentrace: list[str], python: list[str], top: int) -> None:
    """The modules `gentrace run` imports and python does not, the costliest first."""
    best: dict[str, Imported] = {}
    for stderr in gentrace:
        for module, entry in imports_of(stderr).items():
            kept = best.setdefault(module, entry)
            kept.self_us = min(kept.self_us, entry.self_us)
            kept.cumulative_us = min(kept.cumulative_us, entry.cumulative_us)
    baseline = {module for stderr in python for module in imports_of(stderr)}
    extra = sorted(
        (entry for module, entry in best.items() if module not in baseline),
        key=lambda entry: -entry.cumulative_us,
    )
    print(
        f"{len(extra)} modules imported by `python -m gentrace run SCRIPT` and not by `python SCRIPT`, "
        f"{sum(entry.self_us for entry in extra) / 1e3:.1f} ms of own time in all; the {top} costliest:"
    )
    print()
    print("| module | imported by | best cumulative µs | best self µs |")
    print("| --- | --- | ---: | ---: |")
    for entry in extra[:top]:
        print(
            f"| `{entry.module}` | `{entry.importer or '-'}` | {entry.cumulative_us:,} | {entry.self_us:,} |"
        )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--repeats", type=int, default=7, help="best of this many runs (default 7)")
    p.add_argument(
        "--cpu-time",
        action="store_true",
        help="time the start-up in the process's CPU time (user + system), not wall time",
    )
    p.add_argument("--top", type=int, default=20, help="the costliest imports to list (default 20)")
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error("--repeats must be at least 1")

    clock = "CPU time" if args.cpu_time else "wall time"
    print(
        f"Python {platform.python_version()} ({platform.python_implementation()}) · "
        f"{platform.machine()} · {platform.system()} · {os.cpu_count()} CPUs, load {load_average()} · "
        f"best of {args.repeats} · bytecode cached · start-up in {clock}",
        flush=True,
    )
    runs: dict[str, list[int]] = {module: [] for module, _ in COMMANDS}
    with tempfile.TemporaryDirectory(prefix="gentrace-bench-") as tmp:
        env = bytecode_cached(tmp)
        for module, code in COMMANDS:
            import_us(module, code, env)  # fills the bytecode cache: not counted
        for _ in range(args.repeats):
            for module, code in COMMANDS:
                runs[module].append(import_us(module, code, env))

        script = os.path.join(tmp, "empty.py")
        with open(script, "w", encoding="utf-8"):
            pass
        commands = startup_commands(script)
        for _, command in commands:
            run_once(command, env, args.cpu_time)  # fills the bytecode cache: not counted
        startup = interleaved(commands, args.repeats, lambda c: run_once(c, env, args.cpu_time)[0])
        # python's and `python -m gentrace run`'s own imports (the console script's are the same).
        importing = [
            (label, [command[0], "-X", "importtime", *command[1:]]) for label, command in commands[:2]
        ]
        stderrs = interleaved(importing, args.repeats, lambda c: run_once(c, env, False)[1])

    print()
    print("| module | imported by | best µs | median µs | worst µs |")
    print("| --- | --- | ---: | ---: | ---: |")
    for module, code in COMMANDS:
        times = runs[module]
        print(
            f"| `{module}` | `{code}` | {min(times):,} | {statistics.median(times):,.0f} | {max(times):,} |"
        )
    print()
    print_startup(startup, clock)
    print()
    print_top_imports(stderrs["python -m gentrace run SCRIPT"], stderrs["python SCRIPT"], args.top)
    print(f"\n(load average afterwards {load_average()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
