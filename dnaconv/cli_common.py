"""Shared pieces of the `dnaconv` command line: one-line errors, the common options, input checks, and the
run metadata (the command as retyped, peak memory, device name) that outputs record."""

from __future__ import annotations

import functools
import os
import shlex
import sys

import click

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


def intervals_from(regions, bed):
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


def check_inputs(inputs):
    for p in inputs:
        if not os.path.exists(p):
            raise FileFormatError(f"{p}: no such file")


def command_line(ctx: click.Context) -> str:
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


def peak_memory(dev) -> str:
    import resource

    import torch

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    msg = f"peak RSS {rss:.2f} GiB"
    if dev.type == "cuda":
        msg += f", peak GPU memory {torch.cuda.max_memory_allocated(dev) / 2**30:.2f} GiB"
    return msg


def device_name(dev) -> str:
    import torch

    return torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
