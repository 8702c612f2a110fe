"""Stability under re-noising: a parametric bootstrap of a denoiser's candidates.

Treat the denoised frame as the truth, draw new Poisson frames from it, denoise each with the same
method and find candidates again with the same rule. A column the counts really hold reappears in
almost every draw; a blob the method made from one particular cluster of noise counts moves or
vanishes. Per candidate the result is the fraction of draws with a candidate within
``match_distance`` (0.5 A); per pixel, the spread (standard deviation) of the re-denoised frames.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from sbdenoise.analysis.candidates import CandidateRule, find_candidates
from sbdenoise.errors import InputError

#: Default number of bootstrap draws (the shipped network: about 0.3-0.5 s per 1024 x 1024 draw
#: on 2 cores, candidates included; see benchmarks/trust.py).
DEFAULT_DRAWS = 16
#: Distance within which a candidate counts as reappearing, angstrom.
DEFAULT_MATCH_DISTANCE_A = 0.5


@dataclass(frozen=True)
class Stability:
    """How the candidates of a frame fare when the frame is re-noised and denoised again.

    Attributes
    ----------
    reappearance : numpy.ndarray
        Per candidate, the fraction of draws with a candidate within the match distance.
    spread : numpy.ndarray
        Per pixel, the standard deviation of the re-denoised frames, e-/px.
    draws : int
        Number of draws.
    match_distance : float
        Angstrom.
    """

    reappearance: np.ndarray
    spread: np.ndarray
    draws: int
    match_distance: float


def bootstrap_stability(
    denoised: np.ndarray,
    pixel_size: float,
    denoise: Callable[[np.ndarray], np.ndarray],
    positions: np.ndarray,
    *,
    draws: int = DEFAULT_DRAWS,
    rule: CandidateRule | None = None,
    match_distance: float = DEFAULT_MATCH_DISTANCE_A,
    seed: int = 0,
    show_progress: bool = True,
) -> Stability:
    """Re-noise the denoised frame ``draws`` times and see which candidates come back.

    Parameters
    ----------
    denoised : numpy.ndarray
        ``(y, x)`` denoised frame, e-/px: the rates the new Poisson frames are drawn from
        (negative values are clipped to zero).
    pixel_size : float
        Angstrom per pixel.
    denoise : callable
        ``counts -> denoised`` (the method that made ``denoised``).
    positions : numpy.ndarray
        ``(n, 2)`` candidates to follow, ``(y, x)`` in angstrom.
    draws : int
        Number of re-noised frames.
    rule : CandidateRule, optional
        Candidate rule (that of the analysed frame).
    match_distance : float
        A candidate reappears when one lies within this distance, angstrom.
    seed : int
        Seed of the Poisson draws.
    show_progress : bool
        Show a progress bar.

    Returns
    -------
    Stability
    """
    from sbdenoise.progress import progress_bar

    if int(draws) < 1:
        raise InputError(f"the bootstrap needs at least one draw, got {draws}")
    if not match_distance > 0:
        raise InputError(f"match_distance must be positive (angstrom), got {match_distance}")
    rates = np.clip(np.asarray(denoised, dtype=np.float64), 0.0, None)
    positions = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
    rng = np.random.default_rng([seed, 5_150])
    hits = np.zeros(len(positions))
    total = np.zeros(rates.shape)
    total_sq = np.zeros(rates.shape)
    for _ in progress_bar(range(int(draws)), "bootstrap", show=show_progress):
        counts = rng.poisson(rates).astype(np.float32)
        again = np.asarray(denoise(counts), dtype=np.float64)
        total += again
        total_sq += again * again
        found = find_candidates(again, pixel_size, rule)
        if len(found) and len(positions):
            distance, _ = cKDTree(found.positions).query(positions, k=1)
            hits += distance <= match_distance
    mean = total / draws
    spread = np.sqrt(np.maximum(total_sq / draws - mean * mean, 0.0))
    return Stability(
        reappearance=hits / draws,
        spread=spread.astype(np.float32),
        draws=int(draws),
        match_distance=float(match_distance),
    )
