"""Reference depthwise causal short convolution (width w, typically 3-7), with a streaming history.

    x_ext = concat(history, x)            (history: the last w-1 inputs before x; zeros if absent)
    y[t]  = sum_{j < w} weight[d, j] * x_ext[t + j]  + bias[d]     (t indexes the L outputs)

so weight[:, -1] multiplies the current input: the same convention as ``torch.nn.Conv1d`` with left padding.
"""

from __future__ import annotations

import torch

__all__ = ["naive_shortconv", "naive_shortconv_step"]


def naive_shortconv(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    history: torch.Tensor | None = None,
) -> torch.Tensor:
    """Depthwise causal convolution.

    Written as w shifted multiply-adds on views rather than ``conv1d``: it accepts x in any memory layout
    (the model passes a transposed [B, L, D] projection without copying it) and is faster on CPU than
    oneDNN's depthwise convolution at these widths.

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
    L = x.shape[-1]
    H = 0 if history is None else min(history.shape[-1], w - 1)
    wt = weight.to(x.dtype)[:, :, None]  # [D, w, 1]
    y = x * wt[:, w - 1]  # the current input; y has x's memory layout
    if bias is not None:
        y = y + bias.to(x.dtype)[:, None]
    for s in range(1, w):  # tap w-1-s multiplies x[t - s]
        if s < L:
            y[..., s:] += x[..., : L - s] * wt[:, w - 1 - s]
        # outputs t < s read history position H - s + t (zeros before the history starts)
        lo = max(0, s - H)
        hi = min(s, L)
        if H and lo < hi:
            y[..., lo:hi] += history[..., H - s + lo : H - s + hi].to(x.dtype) * wt[:, w - 1 - s]
    return y


def naive_shortconv_step(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, state: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """One decoding step. x: [B, D]; state: [B, D, w-1], the last w-1 inputs. Returns (y [B, D], new state)."""
    window = torch.cat([state, x[..., None]], dim=-1)  # [B, D, w]
    y = (window.float() * weight.float()).sum(-1)
    if bias is not None:
        y = y + bias.float()
    return y.to(x.dtype), window[..., 1:]
