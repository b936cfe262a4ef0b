"""Iterators (``Tracer(iterators=True)``, ``gentrace run --iterators``): a recorded program behaves
as the program does untraced, and its iterators get names that say which object is which.

Each program is compiled from one source twice — as python compiles it, and rewritten by
`instrument_source` with iterators — and run in this process (the rewritten one under a recording
tracer); the two runs' output, exception (type, message, traceback) and calls of the program's own
``__iter__``/``__next__`` are compared, and the events say what the recording saw. Hypothesis runs
random loop shapes the same way; a few programs also run under ``gentrace run --iterators``.
"""

from __future__ import annotations

import collections
import contextlib
import io
import itertools
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import PROXY_FRAME_IN_TRACEBACKS, keeps_proxy_frame_on_310

import gentrace
from gentrace import proxy, tracing
from gentrace.instrument import instrument_source

FILENAME = "<program>"
GENTRACE_DIR = os.path.dirname(os.path.abspath(gentrace.__file__)) + os.sep
C_RECURSION_LIMIT = pytest.mark.xfail(
    sys.version_info[:2] == (3, 12),
    reason="3.12's C recursion limit, which no program can raise, counts a loop's recording step",
    strict=True,
)


# -- running a program both ways ------------------------------------------------------------------


def frames(exc: BaseException) -> list[tuple[str, int | None, str]]:
    """(file, line, function) of each frame of `exc`'s traceback — gentrace's left out on 3.10,
    where a bare ``raise`` keeps them (`test_tracebacks_have_no_gentrace_frames`)."""
    shown = [(f.filename, f.lineno, f.name) for f in traceback.extract_tb(exc.__traceback__)]
    if PROXY_FRAME_IN_TRACEBACKS:
        shown = [frame for frame in shown if not os.path.abspath(frame[0]).startswith(GENTRACE_DIR)]
    return shown


def summary(exc: BaseException | None) -> Any:
    """What a program sees of an exception: type, message, StopIteration's value, traceback, and
    the exceptions chained to it."""
    if exc is None:
        return None
    return (
        type(exc),
        str(exc),
        getattr(exc, "value", None) if isinstance(exc, StopIteration) else None,
        frames(exc),
        summary(exc.__cause__),
        summary(exc.__context__),
    )


@dataclass
class Run:
    """One run of a program: what it printed and raised, its namespace, and what was recorded."""

    stdout: str
    error: BaseException | None
    namespace: dict[str, Any]
    events: list[gentrace.Event] = field(default_factory=list)
    log: str = ""
    notes: str = ""  # what gentrace wrote on stderr (the programs here write nothing there)

    def seen(self) -> Any:
        """What the program saw, to compare with the other run: output, exception, calls."""
        return self.stdout, summary(self.error), self.namespace.get("CALLS")


def run(source: str, traced: bool, out: str | None = None, **names: Any) -> Run:
    """Run `source` as ``__main__``: rewritten and recorded (with a log in format `out`, if any)
    or as python runs it. `names` are set in its namespace."""
    namespace: dict[str, Any] = {"__name__": "__main__", **names}
    stdout, stderr, log = io.StringIO(), io.StringIO(), io.StringIO()
    tracer = gentrace.Tracer(out=log if out else None, format=out, iterators=True) if traced else None
    if tracer is None:
        code = compile(source, FILENAME, "exec", dont_inherit=True)
    else:
        code = instrument_source(source, FILENAME, "__main__", iterators=True)
    error = None
    with (
        contextlib.redirect_stdout(stdout),
        contextlib.redirect_stderr(stderr),
        contextlib.ExitStack() as stack,
    ):
        if tracer is not None:  # the tracer of every thread, as under gentrace run
            stack.callback(tracer.close)
            stack.callback(tracing.replace_default(tracer))
        try:
            exec(code, namespace)
        except BaseException as exc:  # the program's own exception, whatever it is
            error = exc
    events = [] if tracer is None else tracer.events
    return Run(stdout.getvalue(), error, namespace, events, log.getvalue(), stderr.getvalue())


def both(source: str, **names: Any) -> Run:
    """Run `source` untraced and traced; assert they saw the same; the traced run."""
    plain = run(source, False, **names)
    traced = run(source, True, **names)
    assert traced.seen() == plain.seen()
    assert traced.notes == plain.notes == ""
    return traced


def steps(events: list[gentrace.Event], name: str) -> list[tuple[Any, ...]]:
    """The iterator `name`'s events, as (op, outcome, value, whether a loop's own step)."""
    return [(e.op, e.outcome, e.value, e.loop) for e in events if e.gen == name]


