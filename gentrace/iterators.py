"""Iterators: a name for any iterator, the recording iterator a loop gets, the call-site records.

The rule (ARCHITECTURE.md, "Iterators"): an object the program can see is never replaced. A
``for`` loop's own iterator is hidden from the program, so the loop gets a `LoopIterator` around
it, which records each next; an ``iter(x)`` or ``next(it)`` written in the code is recorded where
it is called (`Iterators.iter_call`, `Iterators.next_call`) and hands back the very object.

Names: an iterator is named after its type, ``list_iterator#1``, and keeps its name while it lives
(two loops over one ``enumerate`` show the same ``enumerate#1``); a traced generator keeps its own
(``fib#1``). Names are found by ``id()``, and an entry never outlives its object, so a new object at
a reused address gets a new name: an object that can be weakly referenced leaves the table when it
dies; one that cannot (most builtin iterators) is held by the table while the program may still
use it, and let go when the table is the last holder — at the end of the loop that used it, or at a
sweep of such entries, made as new ones come (amortised: the table stays as large as what lives).
"""

from __future__ import annotations

import sys
import threading
import weakref
from collections.abc import Iterator
from typing import Any, Final

from gentrace.proxy import DEEP, ROOM, STEP_FRAMES, GeneratorProxy
from gentrace.recorder import Recorder, task_of, thread_state
from gentrace.records import (
    AITER,
    ANEXT,
    CREATED,
    CREATED_STATES,
    FUNC,
    ITER,
    ITER_ACTIVE,
    ITER_EXHAUSTED,
    LEAVE,
    LEFT,
    LOOP,
    NAME,
    NEXT,
    RAISE,
    RETURN,
    YIELD,
    Default,
    Info,
    make_info,
)

Site = tuple[str, int, str]
"""Where a loop or call is, as the rewrite writes it: (filename, line, source of the iterable)."""


class Handle:
    """One named iterator: its name, ``module:qualname`` of its type, its state, and the object
    (weakly, or strongly if it cannot be weakly referenced: `strong`)."""

    __slots__ = ("func", "name", "ref", "state", "strong", "used")

    name: str
    func: str
    state: str
    ref: Any
    strong: bool
    used: bool

    def holds(self, obj: Any) -> bool:
        return (self.ref is obj) if self.strong else (self.ref() is obj)


def _held_refs(handle: Handle) -> int:
    return sys.getrefcount(handle.ref)


def _calibrate() -> int:
    # What `_held_refs` counts when the handle is the object's only holder (the count differs
    # between versions: 3.14 counts fewer references from the stack).
    probe = Handle()
    probe.ref = iter([])
    return _held_refs(probe)


HELD_ONLY: Final = _calibrate()
SWEEP_MIN: Final = 1

# What a recorded step adds to the stack between the program's frame and the iterator's
# ``__next__`` (see proxy.DEEP): a loop's step, `LoopIterator.__next__`, what a generator proxy's
# adds (STEP_FRAMES); a ``next(it)`` call, the rewrite's `next_`, `Iterators.next_call` and
# `_step`. Deep in such steps, `Iterators.loop` takes LOOP_ROOM more to make and record an iter().
NEXT_FRAMES: Final = 3
LOOP_ROOM: Final = 20


def type_func(obj: Any) -> str:
    """``module:qualname`` of an object's type: ``builtins:list_iterator``."""
    cls = type(obj)
    return f"{getattr(cls, '__module__', None) or '?'}:{getattr(cls, '__qualname__', cls.__name__)}"


