"""fftconv against its direct-summation reference: full and partial filters, gates, history, dtypes."""

from __future__ import annotations

import pytest
import torch

from dnaconv.kernels.fftconv import fft_size, fftconv, filter_spectrum, naive_conv_direct, next_fast_len
from dnaconv.kernels.testing import BF16_FLOOR, assert_close
from tests.kernels.helpers import DIRECT_MAX_TAPS, exact_conv, output_and_grads

# (B, D, L, K, H): odd lengths, channel counts that are not powers of two, K < L (partial), K > L, history.
SHAPES = [
    (1, 4, 1, 1, 0),
    (2, 8, 63, 63, 0),
    (2, 60, 257, 17, 0),
    (1, 111, 1025, 300, 0),
    (3, 5, 100, 1000, 0),
    (2, 16, 200, 64, 63),
    (1, 7, 33, 64, 63),
    (2, 9, 129, 64, 10),
]
IDS = [f"B{b}-D{d}-L{L}-K{k}-H{h}" for b, d, L, k, h in SHAPES]


@pytest.mark.parametrize("B,D,L,K,H", SHAPES, ids=IDS)
@pytest.mark.parametrize("gated", [False, True], ids=["plain", "gated"])
def test_fftconv_matches_direct_fp32(B, D, L, K, H, gated):
    torch.manual_seed(0)
    u, k, bias = torch.randn(B, D, L), torch.randn(D, K) / K**0.5, torch.randn(D)
    pre = torch.randn(B, D, L) if gated else None
    post = torch.randn(B, D, L) if gated else None
    hist = torch.randn(B, D, H) if H else None
    y = fftconv(u, k, bias, pre, post, hist)
    ref = naive_conv_direct(u, k, bias, pre, post, hist)
    assert y.dtype == torch.float32
    assert_close(y, ref, rtol=1e-5, name="fftconv fp32")


def test_float64_reference_matches_direct_sum():
    """The kernel tests' float64 reference past DIRECT_MAX_TAPS taps (``exact_conv``: ``naive_fftconv`` on float64
    inputs) against the direct sum, outputs and every gradient, with history: the same op to ~1e-15, far below
    any kernel's error."""
    B, D, L, K, H = 2, 3, 3001, 2 * DIRECT_MAX_TAPS + 5, 300
    g = torch.Generator().manual_seed(3)
    xs = [
        torch.randn(*s, generator=g, dtype=torch.float64)
        for s in ((B, D, L), (D, K), (D,), (B, D, L), (B, D, L))
    ]
    hist = torch.randn(B, D, H, generator=g, dtype=torch.float64)
    dy = torch.randn(B, D, L, generator=g, dtype=torch.float64)
    outs = [output_and_grads(fn, (*xs, hist), dy) for fn in (exact_conv, naive_conv_direct)]
    for name, a, b in zip(["y", "du", "dk", "dbias", "dpre", "dpost", "dhistory"], *outs):
        assert a.dtype == torch.float64, name
        assert (a - b).norm() <= 1e-12 * b.norm(), name


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
@pytest.mark.parametrize("B,D,L,K,H", SHAPES[1:5], ids=IDS[1:5])
def test_fftconv_low_precision_within_2x_torch(B, D, L, K, H, dtype):
    torch.manual_seed(1)
    u, k = torch.randn(B, D, L).to(dtype), (torch.randn(D, K) / K**0.5)
    pre, post = torch.randn(B, D, L).to(dtype), torch.randn(B, D, L).to(dtype)
    y = fftconv(u, k, None, pre, post)
    ref = naive_conv_direct(u, k, None, pre, post)
    # PyTorch doing the same sum with its inputs and output in the low-precision dtype.
    base = naive_conv_direct(u, k, None, pre, post).to(dtype)
    assert y.dtype == dtype
    assert_close(y, ref, rtol=BF16_FLOOR, baseline=base, name=f"fftconv {dtype}")


def test_history_makes_chunks_exact():
    """Two halves with the first half's last K-1 gated inputs as history == one pass."""
    torch.manual_seed(2)
    B, D, L, K = 2, 12, 301, 50
    u, k, bias, pre, post = (
        torch.randn(B, D, L),
        torch.randn(D, K),
        torch.randn(D),
        torch.randn(B, D, L),
        None,
    )
    full = fftconv(u, k, bias, pre)
    a = 137
    y1 = fftconv(u[..., :a], k, bias, pre[..., :a])
    hist = (u[..., :a] * pre[..., :a])[..., -(K - 1) :]
    y2 = fftconv(u[..., a:], k, bias, pre[..., a:], post, hist)
    assert_close(torch.cat([y1, y2], -1), full, rtol=1e-6)


def test_cached_spectrum_gives_same_result():
    torch.manual_seed(3)
    u, k = torch.randn(1, 6, 500), torch.randn(6, 80)
    assert torch.equal(fftconv(u, k, k_f=filter_spectrum(k, 500)), fftconv(u, k))
    with pytest.raises(ValueError, match="bins"):
        fftconv(u, k, k_f=filter_spectrum(k, 700))


@pytest.mark.parametrize(
    "L,K,H", [(1000, 100, 0), (1000, 100, 99), (10, 100, 0), (10, 100, 99), (65536, 16384, 16383)]
)
def test_fft_size_is_wrap_free_and_small(L, K, H):
    n = fft_size(L, K, H)
    k_eff = min(K, H + L)
    assert n >= max(H + L, L + k_eff - 1)
    assert n <= 1.25 * max(H + L, L + k_eff - 1) + 8


