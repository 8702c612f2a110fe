"""Contrast class of an HRTEM image: are the atomic columns white, black or in between?

Rule: sample the clean image at the true Pt columns and at the true Ce columns (mean over a disc
of radius :data:`SAMPLE_RADIUS`), and compare each median with the vacuum level ``v``:

- white: Pt and Ce columns both brighter than ``v * (1 + threshold)``;
- black: both darker than ``v * (1 - threshold)``;
- intermediate: anything else (one bright and one dark, or either close to the vacuum).

The default threshold is 5 % of the vacuum level.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

#: Radius in angstrom of the disc averaged at each column.
SAMPLE_RADIUS = 0.3
#: Relative difference from the vacuum that counts as contrast.
CONTRAST_THRESHOLD = 0.05

ContrastClass = Literal["white", "black", "intermediate"]


def column_intensity(
    image: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    pixel_size: float,
    radius: float = SAMPLE_RADIUS,
) -> np.ndarray:
    """Mean image value in a disc around each position (angstrom); NaN outside the image."""
    r_px = max(radius / pixel_size, 0.5)
    half = int(np.ceil(r_px))
    offsets = np.arange(-half, half + 1)
    dy, dx = np.meshgrid(offsets, offsets, indexing="ij")
    disc = dy**2 + dx**2 <= r_px**2
    rows = np.rint(np.asarray(y) / pixel_size).astype(int)[:, None] + dy[disc][None, :]
    cols = np.rint(np.asarray(x) / pixel_size).astype(int)[:, None] + dx[disc][None, :]
    inside = (rows >= 0) & (rows < image.shape[0]) & (cols >= 0) & (cols < image.shape[1])
    values = np.where(
        inside,
        image[np.clip(rows, 0, image.shape[0] - 1), np.clip(cols, 0, image.shape[1] - 1)],
        np.nan,
    )
    out = values.mean(axis=1)
    out[~inside.all(axis=1)] = np.nan  # a disc cut by the image edge is not sampled
    return out


def classify_contrast(
    image: np.ndarray,
    columns: np.ndarray,
    pixel_size: float,
    vacuum: float,
    threshold: float = CONTRAST_THRESHOLD,
) -> tuple[ContrastClass, float, float]:
    """Assign the contrast class of a clean image.

    Parameters
    ----------
    image : numpy.ndarray
        Clean expected counts per pixel.
    columns : numpy.ndarray
        Column truth (fields x, y in angstrom, element).
    pixel_size : float
        Angstrom per pixel.
    vacuum : float
        Vacuum level in the same units as the image.
    threshold : float
        Relative difference from the vacuum that counts as bright or dark.

    Returns
    -------
    tuple
        ``(class, pt_contrast, ce_contrast)`` with contrasts as relative differences from the
        vacuum (NaN when the element has no column in the image).
    """
    contrasts = []
    for element in ("Pt", "Ce"):
        sel = columns["element"] == element
        values = column_intensity(image, columns["x"][sel], columns["y"][sel], pixel_size)
        values = values[np.isfinite(values)]
        contrasts.append(float(np.median(values)) / vacuum - 1.0 if values.size else np.nan)
    pt, ce = contrasts
    present = [c for c in contrasts if np.isfinite(c)]
    if present and all(c > threshold for c in present):
        label: ContrastClass = "white"
    elif present and all(c < -threshold for c in present):
        label = "black"
    else:
        label = "intermediate"
    return label, pt, ce
