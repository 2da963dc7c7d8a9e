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
