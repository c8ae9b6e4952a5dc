"""Exact chunked (streamed) forward passes with carried per-layer state.

A Hyena layer's output at position t depends only on its inputs t-K+1..t (long conv) and t-w+1..t (short
conv). Carrying those last inputs from chunk to chunk (``LayerState``) makes a chunked pass equal to the
full forward pass up to floating-point rounding, at memory O(chunk x D x layers) whatever the length.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import nullcontext

import torch

from dnaconv.models.hyena import HyenaLM

__all__ = ["StreamingRunner", "stream_hidden", "autocast_context"]


def autocast_context(device: torch.device, dtype: torch.dtype):
    """Mixed precision for half dtypes (matmuls in dtype, norms and FFTs in fp32); nothing for fp32."""
    if dtype == torch.float32:
        return nullcontext()
    return torch.autocast(device.type, dtype=dtype)


class StreamingRunner:
    """Feeds consecutive chunks of the same sequences through a model, carrying state between them.

    Example:
        >>> runner = StreamingRunner(model, layer=-1)
        >>> outs = [runner.step(chunk) for chunk in tokens.split(65536, dim=1)]  # each [B, C, D]
    """

    def __init__(self, model: HyenaLM, layer: int = -1, dtype: torch.dtype = torch.float32):
        self.model = model
        self.layer = model.layer_index(layer)
        self.device = next(model.parameters()).device
        self.dtype = dtype
        self.reset()

    def reset(self) -> None:
        """Start new sequences (drop the carried state)."""
        self.state = self.model.init_state()
        self.position = 0

    @torch.inference_mode()
    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens [B, C] (the next C positions) -> hidden states [B, C, D] in ``dtype``."""
        tokens = tokens.to(self.device, non_blocking=True).long()
        with autocast_context(self.device, self.dtype):
            h = self.model.hidden(tokens, self.layer, self.state)
        self.position += tokens.shape[1]
        return h

    @torch.inference_mode()
    def full(self, tokens: torch.Tensor) -> torch.Tensor:
        """One stateless pass over whole sequences: tokens [B, L] -> [B, L, D] (for short records)."""
        tokens = tokens.to(self.device, non_blocking=True).long()
        with autocast_context(self.device, self.dtype):
            return self.model.hidden(tokens, self.layer)


def stream_hidden(
    model: HyenaLM, tokens: torch.Tensor, chunk_size: int, layer: int = -1, dtype: torch.dtype = torch.float32
) -> Iterator[torch.Tensor]:
    """Hidden states of ``tokens`` [B, L], computed and yielded chunk by chunk ([B, <=chunk_size, D])."""
    runner = StreamingRunner(model, layer, dtype)
    yield from (runner.step(c) for c in _chunks(tokens, chunk_size))


def _chunks(tokens: torch.Tensor, size: int) -> Iterable[torch.Tensor]:
    if size < 1:
        raise ValueError(f"chunk size must be >= 1, got {size}")
    return tokens.split(size, dim=1)
