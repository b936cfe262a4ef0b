"""samples/generators.ipynb run headless, as Jupyter runs it: nbclient and a real ipykernel.

The notebook runs once for the module; the tests read its outputs: each ``%%gentrace`` cell's log as
rich output (text and the same in HTML) among its printed output, the same lines as ``gentrace run``
for the same calls, and the ``--html`` cell's replay page stepped in headless chromium.
"""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from test_html import Page, driver
from trace_samples import ROOT

EXTRA = "the jupyter extra is not installed: pip install -e '.[jupyter]'"
nbclient = pytest.importorskip("nbclient", reason=EXTRA)
nbformat = pytest.importorskip("nbformat", reason=EXTRA)
pytest.importorskip("ipykernel", reason=EXTRA)

NOTEBOOK = ROOT / "samples" / "generators.ipynb"
TIMEOUT = 60
LOG = '<pre class="gentrace-log"'
TAG = re.compile(r"<[^>]*>")
# Where the kernel's gentrace comes from: an extra cell, run after the notebook's own.
WHERE = "import gentrace; print(gentrace.__file__)"

__all__ = ["driver"]  # test_html's chromium, shared with the tests below


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The notebook, run by a python3 kernel of this Python in the repo, outputs and all."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(WHERE))
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path, "IPYTHONDIR": str(tmp_path_factory.mktemp("ipython"))}
    client = nbclient.NotebookClient(
        notebook,
        timeout=TIMEOUT,
        kernel_name="python3",
        allow_errors=True,  # the tests say which cell failed, and how
        resources={"metadata": {"path": str(ROOT)}},
    )
    client.execute(env=env)
    return notebook


def code_cells(notebook: Any) -> list[Any]:
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def traced(notebook: Any, header: str) -> Any:
    """The one code cell whose first line is `header`, as ``%%gentrace --iterators``."""
    (cell,) = [c for c in code_cells(notebook) if c.source.splitlines()[0] == header]
    return cell


def cell_with(notebook: Any, text: str) -> Any:
    """The one ``%%gentrace`` cell whose source holds `text`."""
    (cell,) = [c for c in code_cells(notebook) if c.source.startswith("%%gentrace") and text in c.source]
    return cell


def is_log(output: Any) -> bool:
    return output.output_type == "display_data" and output.data.get("text/html", "").startswith(LOG)


def outputs(cell: Any) -> list[tuple[str, str]]:
    """A cell's outputs in order, read as (kind, text): "log" (its text/plain), "stdout" and
    "stderr" (consecutive writes as one), "page", "result" and "error"."""
    found: list[tuple[str, str]] = []
    for output in cell.outputs:
        if output.output_type == "stream":
            if found and found[-1][0] == output.name:
                found[-1] = (output.name, found[-1][1] + output.text)
            else:
                found.append((output.name, output.text))
        elif is_log(output):
            found.append(("log", output.data["text/plain"]))
        elif output.output_type == "display_data" and output.data.get("text/html", "").startswith("<iframe"):
            found.append(("page", output.data["text/html"]))
        elif output.output_type == "execute_result":
            found.append(("result", output.data["text/plain"]))
        elif output.output_type == "error":
            found.append(("error", f"{output.ename}: {output.evalue}"))
        else:
            found.append((output.output_type, str(output.get("data"))))
    return found


def log_lines(cell: Any) -> list[str]:
    return [line for kind, text in outputs(cell) if kind == "log" for line in text.splitlines()]


def steps(lines: list[str]) -> list[list[str]]:
    """Log lines as steps: a ``>>>`` line and the lines up to the next one."""
    found: list[list[str]] = []
    for line in lines:
        if line.startswith(">>> ") or not found:
            found.append([line])
        else:
            found[-1].append(line)
    return found


def run_log(*args: str) -> list[str]:
    """The log that ``gentrace run ARGS`` writes on stderr, as lines."""
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-m", "gentrace", "run", *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        encoding="utf-8",
        timeout=TIMEOUT,
        check=True,
    )
    return done.stderr.splitlines()


def line_of(source: str, start: str) -> int:
    """The number of the one line of `source` that starts with `start`."""
    (number,) = [n for n, line in enumerate(source.splitlines(), 1) if line.startswith(start)]
    return number


def cell_line(cell: Any, start: str) -> int:
    """The number of the one line of a ``%%gentrace`` cell that starts with `start`, as its log
    numbers it: from the line after the magic, as IPython numbers the cells of its cell magics."""
    return line_of(cell.source.split("\n", 1)[1], start)


