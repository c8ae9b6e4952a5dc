"""The issue's grid on the GPU: ``dnaconv bench fftconv``'s lengths at a few channels, through the Triton kernels
(``monarch_fftconv``, planned as dispatch plans them, also where dispatch would take torch.fft), against torch.fft
in float64: full-length filters at L = 1K ... 4M and partial ones, K = 4K, 16K and 64K, at L = 1M and 2.3M.

- Forward, bf16 and fp32 inputs, gated: bf16 at most twice torch.fft's own error in bf16 (``assert_close``'s
  rule, with its floor) and at most 1e-2; fp32 (3xtf32) at most 1e-5.
- fwd+bwd in bf16: every gradient at most twice torch.fft's own in bf16 (the same floor), through the backward
  ``plan.backward_route`` takes there (fused on chip, HBM, or the reference's autograd). Short sequences come
  16 to a batch, so that the forward's spectrum is kept for the backward (``monarch._shared_spectrum``).
- Past int32 offsets: B x D x L > 2^31, the first and last sequences of the forward and backward.

CUDA only (the CPU interpreter runs the same kernels at small shapes in the other files); about two minutes on
the H200.
"""

from __future__ import annotations

import pytest
import torch

from dnaconv.kernels.fftconv import naive_fftconv
from dnaconv.kernels.fftconv.monarch import monarch_fftconv
from dnaconv.kernels.testing import BF16_FLOOR, assert_close, rel_rms_error

pytestmark = pytest.mark.cuda

FULL = [1 << 10, 1 << 12, 1 << 14, 1 << 16, 1 << 18, 1 << 20, 1 << 21, 1 << 22]
CASES = [(L, L) for L in FULL] + [(L, K) for L in (1 << 20, 2_300_000) for K in (1 << 12, 1 << 14, 1 << 16)]
IDS = [f"L{L}-K{K}" for L, K in CASES]
GRAD_NAMES = ["du", "dk", "dbias", "dpre", "dpost"]


def _gated(L: int, K: int, dtype: torch.dtype, seed: int = 0):
    """(u, k, bias, pre, post) on the GPU: B sequences of 3 channels (16 up to L = 16K, else 2), u and the
    gates in ``dtype``, k scaled so that outputs are O(1)."""
    g = torch.Generator("cuda").manual_seed(seed)
    B, D = (16 if L <= 1 << 14 else 2), 3
    u, pre, post = (torch.randn(B, D, L, device="cuda", generator=g).to(dtype) for _ in range(3))
    k = torch.randn(D, K, device="cuda", generator=g) / K**0.5
    return u, k, torch.randn(D, device="cuda", generator=g), pre, post


@pytest.mark.parametrize("L,K", CASES, ids=IDS)
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32], ids=["bf16", "fp32"])
def test_forward_on_the_grid(L, K, dtype):
    _check_forward(_gated(L, K, dtype, seed=1), f"L={L} K={K}")


def _check_forward(args, label: str) -> None:
    """``monarch_fftconv``'s forward at ``args`` against float64 torch.fft: fp32 inputs at most 1e-5; half ones
    at most twice torch.fft's own error in their dtype (``assert_close``'s rule, with its floor) and 1e-2."""
    with torch.no_grad():
        ref = naive_fftconv(*(x.double() for x in args))
        y = monarch_fftconv(*args)
        if args[0].dtype == torch.float32:
            assert_close(y, ref, rtol=1e-5, name=f"fp32 {label}")
        else:
            assert_close(y, ref, rtol=BF16_FLOOR, baseline=naive_fftconv(*args), name=f"bf16 {label}")
            assert rel_rms_error(y, ref) <= 1e-2


@pytest.mark.parametrize("L,K", CASES, ids=IDS)
def test_gradients_on_the_grid(L, K):
    args = _gated(L, K, torch.bfloat16, seed=2)
    dy = torch.randn(args[0].shape, device="cuda", generator=torch.Generator("cuda").manual_seed(3))
    _check_gradients(args, dy.to(torch.bfloat16), f"L={L} K={K}")


def _check_gradients(args, dy, label: str) -> None:
    """Every gradient of ``monarch_fftconv`` at ``args`` against float64 torch.fft's, at most twice bf16
    torch.fft's own error (``assert_close``'s rule, with its floor)."""

    def grads(fn, double=False):
        xs = [(x.double() if double else x.clone()).requires_grad_() for x in args]
        fn(*xs).backward(dy.double() if double else dy)
        return [x.grad for x in xs]

    ref = grads(naive_fftconv, double=True)
    for g, base, r, name in zip(grads(monarch_fftconv), grads(naive_fftconv), ref, GRAD_NAMES):
        assert_close(g, r, rtol=BF16_FLOOR, baseline=base, name=f"{name} {label}")


