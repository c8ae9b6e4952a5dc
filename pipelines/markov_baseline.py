"""The count-based baseline: order-k Markov models of DNA trained on the same chr20 split as the default model.

    python -m dnaconv.pipelines.markov_baseline GRCh37.chr20.fa.gz [--max-order 12]

For each order k, next-base probabilities come from counts of (k-mer context, next base) over the training
part of chr20 (everything outside 20:55,000,001-60,000,000), with add-alpha smoothing; a context that
contains N, or reaches before the start of the scored region, backs off to its longest clean suffix. The
order and alpha with the best perplexity on the validation region (20:55,000,001-56,000,000) are then
scored on the test region (20:56,000,001-60,000,000): every A/C/G/T base after the first, as
`dnaconv score` does for the model.
"""

from __future__ import annotations

import argparse
import json
import math

import numpy as np

from dnaconv.pipelines.train_default_model import HELD_OUT, TEST, VALID, load_contig
from dnaconv.tokenizer import N


def clean_run(tokens: np.ndarray) -> np.ndarray:
    """For each position i, how many A/C/G/T bases immediately precede it."""
    ok = (tokens < N).astype(np.int64)
    idx = np.arange(len(tokens))
    last_bad = np.maximum.accumulate(np.where(ok == 0, idx, -1))  # last N at or before i
    run = np.empty(len(tokens), np.int64)
    run[0] = 0
    run[1:] = idx[:-1] - last_bad[:-1]
    return run


def context_codes(tokens: np.ndarray, k: int) -> np.ndarray:
    """Code of the k bases before each position (garbage where fewer than k clean bases precede)."""
    t = np.minimum(tokens, 3).astype(np.int64)
    code = np.zeros(
        len(t), np.int64
    )  # sum_{j=1..k} t[i-j] 4^(j-1): the most recent base in the lowest digits
    for j in range(1, k + 1):
        code[j:] += t[:-j] * (4 ** (j - 1))
    return code


def train_counts(tokens: np.ndarray, max_order: int) -> list[np.ndarray]:
    run = clean_run(tokens)
    target_ok = tokens < N
    counts = []
    for k in range(max_order + 1):
        sel = target_ok & (run >= k)
        ctx = context_codes(tokens, k)[sel]
        counts.append(
            np.bincount(ctx * 4 + tokens[sel].astype(np.int64), minlength=4 ** (k + 1)).reshape(-1, 4)
        )
    return counts


def score(counts: list[np.ndarray], tokens: np.ndarray, k: int, alpha: float) -> tuple[float, int]:
    run = np.minimum(clean_run(tokens), np.arange(len(tokens)))  # context stays inside the region
    target = tokens < N
    target[0] = False
    order = np.minimum(run, k)
    total, n = 0.0, 0
    for j in range(k + 1):
        sel = target & (order == j)
        if not sel.any():
            continue
        c = counts[j][context_codes(tokens, j)[sel]]  # [m, 4]
        p = (c[np.arange(len(c)), tokens[sel]] + alpha) / (c.sum(1) + 4 * alpha)
        total -= np.log(p).sum()
        n += int(sel.sum())
    return total, n


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("fasta")
    ap.add_argument("--contig", default="20")
    ap.add_argument("--max-order", type=int, default=12)
    args = ap.parse_args(argv)
    tokens = load_contig(args.fasta, args.contig)
    train = np.concatenate([tokens[: HELD_OUT[0]], np.full(1, N, np.uint8), tokens[HELD_OUT[1] :]])
    counts = train_counts(train, args.max_order)
    valid, test = tokens[VALID[0] : VALID[1]], tokens[TEST[0] : TEST[1]]
    results = []
    for k in range(args.max_order + 1):
        for alpha in (0.01, 0.1, 0.5, 1.0):
            nll, n = score(counts, valid, k, alpha)
            results.append(dict(order=k, alpha=alpha, valid_ppl=math.exp(nll / n)))
    best = min(results, key=lambda r: r["valid_ppl"])
    nll, n = score(counts, test, best["order"], best["alpha"])
    best.update(test_ppl=math.exp(nll / n), test_bits_per_base=nll / n / math.log(2), test_bases_scored=n,
                test_region=f"{args.contig}:{TEST[0] + 1}-{TEST[1]}")  # fmt: skip
    per_order = {}
    for k in range(args.max_order + 1):
        a = min((r for r in results if r["order"] == k), key=lambda r: r["valid_ppl"])["alpha"]
        nll_k, n_k = score(counts, test, k, a)
        per_order[k] = round(math.exp(nll_k / n_k), 4)
    print(json.dumps({"best": best, "test_ppl_by_order": per_order}, indent=1))


if __name__ == "__main__":
    main()
