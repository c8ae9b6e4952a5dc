"""Pretraining: config errors, exact resume, checkpoint atomicity, NaN stop, and torchrun (2 CPU processes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from dnaconv.cli import cli
from dnaconv.errors import ConfigError
from dnaconv.train import TrainConfig, load_run_config, seq_len_at

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    from dnaconv.shard import ShardSpec, make_shards

    d = tmp_path_factory.mktemp("shards")
    rng = np.random.default_rng(0)
    fa = d / "g.fa"
    with open(fa, "w") as f:
        for name in ("c1", "c2", "c3"):
            seq = "".join(rng.choice(list("ACGT"), 6000))
            f.write(f">{name}\n" + "\n".join(seq[i : i + 60] for i in range(0, len(seq), 60)) + "\n")
    out = d / "shards"
    make_shards([str(fa)], str(out), ShardSpec(length=128, splits={"valid": ["c3"]}), progress=False)
    return str(out)


def write_config(path, **train):
    t = dict(
        batch_size=8,
        micro_batch_size=4,
        max_steps=6,
        lr=3e-3,
        warmup_steps=2,
        eval_every=3,
        eval_windows=8,
        checkpoint_every=3,
        log_every=1,
        seed=1,
    )
    t.update(train)
    cfg = {
        "model": {"d_model": 16, "n_layer": 2, "filter_len": 32, "filter_order": 8, "filter_emb_dim": 5},
        "train": t,
    }
    path.write_text(json.dumps(cfg))
    return str(path)


def run(*args):
    return CliRunner().invoke(
        cli, ["pretrain", *map(str, args), "--device", "cpu", "-q"], catch_exceptions=False
    )


def losses(out):
    return [json.loads(x)["loss"] for x in (Path(out) / "metrics.jsonl").read_text().splitlines()]


def test_config_errors(tmp_path):
    p = tmp_path / "c.json"
    p.write_text(json.dumps({"model": {"d_model": 16}, "train": {"batch_sise": 8}}))
    with pytest.raises(ConfigError, match="unknown config field 'batch_sise'"):
        load_run_config(p)
    p.write_text(json.dumps({"model": {"d_modle": 16}}))
    with pytest.raises(ConfigError, match="unknown config field 'd_modle'"):
        load_run_config(p)
    p.write_text(json.dumps({"model": {}, "optim": {}}))
    with pytest.raises(ConfigError, match="unknown section 'optim'"):
        load_run_config(p)


def test_cli_config_error_is_one_line(tmp_path, shards):
    p = tmp_path / "c.json"
    p.write_text(json.dumps({"train": {"lr_max": 1}}))
    r = run("--data", shards, "--config", p, "--out", tmp_path / "r")
    assert r.exit_code == 1 and r.output.startswith("Error: ") and "unknown config field 'lr_max'" in r.output
    assert len(r.output.strip().splitlines()) == 1


def test_seq_len_warmup():
    cfg = TrainConfig(seq_len_start=16, seq_len_warmup_steps=30)
    lens = [seq_len_at(s, cfg, 128) for s in range(0, 40)]
    assert lens[0] == 16 and lens[-1] == 128 and sorted(lens) == lens and set(lens) == {16, 32, 64, 128}


def test_resume_reproduces_uninterrupted_run(tmp_path, shards):
    cfg = write_config(tmp_path / "c.json", seq_len_start=32, seq_len_warmup_steps=4)
    assert run("--data", shards, "--config", cfg, "--out", tmp_path / "full").exit_code == 0
    assert run("--data", shards, "--config", cfg, "--out", tmp_path / "part", "--max-steps", 3).exit_code == 0
    assert run("--data", shards, "--config", cfg, "--out", tmp_path / "part", "--resume").exit_code == 0
    full, part = losses(tmp_path / "full"), losses(tmp_path / "part")
    assert len(full) == len(part) == 6
    np.testing.assert_allclose(part, full, rtol=1e-6)
    assert full[-1] < full[0]
    assert (tmp_path / "full" / "final" / "model.safetensors").exists()
    assert (tmp_path / "full" / "curves.png").exists()
    rec = json.loads((tmp_path / "full" / "metrics.jsonl").read_text().splitlines()[-1])
    assert rec["valid_ppl"] > 1 and rec["tokens_per_s"] > 0 and "mfu" in rec
    r = run("--data", shards, "--config", cfg, "--out", tmp_path / "full")
    assert r.exit_code == 1 and "holds a run" in r.output


def test_interrupted_checkpoint_write_keeps_previous(tmp_path, shards, monkeypatch):
    import dnaconv.checkpoint as ck

    cfg = write_config(tmp_path / "c.json")
    assert run("--data", shards, "--config", cfg, "--out", tmp_path / "r", "--max-steps", 3).exit_code == 0
    real = ck.save_model

    def crash(model, directory, **kw):  # dies after the weights, before the optimizer state and rename
        real(model, directory, **kw)
        raise KeyboardInterrupt

    monkeypatch.setattr(ck, "save_model", crash)
    assert run("--data", shards, "--config", cfg, "--out", tmp_path / "r", "--resume").exit_code == 130
    monkeypatch.undo()
    assert (tmp_path / "r" / "latest").read_text().strip() == "step_0000003"
    r = run("--data", shards, "--config", cfg, "--out", tmp_path / "r", "--resume")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "r" / "latest").read_text().strip() == "step_0000006"


def test_nan_loss_stops_with_message(tmp_path, shards):
    cfg = write_config(
        tmp_path / "c.json", lr=1e6, warmup_steps=1, grad_clip=1e9, max_steps=40, checkpoint_every=1
    )
    r = run("--data", shards, "--config", cfg, "--out", tmp_path / "r")
    assert r.exit_code == 1 and "non-finite loss" in r.output and "last good checkpoint" in r.output
    latest = (tmp_path / "r" / "latest").read_text().strip()
    from dnaconv.checkpoint import load_model

    model, _ = load_model(tmp_path / "r" / "checkpoints" / latest)
    assert all(np.isfinite(p.detach().numpy()).all() for p in model.parameters())


@pytest.mark.skipif(sys.platform != "linux", reason="torchrun test uses Linux process groups")
def test_torchrun_two_processes_match_one(tmp_path, shards):
    cfg = write_config(tmp_path / "c.json", max_steps=4)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    one = subprocess.run([sys.executable, "-m", "dnaconv.cli", "pretrain", "--data", shards, "--config", cfg,
                          "--out", str(tmp_path / "one"), "--device", "cpu", "-q"], env=env, capture_output=True,
                         text=True, timeout=300)  # fmt: skip
    assert one.returncode == 0, one.stderr
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                          "-m", "dnaconv.cli", "pretrain", "--data", shards, "--config", cfg, "--out",
                          str(tmp_path / "two"), "--device", "cpu", "-q"], env=env, capture_output=True, text=True,
                         timeout=300)  # fmt: skip
    assert two.returncode == 0, two.stderr[-3000:]
    np.testing.assert_allclose(losses(tmp_path / "two"), losses(tmp_path / "one"), rtol=1e-4)


def test_window_data_reads_full_windows_lazily(shards):
    from dnaconv.shard import load_shards
    from dnaconv.train import WindowData

    data = WindowData.from_shards(shards, "train")
    ds = load_shards(shards, "train")
    full = [np.asarray(r["tokens"], np.uint8) for r in ds if len(r["tokens"]) == data.length]
    assert data.length == 128 and len(data) == len(full) > 50
    got = data[np.array([0, 5, len(data) - 1])]
    assert got.dtype == np.uint8 and got.shape == (3, 128)
    np.testing.assert_array_equal(got, np.stack([full[0], full[5], full[-1]]))
    assert not data.chunks[0][0].flags.owndata  # a view of the memory-mapped Arrow buffer


def test_init_continues_from_a_model_directory(tmp_path, shards):
    """--init starts from a model directory's weights: step 0 of the continued run scores the first run's
    final weights, not a fresh initialisation; an architecture mismatch is a one-line error."""
    cfg = write_config(tmp_path / "c.json")
    assert run("--data", shards, "--config", cfg, "--out", tmp_path / "a").exit_code == 0
    first = json.loads((tmp_path / "a" / "metrics.jsonl").read_text().splitlines()[-1])
    assert run("--data", shards, "--config", cfg, "--out", tmp_path / "b", "--init", tmp_path / "a" / "final",
               "--max-steps", 1).exit_code == 0  # fmt: skip
    fresh = losses(tmp_path / "a")[0]
    cont = losses(tmp_path / "b")[0]
    assert cont < fresh - 0.05 and abs(cont - first["loss"]) < 0.2
    other = tmp_path / "o.json"
    cfg_d = json.loads(Path(cfg).read_text())
    cfg_d["model"]["d_model"] = 24
    other.write_text(json.dumps(cfg_d))
    r = run("--data", shards, "--config", other, "--out", tmp_path / "c", "--init", tmp_path / "a" / "final")
    assert r.exit_code == 1 and "differs from the config in 'd_model'" in r.output
    assert len(r.output.strip().splitlines()) == 1
