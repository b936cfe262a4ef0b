"""The log on a terminal follows its width; columns are counted as a terminal shows them; reprs are
cut between characters.

The rule checked here: on a terminal of W columns (``COLUMNS`` if set), a result's comment starts at
column 2W/5, kept between 16 and 80; without ``--max-repr`` each repr is cut to the room its line
leaves (a result ends before its comment, a ``>>>`` line within the width, never below `MIN_FIT`
columns), and so is the source line quoted in a comment. ``--max-repr`` still wins. Files and pipes
keep column 40 and their ``max_repr``. A wide character takes two columns, a combining mark none.
"""

from __future__ import annotations

import os
import subprocess
import sys
import unicodedata
from pathlib import Path
from typing import Any

import pexpect
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gentrace.records import make_info
from gentrace.renderers import (
    COMMENT_COLUMN,
    MIN_FIT,
    TextOptions,
    TextSteps,
    comment_column,
    end_line,
    single_line,
    start_line,
)
from gentrace.reprs import ELLIPSIS, ReprText, cut, safe_repr

TIMEOUT = 30  # seconds; a hung subprocess fails its test instead of the whole run
INFO = make_info("g#1", "mod:g", None, "mod.py")
SOURCE = "total = yield {'a long dictionary': 'that quotes much more than a narrow terminal can show'}"


def width_of(text: str) -> int:
    """Columns on a terminal, counted here on their own: wide 2, combining 0, else 1."""
    return sum(
        0
        if unicodedata.category(ch) in ("Mn", "Me")
        else 2
        if unicodedata.east_asian_width(ch) in ("W", "F")
        else 1
        for ch in text
    )


def record(
    op: str = "next",
    value: Any = 1,
    *,
    arg: Any = None,
    outcome: str = "yield",
    depth: int = 0,
    before: str = "GEN_SUSPENDED",
    after: str = "GEN_SUSPENDED",
) -> tuple[Any, ...]:
    return (1, INFO, op, arg, outcome, value, before, after, depth, "MainThread", None, 0, 0, 7, 1)


def terminal(width: int, max_repr: int | None = None) -> TextOptions:
    """What a sink settles on for a terminal of `width` columns (with ``--max-repr``, if given)."""
    return TextOptions(
        max_repr=80 if max_repr is None else max_repr,
        source=lambda filename, lineno: SOURCE,
        width=width,
        fit=max_repr is None,
    )


def comment_at(line: str) -> int:
    """The column where a result line's comment starts."""
    return width_of(line[: line.index("  # ") + 2])


# -- the rule ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("width", "column"),
    [(None, 40), (20, 16), (40, 16), (60, 24), (80, 32), (100, 40), (120, 48), (200, 80), (400, 80)],
)
def test_the_comment_column_is_two_fifths_of_the_width_between_16_and_80(
    width: int | None, column: int
) -> None:
    assert comment_column(width) == column


@pytest.mark.parametrize("width", [40, 60, 80, 100, 200])
def test_a_result_is_cut_to_end_before_its_comment(width: int) -> None:
    options = terminal(width)
    column = comment_column(width)
    for value in ["x" * 300, b"\x00" * 300, "中" * 300, ValueError("m" * 300)]:
        outcome = "raise" if isinstance(value, Exception) else "yield"
        line = end_line(record(value=value, outcome=outcome), options)
        shown = line[: line.index("  # ")].rstrip(" ")
        assert comment_at(line) == column
        assert shown.endswith(ELLIPSIS) and width_of(shown) <= column - 2
        assert width_of(shown) >= column - 2 - 9  # only an escape or a wide character less


def test_a_returned_value_fits_as_well_as_the_stopiteration_before_it() -> None:
    line = end_line(record(value="y" * 300, outcome="return", after="GEN_CLOSED"), terminal(100))
    assert line.startswith("StopIteration: 'yyyyyyyyyyyyyyyyyyy...  # returned 'yyyy")
    assert width_of(line) <= 100


