"""Figures: side-by-side panels of noisy, denoised and true images, with a scale bar."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def _display_limits(image: np.ndarray, low: float = 0.5, high: float = 99.5) -> tuple[float, float]:
    """Robust grey-level limits (percentiles) so a few hot pixels do not wash out a panel."""
    lo, hi = np.percentile(image, [low, high])
    if hi <= lo:
        hi = lo + 1.0
    return float(lo), float(hi)


def _scale_bar_length(field_of_view: float) -> float:
    """A round scale-bar length (angstrom) of about a fifth of the field of view."""
    target = field_of_view / 5
    for length in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000):
        if length >= target:
            return float(length)
    return float(10 ** np.ceil(np.log10(target)))


def side_by_side(
    panels: Sequence[tuple[str, np.ndarray]],
    path: str | Path,
    pixel_size: float | None = None,
    title: str = "",
) -> Path:
    """Write a PNG of images side by side, each with its own title and robust grey levels.

    Parameters
    ----------
    panels : sequence of (str, numpy.ndarray)
        Titles and 2-D images (counts per pixel).
    path : str or Path
        PNG to write (parent folders are created).
    pixel_size : float, optional
        Angstrom per pixel; when given, a scale bar is drawn on the first panel.
    title : str
        Figure title.

    Returns
    -------
    Path
        The PNG written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(panels)
    fig, axes = plt.subplots(1, n, figsize=(4.6 * n, 4.9), constrained_layout=True, squeeze=False)
    for ax, (label, image) in zip(axes[0], panels, strict=True):
        lo, hi = _display_limits(np.asarray(image, dtype=np.float64))
        ax.imshow(image, cmap="gray", vmin=lo, vmax=hi, interpolation="antialiased")
        ax.set_title(label, fontsize=11)
        ax.set_xticks([])
        ax.set_yticks([])
    if pixel_size is not None:
        image = panels[0][1]
        length = _scale_bar_length(image.shape[1] * pixel_size)
        bar_px = length / pixel_size
        x0, y0 = 0.05 * image.shape[1], 0.93 * image.shape[0]
        ax0 = axes[0][0]
        ax0.plot([x0, x0 + bar_px], [y0, y0], color="yellow", lw=4, solid_capstyle="butt")
        label = f"{length / 10:g} nm" if length >= 10 else f"{length:g} Å"
        ax0.text(
            x0 + bar_px / 2,
            y0 - 0.03 * image.shape[0],
            label,
            color="yellow",
            ha="center",
            va="bottom",
            fontsize=10,
            fontweight="bold",
        )
    if title:
        fig.suptitle(title, fontsize=12)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
