"""The Triton FFT convolution through HBM (blocks of 8192 to 2^24 points) and the frequency-sparse variants
of both Triton kernels, against the references.

Without CUDA these run under TRITON_INTERPRET=1 (tests/conftest.py) at the smallest block sizes.
"""

from __future__ import annotations

import pytest
import torch

import dnaconv.kernels.fftconv.monarch as monarch_mod
import dnaconv.kernels.fftconv.plan as plan_mod
from dnaconv.kernels.fftconv import fftconv, naive_fftconv, naive_fftconv_blocked
from dnaconv.kernels.fftconv.monarch import monarch_fftconv
from dnaconv.kernels.fftconv.plan import (
    FFTPlan,
    block_overlap,
    fft_plan,
    freq_order,
    hbm_plan,
    kept_columns,
    sparse_ok,
)
from dnaconv.kernels.testing import BF16_FLOOR, assert_close, rel_rms_error
from tests.kernels.helpers import DEVICE, conv_inputs, exact_conv, route_as_on_cuda, spy_launches

# (B, D, L, K, H): a partial filter over several blocks, one with streaming history, a full-length filter of
# odd length, a filter longer than the sequence; D not a multiple of 16.
SHAPES = [
    (1, 3, 30_000, 3000, 0),
    (2, 3, 14_000, 2500, 2600),
    (1, 3, 5001, 5001, 0),
    (1, 2, 3000, 9000, 0),
]
IDS = [f"B{b}-D{d}-L{L}-K{k}-H{h}" for b, d, L, k, h in SHAPES]


_inputs = conv_inputs


def _forwards_under(monkeypatch, name: str, values, xs) -> dict:
    """{value: the forward without gradients of ``xs`` (u, k, bias, pre, post, history) as float64 on the CPU,
    with the environment variable ``name`` set to it} for each of ``values``."""
    out = {}
    for value in values:
        monkeypatch.setenv(name, value)
        with torch.no_grad():
            out[value] = monarch_fftconv(*xs[:5], history=xs[5]).cpu().double()
    return out


def _cpu(xs):
    return [None if x is None else x.cpu() for x in xs]


def test_plans():
    assert hbm_plan(30_000, 3000) == FFTPlan((16,), 32, 32, 16384 - 2999, 3000)  # N >= 4 (K - 1)
    assert hbm_plan(2_300_000, 8192).n == 65536  # a larger block costs less per output (POINT_PS["hbm"])
    assert hbm_plan(2_300_000, 8192, fraction=0.5).n == 32768  # the sparse op's block: the smallest
    assert hbm_plan(73_727, 8192).n == 32768  # a short sequence: fewer points with smaller blocks
    # the shortest rows of 1024, 2048 or 4096 points that one column pass covers (``_row_caps``)
    assert hbm_plan(2_300_000, 16384) == FFTPlan((64,), 32, 32, 65536 - 16383, 16384)
    assert hbm_plan(65536, 65536) == FFTPlan((64,), 32, 64, 131072 - 65535, 65536)
    assert hbm_plan(1 << 20, 65536) == FFTPlan((64,), 64, 64, 262144 - 65535, 65536)
    bwd = hbm_plan(2_300_000, 16384, kind="hbm_bwd")
    assert bwd.n == 65536 and bwd.n1 * bwd.n2 == 2048
    # one block of one column pass: the backward on the forward's rows (one plan: the spectrum is shared)
    for L in (16384, 32768, 65536):
        fwd, bwd = hbm_plan(L, L), hbm_plan(L, L, kind="hbm_bwd")
        assert fwd == bwd and len(fwd.cols) == 1 and fwd.C >= L, L
    assert hbm_plan(32768, 32768).n1 * hbm_plan(32768, 32768).n2 == 1024
    full = hbm_plan(4 << 20, 4 << 20)  # full-length filter at L = 4M: one block of 8M points
    assert full.n == 8 << 20 and full.cols == (64, 64) and full.n1 * full.n2 == 2048 and full.C >= 4 << 20
    # two column levels: the shortest rows they cover, the forward's and the backward's alike (so that the
    # backward takes the forward's spectrum) up to the backward's longest row
    for L, cols, row in (
        ((1 << 18), (32, 16), 1024),
        ((1 << 20), (64, 32), 1024),
        ((4 << 20), (64, 64), 2048),
    ):
        for kind in ("hbm", "hbm_bwd"):
            p = hbm_plan(L, L, kind=kind)
            assert (p.n, p.cols, p.n1 * p.n2) == (2 * L, cols, row), (L, kind)
    bwd = hbm_plan(8 << 20, 8 << 20, kind="hbm_bwd")  # N = 2^24: rows of 2048 need three column levels
    assert (bwd.cols, bwd.n1 * bwd.n2) == ((32, 16, 16), 2048)
    assert hbm_plan(8 << 20, 8 << 20).cols == (64, 64)  # the forward: rows of 4096
    assert hbm_plan(10_000_000, 10_000_000) is None  # N > 2^24
    assert fft_plan(2_300_000, 128).cols == () and fft_plan(2_300_000, 8192).cols == (64,)
    for p in (FFTPlan((), 16, 32, 1, 1), hbm_plan(30_000, 3000), FFTPlan((16, 32), 16, 16, 1, 1)):
        assert torch.equal(freq_order(p).sort().values, torch.arange(p.n))  # a permutation of 0..N-1
    assert kept_columns(64, 0.25).tolist() == [*range(8), *range(56, 64)]
    # a sparse plan widens the row's second factor so that f * n2 >= 16; the block size N stays
    tail = fft_plan(2304, 8192, 8191, fraction=0.25)
    assert (tail.n, tail.n1, tail.n2) == (fft_plan(2304, 8192, 8191).n, 16, 64) and sparse_ok(tail, 0.25)
    assert not sparse_ok(fft_plan(3000, 100, 0, fraction=0.25), 0.25)  # N = 512 cannot keep 16 of 32
    with pytest.raises(ValueError, match="power of two >= 16"):
        kept_columns(32, 0.25)


@pytest.mark.parametrize("B,D,L,K,H", SHAPES, ids=IDS)
@pytest.mark.parametrize("gated", [True, False], ids=["gated", "plain"])
def test_forward_fp32(B, D, L, K, H, gated):
    xs = _inputs(B, D, L, K, H, torch.float32, gated)
    assert fft_plan(L, K, H).cols, "these shapes must take the HBM path"
    y = monarch_fftconv(*xs)
    assert_close(y.cpu(), exact_conv(*_cpu(xs)), rtol=1e-5, name="fp32")


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
@pytest.mark.parametrize("B,D,L,K,H", SHAPES[:3], ids=IDS[:3])
def test_forward_half_within_2x_torch(B, D, L, K, H, dtype):
    xs = _inputs(B, D, L, K, H, dtype)
    y = monarch_fftconv(*xs)
    ref = exact_conv(*_cpu(xs))
    assert y.dtype == dtype
    assert_close(y.cpu(), ref, rtol=BF16_FLOOR, baseline=ref.to(dtype), name=str(dtype))


def test_forward_two_column_passes(monkeypatch):
    """N = 65536 as 16 x 16 x 256 (rows capped at 256 points) exercises the middle column pass."""
    monkeypatch.setattr(plan_mod, "MAX_ROW", 256)
    xs = _inputs(1, 2, 20_000, 16_000, 0, torch.float32, seed=3)
    assert fft_plan(20_000, 16_000).cols == (16, 16)
    y = monarch_fftconv(*xs)
    assert_close(
        y.cpu(), naive_fftconv(*[x.double() if x is not None else None for x in _cpu(xs)]), rtol=1e-5
    )


def test_hbm_backward_two_column_passes(monkeypatch):
    """The HBM backward over blocks of two column passes (rows capped at 256 points): v's reversed frames go
    through the middle pass too."""
    monkeypatch.setattr(plan_mod, "MAX_ROW", 256)
    plan = hbm_plan(60_000, 16_000, kind="hbm_bwd")
    assert plan.cols == (16, 16) and plan.C < 60_000  # N = 65,536, two blocks: paired
    test_hbm_backward(1, 2, 60_000, 16_000, 0, True, monkeypatch)


@pytest.mark.parametrize("lazy", [None, "0"], ids=["default", "held"])
def test_rows_of_4096_points(lazy, monkeypatch):
    """Rows of 64 x 64 points (N = 65,536, the GPU's plan from K = 8192 at long L), two blocks paired: the row
    pass (one row per program) and the backward's dk pass load the DFT matrices where each is used (LAZY,
    their default at this row size), or, with DNACONV_HBM_LAZY=0, hold them; forward and gradients against the
    reference in fp32."""
    import dnaconv.kernels.fftconv.monarch_hbm as fwd
    import dnaconv.kernels.fftconv.monarch_hbm_bwd as bwd

    if lazy is not None:
        monkeypatch.setenv("DNACONV_HBM_LAZY", lazy)
    plan = FFTPlan((16,), 64, 64, 65536 - 999, 1000)
    monkeypatch.setattr(bwd, "hbm_plan", lambda *a, **kw: plan)
    rows = spy_launches(monkeypatch, fwd, "_row_kernel", record=lambda kw: (kw["LAZY"], kw["G"]))
    dk_pass = spy_launches(monkeypatch, bwd, "_row_dk_kernel", record=lambda kw: kw["LAZY"])
    u, k, bias, pre, post, _ = _inputs(1, 2, 70_000, 1000, 0, torch.float32, seed=11)
    dy = torch.randn(1, 2, 70_000, device=DEVICE)
    z = torch.empty_like(u)  # the convolution before the post-gate, for d(post), as in training
    y = fwd.hbm_fftconv_fwd(u, k, bias, pre, post, plan=plan, z=z)
    grads = bwd.hbm_fftconv_bwd(dy, u, k, bias, pre, post, None, z)
    assert rows == [(lazy is None, 1)] and dk_pass == [lazy is None]
    ref = [x.cpu().double().requires_grad_() for x in (u, k, bias, pre, post)]
    out = naive_fftconv(*ref)
    assert_close(y.cpu().double(), out.detach(), rtol=1e-5, name="forward")
    (out * dy.cpu().double()).sum().backward()
    for g, r, name in zip(grads, ref, ["du", "dk", "dbias", "dpre", "dpost"]):
        assert_close(g.cpu().double(), r.grad, rtol=1e-5, name=name)


def test_rows_of_2048_points_two_per_program(monkeypatch):
    """Rows of 32 x 64 points, two per program (``_ROW_LAUNCH``; the forward's plan where a column pass of 64
    covers the block only with them, N = 131,072), here under one column pass of 16 at N = 32,768, blocks
    paired, against the reference in fp32; the column passes' width."""
    import dnaconv.kernels.fftconv.monarch_hbm as fwd

    for var in ("DNACONV_MONARCH_ROWS", "DNACONV_HBM_COLS"):
        monkeypatch.delenv(var, raising=False)
    passes = ((16, 4096), (32, 2048), (64, 4096), (64, 16))  # (P, S)
    assert [fwd._col_columns(p, s) for p, s in passes] == [64, 64, 32, 16]  # at most S
    plan = FFTPlan((16,), 32, 64, 32768 - 999, 1000)
    rows = spy_launches(monkeypatch, fwd, "_row_kernel", record=lambda kw: kw["G"])
    cols = spy_launches(monkeypatch, fwd, "_col_fwd_kernel", record=lambda kw: (kw["P"], kw["G"]))
    u, k, bias, pre, post, _ = _inputs(1, 2, 40_000, 1000, 0, torch.float32, seed=5)
    y = fwd.hbm_fftconv_fwd(u, k, bias, pre, post, plan=plan)
    assert rows == [2] and cols == [(16, 64)]
    ref = naive_fftconv(*[x.cpu().double() for x in (u, k, bias, pre, post)])
    assert_close(y.cpu().double(), ref, rtol=1e-5, name="forward")


def test_aligned_overlap(monkeypatch):
    """``plan.block_overlap``: the overlap rounded up to a multiple of 16 where that adds at most one block in
    64 and the convolution is dense (the default, which the other tests run; =strict: no block added);
    DNACONV_FFT_ALIGN=0 keeps K' - 1. The HBM forward and gradients framed either way are the same
    convolution, history included."""
    import dnaconv.kernels.fftconv.monarch_hbm as fwd

    monkeypatch.delenv("DNACONV_FFT_ALIGN", raising=False)
    assert block_overlap(16384, 3000, 30_000) == 3008  # C = 13,376: still three blocks
    assert block_overlap(16384, 3000, 30_000, dense=False) == 2999
    assert block_overlap(16384, 3000, 13_385) == 2999  # C = 13,376 would need a second block
    assert block_overlap(1024, 128, 2_300_000) == 128  # 2,567 blocks instead of 2,565: at most 1 in 64 more
    assert block_overlap(512, 250, 100_000) == 249  # 391 instead of 381: more than 1 in 64
    # the streaming runner's history: exactly K - 1 positions, fewer than the aligned overlap reaches back
    assert block_overlap(fft_plan(14_000, 2500, 2499).n, 2500, 14_000) == 2512
    test_forward_fp32(1, 2, 14_000, 2500, 2499, True)
    test_hbm_backward(1, 2, 14_000, 2500, 2499, True, monkeypatch)
    monkeypatch.setenv("DNACONV_FFT_ALIGN", "strict")
    assert block_overlap(1024, 128, 2_300_000) == 127 and block_overlap(16384, 3000, 30_000) == 3008
    assert fwd._Frame(hbm_plan(30_000, 3000), 1, 3, 30_000).C == 16384 - 3008
    monkeypatch.setenv("DNACONV_FFT_ALIGN", "0")
    assert block_overlap(16384, 3000, 30_000) == 2999
    assert fwd._Frame(hbm_plan(30_000, 3000), 1, 3, 30_000).C == 16384 - 2999
    test_forward_fp32(*SHAPES[1], True)  # streaming history: block 0 reaches further back
    test_hbm_backward(*SHAPES[0], True, monkeypatch)
    test_hbm_backward(*SHAPES[1], True, monkeypatch)


def test_backward_runs_the_reference():
    xs = [
        x.detach().clone().requires_grad_() for x in _inputs(1, 2, 9000, 3000, 0, torch.float32, seed=4)[:5]
    ]
    dy = torch.randn(1, 2, 9000, device=DEVICE)
    (monarch_fftconv(*xs) * dy).sum().backward()
    ref = [x.detach().cpu().double().requires_grad_() for x in xs]
    (exact_conv(*ref) * dy.cpu().double()).sum().backward()
    for x, r, name in zip(xs, ref, ["du", "dk", "dbias", "dpre", "dpost"]):
        assert_close(x.grad.cpu().double(), r.grad, rtol=1e-5, name=name)


