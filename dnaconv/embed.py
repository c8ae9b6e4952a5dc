"""`dnaconv embed`: FASTA records or intervals -> hidden states of a model layer -> HDF5.

Short records (at most one chunk) are padded on the right and batched: the model is causal, so padding
after a record cannot change its outputs. Longer records are streamed chunk by chunk through
``StreamingRunner``, which carries each layer's recent inputs, so a chromosome costs the memory of a chunk.
With ``rc`` the reverse complement is embedded too and its outputs are flipped back onto forward positions.
"""

from __future__ import annotations

import datetime
import json
import os
import sys
import time
from dataclasses import dataclass

import h5py
import numpy as np
import torch
from tqdm import tqdm

from dnaconv import __version__
from dnaconv.checkpoint import ModelInfo
from dnaconv.fasta import FastaInput, SequenceSource, open_fasta
from dnaconv.h5io import EmbeddingFile, RecordWriter
from dnaconv.models.hyena import HyenaLM
from dnaconv.regions import Interval
from dnaconv.streaming import StreamingRunner
from dnaconv.tokenizer import N, reverse_complement_tokens

__all__ = ["EmbedOptions", "EmbedSummary", "embed_files"]

# Settings that must match for --resume to add records to an existing file.
_RESUME_KEYS = ("model_sha256", "layer", "rc", "pool_window", "per_position", "softmask", "store_dtype")


@dataclass
class EmbedOptions:
    layer: int = (
        -1
    )  # hidden state index: 0 = token embedding, n_layer = final (normed) output; negatives count back
    rc: str | None = None  # None, 'mean' or 'concat'
    pool_window: int | None = None
    per_position: bool = True
    softmask: bool = False
    chunk_size: int = 65536  # positions per forward pass (a batch of short records shares this budget)
    batch_size: int = 32  # records per batch at most
    store_dtype: str = "float16"
    compression: str = "gzip"


@dataclass
class EmbedSummary:
    output: str
    records: int
    skipped: int
    bases: int
    seconds: float

    @property
    def bases_per_second(self) -> float:
        return self.bases / self.seconds if self.seconds else 0.0


class Embedder:
    """Runs records through the model and hands the outputs to ``RecordWriter``s."""

    def __init__(self, model: HyenaLM, dtype: torch.dtype, options: EmbedOptions, progress: tqdm):
        self.o = options
        self.runner = StreamingRunner(model, options.layer, dtype)
        self.d = model.config.d_model
        self.width = self.d * (2 if options.rc == "concat" else 1)
        self.progress = progress

    @staticmethod
    def _numpy(h: torch.Tensor) -> np.ndarray:
        return h.float().cpu().numpy()

    # -- short records: one padded batch, one forward pass ----------------------------------------------
    def embed_batch(
        self, items: list[tuple[SequenceSource, np.ndarray, np.ndarray | None]], out: EmbeddingFile
    ):
        seqs = [t for _, t, _ in items]
        if self.o.rc:
            seqs += [reverse_complement_tokens(t) for t in seqs]
        width = max(len(t) for t in seqs)
        batch = np.full((len(seqs), width), N, np.uint8)  # right padding cannot reach earlier positions
        for i, t in enumerate(seqs):
            batch[i, : len(t)] = t
        h = self._numpy(self.runner.full(torch.from_numpy(batch)))  # [B, width, D]
        for i, (src, tokens, mask) in enumerate(items):
            L = len(tokens)
            emb = h[i, :L]
            if self.o.rc:
                back = h[len(items) + i, :L][::-1]  # position j of the rc strand is base L-1-j
                emb = np.concatenate([emb, back], 1) if self.o.rc == "concat" else (emb + back) / 2
            w = self._begin(out, src, L)
            w.append(emb, tokens, mask)
            w.commit()
            self.progress.update(L)

    # -- long records: streamed with carried state ---------------------------------------------------------
    def embed_stream(self, src: SequenceSource, pieces, out: EmbeddingFile) -> int:
        """Returns the record's length."""
        C = self.o.chunk_size
        if self.o.rc:  # the reverse strand runs from the record's end: hold its tokens (1 byte per base)
            parts = list(pieces)
            tokens = np.concatenate([t for t, _ in parts])
            masks = None if parts[0][1] is None else np.concatenate([m for _, m in parts])
            pieces = (
                (tokens[i : i + C], None if masks is None else masks[i : i + C])
                for i in range(0, len(tokens), C)
            )
        w = self._begin(out, src, src.length)
        self.runner.reset()
        for toks, mask in pieces:
            w.append(self._numpy(self.runner.step(torch.from_numpy(toks)[None]))[0], toks, mask)
            self.progress.update(len(toks) / (2 if self.o.rc else 1))
        if self.o.rc:
            self._reverse_pass(tokens, w)
        w.commit(self.o.rc)
        return w.length

    def _reverse_pass(self, tokens: np.ndarray, w: RecordWriter) -> None:
        L, C = len(tokens), self.o.chunk_size
        rc = reverse_complement_tokens(tokens)
        self.runner.reset()
        for a in range(0, L, C):
            b = min(a + C, L)
            h = self._numpy(self.runner.step(torch.from_numpy(rc[a:b])[None]))[0]
            # rc positions [a, b) are forward positions [L-b, L-a), in reverse order
            w.combine(L - b, h[::-1], tokens[L - b : L - a], self.o.rc)
            self.progress.update((b - a) / 2)

    def _begin(self, out: EmbeddingFile, src: SequenceSource, length: int | None) -> RecordWriter:
        attrs = dict(
            id=src.id,
            source=str(src.source),
            contig=src.contig,
            start=src.start,
            end=-1 if src.end is None else src.end,
            strand="both" if self.o.rc else "+",
            rc=self.o.rc or "none",
            description=src.description,
            name=src.name or "",
        )
        return out.record(
            attrs,
            self.width,
            length,
            self.o.per_position,
            self.o.store_dtype,
            self.o.pool_window,
            self.o.softmask,
        )


