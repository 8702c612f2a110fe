"""The post-correction benchmark: what its two corrections put back, and what they leave."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def post(benchmark_module):
    return benchmark_module("post_correction")


def _lattice(size: int, period_px: float, amplitude: float) -> np.ndarray:
    x = np.arange(size, dtype=np.float64)
    return amplitude * np.tile(np.cos(2 * np.pi * x / period_px), (size, 1))


def test_residual_wiener_restores_a_lattice_the_estimate_missed(post):
    rng = np.random.default_rng(3)
    clean = 20.0 + _lattice(128, 16.0, 4.0)
    counts = rng.poisson(clean).astype(np.float64)
    flat = np.full_like(clean, clean.mean())  # an estimate that lost the lattice
    corrected = post.residual_wiener(counts, flat, smooth=1.0, kappa=2.0)
    assert np.mean((corrected - clean) ** 2) < 0.05 * np.mean((flat - clean) ** 2)


def test_residual_wiener_leaves_a_right_estimate_nearly_alone(post):
    rng = np.random.default_rng(4)
    clean = 20.0 + _lattice(128, 16.0, 4.0)
    counts = rng.poisson(clean).astype(np.float64)
    corrected = post.residual_wiener(counts, clean, smooth=2.0, kappa=2.0)
    # the residual is shot noise only: almost none of its power (20 per pixel) comes back
    assert np.mean((corrected - clean) ** 2) < 0.01 * 20.0


def test_radial_gain_fitted_to_a_scaled_copy_finds_the_scale(post):
    rng = np.random.default_rng(5)
    estimate = 10.0 + rng.normal(size=(64, 64))
    target = estimate.mean() + 1.5 * (estimate - estimate.mean())
    corrected, gains = post.radial_gain(target, estimate, pixel_size=0.06, width=0.5)
    assert corrected == pytest.approx(target, abs=1e-9)
    assert gains[1:] == pytest.approx(1.5, abs=1e-9)
