"""Real-space baselines: Gaussian, median and Poisson adaptive Wiener filters, plus binning.

Every filter takes one frame of electron counts per pixel and returns expected counts per pixel
(float64) on the same grid. Window sizes are in pixels of the input frame (at the reference
sampling of 0.061 A/px, 1 A is about 16 px).

Binning sums counts in ``b x b`` blocks, which keeps them Poisson with ``b**2`` times the dose;
:func:`bin_counts` and :func:`unbin` let a filter work on the coarser grid and come back to the
input grid (used by the median filter here and by the VST filters in :mod:`.vst`).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from sbdenoise.baselines.fourier import check_frame
from sbdenoise.errors import InputError


def _whole_pixels(value: int, name: str, minimum: int = 1) -> int:
    """Check a window or block size, a whole number of pixels, at least ``minimum`` (0 or 1)."""
    if isinstance(value, bool) or int(value) != value or value < minimum:
        kind = "positive" if minimum == 1 else "non-negative"
        raise InputError(f"{name} must be a {kind} integer (pixels), got {value!r}")
    return int(value)


def bin_counts(counts: np.ndarray, factor: int) -> np.ndarray:
    """Sum counts in ``factor x factor`` blocks.

    A frame whose size is not a multiple of ``factor`` is first extended by mirror reflection of
    its last rows and columns (reflected counts are still Poisson with the neighbouring dose).

    Parameters
    ----------
    counts : numpy.ndarray
        One frame, electron counts per pixel, shape ``(y, x)``.
    factor : int
        Block size in pixels.

    Returns
    -------
    numpy.ndarray
        Counts per block (float64), shape ``(ceil(y / factor), ceil(x / factor))``.
    """
    frame = check_frame(counts)
    factor = _whole_pixels(factor, "bin_factor")
    if factor == 1:
        return frame.copy()
    pad = ((0, -frame.shape[0] % factor), (0, -frame.shape[1] % factor))
    padded = np.pad(frame, pad, mode="symmetric")
    ny, nx = padded.shape[0] // factor, padded.shape[1] // factor
    return padded.reshape(ny, factor, nx, factor).sum(axis=(1, 3))


def unbin(binned: np.ndarray, factor: int, shape: tuple[int, int]) -> np.ndarray:
    """Bring an estimate of counts per block back to counts per pixel on the input grid.

    The block values divided by ``factor**2`` are interpolated with a cubic spline (block centres
    at their true positions, mirror boundaries), negative overshoot is set to zero, and the result
    is rescaled so that its mean over the padded grid equals the mean of ``binned / factor**2``:
    the upsampling keeps the mean count per pixel.

    Parameters
    ----------
    binned : numpy.ndarray
        Estimated counts per block, as returned by a filter applied to :func:`bin_counts`.
    factor : int
        Block size in pixels used for binning.
    shape : tuple of int
        Shape ``(y, x)`` of the original frame.

    Returns
    -------
    numpy.ndarray
        Expected counts per pixel (float64), shape ``shape``.
    """
    factor = _whole_pixels(factor, "bin_factor")
    per_pixel = np.asarray(binned, dtype=np.float64) / factor**2
    if factor == 1:
        return per_pixel[: shape[0], : shape[1]].copy()
    full = ndi.zoom(per_pixel, factor, order=3, mode="grid-mirror", grid_mode=True)
    full = np.maximum(full, 0.0)
    total = full.mean()
    if total > 0:
        full *= per_pixel.mean() / total
    return full[: shape[0], : shape[1]]


def gaussian(counts: np.ndarray, sigma: float = 6.0) -> np.ndarray:
    """Gaussian smoothing of one frame.

    Parameters
    ----------
    counts : numpy.ndarray
        One frame, electron counts per pixel, shape ``(y, x)``.
    sigma : float
        Standard deviation of the Gaussian kernel in pixels (default 6 px = 0.37 A at 0.061 A/px,
        the best setting on the synthetic lattice at 0.45 e-/px).

    Returns
    -------
    numpy.ndarray
        Smoothed frame, expected counts per pixel (float64); the mean is kept (mirror edges).
    """
    frame = check_frame(counts)
    if not sigma >= 0:
        raise InputError(f"sigma must be a non-negative number of pixels, got {sigma!r}")
    return ndi.gaussian_filter(frame, sigma, mode="reflect")


def median(counts: np.ndarray, size: int = 3, bin_factor: int = 8) -> np.ndarray:
    """Median filter of one frame, optionally on a binned grid.

    At 0.45 e-/px most pixels hold 0 or 1 electron and the median of raw counts is 0 wherever the
    expectation is below ln 2 = 0.69 e-/px: with ``bin_factor=1`` (the textbook filter) the output
    is a binary 0/1 image and barely beats the raw frame. Summing counts in ``bin_factor`` blocks
    first gives the median graded values to choose from; the result is brought back to the input
    grid with :func:`unbin`.

    Parameters
    ----------
    counts : numpy.ndarray
        One frame, electron counts per pixel, shape ``(y, x)``.
    size : int
        Side of the square median window, in (binned) pixels.
    bin_factor : int
        Block size in input pixels for binning before filtering (default 8: 0.49 A blocks at
        0.061 A/px, the best setting on the synthetic lattice); 1 disables binning.

    Returns
    -------
    numpy.ndarray
        Filtered frame, expected counts per pixel (float64), same shape as ``counts``.
    """
    frame = check_frame(counts)
    size = _whole_pixels(size, "size")
    binned = bin_counts(frame, bin_factor)
    filtered = ndi.median_filter(binned, size=size, mode="reflect")
    return unbin(filtered, bin_factor, frame.shape)


def adaptive_wiener(counts: np.ndarray, radius: int = 13) -> np.ndarray:
    """Local (adaptive) Wiener filter with a Poisson noise model.

    Over a ``(2 radius + 1)**2`` window around every pixel the local mean ``m`` and variance
    ``v`` of the counts are computed (:func:`scipy.ndimage.uniform_filter`, mirror edges). For
    Poisson counts the noise variance equals the expectation, estimated by ``m``, so the signal
    variance is ``s2 = max(v - m, 0)`` and the estimate is ``m + s2 / v * (y - m)``.
    :func:`scipy.signal.wiener` is not used because it assumes one noise power for the whole
    image, which is wrong for shot noise. A noise-free constant image is returned unchanged.

    Parameters
    ----------
    counts : numpy.ndarray
        One frame, electron counts per pixel, shape ``(y, x)``.
    radius : int
        Half-width of the square window in pixels (default 13 px, a 27 x 27 window = 1.6 A at
        0.061 A/px, as in the papers; also the best setting on the synthetic lattice).

    Returns
    -------
    numpy.ndarray
        Filtered frame, expected counts per pixel (float64), same shape as ``counts``.
    """
    frame = check_frame(counts)
    size = 2 * _whole_pixels(radius, "radius", minimum=0) + 1
    mean = ndi.uniform_filter(frame, size, mode="reflect")
    mean_sq = ndi.uniform_filter(frame * frame, size, mode="reflect")
    variance = np.maximum(mean_sq - mean * mean, 0.0)
    signal = np.maximum(variance - np.maximum(mean, 0.0), 0.0)
    gain = np.divide(signal, variance, out=np.zeros_like(variance), where=variance > 0)
    return mean + gain * (frame - mean)
