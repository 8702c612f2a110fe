"""Is this Poisson? Gain, offset and dispersion of a frame or a stack, from the data alone.

Two estimators, both from the mean-variance relation of a Poisson-Gaussian detector,
``variance = gain * mean + intercept`` (for electron counts: gain 1, intercept 0):

- a stack: the temporal variance of every pixel (from differences of consecutive frames, so a slow
  drift of the specimen does not count as noise) against its temporal mean, binned by mean;
- a single frame: blocks of pixels, each with its mean and its noise variance from differences of
  neighbouring pixels (at atomic-resolution sampling most of the signal is far smoother than one
  pixel). Blocks whose total variance is close to that noise variance hold no structure: the
  vacuum. When they span only one intensity level, the gain is reported assuming zero offset.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: Index-of-dispersion range (variance / mean) accepted as Poisson electron counts.
POISSON_DISPERSION_RANGE = (0.75, 1.3)
#: Largest vacuum level (electrons per pixel per frame) a suggested conversion may imply.
MAX_PLAUSIBLE_COUNTS = 1e4
#: Smallest number of pixels that makes a useful vacuum region.
MIN_VACUUM_PIXELS = 256


@dataclass
class NoiseEstimate:
    """Noise statistics estimated from a frame or a stack.

    Attributes
    ----------
    method : str
        ``"stack"`` (temporal statistics) or ``"frame"`` (spatial blocks).
    gain : float
        Detector units per electron (slope of variance against mean).
    intercept : float
        Variance at zero mean, in detector units squared.
    offset : float
        Dark level in detector units, ``-intercept / gain`` (assumes negligible read noise).
    dispersion : float
        Variance divided by mean in the vacuum (1 for Poisson counts).
    vacuum_mean : float
        Mean value in the vacuum region (detector units).
    vacuum_mask : numpy.ndarray or None
        Boolean ``(y, x)`` mask of the vacuum region used.
    bin_means, bin_variances : numpy.ndarray
        The binned mean-variance points behind the fit.
    vacuum_values : numpy.ndarray
        A sample of the raw values in the vacuum region (for the histogram).
    fit_from_one_level : bool
        True when all points sit at about one mean, so the offset is assumed to be zero.
    """

    method: str
    gain: float
    intercept: float
    offset: float
    dispersion: float
    vacuum_mean: float
    vacuum_mask: np.ndarray | None
    bin_means: np.ndarray
    bin_variances: np.ndarray
    vacuum_values: np.ndarray
    fit_from_one_level: bool
    notes: list[str] = field(default_factory=list)

    @property
    def conversion_plausible(self) -> bool:
        """True when the fitted gain and offset describe shot noise of a plausible dose.

        The vacuum level converted with them, ``(vacuum_mean - offset) / gain``, must be a
        positive number of electrons below :data:`MAX_PLAUSIBLE_COUNTS`; otherwise the variance is
        not shot noise of raw frames (summed, normalised or otherwise processed data).
        """
        if self.fit_from_one_level or not (np.isfinite(self.gain) and self.gain > 0):
            return False
        electrons = (self.vacuum_mean - self.offset) / self.gain
        return 0 < electrons < MAX_PLAUSIBLE_COUNTS

    @property
    def looks_poisson(self) -> bool:
        """True when gain, offset and dispersion are those of electron counts."""
        lo, hi = POISSON_DISPERSION_RANGE
        gain_ok = lo <= self.gain <= hi
        dispersion_ok = lo <= self.dispersion <= hi
        offset_ok = abs(self.offset) <= max(0.25 * self.vacuum_mean, 0.5)
        return gain_ok and dispersion_ok and (self.fit_from_one_level or offset_ok)

    def summary(self) -> str:
        """One paragraph a microscopist can read."""
        verdict = (
            "consistent with Poisson electron counts"
            if self.looks_poisson
            else ("NOT consistent with Poisson electron counts")
        )
        offset = (
            "assumed 0 (one intensity level)" if self.fit_from_one_level else f"{self.offset:.4g}"
        )
        return (
            f"{verdict}: gain {self.gain:.4g} units/e-, offset {offset}, "
            f"variance/mean in vacuum {self.dispersion:.3g} (mean {self.vacuum_mean:.4g}), "
            f"from {self.method} statistics"
        )


def _fit_line(
    means: np.ndarray,
    variances: np.ndarray,
    weights: np.ndarray,
    mean_noise_sd: float | None = None,
) -> tuple[float, float, bool]:
    """Weighted least-squares ``variance = gain * mean + intercept``; flags a one-level fit.

    The fit is one level (no slope can be measured) when the means span less than a fifth of
    their level, or, given ``mean_noise_sd`` (the scatter shot noise alone gives each mean), when
    their standard deviation is within twice that: means that differ only by noise carry no
    mean-variance relation, and a line through them would report a spurious gain and offset.
    """
    spread = np.ptp(means) if means.size else 0.0
    level = float(np.average(means, weights=weights)) if means.size else 0.0
    noise_only = (
        mean_noise_sd is not None and means.size > 0 and float(np.std(means)) <= 2 * mean_noise_sd
    )
    if means.size < 3 or spread < 0.2 * max(abs(level), 1e-12) or noise_only:
        gain = float(np.average(variances, weights=weights) / level) if level > 0 else float("nan")
        return gain, 0.0, True
    design = np.stack([means, np.ones_like(means)], axis=1) * np.sqrt(weights)[:, None]
    target = variances * np.sqrt(weights)
    (gain, intercept), *_ = np.linalg.lstsq(design, target, rcond=None)
    return float(gain), float(intercept), False


def _binned(means: np.ndarray, variances: np.ndarray, n_bins: int) -> tuple[np.ndarray, ...]:
    """Median variance in quantile bins of the mean; returns means, variances, counts."""
    edges = np.unique(np.quantile(means, np.linspace(0, 1, n_bins + 1)))
    if edges.size < 2:
        return np.array([means.mean()]), np.array([variances.mean()]), np.array([means.size])
    index = np.clip(np.searchsorted(edges, means, side="right") - 1, 0, edges.size - 2)
    out_m, out_v, out_n = [], [], []
    for b in range(edges.size - 1):
        sel = index == b
        if sel.sum() >= 16:
            out_m.append(means[sel].mean())
            out_v.append(variances[sel].mean())
            out_n.append(sel.sum())
    return np.array(out_m), np.array(out_v), np.array(out_n, dtype=float)


def estimate_noise_stack(stack: np.ndarray, n_bins: int = 24) -> NoiseEstimate:
    """Estimate gain, offset and dispersion from the temporal statistics of a stack.

    Parameters
    ----------
    stack : numpy.ndarray
        Frames ``(frames, y, x)`` of one field of view, at least 3 frames.
    n_bins : int
        Number of quantile bins of the temporal mean.

    Returns
    -------
    NoiseEstimate
    """
    stack = np.asarray(stack, dtype=np.float64)
    if stack.ndim != 3 or stack.shape[0] < 3:
        raise ValueError("a stack of at least 3 frames (frames, y, x) is needed")
    mean = stack.mean(axis=0)
    # Half the mean squared difference of consecutive frames: insensitive to slow drift.
    variance = 0.5 * np.mean(np.diff(stack, axis=0) ** 2, axis=0)
    n_bins = max(1, min(n_bins, mean.size // 32))  # at least 32 pixels per bin
    bm, bv, bn = _binned(mean.ravel(), variance.ravel(), n_bins)
    gain, intercept, one_level = _fit_line(bm, bv, bn)
    frame_estimate = estimate_noise_frame(mean)
    vacuum = frame_estimate.vacuum_mask
    vac_mean = float(mean[vacuum].mean())
    dispersion = float(variance[vacuum].mean() / vac_mean) if vac_mean > 0 else float("nan")
    return NoiseEstimate(
        method="stack",
        gain=gain,
        intercept=intercept,
        offset=-intercept / gain if gain and np.isfinite(gain) and not one_level else 0.0,
        dispersion=dispersion,
        vacuum_mean=vac_mean,
        vacuum_mask=vacuum,
        bin_means=bm,
        bin_variances=bv,
        vacuum_values=stack[:, vacuum].ravel(),
        fit_from_one_level=one_level,
    )


def _block_view(frame: np.ndarray, block: int) -> np.ndarray:
    ny, nx = frame.shape[0] // block, frame.shape[1] // block
    cropped = frame[: ny * block, : nx * block]
    return cropped.reshape(ny, block, nx, block).swapaxes(1, 2)


def estimate_noise_frame(frame: np.ndarray, block: int | None = None) -> NoiseEstimate:
    """Estimate gain, offset and dispersion from one frame, using its structure-free blocks.

    Parameters
    ----------
    frame : numpy.ndarray
        One frame ``(y, x)``.
    block : int, optional
        Block size in pixels; default: about 1/16 of the smaller side, between 8 and 64.

    Returns
    -------
    NoiseEstimate
    """
    frame = np.asarray(frame, dtype=np.float64)
    if frame.ndim != 2:
        raise ValueError("one frame (y, x) is needed")
    if block is None:
        block = int(np.clip(min(frame.shape) // 16, 8, 64))
    blocks = _block_view(frame, block)
    if blocks.shape[0] * blocks.shape[1] < 4:
        raise ValueError(f"frame {frame.shape} is too small for noise estimation")
    means = blocks.mean(axis=(2, 3))
    total_var = blocks.var(axis=(2, 3))
    # Neighbour differences have twice the noise variance where the signal is smooth.
    dx = np.diff(blocks, axis=3)
    dy = np.diff(blocks, axis=2)
    noise_var = 0.25 * (np.mean(dx**2, axis=(2, 3)) + np.mean(dy**2, axis=(2, 3)))
    structure = total_var / np.maximum(noise_var, 1e-12)
    # Structure-free blocks: total variance no larger than noise variance (+ sampling scatter).
    n_pix = block * block
    tolerance = 1.0 + 4.0 * np.sqrt(2.0 / n_pix)
    flat = structure <= tolerance
    if flat.sum() < max(2, MIN_VACUUM_PIXELS // n_pix):
        flat = structure <= np.quantile(structure, 0.1)
    bm, bv = means[flat], noise_var[flat]
    mean_noise_sd = float(np.sqrt(max(float(np.mean(bv)), 0.0) / n_pix)) if bv.size else None
    gain, intercept, one_level = _fit_line(bm, bv, np.ones_like(bm), mean_noise_sd)

    # Vacuum: the connected intensity level of the flat blocks that holds most of them.
    level = np.median(bm)
    vacuum_blocks = flat & (
        np.abs(means - level)
        <= 3 * np.sqrt(np.maximum(noise_var, 1e-12) / n_pix) + 0.05 * abs(level)
    )
    if not vacuum_blocks.any():  # no level shared by the flat blocks: use them all
        vacuum_blocks = flat
    mask = np.zeros(frame.shape, dtype=bool)
    mask_blocks = _block_view(mask, block)
    mask_blocks[vacuum_blocks] = True
    vac_mean = float(frame[mask].mean())
    vac_noise = float(noise_var[vacuum_blocks].mean())
    dispersion = vac_noise / vac_mean if vac_mean > 0 else float("nan")
    if one_level:
        gain = dispersion
    notes = []
    if not one_level and not np.isfinite(gain):
        notes.append("the mean-variance fit failed")
    return NoiseEstimate(
        method="frame",
        gain=gain,
        intercept=intercept,
        offset=-intercept / gain if (not one_level and gain) else 0.0,
        dispersion=dispersion,
        vacuum_mean=vac_mean,
        vacuum_mask=mask,
        bin_means=bm,
        bin_variances=bv,
        vacuum_values=frame[mask].ravel(),
        fit_from_one_level=one_level,
        notes=notes,
    )


def estimate_noise(data: np.ndarray) -> NoiseEstimate:
    """Estimate noise statistics from a stack (temporal) or a frame (spatial)."""
    data = np.asarray(data)
    if data.ndim == 3 and data.shape[0] >= 3:
        return estimate_noise_stack(data)
    return estimate_noise_frame(data if data.ndim == 2 else data[0])


def plot_noise_check(estimate: NoiseEstimate, path: str | Path, title: str = "") -> Path:
    """Draw the mean-variance relation and the vacuum histogram against a Poisson pmf.

    Parameters
    ----------
    estimate : NoiseEstimate
        Output of :func:`estimate_noise`.
    path : str or Path
        PNG file to write.
    title : str
        Figure title (e.g. the file name).

    Returns
    -------
    Path
        The PNG written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy import stats

    fig, (ax_mv, ax_hist) = plt.subplots(1, 2, figsize=(11, 4.5), constrained_layout=True)
    m, v = estimate.bin_means, estimate.bin_variances
    ax_mv.plot(m, v, "o", color="tab:blue", label=f"{estimate.method} statistics")
    span = np.linspace(0, max(m.max() if m.size else 1, 1e-9) * 1.1, 50)
    ax_mv.plot(
        span,
        estimate.gain * span + estimate.intercept,
        "-",
        color="tab:blue",
        label=f"fit: var = {estimate.gain:.3g} mean {estimate.intercept:+.3g}",
    )
    ax_mv.plot(span, span, "--", color="0.3", label="Poisson counts: var = mean")
    ax_mv.set_xlabel("mean (file units)")
    ax_mv.set_ylabel("noise variance (file units$^2$)")
    ax_mv.set_title("Mean-variance relation")
    ax_mv.legend(frameon=False)

    values = estimate.vacuum_values
    if values.size:
        integer = np.allclose(values, np.round(values))
        mu = float(values.mean())
        if integer and values.max() - values.min() < 400:
            k = np.arange(int(values.min()), int(values.max()) + 2)
            ax_hist.hist(
                values,
                bins=k - 0.5,
                density=True,
                color="tab:orange",
                alpha=0.7,
                label="vacuum pixels",
            )
            ax_hist.plot(k, stats.poisson.pmf(k, mu), "k.-", label=f"Poisson pmf, mean {mu:.3g}")
        else:
            ax_hist.hist(
                values, bins=80, density=True, color="tab:orange", alpha=0.7, label="vacuum pixels"
            )
            ax_hist.axvline(mu, color="k", lw=1, label=f"mean {mu:.4g}")
        ax_hist.set_xlabel("value (file units)")
        ax_hist.set_ylabel("probability")
        ax_hist.legend(frameon=False)
    ax_hist.set_title(f"Vacuum histogram (variance/mean {estimate.dispersion:.3g})")
    verdict = "Poisson counts" if estimate.looks_poisson else "not Poisson counts"
    fig.suptitle(f"{title}  —  {verdict}" if title else verdict)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
