"""make_shards / load_shards: windows against FastaInput tokens, splits, N filter, counts, corrupt shards."""

from __future__ import annotations

import json
import shutil
import time

import numpy as np
import pytest

from dnaconv.fasta import open_fasta
from dnaconv.regions import Interval, parse_region
from dnaconv.shard import SPLITS, ShardSpec, load_shards, make_shards, parse_split_chrom, shards_info
from dnaconv.tokenizer import N

RNG = np.random.default_rng(0)


def random_seq(n: int, alphabet: str = "ACGT") -> str:
    return "".join(RNG.choice(list(alphabet), n))


def write_fasta(path, records, width=60) -> str:
    with open(path, "w") as f:
        for rid, seq in records:
            f.write(f">{rid} test record\n")
            f.writelines(seq[i : i + width] + "\n" for i in range(0, len(seq), width))
    return str(path)


def source_tokens(path, softmask=False) -> dict:
    with open_fasta(path) as fasta:
        return {record.id: record.tokens(softmask) for record in fasta.records(softmask=softmask)}


def reference_windows(n_tokens, start, end, length, stride, min_length, max_n_frac):
    """(start, end) of the windows kept in segment [start, end) of a contig whose N positions are given."""
    windows, pos = [], start
    while pos + length <= end:
        windows.append((pos, pos + length))
        pos += stride
    if pos < end and end - pos >= min_length:
        windows.append((pos, end))
    return [(s, e) for s, e in windows if n_tokens[s:e].sum() <= max_n_frac * (e - s)]


def rows(out, split, expect_length=None) -> list[dict]:
    dataset = load_shards(out, split, expect_length=expect_length)
    return [dataset[i] for i in range(len(dataset))]


def shard(paths, out, progress=False, **kw):
    expected = kw.pop("expected", None)
    force = kw.pop("force", False)
    return make_shards(paths, str(out), ShardSpec(**kw), expected=expected, force=force, progress=progress)


# -- windows ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "length, stride, min_length",
    [(1000, None, None), (999, None, None), (1000, 300, None), (1025, 2000, 1), (4096, None, 4096)],
    ids=["1000", "odd-999", "stride300", "stride-gt-length", "full-only"],
)
def test_windows_are_slices_of_the_input(example_fasta, tmp_path, length, stride, min_length):
    summary = shard(
        [example_fasta], tmp_path / "s", length=length, stride=stride, max_n_frac=0.5, min_length=min_length
    )
    tokens = source_tokens(example_fasta)
    got = rows(tmp_path / "s", "train", expect_length=length)
    settings = summary["spec"]
    want = [
        (rid, s, e)
        for rid, toks in tokens.items()
        for s, e in reference_windows(
            toks == N, 0, len(toks), length, settings["stride"], settings["min_length"], 0.5
        )
    ]
    assert [(r["contig"], r["start"], r["end"]) for r in got] == want
    for r in got:
        np.testing.assert_array_equal(r["tokens"], tokens[r["contig"]][r["start"] : r["end"]])
        assert r["split"] == "train"
    counts = summary["counts"]["train"]
    assert counts["windows"] == len(want)
    assert counts["bases"] == sum(e - s for _, s, e in want)
    assert summary["input_counts"]["bases"] == sum(len(t) for t in tokens.values()) == 168_000
    assert [len(load_shards(tmp_path / "s", split)) for split in ("valid", "test")] == [0, 0]


def test_gzip_and_plain_give_the_same_shards(example_fasta, tmp_path):
    shard([example_fasta], tmp_path / "plain", length=2048)
    shard([str(example_fasta) + ".gz"], tmp_path / "bgzip", length=2048)
    a, b = rows(tmp_path / "plain", "train"), rows(tmp_path / "bgzip", "train")
    assert len(a) == len(b) > 0
    for x, y in zip(a, b):
        assert (x["contig"], x["start"], x["end"]) == (y["contig"], y["start"], y["end"])
        np.testing.assert_array_equal(x["tokens"], y["tokens"])


