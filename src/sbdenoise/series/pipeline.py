"""The in-situ series workflow: denoise every frame, align, judge, track and compare.

Stages and the files they leave in the output folder (a killed run resumes from them):

1. ``denoised.npy``: every frame denoised with a registry method (memory-mapped, written frame
   by frame; ``state.json`` counts the frames done).
2. ``frames/verdicts-NNNN.csv`` and ``likelihood.npy``: every candidate column of every frame
   with its calibrated verdict (see :func:`sbdenoise.analysis.trust.judge_frame`) and the
   frame's log-likelihood-ratio map.
3. ``drift.csv``: the drift of every frame, angstrom, from the denoised frames.
4. ``sites.csv``, ``events.csv``: surface columns tracked over time; changes tested on the
   counts (see :mod:`sbdenoise.series.events`).
5. ``profiles.csv``: the papers' validation, column intensities of the aligned denoised average
   against the temporal average of the aligned raw frames.
6. Figures, ``animation.gif`` and ``report.html`` (:mod:`sbdenoise.series.report`).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

import numpy as np
from scipy import ndimage, stats

from sbdenoise import __version__
from sbdenoise.analysis.candidates import find_candidates
from sbdenoise.analysis.columns import write_csv
from sbdenoise.analysis.likelihood import disc_pixels
from sbdenoise.analysis.trust import FrameVerdicts, benjamini_hochberg, judge_frame
from sbdenoise.denoise.api import dose_notes
from sbdenoise.denoise.registry import prepare
from sbdenoise.errors import InputError
from sbdenoise.io import Micrograph, read_image
from sbdenoise.io.atomic import atomic_write_text
from sbdenoise.noise.counts import prepare_counts
from sbdenoise.progress import progress_bar
from sbdenoise.series.binning import check_frames_per_sum, drift_within_sum, sum_frames
from sbdenoise.series.constants import (
    PATH_STEP_A,
    PATH_WIDTH_A,
    PEAK_RADIUS_A,
    PROFILE_BLUR_A,
    PROFILE_RADIUS_A,
    RING_A,
)
from sbdenoise.series.drift import CommonWindow, common_window, estimate_drift
from sbdenoise.series.events import (
    SITE_RULE,
    SITE_WINDOW,
    ColumnEvent,
    SiteEvidence,
    column_events,
    column_response,
    find_sites,
    site_evidence,
    site_signals,
    surface_flags,
)
from sbdenoise.series.report import write_series_report

STATE_NAME = "state.json"
#: Fewest frames of a series.
MIN_FRAMES = 4


@dataclass(frozen=True)
class ProfileAgreement:
    """The papers' validation: column intensities of two averages of the aligned series.

    Attributes
    ----------
    positions : numpy.ndarray
        ``(n, 2)`` columns of the denoised average, frame-0 angstrom.
    surface : numpy.ndarray
        True for surface columns.
    denoised, temporal : numpy.ndarray
        Mean intensity (e-/px per frame) in a :data:`PROFILE_RADIUS_A` disc of each column in
        the denoised average and in the temporal average of the raw frames.
    r_surface, r_all : float
        Pearson r of the two over the surface columns and over all columns.
    path : numpy.ndarray
        ``(m, 2)`` points of the line through the surface columns (ordered around the
        particle, every :data:`PATH_STEP_A`), frame-0 angstrom.
    path_denoised, path_temporal : numpy.ndarray
        Both averages along that line (mean across a :data:`PATH_WIDTH_A` wide strip).
    r_profile : float
        Pearson r of the two profiles: the papers' comparison (peaks and the gaps between
        columns), the agreement figure's headline. Both averages are smoothed by
        :data:`PROFILE_BLUR_A` first: 40 frames at 0.45 e-/px still leave about 8 % shot noise
        per profile sample of the temporal average.
    r_ceiling : float
        The highest ``r_profile`` a perfect denoiser could reach against this noisy temporal
        average (square root of its split-half reliability, even against odd frames,
        Spearman-Brown corrected); NaN when not computed.
    """

    positions: np.ndarray
    surface: np.ndarray
    denoised: np.ndarray
    temporal: np.ndarray
    r_surface: float
    r_all: float
    path: np.ndarray
    path_denoised: np.ndarray
    path_temporal: np.ndarray
    r_profile: float
    r_ceiling: float = float("nan")


@dataclass
class SeriesResult:
    """What :func:`run_series` found and wrote.

    Attributes
    ----------
    out_dir : Path
        The output folder.
    n_frames : int
        Frames analysed.
    pixel_size : float
        Angstrom per pixel.
    method : str
        Denoising method.
    drift : numpy.ndarray
        ``(t, 2)`` displacement of each frame relative to frame 0, ``(y, x)`` angstrom.
    window : CommonWindow
        The part of frame 0 every frame covers.
    evidence : SiteEvidence
        Change-point evidence of every site.
    events : list of ColumnEvent
        Reported events (real ones first).
    profiles : ProfileAgreement
        Denoised average against the temporal average.
    verdict_counts : numpy.ndarray
        ``(t, 3)`` candidates per frame that are supported / not supported / contradicted.
    denoised_mean, temporal_mean : numpy.ndarray
        Aligned averages over the common window, e-/px per frame.
    fdr : float
        False discovery rate of the verdicts and events.
    verdict_names : list of str
        Columns of ``verdict_counts``.
    files : dict
        Paths written, by role.
    seconds : dict
        Wall time of each stage in this call, s.
    resumed_frames : int
        Frames that were already denoised when this call started.
    frames_per_sum : int
        Recorded frames summed into each analysed frame (1: the frames as recorded); frame ``k``
        of the analysis is recorded frames ``kN .. kN + N - 1``.
    dropped_frames : int
        Recorded frames left over after the last whole sum, not analysed.
    notes : list of str
        Warnings about the input for the method (a dose outside the network's training range).
    """

    out_dir: Path
    n_frames: int
    pixel_size: float
    method: str
    drift: np.ndarray
    window: CommonWindow
    evidence: SiteEvidence
    events: list[ColumnEvent]
    profiles: ProfileAgreement
    verdict_counts: np.ndarray
    denoised_mean: np.ndarray
    temporal_mean: np.ndarray
    fdr: float
    verdict_names: list[str]
    files: dict[str, Path] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    resumed_frames: int = 0
    frames_per_sum: int = 1
    dropped_frames: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def drift_within_sum(self) -> np.ndarray:
        """Drift across the recorded frames of each sum, angstrom (0 without sums)."""
        return drift_within_sum(self.drift, self.frames_per_sum)

    @property
    def sum_blur(self) -> float:
        """Largest drift within one sum, angstrom (0 without sums)."""
        return float(np.max(self.drift_within_sum, initial=0.0))

    @property
    def real_events(self) -> list[ColumnEvent]:
        """Events with a "real" verdict."""
        return [e for e in self.events if e.verdict == "real"]


def _fingerprint(counts: np.ndarray, options: Mapping[str, Any]) -> str:
    digest = hashlib.sha256()
    digest.update(str(counts.shape).encode())
    for frame in counts:
        digest.update(np.ascontiguousarray(frame, dtype=np.float32).tobytes())
    digest.update(json.dumps(options, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def _load_state(out: Path, fingerprint: str) -> dict[str, Any]:
    path = out / STATE_NAME
    if not path.exists():
        return {"fingerprint": fingerprint, "denoised": 0, "judged": 0}
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"{path} is unreadable ({exc}); remove the folder to start again") from exc
    if state.get("fingerprint") != fingerprint:
        raise InputError(
            f"{out} holds a series run of another input or other options; to resume, rerun with "
            "the same input and options; to start another run, choose another output (-o) or "
            "remove the folder"
        )
    return state


def _save_state(out: Path, state: Mapping[str, Any]) -> None:
    atomic_write_text(out / STATE_NAME, json.dumps(state, indent=1))


def _memmap(path: Path, shape: tuple[int, ...], fresh: bool) -> np.memmap:
    if fresh or not path.exists():
        return np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=shape)
    array = np.load(path, mmap_mode="r+")
    if array.shape != shape:
        raise InputError(f"{path} has shape {array.shape}, expected {shape}; remove the folder")
    return array


def _disc_means(image: np.ndarray, positions: np.ndarray, pixel_size: float) -> np.ndarray:
    column, flat, _ = disc_pixels(
        positions / pixel_size, PROFILE_RADIUS_A / pixel_size, image.shape
    )
    values = image.reshape(-1)[flat].astype(np.float64)
    sums = np.bincount(column, weights=values, minlength=len(positions))
    n = np.bincount(column, minlength=len(positions))
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / n


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or np.std(a[ok]) == 0 or np.std(b[ok]) == 0:
        return float("nan")
    return float(np.corrcoef(a[ok], b[ok])[0, 1])


def local_contrast_z(total: np.ndarray, positions: np.ndarray, pixel_size: float) -> np.ndarray:
    """How far the counts at each position stand above those of a ring around it, sigma.

    The rate in a :data:`PEAK_RADIUS_A` disc against the rate in the ring
    :data:`RING_A`, with Poisson errors of both. A column is a local excess of counts; a test
    against the vacuum level alone would also "confirm" the bright fringe a specimen edge casts
    into vacuum once enough frames are summed.

    Parameters
    ----------
    total : numpy.ndarray
        Summed counts of the aligned frames.
    positions : numpy.ndarray
        ``(n, 2)`` positions, angstrom.
    pixel_size : float
        Angstrom per pixel.

    Returns
    -------
    numpy.ndarray
        ``(n,)`` one-sided z (NaN where the ring leaves the frame).
    """
    positions = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
    column, flat, dist = disc_pixels(positions / pixel_size, RING_A[1] / pixel_size, total.shape)
    values = total.reshape(-1)[flat].astype(np.float64)
    dist_a = dist * pixel_size
    peak, ring = dist_a <= PEAK_RADIUS_A, (dist_a >= RING_A[0]) & (dist_a <= RING_A[1])
    n = len(positions)
    c_peak = np.bincount(column[peak], weights=values[peak], minlength=n)
    a_peak = np.bincount(column[peak], minlength=n).astype(np.float64)
    c_ring = np.bincount(column[ring], weights=values[ring], minlength=n)
    a_ring = np.bincount(column[ring], minlength=n).astype(np.float64)
    full_ring = np.pi * (RING_A[1] ** 2 - RING_A[0] ** 2) / pixel_size**2
    with np.errstate(invalid="ignore", divide="ignore"):
        difference = c_peak / a_peak - c_ring / a_ring
        error = np.sqrt(c_peak / a_peak**2 + c_ring / a_ring**2)
        z = difference / error
    return np.where(a_ring >= 0.8 * full_ring, z, np.nan)


def series_columns(
    denoised_mean: np.ndarray,
    aligned_total: np.ndarray,
    pixel_size: float,
    *,
    fdr: float = 0.05,
) -> tuple[np.ndarray, np.ndarray]:
    """Candidate columns of the denoised average and whether the series' counts support them.

    Each candidate's counts, summed over all frames (aligned by whole pixels), must stand above
    a ring around it (:func:`local_contrast_z`), with the Benjamini-Hochberg false discovery
    rate over the candidates. Evidence adds up over frames: a surface column that one frame
    shows at about 2 sigma, 40 frames show at about 12.

    Parameters
    ----------
    denoised_mean : numpy.ndarray
        Aligned average of the denoised frames, e-/px per frame.
    aligned_total : numpy.ndarray
        Sum of the aligned raw frames, counts.
    pixel_size : float
        Angstrom per pixel.
    fdr : float
        False discovery rate.

    Returns
    -------
    positions : numpy.ndarray
        ``(n, 2)`` candidates in the window, angstrom.
    supported : numpy.ndarray
        Boolean ``(n,)``.
    """
    positions = find_candidates(denoised_mean, pixel_size, SITE_RULE).positions
    z = local_contrast_z(aligned_total, positions, pixel_size)
    q = benjamini_hochberg(stats.norm.sf(z))
    with np.errstate(invalid="ignore"):
        return positions, q <= fdr


def surface_path(positions: np.ndarray, surface: np.ndarray) -> np.ndarray:
    """Surface columns in order around the particle, as an open line.

    Ordered by angle around the centroid of all columns; the line is cut at the largest gap
    between neighbours (the particle's interface with its support, or the frame edge).

    Parameters
    ----------
    positions : numpy.ndarray
        ``(n, 2)`` columns, angstrom.
    surface : numpy.ndarray
        Boolean ``(n,)``.

    Returns
    -------
    numpy.ndarray
        ``(k, 2)`` vertices of the line, angstrom.
    """
    chosen = positions[surface]
    if len(chosen) < 2:
        return chosen
    relative = chosen - positions.mean(axis=0)
    ordered = chosen[np.argsort(np.arctan2(relative[:, 0], relative[:, 1]))]
    gaps = np.hypot(*(np.roll(ordered, -1, axis=0) - ordered).T)
    cut = int(np.argmax(gaps)) + 1
    return np.roll(ordered, -cut, axis=0)


def sample_path(
    image: np.ndarray, vertices: np.ndarray, pixel_size: float
) -> tuple[np.ndarray, np.ndarray]:
    """Values of ``image`` along a line, every :data:`PATH_STEP_A`, averaged across a strip.

    Parameters
    ----------
    image : numpy.ndarray
        ``(y, x)`` image.
    vertices : numpy.ndarray
        ``(k, 2)`` line vertices, angstrom.
    pixel_size : float
        Angstrom per pixel.

    Returns
    -------
    points : numpy.ndarray
        ``(m, 2)`` sample points, angstrom.
    values : numpy.ndarray
        ``(m,)`` strip means (bilinear interpolation).
    """
    points, normals = [], []
    for a, b in pairwise(vertices):
        length = float(np.hypot(*(b - a)))
        if length == 0:
            continue
        steps = np.arange(0.0, length, PATH_STEP_A)[:, None] / length
        points.append(a + steps * (b - a))
        direction = (b - a) / length
        normals.append(np.repeat([[-direction[1], direction[0]]], len(steps), axis=0))
    if not points:
        return np.zeros((0, 2)), np.zeros(0)
    line, normal = np.concatenate(points), np.concatenate(normals)
    offsets = np.linspace(-0.5 * PATH_WIDTH_A, 0.5 * PATH_WIDTH_A, 5)
    values = np.mean(
        [
            ndimage.map_coordinates(
                image, ((line + o * normal) / pixel_size).T, order=1, mode="nearest"
            )
            for o in offsets
        ],
        axis=0,
    )
    return line, values


def profile_agreement(
    denoised_mean: np.ndarray,
    temporal_mean: np.ndarray,
    positions: np.ndarray,
    pixel_size: float,
    origin_a: np.ndarray,
    halves: tuple[np.ndarray, np.ndarray] | None = None,
) -> ProfileAgreement:
    """Column intensities of the denoised average against those of the temporal average.

    Parameters
    ----------
    denoised_mean, temporal_mean : numpy.ndarray
        Aligned averages over the common window, e-/px.
    positions : numpy.ndarray
        ``(n, 2)`` columns to compare (those the series supports), angstrom in the window.
    pixel_size : float
        Angstrom per pixel.
    origin_a : numpy.ndarray
        Frame-0 position of the window's origin, angstrom.
    halves : tuple of numpy.ndarray, optional
        Temporal averages of the even and of the odd frames, for the noise ceiling.

    Returns
    -------
    ProfileAgreement
    """
    surface = surface_flags(positions)
    blur = PROFILE_BLUR_A / pixel_size
    denoised = _disc_means(denoised_mean, positions, pixel_size)
    temporal = _disc_means(temporal_mean, positions, pixel_size)
    vertices = surface_path(positions, surface)
    path, path_denoised = sample_path(
        ndimage.gaussian_filter(denoised_mean, blur), vertices, pixel_size
    )
    _, path_temporal = sample_path(
        ndimage.gaussian_filter(temporal_mean, blur), vertices, pixel_size
    )
    ceiling = float("nan")
    if halves is not None:
        split = [
            sample_path(ndimage.gaussian_filter(h, blur), vertices, pixel_size)[1] for h in halves
        ]
        r_half = _pearson(*split)
        if np.isfinite(r_half) and r_half > 0:
            ceiling = float(np.sqrt(2 * r_half / (1 + r_half)))
    return ProfileAgreement(
        positions=positions + origin_a,
        surface=surface,
        denoised=denoised,
        temporal=temporal,
        r_surface=_pearson(denoised[surface], temporal[surface]),
        r_all=_pearson(denoised, temporal),
        path=path + origin_a,
        path_denoised=path_denoised,
        path_temporal=path_temporal,
        r_profile=_pearson(path_denoised, path_temporal),
        r_ceiling=ceiling,
    )


def _window_means(
    stack: np.ndarray, window: CommonWindow, size: int = SITE_WINDOW
) -> tuple[list[np.ndarray], np.ndarray]:
    """Means of overlapping windows of ``size`` aligned frames (stride size/2) and the mean."""
    n = stack.shape[0]
    step = max(size // 2, 1)
    starts = list(range(0, max(n - size, 0) + 1, step))
    if starts[-1] + size < n:
        starts.append(n - size)
    total = np.zeros(window.shape)
    running = [np.zeros(window.shape) for _ in starts]
    for t in range(n):
        frame = window.counts(stack[t], t).astype(np.float64)
        total += frame
        for k, start in enumerate(starts):
            if start <= t < start + size:
                running[k] += frame
    lengths = [min(size, n - start) for start in starts]
    return [r / m for r, m in zip(running, lengths, strict=True)], total / n


def _aligned_totals(stack: np.ndarray, window: CommonWindow) -> tuple[np.ndarray, np.ndarray]:
    """Sums of the aligned even and odd frames."""
    totals = (np.zeros(window.shape), np.zeros(window.shape))
    for t in range(stack.shape[0]):
        totals[t % 2][...] += window.counts(stack[t], t)
    return totals


#: Frames between two checkpoints of a running series analysis.
CHECKPOINT_FRAMES = 8


def _checkpoint(
    array: np.memmap, state: dict[str, Any], key: str, done: int, total: int, out: Path
) -> None:
    """Record ``done`` frames of ``key`` every :data:`CHECKPOINT_FRAMES` frames and at the end."""
    if done % CHECKPOINT_FRAMES == 0 or done == total:
        array.flush()
        state[key] = done
        _save_state(out, state)


def _denoise_frames(
    prepared: Any,
    counts: np.ndarray,
    denoised: np.memmap,
    pixel: float,
    state: dict[str, Any],
    out: Path,
    show_progress: bool,
) -> None:
    """Denoise the frames not yet done into ``denoised`` (stack methods: all at once)."""
    n = counts.shape[0]
    if state["denoised"] >= n:
        return
    if not prepared.streams:
        for t, frame in enumerate(prepared.denoise_stack(counts, pixel)):
            denoised[t] = frame
        _checkpoint(denoised, state, "denoised", n, n, out)
        return
    todo = range(int(state["denoised"]), n)
    for t in progress_bar(todo, f"denoise ({prepared.name})", show_progress):
        denoised[t] = prepared.denoise_frame(counts[t], pixel)
        _checkpoint(denoised, state, "denoised", t + 1, n, out)


def _judge_frames(
    prepared: Any,
    counts: np.ndarray,
    denoised: np.memmap,
    likelihood: np.memmap,
    pixel: float,
    state: dict[str, Any],
    out: Path,
    *,
    fdr: float,
    verdicts: str,
    seed: int,
    show_progress: bool,
) -> None:
    """Judge every candidate of the frames not yet judged; a CSV and a likelihood map each."""
    n = counts.shape[0]
    frames_dir = out / "frames"
    frames_dir.mkdir(exist_ok=True)
    tallies = state.setdefault("verdict_counts", [])
    for t in progress_bar(range(int(state["judged"]), n), "judge frames", show_progress):
        verdict: FrameVerdicts = judge_frame(
            counts[t],
            np.asarray(denoised[t]),
            pixel,
            method=prepared,
            fdr=fdr,
            verdicts=verdicts,  # type: ignore[arg-type]
            seed=seed,
            show_progress=False,
        )
        verdict.write_csv(frames_dir / f"verdicts-{t:04d}.csv")
        likelihood[t] = verdict.likelihood.map
        tally = verdict.counts()
        del tallies[t:]
        tallies.append([int(v) for v in tally.values()])
        state["verdict_names"] = list(tally)
        _checkpoint(likelihood, state, "judged", t + 1, n, out)


def run_series(
    source: str | Path | Micrograph | np.ndarray,
    out_dir: str | Path,
    *,
    method: str = "sbd",
    params: Mapping[str, Any] | None = None,
    model: str | Path | None = None,
    pixel_size: float | None = None,
    gain: float | None = None,
    offset: float | None = None,
    assume_counts: bool = False,
    fdr: float = 0.05,
    verdicts: Literal["calibrated", "thresholds"] = "calibrated",
    max_frames: int | None = None,
    frames_per_sum: int = 1,
    seed: int = 0,
    report: bool = True,
    show_progress: bool = True,
) -> SeriesResult:
    """Analyse an in-situ series: denoise, judge, align, track events and compare averages.

    Parameters
    ----------
    source : str, Path, Micrograph or numpy.ndarray
        A stack file any reader accepts (dm4, mrc, tif, emd, ser, hspy, npy), a read
        :class:`~sbdenoise.io.Micrograph`, or a ``(t, y, x)`` array of counts.
    out_dir : str or Path
        Output folder; a folder holding a killed run of the same input and options is resumed.
    method : str
        Registry method (default ``sbd``, the shipped network).
    params : Mapping, optional
        The method's parameters.
    model : str or Path, optional
        Model file for ``sbd``.
    pixel_size : float, optional
        Angstrom per pixel (required for an array; overrides a file's calibration).
    gain, offset : float, optional
        Detector units per electron and dark level of frames not in counts.
    assume_counts : bool
        Take the values as counts without the counts check.
    fdr : float
        False discovery rate of the per-frame verdicts and of the events.
    verdicts : str
        ``"calibrated"`` (null simulated for the method, cached) or ``"thresholds"``.
    max_frames : int, optional
        Analyse only the first recorded frames.
    frames_per_sum : int
        Sum this many consecutive recorded frames into each analysed frame (see
        :func:`sbdenoise.series.binning.sum_frames`): N times the counts per frame for N times
        coarser time, for a particle that holds still over N frames. Frames left over after the
        last whole sum are not used. The default 1 analyses every frame as recorded.
    seed : int
        Seed of the permutations (and of the calibration's simulated vacuum).
    report : bool
        Write the figures, animation and HTML report.
    show_progress : bool
        Progress bars.

    Returns
    -------
    SeriesResult
    """
    started = time.perf_counter()
    if isinstance(source, Micrograph):
        micrograph = source
    elif isinstance(source, np.ndarray):
        micrograph = Micrograph(np.asarray(source), pixel_size=pixel_size)
    else:
        micrograph = read_image(source)
    if not micrograph.is_stack:
        raise InputError(
            f"{micrograph.source or 'the input'} is a single frame; a series needs a "
            "(frames, y, x) stack (denoise a single frame with `sbdenoise denoise`)"
        )
    if not 0 < fdr < 1:
        raise InputError(f"fdr must lie between 0 and 1, got {fdr}")
    data = micrograph.data if max_frames is None else micrograph.data[:max_frames]
    per_sum = check_frames_per_sum(frames_per_sum)
    if data.shape[0] < MIN_FRAMES * per_sum:
        raise InputError(
            f"a series needs at least {MIN_FRAMES} frames, got {data.shape[0]}"
            + (f" (fewer than {MIN_FRAMES} sums of {per_sum})" if per_sum > 1 else "")
        )
    prepared = prepare(method, dict(params or {}), model=model, source=micrograph.source)
    pixel = prepared.check_input(
        micrograph.pixel_size if pixel_size is None else pixel_size, True, micrograph.source
    )
    if pixel is None:
        raise InputError(
            "a series analysis needs the pixel size (angstrom): give pixel_size (--pixel-size)"
        )
    if verdicts == "calibrated" and prepared.method.trains_on_input:
        raise InputError(
            f"{method} trains on the input itself, so its verdicts cannot be calibrated on "
            "simulated vacuum; use verdicts='thresholds' (--verdicts thresholds)"
        )
    counts, dropped = sum_frames(
        prepare_counts(
            data, micrograph.source, gain=gain, offset=offset, assume_counts=assume_counts
        ),
        per_sum,
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    options = {
        "method": method,
        "params": prepared.params,
        "model": None if model is None else str(Path(model).resolve()),
        "pixel_size": pixel,
        "fdr": fdr,
        "verdicts": verdicts,
        "seed": seed,
        "frames_per_sum": per_sum,
        "version": __version__,
    }
    state = _load_state(out, _fingerprint(counts, options))
    n, shape = counts.shape[0], counts.shape[1:]
    seconds: dict[str, float] = {"read": time.perf_counter() - started}
    resumed = int(state["denoised"])

    # 1. denoise, frame by frame (stack methods see the stack whole)
    tick = time.perf_counter()
    denoised = _memmap(out / "denoised.npy", (n, *shape), fresh=state["denoised"] == 0)
    _denoise_frames(prepared, counts, denoised, pixel, state, out, show_progress)
    seconds["denoise"] = time.perf_counter() - tick

    # 2. judge every frame
    tick = time.perf_counter()
    likelihood = _memmap(out / "likelihood.npy", (n, *shape), fresh=state["judged"] == 0)
    _judge_frames(
        prepared,
        counts,
        denoised,
        likelihood,
        pixel,
        state,
        out,
        fdr=fdr,
        verdicts=verdicts,
        seed=seed,
        show_progress=show_progress,
    )
    seconds["judge"] = time.perf_counter() - tick

    # 3. drift, from the denoised frames
    tick = time.perf_counter()
    drift = estimate_drift(lambda t: denoised[t], n, pixel)
    window = common_window(drift, pixel, shape)
    origin = window.origin_a(pixel)
    files = {
        "drift_csv": write_csv(
            out / "drift.csv",
            [
                {"frame": t, "dy_A": d[0], "dx_A": d[1], "shift_row_px": s[0], "shift_col_px": s[1]}
                for t, (d, s) in enumerate(zip(drift, window.shifts, strict=True))
            ],
            ["frame", "dy_A", "dx_A", "shift_row_px", "shift_col_px"],
        )
    }
    seconds["drift"] = time.perf_counter() - tick

    # 4. sites and events, on the counts
    tick = time.perf_counter()
    window_means, denoised_mean = _window_means(denoised, window)
    even, odd = _aligned_totals(counts, window)
    aligned_total = even + odd
    temporal_mean = aligned_total / n
    sites = find_sites([*window_means, denoised_mean], pixel)
    candidates, supported = series_columns(denoised_mean, aligned_total, pixel, fdr=fdr)
    outline = candidates[supported]
    response = column_response(denoised_mean, sites, pixel)
    signal, variance, exposure = site_signals(
        lambda t: window.counts(counts[t], t), n, sites, pixel, response
    )
    evidence = site_evidence(signal, variance, exposure, sites, outline=outline, seed=seed)
    events = column_events(evidence, origin, fdr=fdr)
    files["sites_csv"] = write_csv(
        out / "sites.csv",
        [
            {
                "site": i,
                "y_A": p[0] + origin[0],
                "x_A": p[1] + origin[1],
                "surface": bool(evidence.surface[i]),
                "change_frame": int(evidence.frame[i]),
                "change_frame_low": int(evidence.frame_low[i]),
                "change_frame_high": int(evidence.frame_high[i]),
                "level_before": evidence.level_before[i],
                "level_after": evidence.level_after[i],
                "llr": evidence.statistic[i],
                "p_value": evidence.p_value[i],
                "q_value": evidence.q_value[i],
                "z": evidence.z[i],
            }
            for i, p in enumerate(evidence.positions)
        ],
        [
            "site",
            "y_A",
            "x_A",
            "surface",
            "change_frame",
            "change_frame_low",
            "change_frame_high",
            "level_before",
            "level_after",
            "llr",
            "p_value",
            "q_value",
            "z",
        ],
    )
    files["events_csv"] = write_csv(
        out / "events.csv",
        [
            {
                "kind": e.kind,
                "frame": e.frame,
                "frame_low": e.frames[0],
                "frame_high": e.frames[1],
                "y_A": e.position[0],
                "x_A": e.position[1],
                "from_y_A": "" if e.origin is None else e.origin[0],
                "from_x_A": "" if e.origin is None else e.origin[1],
                "site": e.site,
                "surface": e.surface,
                "z": e.z,
                "q_value": e.q_value,
                "verdict": e.verdict,
            }
            for e in events
        ],
        [
            "kind",
            "frame",
            "frame_low",
            "frame_high",
            "y_A",
            "x_A",
            "from_y_A",
            "from_x_A",
            "site",
            "surface",
            "z",
            "q_value",
            "verdict",
        ],
    )
    seconds["events"] = time.perf_counter() - tick

    # 5. the papers' validation
    profiles = profile_agreement(
        denoised_mean,
        temporal_mean,
        outline,
        pixel,
        origin,
        halves=(even / ((n + 1) // 2), odd / max(n // 2, 1)),
    )
    files["profiles_csv"] = write_csv(
        out / "profiles.csv",
        [
            {"y_A": p[0], "x_A": p[1], "surface": bool(s), "denoised": d, "temporal": m}
            for p, s, d, m in zip(
                profiles.positions,
                profiles.surface,
                profiles.denoised,
                profiles.temporal,
                strict=True,
            )
        ],
        ["y_A", "x_A", "surface", "denoised", "temporal"],
    )
    result = SeriesResult(
        out_dir=out,
        n_frames=n,
        pixel_size=pixel,
        method=method,
        drift=drift,
        window=window,
        evidence=evidence,
        events=events,
        profiles=profiles,
        verdict_counts=np.asarray(state["verdict_counts"], dtype=int),
        denoised_mean=denoised_mean,
        temporal_mean=temporal_mean,
        fdr=fdr,
        verdict_names=list(state.get("verdict_names", [])),
        files=files,
        seconds=seconds,
        resumed_frames=resumed,
        frames_per_sum=per_sum,
        dropped_frames=dropped,
        notes=[] if prepared.card is None else dose_notes(counts, prepared.card, pixel),
    )
    summary = {
        "frames": n,
        "frames_per_sum": per_sum,
        "recorded_frames_dropped": dropped,
        "notes": result.notes,
        "drift_within_sum_max_A": result.sum_blur,
        "pixel_size_A": pixel,
        "method": method,
        "params": prepared.params,
        "fdr": fdr,
        "drift_total_A": drift[-1].tolist(),
        "sites": len(evidence.positions),
        "events": [e.__dict__ for e in events],
        "profile_r": profiles.r_profile,
        "profile_r_ceiling": profiles.r_ceiling,
        "profile_r_surface_columns": profiles.r_surface,
        "profile_r_all": profiles.r_all,
        "verdict_names": state.get("verdict_names", []),
        "verdict_counts_mean": np.mean(result.verdict_counts, axis=0).tolist(),
    }
    files["summary_json"] = atomic_write_text(
        out / "series.json", json.dumps(summary, indent=1, default=float)
    )
    if report:
        tick = time.perf_counter()
        files.update(write_series_report(result, counts, denoised, likelihood))
        seconds["report"] = time.perf_counter() - tick
    return result
