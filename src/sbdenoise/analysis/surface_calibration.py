"""Simulating a method's surface null (:mod:`.surface_null`) on frames with a known truth.

Each clean image of a simulated dataset is scaled to every dose of the table, drawn with Poisson
noise, denoised by the method and judged against vacuum alone (:func:`~.trust.judge_frame` with
``surface_null=None``); the vacuum p-values of the candidates that face the vacuum and have no
true column within :data:`~.surface_null.SPURIOUS_DISTANCE_A` make the table.

Calibrate on images the verdicts will not be checked on: ``benchmarks/trust.py`` scores held-out
images of the ``surface`` preset, so the shipped table comes from the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage as ndi
from scipy.spatial import cKDTree

from sbdenoise.analysis.candidates import CandidateRule
from sbdenoise.analysis.likelihood import estimate_vacuum
from sbdenoise.analysis.surface_null import (
    REAL_DISTANCE_A,
    SPURIOUS_DISTANCE_A,
    SurfaceNull,
    SurfaceNullLevel,
    method_fingerprint,
    sidecar_of,
)
from sbdenoise.analysis.trust import DEFAULT_REGION_A, judge_frame
from sbdenoise.errors import InputError
from sbdenoise.noise.models import sample_poisson
from sbdenoise.progress import progress_bar

__all__ = [
    "DEFAULT_DOSES_E_PER_A2",
    "SurfaceCandidateSample",
    "calibrate_surface_null",
    "collect_surface_candidates",
    "facing_p_values",
    "resample",
    "simulate_surface_null",
    "spurious_surface_p_values",
]

#: Default doses of a table, e-/A^2: log-spaced over the shipped model's range (40-400 e-/A^2,
#: 0.15-1.5 e-/px at 0.061 A/px); 0.45 e-/px at 0.061 A/px is 121 e-/A^2.
DEFAULT_DOSES_E_PER_A2 = (40.0, 71.0, 121.0, 225.0, 400.0)


def true_column_positions(dataset: Any, index: int) -> np.ndarray:
    """``(n, 2)`` projected true column positions ``(y, x)`` of a dataset image, angstrom."""
    table = dataset.columns(index)
    if len(table) == 0:
        return np.zeros((0, 2))
    return np.stack([table["y"], table["x"]], axis=1).astype(np.float64)


def resample(image: np.ndarray, pixel_size: float, target: float) -> np.ndarray:
    """A clean image resampled from ``pixel_size`` to ``target`` angstrom per pixel (linear).

    Pixel ``j`` of the result lies at ``j * target`` angstrom, as pixel ``i`` of the input lies
    at ``i * pixel_size``, so column positions in angstrom hold for both. Values are rates per
    pixel of the input's scale (the caller rescales them to a dose).
    """
    image = np.asarray(image, dtype=np.float64)
    if abs(pixel_size - target) <= 1e-6 * target:
        return image
    step = target / pixel_size  # input pixels per output pixel
    shape = tuple(max(int(np.floor((n - 1) / step)) + 1, 1) for n in image.shape)
    return ndi.affine_transform(image, [step, step], output_shape=shape, order=1, mode="nearest")


def facing_p_values(
    result: Any,
    truth: np.ndarray,
    spurious_distance: float = SPURIOUS_DISTANCE_A,
    real_distance: float = REAL_DISTANCE_A,
) -> tuple[np.ndarray, np.ndarray]:
    """Vacuum p-values of a judged frame's spurious and real candidates facing the vacuum.

    Parameters
    ----------
    result : sbdenoise.analysis.trust.FrameVerdicts
        Verdicts against vacuum alone, with ``classes="surface"``.
    truth : numpy.ndarray
        ``(n, 2)`` true column positions, angstrom.
    spurious_distance, real_distance : float
        Spurious: no true column within ``spurious_distance``; real: one within
        ``real_distance`` (angstrom; in between: neither).

    Returns
    -------
    spurious, real : numpy.ndarray
        The finite p-values of each kind.
    """
    positions = result.candidates.positions
    if len(positions) == 0:
        return np.zeros(0), np.zeros(0)
    if len(truth) == 0:
        distance = np.full(len(positions), np.inf)
    else:
        distance, _ = cKDTree(truth).query(positions)
    tested = (np.asarray(result.fdr_class) == "surface") & np.isfinite(result.p_value)
    p = np.asarray(result.p_value, dtype=np.float64)
    return p[tested & (distance > spurious_distance)], p[tested & (distance <= real_distance)]


def spurious_surface_p_values(
    result: Any, truth: np.ndarray, spurious_distance: float = SPURIOUS_DISTANCE_A
) -> np.ndarray:
    """Vacuum p-values of a judged frame's spurious candidates facing the vacuum.

    Parameters
    ----------
    result : sbdenoise.analysis.trust.FrameVerdicts
        Verdicts against vacuum alone, with ``classes="surface"``.
    truth : numpy.ndarray
        ``(n, 2)`` true column positions, angstrom.
    spurious_distance : float
        Spurious: no true column within this distance, angstrom.

    Returns
    -------
    numpy.ndarray
        The finite p-values of those candidates.
    """
    return facing_p_values(result, truth, spurious_distance)[0]


@dataclass(frozen=True)
class SurfaceCandidateSample:
    """Vacuum p-values of a method's surface candidates, per simulated frame.

    Attributes
    ----------
    p_values : dict
        ``(dose e-/A^2, image index, draw) -> p-values`` of that frame's spurious candidates
        facing the vacuum (:func:`facing_p_values`).
    real : dict
        The same for its real candidates facing the vacuum (what a null costs in power).
    pixel_size : float
        Angstrom per pixel every frame was simulated at.
    given : int
        Frames without a flat vacuum region, judged with the simulated vacuum rate.
    resampled : int
        Images resampled to ``pixel_size``.
    region : float
        Region radius of the test the frames were judged with, angstrom.
    seed : int
        Seed of the noise.
    """

    p_values: dict[tuple[float, int, int], np.ndarray]
    real: dict[tuple[float, int, int], np.ndarray]
    pixel_size: float
    given: int
    resampled: int
    region: float = DEFAULT_REGION_A
    seed: int = 0

    def at(self, dose: float) -> np.ndarray:
        """Sorted spurious p-values at one dose, every image and draw."""
        parts = [values for (level, _, _), values in self.p_values.items() if level == dose]
        return np.sort(np.concatenate(parts)) if parts else np.zeros(0)


def collect_surface_candidates(
    prepared: Any,
    dataset: Any,
    indices: Sequence[int],
    *,
    doses: Sequence[float] = DEFAULT_DOSES_E_PER_A2,
    draws: int = 1,
    region: float = DEFAULT_REGION_A,
    rule: CandidateRule | None = None,
    seed: int = 0,
    cache: Path | bool | None = True,
    show_progress: bool = True,
) -> SurfaceCandidateSample:
    """Denoise and judge simulated frames; keep the p-values of each frame's surface candidates.

    Parameters
    ----------
    prepared : sbdenoise.denoise.registry.PreparedMethod
        The method (with the parameters its verdicts will be taken with).
    dataset : sbdenoise.simulate.store.SimulatedDataset
        Simulated images with their true columns. Images at other pixel sizes than the median
        one are resampled to it (:func:`resample`), so one vacuum null per dose serves all.
    indices : sequence of int
        Images to simulate frames of.
    doses : sequence of float
        Doses, e-/A^2.
    draws : int
        Poisson draws per image and dose (draw ``d`` of image ``i`` at dose ``D`` is the same
        frame whatever else is collected).
    region : float
        Region radius of the calibrated test, angstrom (as the verdicts will use).
    rule : CandidateRule, optional
        Candidate rule (as the verdicts will use).
    seed : int
        Seed of the noise (and of the vacuum nulls).
    cache : Path, bool or None
        Cache of the vacuum null tables (see :func:`~.trust.judge_frame`).
    show_progress : bool
        Show a progress bar.

    Returns
    -------
    SurfaceCandidateSample
    """
    indices = [int(i) for i in indices]
    if not indices:
        raise InputError("the surface null needs at least one simulated image")
    if draws < 1:
        raise InputError(f"draws must be at least 1, got {draws}")
    doses = sorted(float(d) for d in doses)
    if not doses or min(doses) <= 0:
        raise InputError(f"doses must be positive (e-/A^2), got {doses}")
    sizes = np.array([float(dataset.params["pixel_size"][i]) for i in indices])
    pixel = float(np.median(sizes))  # frames at one pixel size share one vacuum null per dose
    resampled = int(np.sum(np.abs(sizes - pixel) > 1e-6 * pixel))
    collected: dict[tuple[float, int, int], np.ndarray] = {}
    real: dict[tuple[float, int, int], np.ndarray] = {}
    given = 0
    jobs = [(dose, index, draw) for dose in doses for index in indices for draw in range(draws)]
    for dose, index, draw in progress_bar(jobs, "surface null", show=show_progress):
        clean = resample(dataset.image(index), float(dataset.params["pixel_size"][index]), pixel)
        rate = dose * pixel**2  # e-/px
        clean = clean * (rate / float(dataset.params["dose"][index]))
        noise = np.random.default_rng([seed, index, draw, round(dose * 1000)])
        noisy = sample_poisson(clean, noise).astype(np.float64)
        denoised = prepared.denoise_frame(noisy, pixel)
        try:  # as the verdicts will run: the vacuum found in the frame
            estimate_vacuum(denoised, pixel, noisy=noisy)
            known_rate = None
        except InputError:  # no flat vacuum region found: the simulation knows the rate
            known_rate = rate
            given += 1
        result = judge_frame(
            noisy,
            denoised,
            pixel,
            vacuum_rate=known_rate,
            method=prepared,
            region=region,
            rule=rule,
            seed=seed,
            cache=cache,
            show_progress=False,
            surface_null=None,
        )
        truth = true_column_positions(dataset, index)
        key = (dose, index, draw)
        collected[key], real[key] = facing_p_values(result, truth)
    return SurfaceCandidateSample(collected, real, pixel, given, resampled, float(region), seed)


def simulate_surface_null(
    prepared: Any, dataset: Any, indices: Sequence[int], **options: Any
) -> SurfaceNull:
    """The surface null of a prepared method on images of a simulated dataset.

    Parameters
    ----------
    prepared, dataset : see :func:`collect_surface_candidates`
    indices : sequence of int
        Images to simulate frames of (not the images the verdicts are checked on).
    **options
        Keyword arguments of :func:`collect_surface_candidates` (doses, draws, region, rule,
        seed, cache, show_progress).

    Returns
    -------
    SurfaceNull
    """
    sample = collect_surface_candidates(prepared, dataset, indices, **options)
    draws = 1 + max(draw for _, _, draw in sample.p_values)
    frames = len(set(indices)) * draws
    levels = tuple(
        SurfaceNullLevel(dose_per_area=dose, p_values=sample.at(dose), frames=frames)
        for dose in sorted({key[0] for key in sample.p_values})
    )
    source = f"{getattr(dataset, 'path', dataset)}: images {','.join(map(str, indices))}"
    given, resampled, pixel = sample.given, sample.resampled, sample.pixel_size
    return SurfaceNull(
        fingerprint=method_fingerprint(prepared),
        levels=levels,
        pixel_size=pixel,
        region=sample.region,
        source=f"{source}; {draws} draw(s) per image and dose; seed {sample.seed}"
        + (f"; vacuum rate given in {given} frame(s) without a flat vacuum" if given else "")
        + (f"; {resampled} image(s) resampled to {pixel:.5f} A/px" if resampled else ""),
    )


def spread_evenly(indices: np.ndarray, n: int | None) -> np.ndarray:
    """At most ``n`` of ``indices``, evenly spaced (several structures and defoci kept)."""
    indices = np.asarray(indices)
    if n is None or n >= len(indices):
        return indices
    if n < 1:
        raise InputError(f"at least one image is needed, got max_images={n}")
    return indices[np.unique(np.round(np.linspace(0, len(indices) - 1, n)).astype(int))]


def calibrate_surface_null(
    dataset: str | Path,
    method: str = "sbd",
    params: dict[str, Any] | None = None,
    *,
    model: str | Path | None = None,
    split: str = "test",
    contrast: str = "white",
    max_images: int | None = 36,
    exclude: Sequence[int] = (),
    doses: Sequence[float] = DEFAULT_DOSES_E_PER_A2,
    draws: int = 1,
    seed: int = 0,
    output: str | Path | None = None,
    show_progress: bool = True,
) -> tuple[SurfaceNull, Path]:
    """Simulate a method's surface null on a dataset and write it (beside the model by default).

    Parameters
    ----------
    dataset : str or Path
        Simulated dataset folder (or its ``dataset.h5``) with column truth.
    method, params, model
        The method as the verdicts will run it (see :func:`sbdenoise.denoise.registry.prepare`).
    split, contrast : str
        Images of this split and contrast class (``contrast="all"``: every class).
    max_images : int or None
        At most this many of them, evenly spread (None: all).
    exclude : sequence of int
        Images to leave out (those the verdicts will be checked on).
    doses, draws, seed
        See :func:`simulate_surface_null`.
    output : str or Path, optional
        Where to write the table (default: :func:`~.surface_null.sidecar_of`, beside the model, one
        per ``ensemble``; required for methods without a model file).
    show_progress : bool
        Show a progress bar.

    Returns
    -------
    table : SurfaceNull
    path : Path
        The file written.
    """
    from sbdenoise.denoise.registry import prepare
    from sbdenoise.simulate.store import SimulatedDataset

    data = SimulatedDataset(dataset)
    pool = (
        data.indices(split=split)
        if contrast == "all"
        else data.indices(split=split, contrast=contrast)
    )
    pool = np.setdiff1d(pool, np.asarray(list(exclude), dtype=int))
    if len(pool) == 0:
        raise InputError(
            f"no {contrast} images in split {split!r} of this dataset (after exclusions)", dataset
        )
    indices = spread_evenly(pool, max_images)
    prepared = prepare(method, params, model=model)
    if output is None:
        output = sidecar_of(prepared)
        if output is None:
            raise InputError(f"method {method!r} has no model file: pass an output path")
    table = simulate_surface_null(
        prepared, data, indices, doses=doses, draws=draws, seed=seed, show_progress=show_progress
    )
    return table, table.save(output)
