"""Kernel tests run with torch.empty* filled with NaN, so an output a kernel forgets to write fails."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def nan_filled_empty(monkeypatch):
    empty, empty_like = torch.empty, torch.empty_like

    def _fill(t):
        if t.is_floating_point() or t.is_complex():
            t.fill_(float("nan"))
        return t

    monkeypatch.setattr(torch, "empty", lambda *a, **kw: _fill(empty(*a, **kw)))
    monkeypatch.setattr(torch, "empty_like", lambda *a, **kw: _fill(empty_like(*a, **kw)))
    yield