def names(events: list[gentrace.Event], kind: str = "iterator") -> list[str]:
    """The names of the iterators (or generators) in `events`, in the order they first appear."""
    return list(dict.fromkeys(e.gen for e in events if e.kind == kind))


COUNTING = """\
CALLS = []

class Counting:
    '''An iterator over 1..n that notes each call of its methods in CALLS.'''

    def __init__(self, label, n, fail_at=-1, stop_value=None):
        self.label, self.n, self.fail_at, self.stop_value, self.i = label, n, fail_at, stop_value, 0

    def __iter__(self):
        CALLS.append(("iter", self.label))
        return self

    def __next__(self):
        CALLS.append(("next", self.label))
        if self.i == self.fail_at:
            raise ValueError(f"{self.label} fails at {self.i}")
        if self.i >= self.n:
            raise StopIteration(self.stop_value)
        self.i += 1
        return self.i
"""


# -- the iterator protocol, as untraced -----------------------------------------------------------


def test_iter_of_an_iterator_is_the_iterator_itself(tmp_path: Path) -> None:
    path = tmp_path / "lines.txt"
    path.write_text("one\n")
    traced = both(
        COUNTING
        + """
def gen():
    yield 1
items = [iter([1]), enumerate("ab"), Counting("c", 1), gen(), iter(range(2)), zip("a", "b")]
print([iter(x) is x for x in items])
with open(PATH) as f:
    print(iter(f) is f, next(iter(f)))
""",
        PATH=path,
    )
    assert traced.stdout == "[True, True, True, True, True, True]\nTrue one\n\n"
    iters = [e for e in traced.events if e.op == "iter" and e.arg == "x"]
    assert [e.value for e in iters] == [True] * 6  # "x is its own iterator"


MANY_SHAPES = (
    COUNTING
    + """
for a in Counting("for", 3):
    if a == 2:
        continue
    print("for", a)
else:
    print("else")
for a in Counting("break", 5):
    if a == 2:
        break
else:
    print("never")
print([a * 2 for a in Counting("listcomp", 2)], {a for a in Counting("setcomp", 2)})
print(sum(a for a in Counting("genexpr", 3)))
print(list(Counting("list()", 2)), dict(zip(Counting("zip", 2), "ab")))
it = Counting("next", 1)
print(next(it), next(it, "default"), next(it, None))
shared = iter(Counting("shared", 4))
for a in shared:
    for b in shared:
        print("pair", a, b)
        break
"""
)


def test_the_programs_own_iter_and_next_run_exactly_as_often_as_untraced() -> None:
    traced = both(MANY_SHAPES)
    calls = traced.namespace["CALLS"]
    assert [label for op, label in calls if op == "iter"] == [
        *("for", "break", "listcomp", "setcomp", "genexpr", "list()", "zip"),
        *("shared", "shared", "shared", "shared"),
    ]
    assert calls.count(("next", "for")) == 4 and calls.count(("next", "break")) == 2
    assert calls.count(("next", "next")) == 3 and calls.count(("next", "shared")) == 5
    # Each call made at a rewritten site is one event: all but those of list() and zip() (C code).
    counted = [e for e in traced.events if e.func.endswith(":Counting")]
    unseen = {"list()", "zip"}
    assert len([e for e in counted if e.op == "iter"]) == len(
        [c for c in calls if c[0] == "iter" and c[1] not in unseen]
    )
    assert len([e for e in counted if e.op == "next"]) == len(
        [c for c in calls if c[0] == "next" and c[1] not in unseen]
    )


def test_a_stopiteration_value_reaches_the_program_and_the_record() -> None:
    traced = both(
        COUNTING
        + """
it = Counting("it", 1, stop_value="the value")
for x in it:
    print(x)
print(next(it, "default"))
try:
    next(it)
except StopIteration as stop:
    print(repr(stop.value))
"""
    )
    assert traced.stdout == "1\ndefault\n'the value'\n"
    assert steps(traced.events, "Counting#1") == [
        ("iter", "created", True, False),
        ("next", "yield", 1, True),
        ("next", "return", "the value", True),
        ("next", "return", "default", False),  # what next(it, d) gave
        ("next", "return", "the value", False),
    ]


FAILING_NEXT = {
    "for": "for x in it:\n        pass",
    "list comprehension": "[x for x in it]",
    "generator expression": "sum(x for x in it)",
    "next": "next(it)",
    "next with a default": "next(it, None)",
    "iter then next": "next(iter(it))",
}


