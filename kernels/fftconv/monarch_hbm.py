"""Fused FFT convolution for blocks too large for one program (8192 <= N <= 2^24 points): long partial
filters (K > 2048 taps, the default model's K = 8192 among them) and full-length filters up to L = 4M.

Four-step FFT through HBM. A block of N = P x S points is viewed as [P, S] (time p S + s); with k = k_p + P k_s

    X[k_p + P k_s] = sum_s W_S^(s k_s) W_N^(s k_p) sum_p W_P^(p k_p) x[p S + s]

so a *column pass* takes the P-point DFT down each column (the strided axis; a [P, P] x [P, G] tensor-core
product over G adjacent columns, loads coalesced along s), multiplies by the twiddles W_N^(s k_p) (computed
in place) and leaves row k_p to hold the S-point sub-problem. S is split again the same way until a row
of N1 x N2 <= 4096 points remains; the *row pass* transforms each row on chip (monarch.py's two-level DFT,
complex input), multiplies by the filter spectrum, transforms back, and the column passes run in reverse
(conjugate twiddles, inverse column DFTs). The first column pass reads the gated input, the last writes
out = post * (y + bias * v): three kernels, one complex intermediate (fp32, 8 bytes per block point: B x D x
blocks x N; 1 GiB for a full-length filter at L = 4M over 16 channels), 2 + 2 m HBM passes for m column
levels (N <= 256K: m = 1). Half inputs through one column level keep it in fp16 over power-of-two scales, a
scale per first-column-pass tile and one per row (``_half_intermediate``): half the bytes of every pass.

Frequency-sparse convolutions keep only the lowest columns k2 of each row (``plan.kept_columns``): the row
pass skips the other columns' products. Gradients run ``monarch_hbm_bwd.hbm_fftconv_bwd`` (one HBM convolution
of the reversed g whose row pass also gives dk, d(post) from the z the forward stored; the launch helpers
``_Frame``, ``_columns`` and ``_inverse_columns`` are shared with it) where ``plan.backward_kind`` picks it
(long, large convolutions), else the on-chip backward or the torch.fft reference's autograd.

PAIR: the input is real, so two segments of a channel (they share the filter) ride as the real and imaginary
parts of one complex block; the filter spectrum is that of a real filter, so the real and imaginary parts of
the result are the two convolutions. Every pass moves and transforms half as many blocks.

HERM: one real segment alone (a full-length filter over one sequence: nothing to pair) keeps half its
spectrum. With N = P x S, the first column pass leaves in row k_p, after the twiddles, the sub-problem whose
S-point DFT is X[k_p + P k_s]. The input is real, so X (and the filter's, and the product's spectrum Y) are
Hermitian, Y[f] = conj Y[N - f], and N - (k_p + P k_s) = (P - k_p) + P (S - 1 - k_s): row P - k_p mirrors row
k_p. Its inverse S-point transform is V[P - k_p, s] = W_S^s conj V[k_p, s] (W_S = e^(-2 pi i / S)), so in the
last inverse column pass its term of the output, W_P^(-p (P - k_p)) W_N^(-s (P - k_p)) V[P - k_p, s], is the
conjugate of row k_p's (W_N^(-s P) = W_S^(-s) cancels the W_S^s): the real part of the sum takes rows 0 and
P / 2 once and rows 0 < k_p < P / 2 twice, and rows above P / 2 are never computed.
"""

from __future__ import annotations

import os

import torch
import triton
import triton.language as tl
from triton.language.extra.cuda import libdevice

from dnaconv.kernels.fftconv.dft import (
    _dft,
    _dft_matrices,
    _forward_dft_complex,
    _forward_dft_complex_at,
    _inverse_dft_complex,
    _inverse_dft_complex_at,
    _load_dft,
    _load_f1,
    _load_f2,
    _load_g2,
    _load_gated,
    _load_twiddles,
    _matrix_dtype,
    _mm,
    _scale,
)
from dnaconv.kernels.fftconv.monarch import _launch_shape, _precision, _segments, monarch_spectrum
from dnaconv.kernels.fftconv.plan import block_overlap, cdiv, hbm_plan

__all__ = ["hbm_fftconv_fwd"]

TWO_PI = tl.constexpr(6.283185307179586)


@triton.jit
def _scale2(x, PRECISION: tl.constexpr):
    """``dft._scale`` for the columns of a [P, G] tile, whose DFT runs down each column: for fp16 operands the
    powers of two [1, G] that bring each column's max |x| to about 1; else 1. A max per column is cheaper than
    one over the tile (sm_90 SASS of the paired first pass: 968 instructions against 1,056)."""
    if PRECISION == 2:
        mx = tl.max(tl.abs(x), axis=0)[None, :]
        return tl.exp2(tl.ceil(tl.log2(tl.maximum(mx, 1e-30))))
    else:
        return 1.0


