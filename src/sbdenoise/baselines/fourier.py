"""Fourier-space baselines: a radial low-pass filter and a Bragg-spot (periodic) mask.

Both take one frame of electron counts per pixel and return expected counts per pixel on the same
grid. Spatial frequencies are given in reciprocal angstrom (1/A), so the same settings mean the
same physical resolution at any detector sampling; the pixel size (angstrom per pixel) converts
them to FFT bins.
"""

from __future__ import annotations

import numpy as np
from scipy import fft as sfft
from scipy import ndimage as ndi
from skimage.feature import peak_local_max

from sbdenoise.errors import InputError
from sbdenoise.io.validation import check_pixel_size as positive_pixel_size

#: Information limit of the reference microscope, in angstrom; signal beyond 1/0.7 1/A is noise.
INFORMATION_LIMIT_A = 0.7


def check_frame(counts: np.ndarray, name: str = "counts") -> np.ndarray:
    """Validate one 2-D frame and return it as float64.

    Parameters
    ----------
    counts : numpy.ndarray
        Candidate frame, electron counts per pixel, shape ``(y, x)``.
    name : str
        What to call the array in error messages.

    Returns
    -------
    numpy.ndarray
        The frame as a float64 array (a copy only when the dtype changes).

    Raises
    ------
    InputError
        (a ValueError) if the array is not 2-D, is empty, or holds NaN or infinite values.
    """
    frame = np.asarray(counts, dtype=np.float64)
    if frame.ndim != 2:
        raise InputError(
            f"{name} must be one 2-D frame (y, x), got an array of shape {frame.shape}; "
            "apply the filter frame by frame to a stack"
        )
    if frame.size == 0:
        raise InputError(f"{name} is empty (shape {frame.shape})")
    if not np.all(np.isfinite(frame)):
        raise InputError(f"{name} contains NaN or infinite values")
    return frame


def check_pixel_size(pixel_size: float) -> float:
    """Validate a pixel size in angstrom per pixel and return it as a float."""
    if pixel_size is None:
        raise InputError("this filter needs the pixel size in angstrom (pass pixel_size)")
    return positive_pixel_size(pixel_size)


def _radial_frequency(shape: tuple[int, int], pixel_size: float, real: bool) -> np.ndarray:
    """Spatial frequency magnitude (1/A) of every FFT bin, unshifted layout."""
    ky = sfft.fftfreq(shape[0], d=pixel_size)
    kx = sfft.rfftfreq(shape[1], d=pixel_size) if real else sfft.fftfreq(shape[1], d=pixel_size)
    return np.hypot(ky[:, None], kx[None, :])


def _raised_cosine_step(distance: np.ndarray, radius: float, edge: float) -> np.ndarray:
    """1 inside ``radius - edge/2``, 0 beyond ``radius + edge/2``, a cos^2 roll-off between."""
    if edge <= 0:
        return (distance <= radius).astype(np.float64)
    t = np.clip((distance - (radius - edge / 2.0)) / edge, 0.0, 1.0)
    return np.cos(0.5 * np.pi * t) ** 2


def low_pass(
    counts: np.ndarray, pixel_size: float, cutoff: float = 1.35, edge: float = 0.0
) -> np.ndarray:
    """Radial FFT low-pass filter of one frame.

    Every spatial frequency above ``cutoff`` is removed. The zero frequency is always passed
    unchanged, so the mean count of the frame is kept exactly (to floating-point rounding).

    Parameters
    ----------
    counts : numpy.ndarray
        One frame of electron counts per pixel, shape ``(y, x)``.
    pixel_size : float
        Pixel size in angstrom.
    cutoff : float
        Cut-off spatial frequency in 1/A (default 1.35 1/A, i.e. 0.74 A, the value used with the
        reference data in the papers). With ``edge > 0`` it is the half-amplitude point.
    edge : float
        Width in 1/A of a raised-cosine (cos^2) roll-off centred on ``cutoff``; 0 (default) gives
        the hard top-hat mask of the papers, which rings a little around sharp features.

    Returns
    -------
    numpy.ndarray
        Filtered frame, expected counts per pixel (float64), same shape as ``counts``.

    Raises
    ------
    InputError
        (a ValueError) on a frame that is not 2-D and finite, or a non-positive parameter.
    """
    frame = check_frame(counts)
    pixel_size = check_pixel_size(pixel_size)
    if not cutoff > 0:
        raise InputError(f"cutoff must be a positive spatial frequency in 1/A, got {cutoff!r}")
    if edge < 0:
        raise InputError(f"edge must be a non-negative width in 1/A, got {edge!r}")
    spectrum = sfft.rfft2(frame, workers=-1)
    mask = _raised_cosine_step(_radial_frequency(frame.shape, pixel_size, True), cutoff, edge)
    mask[0, 0] = 1.0
    return sfft.irfft2(spectrum * mask, s=frame.shape, workers=-1)


