"""The column profile a candidate is tested against: learnt from its neighbours, not its own counts.

Why neighbours
--------------
The evidence for a candidate is the Poisson log-likelihood ratio of the counts in its region under
a column profile against vacuum. If that profile is the denoised image *at the candidate itself*,
the test grades the denoiser's drawing against the very counts it was drawn from: where noise
piled up a few counts, a denoiser that follows noise draws a blob of just that shape, and the
blob's counts then fit it. Calibration on simulated vacuum accounts for this, but the more a
network follows noise, the heavier the null's tail and the less any real column can show.

So each candidate is tested against the *local column shape of the frame*: the mean denoised
profile around its ``k`` nearest other candidates (six by default: the neighbours of a column in
a close-packed projection). The question becomes "do the counts here look like the columns
around here?", which a fringe, a blob between columns or a noise cluster in vacuum answers worse
than a column does, and the candidate's own counts no longer shape its own weights.

The statistic
-------------
With ``w = log(t / v)`` the weights of the template ``t`` against the vacuum rate ``v`` on the
candidate's region (a disc cut to its Voronoi cell), the log-likelihood ratio of the counts ``y``
is ``sum y w - sum (t - v)``; under vacuum its mean is ``v sum w - sum (t - v)`` and its variance
``v sum w^2``, so the standard score is ``z = (sum y w - v sum w) / sqrt(v sum w^2)``. Being linear
in the counts with fixed weights, the same weights score any patch of counts: the calibration
(:mod:`sbdenoise.analysis.calibration`) applies each candidate's weights to count patches cut
around candidates the same method drew in simulated vacuum.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from sbdenoise.analysis.likelihood import disc_pixels
from sbdenoise.errors import InputError

__all__ = [
    "DEFAULT_NEIGHBOURS",
    "cut_patches",
    "neighbour_weights",
    "own_region_pixels",
    "patch_half",
    "template_scores",
    "weighted_scores",
]

#: Neighbours whose mean profile is a candidate's template.
DEFAULT_NEIGHBOURS = 6


def patch_half(radius_px: float) -> int:
    """Half side of the square patch that holds a region of ``radius_px`` around a pixel centre."""
    return int(np.ceil(radius_px)) + 1


def cut_patches(image: np.ndarray, centres: np.ndarray, half: int) -> np.ndarray:
    """Square patches of ``image`` around integer ``centres``, flattened; NaN outside the frame.

    Parameters
    ----------
    image : numpy.ndarray
        ``(y, x)`` frame.
    centres : numpy.ndarray
        ``(n, 2)`` integer pixel centres ``(row, col)``.
    half : int
        Half side: each patch is ``(2 half + 1)^2`` pixels.

    Returns
    -------
    numpy.ndarray
        ``(n, (2 half + 1)^2)`` float64.
    """
    side = 2 * half + 1
    padded = np.pad(np.asarray(image, dtype=np.float64), half, constant_values=np.nan)
    centres = np.asarray(centres, dtype=np.intp).reshape(-1, 2)
    if len(centres) == 0:
        return np.zeros((0, side * side))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (side, side))
    return windows[centres[:, 0], centres[:, 1]].reshape(len(centres), side * side)


def own_region_pixels(
    positions_px: np.ndarray, radius_px: float, shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Each candidate's region: its disc of ``radius_px`` cut to its Voronoi cell, in the frame.

    Each pixel belongs to its nearest candidate only, so a faint candidate beside a real column
    does not borrow that column's counts.

    Returns
    -------
    column, flat : numpy.ndarray
        For every (candidate, pixel) pair of a region: the candidate's index and the pixel's flat
        index into the frame.
    """
    column, flat, distance = disc_pixels(positions_px, radius_px, shape)
    nearest = np.full(shape[0] * shape[1], np.inf)
    np.minimum.at(nearest, flat, distance)
    own = distance <= nearest[flat]
    return column[own], flat[own]


