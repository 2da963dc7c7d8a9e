# A FlagGems-style test for the hardtanh operator, written for the ops-layout import check
# (benchmarks/upstream/build_checkout.py): dispatch through use_gems(), as FlagGems' tests do.
import flag_gems
import pytest
import torch


@pytest.mark.hardtanh
@pytest.mark.parametrize("shape", [(1024,), (64, 257), (16, 32, 33)])
@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.bfloat16])
@pytest.mark.parametrize("bounds", [(-1.0, 1.0), (-0.5, 2.0)])
def test_hardtanh(shape, dtype, bounds):
    inp = torch.randn(shape, dtype=dtype, device=flag_gems.device) * 3
    ref_out = torch.nn.functional.hardtanh(inp, *bounds)
    with flag_gems.use_gems():
        res_out = torch.ops.aten.hardtanh(inp, *bounds)
    torch.testing.assert_close(res_out, ref_out)
