"""Proof that the candidate's own kernel computed the result (SPEC 8): cheaters next to an honest
relu, each caught with its own reason, the honest one selected (CPU, Triton interpreter)."""

from __future__ import annotations

import json
import textwrap

from helpers import DISPATCH_TEST, RELU_CODE, SIGMOID, operator_json, perf

HONEST = RELU_CODE.format(grid="triton.cdiv(x.numel(), 1024)")
NOOP_KERNEL = """
import torch
import triton
import triton.language as tl


@triton.jit
def touch_kernel(x_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.load(x_ptr + offs, mask=offs < n)
"""
CHEATS = {
    # launches a kernel of its own, then computes the result with the very op it replaces
    "relu_v2": NOOP_KERNEL + "\n\ndef relu_v2(x):\n    touch_kernel[(1,)](x, x.numel(), BLOCK=128)\n    return torch.relu(x)\n",
    # no kernel of its own; the only launch is the test's
    "relu_v3": "import torch\n\n\ndef relu_v3(x):\n    return x.clamp(min=0)\n",
    # its kernel runs (on a copy), but the result comes from torch (clamp: not relu, so no fallback)
    "relu_v6": NOOP_KERNEL + "\n\ndef relu_v6(x):\n    touch_kernel[(1,)](x.clone(), x.numel(), BLOCK=128)\n"
               "    return x.clamp(min=0)\n",
}


def relu_test(entry: str, *, launch_in_test: bool = False) -> str:
    extra = NOOP_KERNEL.replace("touch_kernel", "test_side_kernel") if launch_in_test else "import torch\n"
    call = "    test_side_kernel[(1,)](x, x.numel(), BLOCK=128)\n" if launch_in_test else ""
    return extra + textwrap.dedent(f"""
        import pytest
        from flag_gems.experimental_ops.{entry} import {entry}

        @pytest.mark.parametrize("n", [7, 300])
        def test_{entry}(n):
            x = torch.randn(n, device="cuda")
        """) + call + f"    torch.testing.assert_close({entry}(x), torch.relu(x))\n"


def ignores_strides(entry: str) -> str:
    """The honest relu under another name, but reading its input's memory in order and writing a
    fresh contiguous output: right on contiguous inputs, wrong on a transposed one."""
    return HONEST.replace("def relu(", f"def {entry}(").replace(
        "out = torch.empty_like(x)", "out = torch.empty(x.shape, dtype=x.dtype, device=x.device)"
    )


def screen(pytester, ops, files: dict, *options: str) -> tuple:
    """Write ``files`` into ``ops``, screen them on the CPU as batch 2; (result, selected file)."""
    for name, data in files.items():
        (ops / f"{name}.json").write_text(json.dumps(data))
    (pytester.path / "your_perf_data.json").write_text(json.dumps(perf({n: [([8], "fp32", 0.5, 1.0)] for n in files})))
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--flaggems-ops=ops", "--flaggems-device=cpu", "--flaggems-batch=2",
        "--flaggems-report-dir=out", *options,
    )  # fmt: skip
    return result, json.loads((pytester.path / "out" / "selected_batch2.json").read_text())


def test_each_cheater_is_rejected_with_its_own_reason_and_the_honest_relu_is_selected(pytester):
    ops = pytester.mkdir("ops")
    files = {
        "relu": operator_json("relu", code=HONEST, test=relu_test("relu")),
        "relu_v2": operator_json("relu_v2", code=CHEATS["relu_v2"], test=relu_test("relu_v2")),
        "relu_v3": operator_json("relu_v3", code=CHEATS["relu_v3"], test=relu_test("relu_v3", launch_in_test=True)),
        "relu_v6": operator_json("relu_v6", code=CHEATS["relu_v6"], test=relu_test("relu_v6")),
    }
    result, selected = screen(pytester, ops, files)
    assert sorted(selected["operators"]) == ["relu"], result.stdout.str()[-3000:]
    assert "Fallback: falls back to aten::relu, the ATen op it replaces" in selected["rejected"]["relu_v2"]
    assert selected["rejected"]["relu_v3"].startswith("no Triton kernel of its own ran in its tests")
    assert selected["rejected"]["relu_v6"].startswith("its results do not depend on its own kernels (ghost replay")


