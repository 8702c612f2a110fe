"""The dataset cache: an unchanged spec is simulated once per machine."""

from __future__ import annotations

import os

import numpy as np
import pytest

from sbdenoise.simulate import cache
from sbdenoise.simulate.presets import get_preset
from sbdenoise.simulate.runner import run_simulation
from sbdenoise.simulate.store import SimulatedDataset


def test_spec_key_follows_every_field():
    spec = get_preset("smoke")
    assert cache.spec_key(spec) == cache.spec_key(get_preset("smoke"))
    assert cache.spec_key(spec) != cache.spec_key(spec.model_copy(update={"seed": 1}))
    other = spec.model_copy(update={"image_size": spec.image_size + 8})
    assert cache.spec_key(spec) != cache.spec_key(other)


def test_a_finished_spec_is_linked_not_simulated_again(tmp_path, monkeypatch, smoke_dataset):
    monkeypatch.setenv("SBDENOISE_CACHE", str(tmp_path / "cache"))
    spec = get_preset("smoke")
    store = smoke_dataset / "dataset.h5"
    cached = cache.remember(spec, store)
    assert cached is not None and cached.is_file()
    assert os.path.samefile(cached, store)  # a hard link: no second copy on disk
    summary = run_simulation(spec, tmp_path / "again", scheduler="synchronous", show_progress=False)
    assert summary.n_simulated == 0
    again = SimulatedDataset(tmp_path / "again")
    np.testing.assert_array_equal(again.image(0), SimulatedDataset(smoke_dataset).image(0))
    # another spec finds nothing
    other = spec.model_copy(update={"seed": 5})
    assert not cache.lookup(other, tmp_path / "nothing.h5")


def test_cache_can_be_switched_off(tmp_path, monkeypatch, smoke_dataset):
    monkeypatch.setenv("SBDENOISE_CACHE", "off")
    assert cache.cache_dir() is None
    assert cache.remember(get_preset("smoke"), smoke_dataset / "dataset.h5") is None
    assert not cache.lookup(get_preset("smoke"), tmp_path / "x.h5")


@pytest.mark.parametrize("value", ["", "0", "none"])
def test_cache_off_spellings(monkeypatch, value):
    monkeypatch.setenv("SBDENOISE_CACHE", value)
    assert cache.cache_dir() is None
