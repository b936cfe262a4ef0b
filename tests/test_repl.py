"""`gentrace repl`: the console driven as a user would, through a pty and with piped stdin."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pexpect
import pytest

GENTRACE = [sys.executable, "-m", "gentrace"]
TIMEOUT = 10
PROMPT = ">>> "

MOD = """\
def gen():
    yield 1
    x = yield 2
    return x
"""

AVERAGER = """\
import sys


def averager():
    total = 0.0
    count = 0
    average = None
    while True:
        term = yield average
        total += term
        count += 1
        average = total / count


def boom():
    yield 1
    raise ValueError("bad value")


if __name__ == "__main__":
    avg = averager()
    next(avg)
    print("main block ran", avg.send(10))
"""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra)
    return env


def repl(
    session: str, *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*GENTRACE, "repl", *args],
        input=textwrap.dedent(session),
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env or _env(),
        timeout=TIMEOUT * 3,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "mod.py").write_text(MOD)
    (tmp_path / "averager.py").write_text(AVERAGER)
    return tmp_path


# -- piped stdin --------------------------------------------------------------------------------


def test_generator_defined_at_the_prompt_is_annotated_before_the_echo(project: Path) -> None:
    proc = repl(
        """\
        def count():
            n = yield 0
            yield n

        c = count()
        next(c)
        c.send(5)
        """,
        cwd=project,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "0\n5\n"
    assert "# count#1 created" in proc.stderr
    assert "# next(count#1) → 0 · GEN_CREATED → GEN_SUSPENDED · paused at line 2: n = yield 0" in proc.stderr
    assert "# count#1.send(5) → 5 · GEN_SUSPENDED · line 3: yield n" in proc.stderr
    assert "\x1b[" not in proc.stderr  # no colour when stderr is not a terminal


def test_annotations_come_before_the_echo(project: Path) -> None:
    proc = subprocess.run(
        [*GENTRACE, "repl"],
        input="import mod\ng = mod.gen()\nnext(g)\n",
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=project,
        env=_env(),
        timeout=TIMEOUT * 3,
    )
    out = proc.stdout
    assert out.index("# next(gen#1) → 1") < out.index("\n1\n")


def test_iterators_at_the_prompt_and_in_modules_with_iterators(project: Path) -> None:
    (project / "loops.py").write_text("def total(xs):\n    return sum(x for x in xs)\n")
    session = """\
        pairs = enumerate('ab')
        for i, c in pairs: print(i, c)

        next(pairs, 'done')
        import loops
        loops.total([5])
        """
    proc = repl(session, "--iterators", cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "0 a\n1 b\n'done'\n5\n"
    assert "# enumerate#1 = iter(pairs) · <stdin>:1 · its own iterator\n" in proc.stderr
    assert "# next(enumerate#1) → (0, 'a')\n" in proc.stderr
    assert "# next(enumerate#1) → StopIteration · loop at line 1 ends\n" in proc.stderr
    assert "# next(enumerate#1, 'done') → 'done' · enumerate#1 was already exhausted\n" in proc.stderr
    assert "# genexpr@2#1 created · loops.py:2 · GEN_CREATED\n" in proc.stderr
    plain = repl(session, cwd=project)
    assert plain.stdout == proc.stdout
    assert "enumerate#1" not in plain.stderr and "genexpr" not in plain.stderr


def test_modules_of_the_current_directory_are_traced(project: Path) -> None:
    proc = repl("import mod\ng = mod.gen()\nlist(g)\n", cwd=project)
    assert proc.stdout == "[1, 2]\n"
    assert "# gen#1 created · mod.py:1 · GEN_CREATED" in proc.stderr
    assert "# next(gen#1) → StopIteration · returned · GEN_SUSPENDED → GEN_CLOSED" in proc.stderr


def test_script_runs_with_its_main_block_then_the_console_opens_in_its_namespace(project: Path) -> None:
    proc = repl("avg.send(20)\nb = averager()\n", "averager.py", cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "main block ran 10.0\n15.0\n"
    # The script's steps are logged as `gentrace run` logs them, the console's as annotations.
    assert ">>> averager#1 = averager()" in proc.stderr
    assert "# averager#1.send(20) → 15.0 · GEN_SUSPENDED · line 9: term = yield average" in proc.stderr
    assert "# averager#2 created · averager.py:4 · GEN_CREATED" in proc.stderr


def test_sys_exit_in_the_script_still_opens_the_console(project: Path) -> None:
    (project / "quits.py").write_text("import sys\nvalue = 42\nsys.exit(3)\n")
    proc = repl("value + 1\n", "quits.py", cwd=project)
    assert proc.returncode == 0
    assert proc.stdout == "43\n"
    assert "SystemExit: 3" in proc.stderr
    assert "gentrace" not in proc.stderr.split("SystemExit")[0].replace("gentrace repl", "")


def test_an_exception_in_the_script_still_opens_the_console(project: Path) -> None:
    (project / "crashes.py").write_text("value = 7\nraise KeyError('k')\n")
    proc = repl("value\n", "crashes.py", cwd=project)
    assert proc.returncode == 0
    assert proc.stdout == "7\n"
    assert "KeyError: 'k'" in proc.stderr


def test_helpers_print_their_own_text(project: Path) -> None:
    proc = repl(
        """\
        import averager
        a = averager.averager()
        next(a)
        a.send(4)
        state(a)
        where(a)
        locals_of(a)
        history(a)
        """,
        cwd=project,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "averager#1: GEN_SUSPENDED · paused at averager.py:9: term = yield average\n" in out
    assert "-->    9          term = yield average\n" in out
    assert "averager#1: GEN_SUSPENDED at averager.py:9\n" in out
    assert "total = 4.0\ncount = 1\naverage = 4.0\nterm = 4\n" in out
    assert ">>> averager#1 = averager()" in out
    assert ">>> averager#1.send(4)\n4.0 " in out
    assert "'" not in out  # echoed as text, not as quoted strings


def test_helpers_are_in_the_banner(project: Path) -> None:
    proc = repl("", cwd=project)
    for helper in ("state(g)", "history(g)", "where(g)", "locals_of(g)"):
        assert helper in proc.stderr


def test_traceback_inside_a_generator_has_no_gentrace_frames(project: Path) -> None:
    proc = repl("import averager\nb = averager.boom()\nnext(b)\nnext(b)\nprint('alive')\n", cwd=project)
    assert proc.returncode == 0
    assert proc.stdout == "1\nalive\n"
    tb = proc.stderr[proc.stderr.index("Traceback") :]
    assert 'File "<stdin>", line 1, in <module>' in tb
    assert 'averager.py", line 17, in boom' in tb
    assert "ValueError: bad value" in tb
    assert "gentrace" + os.sep not in tb and "proxy.py" not in tb and "code.py" not in tb
    assert "# next(averager.boom#1)" not in proc.stderr
    assert "# next(boom#1) → ValueError: bad value · raised · GEN_SUSPENDED → GEN_CLOSED" in proc.stderr


def test_eof_exits_zero_and_exit_code_follows_sys_exit(project: Path) -> None:
    assert repl("1 + 1\n", cwd=project).returncode == 0
    assert repl("import sys\nsys.exit(5)\n", cwd=project).returncode == 5


def test_out_file_gets_the_session_events(project: Path) -> None:
    proc = repl("import mod\ng = mod.gen()\nnext(g)\n", "--out", "s.jsonl", "--out", "s.log", cwd=project)
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in (project / "s.jsonl").read_text().splitlines()]
    assert [(e.get("gen"), e.get("op")) for e in events[:2]] == [("gen#1", "create"), ("gen#1", "next")]
    assert ">>> next(gen#1)" in (project / "s.log").read_text()


@pytest.mark.parametrize(
    ("args", "env", "coloured"),
    [
        ((), {}, False),
        (("--color",), {}, True),
        (("--color",), {"NO_COLOR": "1"}, True),
        ((), {"FORCE_COLOR": "1"}, True),
        (("--no-color",), {"FORCE_COLOR": "1"}, False),
    ],
)
def test_colour_rules_when_piped(
    project: Path, args: tuple[str, ...], env: dict[str, str], coloured: bool
) -> None:
    proc = repl("import mod\ng = mod.gen()\n", *args, cwd=project, env=_env(**env))
    assert ("\x1b[" in proc.stderr) is coloured
    assert "\x1b[" not in proc.stdout


def test_saved_session_replays_as_a_doctest_and_fails_when_behaviour_changes(project: Path) -> None:
    proc = repl(
        """\
        import mod
        g = mod.gen()
        next(g)
        g
        state(g)
        history(g)
        print("a\\n\\nb")
        next(g)
        1 +* 2
        g.send(7)
        """,
        "--save",
        "session.md",
        cwd=project,
    )
    assert proc.returncode == 0, proc.stderr
    saved = (project / "session.md").read_text()
    assert saved.startswith(
        "```pycon\n>>> import mod\n>>> g = mod.gen()\n... # gen_1 created · mod.py:1 · GEN_CREATED\n"
    )
    assert ">>> g  # doctest: +ELLIPSIS\n<generator object gen at 0x...>\n" in saved
    assert ">>> state(g)  # doctest: +SKIP\ngen_1: GEN_SUSPENDED · paused at mod.py:2: yield 1\n" in saved
    assert "a\n<BLANKLINE>\nb\n" in saved
    assert "+*" not in saved
    assert "Traceback (most recent call last):\n  ...\nStopIteration: 7\n\n```\n" in saved

    def replay() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-B", "-m", "doctest", "session.md"],
            capture_output=True,
            text=True,
            cwd=project,
            env=_env(),
            timeout=TIMEOUT * 3,
        )

    passed = replay()
    assert passed.returncode == 0, passed.stdout + passed.stderr
    (project / "mod.py").write_text(MOD.replace("yield 2", "yield 3"))
    failed = replay()
    assert failed.returncode == 1
    assert "Expected:\n    2\nGot:\n    3" in failed.stdout


def test_a_missing_script_is_a_usage_error(project: Path) -> None:
    proc = repl("", "nope.py", cwd=project)
    assert proc.returncode == 2
    assert "nope.py" in proc.stderr and "Traceback" not in proc.stderr


# -- a real terminal ----------------------------------------------------------------------------


def spawn(project: Path, *args: str, prompt: bool = True, **env: str) -> pexpect.spawn:
    child = pexpect.spawn(
        sys.executable,
        ["-m", "gentrace", "repl", *args],
        cwd=str(project),
        env={**_env(TERM="dumb"), **env},
        encoding="utf-8",
        codec_errors="replace",  # Ctrl-C discards the terminal's pending output, maybe mid-character
        timeout=TIMEOUT,
        dimensions=(24, 200),
    )
    if prompt:
        child.expect_exact(PROMPT)
    return child


def finish(child: pexpect.spawn) -> int:
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    return int(child.exitstatus or 0)


def test_terminal_prompts_history_and_colour(project: Path) -> None:
    child = spawn(project)
    child.sendline("import mod; g = mod.gen()")
    child.expect_exact("gen#1 created")
    child.expect_exact(PROMPT)
    child.sendline("next(g)")
    child.expect_exact("\x1b[")  # annotations are coloured on a terminal
    child.expect_exact("next(gen#1) → 1")
    child.expect_exact(PROMPT)
    child.send("\x1b[A\r")  # up arrow: the previous line again
    child.expect_exact("next(gen#1) → 2")
    child.expect_exact(PROMPT)
    child.sendline("for i in range(2):")
    child.expect_exact("... ")
    child.sendline("    print('row', i)")
    child.expect_exact("... ")
    child.sendline("")
    child.expect_exact("row 1")
    child.expect_exact(PROMPT)
    assert finish(child) == 0


def test_terminal_no_color_env(project: Path) -> None:
    child = spawn(project, NO_COLOR="1")
    child.sendline("import mod; g = mod.gen(); next(g)")
    child.expect_exact("next(gen#1) → 1")
    child.expect_exact(PROMPT)
    assert "\x1b[2m" not in (child.before or "")
    assert finish(child) == 0


def test_ctrl_c_at_the_prompt_and_inside_a_running_generator(project: Path) -> None:
    child = spawn(project)
    child.send("1 +")
    child.expect_exact("1 +")
    child.sendintr()
    child.expect_exact("KeyboardInterrupt")
    child.expect_exact(PROMPT)
    child.sendline("import time")
    child.expect_exact(PROMPT)
    child.sendline("def slow():\n    while True:\n        yield time.sleep(0.05)\n")
    child.expect_exact(PROMPT)
    child.sendline("s = slow(); print('start' + 'ed'); list(s)")  # the echo does not say 'started'
    child.expect_exact("started")
    child.sendintr()
    child.expect_exact("Traceback (most recent call last)")
    child.expect_exact("KeyboardInterrupt")
    child.expect_exact(PROMPT)
    child.sendline("print('still', 'alive')")
    child.expect_exact("still alive")
    child.expect_exact(PROMPT)
    assert finish(child) == 0


def test_saved_session_with_a_script_replays_the_script_first(project: Path) -> None:
    proc = repl("avg.send(20)\n", "--save", "session.md", "averager.py", cwd=project)
    assert proc.returncode == 0, proc.stderr
    saved = (project / "session.md").read_text()
    assert saved.startswith(
        "```pycon\n>>> with open('averager.py') as f: exec(compile(f.read(), 'averager.py', 'exec'))\n"
        "main block ran 10.0\n>>> avg.send(20)\n"
    )
    replay = subprocess.run(
        [sys.executable, "-B", "-m", "doctest", "session.md"],
        capture_output=True,
        text=True,
        cwd=project,
        env=_env(),
        timeout=TIMEOUT * 3,
    )
    assert replay.returncode == 0, replay.stdout + replay.stderr


# -- notes in order, and a --save that replays --------------------------------------------------

TALK = """\
def talk():
    for word in ["hi", "yo"]:
        print("said", word)
        yield word
