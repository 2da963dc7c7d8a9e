"""The contract bugs a new user found (issue 10), each as the run that showed it."""

from __future__ import annotations

import json
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from helpers import EXAMPLES, operator_json, run

SLOW_TEST = textwrap.dedent('''
    import time
    from flag_gems.experimental_ops.slow import slow

    def test_slow():
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:  # a Python loop, as the interpreter runs one
            pass
        slow(1)
''')


def read(path):
    return json.loads(path.read_text())


def test_perf_data_without_an_operator_file_is_rejected_and_never_imported(pytester, ops_dir_with_perf):
    your = read(pytester.path / "your_perf_data.json")
    your["huber_loss"] = {"configs": [{"shape": [8], "dtype": "fp32", "your_time": 0.1, "cuda_time": 1.0}]}
    (pytester.path / "your_perf_data.json").write_text(json.dumps(your))
    pytester.mkdir("fg")
    (pytester.path / "fg" / "src" / "flag_gems").mkdir(parents=True)
    result = run(pytester, "--flaggems-ops=ops", "--flaggems-batch=2", "--flaggems-report-dir=out",
                 "--flaggems-import=fg", "--flaggems-dry-run")  # fmt: skip
    assert result.ret == 0, result.stdout.str()
    selected = read(pytester.path / "out" / "selected_batch2.json")
    assert list(selected["operators"]) == ["add_one"]
    assert selected["rejected"]["huber_loss"].startswith("no operator file")
    assert "huber_loss" not in (pytester.path / "out" / "import.diff").read_text()


def test_collect_only_writes_nothing_and_keeps_earlier_results(pytester, ops_dir_with_perf):
    run(pytester, "--flaggems-ops=ops", "--flaggems-report-dir=out")
    out = pytester.path / "out"
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert Path("report.html") in before and Path("charts/time.png") in before
    result = run(pytester, "--flaggems-ops=ops", "--flaggems-report-dir=out", "--co")
    assert result.ret == 0
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert "flaggems selection" not in result.stdout.str()


def test_a_deselected_run_is_partial_and_leaves_the_complete_results_alone(pytester, ops_dir_with_perf, add_op):
    add_op("add_two", operator_json("add_two"))
    run(pytester, "--flaggems-ops=ops", "--flaggems-report-dir=out", "--flaggems-batch=2", "--flaggems-allow-untested")
    out = pytester.path / "out"

    def complete_files() -> dict:  # the complete run's files, reports and charts included
        return {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file() and "partial" not in p.parts}

    complete = complete_files()
    assert Path("report.md") in complete and Path("charts/time.png") in complete
    assert read(pytester.path / "out" / "session.json")["partial"] is False
    # -k 300 runs one test of each operator: neither is complete, neither may be selected.
    result = run(pytester, "--flaggems-ops=ops", "--flaggems-report-dir=out", "--flaggems-batch=2", "-k", "300")
    result.stdout.fnmatch_lines(["*partial run*2 of 2 operators not fully evaluated*untouched*"])
    assert complete_files() == complete
    partial = read(pytester.path / "out" / "partial" / "session.json")
    assert partial["partial"] is True
    assert partial["operators"]["add_one"]["items"] == {"ran": 1, "collected": 4}  # load, 2 tests, isolation
    selected = read(pytester.path / "out" / "partial" / "selected_batch2.json")
    assert selected["operators"] == {} and selected["partial"] is True
    assert selected["rejected"]["add_one"].startswith("incomplete: 1 of its 4 items ran")


def test_an_operator_whose_items_all_ran_is_complete_in_a_deselected_run(pytester, ops_dir_with_perf, add_op):
    add_op("add_two", operator_json("add_two"))
    result = run(pytester, "--flaggems-ops=ops", "--flaggems-report-dir=out", "--flaggems-batch=2", "-k", "add_one")
    result.stdout.fnmatch_lines(["*partial run*1 of 2 operators not fully evaluated*"])
    session = read(pytester.path / "out" / "session.json")  # no complete result there: written in place
    assert session["partial"] is True and session["operators"]["add_one"]["complete"] is True
    assert list(read(pytester.path / "out" / "selected_batch2.json")["operators"]) == ["add_one"]
    assert session["operators"]["add_two"]["blocked"] == "not run in this session"


