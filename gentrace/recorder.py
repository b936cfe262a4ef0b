"""The recorder: sequence numbers, instance names, nesting depth, time, tasks, and the sinks' feed.

It is the one place that knows what a traced step must cost. The proxy reads a few of its
attributes per step (`counter`, `limit`, `clock`, `tasks`, `starting`, `start`, `emit`); everything
else — naming, the live-instance registry, closing — happens off the hot path. No lock is taken per step:
`itertools.count` and `list.append` are atomic, and a `collect` recorded from a finalizer (which can
run at any allocation, even inside a sink) never meets a non-reentrant lock.
"""

from __future__ import annotations

import inspect
import itertools
import sys
import threading
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from threading import get_ident
from types import CodeType, CoroutineType, GeneratorType
from typing import TYPE_CHECKING, Any

from gentrace.compiled import clock as default_clock
from gentrace.compiled import speedups
from gentrace.names import clean_qualname, display_name
from gentrace.records import (
    CLOSED,
    CLOSED_STATES,
    COLLECT,
    COLLECTED,
    CREATE,
    CREATED,
    GEN_CREATED,
    NAME,
    RECORD_SIZE,
    Ending,
    Info,
    Record,
    Sink,
    Unfinished,
    make_info,
)

Clock = Callable[[], int]

NAMING_CACHE = 4096
"""Traced functions whose instances' names are remembered (a program may make functions anew)."""


def new_thread_state() -> list[Any]:
    """A thread's ``[depth, name]``: traced steps running on it, and its name."""
    return [0, threading.current_thread().name]


class _ThreadState(threading.local):
    """Per thread, `s`: `new_thread_state()`. The compiled core keeps it on the thread state instead."""

    def __init__(self) -> None:
        self.s: list[Any] = new_thread_state()


thread_state: Any = _ThreadState() if speedups is None else speedups.ThreadState()


# 3.14's C tasks keep the running task on the thread state, no longer in asyncio's table: a
# one-entry marker stands for the table there, so that every step asks `task_of`.
_ON_THREAD_STATE: dict[Any, Any] = {"tasks": "on the thread state"}


def running_tasks() -> dict[Any, Any] | None:
    """asyncio's table of each loop's running task once asyncio is imported (no task runs before).

    Empty while no task is running anywhere, so a step outside asyncio pays one truth test.
    """
    asyncio = sys.modules.get("asyncio")
    if asyncio is None:
        return None
    if sys.version_info >= (3, 14):
        return _ON_THREAD_STATE
    return getattr(asyncio.tasks, "_current_tasks", None)


def task_of(tasks: dict[Any, Any]) -> str | None:
    """The name of the task running on this thread, from asyncio's (non-empty) table of them."""
    if tasks is _ON_THREAD_STATE:
        asyncio = sys.modules["asyncio"]
        loop = asyncio.events._get_running_loop()
        task = None if loop is None else asyncio.tasks.current_task(loop)
        return None if task is None else task.get_name()
    if len(tasks) == 1:  # the common case; 3.11's _get_running_loop() makes a getpid() syscall
        ((loop, task),) = tasks.items()
        try:
            thread = loop._thread_id  # asyncio's own loops have it
        except AttributeError:
            pass
        else:
            return task.get_name() if thread == get_ident() else None
    loop = sys.modules["asyncio"].events._get_running_loop()
    task = None if loop is None else tasks.get(loop)
    return None if task is None else task.get_name()


class InstanceRef(weakref.ref):  # type: ignore[type-arg]
    """A weak reference to a traced generator, carrying the instance's info and current state.

    The state lives here rather than on the proxy so that a `collect` callback still knows it
    when a garbage cycle has already cleared the proxy.
    """

    __slots__ = ("info", "state")

    info: Info
    state: str


def _qualname(func: Callable[..., Any] | GeneratorType[Any, Any, Any]) -> str:
    qualname = getattr(func, "__qualname__", None) or getattr(func, "__name__", "gen")
    return clean_qualname(str(qualname))


