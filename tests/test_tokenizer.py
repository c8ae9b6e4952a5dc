"""Tokenizer: every mapping, softmask, error messages, decode and reverse complement (numpy and torch)."""

import time

import numpy as np
import pytest
import torch

from dnaconv.errors import FileFormatError
from dnaconv.tokenizer import (
    ALPHABET,
    BOS,
    EOS,
    PAD,
    VOCAB_SIZE,
    A,
    C,
    G,
    N,
    T,
    decode,
    encode,
    reverse_complement,
    reverse_complement_tokens,
)


def test_constants():
    assert (A, C, G, T, N, BOS, EOS, PAD, VOCAB_SIZE) == (0, 1, 2, 3, 4, 5, 6, 7, 8)
    assert ALPHABET == "ACGTN"
    assert all(3 - t == {A: T, C: G, G: C, T: A}[t] for t in (A, C, G, T))


@pytest.mark.parametrize("char, token", [*zip("ACGTN", range(5)), *zip("acgtn", range(5))])
def test_bases(char, token):
    assert encode(char).tolist() == [token]
    assert encode(char.encode()).dtype == np.uint8


@pytest.mark.parametrize("code", list("RYKMSWBDHV") + list("rykmswbdhv"))
def test_iupac_codes_map_to_n(code):
    assert encode(code).tolist() == [N]


@pytest.mark.parametrize("kind", [str, bytes, bytearray, memoryview, "numpy"])
def test_input_types_agree(kind):
    text = "ACGTNacgtnRyKm"
    seq = np.frombuffer(text.encode(), dtype=np.uint8) if kind == "numpy" else kind(text.encode())
    if kind is str:
        seq = text
    assert encode(seq).tolist() == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 4, 4, 4, 4]


def test_softmask_marks_lowercase():
    tokens, mask = encode("ACgtNnRr", return_softmask=True)
    assert tokens.tolist() == [0, 1, 2, 3, 4, 4, 4, 4]
    assert mask.dtype == bool
    assert mask.tolist() == [False, False, True, True, False, True, False, True]


def test_empty():
    assert encode(b"").shape == (0,)
    tokens, mask = encode("", return_softmask=True)
    assert tokens.size == mask.size == 0


@pytest.mark.parametrize(
    "seq, message",
    [
        ("ACGTE", "f.fa: record 'r' position 15: invalid character 'E' (not a nucleotide or IUPAC code)"),
        ("MEEPQ", "f.fa: record 'r' position 12: invalid character 'E'"),
        ("ACG T", "f.fa: record 'r' position 14: invalid character ' '"),
        ("AC-GT", "f.fa: record 'r' position 13: invalid character '-'"),
        ("ACU", "f.fa: record 'r' position 13: invalid character 'U'"),
        (b"AC\x00GT", "f.fa: record 'r' position 13: binary data (byte 0x00)"),
        (b"A\xffC", "f.fa: record 'r' position 12: binary data (byte 0xff)"),
        (b"A\x7f", "f.fa: record 'r' position 12: binary data (byte 0x7f)"),
        ("A\tC", "f.fa: record 'r' position 12: invalid character byte 0x09 (tab"),
        ("ACGTé", "f.fa: record 'r' position 15: invalid character 'é'"),
        ("AC\nGT", "f.fa: record 'r' position 13: binary data (byte 0x0a)"),
    ],
)
def test_invalid_bytes_name_source_record_position(seq, message):
    with pytest.raises(FileFormatError) as info:
        encode(seq, record="r", source="f.fa", offset=10)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_first_invalid_byte_is_reported():
    seq = b"A" * 100_000 + b"X" + b"A" * 10 + b"\x00"
    with pytest.raises(FileFormatError, match=r"^position 100001: invalid character 'X'"):
        encode(seq)


def test_message_without_source():
    with pytest.raises(FileFormatError, match=r"^record 'chr1' position 3: invalid character 'J'"):
        encode("ACJ", record="chr1")


def test_encode_is_fast():
    seq = np.random.default_rng(0).choice(np.frombuffer(b"ACGTacgtN", np.uint8), 10_000_000).tobytes()
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        encode(seq, return_softmask=True)
        best = min(best, time.perf_counter() - start)
    assert best < 0.1


def test_decode_roundtrip_and_specials():
    assert decode(encode("ACGTNacgtnR")) == "ACGTNACGTNN"
    assert decode(torch.tensor([0, 1, 2, 3, 4])) == "ACGTN"
    assert decode([]) == ""
    for special in (BOS, EOS, PAD, -1):
        with pytest.raises(ValueError, match=f"cannot decode token {special}"):
            decode([0, special])


def test_reverse_complement_tokens_numpy():
    tokens = encode("AACGTN")
    assert decode(reverse_complement_tokens(tokens)) == "NACGTT"
    batch = np.stack([encode("ACCN"), encode("GGTA")]).astype(np.int64)  # [B, L]
    out = reverse_complement_tokens(batch)
    assert out.dtype == np.int64
    assert out.tolist() == [[N, G, G, T], [T, A, C, C]]
    assert reverse_complement_tokens(np.array([BOS, A, EOS, PAD], np.uint8)).tolist() == [PAD, EOS, T, BOS]


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int64], ids=["uint8", "int64"])
def test_reverse_complement_tokens_torch(dtype):
    tokens = torch.tensor([[A, A, C, G, T, N], [G, G, G, T, A, BOS]], dtype=dtype)  # [B, L]
    out = reverse_complement_tokens(tokens)
    assert isinstance(out, torch.Tensor) and out.dtype == dtype
    assert out.tolist() == [[N, A, C, G, T, T], [BOS, T, A, C, C, C]]
    assert torch.equal(reverse_complement_tokens(out), tokens)


def test_reverse_complement_tokens_is_involution():
    tokens = np.random.default_rng(1).integers(0, 5, size=(3, 1025), dtype=np.uint8)
    assert np.array_equal(reverse_complement_tokens(reverse_complement_tokens(tokens)), tokens)
    assert np.array_equal(reverse_complement_tokens(tokens), torch_rc(tokens))


def torch_rc(tokens: np.ndarray) -> np.ndarray:
    return reverse_complement_tokens(torch.from_numpy(tokens)).numpy()


def test_reverse_complement_string():
    assert reverse_complement("AACGTn") == "nACGTT"
    assert reverse_complement("acgRYKMSWBDHVN") == "NBDHVWSKMRYcgt"
    seq = "ACGTNacgtnRYKMSWBDHVrykmswbdhv"
    assert np.array_equal(encode(reverse_complement(seq)), reverse_complement_tokens(encode(seq)))
    with pytest.raises(ValueError, match="position 3: invalid character 'X'"):
        reverse_complement("ACXT")
