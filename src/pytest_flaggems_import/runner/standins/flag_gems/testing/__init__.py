"""``flag_gems.testing`` stand-in: the tolerance table and ``assert_close`` with FlagGems' signature."""

import torch

RESOLUTION = {
    torch.bool: 0, torch.uint8: 0, torch.int8: 0, torch.int16: 0, torch.int32: 0, torch.int64: 0,
    torch.float16: 1e-3, torch.bfloat16: 0.016, torch.float32: 1.3e-6, torch.float64: 1e-7,
    torch.complex64: 1.3e-6, torch.complex128: 1e-7,
}  # fmt: skip


def assert_close(res, ref, dtype, equal_nan=False, reduce_dim=1, atol=1e-4):
    dtype = torch.float32 if dtype is None else dtype
    assert res.dtype == dtype, f"result dtype {res.dtype} != expected {dtype}"
    ref = ref.to(dtype)
    torch.testing.assert_close(res, ref, atol=atol * reduce_dim, rtol=RESOLUTION[dtype], equal_nan=equal_nan)


def assert_equal(res, ref, equal_nan=False):
    torch.testing.assert_close(res, ref, atol=0, rtol=0, equal_nan=equal_nan)
