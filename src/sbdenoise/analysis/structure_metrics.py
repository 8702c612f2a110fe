"""Structure metrics: precision, recall, F1 and Jaccard of atom columns, surface and bulk apart.

PSNR hides atoms; these count them. The estimated columns and the true columns are each split into
surface and bulk with the same alpha-shape rule (:mod:`sbdenoise.analysis.surface`), then each set
is matched to its true counterpart one to one within a distance (angstrom). So a spurious column
outside the particle becomes a false surface column and hides the true one behind it; a missing
surface column exposes the one beneath it, which is then a surface column the truth does not have.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from sbdenoise.analysis.columns import DEFAULT_MATCH_DISTANCE_A, check_positions, match_columns
from sbdenoise.analysis.surface import DEFAULT_ALPHA_A, alpha_shape
from sbdenoise.errors import InputError


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else math.nan


@dataclass(frozen=True)
class DetectionScores:
    """Agreement of an estimated set of columns with the true set.

    Attributes
    ----------
    true_positives, false_positives, false_negatives : int
        Matched pairs, estimated columns left unmatched (spurious) and true columns left
        unmatched (missing).
    precision, recall, f1, jaccard : float
        ``tp / (tp + fp)``, ``tp / (tp + fn)``, their harmonic mean and
        ``tp / (tp + fp + fn)``; NaN where the denominator is zero.
    """

    true_positives: int
    false_positives: int
    false_negatives: int
    precision: float
    recall: float
    f1: float
    jaccard: float

    @classmethod
    def from_counts(cls, tp: int, fp: int, fn: int) -> DetectionScores:
        """Scores from counts of matched, spurious and missing columns."""
        return cls(
            int(tp),
            int(fp),
            int(fn),
            precision=_ratio(tp, tp + fp),
            recall=_ratio(tp, tp + fn),
            f1=_ratio(2 * tp, 2 * tp + fp + fn),
            jaccard=_ratio(tp, tp + fp + fn),
        )

    def as_dict(self, prefix: str = "") -> dict[str, float | int]:
        """The scores as a flat dict with keys ``prefix + name``."""
        return {f"{prefix}{key}": value for key, value in asdict(self).items()}


def detection_scores(
    estimated: np.ndarray, truth: np.ndarray, max_distance: float = DEFAULT_MATCH_DISTANCE_A
) -> DetectionScores:
    """Precision, recall, F1 and Jaccard of estimated against true column positions.

    Parameters
    ----------
    estimated, truth : numpy.ndarray
        Positions, ``(n, 2)`` and ``(m, 2)``, ``(y, x)`` in angstrom.
    max_distance : float
        Largest distance of a matched pair, in angstrom.

    Returns
    -------
    DetectionScores
    """
    match = match_columns(estimated, truth, max_distance)
    return DetectionScores.from_counts(
        match.true_positives, match.false_positives, match.false_negatives
    )


@dataclass(frozen=True)
class StructureScores:
    """Column scores of one estimate: surface, bulk and all columns.

    Attributes
    ----------
    surface, bulk, all : DetectionScores
        Scores of the surface columns, the bulk columns and all columns.
    estimated_surface, truth_surface : numpy.ndarray
        Boolean per estimated and per true column: True for surface columns.
    """

    surface: DetectionScores
    bulk: DetectionScores
    all: DetectionScores
    estimated_surface: np.ndarray
    truth_surface: np.ndarray

    def as_dict(self) -> dict[str, float | int]:
        """Flat dict ``surface_precision``, ..., ``bulk_jaccard``, ``all_f1``, ..."""
        return {
            **self.surface.as_dict("surface_"),
            **self.bulk.as_dict("bulk_"),
            **self.all.as_dict("all_"),
            "n_estimated": len(self.estimated_surface),
            "n_truth": len(self.truth_surface),
            "n_surface_estimated": int(self.estimated_surface.sum()),
            "n_surface_truth": int(self.truth_surface.sum()),
        }


def structure_scores(
    estimated: np.ndarray,
    truth: np.ndarray,
    alpha: float = DEFAULT_ALPHA_A,
    *,
    max_distance: float = DEFAULT_MATCH_DISTANCE_A,
    shape: tuple[int, int] | None = None,
    pixel_size: float | None = None,
    vacuum_mask: np.ndarray | None = None,
    truth_surface: np.ndarray | None = None,
) -> StructureScores:
    """Score estimated columns against the truth, surface and bulk separately.

    Parameters
    ----------
    estimated, truth : numpy.ndarray
        Column positions, ``(n, 2)`` and ``(m, 2)``, ``(y, x)`` in angstrom.
    alpha : float
        Alpha of the alpha shapes, in angstrom.
    max_distance : float
        Largest distance of a matched pair, in angstrom.
    shape : tuple of int, optional
        Frame shape in pixels (with ``pixel_size``): edges facing the frame edge are not surface.
    pixel_size : float, optional
        Angstrom per pixel.
    vacuum_mask : numpy.ndarray, optional
        Boolean image of vacuum pixels used for both alpha shapes.
    truth_surface : numpy.ndarray, optional
        Boolean per true column to use as the true surface instead of the alpha-shape rule
        (for example the simulation's own ``on_surface`` flags).

    Returns
    -------
    StructureScores
    """
    estimated = check_positions(estimated, "estimated positions")
    truth = check_positions(truth, "true positions")
    kwargs = {"shape": shape, "pixel_size": pixel_size, "vacuum_mask": vacuum_mask}
    est_surface = alpha_shape(estimated, alpha, **kwargs).surface
    if truth_surface is None:
        true_surface = alpha_shape(truth, alpha, **kwargs).surface
    else:
        true_surface = np.asarray(truth_surface, dtype=bool)
        if true_surface.shape != (len(truth),):
            raise InputError("truth_surface must hold one flag per true column")
    return StructureScores(
        surface=detection_scores(estimated[est_surface], truth[true_surface], max_distance),
        bulk=detection_scores(estimated[~est_surface], truth[~true_surface], max_distance),
        all=detection_scores(estimated, truth, max_distance),
        estimated_surface=est_surface,
        truth_surface=true_surface,
    )
