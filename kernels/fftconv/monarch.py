"""FlashFFTConv-style fused FFT convolution in Triton: a Monarch (two-level Cooley-Tukey) FFT done as matrix
multiplies on tensor cores, fused with the gates, the filter product, the inverse FFT and the skip term.

One program handles one (batch, channel, block) segment of N = N1 * N2 points entirely on chip:

    A[n1, n2] = x[N2 n1 + n2]                        load (gated input, history before the sequence start)
    B = F1 A ;  C = B o T ;  X = C F2                X[k1, k2] is frequency k1 + N1 k2 (F = DFT, T = twiddles)
    Y = X o Kf                                       the filter spectrum is stored in the same permuted order
    C' = Y conj(F2) ;  B' = C' o conj(T) ;  y = Re(conj(F1) B')
    out = post * (y + bias * x)                      store the valid (non-wrapped) positions

Partial convolutions (filter length K shorter than L) are blocked overlap-save: block j computes outputs
[jC, jC + C) from the N = C + K - 1 inputs before them, so the FFT size depends on K, not on L. The same
frame serves the streaming runner: positions before the sequence start are read from ``history``.

Backward (``_fftconv_bwd_kernel``): with g = dy * post, d(post) = dy * z with z the convolution before the
post-gate, stored by the forward (SAVEZ) or recomputed; dv is the correlation of g with k (an anti-causal
frame: block j reads g[jC, jC + N)); dk collects sum_t g[t] v[t - s] per program in fp32, summed over programs
on the host. The backward picks its own FFT size (``plan.monarch_plan(kind="backward")``); at N = 4096 it runs
as two launches (``plan.split_backward``) for long sequences. ``plan.backward_kind`` says which backward runs:
this one, the HBM one (``monarch_hbm_bwd.hbm_fftconv_bwd``) or the torch.fft reference's autograd.

``_fftconv_fwd_pair_kernel`` packs two segments of a channel into one complex transform (they share the filter,
so the real and imaginary parts of the result are the two convolutions); it measured slower on the H200
(register pressure), so it runs only with DNACONV_MONARCH_PAIR=1.

Sequences of fewer blocks than a program's segments share programs with the other sequences of their channel
(ACROSS), and a sequence that fits the last half of one block is framed there, so that the first forward
product and the last inverse product run on half tiles (HALF): full-length filters at L <= 2K.

Frequency-sparse convolutions (``fraction`` < 1, see ``plan.py``) keep only the lowest columns k2 of the
spectrum: F2 is cut to those columns (forward) and rows (inverse), which skips the rest of the stage-2 products.
They are forward-only kernels; gradients run the torch.fft reference of the same op.

DFT products use fp16 operands with fp32 accumulation for half-precision inputs (each tile scaled by a power of
two), or 3xtf32 for fp32 inputs.
"""

from __future__ import annotations

import contextlib
import os

import torch
import triton
import triton.language as tl

from dnaconv.kernels.fftconv.dft import (
    _conv_tile,
    _dft_matrices,
    _forward_dft,
    _forward_dft_complex,
    _inverse_dft_complex,
    _inverse_dft_real,
    _load_dft,
    _load_f1,
    _load_f2,
    _load_gated,
    _load_twiddles,
    _op,
    _scale,
)
from dnaconv.kernels.fftconv.naive import fft_size
from dnaconv.kernels.fftconv.plan import (
    MAX_BWD_FFT_SIZE,
    MAX_FFT_SIZE,
    MIN_FFT_SIZE,
    FFTPlan,
    backward_route,
    block_overlap,
    cdiv,
    fft_plan,
    freq_order,
    half_tiles_max,
    kept_columns,
    monarch_plan,
    split_backward,
)

__all__ = ["monarch_fftconv", "monarch_plan", "MAX_FFT_SIZE", "MAX_BWD_FFT_SIZE", "MIN_FFT_SIZE"]


# ------------------------------------------------------------------------------------------------------
# Triton kernels
# ------------------------------------------------------------------------------------------------------


@triton.jit
def _times_again(v, u_row, pre_row, hist_row, start, KM1, L, H,
                 N1: tl.constexpr, N2: tl.constexpr,
                 HAS_PRE: tl.constexpr, HAS_HIST: tl.constexpr, HAS_BIAS: tl.constexpr):  # fmt: skip
    """The segment positions m, the times t and (for the skip term) v of a causal-frame program (segments
    starting at ``start`` [G, 1, 1]), computed and loaded (from L1/L2) again after the transforms instead of held
    across them; computed in another order than the first time, so that the compiler does not merge the two
    and keep them live after all."""
    m = tl.arange(0, N2)[None, None, :] + tl.arange(0, N1)[None, :, None] * N2
    t = m + (start - KM1)
    if HAS_BIAS:
        v = _load_gated(u_row, pre_row, hist_row, t, L, H, HAS_PRE, HAS_HIST)
    return m, t, v


