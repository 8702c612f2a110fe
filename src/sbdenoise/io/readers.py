"""Readers for microscope image files, with the pixel size normalised to angstrom.

One entry point, :func:`read_image`, dispatches on the file suffix to a maintained library
(rosettasciio for Gatan, TIA, EMD and HyperSpy files; mrcfile; tifffile; NumPy) and returns a
:class:`~sbdenoise.io.micrograph.Micrograph`. Every failure is raised as a
:class:`~sbdenoise.errors.FileFormatError` (or an :class:`~sbdenoise.errors.InputError` for an
array that is not an image) naming the file, never as a library's own exception.

Calibration rules
-----------------
* The pixel size is that of the x axis (the last array axis). When the y axis has a different
  pixel size a :class:`UserWarning` is emitted; both are kept in ``metadata["axes"]``.
* A missing, pixel or placeholder calibration (an MRC voxel size <= 0, a scale without a unit)
  gives ``pixel_size=None``: the reader never guesses a unit.
* ``units_found`` is the unit string exactly as stored in the file (``"n_m"``, ``"ƒÊm"``, ...).
"""

from __future__ import annotations

import glob
import json
import logging
import math
import os
import re
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sbdenoise.errors import FileFormatError, InputError
from sbdenoise.io.micrograph import Micrograph
from sbdenoise.io.units import angstrom_per_unit, is_unitless, length_to_angstrom
from sbdenoise.io.validation import validate_image_array

__all__ = ["SIDECAR_SUFFIX", "SUPPORTED_READ_SUFFIXES", "read_image"]

#: File suffixes :func:`read_image` understands (lower case; matching ignores case).
SUPPORTED_READ_SUFFIXES: tuple[str, ...] = (
    ".dm3",
    ".dm4",
    ".emd",
    ".emi",
    ".ser",
    ".hspy",
    ".mrc",
    ".mrcs",
    ".tif",
    ".tiff",
    ".npy",
    ".npz",
)

#: Suffix added to a ``.npy`` file name for its JSON sidecar (``image.npy`` -> ``image.npy.json``).
SIDECAR_SUFFIX = ".json"


def unsupported_suffix(suffix: str, supported: Iterable[str], kind: str = "file type") -> str:
    """The message for a file suffix no reader (or writer) handles.

    Parameters
    ----------
    suffix : str
        The file's suffix, lower case (empty when the name has none).
    supported : iterable of str
        The suffixes that are handled, listed in the message.
    kind : str
        What the suffix stands for (``"file type"``, ``"output file type"``).

    Returns
    -------
    str
        ``"unsupported <kind> '<suffix>'; supported: .a, .b"``.
    """
    return f"unsupported {kind} {suffix or '(no suffix)'!r}; supported: " + ", ".join(supported)


# Key under which files written by sbdenoise carry the exact pixel size in angstrom.
_EXACT_KEY = "sbdenoise_pixel_size_angstrom"
# Relative agreement required between that exact value and the file's own calibration.
_EXACT_RTOL = 1e-6
# Relative difference above which y and x pixel sizes are reported as different.
_SQUARE_RTOL = 1e-6
_REASON_CHARS = 200
# Units that say explicitly that an axis is in pixels (no warning for a scale with them).
_PIXEL_UNITS = frozenset({"px", "pix", "pixel", "pixels"})


@dataclass
class _Raw:
    """What a format-specific reader found, before the common checks."""

    data: np.ndarray
    # One entry per array axis, in array order: name, scale, offset, units (as stored).
    axes: list[dict[str, Any]]
    metadata: dict[str, Any] = field(default_factory=dict)
    # Pixel size in angstrom recorded by sbdenoise when it wrote the file (exact float).
    exact_pixel_size: float | None = None
    # Calibration already in angstrom, for formats that store it that way (npy sidecar).
    pixel_size_override: tuple[float | None, str | None] | None = None


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def _warn(message: str) -> None:
    # stacklevel 4 points at the caller of read_image for warnings from _finish and from the
    # format readers read_image calls directly (deeper helpers point inside this module).
    warnings.warn(message, UserWarning, stacklevel=4)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    name = type(exc).__name__
    reason = f"{name}: {text}" if text else name
    return reason if len(reason) <= _REASON_CHARS else reason[: _REASON_CHARS - 3] + "..."


