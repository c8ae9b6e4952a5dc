"""Model configuration: a dataclass saved as ``config.json`` (the same JSON goes into HDF5 attrs)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from dnaconv.errors import ConfigError
from dnaconv.tokenizer import VOCAB_SIZE

__all__ = ["HyenaConfig", "config_from_dict", "load_config"]


@dataclass
class HyenaConfig:
    """A HyenaDNA-style causal LM: embedding -> n_layer x (Hyena mixer, MLP) -> RMSNorm -> LM head."""

    d_model: int = 128
    n_layer: int = 4
    vocab_size: int = VOCAB_SIZE
    d_inner: int | None = None  # MLP hidden width; None = 4 * d_model
    # Long (partial) convolution: every filter has filter_len taps, independent of the sequence length;
    # one output sees the last filter_len inputs of its layer.
    filter_len: int = 4096
    filter_order: int = 64  # width of the implicit filter MLP
    filter_emb_dim: int = 33  # positional features: t, and cos/sin at (filter_emb_dim - 1) / 2 frequencies
    filter_sine_freq: float = 1.0  # initial frequency of the filter MLP's sine activations
    filter_heads: int = 0  # MultiHyena: 0 = one filter per channel; M > 0 ties filters across D / M channels
    explicit_filter: bool = False  # learn the taps directly instead of the implicit MLP
    decay_fast: float = 0.3  # the fastest channel's filter decays to 1e-2 at this fraction of filter_len
    decay_slow: float = 1.5  # the slowest channel's, at this fraction
    short_conv_width: int = 3
    norm_eps: float = 1e-5
    tie_embeddings: bool = True
    name: str = "hyena"

    def __post_init__(self):
        if self.d_inner is None:
            self.d_inner = 4 * self.d_model
        for f in (
            "d_model",
            "n_layer",
            "vocab_size",
            "d_inner",
            "filter_len",
            "filter_order",
            "short_conv_width",
        ):
            if not isinstance(getattr(self, f), int) or getattr(self, f) < 1:
                raise ConfigError(f"config field '{f}' must be a positive integer, got {getattr(self, f)!r}")
        if self.filter_emb_dim < 3 or self.filter_emb_dim % 2 == 0:
            raise ConfigError(
                f"config field 'filter_emb_dim' must be odd and >= 3, got {self.filter_emb_dim}"
            )
        if self.filter_heads < 0 or (self.filter_heads and self.d_model % self.filter_heads):
            raise ConfigError(
                f"config field 'filter_heads' must be 0 or divide d_model={self.d_model}, got {self.filter_heads}"
            )

    @property
    def receptive_field(self) -> int:
        """How many past positions one output of the last layer can see, plus one."""
        return self.n_layer * (self.filter_len - 1 + self.short_conv_width - 1) + 1

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json() + "\n")


def dataclass_from_dict(cls, d: dict, where: str):
    """Build the dataclass ``cls`` from ``d``, naming any unknown (e.g. mistyped) field."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown config field '{unknown[0]}' (known: {', '.join(sorted(known))})")
    return cls(**d)


def read_json_object(path: str | Path) -> dict:
    try:
        d = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ConfigError(f"{path}: cannot read config: {e}") from None
    if not isinstance(d, dict):
        raise ConfigError(f"{path}: config must be a JSON object")
    return d


def config_from_dict(d: dict, source: str = "config") -> HyenaConfig:
    return dataclass_from_dict(HyenaConfig, d, source)


def load_config(path: str | Path) -> HyenaConfig:
    return config_from_dict(read_json_object(path), str(path))
