"""FlagGems' own generated operators with their maintainers' tests pass through the plugin as they
pass run directly (issue 11): per-overload functions (``multiply_Tensor``) and the package
attribute that is the function (``flag_gems.experimental_ops.rmsnorm(...)``)."""

from __future__ import annotations

import json
import textwrap

import pytest

from helpers import perf

KERNEL = """
import torch
import triton
import triton.language as tl


@triton.jit
def mul_kernel(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=mask) * tl.load(y_ptr + offs, mask=mask), mask=mask)


def _launch(x, y):
    out = torch.empty_like(x)
    mul_kernel[(triton.cdiv(x.numel(), 128),)](x, y, out, x.numel(), BLOCK=128)
    return out
"""
# As FlagGems-Experimental's multiply.py: one function per overload, none named after the op.
MULTIPLY = KERNEL + """

def multiply_Tensor(self, other):
    return _launch(self, other)


def multiply_Scalar(self, other):
    return _launch(self, torch.full_like(self, other))
"""
MULTIPLY_TEST = textwrap.dedent("""
    import pytest
    import torch
    from flag_gems.experimental_ops.multiply import multiply_Scalar, multiply_Tensor

    @pytest.mark.parametrize("n", [5, 300])
    def test_multiply(n):
        x, y = torch.randn(n, device="cuda"), torch.randn(n, device="cuda")
        torch.testing.assert_close(multiply_Tensor(x, y), torch.mul(x, y))
        torch.testing.assert_close(multiply_Scalar(x, 2.5), torch.mul(x, 2.5))
""")
# As FlagGems' rmsnorm test: the package attribute is the function (experimental_ops/__init__.py
# does `from .rmsnorm import rmsnorm`).
SQUARE = KERNEL + "\n\ndef square(x):\n    return _launch(x, x)\n"
SQUARE_TEST = textwrap.dedent("""
    import torch
    import flag_gems

    def test_square():
        x = torch.randn(300, device="cuda")
        torch.testing.assert_close(flag_gems.experimental_ops.square(x), x * x)
""")


def test_per_overload_functions_and_the_package_attribute_work_as_in_flaggems(pytester):
    ops = pytester.mkdir("ops")
    for op, code, test in (("multiply", MULTIPLY, MULTIPLY_TEST), ("square", SQUARE, SQUARE_TEST)):
        (ops / f"{op}.json").write_text(json.dumps({"op_name": op, "code": code, "test_func": test}))
    (pytester.path / "your_perf_data.json").write_text(
        json.dumps(perf({op: [([8], "fp32", 0.5, 1.0)] for op in ("multiply", "square")}))
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--flaggems-ops=ops", "--flaggems-device=cpu", "--flaggems-batch=2",
        "--flaggems-report-dir=out",
    )  # fmt: skip
    result.assert_outcomes(passed=7)  # 2 loads, 3 tests, 2 isolation items
    selected = json.loads((pytester.path / "out" / "selected_batch2.json").read_text())
    assert sorted(selected["operators"]) == ["multiply", "square"], selected["rejected"]


