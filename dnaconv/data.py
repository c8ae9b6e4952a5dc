"""Data manifests and a resumable, checksum-verifying fetcher.

A manifest (one JSON file per data source in `data_manifests/`, format in `data_manifests/README.md`)
names each file of a source with its URL, size, sha256 (or the publisher's md5 where that is all there
is), licence, and the contigs, records and bases the data should hold. `fetch` streams each file into
`<dest>/<path>.part`, resumes an interrupted download with an HTTP `Range` request, hashes as it goes and
moves the file into place (`os.replace`) only when size and checksums match; a mismatch deletes the
download. `verify` checks files already on disk and, optionally, a FASTA's `.fai` against the expected
contig lengths.

Environment: `DNACONV_DATA_MIRROR=<base URL>` fetches every file from `<base URL>/<file name>` (the last
component of the manifest's URL, or the file's `path` where the manifest gives no URL) instead of the
publisher: an institutional mirror, or a directory served with `python -m http.server`. An explicit
`url_override` wins over it. Every error is a `ValueError` (bad manifest, checksum mismatch, file in the
way) or an `OSError` (network, disk) whose one-line message names the file and the problem.

Manifest parsing and validation live in `dnaconv.manifest`; this module fetches and verifies.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

from tqdm import tqdm

from dnaconv import __version__
from dnaconv.errors import FileFormatError
from dnaconv.manifest import (
    MANIFEST_DIR,
    Expected,
    Manifest,
    ManifestFile,
    _as_manifest,
    list_manifests,
    load_manifest,
)

__all__ = [
    "MANIFEST_DIR",
    "MIRROR_ENV",
    "Expected",
    "Manifest",
    "ManifestFile",
    "VerifyResult",
    "fetch",
    "list_manifests",
    "load_manifest",
    "verify",
]

MIRROR_ENV = "DNACONV_DATA_MIRROR"

_BLOCK = 1 << 20  # bytes per read while downloading and hashing
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
_NOT_VERIFIABLE = "not verifiable: no checksum in manifest"
_BAR = dict(unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr, dynamic_ncols=True)
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VerifyResult:
    path: Path
    ok: bool
    reason: str  # 'ok', 'missing', 'size 12 != 34', 'sha256 mismatch', 'md5 mismatch', 'not verifiable: ...'
    sha256: str | None = None  # the file's digest when it was read (to pin a manifest that has none)


# --- checking files ----------------------------------------------------------------------------------


class _Digests:
    def __init__(self, md5: bool):
        self.sha256 = hashlib.sha256()
        self.md5 = hashlib.md5(usedforsecurity=False) if md5 else None
        self.size = 0

    def update(self, block: bytes):
        self.sha256.update(block)
        if self.md5 is not None:
            self.md5.update(block)
        self.size += len(block)

    def read(self, path: Path) -> _Digests:
        with open(path, "rb") as f:
            while block := f.read(_BLOCK):
                self.update(block)
        return self

    def problem(self, entry: ManifestFile) -> str | None:
        """The first way the bytes seen differ from the manifest entry, or None."""
        if entry.size is not None and self.size != entry.size:
            return f"size {self.size} != {entry.size}"
        if entry.sha256 is not None and self.sha256.hexdigest() != entry.sha256:
            return f"sha256 mismatch: expected {entry.sha256}, got {self.sha256.hexdigest()}"
        if entry.md5 is not None and self.md5.hexdigest() != entry.md5:
            return f"md5 mismatch: expected {entry.md5}, got {self.md5.hexdigest()}"
        return None


def _check(path: Path, entry: ManifestFile) -> VerifyResult:
    if not path.is_file():
        return VerifyResult(path, False, "missing")
    size = path.stat().st_size
    if entry.size is not None and size != entry.size:
        return VerifyResult(path, False, f"size {size} != {entry.size}")
    digests = _Digests(md5=entry.md5 is not None).read(path)
    sha256 = digests.sha256.hexdigest()
    if entry.sha256 is None and entry.md5 is None:
        return VerifyResult(path, False, _NOT_VERIFIABLE, sha256)
    problem = digests.problem(entry)
    return VerifyResult(path, problem is None, "ok" if problem is None else problem.split(":")[0], sha256)


def _check_contigs(manifest: Manifest, dest: Path) -> VerifyResult:
    expected = manifest.expected
    fasta = dest / expected.file
    fai = fasta.with_name(fasta.name + ".fai")
    if not fai.is_file():
        return VerifyResult(fai, True, f"contigs not checked: no {fai.name} beside the FASTA")
    lengths: dict[str, int] = {}
    for number, line in enumerate(fai.read_text().splitlines(), 1):
        fields = line.split("\t")
        if len(fields) < 5 or not fields[1].isdigit():
            raise FileFormatError(f"{fai}: line {number} is not a .fai line (name, length, offset, ...)")
        lengths[fields[0]] = int(fields[1])
    problems = []
    for name, length in expected.contigs.items():
        found = lengths.get(name, lengths.get(expected.aliases.get(name, name)))
        if found is None:
            problems.append(f"contig {name} missing")
        elif found != length:
            problems.append(f"contig {name} length {found} != {length}")
    if expected.records is not None and len(lengths) != expected.records:
        problems.append(f"records {len(lengths)} != {expected.records}")
    if expected.bases is not None and sum(lengths.values()) != expected.bases:
        problems.append(f"bases {sum(lengths.values())} != {expected.bases}")
    if not problems:
        return VerifyResult(fai, True, f"contigs ok ({len(expected.contigs)} checked)")
    shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
    return VerifyResult(fai, False, f"contigs: {shown}")


def verify(
    manifest: Manifest | str | os.PathLike, dest_dir: str | os.PathLike, *, check_contigs: bool = False
) -> list[VerifyResult]:
    """Check every file of `manifest` in `dest_dir`: present, expected size, expected sha256 (and md5).

    `ok` is True only for a file that matched a checksum; a file the manifest has no checksum for is
    reported 'not verifiable: no checksum in manifest' with its sha256. With `check_contigs`, one more
    result compares `<expected.file>.fai` (when present) with the expected contigs, records and bases.

    Example:
        >>> [r.reason for r in verify("grch37_chr20", "genomes/")]
        ['ok', 'ok', 'ok']
    """
    manifest, dest = _as_manifest(manifest), Path(dest_dir)
    results = [_check(dest / entry.path, entry) for entry in manifest.files]
    if check_contigs and manifest.expected.contigs:
        results.append(_check_contigs(manifest, dest))
    return results


# --- downloading -------------------------------------------------------------------------------------


def _source_url(entry: ManifestFile, url_override: Mapping[str, str] | None) -> str | None:
    if url_override and entry.path in url_override:
        return url_override[entry.path]
    mirror = os.environ.get(MIRROR_ENV, "").strip()
    if mirror:
        name = urlsplit(entry.url).path.rsplit("/", 1)[-1] if entry.url else quote(entry.path)
        return f"{mirror.rstrip('/')}/{name}"
    return entry.url


def _open(url: str, start: int, label: str, timeout: float):
    """The HTTP response for `url` from byte `start` on; None when the server says nothing is left (416)."""
    headers = {"User-Agent": f"dnaconv/{__version__}"}
    if start:
        headers["Range"] = f"bytes={start}-"
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as error:
        error.close()
        if error.code == 416 and start:
            return None
        raise OSError(f"{label}: HTTP {error.code} {error.reason} from {url}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise OSError(f"{label}: cannot download {url}: {reason}") from None


def _download(url: str, part: Path, entry: ManifestFile, *, progress: bool, timeout: float) -> _Digests:
    """Append the rest of `url` to `part` (resuming with Range) and return the digests of the whole part."""
    label = entry.path
    have = part.stat().st_size if part.exists() else 0
    if entry.size is not None and have > entry.size:  # a stale part longer than the file: start over
        part.unlink()
        have = 0
    digests = _Digests(md5=entry.md5 is not None)
    if have:
        digests.read(part)
    response = _open(url, have, label, timeout)
    if response is None:  # 416: the part already holds the whole file
        return digests
    with response:
        if have and response.status == 200:  # the server ignored Range: restart cleanly
            digests, have = _Digests(md5=entry.md5 is not None), 0
        elif have:
            match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", ""))
            if response.status != 206 or not match or int(match.group(1)) != have:
                raise OSError(f"{label}: {url} answered a resume from byte {have} with an unusable range")
        length = response.headers.get("Content-Length")
        remaining = int(length) if length is not None else None
        total = have + remaining if remaining is not None else entry.size
        bar = tqdm(total=total, initial=have, desc=label, disable=not progress, **_BAR)
        received = 0
        with open(part, "ab" if have else "wb") as out, bar:
            try:
                while block := response.read(_BLOCK):
                    out.write(block)
                    digests.update(block)
                    received += len(block)
                    bar.update(len(block))
            except (OSError, ValueError, http.client.HTTPException) as error:  # reset, timeout, cut chunk
                raise OSError(
                    f"{label}: download interrupted after {have + received} bytes ({error}); "
                    "fetch again to resume"
                ) from None
    if remaining is not None and received < remaining:  # http.client ends a cut body without an error
        raise OSError(
            f"{label}: download interrupted after {have + received} of {have + remaining} bytes; "
            "fetch again to resume"
        )
    return digests


def fetch(
    manifest: Manifest | str | os.PathLike,
    dest_dir: str | os.PathLike,
    *,
    progress: bool = True,
    url_override: dict[str, str] | None = None,
    timeout: float = 60,
    force: bool = False,
) -> list[Path]:
    """Download every file of `manifest` into `dest_dir`, verified; returns the final paths.

    A file already there that verifies is skipped without a request; one that does not is an error
    unless `force` (then it is downloaded again and replaced). An interrupted download leaves
    `<path>.part`, which the next call resumes. `url_override` maps a file's path to another URL.

    Example:
        >>> fetch("grch37_chr20", "data", url_override={"GRCh37.chr20.fa.gz": "http://host/20.fa.gz"})
        [PosixPath('data/GRCh37.chr20.fa.gz'), ...]
    """
    manifest, dest = _as_manifest(manifest), Path(dest_dir)
    unknown = sorted(set(url_override or ()) - {entry.path for entry in manifest.files})
    if unknown:
        raise ValueError(f"url_override: {unknown[0]} is not a file of manifest {manifest.name}")
    dest.mkdir(parents=True, exist_ok=True)
    paths = []
    for entry in manifest.files:
        final, part = dest / entry.path, dest / f"{entry.path}.part"
        paths.append(final)
        if final.exists() and not force:
            existing = _check(final, entry)
            if existing.ok or existing.reason == _NOT_VERIFIABLE:
                _log.info("%s: already present (%s)", final, existing.reason)
                continue
            raise ValueError(
                f"{final}: already exists but {existing.reason}; remove it or fetch with force=True"
            )
        url = _source_url(entry, url_override)
        if url is None:
            raise ValueError(
                f"{entry.path}: manifest {manifest.name} gives no download URL (see its notes); put the file "
                f"in {dest} yourself or set {MIRROR_ENV}"
            )
        digests = _download(url, part, entry, progress=progress, timeout=timeout)
        problem = digests.problem(entry)
        if problem is not None:
            part.unlink(missing_ok=True)
            raise ValueError(f"{entry.path}: {problem} (the download was deleted; fetch again)")
        os.replace(part, final)
        if entry.sha256 is None and entry.md5 is None:
            _log.warning(
                "%s: not verified (no checksum in manifest); sha256 %s", final, digests.sha256.hexdigest()
            )
    return paths