def test_allow_fallback_relaxes_the_fallback_check(pytester):
    ops = pytester.mkdir("ops")
    (ops / "relu_v2.json").write_text(json.dumps(operator_json("relu_v2", code=CHEATS["relu_v2"], test=relu_test("relu_v2"))))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--flaggems-ops=ops", "--flaggems-device=cpu",
                                           "--flaggems-allow-fallback")  # fmt: skip
    result.assert_outcomes(passed=4)


def test_a_flaggems_style_dispatch_test_runs_the_candidate(pytester):
    """The honest sigmoid passes its dispatch-style tests and is selected; a wrong one (its kernel
    writes zeros) fails them, because ``use_gems()`` routes ``aten::sigmoid`` to the candidate."""
    for folder, value in (("honest", "1.0 / (1.0 + tl.exp(-x))"), ("wrong", "x * 0.0")):
        ops = pytester.mkdir(folder)
        code = SIGMOID.format(value=value, entry="sigmoid")
        (ops / "sigmoid.json").write_text(json.dumps(operator_json("sigmoid", code=code, test=DISPATCH_TEST)))
    (pytester.path / "your_perf_data.json").write_text(json.dumps(perf({"sigmoid": [([8], "fp32", 0.5, 1.0)]})))
    for folder, passed, failed in (("honest", 4, 0), ("wrong", 2, 2)):
        result = pytester.runpytest_subprocess(
            "-p", "no:cacheprovider", f"--flaggems-ops={folder}", "--flaggems-device=cpu", "--flaggems-batch=2",
            f"--flaggems-report-dir=out-{folder}", "--flaggems-your-data=your_perf_data.json",
        )  # fmt: skip
        result.assert_outcomes(passed=passed, failed=failed)
        selected = json.loads((pytester.path / f"out-{folder}" / "selected_batch2.json").read_text())
        assert ("sigmoid" in selected["operators"]) is (folder == "honest"), result.stdout.str()[-3000:]


CONTRACT_CHEATS = {
    # zeroes its input and returns it: right for a relu of non-positive numbers, wrong otherwise
    "relu_v4": RELU_CODE.format(grid="triton.cdiv(x.numel(), 1024)").replace("def relu(", "def relu_v4(")
    .replace("    out = torch.empty_like(x)\n", "    out = x\n"),
    # an in-place relu that works on a copy and returns the copy
    "relu_": RELU_CODE.format(grid="triton.cdiv(x.numel(), 1024)").replace("def relu(", "def relu_("),
    # computes once per input buffer, then answers from a cache keyed on the buffer's address
    "relu_v8": RELU_CODE.format(grid="triton.cdiv(x.numel(), 1024)").replace("def relu(x):", "def _relu(x):")
    + "\n\n_CACHE = {}\n\n\ndef relu_v8(x):\n    key = (x.data_ptr(), tuple(x.shape))\n"
    "    if key not in _CACHE:\n        _CACHE[key] = _relu(x)\n    return _CACHE[key].clone()\n",
}


