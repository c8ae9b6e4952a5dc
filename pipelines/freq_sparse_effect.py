"""Model-level effect of frequency-sparse long convolutions: perplexity and embedding change of a model when
every long convolution keeps only a fraction f of each block's spectrum (``HyenaLM.set_freq_fraction``).

    python -m dnaconv.pipelines.freq_sparse_effect GRCh37.chr20.fa.gz --region 20:56000001-60000000

For each f: the perplexity over the region (streamed, as ``dnaconv score``), and over the first
``--embed-length`` bases the change of the last hidden states against f = 1: relative RMS difference and the
mean cosine similarity of per-position vectors, and the same for the mean-pooled vector. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from dnaconv.checkpoint import load_model
from dnaconv.device import resolve_device, resolve_dtype
from dnaconv.fasta import open_fasta
from dnaconv.lm import perplexity, stream_nll
from dnaconv.regions import parse_region
from dnaconv.streaming import stream_hidden


def region_tokens(path: str, region: str) -> np.ndarray:
    with open_fasta(path) as fa:
        iv = parse_region(region)
        for src in fa.intervals([iv]):
            return src.tokens()
    raise SystemExit(f"Error: {path}: region {region} not found")


def effect(model, tokens: np.ndarray, fractions, chunk: int, embed_length: int, dtype) -> list[dict]:
    emb_tokens = torch.as_tensor(tokens[:embed_length].astype(np.int64))[None]
    rows, ref = [], None
    for f in fractions:
        model.set_freq_fraction(f)
        t0 = time.time()
        nll, count = stream_nll(model, tokens, chunk, dtype)
        h = torch.cat([c.float().cpu() for c in stream_hidden(model, emb_tokens, chunk, -1, dtype)], 1)[0]
        row = dict(
            fraction=f, perplexity=perplexity(nll, count), bases_scored=count, seconds=time.time() - t0
        )
        if ref is None:
            ref = h
        row["embed_rel_rms_diff"] = ((h - ref).norm() / ref.norm()).item()
        row["embed_mean_cosine"] = torch.nn.functional.cosine_similarity(h, ref, dim=-1).mean().item()
        pooled, pooled_ref = h.mean(0), ref.mean(0)
        row["pooled_rel_diff"] = ((pooled - pooled_ref).norm() / pooled_ref.norm()).item()
        rows.append(row)
    model.set_freq_fraction(1.0)
    return rows


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("fasta")
    ap.add_argument(
        "--region", default="20:56000001-60000000", help="scored region (default: the test region)"
    )
    ap.add_argument("--model", default=None, help="model directory (default: the embedded model)")
    ap.add_argument("--fractions", default="1,0.5,0.25")
    ap.add_argument("--chunk-size", type=int, default=65536)
    ap.add_argument("--embed-length", type=int, default=1_000_000)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16"])
    ap.add_argument("--json", default=None, help="also write the rows here")
    a = ap.parse_args(argv)
    device = resolve_device(a.device)
    dtype = resolve_dtype(a.dtype, device)
    model, info = load_model(a.model, device)
    tokens = region_tokens(a.fasta, a.region)
    fractions = [float(x) for x in a.fractions.split(",")]
    rows = effect(model, tokens, fractions, a.chunk_size, a.embed_length, dtype)
    out = dict(model=info.name, model_sha256=info.sha256, region=a.region, device=str(device),
               dtype=str(dtype).replace("torch.", ""), chunk_size=a.chunk_size, rows=rows)  # fmt: skip
    text = json.dumps(out, indent=1)
    print(text)
    if a.json:
        with open(a.json, "w") as fh:
            fh.write(text + "\n")


if __name__ == "__main__":
    main()
