"""The working grid's ceiling: a band-limited frame survives binning and back, fine detail not."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def ceiling(benchmark_module):
    return benchmark_module("working_grid_ceiling")


def _lattice(size: int, period_px: float) -> np.ndarray:
    """A smooth 2-D cosine lattice around 0.45 e-/px (one frequency per axis)."""
    y, x = np.mgrid[:size, :size].astype(np.float64)
    return 0.45 + 0.1 * np.cos(2 * np.pi * x / period_px) * np.cos(2 * np.pi * y / period_px)


def test_a_band_limited_frame_comes_back_from_the_working_grid(ceiling):
    # a 24 px period at 0.061 A/px (1.5 A) is far below the 0.244 A/px grid's Nyquist limit
    assert ceiling.round_trip_psnr(_lattice(256, 24.0), 0.061, 0.2439) > 50.0


def test_detail_beyond_the_working_grid_is_lost(ceiling):
    # a 3 px period (0.18 A) cannot be held by 0.244 A/px block sums
    fine = ceiling.round_trip_psnr(_lattice(256, 3.0), 0.061, 0.2439)
    assert fine < 30.0  # the whole modulation gone: 10 log10(1 / 0.05**2) = 26 dB
    assert ceiling.round_trip_psnr(_lattice(256, 24.0), 0.061, 0.2439) > fine + 25.0