@pytest.mark.parametrize("width", [60, 80, 100, 120])
def test_an_iter_line_quotes_as_much_of_its_loop_as_the_width_leaves(width: int) -> None:
    info = make_info("list_iterator#1", "builtins:list_iterator", None, "mod.py")
    it = (
        1,
        info,
        "iter",
        "numbers",
        "created",
        False,
        None,
        "ITER_ACTIVE",
        0,
        "MainThread",
        None,
        0,
        0,
        7,
        1,
    )
    line = single_line(it, terminal(width))
    assert line.startswith(">>> list_iterator#1 = iter(numbers)  # mod.py:7 · ")
    assert width_of(line) <= width
    whole = single_line(it, TextOptions(source=lambda filename, lineno: SOURCE))
    assert width_of(whole) > 120  # the source line was cut for the width, and only as far as needed
    assert width_of(line) >= width - len(ELLIPSIS)


def test_a_wide_terminal_uses_its_width() -> None:
    line = end_line(record(value="x" * 300), terminal(200))
    assert line.startswith("'" + "x" * 74 + "...  # ")  # 78 columns: more than the 80-character default
    start = start_line(record("send", arg="s" * 300), terminal(200))
    assert start == ">>> g#1.send('" + "s" * 182 + "...)" and width_of(start) == 200
    assert SOURCE in end_line(record(value=1), terminal(200))  # room enough for the source line


def test_sent_values_and_call_arguments_fit_the_line() -> None:
    for width in (40, 60, 80):
        start = start_line(record("send", arg="s" * 300), terminal(width))
        assert start.endswith("...)") and width_of(start) == width
    for width in (30, 60, 80):
        create = single_line(
            record(
                "create",
                None,
                arg=(("a" * 300,), {"k": 2}),
                outcome="created",
                before="",
                after="GEN_CREATED",
            ),
            terminal(width),
        )
        assert create.startswith(">>> g#1 = g('aaa") and "...)  # mod.py:7 · GEN_CREATED" in create
        # the arguments leave room for the comment, but keep some columns on a narrow terminal
        assert width_of(create) == max(width, 49)


def test_the_source_line_in_a_comment_is_cut_to_the_width() -> None:
    for width in (80, 120):
        line = end_line(record(value=1), terminal(width))
        assert width_of(line) == width and line.endswith(ELLIPSIS)
        assert "# GEN_SUSPENDED · line 7: total = yield {" in line


def test_deep_or_narrow_lines_keep_some_of_each_repr() -> None:
    line = end_line(record(value="x" * 300, depth=11), terminal(40))
    assert line.startswith(" " * 44 + "'" + "x" * (MIN_FIT - 4) + "...  # ")


def test_max_repr_wins_on_a_terminal_and_the_column_still_follows_the_width() -> None:
    options = terminal(60, max_repr=200)
    line = end_line(record(value="x" * 150), options)
    assert line.startswith("'" + "x" * 150 + "'  # ")
    assert end_line(record(value="short"), options).startswith("'short'" + " " * 17 + "# ")  # column 24
    assert start_line(record("send", arg="s" * 150), options) == ">>> g#1.send('" + "s" * 150 + "')"
    assert SOURCE in end_line(record(value=1), options)


def test_files_and_pipes_keep_column_40_and_max_repr() -> None:
    options = TextOptions(max_repr=1000, source=lambda filename, lineno: SOURCE)
    line = end_line(record(value="x" * 150), options)
    assert line.startswith("'" + "x" * 150 + "'  # ") and line.endswith(SOURCE)
    assert end_line(record(value="short"), options).startswith("'short'" + " " * 33 + "# ")


# -- columns as a terminal shows them ---------------------------------------------------------------

WIDE = ["中文", "日本語のテキスト", "😀", "👍🏽x", "ｆｕｌｌ", "e\u0301" * 5, "한국어", "naïve ☃"]


