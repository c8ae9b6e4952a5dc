"""Helpers of the device scripts' A/B timings (``h200_kernels.sh``): gated-convolution inputs on the GPU, one
environment knob's values timed interleaved in one process, and fwd+bwd timed that way against torch.fft."""

from __future__ import annotations

import os
from contextlib import contextmanager

import torch


@contextmanager
def env_set(env: dict):
    """The variables of ``env`` ({variable: value}) set inside the block, unset after it. The key "POINT_PS",
    if there, is not a variable: its table ({kind: {N: ps}}, as ``plan.POINT_PS``) replaces the plan's per-point
    costs inside the block (a cost table's picks timed against another's)."""
    from dnaconv.kernels.fftconv import plan

    env = dict(env)
    table = env.pop("POINT_PS", None)
    saved = {kind: dict(ps) for kind, ps in plan.POINT_PS.items()}
    os.environ.update(env)
    if table:
        plan.POINT_PS.update({kind: {int(n): t for n, t in ps.items()} for kind, ps in table.items()})
    try:
        yield
    finally:
        for key in env:
            del os.environ[key]
        plan.POINT_PS.update(saved)


def bench(fn, grad_to_none=None) -> float:
    """Median ms of ``triton.testing.do_bench`` (``grad_to_none``: leaves whose .grad it resets before each
    call, so that a backward sets them rather than adding to the last call's)."""
    import triton

    return triton.testing.do_bench(fn, grad_to_none=grad_to_none, return_mode="median")


def wall(fn, n: int = 50) -> float:
    """The host's wall time per call of ``fn`` in ms over ``n`` calls, synchronised before and after: for a
    host-bound call (launches, small shapes), what a caller waits, where ``bench`` times the GPU's events."""
    import time

    fn()
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(n):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - t) / n * 1e3


def _spin_after(fn, cycles: int) -> None:
    """``fn`` once (compiled, its caches filled), then the GPU set spinning for ``cycles`` clocks, so that the
    calls after it queue behind the spin instead of waiting for the GPU."""
    fn()
    torch.cuda.synchronize()
    torch.cuda._sleep(cycles)


def host_ms(fn, n: int = 10, cycles: int = 200_000_000) -> float:
    """The host's time per call of ``fn`` in ms, enqueued behind a GPU spin (``torch.cuda._sleep``) so that no
    call waits for the GPU: what a call costs the host alone (launches, torch ops, Python)."""
    import time

    _spin_after(fn, cycles)
    t = time.perf_counter()
    for _ in range(n):
        fn()
    host = (time.perf_counter() - t) / n * 1e3
    torch.cuda.synchronize()
    return host


def host_profile(fn, n: int = 10, rows: int = 45, cycles: int = 200_000_000) -> None:
    """cProfile over ``n`` calls of ``fn`` enqueued behind a GPU spin (as ``host_ms``): the host's time by
    function, sorted by own time, then by cumulative time."""
    import cProfile
    import pstats

    _spin_after(fn, cycles)
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(n):
        fn()
    prof.disable()
    torch.cuda.synchronize()
    for key in ("tottime", "cumulative"):
        pstats.Stats(prof).sort_stats(key).print_stats(rows)


def profile_tables(fn, sorts=(("cpu_time_total", 40), ("self_cpu_time_total", 30)), n: int = 5) -> None:
    """torch.profiler (CPU and CUDA) over ``n`` calls of ``fn``, synchronised at the end; prints one table of its
    ops per (sort key, rows) of ``sorts``: where a call's host and GPU time go."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for _ in range(n):
            fn()
        torch.cuda.synchronize()
    ka = prof.key_averages()
    for key, rows in sorts:
        print(ka.table(sort_by=key, row_limit=rows, max_name_column_width=60), flush=True)


def _profiled(fn, n: int, warmup: int):
    """torch.profiler's record (CUDA activity) of ``n`` calls of ``fn`` after ``warmup``, synchronised."""
    from torch.profiler import ProfilerActivity, profile

    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(n):
            fn()
        torch.cuda.synchronize()
    return prof


