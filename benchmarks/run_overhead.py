"""Whole-process cost of ``gentrace run -q --out t.jsonl`` against plain ``python``.

A script drives N generator steps; each command runs as a real subprocess, best of 3. Prints the
overhead per step and the peak memory (max RSS of the child) at each N, so that a flat peak
memory as N grows shows that `run` streams to its sinks and keeps nothing unbounded.

    python benchmarks/run_overhead.py              # N = 200,000 and 1,000,000
    python benchmarks/run_overhead.py --steps 50000
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

SCRIPT = """
import sys

def counter(n):
    for i in range(n):
        yield i

total = 0
for value in counter(int(sys.argv[1])):
    total += value
print(total)
"""


def measure(command: list[str]) -> tuple[float, float]:
    """Wall seconds and the child's peak RSS in MiB, for one run."""
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)  # this child's own rusage, not all children's
    elapsed = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {child.returncode}")
    return elapsed, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, nargs="*", default=[200_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    gentrace = [sys.executable, "-m", "gentrace"]
    print("| steps | python s | gentrace run s | overhead per step | python peak MiB | gentrace peak MiB |")
    print("| ----: | -------: | -------------: | ----------------: | --------------: | ----------------: |")
    with tempfile.TemporaryDirectory() as tmp:
        script = os.path.join(tmp, "drive.py")
        with open(script, "w") as f:
            f.write(SCRIPT)
        trace = os.path.join(tmp, "t.jsonl")
        for steps in sorted(args.steps):
            plain = [measure([sys.executable, script, str(steps)]) for _ in range(args.repeats)]
            command = [*gentrace, "run", "-q", "--out", trace, script, str(steps)]
            traced = [measure(command) for _ in range(args.repeats)]
            base = min(t for t, _ in plain)
            best = min(t for t, _ in traced)
            per_step_us = (best - base) / steps * 1e6
            print(
                f"| {steps:,} | {base:.2f} | {best:.2f} | {per_step_us:.2f} µs "
                f"| {max(m for _, m in plain):.1f} | {max(m for _, m in traced):.1f} |"
            )


if __name__ == "__main__":
    main()
