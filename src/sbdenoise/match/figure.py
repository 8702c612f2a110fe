"""The match figure: the series' average beside its best and worst simulated matches, and the
score of every condition."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage

from sbdenoise.io.atomic import atomic_write
from sbdenoise.match.api import MatchResult
from sbdenoise.match.likelihood import resample
from sbdenoise.simulate.store import SimulatedDataset

#: Gaussian smoothing of the series' average for display only, angstrom.
DISPLAY_SMOOTH_A = 0.15


def _registered(result: MatchResult, store: SimulatedDataset, index: int) -> np.ndarray:
    """Simulation ``index`` on the series' grid, moved and scaled as fitted (e-/px per frame)."""
    fit = result.fit_of(index)
    pixel = result.observation.pixel_size
    model = resample(store.image(index), float(store.params["pixel_size"][index]), pixel)
    r0, c0 = fit.offset
    side = result.template_side
    return fit.scale * model[r0 : r0 + side, c0 : c0 + side] / result.observation.n_frames


def plot_match(result: MatchResult, path: str | Path) -> Path:
    """Write a PNG: series average, best and worst conditions' best images, scores.

    Parameters
    ----------
    result : MatchResult
        From :func:`sbdenoise.match.match_conditions`.
    path : str or Path
        PNG file to write.

    Returns
    -------
    Path
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    store = SimulatedDataset(result.dataset)
    obs = result.observation
    average = result.template() / obs.n_frames
    shown = ndimage.gaussian_filter(average, DISPLAY_SMOOTH_A / obs.pixel_size)
    best, worst = result.conditions[0], result.conditions[-1]
    panels = [
        (
            shown,
            f"series: {obs.n_frames} frame{'s' * (obs.n_frames > 1)} aligned, "
            f"{obs.dose:.2f} e-/px\ncontrast measured: {result.contrast[0]}",
        ),
        (
            _registered(result, store, best.best_index),
            f"best: {best.label()}\nΔlog L = 0, deviance {best.deviance_per_px:.3f}/px",
        ),
        (
            _registered(result, store, worst.best_index),
            f"worst: {worst.label()}\nΔlog L = {worst.delta:.0f}, "
            f"deviance {worst.deviance_per_px:.3f}/px",
        ),
    ]
    low, high = np.percentile(shown, [1, 99])
    figure, axes = plt.subplots(1, 4, figsize=(17, 4.6))
    extent = (0, average.shape[1] * obs.pixel_size, average.shape[0] * obs.pixel_size, 0)
    for axis, (image, title) in zip(axes[:3], panels, strict=True):
        axis.imshow(image, cmap="gray", vmin=low, vmax=high, extent=extent)
        axis.set_title(title, fontsize=9)
        axis.set_xlabel("x (Å)")
    axes[0].set_ylabel("y (Å)")
    _plot_scores(axes[3], result)
    figure.tight_layout()
    path = Path(path)
    with atomic_write(path) as temporary:
        figure.savefig(temporary, dpi=110)
    plt.close(figure)
    return path


def _plot_scores(axis, result: MatchResult) -> None:
    """Δlog L of every condition against the first numeric condition parameter."""
    numeric = [
        name for name in result.by if isinstance(result.conditions[0].values[name], (int, float))
    ]
    if not numeric:
        axis.barh(
            [c.label() for c in result.conditions][::-1],
            [c.delta for c in result.conditions][::-1],
        )
        axis.set_xlabel("Δlog L (nats)")
        return
    x_name = numeric[0]
    others = [name for name in result.by if name != x_name]
    groups: dict[str, list[tuple[float, float]]] = {}
    for c in result.conditions:
        label = ", ".join(str(c.values[name]) for name in others) or "all"
        groups.setdefault(label, []).append((float(c.values[x_name]), c.delta))
    for label, points in sorted(groups.items()):
        points.sort()
        axis.plot(*zip(*points, strict=True), "o-", label=label)
    axis.axhline(0.0, color="0.6", lw=0.8)
    axis.set_xlabel(x_name.replace("_nm", " (nm)").replace("_", " "))
    axis.set_ylabel("Δlog L (nats, best = 0)")
    axis.set_yscale("symlog", linthresh=10.0)
    axis.set_title(f"conditions ({result.aggregate} image each)", fontsize=9)
    axis.legend(fontsize=8)