@pytest.mark.parametrize(
    "n, min_length, starts, dropped",
    [
        (25, None, [0, 10, 20], 0),
        (24, None, [0, 10], 1),
        (25, 10, [0, 10], 1),
        (7, None, [0], 0),
        (4, None, [], 1),
    ],
    ids=["tail5-kept", "tail4-dropped", "full-only", "short-record-kept", "short-record-dropped"],
)
def test_last_window_kept_when_at_least_min_length(tmp_path, n, min_length, starts, dropped):
    fa = write_fasta(tmp_path / "a.fa", [("r", random_seq(n))])
    summary = shard([fa], tmp_path / "s", length=10, min_length=min_length)
    assert [r["start"] for r in rows(tmp_path / "s", "train")] == starts
    assert summary["counts"]["train"]["dropped_short_windows"] == dropped


def test_stride_overlapping_windows(tmp_path):
    seq = random_seq(100)
    fa = write_fasta(tmp_path / "a.fa", [("r", seq)])
    shard([fa], tmp_path / "s", length=10, stride=4)
    got = rows(tmp_path / "s", "train")
    assert [(r["start"], r["end"]) for r in got] == [(s, s + 10) for s in range(0, 91, 4)] + [(92, 100)]
    tokens = source_tokens(fa)["r"]
    for r in got:
        np.testing.assert_array_equal(r["tokens"], tokens[r["start"] : r["end"]])


@pytest.mark.parametrize("max_n_frac", [0.0, 0.3, 0.5, 1.0])
def test_windows_dominated_by_n_are_dropped(tmp_path, max_n_frac):
    # window k (10 bases) holds k N's: k = 0..10
    seq = "".join("N" * k + random_seq(10 - k) for k in range(11))
    fa = write_fasta(tmp_path / "a.fa", [("r", seq)])
    summary = shard([fa], tmp_path / "s", length=10, max_n_frac=max_n_frac)
    kept = [k for k in range(11) if k <= max_n_frac * 10]
    got = rows(tmp_path / "s", "train")
    assert [r["start"] for r in got] == [10 * k for k in kept]
    counts = summary["counts"]["train"]
    assert counts["n_bases"] == sum(kept)
    assert counts["dropped_n_windows"] == 11 - len(kept)
    assert summary["input_counts"]["n_bases"] == 55


@pytest.mark.parametrize("softmask", [True, False], ids=["kept", "dropped"])
def test_softmask_column(example_fasta, tmp_path, softmask):
    shard([example_fasta], tmp_path / "s", length=500, softmask=softmask)
    dataset = load_shards(tmp_path / "s", "train")
    assert ("softmask" in dataset.column_names) == softmask
    tokens = source_tokens(example_fasta, softmask=True)
    masked = 0
    for r in (dataset[i] for i in range(len(dataset))):
        want_tokens, want_mask = (a[r["start"] : r["end"]] for a in tokens[r["contig"]])
        np.testing.assert_array_equal(r["tokens"], want_tokens)  # upper-cased either way
        if softmask:
            np.testing.assert_array_equal(r["softmask"], want_mask.astype(np.uint8))
            masked += int(r["softmask"].sum())
    assert masked == (600 if softmask else 0)  # bases 1001-1600 of chr20_10000001_10004000


# -- splits -----------------------------------------------------------------------------------------


def assert_inside(rows_, intervals):
    for r in rows_:
        assert any(r["contig"] == i.contig and i.start <= r["start"] and r["end"] <= i.end for i in intervals)


