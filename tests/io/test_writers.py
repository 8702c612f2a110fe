"""Writers: exact round trips, calibration kept, atomic writes, inputs never overwritten."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from sbdenoise.errors import OutputError
from sbdenoise.io import SUPPORTED_WRITE_SUFFIXES, Micrograph, read_image, write_image

PIXEL_SIZE = 0.061  # angstrom: the reference detector sampling, not exact in float32


def _image(dtype: type, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return (rng.standard_normal(shape) * 3 + 0.45).astype(dtype)
    return rng.integers(0, np.iinfo(dtype).max, size=shape, endpoint=True).astype(dtype)


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".tmp-" in p.name)


@pytest.mark.parametrize("suffix", SUPPORTED_WRITE_SUFFIXES)
@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
@pytest.mark.parametrize("shape", [(40, 48), (3, 40, 48)], ids=["frame", "stack"])
def test_round_trip_keeps_data_dtype_and_pixel_size(
    tmp_path: Path, suffix: str, dtype: type, shape: tuple[int, ...]
) -> None:
    data = _image(dtype, shape)
    path = tmp_path / f"out{suffix}"
    written = write_image(Micrograph(data, pixel_size=PIXEL_SIZE, units_found="nm"), path)
    assert written == path
    back = read_image(path)
    assert back.data.dtype == data.dtype
    assert np.array_equal(back.data, data)
    assert back.pixel_size == pytest.approx(PIXEL_SIZE, rel=1e-6)
    assert back.metadata["pixel_size_y_angstrom"] == pytest.approx(PIXEL_SIZE, rel=1e-6)
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("suffix", SUPPORTED_WRITE_SUFFIXES)
def test_unknown_pixel_size_stays_unknown(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"plain{suffix}"
    write_image(Micrograph(_image(np.uint16, (32, 32))), path)
    assert read_image(path).pixel_size is None


@pytest.mark.parametrize("suffix", [".tif", ".mrc", ".hspy", ".npy"])
@pytest.mark.parametrize("pixel_size", [0.01, 0.0749840149013099, 2.0, 29.884567484259605])
def test_pixel_size_read_back_exactly(tmp_path: Path, suffix: str, pixel_size: float) -> None:
    path = tmp_path / f"p{suffix}"
    write_image(Micrograph(_image(np.float32, (16, 16)), pixel_size=pixel_size), path)
    assert read_image(path).pixel_size == pixel_size


@pytest.mark.parametrize("suffix", [".tif", ".mrc", ".hspy", ".npy"])
def test_int16_with_negative_values_is_kept(tmp_path: Path, suffix: str) -> None:
    data = (np.arange(20 * 24, dtype=np.int16) - 200).reshape(20, 24)
    path = tmp_path / f"signed{suffix}"
    write_image(Micrograph(data, pixel_size=1.5), path)
    back = read_image(path)
    assert back.data.dtype == np.int16
    assert np.array_equal(back.data, data)
    assert back.pixel_size == 1.5


@pytest.mark.parametrize("suffix", [".tif", ".mrc"])
def test_float64_is_stored_as_float32(tmp_path: Path, suffix: str) -> None:
    data = _image(np.float64, (20, 20))
    path = tmp_path / f"f64{suffix}"
    write_image(Micrograph(data, pixel_size=1.0), path)
    back = read_image(path)
    assert back.data.dtype == np.float32
    assert np.array_equal(back.data, data.astype(np.float32))


def test_tiff_is_an_imagej_hyperstack_calibrated_in_nm(tmp_path: Path) -> None:
    import tifffile

    path = tmp_path / "stack.tif"
    write_image(Micrograph(_image(np.uint16, (4, 20, 24)), pixel_size=PIXEL_SIZE), path)
    with tifffile.TiffFile(path) as tif:
        assert tif.is_imagej
        assert tif.imagej_metadata["unit"] == "nm"
        assert tif.imagej_metadata["frames"] == 4
        num, den = tif.pages[0].tags["XResolution"].value
    assert den / num == pytest.approx(PIXEL_SIZE / 10, rel=1e-9)  # nm per pixel


def test_mrc_voxel_size_in_angstrom_and_stack_flag(tmp_path: Path) -> None:
    import mrcfile

    path = tmp_path / "stack.mrc"
    write_image(Micrograph(_image(np.float32, (3, 20, 24)), pixel_size=PIXEL_SIZE), path)
    with mrcfile.open(path) as mrc:
        assert mrc.is_image_stack()
        assert float(mrc.voxel_size.x) == pytest.approx(PIXEL_SIZE, rel=1e-6)


def test_npy_sidecar_content(tmp_path: Path) -> None:
    path = tmp_path / "frame.npy"
    source = tmp_path / "raw.dm4"
    micrograph = Micrograph(
        _image(np.uint16, (16, 16)),
        pixel_size=0.5,
        units_found="pm",
        source=source,
        metadata={"voltage_kV": 300.0, "not_json": object(), "array": np.arange(3)},
    )
    write_image(micrograph, path)
    sidecar = json.loads((tmp_path / "frame.npy.json").read_text(encoding="utf-8"))
    assert sidecar["pixel_size_angstrom"] == 0.5
    assert sidecar["units"] == "Å"
    assert sidecar["units_found"] == "pm"
    assert sidecar["source"] == str(source)
    assert sidecar["metadata"]["voltage_kV"] == 300.0
    assert sidecar["metadata"]["array"] == [0, 1, 2]
    assert "not_json" not in sidecar["metadata"]
    assert read_image(path).metadata["voltage_kV"] == 300.0


def test_real_file_survives_a_round_trip(formats_dir: Path, tmp_path: Path) -> None:
    original = read_image(formats_dir / "tia_haadf_srtio3_1.ser")
    for suffix in (".tif", ".mrc", ".hspy", ".npy"):
        path = write_image(original, tmp_path / f"copy{suffix}")
        back = read_image(path)
        assert np.array_equal(back.data, original.data)
        assert back.pixel_size == original.pixel_size


def test_parent_directories_are_created(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "out.tif"
    write_image(Micrograph(_image(np.uint8, (16, 16))), path)
    assert path.is_file()


def test_existing_output_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "out.npy"
    write_image(Micrograph(np.zeros((16, 16), np.uint16)), path)
    write_image(Micrograph(np.ones((16, 16), np.uint16)), path)
    assert read_image(path).data.max() == 1
    assert _leftovers(tmp_path) == []


def test_only_the_output_is_left_in_the_directory(tmp_path: Path) -> None:
    for suffix in SUPPORTED_WRITE_SUFFIXES:
        write_image(Micrograph(_image(np.uint16, (16, 16))), tmp_path / f"x{suffix}")
    names = sorted(p.name for p in tmp_path.iterdir())
    expected = sorted([f"x{s}" for s in SUPPORTED_WRITE_SUFFIXES] + ["x.npy.json"])
    assert names == expected


@pytest.mark.parametrize("suffix", [".npy", ".tif", ".mrc"])
def test_writing_over_the_source_is_refused(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"input{suffix}"
    write_image(Micrograph(_image(np.uint16, (16, 16)), pixel_size=1.0), path)
    before = path.read_bytes()
    micrograph = read_image(path)
    with pytest.raises(OutputError, match="input"):
        write_image(micrograph.with_data(micrograph.data + 1), path)
    assert path.read_bytes() == before
    assert _leftovers(tmp_path) == []


def test_writing_over_a_listed_input_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "input.tif"
    write_image(Micrograph(_image(np.uint16, (16, 16))), path)
    before = path.read_bytes()
    other_spelling = tmp_path / "sub" / ".." / "input.tif"
    (tmp_path / "sub").mkdir()
    with pytest.raises(OutputError) as excinfo:
        write_image(Micrograph(np.zeros((16, 16), np.uint16)), other_spelling, inputs=[path])
    assert "input.tif" in str(excinfo.value)
    assert path.read_bytes() == before


def test_writing_over_a_hard_link_to_the_input_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "input.npy"
    write_image(Micrograph(_image(np.uint16, (16, 16))), path)
    link = tmp_path / "link.npy"
    os.link(path, link)
    with pytest.raises(OutputError):
        write_image(Micrograph(np.zeros((16, 16), np.uint16)), link, inputs=(str(path),))


def test_unknown_output_suffix_lists_the_supported_ones(tmp_path: Path) -> None:
    with pytest.raises(OutputError) as excinfo:
        write_image(Micrograph(np.zeros((16, 16))), tmp_path / "out.jpg")
    message = str(excinfo.value)
    assert "out.jpg" in message
    for suffix in SUPPORTED_WRITE_SUFFIXES:
        assert suffix in message


def test_failed_write_leaves_nothing_behind(tmp_path: Path) -> None:
    # int64 values beyond 2**24 cannot go into an MRC file without changing them.
    data = np.full((16, 16), 2**40, dtype=np.int64)
    path = tmp_path / "big.mrc"
    with pytest.raises(OutputError, match=r"big\.mrc"):
        write_image(Micrograph(data), path)
    assert list(tmp_path.iterdir()) == []


def test_output_path_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "out.tif").mkdir()
    with pytest.raises(OutputError, match="directory"):
        write_image(Micrograph(np.zeros((16, 16), np.uint16)), tmp_path / "out.tif")


def test_crash_while_writing_keeps_the_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sbdenoise.io import writers

    path = tmp_path / "out.npy"
    write_image(Micrograph(np.zeros((16, 16), np.uint16), pixel_size=1.0), path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def crash(target: Path, *args: object) -> None:
        target.write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setitem(writers._WRITERS, ".npy", ("NumPy .npy", crash))
    with pytest.raises(OutputError, match="disk full"):
        write_image(Micrograph(np.ones((16, 16), np.uint16), pixel_size=2.0), path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
