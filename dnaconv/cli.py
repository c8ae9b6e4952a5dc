"""The `dnaconv` command line: one click group, each command a thin wrapper over a library function."""

from __future__ import annotations

import functools
import os
import shlex
import sys

import click

from dnaconv import __version__
from dnaconv.errors import ConfigError, FileFormatError

CONTEXT = dict(help_option_names=["-h", "--help"], max_content_width=100)
WORK_ERRORS = (FileFormatError, ConfigError, ValueError, OSError)


def _fail(e: BaseException) -> click.ClickException:
    msg = str(e).strip().splitlines()[0] if str(e).strip() else e.__class__.__name__
    return click.ClickException(msg)


def handle_errors(fn):
    """Library errors become one-line `Error: ...` messages (exit 1); Ctrl-C exits 130 without a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except BrokenPipeError:  # `dnaconv score ... | head`: the reader left; stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(0)
        except WORK_ERRORS as e:
            raise _fail(e) from None
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            sys.exit(130)

    return wrapper


def device_options(fn):
    fn = click.option(
        "--dtype",
        default="auto",
        show_default=True,
        type=click.Choice(["auto", "float32", "bfloat16", "float16"]),
        help="Compute precision; auto = bfloat16 on CUDA, float32 on CPU.",
    )(fn)
    fn = click.option(
        "--device", default="auto", show_default=True, help="auto (CUDA when present), cpu, cuda or cuda:N."
    )(fn)
    return fn


def quiet_option(fn):
    return click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary on stderr.")(fn)


def model_option(fn):
    return click.option(
        "--model",
        "model_path",
        type=click.Path(exists=True),
        help="Model directory (default: the embedded model).",
    )(fn)


def region_options(fn):
    fn = click.option(
        "--bed",
        type=click.Path(dir_okay=False),
        help="Use the intervals of this BED file (0-based half-open).",
    )(fn)
    return click.option(
        "--region", "regions", multiple=True, metavar="CHR:START-END",
        help="Use this region (1-based inclusive, like samtools; CHR alone = whole contig); repeatable.",
    )(fn)  # fmt: skip


def chunk_option(fn):
    return click.option(
        "--chunk-size", default=65536, show_default=True, type=click.IntRange(min=1),
        help="Positions per forward pass; long records stream in chunks of this size.",
    )(fn)  # fmt: skip


def _intervals(regions, bed):
    """--region and --bed as Intervals (None when neither is given); a bad region is a usage error."""
    from dnaconv.regions import parse_region, read_bed

    intervals = []
    for r in regions:
        try:
            intervals.append(parse_region(r))
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--region") from None
    if bed:
        intervals += read_bed(bed)
    return intervals or None


def _check_inputs(inputs):
    for p in inputs:
        if not os.path.exists(p):
            raise FileFormatError(f"{p}: no such file")


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
    _check_inputs(inputs)
    if os.path.exists(output) and not (force or resume):
        raise click.ClickException(
            f"{output} exists (use --force to overwrite it, or --resume to continue it)"
        )
    out_dir = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(out_dir):
        raise click.ClickException(f"{output}: directory {out_dir} does not exist")
    intervals = _intervals(regions, bed)
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
    command = _command_line(click.get_current_context())
    s = embed_files(list(inputs), output, model, info, dt, opts, intervals, resume, command, not quiet)
    if not quiet:
        skipped = f", {s.skipped} already complete" if s.skipped else ""
        click.echo(
            f"Wrote {s.records} record(s){skipped}, {s.bases:,} bp in {s.seconds:.1f} s "
            f"({s.bases_per_second / 1e3:,.1f} kbp/s) to {output}; {_peak_memory(dev)}",
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

    _check_inputs(inputs)
    intervals = _intervals(regions, bed)
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

    _check_inputs(inputs)
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


@cli.group()
def data():
    """Data sources: list, fetch (resumable, checksum-verified) and verify, from data_manifests/.

    \b
    Example:
        dnaconv data list
        dnaconv data fetch hg38 --dir genomes/
        dnaconv data verify hg38 --dir genomes/ --check-contigs
    """


@data.command("list")
@handle_errors
def data_list():
    """List the data manifests.

    \b
    Example:
        dnaconv data list
    """
    from dnaconv.data import list_manifests

    for m in list_manifests():
        size = sum(f.size or 0 for f in m.files)
        click.echo(f"{m.name}\t{size / 1e9:.2f} GB\t{m.description}")


@data.command("fetch")
@click.argument("name")
@click.option(
    "--dir", "dest", required=True, type=click.Path(file_okay=False), help="Where to put the files."
)
@click.option("--force", is_flag=True, help="Download again and replace files that exist.")
@quiet_option
@handle_errors
def data_fetch(name, dest, force, quiet):
    """Download a manifest's files (resuming partial downloads) and verify size and checksum.

    A mismatch deletes the download and fails; an existing file that does not verify is not overwritten
    without --force. DNACONV_DATA_MIRROR=URL fetches from a mirror instead.

    \b
    Example:
        dnaconv data fetch hg38 --dir genomes/
    """
    from dnaconv.data import fetch

    os.makedirs(dest, exist_ok=True)
    for p in fetch(name, dest, progress=not quiet, force=force):
        if not quiet:
            click.echo(f"ok\t{p}", err=True)


@data.command("verify")
@click.argument("name")
@click.option("--dir", "dest", required=True, type=click.Path(exists=True, file_okay=False))
@click.option(
    "--check-contigs", is_flag=True, help="Also check the .fai against the expected contig lengths."
)
@handle_errors
def data_verify(name, dest, check_contigs):
    """Check a manifest's files in DIR (size, sha256 or md5; optionally contig lengths); exit 1 on any failure.

    \b
    Example:
        dnaconv data verify grch37_chr20 --dir genomes/
    """
    from dnaconv.data import verify

    results = verify(name, dest, check_contigs=check_contigs)
    for r in results:
        click.echo(f"{'ok' if r.ok else 'FAIL'}\t{r.path}\t{r.reason}")
    if not all(r.ok for r in results):
        raise click.ClickException(f"{sum(not r.ok for r in results)} of {len(results)} checks failed")


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


@cli.group()
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
    meta = dict(model=info.name, model_sha256=info.sha256, device=_device_name(dev), dtype=str(dt))
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
@click.option("--json", "json_out", type=click.Path(dir_okay=False), help="Also write the rows to this file.")
@handle_errors
def bench_fftconv_cmd(dtypes, total, no_backward, quick, case_specs, fractions, json_out):
    """Time the gated causal convolution (Triton where it fits) against the torch.fft reference (CUDA).

    Full filters at L from 1K to 4M, partial filters K in {4K, 16K, 64K} at L in {1M, 2.3M}; forward and
    forward+backward; prints ms, speedup, and time over the HBM floor. Partial rows also give the speedup over
    torch.fft with a full-length filter ("vs full"), --fraction rows the frequency-sparse forward.

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
    )
    if json_out:
        with open(json_out, "w") as f:
            json.dump(rows, f, indent=1)
    click.echo(
        f"{'kind':<10}{'mode':<8}{'dtype':<9}{'L':>9}{'K':>9}{'impl':>7}{'ms':>9}{'base ms':>9}"
        f"{'speedup':>8}{'x floor':>8}{'rel err':>9}{'vs full':>8}"
    )
    for r in rows:
        click.echo(
            f"{r['kind']:<10}{r['mode']:<8}{r['dtype']:<9}{r['L']:>9}{r['K']:>9}{r['impl']:>7}{r['ms']:>9.3f}"
            f"{r['baseline_ms']:>9.3f}{r['speedup']:>8.2f}{r['x_floor']:>8.1f}"
            f"{r.get('rel_err', float('nan')):>9.1e}{r.get('vs_full', float('nan')):>8.2f}"
        )


def _command_line(ctx: click.Context) -> str:
    """The command as the user could retype it: arguments and the options that differ from their defaults."""
    words = ["dnaconv", *ctx.command_path.split()[1:]]
    for p in ctx.command.params:
        v = ctx.params.get(p.name)
        if isinstance(p, click.Argument):
            words += [str(x) for x in (v if isinstance(v, (tuple, list)) else [v])]
        elif v not in (None, False, ()) and v != p.default:
            flag = p.opts[-1] if p.opts[-1].startswith("--") else p.opts[0]
            values = v if isinstance(v, (tuple, list)) else [v]
            for x in values:
                words += [flag] if v is True else [flag, str(x)]
    return shlex.join(words)


def _peak_memory(dev) -> str:
    import resource

    import torch

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    msg = f"peak RSS {rss:.2f} GiB"
    if dev.type == "cuda":
        msg += f", peak GPU memory {torch.cuda.max_memory_allocated(dev) / 2**30:.2f} GiB"
    return msg


def _device_name(dev) -> str:
    import torch

    return torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"


def main():
    cli(prog_name="dnaconv")


if __name__ == "__main__":
    main()
