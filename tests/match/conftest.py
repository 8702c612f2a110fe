"""A coarse-grid abTEM dataset and held-out clean images to draw series from (once per session).

The dataset: one 1 nm Pt particle on 3 nm CeO2 (no defect) at 8 defoci, -20 to 8 nm in 4 nm
steps (white, intermediate and black contrast), 320 px at 0.061 A/px. The series source: another
structure (one surface column removed, other seed) at the 7 defoci half-way between the grid's,
380 px at 0.050 A/px, so matching must resample, register and tolerate a structure that is not
in the dataset. A reduced multislice grid (0.1 A, 2.5 A slices, 3 focal points) keeps it near
30-60 s on 2 cores.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

GRID_NM = tuple(float(d) for d in range(-20, 12, 4))
HELD_OUT_NM = tuple(float(d) for d in range(-18, 8, 4))
GRID_STEP_NM = 4.0
SOURCE_PIXEL = 0.05


@dataclass(frozen=True)
class Sources:
    """Clean images of the series' structure at the held-out defoci."""

    images: np.ndarray
    defocus_nm: np.ndarray
    contrast: list[str]
    pixel_size: float
    columns: np.ndarray


def coarse_spec():
    from sbdenoise.config import Simulation
    from sbdenoise.simulate.presets import get_preset

    smoke = get_preset("smoke")
    return smoke.model_copy(
        update={
            "name": "match-coarse",
            "image_size": 320,
            "optics": smoke.optics.model_copy(update={"defocus_nm": list(GRID_NM)}),
            "simulation": Simulation(sampling=0.1, slice_thickness=2.5, focal_points=3),
            "specimen": smoke.specimen.model_copy(update={"cell_nm": 2.6, "defects": ["none"]}),
        }
    )


def build_dataset(out: Path) -> Path:
    """Simulate the coarse-grid dataset into ``out`` (synchronously)."""
    from sbdenoise.simulate.runner import run_simulation

    run_simulation(coarse_spec(), out, scheduler="synchronous", show_progress=False)
    return out


def build_sources() -> Sources:
    """Clean images of a structure outside the dataset at the held-out defoci."""
    from sbdenoise.simulate.plan import ImageTask, StructureTask
    from sbdenoise.simulate.runner import structure_images
    from sbdenoise.specimen.model import StructureParams

    spec = coarse_spec().model_copy(update={"image_size": 380})
    structure = StructureParams(0, 1.0, True, "remove_one", 3.0, False, (0.0, 0.0), 4242)
    tasks = tuple(
        ImageTask(k, d, spec.optics.focal_spread_nm, spec.optics.vibration_pm, 0.45, SOURCE_PIXEL)
        for k, d in enumerate(HELD_OUT_NM)
    )
    records = list(structure_images(StructureTask(structure, "test", tasks), spec))
    return Sources(
        images=np.stack([r.image for r in records]),
        defocus_nm=np.array([r.params["defocus_nm"] for r in records]),
        contrast=[str(r.params["contrast"]) for r in records],
        pixel_size=float(records[0].params["pixel_size"]),
        columns=records[0].columns,
    )


def draw_series(
    clean: np.ndarray, pixel_size: float, seed: int, n_frames: int, size: int = 256
) -> np.ndarray:
    """Poisson frames of a drifting, randomly placed crop of a clean image (counts, uint16)."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    total = rng.uniform(-1.5, 1.5, 2)
    margin = (clean.shape[0] - size) // 2
    r0, c0 = margin + rng.integers(-margin // 2, margin // 2 + 1, 2)
    frames = np.empty((n_frames, size, size), dtype=np.uint16)
    for t in range(n_frames):
        shift = total * t / max(n_frames - 1, 1) / pixel_size
        moved = ndimage.shift(clean, shift, order=1, mode="nearest")
        frames[t] = rng.poisson(np.clip(moved[r0 : r0 + size, c0 : c0 + size], 0.0, None))
    return frames


@pytest.fixture(scope="session")
def coarse_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The coarse-grid dataset folder."""
    return build_dataset(tmp_path_factory.mktemp("match") / "coarse")


@pytest.fixture(scope="session")
def series_sources() -> Sources:
    """Held-out clean images of another structure."""
    return build_sources()
