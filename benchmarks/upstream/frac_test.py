# A FlagGems-style test for the frac operator, written for the ops-layout import check
# (benchmarks/upstream/build_checkout.py): dispatch through use_gems(), as FlagGems' tests do.
import flag_gems
import pytest
import torch


@pytest.mark.frac
@pytest.mark.parametrize("shape", [(1024,), (64, 257), (16, 32, 33)])
@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.bfloat16])
def test_frac(shape, dtype):
    inp = torch.randn(shape, dtype=dtype, device=flag_gems.device) * 10
    ref_out = torch.frac(inp)
    with flag_gems.use_gems():
        res_out = torch.frac(inp)
    torch.testing.assert_close(res_out, ref_out)
