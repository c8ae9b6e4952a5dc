"""Shared tolerance helper for kernel tests (STYLE rule 8)."""

from __future__ import annotations

import torch

__all__ = ["assert_close", "rel_rms_error"]


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
    kernel's relative error must also be at most 2x the baseline's (flash-attention's rule), which allows
    for honest rounding but not for bugs.
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
