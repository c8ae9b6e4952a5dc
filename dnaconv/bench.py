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

from dnaconv.kernels.testing import rel_rms_error
from dnaconv.models.hyena import HyenaLM
from dnaconv.streaming import StreamingRunner

__all__ = ["BENCHMARKS", "bench_embed", "bench_fftconv", "fftconv_errors"]


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


HBM_BYTES_PER_S = 4.3e12  # H200 device-to-device copy, measured here (device KINDS.md, 2026-10-28)


def _fftconv_case(kind: str, L: int, K: int, total: int) -> tuple[int, int, int, int]:
    bd = max(1, total // L)
    B = max(1, bd // 1024)
    return B, bd // B, L, K


def fftconv_cases(total: int = 1 << 26) -> list[tuple[str, int, int, int, int]]:
    """The issue's grid: full filters (K = L) from 1K to 4M, partial K in {4K, 16K, 64K} at L in {1M, 2.3M};
    B * D * L about ``total``."""
    cases = [
        ("full", *_fftconv_case("full", L, L, total))
        for L in [1 << p for p in (10, 12, 14, 16, 18, 20, 21, 22)]
    ]
    for L in (1 << 20, 2_300_000):
        cases += [("partial", *_fftconv_case("partial", L, K, total)) for K in (1 << 12, 1 << 14, 1 << 16)]
    return cases


def _bench_ms(fn, grad_to_none=None, device=torch.device("cuda")) -> float:
    """Median ms of ``triton.testing.do_bench`` on CUDA (its ``grad_to_none``: leaves whose .grad is reset
    before each call), of a few timed calls elsewhere; NaN when the GPU runs out of memory."""
    if device.type != "cuda":

        def reset_and_run():
            for x in grad_to_none or ():
                x.grad = None
            fn()

        return _time(reset_and_run, device, 3) * 1e3
    import triton

    try:
        return triton.testing.do_bench(
            fn, warmup=25, rep=100, grad_to_none=grad_to_none, return_mode="median"
        )
    except torch.OutOfMemoryError:
        return float("nan")
    finally:
        torch.cuda.empty_cache()


GRAD_NAMES = ("du", "dk", "dbias", "dpre", "dpost")


def fftconv_errors(mode: str, args: tuple, dy: torch.Tensor | None, spectra: tuple = (None, None)) -> dict:
    """``bench_fftconv``'s error fields for ``mode`` on the convolution inputs ``args`` (u, k, bias, pre, post):
    relative RMS errors of ``fftconv`` and of the reference in the input dtype against the reference in
    float64; of the output ("fwd", each side given its cached filter spectrum from ``spectra`` where there is
    one), or of each gradient for the output gradient ``dy`` and the worst of them."""
    from dnaconv.kernels.fftconv import fftconv, naive_fftconv

    if mode == "fwd":
        with torch.no_grad():
            ref = naive_fftconv(*(x.double() for x in args))
            return dict(
                rel_err=rel_rms_error(fftconv(*args, k_f=spectra[0]), ref),
                baseline_rel_err=rel_rms_error(naive_fftconv(*args, k_f=spectra[1]), ref),
            )

    def grads(fn, double=False):
        xs = [(x.detach().double() if double else x.detach().clone()).requires_grad_() for x in args]
        fn(*xs).backward(dy.double() if double else dy)
        return [x.grad for x in xs]

    ref = grads(naive_fftconv, double=True)
    out = {}
    for prefix, fn in (("", fftconv), ("baseline_", naive_fftconv)):
        errs = {name: rel_rms_error(g, r) for name, g, r in zip(GRAD_NAMES, grads(fn), ref)}
        out.update({f"{prefix}grad_errors": errs, f"{prefix}rel_err": max(errs.values())})
    return out


def _cached_row(
    row: dict, args: tuple, full: tuple | None, fftconv_spectrum, filter_spectrum, device
) -> dict:
    """``bench_fftconv``'s "cached" row after the forward ``row``: both sides given their filter's spectrum,
    computed once beforehand (a full-length filter's too for "vs full"), and the error of the output."""
    from dnaconv.kernels.fftconv import fftconv, naive_fftconv

    u, k, bias = args[:3]
    with torch.no_grad():
        kf, kf_ref = fftconv_spectrum(k, u, 0, 1.0, bias), filter_spectrum(k, u.shape[-1])
        fast = _bench_ms(lambda: fftconv(*args, k_f=kf), None, device)
        base = _bench_ms(lambda: naive_fftconv(*args, k_f=kf_ref), None, device)
        out = dict(row, mode="cached", ms=fast, baseline_ms=base, speedup=base / fast, x_floor=fast / row["floor_ms"],
                   baseline_x_floor=base / row["floor_ms"], **fftconv_errors("fwd", args, None, (kf, kf_ref)))  # fmt: skip
        if full is not None:
            kf_full = filter_spectrum(full[1], u.shape[-1])
            out["full_baseline_ms"] = _bench_ms(lambda: naive_fftconv(*full, k_f=kf_full), None, device)
            out["vs_full"] = out["full_baseline_ms"] / fast
    return out


def bench_fftconv(
    dtypes: tuple[torch.dtype, ...] = (torch.bfloat16, torch.float32),
    total: int = 1 << 26,
    backward: bool = True,
    cases: list | None = None,
    fractions: tuple[float, ...] = (),
    device: str = "cuda",
    cached: bool = False,
) -> list[dict]:
    """Gated causal convolution (pre-gate, post-gate, skip) through ``fftconv`` (Triton where it fits)
    against the torch.fft reference, side by side; median of ``triton.testing.do_bench``.

    Errors are relative RMS errors against the reference in float64: of the output in forward rows
    (``rel_err``), of the worst gradient in fwd+bwd rows (each gradient's in ``grad_errors``); the reference's
    own in the input dtype alongside (``baseline_...``). Partial filters also time torch.fft with a
    full-length filter at the same L (``full_baseline_ms``), and each of ``fractions`` adds a forward row of
    the frequency-sparse convolution keeping that fraction. ``cached`` adds after each forward row one of mode
    "cached": the forward with the filter's spectrum computed once beforehand, as a model at inference does
    (``fftconv_spectrum`` with the bias; torch.fft given ``filter_spectrum``, the full-length baseline too).
    ``device``: CUDA for the kernels; elsewhere both sides run the reference (a check of the bench itself)."""
    from dnaconv.kernels.fftconv import fftconv, fftconv_spectrum, filter_spectrum, naive_fftconv, uses_triton

    device = torch.device(device)
    rows = []
    for kind, B, D, L, K in cases or fftconv_cases(total):
        for dtype in dtypes:
            g = torch.Generator(device).manual_seed(0)
            u, pre, post = (torch.randn(B, D, L, device=device, generator=g).to(dtype) for _ in range(3))
            k = torch.randn(D, K, device=device, generator=g) / K**0.5
            bias = torch.randn(D, device=device, generator=g)
            args = (u, k, bias, pre, post)
            elem = u.element_size()
            for mode in ("fwd", "fwd+bwd") if backward else ("fwd",):
                # the implementation fftconv takes (with gradients, where the backward runs matters)
                impl = "triton" if uses_triton(u, K, needs_grad=mode == "fwd+bwd") else "naive"
                times = {}
                dy = torch.randn(B, D, L, device=device, generator=g).to(dtype)
                for name, fn in (("fast", fftconv), ("baseline", naive_fftconv)):
                    xs = None
                    if mode == "fwd":

                        def run(fn=fn, args=args):
                            return fn(*args)
                    else:
                        xs = [x.detach().clone().requires_grad_() for x in args]

                        def run(fn=fn, xs=xs, dy=dy):
                            fn(*xs).backward(dy)

                    # fwd+bwd: the gradients are set, not added to those of the last call (a model's
                    # activations get theirs once; the leaves' accumulation is the same add for both)
                    times[name] = _bench_ms(run, xs, device)
                nbytes = (4 if mode == "fwd" else 11) * B * D * L * elem  # u, pre, post, y (+ dy, grads)
                floor_ms = nbytes / HBM_BYTES_PER_S * 1e3
                row = dict(
                    bench="fftconv",
                    kind=kind,
                    mode=mode,
                    dtype=str(dtype).replace("torch.", ""),
                    B=B,
                    D=D,
                    L=L,
                    K=K,
                    impl=impl,
                    ms=times["fast"],
                    baseline_ms=times["baseline"],
                    speedup=times["baseline"] / times["fast"],
                    floor_ms=floor_ms,
                    x_floor=times["fast"] / floor_ms,
                    baseline_x_floor=times["baseline"] / floor_ms,
                )
                try:
                    row.update(fftconv_errors(mode, args, dy))
                except torch.OutOfMemoryError:  # the float64 reference did not fit
                    row.update(rel_err=float("nan"), baseline_rel_err=float("nan"))
                full = None
                if mode == "fwd" and kind == "partial":
                    k_full = torch.randn(D, L, device=device, generator=g) / L**0.5
                    full = (u, k_full, bias, pre, post)
                    row["full_baseline_ms"] = _bench_ms(lambda full=full: naive_fftconv(*full), None, device)
                    row["vs_full"] = row["full_baseline_ms"] / row["ms"]
                rows.append(row)
                if mode == "fwd" and cached:
                    rows.append(_cached_row(row, args, full, fftconv_spectrum, filter_spectrum, device))
                full = k_full = None
                if mode == "fwd":
                    for f in fractions:
                        try:
                            t = _bench_ms(lambda f=f, a=args: fftconv(*a, freq_fraction=f), None, device)
                        except ValueError:  # the block size leaves fewer than 16 columns at this fraction
                            t = float("nan")
                        dense = {k: v for k, v in row.items() if "rel_err" not in k and "full" not in k}
                        rows.append({**dense, "kind": f"sparse{f:g}", "fraction": f, "dense_ms": row["ms"],
                                     "ms": t, "speedup": row["baseline_ms"] / t, "x_floor": t / floor_ms,
                                     "impl": "triton" if uses_triton(u, K, fraction=f) else "naive"})  # fmt: skip
            del args
            if device.type == "cuda":
                torch.cuda.empty_cache()
    return rows


BENCHMARKS = {"embed": bench_embed, "fftconv": bench_fftconv}
