"""Model files: safetensors weights plus a JSON card, loaded without unpickling."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from pydantic import ValidationError
from safetensors.torch import save_file

from sbdenoise.errors import FileFormatError, InputError
from sbdenoise.nn import build_model
from sbdenoise.nn.card import ModelCard, make_card
from sbdenoise.nn.model_file import (
    load_model,
    model_paths,
    parameters_dtype,
    read_card,
    round_to_half_precision,
    save_model,
)

CONFIGS = [
    ("unet", {"scales": 3, "base_channels": 4, "bias_free": True}),
    ("unet", {"scales": 2, "base_channels": 4}),
    ("dncnn", {"depth": 5, "channels": 8}),
    ("small-unet", {"channels": 4}),
]


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: the test machine's cores are shared, and contention slows torch a lot."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _card(architecture: str, kwargs: dict, receptive_field: int = 20) -> ModelCard:
    return ModelCard(
        architecture=architecture,
        architecture_kwargs=kwargs,
        sampling=0.2436,
        dose=7.2,
        input_scale=1 / 7.2,
        receptive_field_px=receptive_field,
        receptive_field_angstrom=receptive_field * 0.2436,
        optics={"voltage_kv": 300.0, "cs_um": -13.0},
        defocus_nm=[-20.0, -6.0],
        training_data={"dataset": "shipped", "n_images": 1920, "filters": {"contrast": "white"}},
        metrics={"psnr_db": 38.5},
    )


def _trained(architecture: str, kwargs: dict) -> torch.nn.Module:
    """A network whose batch-norm buffers have moved away from their initial values."""
    torch.manual_seed(0)
    model = build_model(architecture, **kwargs)
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model(torch.rand(2, 1, 32, 32) * 3.0)
    return model.eval()


@pytest.mark.parametrize(("architecture", "kwargs"), CONFIGS)
def test_round_trip(tmp_path, architecture, kwargs):
    model = _trained(architecture, kwargs)
    card = _card(architecture, kwargs)
    path = save_model(tmp_path / "model.safetensors", model, card)
    assert path == tmp_path / "model.safetensors" and path.is_file()
    assert (tmp_path / "model.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json", "model.safetensors"]

    loaded, loaded_card = load_model(path)
    assert loaded_card == card
    assert not loaded.training
    for name, value in model.state_dict().items():  # weights and batch-norm buffers
        assert torch.equal(loaded.state_dict()[name], value), name
    x = torch.rand(1, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)

    # The card path works as well.
    again, _ = load_model(tmp_path / "model.json")
    assert torch.equal(next(again.parameters()), next(loaded.parameters()))


def test_card_json_round_trip_and_validation(tmp_path):
    card = _card("unet", {"scales": 5, "base_channels": 32})
    text = card.to_json(tmp_path / "c.json")
    assert json.loads(text)["sampling"] == 0.2436
    assert ModelCard.from_json(tmp_path / "c.json") == card
    assert ModelCard.from_json(text) == card
    assert card.created and card.sbdenoise_version
    with pytest.raises(ValidationError, match="unknown architecture"):
        ModelCard(**{**card.model_dump(), "architecture": "resnet"})
    with pytest.raises(ValidationError):
        ModelCard(**{**card.model_dump(), "sampling": -1.0})


def test_make_card_measures_receptive_field():
    model = build_model("dncnn", depth=6, channels=16)
    card = make_card(model, "dncnn", {"depth": 6, "channels": 16}, sampling=0.25, dose=7.0)
    assert card.receptive_field_px == 13
    assert card.receptive_field_angstrom == pytest.approx(13 * 0.25)


def test_model_paths():
    assert model_paths("a/m.safetensors") == (
        model_paths("a/m.json")[0],
        model_paths("a/m.safetensors")[1],
    )
    weights, card = model_paths("a/m.json")
    assert weights.name == "m.safetensors" and card.name == "m.json"


def test_missing_files(tmp_path):
    kwargs = {"scales": 2, "base_channels": 4}
    path = save_model(
        tmp_path / "m.safetensors", build_model("unet", **kwargs), _card("unet", kwargs)
    )
    (tmp_path / "m.json").unlink()
    with pytest.raises(FileFormatError, match="card not found") as info:
        load_model(path)
    assert "m.json" in str(info.value)
    _card("unet", kwargs).to_json(tmp_path / "m.json")
    path.unlink()
    with pytest.raises(FileFormatError, match="weights not found") as info:
        load_model(tmp_path / "m.json")
    assert "m.safetensors" in str(info.value)


def test_not_a_safetensors_file(tmp_path):
    kwargs = {"scales": 2, "base_channels": 4}
    _card("unet", kwargs).to_json(tmp_path / "m.json")
    np.save(tmp_path / "m.npy", np.zeros(10))
    (tmp_path / "m.safetensors").write_bytes((tmp_path / "m.npy").read_bytes())
    with pytest.raises(FileFormatError, match="not a safetensors"):
        load_model(tmp_path / "m.safetensors")
    (tmp_path / "m.safetensors").write_bytes(b"")
    with pytest.raises(FileFormatError, match="not a safetensors"):
        load_model(tmp_path / "m.safetensors")


def test_invalid_card(tmp_path):
    kwargs = {"scales": 2, "base_channels": 4}
    save_model(tmp_path / "m.safetensors", build_model("unet", **kwargs), _card("unet", kwargs))
    (tmp_path / "m.json").write_text("{not json")
    with pytest.raises(FileFormatError, match="not a valid sbdenoise model card"):
        read_card(tmp_path / "m.safetensors")
    bad = _card("unet", kwargs).model_dump()
    bad["architecture_kwargs"] = {"scales": 9}
    (tmp_path / "m.json").write_text(json.dumps(bad))
    with pytest.raises(FileFormatError, match="cannot be built"):
        load_model(tmp_path / "m.safetensors")


def test_weights_that_do_not_match_the_card(tmp_path):
    small = {"scales": 2, "base_channels": 4}
    path = save_model(
        tmp_path / "m.safetensors", build_model("unet", **small), _card("unet", small)
    )
    # Card claims three scales: tensor names differ.
    _card("unet", {"scales": 3, "base_channels": 4}).to_json(tmp_path / "m.json")
    with pytest.raises(FileFormatError, match="missing"):
        load_model(path)
    # Card claims other channel counts: same names, other shapes.
    _card("unet", {"scales": 2, "base_channels": 8}).to_json(tmp_path / "m.json")
    with pytest.raises(FileFormatError, match="wrong shapes"):
        load_model(path)
    # Foreign tensors in a valid safetensors file.
    save_file({"w": torch.zeros(3)}, str(path))
    _card("unet", small).to_json(tmp_path / "m.json")
    with pytest.raises(FileFormatError, match="unexpected"):
        load_model(path)


def test_save_overwrites_atomically(tmp_path):
    kwargs = {"scales": 2, "base_channels": 4}
    model = build_model("unet", **kwargs)
    save_model(tmp_path / "m.safetensors", model, _card("unet", kwargs))
    with torch.no_grad():
        next(model.parameters()).add_(1.0)
    save_model(tmp_path / "m.json", model, _card("unet", kwargs, receptive_field=21))
    loaded, card = load_model(tmp_path / "m.safetensors")
    assert card.receptive_field_px == 21
    assert torch.equal(next(loaded.parameters()), next(model.parameters()))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "m.safetensors"]


def test_half_precision_parameters_out_of_range_are_refused(tmp_path):
    kwargs = {"scales": 2, "base_channels": 4}
    network = build_model("unet", **kwargs)
    with torch.no_grad():
        next(network.parameters())[0] = 1e6  # beyond float16's 65504
    with pytest.raises(InputError, match="float16 range"):
        save_model(tmp_path / "m.safetensors", network, _card("unet", kwargs), half_precision=True)
    assert not (tmp_path / "m.safetensors").exists()
    with pytest.raises(InputError, match="float16 range"):
        round_to_half_precision(network)


def test_parameters_dtype_names_how_the_file_stores_them(tmp_path):
    kwargs = {"scales": 2, "base_channels": 4}
    network = build_model("unet", **kwargs)
    full = save_model(tmp_path / "a.safetensors", network, _card("unet", kwargs))
    half = save_model(tmp_path / "b.safetensors", network, _card("unet", kwargs), True)
    assert parameters_dtype(full) == "float32" and parameters_dtype(half) == "float16"
    assert parameters_dtype(half.with_suffix(".json")) == "float16"
    (tmp_path / "c.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(FileFormatError, match="not a safetensors"):
        parameters_dtype(tmp_path / "c.safetensors")