@pytest.mark.parametrize("n", [1, 2, 3, 7, 97, 1000, 1023, 81919, 1 << 20])
def test_next_fast_len(n):
    m = next_fast_len(n)
    assert m >= n
    r = m
    for p in (2, 3, 5):
        while r % p == 0:
            r //= p
    assert r == 1
    assert all(not _smooth(j) for j in range(n, m))


def _smooth(j):
    for p in (2, 3, 5):
        while j % p == 0:
            j //= p
    return j == 1


def test_gradients_match_direct():
    torch.manual_seed(4)
    B, D, L, K = 2, 5, 77, 30
    tensors = [
        torch.randn(B, D, L),
        torch.randn(D, K),
        torch.randn(D),
        torch.randn(B, D, L),
        torch.randn(B, D, L),
    ]
    dy = torch.randn(B, D, L)
    grads = []
    for fn in (fftconv, naive_conv_direct):
        xs = [t.clone().double().requires_grad_() for t in tensors]
        (fn(*xs) * dy.double()).sum().backward()
        grads.append([x.grad for x in xs])
    for g, r, name in zip(grads[0], grads[1], ["du", "dk", "dbias", "dpre", "dpost"]):
        assert_close(g, r, rtol=1e-9, name=name)


@pytest.mark.cuda
@pytest.mark.parametrize("L,K", [(1 << 16, 1 << 12), (100_003, 1 << 14)])
def test_fftconv_cuda_matches_cpu(L, K):
    torch.manual_seed(5)
    u, k, pre, post = (
        torch.randn(1, 16, L),
        torch.randn(16, K) / K**0.5,
        torch.randn(1, 16, L),
        torch.randn(1, 16, L),
    )
    ref = fftconv(u, k, None, pre, post)
    y = fftconv(u.cuda(), k.cuda(), None, pre.cuda(), post.cuda())
    assert_close(y.cpu(), ref, rtol=1e-5)


@pytest.mark.parametrize(
    "arg,bad,msg",
    [
        ("u", (3, 3000), "u must be"),
        ("k", (2, 300), "k must be"),
        ("bias", (5,), "bias must be"),
        ("pre_gate", (2, 3, 2995), "pre_gate must have"),
        ("post_gate", (1, 3, 3000), "post_gate must have"),
        ("history", (2, 4, 10), "history must be"),
    ],
)
def test_fftconv_rejects_mismatched_shapes(arg, bad, msg):
    """Each argument whose shape does not fit u's raises a ValueError that names it (the Triton kernels index
    every tensor by u's shape: a smaller one was read past its end, and a broadcast gate gave NaNs), on every
    path alike."""
    args = dict(u=torch.randn(2, 3, 3000), k=torch.randn(3, 300), bias=torch.randn(3), pre_gate=None,
                post_gate=None, history=None)  # fmt: skip
    args[arg] = torch.randn(*bad)
    with pytest.raises(ValueError, match=msg):
        fftconv(**args)


def test_fftconv_rejects_another_device():
    """An argument on another device than u raises a ValueError that names it (here the meta device)."""
    with pytest.raises(ValueError, match="bias is on meta"):
        fftconv(torch.randn(2, 3, 50), torch.randn(3, 7), torch.randn(3, device="meta"))


def test_fftconv_empty_batch_or_channels():
    """No sequences or no channels: an empty output of u's shape (torch.fft rejects an empty batch)."""
    for shape in ((0, 3, 50), (2, 0, 50)):
        y = fftconv(torch.randn(*shape), torch.randn(shape[1], 7), torch.randn(shape[1]))
        assert y.shape == shape


@pytest.mark.cuda
@pytest.mark.parametrize("L,K", [(8192, 1024), (65536, 16384)], ids=["on-chip", "hbm"])
def test_fftconv_runs_on_the_inputs_gpu(L, K, monkeypatch):
    """Inputs on cuda:1 while cuda:0 is current (``dnaconv embed --device cuda:1``): the Triton kernels run on
    the inputs' GPU (Triton launches on the current one) and give the bits of the same inputs on cuda:0,
    forward with a cached spectrum, and fwd+bwd, on chip (the fused backward) and through HBM (the HBM one)."""
    from dnaconv.kernels.fftconv import fftconv_spectrum, uses_triton

    if torch.cuda.device_count() < 2:
        pytest.skip("needs two CUDA GPUs")
    if K > 2048:
        monkeypatch.setenv("DNACONV_HBM_BWD", "1")  # the HBM backward at this size too (else torch.fft's)
    torch.cuda.set_device(0)
    g = torch.Generator().manual_seed(6)
    cpu = [
        torch.randn(2, 8, L, generator=g),
        torch.randn(8, K, generator=g) / K**0.5,
        torch.randn(8, generator=g),
    ]
    cpu += [torch.randn(2, 8, L, generator=g) for _ in range(3)]  # pre, post, dy
    outs = []
    for dev in ("cuda:0", "cuda:1"):
        u, k, bias, pre, post, dy = (
            x.to(dev, torch.bfloat16 if x.dim() == 3 else torch.float32) for x in cpu
        )
        assert uses_triton(u, K, needs_grad=True)
        with torch.no_grad():
            cached = fftconv(u, k, bias, pre, post, k_f=fftconv_spectrum(k, u, bias=bias))
        y_grads = output_and_grads(fftconv, (u, k, bias, pre, post), dy)
        torch.cuda.synchronize(dev)
        outs.append([t.cpu() for t in (cached, *y_grads)])
    assert torch.cuda.current_device() == 0
    for name, a, b in zip(["cached", "y", "du", "dk", "dbias", "dpre", "dpost"], *outs):
        assert torch.equal(a, b), name
