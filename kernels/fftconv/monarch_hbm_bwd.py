"""Backward of the HBM convolution (``monarch_hbm.py``) for long, large convolutions (``plan.backward_kind``).

With g = dy * post and v = u * pre (the gated input):

    d(post) = dy * z            z = conv + bias v, stored by the forward (or recomputed)
    dv[t]   = sum_s k[s] g[t + s] + bias g[t]      the convolution of the reversed g, reversed back
    du = dv * pre,  d(pre) = dv * u,  d(bias) = sum g v
    dk[s]   = sum over batch and t of g[t] v[t - s]   (history before t = 0)

**The direct route** (``_direct``: wherever the skip term folds into the filter spectrum, as it does by
default) stays in forward time. dv[t] = sum_s k[s] g[t + s] + bias g[t] is a correlation: in a frame, the
spectrum of g times the conjugate of the (folded) filter spectrum; dk[s] = sum_t g[t] v[t - s] is G conj(V)
summed over blocks. Where a sequence is one block (a full-length filter) its frame is the forward's: the
sequence at positions KM1 ... KM1 + L - 1 after zeros, which neither correlation wraps into. Over several
blocks each block outputs its first C positions and reads the K' - 1 after them (ANTI, ``_col_fwd_kernel``;
v only at the C it outputs). g's column pass reads dy and post, v's reads u and pre (both gated, ascending,
vectorised), the row pass takes the conjugate spectrum (``_row_dk_kernel``'s CONJ), and the last inverse
pass writes du = dv pre and d(pre) = dv u (``_store_out``'s GRADS); d(bias) = sum g v is dk's lag 0 and
d(post) = dy z one torch op. No gates or inputs kernel, no reversed copies. Where the forward kept v's
spectrum (``hbm_fftconv_fwd``'s ``keep_v``: one block, ``monarch._v_budget``) the backward neither reads u
and pre for v nor transforms it (SAVED).

**The reversed route** (DNACONV_HBM_DIRECT=0, or a skip term left unfolded): ``_gates_kernel`` reads dy,
post, z, u and pre once and writes d(post), g reversed in u's dtype (the
convolution's input), v reversed in fp32 (for dk, ``_v_reversed``) and per-program partial sums of d(bias).
One HBM convolution of the reversed g (time t' = L - 1 - t) then gives dv, and its row pass also gives dk:

    dk[s] = sum_t' g'[t'] v'[t' + s]      (g', v': g and v reversed)

Split by the block that outputs t' + s: block j's frame holds g' at all N positions (the convolution's own
input) and v' where the block outputs (positions m >= K' - 1, zero elsewhere; ``monarch_hbm._owned_times``), so
dk[s] = sum_j sum_m v'_j[m] g'_j[m - s] = IFFT(sum_j V_j conj(G_j))[s] without wrap-around for s < K'. With
segments paired (a complex block x = a + i b), X_v conj(X_g) sums the two segments' products in its real part
after the inverse (the cross terms are imaginary). ``_row_dk_kernel`` takes SEGS segments of one filter per
program, convolves each (as ``_row_kernel``) and accumulates V conj(G) of its rows in fp32 registers; the host
sums the programs' partial spectra, and the convolution's own inverse passes take them back to taps
(``_dk_taps``; below DK_PASSES_SIZE elements a gather into frequency order and one torch.fft inverse per
channel, ``_dk_passes``). The lags that reach into the history (t - s < 0) are a small torch.fft correlation
of g's first K' - 1 positions. ``_inputs_kernel`` turns the reversed dv into du and d(pre). The history gets
no gradient.

One sequence's one block (nothing to pair; at N in ``plan.HBM_BWD_HERM_N``, or forced by DNACONV_HBM_BWD=1)
takes the forward's HERM frame (``monarch_hbm``): the rows k_p <= P / 2 of the first column level. dv follows
as in the forward. V conj(G) is the spectrum of a real correlation, Hermitian too. Through the passes, the
last inverse pass takes the real part of the Hermitian whole from the HERM frame's rows, as the forward's
does; through torch.fft, the frequencies 0..N / 2 come from the stored rows or, conjugated, from their
mirrors N - f (``_half_storage_of``), and one irfft per channel gives dk.
"""

