"""Moving average of the weights (``ema_decay``): what is averaged, saved and resumed."""

from __future__ import annotations

import pytest
import torch

from sbdenoise.analysis.calibration import VacuumCandidates
from sbdenoise.errors import FileFormatError, InputError
from sbdenoise.nn.model_file import load_model
from sbdenoise.training.checkpoint import CHECKPOINT_NAME, load_checkpoint, read_checkpoint
from sbdenoise.training.trainer import run_folder, train
from tests.repository_scripts import load_script

DECAY = 0.9
STEPS = 6


def _averaged_weights(checkpoint: dict) -> dict[str, torch.Tensor]:
    """The averaged network's state from a checkpoint (``module.`` prefix removed)."""
    return {
        key.removeprefix("module."): value
        for key, value in checkpoint["averaged"].items()
        if key.startswith("module.")
    }


def test_saved_model_is_the_moving_average_of_the_raw_trajectory(tiny_spec, tmp_path):
    base = tiny_spec.model_copy(
        update={"deterministic": True, "steps": STEPS, "validate_every": STEPS}
    )
    # the raw weights after every step, from a run without averaging paused at each step
    trajectory = []
    for step in range(1, STEPS + 1):
        train(base, tmp_path / "raw", show_progress=False, threads=1, stop_at_step=step)
        trajectory.append(read_checkpoint(run_folder(tmp_path / "raw") / CHECKPOINT_NAME)["model"])
    # floating weights and buffers (BatchNorm statistics) are averaged; integer counters
    # (BatchNorm's num_batches_tracked) play no part in evaluation and are left out
    expected = {
        key: value.clone().double()
        for key, value in trajectory[0].items()
        if value.is_floating_point()
    }
    for weights in trajectory[1:]:
        for key in expected:
            expected[key] = DECAY * expected[key] + (1 - DECAY) * weights[key].double()

    averaged_spec = base.model_copy(update={"ema_decay": DECAY})
    result = train(averaged_spec, tmp_path / "ema", show_progress=False, threads=1)
    content = read_checkpoint(run_folder(tmp_path / "ema") / CHECKPOINT_NAME)
    # averaging leaves the optimisation alone: the raw weights follow the same path
    for key, value in trajectory[-1].items():
        assert torch.equal(content["model"][key], value), key
    network, card = load_model(result.model_path)
    saved = network.state_dict()
    moved = 0
    for key, value in expected.items():
        torch.testing.assert_close(saved[key].double(), value, atol=1e-6, rtol=1e-5)
        if not torch.allclose(value, trajectory[-1][key].double(), atol=1e-6):
            moved += 1
    assert moved > 0  # the model file is not simply the last raw weights
    assert card.metrics["val_psnr_db"] == pytest.approx(result.best_psnr_db)


def test_resumed_average_matches_the_uninterrupted_one(tiny_spec, tmp_path):
    spec = tiny_spec.model_copy(
        update={"deterministic": True, "steps": STEPS, "validate_every": 2, "ema_decay": DECAY}
    )
    whole = train(spec, tmp_path / "whole", show_progress=False, threads=1)
    train(spec, tmp_path / "split", show_progress=False, threads=1, stop_at_step=3)
    resumed = train(spec, tmp_path / "split", show_progress=False, threads=1)
    assert resumed.resumed_from == 3
    a = read_checkpoint(run_folder(tmp_path / "whole") / CHECKPOINT_NAME)["averaged"]
    b = read_checkpoint(run_folder(tmp_path / "split") / CHECKPOINT_NAME)["averaged"]
    assert int(a["n_averaged"]) == STEPS
    for key, value in a.items():
        assert torch.equal(value, b[key]), key
    assert resumed.best_psnr_db == whole.best_psnr_db


def test_a_checkpoint_without_an_average_is_refused_for_one(tiny_spec, tmp_path):
    train(tiny_spec, tmp_path / "plain", show_progress=False, threads=1, stop_at_step=2)
    network = torch.nn.Conv2d(1, 1, 3)
    averaged = torch.optim.swa_utils.AveragedModel(network)
    with pytest.raises(FileFormatError, match="no moving average"):
        load_checkpoint(
            run_folder(tmp_path / "plain") / CHECKPOINT_NAME,
            network,
            torch.optim.Adam(network.parameters()),
            torch.optim.lr_scheduler.ReduceLROnPlateau(torch.optim.Adam(network.parameters())),
            averaged=averaged,
        )