class Recorder(object if TYPE_CHECKING or speedups is None else speedups.RecorderCore):  # type: ignore[misc]
    """Turns operations into records and feeds them to memory and the sinks.

    With the compiled core, the fields a step reads (`counter`, `limit`, `latest`, `clock`, `tasks`,
    `starting`, `emit`) are its `RecorderCore`'s, which the compiled steps read without a lookup.
    """

    def __init__(
        self,
        sinks: Iterable[Sink] = (),
        keep: int | None = None,
        max_events: int | None = None,
        clock: Clock = default_clock,
    ) -> None:
        self.sinks = list(sinks)
        self.clock = clock
        self.origin = clock()
        if type(self.origin) is not int or not -(2**63) <= self.origin < 2**63:
            raise ValueError(f"clock() must give integer nanoseconds (64 bits), got {self.origin!r}")
        self.counter = itertools.count(1) if speedups is None else speedups.Counter(1)
        # The seq of the latest operation started: an operation's record says which one it ended
        # after, so a trace read back writes its lines in the order the live log did.
        self.latest = 0
        self.max_events = max_events
        self.limit = sys.maxsize if max_events is None else min(max_events, sys.maxsize)
        # Which task runs a step is looked up only while some task runs; the table is found once
        # asyncio is imported, checked again at every new instance (imports come before loops).
        self.tasks = running_tasks()
        self.memory: list[Any] | deque[Record] | Any | None
        if keep is None:
            # Flat (RECORD_SIZE items per record), or the compiled twin: records as C structs.
            self.memory = [] if speedups is None else speedups.Memory()
        elif keep == 0:
            self.memory = None
        else:
            self.memory = deque(maxlen=keep)
        self.starters = [s for s in self.sinks if s.wants_start]
        self.starting = bool(self.starters)
        # Records a sink could not take for want of stack room (the program's deep recursion left
        # none: the sink's frames are gentrace's), written in order at the next chance.
        self._deferred: list[tuple[Callable[[Record], Any], Record]] = []
        self.emit: Callable[[Record], Any] = self._make_emit()
        self.start: Callable[[Record], Any] = self._make_start()
        self.closed = False
        # One bound method for every instance's weak reference (compiled: `collected`, its twin).
        self._on_collect = self._collected if speedups is None else self.collected
        self._numbers: dict[str, Iterator[int]] = {}  # per base name: the next N of NAME#N
        self._naming: dict[tuple[Callable[..., Any] | None, str | None], tuple[str, str, Iterator[int]]] = {}
        self._lock = threading.RLock()
        self._refs: dict[InstanceRef, None] = {}  # insertion-ordered: creation order
        self.by_name: dict[str, InstanceRef] = {}  # live instances by name
        self._cut_noted = False
        self._failed = False

    # -- the feed -------------------------------------------------------------------------------

    def add_sink(self, sink: Sink) -> None:
        """Feed `sink` too, from the next operation on."""
        self.sinks.append(sink)
        if sink.wants_start:
            self.starters.append(sink)
            self.starting = True
            self.start = self._make_start()
        self.emit = self._make_emit()

    def _make_emit(self) -> Callable[[Record], Any]:
        # Unbounded memory is kept flat (`extend`): the record tuple is freed at once instead of
        # being tracked — and scanned — by the garbage collector; `records()` regroups it.
        if not self.sinks:
            if self.memory is None:
                return discard
            return self.memory.extend if isinstance(self.memory, list) else self.memory.append
        memory_append = None
        if self.memory is not None:
            memory_append = self.memory.extend if isinstance(self.memory, list) else self.memory.append
        ends = [s.end for s in self.sinks]
        deferred = self._deferred
        if memory_append is None and len(ends) == 1:
            only_end = ends[0]
            if speedups is not None:
                lone: Callable[[Record], Any] = speedups.LoneEmit(only_end, deferred, self)
                return lone  # emit_one's compiled twin

            def emit_one(record: Record) -> None:
                if deferred and not self._catch_up():
                    deferred.append((only_end, record))
                    return
                try:
                    only_end(record)
                except RecursionError:  # the program used the stack up: not the sink's fault
                    deferred.append((only_end, record))
                except Exception as exc:  # a sink's fault must never reach the traced program
                    self._fail(exc)

            return emit_one

        def emit(record: Record) -> None:
            if memory_append is not None:
                memory_append(record)
            if deferred and not self._catch_up():
                deferred.extend((end, record) for end in ends)
                return
            for end in ends:
                try:
                    end(record)
                except RecursionError:  # the program used the stack up: not the sink's fault
                    deferred.append((end, record))
                except Exception as exc:  # a sink's fault must never reach the traced program
                    self._fail(exc)
                    return

        return emit

    def _make_start(self) -> Callable[[Record], Any]:
        if speedups is not None and len(self.starters) == 1:
            lone: Callable[[Record], Any] = speedups.LoneEmit(self.starters[0].start, self._deferred, self)
            return lone  # the compiled twin of `_start_all` for one sink, as for `emit_one`
        return self._start_all

    def _start_all(self, record: Record) -> None:
        """Tell the sinks that want it that an operation is starting (`start`)."""
        deferred = self._deferred
        if deferred and not self._catch_up():
            deferred.extend((sink.start, record) for sink in self.starters)
            return
        for sink in self.starters:
            try:
                sink.start(record)
            except RecursionError:  # the program used the stack up: not the sink's fault
                deferred.append((sink.start, record))
            except Exception as exc:
                self._fail(exc)
                return

    def _catch_up(self) -> bool:
        """Write the deferred records, in order; False while there is still no room for them."""
        deferred = self._deferred
        while deferred:
            write, record = deferred[0]
            try:
                write(record)
            except RecursionError:
                return False
            except Exception as exc:
                deferred.clear()
                self._fail(exc)
                return False
            del deferred[0]
        return True

    def _fail(self, exc: Exception) -> None:
        self.limit = -1
        if not self._failed:
            self._failed = True
            try:
                sys.stderr.write(f"gentrace: stopped recording: {type(exc).__name__}: {exc}\n")
            except Exception:  # stderr itself may be what failed
                pass

    def overflow(self, seq: int) -> None:
        """Called for each operation past the limit; notes a cut once."""
        if self.closed or self._cut_noted or self.max_events is None or self._failed:
            return
        self._cut_noted = True
        for sink in self.sinks:
            try:
                sink.note({"note": "max-events", "after_seq": self.max_events})
            except Exception as exc:
                self._fail(exc)

    # -- instances ------------------------------------------------------------------------------

    def instance(
        self,
        gen: Any,
        name: str | None,
        func: Callable[..., Any] | None,
    ) -> InstanceRef:
        """Name a new instance ``NAME#N`` and register it for `collect` and `unfinished`."""
        key = (func, name)
        naming = self._naming.get(key) if func is not None else None
        if naming is None:
            naming = self._name_of(gen, name, func)
            if func is not None:
                if len(self._naming) >= NAMING_CACHE:
                    self._naming.clear()
                self._naming[key] = naming
        base, funcname, numbers = naming
        kind = type(gen)
        code: CodeType | None
        if kind is GeneratorType:
            code = gen.gi_code
        elif kind is CoroutineType:
            code = gen.cr_code
        else:
            code = getattr(gen, "ag_code", None)
        number = next(numbers)  # atomic: no lock
        if self.tasks is None:
            self.tasks = running_tasks()
        ref = InstanceRef(gen, self._on_collect)
        ref.info = make_info(f"{base}#{number}", funcname, code)
        ref.state = GEN_CREATED
        self._refs[ref] = None
        self.by_name[ref.info[NAME]] = ref
        return ref

    def _name_of(
        self, gen: Any, name: str | None, func: Callable[..., Any] | None
    ) -> tuple[str, str, Iterator[int]]:
        # The instances' base name, their function's ``module:qualname``, and their numbers.
        source = func if func is not None else gen
        qualname = _qualname(source)
        base = name if name is not None else display_name(qualname)
        module = getattr(source, "__module__", None)
        if module is None and func is None:
            frame = _frame_of(gen)
            module = frame.f_globals.get("__name__") if frame is not None else None
        return base, f"{module or '?'}:{qualname}", self.numbers(base)

    def numbers(self, base: str) -> Iterator[int]:
        """The numbers N of the instances named ``base#N``, whatever their kind: one count per name."""
        numbers = self._numbers.get(base)
        if numbers is None:
            with self._lock:
                numbers = self._numbers.get(base)
                if numbers is None:
                    numbers = self._numbers[base] = itertools.count(1)
        return numbers

    def _collected(self, ref: InstanceRef) -> None:
        self._refs.pop(ref, None)
        self.by_name.pop(ref.info[NAME], None)
        before = ref.state
        after = COLLECTED.get(before)
        if after is not None:
            self._record_collect(ref, before, after)

    def _record_collect(self, ref: InstanceRef, before: str, after: str) -> None:
        # A live instance garbage-collected: left in `after`.
        ref.state = after
        self._instant(ref, COLLECT, None, CLOSED, before, after, -1)

    def created(self, ref: InstanceRef, arg: Any, state: str, lasti: int) -> None:
        """Record the creation of an instance (already named by `instance`)."""
        ref.state = state
        self._instant(ref, CREATE, arg, CREATED, None, state, lasti)

    def _instant(
        self, ref: InstanceRef, op: str, arg: Any, outcome: str, before: str | None, after: str, lasti: int
    ) -> None:
        # An event with no duration of its own: a create or a collect.
        seq = next(self.counter)
        if seq > self.limit:
            self.overflow(seq)
            return
        self.latest = seq
        st = thread_state.s
        task = task_of(self.tasks) if self.tasks else None
        now = self.clock()
        self.emit(
            (seq, ref.info, op, arg, outcome, None, before, after, st[0], st[1], task, now, 0, lasti, seq)
        )

    # -- the end --------------------------------------------------------------------------------

    def unfinished(self) -> list[Unfinished]:
        """Live instances that are not closed, in creation order."""
        found = []
        for ref in list(self._refs):
            gen = ref()
            if gen is None or ref.state in CLOSED_STATES:
                continue
            frame = _frame_of(gen)
            if frame is None:
                continue  # it finished after recording stopped (max_events): its state is stale
            state = ref.state
            if type(gen) is GeneratorType:  # likewise: it may have started since
                state = inspect.getgeneratorstate(gen)
            found.append(Unfinished(ref.info, state, frame.f_lineno))
        return found

    def close(self) -> None:
        """Stop recording and close the sinks with what remains to say."""
        if self.closed:
            return
        self.closed = True
        recorded = next(self.counter) - 1
        self.limit = -1
        self._catch_up()
        cut = self.max_events if self.max_events is not None and recorded > self.max_events else None
        ending = Ending(recorded if cut is None else cut, self.unfinished(), cut)
        for sink in self.sinks:
            try:
                sink.close(ending)
            except Exception as exc:
                self._fail(exc)

    def frame_of(self, name: str) -> Any:
        """The frame of a live traced instance, by name (None if gone)."""
        ref = self.by_name.get(name)
        gen = ref() if ref is not None else None
        return None if gen is None else _frame_of(gen)

    def records(self) -> list[Record]:
        """The records kept in memory, in order of seq."""
        if self.memory is None:
            return []
        if isinstance(self.memory, list):
            flat = iter(self.memory[:])
            return sorted(zip(*[flat] * RECORD_SIZE, strict=False), key=_seq_of)
        if isinstance(self.memory, deque):
            return sorted(self.memory, key=_seq_of)
        return sorted(self.memory.records(), key=_seq_of)


def _frame_of(gen: Any) -> Any:
    # A generator, an async generator or a coroutine: each names its frame differently.
    for attribute in ("gi_frame", "ag_frame", "cr_frame"):
        if hasattr(gen, attribute):
            return getattr(gen, attribute)
    return None


def _seq_of(record: Record) -> int:
    return record[0]  # type: ignore[no-any-return]


def discard(record: Record) -> None:
    """Where records go when nothing keeps them (``keep=0`` and no sinks)."""
