"""The pytest plugin, through real inner pytest runs (pytester).

Runs that install the import hook (``--gentrace``) go to a subprocess, as xdist does; the others
run in-process, which also checks that the plugin keeps no state between sessions sharing one
interpreter.
"""

from __future__ import annotations

import re
import sys
import tracemalloc

import pytest

from gentrace.instrument import InstrumentingFinder
from gentrace.pytest_plugin import TAIL_LINES

SECTION = "Captured gentrace log call"
# Hypothesis's plugin costs about half a second per inner session and has nothing to do with ours.
FAST = ("-p", "no:hypothesispytest")

PIPELINE = """
    def averager():
        total = count = 0
        average = None
        while True:
            term = yield average
            total += term
            count += 1
            average = total / count


    def counter(n):
        for i in range(n):
            yield i
"""


def sections(output: str) -> dict[str, str]:
    """Each failing test's part of a pytest report, by test name."""
    parts = re.split(r"^_{3,} (?:ERROR at \w+ of )?(\S+) _{3,}$", output, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def gentrace_log(part: str) -> str:
    """The "Captured gentrace log call" section of one test's part ('' if it has none)."""
    match = re.search(rf"^-+ {SECTION} -+\n(.*?)(?=^-+ Captured |^=+ |\Z)", part, re.MULTILINE | re.DOTALL)
    return match.group(1) if match else ""


# -- the fixture ---------------------------------------------------------------------------------


def test_fixture_records_the_test_and_reads_well_in_asserts(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_fixture="""
        import threading

        import pytest

        import gentrace
        from gentrace import tracing


        @gentrace.trace
        def averager():
            total = count = 0
            average = None
            while True:
                term = yield average
                total += term
                count += 1
                average = total / count


        def test_helpers(gentracer):
            assert gentrace.current_tracer() is gentracer
            g = averager()
            assert next(g) is None
            assert g.send(10) == 10.0
            assert g.send(20) == 15.0
            g.close()
            assert gentracer.ops("averager#1") == ["create", "next", "send", "send", "close"]
            assert gentracer.values("averager#1") == [None, 10.0, 15.0]
            assert gentracer.final_state("averager#1") == "GEN_CLOSED"
            log = gentracer.log()
            assert ">>> averager#1.send(20)\\n15.0 " in log
            assert "\\x1b" not in log
            with pytest.raises(LookupError, match=r"'nope#1'.*recorded: averager#1$"):
                gentracer.values("nope#1")


        def test_threads_record_into_it_too(gentracer):
            kept = []

            def drive():
                kept.append(averager())
                next(kept[0])

            thread = threading.Thread(target=drive, name="worker")
            thread.start()
            thread.join()
            assert gentracer.ops("averager#1") == ["create", "next"]
            assert gentracer.final_state("averager#1") == "GEN_SUSPENDED"
            assert [e.thread for e in gentracer.events] == ["worker", "worker"]


        def test_fresh_for_each_test(gentracer):
            with pytest.raises(LookupError, match="recorded: none"):
                gentracer.ops("averager#1")


        def test_previous_default_comes_back():
            assert tracing._default is tracing.UNSET  # "never set", not None
        """
    )
    result = pytester.runpytest(*FAST, "-p", "no:randomly")
    result.assert_outcomes(passed=4)


def test_fixture_asked_for_late_still_records(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import gentrace

        @gentrace.trace
        def ticks():
            yield "tick"

        def test_late(request):
            list(ticks())  # before the fixture: the stderr tracer's
            gentracer = request.getfixturevalue("gentracer")
            list(ticks())
            assert gentracer.values("ticks#1") == ["tick"]
        """
    )
    pytester.runpytest(*FAST).assert_outcomes(passed=1)


# -- --gentrace ----------------------------------------------------------------------------------


def test_gentrace_attaches_the_generator_log_of_a_failing_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(pipeline=PIPELINE)
    pytester.makeconftest(
        """
        import pipeline

        def conftest_gen():
            yield "from conftest"

        # Imported by the initial conftest, so the hook must already be in place; driven outside
        # any test, so nothing is recorded.
        first = pipeline.averager()
        next(first)
        """
    )
    pytester.makepyfile(
        test_pipeline="""
        import conftest
        import pipeline

        def local_gen():
            yield "local"

        def test_passes():
            g = pipeline.averager()
            next(g)
            assert g.send(4) == 4.0

        def test_fails():
            list(local_gen())
            list(conftest.conftest_gen())
            g = pipeline.averager()
            next(g)
            g.send(10)
            assert g.send(20) == 20.0
        """
    )
    result = pytester.runpytest_subprocess(*FAST, "--gentrace", "-W", "error")
    result.assert_outcomes(passed=1, failed=1)
    output = result.stdout.str()
    assert output.count(SECTION) == 1
    log = gentrace_log(sections(output)["test_fails"])
    assert log.startswith(">>> averager#1 = averager()  # pipeline.py:1 · GEN_CREATED\n")
    assert ">>> averager#1.send(20)\n15.0 " in log
    assert "# GEN_SUSPENDED · line 5: term = yield average" in log
    assert "averager#2" not in log
    # Test files and conftest.py are pytest's (assertion rewriting): not instrumented.
    assert "local" not in log
    assert "conftest" not in log
    assert ">>>" not in result.stderr.str()


def test_gentrace_only_and_the_markers_only(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(pipeline=PIPELINE)
    pytester.makepyfile(
        test_pipeline="""
        import pytest

        import pipeline

        def drive_both():
            g = pipeline.averager()
            next(g)
            list(pipeline.counter(2))

        def test_option():
            drive_both()
            assert False

        @pytest.mark.gentrace(only=["nothing*", "counter"])
        def test_marker_replaces_it():
            drive_both()
            assert False
        """
    )
    result = pytester.runpytest_subprocess(*FAST, "--gentrace-only", "pipeline:aver*")  # implies --gentrace
    result.assert_outcomes(failed=2)
    found = sections(result.stdout.str())
    option, marker = gentrace_log(found["test_option"]), gentrace_log(found["test_marker_replaces_it"])
    assert "averager#1" in option
    assert "counter" not in option
    assert "counter#1" in marker
    assert "averager" not in marker


def test_gentrace_iterators_records_the_code_under_tests_loops(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        shapes="""
        def firsts(rows):
            pairs = enumerate(rows)
            return [row for _, row in pairs], next(pairs, None)
        """
    )
    pytester.makepyfile(
        test_shapes="""
        import shapes

        def test_firsts(gentracer):
            assert shapes.firsts("ab") == (["a", "b"], None)
            assert gentracer.ops("enumerate#1") == ["iter", "next", "next", "next", "next"]
            for x in [1]:  # the test file is pytest's, not instrumented
                pass
            assert [e.gen for e in gentracer.events if e.kind == "iterator"] == ["enumerate#1"] * 5
            assert False
        """
    )
    result = pytester.runpytest_subprocess(*FAST, "--gentrace-iterators")  # implies --gentrace
    result.assert_outcomes(failed=1)
    log = gentrace_log(sections(result.stdout.str())["test_firsts"])
    assert "enumerate#1 = iter(pairs)" in log
    assert "next(enumerate#1, None)" in log
    assert "enumerate#1 was already exhausted" in log


def test_only_selects_async_functions_too(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        aio="""
        async def ticks(n):
            for i in range(n):
                yield i

        async def fetch():
            return [i async for i in ticks(2)]
        """
    )
    pytester.makepyfile(
        test_aio="""
        import asyncio

        import pytest

        import aio

        def test_option():
            assert asyncio.run(aio.fetch()) == [0, 1]
            assert False

        @pytest.mark.gentrace(only="fetch")
        def test_marker():
            assert asyncio.run(aio.fetch()) == [0, 1]
            assert False
        """
    )
    result = pytester.runpytest_subprocess(*FAST, "--gentrace-only", "aio:tick*")
    result.assert_outcomes(failed=2)
    found = sections(result.stdout.str())
    option, marker = gentrace_log(found["test_option"]), gentrace_log(found["test_marker"])
    assert "await anext(ticks#1)" in option
    assert "fetch" not in option
    assert "fetch#1.send(None)" in marker
    assert "ticks" not in marker


def test_import_hook_sits_behind_the_rewriter_and_is_removed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import sys

        def test_order():
            kinds = [type(finder).__name__ for finder in sys.meta_path]
            assert kinds.index("InstrumentingFinder") == kinds.index("AssertionRewritingHook") + 1
        """
    )
    result = pytester.runpytest_inprocess(*FAST, "--gentrace")
    result.assert_outcomes(passed=1)
    assert not [finder for finder in sys.meta_path if isinstance(finder, InstrumentingFinder)]


# -- the marker ----------------------------------------------------------------------------------


def test_marker_records_one_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        import gentrace

        @gentrace.trace
        def counter(n):
            yield from range(n)

        @gentrace.trace
        def other():
            yield "other"

        @pytest.mark.gentrace
        def test_marked_fails():
            assert list(counter(2)) == [0, 1, 2]

        @pytest.mark.gentrace(only="other")
        def test_marked_only_fails():
            list(counter(1))
            assert list(other()) == []

        @pytest.mark.gentrace
        def test_marked_passes():
            assert list(counter(1)) == [0]

        def test_unmarked_fails():
            assert False

        @pytest.mark.gentrace(only=3)
        def test_bad_marker():
            pass
        """
    )
    result = pytester.runpytest(*FAST, "-p", "no:randomly")
    result.assert_outcomes(passed=1, failed=3, errors=1)
    found = sections(result.stdout.str())
    assert ">>> next(counter#1)\n1 " in gentrace_log(found["test_marked_fails"])
    only = gentrace_log(found["test_marked_only_fails"])
    assert "other#1" in only
    assert "counter" not in only
    assert SECTION not in found["test_unmarked_fails"]
    assert (
        "@pytest.mark.gentrace(only=...): expected a glob or a list of globs, got 3"
        in found["test_bad_marker"]
    )


# -- pytest's machinery --------------------------------------------------------------------------


def test_p_no_gentrace_disables_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import sys

        def test_not_imported():
            assert "gentrace.pytest_plugin" not in sys.modules

        def test_no_fixture(gentracer):
            pass
        """
    )
    result = pytester.runpytest_subprocess(*FAST, "-p", "no:gentrace")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*fixture 'gentracer' not found*"])
    result = pytester.runpytest_inprocess(*FAST, "-p", "no:gentrace", "--gentrace")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unrecognized arguments: --gentrace*"])


