"""The plan of a dataset: which structures, which images, which nuisance draws, which split.

Everything here is a pure function of the spec (and its seed), so a rerun after an interruption
recomputes the same plan and finds which images are still missing.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from sbdenoise.config import DatasetSpec
from sbdenoise.specimen.model import StructureParams

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class ImageTask:
    """One image of a structure.

    Attributes
    ----------
    index : int
        Position in the dataset.
    defocus_nm : float
        Defocus (abTEM sign), nm.
    focal_spread_nm, vibration_pm, dose, pixel_size : float
        Values used for this image (nuisance draws or the spec's fixed values).
    """

    index: int
    defocus_nm: float
    focal_spread_nm: float
    vibration_pm: float
    dose: float
    pixel_size: float


@dataclass(frozen=True)
class StructureTask:
    """One atomic model and its images (one exit wave serves them all)."""

    structure: StructureParams
    split: str
    images: tuple[ImageTask, ...]


def structure_grid(spec: DatasetSpec) -> list[StructureParams]:
    """Enumerate the structures of a spec (a seeded subset when ``n_structures`` is set)."""
    grid = spec.specimen
    if grid.structure_file is not None:
        combos = [(0.0, True, "none", 0.0, False, tuple(t)) for t in grid.tilt_deg]
    else:
        combos = list(
            itertools.product(
                grid.particle_diameter_nm,
                grid.interface_column,
                grid.defects,
                grid.support_thickness_nm,
                grid.step_edge,
                [tuple(t) for t in grid.tilt_deg],
            )
        )
    rng = np.random.default_rng(spec.seed)
    if spec.n_structures is not None and spec.n_structures < len(combos):
        chosen = np.sort(rng.choice(len(combos), spec.n_structures, replace=False))
        combos = [combos[i] for i in chosen]
    seeds = rng.integers(0, 2**31 - 1, size=len(combos))
    return [
        StructureParams(
            i, float(d), bool(ic), str(df), float(t), bool(st), tuple(map(float, tl)), int(seeds[i])
        )
        for i, (d, ic, df, t, st, tl) in enumerate(combos)
    ]


def assign_splits(n_structures: int, fractions: tuple[float, float, float], seed: int) -> list[str]:
    """Split structures (not images) into train/val/test, so test structures are never trained on.

    Every split with a positive fraction gets at least one structure when there are enough.
    """
    order = np.random.default_rng([seed, 1]).permutation(n_structures)
    counts = [round(f * n_structures) for f in fractions]
    for k in (2, 1):
        if fractions[k] > 0 and counts[k] == 0 and n_structures >= 3:
            counts[k] = 1
    counts[0] = n_structures - counts[1] - counts[2]
    labels = np.empty(n_structures, dtype=object)
    start = 0
    for name, count in zip(SPLITS, counts, strict=True):
        labels[order[start : start + count]] = name
        start += count
    return list(labels)


def _draw(rng: np.random.Generator, bounds: tuple[float, float] | None, fixed: float) -> float:
    return fixed if bounds is None else float(rng.uniform(*bounds))


def plan_dataset(spec: DatasetSpec) -> list[StructureTask]:
    """All structure tasks of a dataset, with image indices ``structure * n_defocus + k``."""
    structures = structure_grid(spec)
    splits = assign_splits(len(structures), spec.split, spec.seed)
    defoci = spec.optics.defocus_nm
    nuisance = spec.nuisance
    tasks = []
    for structure, split in zip(structures, splits, strict=True):
        images = []
        for k, defocus in enumerate(defoci):
            index = structure.structure_id * len(defoci) + k
            rng = np.random.default_rng([spec.seed, 2, index])
            rel = 0.0 if nuisance.pixel_size_rel is None else rng.uniform(*nuisance.pixel_size_rel)
            images.append(
                ImageTask(
                    index=index,
                    defocus_nm=float(defocus),
                    focal_spread_nm=_draw(
                        rng, nuisance.focal_spread_nm, spec.optics.focal_spread_nm
                    ),
                    vibration_pm=_draw(rng, nuisance.vibration_pm, spec.optics.vibration_pm),
                    dose=_draw(rng, nuisance.dose, spec.detector.dose),
                    pixel_size=spec.detector.pixel_size * (1.0 + float(rel)),
                )
            )
        tasks.append(StructureTask(structure, split, tuple(images)))
    return tasks


def default_image_size(spec: DatasetSpec) -> int:
    """Largest square crop (pixels) that fits the cell at every pixel size the spec can draw."""
    if spec.image_size is not None:
        return spec.image_size
    largest_rel = 0.0 if spec.nuisance.pixel_size_rel is None else max(spec.nuisance.pixel_size_rel)
    pixel = spec.detector.pixel_size * (1.0 + largest_rel)
    return int(np.floor(10.0 * spec.specimen.cell_nm * 0.98 / pixel))
