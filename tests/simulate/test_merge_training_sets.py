"""scripts/merge_training_sets.py: a base store whole, plus only the train images of others."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from sbdenoise.simulate.store import ImageRecord, SimulatedDataset, consolidate, write_part
from sbdenoise.specimen.columns import column_table
from tests.repository_scripts import load_script


def make_store(directory: Path, splits: list[str], level: float) -> Path:
    """Images of constant ``level + index``, one structure per image, the given splits."""
    for index, split in enumerate(splits):
        table = column_table(x=[1.0], y=[2.0], element=["Pt"], n_atoms=[3], on_surface=[True])
        params = {
            "structure_id": index,
            "split": split,
            "contrast": "white",
            "defocus_nm": -10.0,
            "pixel_size": 0.06,
            "dose": 0.45,
        }
        image = np.full((16, 16), level + index, dtype=np.float32)
        write_part(directory, ImageRecord(index, image, params, table))
    return consolidate(directory, len(splits), {"name": str(directory.name)})


def test_the_base_is_kept_whole_and_only_train_images_are_added(tmp_path, monkeypatch):
    base_dir = make_store(tmp_path / "base", ["train", "val", "test", "train"], 0.0)
    extra_dir = make_store(tmp_path / "extra", ["val", "train", "test", "train"], 100.0)
    out = tmp_path / "merged"
    argv = ["merge", str(base_dir), "--add", str(extra_dir), "-o", str(out)]
    monkeypatch.setattr(sys, "argv", argv)
    load_script("merge_training_sets").main()
    merged = SimulatedDataset(out)
    base = SimulatedDataset(base_dir)
    assert len(merged) == 6
    for i in range(4):  # the base, indices and splits kept
        assert np.array_equal(merged.image(i), base.image(i))
    assert list(merged.params["split"]) == ["train", "val", "test", "train", "train", "train"]
    # the extra store's train images (its indices 1 and 3), structures renumbered past the base's
    assert [float(merged.image(i)[0, 0]) for i in (4, 5)] == [101.0, 103.0]
    assert list(merged.params["structure_id"][4:]) == [5, 7]
    assert len(np.unique(merged.params["structure_id"])) == 6
    # the inputs are untouched, and an existing output is refused rather than overwritten
    assert len(SimulatedDataset(extra_dir)) == 4
    with pytest.raises(SystemExit, match="exists"):
        load_script("merge_training_sets").main()


def test_fresh_validation_comes_from_the_last_added_store(tmp_path, monkeypatch):
    base_dir = make_store(tmp_path / "base", ["train", "val", "test", "train"], 0.0)
    first_dir = make_store(tmp_path / "first", ["val", "train"], 100.0)
    last_dir = make_store(tmp_path / "last", ["val", "train", "test"], 200.0)
    out = tmp_path / "merged"
    argv = ["merge", str(base_dir), "--add", str(first_dir), str(last_dir), "-o", str(out)]
    monkeypatch.setattr(sys, "argv", [*argv, "--fresh-validation"])
    load_script("merge_training_sets").main()
    merged = SimulatedDataset(out)
    splits = list(merged.params["split"])
    # the base's val image trains now; its test image (the gate) is untouched
    assert splits[:4] == ["train", "train", "test", "train"]
    values = [float(merged.image(i)[0, 0]) for i in range(len(merged))]
    # first store: train image only; last store: val and train, never its test image
    assert values[4:] == [101.0, 200.0, 201.0]
    assert splits[4:] == ["train", "val", "train"]
    assert splits.count("val") == 1 and splits.count("test") == 1


def test_whole_stores_join_the_training_split_with_every_image(tmp_path, monkeypatch):
    base_dir = make_store(tmp_path / "base", ["train", "val", "test"], 0.0)
    extra_dir = make_store(tmp_path / "extra", ["val", "train"], 100.0)
    whole_dir = make_store(tmp_path / "whole", ["train", "val", "test"], 200.0)
    out = tmp_path / "merged"
    argv = ["merge", str(base_dir), "--add", str(extra_dir), "--add-whole", str(whole_dir)]
    monkeypatch.setattr(sys, "argv", [*argv, "-o", str(out)])
    load_script("merge_training_sets").main()
    merged = SimulatedDataset(out)
    values = [float(merged.image(i)[0, 0]) for i in range(len(merged))]
    assert values == [0.0, 1.0, 2.0, 101.0, 200.0, 201.0, 202.0]
    # the base's splits rule; the whole store's val and test images train
    assert list(merged.params["split"]) == ["train", "val", "test"] + ["train"] * 4
    assert len(np.unique(merged.params["structure_id"])) == 7
    assert list(SimulatedDataset(whole_dir).params["split"]) == ["train", "val", "test"]


def test_nothing_to_add_is_refused(tmp_path, monkeypatch):
    base_dir = make_store(tmp_path / "base", ["train"], 0.0)
    monkeypatch.setattr(sys, "argv", ["merge", str(base_dir), "-o", str(tmp_path / "m")])
    with pytest.raises(SystemExit):
        load_script("merge_training_sets").main()
    assert not (tmp_path / "m").exists()
