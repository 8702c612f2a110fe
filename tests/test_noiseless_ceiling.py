"""The noise-free ceiling benchmark: its error anatomy puts each kind of error in its own band."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def ceiling(benchmark_module):
    return benchmark_module("noiseless_ceiling")


def _cosine(size: int, period_px: float) -> np.ndarray:
    """A cosine along x of the given period (pixels), zero mean, periodic in the frame."""
    x = np.arange(size, dtype=np.float64)
    return np.tile(np.cos(2 * np.pi * x / period_px), (size, 1))


def test_a_lattice_error_lands_in_the_lattice_band(ceiling):
    # 32 px at 0.0625 A/px is a 2 A period: the Pt column spacing band (1.2-3 A)
    fractions = ceiling.band_fractions(_cosine(256, 32.0), 0.0625)
    assert fractions[1] == pytest.approx(1.0, abs=1e-9)
    assert sum(fractions) == pytest.approx(1.0, abs=1e-9)


def test_a_slow_error_and_a_fine_one_land_apart(ceiling):
    # 128 px (8 A) is background; 8 px (0.5 A) is finer than any column
    slow = ceiling.band_fractions(_cosine(256, 128.0), 0.0625)
    fine = ceiling.band_fractions(_cosine(256, 8.0), 0.0625)
    assert slow[0] == pytest.approx(1.0, abs=1e-9)
    assert fine[3] == pytest.approx(1.0, abs=1e-9)


def test_a_uniform_offset_is_in_no_band(ceiling):
    error = 0.01 + 0.01 * _cosine(256, 32.0)  # offset power 1e-4, cosine 0.5e-4
    fractions = ceiling.band_fractions(error, 0.0625)
    offset_share = error.mean() ** 2 / np.mean(error**2)
    assert offset_share == pytest.approx(2 / 3)
    assert sum(fractions) + offset_share == pytest.approx(1.0)
    assert fractions[1] == pytest.approx(1 / 3)
