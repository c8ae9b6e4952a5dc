"""Shared tolerance helper for kernel tests (STYLE rule 8), and the interpreter's bf16 rounding made the GPU's."""

from __future__ import annotations

import torch

__all__ = ["BF16_FLOOR", "assert_close", "rel_rms_error", "round_bf16_like_the_gpu"]

# The least relative error a half-precision result is allowed next to its baseline (``assert_close``): above the
# fp16-operand rounding of results PyTorch computes in fp32 (a filter's gradient, 1.7e-3 in the HBM backward),
# below twice a bf16 rounding error, so that a doubled error (the CPU interpreter's truncating bf16 conversion
# gave 3.4e-3 where the GPU gives 1.7e-3) fails rather than hiding under a looser 1e-2.
BF16_FLOOR = 3e-3


def rel_rms_error(out: torch.Tensor, ref: torch.Tensor) -> float:
    """||out - ref|| / ||ref|| in float64 (0 when both are zero)."""
    out, ref = out.double(), ref.double()
    den = ref.norm().item()
    num = (out - ref).norm().item()
    return num / den if den > 0 else num


def assert_close(
    out: torch.Tensor,
    ref: torch.Tensor,
    rtol: float = 1e-5,
    atol: float | None = None,
    baseline: torch.Tensor | None = None,
    name: str = "",
) -> None:
    """Check out against ref (computed in higher precision).

    Passes when the relative RMS error is at most ``rtol`` and, if ``atol`` is given, the max abs error is at
    most ``atol``. With ``baseline`` (the same computation by PyTorch in out's low-precision dtype), the
    kernel's relative error must instead be at most 2x the baseline's (flash-attention's rule), which allows
    for honest rounding but not for bugs, or ``rtol`` where that is larger (a floor for results PyTorch
    computes in fp32 even from half inputs, such as a filter's gradient).
    """
    assert out.shape == ref.shape, f"{name}: shape {tuple(out.shape)} != {tuple(ref.shape)}"
    assert torch.isfinite(out).all(), f"{name}: non-finite values in output"
    err = rel_rms_error(out, ref)
    max_abs = (out.double() - ref.double()).abs().max().item() if out.numel() else 0.0
    if baseline is not None:
        base_err = rel_rms_error(baseline, ref)
        limit = max(2 * base_err, rtol)
        assert err <= limit, f"{name}: rel err {err:.3e} > 2x baseline {base_err:.3e} (limit {limit:.3e})"
        return
    assert err <= rtol, f"{name}: rel RMS err {err:.3e} > {rtol:.1e} (max abs {max_abs:.3e})"
    if atol is not None:
        assert max_abs <= atol, f"{name}: max abs err {max_abs:.3e} > {atol:.1e}"


def round_bf16_like_the_gpu() -> bool:
    """Make Triton's CPU interpreter round fp32 -> bf16 conversions to nearest even, as the GPU does.

    The interpreter truncates them (its ``cast_impl`` passes no rounding mode, and ``fp_downcast_rounding``
    does not reach it), which doubles the rounding error of every bf16 store: a kernel's bf16 output measured
    about 3.4e-3 against the fp64 reference under the interpreter where torch's cast of the same fp32 result gave
    1.7e-3, as the GPU does. Returns whether the interpreter was patched (False where its internals differ)."""
    try:
        import numpy as np
        import triton.language as tl
        from triton.runtime import interpreter
    except ImportError:
        return False
    builder = getattr(interpreter, "InterpreterBuilder", None)
    handle = getattr(interpreter, "TensorHandle", None)
    if builder is None or handle is None or not hasattr(builder, "cast_impl"):
        return False
    if getattr(builder.cast_impl, "_rounds_bf16", False):
        return True
    truncating = builder.cast_impl

    def cast_impl(self, src, dst_type):
        if src.dtype.scalar == tl.float32 and dst_type.scalar == tl.bfloat16:
            x = torch.from_numpy(np.ascontiguousarray(src.data, dtype=np.float32))
            return handle(x.to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16), dst_type.scalar)
        return truncating(self, src, dst_type)

    cast_impl._rounds_bf16 = True
    builder.cast_impl = cast_impl
    return True
