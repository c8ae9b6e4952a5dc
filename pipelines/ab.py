"""Helpers of the device scripts' A/B timings (``h200_kernels.sh``): gated-convolution inputs on the GPU, one
environment knob's values timed interleaved in one process, and fwd+bwd timed that way against torch.fft."""

from __future__ import annotations

import os

import torch


def bench(fn, grad_to_none=None) -> float:
    """Median ms of ``triton.testing.do_bench`` (``grad_to_none``: leaves whose .grad it resets before each
    call, so that a backward sets them rather than adding to the last call's)."""
    import triton

    return triton.testing.do_bench(fn, grad_to_none=grad_to_none, return_mode="median")


def gated_inputs(B: int, D: int, L: int, K: int, dtype=torch.bfloat16, grad: bool = True, seed: int = 0):
    """(u, k, bias, pre, post, dy) on CUDA: u, the gates and dy in ``dtype``, k (scaled so that outputs are
    O(1)) and bias in fp32; all but dy requiring gradients when ``grad``."""
    torch.manual_seed(seed)
    u, pre, post = (torch.randn(B, D, L, device="cuda", dtype=dtype, requires_grad=grad) for _ in range(3))
    k = (torch.randn(D, K, device="cuda") / K**0.5).requires_grad_(grad)
    bias = torch.randn(D, device="cuda", requires_grad=grad)
    return u, k, bias, pre, post, torch.randn_like(u)


def interleaved(env: str, values, fn, label: str = "", grad_to_none=None) -> list[str]:
    """``fn`` timed with the variable ``env`` at each of ``values`` in turn (pass them twice to interleave), as
    "label+value ms" strings; the variable is restored afterwards."""
    saved = os.environ.get(env)
    out = []
    try:
        for v in values:
            os.environ[env] = v
            out.append(f"{label}{v} {bench(fn, grad_to_none):.3f}")
    finally:
        if saved is None:
            os.environ.pop(env, None)
        else:
            os.environ[env] = saved
    return out


def fwd_bwd_knob(shape, env: str, values, label: str = "", accumulate: bool = False) -> str:
    """fwd+bwd on ``gated_inputs(*shape)``: torch.fft's autograd, then ``fftconv`` with ``env`` at each of
    ``values`` (``interleaved``), as one "torch ms label+value ms ..." line. The inputs' gradients are reset
    before each call (``bench``), or, with ``accumulate``, added to (as the timings of the earlier sessions were)."""
    from dnaconv.kernels.fftconv import fftconv, naive_fftconv

    u, k, bias, pre, post, dy = gated_inputs(*shape)
    leaves = None if accumulate else [u, k, bias, pre, post]
    line = [f"torch {bench(lambda: naive_fftconv(u, k, bias, pre, post).backward(dy), leaves):.3f}"]
    line += interleaved(env, values, lambda: fftconv(u, k, bias, pre, post).backward(dy), label, leaves)
    return " ".join(line)
