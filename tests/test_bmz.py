"""BioImage Model Zoo export: the package validates offline with the official spec package."""

from __future__ import annotations

import socket
import zipfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("bioimageio.spec")

from bioimageio.spec import load_description
from typer.testing import CliRunner

from sbdenoise.bmz import _test_frame, export_bmz
from sbdenoise.cli import app
from sbdenoise.errors import InputError
from sbdenoise.nn.model_file import read_card
from sbdenoise.pretrained import shipped_model_path

SIZE = 128


def _no_network(*args, **kwargs):
    raise OSError("the BMZ tests must not reach the network")


@pytest.fixture(scope="module")
def offline():
    """Every socket connection fails: validation must work from the package's files alone."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", _no_network)
        patch.setattr(socket, "create_connection", _no_network)
        yield


@pytest.fixture(scope="module")
def card():
    model = shipped_model_path()
    if model is None:
        pytest.skip("no shipped model")
    return read_card(model.with_suffix(".json"))


@pytest.fixture(scope="module")
def package(tmp_path_factory, offline, card) -> Path:
    """The shipped model exported by the CLI command."""
    out = tmp_path_factory.mktemp("bmz") / "sbd.zip"
    result = CliRunner().invoke(
        app, ["export-bmz", str(shipped_model_path()), "-o", str(out), "--size", str(SIZE)]
    )
    assert result.exit_code == 0, result.output
    assert "Wrote" in result.output
    return out


@pytest.fixture(scope="module")
def description(package: Path, offline):
    return load_description(package, perform_io_checks=True)


def test_package_validates_offline(description, package: Path):
    assert type(description).__name__ == "ModelDescr", description.validation_summary.display()
    summary = description.validation_summary
    assert summary.status in ("valid-format", "passed"), summary.display()
    assert not [e for d in summary.details for e in d.errors]
    assert str(description.format_version).startswith("0.5")
    assert description.license == "GPL-3.0-or-later"
    names = set(zipfile.ZipFile(package).namelist())
    assert {
        "rdf.yaml",
        "sbd_torchscript.pt",
        "test_input.npy",
        "test_output.npy",
        "cover.png",
        "README.md",
    } <= names


def test_axes_carry_the_working_pixel_size(description, card):
    (counts,) = description.inputs
    (denoised,) = description.outputs
    assert [str(a.id) for a in counts.axes] == ["batch", "channel", "y", "x"]
    assert [str(a.id) for a in denoised.axes] == ["batch", "channel", "y", "x"]
    for axis in (*counts.axes[2:], *denoised.axes[2:]):
        assert axis.unit == "angstrom"
        assert axis.scale == pytest.approx(card.sampling)
    assert counts.axes[2].size.step == 16  # 2**(scales - 1) of the 5-scale UNet
    assert str(denoised.axes[2].size.tensor_id) == "counts"


def test_weights_reproduce_the_test_output(description, package: Path, tmp_path: Path, card):
    import torch

    weights = description.weights
    assert weights.torchscript is not None and weights.pytorch_state_dict is None
    with zipfile.ZipFile(package) as archive:
        archive.extractall(tmp_path)
    test_input = np.load(tmp_path / "test_input.npy")
    test_output = np.load(tmp_path / "test_output.npy")
    assert test_input.shape == test_output.shape == (1, 1, SIZE, SIZE)
    network = torch.jit.load(str(tmp_path / "sbd_torchscript.pt"))
    with torch.no_grad():
        output = network(torch.from_numpy(test_input)).numpy()
    np.testing.assert_allclose(output, test_output, rtol=1e-3, atol=1e-3)

    # the test frame is the simulated lattice at the model's dose, and the output denoises it
    noisy, truth = _test_frame(card, SIZE, 0)
    np.testing.assert_array_equal(test_input[0, 0], noisy)
    assert np.mean((test_output[0, 0] - truth) ** 2) < 0.2 * np.mean((noisy - truth) ** 2)


def test_config_holds_the_model_card(description, card):
    config = description.config.model_dump()["sbdenoise"]
    assert config["pixel_size_angstrom"] == pytest.approx(card.sampling)
    assert config["dose_range_per_area_e_per_A2"] == pytest.approx(list(card.dose_range_per_area))
    assert config["optics"]["voltage_kv"] == card.optics["voltage_kv"]
    assert config["training_data"]["dataset_name"] == card.training_data["dataset_name"]
    assert config["normalization"] == card.normalization
    assert config["model_name"] == "sbd-unet-pt-ceo2"


def test_output_must_be_a_zip(tmp_path: Path):
    with pytest.raises(InputError, match="zip"):
        export_bmz(None, tmp_path / "model.yaml")
