"""The IPython extension in a real, in-process IPython: ``%load_ext gentrace``, ``%%gentrace``,
``%gentrace on|off``, what a cell shows (both MIME types, in order with its own output), errors.

A terminal IPython (stderr log) is run as a subprocess at the end.
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("IPython", reason="the jupyter extra is not installed: pip install -e '.[jupyter]'")

from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}


@pytest.fixture(scope="module")
def shell() -> Iterator[InteractiveShell]:
    ip = InteractiveShell.instance()
    ip.run_cell("%load_ext gentrace")
    yield ip
    ip.run_cell("%unload_ext gentrace")


@pytest.fixture(autouse=True)
def _off(shell: InteractiveShell) -> Iterator[None]:
    yield
    shell.run_cell("%gentrace off")


class Ran:
    """What one cell did: its result, its rich outputs and what it wrote."""

    def __init__(self, result: Any, outputs: list[dict[str, str]], stdout: str, stderr: str) -> None:
        self.result = result
        self.outputs = outputs
        self.stdout = stdout
        self.stderr = stderr

    @property
    def log(self) -> str:
        """The log of the cell: the text/plain of its rich outputs."""
        return "\n".join(o["text/plain"] for o in self.outputs if "gentrace-log" in o.get("text/html", ""))


def run(shell: InteractiveShell, cell: str) -> Ran:
    with capture_output() as captured:
        result = shell.run_cell(cell, store_history=True)
    return Ran(result, [o.data for o in captured.outputs], captured.stdout, captured.stderr)


def run_in_order(shell: InteractiveShell, cell: str) -> tuple[Any, str]:
    """The cell's log and output as one text, in the order they were shown (the plain shell
    prints a rich output's text/plain on stdout)."""
    with capture_output(display=False) as captured:
        result = shell.run_cell(cell, store_history=True)
    return result, captured.stdout


def gentrace_run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gentrace", "run", *args], capture_output=True, text=True, cwd=ROOT, env=ENV
    )


def test_a_cell_with_the_averager_shows_the_lines_that_run_shows(shell: InteractiveShell) -> None:
    source = (ROOT / "samples" / "averager.py").read_text()
    ran = run(shell, "%%gentrace\n" + source)
    assert ran.result.error_in_exec is None
    expected = gentrace_run("samples/averager.py").stderr
    cell = f"In[{ran.result.execution_count}]"
    # The same lines, line numbers included (counted from the line after the magic); only the
    # file is the cell.
    assert ran.log.splitlines() == expected.replace("samples/averager.py:", f"{cell}:").splitlines()
    assert "accumulate returned {'count': 4, 'average': 12.5}" in ran.stdout


def test_a_print_between_two_steps_is_shown_between_their_lines(shell: InteractiveShell) -> None:
    result, shown = run_in_order(
        shell,
        "%%gentrace\ndef g():\n    x = yield 1\n    print('inside', x)\n    yield 2\n"
        "it = g()\nnext(it)\nprint('between')\nit.send('hi')\nprint('after')\n",
    )
    assert result.error_in_exec is None
    lines = shown.splitlines()
    assert [line.split("  #")[0].rstrip() for line in lines] == [
        ">>> g#1 = g()" if "g#1" in shown else ">>> g#2 = g()",
        lines[1].split("  #")[0].rstrip(),
        "1",
        "between",
        lines[4],
        "inside hi",
        "2",
        "after",
    ]
    assert lines[1].startswith(">>> next(g#") and lines[4].startswith(">>> g#") and ".send('hi')" in lines[4]


def test_the_log_is_html_in_colour_and_the_same_text_plain(shell: InteractiveShell) -> None:
    ran = run(shell, "%%gentrace\ndef count():\n    yield '<b>&'\nc = count()\nnext(c)\n")
    (output,) = [o for o in ran.outputs if "text/html" in o]
    text = html.unescape(re.sub(r"<[^>]+>", "", output["text/html"]))
    assert text.rstrip("\n") == output["text/plain"]
    assert "'<b>&'" in output["text/plain"]
    assert "&lt;b&gt;&amp;" in output["text/html"]  # escaped, never markup
    assert re.search(r'<span style="color:[^"]+">&gt;&gt;&gt;</span>', output["text/html"])
    assert "\x1b" not in output["text/plain"] + output["text/html"]


