"""Gain, offset and dispersion estimated from data, and the noise-check figure."""

import numpy as np
import pytest
from matplotlib.image import imread

from sbdenoise.noise.check import estimate_noise, plot_noise_check
from sbdenoise.noise.models import sample_poisson, sample_poisson_gaussian
from sbdenoise.synthetic import synthetic_lattice


@pytest.fixture(scope="module")
def expectation():
    return synthetic_lattice((256, 256)).expectation


def test_stack_of_counts_has_unit_gain_and_zero_offset(expectation):
    rng = np.random.default_rng(0)
    stack = np.stack([sample_poisson(expectation * 10, rng) for _ in range(20)])
    estimate = estimate_noise(stack)
    assert estimate.method == "stack"
    assert estimate.gain == pytest.approx(1.0, rel=0.05)
    assert abs(estimate.offset) < 0.3
    assert estimate.looks_poisson


def test_stack_in_detector_units_recovers_gain_and_offset(expectation):
    rng = np.random.default_rng(1)
    gain, offset, read_noise = 8.0, 100.0, 3.0
    stack = np.stack(
        [
            sample_poisson_gaussian(expectation * 20, rng, gain, offset, read_noise)
            for _ in range(20)
        ]
    )
    estimate = estimate_noise(stack)
    assert estimate.gain == pytest.approx(gain, rel=0.05)
    # The intercept holds read noise too: offset - read_noise**2 / gain = 98.9.
    assert estimate.offset == pytest.approx(offset - read_noise**2 / gain, rel=0.03)
    assert not estimate.looks_poisson


def test_single_low_dose_frame_has_poisson_dispersion(expectation):
    frame = sample_poisson(expectation, np.random.default_rng(2))
    estimate = estimate_noise(frame)
    assert estimate.method == "frame"
    assert estimate.dispersion == pytest.approx(1.0, rel=0.06)
    assert estimate.vacuum_mask.sum() >= 256
    assert estimate.looks_poisson


def test_single_frame_with_gain_is_not_poisson(expectation):
    frame = np.round(sample_poisson_gaussian(expectation * 5, np.random.default_rng(3), 3.0, 0.0))
    estimate = estimate_noise(frame)
    assert estimate.dispersion == pytest.approx(3.0, rel=0.1)
    assert not estimate.looks_poisson


def test_noise_check_png(tmp_path, expectation):
    stack = np.stack([sample_poisson(expectation, np.random.default_rng(i)) for i in range(5)])
    path = plot_noise_check(estimate_noise(stack), tmp_path / "check.png", title="stack")
    image = imread(path)
    assert image.shape[0] > 300 and image.shape[1] > 700
    assert image[..., :3].std() > 0.05
