"""Noise models of counted detectors and the variance-stabilising transforms used by baselines.

All images are electron counts per pixel (expectations as float, measured frames as integers).
Randomness always comes from an explicit :class:`numpy.random.Generator`, so results are
reproducible for a seed.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import stats

#: Constant of the Anscombe transform 2 sqrt(y + 3/8).
ANSCOMBE_SHIFT = 3.0 / 8.0


def sample_poisson(
    expectation: np.ndarray, rng: np.random.Generator, dose: float | None = None
) -> np.ndarray:
    """Draw Poisson counts with the given expectation.

    Parameters
    ----------
    expectation : numpy.ndarray
        Expected counts per pixel (e-/px), non-negative.
    rng : numpy.random.Generator
        Source of randomness (pass ``numpy.random.default_rng(seed)``).
    dose : float, optional
        If given, the expectation is first rescaled so that its mean is ``dose`` e-/px.

    Returns
    -------
    numpy.ndarray
        Integer counts (int32), same shape as ``expectation``.
    """
    lam = np.asarray(expectation, dtype=np.float64)
    if not np.all(np.isfinite(lam)):
        raise ValueError("the expectation contains NaN or infinite values")
    if np.any(lam < 0):
        raise ValueError("the expectation must be non-negative (counts per pixel)")
    if dose is not None:
        mean = lam.mean()
        if mean <= 0:
            raise ValueError("cannot rescale an all-zero expectation to a dose")
        lam = lam * (dose / mean)
    return rng.poisson(lam).astype(np.int32)


def sample_poisson_gaussian(
    expectation: np.ndarray,
    rng: np.random.Generator,
    gain: float = 1.0,
    offset: float = 0.0,
    read_noise: float = 0.0,
) -> np.ndarray:
    """Draw detector values ``gain * Poisson(expectation) + offset + Normal(0, read_noise**2)``.

    Parameters
    ----------
    expectation : numpy.ndarray
        Expected electrons per pixel.
    rng : numpy.random.Generator
        Source of randomness.
    gain : float
        Detector units per electron.
    offset : float
        Detector units added to every pixel (dark level).
    read_noise : float
        Standard deviation of the additive Gaussian read noise, in detector units.

    Returns
    -------
    numpy.ndarray
        Float64 detector values.
    """
    counts = sample_poisson(expectation, rng)
    values = gain * counts.astype(np.float64) + offset
    if read_noise > 0:
        values = values + rng.normal(0.0, read_noise, size=values.shape)
    return values


def anscombe(counts: np.ndarray) -> np.ndarray:
    """Anscombe transform ``2 sqrt(y + 3/8)``: Poisson counts to roughly unit-variance values."""
    return 2.0 * np.sqrt(np.maximum(np.asarray(counts, dtype=np.float64), 0.0) + ANSCOMBE_SHIFT)


def generalized_anscombe(
    values: np.ndarray, gain: float = 1.0, offset: float = 0.0, read_noise: float = 0.0
) -> np.ndarray:
    """Generalised Anscombe transform for Poisson-Gaussian data (Murtagh, Starck and Bijaoui).

    Parameters
    ----------
    values : numpy.ndarray
        Detector values ``gain * Poisson + offset + Normal(0, read_noise**2)``.
    gain, offset, read_noise : float
        Detector model, as in :func:`sample_poisson_gaussian`.

    Returns
    -------
    numpy.ndarray
        Values with approximately unit variance.
    """
    arg = gain * np.asarray(values, dtype=np.float64) + 0.375 * gain**2 + read_noise**2
    arg = arg - gain * offset
    return (2.0 / gain) * np.sqrt(np.maximum(arg, 0.0))


def inverse_anscombe_algebraic(z: np.ndarray) -> np.ndarray:
    """Direct algebraic inverse ``(z / 2)**2 - 3/8`` (biased at low counts; kept for comparison)."""
    z = np.asarray(z, dtype=np.float64)
    return np.maximum((z / 2.0) ** 2 - ANSCOMBE_SHIFT, 0.0)


@lru_cache(maxsize=1)
def _unbiased_inverse_table() -> tuple[np.ndarray, np.ndarray]:
    """Tabulate ``E[anscombe(y)]`` for ``y ~ Poisson(lam)`` over a grid of ``lam``.

    Returns
    -------
    tuple of numpy.ndarray
        ``(expected_z, lam)``, both increasing.
    """
    lam = np.concatenate([np.linspace(0.0, 1.0, 401)[:-1], np.geomspace(1.0, 400.0, 1600)])
    y_max = int(lam.max() + 12 * np.sqrt(lam.max()) + 40)
    y = np.arange(y_max + 1)
    pmf = stats.poisson.pmf(y[None, :], lam[:, None])
    expected_z = pmf @ anscombe(y)
    return expected_z, lam


def inverse_anscombe_unbiased(z: np.ndarray) -> np.ndarray:
    """Exact unbiased inverse of the Anscombe transform (Makitalo and Foi, IEEE TIP 20, 2011).

    The inverse maps ``E[2 sqrt(y + 3/8) | lam]`` back to ``lam`` for Poisson ``y``; it is
    tabulated exactly (sums over the Poisson pmf) for ``lam`` up to 400 e-/px and uses the
    asymptotic closed-form expansion from the same paper beyond.

    Parameters
    ----------
    z : numpy.ndarray
        Denoised values in the Anscombe domain.

    Returns
    -------
    numpy.ndarray
        Estimated expectation in counts per pixel (non-negative).
    """
    z = np.asarray(z, dtype=np.float64)
    expected_z, lam = _unbiased_inverse_table()
    out = np.interp(z, expected_z, lam, left=0.0)
    high = z > expected_z[-1]
    if np.any(high):
        zh = z[high]
        s = np.sqrt(1.5)
        out[high] = 0.25 * zh**2 + 0.25 * s / zh - 1.375 / zh**2 + 0.625 * s / zh**3 - 0.125
    return out
