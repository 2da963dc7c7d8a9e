"""--flaggems-bench on the CPU: the logic (inputs, checks, regeneration, what decides), not speed."""

from __future__ import annotations

import json

import jsonschema
import pytest

from helpers import RELU_CODE, operator_json, run
from pytest_flaggems_import.cli import main
from pytest_flaggems_import.core import formats

RELU_TEST = """
import torch
from flag_gems.experimental_ops.relu import relu

def test_relu_small():
    x = torch.randn(300, device="cuda")
    torch.testing.assert_close(relu(x), torch.relu(x))
"""
BENCH = ("--flaggems-bench", "--flaggems-bench-shapes=64x64", "--flaggems-bench-dtypes=float32", "-p", "no:randomly")


def add_relu(ops_dir, grid="triton.cdiv(x.numel(), 1024)"):
    (ops_dir / "relu.json").write_text(json.dumps(operator_json("aten::relu", code=RELU_CODE.format(grid=grid),
                                                                test=RELU_TEST)))  # fmt: skip


def test_bench_items_regenerate_perf_files_that_reproduce_the_decisions(pytester, ops_dir):
    add_relu(ops_dir)
    result = run(pytester, "--flaggems-ops=ops", *BENCH, "--flaggems-allow-cpu-timings", "--flaggems-regen=regen",
                 "--flaggems-report-dir=out", "--flaggems-batch=2", "--flaggems-threshold=1000", "-rs", "-v")  # fmt: skip
    result.stdout.fnmatch_lines(["*SKIPPED ops/add_one.json::bench*", "*PASSED ops/relu.json::bench[[]float32-64x64[]]*"])
    result.stdout.fnmatch_lines(["SKIPPED *not benchmarkable: no torch.ops.aten op for aten::add_one*"])
    # progress (-v): a line once benchmarks start, one per operator as it completes
    result.stdout.fnmatch_lines(["flaggems: benchmarks started; * of about * items done*"])
    result.stdout.fnmatch_lines(["flaggems [[]*/2[]] relu: 1/1 tests passed, 1 benchmark configs"])
    your = json.loads((pytester.path / "regen" / "your_perf_data.json").read_text())
    assert formats.validate("your_perf", your, "regen") == []
    row = your["relu"]["configs"][0]
    assert (row["shape"], row["dtype"], row["device"], row["metric"]) == ([64, 64], "float32", "cpu", "operator")
    assert row["your_time"] > 0 and row["spread"]["your"]["operator"]["rounds"] == 5
    session = json.loads((pytester.path / "out" / "selected_batch2.json").read_text())
    jsonschema.validate(session, formats.schema("selected"))
    # what the rows recorded, not what was asked for: on the CPU only end-to-end timings exist
    assert session["provenance"]["measured_by"].startswith("live: operator timing on cpu")
    # where the time went, and the reports people read, from the same session file
    full = json.loads((pytester.path / "out" / "session.json").read_text())
    assert full["operators"]["relu"]["seconds"]["bench"] > 0 and full["timing"]["tests_s"] > 0
    timing = full["timing"]
    bench_items = sum(op["seconds"].get("bench", 0) for op in full["operators"].values())  # each rounded: approx
    assert timing["worker_bench_seconds"] == pytest.approx(bench_items, abs=2e-3) and bench_items > 0
    assert "kernels_compiled" not in timing  # the interpreter compiles nothing
    # the benchmark items' steps: checking (sharing the device), waiting for it, alone on it
    steps = [timing[f"worker_bench_{step}_seconds"] for step in ("check", "wait", "alone")]
    assert all(s >= 0 for s in steps) and steps[0] > 0 and steps[2] > 0
    assert sum(steps) <= timing["worker_bench_seconds"] + 2e-3
    jsonschema.validate(full, formats.schema("session"))
    result.stdout.fnmatch_lines(["time: startup *s, tests *s, reports *s; in 1 worker(s): tests *s*, benchmarks *s "
                                 "(checking *s, waiting for the GPU *s, alone on it *s)*"])  # fmt: skip
    assert full["rules"]["thresholds"]["2"] == 1000 and full["checks"]["bench_metric"] == "cudagraph"
    markdown = (pytester.path / "out" / "report.md").read_text()
    assert "| relu | pointwise | 1/1 | 1 |" in markdown and "time relative to CUDA &lt;= 1000 | selected |" in markdown
    assert "| 64x64 | float32 |" in markdown and "| operator | cpu |" in markdown
    assert (pytester.path / "out" / "charts" / "time.png").is_file()
    out = pytester.path / "again.json"
    assert main(["select", "--batch", "2", "--threshold", "1000", "--your-data", str(pytester.path / "regen" / "your_perf_data.json"),
                 "--output", str(out), "--quiet"]) == 0  # fmt: skip
    again = json.loads(out.read_text())
    assert again["operators"] == session["operators"]


