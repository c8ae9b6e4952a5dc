"""Backward of the HBM convolution (``monarch_hbm.py``) for long, large convolutions (``plan.backward_kind``).

With g = dy * post and v = u * pre (the gated input):

    d(post) = dy * z            z = conv + bias v, stored by the forward (or recomputed)
    dv[t]   = sum_s k[s] g[t + s] + bias g[t]      the convolution of the reversed g, reversed back
    du = dv * pre,  d(pre) = dv * u,  d(bias) = sum g v
    dk[s]   = sum over batch and t of g[t] v[t - s]   (history before t = 0)

Two elementwise Triton kernels take the gates around one HBM convolution: ``_gates_kernel`` reads dy, post, z,
u and pre once and writes d(post), g in fp32 (for dk), g reversed in u's dtype (the convolution's input), v in
fp32 and per-program partial sums of d(bias); ``_inputs_kernel`` reads the convolution's reversed output with
u and pre and writes du and d(pre). dk is one torch.fft cross-correlation per row, summed over the batch
before its inverse. The history (streaming state) gets no gradient.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from dnaconv.kernels.fftconv.monarch_hbm import hbm_fftconv_fwd
from dnaconv.kernels.fftconv.naive import next_fast_len

__all__ = ["hbm_fftconv_bwd"]

BLOCK = 1024  # time positions per program of the elementwise kernels


@triton.jit
def _gates_kernel(
    dy_ptr, post_ptr, z_ptr, u_ptr, pre_ptr, dpost_ptr, g_ptr, grev_ptr, v_ptr, dbias_ptr, L, n_tblk,
    HAS_POST: tl.constexpr, HAS_PRE: tl.constexpr, BLOCK: tl.constexpr,
):  # fmt: skip
    """One (row, time block): d(post) = dy z, g = dy post (fp32, and reversed in u's dtype), v = u pre (fp32),
    and the block's sum of g v (d(bias))."""
    row = tl.program_id(0)
    tb = tl.program_id(1)
    t = tb * BLOCK + tl.arange(0, BLOCK)
    m = t < L
    base = row.to(tl.int64) * L
    g = tl.load(dy_ptr + base + t, mask=m, other=0.0).to(tl.float32)
    if HAS_POST:
        z = tl.load(z_ptr + base + t, mask=m, other=0.0).to(tl.float32)
        tl.store(dpost_ptr + base + t, (g * z).to(dpost_ptr.dtype.element_ty), mask=m)
        g = g * tl.load(post_ptr + base + t, mask=m, other=0.0).to(tl.float32)
    v = tl.load(u_ptr + base + t, mask=m, other=0.0).to(tl.float32)
    if HAS_PRE:
        v = v * tl.load(pre_ptr + base + t, mask=m, other=0.0).to(tl.float32)
    tl.store(g_ptr + base + t, g, mask=m)
    tl.store(grev_ptr + base + (L - 1 - t), g.to(grev_ptr.dtype.element_ty), mask=m)
    tl.store(v_ptr + base + t, v, mask=m)
    tl.store(dbias_ptr + row * n_tblk + tb, tl.sum(g * v, axis=0))


@triton.jit
def _inputs_kernel(
    dvrev_ptr, u_ptr, pre_ptr, du_ptr, dpre_ptr, L, HAS_PRE: tl.constexpr, BLOCK: tl.constexpr
):  # fmt: skip
    """One (row, time block): dv from the reversed convolution output; du = dv pre, d(pre) = dv u."""
    t = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    m = t < L
    base = tl.program_id(0).to(tl.int64) * L
    dv = tl.load(dvrev_ptr + base + (L - 1 - t), mask=m, other=0.0).to(tl.float32)
    if HAS_PRE:
        u = tl.load(u_ptr + base + t, mask=m, other=0.0).to(tl.float32)
        tl.store(dpre_ptr + base + t, (dv * u).to(dpre_ptr.dtype.element_ty), mask=m)
        dv = dv * tl.load(pre_ptr + base + t, mask=m, other=0.0).to(tl.float32)
    tl.store(du_ptr + base + t, dv.to(du_ptr.dtype.element_ty), mask=m)


def hbm_fftconv_bwd(dy, u, k, bias, pre_gate, post_gate, history, z=None):
    """Gradients (du, dk, dbias, dpre, dpost) of ``hbm_fftconv_fwd``'s op (see the module doc); ``z``: the
    forward's conv + bias v, else recomputed. Where it runs: ``plan.backward_kind`` (H200, fwd+bwd 1.65-1.78x
    torch.fft at L = 2.3M, K = 4096-16K; 1.36x on windows of 32,768; it lost on the streaming shape)."""
    B, D, L = u.shape
    H = 0 if history is None else history.shape[-1]
    k_eff = min(k.shape[-1], H + L)
    dy = dy.contiguous()
    if post_gate is not None and z is None:
        z = hbm_fftconv_fwd(u, k, bias, pre_gate, None, history)  # conv + bias v, in u's dtype
    n_tblk = triton.cdiv(L, BLOCK)
    dpost = torch.empty_like(post_gate) if post_gate is not None else None
    g = torch.empty(B, D, L, device=u.device, dtype=torch.float32)
    v = torch.empty_like(g)
    g_rev = torch.empty_like(u)
    dbias = torch.empty(B * D, n_tblk, device=u.device, dtype=torch.float32)
    _gates_kernel[(B * D, n_tblk)](
        dy, post_gate if post_gate is not None else dy, z if z is not None else dy, u,
        pre_gate if pre_gate is not None else u, dpost if dpost is not None else dy, g, g_rev, v, dbias, L,
        n_tblk, HAS_POST=post_gate is not None, HAS_PRE=pre_gate is not None, BLOCK=BLOCK,
    )  # fmt: skip
    dv_rev = hbm_fftconv_fwd(g_rev, k, bias)  # [B, D, L] in u's dtype, time reversed
    du = torch.empty_like(u)
    dpre = torch.empty_like(pre_gate) if pre_gate is not None else None
    _inputs_kernel[(B * D, n_tblk)](
        dv_rev, u, pre_gate if pre_gate is not None else u, du, dpre if dpre is not None else du, L,
        HAS_PRE=pre_gate is not None, BLOCK=BLOCK,
    )  # fmt: skip
    dbias = None if bias is None else dbias.view(B, D, n_tblk).sum((0, 2)).to(bias.dtype)
    v_ext = v if H == 0 else torch.cat([history.float(), v], -1)  # [B, D, H + L]
    n = next_fast_len(H + L + k_eff - 1)  # no wrap-around for lags 0..K'-1
    g_ext = g if H == 0 else torch.nn.functional.pad(g, (H, 0))
    spec = (torch.fft.rfft(g_ext, n=n) * torch.fft.rfft(v_ext, n=n).conj()).sum(0)
    dk = torch.fft.irfft(spec, n=n)[:, :k_eff]
    if k.shape[-1] > k_eff:  # taps that reach no input get zero gradient
        dk = torch.nn.functional.pad(dk, (0, k.shape[-1] - k_eff))
    return du, dk.to(k.dtype), dbias, dpre, dpost
