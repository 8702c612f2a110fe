"""``sbdenoise fit``: every stage runs, resumes, and a changed spec is refused where it matters."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from sbdenoise.analysis.surface_null import surface_null_for
from sbdenoise.cli import app
from sbdenoise.denoise.registry import prepare
from sbdenoise.errors import InputError
from sbdenoise.fitting import STAGES, FitSpec, estimate_seconds, run_fit
from sbdenoise.fitting.spec import merge_overrides

SPEC = {
    "dataset": {"preset": "smoke"},
    "train": {
        "architecture_kwargs": {"scales": 2, "base_channels": 4},
        "steps": 6, "crop": 32, "batch": 2, "validate_every": 3, "val_crops": 2,
        "dose_range": [40, 400],
    },
    "evaluation": {"max_images": 1, "baselines": ["gaussian"]},
    "surface_null": {"max_images": 1, "doses": [121]},
}  # fmt: skip


@pytest.fixture(scope="module")
def fitted(smoke_dataset, tmp_path_factory):
    folder = tmp_path_factory.mktemp("fit")
    shutil.copytree(smoke_dataset, folder / "dataset")  # the same spec: simulated once per run
    spec = FitSpec.model_validate(SPEC)
    messages: list[str] = []
    result = run_fit(spec, folder, show_progress=False, say=messages.append)
    return spec, folder, result, messages


def test_a_fit_trains_judges_and_calibrates_the_model_in_one_call(fitted):
    spec, folder, result, messages = fitted
    assert [row["method"] for row in result.table] == ["sbd", "sbd-shipped", "gaussian"]
    assert all(np.isfinite(row["psnr_db"]) and row["frames"] == 1 for row in result.table)
    table = (folder / "table.md").read_text()
    assert "| sbd |" in table and "| gaussian |" in table
    assert result.model.is_file() and result.model.with_suffix(".json").is_file()
    assert surface_null_for(prepare("sbd", model=result.model)) is not None  # found beside it
    state = json.loads((folder / "fit-state.json").read_text())
    assert state["done"] == list(STAGES)
    # each stage was announced with the time left
    announced = [m for m in messages if "left in all" in m]
    assert len(announced) == len(STAGES)
    assert FitSpec.from_yaml(folder / "fit.yaml") == spec


def test_a_finished_fit_is_not_redone_and_a_lost_stage_is_redone_alone(fitted):
    spec, folder, result, _ = fitted
    again = run_fit(spec, folder, show_progress=False, say=lambda _: None)
    assert set(again.seconds.values()) == {0.0} and again.table == result.table
    # the baseline's score lost: only the evaluation runs again, and the network's row is kept
    shutil.rmtree(folder / "evaluation" / "gaussian")
    state = json.loads((folder / "fit-state.json").read_text())
    state["done"].remove("evaluate")
    (folder / "fit-state.json").write_text(json.dumps(state))
    redone = run_fit(spec, folder, show_progress=False, say=lambda _: None)
    assert redone.seconds["evaluate"] > 0
    assert redone.seconds["train"] == 0 and redone.seconds["simulate"] == 0
    assert redone.table == result.table  # the same frames, the same seed


def test_a_changed_spec_is_refused_once_its_stage_has_begun(fitted):
    _, folder, _, _ = fitted
    other_training = merge_overrides(SPEC, {"train": {"steps": 8}})
    with pytest.raises(InputError, match="train section"):
        run_fit(FitSpec.model_validate(other_training), folder, say=lambda _: None)
    other_data = merge_overrides(SPEC, {"dataset": {"seed": 5}})
    with pytest.raises(InputError, match="dataset section"):
        run_fit(FitSpec.model_validate(other_data), folder, say=lambda _: None)


def test_estimates_cover_the_stages_left_and_use_the_runs_own_speed(tmp_path):
    spec = FitSpec.model_validate(SPEC)
    fresh = estimate_seconds(spec, tmp_path, set())
    assert list(fresh) == list(STAGES) and all(v > 0 for v in fresh.values())
    assert list(estimate_seconds(spec, tmp_path, {"simulate", "train"})) == [
        "evaluate", "surface-null"
    ]  # fmt: skip
    run = tmp_path / "model.run"
    run.mkdir()
    (run / "log.csv").write_text("step,seconds\n10,5.0\n110,105.0\n")  # 1 s per step measured
    assert estimate_seconds(spec, tmp_path, set())["train"] == pytest.approx(6.0)


def test_the_spec_refuses_a_training_dataset_and_an_unknown_preset(tmp_path):
    with pytest.raises(ValueError, match="must not name a dataset"):
        FitSpec.model_validate({"train": {"dataset": "/elsewhere"}})
    with pytest.raises(InputError, match="unknown dataset preset"):
        FitSpec.model_validate({"dataset": {"preset": "nosuch"}}).dataset_spec()
    assert FitSpec.model_validate(
        {"dataset": {"preset": "smoke", "detector": {"pixel_size": 0.0488}}}
    ).dataset_spec().detector.pixel_size == pytest.approx(0.0488)
    spec_file = tmp_path / "fit.yaml"
    spec_file.write_text(yaml.safe_dump({"train": {"dataset": "x"}}))
    result = CliRunner().invoke(app, ["fit", str(spec_file), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2 and "must not name a dataset" in result.output


def test_the_example_spec_is_valid_and_fine_tunes_the_shipped_model():
    from pathlib import Path

    from sbdenoise.pretrained import shipped_model_path

    example = Path(__file__).resolve().parents[2] / "examples" / "fit-my-microscope.yaml"
    spec = FitSpec.from_yaml(example)
    assert spec.dataset_spec().detector.pixel_size == pytest.approx(0.0488)
    shipped = shipped_model_path()
    if shipped is not None:
        assert spec.train_spec("/data").init_from == str(shipped)
