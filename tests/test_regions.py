"""Region strings and BED files -> Interval (0-based half-open)."""

import gzip

import pytest

from dnaconv.errors import FileFormatError
from dnaconv.regions import Interval, parse_region, read_bed


@pytest.mark.parametrize(
    "text, expected, region_id",
    [
        ("20", Interval("20", 0, None), "20"),
        ("20:1-1", Interval("20", 0, 1), "20:1-1"),
        ("20:1,001-2,000", Interval("20", 1000, 2000), "20:1001-2000"),
        (" chr20:31000001-31150000 ", Interval("chr20", 31000000, 31150000), "chr20:31000001-31150000"),
        ("20:5", Interval("20", 4, None), "20:5-"),
        ("20:5-", Interval("20", 4, None), "20:5-"),
        ("HLA:A:1-10", Interval("HLA:A", 0, 10), "HLA:A:1-10"),
        ("chrUn_gl000220:abc", Interval("chrUn_gl000220:abc", 0, None), "chrUn_gl000220:abc"),
    ],
)
def test_parse_region(text, expected, region_id):
    interval = parse_region(text)
    assert interval == expected
    assert interval.id == region_id
    assert parse_region(interval.id) == interval


def test_parse_region_known_contig_with_colons():
    name = "HLA-A*01:01:01:01"
    assert parse_region(name, contigs={name}) == Interval(name, 0, None)
    assert parse_region(name + ":1-100", contigs={name}) == Interval(name, 0, 100)


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "bad region ''"),
        ("20:0-5", "start must be >= 1 (coordinates are 1-based), got 0"),
        ("20:10-5", "end 5 is before start 10"),
        ("20:1x", "bad region '20:1x': expected 'contig', 'contig:start' or 'contig:start-end'"),
        ("20:1-2-3", "bad region '20:1-2-3'"),
        ("20:", "bad region '20:'"),
        (":1-2", "empty contig name"),
        ("chr 1:1-2", "bad region 'chr 1:1-2'"),
    ],
)
def test_parse_region_errors(text, message):
    with pytest.raises(ValueError, match=None) as info:
        parse_region(text)
    assert message in str(info.value)


def test_interval_id():
    assert Interval("20", 0, None).id == "20"
    assert Interval("20", 99, 200, name="x").id == "20:100-200"


BED = """\
browser position chr20:1-1000
track name=test
# a comment

20\t0\t100\tfirst
20 150 250
20\t300\t400\t.\t0\t+\r
chrX\t5\t6\tname with spaces
"""


def expected_bed():
    return [
        Interval("20", 0, 100, "first"),
        Interval("20", 150, 250),
        Interval("20", 300, 400),
        Interval("chrX", 5, 6, "name with spaces"),
    ]


def test_read_bed(tmp_path):
    path = tmp_path / "a.bed"
    path.write_text(BED)
    assert read_bed(path) == expected_bed()


def test_read_bed_gzipped(tmp_path):
    path = tmp_path / "a.bed.gz"
    path.write_bytes(gzip.compress(BED.encode()))
    assert read_bed(str(path)) == expected_bed()


@pytest.mark.parametrize(
    "line, problem",
    [
        ("20\t100", "expected at least 3 columns (chrom, start, end), found 2"),
        ("20", "expected at least 3 columns (chrom, start, end), found 1"),
        ("20\tabc\t200", "start 'abc' is not an integer"),
        ("20\t100\t2e3", "end '2e3' is not an integer"),
        ("20\t1_0\t200", "start '1_0' is not an integer"),
        ("20\t-5\t10", "negative start -5"),
        ("20\t100\t100", "end 100 is not after start 100 (BED is 0-based half-open)"),
        ("20\t200\t100", "end 100 is not after start 200 (BED is 0-based half-open)"),
    ],
)
def test_read_bed_malformed_line(tmp_path, line, problem):
    path = tmp_path / "bad.bed"
    path.write_text(f"# header\n{line}\n20\t0\t10\n")
    with pytest.raises(FileFormatError) as info:
        read_bed(path)
    assert str(info.value) == f"{path}: line 2: {problem}: {line!r}"


def test_read_bed_long_line_is_truncated(tmp_path):
    path = tmp_path / "bad.bed"
    path.write_text("20\t100\t" + "9" * 50 + "x" * 500 + "\n")
    with pytest.raises(
        FileFormatError, match=r"line 1: end '9+x+' is not an integer: '20\\t100\\t9+x+\.\.\.'$"
    ):
        read_bed(path)


@pytest.mark.parametrize("content", ["", "\n\n", "# only a comment\ntrack name=x\n"])
def test_read_bed_empty(tmp_path, content):
    path = tmp_path / "empty.bed"
    path.write_text(content)
    with pytest.raises(FileFormatError, match="empty BED file"):
        read_bed(path)


def test_read_bed_missing(tmp_path):
    with pytest.raises(FileFormatError, match=r"missing\.bed: no such file"):
        read_bed(tmp_path / "missing.bed")


def test_read_bed_binary_and_corrupt_gzip(tmp_path):
    binary = tmp_path / "binary.bed"
    binary.write_bytes(b"20\t1\t2\n\xff\xfe\x00\n")
    with pytest.raises(FileFormatError, match="line 2: not UTF-8 text"):
        read_bed(binary)
    truncated = tmp_path / "cut.bed.gz"
    data = gzip.compress("".join(f"20\t{i}\t{i * 7 + 1}\n" for i in range(10_000)).encode())
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(FileFormatError, match="truncated or corrupt gzip data"):
        read_bed(truncated)