# and one block per sequence (a full-length filter) paired across an odd batch
BWD = [(*shape, True) for shape in SHAPES] + [(*SHAPES[2], False), (3, 2, 4001, 4001, 0, True)]
BWD_IDS = [f"{i}-gated" for i in IDS] + [f"{IDS[2]}-plain", "B3-D2-L4001-K4001-H0-gated"]


@pytest.mark.parametrize("B,D,L,K,H,gated", BWD, ids=BWD_IDS)
def test_hbm_backward(B, D, L, K, H, gated, monkeypatch):
    """DNACONV_HBM_BWD=1: gradients from one HBM convolution whose row pass also gives dk (and a small torch.fft
    correlation with the history), against autograd of the float64 reference (``exact_conv``; history gets none)."""
    import dnaconv.kernels.fftconv.monarch_hbm_bwd as bwd

    monkeypatch.setenv("DNACONV_HBM_BWD", "1")
    dk_pass = spy_launches(monkeypatch, bwd, "_row_dk_kernel")
    u, k, bias, pre, post, hist = _inputs(B, D, L, K, H, torch.float32, gated, seed=7)
    xs = [None if x is None else x.detach().clone().requires_grad_() for x in (u, k, bias, pre, post)]
    dy = torch.randn(B, D, L, device=DEVICE)
    (monarch_fftconv(*xs, history=hist) * dy).sum().backward()
    assert len(dk_pass) == 1  # dk from the convolution's row pass
    ref = [None if x is None else x.detach().cpu().double().requires_grad_() for x in xs]
    h = None if hist is None else hist.cpu().double()
    (exact_conv(*ref, history=h) * dy.cpu().double()).sum().backward()
    for x, r, name in zip(xs, ref, ["du", "dk", "dbias", "dpre", "dpost"]):
        if x is not None:
            assert_close(x.grad.cpu().double(), r.grad, rtol=1e-5, name=name)


def test_hbm_backward_dk_programs(monkeypatch):
    """dk's partial spectra from programs of one row and two segments each, a last program with one (three
    unpaired blocks), and from paired segments of two sequences with history."""
    import dnaconv.kernels.fftconv.monarch_hbm_bwd as bwd

    shapes = spy_launches(monkeypatch, bwd, "_row_dk_kernel", record=lambda kw: (kw["SEGS"], kw["G"]))
    monkeypatch.setenv("DNACONV_HBM_DK_SEGS", "2")
    monkeypatch.setenv("DNACONV_HBM_DK_POINTS", "1024")
    monkeypatch.setenv("DNACONV_HBM_PAIR", "0")
    test_hbm_backward(*SHAPES[0], True, monkeypatch)
    monkeypatch.delenv("DNACONV_HBM_PAIR")
    test_hbm_backward(*SHAPES[1], True, monkeypatch)
    assert shapes == [(2, 1), (2, 1)]


def test_hbm_backward_v_read_reversed(monkeypatch):
    """DNACONV_HBM_VREV=0: v's column pass reads u and pre in reversed order itself (no reversed copy of v from
    the gates kernel): paired segments with history, and one block per sequence."""
    monkeypatch.setenv("DNACONV_HBM_VREV", "0")
    monkeypatch.setenv("DNACONV_HBM_DIRECT", "0")  # the reversed route's
    test_hbm_backward(*SHAPES[1], True, monkeypatch)
    test_hbm_backward(*BWD[-1], monkeypatch)


# one block per sequence: a full-length filter paired across an odd batch with history, one sequence on a
# HERM frame, a filter longer than the sequence, and no gates or bias; several blocks: one sequence's paired,
# two sequences' with history
DIRECT = [
    (3, 2, 4001, 4001, 1500, True),
    (1, 3, 5001, 5001, 0, True),
    (1, 2, 3000, 9000, 0, True),
    (2, 3, 4001, 4001, 0, False),
    (1, 3, 30_000, 3000, 0, True),
    (2, 3, 14_000, 2500, 2600, True),
]
DIRECT_IDS = ["paired-hist", "herm", "K>L", "plain", "blocks", "blocks-hist"]


def test_dpost_fused_rule(monkeypatch):
    """``monarch_hbm_bwd._dpost_fused``: d(post) from g's first column pass through one column level or over
    several blocks, from a torch op for one block through two levels (where it measured slower); the
    environment forces either."""
    import dnaconv.kernels.fftconv.monarch_hbm_bwd as bwd

    def frame(B, D, L, K):
        return bwd._backward_frame(hbm_plan(L, K, kind="hbm_bwd"), B, D, L)

    one_level, blocks = frame(16, 8, 4096, 4096), frame(1, 8, 1 << 20, 65536)
    two_levels = frame(2, 8, 1 << 20, 1 << 20)
    assert [len(f.levels) for f in (one_level, blocks, two_levels)] == [1, 2, 2]
    assert blocks.n_blocks > 1 and two_levels.n_blocks == 1
    assert [bwd._dpost_fused(f) for f in (one_level, blocks, two_levels)] == [True, True, False]
    monkeypatch.setenv("DNACONV_HBM_DPOST", "fused")
    assert bwd._dpost_fused(two_levels)
    monkeypatch.setenv("DNACONV_HBM_DPOST", "torch")
    assert not bwd._dpost_fused(one_level)


@pytest.mark.parametrize("B,D,L,K,H,gated", DIRECT, ids=DIRECT_IDS)
def test_hbm_backward_direct(B, D, L, K, H, gated, monkeypatch):
    """The backward in forward time (``monarch_hbm_bwd._direct``: g and v read by their column passes, a
    correlation with the filter, du and d(pre) from the last inverse pass, d(bias) as dk's lag 0; over several
    blocks, blocks that output their first C positions, ANTI; d(post) written by g's first column pass, or by a
    torch op under DNACONV_HBM_DPOST=torch) against the reversed route (DNACONV_HBM_DIRECT=0) and the float64
    reference's autograd, fp32."""
    import dnaconv.kernels.fftconv.monarch_hbm as hbm
    import dnaconv.kernels.fftconv.monarch_hbm_bwd as bwd

    monkeypatch.setenv("DNACONV_HBM_BWD", "1")
    gates = spy_launches(monkeypatch, bwd, "_gates_kernel")
    inputs = spy_launches(monkeypatch, bwd, "_inputs_kernel")
    conj = spy_launches(monkeypatch, bwd, "_row_dk_kernel", record=lambda kw: kw["CONJ"])
    last = spy_launches(
        monkeypatch, hbm, "_col_inv_kernel", record=lambda kw: (kw["LAST"], kw["GRADS"], kw["ANTI"])
    )
    dposts = spy_launches(monkeypatch, hbm, "_col_fwd_kernel", record=lambda kw: kw.get("DPOST", False))
    blocks = bwd._backward_frame(hbm_plan(L, K, H, kind="hbm_bwd"), B, D, L).n_blocks
    u, k, bias, pre, post, hist = _inputs(B, D, L, K, H, torch.float32, gated, seed=41)
    dy = torch.randn(B, D, L, device=DEVICE)
    ref = [None if x is None else x.detach().cpu().double().requires_grad_() for x in (u, k, bias, pre, post)]
    h = None if hist is None else hist.cpu().double()
    (exact_conv(*ref, history=h) * dy.cpu().double()).sum().backward()
    out = {}
    for env in ("1", "0", "torch-dpost"):
        monkeypatch.setenv("DNACONV_HBM_DIRECT", env[0])
        monkeypatch.setenv("DNACONV_HBM_DPOST", "torch" if env == "torch-dpost" else "fused")
        for seen in (gates, inputs, conj, last, dposts):
            seen.clear()
        xs = [None if x is None else x.detach().clone().requires_grad_() for x in (u, k, bias, pre, post)]
        (monarch_fftconv(*xs, history=hist) * dy).sum().backward()
        direct = env != "0"
        # d(post) from g's first column pass (the direct route's, gated, not under =torch)
        assert dposts.count(True) == (env == "1" and gated)
        assert conj == [direct] and len(gates) == len(inputs) == (not direct)
        assert last[-1] == (True, direct, direct and blocks > 1)  # the backward's last inverse pass
        out[env] = [None if x is None else x.grad.cpu().double() for x in xs]
        for x, r, name in zip(out[env], ref, ["du", "dk", "dbias", "dpre", "dpost"]):
            if x is not None:
                assert_close(x, r.grad, rtol=1e-5, name=f"{name} direct={env}")
    assert not torch.equal(out["1"][0], out["0"][0])  # two different computations


@pytest.mark.parametrize(
    "B,D,L,K,max_row",
    [(3, 2, 4001, 4001, 0), (1, 2, 8192, 8192, 0), (1, 3, 20_000, 20_000, 256)],
    ids=["paired", "herm-24-rows-for-20", "two-levels-herm"],
)
def test_hbm_backward_keeps_v(B, D, L, K, max_row, monkeypatch):
    """The direct backward's dk from v's spectrum as the forward's row pass kept it (``_row_kernel``'s KEEP,
    ``_row_dk_kernel``'s SAVED: no column pass or transform of v in the backward) against v transformed there
    (DNACONV_HBM_KEEP_V=0) and the float64 reference's autograd, fp32 (the budget forced: fp32's spectra are 8 bytes a
    point): paired, one sequence whose forward keeps 24 rows a segment and whose backward reads 20 (read in
    place), and through two column levels."""
    import dnaconv.kernels.fftconv.monarch_hbm as hbm
    import dnaconv.kernels.fftconv.monarch_hbm_bwd as bwd

    if max_row:
        monkeypatch.setattr(plan_mod, "MAX_ROW", max_row)
    monkeypatch.setenv("DNACONV_HBM_BWD", "1")
    monkeypatch.setenv("DNACONV_HBM_ONE", "1")
    real = monarch_mod._v_budget
    monkeypatch.setattr(monarch_mod, "_v_budget", lambda *a: None if real(*a) is None else 1 << 40)
    keep = spy_launches(monkeypatch, hbm, "_row_kernel", record=lambda kw: kw.get("KEEP", False))
    saved = spy_launches(monkeypatch, bwd, "_row_dk_kernel", record=lambda kw: (kw["SAVED"], kw["VROWS"]))
    cols = spy_launches(monkeypatch, hbm, "_col_fwd_kernel", record=lambda kw: kw["FIRST"])
    u, k, bias, pre, post, _ = _inputs(B, D, L, K, 0, torch.float32, seed=43)
    dy = torch.randn(B, D, L, device=DEVICE)
    ref = [x.detach().cpu().double().requires_grad_() for x in (u, k, bias, pre, post)]
    (exact_conv(*ref) * dy.cpu().double()).sum().backward()
    f = bwd._backward_frame(hbm_plan(L, K, kind="hbm_bwd"), B, D, L)
    rows = hbm._forward_frame(hbm_plan(L, K), B, D, L).rows
    for env in ("1", "0"):
        monkeypatch.setenv("DNACONV_HBM_KEEP_V", env)
        for seen in (keep, saved, cols):
            seen.clear()
        xs = [x.detach().clone().requires_grad_() for x in (u, k, bias, pre, post)]
        (monarch_fftconv(*xs) * dy).sum().backward()
        assert keep[0] is (env == "1") and saved == [(True, rows) if env == "1" else (False, None)]
        assert cols.count(True) == (2 if env == "1" else 3)  # u's, g's (and v's) first column passes
        for x, r, name in zip(xs, ref, ["du", "dk", "dbias", "dpre", "dpost"]):
            assert_close(x.grad.cpu().double(), r.grad, rtol=1e-5, name=f"{name} keep={env}")
    if B == 1 and not max_row:
        assert (rows, f.rows) == (24, 20)


def test_hbm_backward_keeps_v_half_two_levels(monkeypatch):
    """bf16 through two column levels (an fp32 intermediate): v's spectrum is kept in fp16 all the same, and the
    gradients stay within 2x the error of the torch.fft reference's autograd in bf16 (as
    ``test_hbm_backward_bf16_within_2x_torch``)."""
    import dnaconv.kernels.fftconv.monarch_hbm as hbm
    import dnaconv.kernels.fftconv.monarch_hbm_bwd as bwd

    monkeypatch.setattr(plan_mod, "MAX_ROW", 256)
    monkeypatch.setenv("DNACONV_HBM_BWD", "1")
    monkeypatch.setenv("DNACONV_HBM_ONE", "1")
    kept = spy_launches(monkeypatch, hbm, "_row_kernel", record=lambda kw: kw.get("vr_ptr"))
    saved = spy_launches(monkeypatch, bwd, "_row_dk_kernel", record=lambda kw: kw["SAVED"])
    L = 20_000
    assert len(hbm_plan(L, L).cols) == 2
    *xs, _ = _inputs(1, 3, L, L, 0, torch.bfloat16, seed=44)
    _bf16_grads_within_2x_torch(xs, None, torch.randn(1, 3, L, device=DEVICE, dtype=torch.bfloat16))
    assert kept[0].dtype == torch.float16 and saved == [True]


