"""`dnaconv bench`: fast paths timed side by side with their PyTorch baselines."""

from __future__ import annotations

import math

import click

from dnaconv.cli_common import device_name, device_options, handle_errors


@click.group()
def bench():
    """Benchmarks: fast paths side by side with their PyTorch baselines (JSON out).

    \b
    Example:
        dnaconv bench embed --length 2300000 --json embed.json
    """


@bench.command("embed")
@click.option(
    "--model", "model_path", type=click.Path(exists=True), help="Model directory (default: embedded)."
)
@click.option("--length", default=2_300_000, show_default=True, type=click.IntRange(min=1), help="Bases.")
@click.option(
    "--chunk-size",
    "chunk_sizes",
    multiple=True,
    type=click.IntRange(min=1),
    help="Chunk sizes to time (repeatable) [default: 65536 and 262144].",
)
@click.option("--no-baseline", is_flag=True, help="Skip the full-length forward pass.")
@click.option("--repeats", default=3, show_default=True, type=click.IntRange(min=1))
@click.option("--json", "json_out", type=click.Path(dir_okay=False), help="Also write the rows to this file.")
@device_options
@handle_errors
def bench_embed_cmd(model_path, length, chunk_sizes, no_baseline, repeats, json_out, dtype, device):
    """Time streamed embedding against one full-length forward pass (forward only, no I/O).

    \b
    Example:
        dnaconv bench embed --length 2300000 --json embed.json
    """
    import json

    from dnaconv.bench import bench_embed
    from dnaconv.checkpoint import load_model
    from dnaconv.device import resolve_device, resolve_dtype

    dev = resolve_device(device)
    dt = resolve_dtype(dtype, dev)
    model, info = load_model(model_path, device=dev)
    rows = bench_embed(model, length, list(chunk_sizes) or [65536, 262144], dt, repeats, not no_baseline)
    meta = dict(model=info.name, model_sha256=info.sha256, device=device_name(dev), dtype=str(dt))
    rows = [{**meta, **r} for r in rows]
    if json_out:
        with open(json_out, "w") as f:
            json.dump(rows, f, indent=1)
    click.echo(f"{'mode':<16} {'chunk':>9} {'length':>10} {'seconds':>9} {'Mbp/s':>8} {'peak GiB':>9}")
    for r in rows:
        if r.get("error"):
            click.echo(f"{r['mode']:<16} {r['chunk_size']:>9} {r['length']:>10} {r['error']}")
        else:
            click.echo(
                f"{r['mode']:<16} {r['chunk_size']:>9} {r['length']:>10} {r['seconds']:>9.3f} "
                f"{r['mbp_per_s']:>8.3f} {r['peak_gib']:>9.2f}"
            )


@bench.command("fftconv")
@click.option(
    "--dtype",
    "dtypes",
    multiple=True,
    type=click.Choice(["bfloat16", "float16", "float32"]),
    help="Input dtypes (repeatable) [default: bfloat16 and float32].",
)
@click.option("--total", default=1 << 26, show_default=True, type=click.IntRange(min=1024), help="B * D * L.")
@click.option("--no-backward", is_flag=True, help="Forward only.")
@click.option("--quick", is_flag=True, help="A few small cases (smoke test).")
@click.option(
    "--case",
    "case_specs",
    multiple=True,
    metavar="KIND:B:D:L:K",
    help="Time this case instead of the grid (repeatable), e.g. partial:1:32:2300000:2048.",
)
@click.option(
    "--fraction",
    "fractions",
    multiple=True,
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    help="Also time the frequency-sparse forward keeping this fraction of the spectrum (repeatable).",
)
@click.option(
    "--cached",
    is_flag=True,
    help="Also time each forward with the filter's spectrum computed once beforehand, as at inference.",
)
@click.option("--json", "json_out", type=click.Path(dir_okay=False), help="Also write the rows to this file.")
@handle_errors
def bench_fftconv_cmd(dtypes, total, no_backward, quick, case_specs, fractions, cached, json_out):
    """Time the gated causal convolution (Triton where it fits) against the torch.fft reference (CUDA).

    Full filters at L from 1K to 4M, partial filters K in {4K, 16K, 64K} at L in {1M, 2.3M}; forward and
    forward+backward; prints ms, speedup, time over the HBM floor, and the relative error against the
    reference in float64 (forward: the output's; fwd+bwd: the worst gradient's, each one's in the JSON), the
    reference's own in the same dtype beside it ("base err").
    Partial rows also give the speedup over torch.fft with a full-length filter ("vs full"), --fraction rows
    the frequency-sparse forward, --cached rows (mode "cached") the forward with each side given its filter's
    spectrum, computed once beforehand (a model at inference caches it).

    \b
    Example:
        dnaconv bench fftconv --json fftconv.json
    """
    import json

    import torch

    from dnaconv.bench import bench_fftconv
    from dnaconv.device import DTYPES

    if not torch.cuda.is_available():
        raise click.ClickException("bench fftconv compares GPU kernels and needs CUDA")
    cases = [("full", 4, 64, 1024, 1024), ("partial", 1, 32, 100_000, 4096)] if quick else None
    if case_specs:
        try:
            cases = [(c.split(":")[0], *map(int, c.split(":")[1:])) for c in case_specs]
            assert all(len(c) == 5 for c in cases)
        except (ValueError, AssertionError):
            raise click.BadParameter("expected KIND:B:D:L:K", param_hint="--case") from None
    rows = bench_fftconv(
        tuple(DTYPES[d] for d in dtypes) or (torch.bfloat16, torch.float32),
        total,
        not no_backward,
        cases,
        fractions,
        cached=cached,
    )
    if json_out:
        with open(json_out, "w") as f:
            json.dump(rows, f, indent=1)
    click.echo(
        f"{'kind':<10}{'mode':<8}{'dtype':<9}{'L':>9}{'K':>9}{'impl':>7}{'ms':>9}{'base ms':>9}"
        f"{'speedup':>8}{'x floor':>8}{'rel err':>9}{'base err':>9}{'vs full':>8}"
    )

    def cell(value, width: int, spec: str) -> str:
        """``value`` formatted, or "-" where the row has none (a forward-only figure, a case out of memory)."""
        return f"{'-' if value is None or math.isnan(value) else format(value, spec):>{width}}"

    for r in rows:
        click.echo(
            f"{r['kind']:<10}{r['mode']:<8}{r['dtype']:<9}{r['L']:>9}{r['K']:>9}{r['impl']:>7}"
            f"{cell(r['ms'], 9, '.3f')}{cell(r['baseline_ms'], 9, '.3f')}{cell(r['speedup'], 8, '.2f')}"
            f"{cell(r['x_floor'], 8, '.1f')}{cell(r.get('rel_err'), 9, '.1e')}"
            f"{cell(r.get('baseline_rel_err'), 9, '.1e')}{cell(r.get('vs_full'), 8, '.2f')}"
        )
