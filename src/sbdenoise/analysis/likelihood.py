"""Likelihood map: how strongly the noisy counts support each column the denoiser shows.

For a column region ``R`` (a disc of radius 0.7 A by default around a detected column) the column
rate ``c`` is the mean of the denoised image over ``R`` and ``v`` is the vacuum rate (estimated
from the data, or given). The value of the column is the per-pixel mean Poisson log-likelihood of
the noisy counts ``y`` in ``R`` under rate ``c`` minus that under rate ``v``::

    L = mean_R [ y log(c / v) - (c - v) ]        (nats per pixel)

Positive values mean the counts are better explained by the column than by vacuum; negative ones
mean the denoiser drew a column the counts do not support. Verdicts follow the papers: real for
``L >= 0.005``, spurious for ``L <= -0.006``, uncertain in between (both configurable).

Everything is vectorised over columns and pixels (disc offsets and :func:`numpy.bincount`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage as ndi
from scipy.stats import rankdata
from skimage.filters import threshold_otsu

from sbdenoise.analysis.columns import _check_image, _check_pixel_size, check_positions, write_csv
from sbdenoise.errors import InputError
from sbdenoise.io.atomic import atomic_write

#: Default radius of a column region, in angstrom.
DEFAULT_RADIUS_A = 0.7
#: Default threshold at or above which a column is called real (nats per pixel).
DEFAULT_REAL = 0.005
#: Default threshold at or below which a column is called spurious (nats per pixel).
DEFAULT_SPURIOUS = -0.006
#: Verdict names, in order of increasing support.
VERDICTS = ("spurious", "uncertain", "real")


@dataclass(frozen=True)
class VacuumEstimate:
    """The vacuum region and rate found in a frame.

    Attributes
    ----------
    mask : numpy.ndarray or None
        Boolean image of the vacuum pixels used (None when the rate was given).
    rate : float
        Vacuum rate, e-/px.
    area : float
        Area of the region, in angstrom squared (0 when the rate was given).
    source : str
        ``"given"``, ``"noisy counts"`` or ``"denoised image"``: where the rate came from.
    """

    mask: np.ndarray | None
    rate: float
    area: float
    source: str


def estimate_vacuum(
    denoised: np.ndarray,
    pixel_size: float,
    noisy: np.ndarray | None = None,
    window: float = 1.5,
    min_area: float = 20.0,
) -> VacuumEstimate:
    """Find the vacuum: the largest flat, low-structure region of the denoised image.

    The local standard deviation of the denoised image over a ``window`` (angstrom) square,
    relative to the image's median level, measures structure. Otsu's threshold splits it into
    flat and structured pixels; the flat class must be clearly flatter than the rest (its mean
    structure at most half that of the structured class). The largest connected flat region is the
    vacuum, and its rate is the mean of the noisy counts there (their maximum-likelihood estimate)
    or, without counts, of the denoised image.

    Parameters
    ----------
    denoised : numpy.ndarray
        Denoised frame, e-/px.
    pixel_size : float
        Angstrom per pixel.
    noisy : numpy.ndarray, optional
        The noisy counts of the same frame.
    window : float
        Side of the square over which structure is measured, in angstrom.
    min_area : float
        Smallest acceptable vacuum region, in angstrom squared.

    Returns
    -------
    VacuumEstimate

    Raises
    ------
    InputError
        When no flat region of at least ``min_area`` exists (pass the vacuum rate instead).
    """
    image = _check_image(denoised, "denoised image")
    pixel_size = _check_pixel_size(pixel_size)
    size = max(3, round(window / pixel_size) | 1)
    mean = ndi.uniform_filter(image, size, mode="reflect")
    mean_sq = ndi.uniform_filter(image * image, size, mode="reflect")
    spread = np.sqrt(np.maximum(mean_sq - mean * mean, 0.0))
    level = abs(float(np.median(image))) or float(np.mean(np.abs(image))) or 1.0
    structure = spread / level
    step = max(1, int(np.sqrt(structure.size / 250_000)))
    sample = structure[::step, ::step]
    no_vacuum = InputError(
        "found no flat vacuum region in the denoised image: give the vacuum rate "
        "(counts per pixel in vacuum)"
    )
    if np.ptp(sample) <= 0:
        raise no_vacuum
    threshold = threshold_otsu(sample)
    flat = structure <= threshold
    low, high = structure[flat], structure[~flat]
    if low.size == 0 or high.size == 0 or low.mean() > 0.5 * high.mean():
        raise no_vacuum
    # Keep pixels whose whole window is flat (an erosion), then the largest connected region.
    flat = ndi.uniform_filter(flat.astype(np.float32), size) > 0.999
    labels, count = ndi.label(flat)
    if count == 0:
        raise no_vacuum
    areas = np.bincount(labels.ravel(), minlength=count + 1)
    areas[0] = 0
    best = int(np.argmax(areas))
    area = float(areas[best]) * pixel_size**2
    if area < min_area:
        raise no_vacuum
    mask = labels == best
    if noisy is not None:
        counts = _check_image(noisy, "noisy frame")
        rate, source = float(counts[mask].mean()), "noisy counts"
    else:
        rate, source = float(image[mask].mean()), "denoised image"
    if rate <= 0:
        raise InputError(f"the vacuum region has no counts (rate {rate:.3g} e-/px)")
    return VacuumEstimate(mask, rate, area, source)


def disc_pixels(
    positions_px: np.ndarray, radius_px: float, shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pixels within ``radius_px`` of each position, vectorised over the positions.

    Parameters
    ----------
    positions_px : numpy.ndarray
        Centres in pixels ``(row, col)``, shape ``(n, 2)`` (sub-pixel allowed).
    radius_px : float
        Disc radius in pixels.
    shape : tuple of int
        Frame shape; pixels outside it are dropped.

    Returns
    -------
    tuple of numpy.ndarray
        ``(column, flat_index, distance)``: for every (column, pixel) pair in a disc, the
        column's index, the pixel's flat index into the frame and its distance in pixels.
    """
    half = int(np.ceil(radius_px)) + 1
    dy, dx = np.mgrid[-half : half + 1, -half : half + 1]
    offsets = np.stack([dy.ravel(), dx.ravel()], axis=1)
    centre = np.rint(positions_px).astype(np.intp)
    pix = centre[:, None, :] + offsets[None, :, :]
    dist = np.linalg.norm(pix - positions_px[:, None, :], axis=2)
    inside = (
        (dist <= radius_px)
        & (pix[..., 0] >= 0)
        & (pix[..., 0] < shape[0])
        & (pix[..., 1] >= 0)
        & (pix[..., 1] < shape[1])
    )
    column = np.broadcast_to(np.arange(len(positions_px))[:, None], inside.shape)[inside]
    flat = pix[..., 0][inside] * shape[1] + pix[..., 1][inside]
    return column, flat, dist[inside]


