"""Inputs shared by the long-convolution kernel tests."""

from __future__ import annotations

from collections import defaultdict

import torch

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def conv_inputs(B, D, L, K, H, dtype, gated=True, seed=0):
    """(u, k, bias, pre, post, history) on DEVICE: u and the gates in ``dtype``, the filter, bias and history
    (streaming state, as the model keeps it) in fp32; k scaled so that outputs are O(1)."""
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(B, D, L, generator=g)
    k = torch.randn(D, K, generator=g) / K**0.5
    bias = torch.randn(D, generator=g)
    pre = torch.randn(B, D, L, generator=g) if gated else None
    post = torch.randn(B, D, L, generator=g) if gated else None
    hist = torch.randn(B, D, H, generator=g) if H else None
    cast = lambda x: None if x is None else x.to(DEVICE, dtype)  # noqa: E731
    return (
        cast(u),
        k.to(DEVICE),
        bias.to(DEVICE),
        cast(pre),
        cast(post),
        None if hist is None else hist.to(DEVICE),
    )


def spy_launches(monkeypatch, module, name: str, seen: list | None = None, record=None) -> list:
    """Wrap the Triton kernel ``module.name`` so that each launch appends to ``seen`` (a new list by default)
    ``record(kw)`` of its keyword arguments, or by default all of them (the constexpr flags: HALF, ACROSS, G,
    PART, PAIR, STORE_Z, ...; None for those not passed)."""
    seen = [] if seen is None else seen
    real = getattr(module, name)

    class Spy:
        def __getitem__(self, grid):
            def launch(*args, **kw):
                seen.append(record(kw) if record else defaultdict(lambda: None, kw))
                return real[grid](*args, **kw)

            return launch

    monkeypatch.setattr(module, name, Spy())
    return seen


def route_as_on_cuda(monkeypatch) -> None:
    """``fftconv``'s dispatch decides as it would for these inputs on CUDA (``_route``), so that the kernels run
    under the interpreter on the CPU where it takes them."""
    import dnaconv.kernels.fftconv as fc

    monkeypatch.setattr(
        fc,
        "_triton_route",
        lambda u, *a: fc._route(u.shape[-1], *a[:2], u.dtype, *a[2:], u.numel(), u.shape[0]),
    )
