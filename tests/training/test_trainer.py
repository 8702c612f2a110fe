"""The trainer: log, model file and card, plateau and early stopping, run folder, CLI."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
import torch
import typer
from rich.console import Console
from typer.testing import CliRunner

from sbdenoise.cli.train import build_spec, register
from sbdenoise.errors import InputError
from sbdenoise.nn.model_file import load_model
from sbdenoise.training import TrainSpec, run_folder, train
from sbdenoise.training.checkpoint import CHECKPOINT_NAME, read_checkpoint
from sbdenoise.training.trainer import LOG_COLUMNS, LOG_NAME, SPEC_NAME
from tests.training.conftest import tiny_cli_options


def _rows(model) -> list[dict[str, str]]:
    with open(run_folder(model) / LOG_NAME, newline="") as handle:
        return list(csv.DictReader(handle))


def test_training_writes_log_model_and_card(tiny_spec, tmp_path):
    out = io.StringIO()
    console = Console(file=out, width=200)
    result = train(tiny_spec, tmp_path / "m", show_progress=False, threads=1, console=console)
    text = out.getvalue()
    assert "Training on CPU (1 thread per process)" in text
    assert result.step == 12 and result.stop_reason == "steps"
    assert result.model_path == tmp_path / "m.safetensors"
    assert (result.run_dir / SPEC_NAME).exists()
    assert TrainSpec.from_yaml(result.run_dir / SPEC_NAME) == tiny_spec
    rows = _rows(tmp_path / "m")
    assert tuple(rows[0]) == LOG_COLUMNS
    assert [int(r["step"]) for r in rows] == [2, 4, 6, 8, 10, 12]
    assert [int(r["step"]) for r in rows if r["val_psnr_db"]] == [4, 8, 12]
    assert all(float(r["lr"]) == pytest.approx(1e-3) for r in rows)
    seconds = [float(r["seconds"]) for r in rows]
    assert seconds == sorted(seconds)
    best = max(float(r["val_psnr_db"]) for r in rows if r["val_psnr_db"])
    assert result.best_psnr_db == pytest.approx(best, abs=1e-4)
    network, card = load_model(result.model_path)
    assert card.architecture == "unet" and card.architecture_kwargs == {
        "scales": 2,
        "base_channels": 4,
    }
    assert card.sampling == pytest.approx(4 * 0.0609108, rel=1e-4)
    assert card.dose == pytest.approx(0.45 * 16)
    assert card.input_scale == pytest.approx(1 / (0.45 * 16))
    assert card.receptive_field_px > 4
    assert card.receptive_field_angstrom == pytest.approx(card.receptive_field_px * card.sampling)
    assert card.metrics["val_psnr_db"] == pytest.approx(result.best_psnr_db)
    assert card.metrics["best_step"] == result.best_step
    assert card.metrics["val_psnr_noisy_db"] == pytest.approx(15.5, abs=0.5)
    assert card.optics["cs_um"] == -13.0 and card.defocus_nm == [-12.0, -4.0]
    assert card.training_data["n_train_images"] == 2 and card.training_data["binning"] == 4
    with torch.no_grad():
        output = network.eval()(torch.ones(1, 1, 32, 32))
    assert output.shape == (1, 1, 32, 32) and torch.isfinite(output).all()


def test_loss_decreases(tiny_spec, tmp_path):
    spec = tiny_spec.model_copy(update={"steps": 40, "validate_every": 40, "log_every": 10})
    train(spec, tmp_path / "m", show_progress=False, threads=1)
    losses = [float(r["train_loss"]) for r in _rows(tmp_path / "m")]
    assert losses[-1] < 0.8 * losses[0]


def _stalled(spec: TrainSpec, **update) -> TrainSpec:
    """``spec`` validated every 2 steps where no validation can improve by 100 dB (a plateau)."""
    plateau = {"validate_every": 2, "min_improvement_db": 100.0, "lr_patience": 1}
    return spec.model_copy(update={**plateau, **update})


def test_plateau_halves_lr_then_early_stopping(tiny_spec, tmp_path):
    spec = _stalled(tiny_spec, steps=100, early_stop_patience=3)
    result = train(spec, tmp_path / "m", show_progress=False, threads=1)
    assert result.stop_reason == "early stopping" and result.step == 8
    assert result.best_step == 2
    lrs = {int(r["step"]): float(r["lr"]) for r in _rows(tmp_path / "m")}
    assert lrs == {2: 1e-3, 4: 1e-3, 6: 5e-4, 8: 5e-4}


def _rates_of_a_whole_run_resumed_alike(spec: TrainSpec, tmp_path, pause_at: int) -> dict:
    """Learning rate by logged step of ``spec`` run whole; asserts that the same run paused at
    ``pause_at`` and resumed logs the same rates, and that the whole run went to its end."""
    whole = train(spec, tmp_path / "whole", show_progress=False, threads=1)
    assert whole.stop_reason == "steps" and whole.step == spec.steps
    lrs = {int(r["step"]): float(r["lr"]) for r in _rows(tmp_path / "whole")}
    paused = train(spec, tmp_path / "split", show_progress=False, threads=1, stop_at_step=pause_at)
    assert paused.step == pause_at
    train(spec, tmp_path / "split", show_progress=False, threads=1)
    assert {int(r["step"]): float(r["lr"]) for r in _rows(tmp_path / "split")} == lrs
    return lrs


def test_warm_up_ramps_the_learning_rate_and_a_resumed_run_stays_on_the_ramp(tiny_spec, tmp_path):
    spec = tiny_spec.model_copy(
        update={"steps": 8, "warmup_steps": 4, "log_every": 1, "validate_every": 2}
    )
    lrs = _rates_of_a_whole_run_resumed_alike(spec, tmp_path, pause_at=3)
    assert lrs == pytest.approx(
        {1: 2.5e-4, 2: 5e-4, 3: 7.5e-4, 4: 1e-3, 5: 1e-3, 6: 1e-3, 7: 1e-3, 8: 1e-3}
    )


def test_the_plateau_schedule_waits_for_the_end_of_the_warm_up(tiny_spec, tmp_path):
    # without a warm-up the lr halves at step 6 (test_plateau_halves_lr_then_early_stopping);
    # with one, the schedule starts counting at 6
    spec = _stalled(tiny_spec, steps=10, warmup_steps=4, early_stop_patience=20)
    train(spec, tmp_path / "m", show_progress=False, threads=1)
    lrs = {int(r["step"]): float(r["lr"]) for r in _rows(tmp_path / "m")}
    # validations at 2 and 4 fall in the warm-up; 6 is the schedule's first, 8 its second
    assert lrs == pytest.approx({2: 5e-4, 4: 1e-3, 6: 1e-3, 8: 1e-3, 10: 5e-4})


def test_cooldown_lowers_the_rate_linearly_and_a_resumed_run_keeps_its_line(tiny_spec, tmp_path):
    # a floor above the cooldown's last rates: it must not stop the run during the cooldown
    spec = tiny_spec.model_copy(
        update={"steps": 8, "cooldown_steps": 4, "log_every": 1, "validate_every": 2}
    )
    spec = spec.model_copy(update={"min_lr": 6e-4})
    lrs = _rates_of_a_whole_run_resumed_alike(spec, tmp_path, pause_at=6)
    assert lrs == pytest.approx(
        {1: 1e-3, 2: 1e-3, 3: 1e-3, 4: 1e-3, 5: 1e-3, 6: 7.5e-4, 7: 5e-4, 8: 2.5e-4}
    )


def test_cooldown_starts_from_the_rate_the_plateau_schedule_left(tiny_spec, tmp_path):
    # the plateau halves the lr at step 6 (test_plateau_halves_lr_then_early_stopping); the
    # cooldown of the last 2 steps goes on from that rate and the schedule no longer acts
    spec = _stalled(tiny_spec, steps=10, cooldown_steps=2, early_stop_patience=20)
    train(spec, tmp_path / "m", show_progress=False, threads=1)
    lrs = {int(r["step"]): float(r["lr"]) for r in _rows(tmp_path / "m")}
    assert lrs == pytest.approx({2: 1e-3, 4: 1e-3, 6: 5e-4, 8: 5e-4, 10: 2.5e-4})


def test_cooldown_must_fit_in_the_run(tiny_spec):
    with pytest.raises(ValueError, match="do not fit"):
        TrainSpec.model_validate(
            {**tiny_spec.model_dump(), "steps": 10, "warmup_steps": 6, "cooldown_steps": 5}
        )


def test_a_branch_goes_on_from_another_runs_checkpoint_and_leaves_it_as_it_was(tiny_spec, tmp_path):
    spec = tiny_spec.model_copy(
        update={"deterministic": True, "steps": 8, "validate_every": 2, "ema_decay": 0.9}
    )
    train(spec, tmp_path / "main", show_progress=False, threads=1, stop_at_step=4)
    checkpoint = run_folder(tmp_path / "main") / CHECKPOINT_NAME
    before = checkpoint.read_bytes()
    branch = spec.model_copy(update={"branch_from": str(run_folder(tmp_path / "main"))})
    result = train(branch, tmp_path / "branch", show_progress=False, threads=1)
    assert checkpoint.read_bytes() == before
    assert result.step == 8 and result.resumed_from is None and result.best_step > 4
    assert [int(r["step"]) for r in _rows(tmp_path / "branch")] == [6, 8]
    _, card = load_model(result.model_path)
    assert card.training_data["branched_from"] == {
        "checkpoint": str(checkpoint.resolve()),
        "step": 4,
    }
    # with the same options the branch is the other run continued: same weights, same moments
    train(spec, tmp_path / "main", show_progress=False, threads=1)
    a = read_checkpoint(checkpoint)
    b = read_checkpoint(run_folder(tmp_path / "branch") / CHECKPOINT_NAME)
    for key in ("model", "averaged"):
        for name, value in a[key].items():
            assert torch.equal(value, b[key][name]), (key, name)


def test_a_branch_goes_on_at_the_rate_its_checkpoint_reached_not_its_own_lr(tiny_spec, tmp_path):
    spec = tiny_spec.model_copy(update={"steps": 8, "validate_every": 2, "log_every": 1})
    train(spec, tmp_path / "main", show_progress=False, threads=1, stop_at_step=4)
    branch = spec.model_copy(update={"branch_from": str(run_folder(tmp_path / "main")), "lr": 5e-5})
    train(branch, tmp_path / "branch", show_progress=False, threads=1)
    assert {float(r["lr"]) for r in _rows(tmp_path / "branch")} == {spec.lr}


def test_a_branch_refuses_what_it_cannot_go_on_from(tiny_spec, tmp_path):
    spec = tiny_spec.model_copy(update={"steps": 4})
    train(spec, tmp_path / "main", show_progress=False, threads=1)
    source = str(run_folder(tmp_path / "main"))
    with pytest.raises(InputError, match="no training checkpoint"):
        train(
            spec.model_copy(update={"branch_from": str(tmp_path / "nothing")}),
            tmp_path / "a",
            show_progress=False,
            threads=1,
        )
    wider = spec.model_copy(
        update={
            "branch_from": source,
            "steps": 8,
            "architecture_kwargs": {"scales": 2, "base_channels": 8},
        }
    )
    with pytest.raises(InputError, match="different network"):
        train(wider, tmp_path / "b", show_progress=False, threads=1)
    with pytest.raises(InputError, match="give more --steps"):
        train(
            spec.model_copy(update={"branch_from": source}),
            tmp_path / "c",
            show_progress=False,
            threads=1,
        )


def test_learning_rate_floor_stops(tiny_spec, tmp_path):
    spec = tiny_spec.model_copy(
        update={
            "steps": 100,
            "validate_every": 2,
            "min_improvement_db": 100.0,
            "lr_patience": 0,
            "min_lr": 6e-4,
        }
    )
    result = train(spec, tmp_path / "m", show_progress=False, threads=1)
    assert result.stop_reason == "learning rate floor" and result.step == 4


def test_resume_does_not_need_the_warm_start_repeated(tiny_spec, tmp_path):
    first = tiny_spec.model_copy(update={"steps": 2})
    train(first, tmp_path / "a", show_progress=False, threads=1)
    warm = first.model_copy(update={"init_from": str(tmp_path / "a.safetensors")})
    train(warm, tmp_path / "b", show_progress=False, threads=1)
    resumed = train(
        warm.model_copy(update={"steps": 2, "init_from": None}),
        tmp_path / "b",
        show_progress=False,
        threads=1,
    )
    assert resumed.step == 2
    with pytest.raises(InputError, match="different spec"):
        train(
            warm.model_copy(update={"init_from": str(tmp_path / "other.safetensors")}),
            tmp_path / "b",
            show_progress=False,
            threads=1,
        )


def test_other_spec_in_same_run_folder_is_refused(tiny_spec, tmp_path):
    train(tiny_spec.model_copy(update={"steps": 2}), tmp_path / "m", show_progress=False, threads=1)
    with pytest.raises(InputError, match=r"different spec \(seed: 0 -> 1"):
        train(
            tiny_spec.model_copy(update={"steps": 2, "seed": 1}),
            tmp_path / "m",
            show_progress=False,
        )


def test_crop_not_multiple_of_network_is_refused(tiny_spec, tmp_path):
    spec = tiny_spec.model_copy(update={"architecture_kwargs": {"scales": 4, "base_channels": 4}})
    spec = spec.model_copy(update={"crop": 36})
    with pytest.raises(InputError, match="multiple of 8"):
        train(spec, tmp_path / "m", show_progress=False)


def test_build_spec_parses_options(tmp_path):
    spec_file = tmp_path / "base.yaml"
    TrainSpec(dataset=str(tmp_path), architecture_kwargs={"scales": 4}, steps=9).to_yaml(spec_file)
    spec = build_spec(
        None,
        spec_file,
        base_channels=16,
        contrast=["white,black"],
        structures=["0,3", "5"],
        defocus="-6,-20",
        thickness="3:5",
        scale_range="none",
        epochs=2.0,
        vacuum_weight=30.0,
        edge_weight=5.0,
        edge_width_angstrom=3.0,
        vacuum_crops=0.05,
        freeze_batch_norm=True,
        warmup_steps=500,
        loss_norm="l1",
    )
    assert spec.dataset == str(tmp_path.resolve())
    assert spec.loss_norm == "l1" and build_spec(tmp_path, spec_file).loss_norm == "l2"
    assert spec.warmup_steps == 500 and build_spec(tmp_path, spec_file).warmup_steps == 0
    assert spec.freeze_batch_norm and not build_spec(tmp_path, spec_file).freeze_batch_norm
    assert spec.vacuum_weight == 30.0 and spec.vacuum_crops == 0.05
    assert spec.edge_weight == 5.0 and spec.edge_width_angstrom == 3.0
    assert spec.architecture_kwargs == {"scales": 4, "base_channels": 16}
    assert spec.steps is None and spec.epochs == 2.0
    assert spec.filters.contrast == ["white", "black"]
    assert spec.filters.structure_ids == [0, 3, 5]
    assert spec.filters.defocus_nm == (-20.0, -6.0)
    assert spec.filters.support_thickness_nm == (3.0, 5.0)
    assert spec.augmentation.scale is None and spec.augmentation.rotation_deg == 45.0
    dncnn = build_spec(tmp_path, spec_file, architecture="dncnn")
    assert dncnn.architecture == "dncnn" and dncnn.architecture_kwargs == {}


def test_cli_train_and_refusal(smoke_dataset, tmp_path):
    app = typer.Typer()
    register(app)

    @app.callback()
    def main() -> None:
        """Test app."""

    model = tmp_path / "cli_model"
    args = [
        "train",
        str(smoke_dataset),
        "-o",
        str(model),
        *tiny_cli_options(4, 2),
        "--defocus",
        "-20,-6",
    ]
    runner = CliRunner()
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Model:" in result.output and "best validation PSNR" in result.output
    spec = TrainSpec.from_yaml(run_folder(model) / SPEC_NAME)
    assert spec.filters.defocus_nm == (-20.0, -6.0) and spec.steps == 4
    assert np.isclose(spec.augmentation.rotation_deg, 45.0)
    assert (tmp_path / "cli_model.safetensors").exists()
    refused = runner.invoke(app, [*args, "--seed", "3"])
    assert refused.exit_code == 2
    assert "different spec" in refused.output


def test_init_from_starts_from_the_given_weights(tiny_spec, tmp_path):
    first = train(tiny_spec, tmp_path / "first", show_progress=False, threads=1)
    source, _ = load_model(first.model_path)
    warm = tiny_spec.model_copy(update={"init_from": str(first.model_path), "lr": 1e-12})
    second = train(warm, tmp_path / "second", show_progress=False, threads=1)
    trained, _ = load_model(second.model_path)
    trained_parameters = dict(trained.named_parameters())
    for name, parameter in source.named_parameters():  # BN running statistics keep moving
        torch.testing.assert_close(trained_parameters[name], parameter, atol=1e-6, rtol=0)
    # the same spec without init_from starts from its seed: different weights
    cold, _ = load_model(
        train(
            tiny_spec.model_copy(update={"lr": 1e-12}),
            tmp_path / "cold",
            show_progress=False,
            threads=1,
        ).model_path
    )
    conv = next(n for n, t in source.state_dict().items() if t.ndim == 4)
    assert not torch.allclose(cold.state_dict()[conv], source.state_dict()[conv])


def test_frozen_batch_norms_keep_the_starts_statistics_and_train_the_rest(tiny_spec, tmp_path):
    first = train(tiny_spec, tmp_path / "first", show_progress=False, threads=1)
    source, _ = load_model(first.model_path)
    buffers = {n: b for n, b in source.named_buffers() if "running" in n}
    assert buffers
    runs = {}
    for frozen in (True, False):
        warm = tiny_spec.model_copy(
            update={"init_from": str(first.model_path), "freeze_batch_norm": frozen, "lr": 1e-3}
        )
        runs[frozen], _ = load_model(
            train(warm, tmp_path / f"frozen-{frozen}", show_progress=False, threads=1).model_path
        )
    frozen_buffers = dict(runs[True].named_buffers())
    for name, buffer in buffers.items():  # the running statistics are the start's, exactly
        torch.testing.assert_close(frozen_buffers[name], buffer, atol=0, rtol=0)
    moved = dict(runs[False].named_buffers())
    assert any(not torch.equal(moved[name], buffer) for name, buffer in buffers.items())
    conv = next(n for n, t in source.state_dict().items() if t.ndim == 4)
    assert not torch.allclose(runs[True].state_dict()[conv], source.state_dict()[conv])


def test_init_from_refuses_another_architecture(tiny_spec, tmp_path):
    first = train(tiny_spec, tmp_path / "first", show_progress=False, threads=1)
    other = tiny_spec.model_copy(
        update={
            "init_from": str(first.model_path),
            "architecture_kwargs": {"scales": 3, "base_channels": 4},
        }
    )
    with pytest.raises(InputError, match="same architecture options"):
        train(other, tmp_path / "second", show_progress=False, threads=1)


def test_init_from_a_narrower_unet_widens_it_without_changing_its_output(tiny_spec, tmp_path):
    first = train(tiny_spec, tmp_path / "narrow", show_progress=False, threads=1)
    source, _ = load_model(first.model_path)
    wider = tiny_spec.model_copy(
        update={
            "init_from": str(first.model_path),
            "architecture_kwargs": {"scales": 2, "base_channels": 6},
            "lr": 1e-12,
            "steps": 1,
            "validate_every": 1,
        }
    )
    second = train(wider, tmp_path / "wide", show_progress=False, threads=1)
    widened, card = load_model(second.model_path)
    assert card.architecture_kwargs["base_channels"] == 6
    assert widened.base_channels == 6
    # lr ~ 0 leaves the weights; batch statistics (train mode) ignore the moved running averages
    inputs = torch.rand(2, 1, 32, 32)
    source.train()
    widened.train()
    with torch.no_grad():
        torch.testing.assert_close(widened(inputs), source(inputs), atol=1e-3, rtol=1e-3)


def test_time_budget_stops_after_a_final_validation_and_stays_finished(tiny_spec, tmp_path):
    budget = tiny_spec.model_copy(
        update={"steps": 1000, "validate_every": 500, "budget_minutes": 1e-9}
    )
    result = train(budget, tmp_path / "m", show_progress=False, threads=1)
    assert result.stop_reason == "time budget" and result.step == 1
    assert result.best_step == 1  # validated although step 1 is not a validation step
    log = (tmp_path / "m.run" / "log.csv").read_text().splitlines()
    assert log[-1].split(",")[0] == "1" and log[-1].split(",")[3] != ""
    again = train(budget, tmp_path / "m", show_progress=False, threads=1)
    assert again.stop_reason == "already finished" and again.step == 1


def test_a_warm_start_keeps_the_starting_models_working_grid(tiny_spec, tmp_path):
    from sbdenoise.nn.model_file import read_card

    fine = tiny_spec.model_copy(update={"sampling": 2 * 0.061, "steps": 2})  # binning 2, not 4
    first = train(fine, tmp_path / "first", show_progress=False, threads=1)
    assert read_card(first.model_path).sampling == pytest.approx(2 * 0.061, rel=0.01)
    warm = tiny_spec.model_copy(update={"init_from": str(first.model_path), "steps": 2})
    second = train(warm, tmp_path / "second", show_progress=False, threads=1)
    assert read_card(second.model_path).sampling == pytest.approx(2 * 0.061, rel=0.01)
    cold = train(tiny_spec.model_copy(update={"steps": 2}), tmp_path / "cold", show_progress=False)
    assert read_card(cold.model_path).sampling == pytest.approx(4 * 0.061, rel=0.01)