def test_export_average_writes_the_checkpoints_average_at_its_step(tiny_spec, tmp_path):
    export = load_script("export_average")
    # validate at step 2 only: the model file holds the average then, the checkpoint at step 6
    spec = tiny_spec.model_copy(
        update={"deterministic": True, "steps": STEPS, "validate_every": 2, "ema_decay": DECAY}
    )
    spec = spec.model_copy(update={"early_stop_patience": 100, "lr_patience": 50})
    result = train(spec, tmp_path / "run", show_progress=False, threads=1)
    checkpoint = read_checkpoint(run_folder(tmp_path / "run") / CHECKPOINT_NAME)
    log = (run_folder(tmp_path / "run") / "log.csv").read_text().splitlines()
    logged = [line.split(",")[3] for line in log[1:] if line.split(",")[3]]
    output = tmp_path / "exported.safetensors"
    assert export.export_average(tmp_path / "run", output) == STEPS
    network, card = load_model(output)
    for key, value in _averaged_weights(checkpoint).items():
        assert torch.equal(network.state_dict()[key], value), key
    assert card.metrics["exported_step"] == STEPS and card.training_data["steps"] == STEPS
    # the average's own validation at step 6 (validated every 2 steps), from the run's log
    assert card.metrics["best_step"] == STEPS
    assert card.metrics["val_psnr_db"] == pytest.approx(float(logged[-1]), abs=1e-3)
    assert card.architecture == load_model(result.model_path)[1].architecture
    with pytest.raises(SystemExit, match="exists"):
        export.export_average(tmp_path / "run", output)
    plain = tiny_spec.model_copy(update={"steps": 2, "validate_every": 2})
    train(plain, tmp_path / "plain", show_progress=False, threads=1)
    with pytest.raises(SystemExit, match="no moving average"):
        export.export_average(tmp_path / "plain", tmp_path / "other.safetensors")


def test_snapshots_keep_the_averaged_weights_of_their_steps(tiny_spec, tmp_path):
    from sbdenoise.training.trainer import snapshot_path

    spec = tiny_spec.model_copy(
        update={"deterministic": True, "steps": 8, "validate_every": 2, "ema_decay": DECAY}
    )
    model = tmp_path / "kept"
    # a run started without snapshots may add them on resumption (the spec is unchanged)
    train(spec, model, show_progress=False, threads=1, stop_at_step=2)
    train(spec, model, show_progress=False, threads=1, stop_at_step=4, keep_every=4)
    at_four = _averaged_weights(read_checkpoint(run_folder(model) / CHECKPOINT_NAME))
    result = train(spec, model, show_progress=False, threads=1, keep_every=4)
    kept = sorted(p.name for p in snapshot_path(model, 4).parent.glob("*.safetensors"))
    assert kept == ["step-0000004.safetensors", "step-0000008.safetensors"]
    network, card = load_model(snapshot_path(model, 4))
    for key, value in network.state_dict().items():
        if value.is_floating_point():
            assert torch.equal(value, at_four[key]), key
    assert card.metrics["best_step"] == 4
    last, last_card = load_model(snapshot_path(model, 8))
    assert last_card.metrics["best_step"] == 8
    # the step-8 snapshot moved on from step 4's weights
    assert any(
        not torch.equal(value, at_four[key])
        for key, value in last.state_dict().items()
        if value.is_floating_point()
    )
    assert result.step == 8
    # snapshots come with their validation: a period that misses the validations is refused
    with pytest.raises(InputError, match="multiple of the steps between validations"):
        train(spec, tmp_path / "odd", show_progress=False, threads=1, keep_every=3)
    assert not (tmp_path / "odd.run").exists()  # refused before the run folder was written