class Iterators:
    """The iterator records of one recorder: names, and the steps of loops and calls."""

    def __init__(self, recorder: Recorder) -> None:
        self.rec = recorder
        self._table: dict[int, Handle] = {}
        self._held: dict[int, None] = {}  # keys of strong entries the program may still use
        self._sweep_at = SWEEP_MIN
        self._lock = threading.RLock()

    # -- names ----------------------------------------------------------------------------------

    def handle(self, obj: Any, base: str | None = None) -> Handle:
        """The handle of iterator `obj`, named now (after its type, or `base`) if it has no name yet."""
        key = id(obj)
        handle = self._table.get(key)
        if handle is not None and handle.holds(obj):
            return handle
        # Threads that meet a new iterator at once give it one name. The objects a sweep lets go
        # of are freed after the lock: freeing one may run a finalizer (a suspended generator's
        # loop ends) that may wait for another thread.
        with self._lock:
            handle = self._table.get(key)
            if handle is not None and handle.holds(obj):
                return handle
            dropped = self.sweep() if len(self._held) >= self._sweep_at else None
            handle = self._named(obj, key, base)
        del dropped
        return handle

    def _named(self, obj: Any, key: int, base: str | None) -> Handle:
        # A new handle for `obj`, in the table under `key`.
        handle = Handle()
        cls = type(obj)
        base = base or cls.__name__
        handle.name = f"{base}#{next(self.rec.numbers(base))}"
        handle.func = type_func(obj)
        handle.state = ITER_ACTIVE
        handle.used = False
        if cls.__weakrefoffset__:
            table = self._table

            def gone(ref: Any, key: int = key) -> None:
                entry = table.get(key)
                if entry is not None and entry.ref is ref:
                    del table[key]

            handle.ref = weakref.ref(obj, gone)
            handle.strong = False
        else:
            handle.ref = obj
            handle.strong = True
            self._held[key] = None
        self._table[key] = handle
        return handle

    def release(self, handle: Handle) -> None:
        """Let go of a strong entry if the table is its object's last holder."""
        if handle.strong and _held_refs(handle) <= HELD_ONLY:
            with self._lock:
                key = id(handle.ref)
                if self._table.get(key) is handle:
                    del self._table[key]
                    self._held.pop(key, None)

    def sweep(self) -> list[Handle]:
        """Take out every strong entry whose object only the table holds. Called under the lock;
        the entries taken out are returned, for the caller to let go of after it."""
        table = self._table
        dropped = []
        handle = None
        for key in list(self._held):
            handle = table.get(key)
            if handle is None or not handle.strong:
                self._held.pop(key, None)
            elif _held_refs(handle) <= HELD_ONLY:
                dropped.append(table.pop(key))
                self._held.pop(key, None)
        del handle
        self._sweep_at = max(2 * len(self._held), SWEEP_MIN)
        return dropped

    def clear(self) -> None:
        """Forget every name (the tracer closed): the objects held are let go."""
        self._table.clear()
        self._held.clear()

    def __len__(self) -> int:
        return len(self._table)

    # -- what the program does ------------------------------------------------------------------

    def loop(self, iterable: Any, site: Site) -> Any:
        """``iter(iterable)`` for a loop, recorded; what the loop iterates: a `LoopIterator` around
        the iterator, or a traced generator itself (which records its own steps)."""
        rec = self.rec
        # Deep in a recursion through loops, the steps below gave back the stack their frames
        # take; this call's frames, and the recording's, get room too: the program's recursion
        # ends where it would untraced, not in gentrace.
        room = LOOP_ROOM if thread_state.s[0] >= DEEP else 0
        if room:
            _raise_limit(room)
        try:
            start = rec.clock()
            try:
                it = iter(iterable)
            except BaseException as exc:
                _strip(exc)
                raise
            info, handle = self._iter_record(iterable, it, site, start)
            if handle is None:
                return it
            return LoopIterator(it, handle, info, self, site[1])
        finally:
            if room:
                sys.setrecursionlimit(sys.getrecursionlimit() - room)

    def aloop(self, iterable: Any, site: Site) -> Any:
        """`loop` for an ``async for``: the loop's ``__aiter__()`` made here, recorded as ``aiter()``."""
        aiter_ = getattr(type(iterable), "__aiter__", None)
        if aiter_ is None:
            return iterable  # the loop raises its own TypeError
        rec = self.rec
        start = rec.clock()
        try:
            it = aiter_(iterable)
            if getattr(type(it), "__anext__", None) is None:
                raise TypeError(
                    "'async for' received an object from __aiter__ that does not implement __anext__: "
                    f"{type(it).__name__:.100}"
                )
        except BaseException as exc:
            _strip(exc)
            raise
        info, handle = self._iter_record(iterable, it, site, start, AITER)
        if handle is None:
            return it
        return AsyncLoopIterator(it, handle, info, self, site[1])

    def wrap(self, iterable: Any, name: str | None = None) -> Any:
        """A recording iterator over `iterable` (``Tracer.wrap`` of what is not a generator), or
        a traced generator that ``iter()`` gave, which records itself.

        Its iter() is recorded as ``NAME = gentrace.wrap(...)``; `name` names a new iterator.
        """
        rec = self.rec
        start = rec.clock()
        try:
            it = iter(iterable)
        except TypeError:
            raise TypeError(
                "wrap(): expected a generator, an async generator, a coroutine or an iterable; "
                f"got {type(iterable).__name__}"
            ) from None
        if name is not None and _proxy_ref(it) is None:
            self.handle(it, name)
        info, handle = self._iter_record(iterable, it, None, start)
        if handle is None:
            return it
        return LoopIterator(it, handle, info, self, 0)

    def iter_call(self, args: tuple[Any, ...], site: Site) -> Any:
        """An ``iter(...)`` written in the code: the real call, recorded; its very result."""
        rec = self.rec
        start = rec.clock()
        try:
            it = iter(*args)
        except BaseException as exc:
            _strip(exc)
            raise
        self._iter_record(args[0] if len(args) == 1 else None, it, site, start)
        return it

    def _iter_record(
        self, iterable: Any, it: Any, site: Site | None, start: int, op: str = ITER
    ) -> tuple[Info, Handle | None]:
        # Record an iter() that gave `it`: its name (a traced generator's own), whether it is the
        # iterable itself, and whether it was used before. No handle for a traced generator.
        rec = self.rec
        end = rec.clock()
        proxy = _proxy_ref(it)
        if proxy is not None:
            handle = None
            name, func, state = proxy.info[NAME], proxy.info[FUNC], proxy.state
            before = None if state in CREATED_STATES else state
        else:
            handle = self.handle(it)
            name, func, state = handle.name, handle.func, handle.state
            before = state if handle.used else None
            handle.used = True
        filename, line, source = site if site is not None else (None, 0, None)
        info = make_info(name, func, None, filename)
        seq = next(rec.counter)
        if seq > rec.limit:
            rec.overflow(seq)
            return info, handle
        rec.latest = seq
        st = thread_state.s
        tasks = rec.tasks
        task = task_of(tasks) if tasks else None
        # (seq, info, op, arg, outcome, value, before, after, depth, thread, task, start, took, lasti, ended_after)
        rec.emit((seq, info, op, source, CREATED, it is iterable, before, state, st[0], st[1], task, start, end - start, line, seq))  # fmt: skip
        return info, handle

    def next_call(self, it: Any, default: tuple[Any, ...], site: Site) -> Any:
        """A ``next(it)`` or ``next(it, default)`` written in the code: the real call, recorded."""
        if _proxy_ref(it) is not None:  # a traced generator records its own steps
            try:
                return next(it, *default)
            except BaseException as exc:
                _strip(exc)
                raise
        handle = self.handle(it)
        handle.used = True
        info = make_info(handle.name, handle.func, None, site[0])
        arg = Default(default[0]) if default else None
        try:
            return _step(self.rec, it, handle, info, site[1], arg, default)
        except BaseException as exc:
            _strip(exc)
            raise

    def left(self, loop: LoopIterator | AsyncLoopIterator) -> None:
        """A loop let go of its iterator before the end: say so, and let go of the name."""
        rec = self.rec
        handle = loop._handle
        if not loop._done and not rec.closed:
            seq = next(rec.counter)
            if seq > rec.limit:
                rec.overflow(seq)
            else:
                rec.latest = seq
                st = thread_state.s
                tasks = rec.tasks
                task = task_of(tasks) if tasks else None
                state = handle.state
                # (seq, info, op, arg, outcome, value, before, after, depth, thread, task, start, took, lasti, ended_after)
                rec.emit((seq, loop._info, LEAVE, None, LEFT, None, state, state, st[0], st[1], task, rec.clock(), 0, loop._line, seq))  # fmt: skip
        loop._it = None
        self.release(handle)


