"""Benchmarks behind `dnaconv bench`: each entry times a fast path and its baseline side by side.

``embed``: the model's hidden states over one long sequence, streamed in chunks with carried state (what
`dnaconv embed` runs) against the baseline, one full-length forward pass (what a non-streaming HyenaDNA
runner does). Forward only, no file I/O; peak memory is the device allocator's peak on CUDA and the process
peak RSS on CPU.
"""

from __future__ import annotations

import gc
import resource
import time

import numpy as np
import torch

from dnaconv.models.hyena import HyenaLM
from dnaconv.streaming import StreamingRunner

__all__ = ["BENCHMARKS", "bench_embed"]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_reset(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _peak_gib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def _time(fn, device, repeats):
    fn()  # warm-up: kernels compiled, filters and spectra cached
    _sync(device)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def bench_embed(
    model: HyenaLM,
    length: int,
    chunk_sizes: list[int],
    dtype: torch.dtype,
    repeats: int = 3,
    baseline: bool = True,
    seed: int = 0,
) -> list[dict]:
    device = next(model.parameters()).device
    tokens = torch.from_numpy(np.random.default_rng(seed).integers(0, 4, (1, length), dtype=np.uint8))

    def row(mode, chunk, fn):
        _peak_reset(device)
        r = dict(bench="embed", mode=mode, chunk_size=chunk, length=length)
        try:
            t = _time(fn, device, repeats)
        except torch.OutOfMemoryError:
            return {**r, "seconds": None, "mbp_per_s": None, "peak_gib": None, "error": "out of memory"}
        return {**r, "seconds": t, "mbp_per_s": length / t / 1e6, "peak_gib": _peak_gib(device)}

    runner = StreamingRunner(model, -1, dtype)

    def streamed(C):
        runner.reset()
        for c in tokens.split(C, dim=1):
            runner.step(c).float().cpu()

    rows = [row("streamed", C, lambda C=C: streamed(C)) for C in chunk_sizes]
    if baseline:
        rows.append(row("full (baseline)", length, lambda: runner.full(tokens).float().cpu()))
    return rows


BENCHMARKS = {"embed": bench_embed}
