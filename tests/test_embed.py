"""embed_files: HDF5 contents against in-memory references (streamed, batched, rc, pooling, resume)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from dnaconv.checkpoint import load_model, save_model
from dnaconv.embed import EmbedOptions, embed_files
from dnaconv.errors import FileFormatError
from dnaconv.h5io import group_name
from dnaconv.regions import Interval
from dnaconv.tokenizer import N, encode, reverse_complement_tokens
from tests.helpers import strong_model, tiny_config

RNG = np.random.default_rng(0)


def random_seq(n, alphabet="ACGT"):
    return "".join(RNG.choice(list(alphabet), n))


def write_fasta(path, records, width=60):
    with open(path, "w") as f:
        for rid, seq in records:
            f.write(f">{rid} test record\n")
            f.writelines(seq[i : i + width] + "\n" for i in range(0, len(seq), width))
    return str(path)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("model")
    save_model(strong_model(tiny_config(filter_len=48, n_layer=2)), d)
    return d


@pytest.fixture(scope="module")
def model(model_dir):
    return load_model(model_dir)


RECORDS = [
    ("short1", random_seq(37)),
    ("short2", "NNNN" + random_seq(200) + "nnnnacgt" + "N" * 150),  # N runs; an all-N window at the end
    ("long1", random_seq(1500)),  # streamed with chunk_size 256
    ("we/ird%id", random_seq(90)),
    ("long2", random_seq(700, "ACGTN")),
]


def reference(model, seq, layer=-1, rc=None):
    tokens = encode(seq)
    t = torch.from_numpy(tokens)[None]
    with torch.no_grad():
        h = model.hidden(t, layer)[0].numpy()
        if rc:
            r = model.hidden(torch.from_numpy(reverse_complement_tokens(tokens))[None], layer)[0].numpy()[
                ::-1
            ]
            h = np.concatenate([h, r], 1) if rc == "concat" else (h + r) / 2
    return h, tokens


def run(tmp_path, model, records=RECORDS, name="out.h5", **kw):
    fa = write_fasta(tmp_path / "in.fa", records)
    out = str(tmp_path / name)
    m, info = model
    resume = kw.pop("resume", False)
    intervals = kw.pop("intervals", None)
    opts = EmbedOptions(**{"chunk_size": 256, "batch_size": 3, "store_dtype": "float32", **kw})
    summary = embed_files([fa], out, m, info, torch.float32, opts, intervals, resume, "test", progress=False)
    return out, summary


@pytest.mark.parametrize("rc", [None, "mean", "concat"], ids=["fwd", "rc-mean", "rc-concat"])
def test_embeddings_match_full_forward(tmp_path, model, rc):
    out, summary = run(tmp_path, model, rc=rc, pool_window=64)
    assert summary.records == len(RECORDS)
    with h5py.File(out) as f:
        assert f.attrs["complete"] and f.attrs["model_sha256"] == model[1].sha256
        for rid, seq in RECORDS:
            g = f[group_name(rid)]
            ref, tokens = reference(model[0], seq, rc=rc)
            emb = g["embedding"][:]
            assert emb.shape == (len(seq), 24 * (2 if rc == "concat" else 1))
            np.testing.assert_allclose(emb, ref, rtol=1e-4, atol=1e-4)
            keep = tokens != N
            np.testing.assert_allclose(g["pooled"][:], ref[keep].mean(0), rtol=1e-4, atol=1e-5)
            for j, w in enumerate(g["windows"][:]):
                sl = slice(64 * j, 64 * (j + 1))
                if keep[sl].any():
                    np.testing.assert_allclose(w, ref[sl][keep[sl]].mean(0), rtol=1e-4, atol=1e-5)
                else:
                    assert np.isnan(w).all()
            assert g.attrs["complete"] and g.attrs["id"] == rid
            assert g.attrs["length"] == len(seq) and g.attrs["n_count"] == int((~keep).sum())
            assert (g.attrs["start"], g.attrs["end"]) == (0, len(seq))
            assert g.attrs["strand"] == ("both" if rc else "+")


def test_store_float16_and_compressions_agree(tmp_path, model):
    outs = [run(tmp_path, model, name=f"{c}.h5", compression=c)[0] for c in ("gzip", "lzf", "none")]
    fa = write_fasta(tmp_path / "in.fa", RECORDS)
    half = str(tmp_path / "half.h5")
    embed_files([fa], half, *model, torch.float32, EmbedOptions(chunk_size=256), progress=False)
    with h5py.File(outs[0]) as a, h5py.File(outs[1]) as b, h5py.File(outs[2]) as c, h5py.File(half) as h:
        for rid, _ in RECORDS:
            e = a[group_name(rid)]["embedding"]
            assert e.compression == "gzip" and e.shuffle
            np.testing.assert_array_equal(e[:], b[group_name(rid)]["embedding"][:])
            np.testing.assert_array_equal(e[:], c[group_name(rid)]["embedding"][:])
            e16 = h[group_name(rid)]["embedding"]
            assert e16.dtype == np.float16
            np.testing.assert_allclose(e16[:], e[:], rtol=2e-3, atol=2e-3)


def test_layer_softmask_and_no_per_position(tmp_path, model):
    out, _ = run(tmp_path, model, layer=1, softmask=True, per_position=False, pool_window=100)
    with h5py.File(out) as f:
        assert f.attrs["layer"] == 1
        g = f["short2"]
        assert "embedding" not in g
        ref, tokens = reference(model[0], RECORDS[1][1], layer=1)
        np.testing.assert_allclose(g["pooled"][:], ref[tokens != N].mean(0), rtol=1e-4, atol=1e-5)
        mask = g["softmask"][:]
        assert mask.dtype == bool and mask.sum() == 8 and mask[204:212].all()


def test_regions_equal_records_of_the_subsequence(tmp_path, model):
    seq = RECORDS[2][1]
    ivs = [Interval("long1", 100, 1400), Interval("long1", 0, 30), Interval("short1", 0, None)]
    out, summary = run(tmp_path, model, intervals=ivs)
    assert summary.records == 3
    with h5py.File(out) as f:
        g = f["long1:101-1400"]
        assert (g.attrs["contig"], g.attrs["start"], g.attrs["end"]) == ("long1", 100, 1400)
        np.testing.assert_allclose(
            g["embedding"][:], reference(model[0], seq[100:1400])[0], rtol=1e-4, atol=1e-4
        )
        assert "short1" in f and "short2" not in f


def test_region_on_missing_contig_is_an_error(tmp_path, model):
    with pytest.raises(ValueError, match="contig 'chrX' is not in"):
        run(tmp_path, model, intervals=[Interval("chrX", 0, 10)])
    assert not (tmp_path / "out.h5").exists()


def test_resume_skips_complete_and_redoes_incomplete(tmp_path, model):
    out, _ = run(tmp_path, model)
    with h5py.File(out, "a") as f:  # as if interrupted while writing long1
        f["long1"].attrs["complete"] = False
        f.attrs["complete"] = False
        before = f["short1"]["embedding"][:]
    _, summary = run(tmp_path, model, resume=True)
    assert (summary.records, summary.skipped) == (1, len(RECORDS) - 1)
    with h5py.File(out) as f:
        assert f.attrs["complete"] and f["long1"].attrs["complete"]
        np.testing.assert_array_equal(f["short1"]["embedding"][:], before)
        np.testing.assert_allclose(
            f["long1"]["embedding"][:], reference(model[0], RECORDS[2][1])[0], rtol=1e-4, atol=1e-4
        )
    with pytest.raises(ValueError, match="cannot resume .* layer"):
        run(tmp_path, model, resume=True, layer=1)


def test_bad_record_midway_keeps_partial_file_marked_incomplete(tmp_path, model):
    records = RECORDS[:3] + [("bad", "ACGT" * 10 + "E" + "ACGT")]
    with pytest.raises(FileFormatError, match="record 'bad' position 41"):
        run(tmp_path, model, records=records, batch_size=1)
    with h5py.File(tmp_path / "out.h5") as f:
        assert not f.attrs["complete"]
        assert "bad" not in f or not f["bad"].attrs["complete"]


def test_bad_first_record_leaves_no_file(tmp_path, model):
    with pytest.raises(FileFormatError, match="position 3"):
        run(tmp_path, model, records=[("x", "ACEGT")])
    assert not (tmp_path / "out.h5").exists()


def test_duplicate_ids_across_inputs(tmp_path, model):
    a = write_fasta(tmp_path / "a.fa", [("r", "ACGT")])
    b = write_fasta(tmp_path / "b.fa", [("r", "ACGT")])
    with pytest.raises(ValueError, match="duplicate record id 'r'"):
        embed_files([a, b], str(tmp_path / "o.h5"), *model, torch.float32, EmbedOptions(), progress=False)


def test_interrupted_run_is_incomplete_then_resumes(tmp_path, model, monkeypatch):
    from dnaconv.h5io import RecordWriter

    commit = RecordWriter.commit
    calls = []

    def flaky(self, *a, **kw):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return commit(self, *a, **kw)

    monkeypatch.setattr(RecordWriter, "commit", flaky)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, model, batch_size=1)
    with h5py.File(tmp_path / "out.h5") as f:
        assert not f.attrs["complete"]
        assert sum(bool(f[g].attrs["complete"]) for g in f) == 2
    monkeypatch.setattr(RecordWriter, "commit", commit)
    _, summary = run(tmp_path, model, batch_size=1, resume=True)
    assert (summary.records, summary.skipped) == (3, 2)
    with h5py.File(tmp_path / "out.h5") as f:
        assert f.attrs["complete"] and all(f[g].attrs["complete"] for g in f)
