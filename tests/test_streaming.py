"""The core invariant: the streamed (chunked) forward pass equals the full forward pass."""

from __future__ import annotations

import pytest
import torch

from dnaconv.config import HyenaConfig
from dnaconv.kernels.testing import assert_close
from dnaconv.streaming import StreamingRunner, stream_hidden
from tests.helpers import strong_model

K = 64


@pytest.fixture(scope="module")
def model():
    cfg = HyenaConfig(
        d_model=20, n_layer=3, filter_len=K, filter_order=16, filter_emb_dim=5, short_conv_width=3
    )
    return strong_model(cfg)


# (length, chunk): chunks smaller than K, equal, larger, not dividing L, a sequence shorter than K.
CASES = [
    (301, 1),
    (301, 7),
    (301, K - 1),
    (301, K),
    (301, K + 1),
    (301, 100),
    (301, 301),
    (1000, 256),
    (40, 16),
    (40, 100),
]


@pytest.mark.parametrize("L,chunk", CASES, ids=[f"L{a}-C{b}" for a, b in CASES])
@pytest.mark.parametrize("layer", [-1, 1], ids=["last", "layer1"])
def test_streamed_equals_full_fp32(model, L, chunk, layer):
    torch.manual_seed(L + chunk)
    tokens = torch.randint(0, 5, (2, L))
    with torch.no_grad():
        full = model.hidden(tokens, layer)
    streamed = torch.cat(list(stream_hidden(model, tokens, chunk, layer)), dim=1)
    assert streamed.shape == full.shape
    assert_close(streamed, full, rtol=1e-5, atol=1e-4, name=f"L={L} chunk={chunk}")


def test_state_is_bounded(model):
    runner = StreamingRunner(model)
    for c in torch.randint(0, 5, (1, 5000)).split(500, dim=1):
        runner.step(c)
    for s in runner.state:
        assert s.long.shape[-1] == K - 1 and s.short.shape[-1] == 2
        assert s.long.untyped_storage().nbytes() == s.long.numel() * 4  # a copy, not a view of the chunk


def test_reset_between_records(model):
    """Record B streamed after record A (with a reset) equals record B streamed alone."""
    torch.manual_seed(5)
    a, b = torch.randint(0, 5, (1, 500)), torch.randint(0, 5, (1, 300))
    runner = StreamingRunner(model)
    for c in a.split(128, dim=1):
        runner.step(c)
    runner.reset()
    after_a = torch.cat([runner.step(c) for c in b.split(128, dim=1)], dim=1)
    with torch.no_grad():
        alone = model.hidden(b)
    assert_close(after_a, alone, rtol=1e-5)
    # Without the reset the state of A leaks into B: the invariant test would catch a missing reset.
    runner = StreamingRunner(model)
    runner.step(a)
    leaked = runner.step(b)
    assert (leaked - alone).abs().max() > 1e-2


def test_logits_stream_too(model):
    torch.manual_seed(6)
    tokens = torch.randint(0, 5, (1, 200))
    with torch.no_grad():
        full = model(tokens)
        state = model.init_state()
        parts = [model(c, state) for c in tokens.split(50, dim=1)]
    assert_close(torch.cat(parts, 1), full, rtol=1e-5)


@pytest.mark.parametrize("dtype", [torch.bfloat16], ids=["bf16"])
def test_streamed_low_precision_close(model, dtype):
    tokens = torch.randint(0, 5, (1, 400))
    full = torch.cat(list(stream_hidden(model, tokens, 400, dtype=dtype)), 1).float()
    streamed = torch.cat(list(stream_hidden(model, tokens, 64, dtype=dtype)), 1).float()
    ref = torch.cat(list(stream_hidden(model, tokens, 400)), 1)
    assert_close(streamed, ref, rtol=2e-2)
    assert_close(full, ref, rtol=2e-2)


@pytest.mark.cuda
def test_streamed_equals_full_cuda(model):
    m = model.cuda()
    tokens = torch.randint(0, 5, (2, 3000))
    try:
        with torch.no_grad():
            full = m.hidden(tokens.cuda())
        streamed = torch.cat(list(stream_hidden(m, tokens, 700)), 1)
        assert_close(streamed.cpu(), full.cpu(), rtol=1e-5)
        bf16 = torch.cat(list(stream_hidden(m, tokens, 700, dtype=torch.bfloat16)), 1).float()
        assert_close(bf16.cpu(), full.cpu(), rtol=3e-2)
    finally:
        model.cpu()


def test_streamed_equals_full_through_triton_kernel(model, monkeypatch):
    """The same invariant with the Monarch kernel doing the long convolutions (interpreted on CPU)."""
    import dnaconv.kernels.fftconv as fc
    from dnaconv.kernels.fftconv import monarch
    from tests.kernels.helpers import spy_launches

    if not fc.HAS_TRITON:
        pytest.skip("triton not installed")
    calls = []

    def use_triton(u, K, H, needs_grad, fraction):  # the dispatch's decision (``_route``), as on CUDA
        plan = fc.fft_plan(u.shape[-1], K, H, fraction, u.dtype)
        calls.append(plan is not None)
        return None if plan is None else (plan, None)

    monkeypatch.setattr(fc, "_triton_route", use_triton)
    kernel = spy_launches(monkeypatch, monarch, "_fftconv_fwd_kernel")
    m = model.to("cuda" if torch.cuda.is_available() else "cpu")
    tokens = torch.randint(0, 5, (1, 300))
    with torch.no_grad():
        full = m.hidden(tokens.to(next(m.parameters()).device))
    streamed = torch.cat(list(stream_hidden(m, tokens, 70)), 1)
    model.cpu()
    assert all(calls) and len(calls) > 6
    assert len(kernel) >= len(calls) // 2  # the convolutions ran the kernel (the others: the spectra)
    monkeypatch.undo()
    with torch.no_grad():
        ref = model.hidden(tokens)
    assert_close(full.cpu(), ref, rtol=1e-5, name="triton full vs reference")
    assert_close(streamed.cpu(), ref, rtol=1e-5, name="triton streamed vs reference")
