"""HyenaDNA-style causal language model with partial (fixed-length) long convolutions.

Classes in dependency order: RMSNorm -> HyenaFilter -> HyenaOperator -> HyenaBlock -> HyenaLM.

Every layer can run on a chunk of a longer sequence given a ``LayerState`` that carries the last inputs of
its convolutions (w-1 for the short conv, K-1 gated inputs for the long conv). Running chunk after chunk
with the same states gives the outputs of one pass over the whole sequence (``dnaconv.streaming``).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from dnaconv.config import HyenaConfig
from dnaconv.kernels.fftconv import fftconv, fftconv_spectrum
from dnaconv.kernels.shortconv import shortconv

__all__ = ["LayerState", "RMSNorm", "HyenaFilter", "HyenaOperator", "HyenaBlock", "HyenaLM"]


@dataclass
class LayerState:
    """Streaming state of one Hyena layer; empty (None) at the start of a sequence."""

    short: torch.Tensor | None = None  # [B, 3D, <= w-1]: in-projection outputs before the short conv
    long: torch.Tensor | None = None  # [B, D, <= K-1]: gated long-conv inputs x1 * v, fp32


def _keep_last(prev: torch.Tensor | None, new: torch.Tensor, n: int) -> torch.Tensor | None:
    """The last n positions of concat(prev, new), copied so the chunk's activations can be freed."""
    if n <= 0:
        return None
    if prev is not None and new.shape[-1] < n:
        new = torch.cat([prev.to(new.dtype), new], dim=-1)
    return new[..., -n:].clone()


class RMSNorm(nn.Module):
    def __init__(self, d: int, eps: float = 1e-5, device=None, dtype=None):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d, device=device, dtype=dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()  # statistics in fp32 whatever the activation dtype
        y = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return (y * self.weight.float()).to(x.dtype)


class Sin(nn.Module):
    def __init__(self, d: int, freq: float, device=None, dtype=None):
        super().__init__()
        self.freq = nn.Parameter(freq * torch.ones(1, d, device=device, dtype=dtype))

    def forward(self, x):
        return torch.sin(self.freq * x)


