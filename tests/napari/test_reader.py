"""The napari reader: real microscope files open as image layers calibrated in angstrom."""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
import pytest
import yaml

napari = pytest.importorskip("napari")

from sbdenoise.io import SUPPORTED_READ_SUFFIXES, read_image  # noqa: E402
from sbdenoise.napari.reader import get_reader, read_layers  # noqa: E402

MANIFEST = Path(__file__).parents[2] / "src" / "sbdenoise" / "napari" / "napari.yaml"


@pytest.fixture(scope="module")
def plugin_manager():
    """napari's plugin manager with the installed plugins discovered (entry points)."""
    from npe2 import PluginManager

    manager = PluginManager.instance()
    manager.discover()
    assert manager.get_manifest("sbdenoise").name == "sbdenoise"
    return manager


def test_manifest_is_valid_registered_and_reads_every_suffix():
    from npe2 import PluginManifest

    manifest = PluginManifest.from_file(MANIFEST)
    assert manifest.name == "sbdenoise"
    patterns = yaml.safe_load(MANIFEST.read_text())["contributions"]["readers"][0][
        "filename_patterns"
    ]
    assert sorted(p.removeprefix("*") for p in patterns) == sorted(SUPPORTED_READ_SUFFIXES)
    registered = {e.name: e.value for e in entry_points(group="napari.manifest")}
    assert registered.get("sbdenoise") == "sbdenoise.napari:napari.yaml"


@pytest.mark.parametrize(
    ("name", "pixel_angstrom", "shape"),
    [
        ("dm3_adf_mos2.dm3", 0.127, (1024, 1024)),
        ("berkeley_emd_srtio3.emd", 0.1225, (1024, 1024)),
        ("tia_haadf_srtio3_1.ser", 0.1001, (1024, 1024)),
    ],
)
def test_real_file_opens_in_angstrom(plugin_manager, formats_dir, name, pixel_angstrom, shape):
    viewer = napari.components.ViewerModel()
    layers = viewer.open(formats_dir / name, plugin="sbdenoise")
    assert len(layers) == 1
    layer = layers[0]
    assert layer.data.shape == shape
    # the calibration as stored (nm, "n_m") comes out in angstrom, as the package reads it
    size = read_image(formats_dir / name).pixel_size
    assert size == pytest.approx(pixel_angstrom, rel=1e-3)
    np.testing.assert_allclose(layer.scale, [size, size], rtol=1e-12)
    assert [str(u) for u in layer.units] == ["angstrom", "angstrom"]
    record = layer.metadata["sbdenoise"]
    assert record["pixel_size_angstrom"] == size
    assert record["length_unit"] == "Å"
    # the far corner lies (n - 1) pixel sizes from the origin, in angstrom
    far = layer.data_to_world([shape[0] - 1, shape[1] - 1])
    np.testing.assert_allclose(far, np.subtract(shape, 1) * size, rtol=1e-9)


def test_stack_and_unknown_pixel_size(formats_dir):
    path = formats_dir / "mrc_de_movie.mrc"  # voxel size -10: "unknown"
    ((data, kwargs, kind),) = read_layers(path)
    expected = read_image(path)
    assert kind == "image" and data.shape == expected.data.shape and data.ndim == 3
    assert expected.pixel_size is None
    assert kwargs["scale"] == (1.0, 1.0, 1.0)
    assert kwargs["units"] == ("pixel", "pixel", "pixel")
    assert kwargs["axis_labels"] == ("frame", "y", "x")
    assert kwargs["metadata"]["sbdenoise"]["pixel_size_angstrom"] is None


def test_get_reader_declines_what_it_cannot_read(tmp_path):
    assert get_reader(str(tmp_path / "image.png")) is None
    assert get_reader([str(tmp_path / "a.tif"), str(tmp_path / "b.tif")]) is None
    assert get_reader(str(tmp_path / "frame.TIF")) is read_layers
    assert get_reader([tmp_path / "frame.dm4"]) is read_layers