def _unreadable(path: Path, fmt: str, exc: BaseException) -> FileFormatError:
    return FileFormatError(
        f"could not be read as {fmt} (truncated or corrupt file?): {_reason(exc)}", path
    )


def _plain(value: Any, depth: int = 0) -> Any:
    """Return a JSON-serialisable copy of small metadata values (None for anything else)."""
    if depth > 6:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.ndarray) and value.size <= 16:
        return [_plain(v, depth + 1) for v in value.tolist()]
    if isinstance(value, list | tuple) and len(value) <= 64:
        return [_plain(v, depth + 1) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v, depth + 1) for k, v in value.items()}
    return None


def _flatten(tree: Mapping[str, Any], prefix: str = "", depth: int = 0) -> Iterable[tuple]:
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            if depth < 8:
                yield from _flatten(value, name + ".", depth + 1)
        else:
            yield name, value


# Acceleration voltage in the metadata trees of the formats read with rosettasciio: key suffix
# (lower case) and factor to kV.
_VOLTAGE_KEYS = (
    ("microscope info.voltage", 1e-3),  # Gatan, V
    ("high tension_kv", 1.0),  # TIA ExperimentalDescription, kV
    ("microscopeconditions.acceleratingvoltage", 1e-3),  # TIA, V
    ("optics.accelerationvoltage", 1e-3),  # Velox, V
    ("microscope.high tension", 1e-3),  # Berkeley EMD, V
    ("tem.beam_energy", 1.0),  # rosettasciio metadata, keV
)


def _find_voltage_kv(*trees: Mapping[str, Any]) -> float | None:
    for tree in trees:
        flat = [(key.lower(), value) for key, value in _flatten(tree)]
        for suffix, factor in _VOLTAGE_KEYS:
            for key, value in flat:
                if key.endswith(suffix):
                    try:
                        kv = float(value) * factor
                    except (TypeError, ValueError):
                        continue
                    if 0.0 < kv < 5000.0:
                        return kv
    return None


def _axis(name: str, size: int, scale: Any = 1.0, offset: Any = 0.0, units: Any = None) -> dict:
    return {
        "name": str(name),
        "size": int(size),
        "scale": _plain(scale) if not isinstance(scale, str) else scale,
        "offset": _plain(offset),
        "units": None if units is None else str(units),
    }


def _default_axes(shape: tuple[int, ...]) -> list[dict[str, Any]]:
    named = ("frame", "y", "x")
    count = min(len(shape), len(named))
    names = [f"axis{i}" for i in range(len(shape) - count)] + list(named[len(named) - count :])
    return [_axis(name, size, None) for name, size in zip(names, shape, strict=True)]


# --------------------------------------------------------------------------------------------
# rosettasciio formats: Gatan, TIA, EMD, HyperSpy
# --------------------------------------------------------------------------------------------


def _signal_dims(signal: Mapping[str, Any]) -> int:
    axes = signal.get("axes") or []
    if axes and all("navigate" in ax for ax in axes):
        return sum(1 for ax in axes if not ax["navigate"])
    return np.ndim(signal.get("data"))


def _title(signal: Mapping[str, Any]) -> str:
    return str(signal.get("metadata", {}).get("General", {}).get("title", "") or "")


def _pick_image(signals: list[dict], path: Path, fmt: str) -> dict:
    images = [s for s in signals if _signal_dims(s) == 2 and np.ndim(s.get("data")) in (2, 3)]
    if not images:
        kinds = ", ".join(f"{np.ndim(s.get('data'))}-D '{_title(s)}'" for s in signals) or "nothing"
        raise FileFormatError(f"holds no image or image stack ({fmt}; found {kinds})", path)
    if len(images) > 1:
        titles = ", ".join(repr(_title(s)) for s in images)
        _warn(f"{path}: holds {len(images)} images ({titles}); reading the first")
    return images[0]


def _rsciio_axes(signal: Mapping[str, Any], ndim: int) -> list[dict[str, Any]]:
    axes = list(signal.get("axes") or [])
    if len(axes) != ndim:
        return _default_axes(tuple(np.shape(signal["data"])))
    if all("index_in_array" in ax for ax in axes):
        axes.sort(key=lambda ax: int(ax["index_in_array"]))
    return [
        _axis(
            ax.get("name", f"axis{i}"),
            ax.get("size", np.shape(signal["data"])[i]),
            ax.get("scale", 1.0),
            ax.get("offset", 0.0),
            ax.get("units"),
        )
        for i, ax in enumerate(axes)
    ]