@dataclass(frozen=True)
class ColumnLikelihood:
    """Likelihood values of the columns of one frame.

    Attributes
    ----------
    positions : numpy.ndarray
        Column positions, ``(n, 2)``, ``(y, x)`` in angstrom.
    values : numpy.ndarray
        Mean log-likelihood ratio per pixel of each column region, nats (NaN for a region that
        lies wholly outside the frame).
    column_rate : numpy.ndarray
        Mean of the denoised image over each region, e-/px.
    count_mean : numpy.ndarray
        Mean of the noisy counts over each region, e-/px.
    n_pixels : numpy.ndarray
        Pixels in each region.
    verdict : numpy.ndarray
        ``"real"``, ``"uncertain"`` or ``"spurious"`` per column.
    vacuum : VacuumEstimate
        The vacuum rate used and where it came from.
    map : numpy.ndarray
        Image of the values: each region pixel holds the value of its nearest column, NaN
        elsewhere.
    pixel_size : float
        Angstrom per pixel.
    radius : float
        Region radius, angstrom.
    real_threshold, spurious_threshold : float
        Thresholds of the verdicts, nats per pixel.
    """

    positions: np.ndarray
    values: np.ndarray
    column_rate: np.ndarray
    count_mean: np.ndarray
    n_pixels: np.ndarray
    verdict: np.ndarray
    vacuum: VacuumEstimate
    map: np.ndarray
    pixel_size: float
    radius: float
    real_threshold: float
    spurious_threshold: float

    def counts(self) -> dict[str, int]:
        """Number of columns per verdict."""
        return {name: int(np.sum(self.verdict == name)) for name in VERDICTS}

    def rows(self) -> list[dict[str, Any]]:
        """One dict per column (for a CSV): position in angstrom and pixels, value, verdict."""
        return [
            {
                "column": i,
                "y_A": float(p[0]),
                "x_A": float(p[1]),
                "row_px": float(p[0] / self.pixel_size),
                "col_px": float(p[1] / self.pixel_size),
                "value": float(v),
                "verdict": str(d),
                "column_rate": float(c),
                "count_mean": float(m),
                "n_pixels": int(n),
            }
            for i, (p, v, d, c, m, n) in enumerate(
                zip(
                    self.positions,
                    self.values,
                    self.verdict,
                    self.column_rate,
                    self.count_mean,
                    self.n_pixels,
                    strict=True,
                )
            )
        ]

    def write_csv(self, path: str | Path) -> Path:
        """Write the column table (see :meth:`rows`) as CSV."""
        fields = [
            "column",
            "y_A",
            "x_A",
            "row_px",
            "col_px",
            "value",
            "verdict",
            "column_rate",
            "count_mean",
            "n_pixels",
        ]
        return write_csv(path, self.rows(), fields)


