"""The plugin end to end, through real pytest runs in subprocesses (torch is involved)."""

from __future__ import annotations

import json
import textwrap

from helpers import ADD_ONE_CODE, ADD_ONE_TEST, operator_json, run

WRONG_CODE = ADD_ONE_CODE.replace("+ 1.0", "+ 2.0")


def test_good_operator_collects_load_and_parametrized_tests(pytester, ops_dir):
    result = run(pytester, "--flaggems-ops=ops", "-v")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines([
        "*PASSED ops/add_one.json::load*",
        "*PASSED ops/add_one.json::test_add_one_adds_one[[]7[]]*",
        "*PASSED ops/add_one.json::test_add_one_adds_one[[]300[]]*",
        "*PASSED ops/add_one.json::isolation*",
    ])  # fmt: skip


def test_wrong_operator_fails_pointing_at_the_candidate_test(pytester, ops_dir, add_op):
    add_op("bad", operator_json("bad", code=WRONG_CODE.format(entry="bad")))
    result = run(pytester, "--flaggems-ops=ops")
    result.assert_outcomes(passed=6, failed=2)
    result.stdout.fnmatch_lines(["*ops/bad.json::test_func:*AssertionError*"])
    assert "pytest_flaggems_import" not in result.stdout.str().split("short test summary")[0]


def test_syntax_error_is_one_load_failure_and_tests_are_not_run(pytester, ops_dir, add_op):
    add_op("broken", operator_json("broken", code="def broken(:\n    pass\n"))
    result = run(pytester, "--flaggems-ops=ops", "-rs")
    result.assert_outcomes(passed=5, failed=1, skipped=1)
    result.stdout.fnmatch_lines([
        "*broken.json: code does not load: SyntaxError*",
        "*not run: code does not load*",
    ])  # fmt: skip


def test_raise_at_import_fails_the_load_item_only(pytester, ops_dir, add_op):
    add_op("boom", operator_json("boom", code="raise RuntimeError('no GPU here')\n"))
    result = run(pytester, "--flaggems-ops=ops")
    result.assert_outcomes(passed=5, failed=1, skipped=1)
    result.stdout.fnmatch_lines(["*boom.json: code does not load: RuntimeError: no GPU here*"])


def test_malformed_operator_file_fails_alone(pytester, ops_dir):
    (ops_dir / "junk.json").write_text('{"op_name": "junk", "code": 5}')
    (ops_dir / "truncated.json").write_text('{"op_name": "trunc')
    result = run(pytester, "--flaggems-ops=ops")
    result.assert_outcomes(passed=6, failed=2)
    result.stdout.fnmatch_lines(
        ["*invalid operator file*$.code: expected string*", "*truncated.json: invalid JSON at line 1*"]
    )


def test_other_json_beside_the_operators_is_not_collected(pytester, ops_dir):
    (ops_dir / "notes.json").write_text('{"comment": "generated on 2026-11-20"}')
    (ops_dir / "old_perf.json").write_text(
        '{"gelu": {"configs": [{"shape": [1], "dtype": "fp16", "your_time": 1, "cuda_time": 1}]}}'
    )
    result = run(pytester, "--flaggems-ops=ops", "--co", "-q")
    assert "notes.json" not in result.stdout.str() and "old_perf.json" not in result.stdout.str()
    result.stdout.fnmatch_lines(["ops/add_one.json::load"])


def test_operator_without_tests_is_rejected_unless_allowed(pytester, ops_dir_with_perf, add_op):
    add_op("add_one", operator_json("add_one", test=None))
    result = run(pytester, "--flaggems-ops=ops", "--flaggems-batch=2", "--flaggems-report-dir=out")
    result.assert_outcomes(passed=2)
    rejected = json.loads((pytester.path / "out" / "selected_batch2.json").read_text())["rejected"]
    assert rejected["add_one"].startswith("no tests")
    run(pytester, "--flaggems-ops=ops", "--flaggems-batch=2", "--flaggems-report-dir=out", "--flaggems-allow-untested")
    assert "add_one" in json.loads((pytester.path / "out" / "selected_batch2.json").read_text())["operators"]


def test_same_kernel_name_with_different_code_does_not_leak(pytester, ops_dir, add_op):
    # Both define add_one_kernel; the second adds 2. Each op's tests must see its own kernel.
    add_op("add_two", operator_json("add_two", code=WRONG_CODE.format(entry="add_two"),
                                    test=textwrap.dedent('''
        import torch
        from flag_gems.experimental.generated.pointwise.add_two import add_two
        from flag_gems.experimental.generated.pointwise import add_two as module_attr

        def test_add_two():
            x = torch.zeros(5, device="cuda")
            assert add_two(x).tolist() == [2.0] * 5

        def test_other_operator_is_not_importable():
            import importlib, pytest
            with pytest.raises(ImportError):
                importlib.import_module("flag_gems.experimental.generated.pointwise.add_one")
    ''')))  # fmt: skip
    result = run(pytester, "--flaggems-ops=ops")
    result.assert_outcomes(passed=8)


