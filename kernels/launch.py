"""Launching a compiled Triton kernel again for less host time than ``kernel[grid](...)``.

Each ``kernel[grid](*args, **kwargs)`` call binds its arguments to the signature, specializes each of them
(dtype, 16-byte alignment, integers equal to 1 or divisible by 16), formats a cache key as a string with the
compile options and looks the compiled kernel up: about 40 us of host time on the H200's host for the HBM
kernels' 30-odd arguments (``pipelines/ab.py host_ms``, twelfth 2026-11-29 session), next to 15 us with two.
Where a shape's GPU work is a few hundred microseconds (the default model's training and streaming shapes,
eleven launches a fwd+bwd) that is a large part of a call.

``launch(kernel, grid, *args, **kwargs)`` does the same launch. The first call with a given key goes through
``kernel[grid]``, which compiles if needed and returns the compiled kernel; later calls with the same key
launch that compiled kernel directly (``CompiledKernel.__getitem__``, the runner Triton itself calls), with the
arguments in signature order. The key is at least as fine as Triton's own: each positional argument's kind
(a tensor's dtype and 16-byte alignment; an integer's ``== 1``, divisibility by 16 and 32-bit range; a bool's
or a constexpr's value), every keyword argument by value (the constexprs and launch options), and the current
CUDA device. So a call never takes a kernel Triton would not have chosen; a finer key only costs another pass
through ``kernel[grid]`` (which compiles nothing new).

Where ``kernel[grid]`` returns no compiled kernel (the interpreter, ``TRITON_INTERPRET=1``), every call goes
through it. DNACONV_FAST_LAUNCH=0 does so everywhere (sweeps, and the A/B against this module).
"""

from __future__ import annotations

import inspect
import os

import torch

__all__ = ["launch"]

# key -> (compiled kernel or None, the trailing arguments in signature order)
_CACHE: dict = {}
# id(kernel) -> (the parameter names, which are constexprs, their defaults)
_PARAMS: dict = {}


def _params(kernel) -> tuple:
    """The kernel's parameter names, whether each is a constexpr, and their defaults (``inspect.Parameter.empty``
    where none), from the JIT function's own record of its signature."""
    entry = _PARAMS.get(id(kernel))
    if entry is None:
        params = kernel.params
        entry = (
            tuple(p.name for p in params),
            tuple(p.is_constexpr for p in params),
            tuple(p.default for p in params),
        )
        _PARAMS[id(kernel)] = (kernel, entry)  # the kernel held so that its id stays its own
        return entry
    return entry[1]


def _arg_key(a, constexpr: bool):
    """What of positional argument ``a`` Triton's specialization can depend on (see the module doc)."""
    if constexpr:
        return ("c", a)
    if isinstance(a, torch.Tensor):
        return (a.dtype, not a.data_ptr() & 15)
    if type(a) is int:
        return (a == 1, not a & 15, -0x80000000 <= a < 0x80000000, 0 <= a < 1 << 64)
    if type(a) is float:
        return float
    return (type(a), a)  # bool, None, anything else: by value


def launch(kernel, grid: tuple, *args, **kwargs):
    """``kernel[grid](*args, **kwargs)``, for less host time from the second call with the same key on (see the
    module doc). Keyword arguments must be constexprs or launch options (``num_warps``, ``maxnreg``, ...)."""
    if os.environ.get("DNACONV_FAST_LAUNCH") == "0" or not hasattr(kernel, "params"):
        kernel[grid](*args, **kwargs)
        return
    names, constexpr, defaults = _params(kernel)
    key = (
        id(kernel),
        torch.cuda.current_device() if torch.cuda.is_initialized() else -1,
        tuple(_arg_key(a, c) for a, c in zip(args, constexpr)),
        tuple(kwargs.items()),
    )
    entry = _CACHE.get(key)
    if entry is not None and entry[0] is not None:
        # the runner reads three grid dimensions (triton 3.6: grid[1], grid[2] unchecked)
        entry[0][(*grid, 1, 1)[:3]](*args, *entry[1])
        return
    compiled = kernel[grid](*args, **kwargs)
    if entry is None:
        tail = tuple(
            kwargs[n] if n in kwargs else d for n, d in zip(names[len(args) :], defaults[len(args) :])
        )
        ok = (
            compiled is not None
            and hasattr(compiled, "__getitem__")
            and all(v is not inspect.Parameter.empty for v in tail)
        )
        _CACHE[key] = (compiled if ok else None, tail)