@pytest.mark.parametrize("shape", FAILING_NEXT)
def test_an_exception_from_next_reaches_the_program_as_untraced(shape: str) -> None:
    traced = both(
        COUNTING
        + f"""
def use(it):
    {FAILING_NEXT[shape]}
def main():
    use(Counting("c", 2, fail_at=0))
main()
"""
    )
    assert isinstance(traced.error, ValueError) and str(traced.error) == "c fails at 0"
    functions = [name for _, _, name in frames(traced.error)]
    assert functions[1:4] == ["<module>", "main", "use"] and functions[-1] == "__next__"
    failed = [e for e in traced.events if e.outcome == "raise" and e.func.endswith(":Counting")]
    assert [(e.op, e.value) for e in failed] == [("next", traced.error)]


@keeps_proxy_frame_on_310
@pytest.mark.parametrize("shape", FAILING_NEXT)
def test_tracebacks_have_no_gentrace_frames(shape: str) -> None:
    traced = run(
        COUNTING + f"def use(it):\n    {FAILING_NEXT[shape]}\nuse(Counting('c', 2, fail_at=0))\n", True
    )
    shown = [f.filename for f in traceback.extract_tb(traced.error.__traceback__)]
    assert not [name for name in shown if name.startswith(GENTRACE_DIR)], shown


def test_a_loop_whose_iterator_raises_lets_go_of_it_as_it_unwinds() -> None:
    # The traceback keeps the frame of the loop's recording step (it called f): the loop's
    # iterator, a map() over a generator, must not live on in it.
    traced = both(
        """
def gen():
    try:
        yield 1
    finally:
        print("gen closed")
def f(x):
    raise ValueError(x)
try:
    for y in map(f, gen()):
        pass
except ValueError as exc:
    print("caught", exc)
"""
    )
    assert traced.stdout == "gen closed\ncaught 1\n"


ASYNC_LOOP = """\
import asyncio
class Ticks:
    def __init__(self, n, fail=False):
        self.n, self.fail = n, fail
    def __aiter__(self):
        {aiter}
    async def __anext__(self):
        await asyncio.sleep(0)
        if self.fail:
            raise ValueError("anext fails")
        if self.n == 0:
            raise StopAsyncIteration
        self.n -= 1
        return self.n
async def main():
    print([t async for t in Ticks(2)])
    async for t in Ticks(3):
        if t == 1:
            continue
        print(t)
    else:
        print("else")
    async for t in Ticks(1, fail=True):
        pass
asyncio.run(main())
"""


@pytest.mark.parametrize(
    "aiter", ["return self", "return 5", "return iter([])", "raise KeyError('aiter fails')"]
)
def test_async_loops_behave_as_untraced(aiter: str) -> None:
    traced = both(ASYNC_LOOP.format(aiter=aiter))
    assert isinstance(traced.error, ValueError if aiter == "return self" else (TypeError, KeyError))
    if aiter == "return self":
        assert traced.stdout == "[1, 0]\n2\n0\nelse\n"
        assert names(traced.events) == ["Ticks#1", "Ticks#2", "Ticks#3"]
        assert [e.op for e in traced.events if e.gen == "Ticks#3"] == ["aiter", "anext", "leave"]


MUTATED = {
    "dict": ("d = {1: 1, 2: 2}", "for k in d:\n        d[k + 10] = k"),
    "set": ("s = {1, 2}", "for k in s:\n        s.add(k + 10)"),
    "dict comprehension": ("d = {1: 1}", "[d.setdefault(k + 10, k) for k in d]"),
    "dict keys view": ("d = {1: 1, 2: 2}", "for k in d.keys():\n        del d[k]"),
    "list (grows, no error)": ("s = [1]", "for k in s:\n        if k < 4: s.append(k + 1)\n    print(s)"),
    "deque": ("import collections\n    s = collections.deque([1, 2])", "for k in s:\n        s.append(k)"),
}


@pytest.mark.parametrize("shape", MUTATED)
def test_a_container_changed_while_iterated_fails_as_untraced(shape: str) -> None:
    made, loop = MUTATED[shape]
    traced = both(f"def main():\n    {made}\n    {loop}\nmain()\n")
    # The same message, from the program's line (`both`), and recorded as the loop's step.
    assert (traced.error is None) == (shape == "list (grows, no error)")
    raised = [e.value for e in traced.events if e.outcome == "raise"]
    assert raised == ([traced.error] if traced.error else [])