def neighbour_weights(
    denoised: np.ndarray,
    positions_px: np.ndarray,
    radius_px: float,
    vacuum_rate: float,
    neighbours: int = DEFAULT_NEIGHBOURS,
) -> np.ndarray:
    """Weights ``log(t / v)`` of each candidate's neighbour template on its own region.

    Parameters
    ----------
    denoised : numpy.ndarray
        ``(y, x)`` denoised frame, e-/px.
    positions_px : numpy.ndarray
        ``(n, 2)`` candidate positions, pixels (rounded to pixel centres).
    radius_px : float
        Region radius, pixels; the region is the part of the disc closer to this candidate than
        to any other (its Voronoi cell), inside the frame.
    vacuum_rate : float
        e-/px.
    neighbours : int
        How many nearest other candidates make the template (all others when there are fewer;
        a lone candidate has only its own profile, and its test is then the self-fitted one).

    Returns
    -------
    numpy.ndarray
        ``(n, (2 h + 1)^2)`` weights on a patch of half side ``h = patch_half(radius_px)``
        centred on each candidate's pixel, zero outside its region.
    """
    if not vacuum_rate > 0:
        raise InputError(f"the vacuum rate must be positive (e-/px), got {vacuum_rate}")
    if neighbours < 1:
        raise InputError(f"a template needs at least one neighbour, got {neighbours}")
    image = np.asarray(denoised, dtype=np.float64)
    centres = np.rint(np.asarray(positions_px, dtype=np.float64).reshape(-1, 2)).astype(np.intp)
    n, half = len(centres), patch_half(radius_px)
    side = 2 * half + 1
    weights = np.zeros((n, side * side))
    if n == 0:
        return weights
    column, flat = own_region_pixels(centres.astype(np.float64), radius_px, image.shape)
    rows, cols = np.divmod(flat, image.shape[1])
    offset = (rows - centres[column, 0] + half) * side + (cols - centres[column, 1] + half)
    profiles = cut_patches(image, centres, half)
    if n == 1:
        templates = profiles
    else:
        k = min(neighbours, n - 1)
        _, index = cKDTree(centres).query(centres, k=k + 1)
        others = index[:, 1:]  # the nearest is the candidate itself
        with np.errstate(all="ignore"):  # a pixel outside the frame for every neighbour: NaN
            templates = np.nanmean(profiles[others], axis=1)
    rate = templates[column, offset]
    rate = np.where(np.isfinite(rate), np.maximum(rate, 1e-3 * vacuum_rate), vacuum_rate)
    weights[column, offset] = np.log(rate / vacuum_rate)
    return weights


def weighted_scores(
    patches: np.ndarray, weights: np.ndarray, rates: np.ndarray | float
) -> np.ndarray:
    """Standard scores ``(sum y w - r sum w) / sqrt(r sum w^2)`` of count patches.

    Parameters
    ----------
    patches : numpy.ndarray
        ``(m, P)`` count patches (NaN outside a frame counts as zero weight).
    weights : numpy.ndarray
        ``(n, P)`` weights.
    rates : numpy.ndarray or float
        Vacuum rate of each patch's frame, ``(m,)`` or a scalar, e-/px.

    Returns
    -------
    numpy.ndarray
        ``(m, n)``: every patch scored with every weight vector (NaN for an all-zero weight).
    """
    counts = np.nan_to_num(np.asarray(patches, dtype=np.float64))
    w = np.asarray(weights, dtype=np.float64)
    r = np.broadcast_to(np.asarray(rates, dtype=np.float64), (len(counts),))[:, None]
    total, square = w.sum(axis=1)[None, :], (w * w).sum(axis=1)[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(square > 0, (counts @ w.T - r * total) / np.sqrt(r * square), np.nan)


def template_scores(
    counts: np.ndarray,
    denoised: np.ndarray,
    positions_px: np.ndarray,
    radius_px: float,
    vacuum_rate: float,
    neighbours: int = DEFAULT_NEIGHBOURS,
) -> tuple[np.ndarray, np.ndarray]:
    """Standard score of each candidate's counts against its neighbours' column profile.

    Parameters
    ----------
    counts, denoised : numpy.ndarray
        ``(y, x)`` noisy counts and denoised rates, e-/px.
    positions_px : numpy.ndarray
        ``(n, 2)`` candidate positions, pixels.
    radius_px, vacuum_rate : float
        Region radius (pixels) and vacuum rate (e-/px).
    neighbours : int
        Neighbours in each template.

    Returns
    -------
    scores, weights : numpy.ndarray
        ``(n,)`` standard scores (NaN for an empty region) and the ``(n, P)`` weights, which
        score vacuum patches the same way.
    """
    weights = neighbour_weights(denoised, positions_px, radius_px, vacuum_rate, neighbours)
    centres = np.rint(np.asarray(positions_px, dtype=np.float64).reshape(-1, 2)).astype(np.intp)
    own = np.nan_to_num(cut_patches(counts, centres, patch_half(radius_px)))
    total, square = weights.sum(axis=1), (weights * weights).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        scores = np.where(
            square > 0,
            (np.sum(own * weights, axis=1) - vacuum_rate * total) / np.sqrt(vacuum_rate * square),
            np.nan,
        )
    return scores, weights