def _local_background(image: np.ndarray, size: int) -> np.ndarray:
    """Median filter over ``size`` bins, computed on a grid subsampled to about 5 bins a window."""
    step = max(1, round(size / 5))
    window = max(3, round(size / step) | 1)
    coarse = ndi.median_filter(image[::step, ::step], size=window, mode="reflect")
    if step == 1:
        return coarse
    zoom = (image.shape[0] / coarse.shape[0], image.shape[1] / coarse.shape[1])
    full = ndi.zoom(coarse, zoom, order=1, mode="nearest", grid_mode=True)
    return full[: image.shape[0], : image.shape[1]]


def find_bragg_peaks(
    counts: np.ndarray,
    pixel_size: float,
    *,
    threshold: float = 4.5,
    min_frequency: float = 0.1,
    max_frequency: float = 1.0 / INFORMATION_LIMIT_A,
    min_separation: float = 0.05,
    smoothing: float = 1.0,
    max_peaks: int | None = None,
) -> np.ndarray:
    """Find lattice (Bragg) peaks in the power spectrum of one frame.

    The frame minus its mean is multiplied by a Hann window (to suppress the cross of the image
    edges), its power spectrum is smoothed with a Gaussian of ``smoothing`` FFT bins (an averaged
    periodogram), and the local background of its logarithm (a median filter over 0.2 1/A or 11
    bins, whichever is larger) is subtracted. Peaks of this contrast above ``threshold`` robust
    standard deviations (1.4826 x median absolute deviation inside the searched band) are found
    with :func:`skimage.feature.peak_local_max`. The default threshold found no peak in pure
    Poisson noise at 0.45 e-/px (256 to 1024 px frames) while finding the main reflections of the
    synthetic lattice.

    Parameters
    ----------
    counts : numpy.ndarray
        One frame, electron counts per pixel, shape ``(y, x)``.
    pixel_size : float
        Pixel size in angstrom.
    threshold : float
        Detection threshold, in robust standard deviations of the background-subtracted log power.
    min_frequency, max_frequency : float
        Band searched for peaks, in 1/A (default 0.1 to 1/0.7 1/A: lattice spacings from 10 A down
        to the information limit).
    min_separation : float
        Minimum distance between two peaks, in 1/A (at least one FFT bin).
    smoothing : float
        Standard deviation of the Gaussian smoothing of the power spectrum, in FFT bins (0: none).
    max_peaks : int, optional
        Keep at most this many peaks (the strongest); by default all.

    Returns
    -------
    numpy.ndarray
        Peak positions ``(ky, kx)`` in 1/A, shape ``(n, 2)``, Friedel pairs included (both ``k``
        and ``-k``), strongest first.
    """
    frame = check_frame(counts)
    pixel_size = check_pixel_size(pixel_size)
    if not 0 <= min_frequency < max_frequency:
        raise InputError("need 0 <= min_frequency < max_frequency (1/A)")
    ny, nx = frame.shape
    window = np.outer(np.hanning(ny), np.hanning(nx))
    power = np.abs(sfft.fftshift(sfft.fft2((frame - frame.mean()) * window, workers=-1))) ** 2
    smoothed = ndi.gaussian_filter(power, smoothing) if smoothing > 0 else power
    logp = np.log(smoothed + 1e-12 * smoothed.max() + 1e-300)

    ky = sfft.fftshift(sfft.fftfreq(ny, d=pixel_size))
    kx = sfft.fftshift(sfft.fftfreq(nx, d=pixel_size))
    dk = (abs(ky[1] - ky[0]) if ny > 1 else 1.0, abs(kx[1] - kx[0]) if nx > 1 else 1.0)
    kmag = np.hypot(ky[:, None], kx[None, :])
    band = (kmag >= min_frequency) & (kmag <= max_frequency)
    if not band.any():
        return np.zeros((0, 2))

    contrast = logp - _local_background(logp, max(11, round(0.2 / min(dk))))
    values = contrast[band]
    spread = 1.4826 * np.median(np.abs(values - np.median(values)))
    if spread <= 0:
        spread = float(np.std(values)) or 1.0
    level = float(np.median(values) + threshold * spread)
    separation = max(1, round(min_separation / max(dk)))
    found = peak_local_max(
        np.where(band, contrast, contrast.min()),
        min_distance=separation,
        threshold_abs=level,
        exclude_border=False,
    )
    if len(found) == 0:
        return np.zeros((0, 2))
    strength = contrast[found[:, 0], found[:, 1]]
    found = found[np.argsort(-strength, kind="stable")]
    peaks = np.stack([ky[found[:, 0]], kx[found[:, 1]]], axis=1)
    # Add the Friedel mate of every peak and drop duplicates (mates found on their own).
    peaks = np.concatenate([peaks, -peaks]).reshape(2, -1, 2).transpose(1, 0, 2).reshape(-1, 2)
    keys = np.round(peaks / np.array(dk)).astype(np.int64)
    _, first = np.unique(keys, axis=0, return_index=True)
    peaks = peaks[np.sort(first)]
    if max_peaks is not None:
        peaks = peaks[: 2 * int(max_peaks)]
    return peaks