class HyenaFilter(nn.Module):
    """Long filters h [D, K]: implicit (positional features -> MLP -> exponential decay window, as in
    Hyena) or explicit taps. With ``filter_heads = M`` (MultiHyena) there are M filters, each shared by
    D / M consecutive channels."""

    def __init__(self, config: HyenaConfig, layer_idx=None, device=None, dtype=None):
        super().__init__()
        c = config
        self.d, self.K = c.d_model, c.filter_len
        self.n_filters = c.filter_heads or c.d_model
        fk = dict(device=device, dtype=dtype)
        K = c.filter_len
        t = torch.linspace(0, 1, K, device=device)[:, None]  # [K, 1]
        # Decay rates from slow to fast, so channels see different effective context lengths.
        lo, hi = math.log(1e-2) / c.decay_slow, math.log(1e-2) / c.decay_fast
        deltas = torch.linspace(lo, hi, self.n_filters, device=device).abs()
        self.register_buffer("decay", torch.exp(-t * deltas[None]).T.contiguous(), persistent=False)  # [M, K]
        if c.explicit_filter:
            self.h = nn.Parameter(torch.randn(self.n_filters, K, **fk) / math.sqrt(K))
            self.mlp = None
            return
        bands = (c.filter_emb_dim - 1) // 2
        w = 2 * math.pi * torch.arange(K, device=device)[:, None] / K
        f = torch.linspace(1e-4, bands - 1, bands, device=device)[None]
        z = torch.cat([t, torch.cos(f * w), -torch.sin(f * w)], dim=-1)  # [K, emb_dim]
        self.register_buffer("z", z, persistent=False)
        o = c.filter_order
        self.mlp = nn.Sequential(
            nn.Linear(c.filter_emb_dim, o, **fk),
            Sin(o, c.filter_sine_freq, **fk),
            nn.Linear(o, o, **fk),
            Sin(o, c.filter_sine_freq, **fk),
            nn.Linear(o, self.n_filters, bias=False, **fk),
        )

    def forward(self) -> torch.Tensor:
        """Returns: the filters [D, K] in fp32."""
        with torch.autocast(self.decay.device.type, enabled=False):
            if self.mlp is None:
                h = self.h.float()
            else:
                h = self.mlp(self.z.float()).T  # [M, K]
            h = h * self.decay
        if self.n_filters != self.d:
            h = h.repeat_interleave(self.d // self.n_filters, dim=0)  # [D, K]
        return h


class HyenaOperator(nn.Module):
    """y = x2 * (h * (x1 * v) + bias * (x1 * v)), with x1, x2, v from an in-projection and a short conv."""

    _MAX_SPECTRA = 8  # cached filter spectra per layer (one per distinct chunk length)

    def __init__(self, config: HyenaConfig, layer_idx=None, device=None, dtype=None):
        super().__init__()
        c = config
        fk = dict(device=device, dtype=dtype)
        self.d, self.K, self.w = c.d_model, c.filter_len, c.short_conv_width
        self.layer_idx = layer_idx
        self.in_proj = nn.Linear(c.d_model, 3 * c.d_model, **fk)
        self.short_weight = nn.Parameter(torch.empty(3 * c.d_model, c.short_conv_width, **fk))
        self.short_bias = nn.Parameter(torch.zeros(3 * c.d_model, **fk))
        self.filter = HyenaFilter(c, layer_idx, **fk)
        self.bias = nn.Parameter(torch.randn(c.d_model, **fk))
        self.out_proj = nn.Linear(c.d_model, c.d_model, **fk)
        nn.init.uniform_(self.short_weight, -1 / math.sqrt(self.w), 1 / math.sqrt(self.w))
        self._cache: OrderedDict = OrderedDict()
        self.freq_fraction = 1.0  # < 1: frequency-sparse long convolutions (HyenaLM.set_freq_fraction)

    # A fixed filter's taps and spectra are computed once at inference; any change of mode or weights
    # drops them.
    def train(self, mode: bool = True):
        self._cache.clear()
        return super().train(mode)

    def _load_from_state_dict(self, *args, **kwargs):
        self._cache.clear()
        return super()._load_from_state_dict(*args, **kwargs)

    def _filter(self, v: torch.Tensor, H: int):
        if self.training or torch.is_grad_enabled():
            return self.filter(), None
        L = v.shape[-1]
        key = (L, H, self.filter.decay.device, self.freq_fraction)
        if key not in self._cache:
            if "k" not in self._cache or self._cache["k"].device != self.filter.decay.device:
                self._cache.clear()
                self._cache["k"] = self.filter()
            self._cache[key] = fftconv_spectrum(self._cache["k"], v, H, self.freq_fraction, self.bias)
            if len(self._cache) > self._MAX_SPECTRA + 1:
                old = next(k for k in self._cache if k != "k")
                del self._cache[old]
        return self._cache["k"], self._cache[key]

    def forward(self, x: torch.Tensor, state: LayerState | None = None) -> torch.Tensor:
        """x: [B, L, D] -> [B, L, D]; updates ``state`` in place when given."""
        z = self.in_proj(x).transpose(1, 2)  # [B, 3D, L], a view of [B, L, 3D] memory (no copy)
        zc = shortconv(z, self.short_weight, self.short_bias, history=None if state is None else state.short)
        x1, x2, v = zc.split(self.d, dim=1)  # each [B, D, L]
        hist = None if state is None else state.long
        k, k_f = self._filter(v, 0 if hist is None else hist.shape[-1])
        y = fftconv(
            v,
            k,
            self.bias,
            pre_gate=x1,
            post_gate=x2,
            history=hist,
            k_f=k_f,
            freq_fraction=self.freq_fraction,
        )  # [B, D, L]
        if state is not None:
            n = self.K - 1
            state.short = _keep_last(state.short, z, self.w - 1)
            state.long = _keep_last(hist, x1[..., -n:].float() * v[..., -n:].float(), n)
        return self.out_proj(y.transpose(1, 2))


class HyenaBlock(nn.Module):
    def __init__(self, config: HyenaConfig, layer_idx=None, device=None, dtype=None):
        super().__init__()
        fk = dict(device=device, dtype=dtype)
        c = config
        self.norm1 = RMSNorm(c.d_model, c.norm_eps, **fk)
        self.mixer = HyenaOperator(c, layer_idx, **fk)
        self.norm2 = RMSNorm(c.d_model, c.norm_eps, **fk)
        self.fc1 = nn.Linear(c.d_model, c.d_inner, **fk)
        self.fc2 = nn.Linear(c.d_inner, c.d_model, **fk)

    def forward(self, x: torch.Tensor, state: LayerState | None = None) -> torch.Tensor:
        x = x + self.mixer(self.norm1(x), state)
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x)), approximate="tanh"))


