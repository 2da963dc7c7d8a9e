"""On a CUDA machine only: the plugin compiled for real, and the timing modes measuring what they
claim. They measure; they never gate the CPU-only CI (skipped there, covered by CPU tests)."""

from __future__ import annotations

import json

import pytest

from helpers import RELU_CODE, operator_json

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

RELU_TEST = """
import torch
from flag_gems.experimental_ops.relu import relu

def test_relu():
    x = torch.randn(1 << 20, device="cuda", dtype=torch.float16)
    torch.testing.assert_close(relu(x), torch.relu(x))
"""


def test_examples_screen_on_cuda(pytester, examples):
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", f"--flaggems-ops={examples / 'operator_data'}", "--flaggems-device=cuda",
        "--flaggems-report-dir=out",
    )  # fmt: skip
    result.assert_outcomes(passed=57, failed=2)  # 6 operators: load, tests, isolation
    session = json.loads((pytester.path / "out" / "session.json").read_text())
    assert session["provenance"]["device"] == "cuda"
    assert {op for op, r in session["operators"].items() if r["failed"]} == {"frac"}
    # a cold cache (pytester's HOME is fresh, Triton's cache pinned under it): kernels compiled, and counted
    timing = session["timing"]
    assert timing["kernels_compiled"] >= 6 and 0 < timing["worker_compile_seconds"] < timing["worker_test_seconds"]
    assert timing["gate_run_seconds"] > timing["gate_run_cases_seconds"] > 0 <= timing["gate_run_compile_seconds"]
    assert 0 <= timing["gate_run_wait_seconds"] < timing["gate_run_cases_seconds"]


def test_cudagraph_leaves_out_launch_overhead(pytester):
    (pytester.path / "ops").mkdir()
    (pytester.path / "ops" / "relu.json").write_text(
        json.dumps(
            operator_json("aten::relu", code=RELU_CODE.format(grid="triton.cdiv(x.numel(), 1024)"), test=RELU_TEST)
        )
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--flaggems-ops=ops", "--flaggems-device=cuda", "--flaggems-bench",
        "--flaggems-bench-shapes=256x256,4096x4096", "--flaggems-bench-dtypes=float16",
        "--flaggems-bench-metric=cudagraph", "--flaggems-regen=regen",
    )  # fmt: skip
    result.assert_outcomes(passed=5)  # load, test, 2 bench, isolation
    rows = json.loads((pytester.path / "regen" / "your_perf_data.json").read_text())["relu"]["configs"]
    for row in rows:
        spread = row["spread"]["your"]
        assert row["metric"] == "cudagraph" and row["your_time"] == spread["cudagraph"]["p50"]
        assert 0 < spread["cudagraph"]["p50"] <= spread["kernel"]["p50"] * 1.05
        assert spread["cudagraph"]["p20"] <= spread["cudagraph"]["p50"] <= spread["cudagraph"]["p80"]
    small = rows[0]["spread"]["your"]
    assert small["cudagraph"]["p50"] < 0.5 * small["kernel"]["p50"], "a 256x256 launch is host-bound in kernel mode"
    # Each graph sized from the device time of its calls to replay in about bench.REPLAY_MS (0.5 ms):
    # ~2 us calls at 256x256 make many more per graph than the ~10 us ones at 4096x4096.
    calls = [row["spread"]["your"]["cudagraph"]["calls"] for row in rows]
    assert calls[0] > 2 * calls[1] >= 2, calls
