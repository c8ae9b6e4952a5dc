"""Triton building blocks of the Monarch FFT kernels: matrix products in the chosen precision, the two-level
DFT of real or complex segments and its inverse (on the tensor cores), loading the DFT matrices and the gated
input, power-of-two scaling for fp16 operands; and, on the host, the DFT matrices themselves.

A segment of N = N1 N2 points is a tile [N1, N2] holding time N2 n1 + n2; after the forward DFT, entry
[k1, k2] holds frequency k1 + N1 k2 (only the M kept columns k2 when frequency-sparse, see ``plan.py``).
"""

from __future__ import annotations

import math
import os

import torch
import triton
import triton.language as tl

from dnaconv.kernels.fftconv.plan import kept_columns


@triton.jit
def _mm(a, b, PRECISION: tl.constexpr, acc=None):
    """Real matrix product a @ b (+ acc), fp32 accumulation. PRECISION: 0 = tf32, 1 = 3xtf32 (fp32 accuracy),
    2 = fp16 operands (the caller keeps them in range by scaling)."""
    if PRECISION == 0:
        return tl.dot(a, b, acc, input_precision="tf32")
    elif PRECISION == 1:
        return tl.dot(a, b, acc, input_precision="tf32x3")
    else:
        return tl.dot(a.to(tl.float16), b.to(tl.float16), acc)


@triton.jit
def _op(x, PRECISION: tl.constexpr):
    """A tile kept in the dtype the products take: fp16 for PRECISION 2 (half its registers), else as is."""
    if PRECISION == 2:
        return x.to(tl.float16)
    else:
        return x


@triton.jit
def _rmm(
    x, f, G: tl.constexpr, M: tl.constexpr, K: tl.constexpr, PRECISION: tl.constexpr, N: tl.constexpr = 0
):
    """x [G, M, K] @ f [K, N] (N = K by default) for G segments at once: one [G*M, K] product keeps the
    tensor cores busy."""
    NO: tl.constexpr = K if N == 0 else N
    return tl.reshape(_mm(tl.reshape(x, (G * M, K)), f, PRECISION), (G, M, NO))


@triton.jit
def _rmm2(x, f, x2, f2, SIGN: tl.constexpr,
          G: tl.constexpr, M: tl.constexpr, K: tl.constexpr, PRECISION: tl.constexpr, N: tl.constexpr = 0):  # fmt: skip
    """x @ f + SIGN * (x2 @ f2) as ``_rmm``, accumulated in one fp32 tile. Against two products added
    afterwards (H200, 2026-11-28, ``h200_kernels.sh knobs``): 1.970 vs 2.077 ms at N = 4096, 1.791 vs 1.866 at
    a single N = 2048 segment, 1.142 vs 1.094 at N = 1024."""
    NO: tl.constexpr = K if N == 0 else N
    acc = _mm(tl.reshape(x2, (G * M, K)), f2, PRECISION)
    if SIGN < 0:
        acc = -acc
    return tl.reshape(_mm(tl.reshape(x, (G * M, K)), f, PRECISION, acc), (G, M, NO))


@triton.jit
def _stage2(btr, bti, f2r, f2i, ttr, tti,
            G: tl.constexpr, N1: tl.constexpr, N2: tl.constexpr, PRECISION: tl.constexpr, M: tl.constexpr):  # fmt: skip
    """The forward DFTs' second half: stage 1's result [G, N2, k1] twiddled, back to [G, k1, n2], and F2 (the M
    kept columns) along n2 -> (Xr, Xi) [G, N1, M]."""
    cr = tl.permute(btr * ttr - bti * tti, (0, 2, 1))
    ci = tl.permute(btr * tti + bti * ttr, (0, 2, 1))
    xr = _rmm2(cr, f2r, ci, f2i, -1, G, N1, N2, PRECISION, M)
    xi = _rmm2(cr, f2i, ci, f2r, 1, G, N1, N2, PRECISION, M)
    return xr, xi


@triton.jit
def _forward_dft(a, f1r, f1i, f2r, f2i, ttr, tti,
                 G: tl.constexpr, N1: tl.constexpr, N2: tl.constexpr, PRECISION: tl.constexpr,
                 M: tl.constexpr):  # fmt: skip
    """DFT of G real segments a [G, N1, N2] (time N2 n1 + n2) -> (Xr, Xi) [G, N1, M], frequency k1 + N1 k2
    for the M kept columns k2 (f2 [N2, M]: all N2 unless frequency-sparse).

    Stage 1 (F1 along n1) runs on the transposed tile so that both stages are right-multiplications. A tile of
    R1 < N1 rows holds R1 of the segment's rows (the rest are zero): f1 is then F1's rows for them [R1, N1]."""
    R1: tl.constexpr = a.shape[1]
    at = tl.permute(a, (0, 2, 1))  # [G, N2, R1]
    btr = _rmm(at, f1r, G, N2, R1, PRECISION, N1)  # [G, N2, k1]
    bti = _rmm(at, f1i, G, N2, R1, PRECISION, N1)
    return _stage2(btr, bti, f2r, f2i, ttr, tti, G, N1, N2, PRECISION, M)