def test_split_by_bed(example_fasta, tmp_path):
    bed = tmp_path / "splits.bed"
    bed.write_text(
        "chr20_30946001_31096000\t0\t100000\ttrain\n"
        "chr20_30946001_31096000\t100000\t120000\tvalid\n"
        "chr20_30946001_31096000\t120000\t150000\ttest\n"
        "chr20_45000001_45005000\t1000\t4500\ttrain\n"
    )
    summary = shard([example_fasta], tmp_path / "s", length=1000, splits=str(bed))
    assert summary["split"]["kind"] == "bed"
    assert summary["split"]["intervals"] == {"train": 2, "valid": 1, "test": 1}
    tokens = source_tokens(example_fasta)
    got = {split: rows(tmp_path / "s", split) for split in SPLITS}
    assert [len(got[s]) for s in SPLITS] == [100 + 4, 20, 30]  # 45000001 interval: 3 full + 500-base tail
    for split in SPLITS:
        assert all(r["split"] == split for r in got[split])
        for r in got[split]:
            np.testing.assert_array_equal(r["tokens"], tokens[r["contig"]][r["start"] : r["end"]])
    assert got["train"][-1]["start"] == 4000 and got["train"][-1]["end"] == 4500


@pytest.mark.parametrize(
    "bed, message",
    [
        ("r\t0\t50\ttrain\nr\t40\t80\ttest\n", "split regions overlap: r:1-50 (train) and r:41-80 (test)"),
        (
            "r\t0\t50\ttrain\nr\t10\t20\ttrain\nr\t30\t80\tvalid\n",
            "overlap: r:1-50 (train) and r:31-80 (valid)",
        ),
        ("r\t0\t50\tholdout\n", "column 4 must name the split (train, valid or test), got 'holdout'"),
        ("r\t0\t50\n", "got None"),
        ("r\t0\t150\ttrain\n", "r:1-150 (train) is outside contig 'r' (length 100)"),
        ("q\t0\t50\ttest\n", "contigs not in the inputs: q:1-50 (test)"),
    ],
    ids=["overlap", "nested-overlap", "bad-name", "no-name", "outside", "missing-contig"],
)
def test_bad_bed_splits(tmp_path, bed, message):
    fa = write_fasta(tmp_path / "a.fa", [("r", random_seq(100))])
    (tmp_path / "s.bed").write_text(bed)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        shard([fa], tmp_path / "s", length=10, splits=str(tmp_path / "s.bed"))
    assert not (tmp_path / "s").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.fa", "s.bed"]  # no temporary directory left


def test_split_by_chromosome(tmp_path):
    records = [("a", random_seq(95)), ("b", random_seq(40)), ("c", random_seq(30)), ("d", random_seq(20))]
    fa = write_fasta(tmp_path / "a.fa", records)
    summary = shard([fa], tmp_path / "s", length=10, splits=parse_split_chrom("valid=b,test=c,d"))
    got = {split: rows(tmp_path / "s", split) for split in SPLITS}
    assert {r["contig"] for r in got["train"]} == {"a"} and len(got["train"]) == 10
    assert {r["contig"] for r in got["valid"]} == {"b"} and len(got["valid"]) == 4
    assert [r["contig"] for r in got["test"]] == ["c"] * 3 + ["d"] * 2
    assert summary["split"] == {
        "kind": "chrom",
        "train": "every other contig",
        "valid": ["b"],
        "test": ["c", "d"],
    }
    # an explicit train list leaves the other contigs out
    summary = shard([fa], tmp_path / "t", length=10, splits=parse_split_chrom("train=a,test=c"))
    assert summary["counts"]["valid"]["windows"] == 0 and summary["input_counts"]["records"] == 4
    assert {r["contig"] for r in rows(tmp_path / "t", "train")} == {"a"}
    with pytest.raises(ValueError, match=r"contigs not in the inputs: chr8 \(valid\)"):
        shard([fa], tmp_path / "u", length=10, splits=parse_split_chrom("valid=chr8"))


@pytest.mark.parametrize(
    "text, want",
    [
        ("valid=chr8,test=chr20,chr21", {"valid": ["chr8"], "test": ["chr20", "chr21"]}),
        (" test = 20 ", {"test": ["20"]}),
        ("train=1,2,valid=3", {"train": ["1", "2"], "valid": ["3"]}),
    ],
)
def test_parse_split_chrom(text, want):
    assert parse_split_chrom(text) == want


