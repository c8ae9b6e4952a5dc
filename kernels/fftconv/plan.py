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
    "backward_kind",
    "backward_route",
    "half_tiles_max",
    "block_overlap",
    "cdiv",
    "split_backward",
    "freq_order",
    "kept_columns",
    "sparse_ok",
]

MIN_FFT_SIZE = 256  # N1, N2 >= 16: the smallest tl.dot tile
MAX_FFT_SIZE = 4096  # N1, N2 <= 64: beyond, the tiles overflow shared memory (measured on the H200)
MAX_HBM_FFT_SIZE = 1 << 24  # two column passes of 64 and one 4096-point row
MIN_COL, MAX_COL = 16, 64
MAX_ROW = 4096  # the HBM kernel's on-chip row
FWD_ROW = 1024  # the HBM forward's row where one column pass covers the block (``_row_caps``)
MAX_BWD_ROW = 2048  # the HBM backward's (its dk pass spills at rows of 4096: ``_row_caps``)


def cdiv(a: int, b: int) -> int:
    """ceil(a / b) of positive integers, for host code: ``triton.cdiv`` costs about 2 us a call there."""
    return -(-a // b)


ONE_BLOCK_COL = 32  # the column pass of a small one-block plan (``_row_caps``)
ONE_BLOCK_COL_MAX_N = 32768


def _row_caps(kind: str, passes: int, n: int = 0, one_block: bool = False) -> tuple[int, ...]:
    """The longest on-chip rows an HBM plan of ``kind`` tries with ``passes`` column passes, in order, for
    blocks of ``n`` points (``one_block``: a dense sequence in one block).

    - A one-block plan of one column pass up to ONE_BLOCK_COL_MAX_N points, the forward and the backward alike:
      rows of n / ONE_BLOCK_COL, so that the column pass is 32 points long and takes the block's live rows (16,
      ``monarch_hbm._live_rows``, the paired last pass too), and both share one plan (the backward takes the
      forward's spectrum, ``monarch._shared_spectrum``). H200, 2026-11-30, seventeenth session, bf16 gated,
      interleaved (``h200_kernels.sh e17``), ms, the plans before (rows of 512 at N = 8192, 1024 at 16,384,
      the forward's 1024 and the backward's 2048 at 32,768) vs rows of 256 / 512 (forward and backward) vs
      the backward's rows of 1024 at 32,768: full L = 4K (16 x 1024) forward 1.266 vs 1.052, fwd+bwd 3.560 vs
      3.236; the training shape (16 x 128 x 8192) forward 0.338 vs 0.290 (rows of 256: 0.327), fwd+bwd 1.512
      vs 1.539 (256: 1.497; host-bound); full L = 16K (8 x 512) fwd+bwd 3.921 vs 3.243 (the forward at rows of
      512, a pass of 64: 1.257 vs 1.091).
    - Larger one-block plans of one column pass (N = 65,536): the backward on the forward's rows too (FWD_ROW,
      a pass of 64; before the eighteenth session MAX_BWD_ROW, a pass of 32), one plan for both, so that the
      backward takes the forward's spectrum. H200, 2026-11-30, eighteenth session, fwd+bwd ms, bf16 gated, two
      rounds interleaved (``h200_kernels.sh s18``): one sequence 2048 x 32K 7.417 (rows of 2048) vs 6.041.

    - The backward's convolution ("hbm_bwd"): at most MAX_BWD_ROW, whose dk pass transforms two rows and
      accumulates a third (sm_90 build at rows of 4096: 1,424 bytes spilled). H200, 2026-11-29, the backward
      alone (z from the forward), bf16 gated, rows of 4096 points vs at most 2048 (a column pass of 32 points: N
      = 32 x 2048) vs 1024 (``h200_kernels.sh rowsize``, interleaved): L = 2.3M x 32, K = 16K (N = 65,536) 3.485
      vs 2.414 vs 2.437 ms, fwd+bwd 4.682 vs 3.605 vs 3.629 (torch.fft 11.659); K = 64K at 1M x 64 (N = 262,144:
      two column passes of 16 and rows of 1024 under either cap) 4.811 vs 3.833, fwd+bwd 6.414 vs 5.429.
    - The forward ("hbm"): the shortest rows of FWD_ROW, 2 FWD_ROW or MAX_ROW that one column pass (at most
      MAX_COL points) covers, else MAX_ROW. H200, 2026-11-29, forward ms, bf16 gated, interleaved: rows of
      4096 (one per 4-warp program, 168 registers) vs 2048 (two per program; ``h200_kernels.sh rowsweep``): L
      = 2.3M x 32, K = 4096 0.911 vs 0.891, K = 8192 0.988 vs 0.975, K = 16K 1.116 vs 1.078 (rows of 2048 had
      lost when they took the launch of that size's on-chip forward, ``rowsize``: 1.230 vs 1.113 at K = 16K).
      With the blocks' overlaps aligned (``block_overlap``), rows of 2048 vs 1024 (a column pass of 32 vs 64
      at N = 65,536, 16 vs 32 at 32,768; ``rows8``): K = 4096 0.765 vs 0.735, K = 8192 0.828 vs 0.795, K = 16K
      0.921 vs 0.888, full L = 16K (8 x 512) 1.641 vs 1.430; the host-bound streaming shape (128 x 73,727, K =
      8192) 0.649 vs 0.658. At K = 64K (N = 262,144) rows of 2048 need two column passes: 1.871 vs 1.543.
    - Two column passes (one block of a full-length filter from N = 2^19), the forward and the backward: the
      shortest rows of FWD_ROW, then 2 FWD_ROW (and MAX_ROW, the forward) that two passes cover; the
      backward's three passes (N = 2^24) keep MAX_BWD_ROW. Up to the sixteenth session the forward took
      MAX_ROW there. Since a one-block sequence's first column level takes only its live rows
      (``monarch_hbm._live_rows``), a longer first level saves more: H200, 2026-11-30, seventeenth session,
      forward ms, bf16 gated, rows of 4096 (then the plan's) vs 1024 vs 2048, three rounds interleaved
      (``h200_kernels.sh r17``): 2 x 128 x 256K 2.750 vs 2.339 vs 2.753, one sequence 256 x 256K 3.668 vs
      2.840 vs 3.672, 2 x 32 x 1M 2.671 vs 2.472 vs 2.437, one sequence 64 x 1M 3.176 vs 2.850 vs 2.934, 2 x 8 x
      4M (rows of 1024 need three passes) 2.802 vs 3.232 vs 2.658; and (``w17``) 2 x 16 x 2M 2.624 vs 2.511 vs
      2.570, one sequence 32 x 2M 3.131 vs 2.875 vs 2.948. The backward alike (one plan for both, as
      ``monarch._shared_spectrum`` asks where the spectrum is small enough to keep); fwd+bwd ms, before (the
      forward's rows of 4096, the backward's 2048) vs now, two rounds interleaved (``w17``): 2 x 128 x 256K
      9.196 vs 8.284, one sequence 256 x 256K 12.887 vs 11.049, 2 x 32 x 1M 8.781 vs 8.793, 64 x 1M 11.551 vs
      11.297, 2 x 16 x 2M 9.226 vs 9.058, 2 x 8 x 4M 9.431 vs 9.255, 16 x 4M 12.001 vs 11.820.

    All at most MAX_ROW. DNACONV_HBM_ROW (the forward) and DNACONV_HBM_BWD_ROW (the backward) set one cap for
    sweeps."""
    env = os.environ.get("DNACONV_HBM_BWD_ROW" if kind == "hbm_bwd" else "DNACONV_HBM_ROW")
    if env:
        caps = (int(env),)
    elif one_block and passes == 1 and n <= ONE_BLOCK_COL_MAX_N:
        caps = (n // ONE_BLOCK_COL,)
    elif one_block and passes == 1 and kind == "hbm_bwd":  # the forward's plan where it has one pass
        caps = (FWD_ROW, MAX_BWD_ROW)
    elif kind == "hbm_bwd":
        caps = (FWD_ROW, MAX_BWD_ROW) if passes == 2 else (MAX_BWD_ROW,)
    else:
        caps = (FWD_ROW, 2 * FWD_ROW, MAX_ROW)
    return tuple(min(MAX_ROW, c) for c in caps)


def block_overlap(n: int, k_eff: int, L: int, dense: bool = True) -> int:
    """The positions of each n-point block before its first new output (KM1; C = n - KM1 new outputs): K' - 1
    rounded up to a multiple of 16 where the convolution is dense (a frequency-sparse op is defined on the
    reference's framing) and that adds at most one block in 64 (none to a sequence of fewer than 64 blocks:
    a second block doubles the work of a one-block sequence), else K' - 1. DNACONV_FFT_ALIGN=0 keeps K' - 1,
    =strict aligns only where no block is added (as measured below; sweeps). The outputs are the same
    convolution: an output needs the K' - 1 positions before it, and a longer overlap only moves the block
    boundaries. The on-chip forward and backward and both HBM convolutions take it.

    Why: K' - 1 and C are odd for most K, so the kernels' reads of u, pre and post and writes of y would start
    at odd positions and compile to one 2-byte access per element. With C, KM1 and L divisible by 16 (as
    Triton's launcher then specialises them) they vectorise. sm_90 builds, 2026-11-29, global load and store
    instructions per thread, ``python -m dnaconv.pipelines.kernel_regs --divisible D,L,K`` (K' - 1) against
    ``... --divisible D,L,K,C,KM1`` (aligned): the on-chip forward at N = 1024 (4 segments, 4 warps) 177 -> 37
    loads and 32 -> 4 stores, at N = 512 171 -> 31 and 32 -> 4; the fused on-chip backward (z loaded) at N =
    1024 193 -> 39 and 51 -> 9, 255 -> 174 registers and 8 -> 0 bytes spilled, at N = 512 187 -> 33 and 50 ->
    8, 255 -> 176 registers and 16 -> 0 bytes. A one-off build of the HBM column passes (paired) the same way:
    the first, 34 -> 6 loads at 16 points, 66 -> 10 at 32; the last, 22 -> 8 loads and 16 -> 2 stores.
    H200, 2026-11-29, ms aligned (=strict) vs K' - 1, interleaved, bf16 gated (``h200_kernels.sh align``):
    forward at L = 2.3M x 32, K = 4096 0.756 vs 0.865, 16K 0.921 vs 1.040, K = 64K at 1M x 64 1.359 vs 1.479,
    training windows 32 x 256 x 8192 at K = 128 (on chip, N = 1024) 0.429 vs 0.596; fwd+bwd K = 16K 3.374 vs
    3.595, the windows 2.104 vs 2.719; full-length filters the same within 1%. K = 128 and 256 at L = 2.3M
    measured the same because =strict left them unaligned (an aligned C = 896 needs 2,567 blocks of 1024
    instead of 2,565); at most one block in 64 more (at most 1.6% more work, 0.08% there) frames them aligned,
    the default since. Against =strict and K' - 1 (``h200_kernels.sh align9``, interleaved): forward K = 128
    0.436 vs 0.599 vs 0.599, 256 0.501 vs 0.691 vs 0.692, 200 0.581 vs 0.647 vs 0.647, 64 (N = 512) 0.549 vs
    0.554 vs 0.554; fwd+bwd K = 128 2.204 vs 2.834 vs 2.843, 256 2.333 vs 3.155 vs 3.160; the windows, which
    gain no block, the same (forward 0.548 vs 0.515 vs 0.597, fwd+bwd 2.127 vs 2.123 vs 2.736)."""
    km1 = k_eff - 1
    mode = os.environ.get("DNACONV_FFT_ALIGN", "")
    if not dense or mode == "0":
        return km1
    aligned = cdiv(km1, 16) * 16
    if aligned >= n:
        return km1
    blocks, more = cdiv(L, n - km1), cdiv(L, n - aligned)
    slack = 0 if mode == "strict" else blocks // 64
    return aligned if more - blocks <= slack else km1


def _split(n: int, fraction: float = 1.0) -> tuple[int, int]:
    """n = n1 x n2, as square as possible, with n2 widened (n1 >= 16) so that f n2 >= 16 columns are kept."""
    n1 = 1 << (int(math.log2(n)) // 2)
    while fraction * (n // n1) < 16 and n1 > 16:
        n1 //= 2
    return n1, n // n1


# Time per transformed point (ps) at each FFT size N: the on-chip forward (K = 128), the fused backward (z
# from the forward) and the HBM forward (K = 2048, two segments per complex block), H200, bf16, gated, L =
# 2.3M, 32 channels, points counted in the blocks the kernels frame (``block_overlap``, every size aligned),
# ninth 2026-11-29 session (``h200_kernels.sh align9``, ``ab.point_costs``); before it, with the overlaps
# K' - 1: on chip 6.62, 7.22, 9.77, 11.52 (forward), 23.03, 26.55, 29.79 (backward); HBM 9.87, 10.33, 12.53,
# 11.96, 15.04, 17.81. At N = 131,072 the ratio to 65,536 that K = 16K measured end to end (``pick9``: 0.901 vs
# 0.885 ms, 10.23 vs 8.98 ps per point) times 65,536's 9.42: the K = 2048 figure (10.30) would have moved K =
# 16K to 131,072 points, which lost there as in the sessions before (0.908 vs 0.883 in ``sweep8``, 1.34 vs
# 1.25 in ``plancheck``). The picks this table moved, against the table before, ms, interleaved (``pick9``):
# forward K = 384 on chip (N = 1024) 0.589 vs 0.706 through HBM (8192); K = 512 through HBM blocks of 32,768
# 0.669 vs 8192 0.718 (on chip at 1024: 0.725); K = 768, 1024, 1536, 2048 at 32,768 0.665, 0.682, 0.682, 0.698
# vs 16,384 0.722, 0.729, 0.756, 0.783; windows of 16K (8 x 128) at K = 4096 0.581 vs 0.599; fwd+bwd (the fused
# backward at N = 2048 instead of 1024) K = 128 2.135 vs 2.176, K = 200 2.253 vs 2.388; K = 384 2.539 vs 2.667,
# 512 2.464 vs 2.495, 1024 2.507 vs 2.534, the windows of 16K 2.058 vs 2.140. A dense plan takes the size with
# the least time per output (``_cheapest``), and the on-chip or the HBM kernel by the same measure
# (``fft_plan``). The backward lists only the sizes where its fused kernel beat the torch.fft reference's
# autograd (2026-11-28: N = 4096 took 77 ps per point, 11.3 ms against 8.6 ms); one block per sequence on half
# tiles it runs there too (``half_backward``). The fused backward's, 2026-11-29, tenth session, after its
# launch at N = 2048 went to two segments per program on 4 warps (``h200_kernels.sh bwd10``,
# ``ab.point_costs``; 21.63 before): 18.15, 20.63, 15.44. The HBM backward's ("hbm_bwd": the backward alone, z
# from the forward, its elementwise kernels included) prefers smaller blocks than the forward. Since its rows
# are at most 2048 points (``_row_caps``; 2026-11-29, sixth session, ``h200_kernels.sh bwdpts``, L = 2.3M x 32,
# sizes interleaved), ps per block point: K = 4096 20.0 at N = 16,384, 23.4 at 32,768, 26.8 at 65,536; K = 8192
# 21.9, 26.2, 31.1 at 32,768-131,072; K = 16K 24.4, 29.5, 33.9 at 65,536-262,144 (the backward alone 2.40,
# 2.60, 2.85 ms). The table takes K = 8192's measures where it was measured (32,768-131,072), else the one K
# measured there (16,384: K = 4096; 262,144: K = 16K); that picks the measured best at K = 8192 and 16K and,
# at K = 4096, N = 32,768 (1.985 ms against 1.971 at 16,384). 8192: 2026-11-29, eleventh session, K = 2048
# (``h200_kernels.sh bwd4096``, ``ab.point_costs(hbm_backward=True)``; 25.2 before, from rows of 4096 points);
# it prices the fused/HBM backward choice at K <= 2048 (``backward_route``). That run's figures at the other
# sizes, all at K = 2048 (22.07, 24.89, 27.53, 30.26, 38.62), would have moved K = 8192's backward to 65,536
# points and 16K's to 131,072, against the measures above at those K; the dk pass's work grows with K.
POINT_PS = {
    "forward": {512: 4.75, 1024: 5.22, 2048: 6.93, 4096: 8.29},
    "backward": {512: 18.15, 1024: 20.63, 2048: 15.44},
    "hbm": {8192: 9.05, 16384: 9.34, 32768: 8.95, 65536: 9.42, 131072: 10.73, 262144: 13.48},
    "hbm_bwd": {8192: 20.34, 16384: 20.0, 32768: 21.9, 65536: 26.2, 131072: 31.1, 262144: 33.9},
}
MAX_BWD_FFT_SIZE = max(POINT_PS["backward"])


def split_backward(n: int, L: int, k_eff: int) -> bool:
    """Whether the on-chip backward at FFT size n runs as two launches, its causal frame (d(post), d(bias), dk:
    four transforms) and its anti-causal one (du, d(pre): two), so that neither holds the other's tiles.

    Only at N = 4096, above the fused backward's sizes (it spilled 1,304 B there), and only for sequences long
    enough that the torch.fft reference's autograd costs more: L >= 2^15 with at least 5/8 of each block new
    outputs (K <= 1537), else L >= 2^20. H200, 2026-11-29, fwd+bwd ms, bf16 gated, B*D*L = 2^26, split vs the
    reference backward (``h200_kernels.sh lengths``): K = 1536 at L = 16K 8.89 vs 7.61, 24K
    8.38 vs 7.65, 32K 8.35 vs 8.83, 2.3M 8.98 vs 13.45; K = 1792 at 131K 9.02 vs 9.07, 1M 8.99 vs 10.19;
    K = 2048 at 131K 10.1 vs 9.1, 512K 10.01 vs 9.89, 1M 10.02 vs 10.21, 2.3M 11.08 vs 13.46, full L = 2K
    10.14 vs 9.13. Below N = 4096 the fused backward won (backward alone, ms): K = 128 2.45 vs 2.66, K = 512
    3.13 vs 3.64, full L = 1K 4.35 vs 4.74. DNACONV_MONARCH_SPLIT=1 splits at every size and L, =0 never."""
    env = os.environ.get("DNACONV_MONARCH_SPLIT")
    if env is not None:
        return env == "1"
    return n > MAX_BWD_FFT_SIZE and L >= (1 << 15 if 8 * (k_eff - 1) <= 3 * n else 1 << 20)


def half_tiles_max(kind: str = "forward") -> int:
    """The largest N at which the on-chip ``kind`` ("forward" or "backward") frames a one-block sequence on half
    tiles (HALF: the inputs and outputs in the block's last half; ``monarch._half_tiles``). 4096 for both.
    DNACONV_MONARCH_HALF and DNACONV_MONARCH_BWD_HALF set it (0: never), for sweeps."""
    var = "DNACONV_MONARCH_HALF" if kind == "forward" else "DNACONV_MONARCH_BWD_HALF"
    return int(os.environ.get(var, 4096))


def half_backward(n: int, L: int, k_eff: int, H: int = 0) -> bool:
    """Whether the fused on-chip backward runs at FFT size n = 4096 (above POINT_PS["backward"]'s sizes): one
    block per sequence without history, framed on half tiles (``half_tiles_max``), on 4 warps
    (``monarch._launch_shape``). There the fused backward that spilled on full tiles (77 ps per point, see
    POINT_PS) beat the HBM backward it replaces, and the reference's autograd below HBM_BWD_ONE_BLOCK_SIZE.
    H200, 2026-11-29, eleventh session, fwd+bwd ms, bf16 gated, interleaved: forced there (``h200_kernels.sh
    bwd4096``, both kernels on 4 warps), full L = 2K (32 x 1024) 3.410 vs 5.496 as dispatched (torch.fft 8.837;
    on full tiles, 8 warps: 6.343; on half tiles, 8 warps: 5.584), full L = 1536 (48 x 1024) 4.867 vs 7.720
    (torch.fft 12.139; 9.291, 8.192); as the default (``b11``), against DNACONV_MONARCH_BWD_HALF=2048 (before):
    32 x 1024 x 2048 3.386 vs 5.492 (the forward on 4 warps too: 3.414; two segments per program on 4 warps:
    3.417), 48 x 1024 x 1536 4.870 vs 7.725, 8 x 1024 x 2048 (2^24 elements: the reference's autograd before)
    0.959 vs 2.422 (torch.fft 2.423)."""
    return n == MAX_FFT_SIZE and H == 0 and max(L, k_eff - 1) <= n // 2 and n <= half_tiles_max("backward")


def _cost(n: int, C: int, L: int, kind: str) -> float:
    """Time per channel (ps) of L outputs in blocks of N = n points, C new outputs each: ceil(L / C) N t(N),
    t from ``POINT_PS[kind]`` (sizes below the table's smallest priced at it)."""
    ps = POINT_PS[kind]
    return cdiv(L, C) * n * ps.get(n, ps[min(ps)])


def _cheapest(n: int, largest: int, L: int, k_eff: int, kind: str, env: str) -> int | None:
    """The power of two in [n, largest] with the least time per output, ceil(L / C) N t(N), among the sizes
    in POINT_PS[kind] and those below its smallest (one small block of a short sequence, priced at it); None if
    there are none. The variable ``env`` forces a size for sweeps, if a candidate."""
    sizes = [n << i for i in range((largest // n).bit_length())]
    forced = int(os.environ.get(env) or 0)
    if forced in sizes:
        return forced
    ps = POINT_PS[kind]
    sizes = [s for s in sizes if s in ps or s < min(ps)]
    return min(sizes, key=lambda s: _cost(s, s - k_eff + 1, L, kind)) if sizes else None


def monarch_plan(
    L: int, K: int, H: int = 0, fraction: float = 1.0, kind: str = "forward"
) -> tuple[int, int, int, int] | None:
    """(N1, N2, C, k_eff) for the on-chip kernel ``kind`` ("forward" or "backward"), or None when the filter
    is too long for one on-chip FFT (k_eff - 1 >= MAX_FFT_SIZE / 2) or, for the backward, when no size it runs fits.

    The smallest size N0 has C >= k_eff (at most half of each FFT is overlap) and at least 512 points, or one
    block for a short sequence. A frequency-sparse plan (fraction < 1) always takes N0: that op is defined at
    its block size. A dense plan, whose result does not depend on N, takes the size from N0 up with the least
    time per output (``POINT_PS``); DNACONV_MONARCH_FFT=N forces a size for sweeps where N is a candidate."""
    k_eff = min(K, H + L)
    n = max(2 * MIN_FFT_SIZE, 1 << (2 * k_eff - 1).bit_length())
    one = max(MIN_FFT_SIZE, 1 << (L + k_eff - 2).bit_length())  # one block covers the sequence
    n = min(n, one)
    if n > MAX_FFT_SIZE:
        return None
    if fraction == 1:
        n0 = n
        n = _cheapest(n, min(one, MAX_FFT_SIZE), L, k_eff, kind, "DNACONV_MONARCH_FFT")
        if (
            n is None
            and kind == "backward"
            and (split_backward(n0, L, k_eff) or half_backward(n0, L, k_eff, H))
        ):
            n = n0  # the split backward, or one block on half tiles, runs above the fused one's sizes (N = 4096)
        if n is None:
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


def hbm_plan(L: int, K: int, H: int = 0, fraction: float = 1.0, kind: str = "hbm") -> FFTPlan | None:
    """Plan for the HBM kernel: N >= 8192, a power of two with at least 3/4 of each block new outputs for
    partial filters (N >= 4 (K' - 1)) and one block for full-length ones; None above MAX_HBM_FFT_SIZE. As on
    chip, a dense plan takes a larger block where ``POINT_PS[kind]`` ("hbm": the forward, "hbm_bwd": the HBM
    backward's convolution) says it costs less per output (the forward at K = 8192, L = 2.3M: 65,536 points,
    2.156 vs 2.393 ms); DNACONV_HBM_FFT=N forces a candidate size for sweeps."""
    k_eff = min(K, H + L)
    n = max(2 * MAX_FFT_SIZE, 1 << (4 * (k_eff - 1) - 1).bit_length())
    one = max(2 * MAX_FFT_SIZE, 1 << (L + k_eff - 2).bit_length())
    n = min(n, one)
    if fraction == 1 and n <= MAX_HBM_FFT_SIZE:
        # the backward's convolution keeps several blocks per sequence where it can: one block per sequence
        # is another backward (``backward_kind``), which POINT_PS's multi-block times do not price (windows of
        # 8192, K = 1024: N = 16,384 looked cheaper, and the fused on-chip backward then ran, 4.847 ms fwd+bwd
        # against 3.605 over blocks of 8192, ``table4`` and ``table2``)
        top = one // 2 if kind == "hbm_bwd" and n < one else one
        n = _cheapest(n, min(top, MAX_HBM_FFT_SIZE), L, k_eff, kind, "DNACONV_HBM_FFT") or n
    if n > MAX_HBM_FFT_SIZE or n - (k_eff - 1) < 1:
        return None
    dense_one = fraction == 1 and n - (k_eff - 1) >= L  # C >= L: one block per sequence
    for m in (1, 2, 3):  # fewest column passes, then the row ``_row_caps`` prefers
        for cap in _row_caps(kind, m, n, dense_one):
            row = min(cap, n // MIN_COL**m)
            if MIN_FFT_SIZE <= row and n // row <= MAX_COL**m:
                rest, cols = n // row, []
                for i in range(m, 0, -1):  # as even as powers of two allow, the largest first
                    c = 1 << math.ceil(math.log2(rest) / i)
                    cols.append(c)
                    rest //= c
                return FFTPlan(tuple(cols), *_split(row, fraction), n - (k_eff - 1), k_eff)
    return None


def fft_plan(
    L: int, K: int, H: int = 0, fraction: float = 1.0, dtype: torch.dtype = torch.bfloat16
) -> FFTPlan | None:
    """The plan the Triton kernels use: on chip when the filter fits, else through HBM, else None.

    A dense half-precision (``dtype``) convolution whose filter fits on chip still goes through HBM where
    ``POINT_PS`` (bf16 times) says that costs less: filters of 512-2048 taps over several HBM blocks, whose
    segments pair up (``monarch_hbm.py``) and whose blocks are mostly new outputs (at L = 2.3M: on chip at N =
    1024 up to K = 415, at N = 2048 to 511, then HBM blocks of 32,768). H200, 2026-11-29, ninth session,
    forward ms, bf16 gated, L = 2.3M x 32 channels, interleaved: K = 448 on chip at N = 2048 0.643 vs HBM
    0.670 vs on chip at 1024 0.652, K = 496 0.662 vs 0.670 vs 0.712, K = 400 (at 1024) 0.608 vs 0.670;
    K = 512 HBM 0.669 vs on chip (1024) 0.725, 1024 HBM 0.682 vs on chip (2048) 0.974 (``pick9``).
    DNACONV_MONARCH_FFT, when set (to 0 too), keeps it on chip (sweeps).

    The block size N of a frequency-sparse plan does not depend on ``fraction``; only the split of the row
    does (see ``sparse_ok``)."""
    p = monarch_plan(L, K, H, fraction=fraction)
    if p is None:
        return hbm_plan(L, K, H, fraction)
    plan = FFTPlan((), *p)
    if fraction == 1 and dtype != torch.float32 and not os.environ.get("DNACONV_MONARCH_FFT"):
        hbm = hbm_plan(L, K, H)
        if (
            hbm is not None
            and L > hbm.C
            and _cost(hbm.n, hbm.C, L, "hbm") < _cost(plan.n, plan.C, L, "forward")
        ):
            return hbm
    return plan


# Where the HBM backward (``monarch_hbm_bwd.hbm_fftconv_bwd``, dk from its convolution's row pass) beat the
# others: over several blocks of at most HBM_BWD_MAX_N points, from HBM_BWD_MIN_SIZE elements (B x D x L) in
# place of the torch.fft reference's autograd, and from HBM_BWD_ON_CHIP_SIZE in place of the split on-chip
# backward and of the fused one for filters of at least HBM_BWD_MIN_K taps. H200, 2026-11-29, fwd+bwd ms, bf16
# gated, z from the forward, as dispatched without it vs the HBM backward forced (``h200_kernels.sh hbmdk``,
# ``bwdplan``, ``table``):
# - fused: L = 2.3M x 32 channels (70M elements) K = 128 3.15 vs 3.40, K = 512 4.18 vs 3.81-3.98, K = 1024
#   5.56 vs 3.96; 4 x 32 x 512K (2^26) K = 1024 5.11 vs 3.70; windows of 8192 (32 x 256, 2^26) K = 128 3.00 vs
#   4.28, K = 1024 5.32 vs 4.90-5.01; 16 x 2.3M (35M) K = 1024 2.87 vs 2.37-2.51; but 8 x 2.3M (17.5M) K = 1024
#   1.50-1.62 vs 2.13-2.70 and windows of 8192 (16 x 64, 8M) K = 1024 1.20-1.52 vs 1.97-2.03.
# - split (K = 1536-2048): 2.3M x 32 K = 1536 8.04 vs 4.19, K = 2048 9.69 vs 4.24; 2 x 32 x 1M K = 1536 7.35 vs
#   3.97 (not timed below 2^25).
# - torch.fft reference: K = 64K at 1M x 64 (N = 262,144) 11.95 vs 9.89; 8 x 2.3M K = 8192 3.24 vs 2.29-2.46;
#   windows of 16,384, 8 x 128 (2^24) K = 4096 2.33 vs 2.08-2.16; 192 x 73,727 (13.5M) K = 8192 2.68 vs
#   2.41-2.53; lost below: 4 x 2.3M (8.8M) K = 8192 1.75 vs 2.03-2.34, the streaming shape (128 x 73,727, 9M)
#   1.89 vs 1.98-2.03, windows of 16,384 (4 x 128, 8M) K = 4096 1.48 vs 2.64-2.74.
# - torch.fft alone, where it ran before: 2.3M x 32 K = 4096 11.96 vs 3.88 (before the dk pass: 6.75).
# - one block per sequence (full-length filters, paired across the batch), against the reference
#   (``h200_kernels.sh onebwd``, ``table2``, ``host``): 2^26 elements: 32 x 1024 x 2048 6.82 vs 8.84, 16 x 1024 x
#   4096 5.01 vs 8.96, 8 x 512 x 16K 6.23 vs 10.23, 4 x 256 x 64K 11.19 vs 12.70, 2 x 128 x 256K (N = 2^19) 13.49
#   vs 13.82, 2 x 32 x 1M 16.14 vs 14.07 (so it stopped at HBM_BWD_MAX_N, until, 2026-11-29, thirteenth
#   session, forced vs the reference, two rounds interleaved, ``h200_kernels.sh b13``: 2 x 128 x 256K 12.074
#   vs 13.903, 2 x 32 x 1M 12.325 vs 14.147, 2 x 16 x 2M 12.664 vs 14.805, 2 x 8 x 4M 13.172 vs 15.863; so one
#   block paired takes it at every N; unpaired, one sequence, it lost: 1 x 1024 x 64K 18.639 vs 15.657,
#   1 x 256 x 256K 21.486 vs 15.837, 1 x 64 x 1M 21.259 vs 16.128, 1 x 16 x 4M 22.541 vs 18.154);
#   2^25: 16 x 1024 x 2048 3.72 vs 4.56, 8 x 1024 x 4096 2.91 vs 4.67;
#   2^24: 8 x 1024 x 2048 2.24-2.30 vs 2.42 and the default model's training shape 16 x 128 x 8192 1.55-2.64
#   vs 2.47-2.50 (host-bound there: 2.3-2.6 ms of host time per step, before the third session removed a
#   stream synchronisation from it); 2^23 and below it lost (8 x 128 x 8192 2.19-2.29 vs 1.38). So it ran from
#   2^25 elements until, 2026-11-29, eleventh session, three rounds interleaved, as dispatched (the reference)
#   vs the HBM backward forced (``h200_kernels.sh c11``), at 2^24: 16 x 128 x 8192 2.493 vs 1.554 (torch.fft
#   2.493), 4 x 1024 x 4096 2.542 vs 1.749, 8 x 256 x 8192 2.563 vs 2.256; at 2^23 it still lost: 8 x 128 x 8192
#   1.386 vs 1.662 (torch.fft, the same code, 1.679), 4 x 128 x 16,384 1.540 vs 2.231. So from
#   HBM_BWD_ONE_BLOCK_SIZE = 2^24.
# - HBM_BWD_MIN_K: the fused backward at N = 2048 on two segments per program (2026-11-29, tenth session,
#   ``h200_kernels.sh bwd10``, L = 2.3M x 32, fwd+bwd ms, interleaved): K = 512 fused 2.195 vs HBM 2.464, K =
#   640 2.336 vs 2.488, 768 2.489 vs 2.489, K = 1024 fused 2.900 vs HBM 2.511 (before, 512 was the HBM
#   backward's: fused 4.18 vs 3.81-3.98). POINT_PS's costs put that crossover at about 630 taps, below the
#   measured one, and the costs alone would miss it by 6% at K = 640; so both rule (``backward_route``).
HBM_BWD_MIN_SIZE = 1 << 24
HBM_BWD_ON_CHIP_SIZE = 1 << 25
HBM_BWD_ONE_BLOCK_SIZE = 1 << 24
HBM_BWD_MAX_N = 1 << 18
# - HBM_BWD_HERM_N: one sequence's one block (a full-length filter, B = 1) through the HBM backward on half its
#   spectrum (``monarch_hbm_bwd._half_storage_of``), fwd+bwd ms as dispatched before (torch.fft's autograd) vs
#   forced (DNACONV_HBM_BWD=1), B x D x L = 2^26, H200, 2026-11-29, fourteenth session (``h200_kernels.sh s14``,
#   two rounds interleaved): N = 2^15 (L = 16K) 12.888 vs 12.888, 2^16 13.777 vs 13.137, 2^17 15.637 vs 14.626
#   (``b13``: 15.636 vs 14.645). With two column levels it lost at N = 2^19 (15.840 vs 17.088) and 2^21
#   (16.117 vs 16.381) and won at 2^23 (18.144 vs 17.483), one run each (``b13``); 2^18 was not timed. So N =
#   2^16 and 2^17, from HBM_BWD_ONE_BLOCK_SIZE elements (timed only at 2^26). Since the forward's spectrum comes
#   from the convolution's own passes (``monarch_hbm.hbm_transform_spectrum``) and the backward takes it, it
#   wins at every N timed: H200, 2026-11-30, sixteenth session (``h200_kernels.sh b16``, two rounds
#   interleaved), dispatched before (torch.fft's autograd) vs forced: N = 2^18 (512 x 128K) 15.674 vs 11.442,
#   2^19 (256 x 256K) 15.758 vs 12.817, 2^21 (64 x 1M) 16.045 vs 12.085, 2^22 (32 x 2M) 16.891 vs 12.193, 2^23
#   (16 x 4M) 18.066 vs 12.479; and 2^24 (8 x 8M) 18.499 vs 13.922 (seventeenth session, ``n24``). So N =
#   2^16 to 2^24 (MAX_HBM_FFT_SIZE).
HBM_BWD_HERM_N = (1 << 16, 1 << 24)
HBM_BWD_MIN_K = 768


def backward_route(
    L: int, K: int, H: int = 0, fraction: float = 1.0, size: int = 0, batch: int = 1
) -> tuple[str, tuple | FFTPlan | None]:
    """Which backward the Triton convolution's gradients run, for ``batch`` sequences of ``size`` = B x D x L
    elements in all, and its plan (so that the backward does not plan again):

    - "hbm": ``monarch_hbm_bwd.hbm_fftconv_bwd`` (one HBM convolution that also gives dk) over HBM blocks (its
      own size, ``hbm_plan(kind="hbm_bwd")``, the plan returned), from HBM_BWD_MIN_SIZE elements: over several
      blocks per sequence of at most HBM_BWD_MAX_N points, or (from HBM_BWD_ONE_BLOCK_SIZE) one block per
      sequence (a full-length filter) that no on-chip backward covers, at any N where a batch of two or more
      pairs it, at N in HBM_BWD_HERM_N for one sequence (half its spectrum);
      where an on-chip backward also runs, only from HBM_BWD_ON_CHIP_SIZE elements and in place of the split
      one, or of the fused one for filters of at least HBM_BWD_MIN_K taps where ``POINT_PS`` prices the HBM
      backward lower (``_cost``; windows of 8192 at K = 1024: 31.0 ps per output fused at N = 2048 against
      40.7 through HBM blocks of 8192, the fused measured 2.825 ms fwd+bwd against 3.300, 32 x 256, H200,
      2026-11-29, eleventh session, ``h200_kernels.sh bwd4096``, and as the default 2.827 against 3.303
      (torch.fft 7.193, ``b11``); L = 2.3M at K = 1024: 31.0 against 23.3, and the HBM one won, 2.511 against
      2.900, ``bwd10``);
    - "fused": on chip, one launch (``monarch_plan(kind="backward")``'s (N1, N2, C, k_eff) returned);
    - "split": on chip in two launches (``split_backward``), for long sequences at N = 4096 (the same plan);
    - "reference": autograd of the torch.fft reference (frequency-sparse convolutions too; no plan).

    DNACONV_HBM_BWD=1 takes the HBM backward wherever it has a plan, =0 never (sweeps)."""
    if fraction < 1:
        return "reference", None
    env = os.environ.get("DNACONV_HBM_BWD")
    hbm = hbm_plan(L, K, kind="hbm_bwd")  # no history in the backward's convolution
    if env == "1" and hbm is not None:
        return "hbm", hbm
    p = monarch_plan(L, K, H, kind="backward")
    split = p is not None and split_backward(p[0] * p[1], L, p[3])
    if env != "0" and hbm is not None and size >= HBM_BWD_MIN_SIZE:
        if hbm.C < L:  # several blocks per sequence
            if hbm.n <= HBM_BWD_MAX_N and (
                p is None
                or size >= HBM_BWD_ON_CHIP_SIZE
                and (split or min(K, H + L) >= HBM_BWD_MIN_K and _hbm_cheaper(hbm, p, L))
            ):
                return "hbm", hbm
        elif (
            p is None
            and size >= HBM_BWD_ONE_BLOCK_SIZE
            and (batch >= 2 or HBM_BWD_HERM_N[0] <= hbm.n <= HBM_BWD_HERM_N[1])
        ):  # one block, paired across the batch, or one sequence's on half its spectrum
            return "hbm", hbm
    if p is not None:
        return ("split" if split else "fused"), p
    return "reference", None


def _hbm_cheaper(hbm: FFTPlan, p: tuple, L: int) -> bool:
    """Whether ``POINT_PS`` prices the HBM backward over ``hbm``'s blocks below the fused one at ``p`` (as
    ``fft_plan`` compares its kernels: ``_cost`` of each plan's C)."""
    return _cost(hbm.n, hbm.C, L, "hbm_bwd") < _cost(p[0] * p[1], p[2], L, "backward")


def backward_kind(L: int, K: int, H: int = 0, fraction: float = 1.0, size: int = 0, batch: int = 1) -> str:
    """``backward_route``'s kind: "hbm", "fused", "split" or "reference"."""
    return backward_route(L, K, H, fraction, size, batch)[0]


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
