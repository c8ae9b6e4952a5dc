"""`dnaconv pretrain`: causal-LM pretraining on shards, on one device or many under torchrun (DDP).

The data order is a pure function of (seed, step): the global batch of step s is the windows at positions
[s B, (s + 1) B) of a seeded permutation of the training windows (a new permutation each epoch), cut into
rows of the current sequence length, with reverse complements chosen by a generator seeded with
(seed, step). So a checkpoint needs only the step to resume exactly, and N processes see the same global
batch as one (each takes every N-th window of it).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from dnaconv.checkpoint import load_model, load_training_checkpoint, save_model, save_training_checkpoint
from dnaconv.config import HyenaConfig, dataclass_from_dict, read_json_object
from dnaconv.errors import ConfigError
from dnaconv.lm import nll_sum, param_groups
from dnaconv.models.hyena import HyenaLM
from dnaconv.streaming import autocast_context
from dnaconv.tokenizer import N, reverse_complement_tokens

__all__ = ["TrainConfig", "load_run_config", "pretrain"]


@dataclass
class TrainConfig:
    batch_size: int = 64  # global batch, in shard windows (all ranks, all accumulation steps)
    micro_batch_size: int = 16  # windows per forward pass per rank
    seq_len_start: int = 0  # sequence-length warm-up: first length (0 = no warm-up) ...
    seq_len_warmup_steps: int = 0  # ... doubled in equal stages until the shard length at this step
    max_steps: int = 1000
    lr: float = 2e-3
    min_lr: float = 2e-4
    warmup_steps: int = 100
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.95)
    grad_clip: float = 1.0
    rc_augment: bool = True  # reverse-complement half of the windows
    eval_every: int = 200
    eval_windows: int = 64  # first windows of the valid split, scored at each evaluation
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    log_every: int = 10
    seed: int = 0
    peak_tflops: float = 0.0  # device peak for MFU (0 = known GPUs only: H100/H200 bf16 dense 989)

    def __post_init__(self):
        self.betas = tuple(self.betas)
        for f in (
            "batch_size",
            "micro_batch_size",
            "max_steps",
            "eval_every",
            "checkpoint_every",
            "log_every",
        ):
            if int(getattr(self, f)) < 1:
                raise ConfigError(f"train config field '{f}' must be >= 1, got {getattr(self, f)}")


def load_run_config(path: str | Path) -> tuple[HyenaConfig, TrainConfig]:
    """A run config: {"model": {HyenaConfig fields}, "train": {TrainConfig fields}}."""
    d = read_json_object(path)
    extra = sorted(set(d) - {"model", "train"})
    if extra:
        raise ConfigError(f"{path}: unknown section '{extra[0]}' (expected 'model' and 'train')")
    model = dataclass_from_dict(HyenaConfig, d.get("model", {}), f"{path} model")
    return model, dataclass_from_dict(TrainConfig, d.get("train", {}), f"{path} train")


# -- data ------------------------------------------------------------------------------------------------


class WindowData:
    """The full-length windows of a shard split, read straight from the memory-mapped Arrow data (nothing is
    loaded until a batch asks for its rows)."""

    def __init__(self, chunks: list[tuple[np.ndarray, np.ndarray]], length: int):
        self.chunks = chunks  # per Arrow chunk: (token values uint8, row offsets)
        self.length = length
        where = [(c, r) for c, (_, off) in enumerate(chunks) for r in np.flatnonzero(np.diff(off) == length)]
        self.chunk_of = np.array([c for c, _ in where], np.int64)
        self.start_of = np.array([chunks[c][1][r] for c, r in where], np.int64)

    @classmethod
    def from_shards(cls, directory: str, split: str) -> WindowData:
        from dnaconv.shard import load_shards

        column = load_shards(directory, split).data.table.column("tokens")
        chunks = [(ch.values.to_numpy(zero_copy_only=True), ch.offsets.to_numpy()) for ch in column.chunks]
        length = max((int(np.diff(off).max(initial=0)) for _, off in chunks), default=0)
        return cls(chunks, length)

    def __len__(self) -> int:
        return len(self.start_of)

    def __getitem__(self, idx) -> np.ndarray:
        """Windows idx (an index array) as one uint8 array [len(idx), length]."""
        idx = np.atleast_1d(idx)
        return np.stack(
            [self.chunks[c][0][s : s + self.length] for c, s in zip(self.chunk_of[idx], self.start_of[idx])]
        )


def _load_init(model: HyenaLM, model_config: HyenaConfig, path: str) -> None:
    src, _ = load_model(path)
    mine, theirs = dataclasses.asdict(model_config), dataclasses.asdict(src.config)
    diff = [k for k in mine if k != "name" and mine[k] != theirs.get(k)]
    if diff:
        raise ConfigError(
            f"{path}: --init model differs from the config in '{diff[0]}' ({theirs.get(diff[0])!r} vs "
            f"{mine[diff[0]]!r})"
        )
    with torch.no_grad():
        model.load_state_dict(src.state_dict())


def seq_len_at(step: int, cfg: TrainConfig, full: int) -> int:
    """Sequence-length warm-up: seq_len_start doubled in equal stages up to the window length."""
    if not cfg.seq_len_start or step >= cfg.seq_len_warmup_steps or cfg.seq_len_start >= full:
        return full
    stages = max(1, math.ceil(math.log2(full / cfg.seq_len_start)))
    stage = step * stages // max(1, cfg.seq_len_warmup_steps)
    return min(full, cfg.seq_len_start << stage)


def global_batch(data: WindowData, step: int, cfg: TrainConfig) -> np.ndarray:
    """Window indices of the global batch of ``step`` (seeded permutation per epoch)."""
    n = len(data)
    per_epoch = max(1, n // cfg.batch_size)
    epoch, k = divmod(step, per_epoch)
    order = np.random.default_rng([cfg.seed, epoch]).permutation(n)
    return order[k * cfg.batch_size : (k + 1) * cfg.batch_size]


def batch_rows(data: WindowData, idx: np.ndarray, flips: np.ndarray, seq_len: int) -> np.ndarray:
    """Windows idx (reverse-complemented where flips) cut into rows of seq_len tokens: [rows, seq_len]."""
    win = data[idx]
    if flips.any():
        win[flips] = reverse_complement_tokens(win[flips])
    usable = (data.length // seq_len) * seq_len
    return win[:, :usable].reshape(-1, seq_len)


# -- the loop ------------------------------------------------------------------------------------------------


def _dist_info() -> tuple[int, int, int]:
    return (
        int(os.environ.get("RANK", 0)),
        int(os.environ.get("WORLD_SIZE", 1)),
        int(os.environ.get("LOCAL_RANK", 0)),
    )


def _lr(step: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    p = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps))
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * p))


def _peak_flops(cfg: TrainConfig, device: torch.device) -> float:
    if cfg.peak_tflops:
        return cfg.peak_tflops * 1e12
    if device.type == "cuda" and any(x in torch.cuda.get_device_name(device) for x in ("H100", "H200")):
        return 989e12  # bf16 dense, datasheet
    return 0.0


@torch.no_grad()
def evaluate(model, data: WindowData, cfg: TrainConfig, device, dtype) -> float:
    rows = torch.from_numpy(data[np.arange(min(cfg.eval_windows, len(data)))])
    total, count = 0.0, 0
    for a in range(0, len(rows), cfg.micro_batch_size):
        with autocast_context(device, dtype):
            s, c = nll_sum(model, rows[a : a + cfg.micro_batch_size].to(device))
        total, count = total + s.item(), count + c
    return math.exp(total / count) if count else float("nan")


class NonFiniteLoss(RuntimeError):
    pass


def pretrain(
    data_dir: str,
    model_config: HyenaConfig,
    cfg: TrainConfig,
    out: str,
    device: torch.device,
    dtype: torch.dtype,
    resume: bool = False,
    max_steps: int | None = None,
    progress: bool = True,
    init: str | None = None,
) -> dict:
    """Train; returns the final metrics record. Rank 0 writes metrics.jsonl, curves.png and checkpoints.

    ``init``: a model directory whose weights start the run (fine-tuning or continued training); its
    architecture must equal ``model_config`` (the name may differ). A resumed run ignores it."""
    rank, world, local_rank = _dist_info()
    if world > 1 and not dist.is_initialized():
        if device.type == "cuda":
            device = torch.device("cuda", local_rank)
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    run = Path(out)
    if cfg.batch_size % (cfg.micro_batch_size * world):
        raise ConfigError(f"train config: batch_size {cfg.batch_size} is not a multiple of micro_batch_size "
                          f"{cfg.micro_batch_size} x {world} processes")  # fmt: skip
    train = WindowData.from_shards(data_dir, "train")
    valid = WindowData.from_shards(data_dir, "valid")
    if len(train) < cfg.batch_size:
        raise ValueError(
            f"{data_dir}: {len(train)} full-length training windows, fewer than batch_size {cfg.batch_size}"
        )
    torch.manual_seed(cfg.seed)
    model = HyenaLM(model_config).to(device)
    opt = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=cfg.betas,
                            fused=device.type == "cuda")  # fmt: skip
    start = 0
    if resume and (run / "latest").exists():
        start = load_training_checkpoint(run, model, opt)
    elif init is not None:
        _load_init(model, model_config, init)
    ddp = (
        torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
        if world > 1
        else model
    )
    if rank == 0:
        (run / "checkpoints").mkdir(parents=True, exist_ok=True)
        model_config.save(run / "config.json")
        (run / "train_config.json").write_text(json.dumps(dataclasses.asdict(cfg), indent=1) + "\n")
    accum = cfg.batch_size // (cfg.micro_batch_size * world)
    flops_per_token = 3 * model.flops_per_base()  # forward + backward of the dense layers (FFTs excluded)
    peak = _peak_flops(cfg, device)
    last_steps = min(cfg.max_steps, max_steps or cfg.max_steps)
    metrics_path = run / "metrics.jsonl"
    history: list[dict] = _read_metrics(metrics_path, start) if rank == 0 else []
    t0, tokens = time.time(), 0
    rec = {}
    for step in range(start, last_steps):
        lr = _lr(step, cfg)
        for g in opt.param_groups:
            g["lr"] = lr
        L = seq_len_at(step, cfg, train.length)
        idx = global_batch(train, step, cfg)
        flips = (
            (np.random.default_rng([cfg.seed, step, 1]).random(len(idx)) < 0.5)
            if cfg.rc_augment
            else np.zeros(len(idx), bool)
        )
        rows = batch_rows(train, idx, flips, L)  # [global rows, L]
        count_all = int((rows[:, 1:] < N).sum())  # targets in the global batch: every rank divides by it
        mine = (
            rows.reshape(world, -1, L)[rank] if world > 1 else rows
        )  # windows are split evenly across ranks
        micro = np.array_split(mine, accum)
        model.train()
        loss_total = 0.0
        for i, part in enumerate(micro):
            x = torch.from_numpy(part).to(device)
            sync = i == len(micro) - 1 or world == 1
            ctx = ddp.no_sync() if (world > 1 and not sync) else _null()
            with ctx, autocast_context(device, dtype):
                s, _ = nll_sum(ddp, x)
                # DDP averages gradients over ranks: scale so that the result is the global token mean
                (s * world / count_all).backward()
            loss_total += s.item()
        loss_t = torch.tensor([loss_total], device=device)
        if world > 1:
            dist.all_reduce(loss_t)
        loss = loss_t.item() / count_all
        if not math.isfinite(loss):
            latest = (run / "latest").read_text().strip() if (run / "latest").exists() else "none"
            raise NonFiniteLoss(f"non-finite loss ({loss}) at step {step}; stopped, the last good checkpoint is "
                                f"{run / 'checkpoints' / latest if latest != 'none' else 'none (none written yet)'}")  # fmt: skip
        gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        tokens += rows.size
        done = step + 1
        if rank == 0 and (done % cfg.log_every == 0 or done == last_steps or done % cfg.eval_every == 0):
            elapsed = time.time() - t0
            tps = tokens / elapsed if elapsed else 0.0
            rec = dict(step=done, loss=loss, lr=lr, grad_norm=float(gnorm), seq_len=L, tokens_per_s=tps,
                       mfu=tps * flops_per_token / (peak * world) if peak else None, seconds=elapsed)  # fmt: skip
            if done % cfg.eval_every == 0 or done == last_steps:
                model.eval()
                rec["valid_ppl"] = evaluate(model, valid, cfg, device, dtype) if len(valid) else None
            history.append(rec)
            with open(metrics_path, "a") as f:
                f.write(json.dumps(rec) + "\n")
            if progress:
                print(json.dumps(rec), file=sys.stderr, flush=True)
        if rank == 0 and (done % cfg.checkpoint_every == 0 or done == last_steps):
            save_training_checkpoint(
                run, done, model, opt, dataclasses.asdict(cfg), cfg.keep_checkpoints, rec
            )
            _plot(history, run / "curves.png")
        if world > 1:
            dist.barrier()
    if rank == 0 and start < last_steps:
        save_model(model, run / "final", force=True)
    return rec


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def _read_metrics(path: Path, upto: int) -> list[dict]:
    """Metrics already logged up to the resumed step (later lines, from a run cut short, are dropped)."""
    if not path.exists():
        return []
    rows = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    rows = [r for r in rows if r["step"] <= upto]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows


def _plot(history: list[dict], path: Path) -> None:
    """Loss and validation perplexity curves (needs matplotlib; skipped without it)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.5))
    a.plot([r["step"] for r in history], [r["loss"] for r in history])
    a.set(xlabel="step", ylabel="train loss (nats/base)", title="training loss")
    ev = [r for r in history if r.get("valid_ppl") is not None]
    b.plot([r["step"] for r in ev], [r["valid_ppl"] for r in ev], marker="o")
    b.set(xlabel="step", ylabel="perplexity", title="validation perplexity")
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)
