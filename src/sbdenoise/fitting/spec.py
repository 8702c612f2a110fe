"""The fit specification: one YAML file for a model of the user's own microscope.

A fit spec names the dataset (a preset with overrides, or a whole dataset spec), the training
options and how the result is judged. Units as elsewhere: pixel size in angstrom per pixel, dose
in electrons per pixel (dataset) or per square angstrom (``train.dose_range``, surface-null
doses), defocus in nanometres.

Example (``examples/fit-my-microscope.yaml``)::

    dataset:
      preset: shipped
      n_structures: 48
      detector: {pixel_size: 0.0488}
    train:
      init_from: shipped
      steps: 1500
      ...
    evaluation: {max_images: 12, baselines: [vst-bm3d]}
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from sbdenoise.config import DatasetSpec, _Model
from sbdenoise.errors import InputError

__all__ = ["EvaluationOptions", "FitSpec", "SurfaceNullOptions", "merge_overrides"]


def merge_overrides(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``overrides`` merged in, nested mappings key by key (a new dict)."""
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_overrides(merged[key], value)
        else:
            merged[key] = value
    return merged


class EvaluationOptions(_Model):
    """How the fitted model is judged on its dataset's test split."""

    max_images: int | None = Field(12, ge=1, description="Test images used (None: all).")
    realisations: int = Field(1, ge=1, description="Poisson draws per test image.")
    baselines: list[str] = Field(
        default_factory=lambda: ["vst-bm3d"],
        description="Classical methods scored on the same frames (registry names).",
    )
    seed: int = Field(0, description="Seed of the test noise.")
    shipped: bool = Field(
        True, description="Score the shipped model too (row sbd-shipped): does the fit pay?"
    )
    elements: list[str] | None = Field(
        default_factory=lambda: ["Pt"],
        description=(
            "Columns whose surface and bulk Jaccard are scored: the particle's (Pt) by default; "
            "None scores every column, the support's faint O columns included, which no method "
            "detects in phase contrast."
        ),
    )


class SurfaceNullOptions(_Model):
    """The fitted model's surface null (see :mod:`sbdenoise.analysis.surface_null`)."""

    enabled: bool = True
    max_images: int = Field(12, ge=1, description="Validation images simulated.")
    doses: list[float] = Field(
        default_factory=lambda: [40.0, 71.0, 121.0, 225.0, 400.0],
        description="Doses of the table, e-/A^2.",
    )

    @field_validator("doses")
    @classmethod
    def _positive(cls, value: list[float]) -> list[float]:
        if not value or min(value) <= 0:
            raise ValueError(f"surface-null doses must be positive e-/A^2, got {value}")
        return value


class FitSpec(_Model):
    """Everything one ``sbdenoise fit`` run does: simulate, train, judge, calibrate."""

    dataset: dict[str, Any] = Field(
        default_factory=lambda: {"preset": "shipped"},
        description="A dataset spec, or 'preset: NAME' with fields of that preset overridden.",
    )
    train: dict[str, Any] = Field(
        default_factory=dict,
        description="Training spec fields (sbdenoise train's YAML), without 'dataset'.",
    )
    evaluation: EvaluationOptions = Field(default_factory=EvaluationOptions)
    surface_null: SurfaceNullOptions = Field(default_factory=SurfaceNullOptions)

    @field_validator("train")
    @classmethod
    def _no_dataset(cls, value: dict[str, Any]) -> dict[str, Any]:
        if "dataset" in value:
            raise ValueError("train must not name a dataset: the fit simulates its own")
        return value

    def dataset_spec(self) -> DatasetSpec:
        """The dataset spec: the preset with its overrides, or the spec as given."""
        from sbdenoise.simulate.presets import get_preset

        fields = dict(self.dataset)
        preset = fields.pop("preset", None)
        if preset is None:
            return DatasetSpec.model_validate(fields)
        try:
            base = get_preset(str(preset)).model_dump(mode="json")
        except (KeyError, ValueError) as error:
            raise InputError(f"unknown dataset preset {preset!r}: {error}") from None
        return DatasetSpec.model_validate(merge_overrides(base, fields))

    def train_spec(self, dataset: str) -> Any:
        """The training spec on the simulated ``dataset`` (an absolute folder path).

        ``init_from: shipped`` starts from the shipped model's weights (a fine-tune: far fewer
        steps than from scratch when the microscope is not too different).
        """
        from sbdenoise.pretrained import shipped_model_path
        from sbdenoise.training.spec import TrainSpec

        fields = {**self.train, "dataset": dataset}
        if fields.get("init_from") == "shipped":
            shipped = shipped_model_path()
            if shipped is None:
                raise InputError("init_from: shipped, but no model ships with this version")
            fields["init_from"] = str(shipped)
        return TrainSpec.model_validate(fields)
