"""Language-model objectives: the training loss and exact streamed log-likelihood of long sequences."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from dnaconv.models.hyena import HyenaLM
from dnaconv.streaming import autocast_context
from dnaconv.tokenizer import N

__all__ = ["lm_loss", "stream_nll", "perplexity"]

IGNORE = -100


def lm_loss(model: HyenaLM, tokens: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy over targets that are bases (A/C/G/T); tokens [B, L + 1]."""
    inputs, targets = tokens[:, :-1], tokens[:, 1:].long()
    targets = targets.masked_fill(targets >= N, IGNORE)  # N and specials are not predicted
    logits = model(inputs)
    return F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), ignore_index=IGNORE)


@torch.inference_mode()
def stream_nll(
    model: HyenaLM,
    tokens: np.ndarray | torch.Tensor,
    chunk_size: int = 65536,
    dtype: torch.dtype = torch.float32,
) -> tuple[float, int]:
    """Summed NLL (nats) and count of the bases 1..L-1 of one sequence, each conditioned on all earlier
    positions (exact streaming: any length at the memory of one chunk). Targets that are not A/C/G/T are
    skipped."""
    device = next(model.parameters()).device
    t = torch.as_tensor(np.asarray(tokens), dtype=torch.long)
    state = model.init_state()
    total, count = 0.0, 0
    L = t.shape[0]
    for a in range(0, L - 1, chunk_size):
        b = min(a + chunk_size, L - 1)
        x = t[a:b].to(device)[None]
        y = t[a + 1 : b + 1].to(device)
        with autocast_context(device, dtype):
            logits = model(x, state)[0].float()
        keep = y < N
        nll = F.cross_entropy(logits[keep], y[keep], reduction="sum")
        total += nll.item()
        count += int(keep.sum())
    return total, count


def perplexity(nll_sum: float, count: int) -> float:
    return math.exp(nll_sum / count) if count else float("nan")
