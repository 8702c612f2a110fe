"""Model files shipped with the package (safetensors weights + JSON model card)."""

from __future__ import annotations

from pathlib import Path

#: File name of the shipped SBD UNet (Pt/CeO2, white contrast, 0.45 e-/px).
SHIPPED_MODEL_NAME = "sbd-unet-pt-ceo2.safetensors"


def shipped_model_path() -> Path | None:
    """Path of the shipped model's weights, or None while no trained model is shipped."""
    path = Path(__file__).parent / SHIPPED_MODEL_NAME
    return path if path.is_file() and path.with_suffix(".json").is_file() else None
