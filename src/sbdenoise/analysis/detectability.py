"""How well one frame's counts can tell two noise-free images apart.

The best possible decision between two fully known expected-count images, "column present"
(``present``) and "column absent" (``absent``), from one Poisson frame ``n`` is the
likelihood-ratio test (Neyman-Pearson). Its statistic is linear in the counts,

    T(n) = sum_i n_i log(present_i / absent_i),

and the test says "present" when ``T`` exceeds ``sum_i (present_i - absent_i)`` minus the log
prior odds. ``T`` is a sum over many pixels, so it is close to normal under each hypothesis,
with mean ``sum lambda_i log r_i`` and variance ``sum lambda_i (log r_i)^2`` for the true
expectation ``lambda``. This module gives those moments and the test's detection and false-alarm
probabilities. No decision from the counts has a better pair of the two (Neyman-Pearson): the
ROC curve of this test, told everything about the specimen except whether one column is there
(the oracle), is the ceiling of any denoiser and detector on that column.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from sbdenoise.errors import InputError

#: Floor of an expected count (e-/px) where one image is zero, so the log ratio stays finite.
COUNT_FLOOR = 1e-6


@dataclass(frozen=True)
class LikelihoodRatioTest:
    """Moments of the log-likelihood-ratio statistic ``T`` under both hypotheses.

    Attributes
    ----------
    mean_present, var_present : float
        Mean and variance of ``T`` when the column is there (counts).
    mean_absent, var_absent : float
        The same when it is not.
    threshold : float
        Equal-odds decision threshold on ``T``: ``sum(present - absent)``, counts.

    Notes
    -----
    Scaling both images by ``k`` (a dose ``k`` times higher) scales every attribute by ``k``,
    so the separation ``d'`` grows as ``sqrt(k)``; see :meth:`at_dose_factor`.
    """

    mean_present: float
    var_present: float
    mean_absent: float
    var_absent: float
    threshold: float

    def at_dose_factor(self, factor: float) -> LikelihoodRatioTest:
        """The same test on frames with ``factor`` times the dose (both images scaled)."""
        if not factor > 0:
            raise InputError(f"dose factor must be positive, got {factor}")
        return LikelihoodRatioTest(
            self.mean_present * factor,
            self.var_present * factor,
            self.mean_absent * factor,
            self.var_absent * factor,
            self.threshold * factor,
        )

    @property
    def dprime(self) -> float:
        """Separation of the two distributions of ``T`` in units of their rms width."""
        spread = np.sqrt(0.5 * (self.var_present + self.var_absent))
        return float((self.mean_present - self.mean_absent) / spread) if spread > 0 else 0.0

    def probabilities(self, log_prior_odds: float = 0.0) -> tuple[float, float]:
        """Detection and false-alarm probability of the test.

        Parameters
        ----------
        log_prior_odds : float
            Natural log of the prior odds present : absent; 0 is the equal-odds (MAP) test, a
            positive value says "present" more readily.

        Returns
        -------
        tuple of float
            ``(p_detect, p_false_alarm)``: P(say present | present), P(say present | absent).
        """
        cut = self.threshold - log_prior_odds
        return (
            _exceeds(cut, self.mean_present, self.var_present),
            _exceeds(cut, self.mean_absent, self.var_absent),
        )


def _exceeds(cut: float, mean: float, var: float) -> float:
    if var <= 0:
        return float(mean > cut)
    return float(norm.sf((cut - mean) / np.sqrt(var)))


def likelihood_ratio_test(present: np.ndarray, absent: np.ndarray) -> LikelihoodRatioTest:
    """The oracle's test between two expected-count images of one frame.

    Parameters
    ----------
    present, absent : numpy.ndarray
        Noise-free expected counts per pixel (e-/px) with and without the column, same shape.

    Returns
    -------
    LikelihoodRatioTest
    """
    present = np.asarray(present, dtype=np.float64)
    absent = np.asarray(absent, dtype=np.float64)
    if present.shape != absent.shape:
        raise InputError(f"images differ in shape: {present.shape} and {absent.shape}")
    if not (np.all(np.isfinite(present)) and np.all(np.isfinite(absent))):
        raise InputError("expected counts must be finite")
    if present.min() < 0 or absent.min() < 0:
        raise InputError("expected counts must not be negative")
    present = np.maximum(present, COUNT_FLOOR)
    absent = np.maximum(absent, COUNT_FLOOR)
    log_ratio = np.log(present / absent)
    return LikelihoodRatioTest(
        mean_present=float(np.sum(present * log_ratio)),
        var_present=float(np.sum(present * log_ratio**2)),
        mean_absent=float(np.sum(absent * log_ratio)),
        var_absent=float(np.sum(absent * log_ratio**2)),
        threshold=float(np.sum(present - absent)),
    )