@triton.jit
def _inverse_dft_real(yr, yi, f1r, f1i, g2r, g2i, tr, ti,
                      G: tl.constexpr, N1: tl.constexpr, N2: tl.constexpr, PRECISION: tl.constexpr,
                      M: tl.constexpr):  # fmt: skip
    """Real part of the unscaled inverse DFT of permuted spectra [G, N1, M] -> [G, O1, N2] time order
    (g2 [M, N2]: the kept rows of F2). f1 [N1, O1]: F1, or its columns for O1 of the rows of time."""
    O1: tl.constexpr = f1r.shape[1]
    cr = _rmm2(yr, g2r, yi, g2i, 1, G, N1, M, PRECISION, N2)  # [G, k1, n2]
    ci = _rmm2(yi, g2r, yr, g2i, -1, G, N1, M, PRECISION, N2)
    br = tl.permute(cr * tr + ci * ti, (0, 2, 1))  # conj twiddle, [G, n2, k1]
    bi = tl.permute(ci * tr - cr * ti, (0, 2, 1))
    yt = _rmm2(br, f1r, bi, f1i, 1, G, N2, N1, PRECISION, O1)  # [G, n2, n1]
    return tl.permute(yt, (0, 2, 1))


@triton.jit
def _forward_dft_complex(ar, ai, f1r, f1i, f2r, f2i, ttr, tti,
                         G: tl.constexpr, N1: tl.constexpr, N2: tl.constexpr, PRECISION: tl.constexpr,
                         M: tl.constexpr):  # fmt: skip
    """DFT of G complex segments (ar + i ai) [G, N1, N2] -> (Xr, Xi) [G, N1, M] (as ``_forward_dft``)."""
    atr = tl.permute(ar, (0, 2, 1))
    ati = tl.permute(ai, (0, 2, 1))
    btr = _rmm2(atr, f1r, ati, f1i, -1, G, N2, N1, PRECISION)
    bti = _rmm2(atr, f1i, ati, f1r, 1, G, N2, N1, PRECISION)
    return _stage2(btr, bti, f2r, f2i, ttr, tti, G, N1, N2, PRECISION, M)


@triton.jit
def _inverse_dft_complex(yr, yi, f1r, f1i, g2r, g2i, tr, ti,
                         G: tl.constexpr, N1: tl.constexpr, N2: tl.constexpr, PRECISION: tl.constexpr,
                         M: tl.constexpr):  # fmt: skip
    """Unscaled inverse DFT of permuted spectra [G, N1, M] -> complex (zr, zi) [G, N1, N2] in time order."""
    cr = _rmm2(yr, g2r, yi, g2i, 1, G, N1, M, PRECISION, N2)
    ci = _rmm2(yi, g2r, yr, g2i, -1, G, N1, M, PRECISION, N2)
    br = tl.permute(cr * tr + ci * ti, (0, 2, 1))
    bi = tl.permute(ci * tr - cr * ti, (0, 2, 1))
    zr = _rmm2(br, f1r, bi, f1i, 1, G, N2, N1, PRECISION)
    zi = _rmm2(bi, f1r, br, f1i, -1, G, N2, N1, PRECISION)
    return tl.permute(zr, (0, 2, 1)), tl.permute(zi, (0, 2, 1))


@triton.jit
def _load_f1(f1r_ptr, f1i_ptr, N1: tl.constexpr):
    """F1 [N1, N1] (symmetric)."""
    a1 = tl.arange(0, N1)
    i1 = a1[:, None] * N1 + a1[None, :]
    return tl.load(f1r_ptr + i1), tl.load(f1i_ptr + i1)


@triton.jit
def _load_f2(f2r_ptr, f2i_ptr, N2: tl.constexpr, M: tl.constexpr):
    """F2's kept columns [N2, M]."""
    i2 = tl.arange(0, N2)[:, None] * M + tl.arange(0, M)[None, :]
    return tl.load(f2r_ptr + i2), tl.load(f2i_ptr + i2)


@triton.jit
def _load_g2(g2r_ptr, g2i_ptr, N2: tl.constexpr, M: tl.constexpr):
    """F2's kept rows [M, N2]."""
    j2 = tl.arange(0, M)[:, None] * N2 + tl.arange(0, N2)[None, :]
    return tl.load(g2r_ptr + j2), tl.load(g2i_ptr + j2)


