"""Genomic intervals: samtools-style region strings (1-based inclusive) and BED files (0-based half-open).

Both become `Interval`s with 0-based half-open coordinates; `end=None` means "to the end of the contig".
"""

from __future__ import annotations

import gzip
import os
import re
import zlib
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

from dnaconv.errors import FileFormatError

_COORDS = re.compile(r"(\d[\d,]*)(?:-(\d[\d,]*)?)?")
_INT = re.compile(r"[+-]?\d+")
_MAX_SHOWN = 60


@dataclass(frozen=True)
class Interval:
    """A stretch of one contig, 0-based half-open."""

    contig: str
    start: int  # 0-based, inclusive
    end: int | None  # 0-based, exclusive; None = to the end of the contig
    name: str | None = None  # BED column 4 if present

    @property
    def id(self) -> str:
        """samtools-style region: 'chr:start+1-end', 'chr' for a whole contig, 'chr:start+1-' to its end."""
        if self.end is None:
            return self.contig if self.start == 0 else f"{self.contig}:{self.start + 1}-"
        return f"{self.contig}:{self.start + 1}-{self.end}"


def _parse_coords(contig: str, coords: str, text: str) -> Interval:
    match = _COORDS.fullmatch(coords)
    if match is None:
        raise ValueError(f"bad region {text!r}: expected 'contig', 'contig:start' or 'contig:start-end'")
    start = int(match.group(1).replace(",", ""))
    end = int(match.group(2).replace(",", "")) if match.group(2) else None
    if start < 1:
        raise ValueError(f"bad region {text!r}: start must be >= 1 (coordinates are 1-based), got {start}")
    if end is not None and end < start:
        raise ValueError(f"bad region {text!r}: end {end} is before start {start}")
    return Interval(contig, start - 1, end)


def parse_region(text: str, *, contigs: Collection[str] | None = None) -> Interval:
    """Parse 'chr', 'chr:start' (to the end) or 'chr:start-end' (1-based inclusive, commas allowed).

    Contig names may contain ':'; the split is at the last ':' when its suffix is coordinates, else the
    whole text is a contig name. When `contigs` (the known names) is given and contains the whole text,
    it is a contig name even if it ends in ':<digits>' (as HLA allele names do).

    Example:
        >>> parse_region("20:1,001-2,000")
        Interval(contig='20', start=1000, end=2000, name=None)
    """
    text = text.strip()
    if not text or any(ch.isspace() for ch in text):
        raise ValueError(f"bad region {text!r}: expected 'contig', 'contig:start' or 'contig:start-end'")
    if contigs is not None and text in contigs:
        return Interval(text, 0, None)
    contig, sep, coords = text.rpartition(":")
    # Coordinates never contain ':', so only the last ':' can start them; a suffix that begins with a
    # digit but does not parse is a typo rather than part of a contig name.
    if sep and (not coords or coords[0].isdigit()):
        if not contig:
            raise ValueError(f"bad region {text!r}: empty contig name")
        return _parse_coords(contig, coords, text)
    return Interval(text, 0, None)


def _show(line: str) -> str:
    return repr(line if len(line) <= _MAX_SHOWN else line[:_MAX_SHOWN] + "...")


def _bed_interval(line: str) -> Interval:
    """One BED data line -> Interval; raises ValueError naming the problem."""
    fields = line.rstrip().split("\t") if "\t" in line else line.split()
    if len(fields) < 3:
        raise ValueError(f"expected at least 3 columns (chrom, start, end), found {len(fields)}")
    contig, start_text, end_text = (field.strip() for field in fields[:3])
    for label, value in (("start", start_text), ("end", end_text)):
        if not _INT.fullmatch(value):
            raise ValueError(f"{label} {value!r} is not an integer")
    start, end = int(start_text), int(end_text)
    if start < 0:
        raise ValueError(f"negative start {start}")
    if end <= start:
        raise ValueError(f"end {end} is not after start {start} (BED is 0-based half-open)")
    name = fields[3].strip() if len(fields) > 3 else ""
    return Interval(contig, start, end, name if name not in ("", ".") else None)


def _bed_lines(path: str) -> Iterator[tuple[int, str]]:
    with open(path, "rb") as fh:
        gzipped = fh.read(2) == b"\x1f\x8b"
    opener = gzip.open if gzipped else open
    with opener(path, "rb") as fh:
        try:
            for number, raw in enumerate(fh, start=1):
                try:
                    yield number, raw.decode("utf-8").rstrip("\r\n")
                except UnicodeDecodeError:
                    raise FileFormatError(f"{path}: line {number}: not UTF-8 text (binary data?)") from None
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise FileFormatError(f"{path}: truncated or corrupt gzip data ({exc})") from None


def read_bed(path: str | os.PathLike) -> list[Interval]:
    """Read the intervals of a BED file (plain or gzipped), 0-based half-open, in file order.

    Blank lines, '#' comments and 'track'/'browser' lines are skipped; columns are tab- or
    space-separated; column 4 (if present and not '.') becomes `Interval.name`.
    """
    path = os.fspath(path)
    if not Path(path).is_file():
        raise FileFormatError(f"{path}: no such file" if not Path(path).exists() else f"{path}: not a file")
    intervals = []
    for number, line in _bed_lines(path):
        words = line.split(maxsplit=1)
        if not words or words[0].startswith("#") or words[0] in ("track", "browser"):
            continue
        try:
            intervals.append(_bed_interval(line))
        except ValueError as exc:
            raise FileFormatError(f"{path}: line {number}: {exc}: {_show(line)}") from None
    if not intervals:
        raise FileFormatError(f"{path}: empty BED file (no intervals)")
    return intervals
