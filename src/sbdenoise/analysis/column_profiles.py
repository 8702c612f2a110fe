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

Where the lattice predicts a site
---------------------------------
That calibration pays for the search: a candidate's *place* is where the denoiser drew a maximum,
which in vacuum is where noise piled up counts. Inside a lattice the place is known without the
candidate's counts: two rows of other candidates crossing at it predict the site
(:func:`lattice_sites`). There :func:`shape_scores` asks whether the counts have the neighbours'
column shape, given their total: with the template, the place and the flat level all fixed
without these counts, the score is about standard normal under "no column here" and needs no
simulated null, and a flat halo that neighbours throw on an empty site does not pass it.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from sbdenoise.analysis.likelihood import disc_pixels
from sbdenoise.errors import InputError

__all__ = [
    "DEFAULT_NEIGHBOURS",
    "LATTICE_REACH_A",
    "LATTICE_TOLERANCE_A",
    "cut_patches",
    "distinct_axes",
    "lattice_sites",
    "neighbour_weights",
    "own_region_pixels",
    "patch_half",
    "shape_scores",
    "template_scores",
    "weighted_scores",
]

#: Neighbours whose mean profile is a candidate's template.
DEFAULT_NEIGHBOURS = 6
#: Farthest neighbour that helps predict a lattice site, angstrom (beyond the longest projected
#: column spacing of Pt [110], 3.92 A, and of the CeO2 support, about 3.8 A).
LATTICE_REACH_A = 4.5
#: Largest distance between a candidate and the midpoint of two opposite neighbours for that
#: midpoint to count as the candidate's predicted site, angstrom.
LATTICE_TOLERANCE_A = 0.5
#: Lattice rows through a candidate (pairs of opposite neighbours along axes at least
#: :data:`DISTINCT_AXES_DEG` apart) needed for a predicted site: one row also runs along a
#: surface facet, or along a fringe a denoiser draws outside it; two only run through a 2D lattice.
LATTICE_DIRECTIONS = 2
#: Smallest angle between two lattice rows through a candidate for them to count as two, degrees.
DISTINCT_AXES_DEG = 30.0


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


def lattice_sites(
    positions_px: np.ndarray,
    reach_px: float,
    tolerance_px: float,
    min_directions: int = LATTICE_DIRECTIONS,
) -> tuple[np.ndarray, np.ndarray]:
    """The site each candidate's neighbours predict, where the lattice around it predicts one.

    Two other candidates ``a`` and ``b`` within ``reach_px`` of a candidate, each at least
    ``2 tolerance_px`` from it, whose midpoint lies within ``tolerance_px`` of it (so on opposite
    sides of it) predict a column at that midpoint: a row of the lattice runs through the
    candidate. A site is predicted where at least ``min_directions`` such rows at distinct angles
    (:data:`DISTINCT_AXES_DEG`) cross: a 2D lattice continues through the candidate, not just a
    facet or a fringe. The predicted site is the mean of all such midpoints: the neighbours'
    positions make it, and the candidate's own maximum only decides which of them lie within
    reach and tolerance.

    Parameters
    ----------
    positions_px : numpy.ndarray
        ``(n, 2)`` candidate positions, pixels.
    reach_px, tolerance_px : float
        Farthest neighbour used, and largest candidate-to-midpoint distance, pixels.
    min_directions : int
        Rows at distinct angles needed.

    Returns
    -------
    sites : numpy.ndarray
        ``(n, 2)`` predicted sites, pixels (the candidate's own position where none is predicted).
    predicted : numpy.ndarray
        ``(n,)`` whether a site is predicted.
    """
    positions = np.asarray(positions_px, dtype=np.float64).reshape(-1, 2)
    n = len(positions)
    sites, predicted = positions.copy(), np.zeros(n, dtype=bool)
    if n < 3:
        return sites, predicted
    k = min(n - 1, 16)
    distance, index = cKDTree(positions).query(positions, k=k + 1, distance_upper_bound=reach_px)
    distance, index = distance[:, 1:], index[:, 1:]  # the nearest is the candidate itself
    near = np.isfinite(distance)
    offsets = np.where(
        near[..., None], positions[np.minimum(index, n - 1)] - positions[:, None, :], np.nan
    )
    first, second = np.triu_indices(k, 1)
    u, w = offsets[:, first], offsets[:, second]
    middle = 0.5 * (u + w)
    with np.errstate(invalid="ignore"):
        apart = np.minimum(np.linalg.norm(u, axis=2), np.linalg.norm(w, axis=2))
        valid = (np.linalg.norm(middle, axis=2) <= tolerance_px) & (apart >= 2 * tolerance_px)
    pairs = valid.sum(axis=1)
    axis = np.mod(np.degrees(np.arctan2(u[..., 0] - w[..., 0], u[..., 1] - w[..., 1])), 180.0)
    rows = np.zeros(n, dtype=int)
    for i in np.flatnonzero(pairs > 0):
        rows[i] = distinct_axes(axis[i, valid[i]], DISTINCT_AXES_DEG)
    predicted = rows >= min_directions
    shift = np.where(valid[..., None], middle, 0.0).sum(axis=1)
    sites[predicted] += shift[predicted] / pairs[predicted, None]
    return sites, predicted


