"""Train the embedded default model on human chromosome 20 (GRCh37), holding out a named region.

Reproduce the shipped model (on a CUDA GPU; it runs on CPU too, slowly):

    python -m dnaconv.pipelines.train_default_model GRCh37.chr20.fa.gz --out dnaconv/default_model --force

Held out from training: 20:55,000,001-60,000,000 (5 Mbp, GRCh37). Its first 1 Mbp
(20:55,000,001-56,000,000) is the validation set watched during training; the other 4 Mbp
(20:56,000,001-60,000,000) is the test region whose perplexity the README reports, computed by exact
streaming over the whole region (every base conditioned on all earlier bases of the region).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

from dnaconv.checkpoint import save_model
from dnaconv.config import HyenaConfig
from dnaconv.device import resolve_device, resolve_dtype
from dnaconv.fasta import open_fasta
from dnaconv.lm import lm_loss, param_groups, perplexity, stream_nll
from dnaconv.models.hyena import HyenaLM
from dnaconv.streaming import autocast_context
from dnaconv.tokenizer import N, reverse_complement_tokens

HELD_OUT = (55_000_000, 60_000_000)  # 0-based half-open on contig '20'
VALID = (55_000_000, 56_000_000)
TEST = (56_000_000, 60_000_000)
DEFAULT_CONFIG = HyenaConfig(d_model=128, n_layer=4, filter_len=8192, name="dnaconv-chr20-d128-l4")


def load_contig(path: str, contig: str) -> np.ndarray:
    with open_fasta(path) as fa:
        for src in fa.records():
            if src.id == contig:
                return src.tokens()
    raise SystemExit(f"Error: {path}: no record '{contig}'")


def training_starts(tokens: np.ndarray, length: int, held_out: tuple[int, int], max_n_frac: float = 0.5):
    """Window starts whose window avoids the held-out region and is at most max_n_frac N."""
    n_cum = np.concatenate([[0], np.cumsum(tokens == N, dtype=np.int64)])
    starts = np.arange(0, len(tokens) - length)
    ok = (starts + length <= held_out[0]) | (starts >= held_out[1])
    ok &= (n_cum[starts + length] - n_cum[starts]) <= max_n_frac * length
    return starts[ok]


def sample_batch(tokens, starts, batch, length, rng, device):
    idx = rng.choice(starts, size=batch)
    win = np.stack([tokens[s : s + length] for s in idx])
    flip = rng.random(batch) < 0.5  # reverse-complement augmentation
    win[flip] = reverse_complement_tokens(win[flip])
    return torch.from_numpy(win).to(device, non_blocking=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("fasta")
    ap.add_argument("--contig", default="20")
    ap.add_argument("--out", required=True)
    ap.add_argument("--force", action="store_true")
    ap.add_argument("--config", help="JSON config (default: the shipped model's)")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--length", type=int, default=8192, help="training window (tokens)")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--min-lr", type=float, default=2e-4)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument(
        "--max-minutes", type=float, default=float("inf"), help="stop early (and save) after this"
    )
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument(
        "--test-limit", type=int, default=0, help="score only the first N bases of the test region"
    )
    ap.add_argument("--device", default="auto")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    out = Path(args.out)
    if (out / "model.safetensors").exists() and not args.force:
        raise SystemExit(f"Error: {out}/model.safetensors exists (use --force)")
    device = resolve_device(args.device)
    dtype = resolve_dtype("auto", device)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    if args.config:
        from dnaconv.config import load_config

        cfg = load_config(args.config)
    else:
        cfg = HyenaConfig(**DEFAULT_CONFIG.to_dict())
    model = HyenaLM(cfg).to(device)
    t0 = time.time()
    tokens = load_contig(args.fasta, args.contig)
    starts = training_starts(tokens, args.length + 1, HELD_OUT)
    valid = tokens[VALID[0] : VALID[1]]
    log(
        f"loaded {len(tokens):,} bases in {time.time() - t0:.1f}s; {len(starts):,} training windows; "
        f"{model.num_parameters():,} parameters"
    )

    opt = torch.optim.AdamW(
        param_groups(model, args.weight_decay), lr=args.lr, betas=(0.9, 0.95), fused=device.type == "cuda"
    )

    budget = args.max_minutes * 60

    def progress(step, elapsed):
        """Fraction of training done: by steps, or by time when --max-minutes comes first (the cosine
        schedule then completes inside the time budget)."""
        return max(step / args.steps, elapsed / budget)

    def lr_at(step, elapsed):
        if step < args.warmup:
            return args.lr * (step + 1) / args.warmup
        p = min(1.0, progress(step, elapsed))
        return args.min_lr + 0.5 * (args.lr - args.min_lr) * (1 + math.cos(math.pi * p))

    metrics = []
    t_start = time.time()
    tokens_seen = 0
    step = 0
    for step in range(args.steps):
        lr = lr_at(step, time.time() - t_start)
        for g in opt.param_groups:
            g["lr"] = lr
        batch = sample_batch(tokens, starts, args.batch, args.length + 1, rng, device)
        model.train()
        with autocast_context(device, dtype):
            loss = lm_loss(model, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        tokens_seen += args.batch * args.length
        if not math.isfinite(loss.item()):
            raise SystemExit(f"Error: non-finite loss at step {step}")
        elapsed = time.time() - t_start
        if step % 50 == 0 or step == args.steps - 1:
            rec = dict(
                step=step,
                loss=round(loss.item(), 5),
                lr=lr,
                grad_norm=round(float(gnorm), 4),
                tokens=tokens_seen,
                seconds=round(elapsed, 1),
                tokens_per_s=round(tokens_seen / elapsed),
            )
            if step % args.eval_every == 0 or step == args.steps - 1:
                model.eval()
                nll, n = stream_nll(model, valid[:200_000], dtype=dtype)
                rec["valid_ppl"] = round(perplexity(nll, n), 4)
            metrics.append(rec)
            log(json.dumps(rec))
        if progress(step + 1, elapsed) >= 1.0:
            if step + 1 < args.steps:
                log(f"time budget reached at step {step}")
            break

    model.eval()
    test = tokens[TEST[0] : TEST[1]]
    if args.test_limit:
        test = test[: args.test_limit]
    nll, n = stream_nll(model, test, dtype=torch.float32)
    result = dict(
        test_region=f"{args.contig}:{TEST[0] + 1}-{TEST[1]}",
        test_bases_scored=n,
        test_ppl=round(perplexity(nll, n), 4),
        test_bits_per_base=round(nll / n / math.log(2), 4),
        steps=step + 1,
        tokens_seen=tokens_seen,
        train_seconds=round(time.time() - t_start, 1),
        device=str(torch.cuda.get_device_name() if device.type == "cuda" else "cpu"),
        held_out=f"{args.contig}:{HELD_OUT[0] + 1}-{HELD_OUT[1]}",
        args=vars(args),
    )
    log(json.dumps(result))
    save_model(model, out, force=args.force, meta={"training": json.dumps(result)})
    (out / "training.json").write_text(json.dumps({"result": result, "metrics": metrics}, indent=1) + "\n")
    return result


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
