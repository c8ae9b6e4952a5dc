"""``dnaconv.kernels.launch``: a compiled kernel is launched again only under a key as fine as Triton's own.

The CPU tests drive ``launch`` with a recording stand-in for a JIT function (the interpreter returns no compiled
kernel, so there ``launch`` always takes ``kernel[grid]``, which every interpreter kernel test exercises); the
GPU test launches a real kernel through both routes and checks the results.
"""

from __future__ import annotations

import inspect

import pytest
import torch
import triton
import triton.language as tl

from dnaconv.kernels import launch as launch_mod
from dnaconv.kernels.launch import launch


class _Param:
    def __init__(self, name, constexpr=False, default=inspect.Parameter.empty):
        self.name, self.is_constexpr, self.default = name, constexpr, default


class _Compiled:
    def __init__(self, log):
        self.log = log

    def __getitem__(self, grid):
        return lambda *args: self.log.append(("fast", grid, args))


class _Kernel:
    """Records launches: ``kernel[grid](...)`` as "jit", the compiled kernel's runner as "fast"."""

    def __init__(self, compiles=True):
        self.params = [_Param("x"), _Param("n"), _Param("BLOCK", True), _Param("FLAG", True, False)]
        self.log, self.compiles = [], compiles

    def __getitem__(self, grid):
        def run(*args, **kwargs):
            self.log.append(("jit", grid, args, kwargs))
            return _Compiled(self.log) if self.compiles else None

        return run


@pytest.fixture(autouse=True)
def fresh_cache(monkeypatch):
    monkeypatch.setattr(launch_mod, "_CACHE", {})
    monkeypatch.setattr(launch_mod, "_PARAMS", {})
    monkeypatch.delenv("DNACONV_FAST_LAUNCH", raising=False)


def _routes(kernel):
    return [entry[0] for entry in kernel.log]


def test_second_launch_takes_the_compiled_kernel_with_arguments_in_signature_order():
    k, x = _Kernel(), torch.zeros(64)
    launch(k, (3,), x, 5, BLOCK=32, num_warps=4)
    launch(k, (7, 2), x, 6, BLOCK=32, num_warps=4)
    assert _routes(k) == ["jit", "fast"]
    assert k.log[0][2:] == ((x, 5), {"BLOCK": 32, "num_warps": 4})
    # the constexprs follow the positional arguments, FLAG at its default; launch options are not arguments
    assert k.log[1][1] == (7, 2, 1) and k.log[1][2] == (x, 6, 32, False)


@pytest.mark.parametrize(
    "first,second",
    [
        ((5,), (1,)),  # an integer equal to 1 is specialized
        ((5,), (16,)),  # divisible by 16
        ((5,), (1 << 31,)),  # past 32 bits
        ((5,), (-(1 << 31) - 1,)),
    ],
    ids=["one", "div16", "int64", "negative-int64"],
)
def test_an_integer_of_another_specialization_goes_through_the_jit(first, second):
    k, x = _Kernel(), torch.zeros(64)
    launch(k, (1,), x, *first, BLOCK=32)
    launch(k, (1,), x, *second, BLOCK=32)
    launch(k, (1,), x, *second, BLOCK=32)
    assert _routes(k) == ["jit", "jit", "fast"]


def test_an_integer_of_the_same_specialization_takes_the_compiled_kernel():
    k, x = _Kernel(), torch.zeros(64)
    for n in (5, 7, 33, 1 << 20 | 3):
        launch(k, (1,), x, n, BLOCK=32)
    assert _routes(k) == ["jit", "fast", "fast", "fast"]


def test_tensor_dtype_and_alignment_are_part_of_the_key():
    k, x = _Kernel(), torch.zeros(64)
    launch(k, (1,), x, 5, BLOCK=32)
    launch(k, (1,), x[1:], 5, BLOCK=32)  # 4 bytes off 16-byte alignment
    launch(k, (1,), x[4:], 5, BLOCK=32)  # 16 bytes off: aligned again
    launch(k, (1,), x.half(), 5, BLOCK=32)
    assert _routes(k) == ["jit", "jit", "fast", "jit"]


def test_constexprs_and_launch_options_are_keyed_by_value():
    k, x = _Kernel(), torch.zeros(64)
    launch(k, (1,), x, 5, BLOCK=32, num_warps=4)
    launch(k, (1,), x, 5, BLOCK=64, num_warps=4)
    launch(k, (1,), x, 5, BLOCK=64, num_warps=8)
    launch(k, (1,), x, 5, BLOCK=64, FLAG=True, num_warps=8)
    launch(k, (1,), x, 5, BLOCK=64, FLAG=True, num_warps=8)
    assert _routes(k) == ["jit", "jit", "jit", "jit", "fast"]
    assert k.log[-1][2] == (x, 5, 64, True)


def test_a_constexpr_passed_by_position_is_keyed_by_value():
    k, x = _Kernel(), torch.zeros(64)
    launch(k, (1,), x, 5, 32)
    launch(k, (1,), x, 5, 64)
    launch(k, (1,), x, 5, 64)
    assert _routes(k) == ["jit", "jit", "fast"]
    assert k.log[-1][2] == (x, 5, 64, False)


def test_fast_launch_off_and_no_compiled_kernel_always_take_the_jit(monkeypatch):
    k, x = _Kernel(compiles=False), torch.zeros(64)
    for _ in range(3):
        launch(k, (1,), x, 5, BLOCK=32)
    assert _routes(k) == ["jit"] * 3
    monkeypatch.setenv("DNACONV_FAST_LAUNCH", "0")
    k = _Kernel()
    for _ in range(3):
        launch(k, (1,), x, 5, BLOCK=32)
    assert _routes(k) == ["jit"] * 3


def test_a_required_parameter_left_out_never_takes_the_compiled_kernel():
    k, x = _Kernel(), torch.zeros(64)
    launch(k, (1,), x, 5)  # BLOCK missing: Triton would raise; here the stand-in does not, and it must not cache
    launch(k, (1,), x, 5)
    assert _routes(k) == ["jit", "jit"]


@triton.jit
def _axpb_kernel(x_ptr, y_ptr, a, n, BLOCK: tl.constexpr, SQUARE: tl.constexpr = False):
    i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = i < n
    v = tl.load(x_ptr + i, mask=m) * a
    if SQUARE:
        v = v * v
    tl.store(y_ptr + i, v + 1, mask=m)


@pytest.mark.cuda
def test_real_kernel_both_routes_agree(monkeypatch):
    """A real kernel through ``launch`` under keys it has seen and not: every result as torch's."""
    x = torch.randn(1000, device="cuda")
    for n, a, square, offset in [(1000, 2.0, False, 0), (999, 3.0, False, 0), (1, 2.0, False, 0),
                                 (995, 0.5, True, 1), (992, 0.5, True, 4), (1000, 2.0, False, 0)]:  # fmt: skip
        src = x[offset:]
        for mode in ("1", "0"):
            monkeypatch.setenv("DNACONV_FAST_LAUNCH", mode)
            y = torch.full_like(src, float("nan"))
            launch(_axpb_kernel, (triton.cdiv(n, 128),), src, y, a, n, BLOCK=128, SQUARE=square)
            ref = (src[:n] * a) ** (2 if square else 1) + 1
            torch.testing.assert_close(y[:n], ref)
            assert torch.isnan(y[n:]).all()
    assert any(entry[0] is not None for entry in launch_mod._CACHE.values())  # the fast route ran