def test_an_infinite_iterator_under_islice_and_break() -> None:
    traced = both(
        """
import itertools
print(list(itertools.islice(itertools.count(5), 3)))
for n in itertools.count():
    if n == 3:
        break
for n in itertools.islice(itertools.cycle("ab"), 3):
    print(n)
print(next(itertools.repeat("r")))
"""
    )
    assert traced.stdout == "[5, 6, 7]\na\nb\na\nr\n"
    assert names(traced.events) == ["count#1", "islice#1", "repeat#1"]
    assert steps(traced.events, "count#1")[-1] == ("leave", "left", None, False)


READS_A_FILE = """\
import sys
with open(PATH) as f:
    print(iter(f) is f, next(f).rstrip())
    for n, line in enumerate(f, 1):
        if n == 2:
            continue
        print(n, line.rstrip())
        if line.startswith("stop"):
            break
    print(repr(f.readline()))
    print(sum(1 for _ in f), next(f, "end"))
print(f.closed)
next(f, "closed")
"""


def test_a_file_read_line_by_line(tmp_path: Path) -> None:
    path = tmp_path / "lines.txt"
    path.write_text("header\none\ntwo\nstop here\nafter\nlast\n")
    traced = both(READS_A_FILE, PATH=path)
    assert traced.stdout == "True header\n1 one\n3 stop here\n'after\\n'\n1 end\nTrue\n"
    assert isinstance(traced.error, ValueError) and str(traced.error) == "I/O operation on closed file."
    file_steps = [s for s in steps(traced.events, "TextIOWrapper#1") if s[0] == "next"]
    assert file_steps[0] == ("next", "yield", "header\n", False)
    assert file_steps[-1][:2] == ("next", "raise")


# -- bad input and edges --------------------------------------------------------------------------

BAD_ITER = """\
class Bad:
    def __iter__(self):
        return 5
def main():
    {use}
main()
"""


@pytest.mark.parametrize(
    "use",
    [
        "for x in Bad():\n        pass",
        "iter(Bad())",
        "[x for x in Bad()]",
        "(x for x in Bad())",
        "for x in 5:\n        pass",
        "iter(5)",
        "next(5)",
        "next([1])",
        "next([1], None)",
        "iter(5, None)",
        "iter(len, 1, 2)",
    ],
)
def test_bad_input_raises_cpythons_error(use: str) -> None:
    traced = both(BAD_ITER.format(use=use))
    assert isinstance(traced.error, TypeError)
    assert [name for _, _, name in frames(traced.error)][-2:] == ["<module>", "main"]


def test_iter_of_a_callable_and_a_sentinel() -> None:
    traced = both(
        """
left = [0, 1, 2, 3]
for n in iter(left.pop, 1):
    print(n)
it = iter(left.pop, "never")
print(next(it), next(it, "default"))
"""
    )
    assert traced.stdout == "3\n2\n"
    assert isinstance(traced.error, IndexError)  # from pop(): next(it, d) lets it through
    assert names(traced.events) == ["callable_iterator#1", "callable_iterator#2"]
    assert steps(traced.events, "callable_iterator#1")[0] == ("iter", "created", False, False)


def test_iterators_that_cannot_be_weakly_referenced_keep_their_names() -> None:
    traced = both(
        """
import weakref
nums = [1, 2]
for n in nums:
    pass
for n in nums:
    pass
pairs = enumerate("ab")
for i, c in pairs:
    break
for i, c in pairs:
    pass
for k in range(2):
    print(next(zip("xy", "zw")))
try:
    weakref.ref(iter(nums))
except TypeError as exc:
    print(exc)
"""
    )
    assert traced.stdout.endswith("cannot create weak reference to 'list_iterator' object\n")
    assert names(traced.events) == [
        *("list_iterator#1", "list_iterator#2", "enumerate#1", "range_iterator#1", "zip#1", "zip#2"),
        "list_iterator#3",
    ]
    iter_events = [e for e in traced.events if e.gen == "enumerate#1" and e.op == "iter"]
    assert [e.state_before for e in iter_events] == [None, "ITER_ACTIVE"]  # "the same enumerate#1 again"


DEEP = """\
class Deep:
    def __init__(self, n):
        self.n, self.done = n, False
    def __iter__(self):
        return self
    def __next__(self):
        if self.done:
            raise StopIteration
        self.done = True
        if self.n == 0:
            return 0
"""
RECURSE = {  # the end of Deep.__next__: its recursion `n` levels down, by each way of iterating
    "for": "        for x in Deep(self.n - 1):\n            return x\n",
    "next": "        return next(Deep(self.n - 1))\n",
    "next with a default": "        return next(Deep(self.n - 1), None)\n",
    "list comprehension": "        return [x for x in Deep(self.n - 1)]\n",
}


