"""Low-level FASTA reading: format sniffing and checks of the first bytes, the sequential `_Scanner`, and
reading `.fai`/`.gzi` indexes and byte ranges of (bgzip) files.

Used by `dnaconv.fasta`, which builds `open_fasta`, `FastaInput` and `SequenceSource` on top of it. Every
problem with the input raises `FileFormatError` naming file, record and position.
"""

from __future__ import annotations

import bisect
import gzip
import zlib
from collections.abc import Iterator
from typing import IO

import numpy as np

from dnaconv.errors import FileFormatError

_BLOCK = 4 << 20  # bytes per read in streaming mode
_HEAD = 64 << 10  # bytes checked by open_fasta
_MAX_HEADER = 1 << 20
_WHITESPACE = b" \t\r\n"
_GZIP_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile)
_BINARY = np.zeros(256, dtype=bool)
_BINARY[:0x20] = _BINARY[0x7F] = True
_BINARY[[0x09, 0x0A, 0x0D]] = False


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
