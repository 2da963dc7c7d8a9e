"""On a CUDA machine: a kernel that reads far out of bounds (a sticky illegal-address error), a
kernel that never returns and a test that asks for more GPU memory than there is each fail alone;
the operators after them pass and are selected. A host memory limit leaves CUDA working."""

from __future__ import annotations

import json

import pytest

from helpers import RELU_CODE, operator_json, perf

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

TEST = """
import torch
from flag_gems.experimental_ops.{op} import {op}

def test_{op}():
    x = torch.randn(1 << 16, device="cuda")
    torch.testing.assert_close({op}(x), torch.relu(x))
"""
OOB = RELU_CODE.format(grid="triton.cdiv(x.numel(), 1024)").replace(
    "x = tl.load(x_ptr + offs, mask=mask, other=0.0)",
    "x = tl.load(x_ptr + offs.to(tl.int64) * (1 << 30), mask=mask, other=0.0)  # far out of bounds",
)
SPIN = RELU_CODE.format(grid="triton.cdiv(x.numel(), 1024)").replace(
    "x = tl.load(x_ptr + offs, mask=mask, other=0.0)",
    "x = tl.load(x_ptr + offs, mask=mask, other=0.0)\n"
    "    while tl.load(n_ptr, volatile=True) == 0:  # n_ptr holds 0 forever: the kernel never returns\n"
    "        x = x + 0.0",
).replace("def relu_kernel(x_ptr, out_ptr, n,", "def relu_kernel(x_ptr, out_ptr, n, n_ptr,").replace(
    "relu_kernel[", "zero = torch.zeros(1, dtype=torch.int32, device=x.device)\n    relu_kernel["
).replace("](x, out, x.numel(),", "](x, out, x.numel(), zero,")


OOM_TEST = TEST + """
def test_{op}_blows_up():
    torch.empty(1 << 44, dtype=torch.uint8, device="cuda")  # 16 TiB
"""


def test_illegal_address_endless_kernel_and_gpu_oom_fail_alone(pytester):
    ops = pytester.mkdir("ops")
    names = ("a_relu", "b_oob", "c_spin", "d_oom", "e_relu")
    for name in names:
        code = {"b_oob": OOB, "c_spin": SPIN}.get(name, RELU_CODE.format(grid="triton.cdiv(x.numel(), 1024)"))
        code = code.replace("def relu(", f"def {name}(")
        test = (OOM_TEST if name == "d_oom" else TEST).format(op=name)
        (ops / f"{name}.json").write_text(json.dumps(operator_json(name, code=code, test=test)))
    (pytester.path / "your_perf_data.json").write_text(json.dumps(perf({n: [([8], "fp32", 0.5, 1.0)] for n in names})))
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--flaggems-ops=ops", "--flaggems-device=cuda", "--flaggems-batch=2",
        "--flaggems-report-dir=out", "--flaggems-timeout=20", "-p", "no:randomly",
    )  # fmt: skip
    selected = json.loads((pytester.path / "out" / "selected_batch2.json").read_text())
    print(result.stdout.str()[-4000:])
    assert sorted(selected["operators"]) == ["a_relu", "e_relu"]
    assert "illegal" in selected["rejected"]["b_oob"].lower() or "CUDA" in selected["rejected"]["b_oob"]
    assert "hung past the hard limit" in selected["rejected"]["c_spin"]
    assert "OutOfMemoryError" in selected["rejected"]["d_oom"]


def test_a_host_memory_limit_leaves_cuda_working_and_stops_a_host_blow_up(pytester):
    """RLIMIT_DATA counts heap and private writable mappings, not the CUDA driver's address-space
    reservations: CUDA initialises under a 16G limit, and a 64 GiB host allocation fails alone."""
    ops = pytester.mkdir("ops")
    hog = TEST + "\ndef test_{op}_host():\n    torch.ones(1 << 36, dtype=torch.uint8)\n"
    for name, test in (("a_relu", TEST), ("b_hog", hog)):
        code = RELU_CODE.format(grid="triton.cdiv(x.numel(), 1024)").replace("def relu(", f"def {name}(")
        (ops / f"{name}.json").write_text(json.dumps(operator_json(name, code=code, test=test.format(op=name))))
    (pytester.path / "your_perf_data.json").write_text(
        json.dumps(perf({n: [([8], "fp32", 0.5, 1.0)] for n in ("a_relu", "b_hog")}))
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--flaggems-ops=ops", "--flaggems-device=cuda", "--flaggems-batch=2",
        "--flaggems-report-dir=out", "--flaggems-max-memory=16G", "-p", "no:randomly",
    )  # fmt: skip
    print(result.stdout.str()[-3000:])
    selected = json.loads((pytester.path / "out" / "selected_batch2.json").read_text())
    assert sorted(selected["operators"]) == ["a_relu"]
    assert "can't allocate memory" in selected["rejected"]["b_hog"]
