"""Drift of a series: sub-pixel phase correlation of denoised frames, and aligned views.

Single frames at 0.45 e-/px are too noisy for phase correlation (the correlation peak of one
frame against another is buried), so the drift is measured on the denoised frames, first against
frame 0 and then against the mean of the aligned frames. Counts are aligned by whole pixels only
(a shifted count is no longer a Poisson count); averages are aligned to sub-pixel precision.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import ndimage

from sbdenoise.errors import InputError

#: Largest displacement between consecutive frames the search allows, angstrom. A crystal
#: correlates with itself at every lattice vector (the shortest projected Pt vector is 2.4 A), so
#: the correlation peak is sought only this close to the previous frame's drift; at 40 frames/s
#: this allows 32 A/s.
MAX_STEP_A = 0.8
#: Blur before correlating, angstrom: removes the shot noise the denoiser left, keeps the columns.
BLUR_A = 0.2


@dataclass(frozen=True)
class CommonWindow:
    """The part of frame 0 that every frame of the series covers.

    Attributes
    ----------
    rows, cols : slice
        Rows and columns of frame 0 (pixels).
    shifts : numpy.ndarray
        ``(t, 2)`` whole-pixel displacement of each frame, ``(y, x)``.
    """

    rows: slice
    cols: slice
    shifts: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        """Shape of the window, px."""
        return (self.rows.stop - self.rows.start, self.cols.stop - self.cols.start)

    def origin_a(self, pixel_size: float) -> np.ndarray:
        """Frame-0 position of the window's first pixel, ``(y, x)`` angstrom."""
        return np.array([self.rows.start, self.cols.start], dtype=np.float64) * pixel_size

    def counts(self, frame: np.ndarray, index: int) -> np.ndarray:
        """Frame ``index`` cut to the window, moved back by its whole-pixel drift (a view)."""
        dy, dx = (int(v) for v in self.shifts[index])
        return frame[
            self.rows.start + dy : self.rows.stop + dy, self.cols.start + dx : self.cols.stop + dx
        ]


@lru_cache(maxsize=4)
def _hann(shape: tuple[int, int]) -> np.ndarray:
    return np.outer(np.hanning(shape[0]), np.hanning(shape[1]))


def _spectrum(image: np.ndarray, pixel_size: float) -> np.ndarray:
    """Fourier transform of the blurred, mean-free, Hann-windowed image."""
    image = ndimage.gaussian_filter(np.asarray(image, dtype=np.float32), BLUR_A / pixel_size)
    return np.fft.rfft2((image - image.mean()) * _hann(image.shape))


def _parabola_offset(minus: float, centre: float, plus: float) -> float:
    curvature = minus - 2.0 * centre + plus
    if curvature >= 0:
        return 0.0
    return float(np.clip(0.5 * (minus - plus) / curvature, -0.5, 0.5))


def register(
    reference: np.ndarray,
    moving: np.ndarray,
    pixel_size: float,
    *,
    expected_px: np.ndarray | None = None,
    search_a: float = MAX_STEP_A,
) -> np.ndarray:
    """Displacement of ``moving`` relative to ``reference``: the cross-correlation peak nearest
    the expected displacement.

    Parameters
    ----------
    reference, moving : numpy.ndarray
        ``(y, x)`` images of the same shape (denoised frames, e-/px).
    pixel_size : float
        Angstrom per pixel.
    expected_px : numpy.ndarray, optional
        ``(2,)`` expected displacement, px (default 0: the previous frame's drift in a series).
    search_a : float
        Radius of the search around it, angstrom.

    Returns
    -------
    numpy.ndarray
        ``(2,)`` displacement ``(y, x)`` in px (sub-pixel, parabolic peak fit): a feature at
        ``p`` in ``reference`` lies at ``p + d`` in ``moving``.
    """
    reference_spectrum = _spectrum(reference, pixel_size)
    return _peak(
        reference_spectrum,
        _spectrum(moving, pixel_size),
        np.shape(reference),
        pixel_size,
        expected_px,
        search_a,
    )


def _peak(
    reference_spectrum: np.ndarray,
    moving_spectrum: np.ndarray,
    shape_yx: tuple[int, ...],
    pixel_size: float,
    expected_px: np.ndarray | None,
    search_a: float,
) -> np.ndarray:
    """The cross-correlation peak nearest ``expected_px`` (see :func:`register`)."""
    correlation = np.fft.irfft2(np.conj(reference_spectrum) * moving_spectrum, s=shape_yx)
    shape = np.asarray(correlation.shape)
    expected = np.zeros(2) if expected_px is None else np.asarray(expected_px, dtype=np.float64)
    radius = max(search_a / pixel_size, 1.5)
    shifted = np.fft.fftshift(correlation)
    centre = shape // 2
    # search a box around the expected shift, then keep the disc inside it
    low = np.clip(np.floor(centre + expected - radius).astype(int), 0, shape - 1)
    high = np.clip(np.ceil(centre + expected + radius).astype(int) + 1, 1, shape)
    box = shifted[low[0] : high[0], low[1] : high[1]]
    rows, cols = np.mgrid[low[0] : high[0], low[1] : high[1]]
    inside = np.hypot(rows - centre[0] - expected[0], cols - centre[1] - expected[1]) <= radius
    if not inside.any():
        raise InputError(f"the expected drift {expected.tolist()} px lies outside the frame")
    k = np.argmax(np.where(inside, box, -np.inf))
    row, col = int(rows.flat[k]), int(cols.flat[k])
    sub = np.array(
        [
            _parabola_offset(
                shifted[(row - 1) % shape[0], col],
                shifted[row, col],
                shifted[(row + 1) % shape[0], col],
            ),
            _parabola_offset(
                shifted[row, (col - 1) % shape[1]],
                shifted[row, col],
                shifted[row, (col + 1) % shape[1]],
            ),
        ]
    )
    return np.array([row - centre[0], col - centre[1]], dtype=np.float64) + sub