@pytest.mark.parametrize("value", WIDE)
@pytest.mark.parametrize(
    "options",
    [TextOptions(), terminal(80), terminal(60, max_repr=200)],
    ids=["file", "terminal", "terminal-max-repr"],
)
def test_wide_and_combining_characters_keep_the_comments_aligned(value: str, options: TextOptions) -> None:
    column = comment_column(options.width)
    steps = TextSteps(options)
    for depth in (0, 1):
        rec = record(value=value, depth=depth)
        line = end_line(rec, options)
        assert comment_at(line) == column, line
        steps.start(rec)
        assert steps.yielded(rec) == line + "\n"  # the fast path counts columns too


@settings(max_examples=300, database=None)
@given(
    st.text(st.sampled_from(["中", "😀", "\u0301", "a", "ｆ", "\U0001f3fd", "\x00"]) | st.characters()),
    st.sampled_from([None, 50, 80, 160]),
)
def test_any_value_puts_the_comment_at_the_column_or_two_spaces_after_it(
    text: str, width: int | None
) -> None:
    options = TextOptions(max_repr=1000) if width is None else terminal(width)
    column = comment_column(width)
    line = end_line(record(value=text), options)
    at = line.rindex("  # GEN_SUSPENDED · line 7")
    shown = line[:at].rstrip(" ")
    assert shown == (safe_repr(text, 1000) if width is None else safe_repr(text, column - 2, columns=True))
    assert width_of(line[: at + 2]) == max(column, width_of(shown) + 2)


# -- cuts between characters ------------------------------------------------------------------------


def test_bytes_are_cut_between_escapes() -> None:
    data = bytes(range(40))
    assert safe_repr(data, 13) == "b'\\x00\\x01..."
    assert [len(safe_repr(data, n)) for n in range(10, 15)] == [9, 9, 9, 13, 13]
    assert safe_repr(data, 30) == "b'\\x00\\x01\\x02\\x03\\x04\\x05..."
    assert safe_repr(b"\t\n\x0b" * 9, 12) == "b'\\t\\n..."
    assert safe_repr(b"\t\n\x0b" * 9, 13) == "b'\\t\\n\\x0b..."


def test_strings_are_cut_between_escapes_and_characters() -> None:
    assert safe_repr("\u200b" * 10, 12) == "'\\u200b..."
    assert safe_repr("\U0001f600\x00" * 5, 12) == "'😀\\x00😀..."
    assert safe_repr("\n" * 20, 9) == "'\\n\\n..."
    assert safe_repr("\\x0b" * 5, 8) == "'\\\\x0..."  # an escaped backslash, then plain text
    assert safe_repr("e\u0301" * 10, 7) == "'e\u0301..."  # a letter keeps its accent
    assert safe_repr("\U0001f44d\U0001f3fd" * 5, 7) == "'\U0001f44d\U0001f3fd..."  # an emoji its tone
    assert safe_repr("\u0915\u093e" * 9, 9) == "'\u0915\u093e\u0915\u093e..."  # a consonant its vowel sign
    assert safe_repr(ReprText("'" + "\\x00" * 20 + "'"), 10) == "'\\x00..."  # read back from a trace
    assert cut("abc\\x0bdef", 2) == "ab"  # too short for the marker: a prefix that ends a character


def test_columns_count_what_a_terminal_shows() -> None:
    assert safe_repr("中" * 20, 10, columns=True) == "'中中中..."  # 10 columns
    assert safe_repr("中" * 20, 11, columns=True) == "'中中中..."  # no half of a character
    assert safe_repr("e\u0301" * 20, 10, columns=True) == "'" + "e\u0301" * 6 + "..."
    assert safe_repr("中" * 4, 10, columns=True) == "'中中中中'"


SPECIAL = ["'", '"', "\\", "\n", "\t", "\x00", "\x0b", "\x7f", "\x85", "\u200b", "\u202e", "\u0301",
           "\u20dd", "\u0903", "é", "中", "😀", "\U0001f3fd", "\ud800", "x", "7"]  # fmt: skip