@pytest.mark.parametrize(
    "text, message",
    [
        ("chr8", "bad split 'chr8'"),
        ("holdout=chr8", "bad split name 'holdout'"),
        ("valid=chr8,valid=chr9", "split 'valid' is given twice"),
        ("valid=chr8,test=chr8", "contig 'chr8' is listed twice"),
        ("valid=", "bad contig ''"),
        ("valid=chr8,", "bad contig ''"),
    ],
)
def test_parse_split_chrom_errors(text, message):
    with pytest.raises(ValueError, match=message):
        parse_split_chrom(text)


def test_held_out_regions(example_fasta, tmp_path):
    contig = "chr20_30946001_31096000"  # 150 kb
    valid, test = Interval(contig, 50_500, 60_000), Interval(contig, 70_000, 90_250)
    summary = shard([example_fasta], tmp_path / "s", length=1000, splits={"valid": [valid], "test": [test]})
    assert summary["split"]["valid"] == [valid.id]
    tokens = source_tokens(example_fasta)
    got = {split: rows(tmp_path / "s", split) for split in SPLITS}
    assert_inside(got["valid"], [valid])
    assert_inside(got["test"], [test])
    for r in got["train"]:
        assert (
            r["contig"] != contig
            or r["end"] <= valid.start
            or r["start"] >= test.end
            or (valid.end <= r["start"] and r["end"] <= test.start)
        )
    # the train segments of the held-out contig, windowed on their own
    n_mask = tokens[contig] == N
    segments = [(0, 50_500), (60_000, 70_000), (90_250, 150_000)]
    want = [w for s, e in segments for w in reference_windows(n_mask, s, e, 1000, 1000, 500, 0.5)]
    assert [(r["start"], r["end"]) for r in got["train"] if r["contig"] == contig] == want
    assert want[50:52] == [(50_000, 50_500), (60_000, 61_000)]  # a 500-base last window is kept
    assert (got["valid"][-1]["start"], got["valid"][-1]["end"]) == (59_500, 60_000)
    assert (got["test"][-1]["start"], got["test"][-1]["end"]) == (89_000, 90_000)  # 250-base tail dropped
    assert summary["counts"]["test"]["dropped_short_windows"] == 1
    for split in SPLITS:
        for r in got[split]:
            np.testing.assert_array_equal(r["tokens"], tokens[r["contig"]][r["start"] : r["end"]])


def test_held_out_errors(tmp_path):
    fa = write_fasta(tmp_path / "a.fa", [("r", random_seq(100))])
    overlapping = {"valid": [Interval("r", 0, 50)], "test": [Interval("r", 40, None)]}
    with pytest.raises(ValueError, match=r"overlap: r:1-50 \(valid\) and r:41- \(test\)"):
        shard([fa], tmp_path / "s", length=10, splits=overlapping)
    with pytest.raises(ValueError, match="everything else is train"):
        shard([fa], tmp_path / "s", length=10, splits={"train": [Interval("r", 0, 50)]})
    with pytest.raises(TypeError, match="not both"):
        shard([fa], tmp_path / "s", length=10, splits={"valid": ["r"], "test": [Interval("r", 0, 50)]})


# -- counts, overwrite, corrupt shards ---------------------------------------------------------------


def test_expected_counts(tmp_path):
    fa = write_fasta(tmp_path / "a.fa", [("a", random_seq(95)), ("b", "NNNN" + random_seq(40))])
    good = {"records": 2, "contigs": {"a": 95, "b": 44}, "bases": 139, "n_bases": 4}
    summary = shard([fa], tmp_path / "s", length=10, expected=good)
    assert summary["expected"] == good and shards_info(tmp_path / "s")["expected"] == good
    bad_length = {"contigs": {"a": 95, "b": 45}}
    with pytest.raises(
        ValueError, match="count check failed: contig 'b' has 44 bases, the manifest expects 45"
    ):
        shard([fa], tmp_path / "t", length=10, expected=bad_length)
    missing = {"contigs": {"c": 10}, "bases": 150}
    message = (
        r"contig 'c' is missing \(the manifest expects 10 bases\); bases: read 139, the manifest expects 150"
    )
    with pytest.raises(ValueError, match=message):
        shard([fa], tmp_path / "t", length=10, expected=missing)
    assert not (tmp_path / "t").exists()


