"""Calibrated evidence for candidate columns: p-values against vacuum, and false discovery control.

The statistic
-------------
For a candidate with region ``R`` (a disc of ``n`` pixels, radius 0.7 A by default) the noisy
counts sum to ``S``. Under "no column here" the counts are vacuum, Poisson with rate ``v`` per
pixel, and the Neyman-Pearson test of any brighter column against vacuum rejects for large ``S``;
its standard score is ``z = (S - n v) / sqrt(n v)``.

Why simulation
--------------
The candidate was *chosen* where the denoised image has a maximum, and the denoiser looked at the
same counts: where noise piles up a few counts, a denoiser may draw a blob, and that blob's region
then holds more counts than vacuum would on average. The plain Poisson tail of ``z`` would call
such blobs significant far too often. So the null distribution of ``z`` is simulated: vacuum
frames at the frame's own dose and pixel size, denoised by the same method, candidates chosen by
the same rule (:mod:`sbdenoise.analysis.candidates`), their ``z`` collected. A :class:`NullTable`
is cached on disk per method, model, dose, pixel size, radius and rule.

p-values are the empirical upper tail of the null (``(1 + k) / (1 + N)``, valid for any null);
beyond the tenth-largest null value the tail is extrapolated with the Gaussian tail of the null's
own mean and spread, scaled to join the empirical tail there. Over the candidates of a frame the
Benjamini-Hochberg procedure controls the false discovery rate of "supported" verdicts.

"Contradicted" asks the opposite question: are the counts too few for the column the denoiser
drew? Under the denoiser's own rate ``c`` the sum is Poisson with mean ``n c``; its lower tail is
the p-value (exact; the selection makes it conservative, since the denoiser's rate was fitted to
these counts).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from sbdenoise.analysis.candidates import CandidateRule, Candidates, find_candidates
from sbdenoise.analysis.column_profiles import (
    cut_patches,
    own_region_pixels,
    patch_half,
    weighted_scores,
)
from sbdenoise.errors import InputError
from sbdenoise.io.atomic import atomic_write
from sbdenoise.simulate.cache import cache_folder

__all__ = [
    "NullTable",
    "VacuumCandidates",
    "candidate_scores",
    "null_cache_dir",
    "null_table",
    "simulate_null",
    "tail_p_values",
    "vacuum_candidates",
]

#: Environment variable naming the folder of cached null tables (``off`` disables the cache).
NULL_CACHE_ENV = "SBDENOISE_NULL_CACHE"
#: Null candidates wanted in a table (the smallest empirical p-value is 1 / (1 + this)).
DEFAULT_NULL_CANDIDATES = 600
#: Most vacuum frames simulated for one table (inside its 2 A border the shipped v4 draws about
#: 2.4 candidates per 512 x 512 vacuum frame at 0.45 e-/px).
DEFAULT_NULL_FRAMES = 100
#: Fewest null candidates for an empirical null. With fewer, the method (almost) never draws a
#: candidate in vacuum, so there is (almost) no selection to correct: p-values then come from the
#: standard normal tail of the score, its distribution at a position chosen without the counts.
MIN_NULL_CANDIDATES = 20
#: Side of a simulated vacuum frame, detector pixels.
DEFAULT_NULL_SIDE = 512
#: Exceedances below which the tail is extrapolated (Gaussian).
TAIL_POINTS = 10
#: Version of :func:`candidate_scores` (cached tables of another version are not used).
STATISTIC_VERSION = 4
#: Relative dose grid of the cache: doses within this factor share a table.
DOSE_STEP = 1.02


def candidate_scores(
    counts: np.ndarray,
    denoised: np.ndarray,
    positions_px: np.ndarray,
    radius_px: float,
    vacuum_rate: float,
) -> np.ndarray:
    """Standard score of each candidate's likelihood ratio: the denoiser's profile against vacuum.

    The region of a candidate is the part of a disc of ``radius_px`` around it that is closer to
    it than to any other candidate (its Voronoi cell). With ``d`` the denoised image and ``v`` the
    vacuum rate, the log-likelihood ratio of the counts ``y`` in the region is
    ``T = sum y log(d / v) - sum (d - v)`` (the Neyman-Pearson statistic of the drawn column
    against vacuum); under vacuum its mean is ``sum v log(d / v) - (d - v)`` and its variance
    ``sum v log(d / v)^2``. The score is ``T`` standardised by these. Bright pixels weigh
    positively and the dark ring around a column in phase contrast negatively, which makes it far
    more powerful than the plain count sum.

    Parameters
    ----------
    counts, denoised : numpy.ndarray
        ``(y, x)`` noisy counts and denoised rates, e-/px.
    positions_px : numpy.ndarray
        ``(n, 2)`` centres, pixels.
    radius_px : float
        Disc radius, pixels.
    vacuum_rate : float
        e-/px.

    Returns
    -------
    numpy.ndarray
        ``(n,)`` scores (NaN for a disc outside the frame or a flat profile).
    """
    if not vacuum_rate > 0:
        raise InputError(f"the vacuum rate must be positive (e-/px), got {vacuum_rate}")
    positions_px = np.asarray(positions_px, dtype=np.float64).reshape(-1, 2)
    n = len(positions_px)
    if n == 0:
        return np.zeros(0)
    column, flat = own_region_pixels(positions_px, radius_px, counts.shape)
    y = np.asarray(counts, dtype=np.float64).ravel()[flat]
    rate = np.maximum(np.asarray(denoised, dtype=np.float64).ravel()[flat], 1e-3 * vacuum_rate)
    weight = np.log(rate / vacuum_rate)
    statistic = np.bincount(column, weights=y * weight - (rate - vacuum_rate), minlength=n)
    mean = np.bincount(column, weights=vacuum_rate * weight - (rate - vacuum_rate), minlength=n)
    variance = np.bincount(column, weights=vacuum_rate * weight**2, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(variance > 0, (statistic - mean) / np.sqrt(variance), np.nan)


def _normal_tail(scores: np.ndarray) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64)
    return np.where(np.isnan(scores), np.nan, stats.norm.sf(scores))


def tail_p_values(null: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Upper-tail p-values of ``scores`` under simulated null scores (NaN stays NaN).

    Empirical, ``(1 + k) / (1 + N)`` with ``k`` of the ``N`` finite null scores at or above;
    beyond the :data:`TAIL_POINTS`-th largest null score, the Gaussian tail of the null's mean and
    spread, scaled to meet the empirical value there.

    Parameters
    ----------
    null : numpy.ndarray
        ``(N,)`` null scores shared by every score, or ``(N, n)``: a null column per score.
    scores : numpy.ndarray
        ``(n,)`` observed scores.

    Returns
    -------
    numpy.ndarray
        ``(n,)`` p-values.
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    null = np.asarray(null, dtype=np.float64)
    null = np.broadcast_to(null[:, None], (len(null), len(scores))) if null.ndim == 1 else null
    finite = np.isfinite(null)
    total = finite.sum(axis=0)
    above = np.sum(finite & (null >= scores[None, :]), axis=0)
    p = (1.0 + above) / (1.0 + total)
    ordered = np.sort(np.where(finite, null, -np.inf), axis=0)  # -inf first, largest last
    with np.errstate(invalid="ignore", divide="ignore"):
        centre = np.nanmean(np.where(finite, null, np.nan), axis=0)
        spread = np.nanstd(np.where(finite, null, np.nan), axis=0)
    spread = np.where(spread > 0, spread, 1.0)
    extrapolate = total > TAIL_POINTS
    if len(ordered) >= TAIL_POINTS:
        anchor = ordered[-TAIL_POINTS, :]
    else:
        anchor = np.full(len(scores), np.inf)
    anchor_p = (1.0 + TAIL_POINTS) / (1.0 + total)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        tail = (
            anchor_p * stats.norm.sf(scores, centre, spread) / stats.norm.sf(anchor, centre, spread)
        )
    p = np.where(extrapolate & (scores > anchor), np.minimum(tail, anchor_p), p)
    return np.where(np.isnan(scores), np.nan, np.clip(p, 0.0, 1.0))


@dataclass(frozen=True)
class NullTable:
    """Candidates found in simulated vacuum: the null distribution of one setting.

    Attributes
    ----------
    scores : numpy.ndarray
        Sorted ``z`` of every null candidate against its own denoised profile
        (:func:`candidate_scores`).
    frames : int
        Vacuum frames simulated.
    dose : float
        Vacuum rate of the simulated frames, e-/px.
    pixel_size : float
        Angstrom per pixel.
    radius : float
        Region radius, angstrom.
    method : str
        Registry name of the denoiser.
    patches : numpy.ndarray or None
        ``(N, P)`` vacuum counts around the null candidates (wholly inside their frames), which
        any fixed weights score (:meth:`p_values_for`).
    rates : numpy.ndarray or None
        ``(N,)`` vacuum rate of each patch's frame (its mean count), e-/px.
    """

    scores: np.ndarray
    frames: int
    dose: float
    pixel_size: float
    radius: float
    method: str
    patches: np.ndarray | None = None
    rates: np.ndarray | None = None

    @property
    def candidates_per_frame(self) -> float:
        """How many candidates the denoiser draws in a vacuum frame, on average."""
        return len(self.scores) / max(self.frames, 1)

    @property
    def empirical(self) -> bool:
        """Whether the table holds enough candidates (:data:`MIN_NULL_CANDIDATES`) to be used."""
        pool = self.scores if self.patches is None else self.patches
        return len(pool) >= MIN_NULL_CANDIDATES

    def p_values(self, scores: np.ndarray) -> np.ndarray:
        """Upper-tail p-values of own-profile ``scores`` under this null (:func:`tail_p_values`).

        With fewer than :data:`MIN_NULL_CANDIDATES` null candidates, the standard normal tail.
        """
        if len(self.scores) < MIN_NULL_CANDIDATES:
            return _normal_tail(scores)
        return tail_p_values(self.scores, scores)

    def p_values_for(self, scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """p-values of template scores: each candidate's weights applied to the vacuum patches.

        Parameters
        ----------
        scores : numpy.ndarray
            ``(n,)`` scores from :func:`sbdenoise.analysis.column_profiles.template_scores`.
        weights : numpy.ndarray
            ``(n, P)`` their weights (the same patch size as this table's).

        Returns
        -------
        numpy.ndarray
            ``(n,)`` p-values.
        """
        if self.patches is None or self.rates is None:
            raise InputError("this null table holds no vacuum patches (an older cache entry)")
        if len(self.patches) < MIN_NULL_CANDIDATES:
            return _normal_tail(scores)
        if weights.shape[1] != self.patches.shape[1]:
            raise InputError(
                f"weights of {weights.shape[1]} pixels do not fit this table's patches of "
                f"{self.patches.shape[1]} (another pixel size or radius)"
            )
        null = np.empty((len(self.patches), len(scores)))
        for start in range(0, len(scores), 256):  # bounded memory for frames with many candidates
            stop = start + 256
            null[:, start:stop] = weighted_scores(self.patches, weights[start:stop], self.rates)
        return tail_p_values(null, scores)

    def save(self, path: str | Path) -> Path:
        """Write the table as ``.npz`` (atomically)."""
        arrays = {"scores": self.scores}
        if self.patches is not None and self.rates is not None:
            arrays.update(patches=self.patches, rates=self.rates)
        meta = {k: v for k, v in asdict(self).items() if k not in ("scores", "patches", "rates")}
        with atomic_write(Path(path)) as temporary, temporary.open("wb") as handle:
            np.savez(handle, meta=json.dumps(meta), **arrays)
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> NullTable:
        """Read a table written by :meth:`save`."""
        with np.load(Path(path)) as data:
            meta = json.loads(str(data["meta"]))
            extra = {}
            if "patches" in data.files:
                extra = {"patches": np.asarray(data["patches"]), "rates": np.asarray(data["rates"])}
            return cls(scores=np.asarray(data["scores"], dtype=np.float64), **meta, **extra)


def _vacuum_frames(
    denoise: Callable[[np.ndarray], np.ndarray],
    rng: np.random.Generator,
    dose: float,
    pixel_size: float,
    side: int,
    rule: CandidateRule | None,
) -> Iterator[tuple[np.ndarray, np.ndarray, Candidates]]:
    """Endless Poisson vacuum frames: counts, the method's denoised frame, its candidates."""
    while True:
        counts = rng.poisson(dose, size=(side, side)).astype(np.float32)
        denoised = np.asarray(denoise(counts), dtype=np.float64)
        yield counts, denoised, find_candidates(denoised, pixel_size, rule)


def simulate_null(
    denoise: Callable[[np.ndarray], np.ndarray],
    *,
    dose: float,
    pixel_size: float,
    radius: float,
    rule: CandidateRule | None = None,
    method: str = "",
    side: int = DEFAULT_NULL_SIDE,
    candidates: int = DEFAULT_NULL_CANDIDATES,
    max_frames: int = DEFAULT_NULL_FRAMES,
    seed: int = 0,
    show_progress: bool = True,
) -> NullTable:
    """Denoise simulated vacuum frames and collect the scores of the candidates found in them.

    Parameters
    ----------
    denoise : callable
        ``counts -> denoised`` for one frame (the same method and parameters as the analysed
        frame's).
    dose : float
        Vacuum rate, e-/px.
    pixel_size : float
        Angstrom per pixel.
    radius : float
        Region radius, angstrom.
    rule : CandidateRule, optional
        Candidate rule (that of the analysed frame).
    method : str
        Name recorded in the table.
    side : int
        Side of each vacuum frame, pixels.
    candidates : int
        Stop once this many null candidates are collected...
    max_frames : int
        ...or after this many frames.
    seed : int
        Seed of the Poisson draws.
    show_progress : bool
        Show a progress bar.

    Returns
    -------
    NullTable
    """
    from sbdenoise.progress import progress_bar

    if not dose > 0:
        raise InputError(f"the dose must be positive (e-/px), got {dose}")
    rng = np.random.default_rng([seed, 7_110])
    radius_px = radius / pixel_size
    half = patch_half(radius_px)
    if 2 * half + 1 > side:
        raise InputError(
            f"a region of {radius} A at {pixel_size} A/px does not fit a {side} px vacuum frame"
        )
    scores: list[np.ndarray] = []
    patches: list[np.ndarray] = []
    rates: list[np.ndarray] = []
    collected, frames = 0, 0
    frame_source = _vacuum_frames(denoise, rng, dose, pixel_size, side, rule)
    for _ in progress_bar(range(max_frames), "null (vacuum)", show=show_progress):
        counts, denoised, found = next(frame_source)
        frames += 1
        if len(found):
            # the analysed frame's vacuum rate is estimated from its counts: do the same
            rate = float(counts.mean())
            positions_px = found.positions / pixel_size
            scores.append(candidate_scores(counts, denoised, positions_px, radius_px, rate))
            centres = np.rint(positions_px).astype(np.intp)
            whole = np.all((centres >= half) & (centres < side - half), axis=1)
            patches.append(cut_patches(counts, centres[whole], half))
            rates.append(np.full(int(whole.sum()), rate))
            collected += len(found)
        if collected >= candidates:
            break
    values = np.sort(np.concatenate(scores)) if scores else np.zeros(0)
    pool = np.concatenate(patches) if patches else np.zeros((0, (2 * half + 1) ** 2))
    compact = np.uint16 if pool.size == 0 or pool.max() <= np.iinfo(np.uint16).max else np.float32
    return NullTable(
        scores=values[np.isfinite(values)],
        frames=frames,
        dose=float(dose),
        pixel_size=float(pixel_size),
        radius=float(radius),
        method=method,
        patches=pool.astype(compact),
        rates=np.concatenate(rates) if rates else np.zeros(0),
    )


@dataclass(frozen=True)
class VacuumCandidates:
    """How often a denoiser draws a candidate column in simulated vacuum.

    Attributes
    ----------
    total : int
        Candidates found (inside the rule's border) in all frames.
    frames : int
        Vacuum frames denoised.
    side : int
        Side of each frame, pixels.
    dose, pixel_size : float
        e-/px and angstrom per pixel of the frames.
    frames_with_candidates : int or None
        Frames with at least one candidate (None where only the total was recorded).
    counts_per_frame : tuple of int or None
        Candidates in each frame, in the order of the frames' noise draws (None where not
        recorded); two denoisers counted with the same seed saw the same frames.

    Notes
    -----
    The candidates of a network come in clusters: most vacuum frames get none, and a few get a
    compact cluster of 5-30 columns 0.4-1.5 nm across, often ring-like as a small particle's
    outline (run t's average at step 14,285: 7 of 30 frames, per-frame variance 13x the mean).
    The frames, not the candidates, are the independent events, so :meth:`exceeds` compares
    frames with candidates when both sides recorded them.
    """

    total: int
    frames: int
    side: int
    dose: float
    pixel_size: float
    frames_with_candidates: int | None = None
    counts_per_frame: tuple[int, ...] | None = None

    @property
    def per_frame(self) -> float:
        """Candidates per frame."""
        return self.total / max(self.frames, 1)

    @property
    def per_megapixel(self) -> float:
        """Candidates per million pixels of the frames (compares frames of different sides)."""
        return self.total / max(self.frames * self.side**2 / 1e6, 1e-12)

    @property
    def frame_share(self) -> float | None:
        """Share of the frames with at least one candidate (None when not recorded)."""
        if self.frames_with_candidates is None:
            return None
        return self.frames_with_candidates / max(self.frames, 1)

    def exceeds(self, other: VacuumCandidates, sigmas: float = 2.0) -> bool:
        """Whether this rate is above ``other``'s by more than ``sigmas`` standard errors.

        With both sides' :attr:`frames_with_candidates` the counts compared are those of frames
        with candidates (the independent events); otherwise the candidates themselves, as if
        Poisson. Both counts are scaled to the frames of ``self`` (equal frame sizes are
        required); the spread is at least one count.

        Where both sides recorded :attr:`counts_per_frame` on the same frames, the candidates
        per frame are also compared paired, frame by frame (mean difference against its
        standard error, at least one candidate over all frames), and either test refuses: in
        wide frames nearly every frame of a phantom-prone model holds candidates, so the share
        of frames saturates (v13 in 15 of 16 frames of 1024 px against 6 for v14, within 2
        standard errors) while the candidates per frame still differ 9-fold.
        """
        if (self.side, self.dose, self.pixel_size) != (other.side, other.dose, other.pixel_size):
            raise InputError(
                "vacuum candidate rates compare only at one frame size, dose and pixel"
            )
        ratio = self.frames / max(other.frames, 1)
        if self.frames_with_candidates is not None and other.frames_with_candidates is not None:
            mine, theirs = self.frames_with_candidates, other.frames_with_candidates * ratio
        else:
            mine, theirs = self.total, other.total * ratio
        spread = np.sqrt(mine + theirs * ratio)
        if mine - theirs > sigmas * max(spread, 1.0):
            return True
        return self._exceeds_paired(other, sigmas)

    def _exceeds_paired(self, other: VacuumCandidates, sigmas: float) -> bool:
        """The paired per-frame test of :meth:`exceeds` (False where it cannot be made)."""
        if self.counts_per_frame is None or other.counts_per_frame is None:
            return False
        if len(self.counts_per_frame) != len(other.counts_per_frame):
            return False
        difference = np.subtract(self.counts_per_frame, other.counts_per_frame, dtype=float)
        n = len(difference)
        if n < 2:
            return False
        error = max(float(difference.std(ddof=1)) / np.sqrt(n), 1.0 / n)
        return bool(difference.mean() > sigmas * error)


def vacuum_candidates(
    denoise: Callable[[np.ndarray], np.ndarray],
    *,
    dose: float,
    pixel_size: float,
    frames: int = 30,
    side: int = DEFAULT_NULL_SIDE,
    rule: CandidateRule | None = None,
    seed: int = 0,
) -> VacuumCandidates:
    """Count the candidate columns a denoiser draws in pure Poisson vacuum.

    A spurious column is what users fear most, and PSNR barely sees one: a faint blob in vacuum
    costs almost nothing in squared error. This rate is the shipping gate's check on it
    (``scripts/ship_model.py``) and the source of the calibration's null candidates.

    Parameters
    ----------
    denoise : callable
        ``counts -> denoised`` for one frame.
    dose, pixel_size : float
        Vacuum rate (e-/px) and angstrom per pixel.
    frames, side : int
        Frames denoised and their side, pixels.
    rule : CandidateRule, optional
        Candidate rule (default: the trust analysis's).
    seed : int
        Seed of the Poisson draws.

    Returns
    -------
    VacuumCandidates
    """
    if not dose > 0:
        raise InputError(f"the dose must be positive (e-/px), got {dose}")
    rng = np.random.default_rng([seed, 7_111])
    frame_source = _vacuum_frames(denoise, rng, dose, pixel_size, side, rule)
    counts = [len(next(frame_source)[2]) for _ in range(frames)]
    return VacuumCandidates(
        sum(counts),
        frames,
        side,
        float(dose),
        float(pixel_size),
        frames_with_candidates=sum(count > 0 for count in counts),
        counts_per_frame=tuple(counts),
    )


def null_cache_dir() -> Path | None:
    """Folder of cached null tables (``$SBDENOISE_NULL_CACHE``), or None when it is ``off``."""
    return cache_folder(NULL_CACHE_ENV, "null")


def _method_identity(prepared: Any) -> dict[str, Any]:
    """What makes a method's output what it is: name, parameters, model file size and time."""
    params = {k: v for k, v in prepared.params.items() if k not in ("device", "batch_size")}
    identity: dict[str, Any] = {"method": prepared.name, "params": params}
    model = params.get("model")
    if model is not None and Path(str(model)).is_file():
        status = Path(str(model)).stat()
        identity["model_file"] = [status.st_size, int(status.st_mtime)]
    return identity


def grid_dose(dose: float) -> float:
    """``dose`` rounded to the cache's logarithmic grid (steps of :data:`DOSE_STEP`)."""
    return float(DOSE_STEP ** round(np.log(dose) / np.log(DOSE_STEP)))


def null_table(
    prepared: Any,
    *,
    dose: float,
    pixel_size: float,
    radius: float,
    rule: CandidateRule | None = None,
    candidates: int = DEFAULT_NULL_CANDIDATES,
    max_frames: int = DEFAULT_NULL_FRAMES,
    side: int = DEFAULT_NULL_SIDE,
    seed: int = 0,
    cache: Path | bool | None = True,
    show_progress: bool = True,
) -> NullTable:
    """The null table of a prepared method at a dose and pixel size, from the cache or simulated.

    Parameters
    ----------
    prepared : sbdenoise.denoise.registry.PreparedMethod
        The method that denoised the analysed frame (methods that train on their input are
        refused: their null would cost minutes per vacuum frame).
    dose : float
        The frame's vacuum rate, e-/px (rounded to a 2 % grid for the cache).
    pixel_size, radius : float
        Angstrom per pixel; region radius, angstrom.
    rule : CandidateRule, optional
        Candidate rule.
    candidates, max_frames, side, seed : int
        See :func:`simulate_null`.
    cache : Path, bool or None
        Folder of cached tables; True for :func:`null_cache_dir`, False or None for no cache.
    show_progress : bool
        Show a progress bar while simulating.

    Returns
    -------
    NullTable
    """
    if prepared.method.trains_on_input:
        raise InputError(
            f"method {prepared.name!r} trains on its input: calibrating it would train a network "
            "per simulated vacuum frame; use verdicts='thresholds' for it"
        )
    rule = rule or CandidateRule()
    dose = grid_dose(dose)
    folder = null_cache_dir() if cache is True else (cache or None)
    key = {
        **_method_identity(prepared),
        "dose": round(dose, 6),
        "pixel_size": round(float(pixel_size), 6),
        "radius": round(float(radius), 6),
        "rule": asdict(rule),
        "candidates": candidates,
        "max_frames": max_frames,
        "side": side,
        "seed": seed,
        "statistic": STATISTIC_VERSION,
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()
    path = None if folder is None else Path(folder) / f"{prepared.name}-{digest[:20]}.npz"
    if path is not None and path.is_file():
        try:
            return NullTable.load(path)
        except (OSError, ValueError, KeyError):
            path.unlink(missing_ok=True)  # a damaged cache entry is simulated again

    def denoise(counts: np.ndarray) -> np.ndarray:
        return prepared.denoise_frame(counts, pixel_size)

    table = simulate_null(
        denoise,
        dose=dose,
        pixel_size=pixel_size,
        radius=radius,
        rule=rule,
        method=prepared.name,
        side=side,
        candidates=candidates,
        max_frames=max_frames,
        seed=seed,
        show_progress=show_progress,
    )
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        table.save(path)
    return table
