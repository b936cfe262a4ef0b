"""Peak memory of ``gentrace show`` on traces of 100k to 1M events: it should stay flat.

Each size is shown in a fresh subprocess (log to /dev/null) whose peak RSS (``ru_maxrss``) is
reported; the trace is synthetic: a generator driving a nested one, as ``yield from`` does, so
the reorder window and the held-back results are exercised.

    python benchmarks/show_memory.py            # 100k, 300k, 1M events
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

SIZES = [100_000, 300_000, 1_000_000]

CHILD = """
import resource, sys
from gentrace.cli import main
try:
    main(sys.argv[1:], standalone_mode=False)
except SystemExit:
    pass
sys.stderr.write(f"MAXRSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}\\n")
"""


def write_trace(path: str, events: int) -> None:
    """Pairs of events: an inner step (written first, as JSON Lines are) and its outer step."""
    with open(path, "w") as f:
        seq = 0
        while seq < events:
            outer, inner = seq + 1, seq + 2
            t = seq * 1e-6
            common = (
                '"state_before":"GEN_SUSPENDED","state_after":"GEN_SUSPENDED",'
                '"thread":"MainThread","task":null'
            )
            f.write(
                f'{{"seq":{inner},"gen":"inner#1","op":"next","arg":null,"outcome":"yield","value":"{seq}",'
                f'{common},"depth":1,"func":"m:inner","time":{t + 1e-7!r},"duration":1e-7,'
                f'"filename":"m.py","lineno":3}}\n'
                f'{{"seq":{outer},"gen":"outer#1","op":"next","arg":null,"outcome":"yield","value":"{seq}",'
                f'{common},"depth":0,"func":"m:outer","time":{t!r},"duration":3e-7,'
                f'"filename":"m.py","lineno":7}}\n'
            )
            seq += 2
        f.write(f'{{"note": "end", "events": {events}}}\n')


def peak_kib(path: str, *args: str) -> tuple[int, float]:
    start = time.perf_counter()
    with open(os.devnull, "w") as null:
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, "show", path, *args],
            stdout=null,
            stderr=subprocess.PIPE,
            text=True,
            check=True,
        )
    rss = int(proc.stderr.rsplit("MAXRSS ", 1)[1])
    return rss, time.perf_counter() - start


def main() -> None:
    print("| events | trace MB | show: peak RSS MiB | s | --summary: peak RSS MiB | s |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory() as tmp:
        for n in SIZES:
            path = os.path.join(tmp, f"t{n}.jsonl")
            write_trace(path, n)
            size = os.path.getsize(path) / 1e6
            rss, secs = peak_kib(path)
            srss, ssecs = peak_kib(path, "--summary")
            print(f"| {n:,} | {size:.0f} | {rss / 1024:.1f} | {secs:.1f} | {srss / 1024:.1f} | {ssecs:.1f} |")
            os.unlink(path)


if __name__ == "__main__":
    main()