class HyenaLM(nn.Module):
    """Causal LM over the dnaconv token alphabet.

    Hidden states are numbered 0..n_layer: 0 is the token embedding, i the output of block i, and n_layer
    the last block's output after the final norm (negative indices count from the end).
    """

    def __init__(self, config: HyenaConfig, device=None, dtype=None):
        super().__init__()
        c = self.config = config
        fk = dict(device=device, dtype=dtype)
        self.embedding = nn.Embedding(c.vocab_size, c.d_model, **fk)
        self.blocks = nn.ModuleList([HyenaBlock(c, i, **fk) for i in range(c.n_layer)])
        self.norm_f = RMSNorm(c.d_model, c.norm_eps, **fk)
        self.lm_head = nn.Linear(c.d_model, c.vocab_size, bias=False, **fk)
        for name, m in self.named_modules():
            if ".filter." not in name:  # the implicit filter MLP keeps PyTorch's default init
                self._init_weights(m)
        for b in self.blocks:  # residual projections scaled down with depth (GPT-2)
            for p in (b.mixer.out_proj.weight, b.fc2.weight):
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * c.n_layer))
        if c.tie_embeddings:
            self.lm_head.weight = self.embedding.weight

    @staticmethod
    def _init_weights(m):
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)

    def set_freq_fraction(self, fraction: float) -> None:
        """Run every long convolution frequency-sparse, keeping ``fraction`` (1, 1/2, 1/4, ...) of each block's
        spectrum (an inference-time approximation, ``dnaconv.kernels.fftconv.plan``); 1 is exact."""
        if not 0 < fraction <= 1:
            raise ValueError(f"frequency fraction must be in (0, 1], got {fraction}")
        for m in self.modules():
            if isinstance(m, HyenaOperator):
                m.freq_fraction = float(fraction)
                m._cache.clear()

    def init_state(self) -> list[LayerState]:
        """Empty streaming states, one per layer."""
        return [LayerState() for _ in self.blocks]

    def layer_index(self, layer: int) -> int:
        n = self.config.n_layer
        if not -(n + 1) <= layer <= n:
            raise ValueError(
                f"layer {layer} out of range: this model has hidden states 0..{n} (or -{n + 1}..-1)"
            )
        return layer % (n + 1)

    def hidden(
        self, tokens: torch.Tensor, layer: int = -1, state: list[LayerState] | None = None
    ) -> torch.Tensor:
        """Hidden state ``layer`` for tokens [B, L] -> [B, L, D], running only the blocks it needs."""
        li = self.layer_index(layer)
        x = self.embedding(tokens.long())
        for i in range(li):
            x = self.blocks[i](x, None if state is None else state[i])
        return self.norm_f(x) if li == self.config.n_layer else x

    def forward(
        self, tokens: torch.Tensor, state: list[LayerState] | None = None, output_hidden_states: bool = False
    ):
        """Logits [B, L, V]; with ``output_hidden_states`` also the list of all n_layer + 1 hidden states."""
        x = self.embedding(tokens.long())
        hs = [x]
        for i, block in enumerate(self.blocks):
            x = block(x, None if state is None else state[i])
            hs.append(x)
        x = self.norm_f(x)
        hs[-1] = x
        logits = self.lm_head(x)
        return (logits, hs) if output_hidden_states else logits

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def flops_per_base(self) -> int:
        """Forward FLOPs per position of the dense layers (2 per multiply-add), excluding the convolutions."""
        c = self.config
        per_layer = 2 * (3 * c.d_model**2 + c.d_model**2 + 2 * c.d_model * c.d_inner)
        return c.n_layer * per_layer + 2 * c.d_model * c.vocab_size
