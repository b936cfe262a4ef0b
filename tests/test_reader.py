"""Reading a JSON Lines trace back: validation, seq order, notes, bad input."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from trace_samples import trace_event as event

from gentrace.reader import MAX_LINE, Gap, TraceError, TraceEvent, TraceReader
from gentrace.records import ARG, INST, NAME, SEQ, VALUE
from gentrace.reprs import ExcText, ReprText


def jsonl(*items: dict[str, Any] | str) -> bytes:
    return "".join((item if isinstance(item, str) else json.dumps(item)) + "\n" for item in items).encode()


def read(data: bytes, **kwargs: Any) -> tuple[TraceReader, list[TraceEvent | Gap]]:
    reader = TraceReader(io.BytesIO(data), name="t.jsonl", **kwargs)
    return reader, list(reader)


def seqs(items: list[TraceEvent | Gap]) -> list[Any]:
    return [(i.first, i.last) if isinstance(i, Gap) else i.record[SEQ] for i in items]


def test_events_come_back_in_seq_order() -> None:
    _, items = read(jsonl(event(3), event(2), event(1), event(4)))
    assert seqs(items) == [1, 2, 3, 4]
    assert not any(isinstance(i, TraceEvent) and i.late for i in items)


def test_values_are_repr_text_and_exceptions_exc_text() -> None:
    thrown = event(
        1,
        op="throw",
        arg="ValueError('bad')",
        arg_exc={"type": "builtins.ValueError", "message": "bad"},
        outcome="raise",
        value="ValueError('bad')",
        value_exc={"type": "builtins.ValueError", "message": "bad"},
    )
    _, items = read(jsonl(thrown, event(2)))
    record = items[0].record  # type: ignore[union-attr]
    assert isinstance(record[ARG], ExcText) and record[ARG].type == "builtins.ValueError"
    assert isinstance(record[VALUE], ExcText) and record[VALUE].message == "bad"
    assert type(items[1].record[VALUE]) is ReprText  # type: ignore[union-attr]


def test_a_missing_seq_is_skipped_at_the_window_end_and_a_late_one_marked() -> None:
    _, items = read(jsonl(event(2), event(3), event(4), event(1)), window=2)
    assert seqs(items) == [(1, 1), 2, 3, 4, 1]
    late = items[-1]
    assert isinstance(late, TraceEvent) and late.late and late.record[SEQ] == 1


def test_a_gap_at_the_end_is_reported_where_it_was() -> None:
    _, items = read(jsonl(event(1), event(3)))
    assert seqs(items) == [1, (2, 2), 3]


def test_notes_are_read_and_unknown_ones_skipped() -> None:
    reader, items = read(
        jsonl(
            event(1), {"note": "max-events", "after_seq": 1}, {"note": "future"}, {"note": "end", "events": 1}
        )
    )
    assert seqs(items) == [1]
    assert (reader.cut_after, reader.ended, reader.end_events, reader.bad) == (1, True, 1, 0)


def test_no_end_note_means_the_trace_ended_early() -> None:
    reader, _ = read(jsonl(event(1)))
    assert not reader.ended


BAD = [
    pytest.param(jsonl(event(1)) + b'{"seq": 2, "gen"', "line 2: cut short", id="truncated-last-line"),
    pytest.param(jsonl(event(1), "not json"), "line 2: not JSON", id="non-json"),
    pytest.param(
        jsonl(event(1), {"level": "info", "msg": "hi"}), "line 2: not a gentrace event", id="other-tool"
    ),
    pytest.param(jsonl(event(1), "[1, 2]"), "line 2: not a JSON object", id="json-array"),
    pytest.param(jsonl(event(1), event(2, op="jump")), "line 2: unknown op 'jump'", id="unknown-op"),
    pytest.param(jsonl(event(1), event(2, outcome="x")), "line 2: unknown outcome", id="unknown-outcome"),
    pytest.param(
        jsonl(event(1), event(2, state_after="GEN_X")), "line 2: unknown state_after", id="bad-state"
    ),
    pytest.param(jsonl(event(1), event(True)), "line 2: not a gentrace event", id="bool-seq"),
    pytest.param(jsonl(event(1)) + b"\x00\xff\xfe\x80binary\n", "line 2: not UTF-8", id="binary"),
    pytest.param(
        jsonl(event(1)) + b"x" * (MAX_LINE + 10) + b"\n" + jsonl(event(2)), "line 2: longer than", id="long"
    ),
]


@pytest.mark.parametrize(("data", "message"), BAD)
def test_bad_lines_are_skipped_and_counted(data: bytes, message: str) -> None:
    reader, items = read(data)
    assert seqs(items)[0] == 1
    assert reader.bad == 1
    assert reader.first_bad is not None and reader.first_bad.startswith(message), reader.first_bad
    assert reader.problems() == f"t.jsonl: 1 bad line skipped; first: {reader.first_bad}"


@pytest.mark.parametrize(("data", "message"), BAD)
def test_strict_raises_at_the_first_bad_line(data: bytes, message: str) -> None:
    with pytest.raises(TraceError, match=f"^{message[:12]}"):
        read(data, strict=True)


def test_many_bad_lines_give_one_summary() -> None:
    reader, _ = read(jsonl(event(1), "x", "y", "z"))
    assert reader.problems() == "t.jsonl: 3 bad lines skipped; first: line 2: not JSON"


def test_an_empty_file_has_no_events() -> None:
    reader, items = read(b"")
    assert items == [] and reader.events == 0 and reader.problems() is None


class HugeLine:
    """A stream of one 1 GB line without a newline, made up as it is read."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.largest = 0

    def readline(self, limit: int = -1) -> bytes:
        n = min(self.left, limit if limit > 0 else self.left)
        self.left -= n
        self.largest = max(self.largest, n)
        return b"x" * n


def test_a_gigabyte_line_without_newline_is_skipped_a_chunk_at_a_time() -> None:
    stream = HugeLine(1 << 30)
    reader = TraceReader(stream, name="huge")  # type: ignore[arg-type]
    assert list(reader) == []
    assert stream.left == 0 and stream.largest <= MAX_LINE + 1
    assert reader.first_bad == f"line 1: longer than {MAX_LINE} bytes"


def test_error_messages_escape_control_characters() -> None:
    reader, _ = read(jsonl(event(1), event(2, op="\x1b[2J\x9b\u202e")))
    assert reader.first_bad is not None
    assert not any(ch in reader.first_bad for ch in "\x1b\x9b\u202e")
    assert "\\x1b[2J" in reader.first_bad


def test_names_from_the_trace_are_escaped() -> None:
    _, items = read(jsonl(event(1, gen="a\x1bb\x85")))
    assert items[0].record[INST][NAME] == "a\\x1bb\\x85"  # type: ignore[union-attr]
