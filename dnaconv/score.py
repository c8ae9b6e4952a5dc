"""`dnaconv score`: per-record log-likelihood under the model, streamed and exact at any length."""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from tqdm import tqdm

from dnaconv.embed import check_intervals_found
from dnaconv.fasta import open_fasta
from dnaconv.lm import stream_nll_chunks
from dnaconv.models.hyena import HyenaLM
from dnaconv.regions import Interval

__all__ = ["RecordScore", "score_files"]


@dataclass
class RecordScore:
    id: str
    length: int
    n_scored: int  # bases 2..L whose base is A/C/G/T (each predicted from all earlier bases)
    nll: float  # mean negative log-likelihood, nats per scored base

    @property
    def perplexity(self) -> float:
        return math.exp(self.nll) if self.n_scored else float("nan")

    @property
    def bits_per_base(self) -> float:
        return self.nll / math.log(2) if self.n_scored else float("nan")

    def to_dict(self) -> dict:
        """JSON-ready: values undefined for a record with no scored base are None (null), not NaN."""
        d = dict(id=self.id, length=self.length, n_scored=self.n_scored, nll=self.nll,
                 perplexity=self.perplexity, bits_per_base=self.bits_per_base)  # fmt: skip
        return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in d.items()}


def score_files(
    inputs: list[str],
    model: HyenaLM,
    dtype: torch.dtype = torch.float32,
    intervals: list[Interval] | None = None,
    chunk_size: int = 65536,
    progress: bool = True,
) -> Iterator[RecordScore]:
    """Yield one score per record (or per interval) of the FASTA inputs, in input order."""
    opened = [open_fasta(p) for p in inputs]
    seen: dict[str, str] = {}
    bar = tqdm(
        unit="bp", unit_scale=True, file=sys.stderr, disable=not progress, desc="score", dynamic_ncols=True
    )
    try:
        for inp in opened:
            for src in inp.intervals(intervals) if intervals else inp.records():
                if src.id in seen:
                    raise ValueError(f"duplicate record id '{src.id}' (in {seen[src.id]} and {src.source})")
                seen[src.id] = str(src.source)

                def chunks(src=src):
                    for tokens, _ in src.pieces(chunk_size):
                        bar.update(len(tokens))
                        yield tokens

                total, n, length = stream_nll_chunks(model, chunks(), dtype)
                yield RecordScore(src.id, length, n, total / n if n else float("nan"))
        if intervals:
            check_intervals_found(opened, intervals)
    finally:
        bar.close()
        for inp in opened:
            inp.close()