def deepest(make: Callable[[int], Any]) -> int:
    """The deepest recursion through ``next(make(n))`` that does not end in RecursionError."""
    lo, hi = 1, 3 * sys.getrecursionlimit()
    while lo < hi:
        mid = (lo + hi + 1) // 2
        try:
            next(make(mid))
            lo = mid
        except RecursionError:
            hi = mid - 1
    return lo


@pytest.mark.parametrize(
    "shape",
    [
        pytest.param("for", marks=C_RECURSION_LIMIT),
        "next",
        "next with a default",
        pytest.param("list comprehension", marks=C_RECURSION_LIMIT),
    ],
)
@pytest.mark.parametrize("out", [None, "text"])
def test_recursion_through_next_goes_as_deep_as_untraced(shape: str, out: str | None) -> None:
    source = DEEP + RECURSE[shape]
    limit = sys.getrecursionlimit()
    untraced = run(source, False).namespace["Deep"]
    plain = deepest(untraced)
    namespace: dict[str, Any] = {}
    with gentrace.Tracer(out=io.StringIO() if out else None, iterators=True, keep=0):
        exec(instrument_source(source, FILENAME, "__main__", iterators=True), namespace)
        traced = deepest(namespace["Deep"])
    assert plain <= traced <= plain + proxy.ROOM
    assert sys.getrecursionlimit() == limit


ENDLESS = """\
deepest = 0
class Deep:
    def __init__(self, n):
        self.n = n
    def __iter__(self):
        return self
    def __next__(self):
        global deepest
        deepest = max(deepest, self.n)
        {recurse}
try:
    next(Deep(0))
except RecursionError as exc:
    print(type(exc).__name__, exc.__context__, exc.__cause__)
"""


@pytest.mark.parametrize(
    "recurse",
    [
        pytest.param("for x in Deep(self.n + 1):\n            return x", marks=C_RECURSION_LIMIT),
        "return next(Deep(self.n + 1))",
        "return next(Deep(self.n + 1), None)",
    ],
)
@pytest.mark.parametrize("out", [None, "text"])
def test_endless_recursion_through_next_ends_as_untraced(recurse: str, out: str | None) -> None:
    # The RecursionError may come a few frames sooner or later, as for traced generators; it is
    # Python's own, and the recursion limit is as it was.
    limit = sys.getrecursionlimit()
    source = ENDLESS.format(recurse=recurse)
    plain = run(source, False)
    traced = run(source, True, out=out)
    assert traced.stdout == plain.stdout == "RecursionError None None\n"
    assert traced.namespace["deepest"] >= plain.namespace["deepest"] - proxy.ROOM
    assert sys.getrecursionlimit() == limit
    assert traced.notes == ""


SHARED_BY_THREADS = (
    COUNTING
    + """
import sys
import threading

class Locked(Counting):
    lock = threading.Lock()
    def __next__(self):
        with self.lock:
            return super().__next__()

def consume(source, into):
    for item in source:
        into.append(item)

def share(source):
    got = [[] for _ in range(4)]
    threads = [threading.Thread(target=consume, args=(source, mine)) for mine in got]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(item for mine in got for item in mine)

interval = sys.getswitchinterval()
sys.setswitchinterval(1e-6)
try:
    print(share(iter(range(500))) == list(range(500)))
    print(share(Locked("locked", 300)) == list(range(1, 301)))
finally:
    sys.setswitchinterval(interval)
CALLS.sort()  # in whatever order the threads made them
"""
)


def test_threads_sharing_one_iterator() -> None:
    traced = both(SHARED_BY_THREADS)
    assert traced.stdout == "True\nTrue\n"
    assert traced.namespace["CALLS"].count(("next", "locked")) == 304  # each thread's loop ends once
    for name, items in [("range_iterator#1", 500), ("Locked#1", 300)]:
        nexts = [e for e in traced.events if e.gen == name and e.op == "next"]
        assert len(nexts) == items + 4
        first = 0 if name.startswith("range") else 1
        assert sorted(e.value for e in nexts if e.outcome == "yield") == list(range(first, first + items))
        assert len({e.thread for e in nexts if e.outcome == "return"}) == 4  # each thread's loop ends


ONE_NEW_ITERATOR_PER_ROUND = """\
import sys
import threading

class Once:
    def __iter__(self):
        return self
    def __next__(self):
        raise StopIteration

objects = [Once() for _ in range(100)]
start = threading.Barrier(16)

def loop_over_each():
    for obj in objects:
        start.wait()  # the 16 threads meet each new iterator at once
        for _ in obj:
            pass

interval = sys.getswitchinterval()
sys.setswitchinterval(1e-6)
try:
    threads = [threading.Thread(target=loop_over_each) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
finally:
    sys.setswitchinterval(interval)
"""


