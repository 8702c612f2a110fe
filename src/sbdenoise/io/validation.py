"""Checks that an array can be used as an image or a stack of frames."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from sbdenoise.errors import InputError

__all__ = [
    "MAX_FRAME_SIZE",
    "MIN_FRAME_SIZE",
    "check_frame",
    "check_pixel_size",
    "validate_image_array",
]

#: Smallest frame side accepted, in pixels (smaller frames cannot hold a lattice or a context).
MIN_FRAME_SIZE = 16
#: Largest frame side accepted, in pixels.
MAX_FRAME_SIZE = 2**16


def _count_non_finite(data: np.ndarray) -> tuple[int, int]:
    """Return the numbers of NaN and of infinite values, one frame at a time to save memory."""
    frames = data.reshape((-1, *data.shape[-2:]))
    n_nan = 0
    n_inf = 0
    for frame in frames:
        n_nan += int(np.count_nonzero(np.isnan(frame)))
        n_inf += int(np.count_nonzero(np.isinf(frame)))
    return n_nan, n_inf


def validate_image_array(data: Any, source: str | Path | None = None) -> np.ndarray:
    """Check that ``data`` is a usable image ``(y, x)`` or stack ``(frames, y, x)``.

    Singleton dimensions are squeezed away first, so ``(1, y, x)`` and ``(y, x, 1)`` are accepted
    as one frame. Negative values are accepted: files in detector units may hold them, and the
    check that data are electron counts is made elsewhere.

    Parameters
    ----------
    data : array_like
        Pixel values.
    source : str or Path, optional
        Where the data came from (a file name), named in error messages.

    Returns
    -------
    numpy.ndarray
        ``data`` with singleton dimensions removed (a view, not a copy, where possible), with the
        same dtype.

    Raises
    ------
    InputError
        If the values are not real numbers (integer or floating point), the array is empty, it is
        not 2-D or 3-D after squeezing, a frame is smaller than ``MIN_FRAME_SIZE`` or larger than
        ``MAX_FRAME_SIZE`` pixels along a side, or it holds NaN or infinite values.
    """
    try:
        array = np.asarray(data)
    except Exception as exc:  # ragged lists and the like
        raise InputError(f"cannot be turned into an array of pixel values ({exc})", source) from exc
    if array.dtype.kind not in "uif":
        raise InputError(
            f"pixel values have data type {array.dtype}; an image needs integer or real "
            "floating-point values",
            source,
        )
    if array.size == 0:
        raise InputError(f"the image is empty (array shape {array.shape})", source)
    original_shape = array.shape
    array = np.squeeze(array)
    if array.ndim == 0:
        raise InputError(
            f"holds a single value (array shape {original_shape}), not an image", source
        )
    if array.ndim == 1:
        raise InputError(
            f"holds a 1-D array of {array.size} values (shape {original_shape}), not an image; "
            "expected (y, x) or (frames, y, x)",
            source,
        )
    if array.ndim > 3:
        raise InputError(
            f"holds a {array.ndim}-D array of shape {original_shape}; expected an image (y, x) "
            "or a stack of frames (frames, y, x)",
            source,
        )
    height, width = array.shape[-2:]
    if min(height, width) < MIN_FRAME_SIZE:
        raise InputError(
            f"frames of {height} x {width} pixels (array shape {original_shape}) are too small; "
            f"each side needs at least {MIN_FRAME_SIZE} pixels",
            source,
        )
    if max(height, width) > MAX_FRAME_SIZE:
        raise InputError(
            f"frames of {height} x {width} pixels are too large; each side can have at most "
            f"{MAX_FRAME_SIZE} pixels",
            source,
        )
    if array.dtype.kind == "f":
        n_nan, n_inf = _count_non_finite(array)
        if n_nan or n_inf:
            raise InputError(
                f"holds {n_nan} NaN and {n_inf} infinite pixel values out of {array.size}; "
                "every pixel must be a finite number",
                source,
            )
    return array


def check_pixel_size(
    pixel_size: Any, source: str | Path | None = None, name: str = "pixel size"
) -> float:
    """The pixel size as a float, or an :class:`InputError` when it is not a positive number.

    Parameters
    ----------
    pixel_size : float
        Angstrom per pixel.
    source : str or Path, optional
        Where it came from, named in the error.
    name : str
        What the value is called in the error (e.g. ``"working sampling"``).
    """
    try:
        value = float(pixel_size)
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise InputError(
            f"the {name} must be a positive number of angstrom, got {pixel_size!r}", source
        )
    return value


def check_frame(data: Any, source: str | Path | None = None) -> np.ndarray:
    """One frame ``(y, x)`` checked by :func:`validate_image_array`; a stack is refused."""
    frame = validate_image_array(data, source)
    if frame.ndim != 2:
        raise InputError(
            f"expected one frame (y, x), got a stack of shape {frame.shape}; denoise it as a stack",
            source,
        )
    return frame