def test_a_node_id_selecting_one_test_leaves_its_operator_incomplete(pytester, ops_dir_with_perf):
    result = run(pytester, "--flaggems-ops=ops", "--flaggems-report-dir=out", "--flaggems-batch=2",
                 "ops/add_one.json::test_add_one_adds_one[7]")  # fmt: skip
    result.assert_outcomes(passed=1)
    assert read(pytester.path / "out" / "selected_batch2.json")["operators"] == {}


def test_device_cuda_without_a_gpu_is_a_usage_error_before_collection(pytester, ops_dir):
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--flaggems-ops=ops", "--flaggems-device=cuda")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--flaggems-device=cuda, but torch sees no CUDA device*"])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_a_single_threshold_without_a_batch_names_the_pytest_flags(pytester, ops_dir):
    result = run(pytester, "--flaggems-ops=ops", "--flaggems-threshold=1.5")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*a single --flaggems-threshold needs --flaggems-batch 1 or 2*"])


def test_cpu_benchmarks_use_small_shapes_and_a_timeout_there_blocks_nothing(pytester, ops_dir):
    (pytester.path / "your_perf_data.json").write_text(json.dumps(
        {"add_one": {"configs": [{"shape": [4096, 4096], "dtype": "fp32", "your_time": 0.5, "cuda_time": 1.0}]}}
    ))  # fmt: skip
    result = run(pytester, "--flaggems-ops=ops", "--flaggems-bench", "--flaggems-report-dir=out",
                 "--flaggems-batch=2", "-v", "-p", "no:randomly")  # fmt: skip
    # 4096x4096 in the interpreter takes minutes; on the CPU the config is shrunk to 64x64.
    result.stdout.fnmatch_lines(["*add_one.json::bench[[]float32-64x64[]]*"])
    selected = read(pytester.path / "out" / "selected_batch2.json")
    assert list(selected["operators"]) == ["add_one"]  # decided by the perf file, as SPEC 7 says
    assert selected["provenance"]["measured_by"] == "perf files (not re-measured)"


def test_a_cpu_benchmark_that_fails_blocks_nothing_but_a_wrong_result_does(pytester, ops_dir):
    (pytester.path / "your_perf_data.json").write_text(json.dumps(
        {"add_one": {"configs": [{"shape": [64], "dtype": "fp32", "your_time": 0.5, "cuda_time": 1.0}]}}
    ))  # fmt: skip
    # add_one has no ATen op to compare with: its benchmark is skipped; the bench item's
    # failure path is exercised with a timeout shorter than one interpreted benchmark.
    (pytester.path / "conftest.py").write_text(textwrap.dedent('''
        import pytest

        @pytest.hookimpl(tryfirst=True)
        def pytest_runtest_call(item):
            if "bench[" in item.name:
                raise RuntimeError("benchmark machinery broke")
    '''))  # fmt: skip
    result = run(pytester, "--flaggems-ops=ops", "--flaggems-bench", "--flaggems-report-dir=out", "--flaggems-batch=2")
    result.assert_outcomes(passed=4, failed=1)
    assert list(read(pytester.path / "out" / "selected_batch2.json")["operators"]) == ["add_one"]


def test_pytest_timeout_still_applies_to_operator_tests(pytester, ops_dir, add_op):
    pytest.importorskip("pytest_timeout")
    add_op("slow", operator_json("slow", test=SLOW_TEST))
    result = run(pytester, "--flaggems-ops=ops", "--timeout=2", "--timeout-method=signal")
    result.assert_outcomes(passed=6, failed=1)
    result.stdout.fnmatch_lines(["*Timeout (>2.0s) from pytest-timeout*"])


def test_the_shorter_of_flaggems_timeout_and_pytest_timeout_wins(pytester, ops_dir, add_op):
    pytest.importorskip("pytest_timeout")
    add_op("slow", operator_json("slow", test=SLOW_TEST))
    result = run(pytester, "--flaggems-ops=ops", "--timeout=120", "--timeout-method=signal", "--flaggems-timeout=2")
    result.assert_outcomes(passed=6, failed=1)
    result.stdout.fnmatch_lines(["*OperatorTimeout: still running after 2 s*"])


