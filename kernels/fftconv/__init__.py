"""Causal long (FFT) convolution: full-length and partial filters, gating, streaming history.

``fftconv`` is the entry point the model uses. On CUDA it runs the fused Triton Monarch kernel
(``monarch.py``) whenever the filter fits its on-chip FFT (at most ``MAX_FFT_SIZE / 2`` taps reach the
input); otherwise, and on CPU, the torch.fft reference (``naive.py``). ``DNACONV_FFTCONV=naive`` forces the
reference everywhere. ``fftconv_spectrum`` precomputes a fixed filter's spectrum in the format of the
implementation that will run (the model caches it at inference).
"""

from __future__ import annotations

import os

import torch

from dnaconv.kernels.fftconv.naive import (
    fft_size,
    filter_spectrum,
    naive_conv_direct,
    naive_fftconv,
    next_fast_len,
)

try:
    from dnaconv.kernels.fftconv.monarch import (
        MAX_BWD_FFT_SIZE,
        MAX_FFT_SIZE,
        monarch_fftconv,
        monarch_plan,
        monarch_spectrum,
    )

    HAS_TRITON = True
except ImportError:  # triton is optional on CPU-only installs
    HAS_TRITON, MAX_FFT_SIZE = False, 0

__all__ = [
    "fftconv",
    "fftconv_spectrum",
    "fft_size",
    "filter_spectrum",
    "naive_fftconv",
    "naive_conv_direct",
    "next_fast_len",
    "uses_triton",
    "triton_pays",
]

# Which implementation runs on each device type (reported by `dnaconv info`).
IMPLEMENTATION = {
    "cpu": "naive (torch.fft)",
    "cuda": (
        f"triton monarch (bf16/fp16, filters <= {MAX_FFT_SIZE // 2} taps), else naive (torch.fft / cuFFT)"
        if HAS_TRITON
        else "naive (torch.fft / cuFFT)"
    ),
}


def triton_pays(L: int, K: int, H: int, dtype: torch.dtype, needs_grad: bool) -> bool:
    """Where the Triton kernel beat torch.fft on the H200 (2026-11-28): half-precision inputs (its 3xtf32
    fp32 path was slower), filters that fit its on-chip FFT, and, when gradients are needed, FFT sizes its
    fused backward handles (above, the reference backward plus a recomputed forward lost to cuFFT)."""
    if dtype not in (torch.bfloat16, torch.float16):
        return False
    plan = monarch_plan(L, K, H)
    return plan is not None and not (needs_grad and plan[0] * plan[1] > MAX_BWD_FFT_SIZE)


def uses_triton(u: torch.Tensor, K: int, H: int = 0, needs_grad: bool = False) -> bool:
    """Whether ``fftconv`` on this input runs the Triton kernel."""
    if not (HAS_TRITON and u.is_cuda) or os.environ.get("DNACONV_FFTCONV") == "naive":
        return False
    return triton_pays(u.shape[-1], K, H, u.dtype, needs_grad)


def fftconv_spectrum(k: torch.Tensor, u: torch.Tensor, H: int = 0):
    """A fixed filter's spectrum for inputs shaped like u [B, D, L] after H history positions: a tensor
    (reference) or a tuple (Triton); pass it to ``fftconv`` as ``k_f``."""
    L, K = u.shape[-1], k.shape[-1]
    if uses_triton(u, K, H):
        n1, n2, _, k_eff = monarch_plan(L, K, H)
        return monarch_spectrum(k, n1, n2, k_eff)
    return filter_spectrum(k, L, H)


def fftconv(
    u: torch.Tensor,
    k: torch.Tensor,
    bias: torch.Tensor | None = None,
    pre_gate: torch.Tensor | None = None,
    post_gate: torch.Tensor | None = None,
    history: torch.Tensor | None = None,
    k_f=None,
) -> torch.Tensor:
    """y = post_gate * (causal_conv(u * pre_gate, k) + bias * u * pre_gate), see ``naive_fftconv``.

    Args:
        u: [B, D, L]; k: [D, K]; bias: [D]; pre_gate, post_gate: [B, D, L];
        history: [B, D, H] gated inputs before u; k_f: ``fftconv_spectrum(k, u, H)``
    Returns:
        [B, D, L] in u's dtype

    Example:
        >>> y = fftconv(torch.randn(2, 8, 1000), torch.randn(8, 256))
    """
    H = 0 if history is None else history.shape[-1]
    tensors = (u, k, bias, pre_gate, post_gate)
    needs_grad = torch.is_grad_enabled() and any(x is not None and x.requires_grad for x in tensors)
    if uses_triton(u, k.shape[-1], H, needs_grad):
        return monarch_fftconv(
            u, k, bias, pre_gate, post_gate, history, k_f if isinstance(k_f, tuple) else None
        )
    return naive_fftconv(
        u, k, bias, pre_gate, post_gate, history, k_f if isinstance(k_f, torch.Tensor) else None
    )
