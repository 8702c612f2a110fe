"""Evaluate a denoiser on the test split of a simulated dataset: pixels, columns and likelihood.

For every test image and each of ``N`` fresh Poisson noise realisations the denoiser runs on the
noisy counts; the result is scored by PSNR and SSIM (peak 1 e-/px) and, after LoG column
detection, by precision, recall, F1 and Jaccard of the surface and the bulk columns against the
true projected columns (or, for an image without column truth, against detection on the clean
image). Each detected column also gets its likelihood value; those matched to a true column are
the real ones, the others spurious, and the ROC AUC of the value says how well it separates them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
from scipy.spatial import cKDTree

from sbdenoise.analysis.columns import (
    DEFAULT_MATCH_DISTANCE_A,
    detect_columns,
    inside_frame,
    match_columns,
    write_csv,
)
from sbdenoise.analysis.likelihood import (
    DEFAULT_RADIUS_A,
    DEFAULT_REAL,
    DEFAULT_SPURIOUS,
    LikelihoodValidation,
    _pyplot,
    column_likelihood,
    save_figure,
    validate_likelihood,
)
from sbdenoise.analysis.structure_metrics import structure_scores
from sbdenoise.analysis.surface import DEFAULT_ALPHA_A, alpha_shape
from sbdenoise.errors import InputError
from sbdenoise.io.atomic import atomic_write_text
from sbdenoise.metrics import psnr, ssim
from sbdenoise.noise.models import sample_poisson
from sbdenoise.progress import progress_bar
from sbdenoise.simulate.store import SimulatedDataset

#: A denoiser as a function: ``denoiser(counts, pixel_size_angstrom) -> expected counts``.
Denoiser = Callable[[np.ndarray, float], np.ndarray]

#: Metrics drawn in the surface-versus-bulk box plots.
STRUCTURE_METRICS = ("precision", "recall", "f1", "jaccard")

#: Columns of the per-image CSV, in order.
IMAGE_FIELDS = (
    "image",
    "realisation",
    "method",
    "pixel_size",
    "dose",
    "psnr_noisy",
    "psnr",
    "ssim",
    "n_truth",
    "n_estimated",
    "n_surface_truth",
    "n_surface_estimated",
    *(
        f"{part}_{name}"
        for part in ("surface", "bulk", "all")
        for name in (
            "precision",
            "recall",
            "f1",
            "jaccard",
            "true_positives",
            "false_positives",
            "false_negatives",
        )
    ),
    "n_real",
    "n_uncertain",
    "n_spurious",
    "truth_source",
)

#: Columns of the per-column CSV.
COLUMN_FIELDS = (
    "image",
    "realisation",
    "y_A",
    "x_A",
    "surface",
    "matched",
    "value",
    "verdict",
    "column_rate",
)

#: Columns of the per-true-column CSV: which true columns were found, with their atom counts.
TRUTH_FIELDS = (
    "image",
    "realisation",
    "y_A",
    "x_A",
    "element",
    "n_atoms",
    "surface",
    "found",
)


@dataclass
class EvaluationResult:
    """Everything one evaluation produced.

    Attributes
    ----------
    rows : list of dict
        One row per (image, realisation): see :data:`IMAGE_FIELDS`.
    columns : list of dict
        One row per detected column: see :data:`COLUMN_FIELDS`.
    truth_columns : list of dict
        One row per scored true column and draw: see :data:`TRUTH_FIELDS` (``found``: a
        detection was matched to it; ``n_atoms`` is -1 where the truth came from the clean frame).
    validation : LikelihoodValidation
        Likelihood values of real and spurious columns and their ROC AUC.
    summary : dict
        Means over all rows and the settings used.
    paths : dict
        Files written (``per_image_csv``, ``columns_csv``, ``boxplot``, ``likelihood_plot``,
        ``summary_json``), when an output folder was given.
    """

    rows: list[dict[str, Any]]
    columns: list[dict[str, Any]]
    validation: LikelihoodValidation
    summary: dict[str, Any]
    truth_columns: list[dict[str, Any]] = field(default_factory=list)
    paths: dict[str, Path] = field(default_factory=dict)

    def metric(self, name: str) -> np.ndarray:
        """One column of :attr:`rows` as a float array (for example ``"surface_jaccard"``)."""
        return np.array([row[name] for row in self.rows], dtype=np.float64)


#: ``method`` of :func:`evaluate` that scores the noise-free frame itself: the expectation stands
#: in for the estimate, so the structure scores measure the column detector, the surface rule and
#: the matching alone. No denoiser can be expected to beat them with this detector: they are the
#: ceiling against which a denoiser's scores are read.
CLEAN_REFERENCE = "clean"


def _resolve_method(
    method: str | Denoiser, params: Mapping[str, Any] | None, model: str | Path | None
) -> tuple[str, Denoiser | None]:
    """Name and callable of ``method``; None for :data:`CLEAN_REFERENCE` (no denoiser)."""
    if isinstance(method, str) and method == CLEAN_REFERENCE:
        if params or model is not None:
            raise InputError(
                f"method {CLEAN_REFERENCE!r} scores the noise-free frame: it takes no parameters "
                "or model"
            )
        return CLEAN_REFERENCE, None
    if callable(method):
        if params or model is not None:
            raise InputError(
                "parameters and models are only for a named method; bind them in the callable"
            )
        return getattr(method, "__name__", "callable"), method
    from sbdenoise.denoise.registry import prepare

    prepared = prepare(str(method), params, model=model)
    if prepared.method.needs_stack:
        raise InputError(f"method {method!r} needs a stack; evaluate scores single frames")

    def run(counts: np.ndarray, pixel_size: float) -> np.ndarray:
        return prepared.denoise_frame(counts, pixel_size)

    return str(method), run


class _ScoredTruth(NamedTuple):
    """The true columns :func:`evaluate` scores in one image (read once per image)."""

    positions: np.ndarray  #: (n, 2) angstrom, inside the frame, of the chosen elements
    surface: np.ndarray  #: (n,) booleans
    source: str  #: "store" (the simulation's columns) or "clean" (detected on the clean frame)
    by_element: tuple[np.ndarray, np.ndarray] | None  #: every true column and the chosen flags
    element: np.ndarray  #: (n,) element names ("" without store truth)
    n_atoms: np.ndarray  #: (n,) atoms per column (-1 without store truth)


def _scored_truth(
    data: SimulatedDataset,
    index: int,
    clean: np.ndarray,
    pixel_size: float,
    wanted: set[str] | None,
    truth_surface: str,
    alpha: float,
    border: float,
    detect_kwargs: Mapping[str, Any],
) -> _ScoredTruth:
    """The true columns of image ``index`` as :func:`evaluate` scores them."""
    table = data.columns(index)
    truth, source = _truth_positions(table), "store"
    flags = np.asarray(table["on_surface"], dtype=bool) if len(table) else np.zeros(0, bool)
    if len(truth) == 0:
        if wanted is not None:
            raise InputError(
                f"image {index} has no column truth: scoring by element needs it", data.path
            )
        truth, source = detect_columns(clean, pixel_size, **detect_kwargs).positions, "clean"
        flags = None
    keep = inside_frame(truth, clean.shape, pixel_size, border)
    all_truth = truth[keep]
    if source == "store":
        element = np.asarray(table["element"]).astype(str)[keep]
        n_atoms = np.asarray(table["n_atoms"], dtype=int)[keep]
    else:
        element, n_atoms = np.full(len(all_truth), ""), np.full(len(all_truth), -1)
    chosen = None if wanted is None else np.isin(element, list(wanted))
    if chosen is not None:
        truth, element, n_atoms = all_truth[chosen], element[chosen], n_atoms[chosen]
    else:
        truth = all_truth
    if truth_surface == "store" and flags is not None:
        surface = flags[keep] if chosen is None else flags[keep][chosen]
    else:
        surface = alpha_shape(truth, alpha, shape=clean.shape, pixel_size=pixel_size).surface
    by_element = None if chosen is None else (all_truth, chosen)
    return _ScoredTruth(truth, surface, source, by_element, element, n_atoms)


def _truth_positions(table: np.ndarray) -> np.ndarray:
    return (
        np.stack([table["y"], table["x"]], axis=1).astype(np.float64)
        if len(table)
        else np.zeros((0, 2))
    )


def nearest_is_chosen(positions: np.ndarray, truth: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """Whether each position's nearest true column is one of the ``chosen`` ones.

    Parameters
    ----------
    positions, truth : numpy.ndarray
        ``(n, 2)`` detected and ``(m, 2)`` true column positions, angstrom.
    chosen : numpy.ndarray
        ``(m,)`` booleans: the true columns scored.

    Returns
    -------
    numpy.ndarray
        ``(n,)`` booleans.
    """
    if len(positions) == 0 or len(truth) == 0:
        return np.zeros(len(positions), dtype=bool)
    _, nearest = cKDTree(truth).query(positions)
    return np.asarray(chosen, dtype=bool)[nearest]


def _nanmean(values: Sequence[float]) -> float:
    array = np.asarray(values, dtype=np.float64)
    return float(np.nanmean(array)) if np.any(np.isfinite(array)) else math.nan


def evaluate(
    dataset: SimulatedDataset | str | Path,
    method: str | Denoiser,
    *,
    n_realisations: int = 3,
    split: str = "test",
    indices: Sequence[int] | None = None,
    max_images: int | None = None,
    params: Mapping[str, Any] | None = None,
    model: str | Path | None = None,
    seed: int = 0,
    dose: float | None = None,
    alpha: float = DEFAULT_ALPHA_A,
    max_distance: float = DEFAULT_MATCH_DISTANCE_A,
    border: float = 1.0,
    detection: Mapping[str, Any] | None = None,
    radius: float = DEFAULT_RADIUS_A,
    real: float = DEFAULT_REAL,
    spurious: float = DEFAULT_SPURIOUS,
    truth_surface: Literal["alpha", "store"] = "alpha",
    elements: Sequence[str] | None = None,
    output_dir: str | Path | None = None,
    show_progress: bool = False,
) -> EvaluationResult:
    """Score a denoiser on a simulated test set with fresh noise realisations.

    Parameters
    ----------
    dataset : SimulatedDataset or str or Path
        The dataset store (or its folder).
    method : str or callable
        A registry name (see ``sbdenoise methods``; ``sbd`` included),
        ``denoiser(counts, pixel_size) -> image``, or ``"clean"`` (:data:`CLEAN_REFERENCE`):
        the noise-free frame scored as if it were the estimate, the detector's ceiling (its
        PSNR is infinite; the likelihood verdicts still use the noisy draws).
    n_realisations : int
        Poisson noise draws per image.
    split : str
        Dataset split to use when ``indices`` is not given.
    indices : sequence of int, optional
        Images to use, overriding ``split``.
    max_images : int, optional
        Use at most this many images (the first ones).
    params : mapping, optional
        Parameters of a named method (defaults filled in).
    model : str or Path, optional
        Model file of a network method (default: the shipped model).
    seed : int
        Seed of the noise; draw ``r`` of image ``i`` uses ``(seed, i, r)``, so results do not
        depend on which other images are evaluated.
    dose : float, optional
        Score at this vacuum dose, e-/px, instead of each image's own: the noise-free frame (an
        expected count per pixel) is scaled by ``dose`` over the image's dose before the noise is
        drawn, and PSNR is taken against the scaled frame. For curves of the structure scores
        against dose on one set of structures.
    alpha : float
        Alpha of the surface alpha shapes, angstrom.
    max_distance : float
        Largest distance of a matched column pair, angstrom.
    border : float
        Columns (true and detected) closer than this to the frame edge are left out, angstrom.
    detection : mapping, optional
        Keyword arguments of :func:`sbdenoise.analysis.columns.detect_columns`.
    radius, real, spurious : float
        Column region radius (angstrom) and verdict thresholds (nats/px) of the likelihood.
    truth_surface : {"alpha", "store"}
        True surface columns from the same alpha-shape rule as the estimate (default, so both
        sides are judged alike) or from the store's ``on_surface`` flags.
    elements : sequence of str, optional
        Score only the columns of these elements, for example ``("Pt",)`` for the particle of a
        Pt/CeO2 model: the true columns of these elements, and the detected columns whose
        nearest true column (of any element) is one of them, so a column drawn in the vacuum
        beside the particle counts against it and the support's columns (many too faint to
        detect in phase contrast, such as O in CeO2) count for nothing. Needs column truth.
    output_dir : str or Path, optional
        Folder for ``per_image.csv``, ``columns.csv``, ``truth_columns.csv``,
        ``structure_boxplots.png``,
        ``likelihood_letter_values.png`` and ``summary.json``.
    show_progress : bool
        Show a progress bar.

    Returns
    -------
    EvaluationResult
    """
    data = dataset if isinstance(dataset, SimulatedDataset) else SimulatedDataset(dataset)
    if n_realisations < 1:
        raise InputError(f"n_realisations must be at least 1, got {n_realisations}")
    if dose is not None and not (math.isfinite(dose) and dose > 0):
        raise InputError(f"dose must be a positive number of e-/px, got {dose}")
    if truth_surface not in ("alpha", "store"):
        raise InputError(f"truth_surface must be 'alpha' or 'store', got {truth_surface!r}")
    name, denoiser = _resolve_method(method, params, model)
    chosen = np.asarray(indices if indices is not None else data.indices(split=split), dtype=int)
    if max_images is not None:
        chosen = chosen[: max(int(max_images), 0)]
    if len(chosen) == 0:
        raise InputError(f"no images to evaluate (split {split!r})", data.path)
    detect_kwargs = {"border": border, **dict(detection or {})}
    wanted = None if elements is None else {str(e) for e in elements}
    if wanted is not None and not wanted:
        raise InputError("elements must name at least one element (for example Pt)")

    rows: list[dict[str, Any]] = []
    column_rows: list[dict[str, Any]] = []
    truth_rows: list[dict[str, Any]] = []
    real_values: list[np.ndarray] = []
    spurious_values: list[np.ndarray] = []
    jobs = [(int(i), r) for i in chosen for r in range(n_realisations)]
    truth_cache: dict[int, _ScoredTruth] = {}
    loaded = -1
    for index, realisation in progress_bar(jobs, f"evaluate {name}", show_progress):
        if index != loaded:  # realisations of one image follow each other: read it once
            clean, loaded = np.asarray(data.image(index), dtype=np.float64), index
            if dose is not None:
                clean = clean * (dose / float(data.params["dose"][index]))
        pixel_size = float(data.params["pixel_size"][index])
        frame_dose = float(data.params["dose"][index]) if dose is None else float(dose)
        if index not in truth_cache:
            truth_cache[index] = _scored_truth(
                data, index, clean, pixel_size, wanted, truth_surface, alpha, border, detect_kwargs
            )
        scored = truth_cache[index]
        truth, surface, by_element = scored.positions, scored.surface, scored.by_element

        rng = np.random.default_rng((seed, index, realisation))
        noisy = sample_poisson(clean, rng)
        denoised = (
            clean.copy()
            if denoiser is None
            else np.asarray(denoiser(noisy, pixel_size), dtype=np.float64)
        )
        if denoised.shape != clean.shape:
            raise InputError(
                f"the denoiser returned shape {denoised.shape} for a {clean.shape} frame"
            )
        found = detect_columns(denoised, pixel_size, **detect_kwargs)
        positions = found.positions[inside_frame(found.positions, clean.shape, pixel_size, border)]
        if by_element is not None:
            positions = positions[nearest_is_chosen(positions, *by_element)]
        scores = structure_scores(
            positions,
            truth,
            alpha,
            max_distance=max_distance,
            shape=clean.shape,
            pixel_size=pixel_size,
            truth_surface=surface,
        )
        likelihood = column_likelihood(
            noisy,
            denoised,
            positions,
            pixel_size,
            vacuum_rate=frame_dose,
            radius=radius,
            real=real,
            spurious=spurious,
        )
        pairs = match_columns(positions, truth, max_distance)
        matched = pairs.detected_is_matched
        real_values.append(likelihood.values[matched])
        spurious_values.append(likelihood.values[~matched])
        tally = likelihood.counts()
        rows.append(
            {
                "image": index,
                "realisation": realisation,
                "method": name,
                "pixel_size": pixel_size,
                "dose": frame_dose,
                "psnr_noisy": psnr(noisy, clean, clip=False),
                "psnr": psnr(denoised, clean),
                "ssim": ssim(denoised, clean),
                **scores.as_dict(),
                "n_real": tally["real"],
                "n_uncertain": tally["uncertain"],
                "n_spurious": tally["spurious"],
                "truth_source": scored.source,
            }
        )
        for k in range(len(positions)):
            column_rows.append(
                {
                    "image": index,
                    "realisation": realisation,
                    "y_A": float(positions[k, 0]),
                    "x_A": float(positions[k, 1]),
                    "surface": bool(scores.estimated_surface[k]),
                    "matched": bool(matched[k]),
                    "value": float(likelihood.values[k]),
                    "verdict": str(likelihood.verdict[k]),
                    "column_rate": float(likelihood.column_rate[k]),
                }
            )

        found_truth = pairs.truth_is_matched
        for k in range(len(truth)):
            truth_rows.append(
                {
                    "image": index,
                    "realisation": realisation,
                    "y_A": float(truth[k, 0]),
                    "x_A": float(truth[k, 1]),
                    "element": str(scored.element[k]),
                    "n_atoms": int(scored.n_atoms[k]),
                    "surface": bool(surface[k]),
                    "found": bool(found_truth[k]),
                }
            )

    validation = validate_likelihood(
        np.concatenate(real_values) if real_values else np.zeros(0),
        np.concatenate(spurious_values) if spurious_values else np.zeros(0),
        (real, spurious),
    )
    summary: dict[str, Any] = {
        "method": name,
        "params": dict(params or {}),
        "dataset": str(data.path),
        "images": [int(i) for i in chosen],
        "n_realisations": n_realisations,
        "seed": seed,
        "dose_e_per_px": dose,
        "alpha_A": alpha,
        "match_distance_A": max_distance,
        "border_A": border,
        "elements": None if wanted is None else sorted(wanted),
        "likelihood_radius_A": radius,
        "likelihood_auc": validation.auc,
        "n_real_columns": int(validation.real.size),
        "n_spurious_columns": int(validation.spurious.size),
        "mean": {
            key: _nanmean([row[key] for row in rows])
            for key in IMAGE_FIELDS
            if key not in ("image", "realisation", "method", "truth_source")
        },
    }
    result = EvaluationResult(rows, column_rows, validation, summary, truth_rows)
    if output_dir is not None:
        out = Path(output_dir)
        result.paths["per_image_csv"] = write_csv(out / "per_image.csv", rows, IMAGE_FIELDS)
        result.paths["columns_csv"] = write_csv(out / "columns.csv", column_rows, COLUMN_FIELDS)
        result.paths["truth_columns_csv"] = write_csv(
            out / "truth_columns.csv", truth_rows, TRUTH_FIELDS
        )
        result.paths["boxplot"] = plot_structure_boxplots(
            result, out / "structure_boxplots.png", title=f"{name}: surface vs bulk columns"
        )
        result.paths["likelihood_plot"] = validation.plot(
            out / "likelihood_letter_values.png", title=f"{name}: likelihood of detected columns"
        )
        result.paths["summary_json"] = _write_json(out / "summary.json", summary)
    return result


def _write_json(path: Path, payload: Mapping[str, Any]) -> Path:
    text = json.dumps(payload, indent=2, default=str, allow_nan=True) + "\n"
    return atomic_write_text(path, text)


def plot_structure_boxplots(result: EvaluationResult, path: str | Path, title: str = "") -> Path:
    """Box plots of precision, recall, F1 and Jaccard, surface beside bulk (the papers' Fig. 5).

    Parameters
    ----------
    result : EvaluationResult
        From :func:`evaluate`.
    path : str or Path
        PNG to write.
    title : str
        Figure title.

    Returns
    -------
    Path
    """
    plt = _pyplot()
    colours = {"surface": "#d6604d", "bulk": "#4393c3"}
    fig, axes = plt.subplots(
        1,
        len(STRUCTURE_METRICS) + 1,
        figsize=(3.0 * (len(STRUCTURE_METRICS) + 1), 4.4),
        constrained_layout=True,
    )
    for ax, metric in zip(axes[:-1], STRUCTURE_METRICS, strict=True):
        samples = []
        for part in ("surface", "bulk"):
            values = result.metric(f"{part}_{metric}")
            samples.append(values[np.isfinite(values)])
        boxes = ax.boxplot(
            samples,
            tick_labels=["surface", "bulk"],
            patch_artist=True,
            widths=0.6,
            medianprops={"color": "black"},
        )
        for patch, part in zip(boxes["boxes"], ("surface", "bulk"), strict=True):
            patch.set_facecolor(colours[part])
            patch.set_alpha(0.8)
        for k, values in enumerate(samples, start=1):
            jitter = np.linspace(-0.12, 0.12, values.size) if values.size > 1 else np.zeros(1)
            ax.scatter(k + jitter[: values.size], values, s=8, color="black", alpha=0.5, zorder=3)
        ax.set_ylim(-0.03, 1.03)
        ax.set_title(metric if metric != "f1" else "F1")
        ax.grid(axis="y", alpha=0.3)
    psnr_values = result.metric("psnr")
    ax = axes[-1]
    ax.boxplot(
        [psnr_values[np.isfinite(psnr_values)]],
        tick_labels=["denoised"],
        widths=0.6,
        medianprops={"color": "black"},
    )
    ax.set_title("PSNR (peak 1 e⁻/px)")
    ax.set_ylabel("dB")
    ax.grid(axis="y", alpha=0.3)
    n_images = len({row["image"] for row in result.rows})
    n_real = len({row["realisation"] for row in result.rows})
    heading = title or "surface vs bulk columns"
    fig.suptitle(f"{heading} ({n_images} images x {n_real} noise realisations)", fontsize=12)
    return save_figure(fig, path)
