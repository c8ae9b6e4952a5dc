"""The `dnaconv` command line: one click group, each command a thin wrapper over a library function (the
data and bench groups live in cli_data.py and cli_bench.py, shared options in cli_common.py)."""

from __future__ import annotations

import os

import click

from dnaconv import __version__
from dnaconv.cli_bench import bench
from dnaconv.cli_common import (
    CONTEXT,
    check_inputs,
    chunk_option,
    command_line,
    device_options,
    handle_errors,
    intervals_from,
    model_option,
    peak_memory,
    quiet_option,
    region_options,
)
from dnaconv.cli_data import data


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, "--version", prog_name="dnaconv")
def cli():
    """Long-convolution DNA language models over whole genes and genomes."""


@cli.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="HDF5 file to write.")
@model_option
@click.option(
    "--layer",
    default=-1,
    show_default=True,
    type=int,
    help="Hidden state to write: 0 = token embedding, i = block i, -1 = final normed output.",
)
@region_options
@click.option(
    "--rc",
    type=click.Choice(["mean", "concat"]),
    is_flag=False,
    flag_value="mean",
    default=None,
    help="Also embed the reverse complement, flipped back to forward positions; combine by mean "
    "(default when given alone) or concat.",
)
@click.option("--pool-window", type=click.IntRange(min=1), help="Also write means over windows of W bases.")
@click.option("--no-per-position", is_flag=True, help="Skip the per-position dataset (pooled/windows only).")
@click.option("--softmask", is_flag=True, help="Also write the soft-mask (lowercase) of each record.")
@device_options
@click.option(
    "--store-dtype",
    type=click.Choice(["float16", "float32"]),
    help="Per-position storage type [default: float16; float32 with --dtype float32].",
)
@click.option(
    "--compression",
    default="gzip",
    show_default=True,
    type=click.Choice(["gzip", "lzf", "none"]),
    help="HDF5 compression of the per-position dataset.",
)
@chunk_option
@click.option(
    "--batch-size",
    default=32,
    show_default=True,
    type=click.IntRange(min=1),
    help="Short records per batch, at most.",
)
@click.option(
    "--resume", is_flag=True, help="Continue an interrupted run: keep complete records, redo the rest."
)
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
@quiet_option
@handle_errors
def embed(
    inputs,
    output,
    model_path,
    layer,
    regions,
    bed,
    rc,
    pool_window,
    no_per_position,
    softmask,
    dtype,
    device,
    store_dtype,
    compression,
    chunk_size,
    batch_size,
    resume,
    force,
    quiet,
):
    """Embed FASTA records or regions into an HDF5 file of per-position and pooled embeddings.

    INPUT is FASTA: plain, gzip, or bgzip with .fai/.gzi (read by random access). Records of any length
    stream through the model in chunks with exact carried state, so memory does not grow with length.

    \b
    Example:
        dnaconv embed gene.fa -o gene.h5
        dnaconv embed GRCh37.chr20.fa.gz --region 20:13850001-16150000 -o macrod2.h5
        dnaconv embed genome.fa.gz --bed genes.bed --rc --pool-window 1000 --no-per-position -o g.h5
    """
    from dnaconv.checkpoint import load_model
    from dnaconv.device import resolve_device, resolve_dtype
    from dnaconv.embed import EmbedOptions, embed_files

    if resume and force:
        raise click.UsageError("--resume and --force exclude each other")
    check_inputs(inputs)
    if os.path.exists(output) and not (force or resume):
        raise click.ClickException(
            f"{output} exists (use --force to overwrite it, or --resume to continue it)"
        )
    out_dir = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(out_dir):
        raise click.ClickException(f"{output}: directory {out_dir} does not exist")
    intervals = intervals_from(regions, bed)
    dev = resolve_device(device)
    dt = resolve_dtype(dtype, dev)
    model, info = load_model(model_path, device=dev)
    model.layer_index(layer)  # range check before any work
    if force and os.path.exists(output):
        os.remove(output)
    opts = EmbedOptions(
        layer=layer,
        rc=rc,
        pool_window=pool_window,
        per_position=not no_per_position,
        softmask=softmask,
        chunk_size=chunk_size,
        batch_size=batch_size,
        compression=compression,
        store_dtype=store_dtype or ("float32" if dtype == "float32" else "float16"),
    )
    command = command_line(click.get_current_context())
    s = embed_files(list(inputs), output, model, info, dt, opts, intervals, resume, command, not quiet)
    if not quiet:
        skipped = f", {s.skipped} already complete" if s.skipped else ""
        click.echo(
            f"Wrote {s.records} record(s){skipped}, {s.bases:,} bp in {s.seconds:.1f} s "
            f"({s.bases_per_second / 1e3:,.1f} kbp/s) to {output}; {peak_memory(dev)}",
            err=True,
        )