def test_selection_files_match_the_tests_and_perf(pytester, ops_dir_with_perf, add_op):
    add_op("bad", operator_json("bad", code=WRONG_CODE.format(entry="bad")))
    your = json.loads((pytester.path / "your_perf_data.json").read_text())
    your["bad"] = {"configs": [{"shape": [8], "dtype": "fp32", "your_time": 0.1, "cuda_time": 1.0}]}
    (pytester.path / "your_perf_data.json").write_text(json.dumps(your))
    result = run(pytester, "--flaggems-ops=ops", "--flaggems-report-dir=out")
    result.assert_outcomes(passed=6, failed=2)
    selected = json.loads((pytester.path / "out" / "selected_batch2.json").read_text())
    assert list(selected["operators"]) == ["add_one"]
    assert selected["rejected"]["bad"].startswith("tests failed: 2 of 2")
    session = json.loads((pytester.path / "out" / "session.json").read_text())
    assert session["operators"]["add_one"]["passed"] == 2
    assert session["provenance"]["device"] == "cpu"
    assert "| `add_one` | 2 | selected |" in (pytester.path / "out" / "selection.md").read_text()
    result.stdout.fnmatch_lines(["*flaggems selection*", "add_one*2/2*selected*", "bad*0/2*rejected: tests failed*"])


def test_k_and_m_select_operators_and_categories(pytester, ops_dir, add_op):
    add_op("sum_rows", operator_json("sum_rows", category="reduction"), folder="batch1")
    result = run(pytester, "--flaggems-ops=ops", "-m", "reduction", "-v")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*PASSED ops/batch1/sum_rows.json::load*"])
    result = run(pytester, "--flaggems-ops=ops", "-m", "flaggems_batch1 and reduction", "-k", "300")
    result.assert_outcomes(passed=1)


def test_info_claim_is_reported_beside_measured_counts(pytester, ops_dir_with_perf, add_op):
    add_op("add_one", operator_json("add_one", info={"total": 5, "success": 5, "failed": 0}))
    result = run(pytester, "--flaggems-ops=ops")
    result.stdout.fnmatch_lines(["add_one*2/2 info 5/5 (disagrees)*"])


def test_hanging_operator_times_out_and_the_session_goes_on(pytester, ops_dir, add_op):
    add_op("hang", operator_json("hang", code="def hang(x):\n    while True:\n        pass\n", test=textwrap.dedent('''
        from flag_gems.experimental_ops.hang import hang

        def test_hang():
            hang(1)
    ''')))  # fmt: skip
    result = run(pytester, "--flaggems-ops=ops", "--flaggems-timeout=10")
    result.assert_outcomes(passed=6, failed=1)
    result.stdout.fnmatch_lines(["*OperatorTimeout: still running after 10 s*"])


def test_operator_that_only_calls_torch_is_not_selected(pytester, ops_dir_with_perf, add_op):
    add_op("add_one", operator_json("add_one", code="def add_one(x):\n    return x + 1\n"))
    result = run(pytester, "--flaggems-ops=ops", "--flaggems-batch=2", "--flaggems-report-dir=out")
    result.assert_outcomes(passed=4)
    rejected = json.loads((pytester.path / "out" / "selected_batch2.json").read_text())["rejected"]
    assert rejected["add_one"].startswith("no Triton kernel of its own ran")


def test_operator_that_patches_the_torch_reference_fails_and_torch_is_restored(pytester, ops_dir, add_op):
    cheat = ADD_ONE_CODE.format(entry="cheat") + "\ntorch.testing.assert_close = lambda *a, **k: None\n"
    add_op("cheat", operator_json("cheat", code=cheat))
    # Runs after the cheater in the same worker: its test fails unless the real assert_close is back.
    checks = ADD_ONE_TEST.format(entry="z_checks", category="pointwise") + (
        "\n\ndef test_the_reference_still_compares():\n"
        "    with pytest.raises(AssertionError):\n"
        "        torch.testing.assert_close(torch.zeros(1), torch.ones(1))\n"
    )
    add_op("z_checks", operator_json("z_checks", test=checks))
    result = run(pytester, "--flaggems-ops=ops")
    result.assert_outcomes(passed=10, failed=1, skipped=1)
    result.stdout.fnmatch_lines(["*code does not load: Tampering: the code replaces torch.testing.assert_close*"])


