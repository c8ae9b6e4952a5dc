"""FASTA readers: plain, gzip and bgzip, indexed (random access) or streamed record by record.

`open_fasta` sniffs the format from the first bytes (never the extension) and checks that the file looks
like FASTA. Inputs with an index (plain + `.fai`, bgzip + `.fai` + `.gzi`) are read by random access
through pysam; all others are streamed: a record's bases are read, validated and tokenized piece by piece
while the consumer iterates `SequenceSource.pieces()`, so no record is ever held whole in memory unless
`tokens()` asks for it. Every problem with the input raises `FileFormatError` naming file, record and
position.
"""

from __future__ import annotations

import bisect
import gzip
import os
import sys
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import IO, Any

import numpy as np

from dnaconv.errors import FileFormatError
from dnaconv.regions import Interval
from dnaconv.tokenizer import encode

Piece = tuple[np.ndarray, "np.ndarray | None"]

_BLOCK = 4 << 20  # bytes per read in streaming mode
_HEAD = 64 << 10  # bytes checked by open_fasta
_MAX_HEADER = 1 << 20
_MAX_FETCH = 1 << 24  # bases per pysam fetch
_WHITESPACE = b" \t\r\n"
_GZIP_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile)
_BINARY = np.zeros(256, dtype=bool)
_BINARY[:0x20] = _BINARY[0x7F] = True
_BINARY[[0x09, 0x0A, 0x0D]] = False


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


def _gzip_error(path: str, exc: BaseException, record: str | None = None) -> FileFormatError:
    during = f" while reading record {record!r}" if record is not None else ""
    return FileFormatError(f"{path}: truncated or corrupt gzip data{during} ({exc})")


class _Scanner:
    """Sequential FASTA parser: headers, then whitespace-free blocks of each record's bases."""

    def __init__(self, path: str, kind: str):
        self.path = path
        try:
            self._fh: IO[bytes] = gzip.open(path, "rb") if kind != "plain" else open(path, "rb")
        except OSError as exc:
            raise FileFormatError(f"{path}: cannot read ({exc.strerror or exc})") from None
        self._read = self._fh.read1 if kind != "plain" else self._fh.read  # read1: no data lost to an error
        self._error: BaseException | None = None
        self._buf, self._pos, self._eof = b"", 0, False
        self._line_start = True
        self._in_sequence = self._claimed = False
        self._nbases = 0
        self.record_number = 0  # 1-based index of the current record
        self.record_id: str | None = None
        self._seen: dict[str, int] = {}

    def close(self) -> None:
        self._fh.close()

    def _fill(self) -> bool:
        """Append the next block to the unread part of the buffer; False at the end of the file.

        A decompression error is raised only after the data before it has been parsed, so that the
        message names the record in which the file breaks off.
        """
        if self._error is not None:
            raise _gzip_error(self.path, self._error, self.record_id)
        parts, total = [], 0
        try:
            while not self._eof and total < _BLOCK:
                data = self._read(_BLOCK - total)
                parts.append(data)
                total, self._eof = total + len(data), not data
        except _GZIP_ERRORS as exc:
            self._error = exc
        except OSError as exc:
            raise FileFormatError(f"{self.path}: read error ({exc})") from None
        if not total:
            if self._error is not None:
                raise _gzip_error(self.path, self._error, self.record_id)
            return False
        self._buf, self._pos = b"".join([self._buf[self._pos :], *parts]), 0
        return True

    def _read_line(self) -> bytes | None:
        while (stop := self._buf.find(b"\n", self._pos)) < 0:
            if len(self._buf) - self._pos > _MAX_HEADER:
                raise FileFormatError(f"{self.path}: record {self.record_number + 1}: header line over 1 MiB")
            if not self._fill():
                stop = len(self._buf)
                break
        line = self._buf[self._pos : stop]
        self._pos = stop + 1
        return line if line or stop < len(self._buf) else None

    def _skip_leading_whitespace(self) -> None:
        while self._pos < len(self._buf) or self._fill():
            rest = self._buf[self._pos :].lstrip(_WHITESPACE)
            self._pos = len(self._buf) - len(rest)
            if rest:
                return

    def next_record(self) -> tuple[str, str] | None:
        """Skip what is left of the current record; parse the next header into (id, description)."""
        if self._in_sequence:
            for _ in self.blocks():
                pass
        if self.record_number == 0:
            self._skip_leading_whitespace()
        line = self._read_line()
        if line is None:
            return None
        number = self.record_number + 1
        if not line.startswith(b">"):
            raise FileFormatError(f"{self.path}: no FASTA header (expected a line starting with '>')")
        description = line[1:].decode("utf-8", errors="replace").rstrip()
        if not description or description[0].isspace():
            raise FileFormatError(f"{self.path}: record {number}: empty record id in header {_show(line)}")
        record_id = description.split(maxsplit=1)[0]
        if record_id in self._seen:
            raise FileFormatError(
                f"{self.path}: duplicate record id {record_id!r} (first seen at record {self._seen[record_id]})"
            )
        self._seen[record_id] = number
        self.record_number, self.record_id = number, record_id
        self._in_sequence, self._claimed, self._nbases, self._line_start = True, False, 0, True
        return record_id, description

    def claim(self) -> bool:
        """Mark the current record's bases as being read; False if they already were (or are)."""
        claimed, self._claimed = self._claimed, True
        return self._in_sequence and not claimed

    def blocks(self) -> Iterator[bytes]:
        """Yield the current record's bases, whitespace removed, until the next header or the end."""
        number = self.record_number
        while True:
            if self.record_number != number or not self._in_sequence:  # a stale, resumed generator
                raise RuntimeError(f"{self.path}: record {number} was skipped while its bases were read")
            if self._pos >= len(self._buf) and not self._fill():
                break
            buf, pos = self._buf, self._pos
            if self._line_start and buf[pos] == 0x3E:  # '>' at a line start: the next header
                break
            cut = buf.find(b"\n>", pos)
            stop = cut + 1 if cut >= 0 else len(buf)
            self._pos, self._line_start = stop, buf[stop - 1] == 0x0A
            chunk = buf[pos:stop].translate(None, _WHITESPACE)
            if chunk:
                self._nbases += len(chunk)
                yield chunk
        self._in_sequence = False
        if self._nbases == 0:
            raise FileFormatError(f"{self.path}: record {self.record_id!r} is empty (no sequence)")


