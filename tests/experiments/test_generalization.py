"""The generalisation study: equal subsets, one budgeted network each, resumable cells."""

from __future__ import annotations

import json

import numpy as np
import pytest
from matplotlib.image import imread

from sbdenoise.errors import InputError
from sbdenoise.experiments import plan_subsets, run_generalization
from sbdenoise.simulate.store import ImageRecord, SimulatedDataset, consolidate, write_part
from sbdenoise.specimen.columns import column_table
from sbdenoise.synthetic import synthetic_lattice
from sbdenoise.training.spec import TrainSpec

PIXEL_SIZE = 0.08
#: (split, contrast, defect) per image: white has 3 training images, black 2; adatom has no test
LAYOUT = [
    ("train", "white", "none"),
    ("train", "white", "none"),
    ("train", "white", "adatom"),
    ("val", "white", "none"),
    ("test", "white", "none"),
    ("test", "white", "none"),
    ("train", "black", "none"),
    ("train", "black", "adatom"),
    ("val", "black", "adatom"),
    ("test", "black", "none"),
]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    directory = tmp_path_factory.mktemp("generalization")
    for index, (split, contrast, defect) in enumerate(LAYOUT):
        frame = synthetic_lattice((256, 256), pixel_size=PIXEL_SIZE, seed=index)
        image = frame.expectation
        if contrast == "black":  # dark columns on the same mean
            image = image.max() + image.min() - image
        table = column_table(
            x=frame.columns[:, 1],
            y=frame.columns[:, 0],
            element=["Pt"] * len(frame.columns),
            n_atoms=[5] * len(frame.columns),
            on_surface=[True] * len(frame.columns),
        )
        params = {
            "structure_id": index,
            "split": split,
            "contrast": contrast,
            "defect": defect,
            "particle_diameter_nm": 2.0,
            "defocus_nm": -8.0,
            "pixel_size": PIXEL_SIZE,
            "dose": 0.45,
        }
        write_part(directory, ImageRecord(index, image, params, table))
    return consolidate(directory, len(LAYOUT), {"name": "generalization-test"})


def test_subsets_are_equal_in_size_and_say_what_was_left_out(store):
    data = SimulatedDataset(store)
    subsets, notes = plan_subsets(data, ["contrast", "defect", "structure"], test_images=5)
    assert [s.name for s in subsets] == ["contrast-black", "contrast-white"]
    assert {s.n_train for s in subsets} == {2}  # the smaller subset's count
    assert [s.available_train for s in subsets] == [2, 3]
    assert {len(s.test) for s in subsets} == {1}  # black has one test image
    black, white = subsets
    assert set(black.test) == {9} and set(white.test) <= {4, 5}
    assert "defect adatom: left out (no test images)" in notes
    assert any(n.startswith("structure: left out") for n in notes)
    assert black.filters().criteria() == {"contrast": ["black"]}
    assert black.filters().max_train_images == 2
    with pytest.raises(InputError, match="unknown family"):
        plan_subsets(data, ["colour"])
    with pytest.raises(InputError, match="no family has two subsets"):
        plan_subsets(data, ["structure"])


@pytest.mark.slow
def test_study_trains_each_subset_on_its_budget_and_resumes(store, tmp_path):
    spec = TrainSpec(
        dataset=str(store),
        architecture="unet",
        architecture_kwargs={"scales": 2, "base_channels": 4},
        crop=32,
        batch=2,
        val_crops=4,
        validate_every=1000,
    )
    options = {
        "families": ["contrast"],
        "spec": spec,
        "budget_minutes": 0.004,
        "test_images": 1,
        "threads": 1,
        "show_progress": False,
    }
    result = run_generalization(store, tmp_path / "study", **options)
    names, psnr = result.matrix("contrast")
    assert names == ["contrast-black", "contrast-white"]
    assert psnr.shape == (2, 2) and np.all(np.isfinite(psnr))
    assert set(result.cells["vst-bm3d"]) == set(names)
    for record in result.training.values():
        assert record["stop_reason"] == "time budget" and record["steps"] >= 1
    image = imread(result.paths["heatmap_contrast"])
    assert image.shape[0] > 200 and image[..., :3].std() > 0.05
    table = result.paths["table"].read_text()
    assert "| black |" in table and "VST+BM3D" in table
    cells = json.loads(result.paths["cells"].read_text())
    # a rerun measures nothing again: the stored cells and trainings come back unchanged
    again = run_generalization(store, tmp_path / "study", **options)
    assert again.cells == cells["cells"] and again.training == cells["training"]
    with pytest.raises(InputError, match="another plan"):
        run_generalization(store, tmp_path / "study", **{**options, "budget_minutes": 1.0})
