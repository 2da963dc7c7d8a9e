"""What a gate ``run`` process on a GPU does once before its operator arrives (runner.gate ``_warm_up``),
so that the check does not pay it: the first Triton compile and launch of a process (the
backend's driver and launcher utilities loaded), and the first seeded ``randn``, dtype casts,
transposed copy and copy to the host on the device. A spare does this while it waits; measured
on an H200, a check that found none of it done spent ~3 s on it (docs/benchmarks.md)."""

from __future__ import annotations

import io

import torch
import triton
import triton.language as tl


@triton.jit
def _copy(src, dst, n, BLOCK: tl.constexpr):  # 231 elements: the (33, 7) value below
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < n
    tl.store(dst + offsets, tl.load(src + offsets, mask=mask), mask=mask)


def first_compile() -> None:
    """The first Triton compile (no GPU work: outside the GPU lock, once the context exists)."""
    _copy.warmup(torch.float32, torch.float32, 231, BLOCK=256, grid=(1,))


def first_calls() -> None:
    """The first calls on the GPU (GPU work: under the GPU lock, shared)."""
    generator = torch.Generator(device="cuda").manual_seed(0)
    value = torch.randn((33, 7), generator=generator, dtype=torch.float32, device="cuda")
    for dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
        value.to(dtype).t().contiguous().to("cpu").clone()
    flat = value.reshape(-1)
    out = torch.empty_like(flat)
    _copy[(triton.cdiv(flat.numel(), 256),)](flat, out, flat.numel(), BLOCK=256)
    torch.cuda.synchronize()
    torch.save([value.to("cpu")], io.BytesIO())