def test_no_warnings_and_nothing_shown_when_unused(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_plain():\n    assert True\n")
    result = pytester.runpytest_subprocess("-W", "error")
    result.assert_outcomes(passed=1, warnings=0)
    assert SECTION not in result.stdout.str()


def test_xdist_workers_keep_their_own_logs(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(pipeline=PIPELINE)
    for n in (1, 2):
        pytester.makepyfile(
            **{
                f"test_worker{n}": f"""
                import os

                import pipeline

                def test_a{n}():
                    print("on", os.environ["PYTEST_XDIST_WORKER"])
                    list(pipeline.counter({n}))
                    assert False

                def test_b{n}():
                    g = pipeline.averager()
                    next(g)
                    g.send({n})
                    assert False
                """
            }
        )
    result = pytester.runpytest_subprocess(
        *FAST, "--gentrace", "-n", "2", "--dist", "loadfile", "-p", "no:benchmark"
    )
    result.assert_outcomes(failed=4)
    output = result.stdout.str()
    assert {"on gw0", "on gw1"} <= set(re.findall(r"^on gw\d$", output, re.MULTILINE))
    found = sections(output)
    for n in (1, 2):
        counting = gentrace_log(found[f"test_a{n}"])
        assert counting.count(">>> next(counter#1)") == n + 1
        assert "averager" not in counting
        assert "counter#2" not in counting
        averaging = gentrace_log(found[f"test_b{n}"])
        assert f">>> averager#1.send({n})\n{float(n)} " in averaging
        assert "counter" not in averaging


# -- memory: what a test's log costs --------------------------------------------------------------

LONG = """
    import pytest

    import gentrace

    KEPT = []  # generators the code under test keeps: their tracer lives on after the test


    @gentrace.trace
    def steps(n):
        yield from range(n)


    @pytest.mark.gentrace
    @pytest.mark.parametrize("i", range({tests}))
    def test_long(i):
        g = steps({steps})
        KEPT.append(g)
        for _ in range({steps} - 1):
            next(g)
        assert {passes}
"""


def extra_peak(pytester: pytest.Pytester, tests: int, steps: int) -> int:
    """How much more memory LONG's passing tests take at their peak with `steps` steps each than
    with three, run in process. Both runs come after a run with three, which leaves warm what
    pytest itself allocates (more on newer Pythons, less after other tests)."""
    peaks = []
    for n, measured in [(3, False), (3, True), (steps, True)]:
        pytester.makepyfile(LONG.format(tests=tests, steps=n, passes=True))
        tracemalloc.start()
        try:
            pytester.runpytest_inprocess(*FAST, "-p", "no:randomly").assert_outcomes(passed=tests)
            if measured:
                peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    return peaks[1] - peaks[0]


def test_a_long_log_is_not_kept_in_memory_and_a_passing_tests_is_let_go(pytester: pytest.Pytester) -> None:
    # 30 logs of 8,000 lines, 350 kB each as text: kept, they would take over 10 MB.
    assert extra_peak(pytester, tests=30, steps=4000) < 2 * 1024 * 1024


def test_a_long_log_is_not_kept_in_memory_during_its_test(pytester: pytest.Pytester) -> None:
    assert (
        extra_peak(pytester, tests=1, steps=100_000) < 2 * 1024 * 1024
    )  # its 200,000 lines take 9 MB as text


def test_a_failing_test_with_a_long_log_shows_its_tail(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(LONG.format(tests=1, steps=5000, passes=False))
    result = pytester.runpytest(*FAST, "-p", "no:randomly")
    result.assert_outcomes(failed=1)
    log = gentrace_log(sections(result.stdout.str())["test_long[0]"])
    first, *lines = log.splitlines()
    assert first == "# ... 8,999 earlier lines left out"  # of 1 + 2 × 4,999
    assert len(lines) == TAIL_LINES
    assert lines[-2:] == [">>> next(steps#1)", f"{4998:<40}# GEN_SUSPENDED · line 10: yield from range(n)"]


def test_a_short_log_is_shown_whole(pytester: pytest.Pytester) -> None:
    path = pytester.makepyfile(LONG.format(tests=1, steps=3, passes=False))
    result = pytester.runpytest(*FAST, "-p", "no:randomly")
    result.assert_outcomes(failed=1)
    assert gentrace_log(sections(result.stdout.str())["test_long[0]"]) == (
        f">>> steps#1 = steps(3)  # {path.name}:8 · GEN_CREATED\n"
        ">>> next(steps#1)\n"
        f"{0:<40}# GEN_CREATED → GEN_SUSPENDED · paused at line 10: yield from range(n)\n"
        ">>> next(steps#1)\n"
        f"{1:<40}# GEN_SUSPENDED · line 10: yield from range(n)\n"
    )


def test_the_fixtures_log_is_whole_however_long(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import gentrace

        @gentrace.trace
        def steps(n):
            yield from range(n)

        def test_long(gentracer):
            assert sum(steps(30_000)) == 449_985_000  # a log of 3 MB: past what is kept in memory
            lines = gentracer.log().splitlines()
            assert len(lines) == 1 + 2 * 30_001
            assert lines[0].startswith(">>> steps#1 = steps(30000)  # ")
            assert lines[-2] == ">>> next(steps#1)"
            assert lines[-1].endswith("# returned · GEN_SUSPENDED → GEN_CLOSED")
        """
    )
    pytester.runpytest(*FAST).assert_outcomes(passed=1)
