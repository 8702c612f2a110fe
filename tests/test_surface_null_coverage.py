"""The surface-null coverage study: its rates are exact counts and hold for exchangeable data."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from sbdenoise.analysis.surface_calibration import SurfaceCandidateSample


def uniform_sample(images: np.ndarray, draws: int, rng: np.random.Generator) -> Any:
    spurious = {(121.0, int(i), d): rng.uniform(size=50) for i in images for d in range(draws)}
    real = {(121.0, int(i), d): rng.uniform(size=10) ** 8 for i in images for d in range(draws)}
    return SurfaceCandidateSample(spurious, real, 0.061, 0, 0)


def test_summary_counts_candidates_below_alpha_over_every_held_out_image(benchmark_module):
    coverage = benchmark_module("surface_null_coverage")
    table = coverage.table_of([np.array([0.002, 0.3]), np.array([0.6])], 121.0, 2, 0.061)
    spurious, real = np.array([0.001, 0.5, 0.5, 0.5, 0.04, 0.9]), np.array([0.0001, 0.002])
    below = coverage.counts_below(table, 121.0, spurious, real)
    # a table of fewer than MIN_SPURIOUS candidates is not used: the vacuum p-values stand
    assert below.tolist() == [[1, 1, 1, 2, 2], [2, 2, 2, 2, 2]]
    strict = coverage.table_of([np.linspace(0.0001, 0.01, 100)], 121.0, 1, 0.061)
    # (1 + k) / 101: spurious 0.001 -> 0.109, 0.04 -> 1; real 0.0001 -> 0.0198, 0.002 -> 0.208
    assert coverage.counts_below(strict, 121.0, spurious, real).tolist() == [
        [0, 0, 0, 0, 0],
        [0, 0, 1, 1, 1],
    ]
    point = {"below": below, "tested": np.array([6, 2]), "table_size": 1000.0}
    result = coverage.summary(point, [point, point], images=3)
    levels = {lv["alpha"]: lv for lv in result["levels"]}
    assert result["spurious"] == 6 and result["real"] == 2 and result["images"] == 3
    assert levels[0.01]["coverage_ratio"] == pytest.approx((1 / 6) / 0.01)
    assert levels[0.05]["coverage_ratio"] == pytest.approx((2 / 6) / 0.05)
    assert levels[0.01]["low"] == levels[0.01]["high"] == pytest.approx((1 / 6) / 0.01)
    assert levels[0.1]["power"] == 1.0


def test_cross_validation_of_an_exchangeable_null_covers_at_the_level(benchmark_module):
    coverage = benchmark_module("surface_null_coverage")
    rng = np.random.default_rng(3)
    images = np.arange(60)
    sample = uniform_sample(images, 2, rng)
    result = coverage.cross_validate(
        sample, 121.0, images, images // 3, folds=4, draws=2, seed=0, resamples=100
    )
    assert set(result) == {
        "36 images, 1 draw (shipped recipe)",
        "every image, 1 draw",
        "every image, 2 draws",
    }
    assert result["36 images, 1 draw (shipped recipe)"]["table_size"] == 36 * 50
    assert result["every image, 2 draws"]["table_size"] == 45 * 2 * 50
    for entry in result.values():
        assert entry["spurious"] == 60 * 2 * 50
        for level in entry["levels"]:
            if level["alpha"] >= 0.02:  # enough candidates below alpha to pin the ratio
                assert 0.75 < level["coverage_ratio"] < 1.3
                assert level["low"] < 1.0 < level["high"]
            assert level["power"] > level["alpha"]  # real ones are far smaller than uniform
