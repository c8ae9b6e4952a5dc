"""Small models for tests, with O(1) weights so that every output depends visibly on its context."""

from __future__ import annotations

import torch

from dnaconv.config import HyenaConfig
from dnaconv.models.hyena import HyenaLM


def tiny_config(**kw) -> HyenaConfig:
    base = dict(d_model=24, n_layer=2, filter_len=32, filter_order=16, filter_emb_dim=5)
    base.update(kw)
    return HyenaConfig(**base)


def strong_model(config: HyenaConfig, seed: int = 0, undecayed: bool = False) -> HyenaLM:
    """A model in eval mode whose weights are O(1) (fan-in scaled) rather than the small training init."""
    torch.manual_seed(seed)
    model = HyenaLM(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 1 / p.shape[-1] ** 0.5 if p.dim() > 1 else 1.0)
        if undecayed:
            for b in model.blocks:
                b.mixer.filter.decay.fill_(1.0)
    return model
