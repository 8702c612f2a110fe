"""Atom columns: Laplacian-of-Gaussian detection in angstrom, sub-pixel refinement, matching.

Every length here is in angstrom, so the same settings find the same columns at any detector
sampling; the pixel size (angstrom per pixel) converts them to pixels. Positions are ``(y, x)``
in angstrom with the centre of pixel ``(row, col)`` at ``(row, col) * pixel_size``, the convention
of :mod:`sbdenoise.simulate.store` and :mod:`sbdenoise.synthetic`.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from scipy import ndimage as ndi
from scipy.optimize import linear_sum_assignment
from scipy.spatial import cKDTree
from skimage.feature import blob_log

from sbdenoise.errors import InputError
from sbdenoise.io.atomic import atomic_write
from sbdenoise.io.validation import check_pixel_size

#: Default smallest and largest Gaussian width of a column image searched for, in angstrom.
DEFAULT_SIGMA_RANGE_A = (0.3, 0.8)
#: Default distance within which a detection counts as the same column as a true one (angstrom).
DEFAULT_MATCH_DISTANCE_A = 0.5
#: Default least peak height of a column above its local background, as a fraction of the
#: image's median. Chosen on a surface-evaluation set simulated with another seed than the
#: scored one (``sbdenoise simulate --preset surface --seed 20261207``): on its 132 noise-free
#: frames the mean surface Jaccard of the Pt columns is 0.81 at 0.2, 0.90 at 0.15, 0.93 at 0.1
#: and 0.90 at 0.075; on the same frames denoised by the shipped network (one draw at 0.45
#: e-/px) 0.15 is the best of the four (0.1 lets noise through). Faint columns (strong
#: vibration, a short column at the surface) stand only 15-20 % above the median, which the
#: former 0.2 missed even without noise. A smoother estimate keeps less contrast: VST+BM3D
#: scores best at 0.075 (``benchmarks/results/detector_threshold.md``), so comparisons give
#: each method the threshold chosen for it there.
DEFAULT_MIN_CONTRAST = 0.15


@dataclass(frozen=True)
class ColumnDetection:
    """Columns found in one image.

    Attributes
    ----------
    positions : numpy.ndarray
        Sub-pixel column positions, shape ``(n, 2)``, ``(y, x)`` in angstrom.
    sigma : numpy.ndarray
        Gaussian width of each column's LoG scale, shape ``(n,)``, in angstrom.
    strength : numpy.ndarray
        Scale-normalised LoG response at each column, in e-/px (about half the peak height above
        the local background of a column that matches the scale).
    pixel_size : float
        Angstrom per pixel of the image searched.
    """

    positions: np.ndarray
    sigma: np.ndarray
    strength: np.ndarray
    pixel_size: float

    def __len__(self) -> int:
        return len(self.positions)

    @property
    def pixels(self) -> np.ndarray:
        """Positions in pixel units ``(row, col)``, shape ``(n, 2)``."""
        return self.positions / self.pixel_size


@dataclass(frozen=True)
class ColumnMatch:
    """One-to-one assignment of detected columns to true columns.

    Attributes
    ----------
    detected : numpy.ndarray
        Indices into the detected positions of matched pairs, shape ``(m,)``.
    truth : numpy.ndarray
        Indices into the true positions of matched pairs, shape ``(m,)``.
    distance : numpy.ndarray
        Distance of each matched pair, in angstrom.
    n_detected, n_truth : int
        Sizes of the two sets.
    """

    detected: np.ndarray
    truth: np.ndarray
    distance: np.ndarray
    n_detected: int
    n_truth: int

    @property
    def true_positives(self) -> int:
        """Number of matched pairs."""
        return len(self.detected)

    @property
    def false_positives(self) -> int:
        """Detections with no true column within the distance (spurious columns)."""
        return self.n_detected - len(self.detected)

    @property
    def false_negatives(self) -> int:
        """True columns with no detection within the distance (missing columns)."""
        return self.n_truth - len(self.truth)

    @property
    def detected_is_matched(self) -> np.ndarray:
        """Boolean per detection: True where it was matched to a true column."""
        flags = np.zeros(self.n_detected, dtype=bool)
        flags[self.detected] = True
        return flags

    @property
    def truth_is_matched(self) -> np.ndarray:
        """Boolean per true column: True where a detection was matched to it."""
        flags = np.zeros(self.n_truth, dtype=bool)
        flags[self.truth] = True
        return flags


def check_positions(positions: Any, name: str = "positions") -> np.ndarray:
    """Validate column positions and return them as a float64 ``(n, 2)`` array (angstrom)."""
    array = np.asarray(positions, dtype=np.float64)
    if array.size == 0:
        return np.zeros((0, 2))
    if array.ndim != 2 or array.shape[1] != 2:
        raise InputError(f"{name} must have shape (n, 2) of (y, x) in angstrom, got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise InputError(f"{name} contains NaN or infinite values")
    return array


def _check_image(image: Any, name: str = "image") -> np.ndarray:
    frame = np.asarray(image, dtype=np.float64)
    if frame.ndim != 2 or frame.size == 0:
        raise InputError(f"{name} must be one non-empty 2-D frame (y, x), got shape {frame.shape}")
    if not np.all(np.isfinite(frame)):
        raise InputError(f"{name} contains NaN or infinite values")
    return frame


def _check_pixel_size(pixel_size: Any) -> float:
    if pixel_size is None:
        raise InputError("the pixel size (angstrom per pixel) is needed: pass pixel_size")
    return check_pixel_size(pixel_size)


def _patches3(field: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """3x3 neighbourhoods of ``field`` at integer positions, ``(n, 3, 3)``, edge-clamped."""
    offsets = np.arange(-1, 2)
    r = np.clip(rows[:, None, None] + offsets[None, :, None], 0, field.shape[0] - 1)
    c = np.clip(cols[:, None, None] + offsets[None, None, :], 0, field.shape[1] - 1)
    return field[r, c]


def refine_peaks(field: np.ndarray, peaks: np.ndarray, max_steps: int = 4) -> np.ndarray:
    """Move integer peaks to the local maximum of ``field`` and refine it to sub-pixel precision.

    Each peak first climbs to the largest value of its 3x3 neighbourhood (at most ``max_steps``
    times), then a quadratic surface fitted to that neighbourhood gives the sub-pixel maximum.
    Where the fit is not a maximum or lands more than half a pixel away, the two axes are fitted
    separately with parabolas instead. Vectorised over all peaks.

    Parameters
    ----------
    field : numpy.ndarray
        Smooth 2-D image whose maxima mark the columns (a LoG response or a smoothed image).
    peaks : numpy.ndarray
        Starting positions, shape ``(n, 2)``, in pixels ``(row, col)``.
    max_steps : int
        Largest number of one-pixel climbing steps.

    Returns
    -------
    numpy.ndarray
        Refined positions in pixels, shape ``(n, 2)``, float64.
    """
    peaks = np.asarray(peaks, dtype=np.float64).reshape(-1, 2)
    if len(peaks) == 0:
        return peaks
    rows = np.clip(np.rint(peaks[:, 0]).astype(np.intp), 1, field.shape[0] - 2)
    cols = np.clip(np.rint(peaks[:, 1]).astype(np.intp), 1, field.shape[1] - 2)
    for _ in range(max_steps):
        patch = _patches3(field, rows, cols).reshape(len(rows), 9)
        best = patch.argmax(axis=1)
        dr, dc = best // 3 - 1, best % 3 - 1
        if not np.any(dr) and not np.any(dc):
            break
        rows = np.clip(rows + dr, 1, field.shape[0] - 2)
        cols = np.clip(cols + dc, 1, field.shape[1] - 2)
    p = _patches3(field, rows, cols)
    gy = 0.5 * (p[:, 2, 1] - p[:, 0, 1])
    gx = 0.5 * (p[:, 1, 2] - p[:, 1, 0])
    hyy = p[:, 2, 1] - 2 * p[:, 1, 1] + p[:, 0, 1]
    hxx = p[:, 1, 2] - 2 * p[:, 1, 1] + p[:, 1, 0]
    hxy = 0.25 * (p[:, 2, 2] - p[:, 2, 0] - p[:, 0, 2] + p[:, 0, 0])
    det = hyy * hxx - hxy**2
    with np.errstate(divide="ignore", invalid="ignore"):
        oy = -(hxx * gy - hxy * gx) / det
        ox = -(hyy * gx - hxy * gy) / det
        good = (det > 0) & (hyy < 0) & (np.abs(oy) <= 0.5) & (np.abs(ox) <= 0.5)
        oy_axis = np.where(hyy < 0, -gy / hyy, 0.0)
        ox_axis = np.where(hxx < 0, -gx / hxx, 0.0)
    oy = np.where(good, oy, np.clip(np.nan_to_num(oy_axis), -0.5, 0.5))
    ox = np.where(good, ox, np.clip(np.nan_to_num(ox_axis), -0.5, 0.5))
    return np.stack([rows + oy, cols + ox], axis=1)


def contrast_threshold(frame: np.ndarray, min_contrast: float) -> float:
    """The LoG response a column must reach to stand ``min_contrast`` above a typical pixel.

    Parameters
    ----------
    frame : numpy.ndarray
        The image searched, counts per pixel (bright columns).
    min_contrast : float
        Least peak height above the local background, as a fraction of the image's median.

    Returns
    -------
    float
        Threshold on the scale-normalised LoG response, e-/px (half the least peak height).
    """
    if not float(min_contrast) > 0:
        raise InputError(f"min_contrast must be a positive fraction, got {min_contrast}")
    level = float(np.median(frame))
    if level <= 0:
        level = float(np.mean(np.abs(frame))) or 1.0
    return 0.5 * float(min_contrast) * level


def column_response(frame: np.ndarray, scale: float) -> np.ndarray:
    """Scale-normalised Laplacian-of-Gaussian response of bright columns, e-/px.

    Parameters
    ----------
    frame : numpy.ndarray
        2-D image, counts per pixel.
    scale : float
        Gaussian width, pixels (a column's own width gives about half its peak height).

    Returns
    -------
    numpy.ndarray
        ``-scale**2 * LoG(frame)``, same shape: positive on bright blobs, blind to smooth slopes.
    """
    return -(scale**2) * ndi.gaussian_laplace(np.asarray(frame, dtype=np.float64), scale)


def detect_columns(
    image: np.ndarray,
    pixel_size: float,
    *,
    sigma_range: tuple[float, float] = DEFAULT_SIGMA_RANGE_A,
    num_sigma: int = 5,
    min_contrast: float = DEFAULT_MIN_CONTRAST,
    threshold: float | None = None,
    border: float = 0.5,
    polarity: Literal["bright", "dark"] = "bright",
    refine: bool = True,
) -> ColumnDetection:
    """Find atom columns with a Laplacian-of-Gaussian blob search, with lengths in angstrom.

    Parameters
    ----------
    image : numpy.ndarray
        One frame, counts per pixel (a denoised frame or a clean simulated one), ``(y, x)``.
    pixel_size : float
        Angstrom per pixel.
    sigma_range : tuple of float
        Smallest and largest Gaussian width of a column image to search for, in angstrom.
    num_sigma : int
        Number of scales between the two, inclusive.
    min_contrast : float
        Least peak height of a column above its local background, as a fraction of the median
        value of the image (0.15, :data:`DEFAULT_MIN_CONTRAST`: columns must stand 15 % above a
        typical pixel). Used when ``threshold`` is not given. Being relative, it does not change
        with the dose.
    threshold : float, optional
        Absolute threshold on the scale-normalised LoG response in e-/px (a Gaussian column of
        peak height ``h`` above background gives about ``h / 2`` at its own scale).
    border : float
        Columns closer than this to the frame edge are dropped, in angstrom.
    polarity : {"bright", "dark"}
        Whether columns are brighter (white contrast) or darker than their surroundings.
    refine : bool
        Refine positions to sub-pixel precision (see :func:`refine_peaks`).

    Returns
    -------
    ColumnDetection
        Positions ``(y, x)`` in angstrom, widths and strengths.

    Raises
    ------
    InputError
        For a frame that is not 2-D and finite, or bad lengths.
    """
    frame = _check_image(image)
    pixel_size = _check_pixel_size(pixel_size)
    lo, hi = (float(s) for s in sigma_range)
    if not 0 < lo <= hi:
        raise InputError(f"sigma_range must be 0 < min <= max angstrom, got {sigma_range}")
    if polarity not in ("bright", "dark"):
        raise InputError(f"polarity must be 'bright' or 'dark', got {polarity!r}")
    if polarity == "dark":
        frame = frame.max() - frame
    if threshold is None:
        threshold = contrast_threshold(frame, min_contrast)
    border_px = max(int(np.ceil(border / pixel_size)), 0)
    blobs = blob_log(
        frame,
        min_sigma=lo / pixel_size,
        max_sigma=hi / pixel_size,
        num_sigma=max(int(num_sigma), 1) if hi > lo else 1,
        threshold=float(threshold),
        exclude_border=border_px if border_px > 0 else False,
    )
    if len(blobs) == 0:
        empty = np.zeros(0)
        return ColumnDetection(np.zeros((0, 2)), empty, empty, pixel_size)
    peaks, sigma_px = blobs[:, :2].astype(np.float64), blobs[:, 2].astype(np.float64)
    # The LoG response at the typical column scale: its maxima give the sub-pixel positions and
    # the strengths (it ignores smooth background slopes, unlike the raw intensity).
    scale = float(np.median(sigma_px))
    response = column_response(frame, scale)
    if refine:
        peaks = refine_peaks(response, peaks)
    rows = np.clip(np.rint(peaks[:, 0]).astype(np.intp), 0, frame.shape[0] - 1)
    cols = np.clip(np.rint(peaks[:, 1]).astype(np.intp), 0, frame.shape[1] - 1)
    strength = response[rows, cols]
    order = np.lexsort((peaks[:, 1], peaks[:, 0]))
    return ColumnDetection(
        positions=peaks[order] * pixel_size,
        sigma=sigma_px[order] * pixel_size,
        strength=strength[order],
        pixel_size=pixel_size,
    )


def match_columns(
    detected: np.ndarray,
    truth: np.ndarray,
    max_distance: float = DEFAULT_MATCH_DISTANCE_A,
) -> ColumnMatch:
    """Pair detected and true columns one to one, minimising the total distance.

    Only pairs closer than ``max_distance`` may match; among those, the assignment with the
    smallest summed distance is chosen (Hungarian algorithm on the candidate pairs), so a column
    is never counted twice.

    Parameters
    ----------
    detected, truth : numpy.ndarray
        Positions, shape ``(n, 2)`` and ``(m, 2)``, ``(y, x)`` in angstrom.
    max_distance : float
        Largest distance of a matched pair, in angstrom.

    Returns
    -------
    ColumnMatch
    """
    detected = check_positions(detected, "detected positions")
    truth = check_positions(truth, "true positions")
    if not max_distance > 0:
        raise InputError(f"max_distance must be positive (angstrom), got {max_distance}")
    empty = np.zeros(0, dtype=np.intp)
    if len(detected) == 0 or len(truth) == 0:
        return ColumnMatch(empty, empty, np.zeros(0), len(detected), len(truth))
    pairs = cKDTree(detected).sparse_distance_matrix(
        cKDTree(truth), max_distance, output_type="ndarray"
    )
    if len(pairs) == 0:
        return ColumnMatch(empty, empty, np.zeros(0), len(detected), len(truth))
    # Solve the assignment on the candidate rows and columns only.
    rows, row_index = np.unique(pairs["i"], return_inverse=True)
    cols, col_index = np.unique(pairs["j"], return_inverse=True)
    forbidden = 1e6 * max_distance
    cost = np.full((len(rows), len(cols)), forbidden)
    cost[row_index, col_index] = pairs["v"]
    r, c = linear_sum_assignment(cost)
    keep = cost[r, c] < forbidden
    d_idx, t_idx = rows[r[keep]], cols[c[keep]]
    order = np.argsort(d_idx)
    return ColumnMatch(
        detected=d_idx[order].astype(np.intp),
        truth=t_idx[order].astype(np.intp),
        distance=cost[r[keep], c[keep]][order],
        n_detected=len(detected),
        n_truth=len(truth),
    )


def inside_frame(
    positions: np.ndarray, shape: tuple[int, int], pixel_size: float, border: float = 0.0
) -> np.ndarray:
    """Boolean per position: True where it lies at least ``border`` angstrom inside the frame.

    Parameters
    ----------
    positions : numpy.ndarray
        ``(n, 2)``, ``(y, x)`` in angstrom.
    shape : tuple of int
        Frame shape in pixels.
    pixel_size : float
        Angstrom per pixel.
    border : float
        Margin in angstrom.
    """
    positions = check_positions(positions)
    limit = (np.asarray(shape[:2], dtype=np.float64) - 1) * pixel_size
    return np.all((positions >= border) & (positions <= limit - border), axis=1)


def write_csv(path: str | Path, rows: Sequence[Mapping[str, Any]], fields: Sequence[str]) -> Path:
    """Write rows of values as a CSV file, atomically (temporary file, then rename).

    Parameters
    ----------
    path : str or Path
        File to write (parent folders are created).
    rows : sequence of mapping
        One mapping per row; floats are written with 6 significant digits.
    fields : sequence of str
        Column names, in order.

    Returns
    -------
    Path
        The file written.
    """
    path = Path(path)
    with atomic_write(path) as temporary, open(temporary, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(fields), extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {
                    k: (f"{v:.6g}" if isinstance(v, float | np.floating) else v)
                    for k, v in row.items()
                }
            )
    return path