def test_a_checkouts_own_test_conftest_is_not_loaded_as_the_direct_run_does_not(pytester, ops_dir):
    """Run in a FlagGems checkout, ``pytest --flaggems-ops=DIR`` starts as ``pytest DIR`` would:
    FlagGems' ``tests/conftest.py`` (whose ``pytest_runtest_protocol`` reads ``item._request``,
    which only pytest's own test functions have) is not loaded by a screening of another folder."""
    pytester.mkdir("tests")
    (pytester.path / "tests" / "conftest.py").write_text(
        "def pytest_runtest_protocol(item, nextitem):\n    item._request  # as FlagGems' tests/conftest.py\n"
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--flaggems-ops=ops", "--flaggems-device=cpu")
    result.assert_outcomes(passed=4)  # load, 2 tests, isolation
    assert "INTERNALERROR" not in result.stdout.str()


COPY = KERNEL + """

@triton.jit
def copy_kernel(src_ptr, dst_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    tl.store(dst_ptr + offs, tl.load(src_ptr + offs, mask=mask), mask=mask)


def copy_(self, src, non_blocking=False):
    copy_kernel[(triton.cdiv(self.numel(), 128),)](src, self, self.numel(), BLOCK=128)
    return self
"""
# As FlagGems-Experimental's copy__test.py: the op is called through use_gems() and its reference
# is built with clone(), itself a copy_ inside ATen.
COPY_TEST = textwrap.dedent("""
    import pytest
    import torch
    import flag_gems

    @pytest.mark.parametrize("n", [5, 300])
    def test_copy_(n):
        dst, src = torch.zeros(n, device="cuda"), torch.randn(n, device="cuda")
        ref = dst.clone().copy_(src)
        with flag_gems.use_gems():
            res = torch.ops.aten.copy_(dst.clone(), src)
        torch.testing.assert_close(res, ref)
""")


def test_a_copy_candidate_is_checked_without_running_it_for_the_checks_own_copies(pytester):
    """The proof clones inputs to check the argument contract; for a candidate of aten::copy_,
    that clone must not be routed to the candidate (it recursed without end, failing every test)."""
    ops = pytester.mkdir("ops")
    (ops / "copy_.json").write_text(json.dumps({"op_name": "copy_", "code": COPY, "test_func": COPY_TEST}))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--flaggems-ops=ops", "--flaggems-device=cpu")
    result.assert_outcomes(passed=4)  # load, 2 tests, isolation


RELU = """
import torch
import triton
import triton.language as tl


@triton.jit
def relu_kernel(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask)
    tl.store(out_ptr + offs, tl.where(x > 0, x, 0.0), mask=mask)


def relu(x):
    out = torch.empty_like(x)
    relu_kernel[(triton.cdiv(x.numel(), 128),)](x, out, x.numel(), BLOCK=128)
    return out
"""
# As FlagGems' own tests/test_<op>.py: helpers from the package's accuracy_utils, the op through use_gems().
RELU_FLAGGEMS_TEST = textwrap.dedent("""
    import pytest
    import torch

    import flag_gems

    from . import accuracy_utils as utils


    @pytest.mark.relu
    @pytest.mark.parametrize("shape", utils.POINTWISE_SHAPES)
    @pytest.mark.parametrize("dtype", utils.FLOAT_DTYPES)
    def test_relu(shape, dtype):
        inp = torch.randn(shape, dtype=dtype, device=flag_gems.device)
        ref_inp = utils.to_reference(inp, True)
        ref_out = torch.relu(ref_inp)
        with flag_gems.use_gems():
            res_out = torch.ops.aten.relu(inp)
        utils.gems_assert_close(res_out, ref_out, dtype)
""")
CHECKOUT_HELPERS = textwrap.dedent("""
    import torch

    FLOAT_DTYPES = [torch.float32]
    POINTWISE_SHAPES = [(5,), (300,), (4, 33)]


    def to_reference(inp, upcast=False):
        return inp.to(torch.float64) if upcast else inp


    def gems_assert_close(res, ref, dtype):
        torch.testing.assert_close(res, ref.to(dtype))
""")


@pytest.mark.parametrize("where", ["stand-in", "checkout"])
def test_flaggems_style_relative_imports_find_the_checkouts_helpers_or_the_stand_in(pytester, where):
    """``from . import accuracy_utils as utils`` resolves to ``<root>/tests/accuracy_utils.py`` with
    ``--flaggems-root`` (its shape list decides the tests), else to the stand-in (the --quick list on the CPU)."""
    ops = pytester.mkdir("ops")
    (ops / "relu.json").write_text(json.dumps({"op_name": "relu", "code": RELU, "test_func": RELU_FLAGGEMS_TEST}))
    args = ["-p", "no:cacheprovider", "--flaggems-ops=ops", "--flaggems-device=cpu"]
    if where == "checkout":
        (pytester.path / "FlagGems" / "tests").mkdir(parents=True)
        (pytester.path / "FlagGems" / "tests" / "__init__.py").write_text("")
        (pytester.path / "FlagGems" / "tests" / "accuracy_utils.py").write_text(CHECKOUT_HELPERS)
        args.append("--flaggems-root=FlagGems")
    result = pytester.runpytest_subprocess(*args)
    tests = 3 if where == "checkout" else 1  # the checkout's three shapes; the stand-in's one quick shape
    result.assert_outcomes(passed=tests + 2)  # + load and isolation


def test_code_without_a_recognisable_entry_still_loads_and_its_tests_decide(pytester):
    """Entry resolution never rejects working code (issue 11): ``__all__`` names the entry, and
    code with no function the tool can call the entry still loads; its tests pass or fail it."""
    ops = pytester.mkdir("ops")
    named = RELU.replace("def relu(x):", "def fast_relu(x):") + '\n__all__ = ["fast_relu"]\n'
    unnamed = RELU.replace("def relu(x):", "def relu_impl_v2(x):")
    test = textwrap.dedent("""
        import torch
        from flag_gems.experimental_ops.{entry} import {function}

        def test_it():
            x = torch.randn(300, device="cuda")
            torch.testing.assert_close({function}(x), torch.relu(x))
    """)
    (ops / "relu.json").write_text(
        json.dumps({"op_name": "relu", "code": named, "test_func": test.format(entry="relu", function="fast_relu")})
    )
    (ops / "relu_.json").write_text(
        json.dumps(
            {"op_name": "relu_", "code": unnamed, "test_func": test.format(entry="relu_", function="relu_impl_v2")}
        )
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--flaggems-ops=ops", "--flaggems-device=cpu")
    result.assert_outcomes(passed=6)  # per operator: load, its test, isolation