def test_names_live_on_across_cells_and_plain_cells_are_not_logged(shell: InteractiveShell) -> None:
    first = run(
        shell,
        "%%gentrace\ndef ticker():\n    n = 0\n    while True:\n        n = yield n\nt = ticker()\nnext(t)",
    )
    name = re.search(r">>> (ticker#\d+) = ticker\(\)", first.log)
    assert name is not None
    plain = run(shell, "t.send(5)")
    assert plain.outputs == [] and "ticker" not in plain.stdout + plain.stderr
    later = run(shell, "%%gentrace\nt.send(7)\nt2 = ticker()\nnext(t2)")
    number = int(name.group(1).partition("#")[2])
    assert f">>> {name.group(1)}.send(7)" in later.log
    assert f">>> ticker#{number + 1} = ticker()" in later.log


def test_gentrace_on_traces_every_cell_until_off(shell: InteractiveShell) -> None:
    assert "gentrace: off" in run(shell, "%gentrace").stdout
    run(shell, "%gentrace on --max-repr 5")
    assert "gentrace: on (--max-repr 5)" in run(shell, "%gentrace").stdout
    defined = run(shell, "def letters():\n    yield 'abcdefghij'\nl = letters()\nnext(l)")
    assert ">>> next(letters#" in defined.log
    assert "\n'a...  " in defined.log  # the repr cut to 5 characters
    run(shell, "%gentrace off")
    after = run(shell, "m = letters()\nnext(m)")
    assert after.outputs == []


def test_an_unknown_option_is_a_one_line_usage_error_and_the_cell_does_not_run(
    shell: InteractiveShell,
) -> None:
    ran = run(shell, "%%gentrace --bogus\nran_anyway = True\nprint('ran')")
    assert type(ran.result.error_in_exec).__name__ == "UsageError"
    assert ran.stderr.strip().splitlines() == [
        "UsageError: %%gentrace: unrecognized arguments: --bogus (see %gentrace?)"
    ]
    assert "ran" not in ran.stdout and "ran_anyway" not in shell.user_ns
    bad = run(shell, "%gentrace on --max-repr lots")
    assert "--max-repr" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    assert "gentrace: off" in run(shell, "%gentrace").stdout


def test_a_syntax_error_is_shown_as_ipython_shows_it(shell: InteractiveShell) -> None:
    ran = run(shell, "%%gentrace\nx = 1\ndef broken(:\n    yield\n")
    assert isinstance(ran.result.error_before_exec, SyntaxError)
    assert ran.result.error_before_exec.lineno == 2  # the cell's line, counted after the magic
    assert "SyntaxError" in ran.stdout + ran.stderr
    assert ran.outputs == []


def test_an_exception_is_shown_as_usual_after_the_log_so_far(shell: InteractiveShell) -> None:
    result, shown = run_in_order(
        shell,
        "%%gentrace\ndef failing():\n    yield 1\n    raise ValueError('boom')\n"
        "f = failing()\nnext(f)\nnext(f)\n",
    )
    assert isinstance(result.error_in_exec, ValueError)
    plain = re.sub(r"\x1b\[[0-9;]*m", "", shown)
    assert plain.index("ValueError: boom                        # raised") < plain.index("Traceback")
    traceback = plain[plain.index("Traceback") :]
    assert "gentrace" not in traceback
    assert "----> 6 next(f)" in traceback and "----> 3     raise ValueError('boom')" in traceback
    frames = [tb.tb_frame.f_code.co_filename for tb in _walk(result.error_in_exec.__traceback__)]
    assert not any(os.sep + "gentrace" + os.sep in f for f in frames)


def _walk(tb: Any) -> Iterator[Any]:
    while tb is not None:
        yield tb
        tb = tb.tb_next


def test_out_files_are_complete_when_the_cell_ends(shell: InteractiveShell, tmp_path: Path) -> None:
    jsonl, text = tmp_path / "cell.jsonl", tmp_path / "cell.log"
    run(shell, "%%gentrace\ndef early():\n    yield 0\ne = early()\nnext(e)")  # seqs before this cell
    ran = run(
        shell,
        f"%%gentrace -o {jsonl} --out '{text}'\ndef squares():\n    yield 1\n    yield 4\nlist(squares())",
    )
    events = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [e["seq"] for e in events if "seq" in e][:2] == [1, 2]  # numbered from the cell's start
    assert events[-1] == {"note": "end", "events": 4}
    assert text.read_text().splitlines() == ran.log.splitlines()
    shown = subprocess.run(
        [sys.executable, "-m", "gentrace", "show", str(jsonl)], capture_output=True, text=True, env=ENV
    )
    assert shown.returncode == 0, shown.stderr
    # Read back in another process, the cell is a file name without a source to quote.
    cell = f"In[{ran.result.execution_count}]:"
    unquoted = re.sub(r"(line \d+): .*", r"\1", ran.log)
    assert re.sub(r"<ipython-input-[^>]+>:", cell, shown.stdout).splitlines() == unquoted.splitlines()