def test_refuses_to_overwrite_without_force(tmp_path):
    fa = write_fasta(tmp_path / "a.fa", [("a", random_seq(95))])
    shard([fa], tmp_path / "s", length=10)
    with pytest.raises(ValueError, match="already exists; use force=True"):
        shard([fa], tmp_path / "s", length=20)
    assert shards_info(tmp_path / "s")["spec"]["length"] == 10
    shard([fa], tmp_path / "s", length=20, force=True)
    assert len(load_shards(tmp_path / "s", "train", expect_length=20)) == 5
    other = tmp_path / "notes"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match="not replacing it"):
        shard([fa], other, length=10, force=True)
    assert (other / "keep.txt").read_text() == "mine"
    (tmp_path / "empty").mkdir()
    shard([fa], tmp_path / "empty", length=10)  # an empty directory is fine


def test_duplicate_record_across_inputs(tmp_path):
    a = write_fasta(tmp_path / "a.fa", [("x", random_seq(30))])
    b = write_fasta(tmp_path / "b.fa", [("x", random_seq(30))])
    with pytest.raises(ValueError, match="record 'x' also appears in an earlier input"):
        shard([a, b], tmp_path / "s", length=10)


@pytest.fixture
def shards(tmp_path):
    fa = write_fasta(tmp_path / "a.fa", [("a", random_seq(95)), ("b", random_seq(300))])
    shard([fa], tmp_path / "s", length=10, splits={"test": ["b"]})
    return tmp_path / "s"


def test_shards_json_records_inputs_and_spec(shards, tmp_path):
    info = shards_info(shards)
    assert info["inputs"][0]["path"] == str(tmp_path / "a.fa")
    assert len(info["inputs"][0]["sha256"]) == 64
    assert info["spec"] == {"length": 10, "stride": 10, "max_n_frac": 0.5, "softmask": False, "min_length": 5}
    assert info["columns"] == ["contig", "start", "end", "split", "tokens"]
    assert info["counts"]["test"]["windows"] == 30


def edit_info(out, edit):
    info = json.loads((out / "shards.json").read_text())
    edit(info)
    (out / "shards.json").write_text(json.dumps(info))


def first_arrow(out):
    return next((out / "test").glob("*.arrow"))


def truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def replace_tokens(split_dir, value):
    from datasets import Dataset

    dataset = Dataset.load_from_disk(str(split_dir))
    changed = dataset.map(lambda r: {"tokens": [value] * len(r["tokens"])}, features=dataset.features)
    changed.save_to_disk(str(split_dir) + ".new")
    del dataset, changed
    shutil.rmtree(split_dir)
    shutil.move(str(split_dir) + ".new", split_dir)


