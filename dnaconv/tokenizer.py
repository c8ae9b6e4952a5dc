"""Nucleotide tokenizer: bytes <-> uint8 token ids, vectorised through a 256-entry lookup table.

Token ids:

    A C G T N   0 1 2 3 4   the bases; the complement of t in 0..3 is 3 - t, N is its own complement
    BOS         5           begin of sequence, prepended when training or scoring a causal LM
    EOS         6           end of sequence, appended after the last base of a record
    PAD         7           padding in batches; excluded from losses and never generated

Upper- and lowercase A/C/G/T/N are accepted (lowercase = soft-masked; `encode(..., return_softmask=True)`
returns the mask). The IUPAC ambiguity codes R Y K M S W B D H V map to N. Any other byte is an error
naming the source, record and 1-based position of the first bad byte.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dnaconv.errors import FileFormatError

A, C, G, T, N = 0, 1, 2, 3, 4
BOS, EOS, PAD = 5, 6, 7
VOCAB_SIZE = 8
ALPHABET = "ACGTN"
IUPAC_AMBIGUITY = "RYKMSWBDHV"

_INVALID = 255
_LOWERCASE_MIN = ord("a")  # every valid lowercase code is >= 'a', every valid uppercase code is below it


def _build_lut() -> np.ndarray:
    lut = np.full(256, _INVALID, dtype=np.uint8)
    for token, base in enumerate(ALPHABET):
        lut[ord(base)] = lut[ord(base.lower())] = token
    for code in IUPAC_AMBIGUITY:
        lut[ord(code)] = lut[ord(code.lower())] = N
    return lut


_LUT = _build_lut()
_DECODE = np.frombuffer(ALPHABET.encode(), dtype=np.uint8)
_RC_TOKENS = np.array([T, G, C, A, N, BOS, EOS, PAD], dtype=np.uint8)  # specials map to themselves
_IUPAC_COMPLEMENT = "ACGTNRYKMSWBDHV", "TGCANYRMKSWVHDB"
_RC_TABLE = str.maketrans(
    _IUPAC_COMPLEMENT[0] + _IUPAC_COMPLEMENT[0].lower(), _IUPAC_COMPLEMENT[1] + _IUPAC_COMPLEMENT[1].lower()
)


def _as_bytes_array(seq: Any) -> tuple[np.ndarray, str | None]:
    """View `seq` as uint8 without copying bytes; for str also return it (non-ASCII chars become '?')."""
    if isinstance(seq, str):
        # 'replace' keeps one byte per character, so byte positions equal character positions.
        return np.frombuffer(seq.encode("ascii", errors="replace"), dtype=np.uint8), seq
    if isinstance(seq, np.ndarray):
        return seq.astype(np.uint8, copy=False).reshape(-1), None
    return np.frombuffer(seq, dtype=np.uint8), None


def _describe_byte(byte: int, char: str | None) -> str:
    if char is not None and ord(char) > 0x7F:
        return f"invalid character {char!r} (not a nucleotide or IUPAC code)"
    if byte < 0x20 and byte != 0x09 or byte >= 0x7F:
        return f"binary data (byte 0x{byte:02x}), not a nucleotide"
    if byte == 0x09:
        return "invalid character byte 0x09 (tab, not a nucleotide or IUPAC code)"
    return f"invalid character {chr(byte)!r} (not a nucleotide or IUPAC code)"


def invalid_sequence_error(
    byte: int, position: int, *, record: str | None, source: str | None, char: str | None = None
) -> FileFormatError:
    """The one-line error for an invalid byte at 1-based `position` of `record` in `source`."""
    where = f"record {record!r} position {position}" if record is not None else f"position {position}"
    prefix = f"{source}: {where}" if source is not None else where
    return FileFormatError(f"{prefix}: {_describe_byte(byte, char)}")


def encode(
    seq: bytes | bytearray | memoryview | str | np.ndarray,
    *,
    record: str | None = None,
    offset: int = 0,
    source: str | None = None,
    return_softmask: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Map nucleotide characters to uint8 token ids.

    Args:
        seq: the bases, [L] bytes or str; whitespace is not allowed (strip line breaks before).
        record, source, offset: only for error messages, which name `source`, `record` and the 1-based
            position `offset + i + 1` of the first invalid byte i.
        return_softmask: also return a bool mask [L], True where the base was lowercase.

    Returns:
        tokens [L] uint8 in 0..4, or (tokens, softmask).

    Example:
        >>> encode("ACgtnR")
        array([0, 1, 2, 3, 4, 4], dtype=uint8)
    """
    raw, text = _as_bytes_array(seq)
    tokens = _LUT[raw]
    if tokens.size and tokens.max() == _INVALID:
        i = int(np.argmax(tokens == _INVALID))
        char = text[i] if text is not None else None
        raise invalid_sequence_error(int(raw[i]), offset + i + 1, record=record, source=source, char=char)
    if return_softmask:
        return tokens, raw >= _LOWERCASE_MIN
    return tokens


def _to_numpy(tokens: Any) -> np.ndarray:
    if type(tokens).__module__.startswith("torch"):
        return tokens.detach().cpu().numpy()
    return np.asarray(tokens)


def decode(tokens: Any) -> str:
    """Map base tokens 0..4 (numpy array, torch tensor or sequence of ints) back to an 'ACGTN' string.

    Raises ValueError for specials (BOS/EOS/PAD) or other ids.
    """
    arr = _to_numpy(tokens).reshape(-1)
    if arr.size and (arr.min() < 0 or arr.max() > N):
        bad = int(arr[np.argmax((arr < 0) | (arr > N))])
        raise ValueError(f"cannot decode token {bad}: only base tokens 0..4 ({ALPHABET}) have characters")
    return _DECODE[arr.astype(np.intp)].tobytes().decode("ascii")


def reverse_complement_tokens(tokens: Any) -> Any:
    """Reverse complement token ids along the last axis: A<->T, C<->G; N and specials stay as they are.

    Works on numpy integer arrays and torch integer tensors (same type, dtype and device out).

    Example:
        >>> reverse_complement_tokens(encode("AACN"))
        array([4, 2, 3, 3], dtype=uint8)
    """
    if type(tokens).__module__.startswith("torch"):
        flipped = tokens.flip(-1)
        return flipped.where(flipped > T, T - flipped)
    arr = np.asarray(tokens)
    return np.take(_RC_TOKENS, arr[..., ::-1]).astype(arr.dtype, copy=False)


def reverse_complement(seq: str) -> str:
    """Reverse complement a nucleotide string, keeping case.

    IUPAC codes are complemented properly (R<->Y, K<->M, B<->V, D<->H; S, W, N stay), so the result
    encodes to `reverse_complement_tokens(encode(seq))`. Other characters raise FileFormatError
    (a ValueError), as in `encode`.
    """
    encode(seq)
    return seq.translate(_RC_TABLE)[::-1]
