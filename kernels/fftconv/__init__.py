"""Causal long (FFT) convolution: full-length and partial filters, gating, streaming history.

``fftconv`` is the entry point the model uses. On CUDA it runs the fused Triton Monarch kernels where they
beat torch.fft (``triton_pays``: half-precision inputs; fp32 forward for long sequences and short filters): on chip
(``monarch.py``) when the filter fits one 4096-point FFT and that costs less, through HBM (``monarch_hbm.py``)
for blocks up to 2^24 points (``plan.py`` chooses, and which backward runs); otherwise, and on CPU, the
torch.fft reference (``naive.py``).
``DNACONV_FFTCONV=naive`` forces the reference everywhere. ``fftconv_spectrum`` precomputes a fixed filter's spectrum in the format of the
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
    naive_fftconv_blocked,
    next_fast_len,
)
from dnaconv.kernels.fftconv.plan import (
    MAX_FFT_SIZE,
    MAX_HBM_FFT_SIZE,
    FFTPlan,
    backward_route,
    fft_plan,
    sparse_ok,
)

try:
    from dnaconv.kernels.fftconv.monarch import (
        FoldedSpectrum,
        _on_device,
        _precision,
        monarch_fftconv,
        monarch_spectrum,
    )

    HAS_TRITON = True
except ImportError:  # triton is optional on CPU-only installs
    HAS_TRITON = False

__all__ = [
    "fftconv",
    "fftconv_spectrum",
    "fft_plan",
    "fft_size",
    "filter_spectrum",
    "naive_fftconv",
    "naive_fftconv_blocked",
    "naive_conv_direct",
    "next_fast_len",
    "uses_triton",
    "triton_pays",
]

# Which implementation runs on each device type (reported by `dnaconv info`).
IMPLEMENTATION = {
    "cpu": "naive (torch.fft)",
    "cuda": (
        f"triton monarch (bf16/fp16; fp32 forward for long sequences and short filters; on chip for filters <= {MAX_FFT_SIZE // 2} taps "
        f"where that costs less, through HBM for blocks <= {MAX_HBM_FFT_SIZE >> 20}M points), else naive (torch.fft / cuFFT)"
        if HAS_TRITON
        else "naive (torch.fft / cuFFT)"
    ),
}


def triton_pays(
    L: int,
    K: int,
    H: int,
    dtype: torch.dtype,
    needs_grad: bool,
    fraction: float = 1.0,
    size: int = 0,
    batch: int = 1,
) -> bool:
    """Where the Triton kernels beat torch.fft on the H200 (README Performance), for ``batch`` sequences of
    ``size`` = B x D x L elements in all.

    Half-precision inputs: on chip; through HBM for partial filters (several blocks, 1.4x-3.6x, paired) and
    blocks of 8192 points; one larger block of a full-length filter paired across a batch of two or more, or,
    for one sequence, on half its spectrum (``monarch_hbm._Frame``'s HERM). H200, 2026-11-29, forward ms,
    paired across the batch vs torch.fft (``h200_kernels.sh onepair``): 16 x 128 x 8192 0.477 vs 0.884, 8 x 512
    x 16K 2.171 vs 3.695, 4 x 256 x 64K 3.164 vs 5.016, 2 x 128 x 256K 4.339 vs 5.398, 2 x 32 x 1M 4.953 vs
    5.494; thirteenth session (``r13``, three rounds interleaved), paired past N = 2^21 (torch.fft ran there
    before): 2 x 16 x 2M 4.312 vs 5.674, 2 x 8 x 4M 4.481 vs 6.336; one sequence (B = 1) on half its spectrum
    vs the full frame vs torch.fft (which ran there before; the full frame lost, 0.83x-0.89x): 1 x 1024 x 16K
    1.026 vs 1.432 vs 1.194, 1 x 1024 x 64K 4.640 vs 6.858 vs 6.119, 1 x 256 x 256K 5.732 vs 8.175 vs 6.144,
    1 x 64 x 1M 5.424 vs 8.325 vs 6.242, 1 x 32 x 2M 5.502 vs 8.393 vs 6.419, 1 x 16 x 4M 5.768 vs 8.705 vs
    7.245; but at N = 16,384 (a pass of 16 keeps 12 rows of 16) it did not pay (``t13``): 1 x 8192 x 8192
    4.144 vs 4.974 vs 3.960, 1 x 2048 x 8192 1.073 vs 1.280 vs 1.066. DNACONV_HBM_HERM=0 (the full frame)
    takes torch.fft for one sequence's one block again; with DNACONV_HBM_ONE=1 the HBM kernel runs there anyway
    (sweeps). When gradients are needed, only where a Triton backward runs (``plan.backward_route``: on chip,
    or through HBM for long, large convolutions; elsewhere the reference backward recomputes the forward and
    loses to cuFFT: fwd+bwd at 16 x 128 x 8192 3.03 vs 2.56). Frequency-sparse convolutions run Triton
    wherever it can skip their columns (the reference of that op is slower).

    fp32 inputs (3xtf32: three tensor-core products per stage), forward only: on chip, for sequences of several
    blocks with at least 3/4 of each block new outputs, from L = 2^16 (N <= 2048) or 2^20 (N = 4096), where
    torch.fft's cost per output has grown past the kernels'. H200, 2026-11-29, B*D*L = 2^26, forward ms, Triton
    vs torch.fft (``h200_kernels.sh fp32``, ``lengths``): K = 128 at L = 8192 2.06 vs 2.21, 64K
    1.91 vs 2.85, 2.3M 2.02 vs 4.05; K = 512 at 64K 2.53 vs 2.86; K = 1024 (N = 4096) at 64K 3.20 vs 2.85, 1M
    3.11 vs 3.33, 2.3M 3.27 vs 4.06; K = 2048 at 2.3M 4.63 vs 4.06; full L = 1K 3.72 vs 2.47. The fp32
    backward kernel lost at most sizes (fwd+bwd K = 256 at 1M 20.8 vs 9.7; K = 128 won only from 1M, 9.07 vs
    9.71), so with gradients fp32 runs torch.fft."""
    return _route(L, K, H, dtype, needs_grad, fraction, size, batch) is not None


def _route(L, K, H, dtype, needs_grad, fraction=1.0, size=0, batch=1) -> tuple[FFTPlan, tuple | None] | None:
    """``triton_pays``'s decision with what it found on the way: (the forward's plan, the backward's (kind, plan)
    from ``backward_route`` where gradients are needed, else None) where the Triton kernels pay, else None.
    ``fftconv`` hands it to the kernels, which would otherwise plan again."""
    if dtype not in (torch.bfloat16, torch.float16, torch.float32):
        return None
    plan = fft_plan(L, K, H, fraction, dtype)
    if plan is None or not sparse_ok(plan, fraction):
        return None
    if dtype == torch.float32:
        pays = not (
            needs_grad or plan.cols or fraction < 1 or plan.C >= L or 4 * (plan.k_eff - 1) > plan.n
        ) and L >= (1 << 16 if plan.n <= 2048 else 1 << 20)
        return (plan, None) if pays else None
    if (
        plan.cols
        and plan.C >= L
        and plan.n > 8192
        and fraction == 1
        and batch < 2
        and (plan.n <= 1 << 14 or os.environ.get("DNACONV_HBM_HERM") == "0")
        and os.environ.get("DNACONV_HBM_ONE") != "1"  # sweeps: the HBM kernel there too
    ):
        return None  # one block of one sequence: cuFFT's own passes won (N = 16,384, or the full frame)
    bwd = backward_route(L, K, H, fraction, size, batch) if needs_grad else None
    return None if bwd is not None and bwd[0] == "reference" else (plan, bwd)


def _triton_route(u: torch.Tensor, K: int, H: int, needs_grad: bool, fraction: float):
    """``_route`` for this input where the Triton kernels can run at all (CUDA, not forced off), else None."""
    if not (HAS_TRITON and u.is_cuda) or os.environ.get("DNACONV_FFTCONV") == "naive":
        return None
    return _route(u.shape[-1], K, H, u.dtype, needs_grad, fraction, u.numel(), u.shape[0])


def uses_triton(u: torch.Tensor, K: int, H: int = 0, needs_grad: bool = False, fraction: float = 1.0) -> bool:
    """Whether ``fftconv`` on this input runs a Triton kernel."""
    return _triton_route(u, K, H, needs_grad, fraction) is not None


def fftconv_spectrum(
    k: torch.Tensor, u: torch.Tensor, H: int = 0, fraction: float = 1.0, bias: torch.Tensor | None = None
):
    """A fixed filter's spectrum for inputs shaped like u [B, D, L] after H history positions: a tensor
    (reference), a tuple (Triton) or None (the sparse reference computes its own); pass it to ``fftconv`` as
    ``k_f`` with the same ``freq_fraction``. With ``bias`` (the skip term's, passed to ``fftconv`` too), an HBM
    plan folds it into the spectrum (``FoldedSpectrum``), as the forward does when it computes its own: its
    last pass then reads a third fewer bytes. ``fftconv`` takes the folded spectrum only without gradients and
    with that same bias tensor, unchanged since; otherwise it computes the spectrum again."""
    route = _triton_route(u, k.shape[-1], H, False, fraction)
    if route is not None:
        from dnaconv.kernels.fftconv.monarch_hbm import _folds, _half_spectrum

        # fp16 over a scale per row where the forward computes its own so (``monarch_hbm._half_spectrum``)
        kw = dict(precision=_precision(u.dtype), fp16_rows=_half_spectrum(u.dtype, route[0]))
        with _on_device(u):
            if route[0].cols and bias is not None and not bias.is_inference() and _folds(bias, fraction):
                return FoldedSpectrum(monarch_spectrum(k, route[0], fraction, bias, **kw), bias)
            return monarch_spectrum(k, route[0], fraction, **kw)
    return filter_spectrum(k, u.shape[-1], H) if fraction == 1 else None


def _check_inputs(u, k, bias, pre_gate, post_gate, history) -> None:
    """ValueError naming the argument whose shape or device does not fit ``fftconv``'s (the Triton kernels
    index every tensor by u's shape and would read past the end of a smaller one)."""
    if u.dim() != 3:
        raise ValueError(f"u must be [B, D, L], got shape {tuple(u.shape)}")
    B, D, L = u.shape
    if k.dim() != 2 or k.shape[0] != D:
        raise ValueError(f"k must be [D, K] with D = {D} (u's channels), got shape {tuple(k.shape)}")
    if bias is not None and tuple(bias.shape) != (D,):
        raise ValueError(f"bias must be [D] with D = {D}, got shape {tuple(bias.shape)}")
    for name, g in (("pre_gate", pre_gate), ("post_gate", post_gate)):
        if g is not None and g.shape != u.shape:
            raise ValueError(f"{name} must have u's shape {tuple(u.shape)}, got {tuple(g.shape)}")
    if history is not None and (history.dim() != 3 or history.shape[:2] != u.shape[:2]):
        raise ValueError(f"history must be [B, D, H] with B, D = {B}, {D}, got shape {tuple(history.shape)}")
    names = ("k", "bias", "pre_gate", "post_gate", "history")
    for name, x in zip(names, (k, bias, pre_gate, post_gate, history)):
        if x is not None and x.device != u.device:
            raise ValueError(f"{name} is on {x.device}, u on {u.device}")


def _given_spectrum(k_f, bias, needs_grad: bool):
    """(the spectrum the kernels take from ``k_f``, the bias they add themselves): a folded spectrum already
    holds the skip term, so the kernels get no bias; but not under autograd (the bias's gradient takes the
    skip term's own path) nor for another bias than the one folded (then no spectrum: they compute it)."""
    spectrum = k_f if isinstance(k_f, tuple) else None
    if isinstance(spectrum, FoldedSpectrum):
        if needs_grad or not spectrum.folds(bias):
            return None, bias
        return spectrum, None
    return spectrum, bias


def fftconv(
    u: torch.Tensor,
    k: torch.Tensor,
    bias: torch.Tensor | None = None,
    pre_gate: torch.Tensor | None = None,
    post_gate: torch.Tensor | None = None,
    history: torch.Tensor | None = None,
    k_f=None,
    freq_fraction: float = 1.0,
) -> torch.Tensor:
    """y = post_gate * (causal_conv(u * pre_gate, k) + bias * u * pre_gate), see ``naive_fftconv``.

    Args:
        u: [B, D, L]; k: [D, K]; bias: [D]; pre_gate, post_gate: [B, D, L];
        history: [B, D, H] gated inputs before u; k_f: ``fftconv_spectrum(k, u, H, freq_fraction, bias)``
        freq_fraction: < 1 runs the frequency-sparse approximation that keeps this fraction (1/2, 1/4, ...)
            of each block's spectrum at the block size of ``fft_plan(L, K, H, freq_fraction)`` (``plan.py``)
    Returns:
        [B, D, L] in u's dtype

    Example:
        >>> y = fftconv(torch.randn(2, 8, 1000), torch.randn(8, 256))
    """
    if not 0 < freq_fraction <= 1:
        raise ValueError(f"freq_fraction must be in (0, 1], got {freq_fraction}")
    _check_inputs(u, k, bias, pre_gate, post_gate, history)
    if u.shape[0] == 0 or u.shape[1] == 0:  # nothing to convolve (torch.fft rejects an empty batch)
        return u.new_zeros(u.shape)
    H = 0 if history is None else history.shape[-1]
    tensors = (u, k, bias, pre_gate, post_gate)
    needs_grad = torch.is_grad_enabled() and any(x is not None and x.requires_grad for x in tensors)
    route = _triton_route(u, k.shape[-1], H, needs_grad, freq_fraction)
    if route is not None:
        spectrum, bias = _given_spectrum(k_f, bias, needs_grad)
        if spectrum is not None and (
            spectrum[0].shape[0] != u.shape[1] or spectrum[0].shape[-2] != route[0].n1
        ):
            raise ValueError(
                f"k_f is a spectrum of shape {tuple(spectrum[0].shape)}, not of this plan's (D = {u.shape[1]}, "
                f"N1 = {route[0].n1}): compute it with fftconv_spectrum(k, u, H, freq_fraction) for these inputs"
            )
        return monarch_fftconv(u, k, bias, pre_gate, post_gate, history, spectrum, freq_fraction, route)
    if freq_fraction < 1:
        plan = fft_plan(u.shape[-1], k.shape[-1], H, freq_fraction)
        if plan is None:
            raise ValueError(f"frequency-sparse convolution has no block size for L = {u.shape[-1]}")
        return naive_fftconv_blocked(u, k, bias, pre_gate, post_gate, history, plan.n, freq_fraction)
    return naive_fftconv(
        u, k, bias, pre_gate, post_gate, history, k_f if isinstance(k_f, torch.Tensor) else None
    )
