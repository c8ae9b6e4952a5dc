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
