"""What the user recorded, reduced to one image of counts: the aligned sum of a series, or a frame.

Drift is measured with :func:`sbdenoise.series.drift.estimate_drift` on lightly smoothed counts
(no denoiser: the whole frame's lattice carries the correlation even at 0.45 e-/px) and frames are
summed after whole-pixel alignment, so the sum is still a Poisson count per pixel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from sbdenoise.errors import InputError
from sbdenoise.io.validation import check_pixel_size
from sbdenoise.series.drift import common_window, estimate_drift

#: Gaussian smoothing of each frame before the drift is measured, angstrom (the information
#: limit is about 0.7 A, so this keeps the columns and removes most of the shot noise).
SMOOTH_A = 0.3


@dataclass(frozen=True)
class Observation:
    """Summed counts of the aligned frames of a series (or one frame).

    Attributes
    ----------
    counts : numpy.ndarray
        ``(y, x)`` counts summed over the frames, cut to the field every frame covers.
    pixel_size : float
        Angstrom per pixel of ``counts``.
    n_frames : int
        Number of frames summed.
    drift : numpy.ndarray
        ``(t, 2)`` measured displacement of each frame, ``(y, x)`` angstrom (zeros for a frame).
    """

    counts: np.ndarray
    pixel_size: float
    n_frames: int
    drift: np.ndarray

    @property
    def average(self) -> np.ndarray:
        """Temporal average of the aligned frames, e-/px per frame."""
        return self.counts / self.n_frames

    @property
    def dose(self) -> float:
        """Mean counts per pixel and frame, e-/px."""
        return float(self.counts.mean()) / self.n_frames


def observe(data: np.ndarray, pixel_size: float | None) -> Observation:
    """Align and sum a series of counts (or take a single frame as it is).

    Parameters
    ----------
    data : numpy.ndarray
        Electron counts, ``(y, x)`` or ``(frames, y, x)``.
    pixel_size : float
        Calibrated pixel size of the data, angstrom.

    Returns
    -------
    Observation

    Raises
    ------
    InputError
        Without a positive pixel size, with data that are not a frame or a stack, or when the
        drift leaves no common field of view.
    """
    if pixel_size is None:
        raise InputError(
            "the series has no pixel size: matching compares physical distances, give it "
            "(--pixel-size, angstrom)"
        )
    pixel_size = check_pixel_size(pixel_size)
    data = np.asarray(data)
    if data.ndim == 2:
        data = data[None]
    if data.ndim != 3 or min(data.shape[1:]) < 32:
        raise InputError(
            f"expected a frame or a stack of frames of at least 32 px, got {data.shape}"
        )
    n_frames = data.shape[0]
    if n_frames == 1:
        return Observation(data[0].astype(np.float64), pixel_size, 1, np.zeros((1, 2)))
    sigma = SMOOTH_A / pixel_size

    def smoothed(t: int) -> np.ndarray:
        return ndimage.gaussian_filter(np.asarray(data[t], dtype=np.float32), sigma)

    drift = estimate_drift(smoothed, n_frames, pixel_size)
    window = common_window(drift, pixel_size, data.shape[1:])
    total = np.zeros(window.shape, dtype=np.float64)
    for t in range(n_frames):
        total += window.counts(data[t], t)
    return Observation(total, pixel_size, n_frames, drift)