CORRUPTIONS = {
    "rows": (
        lambda out: edit_info(out, lambda i: i["counts"]["test"].update(windows=31)),
        "30 rows, .* says 31",
    ),
    "n-count": (
        lambda out: edit_info(out, lambda i: i["counts"]["test"].update(n_bases=3)),
        r"300 bases \(0 N\), shards.json says 300 \(3 N\)",
    ),
    "no-count": (
        lambda out: edit_info(out, lambda i: i["counts"]["test"].pop("bases")),
        "lack windows, bases",
    ),
    "length": (lambda out: edit_info(out, lambda i: i["spec"].update(length=8)), "10 tokens, more than .* 8"),
    "format": (lambda out: edit_info(out, lambda i: i.update(format="x")), "not a dnaconv shards.json"),
    "bad-json": (lambda out: (out / "shards.json").write_text("{"), "shards.json: unreadable"),
    "no-json": (lambda out: (out / "shards.json").unlink(), "no shards.json"),
    "no-arrow": (lambda out: first_arrow(out).unlink(), "cannot read the Arrow data .*No such file"),
    "no-split": (lambda out: shutil.rmtree(out / "test"), "cannot read the Arrow data"),
    "truncated": (lambda out: truncate(first_arrow(out)), "split 'test': cannot read the Arrow data"),
    "token": (lambda out: replace_tokens(out / "test", 9), "token id 9 found"),
}


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_load_shards_detects_corruption(shards, corruption):
    corrupt, message = CORRUPTIONS[corruption]
    assert len(load_shards(shards, "test")) == 30
    corrupt(shards)
    with pytest.raises(ValueError, match=message):
        load_shards(shards, "test")


def test_load_shards_asks(shards):
    with pytest.raises(ValueError, match="windows are 10 tokens long, expected 8192"):
        load_shards(shards, "train", expect_length=8192)
    with pytest.raises(ValueError, match=r"no split 'dev' \(have train, valid, test\)"):
        load_shards(shards, "dev")
    with pytest.raises(ValueError, match="no such shard directory"):
        load_shards(shards.parent / "nowhere", "train")
    train = load_shards(shards, "train", expect_length=10)
    assert train.format["type"] == "numpy" and train[:2]["tokens"].shape == (2, 10)
    assert train.features["tokens"].feature.dtype == "uint8"  # on disk; the numpy format widens to int64


def test_spec_validation():
    for kw, message in [
        (dict(length=0), "length must be >= 1"),
        (dict(length=10, stride=0), "stride must be >= 1"),
        (dict(length=10, max_n_frac=1.5), r"max_n_frac must be in \[0, 1\]"),
        (dict(length=10, min_length=11), "min_length must be in 1..10"),
    ]:
        with pytest.raises(ValueError, match=message):
            ShardSpec(**kw)


# -- real data --------------------------------------------------------------------------------------


@pytest.mark.realdata
def test_chr20_held_out_region(chr20_path, tmp_path):
    expected = {"records": 1, "contigs": {"20": 63_025_520}, "bases": 63_025_520, "n_bases": 3_520_000}
    held_out = parse_region("20:55,000,001-60,000,000")
    started = time.perf_counter()
    summary = shard(
        [chr20_path], tmp_path / "s", True, length=8192, splits={"test": [held_out]}, expected=expected
    )
    seconds = time.perf_counter() - started
    assert seconds < 60
    tokens = source_tokens(chr20_path)["20"]
    n_mask = tokens == N
    counts = summary["counts"]
    for split, segments in [
        ("train", [(0, 55_000_000), (60_000_000, 63_025_520)]),
        ("test", [(55_000_000, 60_000_000)]),
    ]:
        want = [w for s, e in segments for w in reference_windows(n_mask, s, e, 8192, 8192, 4096, 0.5)]
        dataset = load_shards(tmp_path / "s", split, expect_length=8192)
        coords = dataset.select_columns(["start", "end"])[:]
        got = list(zip(coords["start"].tolist(), coords["end"].tolist()))
        assert got == want
        assert counts[split]["windows"] == len(want)
        assert counts[split]["bases"] == sum(e - s for s, e in want)
    assert counts["test"]["windows"] == 610 and counts["test"]["n_bases"] == 0
    assert (counts["train"]["windows"], counts["train"]["dropped_n_windows"]) == (
        6655,
        428,
    )  # N: telomeres, centromere
    train = load_shards(tmp_path / "s", "train")
    coords = train.select_columns(["start", "end"])[:]
    assert not np.any((coords["start"] < 60_000_000) & (coords["end"] > 55_000_000))
    middle = train[3000]
    np.testing.assert_array_equal(middle["tokens"], tokens[middle["start"] : middle["end"]])