def _dm_intensity(original: Mapping[str, Any], shape: tuple[int, ...]) -> dict | None:
    """Return the DigitalMicrograph intensity calibration of the image of this shape."""
    groups = original.get("ImageList", {})
    for group in groups.values() if isinstance(groups, Mapping) else ():
        image_data = group.get("ImageData", {}) if isinstance(group, Mapping) else {}
        dims = image_data.get("Dimensions", {})
        sizes = tuple(int(v) for v in dims.values()) if isinstance(dims, Mapping) else ()
        if tuple(reversed(sizes)) != tuple(shape):
            continue
        brightness = image_data.get("Calibrations", {}).get("Brightness", {})
        if not brightness:
            return None
        units = brightness.get("Units")
        return {
            "scale": _plain(brightness.get("Scale")),
            "offset": _plain(brightness.get("Origin")),
            "units": units if isinstance(units, str) else None,
        }
    return None


def _from_rsciio(
    path: Path,
    fmt: str,
    signals: list[dict] | Callable[[], list[dict]],
    choose: Callable[[list[dict]], dict] | None = None,
) -> tuple[_Raw, dict]:
    """Turn the signal dictionaries of a rosettasciio reader into a :class:`_Raw`.

    ``signals`` is the reader's result, or a function that returns it (its exceptions are
    reported as an unreadable file). Returns the raw image and the signal dictionary chosen.
    """
    if callable(signals):
        try:
            signals = signals()
        except Exception as exc:
            raise _unreadable(path, fmt, exc) from exc
    if not signals:
        raise FileFormatError(f"holds no data ({fmt})", path)
    signal = choose(signals) if choose is not None else _pick_image(signals, path, fmt)
    data = signal["data"]
    if not isinstance(data, np.ndarray) or isinstance(data, np.memmap):
        data = np.array(data)
    original = signal.get("original_metadata") or {}
    general = (signal.get("metadata") or {}).get("General", {})
    metadata: dict[str, Any] = {"format": fmt}
    if _title(signal):
        metadata["title"] = _title(signal)
    for key in ("date", "time"):
        if general.get(key):
            metadata[key] = str(general[key])
    voltage = _find_voltage_kv(original, signal.get("metadata") or {})
    if voltage is not None:
        metadata["voltage_kV"] = voltage
    raw = _Raw(data=data, axes=_rsciio_axes(signal, data.ndim), metadata=metadata)
    stored = original.get("sbdenoise") if isinstance(original, Mapping) else None
    if isinstance(stored, str | bytes):
        _apply_sbdenoise_json(raw, stored)
    return raw, signal


def _apply_sbdenoise_json(raw: _Raw, text: str | bytes) -> None:
    """Take the exact pixel size and metadata that sbdenoise stored in a file it wrote."""
    try:
        stored = json.loads(text)
    except (TypeError, ValueError):
        return
    if not isinstance(stored, dict):
        return
    value = stored.get("pixel_size_angstrom")
    if isinstance(value, int | float) and not isinstance(value, bool):
        raw.exact_pixel_size = float(value)
    extra = stored.get("metadata")
    if isinstance(extra, dict):
        for key, item in extra.items():
            raw.metadata.setdefault(key, item)


def _read_dm(path: Path) -> _Raw:
    from rsciio import digitalmicrograph

    fmt = f"Gatan DigitalMicrograph {path.suffix[-1]}"
    raw, signal = _from_rsciio(
        path, fmt, lambda: digitalmicrograph.file_reader(str(path), lazy=False)
    )
    intensity = _dm_intensity(signal.get("original_metadata") or {}, raw.data.shape)
    if intensity:
        raw.metadata["intensity_calibration"] = intensity
    return raw


_SER_NUMBER = re.compile(r"^(?P<stem>.+)_(?P<n>\d+)$")


def _original_filename(signal: Mapping[str, Any]) -> str | None:
    return signal.get("metadata", {}).get("General", {}).get("original_filename")


