"""Bad files and bad arrays: each gives a specific error that names the file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sbdenoise.errors import FileFormatError, InputError
from sbdenoise.io import SUPPORTED_READ_SUFFIXES, read_image
from sbdenoise.io.validation import MAX_FRAME_SIZE, MIN_FRAME_SIZE, validate_image_array


def _raises(exc_type: type[Exception], path: Path, match: str) -> InputError:
    with pytest.raises(exc_type, match=match) as excinfo:
        read_image(path)
    assert path.name in str(excinfo.value)
    return excinfo.value


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    _raises(FileFormatError, tmp_path / "nothing_here.dm4", "file not found")


def test_unknown_suffix_lists_the_supported_ones(tmp_path: Path) -> None:
    path = tmp_path / "image.jpg"
    path.write_bytes(b"\xff\xd8\xff")
    error = _raises(FileFormatError, path, "unsupported file type '.jpg'")
    for suffix in SUPPORTED_READ_SUFFIXES:
        assert suffix in str(error)


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    path = tmp_path / "folder.tif"
    path.mkdir()
    _raises(FileFormatError, path, "directory")


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("dm3_adf_mos2.dm3", "Gatan DigitalMicrograph 3"),
        ("velox_haadf_au_nanoparticles.emd", "EMD"),
        ("tia_haadf_srtio3_1.ser", "TIA"),
        ("mrc_de_movie.mrc", "MRC"),
        ("jeol_lzw_lowdose.tif", "TIFF"),
        ("hspy_adf_perovskite.hspy", "HDF5"),
    ],
)
def test_truncated_copy_of_a_real_file(
    formats_dir: Path, tmp_path: Path, name: str, fmt: str
) -> None:
    truncated = tmp_path / name
    with open(formats_dir / name, "rb") as handle:
        truncated.write_bytes(handle.read(4096))
    _raises(FileFormatError, truncated, f"could not be read as .*{fmt}")


def test_text_file_renamed_tif(tmp_path: Path) -> None:
    path = tmp_path / "notes.tif"
    path.write_text("this is not an image\n" * 20)
    _raises(FileFormatError, path, "could not be read as TIFF")


@pytest.mark.parametrize("suffix", [".dm4", ".emd", ".mrc", ".npy", ".npz", ".hspy"])
def test_empty_file(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"empty{suffix}"
    path.write_bytes(b"")
    _raises(FileFormatError, path, "could not be read")


def test_emi_without_its_ser(formats_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "lonely.emi"
    path.write_bytes((formats_dir / "tia_haadf_srtio3.emi").read_bytes())
    _raises(FileFormatError, path, r"no matching lonely_1\.ser")


def test_rgb_tiff_is_refused(tmp_path: Path) -> None:
    import tifffile

    path = tmp_path / "colour.tif"
    tifffile.imwrite(path, np.zeros((32, 32, 3), np.uint8), photometric="rgb")
    _raises(FileFormatError, path, "colour")


def test_pickled_npy_is_never_loaded(tmp_path: Path) -> None:
    path = tmp_path / "objects.npy"
    np.save(path, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    _raises(FileFormatError, path, "never loaded")


def test_npz_with_several_arrays_and_no_data(tmp_path: Path) -> None:
    path = tmp_path / "many.npz"
    np.savez(path, a=np.zeros((16, 16)), b=np.zeros((16, 16)))
    _raises(FileFormatError, path, "none is called 'data'")


def test_broken_sidecar(tmp_path: Path) -> None:
    path = tmp_path / "frame.npy"
    np.save(path, np.zeros((16, 16), np.uint16))
    sidecar = tmp_path / "frame.npy.json"
    sidecar.write_text("{not json")
    _raises(FileFormatError, path, "JSON")
    sidecar.write_text(json.dumps({"pixel_size_angstrom": -1}))
    _raises(FileFormatError, path, "positive")


# ---------------------------------------------------------------------------------------------
# Arrays in files
# ---------------------------------------------------------------------------------------------

BAD_ARRAYS = {
    "one_d.npy": (np.zeros(100, np.uint16), "1-D"),
    "four_d.npy": (np.zeros((2, 3, 16, 16), np.uint16), "4-D"),
    "three_by_three.npy": (np.zeros((3, 3), np.float32), "too small"),
    "thin_stack.npy": (np.zeros((20, 8, 64), np.float32), "too small"),
    "with_nan.npy": (np.where(np.eye(16) > 0, np.nan, 1.0).astype(np.float32), "16 NaN"),
    "with_inf.npy": (np.full((16, 16), np.inf), "256 infinite"),
    "empty.npy": (np.zeros((0, 16), np.uint16), "empty"),
    "boolean.npy": (np.ones((16, 16), bool), "data type bool"),
    "complex.npy": (np.ones((16, 16), np.complex64), "data type complex64"),
}


@pytest.mark.parametrize("name", sorted(BAD_ARRAYS))
def test_bad_arrays_in_npy_files(tmp_path: Path, name: str) -> None:
    array, match = BAD_ARRAYS[name]
    path = tmp_path / name
    np.save(path, array)
    error = _raises(InputError, path, match)
    assert not isinstance(error, FileFormatError)  # the file is fine, its array is not


# ---------------------------------------------------------------------------------------------
# validate_image_array directly
# ---------------------------------------------------------------------------------------------


def test_validation_squeezes_and_keeps_dtype() -> None:
    data = np.zeros((1, 32, 1, 40), np.uint16)
    out = validate_image_array(data, "x.npy")
    assert out.shape == (32, 40)
    assert out.dtype == np.uint16
    assert np.shares_memory(out, data)


def test_validation_accepts_negative_values_and_minimum_size() -> None:
    data = -np.ones((2, MIN_FRAME_SIZE, MIN_FRAME_SIZE), np.float32)
    assert validate_image_array(data).shape == (2, MIN_FRAME_SIZE, MIN_FRAME_SIZE)


def test_validation_refuses_frames_that_are_too_large() -> None:
    data = np.zeros((MIN_FRAME_SIZE, MAX_FRAME_SIZE + 1), np.uint8)
    with pytest.raises(InputError, match="too large") as excinfo:
        validate_image_array(data, "huge.tif")
    assert "huge.tif" in str(excinfo.value)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (np.array(["a", "b"]), "data type"),
        (np.array(5.0), "single value"),
        (np.ones((1, 1)), "single value"),
        ([[1, 2], [3]], "cannot be turned into an array"),
    ],
)
def test_validation_messages_name_the_source(data: object, match: str) -> None:
    with pytest.raises(InputError, match=match) as excinfo:
        validate_image_array(data, source="probe.npy")
    assert str(excinfo.value).startswith("probe.npy: ")


@pytest.mark.parametrize("suffix", [".tif", ".mrc", ".hspy", ".npy"])
@pytest.mark.parametrize("fraction", [0.5, 0.97])
def test_truncated_stack_written_by_sbdenoise(tmp_path: Path, suffix: str, fraction: float) -> None:
    from sbdenoise.io import Micrograph, write_image

    data = np.arange(3 * 64 * 64, dtype=np.uint16).reshape(3, 64, 64)
    whole = write_image(Micrograph(data, pixel_size=1.0), tmp_path / f"whole{suffix}")
    content = whole.read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(content[: int(len(content) * fraction)])
    # A truncated ImageJ stack must not come back as its first frame only.
    _raises(FileFormatError, cut, "could not be read")
