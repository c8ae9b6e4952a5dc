"""Reference causal long convolution, in fp32 PyTorch.

The op (per batch b and channel d, output positions t = 0..L-1):

    v      = u * pre_gate                          (pre_gate optional)
    v_ext  = concat(history, v)                    (history: the last H already-gated inputs; optional)
    y[t]   = sum_{s < K, s <= H + t} k[s] * v_ext[H + t - s]  +  bias * v[t]
    out[t] = post_gate[t] * y[t]                   (post_gate optional)

The filter k has its own length K, independent of L (a *partial* convolution when K < L). ``history`` is
what lets a sequence be processed chunk by chunk exactly: with the previous chunk's last K-1 gated inputs
as history, the outputs equal those of one pass over the whole sequence (overlap-save).
"""

from __future__ import annotations

import functools

import torch

__all__ = [
    "naive_fftconv",
    "naive_fftconv_blocked",
    "naive_conv_direct",
    "fft_size",
    "next_fast_len",
    "filter_spectrum",
]


@functools.lru_cache(maxsize=1024)
def next_fast_len(n: int) -> int:
    """The smallest 5-smooth integer (2^a 3^b 5^c) >= n: sizes pocketfft and cuFFT handle fast. Cached: the
    search took about 10 us of host time here (2-core EPYC), and a call of the HBM forward with gradients asks
    for the same size twice (``monarch._shared_spectrum``, ``monarch._v_budget``)."""
    if n <= 1:
        return 1
    best = 1 << (n - 1).bit_length()
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


def fft_size(L: int, K: int, H: int = 0) -> int:
    """FFT length for L new outputs with a K-tap filter and H history positions.

    Outputs t in [H, H+L) of the circular convolution are free of wrap-around once N >= L + K' - 1, with
    K' = min(K, H + L) the taps that can reach an input; N >= H + L holds the input. With H = K - 1 (steady
    streaming) this is N = L + K - 1: overlap-save, no 2x zero padding.
    """
    k_eff = min(K, H + L)
    return next_fast_len(max(H + L, L + k_eff - 1))


def filter_spectrum(k: torch.Tensor, L: int, H: int = 0) -> torch.Tensor:
    """rfft of the filter [D, K] for L outputs after H history positions, in fp32.

    Only the first min(K, H + L) taps can reach an input; the rest are dropped before the transform, or they
    would wrap around the circular convolution.

    Returns:
        complex64 [D, fft_size(L, K, H) // 2 + 1]
    """
    K = k.shape[-1]
    ct = torch.promote_types(k.dtype, torch.float32)
    return torch.fft.rfft(k[..., : min(K, H + L)].to(ct), n=fft_size(L, K, H))


def _gated_input(u, pre_gate, history, ct):
    v = u.to(ct)
    if pre_gate is not None:
        v = v * pre_gate.to(ct)
    if history is not None and history.shape[-1] > 0:
        return v, torch.cat([history.to(ct), v], dim=-1)  # [B, D, H + L]
    return v, v


def _skip_and_gate(y, v, bias, post_gate):
    """post_gate * (y + bias * v), in y's dtype."""
    if bias is not None:
        y = y + bias.to(y.dtype)[:, None] * v
    if post_gate is not None:
        y = y * post_gate.to(y.dtype)
    return y


def naive_fftconv(
    u: torch.Tensor,
    k: torch.Tensor,
    bias: torch.Tensor | None = None,
    pre_gate: torch.Tensor | None = None,
    post_gate: torch.Tensor | None = None,
    history: torch.Tensor | None = None,
    k_f: torch.Tensor | None = None,
) -> torch.Tensor:
    """Causal long convolution through torch.fft, in fp32 (fp64 for fp64 inputs).

    Args:
        u: input [B, D, L]
        k: filter [D, K]; K may be shorter or longer than L
        bias: skip weight [D] (the ``D * u`` term), applied to the gated input
        pre_gate: [B, D, L], multiplies u before the convolution
        post_gate: [B, D, L], multiplies the result
        history: [B, D, H], already-gated inputs that precede u (streaming state); H may be 0
        k_f: optional precomputed ``filter_spectrum(k, L, H)`` (a fixed filter's spectrum, cached)
    Returns:
        [B, D, L] in u's dtype

    Example:
        >>> u, k = torch.randn(2, 8, 1000), torch.randn(8, 256)
        >>> y = naive_fftconv(u, k)  # [2, 8, 1000]
    """
    B, D, L = u.shape
    K = k.shape[-1]
    H = 0 if history is None else history.shape[-1]
    ct = torch.promote_types(u.dtype, torch.float32)  # half inputs are computed in fp32
    v, v_ext = _gated_input(u, pre_gate, history, ct)
    n = fft_size(L, K, H)
    if k_f is None:
        k_f = filter_spectrum(k.to(ct), L, H)
    elif k_f.shape[-1] != n // 2 + 1:
        raise ValueError(f"k_f has {k_f.shape[-1]} bins, expected {n // 2 + 1} for fft size {n}")
    y = torch.fft.irfft(torch.fft.rfft(v_ext, n=n) * k_f, n=n)[..., H : H + L]  # [B, D, L]
    return _skip_and_gate(y, v, bias, post_gate).to(u.dtype)


