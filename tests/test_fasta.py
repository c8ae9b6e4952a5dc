"""FASTA readers: format sniffing and checks, sequential vs indexed equivalence, pieces, intervals, errors."""

import gzip
import shutil
import sys
from pathlib import Path

import numpy as np
import pysam
import pytest

from dnaconv.errors import FileFormatError
from dnaconv.fasta import SequenceSource, open_fasta
from dnaconv.regions import Interval, parse_region
from dnaconv.tokenizer import encode
from tests.conftest import CHR20

DATA = Path(__file__).parent / "data"
EXAMPLE = DATA / "chr20_example.fa"
EXAMPLE_BGZ = DATA / "chr20_example.fa.gz"
BIG = "chr20_30946001_31096000"
MASKED = "chr20_10000001_10004000"
TELOMERE = "chr20_59001_62000"


def write(path: Path, data: bytes | str, kind: str = "plain") -> Path:
    """Write FASTA text as a plain, gzip or bgzip (unindexed) file."""
    data = data.encode() if isinstance(data, str) else data
    if kind == "gzip":
        data = gzip.compress(data)
    path.write_bytes(data)
    if kind == "bgzip":
        plain = path.with_name(path.name + ".plain")
        plain.write_bytes(path.read_bytes())
        pysam.tabix_compress(str(plain), str(path), force=True)
        plain.unlink()
    return path


def read_all(path: Path | str, softmask: bool = False) -> dict[str, object]:
    with open_fasta(path) as fasta:
        return {record.id: record.tokens(softmask) for record in fasta.records(softmask)}


def sources(items) -> list[tuple]:
    """Comparable summary of SequenceSources: fields, tokens and masks."""
    out = []
    for src in items:
        tokens, mask = src.tokens(softmask=True)
        out.append(
            (src.id, src.contig, src.start, src.end, src.name, src.description, tokens.tobytes(), mask)
        )
    return out


def assert_same(a: list[tuple], b: list[tuple]) -> None:
    assert [x[:7] for x in a] == [x[:7] for x in b]
    assert all(np.array_equal(x[7], y[7]) for x, y in zip(a, b))


@pytest.fixture(scope="module")
def example_text() -> str:
    return EXAMPLE.read_text()


@pytest.fixture(scope="module")
def example_records(example_text) -> dict[str, str]:
    records = {}
    for chunk in example_text.split(">")[1:]:
        header, _, seq = chunk.partition("\n")
        records[header.split()[0]] = seq.replace("\n", "")
    return records


@pytest.fixture()
def indexed_plain(tmp_path) -> Path:
    path = tmp_path / "example.fa"
    shutil.copy(EXAMPLE, path)
    pysam.faidx(str(path))
    return path


# -- open_fasta checks ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty file"),
        (b"\n \n\t\r\n", "empty file"),
        (gzip.compress(b""), "empty file"),
        (gzip.compress(b"\n\n"), "empty file"),
        (b"ACGT\n>a\nACGT\n", "no FASTA header (expected a line starting with '>'"),
        (b"\n\n;comment\n>a\nAC\n", "no FASTA header"),
        (b"@read1\nACGT\n+\nIIII\n", "looks like FASTQ, not FASTA"),
        (gzip.compress(b"\n@read1\nACGT\n+\nIIII\n"), "looks like FASTQ, not FASTA"),
        (b">a\nAC\x00GT\n", "binary data, not a FASTA file (byte 0x00 at offset 5)"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary data, not a FASTA file"),
        (">a\nACGT\n".encode("utf-16"), "binary data, not a FASTA file"),
        (b"\x1f\x8b\x07\x00" + b"\x00" * 20, "not a valid gzip file"),
        (b"\x1f\x8b", "truncated or corrupt gzip data"),
        (b">a\rACGT\rACGT\r", "old Mac line endings"),
    ],
    ids=lambda value: None if isinstance(value, bytes) else value.split(" (")[0],
)
def test_open_rejects(tmp_path, data, message):
    path = write(tmp_path / "bad.fa", data)
    with pytest.raises(FileFormatError) as info:
        open_fasta(path)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_open_missing_and_directory(tmp_path):
    with pytest.raises(FileFormatError, match=r"^nope\.fa: no such file$"):
        open_fasta("nope.fa")
    with pytest.raises(FileFormatError, match="is a directory"):
        open_fasta(tmp_path)