@triton.jit
def _twiddle(k, s, PS, FAST: tl.constexpr):
    """(cos, sin) of -2 pi (k s mod PS) / PS (PS a power of two), the angle reduced to [-pi, pi] in exact
    integer arithmetic. FAST: the hardware's approximate sine and cosine (absolute error about 2^-21 on
    [-pi, pi]); else the precise ones (``_fast_trig``)."""
    r = (k * s) & (PS - 1)
    r = tl.where(r > PS // 2, r - PS, r)
    ang = r.to(tl.float32) * (-TWO_PI / PS)
    if FAST:
        return libdevice.fast_cosf(ang), libdevice.fast_sinf(ang)
    else:
        return tl.cos(ang), tl.sin(ang)


def _fast_trig() -> bool:
    """Whether the column passes take the hardware's approximate sine and cosine for their twiddles: on the
    GPU (the CPU interpreter has only the precise ones). The precise ones were most of a column pass's
    instructions: sm_90 SASS of the paired first pass, 3,032 instructions with them against 1,056 (984 with no
    twiddles at all). DNACONV_HBM_TRIG=precise keeps them (sweeps)."""
    return os.environ.get("TRITON_INTERPRET") != "1" and os.environ.get("DNACONV_HBM_TRIG") != "precise"


@triton.jit
def _owned_times(t, m, L, KM1, OWNED: tl.constexpr, REV: tl.constexpr):
    """OWNED and REV: the time-reversed sequence's times L - 1 - t of block positions m only where the block
    outputs (m >= KM1, t < L), -1 (masked off, zero) elsewhere. Else t: OWNED without REV bounds t from below
    instead, at the block's first output (``_load_gated``'s lo), which keeps t contiguous and the loads
    vectorised (sm_90 build of the paired first column pass of 64 on fp32 input, ``kernel_regs``: 4 v4.b32
    loads a thread against 16 b32 with t rewritten; H200, torch.profiler, that pass 0.473 ms against g's
    0.227 at 2 x 32 x 1M, ``h200_kernels.sh p18``). H200, 2026-11-30, eighteenth session, fwd+bwd ms, bf16
    gated, rewritten vs bounded, the best of two alternating processes each (``h200_kernels.sh x18``): 2 x 32
    x 1M 6.712 vs 6.453, one sequence 64 x 1M 7.493 vs 7.179, 4 x 256 x 64K 4.427 vs 4.198, K = 16K at 2.3M x
    32 3.138 vs 2.900, K = 4096 there 2.680 vs 2.642, full L = 4K (16 x 1024) 3.223 vs 3.128, K = 64K at 1M x
    64 4.238 vs 4.162."""
    if OWNED and REV:
        return tl.where((m >= KM1) & (t < L), L - 1 - t, -1)
    else:
        return t


@triton.jit
def _first_time(start, OWNED: tl.constexpr, REV: tl.constexpr):
    """The first time a block's column pass reads (``_load_gated``'s lo): OWNED without REV, the block's first
    output ``start`` (``_owned_times``); else 0."""
    if OWNED and not REV:
        return start
    else:
        return 0


@triton.jit
def _last_time(start, C, L, OWNED: tl.constexpr, ANTI: tl.constexpr):
    """The end of the times a block's column pass reads (``_load_gated``'s L): OWNED with ANTI (a block that
    outputs its first C positions, ``_col_fwd_kernel``), the block's last output's time + 1; else L."""
    if OWNED and ANTI:
        return tl.minimum(start + C, L)
    else:
        return L


@triton.jit
def _segment_input(u_ptr, pre_ptr, hist_ptr, z_ptr, dp_ptr, bd, start, m, L, H, C, KM1,
                   HAS_PRE: tl.constexpr, HAS_HIST: tl.constexpr, OWNED: tl.constexpr, REV: tl.constexpr,
                   ANTI: tl.constexpr, DPOST: tl.constexpr):  # fmt: skip
    """A first column pass's input at block positions m of the segment of sequence row bd that starts at
    ``start`` (``_col_fwd_kernel``'s FIRST: times start + m - KM1, or start + m with ANTI): the gated input
    (``_load_gated``), or with DPOST g and d(post) (``_load_g``)."""
    t = _owned_times(start + m - (0 if ANTI else KM1), m, L, KM1, OWNED, REV)
    row = bd.to(tl.int64) * L
    if DPOST:
        v = _load_g(u_ptr + row, pre_ptr + row, z_ptr + row, dp_ptr + row, t, start, C, L, HAS_PRE, ANTI)
    else:
        v = _load_gated(u_ptr + row, pre_ptr + row, hist_ptr + bd.to(tl.int64) * H, t,
                        _last_time(start, C, L, OWNED, ANTI), H, HAS_PRE, HAS_HIST,
                        _first_time(start, OWNED, REV))  # fmt: skip
    return v


@triton.jit
def _load_g(dy_row, post_row, z_row, dp_row, t, start, C, L, HAS_POST: tl.constexpr, ANTI: tl.constexpr):
    """g = dy post at times t of a sequence (the direct backward's first column pass of g; zeros outside [0,
    L)), and d(post) = dy z stored at the times this block outputs: [start, start + C) with ANTI
    (``_col_fwd_kernel``), else every t in [0, L) (one block a sequence, start 0; a paired frame's padding
    segments start past L). dy is loaded once for both."""
    inside = (t >= 0) & (t < L)
    dy = tl.load(dy_row + t, mask=inside, other=0.0).to(tl.float32)
    own = (t >= start) & (t < _last_time(start, C, L, True, ANTI))
    z = tl.load(z_row + t, mask=own, other=0.0).to(tl.float32)
    tl.store(dp_row + t, (dy * z).to(dp_row.dtype.element_ty), mask=own)
    if HAS_POST:
        dy = dy * tl.load(post_row + t, mask=inside, other=0.0).to(tl.float32)
    return dy


@triton.jit
def _over_tile_scale(xr, xi, scale_ptr):
    """A [P, G] tile of an fp16 intermediate: (xr, xi) over the power of two that brings their largest
    magnitude to at most 1, which is stored at scale_ptr."""
    mx = tl.max(tl.max(tl.maximum(tl.abs(xr), tl.abs(xi)), axis=1), axis=0)
    ts = tl.exp2(tl.ceil(tl.log2(tl.maximum(mx, 1e-30))))
    tl.store(scale_ptr, ts)
    return xr * (1.0 / ts), xi * (1.0 / ts)


@triton.jit
def _live_dft(fr_ptr, fi_ptr, P0, P: tl.constexpr, LIVE: tl.constexpr, AXIS: tl.constexpr):
    """A column pass's rows of time t [rows, 1] (every row, or with LIVE > 0 rows P0 ... P0 + LIVE - 1, see
    ``_live_rows``) and the DFT matrix's (real, imaginary) part over them: F_P's columns t ([P, rows]: a
    forward pass's input, AXIS 1) or its rows t ([rows, P]: an inverse pass's output, AXIS 0)."""
    a = tl.arange(0, P)
    if LIVE > 0:
        t = P0 + tl.arange(0, LIVE)
    else:
        t = a
    if AXIS == 1:
        fidx = a[:, None] * P + t[None, :]
    else:
        fidx = t[:, None] * P + a[None, :]
    return t[:, None], tl.load(fr_ptr + fidx), tl.load(fi_ptr + fidx)


@triton.jit
def _col_fwd_kernel(
    u_ptr, pre_ptr, hist_ptr, xr_ptr, xi_ptr, fr_ptr, fi_ptr, cs_ptr, csin_ptr, z_ptr, dp_ptr,
    D, L, H, C, KM1, n_blocks, R, S, n_sblk, NQ, NP, NS, R0, n_sblk_in, P0,
    P: tl.constexpr, G: tl.constexpr, FIRST: tl.constexpr,
    HAS_PRE: tl.constexpr, HAS_HIST: tl.constexpr, PRECISION: tl.constexpr, PAIR: tl.constexpr = False,
    OWNED: tl.constexpr = False, REV: tl.constexpr = False, FAST_TRIG: tl.constexpr = False,
    SCALED: tl.constexpr = False, SCALED_IN: tl.constexpr = False, CIN: tl.constexpr = 64,
    LIVE: tl.constexpr = 0, ANTI: tl.constexpr = False, DPOST: tl.constexpr = False,
):  # fmt: skip
    """One column pass, in place on (xr, xi) [segments, R, P, S] (NS points a segment); FIRST reads the gated
    input instead, and stores its rows k_p < R0 (``_Frame``'s HERM: R0 = about P / 2). PAIR: a segment of the
    intermediate is pair j of channel d (index d NP + j), whose real part is the channel's segment 2j and its
    imaginary part segment 2j + 1, of its NQ = B x n_blocks (``monarch._segments``). OWNED (FIRST, no
    history): the input at the block's own outputs only; REV: reversed in time (``_owned_times``). SCALED (an
    fp16 intermediate, ``_half_intermediate``): the tile [P, G] is stored over the power of two that brings
    its max |x| to at most 1, kept at cs[(segment R + r) n_sblk + column block]. SCALED_IN (the second of two
    column levels): its input is the first level's fp16 tiles, point s' = p S + s of row r there times
    csin[segment n_sblk_in + s' // CIN]. LIVE (FIRST, > 0): the input is zero outside rows P0 ... P0 + LIVE - 1
    (``_live_rows``), so only those rows are loaded and the product takes only F_P's columns there. ANTI (the
    direct backward over several blocks, ``monarch_hbm_bwd``): a block outputs its first C positions and reads
    the K' - 1 after them (block position m is time block * C + m); OWNED then reads m < C only. DPOST (FIRST
    of the direct backward's g = dy post, u being dy; no history, not OWNED or REV): also d(post) = dy z at the
    times the block outputs (``_load_g``), z [B, D, L] the forward's conv + bias v."""
    sblk = tl.program_id(0) % n_sblk
    r = (tl.program_id(0) // n_sblk) % R
    seg = tl.program_id(0) // (n_sblk * R)  # (b * D + d) * n_blocks + block
    p = tl.arange(0, P)[:, None]
    s = sblk * G + tl.arange(0, G)[None, :]  # [1, G], adjacent columns: coalesced
    off = seg.to(tl.int64) * NS + r * (P * S) + p * S + s  # [P, G]
    pin, fr, fi = _live_dft(fr_ptr, fi_ptr, P0, P, LIVE, 1)  # LIVE: FIRST only (``_columns``)
    if FIRST and PAIR:  # two real segments of channel d as one complex one
        d = seg // NP
        bd, start = _segments(2 * (seg % NP), d, D, L, n_blocks, NQ, C, KM1)
        va = _segment_input(u_ptr, pre_ptr, hist_ptr, z_ptr, dp_ptr, bd, start, pin * S + s, L, H, C, KM1,
                            HAS_PRE, HAS_HIST, OWNED, REV, ANTI, DPOST)  # fmt: skip
        bd, start = _segments(2 * (seg % NP) + 1, d, D, L, n_blocks, NQ, C, KM1)
        vb = _segment_input(u_ptr, pre_ptr, hist_ptr, z_ptr, dp_ptr, bd, start, pin * S + s, L, H, C, KM1,
                            HAS_PRE, HAS_HIST, OWNED, REV, ANTI, DPOST)  # fmt: skip
        sv = _scale2(tl.maximum(tl.abs(va), tl.abs(vb)), PRECISION)
        va = va / sv
        vb = vb / sv
        zr = (_mm(fr, va, PRECISION) - _mm(fi, vb, PRECISION)) * sv
        zi = (_mm(fr, vb, PRECISION) + _mm(fi, va, PRECISION)) * sv
    elif FIRST:  # R = 1: block position m = p S + s is time block * C + m - KM1
        bd = seg // n_blocks
        start = (seg % n_blocks) * C
        v = _segment_input(u_ptr, pre_ptr, hist_ptr, z_ptr, dp_ptr, bd, start, pin * S + s, L, H, C, KM1,
                           HAS_PRE, HAS_HIST, OWNED, REV, ANTI, DPOST)  # fmt: skip
        sv = _scale2(v, PRECISION)
        v = v / sv
        zr = _mm(fr, v, PRECISION) * sv
        zi = _mm(fi, v, PRECISION) * sv
    else:
        xr = tl.load(xr_ptr + off).to(tl.float32)
        xi = tl.load(xi_ptr + off).to(tl.float32)
        if SCALED_IN:
            ci = tl.load(csin_ptr + seg.to(tl.int64) * n_sblk_in + (p * S + s) // CIN)
            xr = xr * ci
            xi = xi * ci
        sx = _scale2(tl.maximum(tl.abs(xr), tl.abs(xi)), PRECISION)
        xr = xr / sx
        xi = xi / sx
        zr = (_mm(fr, xr, PRECISION) - _mm(fi, xi, PRECISION)) * sx
        zi = (_mm(fr, xi, PRECISION) + _mm(fi, xr, PRECISION)) * sx
    c, sn = _twiddle(p, s, P * S, FAST_TRIG)  # row k_p = p of the output
    outr = zr * c - zi * sn
    outi = zr * sn + zi * c
    if SCALED:
        outr, outi = _over_tile_scale(outr, outi, cs_ptr + (seg.to(tl.int64) * R + r) * n_sblk + sblk)
    dt = xr_ptr.dtype.element_ty  # fp32, or fp16 (SCALED)
    if FIRST:
        tl.store(xr_ptr + off, outr.to(dt), mask=p < R0)
        tl.store(xi_ptr + off, outi.to(dt), mask=p < R0)
    else:
        tl.store(xr_ptr + off, outr.to(dt))
        tl.store(xi_ptr + off, outi.to(dt))


@triton.jit
def _load_rows(xr_ptr, xi_ptr, off, cs_ptr, sub, n_sblk, N1: tl.constexpr, N2: tl.constexpr,
               COLS: tl.constexpr, SCALED: tl.constexpr):  # fmt: skip
    """Rows at off [G, N1, N2] in fp32, real and imaginary parts. SCALED (an fp16 intermediate): times the
    scales (``_col_fwd_kernel``'s cs) of the last column pass's tiles of COLS columns in sub-problem sub (a
    scalar or [G, 1, 1]: segment R + r of that pass), which hold point s = n1 N2 + n2 of a row: [1, N1, 1]
    where a tile spans whole runs of N2 points, else [1, N1, N2]."""
    ar = tl.load(xr_ptr + off).to(tl.float32)
    ai = tl.load(xi_ptr + off).to(tl.float32)
    if SCALED:
        if COLS >= N2:
            tile = tl.arange(0, N1)[None, :, None] // (COLS // N2)
        else:
            tile = (tl.arange(0, N1)[None, :, None] * N2 + tl.arange(0, N2)[None, None, :]) // COLS
        cs = tl.load(cs_ptr + sub.to(tl.int64) * n_sblk + tile)
        ar = ar * cs
        ai = ai * cs
    return ar, ai


@triton.jit
def _mirror_row(rows, P1, Q):
    """The row that holds the mirror frequencies N - f of row ``rows``'s, backwards (``_filter_rows``)."""
    return (P1 - rows // Q) * Q + (Q - 1 - rows % Q)


@triton.jit
def _kf_offsets(d, rows, KROWS, N1: tl.constexpr, M: tl.constexpr, back=None):
    """Offsets [G, N1, M] of rows ``rows`` [G, 1, 1] of channel d in a filter spectrum [D, KROWS, N1, M]; where
    ``back`` [G, 1, 1] holds, each row's positions backwards (N1 - 1 - k1, M - 1 - k2)."""
    n1 = tl.arange(0, N1)[None, :, None]
    m = tl.arange(0, M)[None, None, :]
    off = (d.to(tl.int64) * KROWS + rows) * (N1 * M)
    if back is None:
        off = off + n1 * M + m  # in this order: the same build as before the helper
    else:
        off = off + tl.where(back, (N1 - 1 - n1) * M + (M - 1 - m), n1 * M + m)
    return off


@triton.jit
def _filter_rows(kfr_ptr, kfi_ptr, d, rows, KROWS, P1, Q, N1: tl.constexpr, N2: tl.constexpr, M: tl.constexpr,
                 MIRROR: tl.constexpr, FLIP: tl.constexpr = False, flip=0):  # fmt: skip
    """The filter spectrum [G, N1, M] of rows ``rows`` [G, 1, 1] of channel d ([D, KROWS, N1, M] stored), in
    fp32 (an fp16 spectrum is stored over a scale per row, ``_filter_scale``). MIRROR
    (a real filter's spectrum stored as a HERM frame's rows, ``hbm_transform_spectrum``): only rows a Q + b of
    the first column level's a < KROWS / Q are stored (Q rows of a later level per row a; KROWS / Q > P1 / 2);
    row a Q + b of a later a holds the conjugate of row (P1 - a) Q + (Q - 1 - b) read backwards, since
    K[N - f] = conj K[f] and N - (a + P1 (b + Q k_s)) = (P1 - a) + P1 ((Q - 1 - b) + Q (S - 1 - k_s)) for
    0 < a < P1, and position k1 + N1 k2 of a row holds k_s, so S - 1 - k_s is position N1 - 1 - k1, N2 - 1 - k2.
    FLIP (``_row_kernel``'s), where ``flip`` (a scalar) is 1, the program's rows all lying past KROWS: those
    rows' mirrors in their stored order, conjugated, without a gather; the program transforms its rows
    backwards (the mirrored matrices, ``_flip_matrices``) to meet them."""
    krow = _stored_row(rows, KROWS, P1, Q, MIRROR, FLIP, flip)
    if FLIP:
        kidx = _kf_offsets(d, krow, KROWS, N1, M)
        kr = tl.load(kfr_ptr + kidx).to(tl.float32)
        ki = tl.load(kfi_ptr + kidx).to(tl.float32) * (1 - 2 * flip).to(tl.float32)
    elif MIRROR:
        mir = rows >= KROWS
        kidx = _kf_offsets(d, krow, KROWS, N1, M, mir)
        kr = tl.load(kfr_ptr + kidx).to(tl.float32)
        ki = tl.load(kfi_ptr + kidx).to(tl.float32)
        ki = tl.where(mir, -ki, ki)
    else:
        kidx = _kf_offsets(d, krow, KROWS, N1, M)
        kr = tl.load(kfr_ptr + kidx).to(tl.float32)
        ki = tl.load(kfi_ptr + kidx).to(tl.float32)
    return kr, ki


@triton.jit
def _stored_row(rows, KROWS, P1, Q, MIRROR: tl.constexpr, FLIP: tl.constexpr, flip):
    """The stored row of a filter spectrum that ``_filter_rows`` reads for rows ``rows``: the row itself, or
    (FLIP where ``flip`` is 1, MIRROR past KROWS) its mirror."""
    if FLIP:
        return rows + flip * (_mirror_row(rows, P1, Q) - rows)
    elif MIRROR:
        return tl.where(rows >= KROWS, _mirror_row(rows, P1, Q), rows)
    else:
        return rows


@triton.jit
def _filter_scale(ks_ptr, d, rows, KROWS, P1, Q, MIRROR: tl.constexpr, FLIP: tl.constexpr, flip):
    """The scale [G, 1, 1] of the rows ``_filter_rows`` reads from an fp16 filter spectrum (``_row_scales``:
    a power of two per stored row, at ks [D, KROWS])."""
    return tl.load(ks_ptr + d.to(tl.int64) * KROWS + _stored_row(rows, KROWS, P1, Q, MIRROR, FLIP, flip))


@triton.jit
def _row_scales(xr, xi, ks_ptr, srow, mask=None):
    """An fp16 filter spectrum's scales: for rows (xr, xi) [G, N1, M], a power of two per row (at least its
    largest magnitude, so that the row stored over it lies within 1: fp16 keeps its relative precision down
    to 2^-14 of that), stored at ks[srow] ([G] offsets) where ``mask``; returns them as [G, 1, 1]."""
    mx = tl.max(tl.max(tl.maximum(tl.abs(xr), tl.abs(xi)), axis=2), axis=1)
    sk = tl.exp2(tl.ceil(tl.log2(tl.maximum(mx, 1e-30))))
    tl.store(ks_ptr + srow, sk, mask=mask)
    return sk[:, None, None]


@triton.jit
def _keep_rows(xr, xi, sx, vr_ptr, vi_ptr, vs_ptr, off, srow):
    """``_row_kernel``'s KEEP: rows' spectra, (xr, xi) [G, N1, N2] times the scalar sx: (xr, xi) stored at off
    in v's dtype, sx at vs[srow] ([G, 1, 1]). Their magnitudes are at most N1 N2 (the DFT of values of at
    most 1)."""
    tl.store(vr_ptr + off, xr.to(vr_ptr.dtype.element_ty))
    tl.store(vi_ptr + off, xi.to(vi_ptr.dtype.element_ty))
    tl.store(vs_ptr + srow, sx + tl.zeros(srow.shape, dtype=tl.float32))


@triton.jit
def _row_kernel(
    xr_ptr, xi_ptr, kfr_ptr, kfi_ptr,
    f1r_ptr, f1i_ptr, f2r_ptr, f2i_ptr, g2r_ptr, g2i_ptr, twr_ptr, twi_ptr, cs_ptr, rs_ptr,
    D, n_blocks, ROWS, n_groups, n_sblk, RL, PL, KROWS, P1, Q, scale,
    G: tl.constexpr, N1: tl.constexpr, N2: tl.constexpr, M: tl.constexpr, PRECISION: tl.constexpr,
    LAZY: tl.constexpr = False, SCALED: tl.constexpr = False, COLS: tl.constexpr = 64,
    SPECTRUM: tl.constexpr = False, MIRROR: tl.constexpr = False, FILL: tl.constexpr = False,
    BACK: tl.constexpr = False, DELTA: tl.constexpr = False, KEEP: tl.constexpr = False, vr_ptr=None,
    vi_ptr=None, vs_ptr=None, FLIP: tl.constexpr = False, e1r_ptr=None, e1i_ptr=None, KS: tl.constexpr = False,
    ks_ptr=None,
):  # fmt: skip
    """G of a segment's ROWS rows of N1 x N2 complex points, in place: DFT, times the filter spectrum [D,
    ROWS, N1, M], inverse. LAZY: the DFT matrices loaded where each is used (``dft._forward_dft_complex_at``),
    not held throughout. SCALED (an fp16 intermediate, ``_half_intermediate``): row rho's point s is x times
    the scale cs[(segment RL + rho // PL) n_sblk + s // COLS] of the last column pass's tile of COLS columns
    (RL sub-problems of PL rows there); the result is stored over a power of two (below N1 N2 in magnitude),
    kept at rs[segment ROWS + rho]. SPECTRUM (``hbm_transform_spectrum``): the rows' DFT alone, stored at kf
    (the filter spectrum's place, segment = channel), nothing stored in place, as (DFT + delta[d]) x ``scale``
    (DELTA: rs holds delta [D], a unit impulse's spectrum being 1 at every bin); FILL: the ROWS rows
    transformed are a HERM frame's of a real filter and the spectrum holds all KROWS = P1 Q: each row a Q + b
    with 0 < a and mirror row (P1 - a) Q + (Q - 1 - b) >= ROWS is stored there too, conjugated and backwards
    (the relation ``_filter_rows`` gives). The filter spectrum holds KROWS rows a channel; MIRROR: fewer than
    ROWS, the rest read from their mirrors (``_filter_rows``). BACK (fp32 rows, no filter:
    ``monarch_hbm_bwd._dk_taps``): the rows hold spectra; only the inverse DFT, times ``scale``, in place.
    ``scale`` is unused otherwise. KEEP (the input's spectrum kept for the direct backward's dk,
    ``monarch_hbm_bwd``): the rows' DFT is also stored at v (x's layout, v's dtype) over a scale per row, at
    vs[segment ROWS + rho]. FLIP (a HERM frame's filter spectrum of KROWS rows, a multiple of G, read without
    gathers): a program whose rows lie past KROWS transforms them with the mirrored matrices
    (``_flip_matrices``: each matrix argument holds two sets, e1 the inverse's F1), so that position (k1, k2)
    of its rows' spectra holds frequency (N1 - 1 - k1, N2 - 1 - k2)'s, where the mirror rows' stored spectra
    hold the conjugates of those frequencies' filter values in their own order (``_filter_rows``); the
    inverse takes them back in that order. KS: the filter spectrum is fp16 over a power of two per stored row,
    at ks [D, KROWS] (``_row_scales``): SPECTRUM stores it so, the convolution takes each row's scale into its
    own result's (``_filter_scale``)."""
    grp = tl.program_id(0) % n_groups
    seg = tl.program_id(0) // n_groups
    d = (seg // n_blocks) % D
    rows = grp * G + tl.arange(0, G)[:, None, None]  # [G, 1, 1]
    flip = 0
    b1r_ptr = f1r_ptr  # the inverse's F1
    b1i_ptr = f1i_ptr
    if FLIP:
        flip = (grp * G >= KROWS).to(tl.int32)
        f1r_ptr += flip * (N1 * N1)
        f1i_ptr += flip * (N1 * N1)
        b1r_ptr = e1r_ptr + flip * (N1 * N1)
        b1i_ptr = e1i_ptr + flip * (N1 * N1)
        f2r_ptr += flip * (N2 * M)
        f2i_ptr += flip * (N2 * M)
        g2r_ptr += flip * (M * N2)
        g2i_ptr += flip * (M * N2)
        twr_ptr += flip * (N1 * N2)
        twi_ptr += flip * (N1 * N2)
    pos = tl.arange(0, N1)[None, :, None] * N2 + tl.arange(0, N2)[None, None, :]
    off = seg.to(tl.int64) * (ROWS * N1 * N2) + rows * (N1 * N2) + pos
    ar, ai = _load_rows(xr_ptr, xi_ptr, off, cs_ptr, seg * RL + rows // PL, n_sblk, N1, N2, COLS, SCALED)
    sa = _scale(tl.maximum(tl.abs(ar), tl.abs(ai)), PRECISION)
    if BACK:
        if LAZY:
            _filter_back(ar / sa, ai / sa, 1.0, 0.0, sa * scale, xr_ptr, xi_ptr, off, f1r_ptr, f1i_ptr,
                         g2r_ptr, g2i_ptr, twr_ptr, twi_ptr, G, N1, N2, PRECISION, N2, LAZY=True)  # fmt: skip
        else:
            f1r, f1i, f2r, f2i, g2r, g2i, tr, ti, ttr, tti = _load_dft(
                f1r_ptr, f1i_ptr, f2r_ptr, f2i_ptr, g2r_ptr, g2i_ptr, twr_ptr, twi_ptr, N1, N2, N2
            )
            _filter_back(ar / sa, ai / sa, 1.0, 0.0, sa * scale, xr_ptr, xi_ptr, off, f1r, f1i, g2r, g2i, tr,
                         ti, G, N1, N2, PRECISION, N2)  # fmt: skip
    elif LAZY:
        xr, xi = _forward_dft_complex_at(
            ar / sa, ai / sa, f1r_ptr, f1i_ptr, f2r_ptr, f2i_ptr, twr_ptr, twi_ptr, G, N1, N2, PRECISION, M
        )
        if KEEP:
            _keep_rows(xr, xi, sa, vr_ptr, vi_ptr, vs_ptr, off, seg.to(tl.int64) * ROWS + rows)
        if not SPECTRUM:
            kr, ki = _filter_rows(kfr_ptr, kfi_ptr, d, rows, KROWS, P1, Q, N1, N2, M, MIRROR, FLIP, flip)
            if KS:
                sa = sa * _filter_scale(ks_ptr, d, rows, KROWS, P1, Q, MIRROR, FLIP, flip)
            so = _filter_back(xr, xi, kr, ki, sa, xr_ptr, xi_ptr, off, b1r_ptr, b1i_ptr, g2r_ptr, g2i_ptr,
                              twr_ptr, twi_ptr, G, N1, N2, PRECISION, M, LAZY=True, SCALED=SCALED)  # fmt: skip
    else:
        if FLIP:  # the forward's and the inverse's F1 and F2 differ (each mirrored along its own axis)
            f1r, f1i = _load_f1(f1r_ptr, f1i_ptr, N1)
            e1r, e1i = _load_f1(b1r_ptr, b1i_ptr, N1)
            f2r, f2i = _load_f2(f2r_ptr, f2i_ptr, N2, M)
            g2r, g2i = _load_g2(g2r_ptr, g2i_ptr, N2, M)
            tr, ti = _load_twiddles(twr_ptr, twi_ptr, N1, N2, False)
            ttr, tti = _load_twiddles(twr_ptr, twi_ptr, N1, N2, True)
        else:
            f1r, f1i, f2r, f2i, g2r, g2i, tr, ti, ttr, tti = _load_dft(
                f1r_ptr, f1i_ptr, f2r_ptr, f2i_ptr, g2r_ptr, g2i_ptr, twr_ptr, twi_ptr, N1, N2, M
            )
            e1r = f1r
            e1i = f1i
        xr, xi = _forward_dft_complex(ar / sa, ai / sa, f1r, f1i, f2r, f2i, ttr, tti, G, N1, N2, PRECISION, M)
        if KEEP:
            _keep_rows(xr, xi, sa, vr_ptr, vi_ptr, vs_ptr, off, seg.to(tl.int64) * ROWS + rows)
        if not SPECTRUM:
            kr, ki = _filter_rows(kfr_ptr, kfi_ptr, d, rows, KROWS, P1, Q, N1, N2, M, MIRROR, FLIP, flip)
            if KS:
                sa = sa * _filter_scale(ks_ptr, d, rows, KROWS, P1, Q, MIRROR, FLIP, flip)
            so = _filter_back(xr, xi, kr, ki, sa, xr_ptr, xi_ptr, off, e1r, e1i, g2r, g2i, tr, ti, G, N1, N2,
                              PRECISION, M, SCALED=SCALED)  # fmt: skip
    if SPECTRUM:
        kidx = _kf_offsets(d, rows, KROWS, N1, M)
        vr = xr * sa
        if DELTA:
            vr += tl.load(rs_ptr + d)
        vr = vr * scale
        vi = xi * (sa * scale)
        if KS:
            sk = _row_scales(vr, vi, ks_ptr, d.to(tl.int64) * KROWS + grp * G + tl.arange(0, G))
            vr = vr / sk
            vi = vi / sk
        tl.store(kfr_ptr + kidx, vr.to(kfr_ptr.dtype.element_ty))
        tl.store(kfi_ptr + kidx, vi.to(kfi_ptr.dtype.element_ty))
        if FILL:
            mrow = _mirror_row(rows, P1, Q)
            n1 = tl.arange(0, N1)[None, :, None]
            m = tl.arange(0, M)[None, None, :]
            midx = (d.to(tl.int64) * KROWS + mrow) * (N1 * M) + (N1 - 1 - n1) * M + (M - 1 - m)  # backwards
            fill = (
                (rows >= Q) & (mrow >= ROWS) & (n1 >= 0) & (m >= 0)
            )  # rows whose mirror no program computes
            tl.store(kfr_ptr + midx, vr, mask=fill)
            tl.store(kfi_ptr + midx, -vi, mask=fill)
    elif SCALED:
        tl.store(rs_ptr + seg.to(tl.int64) * ROWS + rows, so + tl.zeros([G, 1, 1], dtype=tl.float32))


@triton.jit
def _filter_back(xr, xi, kr, ki, sx, xr_ptr, xi_ptr, off, f1r, f1i, g2r, g2i, tr, ti,
                 G: tl.constexpr, N1: tl.constexpr, N2: tl.constexpr, PRECISION: tl.constexpr, M: tl.constexpr,
                 LAZY: tl.constexpr = False, SCALED: tl.constexpr = False):  # fmt: skip
    """Rows' spectra (x / sx) times the filter spectrum, transformed back and stored at off (in place). f1r ...
    ti: the inverse's matrices, or (LAZY) pointers to them (``dft._inverse_dft_complex_at``). Returns the
    result's scale, sx sy: SCALED stores the result over it (at most N1 N2 in magnitude: the inverse of
    values of at most 1), else times it."""
    yr = xr * kr - xi * ki
    yi = xr * ki + xi * kr
    sy = _scale(tl.maximum(tl.abs(yr), tl.abs(yi)), PRECISION)
    if LAZY:
        zr, zi = _inverse_dft_complex_at(
            yr / sy, yi / sy, f1r, f1i, g2r, g2i, tr, ti, G, N1, N2, PRECISION, M
        )
    else:
        zr, zi = _inverse_dft_complex(yr / sy, yi / sy, f1r, f1i, g2r, g2i, tr, ti, G, N1, N2, PRECISION, M)
    if SCALED:
        tl.store(xr_ptr + off, zr.to(xr_ptr.dtype.element_ty))
        tl.store(xi_ptr + off, zi.to(xi_ptr.dtype.element_ty))
    else:
        tl.store(xr_ptr + off, zr * (sx * sy))
        tl.store(xi_ptr + off, zi * (sx * sy))
    return sx * sy


@triton.jit
def _store_out(y, t, m, bd, u_ptr, pre_ptr, post_ptr, bias_ptr, y_ptr, z_ptr, D, L, C, KM1,
               HAS_PRE: tl.constexpr, HAS_POST: tl.constexpr, HAS_BIAS: tl.constexpr,
               STORE_Z: tl.constexpr, GRADS: tl.constexpr = False, ANTI: tl.constexpr = False):  # fmt: skip
    """out = post * (y + bias * v) of row bd at times t (block positions m), where valid (m >= KM1, t < L;
    ANTI: m < C, see ``_col_fwd_kernel``); STORE_Z: and z = y + bias * v (for the backward's d(post)). GRADS
    (the direct backward's dv, see ``monarch_hbm_bwd``): y is dv; du = dv * pre goes to y_ptr and (HAS_PRE)
    d(pre) = dv * u to z_ptr."""
    if ANTI:
        valid = (m < C) & (t < L)
    else:
        valid = (m >= KM1) & (t < L)
    row = bd.to(tl.int64) * L
    if GRADS:
        if HAS_PRE:
            u = tl.load(u_ptr + row + t, mask=valid, other=0.0).to(tl.float32)
            tl.store(z_ptr + row + t, (y * u).to(z_ptr.dtype.element_ty), mask=valid)
            y = y * tl.load(pre_ptr + row + t, mask=valid, other=0.0).to(tl.float32)
        tl.store(y_ptr + row + t, y.to(y_ptr.dtype.element_ty), mask=valid)
    else:
        if HAS_BIAS:
            v = tl.load(u_ptr + row + t, mask=valid, other=0.0).to(tl.float32)
            if HAS_PRE:
                v = v * tl.load(pre_ptr + row + t, mask=valid, other=0.0).to(tl.float32)
            y += tl.load(bias_ptr + bd % D).to(tl.float32) * v
        if STORE_Z:
            tl.store(z_ptr + row + t, y.to(z_ptr.dtype.element_ty), mask=valid)
        if HAS_POST:
            y = y * tl.load(post_ptr + row + t, mask=valid, other=0.0).to(tl.float32)
        tl.store(y_ptr + row + t, y.to(y_ptr.dtype.element_ty), mask=valid)


@triton.jit
def _col_inv_kernel(
    xr_ptr, xi_ptr, fr_ptr, fi_ptr, u_ptr, pre_ptr, post_ptr, bias_ptr, y_ptr, z_ptr, rs_ptr, cs_ptr,
    D, L, C, KM1, n_blocks, R, S, n_sblk, NQ, NP, NS, ROWS, R_IN, S_IN, n_sblk_in, P0,
    P: tl.constexpr, G: tl.constexpr, LAST: tl.constexpr,
    HAS_PRE: tl.constexpr, HAS_POST: tl.constexpr, HAS_BIAS: tl.constexpr, PRECISION: tl.constexpr,
    PAIR: tl.constexpr = False, STORE_Z: tl.constexpr = False, FAST_TRIG: tl.constexpr = False,
    HERM: tl.constexpr = False, SCALE_IN: tl.constexpr = 0, SCALE_OUT: tl.constexpr = False,
    CIN: tl.constexpr = 64, LIVE: tl.constexpr = 0, GRADS: tl.constexpr = False, ANTI: tl.constexpr = False,
):  # fmt: skip
    """The inverse of a column pass (conjugate twiddles, then conj(F_P) down the columns), in place; LAST
    takes the real part (PAIR: and the imaginary part, the pair's second segment, see ``_col_fwd_kernel``) and
    writes out = post * (y + bias * v) at the block's valid positions. HERM (LAST, ``_Frame``): only rows
    k_p <= P / 2 are read; row P - k_p's term of the real part equals row k_p's (module doc), so rows 0 < k_p
    < P / 2 count twice. An fp16 intermediate (``_half_intermediate``): SCALE_IN 1 (after the row pass) row p
    of sub-problem r is x times rs[segment ROWS + r P + p] (``_row_kernel``); 2 (the last of two levels) point
    (p, s) is x times the second level's tile scale cs[(segment R_IN + p) n_sblk_in + (s % S_IN) // CIN];
    SCALE_OUT (the middle pass) stores its tile over a power of two, at cs (as ``_col_fwd_kernel``). LIVE
    (LAST, > 0): the block outputs only at rows P0 ... P0 + LIVE - 1 (``_live_rows``), so only those rows of
    conj(F_P) are taken and only they are written. GRADS: the result is the direct backward's dv
    (``_store_out``); ANTI: the block outputs its first C positions (``_col_fwd_kernel``)."""
    sblk = tl.program_id(0) % n_sblk
    r = (tl.program_id(0) // n_sblk) % R
    seg = tl.program_id(0) // (n_sblk * R)
    p = tl.arange(0, P)[:, None]
    s = sblk * G + tl.arange(0, G)[None, :]
    off = seg.to(tl.int64) * NS + r * (P * S) + p * S + s
    if HERM:
        half = (p <= P // 2) & (s >= 0)
        w = tl.where((p == 0) | (p == P // 2), 1.0, 2.0)
        xr = tl.load(xr_ptr + off, mask=half, other=0.0).to(tl.float32) * w
        xi = tl.load(xi_ptr + off, mask=half, other=0.0).to(tl.float32) * w
    else:
        xr = tl.load(xr_ptr + off).to(tl.float32)
        xi = tl.load(xi_ptr + off).to(tl.float32)
    if SCALE_IN == 1:
        rs = tl.load(rs_ptr + seg.to(tl.int64) * ROWS + r * P + p, mask=r * P + p < ROWS, other=0.0)
        xr = xr * rs
        xi = xi * rs
    elif SCALE_IN == 2:
        ci = tl.load(cs_ptr + (seg.to(tl.int64) * R_IN + p) * n_sblk_in + (s % S_IN) // CIN, mask=p < R_IN,
                     other=0.0)  # fmt: skip
        xr = xr * ci
        xi = xi * ci
    c, sn = _twiddle(p, s, P * S, FAST_TRIG)
    zr = xr * c + xi * sn  # times conj(W)
    zi = xi * c - xr * sn
    sz = _scale2(tl.maximum(tl.abs(zr), tl.abs(zi)), PRECISION)
    zr = zr / sz
    zi = zi / sz
    po, fr, fi = _live_dft(fr_ptr, fi_ptr, P0, P, LIVE, 0)  # LIVE: LAST only (``_inverse_columns``)
    yr = (_mm(fr, zr, PRECISION) + _mm(fi, zi, PRECISION)) * sz
    if LAST and PAIR:
        d = seg // NP
        bd, start = _segments(2 * (seg % NP), d, D, L, n_blocks, NQ, C, KM1)
        t0 = start - (0 if ANTI else KM1)
        _store_out(yr, t0 + po * S + s, po * S + s, bd, u_ptr, pre_ptr, post_ptr, bias_ptr, y_ptr, z_ptr, D, L,
                   C, KM1, HAS_PRE, HAS_POST, HAS_BIAS, STORE_Z, GRADS, ANTI)  # fmt: skip
        yi = (_mm(fr, zi, PRECISION) - _mm(fi, zr, PRECISION)) * sz
        bd, start = _segments(2 * (seg % NP) + 1, d, D, L, n_blocks, NQ, C, KM1)
        t0 = start - (0 if ANTI else KM1)
        _store_out(yi, t0 + po * S + s, po * S + s, bd, u_ptr, pre_ptr, post_ptr, bias_ptr, y_ptr, z_ptr, D, L,
                   C, KM1, HAS_PRE, HAS_POST, HAS_BIAS, STORE_Z, GRADS, ANTI)  # fmt: skip
    elif LAST:
        t0 = (seg % n_blocks) * C - (0 if ANTI else KM1)
        _store_out(yr, t0 + po * S + s, po * S + s, seg // n_blocks, u_ptr, pre_ptr, post_ptr, bias_ptr, y_ptr,
                   z_ptr, D, L, C, KM1, HAS_PRE, HAS_POST, HAS_BIAS, STORE_Z, GRADS, ANTI)  # fmt: skip
    else:
        yi = (_mm(fr, zi, PRECISION) - _mm(fi, zr, PRECISION)) * sz
        if SCALE_OUT:
            yr, yi = _over_tile_scale(yr, yi, cs_ptr + (seg.to(tl.int64) * R + r) * n_sblk + sblk)
        tl.store(xr_ptr + off, yr.to(xr_ptr.dtype.element_ty))
        tl.store(xi_ptr + off, yi.to(xi_ptr.dtype.element_ty))


_COL_CACHE: dict = {}


@triton.jit
def _spectrum_kernel(k_ptr, delta_ptr, fpr_ptr, fpi_ptr, f1r_ptr, f1i_ptr, f2r_ptr, f2i_ptr, twr_ptr, twi_ptr,
                     kfr_ptr, kfi_ptr, KE, stride_k, ROWS, P_EFF, inv_n,
                     P: tl.constexpr, G: tl.constexpr, N1: tl.constexpr, N2: tl.constexpr,
                     HAS_DELTA: tl.constexpr, PRECISION: tl.constexpr, KS: tl.constexpr = False,
                     ks_ptr=None):  # fmt: skip
    """Rows k_p (G of them) of one filter's spectrum for a plan of one column level of P points and rows of R =
    N1 N2 (N = P R), straight from its KE taps, in the kernels' storage order ([D, ROWS, N1, N2]: frequency k_p
    + P (k1 + N1 k2) at [k_p, k1, k2]), scaled by 1/N; with the taps t = r + R p:
    X[k_p + P k_r] = sum_r W_N^(r k_p) W_R^(r k_r) sum_p k[r + R p] W_P^(p k_p).
    The inner sum runs over the P_EFF = ceil(KE / R) values of p that hold taps, in fp32 from F_P's table; the
    twiddle W_N^(r k_p) in fp32 from the integer r k_p mod N; the row's DFT is the HBM row pass's
    (``_forward_dft_complex_at``: 3xtf32, or fp16 operands over a power of two). HAS_DELTA: k + delta at tap 0
    (the skip term folded, ``monarch_spectrum``'s delta). KS: stored in fp16 over a power of two per row, at
    ks [D, ROWS] (``_row_scales``)."""
    R: tl.constexpr = N1 * N2
    d = tl.program_id(0)
    kp = tl.program_id(1) * G + tl.arange(0, G)
    r = tl.arange(0, R)
    cr = tl.zeros([G, R], dtype=tl.float32)
    ci = tl.zeros([G, R], dtype=tl.float32)
    for p in range(0, P_EFF):
        t = r + R * p
        a = tl.load(k_ptr + d.to(tl.int64) * stride_k + t, mask=t < KE, other=0.0)
        if HAS_DELTA:
            a += tl.where(t == 0, tl.load(delta_ptr + d), 0.0)
        w = kp * P + p  # F_P[k_p, p] (symmetric)
        cr += tl.load(fpr_ptr + w, mask=kp < P, other=0.0)[:, None] * a[None, :]
        ci += tl.load(fpi_ptr + w, mask=kp < P, other=0.0)[:, None] * a[None, :]
    m = (r[None, :] * kp[:, None]) % (P * R)
    ang = m.to(tl.float32) * (-6.283185307179586 / (P * R))
    tr = tl.cos(ang)
    ti = tl.sin(ang)
    zr = tl.reshape(cr * tr - ci * ti, (G, N1, N2))
    zi = tl.reshape(cr * ti + ci * tr, (G, N1, N2))
    sa = _scale(tl.maximum(tl.abs(zr), tl.abs(zi)), PRECISION)
    xr, xi = _forward_dft_complex_at(zr / sa, zi / sa, f1r_ptr, f1i_ptr, f2r_ptr, f2i_ptr, twr_ptr, twi_ptr,
                                     G, N1, N2, PRECISION, N2)  # fmt: skip
    e = (tl.arange(0, N1)[:, None] * N2 + tl.arange(0, N2)[None, :])[None]
    out = (d.to(tl.int64) * ROWS + kp[:, None, None]) * R + e
    keep = kp[:, None, None] < ROWS
    xr = xr * (sa * inv_n)
    xi = xi * (sa * inv_n)
    if KS:
        sk = _row_scales(xr, xi, ks_ptr, d.to(tl.int64) * ROWS + kp, kp < ROWS)
        xr = xr / sk
        xi = xi / sk
    tl.store(kfr_ptr + out, xr.to(kfr_ptr.dtype.element_ty), mask=keep)
    tl.store(kfi_ptr + out, xi.to(kfi_ptr.dtype.element_ty), mask=keep)


def _spectrum_parts(D: int, rows: int, n1: int, n2: int, device, fp16_rows: bool) -> tuple[torch.Tensor, ...]:
    """A filter spectrum's storage [D, rows, N1, N2]: (real, imaginary) in fp32, or with ``fp16_rows`` (real,
    imaginary) in fp16 and their scales per row [D, rows] (``_row_kernel``'s KS)."""
    kfr = torch.empty(D, rows, n1, n2, device=device, dtype=torch.float16 if fp16_rows else torch.float32)
    return (kfr, torch.empty_like(kfr), torch.empty(D, rows, device=device))[: 3 if fp16_rows else 2]


def hbm_spectrum(
    k: torch.Tensor, plan, delta=None, rows: int | None = None, precision: int = 1, fp16_rows=False
):
    """``_spectrum_kernel``'s (real, imaginary) [D, rows, N1, N2] (all P rows by default) of a dense plan of one
    column level: ``monarch_spectrum``'s result in one launch instead of an rfft, its padding and the gather.
    ``fp16_rows``: (real, imaginary, scales [D, rows]) instead, the parts in fp16 over a power of two per row
    (``_row_kernel``'s KS).
    ``monarch_spectrum`` takes it on fp16 operands for small plans (HBM_DIRECT_SPECTRUM_MAX,
    PASSES_SPECTRUM_TAPS there); DNACONV_HBM_SPECTRUM=direct (3xtf32) or =direct16 (fp16 operands) forces it.
    Rows of 4096 points per program on 8 warps: the sm_90 builds
    (``pipelines.kernel_regs.compile_sm90``) of rows of 1024, 2048, 4096 points (4, 2, 1 per program) spill
    nothing on fp16 operands (136, 164, 174 registers) and 0, 512, 896 bytes in 3xtf32; four rows of 2048 or
    4096 on 4 warps spilled 928-4,744 bytes."""
    (P,) = plan.cols
    n1, n2 = plan.n1, plan.n2
    rows = rows or P
    D, R = k.shape[0], n1 * n2
    parts = _spectrum_parts(D, rows, n1, n2, k.device, fp16_rows)
    fpr, fpi = _col_dft(P, k.device, 1)
    f1r, f1i, f2r, f2i, _, _, twr, twi = _dft_matrices(n1, n2, k.device, 1.0, precision)
    G = max(1, 4096 // R)
    _spectrum_kernel[(D, -(-rows // G))](
        k, delta.float().contiguous() if delta is not None else k, fpr, fpi, f1r, f1i, f2r, f2i, twr, twi,
        *parts[:2], plan.k_eff, k.stride(0), rows, -(-plan.k_eff // R), 1.0 / plan.n,
        P=P, G=G, N1=n1, N2=n2, HAS_DELTA=delta is not None, PRECISION=precision, num_warps=8,
        **(dict(KS=True, ks_ptr=parts[2]) if fp16_rows else {}),
    )  # fmt: skip
    return parts


def hbm_transform_spectrum(
    k: torch.Tensor,
    plan,
    delta=None,
    rows: int | None = None,
    precision: int = 2,
    half: bool = False,
    fp16_rows: bool = False,
):
    """``monarch_spectrum``'s result (real, imaginary) [D, rows, N1, N2] for a dense HBM plan (one or two
    column levels), through the forward convolution's own passes: the filter's taps (over N; ``delta`` at tap
    0 added to the spectrum as the constant it is) as one unpaired block per channel, the forward column
    passes (``_col_fwd_kernel``, fp32 intermediate), and the row pass's DFT alone (``_row_kernel``'s
    SPECTRUM), which stores each row's spectrum where the filter spectrum lives. The convolution's passes then
    meet the filter's spectrum in their own order by construction. Against the rfft, whose bins one kernel
    gathers into that order (``monarch._spectrum_kernel``): the gather from a spectrum of 2^21 points and more
    reads far-apart bins (H200, 2026-11-30, sixteenth session, torch.profiler, forward at 2 x 32 x 1M,
    full-length filter: the gather 1.626 ms and the rfft 0.75 ms of the call's 4.28). ``rows``: the first rows
    only (a HERM frame's, ``_Frame``); ``precision``: of the products (``dft._mm``): 1 = 3xtf32, 2 = fp16
    operands over powers of two; ``half``: a HERM frame's rows (those of the first column level's rows k_p <=
    P / 2) where fewer rows are asked or none, the kernels reading the others from their mirrors
    (``_filter_rows``): half the spectrum's work and memory, but the mirrored rows' loads are gathers (sm_90
    build of the row pass at rows of 1024: 92 load instructions against 44), and they cost more than the half
    spectrum saves. H200, 2026-11-30, forward ms, bf16 gated, half vs every row, interleaved
    (``h200_kernels.sh m16``): 2 x 128 x 256K 3.012 vs 2.737, 2 x 32 x 1M 3.046 vs 2.832, 2 x 8 x 4M 3.044 vs
    2.835, K = 64K at 1M x 64 1.524 vs 1.155, 4 x 256 x 64K 2.039 vs 1.486, 8 x 512 x 16K 1.708 vs 1.215;
    fwd+bwd 2 x 32 x 1M 9.691 vs 9.380, K = 64K 5.154 vs 4.527. So ``monarch_spectrum`` asks for it only with
    DNACONV_HBM_MIRROR=1. ``fp16_rows``: (real, imaginary, scales [D, rows]), the parts in fp16 over a power of two
    per row (``_row_kernel``'s KS), but not with FILL (its mirrored rows would need their scales too)."""
    D, n = k.shape[0], plan.n
    # the taps as given where they are fp32 and K' a row, else a copy: the 1/N scale and delta go into the row
    # pass's store (SPECTRUM's scale and DELTA), not into a scaled copy (a pass over the taps: 0.124 ms of a
    # 2.86 ms forward at 64 x 1M, H200, ``h200_kernels.sh p18``). Forward ms, the copy vs none, the best of
    # two alternating processes each (``x18``): one sequence 64 x 1M 2.827 vs 2.694, 2048 x 32K 1.992 vs
    # 1.867, 1024 x 64K 2.026 vs 1.896; 2 x 32 x 1M 2.477 vs 2.426, 4 x 256 x 64K 1.426 vs 1.387
    plain = k.dtype == torch.float32 and k.is_contiguous() and k.shape[1] == plan.k_eff
    taps = k if plain else k[:, : plan.k_eff].float().contiguous()
    delta = None if delta is None else delta.float().contiguous()
    G, warps, opts = _launch_shape(plan.n1, plan.n2, n // (plan.n1 * plan.n2), "rows")
    total = n // (plan.n1 * plan.n2)
    want = total if rows is None else rows
    # FILL (opt-in, DNACONV_HBM_SPECTRUM_FILL=1): every row wanted, from a HERM frame's, each computed row
    # stored again as its mirror's (``_row_kernel``'s FILL). Slower everywhere: H200, 2026-11-30, forward ms,
    # every row vs filled, interleaved (``h200_kernels.sh fill16``): 2 x 32 x 1M 2.838 vs 3.353, K = 64K at 1M
    # x 64 1.157 vs 1.336, 8 x 512 x 16K 1.216 vs 1.360; its mirrored stores cost more than the work they save
    # (CHANGES.md)
    fill = not half and os.environ.get("DNACONV_HBM_SPECTRUM_FILL") == "1"
    f = _Frame(plan, 1, D, taps.shape[1], herm=half or fill or rows is not None, group=G, km1=0)
    fill = fill and f.rows < want
    if not (half or fill) and f.rows < want:  # more rows than a HERM frame keeps: all of them
        f = _Frame(plan, 1, D, taps.shape[1], group=G, km1=0)
    x = f.buffers(k.device)
    _columns(f, x, taps.view(1, D, -1), None, None, precision)
    krows = total if fill else f.rows
    fp16_rows = fp16_rows and not fill
    parts = _spectrum_parts(D, krows, plan.n1, plan.n2, k.device, fp16_rows)
    where, cols = f.row_scale_args()
    p1 = plan.cols[0]
    _row_kernel[(f.n_seg * (f.rows // G),)](
        *x, *parts[:2], *_dft_matrices(plan.n1, plan.n2, k.device, 1.0, precision), x[0],
        x[0] if delta is None else delta, D, f.per, f.rows, f.rows // G, *where, krows, p1, total // p1,
        1.0 / n, G=G, N1=plan.n1, N2=plan.n2, M=plan.n2, PRECISION=precision, LAZY=_lazy(plan.n1, plan.n2),
        SPECTRUM=True, FILL=fill, DELTA=delta is not None, **cols, num_warps=warps, **opts,
        **(dict(KS=True, ks_ptr=parts[2]) if fp16_rows else {}),
    )  # fmt: skip
    if want < krows:
        parts = tuple(t[:, :want].contiguous() for t in parts)
    return parts


def _col_dft(p: int, device, precision: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """F_P (real, imaginary), stored as ``dft._matrix_dtype(precision)``."""
    dtype = _matrix_dtype(precision)
    key = (p, str(device), dtype)
    if key not in _COL_CACHE:
        _COL_CACHE[key] = tuple(x.to(dtype).contiguous().to(device) for x in _dft(p))
    return _COL_CACHE[key]


def _flip_matrices(n1: int, n2: int, device, precision: int) -> tuple[torch.Tensor, ...]:
    """``_row_kernel``'s FLIP matrices: F1, F2's columns and rows, the twiddles (as ``_dft_matrices``) and the
    inverse's F1, each stacked with its mirrored set [2, ...]: F1's columns and F2's columns reversed (the
    forward's outputs k1, k2 backwards), F2's rows, the twiddles' rows and the inverse's F1's rows reversed
    (the inverse's inputs backwards). Dense plans only."""
    key = ("flip", n1, n2, str(device), precision)
    if key not in _COL_CACHE:
        f1r, f1i, f2r, f2i, g2r, g2i, twr, twi = _dft_matrices(n1, n2, device, 1.0, precision)
        _COL_CACHE[key] = tuple(
            torch.stack((x, x.flip(axis))).contiguous()
            for x, axis in (
                (f1r, 1), (f1i, 1), (f2r, 1), (f2i, 1), (g2r, 0), (g2i, 0), (twr, 0), (twi, 0), (f1r, 0), (f1i, 0)
            )
        )  # fmt: skip
    return _COL_CACHE[key]


def _lazy(n1: int, n2: int) -> bool:
    """Whether a row pass over rows of n1 x n2 points loads each DFT matrix where it is used (LAZY, from L1
    and L2) rather than holding all ten in registers throughout: for rows of 4096 points, where the ten
    matrices (160 registers a thread in fp32 at 4 warps) left no room. sm_90 builds, bytes spilled, held vs
    lazy: the forward's row pass (one row, 4 warps) 864 vs 8, the dk pass 1,512 vs 920; at 2048 points the dk
    pass spills more lazy (192 vs 1,336). H200, 2026-11-29, the backward alone, bf16 gated, held vs lazy
    (``h200_kernels.sh lazy``): L = 2.3M x 32, K = 16K (rows of 4096) 3.865 vs 3.581 ms, K = 64K at 1M x 64
    5.305 vs 5.033; K = 8192 (rows of 2048) 2.189 vs 3.707. DNACONV_HBM_LAZY=0/1 overrides (sweeps)."""
    env = os.environ.get("DNACONV_HBM_LAZY")
    return n1 * n2 >= 4096 if env is None else env == "1"


def _col_columns(p: int, s: int, pair: bool = True) -> int:
    """Columns per column-pass program, at most S: 64 for passes of up to 32 points (H200 sweep of 2026-11-28,
    rows <= 4096 points: 2.87 ms at K = 16K, L = 2.3M vs 3.29 with 32 and 3.32 with 128; again on 2026-11-29
    with passes of 32, forward ms, 64 vs 32 vs 128, ``h200_kernels.sh cols7``: K = 16K 1.087, 1.404, 1.173, K =
    4096 0.900, 1.138, 0.980), 32 for passes of 64 (K = 64K at 1M x 64, a pass of 64: 1.479 vs 1.542 with 64,
    1.890 with 128) where segments are paired. Unpaired (one segment per channel), 64 there too: Triton 3.6
    miscompiles the last inverse pass of 64 points on 32 columns in fp16 (H200, 2026-11-29, thirteenth
    session, one sequence at L = 64K: compute-sanitizer, "Invalid __shared__ read of size 1024 bytes" at
    ``_store_out``'s store; with DNACONV_HBM_TRIG=precise no fault but a relative error of 0.82; right on 64
    columns, and with 3xtf32; ``dbg13``). DNACONV_HBM_COLS overrides."""
    return min(int(os.environ.get("DNACONV_HBM_COLS", 0)) or (32 if p >= 64 and pair else 64), s)


class _Frame:
    """The layout of one HBM convolution's intermediate: N-point blocks of C new outputs, segments (PAIR: two
    real segments of a channel per complex one, see ``_col_fwd_kernel``; HERM: half of one real segment's
    spectrum) and the column levels (R, P, S, G)."""

    def __init__(self, plan, B, D, L, dense=True, herm=False, group=1, km1=None):
        # km1 = 0: a block of the sequence's first n points (``hbm_transform_spectrum``: a filter's taps)
        self.n, self.km1 = plan.n, block_overlap(plan.n, plan.k_eff, L, dense) if km1 is None else km1
        self.group = group  # rows per row-pass program that a HERM frame's rows are a multiple of
        self.C = self.n - self.km1
        self.n_blocks = cdiv(L, self.C)
        # PAIR: two real segments of a channel per complex one, half the intermediate and half the programs of
        # every pass (the filter is real, so the real and imaginary parts of the result are the two
        # convolutions). H200, 2026-11-29, forward ms, bf16 gated, L = 2.3M x 32 channels, paired vs not,
        # interleaved (``h200_kernels.sh hbmpair``): K = 4096 1.216 vs 2.007, 8192 1.330 vs 2.166, 16K 1.494
        # vs 2.459; K = 64K at L = 1M x 64 3.104 vs 4.085; the streaming shape (128 channels x 73,727,
        # K = 8192) 0.359 vs 0.434. Nothing to pair for one segment per channel. DNACONV_HBM_PAIR=0 turns it
        # off (sweeps).
        self.pair = os.environ.get("DNACONV_HBM_PAIR") != "0" and B * self.n_blocks > 1
        self.n_pairs = cdiv(B * self.n_blocks, 2)
        self.n_seg = D * self.n_pairs if self.pair else B * D * self.n_blocks
        # segments per group of one filter (the row pass's channel of segment i: (i // per) % D)
        self.per = self.n_pairs if self.pair else self.n_blocks
        self.seg_args = (B * self.n_blocks, self.n_pairs)
        # HERM (where asked, dense, one unpaired segment: a full-length filter over one sequence): the input
        # and the result are real, so row P - k_p of the first column level holds the conjugate mirror of row
        # k_p (module doc). Only rows k_p <= P / 2 are stored, transformed and read back (and, with one column
        # level, up to a whole program of the row pass), about half the intermediate and the work, as PAIR
        # gives a batch. DNACONV_HBM_HERM=0 turns it off (sweeps).
        self.herm = herm and dense and not self.pair and os.environ.get("DNACONV_HBM_HERM") != "0"
        # rows of the first level kept (HERM: k_p <= P / 2, with one level up to a whole row-pass program of
        # ``group`` rows)
        p0, g = plan.cols[0], group if len(plan.cols) == 1 else 1
        self.r0 = cdiv(p0 // 2 + 1, g) * g if self.herm else p0
        if self.r0 >= p0:  # nothing saved (a pass of 16 and rows of 512, eight a program)
            self.herm, self.r0 = False, p0
        self.levels, R, S = [], 1, self.n
        for i, p in enumerate(plan.cols):  # R sub-problems of P x S points; the first level keeps r0 rows
            S //= p
            self.levels.append((R, p, S, _col_columns(p, S, self.pair)))
            R *= self.r0 if i == 0 else p
        self.seg_n = self.r0 * (self.n // plan.cols[0])  # points of a segment's intermediate
        self.rows = self.seg_n // (plan.n1 * plan.n2)

    def buffers(self, device, dtype=torch.float32):
        x = torch.empty(self.n_seg * self.seg_n, device=device, dtype=dtype)
        return x, torch.empty_like(x)

    def scales(self, device):
        """(cs, rs) of an fp16 intermediate (``_half_intermediate``): cs, each column level's scale per tile
        (its forward pass's; a middle inverse pass writes over its level's), rs, the row pass's per row."""
        cs = [
            torch.empty(self.n_seg * R * (S // G), device=device, dtype=torch.float32)
            for R, _, S, G in self.levels
        ]
        return cs, torch.empty(self.n_seg * self.rows, device=device, dtype=torch.float32)

    def row_scale_args(self) -> tuple[tuple, dict]:
        """The row pass's arguments locating the last column level's tile scales (``_row_kernel``'s n_sblk, RL,
        PL and COLS)."""
        R, p, S, G = self.levels[-1]
        return (S // G, R, p), dict(COLS=G)


def _live_rows(f: _Frame, lo: int, hi: int, inverse: bool = False) -> tuple[int, int]:
    """(P0, LIVE) of the first column level's passes (``_col_fwd_kernel``'s FIRST, ``_col_inv_kernel``'s
    LAST: ``inverse``) where a sequence is one block whose input, or whose outputs, lie at block positions lo
    ... hi - 1 only: rows P0 ... P0 + LIVE - 1 of its [P, S] view hold them, LIVE a power of two (at least 16,
    a product's least), (0, 0) where that is every row. A full-length filter's block holds the sequence in its
    second half (its outputs there too) and the filter's taps (``hbm_transform_spectrum``) in the first K'
    points: half the rows, or fewer, so these passes load and multiply only those. H200, 2026-11-30,
    seventeenth session, forward ms, bf16 gated, every row (DNACONV_HBM_LIVE=0) vs live rows, three rounds
    interleaved (``h200_kernels.sh l17``): 2 x 32 x 1M 2.848 vs 2.661, one sequence 64 x 1M 3.361 vs 3.169,
    16 x 4M 3.347 vs 3.163, 1024 x 64K 2.189 vs 2.022, 8 x 512 x 16K 1.219 vs 1.097, K = 64K at 1M x 64 (the
    spectrum's pass only) 1.158 vs 1.150; fwd+bwd 2 x 32 x 1M 9.401 vs 8.733, 64 x 1M 12.155 vs 11.507, 4 x
    256 x 64K 5.691 vs 5.494, 8 x 512 x 16K 4.330 vs 4.199. But the paired last pass of a column level of 64
    lost: 4 x 256 x 64K 1.489 vs 1.518 (forward), 2 x 8 x 4M 2.847 vs 2.828 only. Its product of 32 rows
    leaves the warpgroup MMA (which wants 64), and its sm_90 build takes 137 registers against 94 (64 x 32
    tiles, ``kernel_regs``); so that pass keeps every row. DNACONV_HBM_LIVE=0 takes every row everywhere,
    =all live rows there too (sweeps)."""
    _, p, S, _ = f.levels[0]
    env = os.environ.get("DNACONV_HBM_LIVE")
    if f.n_blocks != 1 or env == "0" or (inverse and f.pair and p >= 64 and env != "all"):
        return 0, 0
    first, last = lo // S, cdiv(min(hi, f.n), S)
    live = max(16, 1 << (last - first - 1).bit_length())
    return (min(first, p - live), live) if live < p else (0, 0)


def _columns(
    f: _Frame, x, u, pre_gate, history, prec, owned=False, rev=False, cs=None, anti=False, dpost=None
):
    """The forward column passes into x = (xr, xi); the first reads the gated input (``_col_fwd_kernel``: at
    the blocks' own outputs only where ``owned``, reversed in time where ``rev``, blocks that output their
    first C positions where ``anti``). ``cs``: an fp16 x, each level's tile scales (``_Frame.scales``,
    ``_half_intermediate``). ``dpost`` (z, out), for g = dy post of the direct backward: the first pass also
    writes out = dy z (``_load_g``)."""
    assert not anti or (history is None and not rev and f.n_blocks > 1)
    assert dpost is None or (history is None and not owned and not rev and (anti or f.n_blocks == 1))
    B, D, L = u.shape
    H = 0 if history is None else history.shape[-1]
    p0, live = _live_rows(f, f.km1 if owned or H == 0 else max(f.km1 - H, 0), f.km1 + L)
    for i, (R, p, S, G) in enumerate(f.levels):
        _, _, s_in, g_in = f.levels[max(i - 1, 0)]
        _col_fwd_kernel[(f.n_seg * R * (S // G),)](
            u, pre_gate if pre_gate is not None else u, history if history is not None else u, *x,
            *_col_dft(p, u.device, prec), *((cs[i], cs[max(i - 1, 0)]) if cs is not None else x),
            *(dpost if dpost is not None else (u, u)), D, L, H,
            f.C, f.km1, f.n_blocks, R, S, S // G, *f.seg_args, f.seg_n, f.r0, s_in // g_in, p0,
            P=p, G=G, FIRST=i == 0, HAS_PRE=pre_gate is not None, HAS_HIST=history is not None and H > 0,
            PRECISION=prec, PAIR=f.pair, OWNED=owned, REV=rev, FAST_TRIG=_fast_trig(),
            SCALED=cs is not None, SCALED_IN=cs is not None and i > 0, CIN=g_in, LIVE=live if i == 0 else 0,
            ANTI=anti and i == 0, DPOST=dpost is not None and i == 0, num_warps=4,
        )  # fmt: skip


def _inverse_columns(
    f: _Frame, x, u, bias, pre_gate, post_gate, y, z, prec, scales=None, grads=False, anti=False
):
    """The inverse column passes from x; the last writes y = post * (conv + bias v) (``_col_inv_kernel``).
    ``scales``: an fp16 x, (cs, rs) of ``_Frame.scales`` (``_half_intermediate``): the first pass reads the
    row pass's row scales, a later one the level after it's tile scales, which a middle pass writes.
    ``grads`` (the direct backward, ``monarch_hbm_bwd``): the result is dv; y = du = dv * pre and, with a
    pre-gate, z = d(pre) = dv * u (no bias, no post-gate); ``anti``: blocks that output their first C
    positions (``_col_fwd_kernel``)."""
    assert not grads or (bias is None and post_gate is None)
    assert not anti or f.n_blocks > 1
    B, D, L = u.shape
    n = len(f.levels)
    p0, live = _live_rows(f, f.km1, f.km1 + L, inverse=True)
    for i, (R, p, S, G) in reversed(list(enumerate(f.levels))):
        r_in, _, s_in, g_in = f.levels[min(i + 1, n - 1)]
        cs, rs = scales if scales is not None else ([x[0]] * n, x[0])
        mode = 0 if scales is None else 1 if i == n - 1 else 2
        _col_inv_kernel[(f.n_seg * R * (S // G),)](
            *x, *_col_dft(p, u.device, prec), u, pre_gate if pre_gate is not None else u,
            post_gate if post_gate is not None else u, bias if bias is not None else u, y,
            z if z is not None else u, rs, cs[min(i + 1, n - 1)] if mode == 2 else cs[i], D, L, f.C, f.km1,
            f.n_blocks, R, S, S // G, *f.seg_args, f.seg_n, f.rows, r_in, s_in, s_in // g_in, p0,
            P=p, G=G, LAST=i == 0, HAS_PRE=pre_gate is not None, HAS_POST=post_gate is not None,
            HAS_BIAS=bias is not None, PAIR=f.pair, STORE_Z=z is not None and i == 0 and not grads, PRECISION=prec,
            FAST_TRIG=_fast_trig(), HERM=f.herm and i == 0, SCALE_IN=mode, SCALE_OUT=scales is not None and i > 0,
            CIN=g_in, LIVE=live if i == 0 else 0, GRADS=grads and i == 0, ANTI=anti and i == 0, num_warps=4,
        )  # fmt: skip


def mirror_args(kf: torch.Tensor, f: _Frame, plan) -> tuple[int, int, int]:
    """(KROWS, P1, Q) of ``_filter_rows`` for a filter spectrum kf [D, KROWS, N1, M] read by frame f's row pass:
    fewer rows than f's must be a HERM frame's (``hbm_transform_spectrum``'s half)."""
    krows, p1 = kf.shape[1], plan.cols[0]
    q = plan.n // (p1 * plan.n1 * plan.n2)  # rows of the later level per row of the first
    if krows < f.rows and (krows % q or krows // q <= p1 // 2):
        raise ValueError(f"a spectrum of {krows} rows cannot stand for {f.rows} (P = {p1}, {q} rows each)")
    return krows, p1, q


def _flips(krows: int, f: _Frame, G: int, keep: bool, dense: bool) -> bool:
    """Whether the forward's row pass reads a filter spectrum of ``krows`` < f.rows rows (a HERM frame's,
    ``hbm_transform_spectrum``'s half) through FLIP (``_row_kernel``: programs past krows transform their rows
    backwards to meet their mirrors' stored order) rather than through MIRROR's gathers: where krows is a
    multiple of the G rows of a program, the plan is dense (``_flip_matrices`` are) and v's spectrum is not
    kept (KEEP stores it in the rows' order).
    Under DNACONV_HBM_FLIP=0 the forward computes every row (``monarch_spectrum``), and a spectrum of fewer
    rows given to it (DNACONV_HBM_MIRROR=1) is read through the gathers (sweeps)."""
    flip = krows < f.rows and krows % G == 0 and dense and not keep
    return flip and os.environ.get("DNACONV_HBM_FLIP") != "0"


def _half_intermediate(dtype: torch.dtype, plan) -> bool:
    """Whether an HBM convolution keeps its intermediate in fp16 (half the bytes of every pass over it): the
    forward's, and the HBM backward's two (g's and v's, ``monarch_hbm_bwd``), for half inputs through one
    column level. Each value is stored over a power of two, so that none overflows or loses
    its relative precision: the first column pass's over its tile's (a scale per P x COLS tile), the row
    pass's over the row's (one per row); the next kernel multiplies them back on loading. H200, 2026-11-29,
    fifteenth session, forward ms, bf16 gated, the fp32 intermediate vs an fp16 one without scales vs bf16
    (``h200_kernels.sh inter15``, three rounds interleaved): K = 16K at 2.3M x 32 0.893 vs 0.803 vs 0.806,
    K = 8192 0.792 vs 0.712 vs 0.711, K = 4096 0.722 vs 0.654, K = 1024 0.695 vs 0.631, full L = 16K (8 x
    512) 1.384 vs 1.272, full L = 4K (16 x 1024) 1.263 vs 1.146, full L = 64K (4 x 256) 2.138 vs 2.029, K =
    64K at 1M x 64 1.367 vs 1.293; errors 1.79e-3 vs 1.80e-3 vs 2.93e-3 (bf16's 8-bit mantissa: not taken).
    Kernels' GPU time at K = 16K (torch.profiler): the first column pass 0.245 vs 0.216 ms, the row pass 0.342
    vs 0.313, the last column pass 0.248 vs 0.230. With the scales (``t15``), fp32 vs fp16: K = 16K 0.868 vs
    0.822, full L = 16K 1.417 vs 1.318; the backward's (``t15b``, fwd+bwd) K = 16K 3.286 vs 3.120. Two column
    levels keep fp32: DNACONV_HBM_INTER=fp16 takes fp16 there too (the middle passes load the tile scales of
    the level before and store over their own), and lost everywhere it was timed: H200, 2026-11-30, sixteenth
    session, fp32 vs fp16, forward ms, interleaved (``h200_kernels.sh s16``), full-length filters 2 x 128 x
    256K 4.285 vs 4.460, 2 x 32 x 1M 4.387 vs 4.735, 2 x 8 x 4M 4.594 vs 4.995, one sequence 64 x 1M 5.568 vs
    6.054; fwd+bwd 2 x 32 x 1M 12.540 vs 13.318, K = 64K at 1M x 64 (its backward's two levels) 4.988 vs
    5.133; K = 64K's forward through two fp16 levels and rows of 1024 or 2048 instead of one level and rows of
    4096, 1.977 and 1.978 vs 1.342. Those passes are not bound by their bytes (``h200_kernels.sh k16``: the
    forward's time per output the same with the intermediate in L2 as through HBM); the scales' reductions
    and loads cost more than the bytes they save. DNACONV_HBM_INTER=fp32 keeps fp32 (sweeps)."""
    env = os.environ.get("DNACONV_HBM_INTER")
    levels = len(plan.cols) if env == "fp16" else 1  # two levels: opt-in (slower, above)
    return dtype != torch.float32 and env != "fp32" and len(plan.cols) <= levels


def _half_spectrum(dtype: torch.dtype, plan) -> bool:
    """Whether the HBM forward's filter spectrum, computed for itself (not kept for a backward) or cached
    (``fftconv_spectrum``), is stored in fp16 over a power of two per row (``_row_kernel``'s KS): half the
    bytes its producer writes and the row pass reads. For half inputs (the row pass's products take fp16
    operands anyway) through one column level (an fp16 intermediate, ``_half_intermediate``). H200,
    2026-11-30, twenty-third session, forward ms without gradients, fp16 vs fp32, bf16 gated, three rounds
    interleaved (``h200_kernels.sh x23``): full L = 4K (16 x 1024) 1.000 vs 1.034, 16K (8 x 512) 1.030 vs
    1.051, 64K (4 x 256) 1.291 vs 1.312, one sequence 1024 x 64K 1.872 vs 1.900; K = 64K at 1M x 64 1.056 vs
    1.084, K = 4096 0.660 vs 0.671; at 2.3M x 32 K = 16K 0.837 vs 0.856, K = 4096 0.677 vs 0.692, K = 512
    0.644 vs 0.651 (five rounds; three gave 0.775 vs 0.705); errors 1.77e-3 vs 1.76e-3 and alike. Through two
    column levels (an fp32 intermediate) it did not pay (five rounds): 2 x 32 x 1M 2.099 vs 2.095, one
    sequence 64 x 1M 2.727 vs 2.705, its producer's row pass 0.162 vs 0.152 and the convolution's 0.486 vs
    0.478 (torch.profiler). DNACONV_HBM_KF=fp32 keeps fp32 (sweeps)."""
    return dtype != torch.float32 and len(plan.cols) == 1 and os.environ.get("DNACONV_HBM_KF") != "fp32"


def _folds(bias, fraction=1.0) -> bool:
    """Whether the skip term of a dense convolution goes into the filter spectrum, conv(v, k) + bias v =
    conv(v, k + bias delta) (``monarch_spectrum``'s ``delta``), so that the last column pass does not read u
    and pre again to form it (a third of its bytes). Not for a frequency-sparse one (its low-pass would cut the
    skip term) nor with DNACONV_HBM_FOLD=0 (sweeps)."""
    return bias is not None and fraction == 1 and os.environ.get("DNACONV_HBM_FOLD") != "0"


def _forward_frame(plan, B: int, D: int, L: int, fraction: float = 1.0) -> _Frame:
    """``hbm_fftconv_fwd``'s frame: its ``rows`` are those of the filter spectrum its row pass reads."""
    G = _launch_shape(plan.n1, plan.n2, plan.n // (plan.n1 * plan.n2), "rows")[0]
    return _Frame(plan, B, D, L, dense=fraction == 1, herm=True, group=G)


def hbm_fftconv_fwd(
    u,
    k,
    bias=None,
    pre_gate=None,
    post_gate=None,
    history=None,
    spectrum=None,
    fraction=1.0,
    plan=None,
    z=None,
    keep_v=None,
):
    """Forward of the causal convolution (the op of ``naive_fftconv``) through HBM; see the module doc.
    ``z``, where given, receives the convolution before the post-gate. ``keep_v`` (bytes, or None): also
    return the gated input's spectrum, as the row pass computes it, for the direct backward's dk
    (``monarch_hbm_bwd``, its ``v_spectrum``), where the sequence is one block, without history, and the
    spectrum takes at most ``keep_v`` bytes; returns (y, (vr, vi, vs, rows) or None) then."""
    B, D, L = u.shape
    H = 0 if history is None else history.shape[-1]
    plan = plan or hbm_plan(L, k.shape[-1], H, fraction)
    if plan is None:
        raise ValueError(f"no HBM FFT plan for L = {L}, K = {k.shape[-1]} (N > 2^24)")
    G, warps, opts = _launch_shape(plan.n1, plan.n2, plan.n // (plan.n1 * plan.n2), "rows")
    f = _forward_frame(plan, B, D, L, fraction)
    prec = _precision(u.dtype)
    kept = None
    # v's spectrum over a scale per row: fp16 with fp16 operands (its values at most N1 N2, ``_keep_rows``),
    # whatever the intermediate's dtype
    if keep_v is not None and f.n_blocks == 1 and H == 0 and fraction == 1:
        vdtype = torch.float16 if prec == 2 else torch.float32
        if f.n_seg * f.seg_n * 2 * vdtype.itemsize + 4 * f.n_seg * f.rows <= keep_v:
            kept = (*f.buffers(u.device, vdtype), torch.empty(f.n_seg * f.rows, device=u.device), f.rows)
    if spectrum is None:
        fold = _folds(bias, fraction)
        # KEEP stores the rows' spectra in their own order: no FLIP there
        spectrum = monarch_spectrum(
            k, plan, fraction, bias if fold else None, f.rows, prec, half=True, flip=kept is None,
            fp16_rows=_half_spectrum(u.dtype, plan),
        )  # fmt: skip
        bias = None if fold else bias
    # a HERM frame given more rows (a cached spectrum) reads its own: KROWS is the stride; ks: an fp16 one's scales
    kfr, kfi, *ks = spectrum
    flip = _flips(kfr.shape[1], f, G, kept is not None, fraction == 1)
    half = _half_intermediate(u.dtype, plan)
    x = f.buffers(u.device, torch.float16 if half else torch.float32)
    cs, rs = f.scales(u.device) if half else (None, None)
    _columns(f, x, u, pre_gate, history, prec, cs=cs)
    where, cols = f.row_scale_args()
    if flip:
        *mats, e1r, e1i = _flip_matrices(plan.n1, plan.n2, u.device, prec)
    else:
        mats, e1r, e1i = _dft_matrices(plan.n1, plan.n2, u.device, fraction, prec), None, None
    _row_kernel[(f.n_seg * (f.rows // G),)](
        *x, kfr, kfi, *mats, *((cs[-1], rs) if half else x), D, f.per, f.rows, f.rows // G, *where,
        *mirror_args(kfr, f, plan), 1.0, G=G, N1=plan.n1, N2=plan.n2, M=kfr.shape[-1], PRECISION=prec,
        LAZY=_lazy(plan.n1, plan.n2), SCALED=half, MIRROR=kfr.shape[1] < f.rows and not flip, **cols,
        num_warps=warps, **opts, **(dict(KEEP=True, vr_ptr=kept[0], vi_ptr=kept[1], vs_ptr=kept[2]) if kept else {}),
        **(dict(FLIP=True, e1r_ptr=e1r, e1i_ptr=e1i) if flip else {}), **(dict(KS=True, ks_ptr=ks[0]) if ks else {}),
    )  # fmt: skip
    y = torch.empty_like(u)
    _inverse_columns(f, x, u, bias, pre_gate, post_gate, y, z, prec, (cs, rs) if half else None)
    return y if keep_v is None else (y, kept)