def test_threads_meeting_a_new_iterator_at_once_give_it_one_name() -> None:
    # Before naming took a lock, two threads could both find an iterator unnamed and name it twice
    # (Once#1 and Once#2 for one object): most runs of this program did.
    traced = both(ONE_NEW_ITERATOR_PER_ROUND)
    names = [e.gen for e in traced.events if e.op == "iter" and e.gen.startswith("Once#")]
    assert collections.Counter(names) == {f"Once#{n}": 16 for n in range(1, 101)}


# -- names ----------------------------------------------------------------------------------------


def test_the_same_object_keeps_its_name_and_two_objects_never_share_one() -> None:
    traced = both(
        """
def fib(n):
    a, b = 0, 1
    for _ in range(n):
        yield a
        a, b = b, a + b
class Ticket:
    def __init__(self):
        self.used = False
    def __iter__(self):
        return self
    def __next__(self):
        if self.used:
            raise StopIteration
        self.used = True
        return 1
f = fib(3)
print(next(f))
for x in f:
    pass
ids = []
for _ in range(4):
    t = Ticket()
    ids.append(id(t))
    for x in t:
        pass
    del t
for _ in range(3):
    it = iter([1])
    next(it)
    del it
print(len(set(ids)) < len(ids))  # CPython gave a dead Ticket's id to a new one
"""
    )
    assert traced.stdout == "0\nTrue\n"
    assert names(traced.events, "generator") == ["fib#1"]
    assert {e.gen for e in traced.events if e.op == "iter" and e.arg == "f"} == {"fib#1"}
    tickets = [e.gen for e in traced.events if e.op == "iter" and e.arg == "t"]
    assert tickets == ["Ticket#1", "Ticket#2", "Ticket#3", "Ticket#4"]
    lists = [e.gen for e in traced.events if e.op == "iter" and e.arg == "[1]"]
    assert lists == ["list_iterator#1", "list_iterator#2", "list_iterator#3"]


SHORT_LIVED = {
    "loops": "for i in range(N):\n    for j in [i]:\n        pass",
    "next of an iter": "for i in range(N):\n    it = iter([i])\n    next(it)",
    "next of a loop's iterator": "for i in range(N):\n    e = enumerate([i])\n    for x in e:\n        break",
    "objects of a class": COUNTING + "for i in range(N):\n    for j in Counting('c', 1):\n        pass",
    "comprehensions": "for i in range(N):\n    [x for x in enumerate([i])]",
    "generator expressions": "for i in range(N):\n    sum(x for x in (i, 1))",
}


@pytest.mark.parametrize("shape", SHORT_LIVED)
def test_the_name_table_stays_as_large_as_what_lives(shape: str) -> None:
    code = instrument_source(SHORT_LIVED[shape], FILENAME, "__main__", iterators=True)
    sizes = []
    with gentrace.Tracer(iterators=True, keep=0) as tracer:
        assert tracer.iterators is not None
        for n in (1000, 4000):
            exec(code, {"__name__": "__main__", "N": n})
            sizes.append(len(tracer.iterators))
    assert max(sizes) <= 4, sizes


def test_the_name_table_holds_what_the_program_keeps() -> None:
    source = """\
for i in range(N):
    e = enumerate([i])
    next(e)
    if i % 100 == 0:
        keep.append(e)
"""
    code = instrument_source(source, FILENAME, "__main__", iterators=True)
    with gentrace.Tracer(iterators=True, keep=0) as tracer:
        assert tracer.iterators is not None
        keep: list[Any] = []
        exec(code, {"__name__": "__main__", "N": 4000, "keep": keep})
        assert len(keep) <= len(tracer.iterators) <= 2 * len(keep) + 2


def test_letting_go_of_names_survives_the_finalizers_it_runs() -> None:
    # The sweep frees a suspended generator, whose loop's end (its finalizer) lets go of another
    # entry of the table while the sweep goes through it.
    traced = both(
        """\
def gen(xs):
    for x in xs:
        yield x

g = gen([1, 2])
outer = iter([g])
next(g)
del g, outer
for _ in range(4):
    iter([])
print("ok")
"""
    )
    assert traced.stdout == "ok\n"
    assert ("leave", "left", None, False) in steps(traced.events, "list_iterator#2")