"""


def _in_order(text: str, *parts: str) -> None:
    """Each part occurs in `text`, after the one before."""
    at = 0
    for part in parts:
        found = text.find(part, at)
        assert found >= 0, f"{part!r} not after position {at} in:\n{text}"
        at = found + len(part)


def test_piped_notes_come_between_the_prints_of_a_for_loop(project: Path) -> None:
    (project / "talking.py").write_text(TALK)
    proc = subprocess.run(
        [*GENTRACE, "repl"],
        input="from talking import talk\nfor word in talk(): print('got', word)\n\n",
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # both streams into one pipe: their order is the order written
        text=True,
        cwd=project,
        env=_env(),
        timeout=TIMEOUT * 3,
    )
    _in_order(
        proc.stdout,
        "# talk#1 created",
        "# next(talk#1) ...\n",  # the step announces itself before what it prints
        "said hi\n",
        "# next(talk#1) → 'hi' ",
        "got hi\n",
        "# next(talk#1) ...\n",
        "said yo\n",
        "# next(talk#1) → 'yo' ",
        "got yo\n",
        "# next(talk#1) → StopIteration",
        ">>> ",
    )


def test_terminal_note_comes_before_what_the_loop_prints_after_the_step(project: Path) -> None:
    child = spawn(project)
    child.sendline(TALK)
    child.expect_exact(PROMPT)
    child.sendline("for word in talk(): print('got', word)")
    child.expect_exact("... ")
    child.sendline("")
    child.expect_exact(PROMPT)
    shown = child.before or ""
    _in_order(
        shown,
        "# next(talk#1) ...",
        "said hi",
        "# next(talk#1) → 'hi' ",
        "got hi",
        "# next(talk#1) ...",
        "said yo",
        "# next(talk#1) → 'yo' ",
        "got yo",
        "# next(talk#1) → StopIteration",
    )
    assert finish(child) == 0


def test_terminal_shows_the_note_of_a_step_while_the_statement_still_runs(project: Path) -> None:
    fifo = project / "words.fifo"
    os.mkfifo(fifo)
    # Opened read-write (Linux), a FIFO opens without waiting for a reader; closing it is the EOF.
    writer = os.open(fifo, os.O_RDWR)
    child = spawn(project)
    try:
        child.sendline(
            "def words(path):\n    with open(path) as f:\n        for line in f:\n"
            "            yield line.strip()\n"
        )
        child.expect_exact(PROMPT)
        child.sendline("for word in words('words.fifo'): print('read', word)")
        child.expect_exact("... ")
        child.sendline("")
        os.write(writer, b"first\n")
        # The generator now waits for the next line: the statement cannot end before we close.
        child.expect_exact("# next(words#1) → 'first' ")
        child.expect_exact("read first")
        os.write(writer, b"second\n")
        child.expect_exact("# next(words#1) → 'second' ")
        child.expect_exact("read second")
    finally:
        os.close(writer)
    child.expect_exact("# next(words#1) → StopIteration")
    child.expect_exact(PROMPT)
    assert finish(child) == 0


def doctest_replay(project: Path, name: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-B", "-m", "doctest", name],
        capture_output=True,
        text=True,
        cwd=project,
        env=_env(),
        timeout=TIMEOUT * 3,
    )


def test_saved_session_after_ctrl_c_in_a_long_loop_replays(project: Path) -> None:
    child = spawn(project, "--save", "session.md")
    child.sendline("def ticks():\n    n = 0\n    while True:\n        yield n\n        n += 1\n")
    child.expect_exact(PROMPT)
    child.sendline("total = 0; t = ticks()")
    child.expect_exact(PROMPT)
    child.sendline("for n in t:\n    total += n\n")
    child.expect_exact("# next(ticks#1) → 1 ")  # the loop runs (its notes show it)
    child.sendintr()
    child.expect_exact("KeyboardInterrupt")
    child.expect_exact(PROMPT)
    child.sendline("next(t) > 0")  # what t gives now is the interrupted loop's doing
    child.expect_exact(PROMPT)
    child.sendline("print('after', 6 * 7)")
    child.expect_exact("after 42")
    child.expect_exact(PROMPT)
    assert finish(child) == 0

    saved = (project / "session.md").read_text()
    assert "\n# not replayed: stopped by KeyboardInterrupt\n# >>> for n in t:\n" in saved
    assert "\n>>> for n in t:" not in saved
    examples = [line for line in saved.splitlines() if not line.startswith("#")]
    assert not [line for line in examples if "KeyboardInterrupt" in line]
    assert ">>> next(t) > 0  # doctest: +SKIP\n" in saved
    assert ">>> print('after', 6 * 7)\nafter 42\n" in saved
    assert "exit()" not in saved
    replay = doctest_replay(project, "session.md")
    assert replay.returncode == 0, replay.stdout + replay.stderr


def test_saved_session_ended_by_exit_replays(project: Path) -> None:
    child = spawn(project, "--save", "session.md")
    child.sendline("import mod; g = mod.gen(); next(g)")
    child.expect_exact("next(gen#1) → 1")
    child.expect_exact(PROMPT)
    child.sendline("exit()")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0

    saved = (project / "session.md").read_text()
    assert saved.startswith("```pycon\n>>> import mod; g = mod.gen(); next(g)\n")
    assert "exit()" not in saved
    replay = doctest_replay(project, "session.md")
    assert replay.returncode == 0, replay.stdout + replay.stderr


def test_saved_session_after_ctrl_c_in_the_script_skips_what_uses_its_names(project: Path) -> None:
    (project / "spins.py").write_text("count = 0\nprint('spin' + 'ning')\nwhile True:\n    count += 1\n")
    child = spawn(project, "--save", "session.md", "spins.py", prompt=False)
    child.expect_exact("spinning")
    child.sendintr()
    child.expect_exact("KeyboardInterrupt")
    child.expect_exact(PROMPT)  # the console opens on what the script left, as python -i does
    child.sendline("count >= 0")
    child.expect_exact("True")
    child.expect_exact(PROMPT)
    child.sendline("2 + 2")
    child.expect_exact(PROMPT)
    assert finish(child) == 0

    saved = (project / "session.md").read_text()
    assert saved.startswith("```pycon\n\n# not replayed: stopped by KeyboardInterrupt\n# >>> with open(")
    assert ">>> count >= 0  # doctest: +SKIP\nTrue\n" in saved
    assert ">>> 2 + 2\n4\n" in saved
    replay = doctest_replay(project, "session.md")
    assert replay.returncode == 0, replay.stdout + replay.stderr