@triton.jit
def _store_du(dv, u_ptr, pre_ptr, du_ptr, dpre_ptr, row, t, mask, HAS_PRE: tl.constexpr):
    """From dv, the gradient of the gated input v = u * pre at times t of a row: du = dv * pre and d(pre) =
    dv * u."""
    if HAS_PRE:
        u = tl.load(u_ptr + row + t, mask=mask, other=0.0).to(tl.float32)
        p = tl.load(pre_ptr + row + t, mask=mask, other=0.0).to(tl.float32)
        tl.store(dpre_ptr + row + t, (dv * u).to(dpre_ptr.dtype.element_ty), mask=mask)
        dv = dv * p
    tl.store(du_ptr + row + t, dv.to(du_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _segments(q, d, D, L, n_blocks, NQ, C, KM1):
    """Segment q (= b * n_blocks + block) of channel d: its row b * D + d and its first position's time plus
    KM1 (its times are start + m - KM1); segments past the last (q >= NQ) start so late that all their times
    are >= L, and their loads and stores are masked off."""
    return (q // n_blocks) * D + d, tl.where(q < NQ, (q % n_blocks) * C, L + KM1)


@triton.jit
def _fftconv_fwd_kernel(
    u_ptr, pre_ptr, post_ptr, hist_ptr, bias_ptr, kfr_ptr, kfi_ptr,
    f1r_ptr, f1i_ptr, f2r_ptr, f2i_ptr, g2r_ptr, g2i_ptr, twr_ptr, twi_ptr, y_ptr, z_ptr,
    D, L, H, C, KM1, n_groups, n_blocks, NQ,
    G: tl.constexpr, N1: tl.constexpr, N2: tl.constexpr, M: tl.constexpr,
    HAS_PRE: tl.constexpr, HAS_POST: tl.constexpr, HAS_HIST: tl.constexpr, HAS_BIAS: tl.constexpr,
    PRECISION: tl.constexpr, HOLD: tl.constexpr, HALF: tl.constexpr, ACROSS: tl.constexpr,
    STORE_Z: tl.constexpr = False,
):  # fmt: skip
    # One flat grid axis (the others stop at 65535)
    if ACROSS:
        # program = d * n_groups + group: G segments q of channel d over all its NQ = B x n_blocks segments
        # (batch q // n_blocks, block q % n_blocks), so that short sequences fill a program too
        d = tl.program_id(0) // n_groups
        q = (tl.program_id(0) % n_groups) * G + tl.arange(0, G)[:, None, None]
        bd, start = _segments(q, d, D, L, n_blocks, NQ, C, KM1)  # [G, 1, 1]
        row = bd.to(tl.int64) * L
        hrow = bd.to(tl.int64) * H
    else:
        # program = (b * D + d) * n_groups + group of G blocks
        pid = tl.program_id(0) // n_groups  # b * D + d
        grp = tl.program_id(0) % n_groups
        d = pid % D
        row = pid.to(tl.int64) * L  # int64: B * D * L may pass 2^31
        hrow = pid.to(tl.int64) * H
        start = (grp * G + tl.arange(0, G)[:, None, None]) * C
    if HALF:
        # One block per sequence, no history, framed (KM1 = N / 2) so that its inputs and outputs lie in the
        # last N1 / 2 rows: the first rows are zero, and both stage-1 products run on half tiles.
        tl.static_assert(HOLD)
        R1: tl.constexpr = N1 // 2
        r1 = R1 + tl.arange(0, R1)
    else:
        R1: tl.constexpr = N1
        r1 = tl.arange(0, N1)
    m = r1[None, :, None] * N2 + tl.arange(0, N2)[None, None, :]  # position in a segment
    t = start + m - KM1  # [G, R1, N2] times (< 0: history)
    v = _load_gated(u_ptr + row, pre_ptr + row, hist_ptr + hrow, t, L, H, HAS_PRE, HAS_HIST)

    f1r, f1i, f2r, f2i, g2r, g2i, tr, ti, ttr, tti = _load_dft(
        f1r_ptr, f1i_ptr, f2r_ptr, f2i_ptr, g2r_ptr, g2i_ptr, twr_ptr, twi_ptr, N1, N2, M
    )
    # filter spectrum [D, N1, M] (the kept columns), scaled by 1/N; loaded 3-D, in the layout it is used in
    kf = d.to(tl.int64) * (N1 * M) + tl.arange(0, N1)[None, :, None] * M + tl.arange(0, M)[None, None, :]
    if HALF:  # F1's last rows (forward) and columns (inverse); F1 is symmetric
        a1 = tl.arange(0, N1)
        y = _conv_tile(v, tl.load(kfr_ptr + kf), tl.load(kfi_ptr + kf),
                       tl.load(f1r_ptr + r1[:, None] * N1 + a1[None, :]), tl.load(f1i_ptr + r1[:, None] * N1 + a1[None, :]),
                       f2r, f2i, g2r, g2i, tr, ti, ttr, tti, G, N1, N2, PRECISION, M,
                       tl.load(f1r_ptr + a1[:, None] * N1 + r1[None, :]), tl.load(f1i_ptr + a1[:, None] * N1 + r1[None, :]))  # fmt: skip
    else:
        y = _conv_tile(v, tl.load(kfr_ptr + kf), tl.load(kfi_ptr + kf),
                       f1r, f1i, f2r, f2i, g2r, g2i, tr, ti, ttr, tti, G, N1, N2, PRECISION, M)  # fmt: skip
    if not HOLD:  # large programs: holding them across the transforms costs two tiles of registers
        m, t, v = _times_again(v, u_ptr + row, pre_ptr + row, hist_ptr + hrow, start, KM1, L, H,
                               N1, N2, HAS_PRE, HAS_HIST, HAS_BIAS)  # fmt: skip
    valid = (m >= KM1) & (t < L)
    if HAS_BIAS:
        y += tl.load(bias_ptr + d).to(tl.float32) * v
    if STORE_Z:  # z = conv + bias * v, kept for the backward's d(post) (SAVEZ, see the launcher)
        tl.store(z_ptr + row + t, y.to(z_ptr.dtype.element_ty), mask=valid)
    if HAS_POST:
        y = y * tl.load(post_ptr + row + t, mask=valid, other=0.0).to(tl.float32)
    tl.store(y_ptr + row + t, y.to(y_ptr.dtype.element_ty), mask=valid)


@triton.jit
def _fftconv_fwd_pair_kernel(
    u_ptr, pre_ptr, post_ptr, hist_ptr, bias_ptr, kfr_ptr, kfi_ptr,
    f1r_ptr, f1i_ptr, f2r_ptr, f2i_ptr, g2r_ptr, g2i_ptr, twr_ptr, twi_ptr, y_ptr,
    D, L, H, C, KM1, n_blocks, NQ, n_groups,
    G: tl.constexpr, N1: tl.constexpr, N2: tl.constexpr, M: tl.constexpr,
    HAS_PRE: tl.constexpr, HAS_POST: tl.constexpr, HAS_HIST: tl.constexpr, HAS_BIAS: tl.constexpr,
    PRECISION: tl.constexpr,
):  # fmt: skip
    """The forward with two real segments per complex transform: all B x n_blocks segments of channel d share
    its filter, so segments q (real part) and q + G (imaginary part) go through one complex DFT, the filter
    product and one complex inverse, whose real and imaginary parts are the two convolutions."""
    d = tl.program_id(0) // n_groups
    grp = tl.program_id(0) % n_groups
    m = tl.arange(0, N1)[None, :, None] * N2 + tl.arange(0, N2)[None, None, :]
    q = grp * (2 * G) + tl.arange(0, G)[:, None, None]
    bd_a, start_a = _segments(q, d, D, L, n_blocks, NQ, C, KM1)
    bd_b, start_b = _segments(q + G, d, D, L, n_blocks, NQ, C, KM1)
    t_a = start_a + m - KM1
    t_b = start_b + m - KM1
    row_a = bd_a.to(tl.int64) * L
    row_b = bd_b.to(tl.int64) * L
    va = _load_gated(
        u_ptr + row_a, pre_ptr + row_a, hist_ptr + bd_a.to(tl.int64) * H, t_a, L, H, HAS_PRE, HAS_HIST
    )
    vb = _load_gated(
        u_ptr + row_b, pre_ptr + row_b, hist_ptr + bd_b.to(tl.int64) * H, t_b, L, H, HAS_PRE, HAS_HIST
    )
    f1r, f1i, f2r, f2i, g2r, g2i, tr, ti, ttr, tti = _load_dft(
        f1r_ptr, f1i_ptr, f2r_ptr, f2i_ptr, g2r_ptr, g2i_ptr, twr_ptr, twi_ptr, N1, N2, M
    )
    kf = d.to(tl.int64) * (N1 * M) + tl.arange(0, N1)[None, :, None] * M + tl.arange(0, M)[None, None, :]
    kr = tl.load(kfr_ptr + kf)
    ki = tl.load(kfi_ptr + kf)
    sv = tl.maximum(_scale(va, PRECISION), _scale(vb, PRECISION))
    xr, xi = _forward_dft_complex(va / sv, vb / sv, f1r, f1i, f2r, f2i, ttr, tti, G, N1, N2, PRECISION, M)
    yr = xr * kr - xi * ki
    yi = xr * ki + xi * kr
    sy = _scale(tl.maximum(tl.abs(yr), tl.abs(yi)), PRECISION)
    ya, yb = _inverse_dft_complex(yr / sy, yi / sy, f1r, f1i, g2r, g2i, tr, ti, G, N1, N2, PRECISION, M)
    s = sv * sy
    ya = ya * s
    yb = yb * s
    if HAS_BIAS:
        bias = tl.load(bias_ptr + d).to(tl.float32)
        ya += bias * va
        yb += bias * vb
    ok_a = (m >= KM1) & (t_a < L)
    ok_b = (m >= KM1) & (t_b < L)
    if HAS_POST:
        ya = ya * tl.load(post_ptr + row_a + t_a, mask=ok_a, other=0.0).to(tl.float32)
        yb = yb * tl.load(post_ptr + row_b + t_b, mask=ok_b, other=0.0).to(tl.float32)
    tl.store(y_ptr + row_a + t_a, ya.to(y_ptr.dtype.element_ty), mask=ok_a)
    tl.store(y_ptr + row_b + t_b, yb.to(y_ptr.dtype.element_ty), mask=ok_b)


@triton.jit
def _fftconv_bwd_kernel(
    dy_ptr, u_ptr, pre_ptr, post_ptr, hist_ptr, bias_ptr, kfr_ptr, kfi_ptr,
    f1r_ptr, f1i_ptr, f2r_ptr, f2i_ptr, g2r_ptr, g2i_ptr, twr_ptr, twi_ptr,
    du_ptr, dpre_ptr, dpost_ptr, dbias_ptr, dk_ptr, z_ptr,
    D, L, H, C, KM1, K, n_groups, n_blocks, NQ,
    G: tl.constexpr, N1: tl.constexpr, N2: tl.constexpr,
    HAS_PRE: tl.constexpr, HAS_POST: tl.constexpr, HAS_HIST: tl.constexpr, HAS_BIAS: tl.constexpr,
    PRECISION: tl.constexpr, HOLD: tl.constexpr, ACROSS: tl.constexpr, PART: tl.constexpr = 0,
    HAS_Z: tl.constexpr = False, HALF: tl.constexpr = False,
):  # fmt: skip
    # PART 0: the whole backward; 1: its causal frame (d(post), d(bias), dk); 2: its anti-causal frame (du,
    # d(pre)). Programs as the forward's: G blocks of one sequence, or (ACROSS) G segments of channel d's sequences.
    # HAS_Z: z (the convolution before the post-gate) comes from the forward; else it is recomputed here.
    # HALF: one block per sequence without history, framed as the forward's HALF (KM1 = N / 2): the causal
    # frame's v and g lie in the last N1 / 2 rows, the anti-causal frame's g and dv and dk's lags (< K <= N / 2)
    # in the first, so every transform runs on half tiles at one end (F1's rows or columns of those rows).
    grp = tl.program_id(0) % n_groups
    if ACROSS:
        d = tl.program_id(0) // n_groups
        bd, start = _segments(grp * G + tl.arange(0, G)[:, None, None], d, D, L, n_blocks, NQ, C, KM1)
    else:
        bd = tl.program_id(0) // n_groups  # b * D + d
        d = bd % D
        start = (grp * G + tl.arange(0, G)[:, None, None]) * C  # [G, 1, 1] first output of each block
    row = bd.to(tl.int64) * L
    hrow = bd.to(tl.int64) * H
    a1 = tl.arange(0, N1)
    a2 = tl.arange(0, N2)
    if HALF:
        tl.static_assert(HOLD)
        R1: tl.constexpr = N1 // 2
        rc = R1 + tl.arange(0, R1)  # the causal frame's rows
        ra = tl.arange(0, R1)  # the anti-causal frame's rows, and dk's lags
    else:
        rc = a1
        ra = a1
    mf = a1[None, :, None] * N2 + a2[None, None, :]  # spectrum index (frequency order: all rows)
    m = rc[None, :, None] * N2 + a2[None, None, :]
    f1r, f1i, f2r, f2i, g2r, g2i, tr, ti, ttr, tti = _load_dft(
        f1r_ptr, f1i_ptr, f2r_ptr, f2i_ptr, g2r_ptr, g2i_ptr, twr_ptr, twi_ptr, N1, N2, N2
    )
    if HALF:  # F1 is symmetric: its rows r (forward over those time rows) and columns r (inverse onto them)
        fcr, fci = (
            tl.load(f1r_ptr + rc[:, None] * N1 + a1[None, :]),
            tl.load(f1i_ptr + rc[:, None] * N1 + a1[None, :]),
        )
        ear, eai = (
            tl.load(f1r_ptr + a1[:, None] * N1 + ra[None, :]),
            tl.load(f1i_ptr + a1[:, None] * N1 + ra[None, :]),
        )
    else:
        fcr, fci, ear, eai = f1r, f1i, f1r, f1i

    if PART != 2:
        # Causal frame (as the forward): the block owns outputs t = start + m - KM1 for m >= KM1.
        t = start + m - KM1
        v = _load_gated(u_ptr + row, pre_ptr + row, hist_ptr + hrow, t, L, H, HAS_PRE, HAS_HIST)
        # V, the spectrum of the frame's v, serves both the recomputed convolution (for d(post)) and dk's
        # correlation: one transform fewer than computing it for each.
        sv = _scale(v, PRECISION)
        vr, vi = _forward_dft(v / sv, fcr, fci, f2r, f2i, ttr, tti, G, N1, N2, PRECISION, N2)
        if HAS_POST and not HAS_Z:
            kf = d.to(tl.int64) * (N1 * N2) + mf
            kr, ki = tl.load(kfr_ptr + kf), tl.load(kfi_ptr + kf)
            yr = vr * kr - vi * ki
            yi = vr * ki + vi * kr
        vr = _op(vr, PRECISION)  # held until the correlation: in fp16 for fp16 products (|V| <= N fits)
        vi = _op(vi, PRECISION)
        if HAS_POST and not HAS_Z:
            # d(post) = dy * (conv + bias * v)
            sy = _scale(tl.maximum(tl.abs(yr), tl.abs(yi)), PRECISION)
            if HALF:
                e1r = tl.load(f1r_ptr + a1[:, None] * N1 + rc[None, :])
                e1i = tl.load(f1i_ptr + a1[:, None] * N1 + rc[None, :])
                z = _inverse_dft_real(yr / sy, yi / sy, e1r, e1i, g2r, g2i, tr, ti, G, N1, N2, PRECISION, N2)
            else:
                z = _inverse_dft_real(yr / sy, yi / sy, f1r, f1i, g2r, g2i, tr, ti, G, N1, N2, PRECISION, N2)
            z = z * (sv * sy)
        if not HOLD:
            m, t, v = _times_again(v, u_ptr + row, pre_ptr + row, hist_ptr + hrow, start, KM1, L, H,
                                   N1, N2, HAS_PRE, HAS_HIST, HAS_BIAS)  # fmt: skip
        own = (m >= KM1) & (t < L)
        g = tl.load(dy_ptr + row + t, mask=own, other=0.0).to(tl.float32)
        if HAS_POST:
            if HAS_Z:
                z = tl.load(z_ptr + row + t, mask=own, other=0.0).to(tl.float32)
            elif HAS_BIAS:
                z += tl.load(bias_ptr + d).to(tl.float32) * v
            tl.store(dpost_ptr + row + t, (g * z).to(dpost_ptr.dtype.element_ty), mask=own)
            g = g * tl.load(post_ptr + row + t, mask=own, other=0.0).to(tl.float32)
        if HAS_BIAS:  # per-program partial sums, reduced on the host (atomics on D addresses serialise)
            tl.store(dbias_ptr + tl.program_id(0), tl.sum(tl.sum(tl.sum(g * v, axis=2), axis=1), axis=0))
        # dk[s] = sum_t g[t] v[t - s]: circular correlation conj(V) G of the owned g with the frame's v, lags m < K.
        # Unscaled inverse (1/N on the host); fp16 operands are scaled like in _conv_tile.
        sg = _scale(g, PRECISION)
        gr, gi = _forward_dft(g / sg, fcr, fci, f2r, f2i, ttr, tti, G, N1, N2, PRECISION, N2)
        vr = vr.to(tl.float32)
        vi = vi.to(tl.float32)
        pr = vr * gr + vi * gi
        pi = vr * gi - vi * gr
        sp = _scale(tl.maximum(tl.abs(pr), tl.abs(pi)), PRECISION)
        corr = _inverse_dft_real(pr / sp, pi / sp, ear, eai, g2r, g2i, tr, ti, G, N1, N2, PRECISION, N2)
        corr = tl.sum(corr, axis=0) * (sv * sg * sp)  # [rows, N2]: the G blocks' contributions
        mm = ra[:, None] * N2 + a2[None, :]
        tl.store(dk_ptr + tl.program_id(0).to(tl.int64) * K + mm, corr, mask=mm < K)  # partial, [programs, K]

    if PART != 1:
        # Anti-causal frame for dv[t] = sum_s k[s] g[t + s]: the block reads g at t = start + m (all m) and owns
        # outputs m < C. G * conj(Kf) is the correlation with the filter.
        t2 = start + ra[None, :, None] * N2 + a2[None, None, :]
        g2 = tl.load(dy_ptr + row + t2, mask=t2 < L, other=0.0).to(tl.float32)
        if HAS_POST:
            g2 = g2 * tl.load(post_ptr + row + t2, mask=t2 < L, other=0.0).to(tl.float32)
        kf = mf + d.to(tl.int64) * (N1 * N2)  # (not merged with the kf above: see the end of the forward)
        kr, ki = tl.load(kfr_ptr + kf), tl.load(kfi_ptr + kf)
        if HALF:  # g2 in the first rows: F1's first rows forward, its first columns back
            dv = _conv_tile(g2, kr, -ki, tl.trans(ear), tl.trans(eai), f2r, f2i, g2r, g2i, tr, ti, ttr, tti,
                            G, N1, N2, PRECISION, N2, ear, eai)  # fmt: skip
        else:
            dv = _conv_tile(
                g2, kr, -ki, f1r, f1i, f2r, f2i, g2r, g2i, tr, ti, ttr, tti, G, N1, N2, PRECISION, N2
            )
        # positions and g computed and loaded again rather than held across the transforms (registers)
        m = a2[None, None, :] + ra[None, :, None] * N2
        if ACROSS:
            t2 = m + _segments(grp * G + tl.arange(0, G)[:, None, None], d, D, L, n_blocks, NQ, C, KM1)[1]
        else:
            t2 = m + (grp * G + tl.arange(0, G)[:, None, None]) * C
        own2 = (m < C) & (t2 < L)
        if HAS_BIAS:
            g2 = tl.load(dy_ptr + row + t2, mask=own2, other=0.0).to(tl.float32)
            if HAS_POST:
                g2 = g2 * tl.load(post_ptr + row + t2, mask=own2, other=0.0).to(tl.float32)
            dv += tl.load(bias_ptr + d).to(tl.float32) * g2
        _store_du(dv, u_ptr, pre_ptr, du_ptr, dpre_ptr, row, t2, own2, HAS_PRE)


# ------------------------------------------------------------------------------------------------------
# Launchers
# ------------------------------------------------------------------------------------------------------


_ORDER_CACHE: dict = {}


def _spectrum_index(plan: FFTPlan, fraction: float, device) -> tuple[torch.Tensor, ...]:
    """For each stored spectrum entry [rows, n1, M]: its rfft bin min(f, N - f), and the factors for its real
    and imaginary parts (-1 on the imaginary part where f > N / 2: the conjugate; 0 for the one kept-column
    frequency N - f N / 2 outside |k| < f N / 2, see plan.py). Cached per (plan, fraction, device)."""
    key = (plan, fraction, str(device))
    if key not in _ORDER_CACHE:
        n = plan.n
        f = freq_order(plan).view(-1, plan.n1, plan.n2)[..., kept_columns(plan.n2, fraction)].reshape(-1)
        upper = f > n // 2
        keep = torch.ones(f.shape) if fraction == 1 else (torch.minimum(f, n - f) < fraction * n / 2).float()
        idx = torch.where(upper, n - f, f)
        _ORDER_CACHE[key] = tuple(x.to(device) for x in (idx, keep / n, keep * (1 - 2 * upper.float()) / n))
    return _ORDER_CACHE[key]


@triton.jit
def _spectrum_kernel(kf_ptr, idx_ptr, wr_ptr, wi_ptr, delta_ptr, kfr_ptr, kfi_ptr, E, NB,
                     HAS_DELTA: tl.constexpr, BLOCK: tl.constexpr):  # fmt: skip
    """BLOCK entries of row d of a filter spectrum in the kernels' storage order: entry e is rfft bin idx[e] of
    the filter (kf: NB bins a row, real and imaginary parts interleaved), its real part (plus delta[d]) times
    wr[e] and its imaginary part times wi[e] (``_spectrum_index``)."""
    d = tl.program_id(0)
    e = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    m = e < E
    src = kf_ptr + d.to(tl.int64) * (2 * NB) + 2 * tl.load(idx_ptr + e, mask=m, other=0)
    re = tl.load(src, mask=m, other=0.0)
    im = tl.load(src + 1, mask=m, other=0.0)
    if HAS_DELTA:
        re += tl.load(delta_ptr + d)
    out = d.to(tl.int64) * E + e
    tl.store(kfr_ptr + out, re * tl.load(wr_ptr + e, mask=m, other=0.0), mask=m)
    tl.store(kfi_ptr + out, im * tl.load(wi_ptr + e, mask=m, other=0.0), mask=m)


@triton.jit
def _direct_spectrum_kernel(k_ptr, f1r_ptr, f1i_ptr, f2r_ptr, f2i_ptr, twr_ptr, twi_ptr, w_ptr, kfr_ptr, kfi_ptr,
                            D, KE, stride_k,
                            G: tl.constexpr, N1: tl.constexpr, N2: tl.constexpr, M: tl.constexpr,
                            PRECISION: tl.constexpr = 1):  # fmt: skip
    """The on-chip spectrum of G filters straight from their taps: the two-level DFT of the forward's input tiles
    (``_forward_dft``; PRECISION 1, 3xtf32: fp32 accuracy; 2: fp16 operands, each filter's taps over their
    largest magnitude so that none overflows) of k's first KE taps, zero-padded to N1 x N2, in the kernels'
    storage order (frequency k1 + N1 k2 at [k1, k2], the M kept columns), times w (keep / N, see
    ``_spectrum_index``). One launch in place of an rfft, its padding and the gather (``_spectrum_kernel``)."""
    d = tl.program_id(0) * G + tl.arange(0, G)[:, None, None]
    t = tl.arange(0, N1)[None, :, None] * N2 + tl.arange(0, N2)[None, None, :]
    x = tl.load(k_ptr + d.to(tl.int64) * stride_k + t, mask=(d < D) & (t < KE), other=0.0)
    if PRECISION == 2:
        scale = tl.max(tl.max(tl.abs(x), axis=2), axis=1)[:, None, None]
        scale = tl.where(scale > 0, scale, 1.0)
        x = x / scale
    f1r, f1i = _load_f1(f1r_ptr, f1i_ptr, N1)
    f2r, f2i = _load_f2(f2r_ptr, f2i_ptr, N2, M)
    ttr, tti = _load_twiddles(twr_ptr, twi_ptr, N1, N2, True)
    xr, xi = _forward_dft(x, f1r, f1i, f2r, f2i, ttr, tti, G, N1, N2, PRECISION, M)
    e = tl.arange(0, N1)[None, :, None] * M + tl.arange(0, M)[None, None, :]
    w = tl.load(w_ptr + e)
    if PRECISION == 2:
        w = w * scale
    out = d.to(tl.int64) * (N1 * M) + e
    tl.store(kfr_ptr + out, xr * w, mask=d < D)
    tl.store(kfi_ptr + out, xi * w, mask=d < D)


# The largest on-chip FFT size whose filter spectrum ``monarch_spectrum`` computes in one kernel from the taps
# (``_direct_spectrum``) rather than by an rfft, its padding and the gather. H200, 2026-11-29, twelfth session,
# forward ms, bf16 gated, the kernel vs the rfft, three rounds interleaved (``h200_kernels.sh x12``): N = 512
# (full L = 512, 128 x 1024) 0.583 vs 0.588; N = 1024: K = 128 at L = 2.3M x 32 0.428 vs 0.435, K = 256 0.493
# vs 0.501, windows 32 x 256 x 8192 at K = 128 0.420 vs 0.429 (fwd+bwd 1.713 vs 1.724); but N = 2048 (full L =
# 1K, 64 x 1024) 0.802 vs 0.793 and N = 4096 (full L = 2K) 1.132 vs 1.008, windows at K = 1024 0.825 vs 0.801:
# there the kernel's 3xtf32 products cost more than cuFFT (one program per filter). On fp16 operands (for half
# inputs, whose own transforms take them; spectrum error 3e-4 relative, a tenth of a bf16 rounding) it wins at
# every on-chip size, so half inputs take it there: fourteenth session, forward ms, fp16 kernel vs the default
# before it, three rounds interleaved (``h200_kernels.sh s14``): full L = 1K 0.776 vs 0.793 (torch.fft 3.164),
# 2K 1.002 vs 1.007, 512 0.576 vs 0.584 (3xtf32 kernel); K = 128 at L = 2.3M x 32 0.426 vs 0.429; windows 32 x
# 256 x 8192 at K = 128 0.419 vs 0.420, at K = 1024 0.792 vs 0.800; fwd+bwd (the backward takes the forward's
# spectrum) full L = 1K 2.546 vs 2.565, 512 2.830 vs 2.837, 2K 3.331 vs 3.338. The output's error moved from
# 1.67-1.69e-3 to 1.68-1.71e-3 (torch.fft's own bf16 error is 1.66e-3).
DIRECT_SPECTRUM_MAX = 1024
# HBM plans of one column level of at most this many points take their spectrum in one kernel from the taps on
# fp16 operands for half inputs (``monarch_hbm.hbm_spectrum``). H200, 2026-11-29, fifteenth session, forward
# ms, bf16 gated, rfft vs 3xtf32 vs fp16, three rounds interleaved (``h200_kernels.sh hspec``): K = 16K at
# 2.3M x 32 (N = 65,536: a column pass of 64, rows of 1024) 0.898 vs 0.907 vs 0.888, K = 8192 (65,536) 0.796
# vs 0.802 vs 0.782, full L = 16K (8 x 512, 32,768) 1.459 vs 1.658 vs 1.394, the streaming shape (128 x
# 73,727, K = 8192, 32,768) 0.688 vs 0.493 vs 0.465, the training shape (16 x 128 x 8192, 16,384) 0.657 vs
# 0.529 vs 0.525. Each program reads every tap for its rows, so the taps read grow as N / rows per program x
# K: K = 64K at 1M x 64 (262,144, one row of 4096 a program) 1.369 vs 2.009 vs 1.534, full L = 64K (1 x 1024,
# 131,072) 4.782 vs 7.076 vs 5.645. fp32 inputs keep the rfft (3xtf32 lost at K = 8192 and 16K above).
HBM_DIRECT_SPECTRUM_MAX = 1 << 16
# Dense HBM plans take their spectrum through the convolution's own forward passes on fp16 operands
# (``monarch_hbm.hbm_transform_spectrum``) for half inputs past HBM_DIRECT_SPECTRUM_MAX points, in place of the
# rfft and its gather, and up to it where the one-kernel spectrum would read at least PASSES_SPECTRUM_TAPS taps
# (D filters x P rows of the column level x K' taps: each of its programs reads its filter's every tap). H200,
# 2026-11-30, sixteenth session, forward ms, bf16 gated, three rounds interleaved (``h200_kernels.sh p16``),
# rfft vs the passes on fp16 operands vs in 3xtf32 (torch.fft): full-length filters 2 x 128 x 256K 4.152 vs
# 2.741 vs 4.234 (5.434), 2 x 32 x 1M 4.247 vs 2.829 vs 4.430 (5.528), 2 x 8 x 4M 4.473 vs 2.833 vs 4.727
# (6.349), one sequence 256 x 256K 5.729 vs 3.636 vs 5.342 (6.142), 64 x 1M 5.426 vs 3.343 vs 5.124 (6.243), 16
# x 4M 5.754 vs 3.326 vs 5.466 (7.240), 4 x 256 x 64K 2.106 vs 1.488 vs 2.296 (5.056), 1 x 1024 x 64K 4.535 vs
# 2.181 vs 4.082 (6.113); K = 64K at 1M x 64 1.341 vs 1.155 vs 1.559 (4.506); fwd+bwd (the backward takes the
# forward's spectrum) 2 x 32 x 1M 12.305 vs 9.363, K = 64K 4.995 vs 4.518, 4 x 256 x 64K 6.980 vs 5.738.
# The one-kernel spectrum vs the passes on fp16 operands: full L = 16K (8 x 512, N = 32,768: 2^28 taps read)
# 1.370 vs 1.217, full L = 4K (16 x 1024, 8192: 2^26) 1.262 vs 1.242, K = 16K at 2.3M x 32 (65,536: 2^25)
# 0.854 vs 0.853, and where the host decides, the streaming shape (128 x 73,727, K = 8192: 2^25) 0.581 vs
# 0.842 and the training shape (16 x 128 x 8192: 2^24) 0.339 vs 0.489 (two more launches). Errors 1.77e-3
# (rfft) vs 1.81e-3 (passes, fp16) vs 1.77e-3 (3xtf32), torch.fft's own 1.66e-3.
PASSES_SPECTRUM_TAPS = 1 << 27


def _direct_spectrum(k: torch.Tensor, plan: FFTPlan, fraction: float, wr: torch.Tensor, precision: int = 1):
    """``_direct_spectrum_kernel``'s (real, imaginary) [D, 1, N1, M] for an on-chip plan: G filters per program
    (at least 2048 points), 4 warps (8 at N = 4096); ``precision`` of its products (``_mm``)."""
    D, n1, n2 = k.shape[0], plan.n1, plan.n2
    M = n2 if fraction == 1 else round(fraction * n2)
    kfr = torch.empty(D, 1, n1, M, device=k.device, dtype=torch.float32)
    kfi = torch.empty_like(kfr)
    f1r, f1i, f2r, f2i, _, _, twr, twi = _dft_matrices(n1, n2, k.device, fraction, precision)
    G = max(1, 2048 // (n1 * n2))
    _direct_spectrum_kernel[(cdiv(D, G),)](
        k, f1r, f1i, f2r, f2i, twr, twi, wr, kfr, kfi, D, plan.k_eff, k.stride(0),
        G=G, N1=n1, N2=n2, M=M, PRECISION=precision, num_warps=8 if n1 * n2 > 2048 else 4,
    )  # fmt: skip
    return kfr, kfi


def _spectrum_torch(kf, idx, wr, wi, delta=None):
    """``_spectrum_kernel``'s result [D, entries] in torch ops (the path without a GPU or the interpreter, and
    with DNACONV_SPECTRUM=torch: sweeps)."""
    if delta is not None:
        kf = kf + delta.float()[:, None]
    kf = kf[:, idx]
    return (kf.real * wr).contiguous(), (kf.imag * wi).contiguous()


def monarch_spectrum(
    k: torch.Tensor,
    plan: FFTPlan,
    fraction: float = 1.0,
    delta: torch.Tensor | None = None,
    rows: int | None = None,
    precision: int = 1,
    half: bool = False,
    flip: bool = False,
    fp16_rows: bool = False,
) -> tuple[torch.Tensor, ...]:
    """The filter's spectrum scaled by 1/N in the kernels' storage order (``plan.freq_order``), real and
    imaginary parts [D, rows, N1, M]: rows = 1 on chip; M = N2 unless frequency-sparse. One rfft of the filter;
    the bins above N / 2 are conjugates (the filter is real). ``delta`` [D]: the spectrum of k + delta at tap 0
    instead (a unit impulse's spectrum is 1 at every bin), without a modified copy of k. The rfft's bins are
    gathered, scaled and split by one kernel (``_spectrum_kernel``) where Triton runs, instead of four torch
    ops (``_spectrum_torch``). On-chip plans without ``delta`` compute it in one kernel straight from the taps
    instead (``_direct_spectrum``): for ``precision`` 2 (that of the kernels it feeds, ``_precision``: half
    inputs) at every size on fp16 operands, else in 3xtf32 up to DIRECT_SPECTRUM_MAX points. DNACONV_SPECTRUM=
    rfft keeps the rfft there, =direct takes the 3xtf32 kernel at every on-chip size (sweeps). ``rows``: only
    the first rows of each channel's (the HBM forward's HERM frame reads no more). HBM plans of one column
    level take one kernel from the taps (``monarch_hbm.hbm_spectrum``) on fp16 operands for ``precision`` 2
    up to HBM_DIRECT_SPECTRUM_MAX points where it reads fewer than PASSES_SPECTRUM_TAPS taps; other dense HBM
    plans for ``precision`` 2 take the convolution's own forward passes on fp16 operands
    (``monarch_hbm.hbm_transform_spectrum``); else (fp32 inputs, frequency-sparse plans) the rfft.
    DNACONV_HBM_SPECTRUM=direct (3xtf32), =direct16 (fp16 operands), =passes (3xtf32), =passes16 or =rfft
    forces one (sweeps). ``half``: the HBM kernels' callers take a HERM frame's rows (fewer than ``rows`` or
    all), which the passes give with DNACONV_HBM_MIRROR=1 (``hbm_transform_spectrum``: measured slower, so
    opt-in), the kernels reading the rest from their mirrors. ``flip``: the caller reads the mirrors without
    gathers (the HBM forward's row pass, ``monarch_hbm._flips``): the passes give a HERM frame's rows unless
    DNACONV_HBM_FLIP=0. The one-kernel spectrum keeps every row: its HERM rows read that way measured slower
    (H200, 2026-11-30, forward ms, every row vs the HERM rows, interleaved, ``h200_kernels.sh t21b``: K = 512 at
    2.3M x 32 0.649 vs 0.655, K = 4096 0.688 vs 0.728, K = 16K 0.855 vs 0.857, the training shape 0.358 vs
    0.391), and so does a cached spectrum (``fftconv_spectrum``), which costs nothing per call. ``fp16_rows``:
    where an HBM kernel computes it (one kernel or the passes), (real, imaginary, scales) with the parts in
    fp16 over a power of two per row (``monarch_hbm._half_spectrum``); elsewhere fp32 (real, imaginary)."""
    idx, wr, wi = _spectrum_index(plan, fraction, k.device)
    M = idx.numel() // (plan.n // plan.n2)  # stored columns of a row
    if rows is not None:
        idx, wr, wi = (x[: rows * plan.n1 * M] for x in (idx, wr, wi))
    on_triton = k.is_cuda or os.environ.get("TRITON_INTERPRET") == "1"
    mode = os.environ.get("DNACONV_SPECTRUM")
    fp16 = precision == 2 and mode is None
    direct = mode == "direct" or fp16 or mode is None and plan.n <= DIRECT_SPECTRUM_MAX
    if on_triton and not plan.cols and delta is None and direct:
        return _direct_spectrum(k.float().contiguous(), plan, fraction, wr, 2 if fp16 else 1)
    hbm_mode = os.environ.get("DNACONV_HBM_SPECTRUM")
    if hbm_mode is None and precision == 2 and plan.cols and fraction == 1:
        taps = k.shape[0] * plan.cols[0] * plan.k_eff  # the one-kernel spectrum's taps read
        small = plan.n <= HBM_DIRECT_SPECTRUM_MAX and taps < PASSES_SPECTRUM_TAPS
        hbm_mode = "direct16" if small else "passes16"
    if on_triton and len(plan.cols) == 1 and fraction == 1 and hbm_mode in ("direct", "direct16"):
        from dnaconv.kernels.fftconv.monarch_hbm import hbm_spectrum

        prec = 2 if hbm_mode == "direct16" else 1
        return hbm_spectrum(k.float().contiguous(), plan, delta, rows, prec, fp16_rows)
    if on_triton and plan.cols and fraction == 1 and hbm_mode in ("passes", "passes16"):
        from dnaconv.kernels.fftconv.monarch_hbm import hbm_transform_spectrum

        # the mirrored half spectrum: opt-in, it measured slower (``hbm_transform_spectrum``)
        half = half and os.environ.get("DNACONV_HBM_MIRROR") == "1"
        half = half or flip and os.environ.get("DNACONV_HBM_FLIP") != "0"
        return hbm_transform_spectrum(
            k, plan, delta, rows, 2 if hbm_mode == "passes16" else 1, half, fp16_rows
        )
    kf = torch.fft.rfft(k[:, : plan.k_eff].float(), n=plan.n)
    D, E = k.shape[0], idx.numel()
    shape = (D, -1, plan.n1, M)
    if not on_triton or mode == "torch":
        kfr, kfi = _spectrum_torch(kf, idx, wr, wi, delta)
        return kfr.view(shape), kfi.view(shape)
    kfr = torch.empty(D, E, device=k.device, dtype=torch.float32)
    kfi = torch.empty_like(kfr)
    block = 1024
    _spectrum_kernel[(D, cdiv(E, block))](
        torch.view_as_real(kf), idx, wr, wi, kfr if delta is None else delta.float().contiguous(), kfr, kfi,
        E, kf.shape[-1], HAS_DELTA=delta is not None, BLOCK=block,
    )  # fmt: skip
    return kfr.view(shape), kfi.view(shape)


def relayout_spectrum(spectrum: tuple[torch.Tensor, torch.Tensor], plan: FFTPlan, to: FFTPlan) -> tuple:
    """A dense HBM filter spectrum (``monarch_spectrum``'s, every row) in ``plan``'s storage order moved into
    ``to``'s: a transform of the same N on another decomposition holds the same frequencies elsewhere
    (``freq_order``). One gather per part instead of a transform of the filter: the backward's own plan where
    it differs from the forward's (K = 64K at 1M: columns of 64 and rows of 4096 forward, 16 x 16 and rows of
    1024 backward, ``_shared_spectrum``). H200, 2026-11-30, twentieth session, fwd+bwd ms, computed by each vs
    gathered (``h200_kernels.sh s20``): K = 64K at 1M x 64 3.942 vs 3.828, K = 16K at 2.3M x 32 2.710 vs 2.682."""
    key = ("relayout", plan, to, str(spectrum[0].device))
    if key not in _ORDER_CACHE:
        _ORDER_CACHE[key] = torch.argsort(freq_order(plan))[freq_order(to)].to(spectrum[0].device)
    D = spectrum[0].shape[0]
    return tuple(
        x.reshape(D, -1).index_select(1, _ORDER_CACHE[key]).view(D, -1, to.n1, to.n2) for x in spectrum
    )


class FoldedSpectrum(tuple):
    """A filter's spectrum (real, imaginary), as ``monarch_spectrum`` gives it, with a skip term's bias folded in
    (its ``delta``): the convolution with it is conv(v, k) + bias v, so the HBM forward's last column pass does
    not read u and pre again to form the skip term (``monarch_hbm._folds``). It holds the bias tensor and that
    tensor's version counter at folding, so that an in-place change of the bias since (an optimizer step, a
    weight load) shows: ``folds(bias)``."""

    def __new__(cls, parts, bias: torch.Tensor):
        self = super().__new__(cls, parts)
        self.bias, self.version = bias, bias._version
        return self

    def folds(self, bias: torch.Tensor | None) -> bool:
        """Whether this spectrum's skip term is ``bias`` as it is now."""
        return bias is self.bias and bias._version == self.version


def _prepare(u, k, bias, pre_gate, post_gate, history, fraction=1.0, kind="forward"):
    B, D, L = u.shape
    H = 0 if history is None else history.shape[-1]
    plan = monarch_plan(L, k.shape[-1], H, fraction=fraction, kind=kind)
    if plan is None:
        raise ValueError(
            f"filter of {k.shape[-1]} taps is too long for the on-chip FFT (max {MAX_FFT_SIZE // 2})"
        )
    return B, D, L, H, plan


def _precision(dtype: torch.dtype) -> int:
    """fp32 inputs: 3xtf32 (fp32 accuracy); half inputs: fp16 operands (full tensor-core rate; scaled)."""
    return 1 if dtype == torch.float32 else 2


# The HBM row pass's rows per program by row size (points), each program of 4 warps capped at 168 registers;
# see ``_launch_shape``.
_ROW_LAUNCH = {4096: 1, 2048: 2, 1024: 4}


def _launch_shape(
    n1: int, n2: int, n_blocks: int, kind: str = "forward", half: bool = False
) -> tuple[int, int, dict]:
    """(G, num_warps, launch options) for G segments of n1 x n2 points per program. ``kind``: "forward",
    "backward", "paired" (G complex pairs of segments) or "rows" (the HBM kernel's complex row pass); ``half``:
    a one-block sequence framed on half tiles (HALF, see ``_fftconv_fwd`` and ``_fftconv_bwd``).

    From the H200 sweeps of 2026-11-28 (``pipelines/h200_kernels.sh regs``, bf16, L = 2.3M, 32 channels):
    - forward: 128 rows per product, at most max(4096, 2N) points per program, 4 warps up to 4096 points
      and N <= 2048 (else 8), and the registers capped at 168 per thread for N <= 1024 (3 programs per SM
      instead of 2; it spills 8-40 bytes): N = 512 0.656 ms (uncapped 0.745, 64 rows 0.694); N = 1024 1.047
      (1.126); N = 2048, 2 segments 1.357 (4 segments, 8 warps 1.431); N = 4096, 2 segments, 8 warps 1.579
      (1 segment, 4 warps 2.079). A cap at N >= 2048 spilled and ran 2-3x slower; but the forward framed on
      half tiles at N = 2048 (one block per sequence, HALF) takes it: 2026-11-29, ninth session, full L = 1K
      (64 x 1024), interleaved (``h200_kernels.sh knobs9``), two segments, 4 warps, 168 registers 0.795 ms vs
      0.827 uncapped (torch.fft 3.133); one segment 1.123 vs 1.352; 8 warps 1.561-2.285. At N = 4096 (full L =
      2K, the training windows at K = 1024) the launch as it is won every combination of rows, warps, cap and
      holding v tried (1.068 and 0.798 ms; the next 1.069 and 0.822 held, the cap 1.215 and 0.906).
    - backward: 64 rows per product, at most 4096 points per program, 4 warps as the forward. Per point
      (``h200_kernels.sh plan``, the backward alone, v reloaded): N = 512 26.6 ps (32 rows 38.9, 8 warps 47.4),
      N = 1024 29.5 (32 rows 42.4, 8 warps 52.6). N = 2048 takes two segments on 4 warps: 2026-11-29, tenth
      session, the backward alone from z, interleaved (``h200_kernels.sh bknobs10``): full L = 1K (64 x 1024,
      half tiles) 1.773 ms vs 2.666 with one segment, K = 128 at L = 2.3M x 32 1.212 vs 1.679; on 8 warps 3.454
      and 2.274 (uncapped; 168 registers: 2.189, 1.900 on 4 warps, 4.772, 3.171 on 8). On half tiles at N =
      4096 (``plan.half_backward``) also 4 warps, one segment per program: 2026-11-29, eleventh session, fwd+bwd,
      interleaved (``h200_kernels.sh bwd4096``, ``b11``), full L = 2K (32 x 1024) 3.410 ms vs 5.584 on 8 warps;
      two segments on 4 warps 3.417 vs 3.414 (the forward on 4 warps in both).
    - paired: 128 rows, 4 warps up to 4096 points of segments of at most 2048, else 8 (the sweeps of the
      first kernels; a complex pair holds the registers of two real segments).
    - rows (``_ROW_LAUNCH``): 4 warps; rows of 4096 points (64 x 64): one per program, 168 registers, the DFT
      matrices loaded where used (``monarch_hbm._lazy``); H200, 2026-11-29, forward ms, bf16 gated,
      interleaved (``h200_kernels.sh lazy``), that vs two rows, 8 warps, held: L = 2.3M x 32, K = 8192 1.040
      vs 1.116, K = 16K 1.164 vs 1.258; K = 64K at 1M x 64 1.702 vs 1.777. Rows of 2048 (32 x 64): two per
      program (sm_90 build: 183 registers, no spill, two programs per SM), against four at 8 warps, the
      paired table's (181 registers, one program per SM): full-length L = 16K (8 x 512) 1.694 vs 1.893, the
      streaming shape 0.501 vs 0.504 (``rowsweep``); capped at 168 registers (96 bytes spilled, three programs
      per SM): K = 16K at L = 2.3M x 32 1.049 vs 1.087, full L = 16K 1.645 vs 1.699 (``cols7``). Rows of 1024
      (32 x 32): four per program capped at 168 registers (48 bytes spilled, three programs per SM): K = 2048
      at L = 2.3M x 32 0.789 vs 0.836 uncapped, 16 x 128 x 8192 (K = 8192) 0.353 vs 0.369. Smaller rows take
      the paired table. With DNACONV_MONARCH_ROWS set, rows take the paired table.
    DNACONV_MONARCH_ROWS (rows per product), DNACONV_MONARCH_WARPS, DNACONV_MONARCH_MAXNREG (0: no cap) and
    DNACONV_MONARCH_BWD_POINTS (the backward's points per program) override the choice for sweeps."""
    n = n1 * n2
    rows = int(os.environ.get("DNACONV_MONARCH_ROWS", 64 if kind == "backward" else 128))
    g = max(1, min(rows // n1, 1 << (n_blocks - 1).bit_length()))
    if kind == "forward":
        g = max(1, min(g, max(4096, 2 * n) // n))
    elif kind == "backward":
        g = max(1, min(g, int(os.environ.get("DNACONV_MONARCH_BWD_POINTS", 4096)) // n))
    points = g * n * (2 if kind == "paired" else 1)
    warps = 4 if points <= 4096 and (n <= 2048 or kind == "backward" and half) else 8
    cap = 168 if kind == "forward" and (n <= 1024 or half and n == 2048) and warps == 4 else 0
    if kind == "rows" and n in _ROW_LAUNCH and "DNACONV_MONARCH_ROWS" not in os.environ:  # see the docstring
        g, warps, cap = max(1, min(_ROW_LAUNCH[n], 1 << (n_blocks - 1).bit_length())), 4, 168
    warps = int(os.environ.get("DNACONV_MONARCH_WARPS", 0)) or warps
    cap = int(os.environ.get("DNACONV_MONARCH_MAXNREG", cap))  # 0: no cap
    return g, warps, {"maxnreg": cap} if cap else {}


def _hold(g: int, n1: int, n2: int, warps: int, kind: str = "forward", one_block: bool = False) -> bool:
    """Whether a kernel holds v and the output times across the transforms (see the kernels) rather than
    computing and loading them again (H200, 2026-11-28). DNACONV_MONARCH_HOLD=0/1 overrides it for sweeps.
    - forward: when a thread has at most 16 points of them. One segment per program, full L = 1K took 1.794
      ms holding vs 2.002 reloading, 2K 3.060 vs 3.570; equal elsewhere (``h200_kernels.sh knobs``).
    - backward: for N <= 1024 and for one block per sequence. The backward alone (``h200_kernels.sh hold``,
      ms held vs reloaded): N = 512 2.537 vs 2.558, N = 1024 2.453 vs 2.539, N = 2048 3.30 vs 3.12 (K = 512),
      N = 4096 11.8 vs 10.6, but full L = 1K at N = 2048 4.35 vs 4.59. On two segments per program at N = 2048
      (the launch since the tenth session, ``bknobs10``): K = 128 at L = 2.3M 1.212 reloaded vs 1.292 held."""
    if kind == "backward":
        hold = n1 * n2 <= 1024 or one_block
    else:
        hold = g * n1 * n2 <= 16 * 32 * warps
    return int(os.environ.get("DNACONV_MONARCH_HOLD", hold)) == 1


def _programs(n1: int, n2: int, B: int, n_blocks: int, kind: str = "forward", half: bool = False) -> tuple:
    """(G, num_warps, launch options, n_groups, across): the launch table's shape for sequences of n_blocks
    blocks. ACROSS: sequences of fewer blocks than the table's G share programs with the other sequences of
    their channel (same filter), G segments over all B x n_blocks; n_groups then counts groups per channel, else
    per sequence. H200, 2026-11-28 (``h200_kernels.sh isolate``, forward, bf16 gated, full filters, B*D*L =
    2^26): L = 2K 1.577 ms vs 3.015, 1K 1.273 vs 1.799, 512 0.943 vs 2.654; the backward at L = 512 4.17 vs
    5.77. And packed (the default): at the table's own G too, wherever that needs fewer programs, as for
    sequences of a few blocks that leave each sequence's last program part empty (L = 8192, K = 1024: 3 blocks
    of N = 4096 in 2 programs of 2). H200, 2026-11-29 (``h200_kernels.sh pack``, 32 x 256 x 8192, bf16 gated),
    forward / fwd+bwd ms, packed vs not: K = 128 0.624 vs 0.712 / 3.34 vs 3.43; K = 256 0.674 vs 0.714 / 3.64
    vs 3.90; K = 1024 1.143 vs 1.444 / 5.68 vs 5.97. DNACONV_MONARCH_ACROSS=1 shares only where the table's G
    exceeds a sequence's blocks, =0 never (sweeps).
    """
    mode = os.environ.get("DNACONV_MONARCH_ACROSS", "pack")
    G, warps, opts = _launch_shape(n1, n2, n_blocks, kind, half)
    shape = _launch_shape(n1, n2, B * n_blocks, kind, half)
    packed = cdiv(B * n_blocks, shape[0])
    if mode != "0" and (shape[0] > G or mode == "pack" and packed < B * cdiv(n_blocks, G)):
        return *shape, packed, True
    return G, warps, opts, cdiv(n_blocks, G), False


def _half_tiles(n1: int, n2: int, kind: str = "forward") -> bool:
    """Whether a one-block sequence may be framed in the block's last half (HALF, see the launchers): half of N1
    rows must be >= 16 for tl.dot, and N at most ``plan.half_tiles_max(kind)``: 4096 (the backward's 2048 until
    ``plan.half_backward`` took one-block sequences to N = 4096).
    The forward at N = 4096 compiled wrong on the H200 once (triton 3.6, 2026-11-28: NaN, then a fault; fp32 and
    the interpreter were right); in 2026-11-29's builds it ran right there, and the GPU tests passed with it
    (tenth session, ``h200_kernels.sh half10``: 41 of the on-chip tests), and faster, forward / fwd+bwd ms, half
    vs the usual frame, interleaved: full L = 2K (32 x 1024) 1.002 vs 1.067 / 5.473 vs 5.562, full L = 1536
    (48 x 1024) 1.449 vs 1.544 / 7.674 vs 7.800, 32 x 1024 x 2048 at K = 1100 0.999 vs 1.074 / 5.458 vs 5.553."""
    return n1 >= 32 and n1 * n2 <= half_tiles_max(kind)


def _fftconv_fwd(u, k, bias, pre_gate, post_gate, history, spectrum=None, fraction=1.0, z=None, plan=None):
    """y; and z (conv + bias * v, before the post-gate) into ``z`` where given, for the backward. ``plan``: the
    on-chip ``FFTPlan`` (``fft_plan``'s), else planned here."""
    if plan is None:
        B, D, L, H, (n1, n2, C, k_eff) = _prepare(u, k, bias, pre_gate, post_gate, history, fraction)
    else:
        (B, D, L), H = u.shape, 0 if history is None else history.shape[-1]
        n1, n2, C, k_eff = plan.n1, plan.n2, plan.C, plan.k_eff
    kfr, kfi = (
        spectrum
        if spectrum is not None
        else monarch_spectrum(k, FFTPlan((), n1, n2, C, k_eff), fraction, precision=_precision(u.dtype))
    )
    if tuple(kfr.shape[-2:]) != (n1, n2 if fraction == 1 else round(fraction * n2)):
        raise ValueError(f"cached spectrum {tuple(kfr.shape)} does not match the plan {n1} x {n2}")
    y = torch.empty_like(u)
    dummy = u
    km1 = block_overlap(n1 * n2, k_eff, L, fraction == 1)
    C = n1 * n2 - km1
    n_blocks = cdiv(L, C)
    args = (
        u, pre_gate if pre_gate is not None else dummy, post_gate if post_gate is not None else dummy,
        history if history is not None else dummy, bias if bias is not None else dummy, kfr, kfi,
        *_dft_matrices(n1, n2, u.device, fraction, _precision(u.dtype)), y,
    )  # fmt: skip
    flags = dict(
        N1=n1, N2=n2, M=kfr.shape[-1], HAS_PRE=pre_gate is not None, HAS_POST=post_gate is not None,
        HAS_HIST=history is not None and H > 0, HAS_BIAS=bias is not None, PRECISION=_precision(u.dtype),
    )  # fmt: skip
    if os.environ.get("DNACONV_MONARCH_PAIR", "0") == "1" and z is None:
        # two real segments per complex transform, over all B x n_blocks segments of a channel
        G, warps, opts = _launch_shape(n1, n2, cdiv(B * n_blocks, 2), "paired")
        n_groups = cdiv(B * n_blocks, 2 * G)
        _fftconv_fwd_pair_kernel[(D * n_groups,)](
            *args,
            D,
            L,
            H,
            C,
            km1,
            n_blocks,
            B * n_blocks,
            n_groups,
            G=G,
            num_warps=warps,
            **opts,
            **flags,
        )
        return y
    # HALF: one block of a sequence without history whose inputs and outputs fit the last half of the block is
    # framed there (KM1 = N / 2): the first half of the tile is zero, and the first and last products run on
    # half tiles. H200, 2026-11-28, one segment per program: L = 1K 1.579 ms vs 1.799, 512 2.501 vs 2.654; at
    # N = 4096 see ``_half_tiles``.
    flags["HALF"] = (
        fraction == 1  # the sparse op is defined on the usual framing
        and n_blocks == 1
        and flags["HAS_HIST"] is False
        and max(L, k_eff - 1) <= n1 * n2 // 2
        and _half_tiles(n1, n2)
    )
    G, warps, opts, n_groups, flags["ACROSS"] = _programs(n1, n2, B, n_blocks, half=flags["HALF"])
    grid = (D if flags["ACROSS"] else B * D) * n_groups
    flags["HOLD"] = _hold(G, n1, n2, warps) or flags["HALF"]
    _fftconv_fwd_kernel[(grid,)](
        *args,
        z if z is not None else dummy,
        D,
        L,
        H,
        C,
        n1 * n2 // 2 if flags["HALF"] else km1,
        n_groups,
        n_blocks,
        B * n_blocks,
        G=G,
        num_warps=warps,
        **opts,
        **flags,
        STORE_Z=z is not None,
    )
    return y


def _fftconv_bwd(dy, u, k, bias, pre_gate, post_gate, history, plan=None, z=None, spectrum=None):
    """du, dk, d(bias), d(pre), d(post); z: the forward's conv + bias * v (``_fftconv_fwd``), else recomputed;
    spectrum: the filter's at this plan (the forward's, ``_shared_spectrum``), else computed here."""
    B, D, L = u.shape
    H = 0 if history is None else history.shape[-1]
    n1, n2, C, k_eff = plan or _prepare(u, k, bias, pre_gate, post_gate, history, kind="backward")[-1]
    kfr, kfi = spectrum or monarch_spectrum(k, FFTPlan((), n1, n2, C, k_eff), precision=_precision(u.dtype))
    du = torch.empty_like(u)
    dpre = torch.empty_like(pre_gate) if pre_gate is not None else None
    dpost = torch.empty_like(post_gate) if post_gate is not None else None
    km1 = block_overlap(n1 * n2, k_eff, L)  # any overlap >= K' - 1 frames both of the backward's frames
    C = n1 * n2 - km1
    n_blocks = cdiv(L, C)
    dummy = u
    dy = dy.contiguous()
    # HALF: one block without history framed as the forward's HALF, every transform on half tiles (254 -> 176
    # registers at N = 1024). H200, 2026-11-29, bf16 gated, B*D*L = 2^26, half vs full tiles, interleaved
    # (``h200_kernels.sh bwdhalf``): fwd+bwd ms, full L = 512 3.53 vs 4.41, 1K 4.30 vs 5.04 (torch.fft 8.90,
    # 8.95); the backward alone 2.62 vs 3.48 and 3.10 vs 3.86 (128 rows, four sequences per program, lost:
    # 2.94, 3.95). Up to N = 4096 (``_half_tiles``, ``plan.half_backward``).
    half = n_blocks == 1 and H == 0 and max(L, k_eff - 1) <= n1 * n2 // 2 and _half_tiles(n1, n2, "backward")
    G, warps, opts, n_groups, across = _programs(n1, n2, B, n_blocks, "backward", half)
    rows = D if across else B * D  # programs per group index: [D] or [B, D]
    # Per-program partials in fp32 (at most the size of u in fp32, as K <= C), summed below.
    dbias = torch.empty(rows, n_groups, device=u.device, dtype=torch.float32)
    dk = torch.empty(rows, n_groups, k_eff, device=u.device, dtype=torch.float32)
    # SPLIT at N = 4096: the causal frame (four transforms) and the anti-causal one (two) in two launches, so
    # that neither holds the other's tiles (``plan.split_backward``)
    mats = _dft_matrices(n1, n2, u.device, 1.0, _precision(u.dtype))
    for part in (1, 2) if split_backward(n1 * n2, L, k_eff) else (0,):
        _fftconv_bwd_kernel[(rows * n_groups,)](
            dy, u, pre_gate if pre_gate is not None else dummy,
            post_gate if post_gate is not None else dummy, history if history is not None else dummy,
            bias if bias is not None else dummy, kfr, kfi, *mats,
            du, dpre if dpre is not None else dummy, dpost if dpost is not None else dummy, dbias, dk,
            z if z is not None else dummy, D, L, H, C, n1 * n2 // 2 if half else km1, k_eff, n_groups,
            n_blocks, B * n_blocks,
            G=G, N1=n1, N2=n2, HAS_PRE=pre_gate is not None, HAS_POST=post_gate is not None,
            HAS_HIST=history is not None and H > 0, HAS_BIAS=bias is not None, PRECISION=_precision(u.dtype),
            HOLD=_hold(G, n1, n2, warps, "backward", n_blocks == 1), ACROSS=across, PART=part,
            HAS_Z=z is not None and post_gate is not None, HALF=half, num_warps=warps, **opts,
        )  # fmt: skip
    # summed over the batch and the groups; the correlation's inverse DFT was left unscaled
    dk = dk.view(-1, D, n_groups, k_eff).sum((0, 2)) / (n1 * n2)
    dbias = dbias.view(-1, D, n_groups).sum((0, 2))
    if k.shape[-1] > k_eff:  # taps that reach no input get zero gradient
        dk = torch.nn.functional.pad(dk, (0, k.shape[-1] - k_eff))
    return du, dk.to(k.dtype), dbias.to(bias.dtype) if bias is not None else None, dpre, dpost


# ------------------------------------------------------------------------------------------------------
# Autograd and the public function
# ------------------------------------------------------------------------------------------------------


def _reference_bwd(dy, u, k, bias, pre_gate, post_gate, history, n_fft, fraction):
    """Gradients through autograd of the torch.fft reference (recomputing its forward)."""
    from dnaconv.kernels.fftconv.naive import naive_fftconv, naive_fftconv_blocked

    xs = [None if x is None else x.detach().requires_grad_() for x in (u, k, bias, pre_gate, post_gate)]
    with torch.enable_grad():
        if fraction < 1:
            y = naive_fftconv_blocked(*xs, history=history, n_fft=n_fft, freq_fraction=fraction)
        else:
            y = naive_fftconv(*xs, history=history)
    wanted = [x for x in xs if x is not None]
    grads = iter(torch.autograd.grad(y, wanted, dy))
    return tuple(None if x is None else next(grads) for x in xs)


def _save_z(post_needs_grad: bool, post_gate) -> bool:
    """SAVEZ: where d(post) is wanted, the forward stores z = conv + bias * v (one more tensor of u's size kept
    for the backward) so that the backward loads it instead of recomputing the convolution. The callers take it
    for the fused on-chip backward (one inverse transform and the filter product fewer per block, and fewer
    spills: 112 -> 8 B at N = 512, 88 -> 64 at 1024, 336 -> 152 at 2048) and the HBM backward (one HBM
    convolution fewer: fwd+bwd K = 8192 at L = 2.3M 9.98 vs 11.15 ms, paired). H200, 2026-11-29, fwd+bwd
    ms, bf16 gated, saved vs recomputed, interleaved (``h200_kernels.sh savez``): L = 2.3M x 32 channels
    K = 128 3.218 vs 3.366, K = 256 3.71 vs 3.74, K = 512 4.39 vs 4.39, K = 1024 5.97 vs 6.07; full L = 512
    4.48 vs 4.81, 1K 5.08 vs 5.57; windows of 8192 (32 x 256) K = 128 3.175 vs 3.375, K = 1024 5.61 vs 5.73.
    Not with the split backward (N = 4096): K = 2048 11.86 vs 11.03. DNACONV_MONARCH_SAVEZ=0 recomputes (sweeps)."""
    return post_needs_grad and post_gate is not None and os.environ.get("DNACONV_MONARCH_SAVEZ") != "0"


def _layout(plan: FFTPlan) -> tuple:
    """An HBM plan's transform: its decomposition and taps (its C aside)."""
    return plan.cols, plan.n1, plan.n2, plan.k_eff


def _shared_spectrum(u, k, H: int, plan: FFTPlan, kind, bplan, fraction: float) -> bool:
    """Whether the forward computes the filter spectrum here and keeps it for the backward, which would compute
    the same one again: the same transform (storage order and taps: the forward's ``plan`` and the backward's
    ``bplan`` agree but for C; or, for HBM plans, the same N and taps on another decomposition, the spectrum
    gathered into the backward's order by ``relayout_spectrum``), dense, the HBM forward with the HBM
    backward (both fold the skip term alike, ``monarch_hbm._folds``) or the on-chip one with the fused
    backward (neither folds), and a spectrum (D x N
    complex fp32, 8 D N bytes) no larger than the two spectra torch.fft's autograd keeps between its forward
    and backward for the same op (``naive_fftconv``: rfft(v) and rfft(k), 8 (B + 1) D (n / 2 + 1) bytes at n =
    ``fft_size``). At small shapes the spectrum's host time (an rfft, a kernel, their tensors) is a large part
    of a call: H200, 2026-11-29, twelfth session (``h200_kernels.sh h12``), host ms per call enqueued behind a
    GPU spin, 16 x 128 x 8192, K = 8192, forward 0.562 computing it vs 0.310 given; fwd+bwd 1.904 (GPU work
    1.18). Shared vs not, fwd+bwd ms, bf16 gated, three rounds interleaved (``h12b``): 16 x 128 x 8192 1.928 vs
    2.045 (torch.fft 2.476); full L = 512 (128 x 1024) 2.843 vs 2.866, 1K 2.547 vs 2.583, 2K 3.300 vs 3.358, 4K
    3.837 vs 3.936, 16K 4.949 vs 4.958. Until the eighteenth session the spectrum was kept only up to u's bytes,
    which left out every full-length filter from L = 64K (4 to 8 times u's bytes there). There, fwd+bwd ms,
    recomputed vs kept, two rounds interleaved (``h200_kernels.sh s18``): 4 x 256 x 64K 4.798 vs 4.459, one
    sequence 1024 x 64K 7.482 vs 6.269, 2 x 128 x 256K 7.196 vs 6.412, 2 x 32 x 1M 7.657 vs 6.836, 2 x 8 x 4M
    8.034 vs 7.197, one sequence 256 x 256K 9.086 vs 8.040, 64 x 1M 9.196 vs 8.144, 16 x 4M 9.595 vs 8.511
    (torch.fft's autograd 12.7-18.0). The peak memory of one fwd+bwd did not move (2 x 32 x 1M 3.13 GiB above
    the inputs either way, 64 x 1M 3.45, 4 x 256 x 64K 2.00; torch.fft's 5.50, 6.00, 5.25): the backward's
    own spectrum was alive at its peak anyway. The relayout (twentieth session) serves K = 64K at 1M and K =
    16K at 2.3M, where the backward's plan has the forward's N on shorter rows. DNACONV_SPECTRUM_SHARE=small
    keeps the rule before the eighteenth session, =same the one before the twentieth (one decomposition),
    =0 turns sharing off (sweeps)."""
    env = os.environ.get("DNACONV_SPECTRUM_SHARE")
    if fraction != 1 or env == "0":
        return False
    if kind == "hbm" and plan.cols:  # the same frequencies; another decomposition takes ``relayout_spectrum``
        same = bool(bplan.cols) and (bplan.n, bplan.k_eff) == (plan.n, plan.k_eff)
        same = same and (env != "same" or _layout(bplan) == _layout(plan))
    elif kind == "fused" and not plan.cols:
        same = tuple(bplan[i] for i in (0, 1, 3)) == (plan.n1, plan.n2, plan.k_eff)
    else:
        return False
    B, D, L = u.shape
    if env == "small":
        return same and 8 * D * plan.n <= u.numel() * u.element_size()
    return same and plan.n <= (B + 1) * (fft_size(L, k.shape[-1], H) // 2 + 1)


def _reference_held(B: int, D: int, L: int, K: int, H: int = 0) -> int:
    """A lower bound of the bytes torch.fft's autograd (``naive_fftconv``) holds between its forward and its
    backward for the op on [B, D, L] with a K-tap filter after H history positions, whatever the gates: the two
    spectra it multiplies (rfft(v) and rfft(k), complex64: 8 (B + 1) D (n / 2 + 1) bytes) and the fp32 v padded
    to n that its rfft keeps (4 B D n), at n = ``fft_size``. The gates and the skip term add more: 32 B D L bytes
    in all for bf16 inputs with both gates and a bias (fp32 copies of u, pre and post, v, the product before the
    post-gate; measured 2.88 GiB at 2 x 32 x 1M on the H200, ``ab.fwd_bwd_peaks``, nineteenth session).
    ``test_reference_held`` checks the bound against what autograd saves."""
    n = fft_size(L, K, H)
    return 8 * (B + 1) * D * (n // 2 + 1) + 4 * B * D * n


def _v_budget(u, k, H: int, plan: FFTPlan, kind, bplan, fraction: float, bias, kept_bytes: int) -> int | None:
    """The bytes the HBM forward may spend keeping the gated input's spectrum for the direct backward's dk
    (``monarch_hbm.hbm_fftconv_fwd``'s ``keep_v``, ``monarch_hbm_bwd``'s direct route: one block a sequence,
    which the forward checks), or None: the HBM forward with the HBM backward on the same transform, dense, no
    history, the skip term folded (or none). With what the forward already keeps for the backward
    (``kept_bytes``: the shared filter spectrum, z) it stays within what torch.fft's autograd holds for the same
    op (``_reference_held``'s lower bound). The backward then neither reads u and pre for v nor transforms v.
    H200, 2026-11-30, nineteenth session, fwd+bwd ms, bf16 gated, v transformed by the backward vs kept,
    interleaved (``h200_kernels.sh s19``, ``p19``): full L = 4K (16 x 1024) 2.944 vs 2.665, 16K 2.928 vs
    2.656, 64K (4 x 256) 4.050 vs 3.549, one sequence 1024 x 64K 5.126 vs 4.716, 2048 x 32K 4.808 vs 4.438,
    256 x 256K 6.910 vs 6.291, 64 x 1M 6.911 vs 6.289, 16 x 4M 7.362 vs 6.704. The training shape (16 x 128 x
    8192, host-bound) 1.762 vs 1.724 (five rounds; its GPU time 0.857 vs 0.817 ms). Held between forward and
    backward at full 4K: 0.31 vs 0.56 GiB (torch.fft's autograd 2.44). Until the twentieth session the budget
    was the two spectra alone, which left out the paired rows (B = 2) from 256K by their per-row scales; kept
    since, fwd+bwd ms, not kept vs kept (``h200_kernels.sh s20``): 2 x 128 x 256K 5.927 vs 5.418, 2 x 32 x 1M
    6.234 vs 5.685, 2 x 16 x 2M 6.409 vs 5.855, 2 x 8 x 4M 6.711 vs 6.141 (held between forward and backward
    at 2 x 32 x 1M: 1.00 GiB, torch.fft's autograd 2.88). DNACONV_HBM_KEEP_V=0 turns it off (sweeps)."""
    if kind != "hbm" or not plan.cols or H or fraction != 1 or os.environ.get("DNACONV_HBM_KEEP_V") == "0":
        return None
    from dnaconv.kernels.fftconv.monarch_hbm import _folds

    if _layout(bplan) != _layout(plan):
        return None
    if bias is not None and not _folds(bias):
        return None
    return _reference_held(*u.shape, k.shape[-1]) - kept_bytes


class MonarchFFTConvFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, k, bias, pre_gate, post_gate, history, spectrum, fraction, grad_enabled, route):
        # the kernels index every tensor as contiguous (a strided bias gave wrong outputs on chip before)
        u, k, bias, pre_gate, post_gate, history = (
            None if x is None else x.contiguous() for x in (u, k, bias, pre_gate, post_gate, history)
        )
        L, K, H = u.shape[-1], k.shape[-1], 0 if history is None else history.shape[-1]
        plan, bwd = route or (fft_plan(L, K, H, fraction, u.dtype), None)
        if plan is None:
            raise ValueError(f"no Triton FFT plan for L = {L}, K = {K} (N > 2^24)")
        # the backward (``plan.backward_route``: its kind and plan; none without gradients) is independent of the
        # forward's plan; the fused on-chip one and the HBM one take d(post) from the forward's z where it is
        # kept (``_save_z``)
        wanted = grad_enabled and any(ctx.needs_input_grad[:5])
        ctx.kind, ctx.bplan = (None, None)
        if wanted:
            ctx.kind, ctx.bplan = bwd or backward_route(L, K, H, fraction, u.numel(), u.shape[0])
        ctx.fraction, ctx.n = fraction, plan.n
        z = None
        if ctx.kind in ("fused", "hbm") and _save_z(grad_enabled and ctx.needs_input_grad[4], post_gate):
            z = torch.empty_like(u)
        ctx.save_for_backward(u, k, bias, pre_gate, post_gate, history, z)
        ctx.spectrum = None  # the spectrum the backward takes from here (``_shared_spectrum``)
        ctx.v_spectrum = None  # and v's (``_v_budget``)
        share = spectrum is None and _shared_spectrum(u, k, H, plan, ctx.kind, ctx.bplan, fraction)
        if plan.cols:
            from dnaconv.kernels.fftconv.monarch_hbm import _folds, _forward_frame, hbm_fftconv_fwd
            from dnaconv.kernels.fftconv.monarch_hbm_bwd import _backward_frame

            if (
                share
            ):  # folded as hbm_fftconv_fwd and hbm_fftconv_bwd fold it (the saved bias stays for dbias)
                fold = _folds(bias, fraction)
                # one sequence's frames may be HERM (the first level's k_p <= P / 2, rounded up to each pass's
                # group): the rows both row passes read. Else every row, without the frames' host time (18 us,
                # a host-bound shape's 3%)
                rows, moved = None, _layout(ctx.bplan) != _layout(plan)
                if u.shape[0] == 1 and not moved:
                    rows = max(
                        f(p, *u.shape).rows for f, p in ((_forward_frame, plan), (_backward_frame, ctx.bplan))
                    )
                spectrum = ctx.spectrum = monarch_spectrum(
                    k, plan, fraction, bias if fold else None, rows, _precision(u.dtype), half=not moved
                )
                if moved:  # the backward's decomposition differs: its spectrum gathered from the forward's
                    ctx.spectrum = relayout_spectrum(spectrum, plan, ctx.bplan)
            # what the forward keeps for the backward already: the filter spectrum, z
            kept = (8 * ctx.spectrum[0].numel() if share else 0) + (
                0 if z is None else z.numel() * z.element_size()
            )
            budget = _v_budget(u, k, H, plan, ctx.kind, ctx.bplan, fraction, bias, kept)
            if share:
                bias = None if fold else bias
            y = hbm_fftconv_fwd(
                u, k, bias, pre_gate, post_gate, history, spectrum, fraction, plan=plan, z=z, keep_v=budget
            )
            if budget is None:
                return y
            y, ctx.v_spectrum = y
            return y
        if share:
            spectrum = ctx.spectrum = monarch_spectrum(k, plan, fraction, precision=_precision(u.dtype))
        return _fftconv_fwd(u, k, bias, pre_gate, post_gate, history, spectrum, fraction, z, plan)

    @staticmethod
    def backward(ctx, dy):
        with _on_device(dy):
            return MonarchFFTConvFunction._backward(ctx, dy)

    @staticmethod
    def _backward(ctx, dy):
        u, k, bias, pre_gate, post_gate, history, z = ctx.saved_tensors
        if ctx.kind == "hbm":
            from dnaconv.kernels.fftconv.monarch_hbm_bwd import hbm_fftconv_bwd

            grads = hbm_fftconv_bwd(
                dy, u, k, bias, pre_gate, post_gate, history, z, ctx.bplan, ctx.spectrum, ctx.v_spectrum
            )
        elif ctx.kind == "reference":
            grads = _reference_bwd(dy, u, k, bias, pre_gate, post_gate, history, ctx.n, ctx.fraction)
        else:
            grads = _fftconv_bwd(dy, u, k, bias, pre_gate, post_gate, history, ctx.bplan, z, ctx.spectrum)
        ctx.spectrum = ctx.v_spectrum = None
        # history is streaming state (inference only): no gradient flows into it
        return (*grads, None, None, None, None, None)


def monarch_fftconv(
    u: torch.Tensor,
    k: torch.Tensor,
    bias: torch.Tensor | None = None,
    pre_gate: torch.Tensor | None = None,
    post_gate: torch.Tensor | None = None,
    history: torch.Tensor | None = None,
    spectrum: tuple[torch.Tensor, torch.Tensor] | None = None,
    fraction: float = 1.0,
    route: tuple | None = None,
) -> torch.Tensor:
    """Fused causal long convolution (the op of ``naive_fftconv``), for blocks of up to 2^24 points: on chip
    for filters up to MAX_FFT_SIZE / 2 taps, through HBM (``monarch_hbm.py``) beyond.

    Args:
        u: [B, D, L] (fp32, bf16 or fp16)
        k: [D, K] filter (fp32)
        bias: [D] skip weight, applied to the gated input
        pre_gate, post_gate: [B, D, L]
        history: [B, D, H] gated inputs before u (streaming state)
        spectrum: optional cached ``monarch_spectrum(k, fft_plan(L, K, H, fraction, u.dtype), fraction)``
        fraction: frequency-sparse convolution keeping this fraction of each block's spectrum (``plan.py``);
            the op of ``naive_fftconv_blocked(..., n_fft=fft_plan(L, K, H, fraction).n, freq_fraction=fraction)``
        route: (``fft_plan``'s plan, ``backward_route``'s (kind, plan) or None) where the caller has them
            (``fftconv``), else planned here
    Returns:
        [B, D, L] in u's dtype

    Example:
        >>> u, k = torch.randn(2, 64, 8192, device="cuda"), torch.randn(64, 2048, device="cuda")
        >>> y = monarch_fftconv(u, k)  # partial convolution, FFT size 4096 whatever L is
    """
    # grad mode as the caller has it (inside forward it is off, and needs_input_grad ignores it): z is kept for
    # the backward only where one can follow
    with _on_device(u):
        return MonarchFFTConvFunction.apply(
            u, k, bias, pre_gate, post_gate, history, spectrum, fraction, torch.is_grad_enabled(), route
        )


def _on_device(x: torch.Tensor):
    """A context in which Triton launches on x's GPU: Triton launches on the current device, not its arguments',
    so inputs on cuda:1 while cuda:0 is current (``dnaconv embed --device cuda:1``) would run there on
    pointers it cannot read. A no-op off CUDA (the interpreter)."""
    return torch.cuda.device(x.device) if x.is_cuda else contextlib.nullcontext()