def as_in_cell(lines: list[str], sample: str, cell: Any, anchor: str) -> list[str]:
    """`gentrace run`'s log lines for samples/SAMPLE as the cell's log shows the same calls: the
    code is the sample's from the line starting with `anchor` on, at the cell's own line numbers,
    and its place is ``In[N]:LINE``."""
    shift = cell_line(cell, anchor) - line_of((ROOT / "samples" / sample).read_text(), anchor)
    place = re.compile(rf"samples/{re.escape(sample)}:(\d+)")
    number = re.compile(r"\bline (\d+)")
    moved = [place.sub(lambda m: f"In[{cell.execution_count}]:{int(m[1]) + shift}", line) for line in lines]
    return [number.sub(lambda m: f"line {int(m[1]) + shift}", line) for line in moved]


# -- the notebook ----------------------------------------------------------------------------------


def test_the_notebook_is_saved_without_outputs() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    assert notebook.metadata.kernelspec.name == "python3"
    cells = code_cells(notebook)
    assert [(c.outputs, c.execution_count) for c in cells] == [([], None)] * len(cells)
    assert cells[0].source == "%load_ext gentrace"


def test_every_cell_runs_clean_with_this_checkouts_gentrace(executed: Any) -> None:
    cells = code_cells(executed)
    assert [c.execution_count for c in cells] == list(range(1, len(cells) + 1))
    troubles = [(c.execution_count, kind, text) for c in cells for kind, text in outputs(c)]
    assert [t for t in troubles if t[1] in ("error", "stderr")] == []
    assert outputs(cells[-1]) == [("stdout", f"{ROOT / 'gentrace' / '__init__.py'}\n")]


def test_each_log_is_the_same_in_html_and_in_text(executed: Any) -> None:
    logs = [output for cell in code_cells(executed) for output in cell.outputs if is_log(output)]
    traced_cells = [c for c in code_cells(executed) if c.source.startswith("%%gentrace")]
    assert len(traced_cells) == 6 and all(any(is_log(o) for o in c.outputs) for c in traced_cells)
    for output in logs:
        rich, plain = output.data["text/html"], output.data["text/plain"]
        assert rich.endswith("</pre>") and "<script" not in rich
        assert "\x1b" not in plain and plain.strip()
        assert html.unescape(TAG.sub("", rich)) == plain


def test_the_saved_notebook_has_the_logs_as_text(executed: Any, tmp_path: Path) -> None:
    """What ``jupyter nbconvert --to markdown`` and other text readers of the saved notebook get."""
    saved = tmp_path / "generators.ipynb"
    nbformat.write(executed, saved)
    again = nbformat.read(saved, as_version=4)
    nbformat.validate(again)
    shown = [o for c in code_cells(again) for o in c.outputs if o.output_type == "display_data"]
    logs = [o.data["text/plain"] for o in shown if is_log(o)]
    assert len(logs) == sum(is_log(o) for c in code_cells(executed) for o in c.outputs) >= 6
    assert all(log.startswith((">>> ", "    >>> ")) for log in logs)
    assert all(o.data.get("text/plain", "").strip() for o in shown)  # the page's too


# -- the cells' logs -------------------------------------------------------------------------------


def test_the_averager_cell_logs_what_gentrace_run_logs_with_prints_between(executed: Any) -> None:
    cell = cell_with(executed, "def averager")
    ran = [s for s in steps(run_log("samples/averager.py")) if "averager#1" in s[0]]
    expected = [as_in_cell(step, "averager.py", cell, "def averager") for step in ran]
    assert expected[-1] == [">>> averager#1.close()", f"{'':40}# GEN_SUSPENDED → GEN_CLOSED"]
    create, prime, send10, send20, send6 = expected[:-1]
    assert create[0].startswith(f">>> averager#1 = averager()  # In[{cell.execution_count}]:1 ")
    assert send10[1].endswith("· line 9: term = yield average")  # the cell's own line numbers
    assert outputs(cell) == [
        ("log", "\n".join(create + prime + send10)),
        ("stdout", "sent 10 -> running average 10.0\n"),
        ("log", "\n".join(send20)),
        ("stdout", "sent 20 -> running average 15.0\n"),
        ("log", "\n".join(send6)),
        ("stdout", "sent  6 -> running average 12.0\n"),
    ]


