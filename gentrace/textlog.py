"""The REPL-style log, written from operations' starts and ends in the order they happened.

`LogWriter` is the one writer of the log: the live text sink feeds it as operations start and end,
and ``gentrace show`` feeds it the same starts and ends rebuilt from a trace (`reader`), so both
print the same lines. An operation's ``>>>`` line is written when it starts; its result when it
ends, after a ``...`` line repeating the call if anything was written in between (a nested step,
another thread's or task's step).

>>> writer = LogWriter(TextOptions())
>>> writer.start(record) + writer.end(record)
'>>> next(fib#1)\\n0                                       # GEN_CREATED → GEN_SUSPENDED ...\\n'
"""

from __future__ import annotations

from collections.abc import Mapping

from gentrace.records import AFTER, CLOSE, INSTANT_OPS, OP, OUTCOME, SEQ, YIELD, Record, is_finished
from gentrace.renderers import TextOptions, TextSteps, end_line, repeat_line, single_line


def shows_locals(record: Record) -> bool:
    """Whether the log shows the local variables after this operation (it left a paused frame)."""
    return not is_finished(record[AFTER]) and record[OP] != CLOSE


class LogWriter:
    """Lines of the log (each ending in a newline) for starts, ends and comments, in order."""

    __slots__ = ("_steps", "open_seq", "options")

    def __init__(self, options: TextOptions) -> None:
        self.options = options
        self._steps = TextSteps(options)
        self.open_seq: int | None = None  # the seq whose ``>>>`` line was written last, nothing after

    def start(self, record: Record) -> str:
        """The ``>>>`` line of an operation that starts."""
        self.open_seq = record[SEQ]
        return self._steps.start(record)

    def end(self, record: Record, locals_: Mapping[str, str] | None = None) -> str:
        """The lines of an operation that ended: an instant's one line (`INSTANT_OPS`), or its result.

        `locals_` are the paused frame's variables, shown when `shows_locals(record)`.
        """
        op = record[OP]
        options = self.options
        if op in INSTANT_OPS:
            text = single_line(record, options) + "\n"
        elif (
            record[OUTCOME] == YIELD
            and self.open_seq == record[SEQ]
            and locals_ is None
            and not options.timings
        ):
            text = self._steps.yielded(record)  # the common step: a yield right after its start
        else:
            text = "" if self.open_seq == record[SEQ] else repeat_line(record, options) + "\n"
            if locals_ is not None and shows_locals(record):
                options = options.with_locals(locals_)
            text += end_line(record, options) + "\n"
        self.open_seq = None
        return text

    def comment(self, line: str) -> str:
        """A comment line of the log's own (already styled), between operations."""
        self.open_seq = None
        return line + "\n"
