"""Figure of the calibrated verdicts: every candidate marked on the denoised frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sbdenoise.analysis.likelihood import (
    add_colorbar,
    add_scale_bar,
    grey_limits,
    image_panels,
    mark_verdicts,
    save_figure,
)
from sbdenoise.analysis.trust import FrameVerdicts

#: Marker colour of each verdict (colour-blind safe: blue, grey, vermilion; the papers' three).
VERDICT_STYLE = {
    "supported": "#0072b2",
    "not supported": "#bdbdbd",
    "contradicted": "#d55e00",
    "real": "#0072b2",
    "uncertain": "#bdbdbd",
    "spurious": "#d55e00",
}


def display_counts(noisy: np.ndarray, target: int = 100) -> tuple[np.ndarray, int]:
    """Counts summed in ``b x b`` blocks so that shot noise at < 1 e-/px shows structure.

    ``b`` is the largest power of two that keeps at least ``target`` pixels on the short side
    (1 for small frames). Returns the summed image and ``b``.
    """
    counts = np.asarray(noisy, dtype=np.float64)
    factor = 1
    while min(counts.shape) // (2 * factor) >= target:
        factor *= 2
    if factor == 1:
        return counts, 1
    rows, cols = (counts.shape[0] // factor) * factor, (counts.shape[1] // factor) * factor
    blocks = counts[:rows, :cols].reshape(rows // factor, factor, cols // factor, factor)
    return blocks.sum(axis=(1, 3)), factor


def plot_verdicts(
    result: FrameVerdicts,
    denoised: np.ndarray,
    path: str | Path,
    *,
    noisy: np.ndarray | None = None,
    title: str = "",
) -> Path:
    """Noisy frame, denoised frame with every candidate by verdict, and the evidence map.

    The third panel shows each candidate's q-value (calibrated) as ``-log10 q`` on its region, or
    the bootstrap spread of the re-denoised frames when a bootstrap was run (then markers are
    sized by how often the candidate reappeared).

    Parameters
    ----------
    result : FrameVerdicts
        From :func:`sbdenoise.analysis.trust.judge_frame`.
    denoised : numpy.ndarray
        The denoised frame, e-/px.
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
    panels = (["noisy"] if noisy is not None else []) + ["verdicts", "evidence"]
    fig, axes = image_panels(len(panels), 5.0, 5.5)
    pixel = result.candidates.pixel_size
    pix = result.candidates.positions / pixel
    lo, hi = grey_limits(image)
    sizes = np.full(len(result), 30.0)
    if result.stability is not None:
        sizes = 8.0 + 60.0 * result.stability.reappearance
    for ax, panel in zip(axes, panels, strict=True):
        if panel == "noisy":
            shown_counts, factor = display_counts(noisy)
            nlo, nhi = grey_limits(shown_counts)
            ax.imshow(
                shown_counts,
                cmap="gray",
                vmin=nlo,
                vmax=nhi,
                interpolation="nearest",
                extent=(-0.5, image.shape[1] - 0.5, image.shape[0] - 0.5, -0.5),
            )
            ax.set_title(
                "noisy counts" + (f" ({factor}x{factor} sums, for the eye)" if factor > 1 else "")
            )
        elif panel == "verdicts":
            ax.imshow(image, cmap="gray", vmin=lo, vmax=hi, interpolation="antialiased")
            mark_verdicts(
                ax,
                pix,
                result.verdict,
                {name: VERDICT_STYLE[name] for name in reversed(result.verdict_names)},
                result.counts(),
                sizes=sizes,
                linewidth=1.4,
                framealpha=0.85,
            )
            how = f"FDR {result.fdr:g}" if result.mode == "calibrated" else "fixed thresholds"
            extra = (
                f", size: reappears in {result.stability.draws} re-noised draws"
                if result.stability is not None
                else ""
            )
            ax.set_title(f"every candidate by verdict ({how}{extra})", fontsize=10)
        elif result.stability is not None:
            shown = ax.imshow(result.stability.spread, cmap="magma", interpolation="antialiased")
            add_colorbar(fig, ax, shown, "spread of re-denoised frames (e⁻/px)")
            ax.set_title(f"bootstrap spread ({result.stability.draws} draws)", fontsize=10)
        else:
            ax.imshow(image, cmap="gray", vmin=lo, vmax=hi, interpolation="antialiased")
            evidence = (
                -np.log10(np.clip(result.q_value, 1e-6, 1.0))
                if result.mode == "calibrated"
                else result.likelihood.values
            )
            shown = ax.scatter(
                pix[:, 1], pix[:, 0], c=evidence, s=36, cmap="viridis", edgecolors="white",
                linewidths=0.4,
            )  # fmt: skip
            calibrated = result.mode == "calibrated"
            bar = add_colorbar(
                fig,
                ax,
                shown,
                "-log10 q (counts vs vacuum)" if calibrated else "log-likelihood ratio (nats/px)",
            )
            if calibrated:
                bar.ax.axhline(-np.log10(result.fdr), color="white", lw=1.2, ls="--")
            ax.set_title(f"evidence (vacuum {result.vacuum.rate:.3g} e⁻/px)", fontsize=10)
        add_scale_bar(ax, image.shape, pixel)
    if title:
        fig.suptitle(title, fontsize=12)
    return save_figure(fig, path)