def test_a_generator_keeps_its_name_in_a_later_cell(executed: Any) -> None:
    first, later = cell_with(executed, "def averager"), cell_with(executed, "coro.send(14)")
    assert later.execution_count > first.execution_count
    ran = [s for s in steps(run_log("samples/averager.py")) if "averager#1" in s[0]]
    close = as_in_cell(ran[-1], "averager.py", first, "def averager")
    yielding = cell_line(first, "        term = yield average")
    assert outputs(later) == [
        (
            "log",
            f">>> averager#1.send(14)\n{'12.5':40}# GEN_SUSPENDED · line {yielding}: term = yield average",
        ),
        ("stdout", "sent 14 -> running average 12.5\n"),
        ("log", "\n".join(close)),
    ]


def test_the_iterators_cell_shows_one_shared_enumerate(executed: Any) -> None:
    cell = traced(executed, "%%gentrace --iterators")
    ran = [s for s in steps(run_log("--iterators", "samples/iterators.py")) if "enumerate#1" in s[0]]
    expected = [as_in_cell(step, "iterators.py", cell, "def pairs") for step in ran]
    assert [step[0] for step in expected] == [
        f">>> enumerate#1 = iter(items)  # In[{cell.execution_count}]:3 · for a in items: · its own iterator",
        ">>> next(enumerate#1)",
        f">>> enumerate#1 = iter(items)  # In[{cell.execution_count}]:4 · for b in items: · its own"
        " iterator: the same enumerate#1 again",
        ">>> next(enumerate#1)",
        ">>> next(enumerate#1)",
        ">>> next(enumerate#1)",
    ]
    assert expected[-1][1].endswith("# loop at line 3 ends at once: enumerate#1 was already exhausted")
    assert outputs(cell) == [
        ("log", "\n".join(line for step in expected[:4] for line in step)),
        ("stdout", "  (0, 'a') (1, 'b')\n"),
        ("log", "\n".join(line for step in expected[4:] for line in step)),
    ]


def test_the_event_loop_cell_interleaves_the_tasks_and_their_prints(executed: Any) -> None:
    cell = cell_with(executed, "def task_one")
    number = cell.execution_count
    one, two = cell_line(cell, "def task_one"), cell_line(cell, "def task_two")
    waiting, told = (
        "task 2: working, waiting to hear from task 1",
        "task 2: working, told that task 1 is done",
    )
    found = steps(log_lines(cell))
    assert found[:2] == [
        [f">>> task_one#1 = task_one(0.02)  # In[{number}]:{one} · GEN_CREATED"],
        [f">>> task_two#1 = task_two(0.02)  # In[{number}]:{two} · GEN_CREATED"],
    ]
    calls = [step[0] for step in found[2:]]
    assert set(calls) == {
        ">>> task_one#1.send(None)",
        ">>> task_two#1.send(None)",
        ">>> task_two#1.send(True)",
    }
    # Task 2 is told once, right after task 1 returned, and returns last.
    told_at = calls.index(">>> task_two#1.send(True)")
    assert calls.count(">>> task_two#1.send(True)") == 1
    done = "StopIteration: 'task 1: done after 3 ticks'  # returned 'task 1: done after 3 ticks'"
    assert found[2 + told_at - 1] == [">>> task_one#1.send(None)", f"{done} · GEN_SUSPENDED → GEN_CLOSED"]
    assert found[2 + told_at][1].startswith(f"{told!r}  # GEN_SUSPENDED · line ")
    assert calls[told_at + 1 :] == [">>> task_two#1.send(None)"] * (len(calls) - told_at - 1)
    assert found[-1][1].startswith("StopIteration: 'task 2: done after 5 ticks'  # returned")
    # Each status is printed just after the step that returned it.
    printed = outputs(cell)
    statuses = ["task 1: working", waiting, "task 1: done after 3 ticks", told, "task 2: done after 5 ticks"]
    assert [kind for kind, _ in printed] == ["log", "stdout"] * len(statuses)
    assert [text for kind, text in printed if kind == "stdout"] == [f"{status}\n" for status in statuses]
    for (_, log), (_, text) in zip(printed[::2], printed[1::2], strict=True):
        assert repr(text.rstrip("\n")) in log.splitlines()[-1]


