"""The event-loop sample's two tasks, written with async/await and run by asyncio.

Task 1 is done once 8 ticks have passed since it started.  Task 2 is done
once 12 ticks have passed *and* it has heard (through an asyncio.Event)
that task 1 is done.  Run one after the other that is 20 ticks; interleaved
by asyncio's loop it takes about 12 — as with the hand-made loop in
samples/event_loop.py, whose log this one's can be compared with.

Run it with ``gentrace run samples/asyncio_loop.py`` to see ``task_one#1``
and ``task_two#1`` resumed by the loop (``send(None)``), each yielding the
future it waits on, and returning when done.
"""

import argparse
import asyncio
import time

TASK_ONE_TICKS = 8
TASK_TWO_TICKS = 12


async def task_one(tick, done):
    start = time.monotonic()
    while time.monotonic() - start < TASK_ONE_TICKS * tick:
        await asyncio.sleep(tick)  # pause; the loop resumes us later
    done.set()
    return f"task 1: done after {TASK_ONE_TICKS} ticks"


async def task_two(tick, done):
    start = time.monotonic()
    print("task 2: working, waiting to hear from task 1")
    await done.wait()
    print("task 2: working, told that task 1 is done")
    while time.monotonic() - start < TASK_TWO_TICKS * tick:
        await asyncio.sleep(tick)
    return f"task 2: done after {TASK_TWO_TICKS} ticks"


async def main(tick):
    done = asyncio.Event()
    print("task 1: working")
    one = asyncio.create_task(task_one(tick, done), name="task 1")
    two = asyncio.create_task(task_two(tick, done), name="task 2")
    print(await one)
    print(await two)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Two tasks on asyncio's event loop.")
    parser.add_argument("--tick", type=float, default=0.25, help="seconds")
    tick = parser.parse_args().tick
    start = time.monotonic()
    asyncio.run(main(tick))
    elapsed = time.monotonic() - start
    print(
        f"finished in {elapsed:.2f} s ({elapsed / tick:.1f} ticks); "
        f"one after the other would take {TASK_ONE_TICKS + TASK_TWO_TICKS} ticks"
    )
