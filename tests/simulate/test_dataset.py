"""Datasets: plan, split by structure, contrast rule, store, resumption after kill -9, dask."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from scipy import ndimage

from sbdenoise.config import DatasetSpec
from sbdenoise.errors import InputError
from sbdenoise.simulate.contrast import classify_contrast
from sbdenoise.simulate.plan import assign_splits, plan_dataset, structure_grid
from sbdenoise.simulate.presets import get_preset
from sbdenoise.simulate.runner import run_simulation
from sbdenoise.simulate.store import PARTS_DIR, SimulatedDataset
from sbdenoise.specimen.columns import column_table


@pytest.fixture(scope="module")
def smoke_reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("reference")
    run_simulation(get_preset("smoke"), out, scheduler="synchronous", show_progress=False)
    return SimulatedDataset(out)


def test_presets_have_the_promised_sizes():
    assert sum(len(t.images) for t in plan_dataset(get_preset("smoke"))) == 6
    paper = get_preset("paper")
    assert len(structure_grid(paper)) == 855
    assert len(paper.optics.defocus_nm) == 21
    assert sum(len(t.images) for t in plan_dataset(get_preset("shipped"))) == 1280


def test_surface_preset_is_the_papers_surface_evaluation_set():
    plan = plan_dataset(get_preset("surface"))
    structures = [task.structure for task in plan]
    assert len(structures) == 44 and {task.split for task in plan} == {"test"}
    # every structure has a surface defect of the papers' four kinds, each kind present
    assert {s.defect for s in structures} == {"remove_one", "remove_two", "single_atom", "adatom"}
    assert {s.tilt_deg for s in structures} == {(3.0, -1.0)}
    assert {s.support_thickness_nm for s in structures} == {4.0}
    images = [image for task in plan for image in task.images]
    assert len(images) == 132
    # the papers' overfocus 6-10 nm is -10 to -6 nm in abTEM's sign, at their 0.061 A/px
    assert {image.defocus_nm for image in images} == {-10.0, -8.0, -6.0}
    assert {image.pixel_size for image in images} == {0.061}


def test_plan_is_deterministic_and_seed_dependent():
    spec = get_preset("shipped")
    assert plan_dataset(spec) == plan_dataset(spec)
    other = plan_dataset(spec.model_copy(update={"seed": 1}))
    assert [t.structure for t in other] != [t.structure for t in plan_dataset(spec)]


def test_splits_are_by_structure_and_cover_every_split():
    labels = assign_splits(100, (0.8, 0.1, 0.1), seed=0)
    assert (labels.count("train"), labels.count("val"), labels.count("test")) == (80, 10, 10)
    assert sorted(set(assign_splits(3, (0.8, 0.1, 0.1), seed=0))) == ["test", "train", "val"]


def test_every_structure_is_in_one_split_only(smoke_reference):
    ids, splits = smoke_reference.params["structure_id"], smoke_reference.params["split"]
    for structure in np.unique(ids):
        assert len(set(splits[ids == structure])) == 1


def test_contrast_rule():
    pixel = 0.1
    image = np.full((100, 100), 0.45, dtype=np.float32)
    columns = column_table([2.0, 6.0], [2.0, 6.0], ["Pt", "Ce"], [5, 5], [False, False])

    def paint(pt, ce):
        img = image.copy()
        img[18:23, 18:23] = pt
        img[58:63, 58:63] = ce
        return classify_contrast(img, columns, pixel, 0.45)[0]

    assert paint(0.6, 0.6) == "white"
    assert paint(0.3, 0.3) == "black"
    assert paint(0.6, 0.3) == "intermediate"
    assert paint(0.46, 0.6) == "intermediate"  # Pt within 5 % of vacuum


def test_store_holds_images_params_and_truth(smoke_reference):
    data = smoke_reference
    assert data.shape == (6, 384, 384)
    assert set(data.params["split"]) == {"train", "val", "test"}
    for i in range(len(data)):
        image, columns = data.image(i), data.columns(i)
        assert image.dtype == np.float32 and image.min() >= 0
        assert image[:40].mean() == pytest.approx(data.params["dose"][i], rel=0.02)  # vacuum rows
        assert (columns["element"] == "Pt").sum() > 5
        extent = 384 * data.params["pixel_size"][i]
        assert columns["x"].min() >= 0 and columns["x"].max() < extent
    test = data.indices(split="test")
    assert len(test) == 2 and len(set(data.params["structure_id"][test])) == 1
    assert len(data.indices(defocus_nm=(-13.0, -11.0))) == 3


@pytest.mark.slow
def test_killed_run_resumes_without_loss_or_duplication(tmp_path, smoke_reference):
    out = tmp_path / "killed"
    command = [
        sys.executable,
        "-m",
        "sbdenoise",
        "simulate",
        "--preset",
        "smoke",
        "-o",
        str(out),
        "--scheduler",
        "synchronous",
        "--quiet",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 600  # generous: a loaded machine simulates slowly; we stop at 2 parts
    parts = out / PARTS_DIR
    while time.time() < deadline and process.poll() is None:
        if parts.is_dir() and len(list(parts.glob("[0-9]*.npz"))) >= 2:
            break
        time.sleep(0.02)
    assert process.poll() is None, "the run ended before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    n_before = len(list(parts.glob("[0-9]*.npz")))
    assert 2 <= n_before < 6
    summary = run_simulation(get_preset("smoke"), out, scheduler="synchronous", show_progress=False)
    assert summary.n_simulated == 6 - n_before
    resumed = SimulatedDataset(out)
    assert len(resumed) == 6
    np.testing.assert_allclose(resumed.images(), smoke_reference.images(), rtol=1e-5, atol=1e-6)
    for key in ("structure_id", "defocus_nm", "split", "defect"):
        assert list(resumed.params[key]) == list(smoke_reference.params[key])
    assert not parts.exists()


def _one_defocus():
    smoke = get_preset("smoke")
    return smoke.model_copy(
        update={"optics": smoke.optics.model_copy(update={"defocus_nm": [-12.0]})}
    )


@pytest.mark.slow
def test_local_cluster_gives_the_same_images(tmp_path, smoke_reference):
    run_simulation(_one_defocus(), tmp_path / "local", n_workers=2, show_progress=False)
    np.testing.assert_allclose(
        SimulatedDataset(tmp_path / "local").images(),
        smoke_reference.images([0, 2, 4]),
        rtol=1e-5,
        atol=1e-6,
    )


@pytest.mark.slow
def test_existing_scheduler_address(tmp_path, smoke_reference):
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=":0") as cluster:
        run_simulation(
            _one_defocus(),
            tmp_path / "remote",
            scheduler=cluster.scheduler_address,
            show_progress=False,
        )
    data = SimulatedDataset(tmp_path / "remote")
    assert len(data) == 3
    np.testing.assert_allclose(data.image(0), smoke_reference.image(0), rtol=1e-5, atol=1e-6)


def test_a_folder_keeps_one_spec(tmp_path, smoke_reference):
    out = tmp_path / "one"
    spec = get_preset("smoke")
    (out).mkdir()
    (out / "spec.yaml").write_text(spec.model_copy(update={"seed": 5}).to_yaml())
    with pytest.raises(InputError, match="different spec"):
        run_simulation(spec, out, scheduler="synchronous", show_progress=False)


def test_spec_yaml_round_trip(tmp_path):
    spec = get_preset("shipped")
    path = tmp_path / "spec.yaml"
    spec.to_yaml(path)
    assert DatasetSpec.from_yaml(path) == spec
    with pytest.raises(ValueError, match="defects"):
        DatasetSpec.model_validate({"specimen": {"defects": ["vacancy"]}})


def test_an_edited_specimen_changes_the_image_only_where_it_was_edited(smoke_reference):
    from sbdenoise.simulate.runner import _build_specimen, structure_images
    from sbdenoise.specimen.columns import group_columns
    from sbdenoise.specimen.model import Specimen

    spec = get_preset("smoke")
    task = plan_dataset(spec)[0]
    specimen = _build_specimen(spec, task)
    # the task's own model, passed in, gives the stored images exactly
    same = list(structure_images(task, spec, specimen=specimen))
    for record in same:
        assert np.array_equal(record.image, smoke_reference.image(record.index))
    # remove one short surface Pt column: the image changes around it, hardly elsewhere
    table = specimen.columns
    short = np.flatnonzero(table["on_surface"] & (table["element"] == "Pt"))
    column = short[np.argmin(table["n_atoms"][short])]
    keep = group_columns(specimen.atoms) != column
    assert 0 < np.sum(~keep) == table["n_atoms"][column]
    edited = Specimen(specimen.atoms[keep], specimen.columns, specimen.tilt_mrad)
    for before, after in zip(same, structure_images(task, spec, specimen=edited), strict=True):
        change = (after.image.astype(float) - before.image) ** 2
        pixel = before.params["pixel_size"]
        # the change is centred on a surface Pt column of the cropped truth with that many atoms
        smooth = ndimage.gaussian_filter(change, 1.0 / pixel)
        peak = np.array(np.unravel_index(np.argmax(smooth), change.shape)) * pixel
        truth = before.columns
        distance = np.hypot(truth["y"] - peak[0], truth["x"] - peak[1])
        nearest = truth[np.argmin(distance)]
        assert distance.min() < 1.0
        assert nearest["element"] == "Pt" and nearest["on_surface"]
        assert nearest["n_atoms"] == table["n_atoms"][column]
        rows, cols = np.mgrid[: change.shape[0], : change.shape[1]] * pixel
        near = np.hypot(rows - nearest["y"], cols - nearest["x"]) < 4.0
        assert change.sum() > 0
        assert change[near].sum() > 0.7 * change.sum()
