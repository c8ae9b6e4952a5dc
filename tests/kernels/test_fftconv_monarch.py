"""The Triton Monarch FFT convolution against the reference, forward and backward.

On a machine without CUDA this runs under TRITON_INTERPRET=1 (set in tests/conftest.py) at small shapes.
"""

from __future__ import annotations

import pytest
import torch

from dnaconv.kernels.fftconv import naive_conv_direct
from dnaconv.kernels.fftconv.monarch import MAX_FFT_SIZE, monarch_fftconv, monarch_plan
from dnaconv.kernels.fftconv.plan import split_backward
from dnaconv.kernels.testing import BF16_FLOOR, assert_close
from tests.kernels.helpers import DEVICE, conv_inputs, output_and_grads, route_as_on_cuda, spy_launches

# (B, D, L, K, H): full filters (K >= L), partial (K < L, several blocks), odd lengths, D not a multiple of 16,
# and streaming history.
SHAPES = [
    (1, 3, 63, 63, 0),
    (2, 5, 100, 100, 0),
    (1, 3, 300, 40, 0),
    (2, 3, 1025, 129, 0),
    (1, 4, 77, 500, 0),
    (1, 3, 200, 64, 63),
    (2, 2, 50, 64, 20),
]
IDS = [f"B{b}-D{d}-L{L}-K{k}-H{h}" for b, d, L, k, h in SHAPES]


_inputs = conv_inputs


@pytest.mark.parametrize(
    "cols,n1,n2,fraction,D",
    [
        ((), 16, 32, 1.0, 3),  # on chip, N = 512
        ((16,), 32, 32, 1.0, 5),  # HBM, N = 16,384: 16 rows
        ((16,), 16, 64, 0.25, 2),  # frequency-sparse: the kept columns only
    ],
    ids=["chip", "hbm", "sparse"],
)
def test_spectrum_kernel_equals_torch(cols, n1, n2, fraction, D, monkeypatch):
    """``monarch_spectrum``'s gather-and-scale kernel (after the rfft) gives the torch ops' result bit for bit,
    with the skip term as delta (the HBM kernels' fold) and without; and delta is the spectrum of k + delta at
    tap 0."""
    from dnaconv.kernels.fftconv.monarch import FFTPlan, monarch_spectrum

    p = FFTPlan(cols, n1, n2, 100, 300)
    g = torch.Generator().manual_seed(3)
    k = (torch.randn(D, 300, generator=g) / 17).to(DEVICE)
    delta = torch.randn(D, generator=g).to(DEVICE)
    for dl in (None, delta):
        with monkeypatch.context() as m:
            m.setenv("DNACONV_SPECTRUM", "rfft")  # on chip without delta the direct kernel runs (below)
            fast = monarch_spectrum(k, p, fraction, dl)
        with monkeypatch.context() as m:
            m.setenv("DNACONV_SPECTRUM", "torch")
            slow = monarch_spectrum(k, p, fraction, dl)
        assert fast[0].shape == slow[0].shape
        assert all(torch.equal(a, b) for a, b in zip(fast, slow))
    k0 = k.clone()
    k0[:, 0] += delta
    for a, b in zip(monarch_spectrum(k, p, fraction, delta), monarch_spectrum(k0, p, fraction)):
        assert_close(a.cpu().double(), b.cpu().double(), rtol=1e-6, name="delta")


@pytest.mark.parametrize(
    "n1,n2,fraction,D,K",
    [
        (16, 16, 1.0, 5, 100),  # N = 256, several filters per program, not all of them there
        (16, 32, 1.0, 3, 512),  # every tap (K = N)
        (32, 32, 1.0, 2, 1),  # one tap
        (32, 64, 0.5, 3, 700),  # frequency-sparse: the kept columns, one of their frequencies zeroed
        (64, 64, 1.0, 2, 2049),  # N = 4096, one filter per program
    ],
)
@pytest.mark.parametrize("precision", [1, 2], ids=["3xtf32", "fp16"])
def test_direct_spectrum_equals_rfft(n1, n2, fraction, D, K, precision, monkeypatch):
    """The on-chip spectrum computed in one kernel from the taps (``_direct_spectrum``) against the rfft's in
    torch ops, in the kernels' storage order, with a filter that is a column of a wider tensor (strided rows)
    and the zeroed frequency of a sparse plan exactly zero. 3xtf32: fp32 accuracy (relative RMS 5e-6; 2e-7 under
    the interpreter). fp16 operands (half inputs, by default): 1e-3 (3e-4 under the
    interpreter, a tenth of a bf16 rounding), for filters of taps up to 1e4 (unscaled, fp16 products would
    overflow) and down to 1e-6 (fp16 subnormals) too."""
    from dnaconv.kernels.fftconv.monarch import FFTPlan, monarch_spectrum

    p = FFTPlan((), n1, n2, n1 * n2 - K + 1, K)
    g = torch.Generator().manual_seed(4)
    wide = torch.randn(D, K + 7, generator=g) / K**0.5
    if precision == 2:
        wide *= torch.tensor([1e4, 1e-6, 1.0, 1.0, 1.0][:D])[:, None]
    k = wide.to(DEVICE)[:, 3 : 3 + K]  # rows K + 7 apart
    # 3xtf32 by default only up to DIRECT_SPECTRUM_MAX points; fp16 (half inputs) at every on-chip size
    if precision == 1:
        monkeypatch.setenv("DNACONV_SPECTRUM", "direct")
    else:
        monkeypatch.delenv("DNACONV_SPECTRUM", raising=False)
    direct = monarch_spectrum(k, p, fraction, precision=precision)
    monkeypatch.setenv("DNACONV_SPECTRUM", "torch")
    ref = monarch_spectrum(k, p, fraction)
    for a, b, name in zip(direct, ref, ("real", "imaginary")):
        assert a.shape == b.shape == (D, 1, n1, round(fraction * n2))
        for d in range(D):  # each filter on its own scale
            rtol = 5e-6 if precision == 1 else 1e-3
            assert_close(a[d].cpu().double(), b[d].cpu().double(), rtol=rtol, name=f"{name}, filter {d}")
        assert torch.equal(a[b == 0], b[b == 0]) or fraction == 1


