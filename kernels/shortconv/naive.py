"""Reference depthwise causal short convolution (width w, typically 3-7), with a streaming history.

    x_ext = concat(history, x)            (history: the last w-1 inputs before x; zeros if absent)
    y[t]  = sum_{j < w} weight[d, j] * x_ext[t + j]  + bias[d]     (t indexes the L outputs)

so weight[:, -1] multiplies the current input: the same convention as ``torch.nn.Conv1d`` with left padding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["naive_shortconv", "naive_shortconv_step"]


def naive_shortconv(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    history: torch.Tensor | None = None,
) -> torch.Tensor:
    """Depthwise causal convolution.

    Args:
        x: [B, D, L]
        weight: [D, w]
        bias: [D] or None
        history: [B, D, H] with H <= w - 1 (missing positions are zeros), or None
    Returns:
        [B, D, L] in x's dtype

    Example:
        >>> x, w = torch.randn(2, 6, 100), torch.randn(6, 3)
        >>> y = naive_shortconv(x, w)  # [2, 6, 100]
    """
    D, w = weight.shape
    H = 0 if history is None else history.shape[-1]
    if H > w - 1:
        history, H = history[..., -(w - 1) :], w - 1
    x_ext = x if H == 0 else torch.cat([history.to(x.dtype), x], dim=-1)
    x_ext = F.pad(x_ext, (w - 1 - H, 0))  # [B, D, L + w - 1]
    return F.conv1d(
        x_ext, weight.to(x.dtype)[:, None, :], None if bias is None else bias.to(x.dtype), groups=D
    )


def naive_shortconv_step(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, state: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """One decoding step. x: [B, D]; state: [B, D, w-1], the last w-1 inputs. Returns (y [B, D], new state)."""
    window = torch.cat([state, x[..., None]], dim=-1)  # [B, D, w]
    y = (window.float() * weight.float()).sum(-1)
    if bias is not None:
        y = y + bias.float()
    return y.to(x.dtype), window[..., 1:]
