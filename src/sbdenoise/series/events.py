"""Surface columns tracked over a series: sites, per-frame counts and change-point events.

A site is a place where a column stands in some stretch of the series (found on means of a few
aligned denoised frames, so a column present for a few frames only is still a site). Whether a
column appears or leaves there is decided on the raw counts: the counts around the site in every
frame, weighted by a column's image (its radial response, bright core and the ring a defocused
column casts, fitted to the denoised average of the series: a matched filter) and divided by
the frame's dose, are tested for one change of level (a change-point likelihood ratio). Its
p-value comes from permuting the frames (a static site's frames are exchangeable), and the
Benjamini-Hochberg procedure over the surface sites keeps the false discovery rate of reported
events. The denoised frames choose where to look and shape the filter; the counts decide.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats

from sbdenoise.analysis.candidates import CandidateRule, find_candidates
from sbdenoise.analysis.likelihood import disc_pixels
from sbdenoise.analysis.surface import surface_columns
from sbdenoise.analysis.trust import benjamini_hochberg
from sbdenoise.errors import InputError

#: Radius of the disc counted at a site when no column response is given, angstrom (about a
#: column's bright core).
SITE_RADIUS_A = 0.6
#: Candidate rule of the sites: means of aligned frames are crops inside the frames, averaged
#: over frames that drifted, so the network's blobs at a frame's edge do not reach them and the
#: per-frame verdicts' 2 A border would only lose columns near the window's edge.
SITE_RULE = CandidateRule(border=0.5)
#: Radius of a column's response (the matched filter of a site), angstrom: its bright core and
#: the dark ring a defocused column casts around it (about 1-2 A at -12 nm on the simulated
#: Pt/CeO2 series).
RESPONSE_RADIUS_A = 2.5
#: Radial step of the response, angstrom.
RESPONSE_STEP_A = 0.1
#: Sites closer than this are one site, angstrom.
MERGE_DISTANCE_A = 1.0
#: Sites within this distance of a column on the outline's surface are tested for events too,
#: angstrom (one projected column spacing of Pt, 2.0-2.8 A, with room for the sites' scatter).
#: At defocus the Fresnel fringe just outside a particle makes local maxima that the summed
#: counts support; the outline's outermost "columns" are then the fringe, and the real surface
#: layer lies one spacing in. On five simulated abTEM movies (Pt/CeO2, -12 nm) the outline's
#: alpha shape alone held 8-13 of the 14 true surface columns, with this margin 13-14 of 14.
FAMILY_DEPTH_A = 3.0
#: Frames per window in which sites are looked for.
SITE_WINDOW = 8
#: Fewest frames on each side of a change.
MIN_SEGMENT = 2
#: Frame permutations of the change-point p-values (the null statistics of all sites are pooled).
PERMUTATIONS = 200
#: Pooled null values that must exceed a statistic for its empirical p-value to be used; beyond,
#: an exponential tail fitted to the largest null values (mean excess) extends it.
MIN_EXCEEDANCES = 10
#: Share of the pooled null values the tail is fitted to.
TAIL_SHARE = 0.01
#: A leaving and an arriving column at most this far apart (angstrom) and this many frames apart
#: are one column that moved.
MOVE_DISTANCE_A = 3.5
MOVE_FRAMES = 2
#: Drop of the change-point log-likelihood ratio (nats) below its maximum that bounds the frames
#: where the change may have happened: half the 95 % quantile of chi-square with one degree of
#: freedom (a likelihood interval; at 0.45 e-/px one column's change is located to a few frames).
FRAME_INTERVAL_DROP = 1.92


@dataclass(frozen=True)
class SiteEvidence:
    """Change-point evidence of every site.

    Attributes
    ----------
    positions : numpy.ndarray
        ``(n, 2)`` site positions in the aligned window, ``(y, x)`` angstrom.
    surface : numpy.ndarray
        True for the sites tested for events: the particle's surface layer
        (:func:`event_family`).
    values : numpy.ndarray
        ``(t, n)`` matched-filter signal per unit dose of each site and frame.
    frame : numpy.ndarray
        First frame after the most likely change of each site.
    frame_low, frame_high : numpy.ndarray
        First and last candidate first frame whose log-likelihood ratio lies within
        :data:`FRAME_INTERVAL_DROP` of the maximum (the change's likelihood interval).
    level_before, level_after : numpy.ndarray
        Mean of ``values`` before and after it.
    statistic : numpy.ndarray
        Log-likelihood ratio of one change against none, nats.
    p_value, q_value : numpy.ndarray
        p-value (pooled permutation null, Bonferroni bound in the far tail) and its BH q-value
        over the surface sites (NaN for the others: a column inside the particle does not come
        and go on its own, and testing those sites too would dilute the surface's evidence).
    z : numpy.ndarray
        The p-value as a one-sided normal deviate, sigma.
    """

    positions: np.ndarray
    surface: np.ndarray
    values: np.ndarray
    frame: np.ndarray
    frame_low: np.ndarray
    frame_high: np.ndarray
    level_before: np.ndarray
    level_after: np.ndarray
    statistic: np.ndarray
    p_value: np.ndarray
    q_value: np.ndarray
    z: np.ndarray


@dataclass(frozen=True)
class ColumnEvent:
    """A column that appeared, left or moved, with its evidence.

    Attributes
    ----------
    kind : str
        ``"appears"``, ``"leaves"`` or ``"moves"``.
    frame : int
        First frame after the change (the most likely one).
    frames : tuple of int
        ``(first, last)`` frames where the change may have happened: its likelihood interval
        (:data:`FRAME_INTERVAL_DROP`); ``frame`` lies inside.
    position : tuple of float
        ``(y, x)`` in frame-0 angstrom (for ``"moves"``: where it arrived).
    origin : tuple of float or None
        Where a moving column came from, frame-0 angstrom.
    site : int
        Index of the site (of the arrival for ``"moves"``).
    q_value : float
        BH q-value of the change (the larger of the two for ``"moves"``).
    z : float
        Evidence in sigma (the smaller of the two for ``"moves"``).
    verdict : str
        ``"real"`` when ``q_value <= fdr``, else ``"not supported"``.
    surface : bool
        Whether the site is on the particle surface.
    """

    kind: str
    frame: int
    position: tuple[float, float]
    origin: tuple[float, float] | None
    site: int
    q_value: float
    z: float
    verdict: str
    surface: bool
    frames: tuple[int, int] = (0, 0)

    def when(self) -> str:
        """The frame of the change and its likelihood interval, for reports."""
        low, high = self.frames
        if low == high == self.frame:
            return f"frame {self.frame}"
        return f"frame {self.frame} ({low}-{high})"

    def covers(self, frame: int, tolerance: int = 1) -> bool:
        """Whether ``frame`` lies in the likelihood interval or within ``tolerance`` of the
        most likely frame (how a known event is recognised)."""
        low = min(self.frames[0], self.frame - tolerance)
        high = max(self.frames[1], self.frame + tolerance)
        return low <= frame <= high


def merge_sites(positions: list[np.ndarray], distance: float = MERGE_DISTANCE_A) -> np.ndarray:
    """Merge candidate positions from several windows into sites (greedy, first come).

    Parameters
    ----------
    positions : list of numpy.ndarray
        ``(n_i, 2)`` positions per window, angstrom.
    distance : float
        Positions closer than this to a site join it (its position is their mean), angstrom.

    Returns
    -------
    numpy.ndarray
        ``(n, 2)`` site positions, angstrom.
    """
    sums: list[np.ndarray] = []
    counts: list[int] = []
    for group in positions:
        for p in np.asarray(group, dtype=np.float64).reshape(-1, 2):
            if sums:
                centres = np.asarray(sums) / np.asarray(counts)[:, None]
                d = np.hypot(*(centres - p).T)
                nearest = int(np.argmin(d))
                if d[nearest] < distance:
                    sums[nearest] = sums[nearest] + p
                    counts[nearest] += 1
                    continue
            sums.append(p.copy())
            counts.append(1)
    if not sums:
        return np.zeros((0, 2))
    return np.asarray(sums) / np.asarray(counts)[:, None]


def find_sites(
    window_means: list[np.ndarray], pixel_size: float, rule: CandidateRule | None = None
) -> np.ndarray:
    """Sites: candidate columns of every window mean, merged.

    Parameters
    ----------
    window_means : list of numpy.ndarray
        Means of consecutive aligned denoised frames, e-/px.
    pixel_size : float
        Angstrom per pixel.
    rule : CandidateRule, optional
        Candidate rule (default: :data:`SITE_RULE`).

    Returns
    -------
    numpy.ndarray
        ``(n, 2)`` site positions in the aligned window, angstrom.
    """
    rule = rule or SITE_RULE
    found = [find_candidates(mean, pixel_size, rule).positions for mean in window_means]
    return merge_sites(found)


def column_response(
    image: np.ndarray,
    positions: np.ndarray,
    pixel_size: float,
    *,
    radius_a: float = RESPONSE_RADIUS_A,
    step_a: float = RESPONSE_STEP_A,
) -> np.ndarray:
    """A column's radial image, shared by all sites: the matched filter of the event test.

    ``image`` near the sites is fitted (least squares) by a constant plus one radial profile
    centred on every site: ``image(x) = b + sum_i K(|x - p_i|)`` for ``|x - p_i| <
    radius_a``, ``K`` piecewise constant in rings of ``step_a``. Overlapping neighbours are
    explained by their own copies, so ``K`` is one column's contribution, its dark ring
    included (a plain average around the sites would add the neighbours' peaks). Fitted to the
    denoised average of the whole series, the profile does not depend on the frames' order,
    so frame permutations still give exact p-values.

    On four simulated abTEM series (Pt/CeO2, -12 nm, 0.45 e-/px) the filter, centred on the
    sites found, reaches 91-96 % of the per-frame sensitivity (d') of the ideal filter (the
    true difference image of the leaving column over its expected counts, at its true
    position), against 70-73 % for a 0.6 A disc.

    Parameters
    ----------
    image : numpy.ndarray
        Average of the aligned denoised frames, e-/px.
    positions : numpy.ndarray
        ``(n, 2)`` sites, angstrom.
    pixel_size : float
        Angstrom per pixel.
    radius_a : float
        Radius of the response, angstrom.
    step_a : float
        Width of its rings, angstrom.

    Returns
    -------
    numpy.ndarray
        ``(m,)`` response at radii ``(k + 0.5) * step_a``, e-/px above the local level (zeros
        without sites).
    """
    positions = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
    rings = int(np.ceil(radius_a / step_a))
    if len(positions) == 0:
        return np.zeros(rings)
    image = np.asarray(image, dtype=np.float64)
    _, flat, dist = disc_pixels(positions / pixel_size, radius_a / pixel_size, image.shape)
    ring = np.minimum((dist * pixel_size / step_a).astype(np.intp), rings - 1)
    pixels, row = np.unique(flat, return_inverse=True)
    design = np.zeros((len(pixels), rings + 1))
    np.add.at(design, (row, ring), 1.0)
    design[:, rings] = 1.0
    coef, *_ = np.linalg.lstsq(design, image.reshape(-1)[pixels], rcond=None)
    return coef[:rings]


def site_signals(
    frame_counts: Callable[[int], np.ndarray],
    n_frames: int,
    positions: np.ndarray,
    pixel_size: float,
    response: np.ndarray | None = None,
    step_a: float = RESPONSE_STEP_A,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Matched-filter counts at every site, frame by frame.

    Each site's counts are weighted by the column response (:func:`column_response`) centred
    on it: a weighted sum of Poisson counts, whose variance is the sum of the counts weighted
    by the squared response. Without a response, the counts in a :data:`SITE_RADIUS_A` disc.

    On four simulated 40-frame series (abTEM, 0.45 e-/px) the fitted response gives the leaving
    column 1.89-1.98 sigma per frame (the ideal filter: 2.07), the disc 1.44-1.51: over 20
    frames before and 20 after, 6.0-6.3 sigma expected against 4.6-4.8 (a change of known
    frame; the search over frames and the surface sites take about a sigma of it).

    Parameters
    ----------
    frame_counts : callable
        ``frame_counts(t)``: frame ``t``'s counts cut to the aligned window (whole-pixel
        alignment, so they stay Poisson counts).
    n_frames : int
        Number of frames.
    positions : numpy.ndarray
        ``(n, 2)`` sites, angstrom in the window.
    pixel_size : float
        Angstrom per pixel.
    response : numpy.ndarray, optional
        Radial response of a column at radii ``(k + 0.5) * step_a`` (e-/px; only its shape
        matters); default: a :data:`SITE_RADIUS_A` disc. A response of zeros also falls back
        to the disc.
    step_a : float
        Ring width of ``response``, angstrom.

    Returns
    -------
    signal : numpy.ndarray
        ``(t, n)`` weighted counts per site and frame.
    variance : numpy.ndarray
        ``(t, n)`` their Poisson variances (counts weighted by the squared weights).
    exposure : numpy.ndarray
        ``(t,)`` mean counts per pixel of each frame's window (its dose).
    """
    positions = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
    n = len(positions)
    first = np.asarray(frame_counts(0))
    profile = None if response is None else np.asarray(response, dtype=np.float64).reshape(-1)
    if profile is None or not np.any(profile):
        column, flat, _ = disc_pixels(
            positions / pixel_size, SITE_RADIUS_A / pixel_size, first.shape
        )
        weight = np.ones(len(flat))
    else:
        radius = len(profile) * step_a
        column, flat, dist = disc_pixels(positions / pixel_size, radius / pixel_size, first.shape)
        centres = (np.arange(len(profile)) + 0.5) * step_a
        weight = np.interp(dist * pixel_size, centres, profile, right=0.0)
        weight = weight / np.max(np.abs(profile))
    signal = np.zeros((n_frames, n))
    variance = np.zeros((n_frames, n))
    exposure = np.zeros(n_frames)
    for t in range(n_frames):
        values = (first if t == 0 else np.asarray(frame_counts(t))).reshape(-1).astype(np.float64)
        picked = values[flat]
        signal[t] = np.bincount(column, weights=weight * picked, minlength=n)
        variance[t] = np.bincount(column, weights=weight**2 * picked, minlength=n)
        exposure[t] = values.mean()
    return signal, variance, exposure


def change_profile(
    values: np.ndarray, variance: np.ndarray, min_segment: int = MIN_SEGMENT
) -> tuple[np.ndarray, np.ndarray]:
    """Log-likelihood ratio of one shift of the mean at every candidate frame, every site.

    With ``n1`` frames before ``tau`` and ``n2`` from it on, and ``s2`` the mean variance of a
    frame's value, the log-likelihood ratio of a Gaussian mean shift is
    ``n1 n2 / (n1 + n2) (mean1 - mean2)^2 / (2 s2)``.

    Parameters
    ----------
    values : numpy.ndarray
        ``(t, n)`` per-frame values (signal per unit dose); the change is sought along axis 0.
    variance : numpy.ndarray
        ``(t, n)`` their variances.
    min_segment : int
        Fewest frames on each side.

    Returns
    -------
    ratio : numpy.ndarray
        ``(t - 1, n)`` log-likelihood ratio (nats) of a change at ``taus`` (``-inf`` where a
        side would be shorter than ``min_segment``).
    taus : numpy.ndarray
        ``(t - 1,)`` candidate first frames after the change, ``1 .. t - 1``.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    n = values.shape[0]
    if n < 2 * min_segment:
        raise InputError(f"a change needs at least {2 * min_segment} frames, got {n}")
    spread = np.maximum(
        np.mean(np.asarray(variance, dtype=np.float64).reshape(values.shape), axis=0), 1e-12
    )
    before = np.cumsum(values, axis=0)[:-1]
    total = before[-1] + values[-1]
    n1 = np.arange(1, n)[:, None].astype(np.float64)
    n2 = n - n1
    shift = before / n1 - (total - before) / n2
    ratio = n1 * n2 / n * shift**2 / (2.0 * spread)
    taus = np.arange(1, n)
    allowed = (taus >= min_segment) & (taus <= n - min_segment)
    ratio[~allowed] = -np.inf
    return ratio, taus


def change_statistic(
    values: np.ndarray, variance: np.ndarray, min_segment: int = MIN_SEGMENT
) -> tuple[np.ndarray, np.ndarray]:
    """Change-point statistic of every site: one shift of the mean against none.

    The maximum over frames of :func:`change_profile` (same parameters).

    Returns
    -------
    statistic : numpy.ndarray
        Maximised log-likelihood ratio, nats.
    frame : numpy.ndarray
        The best ``tau`` (first frame after the change).
    """
    ratio, taus = change_profile(values, variance, min_segment)
    best = np.argmax(ratio, axis=0)
    return np.take_along_axis(ratio, best[None], axis=0)[0], taus[best]


def change_interval(
    values: np.ndarray, variance: np.ndarray, drop: float = FRAME_INTERVAL_DROP
) -> tuple[np.ndarray, np.ndarray]:
    """Likelihood interval of each site's change frame.

    Parameters
    ----------
    values, variance : numpy.ndarray
        ``(t, n)`` per-frame values and their variances (see :func:`change_profile`).
    drop : float
        Nats below the maximum log-likelihood ratio that a frame may lie and stay inside.

    Returns
    -------
    low, high : numpy.ndarray
        ``(n,)`` first and last first-frame-after-the-change inside the interval.
    """
    ratio, taus = change_profile(values, variance)
    inside = ratio >= ratio.max(axis=0, keepdims=True) - drop
    first = np.argmax(inside, axis=0)
    last = inside.shape[0] - 1 - np.argmax(inside[::-1], axis=0)
    return taus[first], taus[last]


def site_evidence(
    signal: np.ndarray,
    variance: np.ndarray,
    exposure: np.ndarray,
    positions: np.ndarray,
    *,
    outline: np.ndarray | None = None,
    permutations: int = PERMUTATIONS,
    seed: int = 0,
) -> SiteEvidence:
    """Change-point evidence per site, with permutation p-values and BH q-values.

    Parameters
    ----------
    signal, variance : numpy.ndarray
        ``(t, n)`` matched-filter signal per frame and site and its variance (see
        :func:`site_signals`).
    exposure : numpy.ndarray
        ``(t,)`` dose of each frame.
    positions : numpy.ndarray
        ``(n, 2)`` sites, angstrom.
    outline : numpy.ndarray, optional
        ``(m, 2)`` columns of the whole series that define the particle's surface (those the
        summed counts support); default: the sites themselves. The sites tested for events
        are :func:`event_family` of them.
    permutations : int
        Random frame orders for the p-values (the same orders for every site).
    seed : int
        Seed of the permutations.

    Returns
    -------
    SiteEvidence
    """
    exposure = np.asarray(exposure, dtype=np.float64)
    values = np.asarray(signal, dtype=np.float64) / exposure[:, None]
    spread = np.asarray(variance, dtype=np.float64) / exposure[:, None] ** 2
    statistic, frame = change_statistic(values, spread)
    low, high = change_interval(values, spread)
    p = change_p_values(statistic, values, spread, permutations=permutations, seed=seed)
    sites = np.arange(values.shape[1])
    cumulative = np.cumsum(values, axis=0)
    before = cumulative[frame - 1, sites] / frame
    after = (cumulative[-1] - cumulative[frame - 1, sites]) / (values.shape[0] - frame)
    surface = event_family(positions, outline)
    return SiteEvidence(
        positions=np.asarray(positions, dtype=np.float64),
        surface=surface,
        values=values,
        frame=frame,
        frame_low=low,
        frame_high=high,
        level_before=before,
        level_after=after,
        statistic=statistic,
        p_value=p,
        q_value=_surface_q(p, surface),
        z=stats.norm.isf(p),
    )


def change_p_values(
    statistic: np.ndarray,
    values: np.ndarray,
    variance: np.ndarray,
    *,
    permutations: int = PERMUTATIONS,
    seed: int = 0,
) -> np.ndarray:
    """p-values of change-point statistics under "no change" (exchangeable frames).

    The frames of every site are permuted ``permutations`` times (the same orders for all
    sites) and the null statistics of all sites pooled: with ``n`` sites the null sample holds
    ``n * permutations`` values. Where fewer than :data:`MIN_EXCEEDANCES` null values reach a
    statistic, an exponential tail continues the empirical one (the log-likelihood ratio of a
    change point has an exponential-type upper tail), with the mean excess of the largest
    :data:`TAIL_SHARE` of the null values over the smallest of them as its scale.

    Parameters
    ----------
    statistic : numpy.ndarray
        ``(n,)`` observed statistics, nats.
    values, variance : numpy.ndarray
        ``(t, n)`` per-frame values and variances they came from.
    permutations : int
        Random frame orders.
    seed : int
        Seed of the orders.

    Returns
    -------
    numpy.ndarray
        ``(n,)`` p-values.
    """
    statistic = np.asarray(statistic, dtype=np.float64)
    if statistic.size == 0:
        return statistic.copy()
    values = np.asarray(values, dtype=np.float64).reshape(values.shape[0], -1)
    variance = np.asarray(variance, dtype=np.float64).reshape(values.shape)
    rng = np.random.default_rng(seed)
    null = np.concatenate(
        [
            change_statistic(values[order], variance[order])[0]
            for order in (rng.permutation(values.shape[0]) for _ in range(permutations))
        ]
    )
    null.sort()
    above = null.size - np.searchsorted(null, statistic - 1e-9, side="left")
    empirical = (1.0 + above) / (1.0 + null.size)
    top = max(MIN_EXCEEDANCES, int(TAIL_SHARE * null.size))
    anchor = null[null.size - top]
    scale = max(float(np.mean(null[null.size - top :] - anchor)), 1e-6)
    # Below the anchor at least ``top`` permutations exceed, so the empirical value is used
    # there; clipping keeps the unused exponent finite.
    tail = (top / (1.0 + null.size)) * np.exp(-np.maximum(statistic - anchor, 0.0) / scale)
    return np.where(above >= MIN_EXCEEDANCES, empirical, np.minimum(tail, empirical))


def surface_flags(positions: np.ndarray, outline: np.ndarray | None = None) -> np.ndarray:
    """Whether each position is on the particle surface drawn by ``outline``'s columns.

    A position within :data:`MERGE_DISTANCE_A` of an outline column takes that column's flag
    (alpha shape of the outline); any other is judged with the outline plus itself.

    Parameters
    ----------
    positions : numpy.ndarray
        ``(n, 2)`` positions, angstrom.
    outline : numpy.ndarray, optional
        ``(m, 2)`` columns that define the particle (default: ``positions``).

    Returns
    -------
    numpy.ndarray
        Boolean ``(n,)``.
    """
    positions, outline = _sites_and_outline(positions, outline)
    if len(outline) < 3:
        return np.ones(len(positions), dtype=bool)
    return _flags_against(positions, outline, surface_columns(outline))


def _sites_and_outline(
    positions: np.ndarray, outline: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    positions = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
    outline = positions if outline is None else np.asarray(outline, dtype=np.float64)
    return positions, outline


def _flags_against(
    positions: np.ndarray, outline: np.ndarray, on_outline: np.ndarray
) -> np.ndarray:
    """Surface flags of ``positions`` given the outline's own flags (see :func:`surface_flags`)."""
    flags = np.zeros(len(positions), dtype=bool)
    for i, p in enumerate(positions):
        d = np.hypot(*(outline - p).T)
        nearest = int(np.argmin(d))
        if d[nearest] < MERGE_DISTANCE_A:
            flags[i] = on_outline[nearest]
        else:
            flags[i] = surface_columns(np.vstack([outline, p[None]]))[-1]
    return flags


def event_family(
    positions: np.ndarray, outline: np.ndarray | None = None, depth: float = FAMILY_DEPTH_A
) -> np.ndarray:
    """The sites whose change-point tests form the family of events: the surface layer.

    A site belongs when it is on the surface drawn by ``outline`` (:func:`surface_flags`) or
    within ``depth`` of a column on that surface: the outline's outermost candidates may be the
    Fresnel fringe just outside the particle (see :data:`FAMILY_DEPTH_A`), and a column that
    leaves from under the fringe must still be tested. Sites deeper inside the particle stay out
    (testing them too would dilute the surface's evidence); a lone site in the vacuum, where an
    atom may arrive, is on the surface by :func:`surface_flags`.

    Parameters
    ----------
    positions : numpy.ndarray
        ``(n, 2)`` sites, angstrom.
    outline : numpy.ndarray, optional
        ``(m, 2)`` columns that define the particle (default: ``positions``).
    depth : float
        Distance from a surface column within which a site belongs, angstrom.

    Returns
    -------
    numpy.ndarray
        Boolean ``(n,)``.
    """
    positions, outline = _sites_and_outline(positions, outline)
    if len(outline) < 3:
        return np.ones(len(positions), dtype=bool)
    on_outline = surface_columns(outline)
    flags = _flags_against(positions, outline, on_outline)
    edge = outline[on_outline]
    if len(edge) == 0 or len(positions) == 0:
        return flags
    distance = np.hypot(*(positions[:, None, :] - edge[None, :, :]).transpose(2, 0, 1))
    return flags | (distance.min(axis=1) < depth)


def _surface_q(p: np.ndarray, surface: np.ndarray) -> np.ndarray:
    """BH q-values over the surface sites only (NaN elsewhere): the family users ask about."""
    q = np.full(p.shape, np.nan)
    if surface.any():
        q[surface] = benjamini_hochberg(p[surface])
    return q


def column_events(
    evidence: SiteEvidence, origin_a: np.ndarray, *, fdr: float = 0.05
) -> list[ColumnEvent]:
    """The events of a series: surface sites whose counts changed (white contrast: more counts
    where a column stands), with leaving/arriving pairs nearby merged into moves.

    Parameters
    ----------
    evidence : SiteEvidence
        Per-site change-point evidence.
    origin_a : numpy.ndarray
        Frame-0 position of the aligned window's origin, angstrom (added to site positions).
    fdr : float
        False discovery rate of the events.

    Returns
    -------
    list of ColumnEvent
        Significant events first (by frame), then the others with q <= 0.5 as "not supported"
        (the ones a user might see in the denoised frames and should not believe).
    """
    with np.errstate(invalid="ignore"):
        chosen = np.flatnonzero(evidence.q_value <= max(0.5, fdr))
    events: list[ColumnEvent] = []
    for i in chosen:
        kind = "leaves" if evidence.level_after[i] < evidence.level_before[i] else "appears"
        position = evidence.positions[i] + origin_a
        events.append(
            ColumnEvent(
                kind=kind,
                frame=int(evidence.frame[i]),
                frames=(int(evidence.frame_low[i]), int(evidence.frame_high[i])),
                position=(float(position[0]), float(position[1])),
                origin=None,
                site=int(i),
                q_value=float(evidence.q_value[i]),
                z=float(evidence.z[i]),
                verdict="real" if evidence.q_value[i] <= fdr else "not supported",
                surface=bool(evidence.surface[i]),
            )
        )
    return _pair_moves(events)


def _pair_moves(events: list[ColumnEvent]) -> list[ColumnEvent]:
    real = [e for e in events if e.verdict == "real"]
    used: set[int] = set()
    merged: list[ColumnEvent] = []
    for arrival in (e for e in real if e.kind == "appears"):
        for leaving in (e for e in real if e.kind == "leaves" and id(e) not in used):
            near = np.hypot(
                arrival.position[0] - leaving.position[0],
                arrival.position[1] - leaving.position[1],
            )
            if near <= MOVE_DISTANCE_A and abs(arrival.frame - leaving.frame) <= MOVE_FRAMES:
                used.update((id(arrival), id(leaving)))
                merged.append(
                    ColumnEvent(
                        kind="moves",
                        frame=arrival.frame,
                        frames=(
                            min(arrival.frames[0], leaving.frames[0]),
                            max(arrival.frames[1], leaving.frames[1]),
                        ),
                        position=arrival.position,
                        origin=leaving.position,
                        site=arrival.site,
                        q_value=max(arrival.q_value, leaving.q_value),
                        z=min(arrival.z, leaving.z),
                        verdict="real",
                        surface=arrival.surface or leaving.surface,
                    )
                )
                break
    rest = [e for e in events if id(e) not in used]
    everything = merged + rest
    return sorted(everything, key=lambda e: (e.verdict != "real", e.frame, e.site))
