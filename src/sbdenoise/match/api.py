"""``match_conditions``: which simulated conditions of a dataset explain the user's series?

Each clean simulation is resampled to the series' calibrated pixel size, registered to the
aligned sum of the series' counts by the translation of largest likelihood, scaled to its dose,
and scored by the Poisson log-likelihood of the counts (:mod:`sbdenoise.match.likelihood`).
Images are grouped into conditions (:mod:`sbdenoise.match.conditions`) and ranked. The contrast
class of the series itself is read from its counts at the columns of the best registered
simulation (:func:`sbdenoise.simulate.contrast.classify_contrast`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from sbdenoise.errors import InputError
from sbdenoise.io.atomic import atomic_write_text
from sbdenoise.match.conditions import (
    DEFAULT_BY,
    Aggregate,
    ConditionScore,
    check_fields,
    rank_conditions,
    subset_filters,
)
from sbdenoise.match.likelihood import (
    TILE_A,
    RegisteredFit,
    central_crop,
    registered_loglik,
    resample,
)
from sbdenoise.match.observation import Observation, observe
from sbdenoise.simulate.contrast import classify_contrast
from sbdenoise.simulate.store import SimulatedDataset

#: Side of the scored square of the series, as a share of the smallest simulation (resampled to
#: the series' pixel size): the rest is the room the registration searches.
TEMPLATE_FRACTION = 0.7
#: Smallest scored square, px.
MIN_TEMPLATE = 32


@dataclass(frozen=True)
class ImageScore:
    """One simulated image registered to the series and scored."""

    index: int
    fit: RegisteredFit


@dataclass(frozen=True)
class MatchResult:
    """Simulated conditions ranked by how well they explain the observed counts.

    Attributes
    ----------
    conditions : list of ConditionScore
        Best first.
    images : list of ImageScore
        Every scored image, in dataset order.
    observation : Observation
        The aligned sum of the series (or the frame).
    template_origin : tuple of int
        ``(row, col)`` of the scored square in ``observation.counts``, px.
    template_side : int
        Side of the scored square, px.
    tiles : int
        The square was scored in ``tiles x tiles`` tiles, each registered on its own.
    contrast : tuple
        ``(class, pt_contrast, ce_contrast)`` of the series, measured on its counts at the
        columns of the best registered simulation (relative to its vacuum level).
    dataset : Path
        The dataset store.
    by : tuple of str
        The parameters defining a condition.
    aggregate : str
        How image scores were aggregated per condition.
    """

    conditions: list[ConditionScore]
    images: list[ImageScore]
    observation: Observation
    template_origin: tuple[int, int]
    template_side: int
    tiles: int
    contrast: tuple[str, float, float]
    dataset: Path
    by: tuple[str, ...]
    aggregate: str
    params: Mapping[str, np.ndarray] = field(repr=False, default_factory=dict)

    @property
    def best(self) -> ConditionScore:
        """The best condition."""
        return self.conditions[0]

    def template(self) -> np.ndarray:
        """The scored square of the aligned summed counts."""
        r0, c0 = self.template_origin
        side = self.template_side
        return self.observation.counts[r0 : r0 + side, c0 : c0 + side]

    def fit_of(self, index: int) -> RegisteredFit:
        """The registration and score of dataset image ``index``."""
        for image in self.images:
            if image.index == index:
                return image.fit
        raise KeyError(f"image {index} was not scored")

    def records(self) -> list[dict[str, Any]]:
        """The ranking as a list of flat dicts (pandas-ready), best first."""
        return [
            {
                "rank": k + 1,
                **c.values,
                "loglik": c.loglik,
                "delta_loglik": c.delta,
                "deviance_per_px": c.deviance_per_px,
                "n_images": c.n_images,
                "best_image": c.best_index,
            }
            for k, c in enumerate(self.conditions)
        ]

    def subset(self, top: int = 3) -> tuple[dict[str, Any], list[str]]:
        """Training filters selecting the ``top`` best conditions (see ``subset_filters``)."""
        if top < 1:
            raise InputError(f"top must be at least 1, got {top}")
        return subset_filters(self.conditions[:top])

    def write_subset(self, path: str | Path, top: int = 3) -> Path:
        """Write a training spec (YAML: the dataset and filters) selecting the best conditions.

        ``sbdenoise train --spec FILE -o MODEL`` trains on it as it is, and
        ``sbdenoise train DATASET --match FILE -o MODEL`` adds its filters to other options.
        """
        filters, ignored = self.subset(top)
        lines = [
            f"# sbdenoise match: the {min(top, len(self.conditions))} best of "
            f"{len(self.conditions)} conditions by {', '.join(self.by)} "
            f"({self.aggregate} image per condition; Poisson log-likelihood, nats)",
            f"# series: {self.observation.n_frames} frames at {self.observation.dose:.3g} e-/px, "
            f"{self.observation.pixel_size:.4g} A/px; its contrast: {self.contrast[0]}",
        ]
        for k, c in enumerate(self.conditions[:top]):
            lines.append(f"#   {k + 1}. {c.label()}: delta log L {c.delta:.1f}")
        if ignored:
            lines.append(f"# not expressible as training filters (not applied): {ignored}")
        body = yaml.safe_dump(
            {"dataset": str(self.dataset.parent.resolve()), "filters": filters}, sort_keys=False
        )
        return atomic_write_text(path, "\n".join(lines) + "\n" + body)


def _observed_contrast(
    result_images: Sequence[ImageScore],
    best_index: int,
    dataset: SimulatedDataset,
    template: np.ndarray,
    pixel_size: float,
) -> tuple[str, float, float]:
    fit = next(image.fit for image in result_images if image.index == best_index)
    columns = dataset.columns(best_index).copy()
    model_pixel = float(dataset.params["pixel_size"][best_index])
    shape = np.asarray(dataset.shape[1:], dtype=np.float64)
    zoomed = np.round(shape * model_pixel / pixel_size)
    ratio = (zoomed - 1.0) / (shape - 1.0)  # ndimage.zoom maps the corner pixels onto each other
    columns["y"] = (columns["y"] / model_pixel * ratio[0] - fit.offset[0]) * pixel_size
    columns["x"] = (columns["x"] / model_pixel * ratio[1] - fit.offset[1]) * pixel_size
    vacuum = fit.scale * float(dataset.params["dose"][best_index])
    label, pt, ce = classify_contrast(template, columns, pixel_size, vacuum)
    return str(label), float(pt), float(ce)


def match_conditions(
    data: np.ndarray | Observation,
    dataset: str | Path | SimulatedDataset,
    *,
    pixel_size: float | None = None,
    by: Sequence[str] = DEFAULT_BY,
    aggregate: Aggregate = "best",
    criteria: Mapping[str, Any] | None = None,
    template_fraction: float = TEMPLATE_FRACTION,
    tile_a: float | None = TILE_A,
    progress: Callable[[int], None] | None = None,
) -> MatchResult:
    """Rank a dataset's simulated conditions by how well they explain a series (or one frame).

    Parameters
    ----------
    data : numpy.ndarray or Observation
        Electron counts, ``(y, x)`` or ``(frames, y, x)``, or an already aligned
        :class:`Observation`.
    dataset : str, Path or SimulatedDataset
        The dataset store (folder or ``dataset.h5``).
    pixel_size : float, optional
        Calibrated pixel size of ``data``, angstrom (required for an array).
    by : sequence of str
        Dataset parameters that define a condition (default: defocus and contrast class).
    aggregate : {"best", "mean"}
        A condition's score: its best image's log-likelihood, or the mean over its images.
    criteria : mapping, optional
        Only score images with these parameters (see :meth:`SimulatedDataset.indices`), e.g.
        ``{"split": "train"}``.
    template_fraction : float
        Side of the scored square as a share of the smallest resampled simulation (0.2-1).
    tile_a : float or None
        Score the square in tiles of about this side, angstrom, each registered on its own
        (None: one registration for the whole square).
    progress : callable, optional
        Called with 1 after each scored image.

    Returns
    -------
    MatchResult

    Raises
    ------
    InputError
        Without a pixel size, with an empty dataset or selection, a parameter the dataset does
        not record, or a series too small to score.
    """
    store = dataset if isinstance(dataset, SimulatedDataset) else SimulatedDataset(dataset)
    by = check_fields(store.params, by)
    for name in ("pixel_size", "dose"):
        check_fields(store.params, (name,))
    if not 0.2 <= template_fraction <= 1.0:
        raise InputError(f"template_fraction must lie in 0.2-1, got {template_fraction}")
    indices = store.indices(**dict(criteria or {}))
    if len(store) == 0 or indices.size == 0:
        raise InputError(f"no simulated images to match in {store.path} (criteria {criteria})")
    observation = data if isinstance(data, Observation) else observe(data, pixel_size)
    ps = observation.pixel_size
    model_sides = np.asarray(store.params["pixel_size"])[indices] * min(store.shape[1:]) / ps
    side = int(min(min(observation.counts.shape), np.floor(template_fraction * model_sides.min())))
    if side < MIN_TEMPLATE:
        raise InputError(
            f"only {side} px of the series can be compared with the simulations "
            f"(at least {MIN_TEMPLATE} needed): is the pixel size right ({ps:g} A)?"
        )
    template, origin = central_crop(observation.counts, side)
    tiles = max(1, int(side * ps // tile_a)) if tile_a else 1
    images = []
    for index in indices:
        model = resample(store.image(int(index)), float(store.params["pixel_size"][index]), ps)
        images.append(ImageScore(int(index), registered_loglik(template, model, tiles)))
        if progress is not None:
            progress(1)
    logliks = np.array([image.fit.loglik for image in images])
    deviances = np.array([image.fit.deviance_per_px for image in images])
    conditions = rank_conditions(store.params, indices, logliks, deviances, by, aggregate)
    contrast = _observed_contrast(images, conditions[0].best_index, store, template, ps)
    return MatchResult(
        conditions=conditions,
        images=images,
        observation=observation,
        template_origin=origin,
        template_side=side,
        tiles=tiles,
        contrast=contrast,
        dataset=store.path,
        by=by,
        aggregate=aggregate,
        params=store.params,
    )


def match_file(
    path: str | Path,
    dataset: str | Path | SimulatedDataset,
    *,
    pixel_size: float | None = None,
    gain: float | None = None,
    offset: float | None = None,
    assume_counts: bool = False,
    max_frames: int | None = None,
    **options: Any,
) -> MatchResult:
    """:func:`match_conditions` on a file any reader accepts (a stack or a single frame).

    Parameters
    ----------
    path : str or Path
        The series (or frame).
    dataset : str, Path or SimulatedDataset
        The dataset store.
    pixel_size : float, optional
        Pixel size in angstrom, overriding the file's calibration (required when it has none).
    gain, offset : float, optional
        Detector units per electron and dark level, for data in detector units.
    assume_counts : bool
        Use the values as counts without checking.
    max_frames : int, optional
        Use only the first frames.
    **options
        Passed to :func:`match_conditions` (``by``, ``aggregate``, ``criteria``, ...).
    """
    from sbdenoise.io import read_image
    from sbdenoise.noise.counts import prepare_counts

    image = read_image(path)
    data = image.data if max_frames is None or image.data.ndim == 2 else image.data[:max_frames]
    counts = prepare_counts(data, path, gain=gain, offset=offset, assume_counts=assume_counts)
    size = pixel_size if pixel_size is not None else image.pixel_size
    return match_conditions(counts, dataset, pixel_size=size, **options)