def _read_tia(path: Path) -> _Raw:
    from rsciio import tia

    fmt = "FEI TIA EMI/SER"
    if path.suffix.lower() == ".emi":
        numbered = [
            (int(match["n"]), ser)
            for ser in path.parent.glob(f"{glob.escape(path.stem)}_*.ser")
            if (match := _SER_NUMBER.match(ser.stem)) and match["stem"] == path.stem
        ]
        if not numbered:
            raise FileFormatError(
                f"no matching {path.stem}_1.ser next to it; a TIA .emi file holds only metadata, "
                "the pixels are in its .ser file(s)",
                path,
            )
        first = min(numbered)[1].name

        def choose(signals: list[dict]) -> dict:
            for signal in signals:
                if _original_filename(signal) == first:
                    return signal
            return _pick_image(signals, path, fmt)

        raw, _ = _from_rsciio(path, fmt, lambda: tia.file_reader(str(path), lazy=False), choose)
        raw.metadata["ser_file"] = first
        return raw
    # A .ser file: read it through its .emi when there is one, for the acquisition metadata.
    match = _SER_NUMBER.match(path.stem)
    emi = path.with_name(f"{match['stem']}.emi") if match else None
    if emi is not None and emi.is_file():
        try:
            signals = tia.file_reader(str(emi), lazy=False)
        except Exception:  # a damaged .emi: fall back to the .ser alone
            signals = []
        mine = [s for s in signals if _original_filename(s) == path.name]
        if mine:
            raw, _ = _from_rsciio(path, fmt, mine)
            raw.metadata["ser_file"] = path.name
            return raw
    raw, _ = _from_rsciio(path, fmt, lambda: tia.file_reader(str(path), lazy=False))
    raw.metadata["ser_file"] = path.name
    return raw


def _emd_flavour(path: Path) -> str:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            if "Version" in f:
                try:
                    version = json.loads(f["Version"][0])
                    name = str(version.get("format", "Velox"))
                    number = str(version.get("version", "")).strip()
                    return f"EMD ({name} {number})" if number else f"EMD ({name})"
                except Exception:
                    return "EMD (Velox)"
            if "version_major" in f.attrs:
                major = int(f.attrs["version_major"])
                minor = int(f.attrs.get("version_minor", 0))
                return f"EMD (Berkeley/NCEM v{major}.{minor})"
    except Exception as exc:
        raise _unreadable(path, "EMD (HDF5)", exc) from exc
    return "EMD"


def _read_emd(path: Path) -> _Raw:
    from rsciio import emd

    fmt = _emd_flavour(path)
    return _from_rsciio(path, fmt, lambda: emd.file_reader(str(path), lazy=False))[0]


def _read_hspy(path: Path) -> _Raw:
    from rsciio import hspy

    fmt = "HyperSpy HDF5"
    return _from_rsciio(path, fmt, lambda: hspy.file_reader(str(path), lazy=False))[0]


# --------------------------------------------------------------------------------------------
# MRC
# --------------------------------------------------------------------------------------------


def _read_mrc(path: Path) -> _Raw:
    import mrcfile

    fmt = "MRC"
    try:
        handle = mrcfile.open(path, mode="r")
        strict_problem = None
    except ValueError as exc:  # mrcfile's way of saying the header or data block is not valid
        strict_problem = exc
        handle = None
    except Exception as exc:
        raise _unreadable(path, fmt, exc) from exc
    if handle is None:
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            try:
                handle = mrcfile.open(path, mode="r", permissive=True)
            except Exception as exc:
                raise _unreadable(path, fmt, exc) from exc
    with handle as mrc:
        if mrc.data is None:
            raise _unreadable(path, fmt, strict_problem or ValueError("no data block"))
        data = np.asarray(mrc.data)
        header = mrc.header
        voxel = mrc.voxel_size
        labels = [
            bytes(label).rstrip(b"\x00 ").decode("ascii", errors="replace")
            for label in header.label[: max(0, min(int(header.nlabl), 10))]
        ]
        metadata: dict[str, Any] = {
            "format": fmt,
            "mrc_mode": int(header.mode),
            "mrc_space_group": int(header.ispg),
            "mrc_labels": [label for label in labels if label],
        }
    if strict_problem is not None:
        metadata["mrc_header_problem"] = str(strict_problem)
        _warn(
            f"{path}: non-standard MRC header ({strict_problem}); read in permissive mode: "
            "check the image and its pixel size"
        )
    scales = {"x": float(voxel.x), "y": float(voxel.y), "z": float(voxel.z)}
    names = ["z", "y", "x"][-data.ndim :] if data.ndim <= 3 else []
    axes = [
        _axis("frame" if n == "z" else n, size, scales.get(n), 0.0, "Å")
        for n, size in zip(names, data.shape, strict=False)
    ]
    if len(axes) != data.ndim:
        axes = _default_axes(data.shape)
    raw = _Raw(data=data, axes=axes, metadata=metadata)
    for label in labels:
        if label.startswith(_EXACT_KEY + "="):
            try:
                raw.exact_pixel_size = float(label.split("=", 1)[1])
            except ValueError:
                pass
    return raw