def bragg_mask(
    counts: np.ndarray,
    pixel_size: float,
    *,
    spot_radius: float = 0.08,
    dc_radius: float | None = None,
    threshold: float = 4.5,
    min_frequency: float = 0.1,
    max_frequency: float = 1.0 / INFORMATION_LIMIT_A,
    min_separation: float = 0.05,
    smoothing: float = 1.0,
    max_peaks: int | None = None,
) -> np.ndarray:
    """Periodic (Bragg) filter: keep only soft discs around the lattice peaks and the origin.

    Peaks are found automatically with :func:`find_bragg_peaks`; the mask is the maximum of soft
    discs (cos^2 edge of half the radius) around every peak, its Friedel mate and the zero
    frequency, so the output is real and keeps the mean count exactly. Anything not periodic
    (vacuum, surfaces, defects) is smeared by the lattice fringes, which is the known weakness of
    this filter.

    Parameters
    ----------
    counts : numpy.ndarray
        One frame, electron counts per pixel, shape ``(y, x)``.
    pixel_size : float
        Pixel size in angstrom.
    spot_radius : float
        Radius in 1/A of the disc kept around each peak (at least one FFT bin; the roll-off adds
        half a radius more).
    dc_radius : float, optional
        Radius in 1/A of the disc kept around the zero frequency (slow background variations);
        defaults to ``spot_radius``.
    threshold, min_frequency, max_frequency, min_separation, smoothing, max_peaks
        Peak detection settings, see :func:`find_bragg_peaks`.

    Returns
    -------
    numpy.ndarray
        Filtered frame, expected counts per pixel (float64), same shape as ``counts``.
    """
    frame = check_frame(counts)
    pixel_size = check_pixel_size(pixel_size)
    if not spot_radius > 0:
        raise InputError(f"spot_radius must be positive (1/A), got {spot_radius!r}")
    dc_radius = spot_radius if dc_radius is None else dc_radius
    if dc_radius < 0:
        raise InputError(f"dc_radius must be non-negative (1/A), got {dc_radius!r}")
    peaks = find_bragg_peaks(
        frame,
        pixel_size,
        threshold=threshold,
        min_frequency=min_frequency,
        max_frequency=max_frequency,
        min_separation=min_separation,
        smoothing=smoothing,
        max_peaks=max_peaks,
    )
    ny, nx = frame.shape
    ky = sfft.fftfreq(ny, d=pixel_size)
    kx = sfft.fftfreq(nx, d=pixel_size)
    dk = min(abs(ky[1]) if ny > 1 else np.inf, abs(kx[1]) if nx > 1 else np.inf)
    mask = np.zeros((ny, nx))
    centres = np.concatenate([np.zeros((1, 2)), peaks])
    radii = np.r_[max(dc_radius, 0.0), np.full(len(peaks), spot_radius)]
    for (cy, cx), radius in zip(centres, radii, strict=True):
        radius = max(radius, dk)
        outer = 1.5 * radius
        # Distance on the periodic frequency grid (wrap-around), evaluated only near the spot.
        dy = (ky - cy + 0.5 / pixel_size) % (1.0 / pixel_size) - 0.5 / pixel_size
        dx = (kx - cx + 0.5 / pixel_size) % (1.0 / pixel_size) - 0.5 / pixel_size
        rows = np.flatnonzero(np.abs(dy) <= outer)
        cols = np.flatnonzero(np.abs(dx) <= outer)
        if rows.size == 0 or cols.size == 0:
            continue
        dist = np.hypot(dy[rows, None], dx[None, cols])
        spot = _raised_cosine_step(dist, 1.25 * radius, 0.5 * radius)
        block = np.ix_(rows, cols)
        mask[block] = np.maximum(mask[block], spot)
    mask[0, 0] = 1.0
    # Symmetrise exactly so that the filtered image is real.
    mask = np.maximum(mask, np.roll(mask[::-1, ::-1], (1, 1), axis=(0, 1)))
    return sfft.ifft2(sfft.fft2(frame, workers=-1) * mask, workers=-1).real
