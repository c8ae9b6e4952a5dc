"""Shared fixtures and markers: `cuda` and `realdata` tests skip cleanly where they cannot run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

# Triton kernels run through Triton's interpreter on machines without a GPU (set before any kernel is built).
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")
if os.environ.get("TRITON_INTERPRET") == "1":
    from dnaconv.kernels.testing import round_bf16_like_the_gpu

    round_bf16_like_the_gpu()  # the interpreter truncates fp32 -> bf16; the GPU rounds to nearest

# Under pytest-xdist each worker takes an equal share of the CPU's threads for torch's CPU ops (the float64
# references), not one thread per core each. On the H200's 16-core host (twenty-first session), four workers at
# torch's default got through 16 tests in 170 s (``h200_kernels.sh s21``), and in earlier sessions the
# several-block fp32 tests of the HBM backward never finished, where one of them alone took 19 s; with each
# worker's share, four workers ran 20 tests, those among them, in 55 s (``t21``).
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // _WORKERS))

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
# The full chromosome 20 beside the checkout; DNACONV_CHR20 points elsewhere (e.g. on the GPU machine).
CHR20 = Path(os.environ.get("DNACONV_CHR20", REPO.parent / "shared" / "data" / "GRCh37.chr20.fa.gz"))


def pytest_collection_modifyitems(config, items):
    skip_cuda = pytest.mark.skip(reason="needs a CUDA GPU")
    skip_real = pytest.mark.skip(reason=f"needs {CHR20}")
    for item in items:
        if "cuda" in item.keywords and not torch.cuda.is_available():
            item.add_marker(skip_cuda)
        if "realdata" in item.keywords and not CHR20.exists():
            item.add_marker(skip_real)


@pytest.fixture
def chr20_path() -> Path:
    if not CHR20.exists():
        pytest.skip(f"needs {CHR20}")
    return CHR20


@pytest.fixture
def example_fasta() -> Path:
    return DATA / "chr20_example.fa"


@pytest.fixture(autouse=True)
def _seeded():
    """Each test draws from torch's global generator as if it ran alone, whatever ran before it in this
    process (pytest-xdist changes the order; a borderline tolerance must not depend on it)."""
    torch.manual_seed(0)