def _sources(inputs: list[FastaInput], intervals: list[Interval] | None, softmask: bool):
    for inp in inputs:
        yield from inp.intervals(intervals, softmask) if intervals else inp.records(softmask)


def check_intervals_found(inputs: list[FastaInput], intervals: list[Interval]) -> None:
    """Every interval's contig must be in some input. Indexed inputs know their contigs up front; streamed
    ones know those read so far, so call this again after the pass."""
    for iv in intervals:
        if not any(inp.has_contig(iv.contig) for inp in inputs):
            names = ", ".join(str(i.path) for i in inputs)
            raise ValueError(f"region {iv.id}: contig '{iv.contig}' is not in {names}")


def _check_resume(path: str, have: dict, want: dict) -> None:
    for k in _RESUME_KEYS:
        if str(have.get(k)) != str(want[k]):
            raise ValueError(
                f"cannot resume {path}: it was written with {k}={have.get(k)!r}, this run has {k}={want[k]!r} "
                "(use --force to start over)"
            )


def embed_files(
    inputs: list[str],
    output: str,
    model: HyenaLM,
    info: ModelInfo,
    dtype: torch.dtype,
    options: EmbedOptions,
    intervals: list[Interval] | None = None,
    resume: bool = False,
    command: str = "",
    progress: bool = True,
) -> EmbedSummary:
    """Embed every record (or every interval) of ``inputs`` into the HDF5 file ``output``.

    The file's root ``complete`` attr is set only when everything is written; a record's ``complete`` attr
    is set last. On bad input the error propagates; the output is removed if this run had completed no record
    in it, else kept, marked incomplete, for ``--resume``.
    """
    t0 = time.perf_counter()
    opened = [open_fasta(p) for p in inputs]
    if intervals and all(inp.indexed for inp in opened):
        check_intervals_found(opened, intervals)
    layer = model.layer_index(options.layer)
    attrs = dict(
        dnaconv_version=__version__,
        model=info.name,
        model_sha256=info.sha256,
        config=model.config.to_json(),
        command=command,
        created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        layer=layer,
        rc=options.rc or "none",
        pool_window=options.pool_window or 0,
        per_position=options.per_position,
        softmask=options.softmask,
        store_dtype=options.store_dtype,
        dtype=str(dtype).replace("torch.", ""),
        chunk_size=options.chunk_size,
        inputs=json.dumps([str(p) for p in inputs]),
        intervals=json.dumps([iv.id for iv in intervals or []]),
    )
    existed = os.path.exists(output)
    if resume and existed:
        with h5py.File(output, "r") as f:
            _check_resume(output, dict(f.attrs), attrs)
    out = EmbeddingFile(output, attrs, resume=resume and existed, compression=options.compression)
    bar = tqdm(
        total=_total_bases(opened, intervals),
        unit="bp",
        unit_scale=True,
        file=sys.stderr,
        disable=not progress,
        dynamic_ncols=True,
        desc="embed",
    )
    emb = Embedder(model, dtype, options, bar)
    done = skipped = bases = 0
    seen: dict[str, str] = {}
    try:
        pending: list = []
        pending_max = 0
        for src in _sources(opened, intervals, options.softmask):
            if src.id in seen:
                raise ValueError(f"duplicate record id '{src.id}' (in {seen[src.id]} and {src.source})")
            seen[src.id] = str(src.source)
            if resume and out.is_complete(src.id):
                skipped += 1
                if src.length:
                    bar.update(src.length)
                continue
            it = src.pieces(options.chunk_size)
            first = next(it, None)
            second = next(it, None) if first is not None else None
            if second is None:  # short: batch it
                tokens, mask = first
                L = len(tokens)
                new_max = max(pending_max, L)
                if pending and (
                    (len(pending) + 1) * new_max > options.chunk_size or len(pending) >= options.batch_size
                ):
                    emb.embed_batch(pending, out)
                    done += len(pending)
                    pending, new_max = [], L
                pending.append((src, tokens, mask))
                pending_max = new_max
                bases += L
            else:
                bases += emb.embed_stream(src, _chain(first, second, it), out)
                done += 1
        if pending:
            emb.embed_batch(pending, out)
            done += len(pending)
        if intervals:
            check_intervals_found(opened, intervals)
        out.finish()
    except BaseException:
        out.close()
        if not (resume and existed) and done == 0:
            os.remove(output)
        raise
    finally:
        bar.close()
        for inp in opened:
            inp.close()
    return EmbedSummary(output, done, skipped, bases, time.perf_counter() - t0)


def _total_bases(inputs: list[FastaInput], intervals: list[Interval] | None) -> int | None:
    """Bases to embed, when every input is indexed (for the progress bar); else None."""
    if not all(inp.indexed for inp in inputs):
        return None
    total = 0
    for inp in inputs:
        contigs = inp.contigs()
        if not intervals:
            total += sum(contigs.values())
            continue
        for iv in intervals:
            if iv.contig in contigs:
                total += (contigs[iv.contig] if iv.end is None else iv.end) - iv.start
    return total


def _chain(first, second, rest):
    yield first
    yield second
    yield from rest
