"""A training set packed at the working grid: compact, and the same working images for training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sbdenoise.errors import InputError
from sbdenoise.simulate.store import SimulatedDataset
from sbdenoise.training.data import bin_sum, load_training_data
from sbdenoise.training.pack import pack_training_set
from sbdenoise.training.spec import TrainSpec


@pytest.fixture(scope="module")
def packed(smoke_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("packed")
    pack_training_set(smoke_dataset, out, contrast=None, show_progress=False)
    return out


def test_packed_store_holds_the_binned_images_in_float16(smoke_dataset, packed):
    source, small = SimulatedDataset(smoke_dataset), SimulatedDataset(packed)
    kept = source.indices(split=["train", "val"])
    assert len(small) == len(kept) and "test" not in set(small.params["split"])
    origin = small.params["packed_from_index"]
    np.testing.assert_array_equal(origin, kept)
    for i, j in enumerate(origin):
        expected = bin_sum(source.image(int(j)), 4)
        got = small.image(i)
        assert got.dtype == np.float32 and got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=1e-3)
        # the same vacuum dose per area: 16 x the counts on 4 x larger pixels
        assert small.params["pixel_size"][i] == pytest.approx(4 * source.params["pixel_size"][j])
        assert small.params["dose"][i] == pytest.approx(16 * source.params["dose"][j])
        np.testing.assert_array_equal(small.columns(i)["x"], source.columns(int(j))["x"])
    # float16 and a 16 x smaller grid: the images take about 1/32 of the bytes
    with_images = (packed / "dataset.h5").stat().st_size
    assert with_images < (smoke_dataset / "dataset.h5").stat().st_size / 8
    assert small.spec["packed"]["binning"] == 4
    assert small.spec["detector"]["dose"] == pytest.approx(16 * source.spec["detector"]["dose"])


def test_training_on_the_packed_store_sees_the_same_working_images(smoke_dataset, packed):
    spec = TrainSpec(
        dataset=str(smoke_dataset), architecture="unet", crop=32, batch=2, steps=1, val_crops=4
    )
    original = load_training_data(spec)
    repacked = load_training_data(spec.model_copy(update={"dataset": str(packed)}))
    # binned once, when packing; reported in the original detector's units (factor, pixel, dose)
    assert repacked.factor == original.factor == 4
    assert repacked.pixel_size == pytest.approx(original.pixel_size)
    assert repacked.dose == pytest.approx(original.dose)
    assert repacked.input_scale == pytest.approx(original.input_scale)
    assert repacked.sampling == pytest.approx(original.sampling)
    np.testing.assert_allclose(
        repacked.validation.to_detector, original.validation.to_detector, rtol=1e-2
    )
    assert repacked.dose_range_working == pytest.approx(original.dose_range_working)
    np.testing.assert_allclose(
        repacked.train_images.numpy(), original.train_images.numpy(), rtol=1e-3, atol=1e-6
    )
    # validation targets are divided by the noisy crop's mean, so a count that float16 rounding
    # of the expectation flips moves a whole crop by a little
    relative = np.abs(repacked.validation.targets.numpy() / original.validation.targets.numpy() - 1)
    assert relative.max() < 1e-2 and np.median(relative) < 1e-3


def test_packing_refuses_its_own_folder_and_an_empty_selection(smoke_dataset, tmp_path):
    with pytest.raises(InputError, match="another folder"):
        pack_training_set(smoke_dataset, smoke_dataset, show_progress=False)
    with pytest.raises(InputError, match="no image"):
        pack_training_set(smoke_dataset, tmp_path, contrast=["black-and-blue"], show_progress=False)
    assert not (tmp_path / "dataset.h5").exists()


def test_a_fixed_dose_means_the_same_on_the_packed_store(smoke_dataset, packed):
    spec = TrainSpec(
        dataset=str(smoke_dataset),
        architecture="unet",
        crop=32,
        batch=2,
        steps=1,
        val_crops=4,
        dose=0.9,
        dose_range=None,
        normalization="fixed",
    )
    original = load_training_data(spec)
    repacked = load_training_data(spec.model_copy(update={"dataset": str(packed)}))
    assert repacked.input_scale == pytest.approx(original.input_scale)
    np.testing.assert_allclose(
        repacked.train_images.numpy(), original.train_images.numpy(), rtol=1e-3, atol=1e-5
    )
