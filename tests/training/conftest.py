"""Fixtures of the training tests: one small simulated dataset shared by the whole session."""

from __future__ import annotations

from pathlib import Path

import pytest

from sbdenoise.training.spec import TrainSpec


@pytest.fixture(scope="session")
def smoke_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``smoke`` preset simulated once: 6 images of 384 px at 0.0609 A/px (about 10 s).

    Splits by structure: 2 train, 2 val and 2 test images; dose 0.45 e-/px.
    """
    from sbdenoise.simulate.presets import get_preset
    from sbdenoise.simulate.runner import run_simulation

    out = tmp_path_factory.mktemp("smoke") / "dataset"
    run_simulation(get_preset("smoke"), out, scheduler="synchronous", show_progress=False)
    return out


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
    )
