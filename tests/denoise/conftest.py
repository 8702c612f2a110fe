"""Fixtures of the denoise tests."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread(monkeypatch: pytest.MonkeyPatch):
    """One torch thread and no progress bars: the test machine's two cores are shared."""
    monkeypatch.setenv("SBDENOISE_NO_PROGRESS", "1")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