# --------------------------------------------------------------------------------------------
# TIFF
# --------------------------------------------------------------------------------------------

# Private TIFF tags written by DigitalMicrograph (and by JEOL software that exports through it):
# 65003/65004 unit strings, 65006/65007 origins, 65009/65010 scales, 65012/65013 unit names,
# 65022 intensity unit, 65024 intensity offset, 65025 intensity scale. The first of each pair is
# DM dimension 0, the x axis.
_DM_TIFF_TAGS = {
    "x_units": 65003,
    "y_units": 65004,
    "x_origin": 65006,
    "y_origin": 65007,
    "x_scale": 65009,
    "y_scale": 65010,
    "x_unit_name": 65012,
    "y_unit_name": 65013,
    "intensity_units": 65022,
    "intensity_offset": 65024,
    "intensity_scale": 65025,
}

# TIFF ResolutionUnit values that are physical lengths (4 and 5 are tifffile's extensions).
_RESOLUTION_UNITS = {3: "cm", 4: "mm", 5: "um"}


def _rational(value: Any) -> float | None:
    try:
        if isinstance(value, tuple | list) and len(value) == 2:
            num, den = float(value[0]), float(value[1])
            return num / den if den else None
        return float(value)
    except (TypeError, ValueError):
        return None


def _tiff_calibration(
    tags: Mapping[int, Any], imagej: Mapping[str, Any] | None
) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Return (x axis, y axis, description of where the calibration came from)."""

    def per_pixel(resolution_tag: int, unit: Any) -> dict[str, Any]:
        pixels_per_unit = _rational(tags.get(resolution_tag))
        scale = 1.0 / pixels_per_unit if pixels_per_unit else None
        return {"scale": scale, "units": unit}

    if imagej is not None and imagej.get("unit") is not None and 282 in tags:
        unit = imagej.get("unit")
        return per_pixel(282, unit), per_pixel(283, unit), "ImageJ unit and X/YResolution"
    if _DM_TIFF_TAGS["x_scale"] in tags:
        found = {name: tags.get(code) for name, code in _DM_TIFF_TAGS.items()}
        axes = []
        for prefix in ("x", "y"):
            units = found[f"{prefix}_units"]
            # Prefer the unit string; fall back to the unit name when the string is not usable.
            if length_to_angstrom(1.0, units) is None and found[f"{prefix}_unit_name"]:
                if length_to_angstrom(1.0, found[f"{prefix}_unit_name"]) is not None:
                    units = found[f"{prefix}_unit_name"]
            axes.append(
                {
                    "scale": _rational(found[f"{prefix}_scale"]),
                    "units": units,
                    "offset": _rational(found[f"{prefix}_origin"]),
                }
            )
        return axes[0], axes[1], "DigitalMicrograph TIFF tags 65003-65013"
    unit_code = int(tags.get(296, 2))
    if unit_code in _RESOLUTION_UNITS and 282 in tags:
        unit = _RESOLUTION_UNITS[unit_code]
        return per_pixel(282, unit), per_pixel(283, unit), "TIFF X/YResolution and ResolutionUnit"
    return {"scale": None, "units": None}, {"scale": None, "units": None}, "none"


class _LogCollector(logging.Handler):
    """Collect the warnings a library logs while it reads a file."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


# Words in tifffile's log messages that mean pages or data are missing, not a harmless quirk.
_TIFF_DAMAGE = ("invalid page offset", "corrupt", "truncat", "failed to read")


