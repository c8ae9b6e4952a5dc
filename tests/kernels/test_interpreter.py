"""The CPU interpreter's bf16 conversion, made to round as the GPU does (``kernels.testing``, tests/conftest.py)."""

from __future__ import annotations

import pytest
import torch

triton = pytest.importorskip("triton")
tl = pytest.importorskip("triton.language")

from tests.kernels.helpers import DEVICE  # noqa: E402


@triton.jit
def _store_kernel(x_ptr, y_ptr, N: tl.constexpr):
    i = tl.arange(0, N)
    x = tl.load(x_ptr + i)
    tl.store(y_ptr + i, x.to(y_ptr.dtype.element_ty))  # explicit conversion
    tl.store(y_ptr + N + i, x * 2.0)  # implicit, by the store


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
def test_fp32_stores_round_to_nearest(dtype):
    """fp32 -> half conversions in a kernel equal torch's (round to nearest even) bit for bit, from tiny to
    huge magnitudes, zeros of both signs, infinities and values halfway between two bf16 numbers."""
    x = torch.randn(1024, generator=torch.Generator().manual_seed(0)) * torch.logspace(-30, 30, 1024)
    x[:6] = torch.tensor([0.0, -0.0, float("inf"), -float("inf"), 1.0 + 2.0**-8, 1.0 + 3 * 2.0**-8])
    if dtype == torch.float16:
        x = x.clamp(-3e4, 3e4)  # within fp16 range, doubled too
    y = torch.empty(2048, device=DEVICE, dtype=dtype)
    _store_kernel[(1,)](x.to(DEVICE), y, N=1024)
    bits = lambda t: t.cpu().view(torch.int16)  # noqa: E731
    assert torch.equal(bits(y[:1024]), bits(x.to(dtype)))
    assert torch.equal(bits(y[1024:]), bits((x * 2).to(dtype)))
