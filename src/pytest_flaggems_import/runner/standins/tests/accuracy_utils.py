"""Stand-in for FlagGems' ``tests/accuracy_utils.py``, written for pytest-flaggems-import.

It behaves like FlagGems' helpers for what its tests use most: the dtype and shape lists,
``to_reference`` (optionally upcast), ``gems_assert_close`` (FlagGems' per-dtype tolerances, through
``flag_gems.testing``), ``gems_assert_equal`` and ``init_seed``. The reference runs on the device
(FlagGems' default, ``--ref`` not given). On the CPU, where kernels run in Triton's interpreter, the
shape lists are those of FlagGems' ``--quick`` mode (float32 only: bfloat16 is slow to emulate); with a GPU,
the full ones.
"""

import os
import random

import flag_gems
import torch

TO_CPU = False
QUICK_MODE = os.environ.get("TRITON_INTERPRET") == "1"

PRIMARY_FLOAT_DTYPES = [torch.float16, torch.float32]
FLOAT_DTYPES = [torch.float32] if QUICK_MODE else [*PRIMARY_FLOAT_DTYPES, torch.bfloat16]
ALL_FLOAT_DTYPES = [*FLOAT_DTYPES, torch.float64]
INT_DTYPES = [torch.int32] if QUICK_MODE else [torch.int16, torch.int32]
ALL_INT_DTYPES = [*INT_DTYPES, torch.int64]
BOOL_TYPES = [torch.bool]
COMPLEX_DTYPES = [torch.complex64]
SCALARS = [0.001, -0.999, 100.001, -111.999]

POINTWISE_SHAPES = (
    [(2, 19, 7)] if QUICK_MODE else [(), (1,), (1024, 1024), (20, 320, 15), (16, 128, 64, 60), (16, 7, 57, 32, 29)]
)
SPECIAL_SHAPES = [(0,), (1,), (3, 0, 2)] if QUICK_MODE else [(0,), (1,), (3, 0, 2), (2, 3, 0, 5)]
REDUCTION_SHAPES = [(2, 32)] if QUICK_MODE else [(1, 2), (4096, 256), (200, 40999, 3)]
REDUCTION_SMALL_SHAPES = [(1, 32)] if QUICK_MODE else [(1, 2), (4096, 256), (200, 2560, 3)]
DISTRIBUTION_SHAPES = [(20, 320, 15)]


def to_reference(inp, upcast=False):
    """The reference's input: on the device, in float64 (complex128) when ``upcast``."""
    if inp is None:
        return None
    ref = inp.to("cpu") if TO_CPU else inp
    if upcast:
        ref = ref.to(torch.complex128 if ref.is_complex() else torch.float64)
    return ref


def to_cpu(res, ref):
    return res.to("cpu") if ref.device.type == "cpu" and res.device.type != "cpu" else res


def gems_assert_close(res, ref, dtype, equal_nan=False, reduce_dim=1, atol=1e-4):
    flag_gems.testing.assert_close(to_cpu(res, ref), ref, dtype, equal_nan=equal_nan, reduce_dim=reduce_dim, atol=atol)


def gems_assert_equal(res, ref, equal_nan=False):
    flag_gems.testing.assert_equal(to_cpu(res, ref), ref, equal_nan=equal_nan)


def init_seed(seed):
    random.seed(seed)
    torch.manual_seed(seed)