def _strip(exc: BaseException) -> None:
    """Take this module's frames off the start of `exc`'s traceback: it reads as without gentrace."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code in _OWN_CODES:
        tb = tb.tb_next
    exc.__traceback__ = tb


def _proxy_ref(obj: Any) -> Any:
    """The instance reference of a traced generator (or async one), else None."""
    cls = type(obj)
    # Not issubclass(): an ABC's check runs Python code, which a recursion at its limit can't afford.
    if GeneratorProxy in cls.__mro__ or cls.__module__ == "gentrace.aproxy":
        return getattr(obj, "_ref", None)
    return None


def _raise_limit(extra: int) -> None:
    # A call, not inline: this frame, one deeper than the caller's, fits under the limit as it
    # was, so the caller can set it back (Python refuses a limit the stack has already reached).
    sys.setrecursionlimit(sys.getrecursionlimit() + extra)


def _step(
    rec: Recorder, it: Any, handle: Handle, info: Info, line: int, arg: Any, default: tuple[Any, ...]
) -> Any:
    # One next() of an iterator, recorded: as GeneratorProxy.__next__ does for a generator.
    seq = next(rec.counter)
    if seq > rec.limit:
        rec.overflow(seq)
        return next(it, *default)
    st = thread_state.s
    depth = st[0]
    if depth >= DEEP:
        extra = NEXT_FRAMES * (DEEP + 1) + ROOM if depth == DEEP else NEXT_FRAMES
        _raise_limit(extra)
    rec.latest = seq
    before = handle.state
    st[0] = depth + 1
    clock = rec.clock
    tasks = rec.tasks
    task = task_of(tasks) if tasks else None
    if rec.starting:
        rec.start((seq, info, NEXT, arg, None, None, before, None, depth, st[1], task, clock(), 0, line, 0))
    start = clock()
    try:
        value = next(it)
    except StopIteration as exc:
        end = clock()
        st[0] = depth
        handle.state = ITER_EXHAUSTED
        shown = default[0] if default else exc.value
        # (seq, info, op, arg, outcome, value, before, after, depth, thread, task, start, took, lasti, ended_after)
        rec.emit((seq, info, NEXT, arg, RETURN, shown, before, ITER_EXHAUSTED, depth, st[1], task, start, end - start, line, rec.latest))  # fmt: skip
        if depth >= DEEP:  # after the recording, which may need the room at a recursion's deepest step
            sys.setrecursionlimit(sys.getrecursionlimit() - extra)
        if default:
            return default[0]
        raise
    except BaseException as exc:
        end = clock()
        st[0] = depth
        # (seq, info, op, arg, outcome, value, before, after, depth, thread, task, start, took, lasti, ended_after)
        rec.emit((seq, info, NEXT, arg, RAISE, exc, before, before, depth, st[1], task, start, end - start, line, rec.latest))  # fmt: skip
        if depth >= DEEP:
            sys.setrecursionlimit(sys.getrecursionlimit() - extra)
        raise
    end = clock()
    st[0] = depth
    handle.state = ITER_ACTIVE
    # (seq, info, op, arg, outcome, value, before, after, depth, thread, task, start, took, lasti, ended_after)
    rec.emit((seq, info, NEXT, arg, YIELD, value, before, ITER_ACTIVE, depth, st[1], task, start, end - start, line, rec.latest))  # fmt: skip
    if depth >= DEEP:
        sys.setrecursionlimit(sys.getrecursionlimit() - extra)
    return value


class LoopIterator(Iterator[Any]):
    """The iterator a ``for`` loop (or comprehension) gets instead of its own: each next recorded.

    No code sees it but the loop. When the loop lets go of it before the end (break, return, an
    exception), the loop's end is recorded (`LEAVE`) as it is dropped.
    """

    __slots__ = ("_done", "_handle", "_info", "_it", "_line", "_owner")

    def __init__(self, it: Any, handle: Handle, info: Info, owner: Iterators, line: int) -> None:
        self._it: Any = it
        self._handle = handle
        self._info = info
        self._owner = owner
        self._line = line
        self._done = False

    def __iter__(self) -> LoopIterator:
        return self

    def __next__(self) -> Any:
        # _step, inline: this is the hot path of --iterators.
        rec = self._owner.rec
        seq = next(rec.counter)
        if seq > rec.limit:
            rec.overflow(seq)
            return next(self._it)
        rec.latest = seq
        handle = self._handle
        info = self._info
        before = handle.state
        st = thread_state.s
        depth = st[0]
        st[0] = depth + 1
        if depth >= DEEP:
            extra = STEP_FRAMES * (DEEP + 1) + ROOM if depth == DEEP else STEP_FRAMES
            sys.setrecursionlimit(sys.getrecursionlimit() + extra)
        clock = rec.clock
        tasks = rec.tasks
        task = task_of(tasks) if tasks else None
        if rec.starting:
            rec.start((seq, info, NEXT, LOOP, None, None, before, None, depth, st[1], task, clock(), 0, self._line, 0))  # fmt: skip
        start = clock()
        try:
            value = next(self._it)
        except StopIteration as exc:
            end = clock()
            st[0] = depth
            if depth >= DEEP:
                sys.setrecursionlimit(sys.getrecursionlimit() - extra)
            handle.state = ITER_EXHAUSTED
            self._done = True
            # (seq, info, op, arg, outcome, value, before, after, depth, thread, task, start, took, lasti, ended_after)
            rec.emit((seq, info, NEXT, LOOP, RETURN, exc.value, before, ITER_EXHAUSTED, depth, st[1], task, start, end - start, self._line, rec.latest))  # fmt: skip
            _strip(exc)
            raise
        except BaseException as exc:
            end = clock()
            st[0] = depth
            if depth >= DEEP:
                sys.setrecursionlimit(sys.getrecursionlimit() - extra)
            # (seq, info, op, arg, outcome, value, before, after, depth, thread, task, start, took, lasti, ended_after)
            rec.emit((seq, info, NEXT, LOOP, RAISE, exc, before, before, depth, st[1], task, start, end - start, self._line, rec.latest))  # fmt: skip
            _strip(exc)
            # The loop ends here: as it unwinds, it lets go of its iterator, as it would untraced.
            # The traceback may keep this frame (the caller of a frame that raised), not these.
            del self, handle
            raise
        end = clock()
        st[0] = depth
        if depth >= DEEP:
            sys.setrecursionlimit(sys.getrecursionlimit() - extra)
        handle.state = ITER_ACTIVE
        # (seq, info, op, arg, outcome, value, before, after, depth, thread, task, start, took, lasti, ended_after)
        rec.emit((seq, info, NEXT, LOOP, YIELD, value, before, ITER_ACTIVE, depth, st[1], task, start, end - start, self._line, rec.latest))  # fmt: skip
        return value

    def __del__(self) -> None:
        try:
            self._owner.left(self)
        except Exception:
            pass

    def __repr__(self) -> str:
        return f"<gentrace loop over {self._handle.name}>"


class AsyncLoopIterator:
    """The async iterator an ``async for`` gets instead of its own: each ``__anext__()`` recorded
    as ``await anext(NAME)`` when the awaitable it gave is done."""

    __slots__ = ("_done", "_handle", "_info", "_it", "_line", "_owner")

    def __init__(self, it: Any, handle: Handle, info: Info, owner: Iterators, line: int) -> None:
        self._it: Any = it
        self._handle = handle
        self._info = info
        self._owner = owner
        self._line = line
        self._done = False

    def __aiter__(self) -> AsyncLoopIterator:
        return self

    def __anext__(self) -> Any:
        return self._anext()

    async def _anext(self) -> Any:
        rec = self._owner.rec
        it = self._it
        seq = next(rec.counter)
        if seq > rec.limit:
            rec.overflow(seq)
            return await type(it).__anext__(it)
        rec.latest = seq
        handle = self._handle
        info = self._info
        before = handle.state
        st = thread_state.s
        depth = st[0]
        clock = rec.clock
        tasks = rec.tasks
        task = task_of(tasks) if tasks else None
        if rec.starting:
            rec.start((seq, info, ANEXT, LOOP, None, None, before, None, depth, st[1], task, clock(), 0, self._line, 0))  # fmt: skip
        start = clock()
        try:
            value = await type(it).__anext__(it)
        except StopAsyncIteration as exc:
            handle.state = ITER_EXHAUSTED
            self._done = True
            # (seq, info, op, arg, outcome, value, before, after, depth, thread, task, start, took, lasti, ended_after)
            rec.emit((seq, info, ANEXT, LOOP, RETURN, None, before, ITER_EXHAUSTED, depth, st[1], task, start, clock() - start, self._line, rec.latest))  # fmt: skip
            _strip(exc)
            raise
        except BaseException as exc:
            # (seq, info, op, arg, outcome, value, before, after, depth, thread, task, start, took, lasti, ended_after)
            rec.emit((seq, info, ANEXT, LOOP, RAISE, exc, before, before, depth, st[1], task, start, clock() - start, self._line, rec.latest))  # fmt: skip
            _strip(exc)
            del self, handle, it  # as LoopIterator.__next__: the loop lets go of its iterator
            raise
        handle.state = ITER_ACTIVE
        # (seq, info, op, arg, outcome, value, before, after, depth, thread, task, start, took, lasti, ended_after)
        rec.emit((seq, info, ANEXT, LOOP, YIELD, value, before, ITER_ACTIVE, depth, st[1], task, start, clock() - start, self._line, rec.latest))  # fmt: skip
        return value

    def __del__(self) -> None:
        try:
            self._owner.left(self)
        except Exception:
            pass

    def __repr__(self) -> str:
        return f"<gentrace async loop over {self._handle.name}>"


_OWN_CODES: Final = frozenset(
    {
        Iterators.loop.__code__,
        Iterators.iter_call.__code__,
        Iterators.next_call.__code__,
        LoopIterator.__next__.__code__,
        Iterators.aloop.__code__,
        AsyncLoopIterator._anext.__code__,
        _step.__code__,
    }
)