@pytest.mark.parametrize("kind", ["plain", "gzip", "bgzip"])
def test_kind_is_sniffed_not_taken_from_extension(tmp_path, kind):
    name = "x.fa.gz" if kind == "plain" else "x.fa"
    with open_fasta(write(tmp_path / name, ">a\nACGT\n", kind)) as fasta:
        assert (fasta.kind, fasta.indexed, fasta.contigs()) == (kind, False, None)
        assert [r.id for r in fasta.records()] == ["a"]


# -- errors while reading ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["plain", "gzip", "bgzip"])
@pytest.mark.parametrize(
    "text, message",
    [
        (
            ">seq1 ok\nACGT\n>seq2 protein\nACGTACGTAC\nGTACGTEACG\n",
            "bad.fa: record 'seq2' position 17: invalid character 'E' (not a nucleotide or IUPAC code)",
        ),
        (">a\nACGT\n@x\nAC\n", "record 'a' position 5: invalid character '@'"),
        (">a\nACGT\n+\n", "record 'a' position 5: invalid character '+'"),
        (">a\nAC>GT\n", "record 'a' position 3: invalid character '>'"),
        (">a\nACGT\n>b\nAC\n>a again\nTT\n", "duplicate record id 'a' (first seen at record 1)"),
        (">a\n>b\nACGT\n", "record 'a' is empty"),
        (">a\nACGT\n>b\n\n  \n", "record 'b' is empty"),
        (">a\nACGT\n>b", "record 'b' is empty"),
        ("> a\nACGT\n", "record 1: empty record id in header '> a'"),
        (">a\nAC\n>\nACGT\n", "record 2: empty record id"),
        (">a\nAC\n" + "A" * 70_000 + "\x01\n", "record 'a' position 70003: binary data (byte 0x01)"),
    ],
)
def test_reading_errors(tmp_path, kind, text, message):
    path = write(tmp_path / "bad.fa", text, kind)
    with pytest.raises(FileFormatError) as info:
        read_all(path)
    assert message in str(info.value)
    assert str(info.value).startswith(str(path))