@pytest.mark.parametrize("L", [1 << 16, 1 << 18, 1 << 20, 1 << 22], ids=lambda L: f"L{L}")
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32], ids=["bf16", "fp32"])
def test_forward_one_sequence(L, dtype):
    """A full-length filter over one sequence (B = 1, as ``dnaconv bench fftconv`` times it from L = 64K): one
    unpaired HBM block per channel, on half its spectrum (``monarch_hbm._Frame``'s HERM), passes of 64 points
    first or last (L = 64K, 4M) and two column levels (L = 256K up), as the grid's rule."""
    from dnaconv.kernels.fftconv.monarch_hbm import _Frame
    from dnaconv.kernels.fftconv.plan import fft_plan

    plan = fft_plan(L, L)
    assert _Frame(plan, 1, 3, L, herm=True).herm
    g = torch.Generator("cuda").manual_seed(4)
    u, pre, post = (torch.randn(1, 3, L, device="cuda", generator=g).to(dtype) for _ in range(3))
    k = torch.randn(3, L, device="cuda", generator=g) / L**0.5
    _check_forward((u, k, torch.randn(3, device="cuda", generator=g), pre, post), f"L={L}")


@pytest.mark.parametrize("L", [1 << 16, 1 << 20, 1 << 23], ids=lambda L: f"L{L}")
def test_hbm_backward_one_sequence(L, monkeypatch):
    """The HBM backward forced (DNACONV_HBM_BWD=1) for one sequence's one block (unpaired frames, passes of
    64 at L = 64K, two column levels at 1M and at 8M, N = 2^24, the largest block; the forward on half its
    spectrum with z kept): every gradient, as the grid's rule."""
    monkeypatch.setenv("DNACONV_HBM_BWD", "1")
    g = torch.Generator("cuda").manual_seed(5)
    args = [torch.randn(1, 3, L, device="cuda", generator=g).to(torch.bfloat16) for _ in range(3)]
    k = torch.randn(3, L, device="cuda", generator=g) / L**0.5
    args = (args[0], k, torch.randn(3, device="cuda", generator=g), args[1], args[2])
    _check_gradients(args, torch.randn(1, 3, L, device="cuda", generator=g).to(torch.bfloat16), f"L={L}")


@pytest.mark.parametrize("K", [128, 8192], ids=["on-chip", "hbm"])
def test_offsets_past_int32(K):
    """B x D x L = 2^31 + L elements (the last sequence starts at element 2^31), bf16 without gates, through the
    Triton kernels (on chip at K = 128, through HBM at 8192), forward and backward: the first and the last
    sequences' outputs, du and dk against float64 torch.fft of those sequences alone, as the grid's rule.
    About 60 GB of GPU memory at K = 8192 (the HBM backward's two frames and fp32 v)."""
    L, D = 1 << 20, (1 << 11) + 1
    g = torch.Generator("cuda").manual_seed(7)
    u = torch.randn(1, D, L, device="cuda", generator=g).to(torch.bfloat16).requires_grad_()
    k = (torch.randn(D, K, device="cuda", generator=g) / K**0.5).requires_grad_()
    assert u.numel() == (1 << 31) + L
    y = monarch_fftconv(u, k)
    dy = torch.randn(1, D, L, device="cuda", generator=g).to(torch.bfloat16)
    y.backward(dy)
    for d in (0, D - 1):
        uu, kk, gg = u.detach()[:, d : d + 1], k.detach()[d : d + 1], dy[:, d : d + 1]
        xs = [uu.double().requires_grad_(), kk.double().requires_grad_()]
        ref = naive_fftconv(*xs)
        ref.backward(gg.double())
        base = [uu.clone().requires_grad_(), kk.clone().requires_grad_()]
        out = naive_fftconv(*base)
        out.backward(gg)
        assert_close(
            y.detach()[:, d : d + 1], ref.detach(), rtol=BF16_FLOOR, baseline=out.detach(), name=f"y{d}"
        )
        assert_close(u.grad[:, d : d + 1], xs[0].grad, rtol=BF16_FLOOR, baseline=base[0].grad, name=f"du{d}")
        assert_close(k.grad[d : d + 1], xs[1].grad, rtol=BF16_FLOOR, baseline=base[1].grad, name=f"dk{d}")
    del u, k, y, dy
    torch.cuda.empty_cache()