def _read_tiff(path: Path) -> _Raw:
    import tifffile

    fmt = "TIFF"
    collector = _LogCollector()
    tiff_logger = logging.getLogger("tifffile")
    tiff_logger.addHandler(collector)
    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            series_axes = series.axes
            data = series.asarray()
            page = tif.pages[0]
            tags = {tag.code: tag.value for tag in page.tags.values()}
            imagej = dict(tif.imagej_metadata) if tif.is_imagej and tif.imagej_metadata else None
            shaped = tif.shaped_metadata if tif.is_shaped else None
            compression = getattr(getattr(page, "compression", None), "name", None)
    except Exception as exc:
        raise _unreadable(path, fmt, exc) from exc
    finally:
        tiff_logger.removeHandler(collector)
    damage = [m for m in collector.messages if any(w in m.lower() for w in _TIFF_DAMAGE)]
    if damage:
        reason = damage[0].split("> ", 1)[-1]
        raise FileFormatError(
            f"could not be read as {fmt} (truncated or corrupt file?): {reason}", path
        )
    if "S" in series_axes and data.shape[series_axes.index("S")] > 1:
        raise FileFormatError(
            "is a colour (RGB) TIFF; an image in detector units or counts is needed "
            "(save a single-channel greyscale TIFF)",
            path,
        )
    if imagej is not None:
        expected = int(imagej.get("images") or 1)
        planes = int(np.prod(data.shape[:-2])) if data.ndim > 2 else 1
        if planes < expected:
            raise FileFormatError(
                f"could not be read as {fmt} (truncated or corrupt file?): the ImageJ "
                f"description lists {expected} images but only {planes} could be read",
                path,
            )
    x_cal, y_cal, how = _tiff_calibration(tags, imagej)
    if how == "none" and int(tags.get(296, 1)) == 2:
        how = "none (X/YResolution in pixels per inch is a display setting, not a calibration)"
    metadata: dict[str, Any] = {"format": fmt, "calibration_source": how}
    if compression:
        metadata["compression"] = compression
    if imagej is not None:
        metadata["format"] = "TIFF (ImageJ)"
    if how.startswith("DigitalMicrograph"):
        intensity = {
            "scale": _plain(tags.get(_DM_TIFF_TAGS["intensity_scale"])),
            "offset": _plain(tags.get(_DM_TIFF_TAGS["intensity_offset"])),
            "units": _plain(tags.get(_DM_TIFF_TAGS["intensity_units"])),
        }
        if any(v is not None for v in intensity.values()):
            metadata["intensity_calibration"] = intensity
    shape = data.shape
    axes = _default_axes(shape)
    if len(axes) >= 2:
        axes[-1].update(_plain(x_cal))
        axes[-2].update(_plain(y_cal))
    if imagej is not None and len(axes) >= 3:
        if imagej.get("finterval"):
            axes[-3].update(scale=_plain(imagej["finterval"]), units="s")
        elif imagej.get("spacing"):
            axes[-3].update(scale=_plain(imagej["spacing"]), units=imagej.get("unit"))
    raw = _Raw(data=data, axes=axes, metadata=metadata)
    if imagej is not None and imagej.get(_EXACT_KEY) is not None:
        raw.exact_pixel_size = _rational(imagej.get(_EXACT_KEY))
    if shaped:
        stored = shaped[0] if isinstance(shaped, tuple | list) else shaped
        if isinstance(stored, Mapping) and stored.get("pixel_size_angstrom") is not None:
            value = _rational(stored.get("pixel_size_angstrom"))
            raw.pixel_size_override = (value, "Å")
            raw.metadata["calibration_source"] = "sbdenoise TIFF description"
    return raw


# --------------------------------------------------------------------------------------------
# NumPy
# --------------------------------------------------------------------------------------------


def _sidecar_pixel_size(value: Any, where: Path) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FileFormatError(f"pixel_size_angstrom must be a number or null, not {value!r}", where)
    if not math.isfinite(value) or value <= 0:
        raise FileFormatError(
            f"pixel_size_angstrom must be a positive number of angstrom, not {value!r}", where
        )
    return float(value)