def test_top_level_await_is_traced_with_task_names(executed: Any) -> None:
    cell = cell_with(executed, "await both()")
    number = cell.execution_count
    kinds = outputs(cell)
    assert [kind for kind, _ in kinds] == ["log", "result"]
    assert kinds[1][1] == "['first: done after 0.01 s', 'second: done after 0.02 s']"
    found = steps(log_lines(cell))
    assert found[0][0].startswith(f">>> both#1 = both()  # In[{number}]:{cell_line(cell, 'async def both')} ")
    assert "CORO_CREATED" in found[0][0]
    fetch = cell_line(cell, "async def fetch")
    made = [line for step in found for line in step if " = fetch(" in line]
    assert [line.split(" · ")[:2] for line in made] == [
        [f"    >>> fetch#1 = fetch('first', 0.01)  # In[{number}]:{fetch}", "CORO_CREATED"],
        [f"    >>> fetch#2 = fetch('second', 0.02)  # In[{number}]:{fetch}", "CORO_CREATED"],
    ]
    for name, task in (("fetch#1", "first"), ("fetch#2", "second")):
        own = [step for step in found if step[0] == f">>> {name}.send(None)"]
        assert len(own) == 2 and all(step[-1].endswith(f" · task {task}") for step in own)
        assert own[0][1].startswith("<sleep ") and "CORO_CREATED → CORO_SUSPENDED" in own[0][1]
        assert own[1][1].startswith(f"StopIteration: '{task}: done after ")
        assert "CORO_SUSPENDED → CORO_CLOSED" in own[1][1]
    assert found[-1][0] == ">>> both#1.send(None)"
    assert found[-1][1].startswith(f"StopIteration: {kinds[1][1]}  # returned {kinds[1][1]} · ")


# -- the replay page -------------------------------------------------------------------------------


def page_frame(executed: Any) -> str:
    cell = traced(executed, "%%gentrace --html")
    (frame,) = [text for kind, text in outputs(cell) if kind == "page"]
    return frame


def test_the_html_cell_shows_its_log_then_the_page_in_a_sandbox(executed: Any) -> None:
    cell = traced(executed, "%%gentrace --html")
    assert [kind for kind, _ in outputs(cell)] == ["log", "stdout", "page"]
    (page,) = [o for o in cell.outputs if o.output_type == "display_data" and not is_log(o)]
    assert page.data["text/plain"]  # a text reader is told there is a page
    frame = page_frame(executed)
    opening = frame[: frame.index(">") + 1]
    assert 'sandbox="allow-scripts"' in opening and "allow-same-origin" not in frame.split("srcdoc=")[0]
    assert frame.count("<") == 2 and frame.endswith('"></iframe>')  # the page is all in the attribute
    assert "<script" in html.unescape(frame)


def test_the_inline_page_steps_forward_and_back(executed: Any, driver: Any, tmp_path: Path) -> None:
    frame = page_frame(executed)
    srcdoc = re.search(r'srcdoc="([^"]*)"', frame)
    assert srcdoc is not None
    path = tmp_path / "page.html"
    path.write_text(html.unescape(srcdoc[1]), encoding="utf-8")
    log = log_lines(traced(executed, "%%gentrace --html"))
    page = Page(driver, path)
    assert page.value == 0 and page.slider.get_attribute("max") == str(len(steps(log)) - 1)
    assert page.steps() == [log[0]]
    page.press("ARROW_RIGHT")
    assert page.value == 1 and page.current() == "\n".join(steps(log)[1])
    page.press("END")
    assert "\n".join(page.steps()) == "\n".join(log)
    page.press("ARROW_LEFT")
    assert page.value == len(steps(log)) - 2
    driver.find_element(page.by.ID, "first").click()
    driver.find_element(page.by.ID, "next").click()
    driver.find_element(page.by.ID, "next").click()
    driver.find_element(page.by.ID, "prev").click()
    assert page.value == 1 and len(page.steps()) == 2
    assert (
        page.errors() == []
        and driver.find_element(page.by.TAG_NAME, "html").get_attribute("data-error") is None
    )


def test_the_page_runs_in_its_iframe_and_cannot_reach_the_notebook(
    executed: Any, driver: Any, tmp_path: Path
) -> None:
    """The display_data as a notebook puts it in its page: the script runs, in an origin of its own."""
    path = tmp_path / "notebook.html"
    path.write_text(
        f"<!DOCTYPE html><title>notebook</title><body>{page_frame(executed)}</body>", encoding="utf-8"
    )
    from selenium.webdriver.common.by import By

    driver.get(path.as_uri())
    driver.switch_to.frame(driver.find_element(By.TAG_NAME, "iframe"))
    try:
        assert driver.find_element(By.TAG_NAME, "html").get_attribute("data-ready") == "1"
        slider = driver.find_element(By.ID, "step")
        driver.find_element(By.ID, "next").click()
        assert slider.get_attribute("value") == "1"
        driver.find_element(By.ID, "prev").click()
        assert slider.get_attribute("value") == "0"
        reach = "try { return parent.document.title; } catch (e) { return e.name; }"
        assert driver.execute_script(reach) == "SecurityError"
        assert driver.execute_script("return window.origin") == "null"
    finally:
        driver.switch_to.default_content()
