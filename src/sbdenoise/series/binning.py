"""Temporal binning of a series: sums of consecutive frames, for a particle that holds still.

One frame at 0.45 e-/px confirms a single surface Pt column only at about 2 sigma, and the
surface structure recovered from a frame grows with its dose (``benchmarks/results/
surface_dose.md``: median surface Jaccard 0.82 at 0.45 e-/px, 0.90 for two frames summed). Where
the surface holds still for a few frames, summing them trades time resolution for counts. A sum of
Poisson counts is Poisson, so the likelihood verdicts and event tests of the series stay valid on
the sums. The frames of one sum are added as recorded (not aligned): the drift within a sum blurs
it, which :func:`drift_within_sum` estimates from the drift between the sums.
"""

from __future__ import annotations

import numpy as np

from sbdenoise.errors import InputError

#: Drift within one sum above which the sum blurs a column (angstrom): about half the Gaussian
#: width of a column image at the working sampling.
BLUR_WARNING_A = 0.3


def check_frames_per_sum(value: object) -> int:
    """Return ``value`` as a whole number of frames per sum, or raise :class:`InputError`."""
    try:
        number = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        number = 0
    if number < 1 or number != value:
        raise InputError(f"frames per sum must be a whole number >= 1, got {value!r}")
    return number


def sum_frames(counts: np.ndarray, frames_per_sum: int) -> tuple[np.ndarray, int]:
    """Sum consecutive frames of a stack of counts: frames ``kN .. kN + N - 1`` become frame ``k``.

    Parameters
    ----------
    counts : numpy.ndarray
        Electron counts, ``(t, y, x)``.
    frames_per_sum : int
        Frames per sum ``N`` (1 returns the stack unchanged).

    Returns
    -------
    summed : numpy.ndarray
        ``(t // N, y, x)`` counts, float32; each frame has N times the dose of a recorded one.
    dropped : int
        Frames left over at the end (``t mod N``), not used: a shorter last sum would have
        another dose than the others.

    Raises
    ------
    InputError
        For a stack that is not ``(t, y, x)``, a count below 1, or fewer frames than one sum.
    """
    stack = np.asarray(counts)
    if stack.ndim != 3:
        raise InputError(f"frames are summed in a (frames, y, x) stack, got shape {stack.shape}")
    n = check_frames_per_sum(frames_per_sum)
    if n == 1:
        return stack.astype(np.float32, copy=False), 0
    sums = stack.shape[0] // n
    if sums == 0:
        raise InputError(f"the series has {stack.shape[0]} frames, fewer than one sum of {n}")
    used = sums * n
    summed = stack[:used].reshape(sums, n, *stack.shape[1:]).sum(axis=1, dtype=np.float64)
    return summed.astype(np.float32), stack.shape[0] - used


def drift_within_sum(drift: np.ndarray, frames_per_sum: int) -> np.ndarray:
    """Drift across the frames of each sum, angstrom, from the drift between the sums.

    With a drift that is steady over a few sums, the specimen moves ``(N - 1) / N`` of the step
    between two sums while the frames of one sum are recorded.

    Parameters
    ----------
    drift : numpy.ndarray
        Drift of each sum, ``(k, 2)``, ``(dy, dx)`` in angstrom.
    frames_per_sum : int
        Frames per sum ``N``.

    Returns
    -------
    numpy.ndarray
        ``(k,)`` distance moved within each sum, angstrom (the step to the neighbouring sums,
        the larger of the two; 0 for ``N = 1`` or a single sum).
    """
    drift = np.asarray(drift, dtype=np.float64).reshape(-1, 2)
    n = int(frames_per_sum)
    if n <= 1 or len(drift) < 2:
        return np.zeros(len(drift))
    steps = np.hypot(*np.diff(drift, axis=0).T)
    around = np.maximum(np.r_[steps, steps[-1]], np.r_[steps[0], steps])
    return around * (n - 1) / n