def _show(line: bytes) -> str:
    return repr(line[:60].decode("utf-8", errors="replace") + ("..." if len(line) > 60 else ""))


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


def _read_fai(path: str) -> dict[str, tuple[int, int]]:
    """Contig -> (length, byte offset of the first base in the uncompressed file), in file order."""
    index = {}
    with open(path, encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, start=1):
            fields = line.rstrip("\r\n").split("\t")
            if len(fields) < 5 or not (fields[1].isdigit() and fields[2].isdigit()):
                raise FileFormatError(f"{path}: line {number}: not a .fai line (name, length, offset, ...)")
            index[fields[0]] = int(fields[1]), int(fields[2])
    return index


def _read_gzi(path: str) -> tuple[list[int], list[int]]:
    """Block starts from a .gzi: (compressed offsets, uncompressed offsets), (0, 0) included."""
    values = np.fromfile(path, dtype="<u8")
    pairs = values[1 : 1 + 2 * int(values[0])].reshape(-1, 2) if values.size else np.zeros((0, 2))
    return [0, *pairs[:, 0].tolist()], [0, *pairs[:, 1].tolist()]


def _read_range(path: str, gzi: tuple[list[int], list[int]] | None, start: int, size: int) -> bytes:
    """Bytes [start, start + size) of the uncompressed file (bgzip through its .gzi blocks)."""
    with open(path, "rb") as fh:
        if gzi is None:
            fh.seek(start)
            return fh.read(size)
        compressed, uncompressed = gzi
        block = bisect.bisect_right(uncompressed, start) - 1
        fh.seek(compressed[block])
        with gzip.GzipFile(fileobj=fh) as gz:
            gz.seek(start - uncompressed[block])
            return gz.read(size)


def _header_before(path: str, gzi: tuple[list[int], list[int]] | None, offset: int) -> str | None:
    """The '>' line that ends just before byte `offset` (a record's first base), without '>'."""
    window = 1024
    while window <= _MAX_HEADER:
        start = max(0, offset - window)
        text = _read_range(path, gzi, start, offset - start).rstrip(b"\r\n")
        newline = text.rfind(b"\n")
        if newline >= 0 or start == 0:
            line = text[newline + 1 :]
            return line[1:].decode("utf-8", errors="replace").rstrip() if line.startswith(b">") else None
        window *= 16
    return None


def _sniff_kind(head: bytes) -> str:
    """'bgzip' (gzip whose first member has the 'BC' extra subfield), 'gzip' or 'plain'."""
    if head[:2] != b"\x1f\x8b":
        return "plain"
    if len(head) >= 12 and head[3] & 0x04:  # FEXTRA
        extra = head[12 : 12 + int.from_bytes(head[10:12], "little")]
        while len(extra) >= 4:
            if extra[:2] == b"BC":
                return "bgzip"
            extra = extra[4 + int.from_bytes(extra[2:4], "little") :]
    return "gzip"


def _read_head(path: str, kind: str) -> bytes:
    """The first non-blank 64 KiB of (decompressed) content; raises for unreadable or empty files."""
    try:
        with gzip.open(path, "rb") if kind != "plain" else open(path, "rb") as fh:
            head = fh.read(_HEAD)
            while head and not head.strip():
                head = fh.read(_HEAD)
    except gzip.BadGzipFile as exc:
        if str(exc).startswith(("Not a gzipped file", "Unknown compression method")):
            raise FileFormatError(f"{path}: not a valid gzip file ({exc})") from None
        raise _gzip_error(path, exc) from None
    except (EOFError, zlib.error) as exc:
        raise _gzip_error(path, exc) from None
    except OSError as exc:
        raise FileFormatError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not head:
        raise FileFormatError(f"{path}: empty file" + (" (after decompression)" if kind != "plain" else ""))
    return head


def _check_head(path: str, head: bytes) -> None:
    """Raise unless the first bytes look like FASTA."""
    binary = _BINARY[np.frombuffer(head, dtype=np.uint8)]
    if binary.any():
        at = int(np.argmax(binary))
        raise FileFormatError(f"{path}: binary data, not a FASTA file (byte 0x{head[at]:02x} at offset {at})")
    if b"\r" in head and b"\n" not in head and len(head) > 1:
        raise FileFormatError(f"{path}: old Mac line endings (CR only) are not supported; convert to LF")
    first = next(line for line in head.split(b"\n") if line.strip())
    if first.startswith(b"@"):
        raise FileFormatError(f"{path}: looks like FASTQ, not FASTA; first line {_show(first)}")
    if not first.startswith(b">"):
        raise FileFormatError(
            f"{path}: no FASTA header (expected a line starting with '>'); first line {_show(first)}"
        )


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