from __future__ import annotations

import os

import torch
import triton
import triton.language as tl

from dnaconv.kernels.fftconv.dft import (
    _dft_matrices,
    _forward_dft_complex,
    _forward_dft_complex_at,
    _load_dft,
    _scale,
)
from dnaconv.kernels.fftconv.monarch import _launch_shape, _precision, monarch_spectrum
from dnaconv.kernels.fftconv.monarch_hbm import (
    _columns,
    _filter_back,
    _filter_rows,
    _folds,
    _Frame,
    _half_intermediate,
    _inverse_columns,
    _lazy,
    _load_rows,
    _row_kernel,
    hbm_fftconv_fwd,
    mirror_args,
)
from dnaconv.kernels.fftconv.naive import next_fast_len
from dnaconv.kernels.fftconv.plan import cdiv, freq_order, hbm_plan

__all__ = ["hbm_fftconv_bwd"]

BLOCK = 1024  # time positions per program of the elementwise kernels


@triton.jit
def _gates_kernel(
    dy_ptr, post_ptr, z_ptr, u_ptr, pre_ptr, dpost_ptr, grev_ptr, vrev_ptr, dbias_ptr, L, n_tblk,
    HAS_POST: tl.constexpr, HAS_PRE: tl.constexpr, STORE_V: tl.constexpr, BLOCK: tl.constexpr,
):  # fmt: skip
    """One (row, time block): d(post) = dy z, g = dy post (reversed, in u's dtype), STORE_V: v = u pre
    (reversed, fp32), and the block's sum of g v (d(bias))."""
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
    tl.store(grev_ptr + base + (L - 1 - t), g.to(grev_ptr.dtype.element_ty), mask=m)
    if STORE_V:
        tl.store(vrev_ptr + base + (L - 1 - t), v, mask=m)
    tl.store(dbias_ptr + row * n_tblk + tb, tl.sum(g * v, axis=0))