@pytest.mark.xfail(
    reason="an iterator that cannot be weakly referenced lives on in the name table until a sweep",
    strict=True,
)
def test_a_builtin_iterator_dies_when_the_program_lets_go_of_it() -> None:
    both(
        """
def gen():
    try:
        yield 1
    finally:
        print("closed")
m = map(str, gen())
print(next(m))
del m
print("after")
"""
    )


# -- random loop shapes, traced and untraced ------------------------------------------------------

PRELUDE = (
    COUNTING
    + """
import itertools

def gen(n):
    for i in range(n):
        yield i * 10
    return "done"
"""
)

SOURCES = [
    "range({k})",
    "[{k}, {j}]",
    "Counting('{label}', {k})",
    "Counting('{label}', {k}, fail_at={j})",
    "Counting('{label}', {k}, stop_value='{label}')",
    "gen({k})",
    "enumerate(range({k}))",
    "zip(range({k}), 'abc')",
    "iter([0, 5, 6].pop, 0)",
    "itertools.islice(itertools.count({k}), {j})",
    "(w * 2 for w in range({k}))",
    "SHARED[{j}]",
]
SHARED = [
    "iter(Counting('s0', 4))",
    "iter(range(5))",
    "(w + 1 for w in Counting('s2', 3))",
    "gen(4)",
    "enumerate('abcd')",
]


@st.composite
def programs(draw: st.DrawFn) -> str:
    """A program of nested loops, comprehensions, generator expressions and next() calls, over
    builtin iterators, generators and `Counting` objects, with break, continue, else and return."""
    labels = itertools.count()

    def source() -> str:
        template = draw(st.sampled_from(SOURCES))
        k, j = draw(st.integers(0, 3)), draw(st.integers(0, 4))
        return template.format(k=k, j=j, label=next(labels))

    def condition(var: str) -> str:
        return f"sum(map(ord, repr({var}))) % {draw(st.integers(2, 4))} == 0"

    def block(depth: int, indent: str, loops: list[str]) -> list[str]:
        lines: list[str] = []
        for _ in range(draw(st.integers(1, 3))):
            kind = draw(
                st.sampled_from(
                    ["print", "for", "for", "comprehension", "genexpr", "next", "next!", "try", "jump"]
                )
            )
            var = f"v{depth}"
            if kind == "for" and depth < 3:
                iterable = source() if draw(st.booleans()) else f"SHARED[{draw(st.integers(0, 4))}]"
                lines.append(f"{indent}for {var} in {iterable}:")
                lines += block(depth + 1, indent + "    ", [*loops, var])
                if draw(st.booleans()):
                    lines.append(f"{indent}else:")
                    lines.append(f"{indent}    print('else', {var!r})")
            elif kind == "comprehension":
                element = draw(st.sampled_from(["w", "(w, next(SHARED[1], -1))", "[x for x in range(2)]"]))
                opening, closing = "[]" if element.startswith("[") else draw(st.sampled_from(["[]", "{}"]))
                lines.append(f"{indent}print({opening}{element} for w in {source()}{closing})")
            elif kind == "genexpr":
                consumer = draw(st.sampled_from(["sum", "list", "next", "any"]))
                element = "1" if consumer == "sum" else draw(st.sampled_from(["w", "next(SHARED[3], 0)"]))
                lines.append(f"{indent}print({consumer}({element} for w in {source()}))")
            elif kind == "next":
                lines.append(f"{indent}print(next(SHARED[{draw(st.integers(0, 4))}], 'default'))")
            elif kind == "next!":
                lines.append(f"{indent}print(next(SHARED[{draw(st.integers(0, 4))}]))")
            elif kind == "try" and depth < 3:
                lines.append(f"{indent}try:")
                lines += block(depth + 1, indent + "    ", loops)
                lines.append(f"{indent}except (ValueError, StopIteration) as exc:")
                lines.append(f"{indent}    print('caught', repr(exc))")
            elif kind == "jump" and loops:
                jump = draw(st.sampled_from(["break", "continue", "return"]))
                lines.append(f"{indent}if {condition(draw(st.sampled_from(loops)))}:")
                lines.append(f"{indent}    {jump}")
            else:
                lines.append(f"{indent}print({', '.join(loops) or repr(depth)})")
        return lines

    body = block(0, "    ", [])
    shared = ", ".join(SHARED)
    return "\n".join([PRELUDE, f"SHARED = [{shared}]", "def main():", *body, "main()", ""])