def test_category_markers_are_not_registered_without_flaggems_ops(pytester):
    pytester.makepyfile(test_typo='''
        import pytest

        @pytest.mark.misc
        def test_marked():
            pass
    ''')  # fmt: skip
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--strict-markers")
    assert result.ret == pytest.ExitCode.INTERRUPTED  # a collection error: 'misc' not found in markers
    result.stdout.fnmatch_lines(["*'misc' not found in `markers` configuration option*"])
    assert "flaggems_batch1" not in pytester.runpytest_subprocess("--markers").stdout.str()


def test_a_kernel_bug_shows_the_candidates_line_and_the_cause_first(pytester, ops_dir, add_op):
    code = operator_json("tanhop")["code"].replace("tl.load(x_ptr + offs, mask=mask) + 1.0",
                                                     "tl.math.no_such_fn(tl.load(x_ptr + offs, mask=mask))")  # fmt: skip
    add_op("tanhop", operator_json("tanhop", code=code))
    result = run(pytester, "--flaggems-ops=ops")
    result.assert_outcomes(passed=6, failed=2)
    text = result.stdout.str()
    first = text.index("ops/tanhop.json::code line 11: tl.store(")
    assert "cause: AttributeError: module 'triton.language.math' has no attribute 'no_such_fn'" in text[first:first + 400]
    assert first < text.index("interpreter.py", first)  # the internals come after


def test_junitxml_properties_are_json(pytester, ops_dir_with_perf):
    run(pytester, "--flaggems-ops=ops", "--junitxml=junit.xml")
    values = [p.get("value") for p in ET.parse(pytester.path / "junit.xml").iter("property") if p.get("name") == "flaggems"]
    assert values and all(json.loads(v)["op"] == "add_one" for v in values)


def test_the_decision_table_comes_last_and_the_diff_goes_to_a_file(pytester, tmp_path):
    import shutil

    shutil.copytree(EXAMPLES, pytester.path / "ex")
    result = run(pytester, "--flaggems-ops=ex/operator_data", "--flaggems-report-dir=out",
                 "--flaggems-import=ex/flaggems_checkout", "--flaggems-dry-run", "-p", "no:randomly")  # fmt: skip
    text = result.stdout.str()
    section = text[text.index("flaggems selection"):text.index("short test summary")]
    assert "+++ " not in section  # the diff is in the file, not in the way
    assert (pytester.path / "out" / "import.diff").read_text().count("+++ ") == 9
    lines = [line for line in section.strip().splitlines() if not line.startswith("=")]
    assert lines[-2:] == ["batch 1: 2 of 3 selected", "batch 2: 1 of 3 selected"]
    assert any(line.startswith("info a/b: the generator's own claim") for line in lines)
    assert lines.index(next(x for x in lines if x.startswith("op "))) > lines.index(
        next(x for x in lines if x.startswith("reports written to")))


def test_importing_a_session_from_the_plugin_and_again_from_the_cli_changes_nothing(pytester):
    import shutil

    from pytest_flaggems_import.cli import main

    shutil.copytree(EXAMPLES, pytester.path / "ex")
    checkout = pytester.path / "ex" / "flaggems_checkout"
    result = run(pytester, "--flaggems-ops=ex/operator_data", "--flaggems-report-dir=out", f"--flaggems-import={checkout}")
    result.stdout.fnmatch_lines(["*import into*wrote 9 files*"])
    written = {p: p.read_bytes() for p in checkout.rglob("*") if p.is_file()}
    out = pytester.path / "out"
    assert main(["import", "--selected", str(out / "selected_batch1.json"), str(out / "selected_batch2.json"),
                 "--ops-dir", str(pytester.path / "ex" / "operator_data"), "--flaggems-root", str(checkout)]) == 0  # fmt: skip
    assert {p: p.read_bytes() for p in checkout.rglob("*") if p.is_file()} == written