def test_input_writes_in_place_copies_and_self_restoring_patches_are_rejected(pytester):
    ops = pytester.mkdir("ops")
    in_place_test = textwrap.dedent("""
        import torch
        from flag_gems.experimental_ops.relu_ import relu_

        def test_relu_():
            x = torch.randn(300, device="cuda")
            expected = torch.relu(x)
            torch.testing.assert_close(relu_(x.clone()), expected)
    """)
    self_restoring = relu_test("relu_v5").replace(
        "    torch.testing.assert_close(",
        "    real = torch.testing.assert_close\n"
        "    def once(*args, **kwargs):  # puts the real one back on its first call: no trace afterwards\n"
        "        torch.testing.assert_close = real\n"
        "    torch.testing.assert_close = once\n"
        "    torch.testing.assert_close(",
    )
    wrong = RELU_CODE.format(grid="triton.cdiv(x.numel(), 1024)").replace("def relu(", "def relu_v5(")
    files = {
        "relu_v5": operator_json("relu_v5", code=wrong.replace("tl.where(x > 0, x, 0.0)", "(x * 0.0)"), test=self_restoring),
        "relu": operator_json("relu", code=HONEST, test=relu_test("relu")),
        "relu_v4": operator_json("relu_v4", code=CONTRACT_CHEATS["relu_v4"], test=relu_test("relu_v4")),
        "relu_": operator_json("relu_", code=CONTRACT_CHEATS["relu_"], test=in_place_test),
        "relu_v8": operator_json("relu_v8", code=CONTRACT_CHEATS["relu_v8"], test=relu_test("relu_v8")),
    }
    result, selected = screen(pytester, ops, files)
    assert sorted(selected["operators"]) == ["relu"], result.stdout.str()[-3000:]
    # relu_v4's test computes torch.relu(x) after the call, on the input it overwrote: the test
    # passes; the contract check is what catches it. (Its 7-element test may draw no negative
    # number, 1 time in 128: then only the aliasing is found there, and that test's line comes
    # first in the reason; the 300-element one always has both.)
    assert "BrokenContract: " in selected["rejected"]["relu_v4"]
    assert "changes its input #0, which the op must leave as it was" in result.stdout.str()
    assert "works in place but does not return its first argument" in selected["rejected"]["relu_"]
    assert "returns its earlier result for new data in the same input buffers (a cache)" in (
        selected["rejected"]["relu_v8"])  # fmt: skip
    assert "Tampering: the operator replaced torch.testing.assert_close during the test" in selected["rejected"]["relu_v5"]


def test_the_tools_own_gate_rejects_wrong_results_its_tests_never_look_at(pytester):
    """relu_v7 ignores strides (reads its input's memory in order, writes a fresh contiguous
    output): right on the contiguous inputs its own tests use, wrong on a transposed one. Only the
    gate, run in fresh processes where test_func never ran, tries one; the honest relu passes it."""
    strided_bug = ignores_strides("relu_v7")
    ops = pytester.mkdir("ops")
    files = {
        "relu": operator_json("relu", code=HONEST, test=relu_test("relu")),
        "relu_v7": operator_json("relu_v7", code=strided_bug, test=relu_test("relu_v7")),
    }
    result, selected = screen(pytester, ops, files)
    assert sorted(selected["operators"]) == ["relu"], result.stdout.str()[-3000:]
    reason = selected["rejected"]["relu_v7"]
    assert "wrong on the tool's own inputs: shape (7, 33) float32 non-contiguous" in reason, reason
    assert "(--flaggems-gate=off)" in reason
    session = json.loads((pytester.path / "out" / "session.json").read_text())
    assert session["operators"]["relu"]["gate"]["checked"] > 0 and not session["operators"]["relu"]["gate"]["wrong"]


def test_a_test_that_never_looks_at_the_candidates_output_is_vacuous_and_selects_nothing(pytester):
    """A wrong relu (its kernel writes zeros) whose test calls it and then checks torch against
    itself: the test passes, the kernel ran. Run again with the relu's results made wrong, it
    still passes: vacuous, not evidence. The honest relu's test fails that rerun and is kept."""
    wrong = HONEST.replace("def relu(", "def relu_v9(").replace("tl.where(x > 0, x, 0.0)", "(x * 0.0)")
    vacuous = textwrap.dedent("""
        import torch
        from flag_gems.experimental_ops.relu_v9 import relu_v9

        def test_relu_v9():
            x = torch.randn(300, device="cuda")
            relu_v9(x)
            torch.testing.assert_close(torch.relu(x), torch.relu(x))
    """)
    ops = pytester.mkdir("ops")
    files = {
        "relu": operator_json("relu", code=HONEST, test=relu_test("relu")),
        "relu_v9": operator_json("relu_v9", code=wrong, test=vacuous),
    }
    result, selected = screen(pytester, ops, files)
    assert sorted(selected["operators"]) == ["relu"], result.stdout.str()[-3000:]
    assert "its tests pass whatever it returns (vacuous" in selected["rejected"]["relu_v9"]
    session = json.loads((pytester.path / "out" / "session.json").read_text())
    assert session["operators"]["relu_v9"]["vacuous"] == 1 and session["operators"]["relu"]["vacuous"] == 0