def _read_npy(path: Path) -> _Raw:
    fmt = "NumPy .npy"
    try:
        data = np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise FileFormatError(
                "holds Python objects, which are never loaded (pickles can run code); "
                "save a numeric array",
                path,
            ) from exc
        raise _unreadable(path, fmt, exc) from exc
    except Exception as exc:
        raise _unreadable(path, fmt, exc) from exc
    metadata: dict[str, Any] = {"format": fmt}
    raw = _Raw(data=np.asarray(data), axes=_default_axes(np.shape(data)), metadata=metadata)
    sidecar = path.with_name(path.name + SIDECAR_SUFFIX)
    if sidecar.is_file():
        try:
            content = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise FileFormatError(f"could not be read as JSON: {_reason(exc)}", sidecar) from exc
        if not isinstance(content, dict):
            raise FileFormatError("must hold a JSON object (a dictionary)", sidecar)
        pixel_size = _sidecar_pixel_size(content.get("pixel_size_angstrom"), sidecar)
        units = content.get("units", "Å") if pixel_size is not None else None
        raw.pixel_size_override = (pixel_size, None if units is None else str(units))
        extra = content.get("metadata")
        if isinstance(extra, dict):
            metadata.update({k: v for k, v in extra.items() if k != "format"})
        metadata["format"] = fmt
        metadata["sidecar"] = sidecar.name
        metadata["calibration_source"] = "JSON sidecar"
    return raw


def _read_npz(path: Path) -> _Raw:
    fmt = "NumPy .npz"
    try:
        with np.load(path, allow_pickle=False) as archive:
            names = list(archive.files)
            arrays = [n for n in names if n != "pixel_size_angstrom"]
            if "data" in names:
                key = "data"
            elif len(arrays) == 1:
                key = arrays[0]
            else:
                raise FileFormatError(
                    "holds several arrays and none is called 'data' "
                    f"(found: {', '.join(names) or 'none'})",
                    path,
                )
            data = archive[key]
            pixel = archive["pixel_size_angstrom"] if "pixel_size_angstrom" in names else None
    except FileFormatError:
        raise
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise FileFormatError(
                "holds Python objects, which are never loaded (pickles can run code)", path
            ) from exc
        raise _unreadable(path, fmt, exc) from exc
    except Exception as exc:
        raise _unreadable(path, fmt, exc) from exc
    raw = _Raw(data=data, axes=_default_axes(data.shape), metadata={"format": fmt, "array": key})
    if pixel is not None:
        if pixel.size != 1 or pixel.dtype.kind not in "uif":
            raise FileFormatError("pixel_size_angstrom must be a single number", path)
        value = _sidecar_pixel_size(pixel.reshape(()).item(), path)
        raw.pixel_size_override = (value, "Å" if value is not None else None)
        raw.metadata["calibration_source"] = "pixel_size_angstrom array"
    return raw


# --------------------------------------------------------------------------------------------
# Dispatch and common checks
# --------------------------------------------------------------------------------------------

_READERS: dict[str, Callable[[Path], _Raw]] = {
    ".dm3": _read_dm,
    ".dm4": _read_dm,
    ".emd": _read_emd,
    ".emi": _read_tia,
    ".ser": _read_tia,
    ".hspy": _read_hspy,
    ".mrc": _read_mrc,
    ".mrcs": _read_mrc,
    ".tif": _read_tiff,
    ".tiff": _read_tiff,
    ".npy": _read_npy,
    ".npz": _read_npz,
}


def _axis_pixel_size(axis: Mapping[str, Any], path: Path, warn: bool = True) -> float | None:
    scale, units = axis.get("scale"), axis.get("units")
    if scale is None:
        return None
    value = length_to_angstrom(scale, units)
    if value is None and warn and not is_unitless(units) and angstrom_per_unit(units) is None:
        _warn(
            f"{path}: unrecognised length unit {units!r} on the {axis.get('name')} axis; "
            "pixel size unknown"
        )
    return value


