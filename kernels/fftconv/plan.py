"""FFT plans for the Triton convolutions, in plain Python (no triton import: the CPU reference of the
frequency-sparse convolution needs the same block size N as the GPU kernels).

A convolution of L outputs with a K-tap filter after H history positions is cut into overlap-save blocks:
block j computes outputs [jC, jC + C) from the N = C + K' - 1 inputs before them (K' = min(K, H + L), the taps
that can reach an input). Two kernels share this frame:

- ``monarch.py`` (on chip): N <= 4096, one program per block, N = N1 x N2 (a two-level DFT in registers).
- ``monarch_hbm.py`` (through HBM): 8192 <= N <= 2^24. N = P_1 x ... x P_m x (N1 x N2): each P_i
  (16..64) is a column pass (a DFT along a strided axis, one HBM round trip each way); the last factor, a row of
  N1 x N2 <= 4096 contiguous points, is transformed, multiplied by the filter and transformed back on chip.

Storage order: each stage leaves frequency k_i + P_i * (the frequency of the remaining sub-transform) at
position (k_i, rest), and the on-chip row leaves frequency k1 + N1 k2 at [k1, k2]; ``freq_order`` gives the
frequency held at each storage position, for laying out the filter spectrum.

Frequency-sparse convolution (fraction f): of the N-point spectrum of each block, only the frequencies
|k| < f N / 2 (k < f N / 2 or k > N - f N / 2) are kept, a real low-pass. In both kernels these lie in the
columns k2 < f N2 / 2 and k2 >= N2 - f N2 / 2 of the row transform (the one kept-column frequency N - f N / 2
is zeroed in the stored spectrum), so the kernels skip the other columns' products.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import torch

__all__ = [
    "MIN_FFT_SIZE",
    "MAX_FFT_SIZE",
    "MAX_BWD_FFT_SIZE",
    "MAX_HBM_FFT_SIZE",
    "FFTPlan",
    "monarch_plan",
    "hbm_plan",
    "fft_plan",
    "freq_order",
    "kept_columns",
    "sparse_ok",
]

MIN_FFT_SIZE = 256  # N1, N2 >= 16: the smallest tl.dot tile
MAX_FFT_SIZE = 4096  # N1, N2 <= 64: beyond, the tiles overflow shared memory (measured on the H200)
MAX_BWD_FFT_SIZE = 2048  # the fused backward was slower than cuFFT at N = 4096 (H200, 2026-11-28)
MAX_HBM_FFT_SIZE = 1 << 24  # two column passes of 64 and one 4096-point row
MIN_COL, MAX_COL = 16, 64
MAX_ROW = int(os.environ.get("DNACONV_HBM_ROW", 4096))  # the HBM kernel's on-chip row (sweeps override it)


def _split(n: int, fraction: float = 1.0) -> tuple[int, int]:
    """n = n1 x n2, as square as possible, with n2 widened (n1 >= 16) so that f n2 >= 16 columns are kept."""
    n1 = 1 << (int(math.log2(n)) // 2)
    while fraction * (n // n1) < 16 and n1 > 16:
        n1 //= 2
    return n1, n // n1


def monarch_plan(
    L: int, K: int, H: int = 0, max_fft: int = MAX_FFT_SIZE, fraction: float = 1.0
) -> tuple[int, int, int, int] | None:
    """(N1, N2, C, k_eff) for the on-chip kernel, or None when the filter is too long for one on-chip FFT
    (k_eff - 1 >= max_fft / 2)."""
    k_eff = min(K, H + L)
    # C >= k_eff: at most half of each FFT is overlap; at least 512 points, the fastest per output on the H200
    # for short filters (2026-11-28 sweep: 4.5x torch.fft at N=512, 3.8x at 256)
    n = max(2 * MIN_FFT_SIZE, 1 << (2 * k_eff - 1).bit_length())
    n = min(n, max(MIN_FFT_SIZE, 1 << (L + k_eff - 2).bit_length()))  # a short sequence needs less
    if n > max_fft:
        return None
    n1, n2 = _split(n, fraction)
    return n1, n2, n - (k_eff - 1), k_eff


@dataclass(frozen=True)
class FFTPlan:
    """One block size N = prod(cols) * n1 * n2 (cols empty: the on-chip kernel), C outputs per block."""

    cols: tuple[int, ...]
    n1: int
    n2: int
    C: int
    k_eff: int

    @property
    def n(self) -> int:
        return math.prod(self.cols) * self.n1 * self.n2


def hbm_plan(L: int, K: int, H: int = 0, fraction: float = 1.0) -> FFTPlan | None:
    """Plan for the HBM kernel: N >= 8192, a power of two with at least 3/4 of each block new outputs for
    partial filters (N >= 4 (K' - 1)) and one block for full-length ones; None above MAX_HBM_FFT_SIZE."""
    k_eff = min(K, H + L)
    n = max(2 * MAX_FFT_SIZE, 1 << (4 * (k_eff - 1) - 1).bit_length())
    n = min(n, max(2 * MAX_FFT_SIZE, 1 << (L + k_eff - 2).bit_length()))
    if n > MAX_HBM_FFT_SIZE or n - (k_eff - 1) < 1:
        return None
    for m in (1, 2, 3):  # fewest column passes, then the longest row
        row = min(MAX_ROW, n // MIN_COL**m)
        if MIN_FFT_SIZE <= row and n // row <= MAX_COL**m:
            rest, cols = n // row, []
            for i in range(m, 0, -1):  # as even as powers of two allow, the largest first
                c = 1 << math.ceil(math.log2(rest) / i)
                cols.append(c)
                rest //= c
            return FFTPlan(tuple(cols), *_split(row, fraction), n - (k_eff - 1), k_eff)
    return None


def fft_plan(L: int, K: int, H: int = 0, fraction: float = 1.0) -> FFTPlan | None:
    """The plan the Triton kernels use: on chip when the filter fits, else through HBM, else None. The block
    size N does not depend on ``fraction``; only the split of the row does (see ``sparse_ok``)."""
    p = monarch_plan(L, K, H, fraction=fraction)
    if p is not None:
        return FFTPlan((), *p)
    return hbm_plan(L, K, H, fraction)


def sparse_ok(plan: FFTPlan, fraction: float) -> bool:
    """Whether the Triton kernels can skip columns for ``fraction`` (f n2 a power of two >= 16)."""
    m = fraction * plan.n2
    return fraction == 1 or (m >= 16 and m == int(m) and int(m) & (int(m) - 1) == 0)


def freq_order(plan: FFTPlan) -> torch.Tensor:
    """[N] int64: the frequency held at each storage position of a transformed block."""
    a1 = torch.arange(plan.n1)[:, None]
    a2 = torch.arange(plan.n2)[None, :]
    f = (a1 + plan.n1 * a2).reshape(-1)  # the on-chip row: [k1, k2] holds k1 + N1 k2
    for p in reversed(plan.cols):  # position (k, rest) holds k + P * (frequency of rest)
        f = (torch.arange(p)[:, None] + p * f[None, :]).reshape(-1)
    return f


def kept_columns(n2: int, fraction: float) -> torch.Tensor:
    """The columns k2 of the row transform a frequency-sparse convolution keeps: the M = f N2 lowest |k2|."""
    m = round(fraction * n2)
    if not (0 < fraction <= 1) or m < 16 or m & (m - 1) or m > n2:
        raise ValueError(
            f"frequency fraction {fraction} keeps {fraction * n2:g} of {n2} columns; it must keep a power of "
            "two >= 16 (try a larger fraction)"
        )
    return torch.cat([torch.arange(m // 2), torch.arange(n2 - m // 2, n2)])
