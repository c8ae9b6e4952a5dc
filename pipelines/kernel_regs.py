"""Registers, spills and shared memory of the fftconv Triton kernels, compiled for an sm_90 GPU (the H200) on a
machine without one: ``triton.compile`` for a CUDA target runs ptxas, which ships with triton, and
``cuobjdump -res-usage`` reads the result. This is how the register work on the Monarch kernels was done
without spending GPU time; times still have to be measured on the GPU (``pipelines/h200_kernels.sh``).

    python -m dnaconv.pipelines.kernel_regs                  # the launch table's kernels, the HBM row passes
    python -m dnaconv.pipelines.kernel_regs --maxnreg 168    # with a register cap
    python -m dnaconv.pipelines.kernel_regs --divisible D,L,K           # typical shapes, blocks of K' - 1
    python -m dnaconv.pipelines.kernel_regs --divisible D,L,K,C,KM1     # and aligned blocks (the default)

Prints one line per kernel and launch shape: registers per thread, the stack frame (spilled bytes), shared
memory, global load and store instructions per thread (PTX). The launch shapes are those ``_launch_shape``
picks for long sequences (many blocks).
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import re
import subprocess
import tempfile

import triton

from dnaconv.kernels.fftconv.plan import MAX_BWD_FFT_SIZE, half_backward, split_backward

# (N1, N2) of the on-chip plans: N = 512 ... 4096
SIZES = ((16, 32), (32, 32), (32, 64), (64, 64))
_HALF_PTRS = (
    "u_ptr",
    "pre_ptr",
    "post_ptr",
    "hist_ptr",
    "y_ptr",
    "dy_ptr",
    "du_ptr",
    "dpre_ptr",
    "dpost_ptr",
    "z_ptr",
)
# the DFT matrices' pointers: fp16 for the fp16-operand (PRECISION 2) kernels reported here (dft._matrix_dtype)
_HALF_MATRICES = {n: "*fp16" for n in ("f1r_ptr", "f1i_ptr", "f2r_ptr", "f2i_ptr", "g2r_ptr", "g2i_ptr")}
_INTS = {
    "D",
    "L",
    "H",
    "C",
    "KM1",
    "K",
    "n_groups",
    "n_blocks",
    "NQ",
    "ROWS",
    "PER",
    "n_chunks",
    "n_sblk",
    "RL",
    "PL",
    "KROWS",
    "P1",
    "Q",
}


def compile_sm90(
    fn,
    constexprs: dict,
    num_warps: int,
    maxnreg: int = 0,
    num_stages: int = 0,
    ptr_types: dict | None = None,
    divisible: tuple = (),
    passed: tuple = (),
):
    """Compile the @triton.jit ``fn`` for sm_90: bf16 pointers for the sequence tensors, fp32 for the rest,
    int32 scalars, ``constexprs`` by name (the kernel's defaults for those not given); ``num_stages`` as the
    launcher passes it (0: Triton's default); ``ptr_types``: other pointee types by name (e.g. "*fp16").
    Every pointer is marked 16-byte aligned, as the launcher marks a torch tensor's: without it the build has
    no vector loads or stores, unlike the one that runs. ``divisible``: the integer arguments marked divisible
    by 16, as the launcher specialises an integer that is (e.g. L = 2.3M, D = 32). ``passed``: arguments that
    default to None (a constexpr) but are given, as pointers or integers."""
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    params = inspect.signature(fn.fn).parameters
    names = list(params)
    defaults = {
        k: p.default
        for k, p in params.items()
        if p.default is not inspect.Parameter.empty and k not in passed
    }
    constexprs = {**defaults, **constexprs}
    sig = {}
    for name in names:
        if name in constexprs:
            sig[name] = "constexpr"
        elif name in _INTS:
            sig[name] = "i32"
        else:
            sig[name] = "*bf16" if name in _HALF_PTRS else "*fp32"
        sig[name] = (ptr_types or {}).get(name, sig[name])
    aligned = {
        (i,): [["tt.divisibility", 16]]
        for i, n in enumerate(names)
        if sig[n].startswith("*") or n in divisible
    }
    src = ASTSource(
        fn=fn, signature=sig, constexprs={(names.index(k),): v for k, v in constexprs.items()}, attrs=aligned
    )
    options = {"num_warps": num_warps, **({"maxnreg": maxnreg} if maxnreg else {})}
    if num_stages:
        options["num_stages"] = num_stages
    return triton.compile(src, target=GPUTarget("cuda", 90, 32), options=options)


def usage(kernel) -> dict:
    """Registers per thread, stack frame bytes (spills), shared memory bytes and global load and store
    instructions per thread (in the PTX) of a compiled kernel."""
    cuobjdump = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "cuobjdump")
    with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
        f.write(kernel.asm["cubin"])
        f.flush()
        out = subprocess.run([cuobjdump, "-res-usage", f.name], capture_output=True, text=True, check=True)
    m = re.search(r"REG:(\d+) STACK:(\d+)", out.stdout)
    if m is None:
        raise RuntimeError(f"cuobjdump printed no resource usage: {out.stdout[:200]}")
    ptx = kernel.asm["ptx"]
    return dict(
        regs=int(m.group(1)),
        stack=int(m.group(2)),
        shared=kernel.metadata.shared,
        loads=len(re.findall(r"\bld\.global", ptx)),
        stores=len(re.findall(r"\bst\.global", ptx)),
    )


def report(maxnreg: int = 0, sizes=SIZES, divisible: tuple = ()) -> list[dict]:
    """One row per (kernel, N1 x N2) at the launch table's shape for long sequences, and for sequences of one
    block ("short": segments of several sequences per program; the forward's half tiles where the launcher
    takes them); the split backward's two launches where it runs (N = 4096; every N with DNACONV_MONARCH_SPLIT=1).
    The fused backward loads z from the forward, as in training (SAVEZ; DNACONV_MONARCH_SAVEZ=0: recomputed);
    its short rows take half tiles where the launcher would (not with DNACONV_MONARCH_BWD_HALF=0).
    ``divisible``: the integer arguments marked divisible by 16 (``compile_sm90``)."""
    if os.environ.get("TRITON_INTERPRET") == "1":
        raise SystemExit("Error: TRITON_INTERPRET=1 is set: kernels must be compiled, not interpreted")
    from dnaconv.kernels.fftconv.monarch import (
        _fftconv_bwd_kernel,
        _fftconv_fwd_kernel,
        _half_tiles,
        _hold,
        _launch_shape,
    )
    from dnaconv.kernels.fftconv.monarch_hbm import _lazy, _row_kernel
    from dnaconv.kernels.fftconv.monarch_hbm_bwd import _dk_shape, _row_dk_kernel

    flags = dict(HAS_PRE=True, HAS_POST=True, HAS_HIST=False, HAS_BIAS=True, PRECISION=2)
    kernels = (  # (row name, kernel, variant, the launch table it takes)
        ("forward", _fftconv_fwd_kernel, "forward", "forward"),
        ("fwd short", _fftconv_fwd_kernel, "short", "forward"),
        ("backward", _fftconv_bwd_kernel, "backward", "backward"),
        ("bwd short", _fftconv_bwd_kernel, "backward short", "backward"),
        ("hbm rows", _row_kernel, "rows", "rows"),
        ("hbm dk", _row_dk_kernel, "dk", "dk"),
        ("bwd part 1", _fftconv_bwd_kernel, "part 1", "backward"),
        ("bwd part 2", _fftconv_bwd_kernel, "part 2", "backward"),
    )
    rows = []
    for n1, n2 in sizes:
        for name, fn, kind, launch in kernels:
            if kind == "backward" and n1 * n2 > MAX_BWD_FFT_SIZE:
                continue  # no fused backward above MAX_BWD_FFT_SIZE over several blocks
            if kind == "backward short" and not (
                n1 * n2 <= MAX_BWD_FFT_SIZE or half_backward(n1 * n2, n1 * n2 // 2, n1 * n2 // 2)
            ):
                continue  # one block above it: only on half tiles (``plan.half_backward``)
            if kind.startswith("part") and not split_backward(n1 * n2, 1 << 20, n1 * n2 // 2):
                continue
            stages, half = 0, False
            if launch == "dk":  # the HBM backward's row pass: its own shape, SEGS segments, one stage
                G, segs, warps = _dk_shape(n1, n2, 1 << 20, 1 << 20)
                opts, stages = {}, 1
            else:
                # one-block sequences framed on half tiles where the launchers would (their launch shape too)
                half = kind in ("short", "backward short") and _half_tiles(n1, n2, launch)
                G, warps, opts = _launch_shape(n1, n2, 1 << 20, launch, half)
            cx = dict(G=G, N1=n1, N2=n2)
            if kind in ("forward", "short"):
                hold = _hold(G, n1, n2, warps) or half
                cx.update(flags, M=n2, HOLD=hold, HALF=half, ACROSS=kind == "short")
            elif kind.startswith("backward"):
                short = kind == "backward short"
                saved = os.environ.get("DNACONV_MONARCH_SAVEZ") != "0"  # z from the forward (training)
                hold = _hold(G, n1, n2, warps, "backward", short)
                cx.update(flags, HOLD=hold, ACROSS=short, PART=0, HAS_Z=saved, HALF=half)
            elif kind.startswith("part"):
                cx.update(flags, HOLD=_hold(G, n1, n2, warps, "backward"), ACROSS=False, PART=int(kind[-1]))
            elif kind == "dk":
                cx.update(SEGS=segs, PRECISION=2, LAZY=_lazy(n1, n2))
            else:
                cx.update(M=n2, PRECISION=2, LAZY=_lazy(n1, n2))
            cap = maxnreg or opts.get("maxnreg", 0)
            k = compile_sm90(fn, cx, warps, cap, stages, _HALF_MATRICES, divisible)
            rows.append(dict(kernel=name, n1=n1, n2=n2, G=G, warps=warps, maxnreg=cap, **usage(k)))
    return rows


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--maxnreg", type=int, default=0, help="cap registers per thread (default: the launch table's)"
    )
    ap.add_argument(
        "--size", action="append", default=None, help="N1xN2, e.g. 16x32 (repeatable; default: all)"
    )
    ap.add_argument(
        "--divisible",
        default="",
        help="integer arguments to mark divisible by 16, as the launcher specialises them, e.g. D,L,K "
        "(typical shapes, blocks of K' - 1) or D,L,K,C,KM1 (the aligned blocks, plan.block_overlap)",
    )
    ap.add_argument("--json", action="store_true", help="print the rows as JSON")
    a = ap.parse_args(argv)
    sizes = tuple(tuple(int(x) for x in v.split("x")) for v in a.size) if a.size else SIZES
    rows = report(a.maxnreg, sizes, tuple(x for x in a.divisible.split(",") if x))
    if a.json:
        print(json.dumps(rows))
        return
    for r in rows:
        print(
            f"{r['kernel']:9} N = {r['n1'] * r['n2']:4} ({r['n1']} x {r['n2']}) G = {r['G']} warps = {r['warps']}"
            f" cap = {r['maxnreg'] or '-':>3}: {r['regs']:3} registers, {r['stack']:4} B stack, "
            f"{r['shared']} B shared, {r['loads']} loads and {r['stores']} stores"
        )


if __name__ == "__main__":
    main()
