"""A million traced generators made and dropped: gentrace's memory must stay flat, on each path.

Run it from the repository root::

    python benchmarks/leak_check.py                  # both paths, 1,000,000 generators each
    python benchmarks/leak_check.py --path compiled  # one path
    python benchmarks/leak_check.py --out jsonl      # through the JSON Lines renderer too
    python benchmarks/leak_check.py --quick          # 20,000 generators: a smoke check
    python benchmarks/leak_check.py --valgrind       # and the differential scenarios under valgrind

Each path runs in a child process (``GENTRACE_PURE_PYTHON=1`` or not: the path is settled when
gentrace is imported), which checks it runs the path asked for. The child traces generators with
one ``Tracer(keep=0)``: half of them driven by ``next``, ``send``, a ``throw`` the generator
catches, and ``close``; the other half by a for-loop to their end. ``--out`` also renders every
event as JSON Lines or the text log (to ``os.devnull``). With ``tracemalloc`` on, it samples after
a fifth of the generators and after all of them (the garbage collector run first): the process's
RSS (``VmRSS``), what ``tracemalloc`` traces, the objects the collector tracks, and
``sys.gettotalrefcount()`` on a debug build of Python. What a fifth of the run did not reach, the
rest must not add: the exit status is 1 if RSS grew more than 1 MiB or the traced memory more than
64 KiB between the two samples. An object leaked per step or per generator shows in both (a
million leaked lists is tens of MiB); memory lost inside C code that never goes through Python's
allocators shows in RSS only.

``--valgrind`` then runs the differential scenarios (``tests/differential_worker.py``: random
``next``, ``send``, ``throw``, ``close`` and ``yield from`` on generators of every shape, written as
the text log and JSON Lines; then ``tests/differential_async_worker.py``: async generators and
coroutines on an event loop) on the compiled path under ``valgrind --error-exitcode=1
--leak-check=no``, with ``PYTHONMALLOC=malloc`` so that valgrind sees every allocation, and prints
gentrace's errors (invalid reads, writes and frees anywhere; uses of uninitialised memory in the
compiled core, as CPython's own start-up makes some): the exit status is 1 if there was one. It
takes a few minutes.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tracemalloc
from collections.abc import Generator
from typing import Any

from common import PATHS, BenchmarkInvalid, compiled_is_built, env_of, markdown, run_child

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RSS_BOUND_KIB = 1024
TRACED_BOUND_KIB = 64


# -- the child: a path's million generators --------------------------------------------------------


class Caught(Exception):
    pass


def gen(n: int) -> Generator[Any, Any, None]:
    received = None
    for i in range(n):
        try:
            received = yield [i, received]
        except Caught:
            received = yield "caught"


def sample() -> dict[str, int]:
    gc.collect()
    with open("/proc/self/status") as status:
        rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    figures = {
        "rss_kib": rss,
        "traced_kib": tracemalloc.get_traced_memory()[0] // 1024,
        "gc_objects": len(gc.get_objects()),
    }
    if hasattr(sys, "gettotalrefcount"):  # a debug build of Python
        figures["total_refs"] = sys.gettotalrefcount()
    return figures


def child(count: int, out: str) -> dict[str, Any]:
    import gentrace
    from gentrace.compiled import speedups

    tracemalloc.start()
    with open(os.devnull, "w") as devnull:
        tracer = gentrace.Tracer(keep=0) if out == "memory" else gentrace.Tracer(devnull, format=out, keep=0)
        traced = tracer.trace(gen)
        samples = {}
        done = 0
        for upto in (count // 5, count):
            for i in range(done, upto):
                g = traced(3)
                if i % 2:
                    for _ in g:
                        pass
                else:
                    next(g)
                    g.send("sent")
                    g.throw(Caught("thrown"))
                    g.close()
            del g
            done = upto
            samples[upto] = sample()
        tracer.close()
    return {"compiled": speedups is not None, "samples": samples}


# -- the parent ------------------------------------------------------------------------------------


def check_path(path: str, count: int, out: str) -> tuple[list[str], bool]:
    """One path's table row, and whether its memory stayed within the bounds."""
    command = [sys.executable, os.path.abspath(__file__), "--child", str(count), "--out", out]
    said = json.loads(run_child(command, env_of(path)).stdout)
    if said["compiled"] != (path == "compiled"):
        raise BenchmarkInvalid(f"the {path} child ran on the other path")
    first, last = (said["samples"][str(n)] for n in (count // 5, count))
    grew = {key: last[key] - first[key] for key in first}
    ok = grew["rss_kib"] <= RSS_BOUND_KIB and grew["traced_kib"] <= TRACED_BOUND_KIB
    row = [path, f"{count:,}"]
    for key in first:
        row.append(f"{first[key]:,} → {last[key]:,} ({grew[key]:+,})")
    row.append("yes" if ok else "NO")
    return row, ok


def valgrind_errors(stderr: str) -> tuple[list[str], int]:
    """valgrind's error contexts that are gentrace's, and the count of those that are CPython's.

    A CPython built without valgrind support reads uninitialised memory at start-up (the small
    ints, the frames of the import system): such an error is gentrace's only if one of its frames
    is in the compiled core. Every other kind (an invalid read, write or free) is counted.
    """
    blocks: list[list[str]] = [[]]
    for line in stderr.splitlines():
        text = re.sub(r"^==\d+== ?", "", line)
        if text.strip():
            blocks[-1].append(text)
        elif blocks[-1]:
            blocks.append([])
    errors = [b for b in blocks if any(line.lstrip().startswith("at 0x") for line in b)]
    ours = [
        b
        for b in errors
        if not b[0].startswith(("Conditional jump", "Use of uninitialised"))
        or any("_speedups" in line or "_render" in line for line in b)
    ]
    return ["\n".join(b) for b in ours], len(errors) - len(ours)


def valgrind(scenarios: int) -> bool:
    """The differential scenarios (generators, then async code) on the compiled path under
    valgrind; prints what it found."""
    tool = shutil.which("valgrind")
    if tool is None:
        print("\nvalgrind is not installed: not run")
        return False
    clean = True
    for name in ("differential_worker.py", "differential_async_worker.py"):
        worker = os.path.join(ROOT, "tests", name)
        env = {**env_of("compiled"), "PYTHONMALLOC": "malloc"}
        with tempfile.TemporaryDirectory(prefix="gentrace-valgrind-") as tmp:
            command = [
                tool,
                "--error-exitcode=1",
                "--leak-check=no",
                sys.executable,
                worker,
                "0",
                str(scenarios),
                tmp,
            ]
            print(f"\n$ PYTHONMALLOC=malloc {' '.join(command)}", flush=True)
            ran = subprocess.run(command, capture_output=True, text=True, env=env)
        ours, cpython = valgrind_errors(ran.stderr)
        run = ran.stdout.count("-- scenario")
        print(
            f"{run} of {scenarios} scenarios run; valgrind exit status {ran.returncode}; "
            f"{len(ours)} error contexts in gentrace, {cpython} in CPython's start-up (not gentrace's)"
        )
        for error in ours:
            print(f"\n{error}")
        clean = clean and not ours and run == scenarios
    return clean


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument(
        "--path", choices=["both", *PATHS], default="both", help="the path to check (default both)"
    )
    p.add_argument("--count", type=int, default=None, help="generators (default 1,000,000; --quick 20,000)")
    p.add_argument(
        "--out",
        choices=["memory", "jsonl", "text"],
        default="memory",
        help="also render every event to os.devnull as JSON Lines or the text log (default: memory, keep=0)",
    )
    p.add_argument("--quick", action="store_true", help="fewer generators and scenarios: a smoke check")
    p.add_argument(
        "--valgrind", action="store_true", help="also run the differential scenarios under valgrind"
    )
    p.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child is not None:
        print(json.dumps(child(args.child, args.out)))
        return 0
    count = args.count or (20_000 if args.quick else 1_000_000)
    if count < 5:
        p.error("--count must be at least 5")

    built = compiled_is_built()
    paths = list(PATHS) if args.path == "both" else [args.path]
    if not built and "compiled" in paths:
        print("the compiled module gentrace._speedups is not built: the pure-Python path only")
        paths.remove("compiled")
    head = ["path", "generators", "RSS KiB", "tracemalloc KiB", "gc objects"]
    if hasattr(sys, "gettotalrefcount"):  # a debug build of Python: the children are one too
        head.append("total refs")
    rows = []
    ok = True
    for path in paths:
        try:
            row, flat = check_path(path, count, args.out)
        except BenchmarkInvalid as exc:
            print(f"{path}: {exc}")
            ok = False
            continue
        ok = ok and flat
        rows.append(row)
    print(
        f"{count:,} traced generators (tracer output: {args.out}), sampled after {count // 5:,} and "
        f"after {count:,}; flat: RSS +{RSS_BOUND_KIB:,} KiB and tracemalloc +{TRACED_BOUND_KIB} KiB at most\n"
    )
    if rows:
        print(markdown([[*head, "flat?"], ["---", *["---:"] * (len(head) - 1), "---"], *rows]))
    if args.valgrind:
        if not built:
            print("\nvalgrind: the compiled path is not built, nothing to check")
        else:
            ok = valgrind(10 if args.quick else 50) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