texts = st.text(st.sampled_from(SPECIAL), min_size=1, max_size=30) | st.text(max_size=30)
scalars = texts | st.binary(max_size=30)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=6)
        | st.tuples(inner)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=3) | st.binary(max_size=3), inner, max_size=4)
        | st.sets(texts, max_size=4)
        | st.frozensets(st.binary(max_size=4), max_size=4)
    ),
    max_leaves=12,
)


def tokens(value: Any) -> list[str]:
    """The repr of `value` in the pieces a cut keeps whole: escapes, characters, punctuation."""
    if isinstance(value, str):
        quote = repr(value)[-1]
        inner = ["\\'" if ch == "'" == quote else repr(ch)[1:-1] for ch in value]
        return [quote, *inner, quote]
    if isinstance(value, bytes):
        quote = repr(value)[-1]
        inner = ["\\'" if b == ord("'") and quote == "'" else repr(bytes([b]))[2:-1] for b in value]
        return ["b", quote, *inner, quote]
    if isinstance(value, dict):
        items = [[*tokens(k), ":", " ", *tokens(v)] for k, v in value.items()]
        return ["{", *joined(items), "}"]
    if isinstance(value, (set, frozenset)):
        name = type(value).__name__
        if not value:
            return list(f"{name}()")
        inner = ["{", *joined([tokens(item) for item in value]), "}"]
        return inner if isinstance(value, set) else [*name, "(", *inner, ")"]
    items = [tokens(item) for item in value]
    if isinstance(value, tuple):
        return ["(", *joined(items), *([","] if len(value) == 1 else []), ")"]
    return ["[", *joined(items), "]"]


def joined(parts: list[list[str]]) -> list[str]:
    out: list[str] = []
    for i, part in enumerate(parts):
        out += [",", " ", *part] if i else part
    return out


def extends(token: str) -> bool:
    """A character drawn on the one before it: a combining mark, an emoji's skin tone."""
    return len(token) == 1 and (unicodedata.category(token)[0] == "M" or 0x1F3FB <= ord(token) <= 0x1F3FF)


def boundaries(pieces: list[str]) -> set[int]:
    """Where a cut may fall: between two pieces, not before one drawn on the piece before it."""
    ends, at = {0}, 0
    for i, piece in enumerate(pieces):
        at += len(piece)
        if i + 1 == len(pieces) or not extends(pieces[i + 1]):
            ends.add(at)
    return ends


@settings(max_examples=500, database=None)
@given(values, st.integers(0, 60), st.booleans())
def test_a_cut_repr_is_a_prefix_ending_between_characters(value: Any, limit: int, columns: bool) -> None:
    full = repr(value)
    pieces = tokens(value)
    assert "".join(pieces) == full  # the oracle itself
    size = width_of if columns else len
    shown = safe_repr(value, limit, columns=columns)
    if size(full) <= limit:
        assert shown == full
        return
    marker = ELLIPSIS if limit > len(ELLIPSIS) else ""
    assert shown.endswith(marker)
    kept = shown[: len(shown) - len(marker)]
    assert full.startswith(kept)
    assert len(kept) in boundaries(pieces)
    assert size(shown) <= limit
    # and the longest such prefix: the next place a cut may fall would not fit
    assert all(size(full[:end]) + len(marker) > limit for end in boundaries(pieces) if end > len(kept))


# -- real terminals ---------------------------------------------------------------------------------

PROGRAM = """\
def gen():
    yield "x" * 100
    yield "中" * 40
    yield b"\\x00" * 40
    yield "😀 aligned"


g = gen()
for _ in range(4):
    next(g)
"""


def environ(**changes: str) -> dict[str, str]:
    """The test's environment with no width or colour of its own, UTF-8 on the standard streams."""
    drop = ("COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR", "PYTHONWARNINGS")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(PYTHONIOENCODING="utf-8", PYTHONDONTWRITEBYTECODE="1", NO_COLOR="1", TERM="dumb")
    env.update(changes)
    return env


