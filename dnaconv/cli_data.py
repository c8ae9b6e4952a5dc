"""`dnaconv data`: list, fetch and verify the data sources of data_manifests/."""

from __future__ import annotations

import os

import click

from dnaconv.cli_common import handle_errors, quiet_option


@click.group()
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