def _finish(path: Path, raw: _Raw) -> Micrograph:
    data = raw.data
    axes = raw.axes if len(raw.axes) == data.ndim else _default_axes(data.shape)
    keep = [i for i, size in enumerate(data.shape) if size != 1]
    if len(keep) != data.ndim and len(keep) >= 2:
        data = data.reshape(tuple(data.shape[i] for i in keep))
        axes = [axes[i] for i in keep]
    data = validate_image_array(data, path)
    if len(axes) != data.ndim:
        axes = _default_axes(data.shape)
    if not data.dtype.isnative:
        data = data.astype(data.dtype.newbyteorder("="))
    metadata = dict(raw.metadata)
    metadata["axes"] = [_plain(ax) for ax in axes]
    x_axis, y_axis = axes[-1], axes[-2]
    if raw.pixel_size_override is not None:
        pixel_size, units_found = raw.pixel_size_override
        pixel_y = pixel_size
    else:
        units_found = x_axis.get("units")
        pixel_size = _axis_pixel_size(x_axis, path)
        same_units = y_axis.get("units") == units_found
        pixel_y = _axis_pixel_size(y_axis, path, warn=not same_units)
        scale = x_axis.get("scale")
        if (
            pixel_size is None
            and is_unitless(units_found)
            and str(units_found).strip().lower() not in _PIXEL_UNITS
            and isinstance(scale, int | float)
            and scale > 0
            and not math.isclose(scale, 1.0)
        ):
            _warn(
                f"{path}: the x axis has a scale of {scale:g} but no unit; "
                "pixel size treated as unknown"
            )
    if pixel_size is not None and pixel_y is not None:
        if not math.isclose(pixel_size, pixel_y, rel_tol=_SQUARE_RTOL):
            _warn(
                f"{path}: pixels are not square (y: {pixel_y:.6g} Å, x: {pixel_size:.6g} Å); "
                "using the x pixel size"
            )
    if (
        raw.exact_pixel_size is not None
        and pixel_size is not None
        and math.isclose(raw.exact_pixel_size, pixel_size, rel_tol=_EXACT_RTOL)
    ):
        if pixel_y is not None and math.isclose(pixel_y, pixel_size, rel_tol=_EXACT_RTOL):
            pixel_y = raw.exact_pixel_size
        pixel_size = raw.exact_pixel_size
    metadata["pixel_size_y_angstrom"] = pixel_y
    return Micrograph(
        data=data,
        pixel_size=pixel_size,
        units_found=None if units_found is None else str(units_found),
        source=path,
        metadata=metadata,
    )


def read_image(path: str | os.PathLike[str]) -> Micrograph:
    """Read an image or a stack of frames with its pixel size.

    Parameters
    ----------
    path : str or os.PathLike
        The file to read; its suffix (case ignored) picks the reader, one of
        :data:`SUPPORTED_READ_SUFFIXES`. A TIA pair can be given by either file: ``name.emi``
        (the ``name_1.ser`` next to it is read) or ``name_1.ser``. A ``.npy`` file may have a JSON
        sidecar ``name.npy.json`` holding ``pixel_size_angstrom``; a ``.npz`` file holds an array
        called ``data`` (or a single array) and optionally ``pixel_size_angstrom``.

    Returns
    -------
    Micrograph
        ``data`` of shape ``(y, x)`` or ``(frames, y, x)`` with singleton dimensions removed and the
        file's dtype (in native byte order); ``pixel_size`` in angstrom along x, or None when the
        file has no usable calibration; ``units_found``, the unit string as stored; ``metadata``
        with the format name, per-axis calibration as found (``"axes"``), the y pixel size
        (``"pixel_size_y_angstrom"``) and, where the file holds them, acceleration voltage
        (``"voltage_kV"``), intensity calibration and title.

    Raises
    ------
    FileFormatError
        If the file is missing, of an unsupported type, truncated or corrupt, or holds no image.
    InputError
        If the array in the file is not a usable image (see
        :func:`~sbdenoise.io.validation.validate_image_array`).

    Warns
    -----
    UserWarning
        When the MRC header is non-standard and was read permissively, the pixels are not square,
        a unit is not recognised, an axis has a scale but no unit, or a file holds several images.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _READERS:
        raise FileFormatError(unsupported_suffix(suffix, SUPPORTED_READ_SUFFIXES), path)
    if not path.exists():
        raise FileFormatError("file not found", path)
    if path.is_dir():
        raise FileFormatError("is a directory, not a file", path)
    try:
        raw = _READERS[suffix](path)
    except InputError:
        raise
    except MemoryError as exc:
        raise FileFormatError("is too large to read into memory", path) from exc
    except Exception as exc:  # anything a library raised that a format reader did not wrap
        raise _unreadable(path, suffix.lstrip(".").upper(), exc) from exc
    return _finish(path, raw)
