"""Model files: a directory with ``model.safetensors``, ``config.json`` and ``tokenizer.json`` (never pickle).

``load_model(None)`` loads the embedded default model shipped inside the package. A training run's checkpoints
(``dnaconv pretrain``) add the optimizer state, the RNG and the step to a model directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from dnaconv import tokenizer
from dnaconv.config import load_config
from dnaconv.errors import ConfigError
from dnaconv.models.hyena import HyenaLM

__all__ = [
    "ModelInfo",
    "load_model",
    "save_model",
    "default_model_dir",
    "file_sha256",
    "save_training_checkpoint",
    "load_training_checkpoint",
]

WEIGHTS, CONFIG, TOKENIZER = "model.safetensors", "config.json", "tokenizer.json"


@dataclass
class ModelInfo:
    name: str
    path: str
    sha256: str  # of model.safetensors
    num_parameters: int

    def to_dict(self) -> dict:
        return dict(name=self.name, path=self.path, sha256=self.sha256, num_parameters=self.num_parameters)


def default_model_dir() -> Path:
    return Path(str(resources.files("dnaconv") / "default_model"))


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def tokenizer_description() -> dict:
    return {
        "type": "character",
        "tokens": {"A": tokenizer.A, "C": tokenizer.C, "G": tokenizer.G, "T": tokenizer.T, "N": tokenizer.N},
        "specials": {"BOS": tokenizer.BOS, "EOS": tokenizer.EOS, "PAD": tokenizer.PAD},
        "iupac_to": "N",
        "lowercase": "upper-cased (soft-mask kept separately)",
    }


def save_model(model: HyenaLM, directory: str | Path, force: bool = False, meta: dict | None = None) -> Path:
    """Write weights, config and tokenizer description; refuses to overwrite unless ``force``."""
    d = Path(directory)
    if (d / WEIGHTS).exists() and not force:
        raise FileExistsError(f"{d / WEIGHTS} exists (use --force to overwrite)")
    d.mkdir(parents=True, exist_ok=True)
    # Tied weights are stored once: safetensors refuses shared storage.
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items() if k != "lm_head.weight"}
    if not model.config.tie_embeddings:
        state["lm_head.weight"] = model.lm_head.weight.detach().contiguous().cpu()
    tmp = d / (WEIGHTS + ".tmp")
    save_file(state, str(tmp), metadata={k: str(v) for k, v in (meta or {}).items()})
    os.replace(tmp, d / WEIGHTS)
    model.config.save(d / CONFIG)
    (d / TOKENIZER).write_text(json.dumps(tokenizer_description(), indent=2) + "\n")
    return d


def load_model(
    path: str | Path | None = None, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32
) -> tuple[HyenaLM, ModelInfo]:
    """Load a model directory (or the embedded default model when ``path`` is None), in eval mode."""
    d = default_model_dir() if path is None else Path(path)
    if d.is_file() and d.name == WEIGHTS:
        d = d.parent
    weights, config = d / WEIGHTS, d / CONFIG
    for f in (weights, config):
        if not f.is_file():
            raise ConfigError(f"{d}: not a dnaconv model directory (missing {f.name})")
    cfg = load_config(config)
    model = HyenaLM(cfg)
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError) as e:
        raise ConfigError(f"{weights}: cannot read weights: {e}") from None
    if cfg.tie_embeddings:
        state["lm_head.weight"] = state["embedding.weight"]
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ConfigError(
            f"{weights}: weights do not match {config.name} (missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    model = model.to(device=device, dtype=dtype).eval()
    info = ModelInfo(cfg.name, str(d), file_sha256(weights), model.num_parameters())
    return model, info


# -- training checkpoints (dnaconv pretrain) ---------------------------------------------------------------


def save_training_checkpoint(
    run: Path, step: int, model: HyenaLM, opt, train: dict, keep: int, metrics: dict
) -> Path:
    """A training run's checkpoint under run/checkpoints/step_N: weights (safetensors), optimizer state (safetensors tensors + JSON scalars), RNG and step, written to a
    temporary directory and renamed into place; then `latest` is replaced, and all but the ``keep`` newest
    checkpoints removed. A crash at any point leaves the
    previous checkpoint and `latest` intact."""
    ckdir = run / "checkpoints"
    final = ckdir / f"step_{step:07d}"
    tmp = ckdir / f".tmp_step_{step:07d}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_model(model, tmp, force=True)
    tensors, scalars = {}, {"param_groups": [], "state": {}}
    names = {id(p): n for n, p in model.named_parameters()}
    for g in opt.param_groups:
        scalars["param_groups"].append(
            {k: v for k, v in g.items() if k != "params"} | {"params": [names[id(p)] for p in g["params"]]}
        )
    for p, st in opt.state.items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"{names[id(p)]}.{k}"] = v.detach().contiguous().cpu()
            else:
                scalars["state"][f"{names[id(p)]}.{k}"] = v
    tensors["rng.cpu"] = torch.get_rng_state()
    if torch.cuda.is_available():
        tensors["rng.cuda"] = torch.cuda.get_rng_state()
    save_file(tensors, str(tmp / "optimizer.safetensors"))
    state = dict(step=step, train=train, metrics=metrics, optimizer=scalars)
    (tmp / "trainer_state.json").write_text(json.dumps(state, indent=1) + "\n")
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    latest_tmp = run / ".latest.tmp"
    latest_tmp.write_text(final.name + "\n")
    os.replace(latest_tmp, run / "latest")
    for old in sorted(ckdir.glob("step_*"))[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def load_training_checkpoint(run: Path, model: HyenaLM, opt) -> int:
    """Load a training run's `latest` checkpoint into model and optimizer (and the RNG); returns its step."""
    name = (run / "latest").read_text().strip()
    ck = run / "checkpoints" / name
    loaded, _ = load_model(ck)
    model.load_state_dict(loaded.state_dict())
    state = json.loads((ck / "trainer_state.json").read_text())
    tensors = load_file(str(ck / "optimizer.safetensors"))
    params = dict(model.named_parameters())
    for g, saved in zip(opt.param_groups, state["optimizer"]["param_groups"]):
        g.update({k: v for k, v in saved.items() if k != "params"})
    for key, v in tensors.items():
        if key.startswith("rng."):
            continue
        pname, k = key.rsplit(".", 1)
        opt.state[params[pname]][k] = v.to(params[pname].device)
    for key, v in state["optimizer"]["state"].items():
        pname, k = key.rsplit(".", 1)
        opt.state[params[pname]][k] = v
    torch.set_rng_state(tensors["rng.cpu"])
    if "rng.cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["rng.cuda"])
    return int(state["step"])