def classify(
    values: np.ndarray, real: float = DEFAULT_REAL, spurious: float = DEFAULT_SPURIOUS
) -> np.ndarray:
    """Verdict per value: ``"real"`` (>= real), ``"spurious"`` (<= spurious) or ``"uncertain"``."""
    if not spurious < real:
        raise InputError(f"the spurious threshold ({spurious}) must be below the real one ({real})")
    values = np.asarray(values, dtype=np.float64)
    verdict = np.full(values.shape, "uncertain", dtype="<U9")
    verdict[values >= real] = "real"
    verdict[values <= spurious] = "spurious"
    return verdict


def column_likelihood(
    noisy: np.ndarray,
    denoised: np.ndarray,
    positions: np.ndarray,
    pixel_size: float,
    vacuum_rate: float | None = None,
    *,
    radius: float = DEFAULT_RADIUS_A,
    real: float = DEFAULT_REAL,
    spurious: float = DEFAULT_SPURIOUS,
) -> ColumnLikelihood:
    """Poisson log-likelihood ratio (column against vacuum) of every column region.

    Parameters
    ----------
    noisy : numpy.ndarray
        Noisy frame, electron counts per pixel (converted from detector units if need be; see
        :func:`sbdenoise.noise.counts.prepare_counts`).
    denoised : numpy.ndarray
        Denoised frame of the same shape, e-/px.
    positions : numpy.ndarray
        Columns to test, ``(n, 2)``, ``(y, x)`` in angstrom (for example from
        :func:`sbdenoise.analysis.columns.detect_columns` on the denoised frame).
    pixel_size : float
        Angstrom per pixel.
    vacuum_rate : float, optional
        Vacuum rate in e-/px; by default estimated with :func:`estimate_vacuum`.
    radius : float
        Radius of a column region, in angstrom.
    real, spurious : float
        Verdict thresholds, nats per pixel.

    Returns
    -------
    ColumnLikelihood
    """
    counts = _check_image(noisy, "noisy frame")
    image = _check_image(denoised, "denoised image")
    if counts.shape != image.shape:
        raise InputError(
            f"noisy frame {counts.shape} and denoised image {image.shape} differ in shape"
        )
    pixel_size = _check_pixel_size(pixel_size)
    positions = check_positions(positions)
    if not radius > 0:
        raise InputError(f"the region radius must be positive (angstrom), got {radius}")
    if vacuum_rate is None:
        vacuum = estimate_vacuum(image, pixel_size, noisy=counts)
    else:
        if not (np.isfinite(vacuum_rate) and vacuum_rate > 0):
            raise InputError(f"the vacuum rate must be a positive e-/px, got {vacuum_rate}")
        vacuum = VacuumEstimate(None, float(vacuum_rate), 0.0, "given")
    v = vacuum.rate
    n = len(positions)
    column, flat, dist = disc_pixels(positions / pixel_size, radius / pixel_size, image.shape)
    n_pixels = np.bincount(column, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.bincount(column, weights=image.ravel()[flat], minlength=n) / n_pixels
        mean_counts = np.bincount(column, weights=counts.ravel()[flat], minlength=n) / n_pixels
    # A region the denoiser left empty (rate <= 0) gets a tiny rate: any count there refutes it.
    c = np.maximum(rate, 1e-6 * v)
    values = mean_counts * np.log(c / v) - (c - v)
    values[n_pixels == 0] = np.nan
    verdict = classify(values, real, spurious)

    value_map = np.full(image.size, np.nan, dtype=np.float32)
    if len(flat):
        # Each pixel shows its nearest column: sort by (pixel, distance), keep the first of each.
        order = np.lexsort((dist, flat))
        first = np.ones(len(order), dtype=bool)
        first[1:] = flat[order][1:] != flat[order][:-1]
        chosen = order[first]
        value_map[flat[chosen]] = values[column[chosen]]
    return ColumnLikelihood(
        positions=positions,
        values=values,
        column_rate=rate,
        count_mean=mean_counts,
        n_pixels=n_pixels,
        verdict=verdict,
        vacuum=vacuum,
        map=value_map.reshape(image.shape),
        pixel_size=pixel_size,
        radius=float(radius),
        real_threshold=float(real),
        spurious_threshold=float(spurious),
    )


def roc_auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """Area under the ROC curve separating two samples, from the Mann-Whitney statistic.

    ``AUC = U / (n_pos n_neg)`` where ``U`` counts the pairs in which the positive scores higher
    (ties count one half): the probability that a random positive outranks a random negative.

    Parameters
    ----------
    positive, negative : numpy.ndarray
        Scores of the positive class (for example real columns) and of the negative class
        (spurious columns). NaNs are dropped.

    Returns
    -------
    float
        AUC in [0, 1]; NaN if either sample is empty.
    """
    pos = np.asarray(positive, dtype=np.float64).ravel()
    neg = np.asarray(negative, dtype=np.float64).ravel()
    pos, neg = pos[np.isfinite(pos)], neg[np.isfinite(neg)]
    if pos.size == 0 or neg.size == 0:
        return float("nan")
    ranks = rankdata(np.concatenate([pos, neg]))
    u = ranks[: pos.size].sum() - pos.size * (pos.size + 1) / 2
    return float(u / (pos.size * neg.size))


# --------------------------------------------------------------------------------------------
# Figures (shared by the other analysis figures)
# --------------------------------------------------------------------------------------------


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def image_panels(count: int, width: float, height: float) -> tuple[Any, np.ndarray]:
    """A figure with one row of ``count`` image panels, their ticks off.

    Parameters
    ----------
    count : int
        Number of panels.
    width, height : float
        Size of one panel, inches (the figure is ``count * width`` wide).

    Returns
    -------
    fig : matplotlib.figure.Figure
        The figure (constrained layout).
    axes : numpy.ndarray
        Its ``count`` axes, left to right.
    """
    fig, axes = _pyplot().subplots(
        1, count, figsize=(width * count, height), constrained_layout=True, squeeze=False
    )
    for ax in axes[0]:
        ax.set_xticks([])
        ax.set_yticks([])
    return fig, axes[0]


def add_colorbar(fig: Any, ax: Any, shown: Any, label: str) -> Any:
    """Draw the colour bar of ``shown`` beside ``ax`` (the analysis figures' size), labelled.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure holding ``ax``.
    ax : matplotlib.axes.Axes
        The axes the bar stands beside.
    shown : matplotlib.cm.ScalarMappable
        What ``imshow`` or ``scatter`` returned.
    label : str
        The bar's label, with units.

    Returns
    -------
    matplotlib.colorbar.Colorbar
    """
    bar = fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.02)
    bar.set_label(label)
    return bar


