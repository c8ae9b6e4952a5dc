"""FASTA readers: plain, gzip and bgzip, indexed (random access) or streamed record by record.

`open_fasta` sniffs the format from the first bytes (never the extension) and checks that the file looks
like FASTA. Inputs with an index (plain + `.fai`, bgzip + `.fai` + `.gzi`) are read by random access
through pysam; all others are streamed: a record's bases are read, validated and tokenized piece by piece
while the consumer iterates `SequenceSource.pieces()`, so no record is ever held whole in memory unless
`tokens()` asks for it. Every problem with the input raises `FileFormatError` naming file, record and
position.

Format sniffing, the sequential scanner and index reading live in `dnaconv.fasta_io`.
"""

from __future__ import annotations

import os
import sys
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from dnaconv.errors import FileFormatError
from dnaconv.fasta_io import (
    _GZIP_ERRORS,
    _check_head,
    _header_before,
    _read_fai,
    _read_gzi,
    _read_head,
    _Scanner,
    _sniff_kind,
)
from dnaconv.regions import Interval
from dnaconv.tokenizer import encode

Piece = tuple[np.ndarray, "np.ndarray | None"]

_MAX_FETCH = 1 << 24  # bases per pysam fetch


@dataclass
class SequenceSource:
    """One record or one interval of a record, to be embedded."""

    id: str  # record id (first word of the header), or Interval.id for intervals
    contig: str  # the record id of the contig it comes from
    start: int  # 0-based start within the contig (0 for a whole record)
    end: int | None  # 0-based exclusive end; None until a streamed whole record has been read
    source: str  # the input path as given
    description: str  # header line without '>' (of the contig, for intervals)
    name: str | None = None  # BED name if any
    softmask: bool = False  # whether pieces carry a softmask (set by records()/intervals())
    _read: Callable[[int], Iterator[Piece]] | None = field(default=None, repr=False, compare=False)

    def pieces(self, size: int = 1 << 20) -> Iterator[Piece]:
        """Yield (tokens uint8 [size], softmask bool [size] or None) pieces in order; only the last is shorter.

        Bases are validated as they are read; errors name source, record and 1-based contig position. For
        a streamed record, call this once, before asking the reader for the next record.
        """
        if size < 1:
            raise ValueError(f"piece size must be >= 1, got {size}")
        yield from _rechunk(self._read(size), size)

    def tokens(self, softmask: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """The whole sequence as one array [L] (with its softmask [L] if `softmask`)."""
        if softmask and not self.softmask:
            raise ValueError(f"{self.id}: no softmask; open it with records(softmask=True)/intervals(...)")
        tokens, mask = next(self.pieces(sys.maxsize))
        return (tokens, mask) if softmask else tokens

    @property
    def length(self) -> int | None:
        return None if self.end is None else self.end - self.start


def _join(parts: list[Piece]) -> Piece:
    if len(parts) == 1:
        return parts[0]
    masks = [mask for _, mask in parts]
    mask = None if masks[0] is None else np.concatenate(masks)
    return np.concatenate([tokens for tokens, _ in parts]), mask


def _rechunk(parts: Iterator[Piece], size: int) -> Iterator[Piece]:
    """Regroup pieces of any length into pieces of exactly `size` (the last one may be shorter)."""
    pending: list[Piece] = []
    count = 0
    for tokens, mask in parts:
        while len(tokens):
            take = min(size - count, len(tokens))
            pending.append((tokens[:take], None if mask is None else mask[:take]))
            tokens, mask = tokens[take:], None if mask is None else mask[take:]
            count += take
            if count == size:
                yield _join(pending)
                pending, count = [], 0
    if pending:
        yield _join(pending)


def _encode(data: Any, softmask: bool, **where: Any) -> Piece:
    if softmask:
        return encode(data, return_softmask=True, **where)
    return encode(data, **where), None


class FastaInput:
    """An opened FASTA file; use `open_fasta` to make one. Iterate `records()` or `intervals(...)`."""

    def __init__(self, path: str, kind: str, use_index: bool):
        self.path, self.kind = path, kind  # kind: 'plain' | 'gzip' | 'bgzip'
        self.seen_contigs: set[str] = set()  # record ids met by sequential iteration so far
        self._scanners: list[_Scanner] = []
        self._headers: dict[str, str] = {}
        self._fasta, self._index = self._open_index() if use_index else (None, None)
        self.indexed = self._fasta is not None

    def _open_index(self) -> tuple[Any, dict[str, tuple[int, int]] | None]:
        try:
            import pysam
        except ImportError:  # e.g. on the GPU machines: stream instead
            return None, None
        gzi = self.path + ".gzi" if self.kind == "bgzip" else None
        try:
            fasta = pysam.FastaFile(
                self.path, filepath_index=self.path + ".fai", filepath_index_compressed=gzi
            )
        except (OSError, ValueError) as exc:
            raise FileFormatError(f"{self.path}: cannot open with its index ({exc})") from None
        self._gzi = _read_gzi(gzi) if gzi is not None else None
        return fasta, _read_fai(self.path + ".fai")

    def __enter__(self) -> FastaInput:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for scanner in self._scanners:
            scanner.close()
        self._scanners.clear()
        if self._fasta is not None:
            self._fasta.close()
            self._fasta = None

    def contigs(self) -> dict[str, int] | None:
        """Contig lengths in file order from the .fai when indexed, else None."""
        return None if self._index is None else {name: length for name, (length, _) in self._index.items()}

    def has_contig(self, name: str) -> bool:
        """Whether the file has this record (sequential inputs: among the records iterated so far)."""
        return name in self._index if self._index is not None else name in self.seen_contigs

    def records(self, softmask: bool = False) -> Iterator[SequenceSource]:
        """One SequenceSource per record, in file order."""
        if self.indexed:
            for contig, (length, _) in self._index.items():
                yield self._indexed_source(contig, contig, 0, length, None, softmask)
            return
        with self._scan() as scanner:
            while (header := scanner.next_record()) is not None:
                self.seen_contigs.add(header[0])
                source = SequenceSource(header[0], header[0], 0, None, self.path, header[1], None, softmask)
                source._read = partial(self._stream_record, scanner, scanner.record_number, source)
                yield source

    def intervals(self, intervals: list[Interval], softmask: bool = False) -> Iterator[SequenceSource]:
        """One SequenceSource per interval on a contig of this file; other intervals are skipped.

        Indexed: all intervals are checked against the .fai first, then yielded in the given order.
        Sequential: one pass over the file; each record's intervals in the given order, buffered.
        """
        for interval in intervals:
            if interval.start < 0 or (interval.end is not None and interval.end <= interval.start):
                raise FileFormatError(f"{self.path}: region {interval.id} is empty or negative")
        if self.indexed:
            chosen = [interval for interval in intervals if interval.contig in self._index]
            ends = [self._resolve(interval, self._index[interval.contig][0]) for interval in chosen]
            for interval, end in zip(chosen, ends):
                yield self._indexed_source(
                    interval.id, interval.contig, interval.start, end, interval, softmask
                )
            return
        yield from self._sequential_intervals(intervals, softmask)

    def _resolve(self, interval: Interval, length: int) -> int:
        end = length if interval.end is None else interval.end
        if interval.start >= length or end > length:
            raise FileFormatError(
                f"{self.path}: region {interval.id} is outside contig {interval.contig!r} (length {length})"
            )
        return end

    # -- indexed -------------------------------------------------------------------------------------
    def _indexed_source(
        self, id_: str, contig: str, start: int, end: int, interval: Interval | None, softmask: bool
    ) -> SequenceSource:
        name = interval.name if interval is not None else None
        source = SequenceSource(id_, contig, start, end, self.path, self._header(contig), name, softmask)
        source._read = partial(self._fetch, source)
        return source

    def _fetch(self, source: SequenceSource, size: int) -> Iterator[Piece]:
        step = min(size, _MAX_FETCH)
        for start in range(source.start, source.end, step):
            end = min(start + step, source.end)
            try:
                bases = self._fasta.fetch(source.contig, start, end)
            except (OSError, ValueError, KeyError, IndexError) as exc:
                raise FileFormatError(
                    f"{self.path}: record {source.contig!r}: cannot read positions {start + 1}-{end} ({exc})"
                ) from None
            if len(bases) != end - start:
                raise FileFormatError(
                    f"{self.path}: record {source.contig!r}: got {len(bases)} bases at {start + 1}-{end}, "
                    f"expected {end - start} (stale .fai index?)"
                )
            yield _encode(bases, source.softmask, record=source.contig, offset=start, source=self.path)

    def _header(self, contig: str) -> str:
        """The header line of `contig` (without '>'), read just before its first base; else the name."""
        if contig not in self._headers:
            try:
                self._headers[contig] = _header_before(self.path, self._gzi, self._index[contig][1]) or contig
            except (OSError, *_GZIP_ERRORS):
                self._headers[contig] = contig
        return self._headers[contig]

    # -- sequential ----------------------------------------------------------------------------------
    @contextmanager
    def _scan(self) -> Iterator[_Scanner]:
        scanner = _Scanner(self.path, self.kind)
        self._scanners.append(scanner)  # so that close() reaches it
        try:
            yield scanner
        finally:
            scanner.close()
            if scanner in self._scanners:
                self._scanners.remove(scanner)

    def _stream_record(
        self, scanner: _Scanner, number: int, source: SequenceSource, size: int
    ) -> Iterator[Piece]:
        if scanner.record_number != number or not scanner.claim():
            raise RuntimeError(
                f"{self.path}: record {source.id!r} was already read or skipped; in sequential mode call "
                "pieces() or tokens() once per record, before moving to the next record"
            )
        offset = 0
        for block in scanner.blocks():
            yield _encode(block, source.softmask, record=source.id, offset=offset, source=self.path)
            offset += len(block)
        source.end = offset

    def _sequential_intervals(self, intervals: list[Interval], softmask: bool) -> Iterator[SequenceSource]:
        wanted: dict[str, list[Interval]] = defaultdict(list)
        for interval in intervals:
            wanted[interval.contig].append(interval)
        with self._scan() as scanner:
            while (header := scanner.next_record()) is not None:
                contig, description = header
                self.seen_contigs.add(contig)
                if contig not in wanted:
                    continue
                collected, length = _collect(scanner, wanted[contig], softmask, self.path)
                ends = [self._resolve(interval, length) for interval in wanted[contig]]
                for interval, end, parts in zip(wanted[contig], ends, collected):
                    source = SequenceSource(interval.id, contig, interval.start, end, self.path, description)
                    source.name, source.softmask, source._read = (
                        interval.name,
                        softmask,
                        partial(_replay, parts),
                    )
                    yield source


def _replay(parts: list[Piece], size: int) -> Iterator[Piece]:
    yield from parts


def _collect(
    scanner: _Scanner, intervals: list[Interval], softmask: bool, path: str
) -> tuple[list[list[Piece]], int]:
    """Read the current record, keeping (validated) only the bases inside `intervals`."""
    collected: list[list[Piece]] = [[] for _ in intervals]
    offset = 0
    for block in scanner.blocks():
        view, block_end = memoryview(block), offset + len(block)
        for interval, parts in zip(intervals, collected):
            lo = max(interval.start, offset)
            hi = block_end if interval.end is None else min(interval.end, block_end)
            if lo < hi:
                where = {"record": interval.contig, "offset": lo, "source": path}
                parts.append(_encode(view[lo - offset : hi - offset], softmask, **where))
        offset = block_end
    return collected, offset


def open_fasta(path: str | os.PathLike) -> FastaInput:
    """Open a plain, gzip or bgzip FASTA file after checking that it looks like FASTA.

    Indexed random access (pysam) is used for bgzip with `.fai` and `.gzi`, or plain with `.fai`, when
    pysam is importable; otherwise records are streamed. Index files are never written.

    Example:
        >>> with open_fasta("tests/data/chr20_example.fa.gz") as fasta:
        ...     lengths = {record.id: len(record.tokens()) for record in fasta.records()}
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileFormatError(f"{path}: no such file")
    if os.path.isdir(path):
        raise FileFormatError(f"{path}: is a directory, not a FASTA file")
    try:
        with open(path, "rb") as fh:
            kind = _sniff_kind(fh.read(12 + 0xFFFF))
    except OSError as exc:
        raise FileFormatError(f"{path}: cannot read ({exc.strerror or exc})") from None
    _check_head(path, _read_head(path, kind))
    has_fai = Path(path + ".fai").is_file()
    use_index = has_fai and (kind == "plain" or (kind == "bgzip" and Path(path + ".gzi").is_file()))
    return FastaInput(path, kind, use_index)