@triton.jit
def _load_twiddles(twr_ptr, twi_ptr, N1: tl.constexpr, N2: tl.constexpr, TRANSPOSED: tl.constexpr):
    """The twiddles T [1, N1, N2], or T^T [1, N2, N1]. They are loaded 3-D, in the layout they are used in:
    loaded 2-D and expanded afterwards, they spilled 224 bytes instead of 32 at N = 2048 (python -m
    dnaconv.pipelines.kernel_regs)."""
    a1 = tl.arange(0, N1)
    a2 = tl.arange(0, N2)
    if TRANSPOSED:
        it = a2[:, None] + a1[None, :] * N2
    else:
        it = a1[:, None] * N2 + a2[None, :]
    return tl.load((twr_ptr + it)[None]), tl.load((twi_ptr + it)[None])


@triton.jit
def _load_dft(f1r_ptr, f1i_ptr, f2r_ptr, f2i_ptr, g2r_ptr, g2i_ptr, twr_ptr, twi_ptr,
              N1: tl.constexpr, N2: tl.constexpr, M: tl.constexpr):  # fmt: skip
    """F1 (symmetric), F2's kept columns [N2, M] and rows [M, N2], the twiddles T [N1, N2] and T^T. Dense
    (M = N2): F2 is symmetric and serves both (a second copy would cost registers)."""
    f1r, f1i = _load_f1(f1r_ptr, f1i_ptr, N1)
    f2r, f2i = _load_f2(f2r_ptr, f2i_ptr, N2, M)
    if M == N2:
        g2r = f2r
        g2i = f2i
    else:
        g2r, g2i = _load_g2(g2r_ptr, g2i_ptr, N2, M)
    tr, ti = _load_twiddles(twr_ptr, twi_ptr, N1, N2, False)
    ttr, tti = _load_twiddles(twr_ptr, twi_ptr, N1, N2, True)
    return f1r, f1i, f2r, f2i, g2r, g2i, tr, ti, ttr, tti


@triton.jit
def _forward_dft_complex_at(ar, ai, f1r_ptr, f1i_ptr, f2r_ptr, f2i_ptr, twr_ptr, twi_ptr,
                            G: tl.constexpr, N1: tl.constexpr, N2: tl.constexpr, PRECISION: tl.constexpr,
                            M: tl.constexpr):  # fmt: skip
    """``_forward_dft_complex`` with each DFT matrix loaded from its pointer where it is used (L1 and L2 hits),
    so that none of them holds registers across a whole kernel: for the kernels whose complex rows leave no
    room for ten resident matrices (the HBM row passes)."""
    atr = tl.permute(ar, (0, 2, 1))
    ati = tl.permute(ai, (0, 2, 1))
    f1r, f1i = _load_f1(f1r_ptr, f1i_ptr, N1)
    btr = _rmm2(atr, f1r, ati, f1i, -1, G, N2, N1, PRECISION)
    bti = _rmm2(atr, f1i, ati, f1r, 1, G, N2, N1, PRECISION)
    ttr, tti = _load_twiddles(twr_ptr, twi_ptr, N1, N2, True)
    f2r, f2i = _load_f2(f2r_ptr, f2i_ptr, N2, M)
    return _stage2(btr, bti, f2r, f2i, ttr, tti, G, N1, N2, PRECISION, M)


@triton.jit
def _inverse_dft_complex_at(yr, yi, f1r_ptr, f1i_ptr, g2r_ptr, g2i_ptr, twr_ptr, twi_ptr,
                            G: tl.constexpr, N1: tl.constexpr, N2: tl.constexpr, PRECISION: tl.constexpr,
                            M: tl.constexpr):  # fmt: skip
    """``_inverse_dft_complex`` with the matrices loaded where they are used (``_forward_dft_complex_at``)."""
    g2r, g2i = _load_g2(g2r_ptr, g2i_ptr, N2, M)
    cr = _rmm2(yr, g2r, yi, g2i, 1, G, N1, M, PRECISION, N2)
    ci = _rmm2(yi, g2r, yr, g2i, -1, G, N1, M, PRECISION, N2)
    tr, ti = _load_twiddles(twr_ptr, twi_ptr, N1, N2, False)
    br = tl.permute(cr * tr + ci * ti, (0, 2, 1))
    bi = tl.permute(ci * tr - cr * ti, (0, 2, 1))
    f1r, f1i = _load_f1(f1r_ptr, f1i_ptr, N1)
    zr = _rmm2(br, f1r, bi, f1i, 1, G, N2, N1, PRECISION)
    zi = _rmm2(bi, f1r, br, f1i, -1, G, N2, N1, PRECISION)
    return tl.permute(zr, (0, 2, 1)), tl.permute(zi, (0, 2, 1))


