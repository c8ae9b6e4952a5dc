"""Inputs shared by the long-convolution kernel tests."""

from __future__ import annotations

from collections import defaultdict

import torch

from dnaconv.kernels.fftconv import naive_conv_direct, naive_fftconv

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


# The most taps the direct sum takes as the exact reference (``exact_conv``): it loops over taps in Python, and
# its autograd graph holds a node per tap. With gradients, on the 2-core development machine with a test run
# alongside: L = K = 20,000 (2 x 2 channels) 34 s, L = 30,000 at K = 3000 8 s, against 0.4 s and less through
# float64 torch.fft (``test_float64_reference_matches_direct_sum`` checks the two agree).
DIRECT_MAX_TAPS = 1024


def exact_conv(u, k, bias=None, pre_gate=None, post_gate=None, history=None):
    """The float64 reference the kernel tests compare against (``naive_fftconv``'s op): the direct sum
    (``naive_conv_direct``) up to DIRECT_MAX_TAPS taps that reach the outputs, else torch.fft on the inputs in
    float64 (``naive_fftconv``: its error, about 1e-15, is far below any kernel's; ``test_fftconv.py`` checks it
    against the direct sum). Always float64; gradients flow to float64 leaves."""
    H = 0 if history is None else history.shape[-1]
    if min(k.shape[-1], H + u.shape[-1]) <= DIRECT_MAX_TAPS:
        return naive_conv_direct(u, k, bias, pre_gate, post_gate, history)
    f64 = lambda x: None if x is None else x.double()  # noqa: E731
    return naive_fftconv(f64(u), f64(k), f64(bias), f64(pre_gate), f64(post_gate), f64(history))


def output_and_grads(fn, inputs, dy) -> list[torch.Tensor]:
    """[y, the gradient of each input] of ``fn(*inputs)`` = y backpropagated from ``dy``, the inputs taken as
    fresh leaves (detached, requiring gradients)."""
    leaves = [x.detach().requires_grad_() for x in inputs]
    y = fn(*leaves)
    y.backward(dy)
    return [y.detach(), *(x.grad for x in leaves)]


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