def test_summary_and_timeline_follow_the_log(shell: InteractiveShell) -> None:
    ran = run(shell, "%%gentrace --summary --timeline\ndef two():\n    yield 1\n    yield 2\nlist(two())")
    log = ran.log
    assert log.index(">>> next(two#") < log.index("# summary: 1 instance") < log.index("# running")
    assert re.search(r"two#\d+  In\[\d+\]:1 · next 3, send 0", log)


def test_html_shows_the_page_in_a_sandboxed_iframe(shell: InteractiveShell) -> None:
    ran = run(shell, "%%gentrace --html\ndef one():\n    yield 1\nlist(one())")
    frames = [o["text/html"] for o in ran.outputs if "<iframe" in o.get("text/html", "")]
    assert len(frames) == 1
    frame = frames[0]
    assert 'sandbox="allow-scripts"' in frame and "allow-same-origin" not in frame
    page = html.unescape(re.search(r'srcdoc="([^"]*)"', frame).group(1))  # type: ignore[union-attr]
    assert page.startswith("<!DOCTYPE html>") and "Content-Security-Policy" in page
    assert "next(one#" in page


def test_top_level_await_is_traced_with_the_task(shell: InteractiveShell) -> None:
    ran = run(
        shell,
        "%%gentrace\nimport asyncio\nasync def later(x):\n    await asyncio.sleep(0)\n    return x * 2\n"
        "await asyncio.gather(later(1), later(2))",
    )
    assert ran.result.error_in_exec is None and ran.result.result == [2, 4]
    assert re.search(r">>> later#\d+\.send\(None\)", ran.log)
    assert re.search(r"StopIteration: 4 .*CORO_CLOSED · task Task-\d+$", ran.log, re.MULTILINE)
    # The task the cell runs in is IPython's: a step of the cell's own is not tagged with it.
    steps = run(shell, "%%gentrace\ndef plain():\n    yield 1\nawait asyncio.sleep(0)\nnext(plain())")
    assert ">>> next(plain#" in steps.log and "task" not in steps.log


def test_iterators_only_locals_and_timings(shell: InteractiveShell) -> None:
    loop = run(shell, "%%gentrace --iterators\nfor i, c in enumerate('ab'):\n    pass")
    assert re.search(r">>> enumerate#\d+ = iter\(enumerate\('ab'\)\)  # In\[\d+\]:1", loop.log)
    only = run(
        shell,
        "%%gentrace --only wanted --locals --timings\ndef wanted():\n    x = 1\n    yield x\n"
        "def other():\n    yield 2\nnext(wanted())\nnext(other())",
    )
    assert "wanted#" in only.log and "other#" not in only.log
    assert "# locals: x=1" in only.log
    assert re.search(r"yield x · \d+(\.\d+)? [µm]?s\n", only.log)


def test_the_magic_called_directly_runs_the_cell_traced(shell: InteractiveShell) -> None:
    ran = run(shell, "get_ipython().run_cell_magic('gentrace', '', 'def d():\\n    yield 1\\nnext(d())')")
    assert re.search(r">>> next\(d#\d+\)", ran.log)


def test_importing_gentrace_does_not_import_ipython() -> None:
    code = "import sys, gentrace; print('IPython' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV)
    assert done.stdout.strip() == "False"


def test_unloading_takes_the_magic_out() -> None:
    ip = InteractiveShell.instance()
    ip.run_cell("%unload_ext gentrace")
    try:
        ran = run(ip, "%%gentrace\nprint('x')")
        assert "Cell magic `%%gentrace` not found" in ran.stderr + ran.stdout
    finally:
        ip.run_cell("%load_ext gentrace")


def test_terminal_ipython_writes_the_log_on_stderr_as_run_does() -> None:
    cell = "%%gentrace\ndef g(): yield 1; yield 2\nx = g()\nprint('got', next(x))\nnext(x)\n\n\n"
    done = subprocess.run(
        [sys.executable, "-m", "IPython", "--simple-prompt", "--no-banner", "--colors=nocolor", "--quick"],
        input="%load_ext gentrace\n" + cell,
        capture_output=True,
        text=True,
        env=ENV,
        cwd=ROOT,
        timeout=60,
    )
    assert ">>> next(g#1)" in done.stderr, done.stdout + done.stderr
    assert ">>> g#1 = g()  # In[2]:1 · GEN_CREATED" in done.stderr
    assert "got 1" in done.stdout and ">>>" not in done.stdout
