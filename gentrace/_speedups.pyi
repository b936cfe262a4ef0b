"""The compiled core (gentrace/_speedups.c): what it offers Python. See gentrace/compiled.py."""

from collections.abc import Callable
from typing import Any

class ThreadState:
    """Per thread, `s`: [depth of traced steps running, thread name] (kept on the thread state)."""

    @property
    def s(self) -> list[Any]: ...

class Counter:
    """Counter(start=0): start, start + 1, ... as itertools.count, read by a compiled step without an int."""

    def __init__(self, start: int = ...) -> None: ...
    def __iter__(self) -> Counter: ...
    def __next__(self) -> int: ...

class RecorderCore:
    """The fields of a Recorder that a compiled step reads and writes."""

    counter: Any
    limit: int
    latest: int
    clock: Callable[[], int]
    tasks: Any
    starting: bool
    emit: Callable[[Any], Any]
    def adopt(
        self,
        gen: Any,
        name: str | None,
        func: Any,
        arg: Any,
        proxy_type: type,
        state: str,
        frame_attr: str,
        /,
    ) -> Any: ...
    def collected(self, ref: Any, /) -> None: ...

class Memory:
    """Every record kept (keep=None), as C structs in chunks: the twin of the flat list."""

    def append(self, record: tuple[Any, ...], /) -> None: ...
    def records(self) -> list[tuple[Any, ...]]: ...
    def __len__(self) -> int: ...

class LoneEmit:
    """A recorder's emit to one sink and no memory: the twin of Recorder._make_emit's emit_one."""

    def __init__(
        self,
        end: Callable[[tuple[Any, ...]], object],
        deferred: list[tuple[Callable[[tuple[Any, ...]], object], tuple[Any, ...]]],
        recorder: Any,
    ) -> None: ...
    def __call__(self, record: tuple[Any, ...], /) -> None: ...

class GeneratorSteps:
    """A traced generator's steps, compiled: the twin of proxy._PythonSteps."""

    _gen: Any
    _rec: Any
    _ref: Any
    _info: Any
    def __init__(self, gen: Any, recorder: Any, ref: Any) -> None: ...
    def __iter__(self) -> GeneratorSteps: ...
    def __next__(self) -> Any: ...
    def send(self, value: Any, /) -> Any: ...
    def throw(self, typ: Any, val: Any = ..., tb: Any = ..., /) -> Any: ...
    def close(self) -> Any: ...

class AsyncStepCore:
    """The awaitable of one operation on a traced async generator, its first step compiled: the
    twin of aproxy._PythonAsyncStep."""

    _proxy: Any
    _op: str
    _arg: Any
    _aw: Any
    _seq: int
    _before: Any
    _depth: int
    _thread: Any
    _task: Any
    _start: int
    def __init__(self, proxy: Any, op: str, arg: Any, aw: Any) -> None: ...
    def __await__(self) -> AsyncStepCore: ...
    def __iter__(self) -> AsyncStepCore: ...
    def __next__(self) -> Any: ...

class AsyncGeneratorSteps:
    """A traced async generator's __anext__, compiled: the twin of aproxy._PythonAsyncGeneratorSteps."""

    _agen: Any
    _rec: Any
    _ref: Any
    _info: Any
    _handle: Any
    _hooked: bool
    def __init__(self, agen: Any, recorder: Any, ref: Any) -> None: ...
    def __aiter__(self) -> AsyncGeneratorSteps: ...
    def __anext__(self) -> Any: ...

class CoroutineSteps:
    """A traced coroutine's send, compiled: the twin of aproxy._PythonCoroutineSteps."""

    _coro: Any
    _rec: Any
    _ref: Any
    _info: Any
    def __init__(self, coro: Any, recorder: Any, ref: Any) -> None: ...
    def __next__(self) -> Any: ...
    def send(self, value: Any = ..., /) -> Any: ...

class JsonLines:
    """The JSON Lines of the common records, rendered in C (jsonl.JsonRenderer for the rest), and a
    file's batch of them."""

    def __init__(
        self, renderer: Any, loop: Any, default: type, drain: Callable[[], object] | None = ...
    ) -> None: ...
    def render(self, record: tuple[Any, ...], /) -> str: ...
    def end(self, record: tuple[Any, ...], /) -> None: ...
    def append(self, text: str, /) -> None: ...
    def take(self) -> str: ...
    def take_bytes(self) -> bytes: ...
    def due(self) -> bool: ...

class TextLines:
    """A text log file's batch: the common steps' lines written in C, the rest by the sink."""

    def __init__(
        self,
        prepare: Callable[[], Any],
        start_text: Callable[[Any], str],
        end_text: Callable[[Any], str],
        drain: Callable[[], object],
        loop: Any,
    ) -> None: ...
    def start(self, record: tuple[Any, ...], /) -> None: ...
    def end(self, record: tuple[Any, ...], /) -> None: ...
    def append(self, text: str, /) -> None: ...
    def take(self) -> str: ...
    def take_bytes(self) -> bytes: ...

def clock() -> int:
    """time.perf_counter_ns(), read from the CPU's time-stamp counter where the kernel keeps time by it."""

def configure(
    ops: tuple[str, str, str, str],
    outcomes: tuple[str, str, str],
    states: tuple[str, str, str],
    create: tuple[str, str, str],
    collected: dict[str, str],
    *,
    raised: Callable[..., None],
    task_of: Callable[[Any], str | None],
    new_thread_state: Callable[[], list[Any]],
    running_tasks: Callable[[], Any],
    instance_ref: type,
    discard: Callable[[Any], None],
    deep: int,
    room: int,
    step_frames: int,
) -> None: ...
def configure_async(
    ops: tuple[str, str],
    agen_states: tuple[str, str],
    coro_states: tuple[str, str, str],
    *,
    step: type,
    described: Callable[[Any, Any], Any],
    sleep: tuple[Any, Any, Any],
) -> None: ...