def scale_bar_length(field_of_view: float) -> float:
    """A round scale-bar length (angstrom) of about a fifth of ``field_of_view`` (angstrom)."""
    target = field_of_view / 5
    for length in (0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000):
        if length >= target:
            return float(length)
    return float(10 ** np.ceil(np.log10(target)))


def add_scale_bar(ax: Any, shape: tuple[int, int], pixel_size: float | None) -> None:
    """Draw a scale bar labelled in nm in the lower left of an image axes (pixel coordinates).

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Axes showing an image with ``imshow`` (origin upper left, one unit per pixel).
    shape : tuple of int
        Image shape in pixels.
    pixel_size : float or None
        Angstrom per pixel; nothing is drawn when None.
    """
    if pixel_size is None:
        return
    length = scale_bar_length(shape[1] * pixel_size)
    bar = length / pixel_size
    x0, y0 = 0.05 * shape[1], 0.93 * shape[0]
    from matplotlib import patheffects

    outline = [patheffects.withStroke(linewidth=6.5, foreground="black")]
    ax.plot(
        [x0, x0 + bar], [y0, y0], color="white", lw=4, solid_capstyle="butt", path_effects=outline
    )
    ax.text(
        x0 + bar / 2,
        y0 - 0.03 * shape[0],
        f"{length / 10:g} nm",
        color="white",
        ha="center",
        va="bottom",
        fontsize=10,
        fontweight="bold",
        bbox={"facecolor": "black", "alpha": 0.45, "pad": 1.5, "edgecolor": "none"},
    )