def test_direct_spectrum_where_it_pays(monkeypatch):
    """By default the one-kernel spectrum runs for on-chip plans of at most DIRECT_SPECTRUM_MAX points without a
    folded skip term in 3xtf32 (fp32 inputs), for every on-chip plan without one on fp16 operands (half
    inputs); larger ones, HBM plans and delta take the rfft."""
    import dnaconv.kernels.fftconv.monarch as mod

    monkeypatch.delenv("DNACONV_SPECTRUM", raising=False)
    seen = []
    real = mod._direct_spectrum
    monkeypatch.setattr(mod, "_direct_spectrum", lambda *a: seen.append((a[1].n, a[4])) or real(*a))
    k = torch.randn(2, 300, device=DEVICE)
    for precision in (1, 2):
        for p, delta in (
            (mod.FFTPlan((), 32, 32, 725, 300), None),
            (mod.FFTPlan((), 32, 32, 725, 300), torch.ones(2, device=DEVICE)),
            (mod.FFTPlan((), 32, 64, 1749, 300), None),
            (mod.FFTPlan((16,), 16, 32, 7893, 300), None),
        ):
            mod.monarch_spectrum(k, p, 1.0, delta, precision=precision)
    assert mod.DIRECT_SPECTRUM_MAX == 1024 and seen == [(1024, 1), (1024, 2), (2048, 2)]