def kernel_times(fn, n: int = 10, warmup: int = 3) -> dict:
    """{kernel name (28 characters): GPU ms per call} of ``fn`` by torch.profiler over ``n`` calls after
    ``warmup``, synchronised."""
    ka = _profiled(fn, n, warmup).key_averages()
    return {e.key[:28]: round(e.device_time_total / n / 1e3, 4) for e in ka if e.device_time_total > 0}


def kernel_sequence(fn, n: int = 5, warmup: int = 3) -> list[tuple[str, float]]:
    """[(kernel name (28 characters), GPU ms)] of one call of ``fn``, in launch order: torch.profiler over ``n``
    calls after ``warmup``, each launch's median over the calls (every call launches the same sequence)."""
    prof = _profiled(fn, n, warmup)
    cuda = torch.autograd.DeviceType.CUDA
    kernels = sorted(
        ((e.start_ns(), e.name(), e.duration_ns()) for e in prof.profiler.kineto_results.events()
         if e.device_type() == cuda),
        key=lambda e: e[0],
    )  # fmt: skip
    per = len(kernels) // n
    out = []
    for i in range(per):
        times = sorted(kernels[c * per + i][2] for c in range(n))
        out.append((kernels[i][1][:28], round(times[n // 2] / 1e6, 4)))
    return out


def gated_inputs(B: int, D: int, L: int, K: int, dtype=torch.bfloat16, grad: bool = True, seed: int = 0):
    """(u, k, bias, pre, post, dy) on CUDA: u, the gates and dy in ``dtype``, k (scaled so that outputs are
    O(1)) and bias in fp32; all but dy requiring gradients when ``grad``."""
    torch.manual_seed(seed)
    u, pre, post = (torch.randn(B, D, L, device="cuda", dtype=dtype, requires_grad=grad) for _ in range(3))
    k = (torch.randn(D, K, device="cuda") / K**0.5).requires_grad_(grad)
    bias = torch.randn(D, device="cuda", requires_grad=grad)
    return u, k, bias, pre, post, torch.randn_like(u)


def launch_sequences(cases) -> None:
    """For each (B, D, L, K, modes) of ``cases``, modes among "fwd" and "fwd+bwd": ``fftconv`` on
    ``gated_inputs(B, D, L, K)`` launch by launch (``kernel_sequence``), one line per mode: the total and each
    launch's GPU ms. fwd+bwd resets the inputs' gradients before each call, as the bench does, so that no
    accumulation into them is timed."""
    for B, D, L, K, modes in cases:
        _launch_lines(B, D, L, K, modes)
        torch.cuda.empty_cache()


def _launch_lines(B: int, D: int, L: int, K: int, modes) -> None:
    """``launch_sequences``'s lines for one case."""
    from dnaconv.kernels.fftconv import fftconv

    *leaves, dy = gated_inputs(B, D, L, K)

    def step():
        for x in leaves:
            x.grad = None
        fftconv(*leaves).backward(dy)

    for mode in modes:
        if mode == "fwd":
            with torch.no_grad():
                seq = kernel_sequence(lambda: fftconv(*leaves))
        else:
            seq = kernel_sequence(step)
        print(f"{B}x{D}x{L} K={K} {mode}: total {sum(t for _, t in seq):.3f} ms |",
              " ".join(f"{name.strip()}={ms:.3f}" for name, ms in seq), flush=True)  # fmt: skip


def interleaved(env: str, values, fn, label: str = "", grad_to_none=None) -> list[str]:
    """``fn`` timed with the variable ``env`` at each of ``values`` in turn (pass them twice to interleave), as
    "label+value ms" strings; the variable is restored afterwards."""
    saved = os.environ.get(env)
    out = []
    try:
        for v in values:
            os.environ[env] = v
            out.append(f"{label}{v} {bench(fn, grad_to_none):.3f}")
    finally:
        if saved is None:
            os.environ.pop(env, None)
        else:
            os.environ[env] = saved
    return out


def interleaved_envs(fn, cfgs: dict, reps: int = 2, grad_to_none=None) -> str:
    """``fn`` timed under each configuration of ``cfgs`` ({name: {variable: value}}) in turn, ``reps`` rounds
    interleaved, as "name ms ..." with each one's fastest round; the variables are unset afterwards."""
    out = {name: [] for name in cfgs}
    for _ in range(reps):
        for name, env in cfgs.items():
            with env_set(env):
                out[name].append(bench(fn, grad_to_none))
    return " ".join(f"{name} {min(ts):.3f}" for name, ts in out.items())


def config_errors(fn, ref, cfgs: dict) -> list[str]:
    """Relative error of ``fn()`` against ``ref`` under each configuration of ``cfgs`` ({name: {variable:
    value}}), as "err name e" strings; the variables are unset afterwards."""
    out = []
    for name, env in cfgs.items():
        with env_set(env):
            y = fn().float()
        out.append(f"err {name} {((y - ref.float()).norm() / ref.float().norm()).item():.2e}")
    return out


def forward_against_torch(args, cfgs: dict) -> tuple[list[str], float]:
    """For the convolution inputs ``args`` (u, k, bias, pre, post): ``fftconv``'s relative error against the
    fp32 torch.fft reference under each configuration of ``cfgs`` (``config_errors``), and the bf16 torch.fft
    reference's forward ms; without gradients."""
    from dnaconv.kernels.fftconv import fftconv, naive_fftconv

    with torch.no_grad():
        ref = naive_fftconv(*(x.float() for x in args))
        errs = config_errors(lambda: fftconv(*args), ref, cfgs)
        del ref
        return errs, bench(lambda: naive_fftconv(*args))


def forward_sweeps(cases, reps: int = 3) -> None:
    """For each (B, D, L, K, cfgs) of ``cases``: the forward on ``gated_inputs(B, D, L, K)`` under each
    configuration of ``cfgs`` ({name: {variable: value}}), ``reps`` rounds interleaved (``interleaved_envs``),
    with torch.fft's time and each configuration's error (``forward_against_torch``), printed as one line."""
    from dnaconv.kernels.fftconv import fftconv

    for B, D, L, K, cfgs in cases:
        u, k, bias, pre, post, _ = gated_inputs(B, D, L, K, grad=False)
        args = (u, k, bias, pre, post)
        errs, t = forward_against_torch(args, cfgs)
        with torch.no_grad():
            line = interleaved_envs(lambda args=args: fftconv(*args), cfgs, reps)
        print(f"{B}x{D}x{L} K={K} fwd: torch {t:.3f} {line} | " + " ".join(errs), flush=True)
        del u, k, bias, pre, post, args
        torch.cuda.empty_cache()


def fwd_bwd_sweeps(cases, reps: int = 3) -> None:
    """``forward_sweeps`` for fwd+bwd: torch.fft's autograd, then ``fftconv``'s under each configuration of
    ``cfgs``, interleaved, the inputs' gradients reset before each call; one line per case."""
    from dnaconv.kernels.fftconv import fftconv, naive_fftconv

    for B, D, L, K, cfgs in cases:
        u, k, bias, pre, post, dy = gated_inputs(B, D, L, K)
        leaves = [u, k, bias, pre, post]
        t = bench(lambda leaves=leaves, dy=dy: naive_fftconv(*leaves).backward(dy), leaves)
        line = interleaved_envs(
            lambda leaves=leaves, dy=dy: fftconv(*leaves).backward(dy), cfgs, reps, leaves
        )
        print(f"{B}x{D}x{L} K={K} fwd+bwd: torch {t:.3f} {line}", flush=True)
        del u, k, bias, pre, post, dy, leaves
        torch.cuda.empty_cache()


def fwd_bwd_peaks(cases) -> None:
    """For each (B, D, L, K, cfgs) of ``cases``: the device allocator's peak over one fwd+bwd on
    ``gated_inputs(B, D, L, K)``, above what the inputs and dy hold, in GiB, and (held) what the forward's
    output and what it keeps for the backward hold between the two: torch.fft's autograd, then ``fftconv``
    under each configuration of ``cfgs``; one line per case."""
    from dnaconv.kernels.fftconv import fftconv, naive_fftconv

    for B, D, L, K, cfgs in cases:
        u, k, bias, pre, post, dy = gated_inputs(B, D, L, K)
        line = []
        for name, conv, env in [("torch", naive_fftconv, {})] + [(n, fftconv, e) for n, e in cfgs.items()]:
            with env_set(env):
                torch.cuda.synchronize()
                base = torch.cuda.memory_allocated()
                torch.cuda.reset_peak_memory_stats()
                y = conv(u, k, bias, pre, post)
                torch.cuda.synchronize()
                held = torch.cuda.memory_allocated() - base
                y.backward(dy)
                del y
                torch.cuda.synchronize()
                peak = torch.cuda.max_memory_allocated() - base
                line.append(f"{name} {peak / 2**30:.2f} (held {held / 2**30:.2f})")
            for x in (u, k, bias, pre, post):
                x.grad = None
        print(f"{B}x{D}x{L} K={K} fwd+bwd peak GiB above the inputs:", " ".join(line), flush=True)
        del u, k, bias, pre, post, dy
        torch.cuda.empty_cache()


def fwd_bwd_knob(shape, env: str, values, label: str = "", accumulate: bool = False) -> str:
    """fwd+bwd on ``gated_inputs(*shape)``: torch.fft's autograd, then ``fftconv`` with ``env`` at each of
    ``values`` (``interleaved``), as one "torch ms label+value ms ..." line. The inputs' gradients are reset
    before each call (``bench``), or, with ``accumulate``, added to (as the timings of the earlier sessions were)."""
    from dnaconv.kernels.fftconv import fftconv, naive_fftconv

    u, k, bias, pre, post, dy = gated_inputs(*shape)
    leaves = None if accumulate else [u, k, bias, pre, post]
    line = [f"torch {bench(lambda: naive_fftconv(u, k, bias, pre, post).backward(dy), leaves):.3f}"]
    line += interleaved(env, values, lambda: fftconv(u, k, bias, pre, post).backward(dy), label, leaves)
    return " ".join(line)


def point_costs(backward: bool = False, L: int = 2_300_000, D: int = 32, hbm_backward: bool = False) -> dict:
    """``plan.POINT_PS``'s data: ps per transformed point at L x D, bf16 gated, on chip at N = 512-4096 (the
    forward at K = 128; with ``backward``, the fused backward from z up to N = 2048) and through HBM at N = 8192
    to 2^18 (the forward at K = 2048, paired; with ``hbm_backward``, the HBM backward from z at each size as its
    own plan frames it, "hbm_bwd"), each size forced by its variable; points counted in the blocks the kernels
    frame (``plan.block_overlap``); printed as it goes, returned as {"forward N" | "backward N" | "hbm N" |
    "hbm_bwd N": ps}."""
    from dnaconv.kernels.fftconv.monarch import _fftconv_bwd, _fftconv_fwd
    from dnaconv.kernels.fftconv.monarch_hbm import hbm_fftconv_fwd
    from dnaconv.kernels.fftconv.monarch_hbm_bwd import hbm_fftconv_bwd
    from dnaconv.kernels.fftconv.plan import block_overlap, hbm_plan

    def points(n, k_eff):
        return -(-L // (n - block_overlap(n, k_eff, L))) * n * D

    out = {}
    with torch.no_grad():
        u, k, bias, pre, post, dy = gated_inputs(1, D, L, 128, grad=False)
        for n in (512, 1024, 2048, 4096):
            os.environ["DNACONV_MONARCH_FFT"] = str(n)
            pts = points(n, 128)
            t = bench(lambda: _fftconv_fwd(u, k, bias, pre, post, None))
            out[f"forward {n}"] = t * 1e9 / pts
            line = f"N={n}: forward {t:.3f} ms {t * 1e9 / pts:.2f} ps/pt"
            if backward and n <= 2048:
                z = torch.empty_like(u)
                _fftconv_fwd(u, k, bias, pre, post, None, None, 1.0, z)
                t = bench(lambda z=z: _fftconv_bwd(dy, u, k, bias, pre, post, None, None, z))
                out[f"backward {n}"] = t * 1e9 / pts
                line += f" | backward (z) {t:.3f} ms {t * 1e9 / pts:.2f} ps/pt"
            print(line, flush=True)
        del os.environ["DNACONV_MONARCH_FFT"]
        u, k, bias, pre, post, dy = gated_inputs(1, D, L, 2048, grad=False)
        for n in (8192, 16384, 32768, 65536, 131072, 262144):
            os.environ["DNACONV_HBM_FFT"] = str(n)
            p = hbm_plan(L, 2048)
            pts = points(p.n, 2048)
            t = bench(lambda p=p: hbm_fftconv_fwd(u, k, bias, pre, post, plan=p))
            out[f"hbm {p.n}"] = t * 1e9 / pts
            line = f"HBM N={p.n} cols {p.cols} row {p.n1}x{p.n2}: {t:.3f} ms {t * 1e9 / pts:.2f} ps/pt"
            b = hbm_plan(L, 2048, kind="hbm_bwd") if hbm_backward else None
            if b is not None and b.n == n:
                z = hbm_fftconv_fwd(u, k, bias, pre, None)  # conv + bias v: the z the forward keeps
                t = bench(lambda z=z: hbm_fftconv_bwd(dy, u, k, bias, pre, post, None, z))
                pts = points(b.n, 2048)
                out[f"hbm_bwd {b.n}"] = t * 1e9 / pts
                line += f" | backward (z, rows {b.n1}x{b.n2}) {t:.3f} ms {t * 1e9 / pts:.2f} ps/pt"
            print(line, flush=True)
        del os.environ["DNACONV_HBM_FFT"]
    return out


def grad_errors(shapes=((1, 32, 2_300_000, 8192), (16, 128, 8192, 8192), (32, 1024, 2048, 2048),
                        (1, 64, 1 << 20, 65536))) -> None:  # fmt: skip
    """Every gradient of ``fftconv``'s fwd+bwd (bf16 gated) at each (B, D, L, K) against float64 torch.fft's,
    with bf16 torch.fft's error alongside (``bench.fftconv_errors``); one printed line per shape, with the
    backward that ran."""
    from dnaconv.bench import GRAD_NAMES, fftconv_errors
    from dnaconv.kernels.fftconv import uses_triton
    from dnaconv.kernels.fftconv.plan import backward_kind

    for B, D, L, K in shapes:
        u, k, bias, pre, post, dy = gated_inputs(B, D, L, K)
        e = fftconv_errors("fwd+bwd", (u, k, bias, pre, post), dy)
        line = " ".join(
            f"{n} {e['grad_errors'][n]:.1e} (torch {e['baseline_grad_errors'][n]:.1e})" for n in GRAD_NAMES
        )
        kind = backward_kind(L, K, 0, 1.0, B * D * L, B)
        print(f"{B}x{D}x{L} K={K} backward={kind} triton={uses_triton(u, K, 0, True)}: {line}", flush=True)
        del u, k, bias, pre, post, dy
        torch.cuda.empty_cache()
