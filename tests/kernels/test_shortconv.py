"""shortconv: conv1d form vs explicit sum, history chunks, and the step form."""

from __future__ import annotations

import pytest
import torch

from dnaconv.kernels.shortconv import shortconv, shortconv_step
from dnaconv.kernels.testing import assert_close


def _explicit(x, w, b):
    B, D, L = x.shape
    xp = torch.nn.functional.pad(x.double(), (w.shape[1] - 1, 0))
    y = sum(w.double()[:, j, None] * xp[..., j : j + L] for j in range(w.shape[1]))
    return y + b.double()[:, None]


@pytest.mark.parametrize("B,D,L,W", [(1, 3, 1, 3), (2, 60, 63, 3), (2, 111, 1025, 4), (1, 7, 5, 7)])
def test_shortconv_matches_sum(B, D, L, W):
    torch.manual_seed(0)
    x, w, b = torch.randn(B, D, L), torch.randn(D, W), torch.randn(D)
    assert_close(shortconv(x, w, b), _explicit(x, w, b), rtol=1e-6)


@pytest.mark.parametrize("split", [1, 2, 50, 99])
def test_shortconv_history_chunks(split):
    torch.manual_seed(1)
    x, w, b = torch.randn(2, 10, 100), torch.randn(10, 3), torch.randn(10)
    full = shortconv(x, w, b)
    y1 = shortconv(x[..., :split], w, b)
    y2 = shortconv(x[..., split:], w, b, history=x[..., :split][..., -2:])
    assert_close(torch.cat([y1, y2], -1), full, rtol=1e-6)


def test_shortconv_step_matches_full():
    torch.manual_seed(2)
    x, w, b = torch.randn(2, 6, 40), torch.randn(6, 4), torch.randn(6)
    full = shortconv(x, w, b)
    state = torch.zeros(2, 6, 3)
    ys = []
    for t in range(40):
        y, state = shortconv_step(x[..., t], w, b, state)
        ys.append(y)
    assert_close(torch.stack(ys, -1), full, rtol=1e-6)