@pytest.mark.parametrize("kind", ["gzip", "bgzip"])
def test_truncated_gzip(tmp_path, kind):
    data = write(tmp_path / "whole.fa.gz", EXAMPLE.read_bytes(), kind).read_bytes()
    path = write(tmp_path / "cut.fa.gz", data[: len(data) * 9 // 10])  # past the first 64 KiB checked on open
    with pytest.raises(FileFormatError, match=f"truncated or corrupt gzip data while reading record '{BIG}'"):
        read_all(path)
    path = write(tmp_path / "cut.fa.gz", data[:100])
    with pytest.raises(FileFormatError, match=r"cut\.fa\.gz: truncated or corrupt gzip data"):
        read_all(path)


def test_corrupt_gzip(tmp_path):
    data = bytearray(gzip.compress(EXAMPLE.read_bytes()))
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)
    path = write(tmp_path / "corrupt.fa.gz", bytes(data))
    with pytest.raises(FileFormatError, match=r"corrupt\.fa\.gz: truncated or corrupt gzip data"):
        read_all(path)


# -- valid inputs -----------------------------------------------------------------------------------

RECORDS = {
    "plain": "ACGTACGTTTGACCA" * 7,
    "lower": "acgtnnnnACGTacgtRYKM",
    "nrun": "N" * 5000 + "ACGT" * 10 + "N" * 3000,
    "single": "G",
}


def fasta_text(records: dict[str, str], width: int = 60, newline: str = "\n", pad: str = "") -> str:
    lines = []
    for name, seq in records.items():
        lines.append(f">{name} some description{pad}")
        lines += [seq[i : i + width] + pad for i in range(0, len(seq), width)]
    return newline.join(lines) + newline


def assert_records(path: Path, records: dict[str, str]) -> None:
    got = read_all(path, softmask=True)
    assert list(got) == list(records)
    for name, seq in records.items():
        tokens, mask = got[name]
        assert np.array_equal(tokens, encode(seq))
        assert mask.tolist() == [ch.islower() for ch in seq]


@pytest.mark.parametrize("kind", ["plain", "gzip", "bgzip"])
@pytest.mark.parametrize(
    "variant",
    ["lf", "crlf", "trailing_space", "blank_lines", "width_7", "one_long_line"],
)
def test_valid_variants(tmp_path, kind, variant):
    records = {**RECORDS, "long": "NTGCA" * 20_000 + "acgt" * 2_500}  # one 110 kbp record
    text = {
        "lf": lambda: fasta_text(records),
        "crlf": lambda: fasta_text(records, newline="\r\n"),
        "trailing_space": lambda: fasta_text(records, pad=" \t "),
        "blank_lines": lambda: (
            "\n\n" + fasta_text(records).replace("\n>", "\n\n\r\n>").replace("A\n", "A\n\n")
        ),
        "width_7": lambda: fasta_text(records, width=7),
        "one_long_line": lambda: fasta_text(records, width=10**6),
    }[variant]()
    assert_records(write(tmp_path / "ok.fa", text, kind), records)


def test_many_records(tmp_path):
    rng = np.random.default_rng(0)
    records = {f"r{i}": "".join(rng.choice(list("ACGTacgtN"), rng.integers(1, 300))) for i in range(2000)}
    assert_records(write(tmp_path / "many.fa.gz", fasta_text(records), "gzip"), records)


def test_header_is_id_and_description(tmp_path):
    path = write(tmp_path / "h.fa", ">chr1\tdesc with  spaces \r\nAC\n>chr2\nGT\n")
    with open_fasta(path) as fasta:
        got = [(r.id, r.contig, r.start, r.end, r.description, r.source) for r in fasta.records()]
    assert got == [
        ("chr1", "chr1", 0, None, "chr1\tdesc with  spaces", str(path)),
        ("chr2", "chr2", 0, None, "chr2", str(path)),
    ]


# -- example file: all readers agree ----------------------------------------------------------------


def test_example_file_is_small_and_indexed():
    assert EXAMPLE.stat().st_size < 400_000
    assert (DATA / "chr20_example.fa.gz.fai").is_file() and (DATA / "chr20_example.fa.gz.gzi").is_file()


def test_readers_agree_on_example(tmp_path, indexed_plain, example_records):
    paths = {
        "plain": EXAMPLE,
        "plain_indexed": indexed_plain,
        "gzip": write(tmp_path / "g.fa.gz", EXAMPLE.read_bytes(), "gzip"),
        "bgzip": write(tmp_path / "b.fa.gz", EXAMPLE.read_bytes(), "bgzip"),
        "bgzip_indexed": EXAMPLE_BGZ,
    }
    results = {}
    for label, path in paths.items():
        with open_fasta(path) as fasta:
            assert fasta.indexed == label.endswith("indexed")
            results[label] = sources(fasta.records(softmask=True))
    for label in paths:
        assert_same(results[label], results["plain_indexed"])
    assert [r[0] for r in results["plain"]] == list(example_records)
    tokens = {r[0]: r[6] for r in results["plain"]}
    assert all(tokens[name] == encode(seq).tobytes() for name, seq in example_records.items())
    masks = {r[0]: r[7] for r in results["bgzip_indexed"]}
    assert masks[MASKED].sum() == 600 and masks[MASKED][1000:1600].all()
    assert tokens[TELOMERE][:1000] == bytes([4]) * 1000 and 4 not in tokens[TELOMERE][1000:]


def test_indexed_lengths_and_end(indexed_plain, example_records):
    with open_fasta(EXAMPLE_BGZ) as fasta:
        assert fasta.contigs() == {name: len(seq) for name, seq in example_records.items()}
        assert fasta.has_contig(BIG) and not fasta.has_contig("20")
        big = next(r for r in fasta.records() if r.id == BIG)
        assert (big.start, big.end, big.length) == (0, 150_000, 150_000)


def test_sequential_end_known_after_reading():
    with open_fasta(EXAMPLE) as fasta:
        record = next(fasta.records())
        assert record.end is None and record.length is None
        assert len(record.tokens()) == record.end == record.length == 3000


def test_no_index_written_and_fallback_without_pysam(tmp_path, monkeypatch):
    path = write(tmp_path / "x.fa.gz", EXAMPLE.read_bytes(), "bgzip")
    read_all(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.fa.gz"]
    shutil.copy(EXAMPLE_BGZ.with_suffix(".gz.fai"), tmp_path / "x.fa.gz.fai")
    shutil.copy(EXAMPLE_BGZ.with_suffix(".gz.gzi"), tmp_path / "x.fa.gz.gzi")
    assert open_fasta(path).indexed
    monkeypatch.setitem(sys.modules, "pysam", None)  # import pysam -> ImportError
    with open_fasta(path) as fasta:
        assert not fasta.indexed
        assert BIG in {r.id for r in fasta.records()}


# -- pieces and skipping ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", [EXAMPLE, EXAMPLE_BGZ], ids=["sequential", "indexed"])
@pytest.mark.parametrize("size", [1, 7, 61, 1000, 4096, 1 << 20])
def test_pieces_concatenate_to_tokens(path, size, example_records):
    with open_fasta(path) as fasta:
        for record in fasta.records(softmask=True):
            if size < 61 and record.id == BIG:
                continue  # keep tiny piece sizes to the short records
            pieces = list(record.pieces(size))
            assert all(len(t) == size for t, _ in pieces[:-1]) and 0 < len(pieces[-1][0]) <= size
            tokens = np.concatenate([t for t, _ in pieces])
            mask = np.concatenate([m for _, m in pieces])
            seq = example_records[record.id]
            assert np.array_equal(tokens, encode(seq))
            assert np.array_equal(mask, [ch.islower() for ch in seq])


def test_pieces_without_softmask_have_none():
    with open_fasta(EXAMPLE_BGZ) as fasta:
        record = next(fasta.records())
        assert all(mask is None for _, mask in record.pieces(1000))
        with pytest.raises(ValueError, match="no softmask"):
            record.tokens(softmask=True)
        with pytest.raises(ValueError, match="piece size"):
            next(record.pieces(0))


@pytest.mark.parametrize("kind", ["plain", "gzip"])
def test_skipping_records(tmp_path, kind, example_records):
    path = write(tmp_path / "ex.fa", EXAMPLE.read_bytes(), kind)
    names = list(example_records)
    with open_fasta(path) as fasta:
        seen = []
        for i, record in enumerate(fasta.records()):
            seen.append(record.id)
            if i % 3 == 1:
                assert np.array_equal(record.tokens(), encode(example_records[record.id]))
            elif i % 3 == 2:
                first = next(record.pieces(100))[0]  # read a little, then move on
                assert np.array_equal(first, encode(example_records[record.id][:100]))
    assert seen == names
    assert fasta.seen_contigs == set(names)


def test_skipped_record_is_still_checked(tmp_path):
    path = write(tmp_path / "x.fa", ">a\nAC\n>b\n\n>c\nGG\n")
    with open_fasta(path) as fasta, pytest.raises(FileFormatError, match="record 'b' is empty"):
        [r.id for r in fasta.records()]


def test_stale_record_raises(tmp_path):
    path = write(tmp_path / "x.fa", ">a\nACGT\n>b\nGG\n>c\nTT\n")
    with open_fasta(path) as fasta:
        records = fasta.records()
        a = next(records)
        pieces = a.pieces(2)
        assert next(pieces)[0].tolist() == [0, 1]
        b = next(records)
        with pytest.raises(RuntimeError, match="was skipped while its bases were read"):
            list(pieces)
        with pytest.raises(RuntimeError, match="already read or skipped"):
            a.tokens()
        assert b.tokens().tolist() == [2, 2]
        with pytest.raises(RuntimeError, match="already read or skipped"):
            b.tokens()


# -- intervals --------------------------------------------------------------------------------------


def example_intervals() -> list[Interval]:
    return [
        parse_region(f"{BIG}:1,001-2,000"),
        Interval(MASKED, 950, 1650, name="masked"),
        Interval(BIG, 1500, 3000, name="overlap"),
        parse_region(TELOMERE),
        parse_region(f"{BIG}:1,001-2,000"),
        parse_region(f"{MASKED}:3990"),
        Interval("not_in_file", 0, 10),
        Interval(BIG, 149_999, 150_000),
    ]


def test_intervals_indexed_equals_sequential(tmp_path, indexed_plain, example_records):
    results = {}
    for label, path in [
        ("plain", EXAMPLE),
        ("gzip", write(tmp_path / "g.fa.gz", EXAMPLE.read_bytes(), "gzip")),
        ("bgzip_indexed", EXAMPLE_BGZ),
        ("plain_indexed", indexed_plain),
    ]:
        with open_fasta(path) as fasta:
            results[label] = sorted(sources(fasta.intervals(example_intervals(), softmask=True)), key=str)
            assert fasta.has_contig(BIG) and not fasta.has_contig("not_in_file")
    for label in results:
        assert_same(results[label], results["bgzip_indexed"])
    assert len(results["plain"]) == 7
    for _, contig, start, end, *_, tokens, mask in results["plain"]:
        seq = example_records[contig][start:end]
        assert tokens == encode(seq).tobytes()
        assert np.array_equal(mask, [ch.islower() for ch in seq])


def test_intervals_order_and_fields():
    with open_fasta(EXAMPLE_BGZ) as fasta:
        got = [(s.id, s.contig, s.start, s.end, s.name) for s in fasta.intervals(example_intervals())]
    assert got == [
        (f"{BIG}:1001-2000", BIG, 1000, 2000, None),
        (f"{MASKED}:951-1650", MASKED, 950, 1650, "masked"),
        (f"{BIG}:1501-3000", BIG, 1500, 3000, "overlap"),
        (TELOMERE, TELOMERE, 0, 3000, None),
        (f"{BIG}:1001-2000", BIG, 1000, 2000, None),
        (f"{MASKED}:3990-", MASKED, 3989, 4000, None),
        (f"{BIG}:150000-150000", BIG, 149_999, 150_000, None),
    ]
    with open_fasta(EXAMPLE) as fasta:
        order = [s.contig for s in fasta.intervals(example_intervals())]
    assert order == [TELOMERE, MASKED, MASKED, BIG, BIG, BIG, BIG]  # file order, given order within a contig


@pytest.mark.parametrize("path", [EXAMPLE, EXAMPLE_BGZ], ids=["sequential", "indexed"])
@pytest.mark.parametrize(
    "interval, region",
    [
        (Interval(TELOMERE, 2000, 3001), f"{TELOMERE}:2001-3001"),
        (Interval(TELOMERE, 3000, None), f"{TELOMERE}:3001-"),
        (parse_region(f"{TELOMERE}:1-99999999"), f"{TELOMERE}:1-99999999"),
    ],
)
def test_interval_outside_contig(path, interval, region):
    with open_fasta(path) as fasta, pytest.raises(FileFormatError) as info:
        list(fasta.intervals([Interval(BIG, 0, 10), interval]))
    assert str(info.value) == f"{path}: region {region} is outside contig '{TELOMERE}' (length 3000)"


def test_indexed_intervals_checked_before_yielding():
    with open_fasta(EXAMPLE_BGZ) as fasta:
        intervals = fasta.intervals([Interval(BIG, 0, 10), Interval(TELOMERE, 0, 5000)])
        with pytest.raises(FileFormatError, match="outside contig"):
            next(intervals)


@pytest.mark.parametrize("indexed", [False, True], ids=["sequential", "indexed"])
def test_interval_errors_use_contig_positions(tmp_path, indexed):
    path = write(tmp_path / "x.fa", fasta_text({"a": "ACGT" * 10 + "AC!GT" + "ACGT" * 10}, width=10))
    if indexed:
        pysam.faidx(str(path))
    with open_fasta(path) as fasta:
        assert fasta.indexed == indexed
        ok = [s.tokens() for s in fasta.intervals([Interval("a", 0, 40), Interval("a", 43, 80)])]
        assert [len(t) for t in ok] == [40, 37]
        with pytest.raises(FileFormatError, match=r"x\.fa: record 'a' position 43: invalid character '!'"):
            [s.tokens() for s in fasta.intervals([Interval("a", 30, 50)])]


def test_empty_interval_rejected():
    with open_fasta(EXAMPLE) as fasta, pytest.raises(FileFormatError, match="is empty or negative"):
        list(fasta.intervals([Interval(BIG, 10, 10)]))


def test_sequence_source_is_a_dataclass():
    src = SequenceSource("a", "a", 0, 4, "x.fa", "a desc")
    assert (src.name, src.length, src.softmask) == (None, 4, False)


# -- real data --------------------------------------------------------------------------------------


@pytest.mark.realdata
def test_chr20_indexed_equals_sequential(tmp_path):
    if not CHR20.is_file():
        pytest.skip(f"{CHR20} not present")
    unindexed = tmp_path / "chr20.fa.gz"
    unindexed.symlink_to(CHR20)
    regions = [parse_region("20:31,000,001-31,150,000"), parse_region("20:59,001-60,100")]
    with open_fasta(CHR20) as indexed, open_fasta(unindexed) as sequential:
        assert indexed.indexed and not sequential.indexed and indexed.kind == sequential.kind == "bgzip"
        assert indexed.contigs() == {"20": 63_025_520}
        assert_same(
            sources(indexed.intervals(regions, True)),
            sources(sequential.intervals(regions, True)),
        )
        assert sequential.seen_contigs == {"20"}
        with pytest.raises(
            FileFormatError, match=r"region 20:1-99999999 is outside contig '20' \(length 63025520\)"
        ):
            list(indexed.intervals([parse_region("20:1-99999999")]))
