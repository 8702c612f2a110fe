"""Configuration models (pydantic) with YAML round-trip: optics, detector, specimens, datasets.

User-facing units are the microscopist's: defocus and focal spread in nm, Cs in um, C5 in mm,
convergence in mrad, vibration in pm, pixel size in angstrom, dose in e-/px. Conversion to abTEM's
angstrom-based coefficients happens in one place, :meth:`Optics.abtem_aberrations`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: Surface defect classes of a structure (:func:`sbdenoise.specimen.defects.apply_defect`).
DEFECTS: tuple[str, ...] = (
    "none",
    "remove_one",
    "remove_two",
    "half_occupancy",
    "single_atom",
    "adatom",
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def to_yaml(self, path: str | Path | None = None) -> str:
        """Serialise to YAML (and write it when a path is given)."""
        text = yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)
        if path is not None:
            Path(path).write_text(text)
        return text

    @classmethod
    def from_yaml(cls, source: str | Path):
        """Load from a YAML file path or a YAML string."""
        text = Path(source).read_text() if Path(str(source)).suffix in (".yaml", ".yml") else source
        return cls.model_validate(yaml.safe_load(text) or {})


class Optics(_Model):
    """Objective-lens optics of an aberration-corrected HRTEM (defaults: the reference case)."""

    voltage_kv: float = Field(300.0, gt=0, description="Acceleration voltage, kV.")
    cs_um: float = Field(-13.0, description="Spherical aberration C3, micrometres.")
    c5_mm: float = Field(5.0, description="Fifth-order spherical aberration C5, millimetres.")
    defocus_nm: list[float] = Field(
        default_factory=lambda: [float(d) for d in range(-20, 1)],
        description=(
            "Defocus values, nm, in abTEM's sign (defocus = -C10, positive = underfocus). "
            "With negative Cs the bright-atom (NCSI) images are at overfocus, so the papers' "
            "'0 to 20 nm' (overfocus positive) is -20 to 0 nm here."
        ),
    )
    focal_spread_nm: float = Field(4.0, ge=0, description="Focal spread (1/e width), nm.")
    convergence_mrad: float = Field(0.2, ge=0, description="Beam convergence semi-angle, mrad.")
    vibration_pm: float = Field(50.0, ge=0, description="Isotropic vibration (Gaussian sd), pm.")

    def abtem_aberrations(self, defocus_nm: float) -> dict[str, float]:
        """Aberration coefficients in abTEM's convention (angstrom): C10, C30, C50."""
        return {"C10": -10.0 * defocus_nm, "C30": 1e4 * self.cs_um, "C50": 1e7 * self.c5_mm}


class Detector(_Model):
    """Detector sampling and dose."""

    pixel_size: float = Field(0.061, gt=0, description="Detector pixel size, angstrom.")
    dose: float = Field(0.45, gt=0, description="Counts per pixel in vacuum, e-/px.")
    frame_time_ms: float = Field(25.0, gt=0, description="Exposure per frame, ms.")


class Simulation(_Model):
    """Numerical parameters of the multislice (chosen by the convergence benchmark)."""

    sampling: float = Field(0.05, gt=0, description="Multislice grid sampling, angstrom.")
    slice_thickness: float = Field(2.0, gt=0, description="Slice thickness, angstrom.")
    imaging_sampling: float = Field(
        0.15,
        gt=0,
        description=(
            "The exit wave is Fourier-cropped to this sampling (angstrom) before the CTF: the "
            "focal-spread envelope leaves nothing beyond about 2.5 1/A."
        ),
    )
    focal_points: int = Field(7, ge=1, description="Quadrature points over the focal spread.")
    parametrization: Literal["lobato", "kirkland", "peng"] = "lobato"


class SpecimenGrid(_Model):
    """The family of atomic models: every combination is one structure."""

    structure_file: str | None = Field(
        None, description="Any file ASE reads (CIF, ...) used instead of the built-in Pt/CeO2."
    )
    cell_nm: float = Field(5.3, gt=1, description="Lateral cell size (x and y), nm.")
    particle_diameter_nm: list[float] = Field(default_factory=lambda: [1.0, 2.0, 3.0])
    interface_column: list[bool] = Field(default_factory=lambda: [True, False])
    defects: list[str] = Field(default_factory=lambda: list(DEFECTS))
    support_thickness_nm: list[float] = Field(default_factory=lambda: [3.0, 4.0, 5.0, 6.0])
    support_depth_nm: float = Field(1.5, gt=0, description="Support extent below its surface, nm.")
    step_edge: list[bool] = Field(default_factory=lambda: [False, True])
    tilt_deg: list[tuple[float, float]] = Field(
        default_factory=lambda: [(0.0, 0.0), (2.0, 0.0), (0.0, 2.0), (4.0, 0.0), (0.0, 4.0)],
        description="Specimen tilts (about x, about y), degrees.",
    )

    @field_validator("defects")
    @classmethod
    def _known_defects(cls, value: list[str]) -> list[str]:
        unknown = set(value) - set(DEFECTS)
        if unknown:
            raise ValueError(f"unknown defects {sorted(unknown)}; choose from {DEFECTS}")
        return value


class Nuisance(_Model):
    """Ranges from which nuisance parameters are drawn per image (None: use the fixed value)."""

    focal_spread_nm: tuple[float, float] | None = None
    vibration_pm: tuple[float, float] | None = None
    dose: tuple[float, float] | None = None
    pixel_size_rel: tuple[float, float] | None = Field(
        None, description="Relative pixel-size change, e.g. (-0.05, 0.05)."
    )


class DatasetSpec(_Model):
    """Everything that defines a simulated dataset; the same spec and seed give the same data."""

    name: str = "dataset"
    seed: int = 0
    n_structures: int | None = Field(
        None, description="Draw this many structures from the grid (None: all combinations)."
    )
    image_size: int | None = Field(
        None, description="Crop images to this many pixels (square, centred); None: whole cell."
    )
    split: tuple[float, float, float] = (0.8, 0.1, 0.1)
    optics: Optics = Field(default_factory=Optics)
    detector: Detector = Field(default_factory=Detector)
    simulation: Simulation = Field(default_factory=Simulation)
    specimen: SpecimenGrid = Field(default_factory=SpecimenGrid)
    nuisance: Nuisance = Field(default_factory=Nuisance)

    @model_validator(mode="after")
    def _check_split(self) -> DatasetSpec:
        if abs(sum(self.split) - 1.0) > 1e-6 or min(self.split) < 0:
            raise ValueError(f"split fractions must be non-negative and sum to 1, got {self.split}")
        return self
