"""`Event`: the documented, public view of one record, built on demand.

The hot path keeps flat records (`records`); an `Event` is made only when `Tracer.events` is read
or a sink asks for one, so recording in memory costs a tuple and an append. Its `to_dict` is the
JSON Lines form (`jsonl`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gentrace.records import (
    AFTER,
    ARG,
    BEFORE,
    DEPTH,
    DURATION,
    ENDED_AFTER,
    FILENAME,
    FUNC,
    INST,
    LASTI,
    LOOP,
    NAME,
    NEXT,
    OP,
    OUTCOME,
    SEQ,
    START,
    TASK,
    THREAD,
    VALUE,
    Default,
    Info,
    Record,
    Sleep,
    keeps_position,
    kind_of,
    lineno_at,
    make_info,
)


@dataclass(frozen=True, slots=True)
class Event:
    """One operation on one traced generator instance.

    Attributes:
        seq: assigned when the operation starts; strictly increasing per tracer, from 1.
        gen: the instance's name, e.g. ``"averager#1"``.
        op: ``"create" | "next" | "send" | "throw" | "close" | "collect"``, and for async
            generators ``"anext" | "asend" | "athrow" | "aclose"``.
        arg: the value sent, the exception thrown, the call's ``(args, kwargs)`` for create, else None.
        outcome: ``"created" | "yield" | "return" | "raise" | "closed"``.
        value: the yielded value, the returned value, the raised exception, else None.
        state_before / state_after: ``GEN_CREATED | GEN_RUNNING | GEN_SUSPENDED | GEN_CLOSED``
            (``AGEN_…`` for async generators, ``CORO_…`` for coroutines; ``state_before`` is None
            for create).
        depth: traced operations already executing on this thread when this one started.
        thread: the name of the thread that performed it.
        task: the name of the asyncio task running the step on this thread's loop, else None.
        func: ``module:qualname`` of the generator function.
        time: seconds since the tracer started, at the operation's start.
        duration: seconds spent inside the generator during the operation.
        filename / lineno: where the generator is paused afterwards (None once closed).
        ended_after: the seq of the latest operation started when this one ended (its own seq
            for a create or collect): where the live log wrote this operation's result.
        loop: the operation is a ``for`` loop's own next (or anext) of an iterator.

    Iterators (``Tracer(iterators=True)``, ``gentrace run --iterators``) have the ops ``"iter"``
    and ``"aiter"`` (arg: the source of the iterable, value: whether iter() gave the iterable
    itself, state_before: None the first time the iterator is met), ``"next"``/``"anext"`` (arg:
    the default of ``next(it, default)``) and ``"leave"`` (a loop let go of its iterator before
    the end); the states ``ITER_ACTIVE`` and ``ITER_EXHAUSTED``; filename and lineno say where the
    call was made. `kind` tells them apart.
    """

    seq: int
    gen: str
    op: str
    arg: Any
    outcome: str
    value: Any
    state_before: str | None
    state_after: str
    depth: int
    thread: str
    task: str | None
    func: str
    time: float
    duration: float
    filename: str | None
    lineno: int | None
    ended_after: int = 0
    loop: bool = False

    @property
    def kind(self) -> str:
        """``"generator"``, ``"async_generator"``, ``"coroutine"`` or ``"iterator"``."""
        return kind_of(self.state_after)

    def to_dict(self, max_repr: int = 1000) -> dict[str, Any]:
        """The JSON-safe form written to JSON Lines files (reprs taken now)."""
        from gentrace.jsonl import record_to_dict  # imports json: only when asked for

        arg = self.arg
        if self.loop:
            arg = LOOP
        elif self.op == NEXT and arg is not None and self.kind == "iterator":
            arg = Default(arg)
        return record_to_dict(
            (
                self.seq,
                make_info(self.gen, self.func, None, self.filename),
                self.op,
                arg,
                self.outcome,
                self.value,
                self.state_before,
                self.state_after,
                self.depth,
                self.thread,
                self.task,
                round(self.time * 1e9),
                round(self.duration * 1e9),
                -1 if self.lineno is None else self.lineno,
                self.ended_after,
            ),
            0,
            max_repr,
        )


def to_event(record: Record, origin_ns: int) -> Event:
    """Build the public `Event` for a flat record."""
    info: Info = record[INST]
    after = record[AFTER]
    closed = not keeps_position(after)
    value = record[VALUE]
    if type(value) is Sleep:
        value = value.obj
    arg = record[ARG]
    if type(arg) is Default:
        arg = arg.value
    return Event(
        seq=record[SEQ],
        gen=info[NAME],
        op=record[OP],
        arg=None if arg is LOOP else arg,
        outcome=record[OUTCOME],
        value=value,
        state_before=record[BEFORE],
        state_after=after,
        depth=record[DEPTH],
        thread=record[THREAD],
        task=record[TASK],
        func=info[FUNC],
        time=(record[START] - origin_ns) / 1e9,
        duration=record[DURATION] / 1e9,
        filename=None if closed else info[FILENAME],
        lineno=None if closed else lineno_at(info, record[LASTI]),
        ended_after=record[ENDED_AFTER],
        loop=arg is LOOP,
    )