def save_figure(fig: Any, path: str | Path, dpi: int = 110) -> Path:
    """Save a matplotlib figure atomically (temporary file, then rename) and close it."""
    path = Path(path)
    try:
        with atomic_write(path, suffix=f".tmp{path.suffix or '.png'}") as temporary:
            fig.savefig(temporary, dpi=dpi)
    finally:
        _pyplot().close(fig)
    return path


def grey_limits(image: np.ndarray) -> tuple[float, float]:
    """Robust grey levels (0.5 and 99.5 percentiles) of an image."""
    lo, hi = np.percentile(np.asarray(image, dtype=np.float64), [0.5, 99.5])
    return float(lo), float(hi if hi > lo else lo + 1.0)


def symmetric_limit(values: np.ndarray, floor: float = 1e-3) -> float:
    """Half-range of a symmetric colour scale: the 99th percentile of ``|values|``."""
    finite = np.abs(np.asarray(values, dtype=np.float64))
    finite = finite[np.isfinite(finite)]
    return max(float(np.percentile(finite, 99)) if finite.size else floor, floor)


VERDICT_COLOURS = {"real": "#2166ac", "uncertain": "#f4a900", "spurious": "#b2182b"}


def mark_verdicts(
    ax: Any,
    pix: np.ndarray,
    verdict: np.ndarray,
    colours: Mapping[str, str],
    tally: Mapping[str, int],
    *,
    sizes: float | np.ndarray,
    linewidth: float,
    framealpha: float,
) -> None:
    """Mark every column with a hollow circle in its verdict's colour, and add the legend.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Axes showing the frame with ``imshow`` (pixel coordinates).
    pix : numpy.ndarray
        ``(n, 2)`` column positions ``(row, col)``, pixels.
    verdict : numpy.ndarray
        ``(n,)`` verdict name of each column.
    colours : mapping of str to str
        Verdict name to marker colour, in the order of the legend.
    tally : mapping of str to int
        Number of columns of each verdict, shown in the legend.
    sizes : float or numpy.ndarray
        Marker area, points squared: one for all, or ``(n,)`` one per column.
    linewidth : float
        Marker edge width, points.
    framealpha : float
        Opacity of the legend's frame.
    """
    from matplotlib.lines import Line2D

    each = np.ndim(sizes) > 0
    handles = []
    for name, colour in colours.items():
        chosen = verdict == name
        ax.scatter(
            pix[chosen, 1],
            pix[chosen, 0],
            s=sizes[chosen] if each else sizes,
            facecolors="none",
            edgecolors=colour,
            linewidths=linewidth,
        )
        handles.append(
            Line2D(
                [], [], ls="", marker="o", mfc="none", mec=colour, label=f"{name} ({tally[name]})"
            )
        )
    ax.legend(handles=handles, loc="upper right", fontsize=8, framealpha=framealpha)


