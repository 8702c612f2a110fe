"""Noise models: moments of the samplers and the bias of the Anscombe inverses."""

import numpy as np
import pytest

from sbdenoise.noise.models import (
    anscombe,
    generalized_anscombe,
    inverse_anscombe_algebraic,
    inverse_anscombe_unbiased,
    sample_poisson,
    sample_poisson_gaussian,
)

N = 1_000_000


def test_poisson_mean_and_variance_at_low_dose():
    counts = sample_poisson(np.full(N, 0.45), np.random.default_rng(1))
    assert counts.dtype == np.int32
    # Standard error of the mean is sqrt(0.45 / N) = 6.7e-4: allow 5 of them.
    assert counts.mean() == pytest.approx(0.45, abs=5 * np.sqrt(0.45 / N))
    assert counts.var() == pytest.approx(0.45, rel=0.01)
    assert counts.min() == 0


def test_poisson_is_reproducible_for_a_seed_and_differs_between_seeds():
    lam = np.full((64, 64), 0.45)
    a = sample_poisson(lam, np.random.default_rng(7))
    b = sample_poisson(lam, np.random.default_rng(7))
    c = sample_poisson(lam, np.random.default_rng(8))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_poisson_dose_rescales_the_mean():
    lam = np.linspace(1.0, 3.0, N)
    counts = sample_poisson(lam, np.random.default_rng(2), dose=0.45)
    assert counts.mean() == pytest.approx(0.45, abs=0.005)


@pytest.mark.parametrize("bad", [np.array([0.5, -0.1]), np.array([0.5, np.nan])])
def test_poisson_rejects_bad_expectations(bad):
    with pytest.raises(ValueError, match="expectation"):
        sample_poisson(bad, np.random.default_rng(0))


def test_poisson_gaussian_moments():
    gain, offset, read_noise, lam = 8.0, 100.0, 3.0, 2.0
    values = sample_poisson_gaussian(
        np.full(N, lam), np.random.default_rng(3), gain, offset, read_noise
    )
    assert values.mean() == pytest.approx(gain * lam + offset, rel=2e-3)
    assert values.var() == pytest.approx(gain**2 * lam + read_noise**2, rel=0.01)


def test_generalized_anscombe_stabilises_variance_to_one():
    values = sample_poisson_gaussian(np.full(N, 20.0), np.random.default_rng(4), 4.0, 50.0, 2.0)
    stabilised = generalized_anscombe(values, gain=4.0, offset=50.0, read_noise=2.0)
    assert stabilised.var() == pytest.approx(1.0, rel=0.03)


def test_exact_unbiased_inverse_is_unbiased_to_one_percent_at_045():
    counts = sample_poisson(np.full(N, 0.45), np.random.default_rng(5))
    mean_z = anscombe(counts).mean()
    assert inverse_anscombe_unbiased(np.array([mean_z]))[0] == pytest.approx(0.45, rel=0.01)
    # The algebraic inverse is far off at this dose: the reason the exact one exists.
    assert abs(inverse_anscombe_algebraic(np.array([mean_z]))[0] - 0.45) > 0.1 * 0.45


@pytest.mark.parametrize("lam", [0.05, 3.0, 50.0, 1000.0])
def test_exact_unbiased_inverse_over_the_range(lam):
    counts = sample_poisson(np.full(N, lam), np.random.default_rng(6))
    estimate = inverse_anscombe_unbiased(np.array([anscombe(counts).mean()]))[0]
    assert estimate == pytest.approx(lam, rel=0.02, abs=0.002)


def test_exact_unbiased_inverse_is_monotonic_and_non_negative():
    z = np.linspace(0, 80, 5000)
    lam = inverse_anscombe_unbiased(z)
    assert np.all(lam >= 0)
    assert np.all(np.diff(lam) >= 0)
