"""End-to-end checks on the real human chromosome 20 (skipped when ../shared/data is absent)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from dnaconv.cli import cli

pytestmark = pytest.mark.realdata


def _embed(chr20, out, *args):
    r = CliRunner().invoke(cli, ["embed", str(chr20), "-o", str(out), "-q", *args], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return h5py.File(out)


@pytest.mark.parametrize("length", [200_000, pytest.param(1_000_000, marks=pytest.mark.slow)])
def test_chunk_sizes_agree_on_real_region(chr20_path, tmp_path, length):
    region = f"20:30000001-{30_000_000 + length}"
    common = ["--region", region, "--dtype", "float32", "--device", "cpu"]
    with (
        _embed(chr20_path, tmp_path / "a.h5", *common, "--chunk-size", "65536") as a,
        _embed(chr20_path, tmp_path / "b.h5", *common, "--chunk-size", "262144") as b,
    ):
        x, y = a[region]["embedding"][:], b[region]["embedding"][:]
        assert x.shape == (length, 128) and x.dtype == np.float32
        assert np.abs(x - y).max() < 1e-4 * np.abs(x).max()


@pytest.mark.slow
def test_gene_region_23mbp(chr20_path, tmp_path):
    region = "20:13850001-16150000"
    with _embed(chr20_path, tmp_path / "g.h5", "--region", region) as f:
        g = f[region]
        e = g["embedding"]
        assert e.shape == (2_300_000, 128) and g["pooled"].shape == (128,)
        sample = e[::997].astype(np.float32)
        assert np.isfinite(sample).all() and sample.std() > 0.1
        assert np.isfinite(g["pooled"][:]).all() and g["pooled"][:].std() > 0