def plot_likelihood(
    result: ColumnLikelihood,
    denoised: np.ndarray,
    path: str | Path,
    noisy: np.ndarray | None = None,
    title: str = "",
) -> Path:
    """Draw the likelihood map beside the denoised frame (and the noisy one, if given).

    The map shows each column region in a diverging colour map (blue: supported by the counts,
    red: not) with symmetric limits, over the denoised frame in grey; the denoised panel marks
    each column with its verdict.

    Parameters
    ----------
    result : ColumnLikelihood
        From :func:`column_likelihood`.
    denoised : numpy.ndarray
        The denoised frame.
    path : str or Path
        PNG to write.
    noisy : numpy.ndarray, optional
        The noisy frame, shown first.
    title : str
        Figure title.

    Returns
    -------
    Path
    """
    image = np.asarray(denoised, dtype=np.float64)
    panels = (["noisy"] if noisy is not None else []) + ["denoised", "map"]
    fig, axes = image_panels(len(panels), 5.0, 5.4)
    ps = result.pixel_size
    pix = result.positions / ps
    lo, hi = grey_limits(image)
    for ax, panel in zip(axes, panels, strict=True):
        if panel == "noisy":
            nlo, nhi = grey_limits(noisy)
            ax.imshow(noisy, cmap="gray", vmin=nlo, vmax=nhi, interpolation="antialiased")
            ax.set_title("noisy counts")
        elif panel == "denoised":
            ax.imshow(image, cmap="gray", vmin=lo, vmax=hi, interpolation="antialiased")
            mark_verdicts(
                ax,
                pix,
                result.verdict,
                VERDICT_COLOURS,
                result.counts(),
                sizes=22,
                linewidth=1.2,
                framealpha=0.8,
            )
            ax.set_title("denoised, columns by verdict")
        else:
            ax.imshow(image, cmap="gray", vmin=lo, vmax=hi, interpolation="antialiased")
            limit = symmetric_limit(result.values)
            shown = ax.imshow(
                np.ma.masked_invalid(result.map),
                cmap="RdBu",
                vmin=-limit,
                vmax=limit,
                interpolation="nearest",
            )
            bar = add_colorbar(fig, ax, shown, "log-likelihood ratio, column vs vacuum (nats/px)")
            for level in (result.real_threshold, result.spurious_threshold):
                if -limit < level < limit:
                    bar.ax.axhline(level, color="black", lw=1, ls="--")
            ax.set_title(
                f"likelihood map (r = {result.radius:g} Å, vacuum {result.vacuum.rate:.3g} e⁻/px)"
            )
        add_scale_bar(ax, image.shape, ps)
    if title:
        fig.suptitle(title, fontsize=12)
    return save_figure(fig, path)