@triton.jit
def _load_gated(u_row, pre_row, hist_row, t, L, H, HAS_PRE: tl.constexpr, HAS_HIST: tl.constexpr, lo=0):
    """The gated input v = u * pre at times t (fp32) from ``lo`` (at least 0) on, history at t < 0, zeros
    elsewhere. A bound on t, not a rewrite of t, keeps the loads vectorised (``monarch_hbm._owned_times``)."""
    inside = (t >= lo) & (t < L)
    v = tl.load(u_row + t, mask=inside, other=0.0).to(tl.float32)
    if HAS_PRE:
        v = v * tl.load(pre_row + t, mask=inside, other=0.0).to(tl.float32)
    if HAS_HIST:
        th = H + t
        v += tl.load(hist_row + th, mask=(t < 0) & (th >= 0), other=0.0).to(tl.float32)
    return v


@triton.jit
def _scale(x, PRECISION: tl.constexpr):
    """For fp16 operands: a power of two that brings max |x| to about 1 (exact to undo); else 1."""
    if PRECISION == 2:
        mx = tl.max(tl.max(tl.max(tl.abs(x), axis=2), axis=1), axis=0)
        return tl.exp2(tl.ceil(tl.log2(tl.maximum(mx, 1e-30))))
    else:
        return 1.0


@triton.jit
def _conv_tile(v, kr, ki, f1r, f1i, f2r, f2i, g2r, g2i, tr, ti, ttr, tti,
               G: tl.constexpr, N1: tl.constexpr, N2: tl.constexpr, PRECISION: tl.constexpr,
               M: tl.constexpr, e1r=None, e1i=None):  # fmt: skip
    """Circular convolution of the segments v [G, N1, N2] with the (1/N-scaled, permuted) spectrum [N1, M].
    Half tiles (see the DFTs): v holds some rows, f1 = F1's rows for them, e1 = its columns for the rows of the
    result (the forward's HALF: the last rows in, the same rows out)."""
    sv = _scale(v, PRECISION)
    xr, xi = _forward_dft(v / sv, f1r, f1i, f2r, f2i, ttr, tti, G, N1, N2, PRECISION, M)
    yr = xr * kr - xi * ki
    yi = xr * ki + xi * kr
    sy = _scale(tl.maximum(tl.abs(yr), tl.abs(yi)), PRECISION)
    if e1r is None:
        y = _inverse_dft_real(yr / sy, yi / sy, f1r, f1i, g2r, g2i, tr, ti, G, N1, N2, PRECISION, M)
    else:
        y = _inverse_dft_real(yr / sy, yi / sy, e1r, e1i, g2r, g2i, tr, ti, G, N1, N2, PRECISION, M)
    return y * (sv * sy)


# ------------------------------------------------------------------------------------------------------
# Host side
# ------------------------------------------------------------------------------------------------------


_DFT_CACHE: dict = {}


def _dft(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    a = torch.arange(size, dtype=torch.float64)
    ang = -2 * math.pi * torch.outer(a, a) / size
    return torch.cos(ang), torch.sin(ang)


def _matrix_dtype(precision: int | None) -> torch.dtype:
    """The DFT matrices' storage dtype for products of ``precision`` (``_mm``): fp16 for fp16 operands, which
    convert them to fp16 at every use anyway (the same products, half the bytes a kernel loads, no
    conversions); else fp32. DNACONV_DFT_HALF=0 keeps fp32 (sweeps)."""
    half = precision == 2 and os.environ.get("DNACONV_DFT_HALF") != "0"
    return torch.float16 if half else torch.float32


def _dft_matrices(
    n1: int, n2: int, device, fraction: float = 1.0, precision: int | None = None
) -> tuple[torch.Tensor, ...]:
    """F1 [n1, n1]; F2's kept columns [n2, M] and rows [M, n2] (in ``_matrix_dtype(precision)``); the
    twiddles [n1, n2] (fp32: they multiply fp32 tiles) (real, imaginary)."""
    dtype = _matrix_dtype(precision)
    key = (n1, n2, str(device), fraction, dtype)
    if key not in _DFT_CACHE:
        f1r, f1i = _dft(n1)
        f2r, f2i = _dft(n2)
        kept = kept_columns(n2, fraction)
        ang = (
            -2
            * math.pi
            * torch.outer(torch.arange(n1, dtype=torch.float64), torch.arange(n2, dtype=torch.float64))
        )
        ang = ang / (n1 * n2)
        mats = (f1r, f1i, f2r[:, kept], f2i[:, kept], f2r[kept], f2i[kept])
        mats = tuple(x.to(dtype).contiguous().to(device) for x in mats)
        tw = tuple(x.float().contiguous().to(device) for x in (torch.cos(ang), torch.sin(ang)))
        _DFT_CACHE[key] = mats + tw
    return _DFT_CACHE[key]