def on_terminal(cwd: Path, columns: int, *args: str, **env: str) -> list[str]:
    """The lines `python -m gentrace ARGS` writes to a pseudo-terminal `columns` wide."""
    child = pexpect.spawn(
        sys.executable,
        ["-m", "gentrace", *args],
        cwd=str(cwd),
        env=environ(**env),
        encoding="utf-8",
        timeout=TIMEOUT,
        dimensions=(24, columns),
    )
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    return str(child.before).replace("\r\n", "\n").splitlines()


def results(lines: list[str]) -> list[str]:
    return [line for line in lines if "  # " in line and not line.startswith(">>>")]


@pytest.fixture
def program(tmp_path: Path) -> Path:
    (tmp_path / "prog.py").write_text(PROGRAM, encoding="utf-8")
    return tmp_path


def test_run_on_a_terminal_follows_its_width(program: Path) -> None:
    lines = results(on_terminal(program, 60, "run", "prog.py"))
    assert [line[: line.index("  # ")].rstrip() for line in lines] == [
        "'" + "x" * 18 + "...",  # 22 columns, before the comment at 24
        "'" + "中" * 9 + "...",
        "b'" + "\\x00" * 4 + "...",
        "'😀 aligned'",
    ]
    assert [comment_at(line) for line in lines] == [24] * 4
    assert all(width_of(line) <= 60 for line in lines[1:])  # the comment's source line cut to fit


def test_run_honours_columns_and_a_wide_terminal(program: Path) -> None:
    assert [
        comment_at(line) for line in results(on_terminal(program, 60, "run", "prog.py", COLUMNS="100"))
    ] == [40] * 4
    wide = results(on_terminal(program, 200, "run", "prog.py"))
    assert [comment_at(line) for line in wide] == [80] * 4
    assert wide[0].startswith("'" + "x" * 74 + "...  # ")
    assert wide[1].startswith("'" + "中" * 37 + "...  # ")


def test_show_on_a_terminal_prints_what_run_printed_at_that_width(program: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "gentrace", "run", "-q", "-o", "trace.jsonl", "prog.py"],
        cwd=program,
        env=environ(),
        check=True,
        timeout=TIMEOUT,
    )
    for columns in (60, 200):
        shown = on_terminal(program, columns, "show", "trace.jsonl")
        ran = on_terminal(program, columns, "run", "prog.py")
        assert shown == ran
        assert [comment_at(line) for line in results(shown)] == [comment_column(columns)] * 4
    whole = results(on_terminal(program, 60, "show", "--max-repr", "200", "trace.jsonl"))
    assert whole[0].startswith(repr("x" * 100) + "  # ")  # --max-repr wins
    assert whole[3].startswith("'😀 aligned'" + " " * 12 + "# ")  # at column 24 still


def test_files_and_pipes_keep_the_fixed_layout_whatever_columns_says(program: Path) -> None:
    def piped(*args: str, **env: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "gentrace", *args],
            cwd=program,
            env=environ(**env),
            capture_output=True,
            text=True,
            encoding="utf-8",
            check=True,
            timeout=TIMEOUT,
        )
        return done.stdout + done.stderr

    logged = piped("run", "-o", "run.log", "-o", "trace.jsonl", "prog.py", COLUMNS="50")
    assert piped("run", "prog.py") == logged
    lines = results(logged.splitlines())
    # a file's max_repr: nothing cut, and a long value pushes its comment (in columns: 中 takes two)
    assert [comment_at(line) for line in lines] == [104, 84, 165, COMMENT_COLUMN]
    assert lines[0].startswith(repr("x" * 100) + "  # ")
    assert (program / "run.log").read_text(encoding="utf-8") == logged
    assert piped("show", "trace.jsonl", COLUMNS="50") == logged