@cli.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@model_option
@region_options
@device_options
@chunk_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line instead of a table.")
@quiet_option
@handle_errors
def score(inputs, model_path, regions, bed, dtype, device, chunk_size, as_json, quiet):
    """Per-record log-likelihood: mean NLL, perplexity and bits per base.

    Each base after the first is predicted from all earlier bases of its record or region (exact streaming
    at any length); bases that are not A/C/G/T are not scored. Results go to stdout: a tab-separated table,
    or with --json one object per line with id, length, n_scored, nll, perplexity, bits_per_base.

    \b
    Example:
        dnaconv score reads.fa
        dnaconv score GRCh37.chr20.fa.gz --region 20:56000001-60000000 --json
    """
    import json

    from dnaconv.checkpoint import load_model
    from dnaconv.device import resolve_device, resolve_dtype
    from dnaconv.score import score_files

    check_inputs(inputs)
    intervals = intervals_from(regions, bed)
    dev = resolve_device(device)
    model, _ = load_model(model_path, device=dev)
    results = score_files(list(inputs), model, resolve_dtype(dtype, dev), intervals, chunk_size, not quiet)
    for i, r in enumerate(results):
        if i == 0 and not as_json:
            click.echo("id\tlength\tn_scored\tnll\tperplexity\tbits_per_base")
        if as_json:
            click.echo(json.dumps(r.to_dict()))
        else:
            click.echo(
                f"{r.id}\t{r.length}\t{r.n_scored}\t{r.nll:.6f}\t{r.perplexity:.6f}\t{r.bits_per_base:.6f}"
            )


@cli.command()
@click.option(
    "--data",
    "data_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="Shards directory made by `dnaconv shard`.",
)
@click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help='Run config JSON: {"model": {...}, "train": {...}}.',
)
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Run directory.")
@click.option("--resume", is_flag=True, help="Continue from the run directory's latest checkpoint.")
@click.option("--force", is_flag=True, help="Start over in an existing run directory.")
@click.option(
    "--max-steps", type=click.IntRange(min=1), help="Stop after this step (the schedule is unchanged)."
)
@click.option(
    "--init",
    "init",
    type=click.Path(exists=True),
    help="Start from this model directory's weights (continued training; same architecture as the config).",
)
@device_options
@quiet_option
@handle_errors
def pretrain(data_dir, config_path, out, resume, force, max_steps, init, dtype, device, quiet):
    """Pretrain a causal Hyena LM on shards; under torchrun, one process per GPU (DDP).

    Logs JSON lines (loss, lr, tokens/s, MFU, validation perplexity) to OUT/metrics.jsonl and stderr, plots
    OUT/curves.png, and writes checkpoints (safetensors weights and optimizer state, RNG, step) atomically to
    OUT/checkpoints, so --resume continues exactly. The final weights go to OUT/final (a model directory).

    \b
    Example:
        dnaconv pretrain --data shards/ --config pipelines/configs/chr20_small.json --out runs/small
        torchrun --nproc-per-node 8 -m dnaconv.cli pretrain --data hg38_shards/ --config cfg.json --out runs/hg38
    """
    import shutil

    from dnaconv.device import resolve_device, resolve_dtype
    from dnaconv.train import NonFiniteLoss, load_run_config
    from dnaconv.train import pretrain as run_pretrain

    if resume and force:
        raise click.UsageError("--resume and --force exclude each other")
    model_cfg, train_cfg = load_run_config(config_path)
    has_run = os.path.exists(os.path.join(out, "latest")) or os.path.exists(
        os.path.join(out, "metrics.jsonl")
    )
    if has_run and not (resume or force):
        raise click.ClickException(
            f"{out} holds a run (use --resume to continue it or --force to start over)"
        )
    if force and os.path.isdir(out) and int(os.environ.get("RANK", 0)) == 0:
        shutil.rmtree(out)
    dev = resolve_device(device)
    try:
        run_pretrain(
            data_dir, model_cfg, train_cfg, out, dev, resolve_dtype(dtype, dev), resume, max_steps, not quiet,
            init=init,
        )  # fmt: skip
    except NonFiniteLoss as e:
        raise click.ClickException(str(e)) from None