@settings(max_examples=150)
@given(program=programs(), out=st.sampled_from([None, "text", "jsonl"]))
def test_random_loop_shapes_behave_as_untraced(program: str, out: str | None) -> None:
    plain = run(program, False)
    traced = run(program, True, out=out)
    assert traced.seen() == plain.seen()
    assert traced.notes == ""  # gentrace's own faults would be noted on stderr
    # Each call of a Counting object's methods was made at a rewritten site: one event each.
    calls = traced.namespace["CALLS"]
    counted = [e for e in traced.events if e.func.endswith(":Counting")]
    for op in ("iter", "next"):
        assert len([e for e in counted if e.op == op]) == len([c for c in calls if c[0] == op])
    raised = [e for e in counted if e.outcome == "raise"]
    assert all(isinstance(e.value, ValueError) for e in raised)
    if out == "jsonl":  # a line for each event, and the end note that counts them
        lines = [json.loads(line) for line in traced.log.splitlines()]
        assert lines[-1] == {"note": "end", "events": len(traced.events)}
        assert sorted(line["seq"] for line in lines[:-1]) == [e.seq for e in traced.events]
    elif out == "text":
        assert traced.log.count(">>> ") >= len([e for e in traced.events if e.op in ("iter", "next")])


# -- gentrace run --iterators ---------------------------------------------------------------------

GENTRACE = shutil.which("gentrace", path=sysconfig.get_path("scripts")) or shutil.which("gentrace")
TIMEOUT = 30  # seconds


def subprocess_run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "PYTHONWARNINGS")}
    env.update(PYTHONIOENCODING="utf-8", PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run(
        command,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        encoding="utf-8",
        timeout=TIMEOUT,
    )


CRASHES = (
    COUNTING
    + """
def rows():
    yield from ({"n": n} for n in range(3))

def main():
    totals = {}
    for row in rows():
        for key in totals or {"n": 0}:
            totals[key] = totals.get(key, 0) + row[key]
    print(totals, next(iter(totals.values())))
    for value in Counting("c", 5, fail_at=2):
        print(value)

main()
"""
)


@pytest.mark.parametrize(
    "script",
    [
        pytest.param(("crashes.py", CRASHES, []), id="a crash"),
        pytest.param(("reads.py", READS_A_FILE.replace("PATH", "sys.argv[1]"), ["lines.txt"]), id="a file"),
    ],
)
def test_gentrace_run_iterators_prints_and_exits_as_python(
    tmp_path: Path, script: tuple[str, str, list[str]]
) -> None:
    name, source, args = script
    (tmp_path / name).write_text(source)
    (tmp_path / "lines.txt").write_text("header\none\ntwo\nstop here\nafter\n")
    plain = subprocess_run([sys.executable, name, *args], tmp_path)
    quiet = subprocess_run([str(GENTRACE), "run", "--iterators", "-q", name, *args], tmp_path)
    logged = subprocess_run([str(GENTRACE), "run", "--iterators", name, *args], tmp_path)
    assert plain.returncode == quiet.returncode == logged.returncode == 1
    assert quiet.stdout == logged.stdout == plain.stdout
    assert quiet.stderr == plain.stderr  # Python's own traceback, no frame of gentrace
    assert logged.stderr.endswith(plain.stderr)
    assert ">>> " in logged.stderr and "next(" in logged.stderr


def test_gentrace_run_iterators_can_instrument_the_modules_it_uses(tmp_path: Path) -> None:
    # 3.14's ast.unparse, which the rewrite calls, imports its module when first called: here,
    # by the program, with --include '*' instrumenting every module it imports.
    (tmp_path / "unparse.py").write_text('import ast\nprint(ast.unparse(ast.parse("x  =  [1,2]")))\n')
    plain = subprocess_run([sys.executable, "unparse.py"], tmp_path)
    traced = subprocess_run(
        [str(GENTRACE), "run", "--iterators", "-q", "--include", "*", "unparse.py"], tmp_path
    )
    assert (traced.returncode, traced.stdout) == (plain.returncode, plain.stdout) == (0, "x = [1, 2]\n")


def test_a_loop_over_a_traced_generator_says_where_and_that_it_is_used_again() -> None:
    traced = run(
        """\
def fib(n):
    a, b = 0, 1
    for _ in range(n):
        yield a
        a, b = b, a + b

f = fib(3)
for x in f:
    break
for x in f:
    print(x)
""",
        True,
        out="text",
    )
    assert traced.stdout == "1\n1\n"
    lines = [line for line in traced.log.splitlines() if line.startswith(">>> fib#1 = iter(f)")]
    assert lines == [
        f">>> fib#1 = iter(f)  # {FILENAME}:8 · its own iterator",
        f">>> fib#1 = iter(f)  # {FILENAME}:10 · its own iterator: the same fib#1 again",
    ]
