"""Scoring: streamed log-likelihood equals the full forward pass; the score command's output."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

from dnaconv.checkpoint import save_model
from dnaconv.cli import cli
from dnaconv.lm import perplexity, stream_nll, stream_nll_chunks
from dnaconv.tokenizer import N, encode
from tests.helpers import strong_model, tiny_config


@pytest.fixture(scope="module")
def model():
    return strong_model(tiny_config(filter_len=40))


def direct_nll(model, tokens):
    with torch.no_grad():
        logits = model(torch.as_tensor(tokens)[None].long())[0]
    t = torch.as_tensor(tokens).long()
    keep = t[1:] < N
    return F.cross_entropy(logits[:-1][keep], t[1:][keep], reduction="sum").item(), int(keep.sum())


@pytest.mark.parametrize("chunk", [1, 7, 40, 333, 1000])
def test_streamed_nll_equals_full_pass(model, chunk):
    tokens = encode("ACGTTGCANNNNACGGGT" * 30 + "ACGTAC")
    total, n = stream_nll(model, tokens, chunk_size=chunk)
    ref, ref_n = direct_nll(model, tokens)
    assert n == ref_n == sum(1 for x in tokens[1:] if x < N)
    assert math.isclose(total, ref, rel_tol=1e-5)


def test_uneven_chunks_and_length(model):
    tokens = encode("ACGT" * 100)
    pieces = [tokens[:3], tokens[3:3], tokens[3:250], tokens[250:]]
    total, n, length = stream_nll_chunks(model, pieces)
    ref, ref_n = direct_nll(model, tokens)
    assert (n, length) == (ref_n, 400) and math.isclose(total, ref, rel_tol=1e-5)
    assert math.isclose(perplexity(total, n), math.exp(ref / ref_n), rel_tol=1e-5)


def test_score_command(tmp_path, model):
    save_model(model, tmp_path / "m")
    fa = tmp_path / "x.fa"
    fa.write_text(">a first\nACGTACGTNNACGT\n>b\nNNNN\n>c\nGATTACA\n")
    r = CliRunner().invoke(cli, ["score", str(fa), "--model", str(tmp_path / "m"), "--json", "-q"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in r.output.splitlines()]
    assert [x["id"] for x in rows] == ["a", "b", "c"]
    assert {"id", "length", "n_scored", "perplexity", "bits_per_base"} <= set(rows[0])
    assert (rows[0]["length"], rows[0]["n_scored"]) == (14, 11)
    assert rows[1]["n_scored"] == 0 and rows[1]["perplexity"] is None  # strict JSON: null, not NaN
    total, n = stream_nll(model, encode("GATTACA"))
    assert math.isclose(rows[2]["perplexity"], math.exp(total / n), rel_tol=1e-5)
    assert math.isclose(rows[2]["bits_per_base"], total / n / math.log(2), rel_tol=1e-5)
    table = CliRunner().invoke(cli, ["score", str(fa), "--model", str(tmp_path / "m"), "-q"])
    assert table.output.splitlines()[0] == "id\tlength\tn_scored\tnll\tperplexity\tbits_per_base"
    assert table.output.splitlines()[3].startswith("c\t7\t6\t")


def test_score_region_and_errors(tmp_path, model):
    save_model(model, tmp_path / "m")
    fa = tmp_path / "x.fa"
    fa.write_text(">a\nACGTACGTACGTAAAA\n")
    r = CliRunner().invoke(
        cli, ["score", str(fa), "--model", str(tmp_path / "m"), "--region", "a:3-10", "--json", "-q"]
    )
    assert r.exit_code == 0 and json.loads(r.output)["id"] == "a:3-10" and json.loads(r.output)["length"] == 8
    r = CliRunner().invoke(cli, ["score", str(fa), "--model", str(tmp_path / "m"), "--region", "b:1-5", "-q"])
    assert r.exit_code == 1 and "contig 'b' is not in" in r.output
    (tmp_path / "p.fa").write_text(">p\nMKVLE\n")
    r = CliRunner().invoke(cli, ["score", str(tmp_path / "p.fa"), "--model", str(tmp_path / "m"), "-q"])
    assert r.exit_code == 1 and r.output.startswith("Error: ") and "record 'p' position 4" in r.output
