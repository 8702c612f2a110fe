"""Readers against the real microscope files in shared/data/formats (see its README)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from sbdenoise.io import SUPPORTED_READ_SUFFIXES, Micrograph, read_image

# Expected (shape, dtype, pixel size in angstrom along x, units as stored), taken from the
# files. The README's rounded values are checked separately below.
EXPECTED = {
    "velox_haadf_au_nanoparticles.emd": ((2048, 2048), np.uint16, 0.0749840149013099, "nm"),
    "dm3_adf_mos2.dm3": ((1024, 1024), np.uint32, 0.126953125, "nm"),
    "tia_haadf_srtio3.emi": ((1024, 1024), np.uint16, 0.10012704240403384, "nm"),
    "tia_haadf_srtio3_1.ser": ((1024, 1024), np.uint16, 0.10012704240403384, "nm"),
    "berkeley_emd_srtio3.emd": ((1024, 1024), np.uint16, 0.12246524915099144, "n_m"),
    # 66 frames of 65 x 64 pixels; x is 2 pm (y is 3 nm: a warning says so).
    "dm4_stack_int16.dm4": ((66, 65, 64), np.int16, 0.02, "pm"),
    # Scale 0.00933 with no unit at all in the file: the reader does not guess (None).
    "hspy_adf_perovskite.hspy": ((400, 380), np.float16, None, None),
    # Voxel size -10 is Direct Electron's placeholder for "unknown".
    "mrc_de_movie.mrc": ((348, 16, 16), np.uint16, None, "Å"),
    "mrc_stack_legacy_header.mrc": ((3, 128, 128), np.float32, 2.0, "Å"),
    # 0.0029884567 with the unit 'ƒÊm' (Shift-JIS micro sign): 0.00299 um = 29.9 angstrom.
    "jeol_lzw_lowdose.tif": ((512, 512), np.uint16, 29.884567484259605, "ƒÊm"),
}

# Pixel sizes as the README table rounds them, in angstrom.
README_PIXEL_SIZES = {
    "velox_haadf_au_nanoparticles.emd": 0.075,  # 0.0075 nm
    "dm3_adf_mos2.dm3": 0.127,  # 0.0127 nm
    "tia_haadf_srtio3.emi": 0.1001,  # 0.01001 nm
    "tia_haadf_srtio3_1.ser": 0.1001,
    "berkeley_emd_srtio3.emd": 0.1225,  # 0.01225 n_m
    "dm4_stack_int16.dm4": 0.02,  # 2 pm along x
    "mrc_stack_legacy_header.mrc": 2.0,  # 2 A
    "jeol_lzw_lowdose.tif": 29.9,  # 0.00299 um
}

VOLTAGES_KV = {
    "velox_haadf_au_nanoparticles.emd": 300.0,
    "dm3_adf_mos2.dm3": 60.0,
    "tia_haadf_srtio3.emi": 80.0,
    "tia_haadf_srtio3_1.ser": 80.0,
    "berkeley_emd_srtio3.emd": 200.0,
}

# Files expected to warn, and what about.
WARNS = {
    "dm4_stack_int16.dm4": "not square",
    "hspy_adf_perovskite.hspy": "no unit",
    "mrc_stack_legacy_header.mrc": "non-standard MRC header",
}


def _read(path: Path) -> Micrograph:
    name = path.name
    if name in WARNS:
        with pytest.warns(UserWarning, match=WARNS[name]):
            return read_image(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return read_image(path)


def test_every_data_file_in_the_formats_directory_is_covered(formats_dir: Path) -> None:
    data_files = {
        p.name for p in formats_dir.iterdir() if p.suffix.lower() in SUPPORTED_READ_SUFFIXES
    }
    assert data_files == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_file_shape_dtype_and_pixel_size(formats_dir: Path, name: str) -> None:
    shape, dtype, pixel_size, units = EXPECTED[name]
    micrograph = _read(formats_dir / name)
    assert micrograph.data.shape == shape
    assert micrograph.data.dtype == np.dtype(dtype)
    assert micrograph.data.dtype.isnative
    if pixel_size is None:
        assert micrograph.pixel_size is None
    else:
        assert micrograph.pixel_size == pytest.approx(pixel_size, rel=1e-9)
        assert micrograph.pixel_size == pytest.approx(README_PIXEL_SIZES[name], rel=2e-3)
    assert micrograph.units_found == units
    assert micrograph.source == formats_dir / name
    assert micrograph.metadata["format"]
    assert len(micrograph.metadata["axes"]) == micrograph.data.ndim
    # Metadata stays JSON-serialisable, so it can go into sidecars and reports.
    json.dumps(micrograph.metadata)


@pytest.mark.parametrize("name", sorted(VOLTAGES_KV))
def test_acceleration_voltage_in_metadata(formats_dir: Path, name: str) -> None:
    assert _read(formats_dir / name).metadata["voltage_kV"] == pytest.approx(VOLTAGES_KV[name])


def test_tia_pair_reads_the_same_through_either_file(formats_dir: Path) -> None:
    by_emi = read_image(formats_dir / "tia_haadf_srtio3.emi")
    by_ser = read_image(formats_dir / "tia_haadf_srtio3_1.ser")
    assert np.array_equal(by_emi.data, by_ser.data)
    assert by_emi.pixel_size == by_ser.pixel_size
    assert by_emi.metadata["ser_file"] == "tia_haadf_srtio3_1.ser"


def test_dm4_stack_keeps_per_axis_calibration(formats_dir: Path) -> None:
    micrograph = _read(formats_dir / "dm4_stack_int16.dm4")
    axes = micrograph.metadata["axes"]
    assert [ax["units"] for ax in axes] == ["um", "nm", "pm"]
    assert [ax["scale"] for ax in axes] == pytest.approx([4.0, 3.0, 2.0])
    assert micrograph.metadata["pixel_size_y_angstrom"] == pytest.approx(30.0)
    assert micrograph.is_stack and micrograph.n_frames == 66
    assert micrograph.metadata["intensity_calibration"]["units"] == "e"


def test_hspy_unitless_scale_is_kept_in_metadata(formats_dir: Path) -> None:
    micrograph = _read(formats_dir / "hspy_adf_perovskite.hspy")
    x_axis = micrograph.metadata["axes"][-1]
    assert x_axis["scale"] == pytest.approx(0.009326270238006416)
    assert x_axis["units"] is None


def test_jeol_tiff_calibration_and_gain(formats_dir: Path) -> None:
    micrograph = _read(formats_dir / "jeol_lzw_lowdose.tif")
    assert micrograph.metadata["compression"] == "LZW"
    assert micrograph.metadata["intensity_calibration"]["scale"] == pytest.approx(0.0227272734)
    assert micrograph.metadata["intensity_calibration"]["units"] == "e-"


def test_de_movie_unknown_voxel_size_is_recorded(formats_dir: Path) -> None:
    micrograph = _read(formats_dir / "mrc_de_movie.mrc")
    assert micrograph.metadata["axes"][-1]["scale"] == pytest.approx(-10.0)
    assert micrograph.frame_shape == (16, 16)


def test_suffix_matching_ignores_case(formats_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "STACK.MRC"
    copy.write_bytes((formats_dir / "mrc_de_movie.mrc").read_bytes())
    assert read_image(copy).data.shape == (348, 16, 16)


def test_npy_with_sidecar(tmp_path: Path) -> None:
    data = np.arange(32 * 40, dtype=np.uint16).reshape(32, 40)
    path = tmp_path / "frame.npy"
    np.save(path, data)
    assert read_image(path).pixel_size is None
    (tmp_path / "frame.npy.json").write_text(json.dumps({"pixel_size_angstrom": 0.061}))
    micrograph = read_image(path)
    assert np.array_equal(micrograph.data, data)
    assert micrograph.pixel_size == 0.061
    assert micrograph.units_found == "Å"


def test_npz_data_array_and_pixel_size(tmp_path: Path) -> None:
    data = np.ones((2, 20, 24), dtype=np.float32)
    path = tmp_path / "stack.npz"
    np.savez(path, data=data, pixel_size_angstrom=0.5, other=np.zeros(3))
    micrograph = read_image(path)
    assert micrograph.data.shape == (2, 20, 24)
    assert micrograph.pixel_size == 0.5
    single = tmp_path / "single.npz"
    np.savez(single, frame=data[0])
    assert read_image(single).data.shape == (20, 24)


def test_singleton_dimensions_are_squeezed(tmp_path: Path) -> None:
    path = tmp_path / "one.npy"
    np.save(path, np.zeros((1, 1, 20, 30), dtype=np.int16))
    assert read_image(path).data.shape == (20, 30)


def test_big_endian_data_comes_back_native(tmp_path: Path) -> None:
    path = tmp_path / "be.npy"
    data = np.arange(16 * 16, dtype=">u2").reshape(16, 16)
    np.save(path, data)
    micrograph = read_image(path)
    assert micrograph.data.dtype == np.dtype(np.uint16) and micrograph.data.dtype.isnative
    assert np.array_equal(micrograph.data, data)


def test_imagej_tiff_in_microns_from_other_software(tmp_path: Path) -> None:
    import tifffile

    path = tmp_path / "fiji.tif"
    data = np.zeros((32, 32), dtype=np.uint16)
    # Fiji spells micrometres "micron"; 0.0061 um per pixel is 61 angstrom.
    tifffile.imwrite(
        path, data, imagej=True, resolution=(1 / 0.0061, 1 / 0.0061), metadata={"unit": "micron"}
    )
    assert read_image(path).pixel_size == pytest.approx(61.0, rel=1e-9)


def test_tiff_in_pixels_per_inch_is_not_a_calibration(tmp_path: Path) -> None:
    import tifffile

    path = tmp_path / "display.tif"
    tifffile.imwrite(path, np.zeros((32, 32), dtype=np.uint8), resolution=(72, 72))
    micrograph = read_image(path)
    assert micrograph.pixel_size is None
    assert "not a calibration" in micrograph.metadata["calibration_source"]