def test_code_that_ends_the_gates_process_is_not_let_through(pytester):
    """An operator that exits when loaded without its tests (as in the gate's fresh process)
    cannot pass the gate by ending it: a gate that could not finish blocks."""
    dodger = "import sys\nif 'pytest_flaggems_import.runner.gate' in ' '.join(sys.argv) or 'gate' in sys.argv[0]:\n" \
             "    import os\n    os._exit(0)\n" + HONEST.replace("def relu(", "def relu_v10(")  # fmt: skip
    ops = pytester.mkdir("ops")
    files = {
        "relu": operator_json("relu", code=HONEST, test=relu_test("relu")),
        "relu_v10": operator_json("relu_v10", code=dodger, test=relu_test("relu_v10")),
    }
    result, selected = screen(pytester, ops, files)
    assert sorted(selected["operators"]) == ["relu"], result.stdout.str()[-3000:]
    assert "the tool's own check could not finish" in selected["rejected"]["relu_v10"]


IN_GATE = "import sys\nIN_GATE = sys.argv[0].endswith('gate.py')  # python -m pytest_flaggems_import.runner.gate\n"


def test_the_gates_candidate_process_is_confined_as_a_worker_is(pytester, monkeypatch):
    """The gate loads candidate code in a process of its own: that process gets a scratch HOME,
    --flaggems-max-memory and --flaggems-sandbox as the workers do. relu_v11 writes, only there,
    into HOME and into the user's folder; relu_v12 allocates 8 GiB there. Confined, the files never
    appear, relu_v11 (honest otherwise) is still selected, and relu_v12's allocation fails: blocked."""
    import shutil

    import pytest

    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap is not installed (.ci/run installs Debian's bubblewrap)")
    home = pytester.mkdir("home")
    monkeypatch.setenv("HOME", str(home))
    planted = pytester.path / "planted-by-gate.txt"
    writer = IN_GATE + textwrap.dedent(f"""
        import pathlib
        if IN_GATE:
            for target in (pathlib.Path.home() / "dotfile", pathlib.Path({str(planted)!r})):
                try:
                    target.write_text("x")
                except OSError:
                    pass
    """) + HONEST.replace("def relu(", "def relu_v11(")
    hog = IN_GATE + "if IN_GATE:\n    hoard = bytearray(8 << 30)\n" + HONEST.replace("def relu(", "def relu_v12(")
    ops = pytester.mkdir("ops")
    files = {
        "relu_v11": operator_json("relu_v11", code=writer, test=relu_test("relu_v11")),
        "relu_v12": operator_json("relu_v12", code=hog, test=relu_test("relu_v12")),
    }
    result, selected = screen(pytester, ops, files, "--flaggems-sandbox=bwrap", "--flaggems-max-memory=4G")
    assert sorted(selected["operators"]) == ["relu_v11"], result.stdout.str()[-3000:]
    assert not planted.exists() and not (home / "dotfile").exists()
    assert "the tool's own check could not finish" in selected["rejected"]["relu_v12"]
    assert "MemoryError" in selected["rejected"]["relu_v12"]


def test_the_gates_cases_cannot_be_rewritten_by_the_code_it_checks(pytester):
    """relu_v13 ignores strides (the gate's non-contiguous case finds it). In the gate's process it
    tries to make the check vacuous: an empty case list and an empty result file where the next
    process would read them, then exits cleanly. The cases reach the checking process from the
    deciding process's memory, and a result per case is required: it stays blocked."""
    strided_bug = ignores_strides("relu_v13")
    forger = IN_GATE + textwrap.dedent("""
        if IN_GATE:
            import os, pathlib, torch
            for folder in {pathlib.Path.cwd(), pathlib.Path.cwd().parent}:
                (folder / "cases.json").write_text("[]")
                torch.save([], folder / "outputs.pt")
            os._exit(0)
    """) + strided_bug
    ops = pytester.mkdir("ops")
    files = {"relu_v13": operator_json("relu_v13", code=forger, test=relu_test("relu_v13"))}
    result, selected = screen(pytester, ops, files)
    assert selected["operators"] == {}, result.stdout.str()[-3000:]
    assert "the tool's own check could not finish: compare:" in selected["rejected"]["relu_v13"]


def test_an_operators_gate_check_runs_while_later_operators_are_still_tested(pytester):
    """relu's gate check starts as soon as its own items are done, not at the session's end:
    relu_v14's test, which runs after relu's (fewer items: scheduled later), waits for relu's gate
    process to show itself (a file it writes only there). Were the gate started at the end,
    relu_v14's test would give up waiting and fail. Both are still checked and selected;
    session.json counts the early starts."""
    marker = pytester.path / "relu-gate-ran"
    shows_itself = IN_GATE + f"if IN_GATE:\n    import pathlib\n    pathlib.Path({str(marker)!r}).write_text('x')\n"
    waits = textwrap.dedent(f"""
        import pathlib, time
        import torch
        from flag_gems.experimental_ops.relu_v14 import relu_v14

        def test_relu_v14_while_relus_gate_runs():
            x = torch.randn(300, device="cuda")
            torch.testing.assert_close(relu_v14(x), torch.relu(x))
            deadline = time.monotonic() + 600  # generous: only a missing early start runs it out
            while not pathlib.Path({str(marker)!r}).exists() and time.monotonic() < deadline:
                time.sleep(0.2)
            assert pathlib.Path({str(marker)!r}).exists()
    """)
    ops = pytester.mkdir("ops")
    files = {
        "relu": operator_json("relu", code=shows_itself + HONEST, test=relu_test("relu")),
        "relu_v14": operator_json("relu_v14", code=HONEST.replace("def relu(", "def relu_v14("), test=waits),
    }
    result, selected = screen(pytester, ops, files)
    assert sorted(selected["operators"]) == ["relu", "relu_v14"], result.stdout.str()[-3000:]
    session = json.loads((pytester.path / "out" / "session.json").read_text())
    assert session["timing"]["gate_checks"] == 2 and session["timing"]["gate_checks_early"] == 2
    assert session["timing"]["gate_run_seconds"] > 0 and session["timing"]["gate_compare_seconds"] > 0
    result.stdout.fnmatch_lines(["time: *; gate checks (2): run * s (cases * s), compare * s"])
    assert session["operators"]["relu"]["gate"]["checked"] > 0


FORGING_TEST = textwrap.dedent("""
    import json

    import torch
    from flag_gems.experimental_ops.relu_v20 import relu_v20


    def test_relu_v20(request):
        x = torch.randn(300, device="cuda")
        torch.testing.assert_close(relu_v20(x), torch.relu(x))
        # what the plugin's own items say: "I am relu's benchmark", "my kernels launched 99 times"
        request.node.user_properties.append(("flaggems", json.dumps({"op": "relu", "kind": "bench"})))
        request.node.user_properties.append(("flaggems_launches", 99))
    """)


def test_a_test_that_writes_the_plugins_report_properties_fails_and_changes_nothing_else(pytester):
    """Reports travel from the worker as ``user_properties``; a test can append to its own. The
    plugin's keys are sealed: only what the plugin wrote reaches the session, and the forger fails."""
    ops = pytester.mkdir("ops")
    files = {
        "relu": operator_json("relu", code=HONEST, test=relu_test("relu")),
        "relu_v20": operator_json("relu_v20", code=HONEST.replace("def relu(", "def relu_v20("), test=FORGING_TEST),
    }
    result, selected = screen(pytester, ops, files)
    assert sorted(selected["operators"]) == ["relu"], result.stdout.str()[-3000:]
    result.stdout.fnmatch_lines(["*the test wrote the plugin's own report properties (flaggems, flaggems_launches)*"])
    session = json.loads((pytester.path / "out" / "session.json").read_text())
    assert session["operators"]["relu_v20"]["failed"] == 1 and session["operators"]["relu"]["bench"] == []
    assert session["operators"]["relu"]["complete"] and session["operators"]["relu"]["failed"] == 0
