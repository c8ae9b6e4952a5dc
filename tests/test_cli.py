"""The command line: help, version, info, embed end to end, and every bad-input case (one-line errors)."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import h5py
import pytest
from click.testing import CliRunner

from dnaconv.checkpoint import file_sha256, save_model
from dnaconv.cli import cli
from tests.helpers import strong_model, tiny_config

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "tests" / "data" / "chr20_example.fa"
EXAMPLE_BGZ = REPO / "tests" / "data" / "chr20_example.fa.gz"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("model")
    save_model(strong_model(tiny_config(filter_len=64)), d)
    return str(d)


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def command_names():
    return sorted(cli.commands)


def test_every_command_has_help_and_is_in_readme():
    readme = (REPO / "README.md").read_text()
    for name in command_names():
        r = invoke(name, "--help")
        assert r.exit_code == 0, name
        assert "Example:" in r.output, f"{name} help has no example"
        assert f"dnaconv {name}" in readme, f"`dnaconv {name}` not in README"
    assert invoke("-h").exit_code == 0


def test_version():
    from dnaconv import __version__

    r = invoke("--version")
    assert r.exit_code == 0 and __version__ in r.output


def test_info_names_default_model_and_sha():
    r = invoke("info")
    assert r.exit_code == 0
    sha = file_sha256(REPO / "dnaconv" / "default_model" / "model.safetensors")
    assert sha in r.output and "embedded default" in r.output and "fftconv=" in r.output


def test_embed_default_model_on_example(tmp_path):
    out = tmp_path / "ex.h5"
    r = invoke(
        "embed",
        EXAMPLE_BGZ,
        "--region",
        "chr20_5000001_5001000",
        "--region",
        "chr20_59001_62000:1001-2000",
        "-o",
        out,
        "-q",
    )
    assert r.exit_code == 0, r.output
    with h5py.File(out) as f:
        assert f.attrs["complete"] and f.attrs["model"] == "dnaconv-chr20-d128-l4"
        g = f["chr20_59001_62000:1001-2000"]
        assert g["embedding"].shape == (1000, 128) and g["pooled"].shape == (128,)
        assert f.attrs["command"] == (
            f"dnaconv embed {EXAMPLE_BGZ} --output {out} --region chr20_5000001_5001000 "
            "--region chr20_59001_62000:1001-2000 --quiet"
        )


def test_embed_progress_summary_on_stderr(tmp_path, model_dir):
    r = invoke("embed", EXAMPLE, "--model", model_dir, "-o", tmp_path / "o.h5", "--chunk-size", "20000")
    assert r.exit_code == 0
    assert re.search(r"Wrote 7 record\(s\), 168,000 bp in .* kbp/s", r.stderr)
    assert r.stdout == ""


def test_rc_flag_defaults_to_mean(tmp_path, model_dir):
    out = tmp_path / "rc.h5"
    r = invoke(
        "embed", EXAMPLE, "--model", model_dir, "-o", out, "--rc", "--region", "chr20_5000001_5001000", "-q"
    )
    assert r.exit_code == 0, r.output
    with h5py.File(out) as f:
        assert f.attrs["rc"] == "mean" and f["chr20_5000001_5001000"]["embedding"].shape == (1000, 24)


def test_force_and_resume(tmp_path, model_dir):
    out = tmp_path / "o.h5"
    args = ["embed", EXAMPLE, "--model", model_dir, "-o", out, "-q", "--region", "chr20_5000001_5001000"]
    assert invoke(*args).exit_code == 0
    r = invoke(*args)
    assert r.exit_code == 1
    assert (
        r.output.strip() == f"Error: {out} exists (use --force to overwrite it, or --resume to continue it)"
    )
    assert invoke(*args, "--force").exit_code == 0
    assert invoke(*args, "--resume").exit_code == 0
    assert invoke(*args, "--resume", "--force").exit_code == 2


def _bad_inputs(tmp: Path) -> dict[str, tuple[Path, str]]:
    """name -> (input file, expected message fragment)."""
    cases = {}

    def make(name, content: bytes, expect: str, suffix=".fa"):
        p = tmp / f"{name}{suffix}"
        p.write_bytes(content)
        cases[name] = (p, expect)

    make("empty", b"", "empty file")
    make("no_header", b"ACGTACGT\n", "no FASTA header")
    make("fastq", b"@read1\nACGT\n+\nIIII\n", "looks like FASTQ")
    make(
        "protein",
        b">sp|P69905|HBA_HUMAN\nMVLSPADKTNVKAAWGKVGAHAGEYGAEALERMFLSF\n",
        "record 'sp|P69905|HBA_HUMAN' position 3: invalid character 'L'",
    )
    make("binary", b">r\nACGT\x00\x01\x02\xff\n", "binary")
    make("duplicate", b">a\nACGT\n>b\nAC\n>a\nGG\n", "duplicate record id 'a'")
    make("empty_record", b">a\nACGT\n>b\n>c\nAC\n", "record 'b' is empty")
    data = gzip.compress(b">r\n" + b"ACGT" * 50_000 + b"\n")
    make("truncated_gzip", data[: len(data) // 2], "truncated or corrupt gzip", ".fa.gz")
    cases["missing"] = (tmp / "nope.fa", "no such file")
    return cases


BAD = [
    "empty",
    "no_header",
    "fastq",
    "protein",
    "binary",
    "duplicate",
    "empty_record",
    "truncated_gzip",
    "missing",
]


@pytest.mark.parametrize("case", BAD)
def test_bad_input_one_line_error_and_no_output(tmp_path, model_dir, case):
    path, expect = _bad_inputs(tmp_path)[case]
    out = tmp_path / "out.h5"
    r = invoke("embed", path, "--model", model_dir, "-o", out, "-q")
    assert r.exit_code == 1, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.output
    assert str(path.name) in lines[0] and expect in lines[0], lines[0]
    assert "Traceback" not in r.output
    assert not out.exists()


def test_crlf_lowercase_and_n_runs_are_valid(tmp_path, model_dir):
    p = tmp_path / "ok.fa"
    p.write_bytes(b">a desc\r\nacgtNNNNNNNN\r\nACGTRYKM\r\n>b\r\nNNNN\r\n")
    out = tmp_path / "ok.h5"
    r = invoke("embed", p, "--model", model_dir, "-o", out, "-q", "--softmask")
    assert r.exit_code == 0, r.output
    with h5py.File(out) as f:
        assert f["a"]["embedding"].shape == (20, 24) and f["a"].attrs["n_count"] == 12
        assert f["a"]["softmask"][:4].all() and not f["a"]["softmask"][4:].any()
        assert f["b"].attrs["n_count"] == 4


@pytest.mark.parametrize(
    "region,expect",
    [
        ("chr20_5000001_5001000:900-1200", "outside contig 'chr20_5000001_5001000' (length 1000)"),
        ("chrUn:1-10", "contig 'chrUn' is not in"),
    ],
)
def test_bad_region(tmp_path, model_dir, region, expect):
    out = tmp_path / "o.h5"
    r = invoke("embed", EXAMPLE_BGZ, "--model", model_dir, "-o", out, "--region", region, "-q")
    assert r.exit_code == 1 and r.output.startswith("Error: ") and expect in r.output, r.output
    assert len(r.output.strip().splitlines()) == 1
    assert not out.exists()


def test_unparseable_region_is_usage_error(tmp_path, model_dir):
    r = invoke("embed", EXAMPLE, "--model", model_dir, "-o", tmp_path / "o.h5", "--region", "chr1:10-5")
    assert r.exit_code == 2 and "--region" in r.output


@pytest.mark.parametrize(
    "line,expect",
    [
        ("chr20_5000001_5001000\t10\n", "line 1"),
        ("chr20_5000001_5001000\tx\t20\n", "line 1"),
        ("chr20_5000001_5001000\t30\t20\n", "line 1"),
    ],
)
def test_malformed_bed(tmp_path, model_dir, line, expect):
    bed = tmp_path / "bad.bed"
    bed.write_text(line)
    out = tmp_path / "o.h5"
    r = invoke("embed", EXAMPLE, "--model", model_dir, "-o", out, "--bed", bed, "-q")
    assert (
        r.exit_code == 1 and r.output.startswith("Error: ") and "bad.bed" in r.output and expect in r.output
    )
    assert len(r.output.strip().splitlines()) == 1
    assert not out.exists()


def test_bed_intervals(tmp_path, model_dir):
    bed = tmp_path / "ok.bed"
    bed.write_text("track name=x\nchr20_5000001_5001000\t0\t100\tfirst\nchr20_59001_62000\t990\t1010\n")
    out = tmp_path / "o.h5"
    r = invoke("embed", EXAMPLE, "--model", model_dir, "-o", out, "--bed", bed, "-q", "--pool-window", "7")
    assert r.exit_code == 0, r.output
    with h5py.File(out) as f:
        g = f["chr20_5000001_5001000:1-100"]
        assert g.attrs["name"] == "first" and g["windows"].shape == (15, 24)
        assert f["chr20_59001_62000:991-1010"].attrs["n_count"] == 10


def test_bad_model_dir(tmp_path):
    r = invoke("embed", EXAMPLE, "--model", tmp_path, "-o", tmp_path / "o.h5")
    assert r.exit_code == 1 and "not a dnaconv model directory" in r.output


def test_layer_out_of_range(tmp_path, model_dir):
    r = invoke("embed", EXAMPLE, "--model", model_dir, "-o", tmp_path / "o.h5", "--layer", "9")
    assert r.exit_code == 1 and "layer 9 out of range" in r.output
    assert not (tmp_path / "o.h5").exists()


def test_bench_embed_json(tmp_path, model_dir):
    import json

    out = tmp_path / "b.json"
    r = invoke(
        "bench",
        "embed",
        "--model",
        model_dir,
        "--length",
        3000,
        "--chunk-size",
        1000,
        "--repeats",
        1,
        "--json",
        out,
        "--device",
        "cpu",
    )
    assert r.exit_code == 0, r.output
    rows = json.loads(out.read_text())
    assert [x["mode"] for x in rows] == ["streamed", "full (baseline)"]
    assert all(x["seconds"] > 0 and x["length"] == 3000 for x in rows)
    assert "streamed" in r.output and "full (baseline)" in r.output


def test_info_json():
    import json

    d = json.loads(invoke("info", "--json").output)
    assert d["model"]["default"] and d["model"]["d_model"] == 128 and "fftconv" in d["kernels"]


def test_missing_device_is_one_line_error(tmp_path, model_dir, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    r = invoke("embed", EXAMPLE, "--model", model_dir, "-o", tmp_path / "o.h5", "--device", "cuda")
    assert r.exit_code == 1 and r.output.strip() == "Error: device 'cuda' requested but CUDA is not available"


def test_shard_and_data_commands(tmp_path):
    out = tmp_path / "sh"
    r = invoke(
        "shard",
        EXAMPLE,
        "--length",
        1000,
        "--held-out",
        "test=chr20_45000001_45005000:1-5000",
        "-o",
        out,
        "-q",
    )
    assert r.exit_code == 0, r.output
    from dnaconv.shard import load_shards

    assert len(load_shards(str(out), "test")) == 5 and len(load_shards(str(out), "train")) > 100
    r = invoke("shard", EXAMPLE, "--length", 1000, "-o", out, "-q")
    assert r.exit_code == 1 and r.output.startswith("Error: ")
    r = invoke("shard", EXAMPLE, "--length", 1000, "--held-out", "dev=x:1-5", "-o", tmp_path / "x", "-q")
    assert r.exit_code == 2 and "--held-out" in r.output
    r = invoke("shard", EXAMPLE, "--length", 1000, "--manifest", "grch37_chr20", "-o", tmp_path / "y", "-q")
    assert r.exit_code == 1 and "count check failed" in r.output and len(r.output.strip().splitlines()) == 1
    r = invoke("data", "list")
    assert r.exit_code == 0 and "hg38" in r.output and "t2t_chm13v2" in r.output
    r = invoke("data", "verify", "grch37_chr20", "--dir", tmp_path)
    assert r.exit_code == 1 and "missing" in r.output and "Error: 3 of 3 checks failed" in r.output


def test_bench_fftconv_rows():
    """``bench_fftconv``'s rows, run on the CPU (both sides the reference there): forward rows carry the
    output's error, fwd+bwd rows every gradient's and the worst as ``rel_err``, partial forward rows the
    full-length baseline; fp32 errors at rounding level, bf16's at bf16's."""
    import torch

    from dnaconv.bench import GRAD_NAMES, bench_fftconv

    cases = [("partial", 1, 3, 300, 40), ("full", 2, 2, 128, 128)]
    rows = bench_fftconv((torch.float32, torch.bfloat16), cases=cases, device="cpu")
    assert [(r["kind"], r["dtype"], r["mode"]) for r in rows] == [
        (kind, dtype, mode)
        for kind in ("partial", "full")
        for dtype in ("float32", "bfloat16")
        for mode in ("fwd", "fwd+bwd")
    ]
    for r in rows:
        assert r["impl"] == "naive" and r["ms"] > 0 and r["baseline_ms"] > 0
        assert r["rel_err"] < (1e-6 if r["dtype"] == "float32" else 2e-2)
        assert ("vs_full" in r) == (r["kind"] == "partial" and r["mode"] == "fwd")
        if r["mode"] == "fwd+bwd":
            assert set(r["grad_errors"]) == set(GRAD_NAMES) and r["rel_err"] == max(r["grad_errors"].values())
            assert r["grad_errors"] == r["baseline_grad_errors"]  # the same op on both sides here
            assert r["dtype"] == "float32" or r["grad_errors"]["du"] > 1e-4  # bf16 rounding shows


def test_bench_fftconv_cached_rows():
    """``bench_fftconv(cached=True)`` adds after each forward row one of mode "cached" (both sides given the
    filter's spectrum, computed once), with its own time, error and, for partial filters, "vs full"."""
    import torch

    from dnaconv.bench import bench_fftconv

    cases = [("partial", 1, 3, 300, 40), ("full", 2, 2, 128, 128)]
    rows = bench_fftconv((torch.float32,), backward=False, cases=cases, device="cpu", cached=True)
    assert [(r["kind"], r["mode"]) for r in rows] == [
        ("partial", "fwd"), ("partial", "cached"), ("full", "fwd"), ("full", "cached")
    ]  # fmt: skip
    for fwd, cached in (rows[:2], rows[2:]):
        assert cached["ms"] > 0 and cached["baseline_ms"] > 0 and cached["ms"] != fwd["ms"]
        assert cached["rel_err"] < 1e-6 and cached["speedup"] == cached["baseline_ms"] / cached["ms"]
        assert ("vs_full" in cached) == (cached["kind"] == "partial")
    assert (
        rows[1]["full_baseline_ms"] > 0 and rows[1]["vs_full"] == rows[1]["full_baseline_ms"] / rows[1]["ms"]
    )


def test_bench_fftconv_table(monkeypatch):
    """`dnaconv bench fftconv` prints one line per row, "-" where a row has no figure (fwd+bwd's "vs full", a
    case out of memory)."""
    import torch

    import dnaconv.bench

    row = dict(kind="partial", mode="fwd", dtype="bfloat16", L=1000, K=100, impl="triton", ms=0.5,
               baseline_ms=2.0, speedup=4.0, x_floor=3.0, rel_err=1.7e-3, baseline_rel_err=1.6e-3,
               vs_full=9.5)  # fmt: skip
    rows = [row, {**row, "mode": "fwd+bwd", "vs_full": None, "rel_err": 2.9e-3}]
    rows.append({**row, "ms": float("nan"), "speedup": float("nan"), "x_floor": float("nan")})
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(dnaconv.bench, "bench_fftconv", lambda *a, **k: rows)
    r = invoke("bench", "fftconv", "--case", "partial:1:2:1000:100")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()[1:]
    assert lines[0].split()[-7:] == ["0.500", "2.000", "4.00", "3.0", "1.7e-03", "1.6e-03", "9.50"]
    assert lines[1].split()[-3:] == ["2.9e-03", "1.6e-03", "-"]
    assert lines[2].split()[-7:] == ["-", "2.000", "-", "-", "1.7e-03", "1.6e-03", "9.50"]
