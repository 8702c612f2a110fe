"""Mixed training sources: a second dataset in steps of its own, with its own crop and batch."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
import typer
from rich.console import Console

from sbdenoise.cli.train import build_spec, parse_mixed_source
from sbdenoise.nn.model_file import read_card
from sbdenoise.training import TrainSpec, run_folder, train
from sbdenoise.training.data import load_training_data, load_training_sources
from sbdenoise.training.trainer import SPEC_NAME


@pytest.fixture
def mixed_spec(range_spec: TrainSpec) -> TrainSpec:
    """Two steps of 2 crops of 32 px from the smoke set, then one of 1 crop of 48 px."""
    wide = {"dataset": range_spec.dataset, "crop": 48, "batch": 1, "share": 1}
    return TrainSpec.model_validate({**range_spec.model_dump(), "share": 2, "mix": [wide]})


def test_cycle_and_source_specs(mixed_spec):
    assert mixed_spec.source_cycle() == (0, 0, 1)
    assert mixed_spec.source_spec(0) is mixed_spec
    wide = mixed_spec.source_spec(1)
    assert (wide.crop, wide.batch, wide.mix, wide.share) == (48, 1, [], 1)
    assert wide.seed == mixed_spec.seed and wide.vacuum_weight == mixed_spec.vacuum_weight
    assert TrainSpec(dataset="a").source_cycle() == (0,)


def test_mix_needs_a_dose_range(tiny_spec):
    with pytest.raises(ValueError, match="dose range"):
        TrainSpec.model_validate(
            {
                **tiny_spec.model_dump(),
                "mix": [{"dataset": tiny_spec.dataset, "crop": 48, "batch": 1}],
            }
        )


def test_each_step_draws_from_its_source_as_a_single_source_run_would(mixed_spec):
    sources = load_training_sources(mixed_spec, multiple=4)
    assert [sources.source_of_step(k) for k in range(6)] == [0, 0, 1, 0, 0, 1]
    shapes = [tuple(sources.weighted_batch(k)[0].shape) for k in range(3)]
    assert shapes == [(2, 1, 32, 32), (2, 1, 32, 32), (1, 1, 48, 48)]
    alone = load_training_data(mixed_spec.source_spec(1), multiple=4)
    for mixed, single in zip(
        sources.weighted_batch(5), alone.weighted_batch(mixed_spec.source_spec(1), 5), strict=True
    ):
        assert torch.equal(mixed, single)
    # only the spec's own dataset is judged; a mixed source builds no validation crops but
    # holds out the same images as it would alone
    assert sources.primary.validation is not None and sources.sources[1].validation is None
    assert np.array_equal(sources.sources[1].train_indices, alone.train_indices)
    assert alone.validation is not None
    # every source at the primary's working grid and dose scaling
    assert sources.sources[1].sampling == pytest.approx(sources.primary.sampling)
    assert sources.sources[1].dose_range_working == sources.primary.dose_range_working
    # an epoch covers the pixels of both sources with the cycle's mean pixels per step
    pixels = 2 * sources.primary.train_images.numel()
    per_step = (2 * 32**2 * 2 + 48**2) / 3
    assert sources.steps_per_epoch() == pytest.approx(pixels / per_step, abs=1)
    assert "each cycle of 3 steps: 2 of 2 crops of 32 px" in sources.describe()


def test_a_single_source_is_the_plain_data(range_spec):
    sources = load_training_sources(range_spec, multiple=4)
    assert len(sources.sources) == 1 and sources.describe() == ""
    plain = sources.primary.weighted_batch(range_spec, 3)
    for mixed, single in zip(sources.weighted_batch(3), plain, strict=True):
        assert torch.equal(mixed, single)
    assert sources.steps_per_epoch() == sources.primary.steps_per_epoch(32, 2)


def test_mixed_run_trains_records_the_mix_and_resumes(mixed_spec, tmp_path):
    out = io.StringIO()
    spec = mixed_spec.model_copy(update={"steps": 6, "validate_every": 3})
    first = train(
        spec,
        tmp_path / "m",
        show_progress=False,
        threads=1,
        stop_at_step=3,
        console=Console(file=out, width=300),
    )
    assert first.step == 3
    assert "Mixed sources, each cycle of 3 steps" in out.getvalue()
    assert TrainSpec.from_yaml(run_folder(tmp_path / "m") / SPEC_NAME) == spec
    result = train(spec, tmp_path / "m", show_progress=False, threads=1, console=Console(file=out))
    assert result.resumed_from == 3 and result.step == 6
    card = read_card(result.model_path)
    assert card.training_data["crop_px"] == 48 and card.training_data["own_crop_px"] == 32
    (mix,) = card.training_data["mix"]
    assert (mix["crop_px"], mix["batch"], mix["share"]) == (48, 1, 1)
    assert mix["n_train_images"] == card.training_data["n_train_images"]


def test_cli_mix_option(tmp_path):
    spec = build_spec(tmp_path, mix=[f"{tmp_path}/wide,crop=256,batch=2,share=3"], share=2, steps=5)
    assert spec.share == 2 and spec.source_cycle() == (0, 0, 1, 1, 1)
    (source,) = spec.mix
    assert source.dataset == str((tmp_path / "wide").resolve())
    assert (source.crop, source.batch, source.share) == (256, 2, 3)
    assert parse_mixed_source("data,batch=1,crop=48") == {
        "dataset": str(Path("data").resolve()),
        "batch": 1,
        "crop": 48,
    }
    for bad, message in (
        ("data,crop=48", "give batch"),
        ("data,crop=48,batch=two", "is not crop"),
        ("crop=48,batch=2", "expected DATASET"),
        ("data,crop=48,batch=2,size=3", "is not crop"),
    ):
        with pytest.raises(typer.BadParameter, match=message):
            parse_mixed_source(bad)