def test_v_budget(monkeypatch):
    """``monarch._v_budget``: the bytes left of what torch.fft's autograd holds (``_reference_held``: 8 (B + 1) D
    (n / 2 + 1) + 4 B D n at n = ``fft_size``) after what the forward keeps already, only for the HBM forward
    with the HBM backward on the same transform, dense, without history, the skip term folded; and a forward
    under that budget keeps v's spectrum only for one block a sequence."""
    import dnaconv.kernels.fftconv.monarch_hbm as hbm

    u = torch.zeros(4, 2, 4001)
    k, bias = torch.zeros(2, 4001), torch.zeros(2)
    plan, other = hbm_plan(4001, 4001), hbm_plan(4001, 2000)
    n = monarch_mod.fft_size(4001, 4001, 0)
    held = 8 * 5 * 2 * (n // 2 + 1) + 4 * 4 * 2 * n
    assert monarch_mod._v_budget(u, k, 0, plan, "hbm", plan, 1.0, bias, 100) == held - 100
    assert monarch_mod._v_budget(u, k, 0, plan, "fused", plan, 1.0, bias, 0) is None
    assert monarch_mod._v_budget(u, k, 0, plan, "hbm", other, 1.0, bias, 0) is None
    assert monarch_mod._v_budget(u, k, 0, plan, "hbm", plan, 0.5, bias, 0) is None
    assert monarch_mod._v_budget(u, k, 10, plan, "hbm", plan, 1.0, bias, 0) is None
    monkeypatch.setenv("DNACONV_HBM_FOLD", "0")
    assert monarch_mod._v_budget(u, k, 0, plan, "hbm", plan, 1.0, bias, 0) is None
    assert monarch_mod._v_budget(u, k, 0, plan, "hbm", plan, 1.0, None, 0) is not None
    monkeypatch.delenv("DNACONV_HBM_FOLD")
    u, k = torch.randn(2, 2, 4001, device=DEVICE), torch.randn(2, 4001, device=DEVICE)
    y, kept = hbm.hbm_fftconv_fwd(u, k, keep_v=1 << 30)
    assert kept is not None and kept[3] == hbm._forward_frame(plan, 2, 2, 4001).rows
    assert torch.equal(y, hbm.hbm_fftconv_fwd(u, k))
    assert hbm.hbm_fftconv_fwd(u, k, keep_v=1000)[1] is None  # over the budget
    u, k = torch.randn(1, 2, 30_000, device=DEVICE), torch.randn(2, 3000, device=DEVICE)
    assert hbm.hbm_fftconv_fwd(u, k, keep_v=1 << 30)[1] is None  # several blocks


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize(
    "gates", [(0, 0, 0), (1, 1, 1), (0, 0, 1), (1, 1, 0)], ids=["none", "all", "post", "pre"]
)
@pytest.mark.parametrize("B,D,L,K,H", [(2, 3, 1000, 1000, 0), (1, 2, 999, 300, 0), (3, 1, 500, 64, 63)])
def test_reference_held(B, D, L, K, H, gates, dtype):
    """``monarch._reference_held`` is a lower bound of the bytes torch.fft's autograd keeps for the backward
    (the saved tensors' storages that are not the inputs'), within the padded filter and 32 bytes an element of
    what the gates add: the budget of what the HBM forward keeps (``_v_budget``)."""
    torch.manual_seed(0)
    u = torch.randn(B, D, L, dtype=dtype, requires_grad=True)
    k = torch.randn(D, K, requires_grad=True)
    bias, pre, post = (
        x.requires_grad_() if on else None
        for x, on in zip(
            (torch.randn(D), torch.randn(B, D, L, dtype=dtype), torch.randn(B, D, L, dtype=dtype)), gates
        )
    )
    hist = torch.randn(B, D, H) if H else None
    inputs = {x.untyped_storage().data_ptr() for x in (u, k, bias, pre, post, hist) if x is not None}
    saved = {}

    def pack(t):
        if t.untyped_storage().data_ptr() not in inputs:
            saved[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        naive_fftconv(u, k, bias, pre, post, hist)
    bound, n = monarch_mod._reference_held(B, D, L, K, H), monarch_mod.fft_size(L, K, H)
    assert bound <= sum(saved.values()) <= bound + 4 * D * n + 32 * B * D * L


@pytest.mark.parametrize(
    "B,D,L,K,H", SHAPES[:2] + [(3, 2, 4001, 4001, 0), (1, 3, 5001, 5001, 0)], ids=IDS[:2] + ["paired", "herm"]
)
def test_hbm_backward_bf16_within_2x_torch(B, D, L, K, H, monkeypatch):
    """The HBM backward in bf16 (g and the intermediates' products in fp16 operands) against the float64
    reference (``exact_conv``), within 2x the error of the torch.fft reference's autograd in bf16 (at least 1e-2
    allowed): the reversed route (several blocks) and the direct one (one block a sequence: d(bias) from dk's
    lag 0)."""
    monkeypatch.setenv("DNACONV_HBM_BWD", "1")
    *xs, hist = _inputs(B, D, L, K, H, torch.bfloat16, seed=5)
    _bf16_grads_within_2x_torch(xs, hist, torch.randn(B, D, L, device=DEVICE, dtype=torch.bfloat16))


def _bf16_grads_within_2x_torch(inputs, hist, dy):
    """The gradients of ``monarch_fftconv`` on the bf16 ``inputs`` (u, k, bias, pre, post) against the float64
    reference's (``exact_conv``), within 2x the error of the torch.fft reference's autograd in bf16 (at least
    1e-2 allowed)."""
    grads = []
    for fn in (monarch_fftconv, naive_fftconv, exact_conv):
        exact = fn is exact_conv
        xs = [(x.cpu().double() if exact else x).detach().clone().requires_grad_() for x in inputs]
        h = None if hist is None else hist.cpu().double() if exact else hist
        (fn(*xs, history=h) * (dy.cpu().double() if exact else dy)).float().sum().backward()
        grads.append([x.grad.cpu().double() for x in xs])
    for out, base, ref, name in zip(*grads, ["du", "dk", "dbias", "dpre", "dpost"]):
        assert_close(out, ref, rtol=BF16_FLOOR, baseline=base, name=name)


def test_backward_kind_and_dispatch(monkeypatch):
    """Which backward runs (``plan.backward_kind``, ``backward_route``'s kind) by filter, length and size (B x D x
    L elements), and the plan the route hands it; what ``fftconv`` takes with gradients follows it."""
    from dnaconv.kernels.fftconv import triton_pays
    from dnaconv.kernels.fftconv.plan import (
        HBM_BWD_MIN_SIZE,
        HBM_BWD_ON_CHIP_SIZE,
        backward_kind,
        backward_route,
        monarch_plan,
    )

    big, bigger = HBM_BWD_MIN_SIZE, HBM_BWD_ON_CHIP_SIZE
    assert backward_kind(2_300_000, 128, size=bigger) == "fused"
    assert backward_kind(2_300_000, 256, size=bigger) == "fused"  # below HBM_BWD_MIN_K
    assert backward_kind(2_300_000, 512, size=bigger) == "fused"
    assert (
        backward_kind(2_300_000, 1024, size=bigger) == "hbm"
        and backward_kind(2_300_000, 1024, size=big) == "fused"
    )
    # windows: where POINT_PS prices the HBM backward lower (two blocks of 8192 per window of 16,384), not
    # where it prices the fused one lower (windows of 8192: eight blocks of 2048 against two of 8192)
    assert (
        backward_kind(16384, 1024, size=bigger) == "hbm" and backward_kind(8192, 1024, size=bigger) == "fused"
    )
    assert backward_kind(8192, 128, size=bigger) == "fused"
    assert backward_route(8192, 1024, size=bigger) == ("fused", monarch_plan(8192, 1024, kind="backward"))
    assert backward_route(16384, 1024, size=bigger) == ("hbm", hbm_plan(16384, 1024, kind="hbm_bwd"))
    # windows of 8192 keep two blocks per sequence (N = 8192), not one block of 16,384 that POINT_PS would
    # price lower: one block per sequence is not the several-block backward those times are of
    assert (
        hbm_plan(8192, 1024, kind="hbm_bwd").n == 8192 and hbm_plan(2_300_000, 16384, kind="hbm_bwd").n1 == 32
    )
    assert backward_kind(2_300_000, 8192, size=big) == "hbm"
    assert backward_kind(2_300_000, 8192, size=big - 1) == "reference"  # too little work
    assert backward_kind(73_727, 8192, size=128 * 73_727) == "reference"  # the streaming shape: too small
    assert backward_kind(32_768, 8192, size=1 << 26) == "hbm"  # two blocks per window
    assert backward_kind(1 << 18, 4096, size=big) == "hbm"
    assert backward_kind(1 << 20, 65536, size=1 << 26) == "hbm"  # N = 262,144
    assert backward_kind(1 << 21, 1 << 17, size=1 << 26) == "reference"  # N = 2^19 > HBM_BWD_MAX_N
    assert backward_kind(1 << 17, 1 << 17, size=big) == "hbm"  # one block, half its spectrum (below)
    assert (
        backward_kind(1 << 17, 1 << 17, size=bigger, batch=2) == "hbm"
    )  # one block, paired across the batch
    assert backward_kind(1 << 17, 1 << 17, size=big - 1, batch=2) == "reference"
    assert backward_kind(8192, 8192, size=big, batch=16) == "hbm"  # the default model's training shape
    assert backward_kind(8192, 8192, size=big // 2, batch=8) == "reference"
    # one block paired: at any N (HBM_BWD_MAX_N bounds the several-block backward only)
    assert backward_kind(1 << 18, 1 << 18, size=bigger, batch=2) == "hbm"
    assert backward_kind(1 << 22, 1 << 22, size=bigger, batch=2) == "hbm"
    # one sequence's one block on half its spectrum: where it won, N = 2^16 to 2^24 (HBM_BWD_HERM_N)
    assert backward_kind(1 << 18, 1 << 18, size=bigger) == "hbm"
    assert backward_kind(1 << 22, 1 << 22, size=bigger) == "hbm"  # N = 2^23
    assert backward_kind(5_000_000, 5_000_000, size=bigger) == "hbm"  # N = 2^24
    assert backward_kind(9_000_000, 9_000_000, size=bigger) == "reference"  # N = 2^25: no HBM plan
    assert (
        backward_kind(1 << 15, 1 << 15, size=big) == "hbm"
        and backward_kind(1 << 16, 1 << 16, size=big) == "hbm"
    )
    assert backward_route(1 << 16, 1 << 16, size=big) == ("hbm", hbm_plan(1 << 16, 1 << 16, kind="hbm_bwd"))
    assert backward_kind(1 << 14, 1 << 14, size=bigger) == "reference"  # N = 2^15: a draw
    assert backward_kind(1 << 16, 1 << 16, size=big - 1) == "reference"
    assert triton_pays(1 << 16, 1 << 16, 0, torch.bfloat16, needs_grad=True, size=big, batch=1)
    # one block at N = 4096: the fused backward on half tiles where the sequence fits half the block
    # (``half_backward``), else the HBM one paired across the batch
    assert backward_kind(2048, 2048, size=bigger, batch=2) == "fused"
    assert backward_kind(3000, 1500, size=bigger, batch=2) == "hbm"
    assert backward_kind(2048, 2048, H=1, size=bigger, batch=2) == "hbm"  # history: no half tiles
    assert backward_kind(1024, 1024, size=bigger, batch=64) == "fused"  # the on-chip one runs
    assert backward_kind(1 << 19, 2048, size=big) == "hbm"  # no on-chip backward (L < 2^20 for the split)
    assert backward_kind(1 << 19, 2048) == "reference"
    assert backward_kind(1 << 20, 2048, size=big) == "split" and backward_kind(1 << 20, 2048) == "split"
    assert (
        backward_kind(1 << 20, 2048, size=bigger) == "hbm"
        and backward_kind(2_300_000, 2048, size=bigger) == "hbm"
    )
    assert backward_kind(1 << 20, 1500, size=bigger) == "hbm" and backward_kind(1 << 20, 1500) == "split"
    assert backward_kind(2_300_000, 8192, fraction=0.5, size=big) == "reference"
    assert triton_pays(2_300_000, 8192, 0, torch.bfloat16, needs_grad=True, size=big)
    assert not triton_pays(2_300_000, 8192, 0, torch.bfloat16, needs_grad=True, size=big - 1)
    assert triton_pays(
        16384, 16384, 0, torch.bfloat16, needs_grad=True, size=bigger, batch=8
    )  # one block, paired
    assert not triton_pays(16384, 16384, 0, torch.bfloat16, needs_grad=True, size=bigger, batch=1)
    monkeypatch.setenv("DNACONV_HBM_BWD", "0")
    assert backward_kind(2_300_000, 8192, size=big) == "reference"
    assert backward_kind(1 << 20, 2048, size=bigger) == "split"
    assert backward_kind(2_300_000, 1024, size=bigger) == "fused"
    monkeypatch.delenv("DNACONV_HBM_BWD")
    monkeypatch.setenv("DNACONV_MONARCH_BWD_HALF", "2048")  # the backward's half tiles as before at N = 4096
    assert backward_kind(2048, 2048, size=bigger, batch=2) == "hbm"
    monkeypatch.delenv("DNACONV_MONARCH_BWD_HALF")
    monkeypatch.setenv("DNACONV_HBM_BWD", "1")
    assert backward_kind(2_300_000, 128) == "hbm" and backward_kind(8192, 8192) == "hbm"
    assert triton_pays(2_300_000, 8192, 0, torch.bfloat16, needs_grad=True)
    u, k, bias, pre, post, _ = _inputs(1, 2, 9000, 3000, 0, torch.bfloat16, seed=8)
    xs = [x.detach().clone().requires_grad_() for x in (u, k, bias, pre, post)]
    dy = torch.randn(1, 2, 9000, device=DEVICE)
    (monarch_fftconv(*xs).float() * dy).sum().backward()
    ref = [x.detach().cpu().double().requires_grad_() for x in xs]
    (exact_conv(*ref) * dy.cpu().double()).sum().backward()
    assert xs[0].grad.dtype == torch.bfloat16 and xs[1].grad.dtype == torch.float32
    for x, r, name in zip(xs, ref, ["du", "dk", "dbias", "dpre", "dpost"]):
        assert_close(x.grad.cpu(), r.grad, rtol=1e-2, name=name)


# ---- frequency-sparse -------------------------------------------------------------------------------------


def test_blocked_reference():
    """naive_fftconv_blocked: f = 1 is the exact convolution at any block size; f < 1 restricts each block's
    spectrum to |k| < fN/2 (a full complex FFT here; the imaginary part of its inverse is zero)."""
    u, k, bias, pre, post, hist = _cpu(_inputs(2, 3, 3000, 300, 200, torch.float64))
    exact = exact_conv(u, k, bias, pre, post, hist)
    for n in (512, 1024, 4096):
        assert_close(naive_fftconv_blocked(u, k, bias, pre, post, hist, n_fft=n), exact, rtol=1e-12)
    n, f = 1024, 0.25
    y = naive_fftconv_blocked(u, k, history=hist, n_fft=n, freq_fraction=f)
    C = n - 299
    x = torch.nn.functional.pad(torch.cat([hist, u], -1), (99, 0))  # input at times -299..L-1 (H = 200)
    x = torch.nn.functional.pad(x, (0, 5 * C + n - x.shape[-1]))
    f_idx = torch.arange(n)
    mask = (f_idx < f * n / 2) | (f_idx > n - f * n / 2)
    kf = torch.fft.fft(k.double(), n=n) * mask
    outs = [torch.fft.ifft(torch.fft.fft(x[..., j * C : j * C + n], n=n) * kf) for j in range(5)]
    assert max(o.imag.abs().max() for o in outs) < 1e-9
    outs = [o.real[..., 299:] for o in outs]
    ref = torch.cat(outs, -1)[..., :3000]
    assert_close(y, ref, rtol=1e-12)
    assert (y - exact_conv(u, k, history=hist)).norm() > 1e-3 * y.norm()  # it is an approximation


SPARSE = [(3000, 100, 0, 0.5), (2000, 300, 299, 0.5), (3000, 1500, 0, 0.25), (30_000, 3000, 0, 0.5),
          (30_000, 9000, 0, 0.25)]  # fmt: skip


@pytest.mark.parametrize("L,K,H,fraction", SPARSE, ids=["chip", "chip-hist", "chip-4096", "hbm", "hbm-4096"])
def test_sparse_forward(L, K, H, fraction):
    xs = _inputs(1, 3, L, K, H, torch.float32, seed=5)
    plan = fft_plan(L, K, H, fraction)
    assert bool(plan.cols) == (L > 10_000) and fraction * plan.n2 >= 16
    y = monarch_fftconv(*xs, fraction=fraction)
    ref = naive_fftconv_blocked(*[x.double() if x is not None else None for x in _cpu(xs)], n_fft=plan.n,
                                freq_fraction=fraction)  # fmt: skip
    assert_close(y.cpu(), ref, rtol=1e-5, name=f"f={fraction}")


def test_sparse_dispatch_on_cpu_and_gradients():
    u, k, bias, pre, post, _ = _cpu(_inputs(1, 3, 3000, 100, 0, torch.float32, seed=6))
    n = fft_plan(3000, 100, 0, 0.5).n
    y = fftconv(u, k, bias, pre, post, freq_fraction=0.5)
    assert torch.equal(y, naive_fftconv_blocked(u, k, bias, pre, post, n_fft=n, freq_fraction=0.5))
    assert torch.equal(fftconv(u, k, bias, pre, post, freq_fraction=1.0), fftconv(u, k, bias, pre, post))
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match="freq_fraction must be in"):
            fftconv(u, k, freq_fraction=bad)
    # gradients of the Triton sparse op come from the reference of the same op
    xs = [x.detach().to(DEVICE).requires_grad_() for x in (u, k, bias, pre, post)]
    (monarch_fftconv(*xs, fraction=0.5).sum()).backward()
    rs = [x.detach().clone().requires_grad_() for x in (u, k, bias, pre, post)]
    naive_fftconv_blocked(*rs, n_fft=n, freq_fraction=0.5).sum().backward()
    for x, r in zip(xs, rs):
        assert_close(x.grad.cpu(), r.grad, rtol=1e-5)


@pytest.fixture
def paired(monkeypatch):
    """The PAIR flag of each column-pass launch, recorded."""
    import dnaconv.kernels.fftconv.monarch_hbm as hbm

    seen = []
    for name in ("_col_fwd_kernel", "_col_inv_kernel"):
        spy_launches(monkeypatch, hbm, name, seen, record=lambda kw: kw["PAIR"])
    return seen


@pytest.mark.parametrize("B,D,L,K,H", SHAPES, ids=IDS)
def test_forward_paired_segments(B, D, L, K, H, paired):
    """PAIR (the default): two segments of a channel as the real and imaginary parts of one complex block, over
    an odd number of segments (the last pair half empty), several sequences, history; gated and plain; bf16
    too. One segment per channel (one block of one sequence) has nothing to pair."""
    for gated in (True, False):
        xs = _inputs(B, D, L, K, H, torch.float32, gated)
        assert_close(monarch_fftconv(*xs).cpu(), exact_conv(*_cpu(xs)), rtol=1e-5, name="fp32")
    xs = _inputs(B, D, L, K, H, torch.bfloat16)
    ref = exact_conv(*_cpu(xs))
    assert_close(
        monarch_fftconv(*xs).cpu(), ref, rtol=BF16_FLOOR, baseline=ref.to(torch.bfloat16), name="bf16"
    )
    segments = B * -(-L // fft_plan(L, K, H).C)
    assert paired and all(p == (segments > 1) for p in paired)


def test_forward_unpaired(paired, monkeypatch):
    """DNACONV_HBM_PAIR=0 (sweeps): one segment per complex block."""
    monkeypatch.setenv("DNACONV_HBM_PAIR", "0")
    xs = _inputs(*SHAPES[1], torch.float32)
    assert_close(monarch_fftconv(*xs).cpu(), exact_conv(*_cpu(xs)), rtol=1e-5)
    assert paired and not any(paired)


def test_paired_two_column_passes_and_sparse(paired, monkeypatch):
    """Pairs through the middle column pass (N = 16 x 16 x 256), and frequency-sparse (a real low-pass, so
    the pair's two results stay apart)."""
    test_sparse_forward(30_000, 3000, 0, 0.5)
    test_sparse_forward(30_000, 9000, 0, 0.25)
    monkeypatch.setattr(plan_mod, "MAX_ROW", 256)
    xs = _inputs(3, 1, 20_000, 16_000, 0, torch.float32, seed=3)  # three segments: one pair and a half
    assert fft_plan(20_000, 16_000).cols == (16, 16)
    ref = naive_fftconv(*[x.double() if x is not None else None for x in _cpu(xs)])
    assert_close(monarch_fftconv(*xs).cpu(), ref, rtol=1e-5)
    assert paired == [True] * 2 + [False] * 2 + [True] * 4  # K = 9000: one block, nothing to pair


@pytest.mark.parametrize("save", ["1", "0"], ids=["saved", "recomputed"])
def test_hbm_backward_saved_z(save, monkeypatch):
    """The HBM backward takes d(post) from the z the forward's last pass stored (SAVEZ, the default), or
    recomputes it (DNACONV_MONARCH_SAVEZ=0); paired segments (the default) and not."""
    import dnaconv.kernels.fftconv.monarch_hbm as hbm

    monkeypatch.setenv("DNACONV_MONARCH_SAVEZ", save)
    seen = spy_launches(monkeypatch, hbm, "_col_inv_kernel", record=lambda kw: kw["STORE_Z"])
    test_hbm_backward(*SHAPES[1], True, monkeypatch)  # two sequences, history
    assert seen[0] == (save == "1") and not any(seen[1:])  # the forward's pass; then the backward's convs
    monkeypatch.setenv("DNACONV_HBM_PAIR", "0")
    test_hbm_backward(*SHAPES[0], True, monkeypatch)


def test_hbm_forward_on_chip_backward(monkeypatch):
    """A half-precision convolution whose filter fits on chip, over several HBM blocks, goes forward through
    HBM where POINT_PS says that costs less (``fft_plan``), and back through the fused on-chip backward, which
    loads the z the HBM forward stored (gated, bf16). fp32 stays on chip."""
    import dnaconv.kernels.fftconv.monarch as monarch
    import dnaconv.kernels.fftconv.monarch_hbm as hbm
    from dnaconv.kernels.fftconv.plan import backward_kind

    B, D, L, K = 2, 2, 20_000, 1024
    assert fft_plan(L, K).cols and not fft_plan(L, K, dtype=torch.float32).cols
    assert backward_kind(L, K) == "fused"
    stored = spy_launches(monkeypatch, hbm, "_col_inv_kernel", record=lambda kw: kw["STORE_Z"])
    loaded = spy_launches(monkeypatch, monarch, "_fftconv_bwd_kernel", record=lambda kw: kw["HAS_Z"])
    u, k, bias, pre, post, _ = _inputs(B, D, L, K, 0, torch.bfloat16, seed=11)
    xs = [x.detach().clone().requires_grad_() for x in (u, k, bias, pre, post)]
    dy = torch.randn(B, D, L, device=DEVICE)
    (monarch_fftconv(*xs).float() * dy).sum().backward()
    ref = [x.detach().cpu().double().requires_grad_() for x in xs]
    (exact_conv(*ref) * dy.cpu().double()).sum().backward()
    for x, r, name in zip(xs, ref, ["du", "dk", "dbias", "dpre", "dpost"]):
        assert_close(x.grad.cpu(), r.grad, rtol=1e-2, name=name)
    assert stored == [True] and loaded == [True]


@pytest.mark.parametrize("shape", [(2, 3, 1025, 129, 0), SHAPES[1]], ids=["chip", "hbm"])
def test_half_dft_matrices_change_nothing(shape, monkeypatch):
    """For half-precision inputs the DFT matrices are stored in fp16, the type the products convert them to
    anyway: forward and gradients (the HBM backward forced where the plan goes through HBM) are bit for bit
    those with fp32 matrices (DNACONV_DFT_HALF=0)."""
    from dnaconv.kernels.fftconv.dft import _dft_matrices
    from dnaconv.kernels.fftconv.monarch_hbm import _col_dft

    hbm = bool(fft_plan(*shape[2:]).cols)
    assert hbm == (shape == SHAPES[1])
    monkeypatch.setenv("DNACONV_HBM_BWD", "1" if hbm else "0")
    kinds = spy_launches(monkeypatch, monarch_mod, "_fftconv_bwd_kernel", record=lambda kw: kw["N1"])
    xs = _inputs(*shape, torch.bfloat16, seed=5)
    dy = torch.randn(xs[0].shape, device=DEVICE, dtype=torch.bfloat16)
    out = {}
    for half in ("1", "0"):
        monkeypatch.setenv("DNACONV_DFT_HALF", half)
        want = torch.float16 if half == "1" else torch.float32
        assert _dft_matrices(16, 32, DEVICE, precision=2)[0].dtype == want
        assert (
            _col_dft(16, DEVICE, 2)[0].dtype == want
            and _dft_matrices(16, 32, DEVICE)[0].dtype == torch.float32
        )
        leaves = [x.detach().clone().requires_grad_() if x is not None else None for x in xs]
        y = monarch_fftconv(*leaves)
        y.backward(dy)
        out[half] = [y.detach()] + [x.grad for x in leaves if x is not None]
    assert bool(kinds) != hbm  # the on-chip backward ran for the on-chip plan only
    for a, b, name in zip(out["1"], out["0"], ["y", "du", "dk", "dbias", "dpre", "dpost"]):
        assert torch.equal(a, b), name


def test_hbm_backward_takes_the_routes_plan(monkeypatch):
    """The HBM backward runs on the plan ``fftconv``'s dispatch decision (``_route``) carries, without planning
    again, and gives the gradients it gives when it plans itself (one block per sequence paired across the
    batch, bf16 gated)."""
    import dnaconv.kernels.fftconv.monarch_hbm_bwd as bwd
    from dnaconv.kernels import fftconv as dispatch

    B, D, L, K = 2, 2, 5000, 5000
    monkeypatch.setenv("DNACONV_HBM_BWD", "1")
    route = dispatch._route(L, K, 0, torch.bfloat16, True, 1.0, B * D * L, B)
    assert route[1] == ("hbm", hbm_plan(L, K, kind="hbm_bwd"))
    xs = _inputs(B, D, L, K, 0, torch.bfloat16, seed=12)[:5]
    dy = torch.randn(B, D, L, device=DEVICE, dtype=torch.bfloat16)
    grads = []
    for given in (None, route):
        leaves = [x.detach().clone().requires_grad_() for x in xs]
        with monkeypatch.context() as m:
            if given is not None:
                m.setattr(bwd, "hbm_plan", lambda *a, **kw: pytest.fail("planned again"))
            (monarch_fftconv(*leaves, route=given) * dy).sum().backward()
        grads.append([x.grad for x in leaves])
    for a, b in zip(*grads):
        assert torch.equal(a, b)


@pytest.mark.parametrize(
    "pf, pb",
    [
        (FFTPlan((64,), 64, 64, 196609, 65536), FFTPlan((16, 16), 32, 32, 196609, 65536)),
        (FFTPlan((32,), 32, 32, 26769, 6000), FFTPlan((16,), 32, 64, 26769, 6000)),
    ],
    ids=["k64k-one-level-to-two", "one-level"],
)
def test_relayout_spectrum(pf, pb):
    """``monarch.relayout_spectrum``: a filter spectrum in one plan's storage order gathered into another's of
    the same N is the spectrum computed in that order (K = 64K at 1M's forward and backward plans, and a small
    pair), the skip term folded."""
    torch.manual_seed(3)
    k, delta = torch.randn(2, pf.k_eff, device=DEVICE), torch.randn(2, device=DEVICE)
    moved = monarch_mod.relayout_spectrum(monarch_mod.monarch_spectrum(k, pf, delta=delta), pf, pb)
    for a, b in zip(moved, monarch_mod.monarch_spectrum(k, pb, delta=delta)):
        assert a.shape == b.shape and torch.equal(a, b)


def test_backward_takes_the_forwards_spectrum_relayout(monkeypatch):
    """Where the HBM backward's plan has the forward's N on another decomposition (L = 30,000, K = 6000: columns
    of 32 and rows of 32 x 32 forward, 16 and 32 x 64 backward; K = 64K at 1M on the H200), fwd+bwd computes the
    filter spectrum once and gathers it into the backward's order (``relayout_spectrum``), against computing it
    in each (DNACONV_SPECTRUM_SHARE=same, the rule before): the same output, the gradients against the float64
    reference's, fp32 gated over two blocks."""
    import dnaconv.kernels.fftconv.monarch_hbm as fwd_mod
    import dnaconv.kernels.fftconv.monarch_hbm_bwd as bwd_mod

    B, D, L, K = 1, 2, 30_000, 6000
    monkeypatch.setenv("DNACONV_HBM_BWD", "1")
    route = hbm_plan(L, K), plan_mod.backward_route(L, K, 0, 1.0, B * D * L, B)  # fp32 runs them when routed
    pf, (kind, pb) = route
    assert kind == "hbm" and pf.n == pb.n and (pf.cols, pf.n1, pf.n2) != (pb.cols, pb.n1, pb.n2) and pf.C < L
    u, k, bias, pre, post, _ = _inputs(B, D, L, K, 0, torch.float32, seed=17)
    dy = torch.randn(B, D, L, device=DEVICE)
    ref = [x.detach().cpu().double().requires_grad_() for x in (u, k, bias, pre, post)]
    (exact_conv(*ref) * dy.cpu().double()).sum().backward()
    real, seen, outs, moved = monarch_mod.monarch_spectrum, [], {}, []
    relayout = monarch_mod.relayout_spectrum
    monkeypatch.setattr(monarch_mod, "relayout_spectrum", lambda *a: moved.append(a[1:]) or relayout(*a))
    for share in ("1", "same"):
        monkeypatch.setenv("DNACONV_SPECTRUM_SHARE", share)
        seen.clear()
        with monkeypatch.context() as m:
            for mod in (monarch_mod, fwd_mod, bwd_mod):
                m.setattr(mod, "monarch_spectrum", lambda *a, **kw: seen.append(a[1]) or real(*a, **kw))
            xs = [x.detach().clone().requires_grad_() for x in (u, k, bias, pre, post)]
            y = monarch_fftconv(*xs, route=route)
            (y * dy).sum().backward()
        outs[share] = y.detach()
        assert seen == ([pf] if share == "1" else [pf, pb])
        for x, r, name in zip(xs, ref, ["du", "dk", "dbias", "dpre", "dpost"]):
            assert_close(x.grad.cpu().double(), r.grad, rtol=1e-5, name=f"{name} share={share}")
    assert moved == [(pf, pb)] and torch.equal(outs["1"], outs["same"])


@pytest.mark.parametrize(
    "B, D, L, K, hbm, small",
    [(16, 1, 2100, 2100, True, True), (1, 2, 8192, 8192, True, False), (9, 2, 1000, 1000, False, True)],
    ids=["hbm-one-block", "hbm-one-sequence", "fused-half-tiles"],
)
def test_backward_takes_the_forwards_spectrum(B, D, L, K, hbm, small, monkeypatch):
    """Where the forward's and the backward's transforms agree and the spectrum is no larger than the spectra
    torch.fft's autograd keeps (``monarch._shared_spectrum``), fwd+bwd computes the filter spectrum once, not
    twice, and gives bit for bit what it gives computing it in each (DNACONV_SPECTRUM_SHARE=0): through HBM
    (the skip term folded into it), paired and one sequence's HERM frames (the forward's row pass reads 24 rows
    of the spectrum, the backward's 20: it is kept with 24 and read in place), and on chip (the fused backward
    on half tiles), bf16 gated. The one sequence's spectrum is 8 times u's bytes: the rule before the
    eighteenth session (=small) did not keep it. A forward that computes its own spectrum would take a HERM
    frame's rows of it (FLIP, ``test_half_spectrum_flipped``) in fp16 (``test_fp16_filter_spectrum``), other
    numbers: not here."""
    import dnaconv.kernels.fftconv.monarch_hbm as fwd_mod
    import dnaconv.kernels.fftconv.monarch_hbm_bwd as bwd_mod
    from dnaconv.kernels import fftconv as dispatch

    monkeypatch.setenv("DNACONV_HBM_FLIP", "0")
    monkeypatch.setenv("DNACONV_HBM_KF", "fp32")
    if hbm:
        monkeypatch.setenv("DNACONV_HBM_BWD", "1")
        monkeypatch.setenv("DNACONV_HBM_ONE", "1")
    # v's spectrum is kept within what the filter spectrum leaves of the budget (``monarch._v_budget``), so
    # sharing decides whether it is kept: not here (``test_hbm_backward_keeps_v``)
    monkeypatch.setenv("DNACONV_HBM_KEEP_V", "0")
    route = dispatch._route(L, K, 0, torch.bfloat16, True, 1.0, B * D * L, B)
    assert bool(route[0].cols) == hbm and route[1][0] == ("hbm" if hbm else "fused")
    if B == 1:
        rows = [
            fr(p, B, D, L).rows
            for fr, p in ((fwd_mod._forward_frame, route[0]), (bwd_mod._backward_frame, route[1][1]))
        ]
        assert rows == [24, 20]
    xs = _inputs(B, D, L, K, 0, torch.bfloat16, seed=13)[:5]
    dy = torch.randn(B, D, L, device=DEVICE, dtype=torch.bfloat16)
    out, calls, seen, real = {}, {}, [], monarch_mod.monarch_spectrum

    def counted(*a, **kw):
        seen.append(a[4] if len(a) > 4 else kw.get("rows"))
        return real(*a, **kw)

    for share in ("1", "0", "small"):
        monkeypatch.setenv("DNACONV_SPECTRUM_SHARE", share)
        seen.clear()
        with monkeypatch.context() as m:
            for mod in (monarch_mod, fwd_mod, bwd_mod):
                m.setattr(mod, "monarch_spectrum", counted)
            leaves = [x.detach().clone().requires_grad_() for x in xs]
            y = monarch_fftconv(*leaves, route=route)
            (y * dy).sum().backward()
        out[share], calls[share] = [y.detach(), *(x.grad for x in leaves)], list(seen)
    assert len(calls["1"]) == 1 and len(calls["0"]) == 2 and len(calls["small"]) == (1 if small else 2)
    if B == 1:
        assert calls["1"] == [24] and calls["0"] == [24, 20]
    for a, b, name in zip(out["1"], out["0"], ["y", "du", "dk", "dbias", "dpre", "dpost"]):
        assert torch.equal(a, b), name


@pytest.mark.parametrize(
    "L,K,H,max_row",
    [(5001, 5001, 0, 0), (3000, 12_000, 10_000, 0), (20_000, 20_000, 0, 256)],
    ids=["one-level", "history", "two-levels"],
)
def test_forward_hermitian_half(L, K, H, max_row, monkeypatch):
    """HERM: one sequence's one block (nothing to pair) stores, transforms and reads back only the rows k_p <=
    P / 2 of the first column level (with one level, up to a whole row-pass program). Against the reference
    and against the full frame (DNACONV_HBM_HERM=0), gated and plain, with history, through the middle
    column pass (N = 16 x 16 x 256); bf16; z kept for the backward; a full spectrum given (a cached one)."""
    import dnaconv.kernels.fftconv.monarch_hbm as hbm
    from dnaconv.kernels.fftconv.monarch import monarch_spectrum

    if max_row:
        monkeypatch.setattr(plan_mod, "MAX_ROW", max_row)
    plan = fft_plan(L, K, H)
    assert plan.C >= L and (len(plan.cols) == 2) == bool(max_row)
    herm = spy_launches(monkeypatch, hbm, "_col_inv_kernel", record=lambda kw: kw["HERM"])
    rows = spy_launches(monkeypatch, hbm, "_row_kernel", record=lambda kw: kw["G"])
    frame = hbm._Frame(plan, 1, 3, L, herm=True)
    assert frame.herm and frame.r0 < plan.cols[0] and frame.rows < plan.n // (plan.n1 * plan.n2)
    for gated in (True, False):
        xs = _inputs(1, 3, L, K, H, torch.float32, gated, seed=9)
        ref = exact_conv(*_cpu(xs))
        herm.clear()
        y = monarch_fftconv(*xs)
        assert herm[-1] is True
        assert_close(y.cpu(), ref, rtol=1e-5, name="herm")
        monkeypatch.setenv("DNACONV_HBM_HERM", "0")
        full = monarch_fftconv(*xs)
        monkeypatch.delenv("DNACONV_HBM_HERM")
        assert herm[-1] is False
        assert_close(full.cpu(), ref, rtol=1e-5, name="full frame")
    u, k, bias, pre, post, hist = xs = _inputs(1, 3, L, K, H, torch.float32, seed=9)
    z = torch.empty_like(u)
    spectrum = monarch_spectrum(k, plan)  # every row: the row pass reads the first ones
    y = hbm.hbm_fftconv_fwd(u, k, bias, pre, post, hist, spectrum, plan=plan, z=z)
    assert spectrum[0].shape[1] > frame.rows and herm[-1] is True
    assert_close(y.cpu(), exact_conv(*_cpu(xs)), rtol=1e-5, name="given spectrum")
    assert_close(z.cpu(), exact_conv(u, k, bias, pre, None, hist).cpu(), rtol=1e-5, name="z")
    xs = _inputs(1, 3, L, K, H, torch.bfloat16, seed=9)
    ref = exact_conv(*_cpu(xs))
    assert_close(
        monarch_fftconv(*xs).cpu(), ref, rtol=BF16_FLOOR, baseline=ref.to(torch.bfloat16), name="bf16"
    )
    assert rows and herm[-1] is True


@pytest.mark.parametrize("L,max_row", [(5001, 0), (20_000, 256)], ids=["one-level", "two-levels"])
def test_hbm_backward_hermitian_half(L, max_row, monkeypatch):
    """The HBM backward (forced) for one sequence's one block on half the spectrum (HERM: dv's convolution as
    the forward's; dk's partial spectra kept for rows k_p <= P / 2, the frequencies 0..N / 2 taken from them or
    their mirrors) against the full frame (DNACONV_HBM_HERM=0) and the float64 reference's autograd, one and two column
    levels, fp32."""
    import dnaconv.kernels.fftconv.monarch_hbm as hbm

    if max_row:
        monkeypatch.setattr(plan_mod, "MAX_ROW", max_row)
    monkeypatch.setenv("DNACONV_HBM_BWD", "1")
    herm = spy_launches(monkeypatch, hbm, "_col_inv_kernel", record=lambda kw: kw["HERM"])
    assert (len(hbm_plan(L, L, kind="hbm_bwd").cols) == 2) == bool(max_row)
    u, k, bias, pre, post, _ = _inputs(1, 3, L, L, 0, torch.float32, seed=12)
    dy = torch.randn(1, 3, L, device=DEVICE)
    ref = [x.detach().cpu().double().requires_grad_() for x in (u, k, bias, pre, post)]
    (naive_fftconv(*ref) * dy.cpu().double()).sum().backward()
    for env in ("1", "0"):
        monkeypatch.setenv("DNACONV_HBM_HERM", env)
        herm.clear()
        xs = [x.detach().clone().requires_grad_() for x in (u, k, bias, pre, post)]
        (monarch_fftconv(*xs) * dy).sum().backward()
        assert herm[-1] is (env == "1") and len(herm) >= 2  # the forward's last pass and the backward's
        for x, r, name in zip(xs, ref, ["du", "dk", "dbias", "dpre", "dpost"]):
            assert_close(x.grad.cpu().double(), r.grad, rtol=1e-5, name=f"{name} herm={env}")


def test_cached_spectrum_folds_the_bias(monkeypatch):
    """``fftconv_spectrum(..., bias)`` on an HBM plan folds the skip term into the cached spectrum (as the
    forward does with the spectrum it computes itself): fftconv given it computes no spectrum and runs the last
    column pass without the bias (HAS_BIAS off: a third fewer bytes there), where a spectrum cached without the
    bias needs it on; the same result as computing its own. With another bias, or the same bias changed in
    place since, it computes the spectrum again (with the bias it is given)."""
    import dnaconv.kernels.fftconv as fc
    import dnaconv.kernels.fftconv.monarch_hbm as hbm_mod
    from dnaconv.kernels.fftconv.monarch import FoldedSpectrum

    # the dispatch's decision, as on CUDA (here the interpreter runs the kernels)
    route_as_on_cuda(monkeypatch)
    u, k, bias, pre, post, _ = _inputs(1, 3, 30_000, 3000, 0, torch.bfloat16)
    assert fc._route(30_000, 3000, 0, torch.bfloat16, False, 1.0, u.numel(), 1)[0].cols  # through HBM
    has_bias = spy_launches(monkeypatch, hbm_mod, "_col_inv_kernel", record=lambda kw: kw["HAS_BIAS"])
    spectra, real = [], hbm_mod.monarch_spectrum
    monkeypatch.setattr(hbm_mod, "monarch_spectrum", lambda *a, **kw: spectra.append(1) or real(*a, **kw))

    def run(b, k_f=None):
        has_bias.clear(), spectra.clear()
        with torch.no_grad():
            y = fc.fftconv(u, k, b, pre, post, k_f=k_f)
        return y, has_bias[:], len(spectra)

    own, flags, n = run(bias)
    assert flags == [False] and n == 1  # computed here, folded
    kf = fc.fftconv_spectrum(k, u, 0, 1.0, bias)
    assert isinstance(kf, FoldedSpectrum) and kf.folds(bias)
    y, flags, n = run(bias, kf)
    assert flags == [False] and n == 0 and torch.equal(y, own)
    plain = fc.fftconv_spectrum(k, u)  # cached without the bias: the last pass adds the skip term
    assert not isinstance(plain, FoldedSpectrum)
    y, flags, n = run(bias, plain)
    assert flags == [True] and n == 0
    assert_close(y.float(), own.float(), rtol=2e-3, name="folded vs not")
    ref = exact_conv(*_cpu([u, k, bias, pre, post]))
    assert_close(own.float().cpu(), ref, rtol=1e-2, name="folded vs direct")
    other = bias + 1
    y, flags, n = run(other, kf)  # not the folded bias: computed again, with this one
    assert n == 1 and torch.equal(y, run(other)[0])
    bias.add_(1)  # the folded bias changed in place since
    assert not kf.folds(bias)
    y, flags, n = run(bias, kf)
    assert n == 1 and torch.equal(y, run(other)[0])
    # with streaming history (the model's cache is keyed by its length): as the forward folds its own
    hist = _inputs(1, 3, 2600, 3000, 2600, torch.bfloat16, seed=5)[5]
    kf = fc.fftconv_spectrum(k, u, hist.shape[-1], 1.0, bias)
    assert isinstance(kf, FoldedSpectrum)
    with torch.no_grad():
        y = fc.fftconv(u, k, bias, pre, post, hist, k_f=kf)
        assert torch.equal(y, fc.fftconv(u, k, bias, pre, post, hist))
    ref = exact_conv(*_cpu([u, k, bias, pre, post]), history=hist.cpu())
    assert_close(y.float().cpu(), ref, rtol=1e-2, name="folded with history vs direct")


def test_given_spectrum_under_autograd():
    """A folded spectrum is not taken under autograd (the bias's gradient needs the skip term's own path) nor
    for another bias; a plain one is taken as given, with the bias."""
    from dnaconv.kernels.fftconv import _given_spectrum
    from dnaconv.kernels.fftconv.monarch import FoldedSpectrum

    bias, parts = torch.randn(3), (torch.zeros(3, 1), torch.zeros(3, 1))
    kf = FoldedSpectrum(parts, bias)
    assert _given_spectrum(kf, bias, False) == (kf, None)
    assert _given_spectrum(kf, bias, True) == (None, bias)
    assert _given_spectrum(kf, bias.clone(), False)[0] is None
    assert _given_spectrum(kf, None, False) == (None, None)
    assert _given_spectrum(parts, bias, True) == (parts, bias)
    assert _given_spectrum(None, bias, False) == (None, bias)


@pytest.mark.parametrize("precision", [1, 2], ids=["3xtf32", "fp16"])
@pytest.mark.parametrize(
    "L,K,rows,delta",
    [
        (30_000, 3000, None, False),  # several blocks: every row (paired)
        (30_000, 3000, None, True),  # the skip term folded in
        (5001, 5001, 9, True),  # one sequence's one block: the HERM frame's first rows only
        (20_000, 700, None, False),  # taps in one column position (P_EFF = 1), rows of 16 x 32
        (65_536, 65_536, 33, True),  # a column level of 64, rows of 32 x 64: two rows per program
        (1 << 20, 65_536, None, False),  # rows of 64 x 64 (K = 64K at 1M): one row per program
    ],
    ids=["rows", "delta", "herm-rows", "short", "rows2048", "rows4096"],
)
def test_hbm_spectrum_equals_rfft(L, K, rows, delta, precision, monkeypatch):
    """An HBM plan's filter spectrum in one kernel from the taps (``monarch_hbm.hbm_spectrum``,
    DNACONV_HBM_SPECTRUM=direct / direct16) against the rfft's in torch ops, in the kernels' storage order:
    3xtf32 at fp32 accuracy (2e-7 under the interpreter), fp16 operands within 1e-3 (3e-4)."""
    from dnaconv.kernels.fftconv.monarch import monarch_spectrum

    plan = hbm_plan(L, K)
    assert len(plan.cols) == 1
    g = torch.Generator().manual_seed(6)
    k = (torch.randn(3, K, generator=g) / K**0.5).to(DEVICE)
    dl = torch.randn(3, generator=g).to(DEVICE) if delta else None
    monkeypatch.setenv("DNACONV_SPECTRUM", "torch")
    ref = monarch_spectrum(k, plan, 1.0, dl, rows=rows)
    monkeypatch.setenv("DNACONV_HBM_SPECTRUM", "direct" if precision == 1 else "direct16")
    out = monarch_spectrum(k, plan, 1.0, dl, rows=rows)
    for a, b in zip(out, ref):
        assert a.shape == b.shape == (3, rows or plan.cols[0], plan.n1, plan.n2)
    got, want = torch.complex(*out).cpu().cdouble(), torch.complex(*ref).cpu().cdouble()
    err = ((got - want).abs().norm() / want.abs().norm()).item()
    assert err < (1e-6 if precision == 1 else 1e-3), err


def test_hbm_spectrum_in_the_forward(monkeypatch):
    """The HBM forward (bf16, gated, the skip term folded) with its spectrum from ``hbm_spectrum`` on fp16
    operands (by default), against the float64 reference: within 2x torch.fft's own bf16 error, and within 5% of
    the error with the rfft's spectrum."""
    xs = _inputs(1, 3, 30_000, 3000, 0, torch.bfloat16)[:5]
    with torch.no_grad():
        monkeypatch.setenv("DNACONV_HBM_SPECTRUM", "rfft")
        ref = monarch_fftconv(*xs)
        monkeypatch.delenv("DNACONV_HBM_SPECTRUM")  # the default for half inputs at N = 16,384
        out = monarch_fftconv(*xs)
    exact = exact_conv(*_cpu(xs))
    assert_close(out.float().cpu(), exact, baseline=naive_fftconv(*_cpu(xs)), name="direct16 spectrum")
    assert rel_rms_error(out.cpu(), exact) < 1.05 * rel_rms_error(ref.cpu(), exact)
    assert not torch.equal(out, ref)  # it did take the other spectrum


@pytest.mark.parametrize("precision", [1, 2], ids=["3xtf32", "fp16"])
@pytest.mark.parametrize(
    "L,K,rows,delta,cap",
    [
        (30_000, 3000, None, False, None),  # one column level, every row (paired)
        (30_000, 3000, None, True, None),  # the skip term folded in
        (5001, 5001, 9, True, None),  # the first rows only (fewer than a HERM frame keeps: sliced)
        (5001, 5001, 12, False, None),  # a HERM frame's rows (one sequence's block), as the forward asks
        (20_000, 20_000, None, True, 256),  # two column levels (rows capped at 256 points), every row
        (20_000, 20_000, 48, False, 256),  # two column levels, a HERM frame's rows
        (20_000, 30_000, None, True, None),  # a filter longer than the sequence: its first K' taps (a copy)
    ],
    ids=["rows", "delta", "rows9", "herm", "two-levels", "two-levels-herm", "longer-filter"],
)
def test_hbm_transform_spectrum_equals_rfft(L, K, rows, delta, cap, precision, monkeypatch):
    """An HBM plan's filter spectrum through the convolution's own forward passes (``monarch_hbm.
    hbm_transform_spectrum``, DNACONV_HBM_SPECTRUM=passes / passes16) against the rfft's in torch ops, in the
    kernels' storage order: 3xtf32 at fp32 accuracy (2e-7 under the interpreter), fp16 operands within 1e-3
    (4e-4). The row pass's store applies the 1/N scale and adds delta (``_row_kernel``'s SPECTRUM)."""
    from dnaconv.kernels.fftconv.monarch import monarch_spectrum

    if cap:
        monkeypatch.setattr(plan_mod, "MAX_ROW", cap)
    plan = hbm_plan(L, K)
    assert len(plan.cols) == (2 if cap else 1)
    g = torch.Generator().manual_seed(6)
    k = (torch.randn(3, K, generator=g) / K**0.5).to(DEVICE)
    dl = torch.randn(3, generator=g).to(DEVICE) if delta else None
    monkeypatch.setenv("DNACONV_SPECTRUM", "torch")
    monkeypatch.setenv("DNACONV_HBM_SPECTRUM", "rfft")
    ref = monarch_spectrum(k, plan, 1.0, dl, rows=rows)
    monkeypatch.setenv("DNACONV_HBM_SPECTRUM", "passes" if precision == 1 else "passes16")
    out = monarch_spectrum(k, plan, 1.0, dl, rows=rows)
    for a, b in zip(out, ref):
        assert a.shape == b.shape == (3, rows or plan.n // (plan.n1 * plan.n2), plan.n1, plan.n2)
        assert a.is_contiguous()
    got, want = torch.complex(*out).cpu().cdouble(), torch.complex(*ref).cpu().cdouble()
    err = ((got - want).abs().norm() / want.abs().norm()).item()
    assert err < (1e-6 if precision == 1 else 1e-3), err


@pytest.mark.parametrize("B,L,cap", [(2, 5001, None), (1, 5001, None), (1, 20_000, 256), (2, 20_000, 256)],
                         ids=["paired", "herm", "two-levels-herm", "two-levels-paired"])  # fmt: skip
def test_transform_spectrum_in_the_forward(B, L, cap, monkeypatch):
    """The HBM forward (bf16, gated, full-length filters, the skip term folded) with its spectrum through its
    own passes on fp16 operands (DNACONV_HBM_SPECTRUM=passes16), paired across a batch or one sequence on half
    its spectrum (HERM), through one or two column levels: within 2x torch.fft's own bf16 error of the float64
    reference, and within 5% of the error with the rfft's spectrum."""
    if cap:
        monkeypatch.setattr(plan_mod, "MAX_ROW", cap)
    assert len(hbm_plan(L, L).cols) == (2 if cap else 1)
    xs = _inputs(B, 2, L, L, 0, torch.bfloat16)[:5]
    with torch.no_grad():
        monkeypatch.setenv("DNACONV_HBM_SPECTRUM", "rfft")
        ref = monarch_fftconv(*xs)
        monkeypatch.setenv("DNACONV_HBM_SPECTRUM", "passes16")
        out = monarch_fftconv(*xs)
    exact = exact_conv(*_cpu(xs))
    assert_close(out.float().cpu(), exact, baseline=naive_fftconv(*_cpu(xs)), name="passes16 spectrum")
    assert rel_rms_error(out.cpu(), exact) < 1.05 * rel_rms_error(ref.cpu(), exact)
    assert not torch.equal(out, ref)  # it did take the other spectrum


def test_hbm_spectrum_where_it_pays(monkeypatch):
    """By default the spectrum of half inputs' dense HBM plans comes from ``hbm_spectrum`` on fp16 operands
    (one kernel from the taps) for plans of one column level up to HBM_DIRECT_SPECTRUM_MAX points where it
    reads fewer than PASSES_SPECTRUM_TAPS taps (D x P x K'), else from ``hbm_transform_spectrum`` on fp16
    operands (the convolution's own passes), two column levels included; fp32 inputs and sparse plans take the
    rfft; DNACONV_HBM_SPECTRUM forces any."""
    import dnaconv.kernels.fftconv.monarch_hbm as mh
    from dnaconv.kernels.fftconv import monarch

    monkeypatch.setenv("DNACONV_SPECTRUM", "torch")  # the rfft's gather in torch ops (fast here)
    monkeypatch.delenv("DNACONV_HBM_SPECTRUM", raising=False)
    seen = []
    monkeypatch.setattr(
        mh, "hbm_spectrum", lambda k, plan, d, r, prec, fp16_rows=False: seen.append(("direct", plan.n, prec))
    )
    monkeypatch.setattr(
        mh,
        "hbm_transform_spectrum",
        lambda k, plan, d, r, prec, half=False, fp16_rows=False: seen.append(("passes", plan.n, prec)),
    )
    k = torch.randn(1, 40_000, device=DEVICE)
    k512 = torch.randn(512, 16384, device=DEVICE)  # full L = 16K's filters: 2^28 taps read by one kernel
    cases = [  # (filters, plan, precision, fraction): the default, then forced
        (k, hbm_plan(2_300_000, 16384), 2, 1.0),  # N = 65,536, one column level
        (k, hbm_plan(2_300_000, 16384), 1, 1.0),
        (k, hbm_plan(65_536, 40_000), 2, 1.0),  # N = 131,072
        (k, hbm_plan(2_300_000, 16384, fraction=0.5), 2, 0.5),
        (k, hbm_plan(1 << 20, 1 << 20), 2, 1.0),  # two column levels
        (k512, hbm_plan(16384, 16384), 2, 1.0),  # N = 32,768, 512 x 32 x 16,384 taps
        (k512[:255], hbm_plan(16384, 16384), 2, 1.0),  # fewer than PASSES_SPECTRUM_TAPS
    ]
    assert monarch.HBM_DIRECT_SPECTRUM_MAX == 1 << 16 and cases[2][1].n == 1 << 17
    assert len(cases[0][1].cols) == 1 and len(cases[4][1].cols) == 2
    assert 512 * cases[5][1].cols[0] * 16384 == monarch.PASSES_SPECTRUM_TAPS * 2
    for kk, plan, precision, fraction in cases:
        monarch.monarch_spectrum(kk[:, : plan.k_eff], plan, fraction, precision=precision)
    assert seen == [
        ("direct", 1 << 16, 2), ("passes", 1 << 17, 2), ("passes", 1 << 21, 2), ("passes", 1 << 15, 2),
        ("direct", 1 << 15, 2),
    ]  # fmt: skip
    for mode, want in (("rfft", None), ("direct", ("direct", 1)), ("direct16", ("direct", 2)),
                       ("passes", ("passes", 1)), ("passes16", ("passes", 2))):  # fmt: skip
        seen.clear()
        monkeypatch.setenv("DNACONV_HBM_SPECTRUM", mode)
        for kk, plan, precision, fraction in cases[:3]:
            monarch.monarch_spectrum(kk[:, : plan.k_eff], plan, fraction, precision=precision)
        sizes = (1 << 16, 1 << 16, 1 << 17)
        assert seen == ([] if want is None else [(want[0], n, want[1]) for n in sizes])


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
@pytest.mark.parametrize("B,D,L,K,H", SHAPES[:3], ids=IDS[:3])
def test_half_intermediate(B, D, L, K, H, dtype, monkeypatch):
    """Half inputs through one column level keep the intermediate in fp16, each value over its tile's or
    row's power of two (``_half_intermediate``): paired, with history, one sequence on half its spectrum.
    Within 2x torch.fft's error and within 5% of the fp32 intermediate's (DNACONV_HBM_INTER=fp32)."""
    import dnaconv.kernels.fftconv.monarch_hbm as hbm

    scaled = spy_launches(monkeypatch, hbm, "_row_kernel", record=lambda kw: kw["SCALED"])
    xs = _inputs(B, D, L, K, H, dtype, seed=11)
    exact = exact_conv(*_cpu(xs))
    with torch.no_grad():
        out = monarch_fftconv(*xs)
        monkeypatch.setenv("DNACONV_HBM_INTER", "fp32")
        ref = monarch_fftconv(*xs)
    assert scaled == [True, False]
    assert_close(out.cpu(), exact, rtol=BF16_FLOOR, baseline=exact.to(dtype), name="fp16 intermediate")
    assert rel_rms_error(out.cpu(), exact) < 1.05 * rel_rms_error(ref.cpu(), exact)
    assert not torch.equal(out, ref)


@pytest.mark.parametrize("scale", [2.0**14, 2.0**-14], ids=["large", "small"])
def test_half_intermediate_scales(scale, monkeypatch):
    """Inputs far from 1 in bf16: the gated input at 2^28 (without the scales the first column pass's fp16
    values would overflow at 65,504) and at 2^-28 (they would fall into subnormals), paired blocks and one
    sequence on half its spectrum: within 2x torch.fft's error."""
    for B, D, L, K, H in (SHAPES[0], SHAPES[2]):
        u, k, bias, pre, post, hist = _inputs(B, D, L, K, H, torch.bfloat16, seed=12)
        xs = (u * scale, k, bias, pre * scale, post, hist)
        exact = exact_conv(*_cpu(xs))
        with torch.no_grad():
            out = monarch_fftconv(*xs)
        assert torch.isfinite(out).all()
        assert_close(out.cpu(), exact, rtol=BF16_FLOOR, baseline=exact.to(torch.bfloat16), name=f"x{scale}")


def test_half_intermediate_where(monkeypatch):
    """fp32 inputs and plans of two column levels keep the fp32 intermediate."""
    import dnaconv.kernels.fftconv.monarch_hbm as hbm

    plan = hbm_plan(30_000, 3000)
    assert hbm._half_intermediate(torch.bfloat16, plan) and hbm._half_intermediate(torch.float16, plan)
    assert not hbm._half_intermediate(torch.float32, plan)
    monkeypatch.setattr(plan_mod, "MAX_ROW", 256)
    two = hbm_plan(20_000, 20_000)
    assert len(two.cols) == 2 and not hbm._half_intermediate(torch.bfloat16, two)
    scaled = spy_launches(monkeypatch, hbm, "_row_kernel", record=lambda kw: kw["SCALED"])
    xs = _inputs(1, 2, 20_000, 20_000, 0, torch.bfloat16, seed=13)
    exact = exact_conv(*_cpu(xs))
    out = monarch_fftconv(*xs)
    assert scaled == [False]
    assert_close(out.cpu(), exact, rtol=BF16_FLOOR, baseline=exact.to(torch.bfloat16), name="two levels")
    monkeypatch.setenv("DNACONV_HBM_INTER", "fp32")
    assert not hbm._half_intermediate(torch.bfloat16, plan)


@pytest.mark.parametrize("B,D,L,K,H", [SHAPES[0], SHAPES[1], SHAPES[2]], ids=IDS[:3])
def test_hbm_backward_half_intermediate(B, D, L, K, H, monkeypatch):
    """The HBM backward of half inputs keeps g's and v's intermediates in fp16 over their scales (the dk pass
    reads both, stores g's convolution over its rows' scales): paired, with history, one sequence on half its
    spectrum. Each gradient within 2x torch.fft's autograd error in bf16 and within 10% of the fp32
    intermediates' (DNACONV_HBM_INTER=fp32) error; the inputs at 2^12 too (g v at 2^24)."""
    import dnaconv.kernels.fftconv.monarch_hbm_bwd as bwd

    monkeypatch.setenv("DNACONV_HBM_BWD", "1")
    scaled = spy_launches(monkeypatch, bwd, "_row_dk_kernel", record=lambda kw: kw["SCALED"])
    names = ["du", "dk", "dbias", "dpre", "dpost"]
    for scale in (1.0, 2.0**12):
        u, k, bias, pre, post, hist = _inputs(B, D, L, K, H, torch.bfloat16, seed=14)
        u, pre = u * scale, pre * scale
        dy = torch.randn(B, D, L, device=DEVICE, dtype=torch.bfloat16) * scale
        grads = []
        for fn, inter in ((monarch_fftconv, None), (monarch_fftconv, "fp32"), (exact_conv, None)):
            exact = fn is exact_conv
            if inter:
                monkeypatch.setenv("DNACONV_HBM_INTER", inter)
            xs = [
                (x.cpu().double() if exact else x).detach().clone().requires_grad_()
                for x in (u, k, bias, pre, post)
            ]
            h = None if hist is None else hist.cpu().double() if exact else hist
            (fn(*xs, history=h) * (dy.cpu().double() if exact else dy)).float().sum().backward()
            monkeypatch.delenv("DNACONV_HBM_INTER", raising=False)
            grads.append([x.grad.cpu().double() for x in xs])
        for out, wide, ref, name in zip(*grads, names):
            assert torch.isfinite(out).all(), name
            assert_close(out, ref, rtol=BF16_FLOOR, baseline=ref.to(torch.bfloat16).double(), name=name)
            assert rel_rms_error(out, ref) < 1.1 * rel_rms_error(wide, ref) + 1e-4, name
    assert scaled == [True, False, True, False]


@pytest.mark.parametrize("cols", ["32", "64", "128"], ids=["cols32", "cols64", "cols128"])
def test_half_intermediate_column_tiles(cols, monkeypatch):
    """The fp16 intermediate's tile scales where the first column pass's tiles (DNACONV_HBM_COLS columns) are
    narrower than a row's N2 = 64 runs (a scale per point of the row, as K = 64K's rows of 64 x 64 under
    tiles of 32), as wide, and wider: the forward and the HBM backward (its dk pass reads two intermediates)
    against the fp32 intermediates' (DNACONV_HBM_INTER=fp32), bf16, two blocks paired."""
    import dnaconv.kernels.fftconv.monarch_hbm as fwd
    import dnaconv.kernels.fftconv.monarch_hbm_bwd as bwd

    monkeypatch.setenv("DNACONV_HBM_COLS", cols)
    plan = FFTPlan((16,), 32, 64, 32768 - 999, 1000)
    monkeypatch.setattr(bwd, "hbm_plan", lambda *a, **kw: plan)
    seen = spy_launches(monkeypatch, fwd, "_row_kernel", record=lambda kw: (kw["SCALED"], kw["COLS"]))
    u, k, bias, pre, post, _ = _inputs(1, 2, 40_000, 1000, 0, torch.bfloat16, seed=15)
    dy = torch.randn(1, 2, 40_000, device=DEVICE, dtype=torch.bfloat16)
    ref = [x.cpu().double().requires_grad_() for x in (u, k, bias, pre, post)]
    exact = exact_conv(*ref)
    (exact * dy.cpu().double()).sum().backward()
    out = {}
    for inter in ("fp16", "fp32"):
        if inter == "fp32":
            monkeypatch.setenv("DNACONV_HBM_INTER", "fp32")
        z = torch.empty_like(u)
        y = fwd.hbm_fftconv_fwd(u, k, bias, pre, post, plan=plan, z=z)
        out[inter] = (y, *bwd.hbm_fftconv_bwd(dy, u, k, bias, pre, post, None, z))
    assert seen == [(True, int(cols)), (False, int(cols))]
    wants = [exact.detach()] + [r.grad for r in ref]
    for name, a, b, want in zip(["y", "du", "dk", "dbias", "dpre", "dpost"], out["fp16"], out["fp32"], wants):
        a, b = a.cpu().double(), b.cpu().double()
        assert torch.isfinite(a).all(), name
        assert rel_rms_error(a, want) < 1.1 * rel_rms_error(b, want) + 1e-4, name


@pytest.mark.parametrize(
    "B,L,K,H",
    [(1, 60_000, 16_000, 0), (2, 20_000, 16_000, 2000), (1, 20_000, 20_000, 0)],
    ids=["paired", "history", "herm"],
)
def test_half_intermediate_two_column_levels(B, L, K, H, monkeypatch):
    """DNACONV_HBM_INTER=fp16 keeps the intermediate of two column levels (rows capped at 256 points) in fp16
    too: the second column pass reads the first's tile scales and stores over its own, the row pass reads
    those, the middle inverse pass reads the rows' and stores over its tiles', the last reads those. Paired
    blocks, streaming history, one sequence on half its spectrum (HERM); the forward and the HBM backward,
    bf16, each within 10% of the fp32 intermediates' error (their default there); the inputs at 2^12 (paired,
    history)."""
    import dnaconv.kernels.fftconv.monarch_hbm as fwd
    import dnaconv.kernels.fftconv.monarch_hbm_bwd as bwd

    monkeypatch.setattr(plan_mod, "MAX_ROW", 256)
    plan = hbm_plan(L, K, H)
    assert len(plan.cols) == 2
    assert not fwd._half_intermediate(torch.bfloat16, plan)  # the default there: fp32
    scaled = spy_launches(
        monkeypatch, fwd, "_col_inv_kernel", record=lambda kw: (kw["SCALE_IN"], kw["SCALE_OUT"])
    )
    names = ["y", "du", "dk", "dbias", "dpre", "dpost"]
    for scale in (1.0,) if B == 1 and K == L else (2.0**12,):  # HERM at 1, the others at 2^12
        u, k, bias, pre, post, hist = _inputs(B, 2, L, K, H, torch.bfloat16, seed=16)
        u = u * scale
        dy = torch.randn(B, 2, L, device=DEVICE, dtype=torch.bfloat16)
        ref = [x.cpu().double().requires_grad_() for x in (u, k, bias, pre, post)]
        exact = exact_conv(*ref, history=None if hist is None else hist.cpu().double() * scale)
        (exact * dy.cpu().double()).sum().backward()
        wants = [exact.detach()] + [r.grad for r in ref]
        out = {}
        for inter in ("fp16", "fp32"):
            monkeypatch.setenv("DNACONV_HBM_INTER", inter)
            monkeypatch.setattr(bwd, "hbm_plan", lambda *a, **kw: hbm_plan(L, K, kind="hbm_bwd"))
            h = None if hist is None else hist * scale
            z = torch.empty_like(u)
            y = fwd.hbm_fftconv_fwd(u, k, bias, pre, post, h, plan=plan, z=z)
            out[inter] = (y, *bwd.hbm_fftconv_bwd(dy, u, k, bias, pre, post, h, z))
        for name, a, b, want in zip(names, out["fp16"], out["fp32"], wants):
            a, b = a.cpu().double(), b.cpu().double()
            assert torch.isfinite(a).all(), name
            assert rel_rms_error(a, want) < 1.1 * rel_rms_error(b, want) + 1e-4, (name, scale)
    assert (2, False) in scaled and (1, True) in scaled  # the last pass, the middle pass, scaled


@pytest.mark.parametrize(
    "B,L,K,H,cap",
    [(2, 30_000, 3000, 0, None), (2, 14_000, 2500, 2600, None), (2, 20_000, 20_000, 0, 256)],
    ids=["paired", "history", "two-levels"],
)
def test_half_spectrum_mirrored(B, L, K, H, cap, monkeypatch):
    """The forward and the HBM backward of paired blocks (every row of the intermediate) given a filter
    spectrum of a HERM frame's rows only (``hbm_transform_spectrum``'s half, DNACONV_HBM_MIRROR=1): the
    row pass and the dk pass read the other rows from their mirrors (``_filter_rows``' MIRROR), through one or
    two column levels, with streaming history; bf16, every output and gradient within 1% (plus 1e-4) of the
    error with the whole spectrum, and the spectrum half the rows."""
    import dnaconv.kernels.fftconv.monarch_hbm as fwd
    import dnaconv.kernels.fftconv.monarch_hbm_bwd as bwd
    from dnaconv.kernels.fftconv.monarch import monarch_spectrum

    if cap:
        monkeypatch.setattr(plan_mod, "MAX_ROW", cap)
    plan = hbm_plan(L, K, H)
    assert len(plan.cols) == (2 if cap else 1)
    monkeypatch.setattr(bwd, "hbm_plan", lambda *a, **kw: plan)
    u, k, bias, pre, post, hist = _inputs(B, 2, L, K, H, torch.bfloat16, seed=17)
    monkeypatch.setenv("DNACONV_HBM_SPECTRUM", "passes16")
    monkeypatch.delenv("DNACONV_HBM_MIRROR", raising=False)  # off by default: every row
    assert monarch_spectrum(k[:1], plan, 1.0, precision=2, half=True)[0].shape[1] == plan.n // (
        plan.n1 * plan.n2
    )
    monkeypatch.setenv("DNACONV_HBM_MIRROR", "1")
    monkeypatch.setenv("DNACONV_HBM_FLIP", "0")  # the forward's row pass through the gathers too
    dy = torch.randn(B, 2, L, device=DEVICE, dtype=torch.bfloat16)
    ref = [x.cpu().double().requires_grad_() for x in (u, k, bias, pre, post)]
    exact = exact_conv(*ref, history=None if hist is None else hist.cpu().double())
    (exact * dy.cpu().double()).sum().backward()
    wants = [exact.detach()] + [r.grad for r in ref]
    mirrors = spy_launches(monkeypatch, fwd, "_row_kernel", record=lambda kw: kw.get("MIRROR", "spectrum"))
    dk_mirrors = spy_launches(monkeypatch, bwd, "_row_dk_kernel", record=lambda kw: kw["MIRROR"])
    out = {}
    for half in (True, False):
        spec = monarch_spectrum(k, plan, 1.0, bias, precision=2, half=half)
        assert (spec[0].shape[1] < plan.n // (plan.n1 * plan.n2)) == half
        z = torch.empty_like(u)
        y = fwd.hbm_fftconv_fwd(u, k, None, pre, post, hist, spectrum=spec, plan=plan, z=z)
        out[half] = (y, *bwd.hbm_fftconv_bwd(dy, u, k, bias, pre, post, hist, z, spectrum=spec))
    assert mirrors == ["spectrum", True, "spectrum", False] and dk_mirrors == [True, False]
    for name, a, b, want in zip(["y", "du", "dk", "dbias", "dpre", "dpost"], out[True], out[False], wants):
        a, b = a.cpu().double(), b.cpu().double()
        assert rel_rms_error(a, want) < 1.01 * rel_rms_error(b, want) + 1e-4, name


@pytest.mark.parametrize(
    "B,L,K,H,cap,lazy,spectrum",
    [
        (2, 30_000, 3000, 0, None, False, "passes16"),  # one column level of 16, rows of 1024: 12 of 16 rows
        (2, 30_000, 3000, 0, None, False, None),  # the default there, the one-kernel spectrum: every row
        (3, 14_000, 2500, 2600, None, True, "passes16"),  # history; the matrices loaded where used (LAZY)
        (2, 20_000, 20_000, 0, 256, True, "passes16"),  # two column levels: 9 x 16 of 16 x 16 rows
    ],
    ids=["paired", "paired-one-kernel", "history-lazy", "two-levels-lazy"],
)
def test_half_spectrum_flipped(B, L, K, H, cap, lazy, spectrum, monkeypatch):
    """The HBM forward without gradients (paired blocks: every row of the intermediate) computes only a HERM
    frame's rows of the filter spectrum through the passes (``monarch_spectrum``'s ``flip``), and its row pass
    meets the other rows' mirrors without gathers (``_row_kernel``'s FLIP: those programs transform their rows
    with the mirrored matrices, ``_flip_matrices``): bf16 gated, within 1% (plus 1e-4) of the error with
    every row of the spectrum (DNACONV_HBM_FLIP=0) against the float64 reference, and not the same numbers. The
    one-kernel spectrum (``hbm_spectrum``) and a cached one (``fftconv_spectrum``) keep every row, as
    DNACONV_HBM_FLIP=0 does."""
    import dnaconv.kernels.fftconv as fc
    import dnaconv.kernels.fftconv.monarch_hbm as fwd

    if cap:
        monkeypatch.setattr(plan_mod, "MAX_ROW", cap)
    if lazy:
        monkeypatch.setattr(fwd, "_lazy", lambda n1, n2: True)
    plan = hbm_plan(L, K, H)
    assert len(plan.cols) == (2 if cap else 1)
    xs = _inputs(B, 2, L, K, H, torch.bfloat16, seed=23)
    if spectrum:
        monkeypatch.setenv("DNACONV_HBM_SPECTRUM", spectrum)
    else:
        monkeypatch.delenv("DNACONV_HBM_SPECTRUM", raising=False)
        # the reference's gather where the rfft runs (fast here)
        monkeypatch.setenv("DNACONV_SPECTRUM", "torch")
    monkeypatch.delenv("DNACONV_HBM_MIRROR", raising=False)
    exact = exact_conv(*_cpu(xs[:5]), history=None if H == 0 else xs[5].cpu())
    seen = spy_launches(monkeypatch, fwd, "_row_kernel")
    producers = spy_launches(monkeypatch, fwd, "_spectrum_kernel")
    real, krows = fwd.monarch_spectrum, []

    def spectrum_rows(*args, **kw):
        kf = real(*args, **kw)
        krows.append(kf[0].shape[1])
        return kf

    monkeypatch.setattr(fwd, "monarch_spectrum", spectrum_rows)
    out = _forwards_under(monkeypatch, "DNACONV_HBM_FLIP", ("1", "0"), xs)
    rows = [kw for kw in seen if not kw["SPECTRUM"]]
    assert len(producers) == (0 if spectrum else 2) and len(seen) == (4 if spectrum else 2)
    assert [kw["FLIP"] for kw in rows] == ([True, None] if spectrum else [None, None])
    assert [kw["MIRROR"] for kw in rows] == [False] * 2
    total = plan.n // (plan.n1 * plan.n2)  # rows of the intermediate, every one paired
    assert krows[1] == total and (total // 2 < krows[0] < total if spectrum else krows[0] == total), krows
    assert rel_rms_error(out["1"], exact) < 1.01 * rel_rms_error(out["0"], exact) + 1e-4
    assert torch.equal(out["1"], out["0"]) != bool(spectrum)
    monkeypatch.setenv("DNACONV_HBM_FLIP", "1")
    # the dispatch's decision, as on CUDA (here the interpreter runs the kernels)
    route_as_on_cuda(monkeypatch)
    kf = fc.fftconv_spectrum(xs[1], xs[0], H, 1.0, xs[2])  # the skip term folded, as the forward folds it
    assert kf[0].shape[1] == total
    with torch.no_grad():
        assert torch.equal(fc.fftconv(*xs[:5], xs[5], k_f=kf).cpu().double(), out["0"])


@pytest.mark.parametrize(
    "L,K,rows,cap,fills",
    [
        (30_000, 3000, None, None, True),  # one column level of 16, rows of 1024: 12 of 16 computed
        (20_000, 20_000, None, 256, True),  # two column levels: 9 x 16 of 16 x 16 rows computed
        (5001, 5001, 12, None, False),  # a HERM frame's rows asked: nothing to fill
    ],
    ids=["one-level", "two-levels", "herm-rows"],
)
def test_transform_spectrum_fill(L, K, rows, cap, fills, monkeypatch):
    """DNACONV_HBM_SPECTRUM_FILL=1: the passes transform a HERM frame's rows of the filter only, and the row
    pass stores each as its mirror's too (conjugated, backwards; ``_row_kernel``'s FILL), so that every row
    is there for paired frames: against the rfft's spectrum at fp32 accuracy (3xtf32), the skip term folded;
    and the forward with it (fp16 operands, paired, bf16) within 2x torch.fft's bf16 error of the float64 reference."""
    import dnaconv.kernels.fftconv.monarch_hbm as fwd
    from dnaconv.kernels.fftconv.monarch import monarch_spectrum

    if cap:
        monkeypatch.setattr(plan_mod, "MAX_ROW", cap)
    plan = hbm_plan(L, K)
    g = torch.Generator().manual_seed(7)
    k = (torch.randn(3, K, generator=g) / K**0.5).to(DEVICE)
    dl = torch.randn(3, generator=g).to(DEVICE)
    monkeypatch.setenv("DNACONV_SPECTRUM", "torch")
    monkeypatch.setenv("DNACONV_HBM_SPECTRUM", "rfft")
    ref = monarch_spectrum(k, plan, 1.0, dl, rows=rows)
    monkeypatch.setenv("DNACONV_HBM_SPECTRUM", "passes")
    monkeypatch.setenv("DNACONV_HBM_SPECTRUM_FILL", "1")
    seen = spy_launches(
        monkeypatch, fwd, "_row_kernel", record=lambda kw: (kw.get("SPECTRUM"), kw.get("FILL"))
    )
    out = monarch_spectrum(k, plan, 1.0, dl, rows=rows)
    assert seen == [(True, fills)]
    assert out[0].shape == ref[0].shape and out[0].is_contiguous()
    got, want = torch.complex(*out).cpu().cdouble(), torch.complex(*ref).cpu().cdouble()
    assert ((got - want).abs().norm() / want.abs().norm()).item() < 1e-6
    if fills:
        monkeypatch.setenv("DNACONV_HBM_SPECTRUM", "passes16")
        xs = _inputs(2, 3, L, K, 0, torch.bfloat16)[:5]
        with torch.no_grad():
            y = monarch_fftconv(*xs)
        exact = exact_conv(*_cpu(xs))
        assert_close(y.float().cpu(), exact, baseline=naive_fftconv(*_cpu(xs)), name="filled spectrum")


@pytest.mark.parametrize(
    "B,L,K,H,fwd,inv,spec",
    [
        (1, 5001, 5001, 0, (19, 32), (19, 32), (0, 32)),  # one sequence (HERM), P = 64 rows of 256
        (2, 5001, 5001, 0, (19, 32), (0, 0), (0, 32)),  # paired: the last pass of 64 keeps every row
        (1, 3000, 12_000, 10_000, (0, 0), (46, 16), (0, 0)),  # history: the input fills 52 of 64 rows
        (1, 40_000, 40_000, 0, (9, 16), (9, 16), (0, 16)),  # two column levels, 32 x 16 x 256
    ],
    ids=["herm", "paired", "history", "two-levels"],
)
def test_live_rows(B, L, K, H, fwd, inv, spec, monkeypatch):
    """One block per sequence: the first column level's passes take only the rows that hold the input (the
    forward's first pass, the spectrum's, ``_live_rows``) or the outputs (the last inverse pass), with F_P's
    columns or rows there. (P0, LIVE) as the block's geometry gives them (rows of 256 points, the sequence at
    positions KM1 ... KM1 + L - 1 of its block, KM1 = K' - 1 rounded up to 16, history before it; the taps at
    0 ... K' - 1); the forward (fp32, gated, the spectrum through the passes in 3xtf32) and the HBM backward
    (forced) equal the float64 reference and the same with every row taken (DNACONV_HBM_LIVE=0), and the paired last
    pass on its live rows too (=all, where it lost)."""
    import dnaconv.kernels.fftconv.monarch_hbm as hbm

    monkeypatch.setattr(plan_mod, "MAX_ROW", 256)
    monkeypatch.setenv("DNACONV_HBM_SPECTRUM", "passes")
    plan = fft_plan(L, K, H)
    assert plan.C >= L and len(plan.cols) == (2 if L > 10_000 else 1)
    first = spy_launches(monkeypatch, hbm, "_col_fwd_kernel", record=lambda kw: (kw["FIRST"], kw["LIVE"]))
    last = spy_launches(monkeypatch, hbm, "_col_inv_kernel", record=lambda kw: (kw["LAST"], kw["LIVE"]))
    frame = hbm._Frame(plan, B, 3, L, herm=True)
    km1 = block_overlap(plan.n, plan.k_eff, L)
    assert hbm._live_rows(frame, km1 - H, km1 + L) == fwd
    assert hbm._live_rows(frame, km1, km1 + L, inverse=True) == inv
    assert hbm._live_rows(hbm._Frame(plan, 1, 3, plan.k_eff, km1=0), 0, plan.k_eff) == spec
    xs = _inputs(B, 3, L, K, H, torch.float32, seed=21)
    ref = exact_conv(*_cpu(xs))
    y = monarch_fftconv(*xs)
    assert (True, spec[1]) in first and (True, fwd[1]) in first and (True, inv[1]) in last
    assert all(live == 0 for f, live in first + last if not f)  # the other levels take every row
    assert_close(y.cpu(), ref, rtol=1e-5, name="live rows")
    if frame.pair:
        monkeypatch.setenv("DNACONV_HBM_LIVE", "all")
        assert hbm._live_rows(frame, km1, km1 + L, inverse=True) == (19, 32)
        last.clear()
        y = monarch_fftconv(*xs)
        assert last == [(True, 32)]
        assert_close(y.cpu(), ref, rtol=1e-5, name="live rows, paired last pass")
    monkeypatch.setenv("DNACONV_HBM_LIVE", "0")
    first.clear()
    every = monarch_fftconv(*xs)
    assert set(first) <= {(True, 0), (False, 0)}
    assert_close(every.cpu(), ref, rtol=1e-5, name="every row")
    if H or L > 10_000:
        return
    monkeypatch.setenv("DNACONV_HBM_BWD", "1")
    dy = torch.randn(B, 3, L, device=DEVICE)
    u, k, bias, pre, post, _ = xs
    grads = {}
    for env in ("0", "1"):
        monkeypatch.setenv("DNACONV_HBM_LIVE", env)
        last.clear()
        leaves = [x.detach().clone().requires_grad_() for x in (u, k, bias, pre, post)]
        (monarch_fftconv(*leaves) * dy).sum().backward()
        assert sum(1 for f, live in last if f and live == (inv[1] if env == "1" else 0)) == 2  # fwd, bwd
        grads[env] = [x.grad for x in leaves]
    r = [x.detach().cpu().double().requires_grad_() for x in (u, k, bias, pre, post)]
    (naive_fftconv(*r) * dy.cpu().double()).sum().backward()
    for a, b, x, name in zip(grads["1"], grads["0"], r, ["du", "dk", "dbias", "dpre", "dpost"]):
        assert_close(a.cpu().double(), x.grad, rtol=1e-5, name=name)
        assert_close(b.cpu().double(), x.grad, rtol=1e-5, name=f"{name} every row")


@pytest.mark.parametrize(
    "B,L,K,H,cap,pair",
    [
        (2, 14_000, 2500, 2600, 0, "1"),  # paired segments, history
        (2, 9000, 2500, 0, 0, "0"),  # unpaired: the batch's spectra summed
        (1, 5001, 5001, 0, 0, "1"),  # one sequence's one block: a HERM frame
        (1, 20_000, 20_000, 0, 256, "1"),  # HERM through two column levels
    ],
    ids=["paired", "unpaired", "herm", "two-levels-herm"],
)
def test_dk_through_the_passes(B, L, K, H, cap, pair, monkeypatch):
    """The HBM backward's dk from its spectrum through the convolution's own inverse passes (``monarch_hbm_bwd.
    _dk_taps``: the row pass's inverse alone, ``_row_kernel``'s BACK, then the inverse column passes) against
    the gather into frequency order and torch.fft (DNACONV_HBM_DK_TAIL=fft) and the float64 reference's autograd, fp32;
    paired or not, on a HERM frame through one and two column levels (=passes: the default from
    DK_PASSES_SIZE elements)."""
    import dnaconv.kernels.fftconv.monarch_hbm_bwd as bwd

    if cap:
        monkeypatch.setattr(plan_mod, "MAX_ROW", cap)
    monkeypatch.setenv("DNACONV_HBM_BWD", "1")
    monkeypatch.setenv("DNACONV_HBM_PAIR", pair)
    back = spy_launches(monkeypatch, bwd, "_row_kernel", record=lambda kw: kw.get("BACK", False))
    u, k, bias, pre, post, hist = _inputs(B, 3, L, K, H, torch.float32, seed=31)
    dy = torch.randn(B, 3, L, device=DEVICE)
    r = [x.detach().cpu().double().requires_grad_() for x in (u, k, bias, pre, post)]
    (naive_fftconv(*r, None if hist is None else hist.cpu().double()) * dy.cpu().double()).sum().backward()
    assert not bwd._dk_passes(u.numel()) and bwd._dk_passes(bwd.DK_PASSES_SIZE)  # by size: here it is forced
    dk = {}
    for tail in ("passes", "fft"):
        monkeypatch.setenv("DNACONV_HBM_DK_TAIL", tail)
        back.clear()
        leaves = [x.detach().clone().requires_grad_() for x in (u, k, bias, pre, post)]
        (monarch_fftconv(*leaves, hist) * dy).sum().backward()
        assert back.count(True) == (tail == "passes")
        dk[tail] = leaves[1].grad.cpu().double()
        assert_close(dk[tail], r[1].grad, rtol=1e-5, name=f"dk {tail}")
    assert not torch.equal(dk["passes"], dk["fft"])  # two different computations


_GATHERS = {"DNACONV_HBM_FLIP": "0", "DNACONV_HBM_MIRROR": "1"}  # the mirrored rows read through gathers


@pytest.mark.parametrize(
    "B, L, K, H, cap, spectrum, env, dtype",
    [
        # the one-kernel spectrum (every row); the passes' HERM rows read through FLIP, or through gathers
        pytest.param(2, 30_000, 3000, 0, None, "direct16", {}, torch.bfloat16, id="one-kernel"),
        pytest.param(2, 20_000, 20_000, 0, None, "passes16", {}, torch.bfloat16, id="flip"),
        pytest.param(2, 20_000, 20_000, 0, None, "passes16", _GATHERS, torch.bfloat16, id="mirror"),
        # history over several blocks; one sequence's one block (a HERM frame itself)
        pytest.param(3, 14_000, 2500, 2600, None, "passes16", {}, torch.bfloat16, id="history"),
        pytest.param(1, 20_000, 20_000, 0, None, "passes16", {}, torch.bfloat16, id="one-sequence"),
        # two column levels (an fp32 intermediate): the forward keeps fp32
        pytest.param(2, 20_000, 20_000, 0, 256, "passes16", {}, torch.bfloat16, id="two-levels"),
        # fp16 inputs at odd sizes
        pytest.param(2, 9001, 3001, 0, None, "direct16", {}, torch.float16, id="fp16-one-kernel"),
        pytest.param(3, 7001, 7001, 0, None, "passes16", {}, torch.float16, id="fp16-flip"),
    ],
)
def test_fp16_filter_spectrum(B, L, K, H, cap, spectrum, env, dtype, monkeypatch):
    """The HBM forward of half inputs, computing its own filter spectrum, has it stored in fp16 over a power of
    two per row (``monarch_hbm._half_spectrum``; ``_row_kernel``'s KS) through one column level: each
    producer's parts times their row's scale give its fp32 spectrum within fp16's rounding (2^-11 of the
    scale, the scale between the row's largest magnitude and twice it), and the forward, through every way its
    row pass reads the rows (FLIP, MIRROR's gathers, every row), is within 1% (plus 1e-4) of the error with
    the fp32 spectrum (DNACONV_HBM_KF=fp32) against the float64 reference, and not the same numbers. Through
    two column levels (where it did not pay) the forward keeps fp32."""
    import dnaconv.kernels.fftconv.monarch_hbm as fwd

    if cap:
        monkeypatch.setattr(plan_mod, "MAX_ROW", cap)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DNACONV_HBM_SPECTRUM", spectrum)
    plan = hbm_plan(L, K, H)
    assert len(plan.cols) == (2 if cap else 1)
    xs = _inputs(B, 2, L, K, H, dtype, seed=29)
    half = monarch_mod.monarch_spectrum(xs[1], plan, precision=2, fp16_rows=True)
    full = monarch_mod.monarch_spectrum(xs[1], plan, precision=2)
    assert len(half) == 3 and half[0].dtype == half[1].dtype == torch.float16 and len(full) == 2
    scale = half[2][:, :, None, None]
    assert torch.equal(torch.exp2(torch.log2(scale).round()), scale)  # powers of two
    top = torch.maximum(full[0].abs(), full[1].abs()).amax((2, 3), keepdim=True)
    assert bool((top <= scale).all() and (scale < 2 * top).all())
    for h, f in zip(half, full):
        assert bool(((h.float() * scale - f).abs() <= 2**-11 * scale).all())
    exact = exact_conv(*_cpu(xs[:5]), history=None if H == 0 else xs[5].cpu())
    seen = spy_launches(monkeypatch, fwd, "_row_kernel")
    out = _forwards_under(monkeypatch, "DNACONV_HBM_KF", ("fp16", "fp32"), xs)
    rows = [kw for kw in seen if not kw["SPECTRUM"]]
    assert [kw["KS"] for kw in rows] == [None if cap else True, None]
    if cap:
        assert torch.equal(out["fp16"], out["fp32"])
        return
    # FLIP where the passes give a HERM frame's rows for a frame of every row (paired); the one-kernel spectrum
    # keeps every row, one sequence's frame is HERM itself, MIRROR's env reads through gathers
    flip = spectrum == "passes16" and B > 1 and not env
    assert [kw["FLIP"] for kw in rows] == [True if flip else None] * 2
    assert [kw["MIRROR"] for kw in rows] == [bool(env)] * 2
    assert rel_rms_error(out["fp16"], exact) < 1.01 * rel_rms_error(out["fp32"], exact) + 1e-4
    assert not torch.equal(out["fp16"], out["fp32"])