@cli.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "-o", "--output", required=True, type=click.Path(file_okay=False), help="Shards directory to write."
)
@click.option("--length", required=True, type=click.IntRange(min=2), help="Window length in tokens.")
@click.option("--stride", type=click.IntRange(min=1), help="Window start spacing [default: the length].")
@click.option(
    "--max-n",
    default=0.5,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Drop windows with a larger fraction of N.",
)
@click.option("--softmask", is_flag=True, help="Keep the soft-mask (lowercase) as a column.")
@click.option(
    "--bed",
    type=click.Path(exists=True, dir_okay=False),
    help="Shard only these intervals; column 4 names the split (train, valid, test).",
)
@click.option(
    "--split-chrom",
    metavar="valid=CHR,...,test=CHR,...",
    help="Whole contigs per split; the others are train.",
)
@click.option(
    "--held-out",
    "held_out",
    multiple=True,
    metavar="SPLIT=CHR:START-END",
    help="A region held out as valid or test (repeatable); the rest is train.",
)
@click.option(
    "--manifest", help="Check contig lengths and base counts against this data manifest (name or path)."
)
@click.option("--force", is_flag=True, help="Replace an existing shards directory.")
@quiet_option
@handle_errors
def shard(
    inputs, output, length, stride, max_n, softmask, bed, split_chrom, held_out, manifest, force, quiet
):
    """Cut genomes into token windows with train/valid/test splits (Hugging Face datasets, uint8 tokens).

    Splits come from one of --bed, --split-chrom or --held-out (else everything is train). Writes
    OUTPUT/shards.json with the inputs' sha256, the split definition and per-split counts.

    \b
    Example:
        dnaconv shard hg38.fa.gz --length 32768 --bed human-sequences.bed -o hg38_shards
        dnaconv shard GRCh37.chr20.fa.gz --length 8192 --held-out test=20:56000001-60000000 \\
            --manifest grch37_chr20 -o chr20_shards
    """
    from dnaconv.regions import parse_region, read_bed
    from dnaconv.shard import ShardSpec, make_shards, parse_split_chrom

    check_inputs(inputs)
    if sum(x is not None and x != () for x in (bed, split_chrom, held_out)) > 1:
        raise click.UsageError("give one of --bed, --split-chrom, --held-out")
    splits = None
    if bed:
        splits = read_bed(bed)
    elif split_chrom:
        try:
            splits = parse_split_chrom(split_chrom)
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--split-chrom") from None
    elif held_out:
        splits = {}
        for item in held_out:
            name, _, region = item.partition("=")
            if name not in ("valid", "test") or not region:
                raise click.BadParameter(
                    f"expected valid=REGION or test=REGION, got {item!r}", param_hint="--held-out"
                )
            try:
                splits.setdefault(name, []).append(parse_region(region))
            except ValueError as e:
                raise click.BadParameter(str(e), param_hint="--held-out") from None
    expected = None
    if manifest:
        from dnaconv.data import load_manifest

        e = load_manifest(manifest).expected
        expected = {k: v for k, v in dict(contigs=e.contigs, records=e.records, bases=e.bases, n_bases=e.n_bases).items()
                    if v not in (None, {})}  # fmt: skip
    spec = ShardSpec(length=length, stride=stride, max_n_frac=max_n, softmask=softmask, splits=splits)
    summary = make_shards(list(inputs), output, spec, expected=expected, force=force, progress=not quiet)
    if not quiet:
        counts = summary.get("counts", summary.get("splits", {}))
        click.echo(f"Wrote {output}: " + ", ".join(f"{k} {v.get('windows', v)} windows" if isinstance(v, dict) else f"{k} {v}"
                                                   for k, v in counts.items()), err=True)  # fmt: skip


@cli.command()
@model_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@handle_errors
def info(model_path, as_json):
    """Show the version, the model and its sha256, devices, and the active kernel implementations.

    \b
    Example:
        dnaconv info
        dnaconv info --json
    """
    import json

    from dnaconv.info import collect_info, format_info

    d = collect_info(model_path)
    click.echo(json.dumps(d, indent=2) if as_json else format_info(d))


cli.add_command(data)
cli.add_command(bench)


def main():
    cli(prog_name="dnaconv")


if __name__ == "__main__":
    main()