#: Frames whose straight-line fit gives frame 0's position against the mean.
ANCHOR_FRAMES = 8


def _frame0_offset(positions_px: np.ndarray) -> np.ndarray:
    """Frame 0's position, from a straight line through the first frames (less noisy than frame
    0's own estimate, which would otherwise offset every frame's drift)."""
    head = positions_px[: min(ANCHOR_FRAMES, len(positions_px))]
    if len(head) < 3:
        return positions_px[0].copy()
    frames = np.arange(len(head))
    return np.array([np.polyval(np.polyfit(frames, head[:, k], 1), 0.0) for k in range(2)])


def estimate_drift(
    frames: Callable[[int], np.ndarray],
    n_frames: int,
    pixel_size: float,
    *,
    refine: int = 1,
) -> np.ndarray:
    """Displacement of every frame relative to frame 0, by phase correlation.

    Parameters
    ----------
    frames : callable
        ``frames(t)`` returns frame ``t`` (denoised, e-/px); called a few times per frame, so a
        memory-mapped stack is read frame by frame.
    n_frames : int
        Number of frames.
    pixel_size : float
        Angstrom per pixel.
    refine : int
        Passes against the mean of the aligned frames after the first pass against frame 0.

    Returns
    -------
    numpy.ndarray
        ``(t, 2)`` displacement ``(y, x)`` in angstrom: a feature at ``p`` in frame 0 lies at
        ``p + drift[t]`` in frame ``t``.
    """
    if n_frames < 1:
        raise InputError("a series needs at least one frame")
    if not pixel_size > 0:
        raise InputError(f"the pixel size must be positive (angstrom), got {pixel_size}")
    first = np.asarray(frames(0))
    shape = first.shape
    reference = _spectrum(first, pixel_size)
    drift_px = np.zeros((n_frames, 2))
    for t in range(1, n_frames):
        moving = _spectrum(frames(t), pixel_size)
        drift_px[t] = _peak(reference, moving, shape, pixel_size, drift_px[t - 1], MAX_STEP_A)
    for _ in range(refine):
        mean = aligned_mean(frames, n_frames, drift_px * pixel_size, pixel_size)
        reference = _spectrum(mean, pixel_size)
        for t in range(n_frames):
            moving = _spectrum(frames(t), pixel_size)
            drift_px[t] = _peak(reference, moving, shape, pixel_size, drift_px[t], MAX_STEP_A)
        drift_px -= _frame0_offset(drift_px)
    return drift_px * pixel_size


def aligned_mean(
    frames: Callable[[int], np.ndarray],
    n_frames: int,
    drift: np.ndarray,
    pixel_size: float,
    indices: range | None = None,
) -> np.ndarray:
    """Mean of frames moved back onto frame 0 with sub-pixel (bilinear) shifts.

    Parameters
    ----------
    frames : callable
        ``frames(t)`` returns frame ``t``.
    n_frames : int
        Number of frames.
    drift : numpy.ndarray
        ``(t, 2)`` displacement per frame, angstrom (see :func:`estimate_drift`).
    pixel_size : float
        Angstrom per pixel.
    indices : range, optional
        The frames to average (default: all).

    Returns
    -------
    numpy.ndarray
        The mean in frame-0 coordinates (edges uncovered by some frames are filled with the
        nearest value; cut them with :func:`common_window`).
    """
    chosen = range(n_frames) if indices is None else indices
    total = None
    for t in chosen:
        moved = ndimage.shift(
            np.asarray(frames(t), dtype=np.float64),
            -np.asarray(drift[t]) / pixel_size,
            order=1,
            mode="nearest",
        )
        total = moved if total is None else total + moved
    if total is None:
        raise InputError("no frames to average")
    return total / len(chosen)


def common_window(drift: np.ndarray, pixel_size: float, shape: tuple[int, int]) -> CommonWindow:
    """The part of frame 0 covered by every frame after whole-pixel alignment.

    Parameters
    ----------
    drift : numpy.ndarray
        ``(t, 2)`` displacement per frame, angstrom.
    pixel_size : float
        Angstrom per pixel.
    shape : tuple of int
        Frame shape, px.

    Returns
    -------
    CommonWindow

    Raises
    ------
    InputError
        When the drift is so large that no pixel is seen by every frame.
    """
    shifts = np.rint(np.asarray(drift, dtype=np.float64) / pixel_size).astype(int)
    low = np.maximum(0, -shifts.min(axis=0))
    high = np.asarray(shape) - np.maximum(0, shifts.max(axis=0))
    if np.any(high - low < 16):
        raise InputError(
            f"the series drifts by {np.ptp(shifts, axis=0).tolist()} px over a "
            f"{shape[0]}x{shape[1]} px frame: no common field of view is left to compare frames"
        )
    return CommonWindow(slice(int(low[0]), int(high[0])), slice(int(low[1]), int(high[1])), shifts)