@triton.jit
def _row_dk_kernel(
    xr_ptr, xi_ptr, wr_ptr, wi_ptr, kfr_ptr, kfi_ptr,
    f1r_ptr, f1i_ptr, f2r_ptr, f2i_ptr, g2r_ptr, g2i_ptr, twr_ptr, twi_ptr, dkr_ptr, dki_ptr,
    csx_ptr, csw_ptr, rs_ptr,
    D, PER, ROWS, n_groups, n_chunks, n_sblk, RL, PL, KROWS, P1, Q,
    SEGS: tl.constexpr, G: tl.constexpr, N1: tl.constexpr, N2: tl.constexpr, PRECISION: tl.constexpr,
    LAZY: tl.constexpr = False, SCALED: tl.constexpr = False, COLS: tl.constexpr = 64,
    MIRROR: tl.constexpr = False, CONJ: tl.constexpr = False, SAVED: tl.constexpr = False, VROWS=None,
):  # fmt: skip
    """G rows of SEGS segments of one filter (group q: segments q PER + j): each row of x (g's intermediate)
    transformed, times the filter spectrum and back, in place (``_row_kernel``); the same rows of w (v's)
    transformed, and sum_j W conj(X) stored as the program's partial spectrum [groups, chunks, ROWS, N1, N2].
    SCALED: x and w in fp16 over their first column passes' tile scales (csx, csw), x's rows stored back over
    their own (rs), as ``_row_kernel``. The filter spectrum: KROWS rows a channel, MIRROR as ``_row_kernel``'s.
    CONJ (the direct backward, in forward time): x times the filter spectrum's conjugate (a correlation), and
    sum_j X conj(W) stored instead. SAVED: w is v's spectrum as the forward's row pass kept it (``_row_kernel``'s
    KEEP: VROWS rows a segment, csw its scale per row), not transformed here."""
    grp = tl.program_id(0) % n_groups
    chunk = (tl.program_id(0) // n_groups) % n_chunks
    q = tl.program_id(0) // (n_groups * n_chunks)
    d = q % D
    rows = grp * G + tl.arange(0, G)[:, None, None]  # [G, 1, 1]
    pos = rows * (N1 * N2) + tl.arange(0, N1)[None, :, None] * N2 + tl.arange(0, N2)[None, None, :]
    if not LAZY:
        f1r, f1i, f2r, f2i, g2r, g2i, tr, ti, ttr, tti = _load_dft(
            f1r_ptr, f1i_ptr, f2r_ptr, f2i_ptr, g2r_ptr, g2i_ptr, twr_ptr, twi_ptr, N1, N2, N2
        )
    accr = tl.zeros([G, N1, N2], dtype=tl.float32)
    acci = tl.zeros([G, N1, N2], dtype=tl.float32)
    for j in range(chunk * SEGS, tl.minimum(chunk * SEGS + SEGS, PER)):
        seg = q * PER + j
        off = seg.to(tl.int64) * (ROWS * N1 * N2) + pos
        sub = seg * RL + rows // PL  # the last column pass's sub-problem of each row (its tile scales)
        ar, ai = _load_rows(xr_ptr, xi_ptr, off, csx_ptr, sub, n_sblk, N1, N2, COLS, SCALED)
        sa = _scale(tl.maximum(tl.abs(ar), tl.abs(ai)), PRECISION)
        if SAVED:  # v's spectrum as the forward's row pass kept it, over a scale per row
            voff = seg.to(tl.int64) * (VROWS * N1 * N2) + pos
            wr = tl.load(wr_ptr + voff).to(tl.float32)
            wi = tl.load(wi_ptr + voff).to(tl.float32)
            s = sa * tl.load(csw_ptr + seg.to(tl.int64) * VROWS + rows)
        else:
            br, bi = _load_rows(wr_ptr, wi_ptr, off, csw_ptr, sub, n_sblk, N1, N2, COLS, SCALED)
            sb = _scale(tl.maximum(tl.abs(br), tl.abs(bi)), PRECISION)
            s = sa * sb
            if LAZY:
                wr, wi = _forward_dft_complex_at(br / sb, bi / sb, f1r_ptr, f1i_ptr, f2r_ptr, f2i_ptr, twr_ptr,
                                                 twi_ptr, G, N1, N2, PRECISION, N2)  # fmt: skip
            else:
                wr, wi = _forward_dft_complex(
                    br / sb, bi / sb, f1r, f1i, f2r, f2i, ttr, tti, G, N1, N2, PRECISION, N2
                )
        kr, ki = _filter_rows(kfr_ptr, kfi_ptr, d, rows, KROWS, P1, Q, N1, N2, N2, MIRROR)
        if CONJ:
            ki = -ki
        if LAZY:
            xr, xi = _forward_dft_complex_at(ar / sa, ai / sa, f1r_ptr, f1i_ptr, f2r_ptr, f2i_ptr, twr_ptr,
                                             twi_ptr, G, N1, N2, PRECISION, N2)  # fmt: skip
            accr += (wr * xr + wi * xi) * s
            acci += (wi * xr - wr * xi) * (-s if CONJ else s)
            so = _filter_back(xr, xi, kr, ki, sa, xr_ptr, xi_ptr, off, f1r_ptr, f1i_ptr, g2r_ptr, g2i_ptr,
                              twr_ptr, twi_ptr, G, N1, N2, PRECISION, N2, LAZY=True, SCALED=SCALED)  # fmt: skip
        else:
            xr, xi = _forward_dft_complex(
                ar / sa, ai / sa, f1r, f1i, f2r, f2i, ttr, tti, G, N1, N2, PRECISION, N2
            )
            accr += (wr * xr + wi * xi) * s
            acci += (wi * xr - wr * xi) * (-s if CONJ else s)
            so = _filter_back(xr, xi, kr, ki, sa, xr_ptr, xi_ptr, off, f1r, f1i, g2r, g2i, tr, ti, G, N1, N2,
                              PRECISION, N2, SCALED=SCALED)  # fmt: skip
        if SCALED:
            tl.store(rs_ptr + seg.to(tl.int64) * ROWS + rows, so + tl.zeros([G, 1, 1], dtype=tl.float32))
    out = (q * n_chunks + chunk).to(tl.int64) * (ROWS * N1 * N2) + pos
    tl.store(dkr_ptr + out, accr)
    tl.store(dki_ptr + out, acci)


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


def _dk_shape(n1: int, n2: int, rows: int, per: int) -> tuple[int, int, int]:
    """(G rows, SEGS segments, num_warps) per ``_row_dk_kernel`` program: rows of at most 2048 points (it holds
    the accumulator, two spectra and the DFT matrices), up to 8 segments, evened out over the programs of a
    group, 4 warps. H200, 2026-11-29, the backward alone, bf16 gated, L = 2.3M x 32 channels (``h200_kernels.sh
    hbmdk``): K = 4096 (rows of 4096 points) 3.34 ms with 4 warps vs 3.88 with 8, 4.08 with 4 segments, 3.96
    with 16; K = 64K at 1M x 64 6.37 vs 7.22. DNACONV_HBM_DK_POINTS, DNACONV_HBM_DK_SEGS and
    DNACONV_HBM_DK_WARPS override them (sweeps)."""
    g = max(1, min(rows, int(os.environ.get("DNACONV_HBM_DK_POINTS", 2048)) // (n1 * n2)))
    segs = min(int(os.environ.get("DNACONV_HBM_DK_SEGS", 8)), per)
    segs = cdiv(per, cdiv(per, segs))  # 19 segments: 7, 7, 5 rather than 8, 8, 3
    return g, segs, int(os.environ.get("DNACONV_HBM_DK_WARPS", 4))


def _v_reversed() -> bool:
    """Whether the gates kernel writes v reversed (fp32) for the column pass of v's frames, which then reads it
    in ascending order, rather than that pass reading u and pre in reversed order itself (ncu, H200, L = 2.3M x
    32, K = 8192: 456 us for that pass against 223 for g's, which reads its reversed input in ascending
    order). DNACONV_HBM_VREV=0: the latter (sweeps)."""
    return os.environ.get("DNACONV_HBM_VREV") != "0"


_ORDER_CACHE: dict = {}


def _storage_of(plan, device) -> torch.Tensor:
    """[N]: the storage position of each frequency (the inverse of ``plan.freq_order``) on the device, cached: a
    copy from pageable host memory synchronises the stream, which stalled the host for the ~1 ms of queued
    kernels at every backward (H200, 2026-11-29, torch.profiler: fwd+bwd at L = 2.3M x 32, K = 4096 took 4.69
    ms of wall time for 3.87 of GPU time)."""
    key = (plan.cols, plan.n1, plan.n2, str(device))
    if key not in _ORDER_CACHE:
        _ORDER_CACHE[key] = torch.argsort(freq_order(plan)).to(device)
    return _ORDER_CACHE[key]


def _half_storage_of(plan, device) -> tuple[torch.Tensor, torch.Tensor]:
    """For the frequencies f = 0..N / 2 of a HERM frame (rows k_p <= P / 2 of the first column level, k_p = f mod
    P): the storage position of f where it is stored, else of N - f (whose k_p is P - k_p, stored), and the sign
    of the imaginary part (-1: the conjugate of the mirror), on the device, cached (see ``_storage_of``)."""
    key = ("half", plan.cols, plan.n1, plan.n2, str(device))
    if key not in _ORDER_CACHE:
        n, p0 = plan.n, plan.cols[0]
        f = torch.arange(n // 2 + 1, device=device)
        stored = f % p0 <= p0 // 2
        storage = _storage_of(plan, device)
        _ORDER_CACHE[key] = (torch.where(stored, storage[f], storage[(n - f) % n]), 2.0 * stored - 1.0)
    return _ORDER_CACHE[key]


DK_PASSES_SIZE = 1 << 25  # elements (B x D x L) from which dk's taps come through the passes (``_dk_passes``)


def _dk_passes(size: int) -> bool:
    """Whether dk's spectrum goes back to taps through the convolution's own inverse passes (``_dk_taps``)
    rather than torch.fft after a gather of its bins into frequency order, for a convolution of ``size`` =
    B x D x L elements: from DK_PASSES_SIZE, where the two launches it adds cost the host less than the gather
    and the FFT cost the GPU. H200, 2026-11-30, seventeenth session, fwd+bwd ms, bf16 gated, torch.fft's tail
    vs the passes, two rounds interleaved (``h200_kernels.sh d17``): 2 x 32 x 1M 8.803 vs 7.699, one sequence
    64 x 1M 11.356 vs 9.289, 256 x 256K 11.098 vs 9.126, 4 x 256 x 64K 5.447 vs 4.815, 8 x 512 x 16K 4.226 vs
    3.943, K = 64K at 1M x 64 4.540 vs 4.302, K = 16K at 2.3M x 32 3.190 vs 3.156, K = 1024 there 2.470 vs
    2.454; but the host-bound training shape (16 x 128 x 8192, 2^24 elements) 1.933 vs 2.079.
    DNACONV_HBM_DK_TAIL=fft or =passes takes one everywhere (sweeps)."""
    env = os.environ.get("DNACONV_HBM_DK_TAIL")
    return env == "passes" if env else size >= DK_PASSES_SIZE


def _dk_taps(dkr, dki, f, plan, prec) -> torch.Tensor:
    """dk's taps [D, K'] from its spectrum (dkr, dki) [D, f.seg_n] in the storage order of the backward's frame
    ``f`` (a HERM frame's rows where ``f.herm``): the row pass's inverse DFT alone (``_row_kernel``'s BACK),
    times 1/N, in place, then the inverse column passes, whose last takes the real part (with a HERM frame, of
    the Hermitian whole, as the forward's) and writes the first K' positions only (``_live_rows``); over N, as
    ``torch.fft.ifft``. The order the passes left the spectrum in is theirs to undo, so no gather of bins."""
    D = dkr.shape[0]
    # one segment a channel, in f's layout
    fk = _Frame(plan, 1, D, plan.k_eff, herm=f.herm, group=f.group, km1=0)
    assert (fk.seg_n, fk.herm, fk.rows) == (f.seg_n, f.herm, f.rows)
    x = (dkr.contiguous().view(-1), dki.contiguous().view(-1))
    g, warps, opts = _launch_shape(plan.n1, plan.n2, plan.n // (plan.n1 * plan.n2), "rows")
    g = g if fk.rows % g == 0 else f.group  # a HERM frame's rows: a multiple of f's group, maybe not of g
    where, cols = fk.row_scale_args()
    _row_kernel[(fk.n_seg * (fk.rows // g),)](
        *x, *x, *_dft_matrices(plan.n1, plan.n2, dkr.device, 1.0, prec), *x, D, fk.per, fk.rows, fk.rows // g,
        *where, fk.rows, plan.cols[0], 1, 1.0 / plan.n, G=g, N1=plan.n1, N2=plan.n2, M=plan.n2, PRECISION=prec,
        LAZY=_lazy(plan.n1, plan.n2), BACK=True, **cols, num_warps=warps, **opts,
    )  # fmt: skip
    taps = torch.empty(1, D, plan.k_eff, device=dkr.device, dtype=torch.float32)
    _inverse_columns(fk, x, taps, None, None, None, taps, None, prec)
    return taps.view(D, plan.k_eff)


def _history_dk(dy, post_gate, history, k_eff):
    """The lags that reach before the sequence start: sum over t < s of g[t] history[H + t - s], [D, k_eff]
    (a torch.fft correlation of g's first k_eff - 1 positions with the history's last)."""
    T, Hh, H = min(dy.shape[-1], k_eff - 1), min(history.shape[-1], k_eff - 1), history.shape[-1]
    g = dy[..., :T].float()
    if post_gate is not None:
        g = g * post_gate[..., :T].float()
    v_ext = torch.cat([history[..., H - Hh :].float(), torch.zeros_like(g)], -1)  # times -Hh..T-1
    g_ext = torch.nn.functional.pad(g, (Hh, 0))
    n = next_fast_len(Hh + T + k_eff - 1)  # no wrap-around for lags 0..k_eff-1
    spec = (torch.fft.rfft(g_ext, n=n) * torch.fft.rfft(v_ext, n=n).conj()).sum(0)
    return torch.fft.irfft(spec, n=n)[:, :k_eff]


def _backward_frame(plan, B: int, D: int, L: int) -> _Frame:
    """``hbm_fftconv_bwd``'s frame: its ``rows`` are those of the filter spectrum its row pass reads (a given
    spectrum of more rows is read in place: KROWS is the stride)."""
    G = _dk_shape(plan.n1, plan.n2, plan.n // (plan.n1 * plan.n2), 1)[0]
    return _Frame(plan, B, D, L, herm=True, group=G)


def _direct(f: _Frame, bias, fold: bool) -> bool:
    """Whether the backward runs in forward time (the module doc's direct route: no reversed copies, no gates
    or inputs kernel): where the skip term folds into the spectrum (or there is none). H200, 2026-11-30,
    nineteenth session, fwd+bwd ms, bf16 gated, reversed vs direct (v's spectrum not kept), two rounds
    interleaved (``h200_kernels.sh s19``, ``f19``): full L = 4K (16 x 1024) 3.226 vs 2.944, 16K (8 x 512)
    3.170 vs 2.928, 64K (4 x 256) 4.289 vs 4.050, one sequence 1024 x 64K 5.427 vs 5.126, 2048 x 32K 5.087
    vs 4.808, 2 x 32 x 1M 6.372 vs 6.167, 64 x 1M 7.096 vs 6.884, 2 x 8 x 4M 6.803 vs 6.647; several blocks
    (ANTI) K = 64K at 1M x 64 4.184 vs 3.954, at L = 2.3M x 32 K = 16K 2.959 vs 2.737, K = 4096 2.704 vs
    2.372, K = 1024 2.420 vs 2.085. DNACONV_HBM_DIRECT=0 keeps the reversed route, =one takes the direct one
    only where a sequence is one block (sweeps)."""
    env = os.environ.get("DNACONV_HBM_DIRECT")
    return (bias is None or fold) and env != "0" and (env != "one" or f.n_blocks == 1)


def _dpost_fused(f: _Frame) -> bool:
    """Whether the direct backward's d(post) = dy z is written by g's first column pass, which loads dy anyway
    (``monarch_hbm._load_g``: z read and d(post) written there, dy not read again, one torch op fewer),
    rather than by a torch op: through one column level, or over several blocks. H200, 2026-11-30, twentieth
    session, fwd+bwd ms, bf16 gated, the torch op vs fused, two rounds interleaved (``h200_kernels.sh f20``):
    K = 64K at 1M x 64 3.827 vs 3.810, K = 16K at 2.3M x 32 2.681 vs 2.634, full L = 4K (16 x 1024) 2.641 vs
    2.626; but one block through two column levels 2 x 32 x 1M 5.617 vs 5.675 and 64 x 1M 6.226 vs 6.265 (its
    first pass holds 93-198 registers, against 64-88 at those that gained). DNACONV_HBM_DPOST=torch takes the
    op everywhere, =fused the pass (sweeps)."""
    env = os.environ.get("DNACONV_HBM_DPOST")
    return env == "fused" or env != "torch" and (len(f.levels) == 1 or f.n_blocks > 1)


def hbm_fftconv_bwd(
    dy, u, k, bias, pre_gate, post_gate, history, z=None, plan=None, spectrum=None, v_spectrum=None
):
    """Gradients (du, dk, dbias, dpre, dpost) of ``hbm_fftconv_fwd``'s op (see the module doc); ``z``: the
    forward's conv + bias v, else recomputed; ``plan``: ``hbm_plan(L, K, kind="hbm_bwd")``, else planned here;
    ``spectrum``: the filter's at ``plan``, the skip term folded as ``_folds`` does (the forward's,
    ``monarch._shared_spectrum``), else computed here; ``v_spectrum``: v's spectrum as the forward's row pass
    kept it (``hbm_fftconv_fwd``'s ``keep_v``), for the direct route's dk, else transformed here.
    Where it runs: ``plan.backward_route``."""
    B, D, L = u.shape
    K = k.shape[-1]
    H = 0 if history is None else history.shape[-1]
    dy = dy.contiguous()
    if post_gate is not None and z is None:
        z = hbm_fftconv_fwd(u, k, bias, pre_gate, None, history)  # conv + bias v, in u's dtype
    plan = plan or hbm_plan(L, K, kind="hbm_bwd")
    f = _backward_frame(plan, B, D, L)  # HERM: one sequence's one block
    fold = _folds(bias)  # dv's skip term bias g folds into the filter: k + bias delta
    direct = _direct(f, bias, fold)
    prec = _precision(u.dtype)
    half = _half_intermediate(u.dtype, plan)
    inter = torch.float16 if half else torch.float32
    saved = direct and v_spectrum is not None and v_spectrum[3] >= f.rows  # else v transformed here
    x, w = f.buffers(u.device, inter), None if saved else f.buffers(u.device, inter)
    csx, rs = f.scales(u.device) if half else (None, None)  # g's tile scales, its convolution's row scales
    csw = [torch.empty_like(c) for c in csx] if half and not saved else None  # v's tile scales
    anti = direct and f.n_blocks > 1  # blocks that output their first C positions (module doc)
    if direct:  # g = dy post and v = u pre read in forward time by their column passes
        # d(post) from g's first column pass, else a torch op
        fused = post_gate is not None and _dpost_fused(f)
        dpost = None
        if post_gate is not None:
            dpost = torch.empty_like(post_gate) if fused else (dy * z).to(post_gate.dtype)
        _columns(f, x, dy, post_gate, None, prec, cs=csx, anti=anti, dpost=(z, dpost) if fused else None)
        if not saved:
            _columns(f, w, u, pre_gate, None, prec, owned=anti, cs=csw, anti=anti)
    else:
        n_tblk = cdiv(L, BLOCK)
        dpost = torch.empty_like(post_gate) if post_gate is not None else None
        g_rev = torch.empty_like(u)
        v_rev = torch.empty(B, D, L, device=u.device, dtype=torch.float32) if _v_reversed() else None
        dbias = torch.empty(B * D, n_tblk, device=u.device, dtype=torch.float32)
        _gates_kernel[(B * D, n_tblk)](
            dy, post_gate if post_gate is not None else dy, z if z is not None else dy, u,
            pre_gate if pre_gate is not None else u, dpost if dpost is not None else dy, g_rev,
            v_rev if v_rev is not None else dbias, dbias, L, n_tblk, HAS_POST=post_gate is not None,
            HAS_PRE=pre_gate is not None, STORE_V=v_rev is not None, BLOCK=BLOCK,
        )  # fmt: skip
        dbias = None if bias is None else dbias.view(B, D, n_tblk).sum((0, 2)).to(bias.dtype)
        # dv (reversed) and dk in one HBM convolution of the reversed g (no history: g is zero past the end)
        _columns(f, x, g_rev, None, None, prec, cs=csx)
        if v_rev is not None:
            _columns(f, w, v_rev, None, None, prec, owned=True, cs=csw)
            del v_rev
        else:
            _columns(f, w, u, pre_gate, None, prec, owned=True, rev=True, cs=csw)
    G, segs, warps = _dk_shape(plan.n1, plan.n2, f.rows, f.per)
    where, cols = f.row_scale_args()
    n_groups, n_chunks, n_q = f.rows // G, cdiv(f.per, segs), f.n_seg // f.per
    dkr = torch.empty(n_q, n_chunks, f.seg_n, device=u.device, dtype=torch.float32)
    dki = torch.empty_like(dkr)
    spectrum = spectrum or monarch_spectrum(
        k, plan, 1.0, bias if fold else None, rows=f.rows, precision=prec, half=True
    )
    vw = v_spectrum[:2] if saved else w  # v's spectrum, or its column passes' output
    sw = v_spectrum[2] if saved else csw[-1] if half else x[1]  # its scales per row, or per tile
    _row_dk_kernel[(n_q * n_chunks * n_groups,)](
        *x, *vw, *spectrum,
        *_dft_matrices(plan.n1, plan.n2, u.device, 1.0, prec), dkr, dki,
        csx[-1] if half else x[0], sw, rs if half else x[0], D, f.per, f.rows, n_groups, n_chunks, *where,
        *mirror_args(spectrum[0], f, plan), SEGS=segs, G=G, N1=plan.n1, N2=plan.n2, PRECISION=prec,
        LAZY=_lazy(plan.n1, plan.n2), SCALED=half, MIRROR=spectrum[0].shape[1] < f.rows, CONJ=direct,
        SAVED=saved, VROWS=v_spectrum[3] if saved else None, **cols, num_warps=warps, num_stages=1,
    )  # fmt: skip
    scales = (csx, rs) if half else None
    du = torch.empty_like(u)
    dpre = torch.empty_like(pre_gate) if pre_gate is not None else None
    if direct:  # dv in forward time: du = dv pre and d(pre) = dv u from the last inverse pass
        _inverse_columns(f, x, u, None, pre_gate, None, du, dpre, prec, scales, grads=True, anti=anti)
    else:
        dv_rev = torch.empty_like(u)
        _inverse_columns(f, x, g_rev, None if fold else bias, None, None, dv_rev, None, prec, scales)
        _inputs_kernel[(B * D, n_tblk)](
            dv_rev, u, pre_gate if pre_gate is not None else u, du, dpre if dpre is not None else du, L,
            HAS_PRE=pre_gate is not None, BLOCK=BLOCK,
        )  # fmt: skip

    # dk: the partial spectra summed (over programs, and the batch where segments are not paired), one inverse
    # per channel; the real part (see the module doc), lags < min(K, L)
    dkr, dki = (t[:, 0] if n_chunks == 1 else t.sum(1) for t in (dkr, dki))
    # one sequence: nothing to sum, and a sum over it would copy the spectra (2 x 0.24 ms at 64 x 1M, H200,
    # torch.profiler, ``h200_kernels.sh p18``)
    if not f.pair and B > 1:
        dkr, dki = (t.view(B, D, f.seg_n).sum(0) for t in (dkr, dki))
    if _dk_passes(u.numel()):
        taps = _dk_taps(dkr, dki, f, plan, prec)
    else:  # in frequency order, torch.fft (few torch ops: at small shapes each one's host time counts)
        spec = torch.complex(dkr, dki)
        if f.herm:  # rows k_p <= P / 2 only: the frequencies 0..N / 2 from them or their mirrors (Hermitian)
            pos, conj = _half_storage_of(plan, u.device)
            hs = spec.index_select(1, pos)
            taps = torch.fft.irfft(torch.complex(hs.real, hs.imag * conj), n=plan.n)[:, : plan.k_eff]
        else:
            taps = torch.fft.ifft(spec.index_select(1, _storage_of(plan, u.device)))[:, : plan.k_eff].real
    if direct:  # d(bias) = sum g v: dk's lag 0 (the history reaches no lag 0); a copy, as dk takes the
        # history's lags in place
        dbias = None if bias is None else taps[:, 0].to(bias.dtype, copy=True)
    if K == plan.k_eff:
        dk = taps.contiguous()
    else:
        dk = torch.zeros(D, K, device=u.device, dtype=torch.float32)
        dk[:, : plan.k_eff] = taps
    if H > 0:
        k_eff = min(K, H + L)
        dk[:, :k_eff] += _history_dk(dy, post_gate, history, k_eff)
    return du, dk.to(k.dtype), dbias, dpre, dpost
