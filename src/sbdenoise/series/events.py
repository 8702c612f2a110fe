"""Surface columns tracked over a series: sites, per-frame counts and change-point events.

A site is a place where a column stands in some stretch of the series (found on means of a few
aligned denoised frames, so a column present for a few frames only is still a site). Whether a
column appears or leaves there is decided on the raw counts alone: the counts of the site's
region in every frame, relative to the frame's dose, are tested for one change of rate (a Poisson
change-point likelihood ratio). Its p-value comes from permuting the frames (a static site's
frames are exchangeable), and the Benjamini-Hochberg procedure over all sites keeps the false
discovery rate of reported events. The denoised frames choose where to look; they never vote.
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

#: Radius of a site's counting region, angstrom: about a column's bright core (a wider disc takes
#: in the dark ring around the column, whose change cancels the core's).
SITE_RADIUS_A = 0.6
#: Sites closer than this are one site, angstrom.
MERGE_DISTANCE_A = 1.0
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


@dataclass(frozen=True)
class SiteEvidence:
    """Change-point evidence of every site.

    Attributes
    ----------
    positions : numpy.ndarray
        ``(n, 2)`` site positions in the aligned window, ``(y, x)`` angstrom.
    surface : numpy.ndarray
        True for sites on the particle surface (alpha shape of all sites).
    counts : numpy.ndarray
        ``(t, n)`` counts in each site's region per frame.
    exposure : numpy.ndarray
        ``(t,)`` mean counts per pixel of each frame (its dose).
    frame : numpy.ndarray
        First frame after the most likely change of each site.
    rate_before, rate_after : numpy.ndarray
        Counts per pixel per unit dose before and after it.
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
    counts: np.ndarray
    exposure: np.ndarray
    frame: np.ndarray
    rate_before: np.ndarray
    rate_after: np.ndarray
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
        First frame after the change.
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
        Candidate rule (default: that of the per-frame verdicts).

    Returns
    -------
    numpy.ndarray
        ``(n, 2)`` site positions in the aligned window, angstrom.
    """
    found = [find_candidates(mean, pixel_size, rule).positions for mean in window_means]
    return merge_sites(found)


def site_counts(
    frame_counts: Callable[[int], np.ndarray],
    n_frames: int,
    positions: np.ndarray,
    pixel_size: float,
    radius: float = SITE_RADIUS_A,
) -> tuple[np.ndarray, np.ndarray]:
    """Counts in every site's disc, frame by frame, and each frame's dose.

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
    radius : float
        Disc radius, angstrom.

    Returns
    -------
    counts : numpy.ndarray
        ``(t, n)`` counts per site and frame.
    exposure : numpy.ndarray
        ``(t,)`` mean counts per pixel of each frame's window.
    """
    first = np.asarray(frame_counts(0))
    column, flat, _ = disc_pixels(positions / pixel_size, radius / pixel_size, first.shape)
    counts = np.zeros((n_frames, len(positions)))
    exposure = np.zeros(n_frames)
    for t in range(n_frames):
        frame = first if t == 0 else np.asarray(frame_counts(t))
        values = frame.reshape(-1).astype(np.float64)
        counts[t] = np.bincount(column, weights=values[flat], minlength=len(positions))
        exposure[t] = values.mean()
    return counts, exposure


def _segment_loglik(c: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Maximised Poisson log-likelihood (up to constants) of segments with totals ``c``, ``m``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(c > 0, c * np.log(c / m), 0.0) - c


def change_statistic(
    counts: np.ndarray, exposure: np.ndarray, min_segment: int = MIN_SEGMENT
) -> tuple[np.ndarray, np.ndarray]:
    """Poisson change-point statistic of every site: one change of rate against none.

    Under "no change" the counts of frame ``t`` are Poisson with mean ``r m_t`` (``m_t``: the
    frame's dose); under "one change at ``tau``" the rate is ``r1`` before and ``r2`` from
    ``tau`` on. The statistic is the log-likelihood ratio maximised over ``tau``.

    Parameters
    ----------
    counts : numpy.ndarray
        ``(t, ...)`` counts; the change is sought along the first axis.
    exposure : numpy.ndarray
        ``(t,)`` or ``(t, ...)`` dose of each frame (any unit).
    min_segment : int
        Fewest frames on each side.

    Returns
    -------
    statistic : numpy.ndarray
        Maximised log-likelihood ratio, nats.
    frame : numpy.ndarray
        The best ``tau`` (first frame after the change).
    """
    counts = np.asarray(counts, dtype=np.float64)
    exposure = np.broadcast_to(
        np.asarray(exposure, dtype=np.float64).reshape((-1,) + (1,) * (counts.ndim - 1)),
        counts.shape,
    )
    n = counts.shape[0]
    if n < 2 * min_segment:
        raise InputError(f"a change needs at least {2 * min_segment} frames, got {n}")
    c_before = np.cumsum(counts, axis=0)[:-1]
    m_before = np.cumsum(exposure, axis=0)[:-1]
    c_total, m_total = c_before[-1] + counts[-1], m_before[-1] + exposure[-1]
    ratio = (
        _segment_loglik(c_before, m_before)
        + _segment_loglik(c_total - c_before, m_total - m_before)
        - _segment_loglik(c_total, m_total)
    )
    taus = np.arange(1, n)
    allowed = (taus >= min_segment) & (taus <= n - min_segment)
    ratio[~allowed] = -np.inf
    best = np.argmax(ratio, axis=0)
    return np.take_along_axis(ratio, best[None], axis=0)[0], taus[best]


def site_evidence(
    counts: np.ndarray,
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
    counts : numpy.ndarray
        ``(t, n)`` counts per frame and site (see :func:`site_counts`).
    exposure : numpy.ndarray
        ``(t,)`` dose of each frame.
    positions : numpy.ndarray
        ``(n, 2)`` sites, angstrom.
    outline : numpy.ndarray, optional
        ``(m, 2)`` columns of the whole series (candidates of the mean of all aligned denoised
        frames) that define the particle's surface; default: the sites themselves.
    permutations : int
        Random frame orders for the p-values (the same orders for every site).
    seed : int
        Seed of the permutations.

    Returns
    -------
    SiteEvidence
    """
    counts = np.asarray(counts, dtype=np.float64)
    exposure = np.asarray(exposure, dtype=np.float64)
    statistic, frame = change_statistic(counts, exposure)
    p = change_p_values(statistic, counts, exposure, permutations=permutations, seed=seed)
    sites = np.arange(counts.shape[1])
    c_cum, m_cum = np.cumsum(counts, axis=0), np.cumsum(exposure)
    before = c_cum[frame - 1, sites] / m_cum[frame - 1]
    after = (c_cum[-1] - c_cum[frame - 1, sites]) / (m_cum[-1] - m_cum[frame - 1])
    surface = surface_flags(positions, outline) if outline is not None else surface_flags(positions)
    return SiteEvidence(
        positions=np.asarray(positions, dtype=np.float64),
        surface=surface,
        counts=counts,
        exposure=exposure,
        frame=frame,
        rate_before=before,
        rate_after=after,
        statistic=statistic,
        p_value=p,
        q_value=_surface_q(p, surface),
        z=stats.norm.isf(p),
    )


def change_p_values(
    statistic: np.ndarray,
    counts: np.ndarray,
    exposure: np.ndarray,
    *,
    permutations: int = PERMUTATIONS,
    seed: int = 0,
) -> np.ndarray:
    """p-values of change-point statistics under "no change" (exchangeable frames).

    The frames of every site are permuted ``permutations`` times (the same orders for all
    sites) and the null statistics of all sites pooled: with ``n`` sites the null sample holds
    ``n * permutations`` values. Where fewer than :data:`MIN_EXCEEDANCES` null values reach a
    statistic, an exponential tail continues the empirical one: the log-likelihood ratio of a
    change point has an exponential-type upper tail, whose scale is the mean excess of the
    largest :data:`TAIL_SHARE` of the null values over the smallest of them.

    Parameters
    ----------
    statistic : numpy.ndarray
        ``(n,)`` observed statistics, nats.
    counts, exposure : numpy.ndarray
        ``(t, n)`` counts and ``(t,)`` frame doses they came from.
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
    rng = np.random.default_rng(seed)
    null = np.concatenate(
        [
            change_statistic(counts[order], exposure[order])[0]
            for order in (rng.permutation(counts.shape[0]) for _ in range(permutations))
        ]
    )
    null.sort()
    above = null.size - np.searchsorted(null, statistic - 1e-9, side="left")
    empirical = (1.0 + above) / (1.0 + null.size)
    top = max(MIN_EXCEEDANCES, int(TAIL_SHARE * null.size))
    anchor = null[null.size - top]
    scale = max(float(np.mean(null[null.size - top :] - anchor)), 1e-6)
    tail = (top / (1.0 + null.size)) * np.exp(-(statistic - anchor) / scale)
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
    positions = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
    outline = positions if outline is None else np.asarray(outline, dtype=np.float64)
    if len(outline) < 3:
        return np.ones(len(positions), dtype=bool)
    on_outline = surface_columns(outline)
    flags = np.zeros(len(positions), dtype=bool)
    for i, p in enumerate(positions):
        d = np.hypot(*(outline - p).T)
        nearest = int(np.argmin(d))
        if d[nearest] < MERGE_DISTANCE_A:
            flags[i] = on_outline[nearest]
        else:
            flags[i] = surface_columns(np.vstack([outline, p[None]]))[-1]
    return flags


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
        kind = "leaves" if evidence.rate_after[i] < evidence.rate_before[i] else "appears"
        position = evidence.positions[i] + origin_a
        events.append(
            ColumnEvent(
                kind=kind,
                frame=int(evidence.frame[i]),
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
