"""scripts/ship_model.py installs a model only once it is known good, in its own precision."""

from __future__ import annotations

import pytest
import torch

from sbdenoise.nn import build_model
from sbdenoise.nn.card import make_card
from sbdenoise.nn.model_file import load_model, parameters_dtype, save_model
from tests.repository_scripts import load_script

KWARGS = {"scales": 2, "base_channels": 8}


def _model(path, seed: int, half_precision: bool = False):
    torch.manual_seed(seed)
    network = build_model("unet", **KWARGS)
    card = make_card(network, "unet", KWARGS, sampling=0.244, dose=7.2, input_scale=1 / 7.2)
    return save_model(path, network, card, half_precision=half_precision)


def test_a_half_precision_model_is_installed_as_gated(tmp_path, monkeypatch):
    ship = load_script("ship_model")
    monkeypatch.setattr(ship, "TARGET", tmp_path / "pretrained")
    (tmp_path / "pretrained").mkdir()
    half = _model(tmp_path / "half.safetensors", 1, half_precision=True)
    assert parameters_dtype(half) == "float16"
    installed = ship.main([str(half)])
    assert parameters_dtype(installed) == "float16"
    assert installed.stat().st_size == pytest.approx(half.stat().st_size, rel=0.05)
    for key, value in load_model(installed)[0].state_dict().items():
        assert torch.equal(value, load_model(half)[0].state_dict()[key])
    assert [p.name for p in (tmp_path / "pretrained").iterdir() if p.is_dir()] == []


def test_a_model_over_the_size_limit_leaves_the_shipped_one_as_it_was(tmp_path, monkeypatch):
    ship = load_script("ship_model")
    target = tmp_path / "pretrained"
    target.mkdir()
    monkeypatch.setattr(ship, "TARGET", target)
    shipped = ship.main([str(_model(tmp_path / "small.safetensors", 1, half_precision=True))])
    before = shipped.read_bytes(), shipped.with_suffix(".json").read_bytes()
    monkeypatch.setattr(ship, "MAX_BYTES", shipped.stat().st_size + 1000)
    larger = _model(tmp_path / "large.safetensors", 2)  # float32: twice the bytes
    with pytest.raises(SystemExit, match=r"over the 20 MiB limit.*unchanged"):
        ship.install(*load_model(larger), half_precision=False)
    assert (shipped.read_bytes(), shipped.with_suffix(".json").read_bytes()) == before
    assert [p.name for p in target.iterdir() if p.is_dir()] == []


def test_each_surface_null_of_the_candidate_is_installed_and_stale_ones_removed(
    tmp_path, monkeypatch
):
    """The plain and the ensemble-8 tables travel with the weights they were made with; a table
    of the previous model that the candidate has no counterpart for is removed."""
    import numpy as np

    from sbdenoise.analysis.surface_null import (
        SurfaceNull,
        SurfaceNullLevel,
        method_fingerprint,
        sidecar_path,
    )
    from sbdenoise.denoise.registry import prepare

    ship = load_script("ship_model")
    target = tmp_path / "pretrained"
    target.mkdir()
    monkeypatch.setattr(ship, "TARGET", target)
    candidate = _model(tmp_path / "cand.safetensors", 3, half_precision=True)

    def table(ensemble: int, p_values: np.ndarray) -> SurfaceNull:
        prepared = prepare("sbd", {"ensemble": ensemble}, model=candidate)
        return SurfaceNull(
            fingerprint=method_fingerprint(prepared),
            levels=(SurfaceNullLevel(121.0, p_values, 4),),
            pixel_size=0.061,
            region=2.0,
            source="test",
        )

    table(1, np.linspace(0.01, 1, 20)).save(sidecar_path(candidate))
    table(8, np.linspace(0.02, 1, 30)).save(sidecar_path(candidate, 8))
    stale = sidecar_path(target / ship.SHIPPED_MODEL_NAME, 4)
    stale.write_text("{}")
    installed = ship.main([str(candidate)])
    plain = SurfaceNull.load(sidecar_path(installed))
    eight = SurfaceNull.load(sidecar_path(installed, 8))
    assert len(plain.levels[0].p_values) == 20 and len(eight.levels[0].p_values) == 30
    assert eight.matches(prepare("sbd", {"ensemble": 8}, model=installed))
    assert not eight.matches(prepare("sbd", {"ensemble": 1}, model=installed))
    assert not stale.exists()
