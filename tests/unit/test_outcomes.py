"""``plugin.outcomes``: from reports to the reason an operator cannot be selected.

Real ``pytest.TestReport`` objects, made as pytest (or xdist, after a crash) makes them; one
rejection reason per case, and the operator that earned selection is not blocked.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_flaggems_import.plugin import props
from pytest_flaggems_import.plugin.outcomes import Outcomes
from pytest_flaggems_import.plugin.records import OpRecord

ROOT = Path("/screen")


def report(op: str, name: str, outcome: str = "passed", *, kind: str = "test", of: int = 3, when: str = "call",
           launches: int = 1, error: str | None = None, longrepr: str | None = None) -> pytest.TestReport:  # fmt: skip
    properties = [(props.ITEM, json.dumps(props.ItemTag(op, props.ItemKind(kind), of).to_json()))]
    if kind == "test":
        properties.append((props.LAUNCHES, launches))
    if error:
        properties.append((props.ERROR, error))
    if outcome == "failed" and longrepr is None:
        longrepr = "AssertionError: Tensor-likes are not close!"
    if outcome == "skipped":
        longrepr = ("x", 1, "Skipped: not on this device")  # type: ignore[assignment]
    return pytest.TestReport(f"ops/{op}.json::{name}", (f"ops/{op}.json", 0, name), {}, outcome, longrepr, when,
                             user_properties=properties)  # fmt: skip


def outcomes_of(*reports: pytest.TestReport, has_tests: bool = True, ops=("relu",)) -> Outcomes:
    records = {op: OpRecord(op=op, path=str(ROOT / f"ops/{op}.json"), has_tests=has_tests) for op in ops}
    outcomes = Outcomes(records, {Path(r.path): r for r in records.values()}, ROOT)
    for r in reports:
        outcomes.add(r)
    return outcomes


def reason(outcomes: Outcomes, op: str = "relu", *, bench_decides: bool = False, allow_untested: bool = False):
    block = outcomes.blocked(allow_untested=allow_untested, bench_decides=bench_decides, perf_ops={}).get(op)
    return block.reason if block else None


def complete_run(op: str = "relu", *, launches: int = 1) -> list[pytest.TestReport]:
    return [report(op, "load", kind="load"), report(op, "test[a]", launches=launches), report(op, "test[b]", launches=launches)]


def test_an_operator_whose_every_item_ran_and_passed_is_not_blocked():
    assert reason(outcomes_of(*complete_run())) is None


def test_one_failed_test_among_passing_ones_blocks_with_the_count_and_the_first_failure():
    reports = [report("relu", "load", kind="load"), report("relu", "test[a]"), report("relu", "test[b]", "failed")]
    outcomes = outcomes_of(*reports, report("relu", "test[c]"), ops=("relu",))
    text = reason(outcomes)
    assert text == "tests failed: 1 of 3; first: AssertionError: Tensor-likes are not close!"
    block = outcomes.blocked(allow_untested=False, bench_decides=False, perf_ops={})["relu"]
    assert block.failed is True  # never imported, even with --allow-untested


def test_a_load_failure_is_the_reason_as_the_load_item_said_it():
    reports = [report("relu", "load", "failed", kind="load", error="code does not load: SyntaxError: bad")]
    assert reason(outcomes_of(*reports)) == "code does not load: SyntaxError: bad"


def test_items_that_did_not_run_make_the_evidence_incomplete():
    assert reason(outcomes_of(*complete_run()[:2])) == "incomplete: 2 of its 3 items ran in this session"


def test_an_operator_never_collected_was_not_run():
    assert reason(outcomes_of()) == "not run in this session"


def test_tests_that_pass_without_a_triton_launch_are_refused():
    assert reason(outcomes_of(*complete_run(launches=0))) == "no Triton kernel of its own ran in its tests"


def test_all_skipped_is_no_evidence():
    reports = [report("relu", "load", kind="load", of=2), report("relu", "test[a]", "skipped", of=2, when="setup")]
    assert reason(outcomes_of(*reports)) == "no test passed (all skipped)"


def test_an_operator_without_tests_is_blocked_unless_untested_operators_are_allowed():
    reports = [report("relu", "load", kind="load", of=1)]
    assert reason(outcomes_of(*reports, has_tests=False)) == "no tests"
    assert reason(outcomes_of(*reports, has_tests=False), allow_untested=True) is None


def test_an_unclean_operator_is_blocked_with_what_it_left():
    check = report("relu", "isolation", "failed", kind="isolation", of=4, error="left 1 thread(s) running")
    assert reason(outcomes_of(*complete_run(), check)) == "left 1 thread(s) running"


def test_a_crashed_item_without_properties_counts_as_a_failed_test_of_its_operator():
    crash = pytest.TestReport("ops/relu.json::test[b]", ("ops/relu.json", 0, "test[b]"), {}, "failed",
                              "worker 'gw0' crashed while running 'ops/relu.json::test[b]'", "???")  # fmt: skip
    outcomes = outcomes_of(report("relu", "load", kind="load"), report("relu", "test[a]"), crash)
    assert reason(outcomes).startswith("tests failed: 1 of 2")
    assert outcomes.complete("relu")


def test_a_benchmark_failure_blocks_on_the_gpu_but_on_the_cpu_only_when_the_result_was_wrong():
    timing = report("relu", "bench[x]", "failed", kind="bench", of=4)
    assert reason(outcomes_of(*complete_run(), timing), bench_decides=True).startswith("benchmark failed")
    assert reason(outcomes_of(*complete_run(), timing), bench_decides=False) is None
    wrong = report("relu", "bench[x]", "failed", kind="bench", of=4, error="wrong result at float16 1024")
    assert reason(outcomes_of(*complete_run(), wrong), bench_decides=False) == "wrong result at float16 1024"


def test_perf_data_without_an_operator_file_is_named_as_such():
    blocks = outcomes_of().blocked(allow_untested=False, bench_decides=False, perf_ops={"gelu": ()})
    assert blocks["gelu"].reason == "no operator file (perf data only)"


def blocks_of(outcomes: Outcomes, **kwargs):
    kwargs = {"allow_untested": False, "bench_decides": False, "perf_ops": {}, **kwargs}
    return outcomes.blocked(**kwargs)


def with_props(op: str, name: str, *extra, outcome: str = "passed", of: int = 3, when: str = "call", duration=0.0):
    """A test report carrying ``extra`` properties (vacuous, ghost, ...) besides its tag."""
    made = report(op, name, outcome, of=of, when=when)
    made.user_properties += list(extra)
    made.duration = duration
    return made


# Whether a block means "failed" (never imported, even with --allow-untested) or "no evidence".
@pytest.mark.parametrize(("case", "failed"), [
    ("load", True), ("tests", True), ("unclean", True), ("no tests", False), ("not run", False),
    ("incomplete", False), ("skipped", False), ("no launch", True), ("vacuous", False), ("ghost", True),
    ("bench", True), ("perf only", False),
])  # fmt: skip
def test_each_block_says_whether_the_operator_failed_or_only_lacks_evidence(case, failed):
    load = report("relu", "load", kind="load")
    cases = {
        "load": ([report("relu", "load", "failed", kind="load")], {}),
        "tests": ([load, report("relu", "test[a]", "failed"), report("relu", "test[b]")], {}),
        "unclean": ([*complete_run(), report("relu", "isolation", "failed", kind="isolation", of=4)], {}),
        "no tests": ([report("relu", "load", kind="load", of=1)], {"has_tests": False}),
        "not run": ([], {}),
        "incomplete": (complete_run()[:2], {}),
        "skipped": ([report("relu", "load", kind="load", of=2), report("relu", "t", "skipped", of=2, when="setup")], {}),
        "no launch": (complete_run(launches=0), {}),
        "vacuous": ([load, *(with_props("relu", f"t{i}", (props.VACUOUS, True)) for i in "ab")], {}),
        "ghost": ([load, *(with_props("relu", f"t{i}", (props.GHOST, False)) for i in "ab")], {}),
        "bench": ([*complete_run(), report("relu", "bench[x]", "failed", kind="bench", of=4)], {}),
    }
    if case == "perf only":
        block = blocks_of(outcomes_of(), perf_ops={"gelu": ()})["gelu"]
    else:
        reports, kwargs = cases[case]
        block = blocks_of(outcomes_of(*reports, **kwargs), bench_decides=True)["relu"]
    assert block.failed is failed, block


def test_default_reasons_when_an_item_failed_without_saying_why():
    assert reason(outcomes_of(report("relu", "load", "failed", kind="load"))) == "failed"
    check = report("relu", "isolation", "failed", kind="isolation", of=4)
    assert reason(outcomes_of(*complete_run(), check)) == "left its worker unclean"


def test_passing_load_and_isolation_items_block_nothing_and_a_full_protocol_counts_each_test_once():
    """Every item as pytest reports it (setup, call, teardown), the isolation item last."""
    reports = []
    for name, kind in (("load", "load"), ("test[a]", "test"), ("test[b]", "test"), ("isolation", "isolation")):
        for when in ("setup", "call", "teardown"):
            made = report("relu", name, kind=kind, of=4, when=when)
            made.duration = 0.5 if when == "call" else 0.125
            reports.append(made)
    outcomes = outcomes_of(*reports)
    assert reason(outcomes) is None and outcomes.complete("relu")
    record = outcomes.records["relu"]
    assert (record.passed, record.failed, record.skipped, record.launches) == (2, 0, 0, 2)
    assert record.seconds == {"load": 0.75, "test": 1.5, "isolation": 0.75}


def test_an_operator_is_complete_only_when_all_its_items_ran():
    outcomes = outcomes_of(*complete_run()[:2])
    assert not outcomes.complete("relu") and outcomes.completeness("relu") == (2, 3)


def test_counts_add_up_over_tests():
    reports = [report("relu", "load", kind="load", of=7),
               *(with_props("relu", f"v{i}", (props.VACUOUS, True), of=7) for i in range(2)),
               with_props("relu", "g0", (props.GHOST, True), of=7), with_props("relu", "g1", (props.GHOST, True), of=7),
               with_props("relu", "g2", (props.GHOST, False), of=7),
               report("relu", "s", "skipped", of=7, when="setup")]  # fmt: skip
    record = outcomes_of(*reports).records["relu"]
    assert (record.vacuous, record.ghost_dependent, record.ghost_independent, record.skipped) == (2, 2, 1, 1)
    assert record.launches == 6 and record.passed == 5  # every test report's launches add up (the skipped one says 1)
    # two vacuous of five passing: the others looked at the output, so it is not blocked for that
    assert reason(outcomes_of(*reports)) is None


def test_every_passing_test_vacuous_blocks_unless_untested_operators_are_allowed():
    reports = [report("relu", "load", kind="load"), *(with_props("relu", f"t{i}", (props.VACUOUS, True)) for i in "ab")]
    assert reason(outcomes_of(*reports)).startswith("its tests pass whatever it returns (vacuous: run again with")
    assert reason(outcomes_of(*reports), allow_untested=True) is None


def test_ghost_replay_blocks_only_when_no_test_depended_on_the_kernels():
    load = report("relu", "load", kind="load")
    independent = [load, with_props("relu", "a", (props.GHOST, False)), with_props("relu", "b", (props.GHOST, False))]
    assert reason(outcomes_of(*independent)) == ("its results do not depend on its own kernels (ghost replay: the same "
                                                  "output with them turned into no-ops; --flaggems-allow-kernel-free)")  # fmt: skip
    mixed = [load, with_props("relu", "a", (props.GHOST, False)), with_props("relu", "b", (props.GHOST, True))]
    assert reason(outcomes_of(*mixed)) is None


def test_failures_are_counted_and_named_and_the_first_one_kept():
    reports = [report("relu", "load", kind="load", of=4), report("relu", "t[a]", "failed", of=4, error="wrong at (7, 33)"),
               report("relu", "t[b]", "failed", of=4, longrepr="cause: ValueError: bad\nmore"), report("relu", "t[c]", of=4)]  # fmt: skip
    record = outcomes_of(*reports).records["relu"]
    assert (record.failed, record.failures) == (2, ["ops/relu.json::t[a]", "ops/relu.json::t[b]"])
    assert record.first_failure == "wrong at (7, 33)"
    assert reason(outcomes_of(*reports)) == "tests failed: 2 of 3; first: wrong at (7, 33)"


def test_a_test_report_without_a_launch_count_counts_no_launch():
    untagged = report("relu", "test[a]", of=2)
    untagged.user_properties = [p for p in untagged.user_properties if p[0] != props.LAUNCHES]
    outcomes = outcomes_of(report("relu", "load", kind="load", of=2), untagged)
    assert outcomes.records["relu"].launches == 0
    assert reason(outcomes) == "no Triton kernel of its own ran in its tests"


def test_benchmark_rows_of_several_items_accumulate():
    rows = [{"shape": [8], "dtype": "float32"}]
    benches = []
    for i in range(2):
        made = report("relu", f"bench[{i}]", kind="bench", of=5)
        made.user_properties.append((props.BENCH, json.dumps(rows)))
        benches.append(made)
    assert len(outcomes_of(*complete_run(), *benches).records["relu"].bench) == 2


def test_reports_that_are_not_an_operators_are_ignored():
    stray = pytest.TestReport("tests/test_x.py::t", ("tests/test_x.py", 0, "t"), {}, "passed", None, "call")
    crash = pytest.TestReport("tests/test_x.py::t", ("tests/test_x.py", 0, "t"), {}, "failed", "crashed", "???")
    outcomes = outcomes_of(stray, crash)
    assert outcomes.records["relu"].ran == 0 and outcomes.finished == {}


@pytest.mark.parametrize(("longrepr", "line"), [
    ("cause: ValueError: bad shape\nTraceback ...", "ValueError: bad shape"),
    ("AssertionError: x\nmore", "AssertionError: x"),
    ("   ", None),
    ("E" * 300, "E" * 200),
])  # fmt: skip
def test_failure_line_is_the_cause_or_the_first_line(longrepr, line):
    from pytest_flaggems_import.plugin.outcomes import failure_line

    assert failure_line(report("relu", "t", "failed", longrepr=longrepr)) == line


def test_failure_line_reads_pytests_crash_message():
    from _pytest._code.code import ReprFileLocation

    from pytest_flaggems_import.plugin.outcomes import failure_line

    class Longrepr:
        reprcrash = ReprFileLocation("ops/relu.json", 3, "cause: RuntimeError: boom")

    made = report("relu", "t", "failed")
    made.longrepr = Longrepr()
    assert failure_line(made) == "RuntimeError: boom"


def test_what_the_last_mutation_run_left_standing():
    # zero durations stay zero
    outcomes = outcomes_of(*complete_run())
    assert outcomes.records["relu"].seconds == {"load": 0.0, "test": 0.0}
    # the largest item count an operator reported is kept
    outcomes = outcomes_of(report("relu", "load", kind="load", of=4), report("relu", "test[a]", of=3))
    assert outcomes.completeness("relu") == (2, 4)
    # a failing teardown after a passing call is a failure of that operator
    teardown = report("relu", "test[b]", "failed", when="teardown")
    assert reason(outcomes_of(*complete_run(), teardown)).startswith("tests failed: 1 of 3")
    # a failure with nothing to quote says only the count
    quiet = report("relu", "test[b]", "failed")
    quiet.longrepr = None
    assert reason(outcomes_of(report("relu", "load", kind="load"), report("relu", "test[a]"), quiet)) == "tests failed: 1 of 2"
    # counters count past one
    reports = [report("relu", "load", kind="load", of=5), *(with_props("relu", f"g{i}", (props.GHOST, False), of=5) for i in range(2)),
               *(report("relu", f"s{i}", "skipped", of=5, when="setup") for i in range(2))]  # fmt: skip
    record = outcomes_of(*reports).records["relu"]
    assert (record.ghost_independent, record.skipped) == (2, 2)
    # a skip's longrepr is a tuple, not text
    from pytest_flaggems_import.plugin.outcomes import failure_line

    assert failure_line(report("relu", "t", "skipped")) is None


def test_the_vacuous_reason_in_full():
    reports = [report("relu", "load", kind="load"), *(with_props("relu", f"t{i}", (props.VACUOUS, True)) for i in "ab")]
    assert reason(outcomes_of(*reports)) == ("its tests pass whatever it returns (vacuous: run again with its results "
                                             "made wrong, they still pass; --flaggems-allow-untested)")  # fmt: skip