def test_flaggems_style_tests_run_unchanged(pytester, ops_dir, add_op):
    add_op("twice", operator_json("twice", code=ADD_ONE_CODE.format(entry="twice").replace("+ 1.0", "* 2.0"),
                                  test=textwrap.dedent('''
        import os, sys
        import pytest
        import torch
        import flag_gems
        from flag_gems.experimental_ops.twice import twice as gems_twice

        sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../.."))
        try:
            from tests.accuracy_utils import gems_assert_close
        except ImportError:
            def gems_assert_close(res, ref, dtype, **kwargs):
                flag_gems.testing.assert_close(res, ref, dtype, **kwargs)

        @pytest.mark.twice
        @pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
        def test_twice(dtype):
            x = torch.randn(64, dtype=dtype, device=flag_gems.device)
            with flag_gems.use_gems():
                out = gems_twice(x)
            gems_assert_close(out, x * 2, dtype)
    ''')))  # fmt: skip
    result = run(pytester, "--flaggems-ops=ops", "--strict-markers")
    result.assert_outcomes(passed=8)


def test_works_under_xdist_with_selection_on_the_controller(pytester, ops_dir_with_perf, add_op):
    add_op("bad", operator_json("bad", code=WRONG_CODE.format(entry="bad")))
    result = run(pytester, "--flaggems-ops=ops", "-n", "2", "--flaggems-report-dir=out")
    result.assert_outcomes(passed=6, failed=2)
    session = json.loads((pytester.path / "out" / "session.json").read_text())
    assert (session["operators"]["add_one"]["passed"], session["operators"]["bad"]["failed"]) == (2, 2)
    assert list(json.loads((pytester.path / "out" / "selected_batch2.json").read_text())["operators"]) == ["add_one"]


def test_ini_keys_configure_the_plugin(pytester, ops_dir_with_perf):
    pytester.makeini("[pytest]\nflaggems_ops = ops\nflaggems_report_dir = out\nflaggems_device = cpu\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)
    assert (pytester.path / "out" / "selected_batch2.json").is_file()


def test_contradicting_options_are_a_usage_error(pytester, ops_dir):
    result = run(pytester, "--flaggems-ops=ops", "--flaggems-dry-run")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--flaggems-dry-run*need --flaggems-import*"])


def test_bad_perf_file_is_a_usage_error_naming_the_path(pytester, ops_dir):
    (pytester.path / "your_perf_data.json").write_text('{"add_one": {"configs": [{"shape": [8]}]}}')
    result = run(pytester, "--flaggems-ops=ops")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*your_perf_data.json: $.add_one.configs[[]0[]]: 'dtype' is a required property*"])


def test_plain_pytest_run_does_not_import_torch_or_numpy(pytester):
    pytester.makepyfile(test_plain='''
        import sys

        def test_no_heavy_imports():
            assert "torch" not in sys.modules
            assert "triton" not in sys.modules
            assert "flag_gems" not in sys.modules
            assert "numpy" not in sys.modules and "jsonschema" not in sys.modules
    ''')  # fmt: skip
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly")
    result.assert_outcomes(passed=1)


def test_operator_that_crashes_the_process_fails_alone_under_xdist(pytester, ops_dir_with_perf, add_op):
    add_op("crash", operator_json("crash", test=textwrap.dedent('''
        import ctypes
        from flag_gems.experimental_ops.crash import crash

        def test_crash():
            ctypes.string_at(0)  # a segfault, as a bad kernel launch can cause
    ''')))  # fmt: skip
    your = json.loads((pytester.path / "your_perf_data.json").read_text())
    your["crash"] = {"configs": [{"shape": [8], "dtype": "fp32", "your_time": 0.1, "cuda_time": 1.0}]}
    (pytester.path / "your_perf_data.json").write_text(json.dumps(your))
    result = run(pytester, "--flaggems-ops=ops", "-n", "1", "--flaggems-report-dir=out", "--flaggems-batch=2")
    result.assert_outcomes(passed=6, failed=1)
    result.stdout.fnmatch_lines(["*worker*crashed*"])
    selected = json.loads((pytester.path / "out" / "selected_batch2.json").read_text())
    assert list(selected["operators"]) == ["add_one"]
    assert selected["rejected"]["crash"].startswith("tests failed: 1 of 1")


def test_a_screening_run_leaves_no_benchmark_storage_in_the_users_folder(pytester, ops_dir):
    """pytest-benchmark creates ./.benchmarks in every run; a screening run saves nothing there."""
    result = run(pytester, "--flaggems-ops=ops")
    result.assert_outcomes(passed=4)
    assert not (pytester.path / ".benchmarks").exists()


def test_a_session_whose_processes_compiled_torch_from_source_says_how_to_stop_that(pytester, ops_dir, monkeypatch):
    result = run(pytester, "--flaggems-ops=ops")
    result.assert_outcomes(passed=4)
    assert "has no bytecode" not in result.stdout.str()  # the test venv's torch has its bytecode
    # As on the device image: no bytecode where Python looks for it, and none written.
    monkeypatch.setenv("PYTHONPYCACHEPREFIX", str(pytester.path / "empty-pycache"))
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    result = run(pytester, "--flaggems-ops=ops")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["note: torch has no bytecode and Python did not write it *"
                                 "`python -m compileall -q */site-packages` once*"])  # fmt: skip