def test_plan(monkeypatch):
    from dnaconv.kernels.fftconv import plan as fp

    monkeypatch.delenv("DNACONV_MONARCH_FFT", raising=False)
    assert monarch_plan(63, 63) == (16, 16, 194, 63)  # one block covers a short sequence
    assert monarch_plan(10, 100) == (16, 16, 247, 10)  # taps past the sequence cannot reach an input
    assert monarch_plan(10**6, MAX_FFT_SIZE // 2 + 1) is None
    n1, n2, C, k_eff = monarch_plan(1_000_000, 2048)
    assert (n1 * n2, C, k_eff) == (4096, 2049, 2048)
    # frequency-sparse: always the smallest size (the op is defined at it), whatever the costs
    assert monarch_plan(10_000, 100, fraction=0.5) == (16, 32, 413, 100)
    # dense: the size with the least time per output; flat costs favour the largest block (least overlap),
    # steep ones the smallest; no size >= the smallest in the backward's table: no fused backward
    monkeypatch.setitem(fp.POINT_PS, "forward", {512: 1.0, 1024: 1.0, 2048: 1.0, 4096: 1.0})
    assert monarch_plan(10**6, 100)[:3] == (64, 64, 3997)
    assert monarch_plan(1900, 100)[:3] == (32, 64, 1949)  # not beyond one block
    monkeypatch.setitem(fp.POINT_PS, "forward", {512: 1.0, 1024: 3.0, 2048: 9.0, 4096: 27.0})
    assert monarch_plan(10**6, 100)[:3] == (16, 32, 413)
    monkeypatch.setitem(fp.POINT_PS, "backward", {512: 1.0, 1024: 1.0})
    assert monarch_plan(10**6, 100, kind="backward")[:2] == (32, 32)
    assert monarch_plan(10**6, 600, kind="backward") is None  # needs N >= 2048
    monkeypatch.setenv("DNACONV_MONARCH_FFT", "2048")  # sweeps force a candidate size
    assert monarch_plan(10**6, 100, kind="backward")[:2] == (32, 64)
    assert monarch_plan(10**6, 1500)[:2] == (64, 64)  # 2048 is not a candidate for K = 1500


def test_launch_shapes(monkeypatch):
    """The launch table measured on the H200 (see ``_launch_shape``): (G, warps, options) per kind."""
    from dnaconv.kernels.fftconv.monarch import _launch_shape

    for var in (
        "DNACONV_MONARCH_ROWS",
        "DNACONV_MONARCH_WARPS",
        "DNACONV_MONARCH_MAXNREG",
        "DNACONV_MONARCH_BWD_POINTS",
    ):
        monkeypatch.delenv(var, raising=False)
    cap = {"maxnreg": 168}
    assert _launch_shape(16, 32, 1000) == (8, 4, cap)  # N = 512
    assert _launch_shape(32, 32, 1000) == (4, 4, cap)
    assert _launch_shape(32, 64, 1000) == (2, 4, {})
    assert _launch_shape(64, 64, 1000) == (2, 8, {})
    assert _launch_shape(32, 64, 1) == (1, 4, {})  # one block per row (full-length filter)
    assert _launch_shape(16, 32, 3) == (4, 4, cap)  # no more segments than blocks
    assert _launch_shape(16, 32, 1000, "backward") == (4, 4, {})
    assert _launch_shape(32, 64, 1000, "backward") == (2, 4, {})  # at most 4096 points
    assert _launch_shape(64, 64, 1000, "backward") == (1, 8, {})
    # the HBM row pass (``_ROW_LAUNCH``): 4 warps; 1, 2, 4 rows per program at 4096, 2048, 1024 points; others
    # as paired
    assert _launch_shape(64, 64, 1000, "rows") == (1, 4, cap)
    assert _launch_shape(32, 64, 1000, "rows") == (2, 4, cap)
    assert _launch_shape(32, 32, 1000, "rows") == (4, 4, cap)
    assert _launch_shape(32, 32, 2, "rows") == (2, 4, cap)  # no more rows than the block has
    assert _launch_shape(16, 32, 1000, "rows") == (8, 4, {})
    assert _launch_shape(16, 32, 1000, "paired") == (8, 8, {})
    monkeypatch.setenv("DNACONV_MONARCH_MAXNREG", "0")
    assert _launch_shape(16, 32, 1000) == (8, 4, {})  # no cap
    monkeypatch.setenv("DNACONV_MONARCH_MAXNREG", "128")
    monkeypatch.setenv("DNACONV_MONARCH_ROWS", "64")
    assert _launch_shape(64, 64, 1000) == (1, 8, {"maxnreg": 128})
    assert _launch_shape(32, 64, 1000, "rows") == (2, 4, {"maxnreg": 128})  # the paired table, as set


@pytest.mark.parametrize("B,D,L,K,H", SHAPES, ids=IDS)
@pytest.mark.parametrize("gated", [True, False], ids=["gated", "plain"])
def test_forward_fp32(B, D, L, K, H, gated):
    u, k, bias, pre, post, hist = _inputs(B, D, L, K, H, torch.float32, gated)
    y = monarch_fftconv(u, k, bias, pre, post, hist)
    ref = naive_conv_direct(
        u.cpu(), k.cpu(), bias.cpu(), *(None if x is None else x.cpu() for x in (pre, post, hist))
    )
    assert_close(y.cpu(), ref, rtol=1e-5, name="fp32")


def test_aligned_overlap_on_chip(monkeypatch):
    """``plan.block_overlap``: the on-chip forward framed with the overlap rounded up to a multiple of 16 (the
    default), and with K' - 1 (DNACONV_FFT_ALIGN=0), over several blocks and with streaming history, and the
    fused backward, against the reference; aligned at the cost of one more block in 64."""
    import dnaconv.kernels.fftconv.monarch as monarch

    seen = []
    real = monarch.block_overlap
    monkeypatch.setattr(monarch, "block_overlap", lambda *a: seen.append(real(*a)) or seen[-1])
    for align, overlaps in (("", [112, 64]), ("0", [99, 63])):  # the default, then K' - 1
        monkeypatch.setenv("DNACONV_FFT_ALIGN", align)
        seen.clear()
        for B, D, L, K, H in ((2, 3, 2000, 100, 0), (1, 3, 200, 64, 63)):
            test_forward_fp32(B, D, L, K, H, True)
        assert seen == overlaps  # K' - 1 = 99 and 63, rounded up or not
        test_backward_fp32(2, 3, 2000, 100, 0)
        assert seen[2:] == overlaps[:1] * 2  # the forward's and the backward's frames
    # K = 112: blocks of C = 912 (the forward at N = 1024) and 400 (the backward at N = 512, sizes forced)
    # instead of 913 and 401, 65 and 147 of them instead of 64 and 146
    monkeypatch.delenv("DNACONV_FFT_ALIGN")
    seen.clear()
    monkeypatch.setenv("DNACONV_MONARCH_FFT", "1024")
    assert monarch.monarch_plan(58_432, 112)[2] == 913
    test_forward_fp32(1, 2, 58_432, 112, 0, True)
    monkeypatch.setenv("DNACONV_MONARCH_FFT", "512")
    assert monarch.monarch_plan(58_432, 112, kind="backward")[2] == 401
    test_backward_fp32(1, 2, 58_432, 112, 0)
    assert seen == [112, 112, 112]


def _spy(monkeypatch, name):
    """Each launch's flags (HALF, ACROSS, PART, G, ...) of the kernel ``monarch.name``."""
    from dnaconv.kernels.fftconv import monarch

    return spy_launches(monkeypatch, monarch, name)


@pytest.fixture
def fwd_launches(monkeypatch):
    """The forward kernel's framing flags (HALF, ACROSS) and G at each launch."""
    return _spy(monkeypatch, "_fftconv_fwd_kernel")


@pytest.mark.parametrize(
    "B,D,L,K,fft,half",
    [(2, 3, 500, 500, 0, True), (1, 2, 1000, 300, 2048, True), (1, 2, 2000, 2000, 0, True)],
    ids=["1024", "2048", "4096"],
)
def test_forward_half_frame(B, D, L, K, fft, half, fwd_launches, monkeypatch):
    """One block per sequence, no history: framed in the last half of the FFT (HALF, half tiles in stage 1) at
    N = 1024, 2048 and 4096; gated and plain, fp32 and bf16. With history, the usual frame."""
    if fft:
        monkeypatch.setenv("DNACONV_MONARCH_FFT", str(fft))
    for gated in (True, False):
        test_forward_fp32(B, D, L, K, 0, gated)
    test_forward_half_within_2x_torch(B, D, L, K, 0, torch.bfloat16)
    assert [x["HALF"] for x in fwd_launches] == [half] * 3
    # half tiles at N = 2048 (4 warps) launch capped at 168 registers, as every forward at N <= 1024 does
    capped = fwd_launches[0]["N1"] * fwd_launches[0]["N2"] <= (2048 if half else 1024)
    assert [x["maxnreg"] for x in fwd_launches] == [168 if capped else None] * 3
    test_forward_fp32(*SHAPES[5], gated=True)  # history: the default framing
    assert not fwd_launches[-1]["HALF"]


def test_forward_half_frame_at_4096_stores_z(fwd_launches, monkeypatch):
    """At N = 4096 the forward in training also stores z in the half frame, which the HBM backward (forced)
    takes d(post) from; DNACONV_MONARCH_HALF=2048 keeps N = 4096 on the usual frame (sweeps)."""
    monkeypatch.setenv("DNACONV_HBM_BWD", "1")
    xs = [x.requires_grad_() for x in _inputs(2, 2, 2000, 2000, 0, torch.float32, seed=4)[:5]]
    dy = torch.randn(2, 2, 2000, device=DEVICE)
    (monarch_fftconv(*xs) * dy).sum().backward()
    ref = [x.detach().cpu().double().requires_grad_() for x in xs]
    (naive_conv_direct(*ref) * dy.cpu().double()).sum().backward()
    for x, r, name in zip(xs, ref, ["du", "dk", "dbias", "dpre", "dpost"]):
        assert_close(x.grad.cpu(), r.grad, rtol=1e-5, name=name)
    assert fwd_launches[-1]["HALF"] and fwd_launches[-1]["STORE_Z"]
    monkeypatch.setenv("DNACONV_MONARCH_HALF", "2048")
    test_forward_fp32(1, 2, 2000, 2000, 0, True)
    assert not fwd_launches[-1]["HALF"]


def test_across_packs_partly_empty_programs(fwd_launches, monkeypatch):
    """Packed ACROSS (the default): sequences of a few blocks that leave each sequence's last program part
    empty are packed across the sequences of a channel at the same G (forward and backward); with
    DNACONV_MONARCH_ACROSS=1 not."""
    monkeypatch.setenv("DNACONV_MONARCH_FFT", "512")
    monkeypatch.setenv("DNACONV_MONARCH_ACROSS", "1")
    # C = 413: 10 blocks per sequence; forward G = 8: 2 programs per sequence or 4 packed for 3 sequences;
    # backward G = 4: 3 per sequence or 8 packed
    shape = (3, 2, 4000, 100, 0)
    bwd = _spy(monkeypatch, "_fftconv_bwd_kernel")
    test_forward_fp32(*shape, gated=True)
    test_backward_fp32(*shape[:4], 0)
    assert not fwd_launches[0]["ACROSS"] and not bwd[-1]["ACROSS"]
    monkeypatch.delenv("DNACONV_MONARCH_ACROSS")
    test_forward_fp32(*shape, gated=True)
    test_forward_fp32(5, 2, 3400, 100, 37, gated=False)  # history
    test_backward_fp32(*shape[:4], 0)
    test_backward_fp32(5, 2, 3400, 100, 37)
    assert all(x["ACROSS"] for x in fwd_launches[-4:]) and all(x["ACROSS"] for x in bwd[-2:])


@pytest.mark.parametrize("off", ["", "HALF", "ACROSS", "HALF,ACROSS"])
def test_forward_across_sequences(off, fwd_launches, monkeypatch):
    """Segments of several sequences of a channel in one program (ACROSS): one block per sequence, several
    blocks, history, a last program with fewer segments than G; with and without HALF; and each turned off
    (DNACONV_MONARCH_ACROSS / HALF = 0: one sequence per program, the usual frame)."""
    for name in filter(None, off.split(",")):
        monkeypatch.setenv(f"DNACONV_MONARCH_{name}", "0")
    cases = ((3, 2, 500, 500, 0), (5, 2, 700, 100, 0), (3, 2, 200, 64, 63), (2, 3, 1000, 1000, 0))
    for B, D, L, K, H in cases:
        for gated in (True, False):
            test_forward_fp32(B, D, L, K, H, gated)
    test_forward_half_within_2x_torch(3, 2, 500, 500, 0, torch.bfloat16)
    across = [x["ACROSS"] and x["G"] > 1 for x in fwd_launches]
    assert any(across) != ("ACROSS" in off)
    assert any(x["HALF"] for x in fwd_launches) != ("HALF" in off)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
@pytest.mark.parametrize("B,D,L,K,H", SHAPES[1:4], ids=IDS[1:4])
def test_forward_half_within_2x_torch(B, D, L, K, H, dtype):
    u, k, bias, pre, post, hist = _inputs(B, D, L, K, H, dtype)
    y = monarch_fftconv(u, k, bias, pre, post, hist)
    args = [x.cpu() if x is not None else None for x in (u, k, bias, pre, post, hist)]
    ref = naive_conv_direct(*args)
    assert y.dtype == dtype
    assert_close(y.cpu(), ref, rtol=BF16_FLOOR, baseline=ref.to(dtype), name=str(dtype))


@pytest.mark.parametrize(
    "B,D,L,K,H", [SHAPES[1], SHAPES[2], SHAPES[3], SHAPES[4]], ids=[IDS[1], IDS[2], IDS[3], IDS[4]]
)
def test_backward_fp32(B, D, L, K, H):
    u, k, bias, pre, post, _ = _inputs(B, D, L, K, H, torch.float32, seed=1)
    dy = torch.randn(B, D, L, device=DEVICE)
    grads = []
    for fn, dev in ((monarch_fftconv, DEVICE), (naive_conv_direct, "cpu")):
        xs = [x.detach().to(dev).clone().requires_grad_() for x in (u, k, bias, pre, post)]
        out = fn(*xs)
        (out * dy.to(dev)).sum().backward()
        grads.append([x.grad.cpu() for x in xs])
    for g, r, name in zip(grads[0], grads[1], ["du", "dk", "dbias", "dpre", "dpost"]):
        assert_close(g.double(), r, rtol=1e-5, name=name)


@pytest.mark.parametrize("hold", ["0", "1"], ids=["reload", "hold"])
def test_forward_hold_and_reload(hold, monkeypatch):
    """Both ways the forward gets v and the output times back after the transforms (held in registers, or
    computed and loaded again), with history, gates and several segments per program."""
    monkeypatch.setenv("DNACONV_MONARCH_HOLD", hold)
    test_forward_fp32(*SHAPES[5], gated=True)
    test_forward_fp32(*SHAPES[3], gated=True)
    test_forward_half_within_2x_torch(*SHAPES[2], dtype=torch.bfloat16)


@pytest.mark.parametrize("hold", ["0", "1"], ids=["reload", "hold"])
def test_backward_hold_and_reload(hold, monkeypatch):
    """Both ways the backward gets v and the times back after its first transforms, with history, gates and
    several segments per program; and the rule that chooses between them."""
    from dnaconv.kernels.fftconv.monarch import _hold

    monkeypatch.setenv("DNACONV_MONARCH_HOLD", hold)
    test_backward_fp32(*SHAPES[5])
    test_backward_fp32(2, 3, 1500, 100, 37)
    monkeypatch.delenv("DNACONV_MONARCH_HOLD")
    assert _hold(2, 32, 32, 4, "backward") and _hold(1, 32, 64, 4, "backward", one_block=True)
    assert not _hold(1, 32, 64, 4, "backward")


@pytest.mark.parametrize("save", ["1", "0"], ids=["saved", "recomputed"])
@pytest.mark.parametrize("n", [1024, 2048], ids=["N1024", "N2048"])
def test_backward_half_frame(n, save, monkeypatch):
    """The backward of one-block sequences without history on half tiles (the default), with z saved or
    recomputed, at N = 1024 (32 x 32) and 2048 (32 x 64); several sequences per program, a filter shorter than
    the sequence, no gates, bf16; sequences of two blocks, history, and DNACONV_MONARCH_BWD_HALF=0 keep the
    usual frame."""
    monkeypatch.setenv("DNACONV_MONARCH_SAVEZ", save)
    monkeypatch.setenv("DNACONV_MONARCH_FFT", str(n))
    bwd = _spy(monkeypatch, "_fftconv_bwd_kernel")
    L = n // 2 - 12
    test_backward_fp32(3, 2, L, L, 0)
    test_backward_fp32(2, 3, L, 300, 0)
    _check_bf16_grads(3, 2, L - 50, L - 50, 7)
    u, k, bias, pre, post, _ = _inputs(2, 3, L - 200, L - 200, 0, torch.float32)
    xs = [x.detach().clone().requires_grad_() for x in (u, k, bias)]
    ur, kr, br = (x.detach().cpu().double().requires_grad_() for x in (u, k, bias))
    (monarch_fftconv(*xs) ** 2).sum().backward()  # no gates
    (naive_conv_direct(ur, kr, br) ** 2).sum().backward()
    for x, r, name in zip(xs, (ur, kr, br), ("du", "dk", "dbias")):
        assert_close(x.grad.cpu().double(), r.grad, rtol=1e-5, name=name)
    assert len(bwd) == 4 and all(x["HALF"] and x["N1"] * x["N2"] == n for x in bwd)
    assert bwd[0]["G"] == 2  # two sequences per program of 4 warps (4096 points at N = 2048)
    if n == 1024:  # four sequences per program (DNACONV_MONARCH_ROWS, a sweep knob)
        monkeypatch.setenv("DNACONV_MONARCH_ROWS", "128")
        test_backward_fp32(5, 2, L, L, 0)
        assert bwd[-1]["HALF"] and bwd[-1]["G"] == 4
        monkeypatch.delenv("DNACONV_MONARCH_ROWS")
    test_backward_fp32(2, 3, 700, 100, 37)  # history: the usual frame
    assert not bwd[-1]["HALF"]
    monkeypatch.setenv("DNACONV_MONARCH_BWD_HALF", "0")
    test_backward_fp32(3, 2, L, L, 0)
    assert not bwd[-1]["HALF"]


def test_route_from_dispatch(monkeypatch):
    """``fftconv``'s dispatch decision (``_route``: the forward's plan, the backward's kind and plan) handed to the
    kernels gives what their own planning gives, which then does not run: on chip with gradients (the fused
    backward), and a forward through HBM (one block per sequence, paired across the batch)."""
    from dnaconv.kernels import fftconv as dispatch
    from dnaconv.kernels.fftconv import monarch

    for (B, D, L, K), grad in (((2, 3, 1025, 129), True), ((2, 2, 5000, 3000), False)):
        route = dispatch._route(L, K, 0, torch.bfloat16, grad, 1.0, B * D * L, B)
        assert route is not None and (route[1][0] if grad else route[1]) == ("fused" if grad else None)
        assert bool(route[0].cols) != grad  # the second case runs through HBM
        xs = _inputs(B, D, L, K, 0, torch.bfloat16, seed=2)[:5]
        dy = torch.randn(B, D, L, device=DEVICE, dtype=torch.bfloat16)
        runs = []
        for given in (None, route):
            leaves = [x.detach().clone().requires_grad_(grad) for x in xs]
            with monkeypatch.context() as m:
                if given is not None:  # planned once, by the dispatch
                    for name in ("fft_plan", "backward_route", "monarch_plan", "_prepare"):
                        m.setattr(monarch, name, lambda *a, **kw: pytest.fail("planned again"))
                y = monarch_fftconv(*leaves, route=given)
                if grad:
                    (y * dy).sum().backward()
            runs.append([y, *(x.grad for x in leaves if grad)])
        for a, b in zip(*runs):
            assert torch.equal(a, b)
    # and fftconv hands its decision on (here on the CPU, as if the input were on CUDA)
    seen = []
    route_as_on_cuda(monkeypatch)
    monkeypatch.setattr(dispatch, "monarch_fftconv", lambda *a: seen.append(a[-1]) or monarch_fftconv(*a))
    with torch.no_grad():
        y = dispatch.fftconv(*xs)
    assert seen == [route] and torch.equal(y, runs[0][0])


def test_backward_two_segments_at_2048(monkeypatch):
    """The fused backward's launch at N = 2048 (the plan's pick for these filters): two segments per program of
    4 warps over sequences of three blocks, so that a sequence's last program holds one (one sequence) or a
    block of the next (two, packed across sequences: ACROSS); with and without history, gated fp32 gradients
    against the direct sum and bf16's within 1e-2."""
    bwd = _spy(monkeypatch, "_fftconv_bwd_kernel")
    test_backward_fp32(1, 2, 5000, 300, 0)
    test_backward_fp32(2, 2, 4000, 300, 150)
    _check_bf16_grads(1, 3, 5000, 300, 3)
    assert [(x["N1"] * x["N2"], x["G"], x["num_warps"], x["ACROSS"], x["HALF"]) for x in bwd] == [
        (2048, 2, 4, False, False),
        (2048, 2, 4, True, False),
        (2048, 2, 4, False, False),
    ]


def test_backward_half_frame_at_4096(monkeypatch):
    """One-block sequences of 1025-2048 positions without history take the fused backward at N = 4096 on half
    tiles (64 x 64, ``plan.half_backward``), one segment per program of 4 warps: gated fp32 gradients against
    the direct sum, and bf16's. DNACONV_MONARCH_BWD_HALF=2048 (the default before) leaves them no on-chip
    backward, and history no half tiles."""
    from dnaconv.kernels.fftconv.plan import backward_route, monarch_plan

    bwd = _spy(monkeypatch, "_fftconv_bwd_kernel")
    test_backward_fp32(2, 2, 2000, 2000, 0)
    test_backward_fp32(1, 2, 1100, 3000, 0)  # a filter longer than the sequence: 1100 taps reach it
    _check_bf16_grads(2, 3, 1900, 1500, 5)
    assert len(bwd) == 3
    assert all(x["HALF"] and x["N1"] * x["N2"] == 4096 and x["PART"] == 0 for x in bwd)
    assert all(x["num_warps"] == 4 and x["G"] == 1 for x in bwd)
    assert backward_route(2000, 2000)[0] == "fused" and backward_route(2000, 2000, H=8)[0] != "fused"
    monkeypatch.setenv("DNACONV_MONARCH_BWD_HALF", "2048")
    assert monarch_plan(2000, 2000, kind="backward") is None


@pytest.mark.parametrize("save", ["1", "0"], ids=["saved", "recomputed"])
def test_backward_saved_z(save, fwd_launches, monkeypatch):
    """SAVEZ (the default): where d(post) is wanted the forward stores z = conv + bias * v and the backward
    loads it; DNACONV_MONARCH_SAVEZ=0 recomputes it. Both against the direct sum: several blocks, one block,
    history, and bf16; without a post-gate (or its gradient), or under no_grad, nothing is stored."""
    if save == "0":
        monkeypatch.setenv("DNACONV_MONARCH_SAVEZ", "0")
    bwd = _spy(monkeypatch, "_fftconv_bwd_kernel")
    test_backward_fp32(2, 3, 700, 100, 0)
    test_backward_fp32(3, 2, 200, 200, 0)
    test_backward_fp32(2, 3, 300, 64, 37)
    _check_bf16_grads(3, 2, 600, 120, 6)
    assert [x["STORE_Z"] for x in fwd_launches] == [save == "1"] * 4
    assert [x["HAS_Z"] for x in bwd] == [save == "1"] * 4
    u, k, bias, pre, post, _ = _inputs(2, 3, 500, 100, 0, torch.float32)
    xs = [x.detach().clone().requires_grad_(x is not post) for x in (u, k, bias, pre, post)]
    monarch_fftconv(*xs).sum().backward()  # post-gate without gradient
    monarch_fftconv(*xs[:4]).sum().backward()  # no post-gate
    with torch.no_grad():  # inputs that require gradients, but no backward can follow
        monarch_fftconv(*[x.detach().clone().requires_grad_() for x in (u, k, bias, pre, post)])
    monkeypatch.setenv("DNACONV_MONARCH_SPLIT", "1")
    test_backward_fp32(2, 3, 700, 100, 0)  # the split backward recomputes z
    assert not any(x["STORE_Z"] for x in fwd_launches[4:]) and not any(x["HAS_Z"] for x in bwd[4:])


def _check_bf16_grads(B, D, L, K, seed):
    """Every gradient of the gated convolution in bf16 against the direct sum in fp64 (rtol 1e-2)."""
    u, k, bias, pre, post, _ = _inputs(B, D, L, K, 0, torch.bfloat16, seed=seed)
    dy = torch.randn(B, D, L, device=DEVICE, dtype=torch.bfloat16)
    xs = [x.detach().clone().requires_grad_() for x in (u, k, bias, pre, post)]
    (monarch_fftconv(*xs) * dy).float().sum().backward()
    rs = [x.detach().cpu().double().requires_grad_() for x in (u, k, bias, pre, post)]
    (naive_conv_direct(*rs) * dy.cpu().double()).sum().backward()
    for x, r, name in zip(xs, rs, ["du", "dk", "dbias", "dpre", "dpost"]):
        assert_close(x.grad.cpu().double(), r.grad, rtol=1e-2, name=name)


@pytest.mark.parametrize("across", ["1", "0"], ids=["across", "one-sequence"])
def test_backward_across_sequences(across, monkeypatch):
    """The backward's programs over several sequences of a channel (ACROSS, as the forward's) for sequences
    of one block, a last program with fewer segments than G, history, and bf16; and with ACROSS off."""
    monkeypatch.setenv("DNACONV_MONARCH_ACROSS", across)
    launches = _spy(monkeypatch, "_fftconv_bwd_kernel")
    test_backward_fp32(3, 2, 200, 200, 0)  # B = 3: the last program of a channel holds one segment
    test_backward_fp32(5, 2, 300, 40, 0)  # two blocks per sequence
    test_backward_fp32(3, 3, 100, 64, 37)
    assert any(x["ACROSS"] and x["G"] > 1 for x in launches) == (across == "1")
    _check_bf16_grads(3, 2, 250, 250, 4)


@pytest.mark.parametrize("B,D,L,K,H", SHAPES, ids=IDS)
def test_backward_split(B, D, L, K, H, monkeypatch):
    """The opt-in split backward (DNACONV_MONARCH_SPLIT=1: causal and anti-causal frames in two launches)."""
    monkeypatch.setenv("DNACONV_MONARCH_SPLIT", "1")
    launches = _spy(monkeypatch, "_fftconv_bwd_kernel")
    test_backward_fp32(B, D, L, K, H)
    assert [x["PART"] for x in launches] == [1, 2]


def test_backward_split_runs_at_4096(monkeypatch):
    """Where the fused backward has no size (N = 4096), the split backward runs for long sequences (from 2^15
    with K <= 1537, from 2^20 beyond) and the reference below them, or with DNACONV_MONARCH_SPLIT=0; below
    N = 4096, the fused backward. Forced at L = 5000 (two blocks), it is right, bf16 gradients too."""
    monkeypatch.delenv("DNACONV_MONARCH_FFT", raising=False)
    monkeypatch.delenv("DNACONV_MONARCH_SPLIT", raising=False)
    assert monarch_plan((1 << 15) - 1, 1500, kind="backward") is None
    assert monarch_plan(1 << 15, 1500, kind="backward")[:2] == (64, 64)
    assert monarch_plan(1 << 19, 2048, kind="backward") is None
    assert monarch_plan(1 << 20, 2048, kind="backward")[:2] == (64, 64)
    n1, n2 = monarch_plan(1 << 20, 1000, kind="backward")[:2]
    assert n1 * n2 <= 2048 and not split_backward(n1 * n2, 1 << 20, 1000)  # the fused backward
    monkeypatch.setenv("DNACONV_MONARCH_SPLIT", "0")
    assert monarch_plan(1 << 20, 1500, kind="backward") is None
    monkeypatch.setenv("DNACONV_MONARCH_SPLIT", "1")
    assert monarch_plan(5000, 1500, kind="backward")[:2] == (64, 64)
    launches = _spy(monkeypatch, "_fftconv_bwd_kernel")
    test_backward_fp32(1, 2, 5000, 1500, 0)  # C = 2597: two blocks
    assert [x["PART"] for x in launches] == [1, 2]
    _check_bf16_grads(1, 2, 3000, 1500, 5)


def test_backward_above_fused_size_uses_reference(monkeypatch):
    from dnaconv.kernels.fftconv import plan as fp

    monkeypatch.setitem(fp.POINT_PS, "backward", {256: 1.0})
    test_backward_fp32(2, 3, 1025, 129, 0)


def test_backward_at_its_own_fft_size(monkeypatch):
    """The forward and the fused backward each take the FFT size their cost table favours."""
    from dnaconv.kernels.fftconv import plan as fp

    monkeypatch.setitem(fp.POINT_PS, "forward", {512: 9.0, 1024: 1.0})
    monkeypatch.setitem(fp.POINT_PS, "backward", {512: 1.0, 1024: 9.0})
    assert monarch_plan(1500, 100)[:2] == (32, 32) and monarch_plan(1500, 100, kind="backward")[:2] == (
        16,
        32,
    )
    test_backward_fp32(2, 3, 1500, 100, 0)


def test_backward_plain_and_half():
    u, k, _, _, _, _ = _inputs(2, 3, 300, 40, 0, torch.bfloat16, seed=2)
    dy = torch.randn(2, 3, 300, device=DEVICE, dtype=torch.bfloat16)
    uu, kk = u.detach().clone().requires_grad_(), k.detach().clone().requires_grad_()
    (monarch_fftconv(uu, kk) * dy).float().sum().backward()
    ur, kr = u.detach().cpu().double().requires_grad_(), k.detach().cpu().double().requires_grad_()
    (naive_conv_direct(ur, kr) * dy.cpu().double()).sum().backward()
    assert uu.grad.dtype == torch.bfloat16 and kk.grad.dtype == torch.float32
    assert_close(uu.grad.cpu(), ur.grad, rtol=1e-2, name="du bf16")
    assert_close(kk.grad.cpu(), kr.grad, rtol=1e-2, name="dk bf16")


def test_dispatch_rule(monkeypatch):
    from dnaconv.kernels.fftconv import triton_pays

    assert triton_pays(2_300_000, 128, 0, torch.bfloat16, needs_grad=True)
    assert triton_pays(2_300_000, 2048, 0, torch.bfloat16, needs_grad=False)
    assert triton_pays(2_300_000, 2048, 0, torch.bfloat16, needs_grad=True)  # N = 4096: the split backward
    assert triton_pays(2048, 2048, 0, torch.bfloat16, needs_grad=True)  # one block of N = 4096: half tiles
    assert not triton_pays(3000, 1500, 0, torch.bfloat16, needs_grad=True)  # two blocks of 4096: reference
    assert not triton_pays(1 << 19, 2048, 0, torch.bfloat16, needs_grad=True)  # reference backward
    # fp32, forward only: several blocks, at least 3/4 new outputs each, long sequences
    assert triton_pays(1 << 16, 512, 0, torch.float32, needs_grad=False)
    assert not triton_pays(8192, 512, 0, torch.float32, needs_grad=False)
    assert triton_pays(1 << 20, 1024, 0, torch.float32, needs_grad=False)  # N = 4096
    assert not triton_pays(1 << 19, 1024, 0, torch.float32, needs_grad=False)
    assert not triton_pays(2_300_000, 2048, 0, torch.float32, needs_grad=False)  # half of each block overlap
    assert not triton_pays(1024, 1024, 0, torch.float32, needs_grad=False)  # one block
    assert not triton_pays(2_300_000, 128, 0, torch.float32, needs_grad=True)
    assert not triton_pays(2_300_000, 8192, 0, torch.float32, needs_grad=False)  # through HBM
    assert triton_pays(2_300_000, 8192, 0, torch.float16, needs_grad=False)  # through HBM
    assert not triton_pays(2_300_000, 8192, 0, torch.float16, needs_grad=True)  # its backward: the reference
    assert not triton_pays(2_300_000, 128, 0, torch.bfloat16, needs_grad=True, fraction=0.5)
    assert not triton_pays(10_000_000, 10_000_000, 0, torch.bfloat16, needs_grad=False)  # N > 2^24
    # one HBM block of a full-length filter: paired across a batch, or one sequence on half its spectrum (N =
    # 32,768 to 2^24); with gradients for one sequence only where its HBM backward on half the spectrum runs (N =
    # 2^16 to 2^24: HBM_BWD_HERM_N), elsewhere the reference's
    assert triton_pays(1 << 20, 1 << 20, 0, torch.bfloat16, needs_grad=False)
    assert triton_pays(1 << 20, 1 << 20, 0, torch.bfloat16, needs_grad=False, batch=2)
    assert triton_pays(1 << 22, 1 << 22, 0, torch.bfloat16, needs_grad=False)
    assert triton_pays(1 << 22, 1 << 22, 0, torch.bfloat16, needs_grad=False, batch=2)
    assert triton_pays(1 << 16, 1 << 16, 0, torch.bfloat16, needs_grad=True, size=1 << 26)
    assert triton_pays(1 << 18, 1 << 18, 0, torch.bfloat16, needs_grad=True, size=1 << 26)
    assert triton_pays(1 << 22, 1 << 22, 0, torch.bfloat16, needs_grad=True, size=1 << 26)
    assert triton_pays(5_000_000, 5_000_000, 0, torch.bfloat16, needs_grad=True, size=1 << 26)  # N = 2^24
    assert not triton_pays(8192, 8192, 0, torch.bfloat16, needs_grad=False)  # N = 16,384: it did not pay
    assert triton_pays(16384, 16384, 0, torch.bfloat16, needs_grad=False)
    monkeypatch.setenv("DNACONV_HBM_HERM", "0")  # the full frame lost to cuFFT there
    assert not triton_pays(1 << 20, 1 << 20, 0, torch.bfloat16, needs_grad=False)
    assert triton_pays(1 << 20, 1 << 20, 0, torch.bfloat16, needs_grad=False, batch=2)
    assert triton_pays(8192, 8192, 0, torch.bfloat16, needs_grad=True, size=1 << 24, batch=16)  # training
    assert not triton_pays(8192, 8192, 0, torch.bfloat16, needs_grad=True, size=1 << 23, batch=8)
    assert triton_pays(1 << 20, 1 << 20, 0, torch.bfloat16, needs_grad=False, fraction=0.5)  # sparse op
    assert triton_pays(4096, 4096, 0, torch.bfloat16, needs_grad=False)  # N = 8192 through HBM: 1.14x


@pytest.mark.parametrize("B,D,L,K,H", SHAPES[1:4] + SHAPES[5:], ids=IDS[1:4] + IDS[5:])
def test_forward_paired(B, D, L, K, H, monkeypatch):
    """DNACONV_MONARCH_PAIR=1: the forward that packs two segments of a channel into one complex transform
    (measured slower on the H200, so not the default)."""
    monkeypatch.setenv("DNACONV_MONARCH_PAIR", "1")
    test_forward_fp32(B, D, L, K, H, gated=True)


def test_paired_forward_odd_segment_counts(monkeypatch):
    """Pairs run over all B x blocks segments of a channel: odd counts, and pairs that straddle two batch rows."""
    monkeypatch.setenv("DNACONV_MONARCH_PAIR", "1")
    for B, L, K in ((3, 100, 100), (3, 700, 129), (1, 1300, 200)):
        u, k, bias, pre, post, _ = _inputs(B, 3, L, K, 0, torch.float32, seed=B + L)
        y = monarch_fftconv(u, k, bias, pre, post)
        assert_close(y.cpu(), naive_conv_direct(*[x.cpu() for x in (u, k, bias, pre, post)]), rtol=1e-5)


@pytest.mark.parametrize(
    "B,D,L,K,bwd", [(2, 3, 3000, 300, "fused"), (2, 3, 4000, 4000, "hbm")], ids=["on-chip", "hbm"]
)
def test_strided_inputs(B, D, L, K, bwd, monkeypatch):
    """``fftconv`` on strided views (u and the pre-gate transposed from [B, L, D], the post-gate and the bias
    every other element, the filter transposed from [K, D]) gives the bits of the same values made contiguous,
    forward and every gradient, on chip and through HBM (each with its own backward). A strided bias gave wrong
    outputs on chip (relative error 0.3) before the autograd Function made every input contiguous."""
    from dnaconv.kernels.fftconv import _route, fftconv

    route_as_on_cuda(monkeypatch)
    if bwd == "hbm":
        monkeypatch.setenv("DNACONV_HBM_BWD", "1")  # the HBM backward at this small size too
    route = _route(L, K, 0, torch.bfloat16, True, 1.0, B * D * L, B)
    assert bool(route[0].cols) == (bwd == "hbm") and route[1][0] == bwd
    u, k, bias, pre, post, _ = conv_inputs(B, D, L, K, 0, torch.bfloat16)
    strided = [
        u.transpose(1, 2).contiguous().transpose(1, 2),
        k.t().contiguous().t(),
        torch.stack([bias, bias], 1)[:, 0],
        pre.transpose(1, 2).contiguous().transpose(1, 2),
        torch.stack([post, post], -1)[..., 0],
    ]
    assert not any(x.is_contiguous() for x in strided)
    dy = torch.randn(B, D, L, device=DEVICE, dtype=torch.bfloat16)
    outs = [output_and_grads(fftconv, xs, dy) for xs in (strided, [u, k, bias, pre, post])]
    for name, a, b in zip(["y", "du", "dk", "dbias", "dpre", "dpost"], *outs):
        assert torch.equal(a, b), name
    with torch.no_grad():  # and the forward alone (its own paths: no z, no kept spectra)
        assert torch.equal(fftconv(*strided), fftconv(u, k, bias, pre, post))


def test_given_spectrum_must_fit(monkeypatch):
    """``fftconv`` given a cached spectrum (``k_f``) of other channels or of another plan raises a ValueError
    where the kernels would have read it out of bounds; one of these inputs gives the bits of the forward that
    computes its own."""
    import dnaconv.kernels.fftconv as fc

    route_as_on_cuda(monkeypatch)
    u, k, bias, *_ = conv_inputs(2, 3, 3000, 300, 0, torch.bfloat16)
    assert torch.equal(fc.fftconv(u, k, bias, k_f=fc.fftconv_spectrum(k, u)), fc.fftconv(u, k, bias))
    other_d = fc.fftconv_spectrum(
        torch.randn(4, 300, device=DEVICE), torch.randn(2, 4, 3000, device=DEVICE).bfloat16()
    )
    other_plan = fc.fftconv_spectrum(torch.randn(3, 1500, device=DEVICE), u)  # K = 1500: N = 4096
    for kf in (other_d, other_plan):
        with pytest.raises(ValueError, match="k_f is a spectrum"):
            fc.fftconv(u, k, bias, k_f=kf)
