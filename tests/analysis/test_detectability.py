"""The oracle's likelihood-ratio test between two noise-free frames (analysis/detectability.py)."""

from __future__ import annotations

import numpy as np
import pytest

from sbdenoise.analysis.detectability import likelihood_ratio_test
from sbdenoise.errors import InputError


def _frames(height: float, dose: float = 0.45, size: int = 24) -> tuple[np.ndarray, np.ndarray]:
    """A flat frame and the same with a Gaussian column ``height`` (relative) at its centre."""
    y, x = np.mgrid[:size, :size] - size / 2
    absent = np.full((size, size), dose)
    present = absent * (1.0 + height * np.exp(-(x**2 + y**2) / (2 * 2.5**2)))
    return present, absent


def _empirical(present: np.ndarray, absent: np.ndarray, n: int, seed: int) -> tuple[float, float]:
    """Detection and false-alarm rates of the equal-odds test on Poisson draws."""
    rng = np.random.default_rng(seed)
    log_ratio = np.log(present / absent)
    cut = np.sum(present - absent)
    statistic_present = (rng.poisson(present, (n, *present.shape)) * log_ratio).sum(axis=(1, 2))
    statistic_absent = (rng.poisson(absent, (n, *absent.shape)) * log_ratio).sum(axis=(1, 2))
    return float(np.mean(statistic_present > cut)), float(np.mean(statistic_absent > cut))


@pytest.mark.parametrize("height", [0.15, 0.3, 0.6])
def test_probabilities_match_poisson_draws(height):
    present, absent = _frames(height)
    test = likelihood_ratio_test(present, absent)
    p_detect, p_false = test.probabilities()
    seen_detect, seen_false = _empirical(present, absent, 4000, seed=11)
    # 4,000 draws: binomial sd <= 0.008; the normal approximation of T adds a little
    assert abs(p_detect - seen_detect) < 0.03
    assert abs(p_false - seen_false) < 0.03
    assert p_detect > p_false


def test_identical_frames_cannot_be_told_apart():
    present, _ = _frames(0.3)
    test = likelihood_ratio_test(present, present)
    assert test.dprime == 0.0
    p_detect, p_false = test.probabilities(0.7)
    assert p_detect == p_false


def test_separation_grows_as_the_root_of_the_dose():
    present, absent = _frames(0.2)
    test = likelihood_ratio_test(present, absent)
    scaled = likelihood_ratio_test(4.0 * present, 4.0 * absent)
    assert scaled.dprime == pytest.approx(2.0 * test.dprime, rel=1e-9)
    assert test.at_dose_factor(4.0).dprime == pytest.approx(scaled.dprime, rel=1e-9)
    assert test.at_dose_factor(4.0).probabilities() == pytest.approx(scaled.probabilities())
    # a stronger column is easier at the same dose
    assert likelihood_ratio_test(*_frames(0.4)).dprime > test.dprime


def test_prior_odds_trade_misses_for_false_alarms():
    test = likelihood_ratio_test(*_frames(0.3))
    lower, higher = test.probabilities(-1.0), test.probabilities(1.0)
    assert higher[0] > test.probabilities()[0] > lower[0]
    assert higher[1] > test.probabilities()[1] > lower[1]


def test_bad_frames_are_refused():
    present, absent = _frames(0.3)
    with pytest.raises(InputError, match="shape"):
        likelihood_ratio_test(present, absent[:-1])
    bad = present.copy()
    bad[0, 0] = np.nan
    with pytest.raises(InputError, match="finite"):
        likelihood_ratio_test(bad, absent)
    with pytest.raises(InputError, match="negative"):
        likelihood_ratio_test(present - 1.0, absent)
    with pytest.raises(InputError, match="positive"):
        likelihood_ratio_test(present, absent).at_dose_factor(0.0)


def test_zero_counts_stay_finite():
    present, absent = _frames(0.3)
    absent[0, :] = 0.0
    test = likelihood_ratio_test(present, absent)
    assert np.isfinite([test.mean_present, test.var_present, test.dprime]).all()
