"""Single-threaded concurrency by hand: a tiny round-robin event loop.

Task 1 is done once 8 ticks have passed since it started.  Task 2 is done
once 12 ticks have passed *and* it has been told (with send(True)) that
task 1 is done.  Run one after the other that is 20 ticks; interleaved
in one thread it takes about 12.

Run it with ``gentrace run samples/event_loop.py`` to see ``task_one#1``
and ``task_two#1`` take turns: every resumption, the send(True) that
tells task 2 about task 1, and each task returning when it is done.
"""

import argparse
import time

TASK_ONE_TICKS = 8
TASK_TWO_TICKS = 12


def task_one(tick):
    start = time.monotonic()
    while time.monotonic() - start < TASK_ONE_TICKS * tick:
        yield "task 1: working"  # pause; the loop resumes us later
    return f"task 1: done after {TASK_ONE_TICKS} ticks"  # StopIteration


def task_two(tick):
    start = time.monotonic()
    # send(True) means "task 1 is done"; next()/send(None) means "not yet".
    while not (yield "task 2: working, waiting to hear from task 1"):
        pass
    # Told: yield at least once more, then finish once 12 ticks have passed.
    while True:
        yield "task 2: working, told that task 1 is done"
        if time.monotonic() - start >= TASK_TWO_TICKS * tick:
            return f"task 2: done after {TASK_TWO_TICKS} ticks"


def main():
    parser = argparse.ArgumentParser(description="A tiny round-robin event loop.")
    parser.add_argument("--tick", type=float, default=0.25, help="seconds")
    tick = parser.parse_args().tick

    start = time.monotonic()
    tasks = {"task 1": task_one(tick), "task 2": task_two(tick)}
    last = {}  # last status printed per task
    tell_task_two = False  # set when task 1 finishes
    while tasks:
        for name, task in list(tasks.items()):
            message = None
            if name == "task 2" and tell_task_two:
                message, tell_task_two = True, False
            try:
                status = task.send(message)  # send(None) is like next()
            except StopIteration as stop:  # the task returned: it is done
                status = stop.value
                del tasks[name]
                tell_task_two = name == "task 1"
            # Print only changes: how many "working" turns a task gets
            # depends on timing, but the order of changes does not.
            if status != last.get(name):
                print(status)
                last[name] = status
        if tasks:
            time.sleep(tick)  # the only waiting happens here, in the loop

    elapsed = time.monotonic() - start
    print(
        f"finished in {elapsed:.2f} s ({elapsed / tick:.1f} ticks); "
        f"one after the other would take {TASK_ONE_TICKS + TASK_TWO_TICKS} ticks"
    )


if __name__ == "__main__":
    main()
