"""Fixtures of the training tests (the smoke dataset itself comes from tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sbdenoise.training.spec import TrainSpec


@pytest.fixture
def tiny_spec(smoke_dataset: Path) -> TrainSpec:
    """A spec that trains a 2-scale, 4-channel UNet on 32 px crops (milliseconds per step)."""
    return TrainSpec(
        dataset=str(smoke_dataset),
        architecture="unet",
        architecture_kwargs={"scales": 2, "base_channels": 4},
        crop=32,
        batch=2,
        steps=12,
        validate_every=4,
        log_every=2,
        val_crops=4,
        dose_range=None,
        normalization="fixed",
    )


@pytest.fixture
def range_spec(tiny_spec: TrainSpec) -> TrainSpec:
    """:func:`tiny_spec` with the default dose handling: doses drawn per crop, frame-mean input."""
    return tiny_spec.model_copy(update={"dose_range": (40.0, 400.0), "normalization": "frame_mean"})


def tiny_cli_options(steps: int, validate_every: int) -> list[str]:
    """Options of ``sbdenoise train`` for the network and crops of :func:`tiny_spec`."""
    return [
        "--scales", "2", "--base-channels", "4", "--crop", "32", "--batch", "2",
        "--steps", str(steps), "--validate-every", str(validate_every),
        "--threads", "1", "--quiet",
    ]  # fmt: skip