def distinct_axes(angles_deg: np.ndarray, separation_deg: float) -> int:
    """How many groups undirected axes (angles modulo 180 degrees) form, split by larger gaps.

    Parameters
    ----------
    angles_deg : numpy.ndarray
        Axis angles, degrees in [0, 180).
    separation_deg : float
        Gap (around the half circle) above which two neighbouring angles start a new group.

    Returns
    -------
    int
        0 for no angles, else the number of groups.
    """
    ordered = np.sort(np.asarray(angles_deg, dtype=np.float64))
    if len(ordered) == 0:
        return 0
    gaps = np.diff(np.append(ordered, ordered[0] + 180.0))
    return max(1, int(np.sum(gaps > separation_deg)))


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


def shape_scores(
    counts: np.ndarray,
    denoised: np.ndarray,
    sites_px: np.ndarray,
    radius_px: float,
    vacuum_rate: float,
    neighbours: int = DEFAULT_NEIGHBOURS,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """Standard score of the column *shape* in each site's counts, given their total.

    The weights are the neighbour template's (:func:`neighbour_weights`) on the largest disc
    around the site that holds no other site's half (radius: half the distance to the nearest
    other site, at most ``radius_px``), minus their mean over that disc. Given the total ``N`` of
    the disc's ``n`` counts, counts spread evenly over the disc (no column, any flat level: the
    vacuum, or the halo the neighbours throw on an empty site) give ``sum y w`` a mean of zero and
    a variance of ``(N / n) sum w^2``; a column of the neighbours' shape gives a positive mean. The
    score ``sum y w / sqrt((N / n) sum w^2)`` is therefore about standard normal under "no column,
    flat intensity here", whatever the level.

    Parameters
    ----------
    counts, denoised : numpy.ndarray
        ``(y, x)`` noisy counts and denoised rates, e-/px.
    sites_px : numpy.ndarray
        ``(n, 2)`` sites tested, pixels.
    radius_px, vacuum_rate : float
        Largest disc radius (pixels) and the vacuum rate (e-/px) the template is taken against.
    neighbours : int
        Neighbours in each template.
    weights : numpy.ndarray, optional
        The sites' :func:`neighbour_weights` for these arguments when already computed (as
        :func:`template_scores` returns them), so they are not computed again.

    Returns
    -------
    numpy.ndarray
        ``(n,)`` scores (NaN where the disc holds no counts or the template is flat).
    """
    sites = np.asarray(sites_px, dtype=np.float64).reshape(-1, 2)
    n = len(sites)
    if n == 0:
        return np.zeros(0)
    if weights is None:
        weights = neighbour_weights(denoised, sites, radius_px, vacuum_rate, neighbours)
    half = patch_half(radius_px)
    offsets = np.arange(-half, half + 1, dtype=np.float64)
    distance = np.hypot(offsets[:, None], offsets[None, :]).ravel()
    if n > 1:
        nearest, _ = cKDTree(sites).query(sites, k=2)
        reach = np.minimum(radius_px, 0.5 * nearest[:, 1])
    else:
        reach = np.full(1, float(radius_px))
    inside = (distance[None, :] <= reach[:, None]) & (weights != 0)
    own = cut_patches(counts, np.rint(sites).astype(np.intp), half)
    inside &= np.isfinite(own)
    size = inside.sum(axis=1)
    y = np.where(inside, np.nan_to_num(own), 0.0)
    w = np.where(inside, weights, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(inside, w - (w.sum(axis=1) / size)[:, None], 0.0)
        level = y.sum(axis=1) / size
        spread = np.sqrt(level * (w * w).sum(axis=1))
        return np.where((size > 0) & (spread > 0), (y * w).sum(axis=1) / spread, np.nan)
