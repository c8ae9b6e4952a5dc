"""Pipelines: the Markov baseline's counting and back-off; the frequency-sparse effect; the kernel register report."""

from __future__ import annotations

import math
import os

import numpy as np

from dnaconv.pipelines.markov_baseline import clean_run, context_codes, score, train_counts
from dnaconv.tokenizer import N, encode


def test_clean_run_and_codes():
    t = encode("ACNGTA")
    assert clean_run(t).tolist() == [0, 1, 2, 0, 1, 2]
    codes = context_codes(encode("ACGT"), 2)
    assert codes[2] == 1 * 1 + 0 * 4 and codes[3] == 2 + 1 * 4  # previous base in the lowest digit


def test_periodic_sequence_is_predictable_at_order_2():
    train = encode("ACG" * 2000)
    counts = train_counts(train, 3)
    test = encode("ACG" * 50)
    nll, n = score(counts, test, 2, 0.01)
    assert n == len(test) - 1
    # the first scored base has one base of context, the rest two: all nearly certain
    assert math.exp(nll / n) < 1.05
    nll0, _ = score(counts, test, 0, 0.01)
    assert math.isclose(math.exp(nll0 / n), 3.0, rel_tol=0.02)  # order 0: uniform over A, C, G


def test_n_breaks_context():
    train = encode("ACG" * 2000)
    counts = train_counts(train, 2)
    test = np.concatenate([encode("ACGAC"), np.array([N], np.uint8), encode("GACG")])
    nll, n = score(counts, test, 2, 0.01)
    assert n == 4 + 1 + 3  # N is not a target; the base after N is, with no context (order 0)


def test_freq_sparse_effect_on_the_default_model(tmp_path):
    import json

    from dnaconv.pipelines.freq_sparse_effect import main

    out = tmp_path / "effect.json"
    main(["tests/data/chr20_example.fa", "--region", "chr20_45000001_45005000:1-3000", "--chunk-size", "1024",
          "--embed-length", "2000", "--fractions", "1,0.5,0.25", "--json", str(out)])  # fmt: skip
    rows = json.loads(out.read_text())["rows"]
    assert [r["fraction"] for r in rows] == [1.0, 0.5, 0.25]
    assert rows[0]["embed_rel_rms_diff"] == 0 and rows[0]["bases_scored"] == 2999
    assert all(1 < r["perplexity"] < 4.5 for r in rows)
    assert 0 < rows[1]["embed_rel_rms_diff"] < 0.5 and rows[2]["embed_mean_cosine"] > 0.5


def test_kernel_regs_compiles_for_sm90_without_a_gpu():
    """The register report compiles the kernels for the H200 with triton's own ptxas (in a process without the
    interpreter); the forward at N = 512 carries the launch table's register cap, and an explicit cap applies
    to every kernel; integers marked divisible by 16 vectorise the forward's and backward's sequence loads."""
    import json
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}

    def rows(*args):
        cmd = [sys.executable, "-m", "dnaconv.pipelines.kernel_regs", "--size", "16x32", "--json", *args]
        return json.loads(subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout)

    default = rows()
    kernels = [r["kernel"] for r in default]
    assert kernels == ["forward", "fwd short", "backward", "bwd short", "hbm rows", "hbm dk"]
    for r in default:
        assert 0 < r["regs"] <= 255 and r["stack"] >= 0 and r["shared"] > 0
    assert default[0]["maxnreg"] == 168 and default[0]["regs"] <= 168
    capped = rows("--maxnreg", "128")
    assert all(r["regs"] <= 128 for r in capped)
    bwd = kernels.index("backward")
    assert capped[bwd]["stack"] > default[bwd]["stack"]  # the backward spills more under a tighter cap
    # with the blocks' overlap and C divisible by 16 (plan.block_overlap) the sequence loads vectorise
    now, aligned = rows("--divisible", "D,L,K"), rows("--divisible", "D,L,K,C,KM1")
    for i in (0, bwd):
        assert aligned[i]["loads"] < now[i]["loads"] / 3 and aligned[i]["stores"] < now[i]["stores"] / 3


def test_ab_env_set_swaps_the_cost_table_and_restores_it(monkeypatch):
    """The device scripts time one POINT_PS table's picks against another's through ``env_set``: inside the
    block the plan prices with the given table (here one that makes HBM blocks dear, so K = 1024 at L = 2.3M
    goes on chip), and afterwards both the table and the variables are as before."""
    from dnaconv.kernels.fftconv import plan
    from dnaconv.pipelines.ab import env_set

    for var in ("DNACONV_MONARCH_FFT", "DNACONV_HBM_ROW"):
        monkeypatch.delenv(var, raising=False)
    before = {kind: dict(ps) for kind, ps in plan.POINT_PS.items()}
    dear = {"hbm": {str(n): 1000.0 for n in plan.POINT_PS["hbm"]}}  # as from JSON: keys are strings
    assert plan.fft_plan(2_300_000, 1024).cols  # through HBM with the shipped table
    with env_set({"POINT_PS": dear, "DNACONV_HBM_ROW": "2048"}):
        assert plan.fft_plan(2_300_000, 1024).cols == ()
        assert plan.POINT_PS["forward"] == before["forward"]
    assert plan.POINT_PS == before and "DNACONV_HBM_ROW" not in os.environ
    assert plan.fft_plan(2_300_000, 1024).cols
