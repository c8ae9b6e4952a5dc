"""Language-model objectives: the training loss and exact streamed log-likelihood of long sequences."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import torch
import torch.nn.functional as F

from dnaconv.models.hyena import HyenaLM
from dnaconv.streaming import autocast_context
from dnaconv.tokenizer import N

__all__ = ["lm_loss", "nll_sum", "param_groups", "stream_nll", "stream_nll_chunks", "perplexity"]

IGNORE = -100


def nll_sum(model, tokens: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Summed next-token NLL over targets that are bases (A/C/G/T), and their count; tokens [B, L + 1]."""
    inputs, targets = tokens[:, :-1], tokens[:, 1:].long()
    targets = targets.masked_fill(targets >= N, IGNORE)  # N and specials are not predicted
    logits = model(inputs)
    loss = F.cross_entropy(
        logits.float().flatten(0, 1), targets.flatten(), ignore_index=IGNORE, reduction="sum"
    )
    return loss, int((targets != IGNORE).sum())


def lm_loss(model: HyenaLM, tokens: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy over targets that are bases (A/C/G/T); tokens [B, L + 1]."""
    loss, count = nll_sum(model, tokens)
    return loss / count


def param_groups(model: HyenaLM, weight_decay: float) -> list[dict]:
    """AdamW groups: weight decay on weight matrices, none on norms, biases and the implicit filters."""
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and ".filter." not in n]
    rest = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and ".filter." not in n)]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]


@torch.inference_mode()
def stream_nll_chunks(
    model: HyenaLM, chunks: Iterable[np.ndarray | torch.Tensor], dtype: torch.dtype = torch.float32
) -> tuple[float, int, int]:
    """Summed NLL (nats), count of scored bases and length of one sequence given as consecutive chunks.

    Every base after the first is predicted from all earlier ones (exact streaming: carried layer state,
    and the last position of a chunk predicts the first base of the next). Targets that are not A/C/G/T
    are skipped.
    """
    device = next(model.parameters()).device
    state = model.init_state()
    total, count, length = 0.0, 0, 0
    last = None  # logits [V] of the previous chunk's last position
    for chunk in chunks:
        x = torch.as_tensor(np.asarray(chunk)).to(device, torch.long)
        if x.numel() == 0:
            continue
        with autocast_context(device, dtype):
            logits = model(x[None], state)[0].float()  # [n, V]
        pred = logits[:-1] if last is None else torch.cat([last[None], logits[:-1]])
        target = x[1:] if last is None else x
        keep = target < N
        if keep.any():
            total += F.cross_entropy(pred[keep], target[keep], reduction="sum").item()
            count += int(keep.sum())
        last = logits[-1]
        length += x.numel()
    return total, count, length


def stream_nll(
    model: HyenaLM,
    tokens: np.ndarray | torch.Tensor,
    chunk_size: int = 65536,
    dtype: torch.dtype = torch.float32,
) -> tuple[float, int]:
    """Summed NLL (nats) and count of the scored bases of one in-memory sequence (see stream_nll_chunks)."""
    t = np.asarray(tokens)
    total, count, _ = stream_nll_chunks(
        model, (t[a : a + chunk_size] for a in range(0, len(t), chunk_size)), dtype
    )
    return total, count


def perplexity(nll_sum: float, count: int) -> float:
    return math.exp(nll_sum / count) if count else float("nan")