def letter_value_plot(
    groups: Mapping[str, np.ndarray],
    path: str | Path | None = None,
    *,
    ax: Any = None,
    ylabel: str = "",
    title: str = "",
    colours: Sequence[str] | None = None,
    lines: Mapping[str, float] | None = None,
) -> Any:
    """Letter-value ("boxen") plot of several samples, drawn with matplotlib.

    Each sample is drawn as nested boxes between its letter values: the fourths (quartiles),
    eighths, sixteenths, ... down to the depth where about five points lie beyond the last box
    on each side (``k = floor(log2 n) - 3`` boxes, Hofmann, Wickham and Kafadar 2017); the median
    is a line and the points beyond the outermost box are drawn one by one.

    Parameters
    ----------
    groups : mapping of str to numpy.ndarray
        Sample name to values (NaNs dropped).
    path : str or Path, optional
        PNG to write (then the figure is closed and the path returned).
    ax : matplotlib.axes.Axes, optional
        Axes to draw into (a new figure otherwise).
    ylabel, title : str
        Axis label and title.
    colours : sequence of str, optional
        One colour per group.
    lines : mapping of str to float, optional
        Labelled values marked by dashed horizontal lines (thresholds).

    Returns
    -------
    Path or matplotlib.axes.Axes
        The PNG path when ``path`` is given, else the axes.
    """
    plt = _pyplot()
    from matplotlib.colors import to_rgb
    from matplotlib.patches import Rectangle

    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(1.8 + 1.9 * len(groups), 4.6), constrained_layout=True)
    palette = list(colours or plt.rcParams["axes.prop_cycle"].by_key()["color"])
    names = list(groups)
    for i, name in enumerate(names):
        values = np.asarray(groups[name], dtype=np.float64).ravel()
        values = np.sort(values[np.isfinite(values)])
        base = np.array(to_rgb(palette[i % len(palette)]))
        n = values.size
        if n == 0:
            continue
        k = max(1, int(np.floor(np.log2(n))) - 3) if n >= 4 else 0
        for depth in range(1, k + 1):
            p = 0.5 ** (depth + 1)
            low, high = np.quantile(values, [p, 1 - p])
            width = 0.8 * (1 - 0.75 * (depth - 1) / max(k, 1))
            shade = base + (1 - base) * (depth - 1) / (k + 1)
            ax.add_patch(
                Rectangle(
                    (i - width / 2, low),
                    width,
                    high - low,
                    facecolor=shade,
                    edgecolor="white",
                    lw=0.8,
                    zorder=2 + k - depth,
                )
            )
        median = float(np.median(values))
        ax.plot([i - 0.4, i + 0.4], [median, median], color="black", lw=1.6, zorder=20)
        if k:
            p = 0.5 ** (k + 1)
            low, high = np.quantile(values, [p, 1 - p])
            out = values[(values < low) | (values > high)]
        else:
            out = values
        ax.scatter(np.full(out.size, i), out, s=9, color=base, edgecolors="none", zorder=21)
    styles = ("--", ":", "-.")
    for k, (label, level) in enumerate((lines or {}).items()):
        ax.axhline(level, color="dimgrey", lw=1, ls=styles[k % 3], zorder=1, label=label)
    if lines:
        ax.legend(loc="best", fontsize=8, framealpha=0.9)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(
        [f"{name}\n(n = {np.isfinite(np.asarray(groups[name], float)).sum()})" for name in names]
    )
    ax.set_xlim(-0.6, len(names) - 0.4)
    ax.autoscale_view(scalex=False)
    if ylabel:
        ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if path is not None:
        return save_figure(fig if fig is not None else ax.figure, path)
    return ax


@dataclass(frozen=True)
class LikelihoodValidation:
    """How well the likelihood values separate real from spurious columns.

    Attributes
    ----------
    real, spurious : numpy.ndarray
        Values of columns matched to a true column and of columns with none.
    auc : float
        ROC AUC of the value as a score for "real" (NaN if either group is empty).
    thresholds : tuple of float
        Verdict thresholds ``(real, spurious)`` marked on the plot, nats per pixel.
    """

    real: np.ndarray
    spurious: np.ndarray
    auc: float
    thresholds: tuple[float, float] = (DEFAULT_REAL, DEFAULT_SPURIOUS)

    def plot(self, path: str | Path, title: str = "") -> Path:
        """Letter-value plot of the two distributions with the AUC in the title."""
        heading = title or "likelihood of detected columns"
        return letter_value_plot(
            {"real": self.real, "spurious": self.spurious},
            path,
            ylabel="log-likelihood ratio (nats/px)",
            title=f"{heading}\nROC AUC = {self.auc:.3f}",
            colours=[VERDICT_COLOURS["real"], VERDICT_COLOURS["spurious"]],
            lines={
                f"real ≥ {self.thresholds[0]:g}": self.thresholds[0],
                f"spurious ≤ {self.thresholds[1]:g}": self.thresholds[1],
            },
        )


def validate_likelihood(
    real: np.ndarray,
    spurious: np.ndarray,
    thresholds: tuple[float, float] = (DEFAULT_REAL, DEFAULT_SPURIOUS),
) -> LikelihoodValidation:
    """Summarise values of real and spurious columns (collected over a simulated set).

    Parameters
    ----------
    real, spurious : numpy.ndarray
        Likelihood values of detected columns that match a true column and of those that do not.
    thresholds : tuple of float
        Verdict thresholds ``(real, spurious)`` to mark on the plot, nats per pixel.

    Returns
    -------
    LikelihoodValidation
    """
    real = np.asarray(real, dtype=np.float64).ravel()
    spurious = np.asarray(spurious, dtype=np.float64).ravel()
    return LikelihoodValidation(real, spurious, roc_auc(real, spurious), thresholds)
