"""Writers for images and stacks, with their pixel size, that never overwrite an input.

Every writer goes through :func:`write_image`, which checks the output path, writes to a temporary
file in the output directory and renames it into place, so a crash or a full disk never leaves a
half-written file under the requested name.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from sbdenoise.errors import InputError, OutputError
from sbdenoise.io.micrograph import Micrograph
from sbdenoise.io.readers import SIDECAR_SUFFIX, unsupported_suffix
from sbdenoise.io.validation import check_pixel_size, validate_image_array

__all__ = ["SUPPORTED_WRITE_SUFFIXES", "write_image"]

#: File suffixes :func:`write_image` can write (lower case; matching ignores case).
SUPPORTED_WRITE_SUFFIXES: tuple[str, ...] = (".tif", ".tiff", ".mrc", ".mrcs", ".hspy", ".npy")

# Key under which the exact pixel size in angstrom is stored beside the format's own calibration
# (which may be rounded: MRC stores float32, TIFF a rational); the readers use it when it agrees.
_EXACT_KEY = "sbdenoise_pixel_size_angstrom"
_IMAGEJ_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.float32))
_REASON_CHARS = 200


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _jsonable(value: Any, depth: int = 0) -> Any:
    """Return a JSON-serialisable copy of ``value``, dropping what cannot be serialised."""
    if depth > 8:
        raise TypeError("nested too deeply")
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            try:
                out[str(key)] = _jsonable(item, depth + 1)
            except TypeError:
                continue
        return out
    if isinstance(value, list | tuple):
        return [_jsonable(item, depth + 1) for item in value]
    if isinstance(value, np.ndarray) and value.size <= 64:
        return _jsonable(value.tolist(), depth + 1)
    raise TypeError(f"cannot store {type(value).__name__} as JSON")


def _description(micrograph: Micrograph) -> dict[str, Any]:
    """Return what sbdenoise stores about an image beside its pixels."""
    metadata = _jsonable(micrograph.metadata) if micrograph.metadata else {}
    return {
        "pixel_size_angstrom": micrograph.pixel_size,
        "units": "Å",
        "units_found": micrograph.units_found,
        "source": None if micrograph.source is None else str(micrograph.source),
        "metadata": metadata,
        "written_by": "sbdenoise",
    }


def _lossless_cast(data: np.ndarray, allowed: Iterable[np.dtype], fmt: str, path: Path) -> Any:
    """Return ``data`` in the first allowed dtype that holds every value exactly."""
    allowed = [np.dtype(dtype) for dtype in allowed]
    if data.dtype in allowed:
        return data
    low, high = (data.min(), data.max()) if data.size else (0, 0)
    for dtype in allowed:
        if dtype.kind in "iu":
            if data.dtype.kind not in "iu":
                continue
            info = np.iinfo(dtype)
            if info.min <= low and high <= info.max:
                return data.astype(dtype)
        elif dtype == np.float32:
            if data.dtype.kind in "iu" and max(abs(int(low)), abs(int(high))) <= 2**24:
                return data.astype(dtype)
            if data.dtype == np.float16:
                return data.astype(dtype)
    raise OutputError(
        f"cannot store {data.dtype} values from {low} to {high} in {fmt} without changing them; "
        "write .npy or .hspy instead",
        path,
    )


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return os.path.normcase(a.resolve()) == os.path.normcase(b.resolve())


# --------------------------------------------------------------------------------------------
# Format writers: each writes ``data`` to ``target`` (a temporary file that already exists)
# --------------------------------------------------------------------------------------------


def _write_tiff(target: Path, data: np.ndarray, micrograph: Micrograph, final: Path) -> None:
    import tifffile

    if data.dtype.kind == "f" and data.dtype != np.float32:
        data = data.astype(np.float32)  # ImageJ has no float16 or float64
    pixel_size = micrograph.pixel_size
    axes = "TYX" if data.ndim == 3 else "YX"
    if data.dtype in _IMAGEJ_DTYPES:
        metadata: dict[str, Any] = {"axes": axes}
        kwargs: dict[str, Any] = {}
        if pixel_size is not None:
            pixels_per_nm = 10.0 / pixel_size
            kwargs["resolution"] = (pixels_per_nm, pixels_per_nm)
            metadata["unit"] = "nm"
            metadata[_EXACT_KEY] = repr(float(pixel_size))
        tifffile.imwrite(target, data, imagej=True, metadata=metadata, **kwargs)
        return
    # Other integer types: ImageJ cannot open them, so write a plain TIFF that keeps the dtype,
    # with the pixel size in its JSON description and in the resolution tags (pixels per cm).
    kwargs = {"photometric": "minisblack"}
    if pixel_size is not None:
        pixels_per_cm = 1e8 / pixel_size
        if pixels_per_cm < 2**31:
            kwargs["resolution"] = (pixels_per_cm, pixels_per_cm)
            kwargs["resolutionunit"] = tifffile.RESUNIT.CENTIMETER
    tifffile.imwrite(
        target,
        data,
        metadata={"axes": axes, "pixel_size_angstrom": pixel_size},
        **kwargs,
    )


def _write_mrc(target: Path, data: np.ndarray, micrograph: Micrograph, final: Path) -> None:
    import mrcfile

    if data.dtype == np.float64:
        data = data.astype(np.float32)  # MRC has no float64 mode
    mrc_dtypes = (np.int8, np.int16, np.uint16, np.float16, np.float32, np.uint8)
    data = _lossless_cast(data, mrc_dtypes, "MRC", final)
    with mrcfile.new(target, overwrite=True) as mrc:
        mrc.set_data(data)
        if data.ndim == 3:
            mrc.set_image_stack()
        if micrograph.pixel_size is not None:
            mrc.voxel_size = float(micrograph.pixel_size)
            mrc.add_label(f"{_EXACT_KEY}={float(micrograph.pixel_size)!r}")
        mrc.add_label("written by sbdenoise")


def _write_hspy(target: Path, data: np.ndarray, micrograph: Micrograph, final: Path) -> None:
    from rsciio import hspy

    pixel_size = micrograph.pixel_size
    image_axes = []
    for name, size in zip(("y", "x"), data.shape[-2:], strict=True):
        axis: dict[str, Any] = {"name": name, "size": int(size), "offset": 0.0, "navigate": False}
        if pixel_size is not None:
            axis.update(scale=pixel_size / 10.0, units="nm")  # HyperSpy users work in nm
        else:
            axis.update(scale=1.0)
        image_axes.append(axis)
    axes = image_axes
    if data.ndim == 3:
        frames = {"name": "frame", "size": int(data.shape[0]), "scale": 1.0, "offset": 0.0}
        axes = [{**frames, "navigate": True}, *image_axes]
    title = micrograph.metadata.get("title") or (
        micrograph.source.stem if micrograph.source is not None else final.stem
    )
    signal = {
        "data": data,
        "axes": axes,
        "metadata": {"General": {"title": str(title)}, "Signal": {"signal_type": ""}},
        "original_metadata": {"sbdenoise": json.dumps(_description(micrograph))},
        "learning_results": {},
        "attributes": {"_lazy": False},
        "models": {},
        "package_info": {"name": "sbdenoise", "version": _version()},
        "tmp_parameters": {},
    }
    hspy.file_writer(str(target), signal, show_progressbar=False)


def _write_npy(target: Path, data: np.ndarray, micrograph: Micrograph, final: Path) -> None:
    with open(target, "wb") as handle:
        np.save(handle, data, allow_pickle=False)


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("sbdenoise")
    except Exception:
        return "unknown"


_WRITERS: dict[str, tuple[str, Callable[[Path, np.ndarray, Micrograph, Path], None]]] = {
    ".tif": ("TIFF", _write_tiff),
    ".tiff": ("TIFF", _write_tiff),
    ".mrc": ("MRC", _write_mrc),
    ".mrcs": ("MRC", _write_mrc),
    ".hspy": ("HyperSpy HDF5", _write_hspy),
    ".npy": ("NumPy .npy", _write_npy),
}


# --------------------------------------------------------------------------------------------
# Atomic writing
# --------------------------------------------------------------------------------------------


def _reserve_temporary(final: Path) -> Path:
    """Create and return an empty temporary file beside ``final`` (same directory, same suffix)."""
    for _ in range(100):
        candidate = final.with_name(f".{final.name}.tmp-{secrets.token_hex(4)}{final.suffix}")
        try:
            with open(candidate, "xb"):
                return candidate
        except FileExistsError:
            continue
    raise OutputError("could not create a temporary file next to it", final)


def _write_atomically(fmt: str, jobs: list[tuple[Path, Callable[[Path], None]]]) -> None:
    """Write each ``(final, write)`` job to a temporary file, then rename them all into place.

    Nothing is renamed until every temporary file has been written, so a failure leaves the
    existing files (and no temporary ones) behind.
    """
    temporaries: list[Path] = []
    try:
        for final, write in jobs:
            temporary = _reserve_temporary(final)
            temporaries.append(temporary)
            write(temporary)
        for (final, _), temporary in zip(jobs, temporaries, strict=True):
            os.replace(temporary, final)
    except BaseException as exc:
        for temporary in temporaries:
            with contextlib.suppress(OSError):
                temporary.unlink()
        if isinstance(exc, InputError | OutputError) or not isinstance(exc, Exception):
            raise
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        reason = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
        raise OutputError(
            f"could not be written as {fmt}: {reason[:_REASON_CHARS]}", jobs[0][0]
        ) from exc


def write_image(
    micrograph: Micrograph, path: str | os.PathLike[str], *, inputs: Iterable[Any] = ()
) -> Path:
    """Write an image or stack with its pixel size, atomically, never over an input.

    Parameters
    ----------
    micrograph : Micrograph
        The pixels (``(y, x)`` or ``(frames, y, x)``) and the pixel size in angstrom (or None).
    path : str or os.PathLike
        Output file; its suffix (case ignored) picks the format, one of
        :data:`SUPPORTED_WRITE_SUFFIXES`. Missing parent directories are created.

        * ``.tif``/``.tiff``: uint8, uint16 and float32 are written as an ImageJ hyperstack
          (stacks as time frames) calibrated in nm (``unit=nm``, X/YResolution in pixels per nm),
          which ImageJ/Fiji shows as a scale; float16 is widened to float32 and **float64 is
          rounded to float32** (ImageJ has no 64-bit float). Other integer types are kept in a
          plain (non-ImageJ) TIFF with the pixel size in its JSON description and in the
          resolution tags (pixels per cm).
        * ``.mrc``/``.mrcs``: voxel size in angstrom, stacks as image stacks (space group 0);
          int8, int16, uint16, float16 and float32 are kept, uint8 is widened to uint16 by the
          MRC format, other integers are converted only when every value fits, and **float64 is
          rounded to float32**.
        * ``.hspy``: any numeric dtype, axes calibrated in nm, stacks with a navigation axis.
        * ``.npy``: any numeric dtype, with a JSON sidecar ``<name>.npy.json`` holding
          ``pixel_size_angstrom``, ``units``, ``source`` and the JSON-serialisable metadata.

        Every format also records the exact pixel size in angstrom, which :func:`read_image`
        uses when it agrees with the format's own (possibly rounded) calibration.
    inputs : iterable of str or os.PathLike, optional
        Files the image was made from; writing over any of them (or over
        ``micrograph.source``) is refused.

    Returns
    -------
    Path
        The path written.

    Raises
    ------
    OutputError
        If the suffix is not supported, the path is one of the inputs or a directory, or the file
        cannot be written (the message names the path and the reason).
    InputError
        If the pixels are not a usable image (see
        :func:`~sbdenoise.io.validation.validate_image_array`).
    """
    final = Path(path)
    suffix = final.suffix.lower()
    if suffix not in _WRITERS:
        raise OutputError(
            unsupported_suffix(suffix, SUPPORTED_WRITE_SUFFIXES, "output file type"), final
        )
    data = validate_image_array(micrograph.data, micrograph.source or final)
    if micrograph.pixel_size is not None:
        check_pixel_size(micrograph.pixel_size, micrograph.source or final)
    sidecar = final.with_name(final.name + SIDECAR_SUFFIX) if suffix == ".npy" else None
    protected = [Path(p) for p in inputs]
    if micrograph.source is not None:
        protected.append(Path(micrograph.source))
    for target in (final, sidecar):
        if target is None:
            continue
        for other in protected:
            if _same_file(target, other):
                raise OutputError(
                    f"is the input file {other}; refusing to overwrite an input "
                    "(choose another output name)",
                    target,
                )
        if target.is_dir():
            raise OutputError("is a directory; give a file name", target)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create its directory: {exc}", final) from exc
    fmt, writer = _WRITERS[suffix]
    jobs: list[tuple[Path, Callable[[Path], None]]] = [
        (final, lambda temporary: writer(temporary, data, micrograph, final))
    ]
    if sidecar is not None:
        text = json.dumps(_description(micrograph), indent=2, ensure_ascii=False) + "\n"
        jobs.append((sidecar, lambda temporary: temporary.write_text(text, encoding="utf-8")))
    _write_atomically(fmt, jobs)
    return final