def test_cpu_timings_decide_nothing_unless_allowed(pytester, ops_dir):
    add_relu(ops_dir)
    result = run(pytester, "--flaggems-ops=ops", *BENCH, "--flaggems-report-dir=out", "--flaggems-batch=2", "-q")
    assert "flaggems:" not in result.stdout.str() and "flaggems [" not in result.stdout.str()  # -q: no progress
    selected = json.loads((pytester.path / "out" / "selected_batch2.json").read_text())
    assert selected["operators"] == {}
    assert selected["rejected"]["relu"] == "no perf data"
    assert selected["provenance"]["measured_by"] == "perf files (not re-measured)"


def test_operator_wrong_at_the_benchmark_shape_is_rejected(pytester, ops_dir):
    add_relu(ops_dir, grid="1")  # one block: right for the tests' 300 elements, wrong for 64x64
    result = run(pytester, "--flaggems-ops=ops", *BENCH, "--flaggems-allow-cpu-timings", "--flaggems-report-dir=out",
                 "--flaggems-batch=2")  # fmt: skip
    result.assert_outcomes(passed=7, failed=1, skipped=1)
    rejected = json.loads((pytester.path / "out" / "selected_batch2.json").read_text())["rejected"]
    assert rejected["relu"].startswith("wrong at benchmark shape: Tensor-likes are not close! Mismatched elements: ")
    assert "Greatest absolute difference: " in rejected["relu"]  # how far off, and where


def test_under_xdist_an_operators_tests_and_benchmarks_share_a_worker(pytester, ops_dir):
    failing = RELU_TEST + "\n\ndef test_relu_claims_too_much():\n    assert False, 'wrong on purpose'\n"
    for name in ("relu", "relu_"):  # two files, so that two workers have something to do
        code = RELU_CODE.format(grid="triton.cdiv(x.numel(), 1024)").replace("def relu(", f"def {name}(")
        test = failing.replace("relu import relu", f"{name} import {name}").replace("relu(x)", f"{name}(x)")
        (ops_dir / f"{name}.json").write_text(json.dumps(operator_json(f"aten::{name}", code=code, test=test)))
    result = run(pytester, "--flaggems-ops=ops", *BENCH, "--flaggems-allow-cpu-timings", "-n", "2", "-v", "-rs")
    result.stdout.fnmatch_lines(["*scheduling tests via OperatorScheduling*"])
    result.stdout.fnmatch_lines(["SKIPPED [[]2[]] *not benchmarked: its tests failed"])  # relu and relu_


SHAREABLE_PROBE = """
import fcntl, json, os

def pytest_runtest_setup(item):
    # Could another process start a test on the device now? (a shared lock, not waiting for it)
    fd = os.open({lock!r}, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        shareable = True
    except BlockingIOError:
        shareable = False
    finally:
        os.close(fd)
    with open({log!r}, "a") as log:
        log.write(json.dumps([item.nodeid, shareable]) + "\\n")
"""


def test_an_operators_benchmarks_keep_the_device_alone_until_its_last_one(pytester, ops_dir, monkeypatch, tmp_path):
    """One wait for running tests per operator, not per configuration: from its first
    measurement to the end of its last benchmark item no other process may start a test; the next
    operator's items find the device free again."""
    from helpers import DISPATCH_TEST, SIGMOID

    add_relu(ops_dir)
    sigmoid = SIGMOID.format(value="1.0 / (1.0 + tl.exp(-x))", entry="sigmoid")
    (ops_dir / "sigmoid.json").write_text(json.dumps(operator_json("aten::sigmoid", code=sigmoid, test=DISPATCH_TEST)))
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # this session's own lock files
    log = tmp_path / "shareable.jsonl"
    pytester.makeconftest(SHAREABLE_PROBE.format(lock=str(tmp_path / "flaggems-gpu-locks" / "cpu.lock"), log=str(log)))
    result = run(pytester, "--flaggems-ops=ops", "--flaggems-bench", "--flaggems-bench-shapes=64x64,32x32",
                 "--flaggems-bench-dtypes=float32", "-p", "no:randomly", "-v")  # fmt: skip
    result.stdout.fnmatch_lines(["*PASSED ops/relu.json::bench[[]float32-32x32[]]*"])
    seen = [(node.removeprefix("ops/"), free) for node, free in map(json.loads, log.read_text().splitlines())]
    nodes = [node for node, _ in seen]
    for op in ("relu", "sigmoid"):
        first, last = nodes.index(f"{op}.json::bench[float32-64x64]"), nodes.index(f"{op}.json::bench[float32-32x32]")
        assert seen[first][1]  # its first benchmark: nothing held yet
        assert not seen[last][1]  # its second: still alone since the first measured
        assert seen[last + 1] == (f"{op}.json::isolation", True)  # released once its last benchmark ended
    # an operator that cannot be benchmarked (no ATen op to compare with) never takes the device
    assert ("add_one.json::bench[float32-32x32]", True) in seen
