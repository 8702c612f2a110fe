"""The model card: what a model file's network is and what data it was made for.

Saved as JSON beside the safetensors weights (:mod:`sbdenoise.nn.model_file`). Inference reads the
architecture, the working sampling, the input scale and the receptive field from it; people read
the optics, defocus range, training data and test metrics.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator
from torch import nn

from sbdenoise import __version__
from sbdenoise.nn.architectures import ARCHITECTURES
from sbdenoise.nn.receptive_field import measure_receptive_field

__all__ = ["ModelCard", "make_card"]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class ModelCard(BaseModel):
    """Description of a trained denoiser, stored as ``<model>.json``.

    Pixel quantities refer to the *working grid*: the grid the network sees, ``sampling``
    angstrom per pixel, reached from a detector frame by summing blocks of pixels
    (:func:`sbdenoise.nn.sampling.to_working_grid`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    architecture: str = Field(description="Name for sbdenoise.nn.build_model: unet, dncnn, ...")
    architecture_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments for sbdenoise.nn.build_model."
    )
    sampling: float = Field(gt=0, description="Working sampling the model was trained at, A/px.")
    dose: float = Field(
        gt=0,
        description="Vacuum counts per working pixel of the training data, e-/px (at `sampling`).",
    )
    input_scale: float = Field(
        1.0,
        gt=0,
        description=(
            "The network sees counts per working pixel times input_scale; its output divided by "
            "input_scale estimates the expected counts per working pixel."
        ),
    )
    normalization: Literal["fixed", "frame_mean"] = Field(
        "fixed",
        description=(
            "'fixed': the network sees counts times input_scale (single-dose models); "
            "'frame_mean': counts divided by the frame's mean count on the working grid (its "
            "dose estimate), the output multiplied back."
        ),
    )
    dose_range_per_area: tuple[float, float] | None = Field(
        None,
        description=(
            "Vacuum doses per area the model was trained for, e-/A^2 (None: the single dose "
            "`dose` per working pixel)."
        ),
    )
    receptive_field_px: int = Field(ge=1, description="Measured receptive field, working pixels.")
    receptive_field_angstrom: float = Field(ge=0, description="Measured receptive field, A.")
    optics: dict[str, Any] = Field(
        default_factory=dict, description="Optics of the training data (sbdenoise.config.Optics)."
    )
    defocus_nm: list[float] = Field(
        default_factory=list,
        description="Defocus values of the training data, nm (abTEM sign); or [min, max].",
    )
    training_data: dict[str, Any] = Field(
        default_factory=dict,
        description="Dataset name and spec summary, number of images, filters used.",
    )
    metrics: dict[str, Any] = Field(
        default_factory=dict, description="Test metrics, e.g. PSNR and SSIM (peak 1 e-/px)."
    )
    created: str = Field(default_factory=_now, description="Creation time, ISO 8601 (UTC).")
    sbdenoise_version: str = Field(__version__, description="Version of sbdenoise that made it.")

    @field_validator("architecture")
    @classmethod
    def _known_architecture(cls, value: str) -> str:
        if value not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {value!r}; choose from {sorted(ARCHITECTURES)}")
        return value

    def scale_for(self, working_counts: np.ndarray) -> float:
        """Factor that brings a frame's counts per working pixel to network units.

        Parameters
        ----------
        working_counts : numpy.ndarray
            The frame on the working grid, counts per working pixel.

        Returns
        -------
        float
            ``input_scale`` for ``"fixed"`` models; one over the frame's mean count for
            ``"frame_mean"`` models.

        Raises
        ------
        ValueError
            For a ``"frame_mean"`` model and a frame without a positive mean count.
        """
        if self.normalization == "fixed":
            return float(self.input_scale)
        mean = float(np.mean(working_counts, dtype=np.float64))
        if not mean > 0:
            raise ValueError(
                f"the frame's mean count is {mean:.3g}: there is no dose to normalise by"
            )
        return 1.0 / mean

    @property
    def dose_range_working(self) -> tuple[float, float]:
        """Vacuum counts per working pixel the model was trained for, ``(low, high)``, e-/px."""
        if self.dose_range_per_area is not None:
            low, high = self.dose_range_per_area
            return low * self.sampling**2, high * self.sampling**2
        return self.dose, self.dose

    def to_json(self, path: str | Path | None = None) -> str:
        """Serialise to indented JSON (and write it to ``path`` when given, not atomically)."""
        text = json.dumps(self.model_dump(mode="json"), indent=2) + "\n"
        if path is not None:
            Path(path).write_text(text)
        return text

    @classmethod
    def from_json(cls, source: str | Path) -> ModelCard:
        """Load from a ``.json`` file path or a JSON string."""
        text = Path(source).read_text() if str(source).endswith(".json") else str(source)
        return cls.model_validate_json(text)


def make_card(
    module: nn.Module,
    architecture: str,
    architecture_kwargs: dict[str, Any],
    sampling: float,
    dose: float,
    input_scale: float = 1.0,
    **fields: Any,
) -> ModelCard:
    """A card for ``module`` with its receptive field measured now.

    Parameters
    ----------
    module : torch.nn.Module
        The trained network (measured in eval mode on a copy; not modified).
    architecture : str
        Its name for :func:`sbdenoise.nn.build_model`.
    architecture_kwargs : dict
        Its constructor arguments.
    sampling : float
        Working sampling, angstrom per pixel.
    dose : float
        Vacuum counts per working pixel of the training data (e-/px at ``sampling``).
    input_scale : float
        Factor applied to counts before the network.
    **fields
        Other :class:`ModelCard` fields (optics, defocus_nm, training_data, metrics, ...).

    Returns
    -------
    ModelCard
    """
    receptive_field = measure_receptive_field(module)
    return ModelCard(
        architecture=architecture,
        architecture_kwargs=dict(architecture_kwargs),
        sampling=sampling,
        dose=dose,
        input_scale=input_scale,
        receptive_field_px=receptive_field,
        receptive_field_angstrom=receptive_field * sampling,
        **fields,
    )