def naive_fftconv_blocked(
    u: torch.Tensor,
    k: torch.Tensor,
    bias: torch.Tensor | None = None,
    pre_gate: torch.Tensor | None = None,
    post_gate: torch.Tensor | None = None,
    history: torch.Tensor | None = None,
    n_fft: int = 0,
    freq_fraction: float = 1.0,
) -> torch.Tensor:
    """The same op as blocked overlap-save at FFT size ``n_fft``, optionally frequency-sparse, in fp32.

    Block j computes outputs [jC, jC + C), C = n_fft - K' + 1, from the n_fft inputs before them (the Triton
    kernels' frame, see ``plan.py``). With ``freq_fraction`` f < 1, each block's spectrum keeps only the
    frequencies |k| < f n / 2 (k < f n / 2 or k > n - f n / 2): a real low-pass of the filter per block. With
    f = 1 this equals ``naive_fftconv``.

    Example:
        >>> y = naive_fftconv_blocked(torch.randn(1, 4, 5000), torch.randn(4, 300), n_fft=1024, freq_fraction=0.5)
    """
    B, D, L = u.shape
    H = 0 if history is None else history.shape[-1]
    k_eff = min(k.shape[-1], H + L)
    n, C = n_fft, n_fft - (k_eff - 1)
    if C < 1:
        raise ValueError(f"n_fft {n_fft} is too small for a {k_eff}-tap filter")
    ct = torch.promote_types(u.dtype, torch.float32)
    v, v_ext = _gated_input(u, pre_gate, history, ct)
    n_blocks = -(-L // C)
    x = v_ext[..., max(0, H - (k_eff - 1)) :]  # x[i] is the input at time i - (K' - 1)
    x = torch.nn.functional.pad(x, (max(0, k_eff - 1 - H), 0))
    x = torch.nn.functional.pad(x, (0, (n_blocks - 1) * C + n - x.shape[-1]))
    blocks = x.unfold(-1, n, C)  # [B, D, n_blocks, n]
    k_f = torch.fft.rfft(k[:, :k_eff].to(ct), n=n)
    if freq_fraction < 1:
        k_f = k_f * (torch.arange(n // 2 + 1, device=u.device) < freq_fraction * n / 2).to(ct)
    y = torch.fft.irfft(torch.fft.rfft(blocks, n=n) * k_f[:, None], n=n)[..., k_eff - 1 :]
    y = y.reshape(B, D, n_blocks * C)[..., :L]
    return _skip_and_gate(y, v, bias, post_gate).to(u.dtype)


def naive_conv_direct(
    u: torch.Tensor,
    k: torch.Tensor,
    bias: torch.Tensor | None = None,
    pre_gate: torch.Tensor | None = None,
    post_gate: torch.Tensor | None = None,
    history: torch.Tensor | None = None,
) -> torch.Tensor:
    """The same op as ``naive_fftconv`` by direct summation over taps, in float64: O(L K), for tests."""
    B, D, L = u.shape
    H = 0 if history is None else history.shape[-1]
    v = u.double() * (1 if pre_gate is None else pre_gate.double())
    v_ext = v if H == 0 else torch.cat([history.double(), v], dim=-1)
    k = k.double()
    y = torch.zeros(B, D, L, dtype=torch.float64, device=u.device)
    for s in range(min(k.shape[-1], H + L)):
        lo = max(0, s - H)  # first output t whose input index H + t - s is >= 0
        y[..., lo:] += k[:, s, None] * v_ext[..., H + lo - s : H + L - s]
    if bias is not None:
        y = y + bias.double()[:, None] * v
    if post_gate is not None:
        y = y * post_gate.double()
    return y