def test_judge_snapshots_scores_each_snapshot_once(tiny_spec, tmp_path, monkeypatch):
    import csv
    import os

    judge = load_script("judge_snapshots")
    spec = tiny_spec.model_copy(update={"steps": 4, "validate_every": 2, "ema_decay": DECAY})
    model = tmp_path / "run"
    train(spec, model, show_progress=False, threads=1, keep_every=2)
    output = tmp_path / "judged"
    judge.main(model, output)
    with output.with_suffix(".csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [int(row["step"]) for row in rows] == [2, 4]
    log = (run_folder(model) / "log.csv").read_text().splitlines()[1:]
    validated = {int(v[0]): float(v[3]) for v in (line.split(",") for line in log) if v[3]}
    for row in rows:
        assert float(row["val_psnr_db"]) == pytest.approx(validated[int(row["step"])], abs=1e-3)
        per_frame = float(row["vacuum_per_frame"])
        assert per_frame == pytest.approx(int(row["vacuum_total"]) / judge.SELECTION_FRAMES)
        assert 0 <= int(row["vacuum_frames_with_candidates"]) <= judge.SELECTION_FRAMES
    assert "| 4 |" in output.with_suffix(".md").read_text()
    # a second pass judges only what changed (here: one snapshot rewritten)
    judged = []
    monkeypatch.setattr(
        judge,
        "judge",
        lambda path: (
            judged.append(path.name)
            or {
                "step": 4,
                "val_psnr_db": 0.0,
                "vacuum_per_frame": 9.0,
                "vacuum_total": 270,
                "vacuum_frames_with_candidates": 3,
            }
        ),
    )
    snapshot = judge.run_folder(model) / judge.SNAPSHOT_FOLDER / "step-0000004.safetensors"
    os.utime(snapshot, (1, 1))
    judge.main(model, output)
    assert judged == ["step-0000004.safetensors"]
    with pytest.raises(Exception, match="no snapshots"):
        judge.main(tmp_path / "none", tmp_path / "none-judged")
    # a grid of steps: only the snapshots at multiples of --every from --first are judged
    judged.clear()
    judge.main(model, tmp_path / "grid", every=4, first=0)
    assert judged == ["step-0000004.safetensors"]
    judged.clear()
    judge.main(model, tmp_path / "late", every=1, first=3)
    assert judged == ["step-0000004.safetensors"]
    with pytest.raises(Exception, match="no snapshots"):
        judge.main(model, tmp_path / "empty", every=3, first=0)


def test_average_snapshots_writes_the_mean_of_a_window_of_snapshots(tiny_spec, tmp_path, capsys):
    average = load_script("average_snapshots")
    spec = tiny_spec.model_copy(update={"steps": 6, "validate_every": 2, "ema_decay": DECAY})
    model = tmp_path / "run"
    train(spec, model, show_progress=False, threads=1, keep_every=2)
    window = average.window_snapshots(model, 4, 6)
    assert [path.name for path in window] == [
        "step-0000004.safetensors",
        "step-0000006.safetensors",
    ]
    output = tmp_path / "mean.safetensors"
    average.main([str(model), "--first", "4", "--last", "6", "-o", str(output), "--threads", "1"])
    states = [load_model(path)[0].state_dict() for path in window]
    network, card = load_model(output)
    for key, value in network.state_dict().items():
        if value.is_floating_point():
            expected = (states[0][key].double() + states[1][key].double()) / 2
            torch.testing.assert_close(value.double(), expected, rtol=1e-6, atol=1e-7)
        else:
            assert torch.equal(value, states[1][key])  # counters: the last snapshot's
    assert card.metrics["averaged_steps"] == [4, 6]
    reported = float(capsys.readouterr().out.split("validation (fp32) ")[1].split(" dB")[0])
    assert card.metrics["val_psnr_db"] == pytest.approx(reported, abs=1e-3)
    with pytest.raises(SystemExit, match="exists"):
        average.main([str(model), "--first", "4", "--last", "6", "-o", str(output)])
    with pytest.raises(SystemExit, match="1 snapshot"):
        average.window_snapshots(model, 6, 6)


def test_interpolate_models_writes_and_judges_points_between_a_start_and_an_end(
    tiny_spec, tmp_path, monkeypatch, capsys
):
    interpolate = load_script("interpolate_models")
    spec = tiny_spec.model_copy(update={"steps": 4, "validate_every": 2, "ema_decay": DECAY})
    model = tmp_path / "run"
    train(spec, model, show_progress=False, threads=1, keep_every=2)
    start, end = interpolate.run_folder(model) / "snapshots", tmp_path / "run.safetensors"
    start = start / "step-0000002.safetensors"
    judged = []

    def fake_vacuum(path):
        judged.append(path.name)
        return VacuumCandidates(6 * len(judged), 60, 512, 0.45, 0.061, frames_with_candidates=3)

    monkeypatch.setattr(interpolate, "selection_vacuum", fake_vacuum)
    output = tmp_path / "line"
    arguments = [str(start), str(end), "--run", str(model), "-o", str(output), "--threads", "1"]
    interpolate.main([*arguments, "--fractions", "0,0.5", "--recalibrate", "0"])
    assert judged == ["t000.safetensors", "t050.safetensors"]
    states = [load_model(path)[0].state_dict() for path in (start, end)]
    at_start, card = load_model(output / "t000.safetensors")
    halfway, _ = load_model(output / "t050.safetensors")
    for key, value in halfway.state_dict().items():
        if value.is_floating_point():
            assert torch.equal(at_start.state_dict()[key], states[0][key])
            expected = (states[0][key].double() + states[1][key].double()) / 2
            torch.testing.assert_close(value.double(), expected, rtol=1e-6, atol=1e-7)
    assert card.metrics["interpolation"]["fraction"] == 0.0
    rows = (output / "judged.csv").read_text().splitlines()
    assert rows[0].startswith("fraction,val_psnr_db") and len(rows) == 3
    assert "| 0.50 |" in (output / "judged.md").read_text()
    assert "in 3 of 60 frames" in capsys.readouterr().out
    # recalibrated: the statistics are measured, not interpolated; an existing file is kept
    bn_output = ["-o", str(tmp_path / "bn"), "--recalibrate", "3"]
    interpolate.main([*arguments, "--fractions", "0.5", *bn_output])
    recalibrated, card = load_model(tmp_path / "bn" / "t050.safetensors")
    assert card.metrics["interpolation"]["recalibration_batches"] == 3
    variance = next(k for k in halfway.state_dict() if k.endswith("running_var"))
    assert not torch.allclose(recalibrated.state_dict()[variance], halfway.state_dict()[variance])
    before = (output / "t050.safetensors").stat().st_mtime_ns
    interpolate.main([*arguments, "--fractions", "0.5,1", "--recalibrate", "0"])
    assert (output / "t050.safetensors").stat().st_mtime_ns == before
    rows = (output / "judged.csv").read_text().splitlines()[1:]  # earlier t = 0 kept, sorted
    assert [row.split(",")[0] for row in rows] == ["0.0", "0.5", "1.0"]
    with pytest.raises(SystemExit):
        interpolate.main([*arguments, "--fractions", "1.5"])
