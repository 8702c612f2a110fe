"""Figures, animation and HTML page of a series analysis (written next to its CSV files)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sbdenoise import __version__
from sbdenoise.analysis.html_report import PAGE_STYLE, html_table
from sbdenoise.analysis.likelihood import (
    _pyplot,
    add_scale_bar,
    grey_limits,
    save_figure,
    symmetric_limit,
)
from sbdenoise.io.atomic import atomic_write, atomic_write_text
from sbdenoise.series.binning import BLUR_WARNING_A
from sbdenoise.series.constants import PATH_STEP_A, PROFILE_BLUR_A, PROFILE_RADIUS_A

if TYPE_CHECKING:
    from sbdenoise.series.pipeline import SeriesResult

#: Most frames in the animation (evenly spaced) and largest panel side, px.
ANIMATION_FRAMES = 80
ANIMATION_PANEL_PX = 240
#: Most event traces drawn.
TRACES = 6

_EVENT_STYLE = {"leaves": ("x", "#b2182b"), "appears": ("+", "#1a9850"), "moves": ("*", "#7b3294")}


def _show(ax, image: np.ndarray, title: str, pixel_size: float) -> None:
    lo, hi = grey_limits(image)
    ax.imshow(image, cmap="gray", vmin=lo, vmax=hi, interpolation="antialiased")
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    add_scale_bar(ax, image.shape, pixel_size)


def plot_overview(result: SeriesResult, path: Path) -> Path:
    """Temporal average of the raw frames beside the denoised average with sites and events."""
    plt = _pyplot()
    pixel = result.pixel_size
    origin = result.window.origin_a(pixel)
    fig, axes = plt.subplots(1, 2, figsize=(11, 5.4), constrained_layout=True)
    _show(
        axes[0],
        result.temporal_mean,
        f"Temporal average of {result.n_frames} aligned frames",
        pixel,
    )
    _show(axes[1], result.denoised_mean, f"Average of the {result.method} frames, sites", pixel)
    sites = result.evidence.positions / pixel
    surface = result.evidence.surface
    axes[1].scatter(
        sites[~surface, 1],
        sites[~surface, 0],
        s=10,
        facecolors="none",
        edgecolors="#4393c3",
        linewidths=0.7,
        label="site",
    )
    axes[1].scatter(
        sites[surface, 1],
        sites[surface, 0],
        s=14,
        facecolors="none",
        edgecolors="#f4a582",
        linewidths=0.9,
        label="tested site (surface layer)",
    )
    for event in result.real_events:
        marker, colour = _EVENT_STYLE[event.kind]
        y, x = (np.asarray(event.position) - origin) / pixel
        axes[1].scatter(
            [x],
            [y],
            marker=marker,
            s=140,
            c=colour,
            linewidths=2.2,
            label=f"{event.kind} at {event.when()}",
        )
        if event.origin is not None:
            oy, ox = (np.asarray(event.origin) - origin) / pixel
            axes[1].annotate("", (x, y), (ox, oy), arrowprops={"arrowstyle": "->", "color": colour})
    axes[1].legend(loc="lower right", fontsize=8, framealpha=0.8)
    return save_figure(fig, path)


def plot_drift(result: SeriesResult, path: Path) -> Path:
    """Drift of every frame along y and x, angstrom."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.6), constrained_layout=True)
    frames = np.arange(result.n_frames)
    ax.plot(frames, result.drift[:, 0], "-o", ms=3, label="y")
    ax.plot(frames, result.drift[:, 1], "-s", ms=3, label="x")
    ax.set_xlabel("frame")
    ax.set_ylabel("drift relative to frame 0 (Å)")
    ax.grid(alpha=0.3)
    ax.legend()
    return save_figure(fig, path)


def plot_profiles(result: SeriesResult, path: Path) -> Path:
    """Surface column intensities along the surface, and the agreement of the two averages."""
    plt = _pyplot()
    prof = result.profiles
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    distance = np.arange(len(prof.path)) * PATH_STEP_A
    axes[0].plot(distance, prof.path_temporal, lw=1.2, label="temporal average (raw frames)")
    axes[0].plot(distance, prof.path_denoised, lw=1.2, label="denoised average")
    axes[0].set_xlabel("distance along the surface columns (Å)")
    axes[0].set_ylabel("e⁻/px per frame")
    axes[0].set_title(
        f"Profile along the surface: r = {prof.r_profile:.3f} (noise ceiling {prof.r_ceiling:.3f})"
    )
    axes[0].legend(fontsize=8)
    axes[0].grid(alpha=0.3)
    axes[1].scatter(
        prof.temporal[~prof.surface],
        prof.denoised[~prof.surface],
        s=10,
        c="#92c5de",
        label="bulk / support columns",
    )
    axes[1].scatter(
        prof.temporal[prof.surface],
        prof.denoised[prof.surface],
        s=18,
        c="#d6604d",
        label="surface columns",
    )
    finite = np.isfinite(prof.temporal) & np.isfinite(prof.denoised)
    if finite.any():
        lo = float(min(prof.temporal[finite].min(), prof.denoised[finite].min()))
        hi = float(max(prof.temporal[finite].max(), prof.denoised[finite].max()))
        axes[1].plot([lo, hi], [lo, hi], "k--", lw=0.8)
    axes[1].set_xlabel("temporal average (e⁻/px per frame)")
    axes[1].set_ylabel("denoised average (e⁻/px per frame)")
    axes[1].set_title(
        f"Column intensities ({PROFILE_RADIUS_A:g} Å disc): r surface {prof.r_surface:.3f}, "
        f"all {prof.r_all:.3f}",
        fontsize=10,
    )
    axes[1].legend(fontsize=8)
    axes[1].grid(alpha=0.3)
    return save_figure(fig, path)


def plot_event_traces(result: SeriesResult, path: Path) -> Path:
    """Counts per unit dose at the sites of the reported events, frame by frame."""
    plt = _pyplot()
    ev = result.evidence
    shown = result.events[:TRACES]
    rows = max(len(shown), 1)
    fig, axes = plt.subplots(
        rows, 1, figsize=(7, 1.9 * rows + 0.6), constrained_layout=True, squeeze=False
    )
    frames = np.arange(result.n_frames)
    for ax, event in zip(axes[:, 0], shown, strict=False):
        i = event.site
        ax.plot(frames, ev.values[:, i], "o-", ms=3, lw=0.8, color="#444")
        f = int(ev.frame[i])
        ax.hlines(ev.level_before[i], 0, f - 0.5, colors="#2166ac", lw=2)
        ax.hlines(ev.level_after[i], f - 0.5, result.n_frames - 1, colors="#b2182b", lw=2)
        ax.axvline(f - 0.5, color="#999", ls=":")
        ax.axvspan(ev.frame_low[i] - 0.5, ev.frame_high[i] - 0.5, color="#999", alpha=0.15)
        ax.set_title(
            f"site {i}: {event.kind} at {event.when()}, {event.z:.1f} σ, "
            f"q = {event.q_value:.2g} ({event.verdict})",
            fontsize=9,
        )
        ax.set_ylabel("filtered counts / dose")
        ax.grid(alpha=0.3)
    if not shown:
        axes[0, 0].text(0.5, 0.5, "no event with q ≤ 0.5", ha="center", va="center")
        axes[0, 0].set_axis_off()
    axes[-1, 0].set_xlabel("frame")
    return save_figure(fig, path)


def plot_verdict_counts(result: SeriesResult, names: list[str], path: Path) -> Path:
    """Candidates per verdict in every frame."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.6), constrained_layout=True)
    counts = result.verdict_counts
    for k, name in enumerate(names):
        if counts.ndim == 2 and k < counts.shape[1]:
            ax.plot(np.arange(len(counts)), counts[:, k], "-o", ms=3, label=name)
    ax.set_xlabel("frame")
    ax.set_ylabel("candidate columns")
    ax.set_title("Per-frame verdicts")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def _to_rgb(image: np.ndarray, cmap: str, lo: float, hi: float, side: int) -> np.ndarray:
    from matplotlib import colormaps

    step = max(int(np.ceil(max(image.shape) / side)), 1)
    small = image[::step, ::step]
    scaled = np.clip((np.nan_to_num(small, nan=0.5 * (lo + hi)) - lo) / (hi - lo or 1.0), 0, 1)
    return (colormaps[cmap](scaled)[..., :3] * 255).astype(np.uint8)


def write_animation(
    counts: np.ndarray, denoised: np.ndarray, likelihood: np.ndarray, path: Path
) -> Path:
    """GIF of noisy | denoised | likelihood map, frame by frame (at most ``ANIMATION_FRAMES``).

    Parameters
    ----------
    counts, denoised, likelihood : numpy.ndarray
        ``(t, y, x)`` stacks (memory-mapped is fine: frames are read one at a time).
    path : Path
        GIF to write.

    Returns
    -------
    Path
    """
    import imageio.v3 as iio

    n = counts.shape[0]
    chosen = np.unique(np.linspace(0, n - 1, min(n, ANIMATION_FRAMES)).round().astype(int))
    lo, hi = grey_limits(np.asarray(denoised[0]))
    raw_hi = float(np.percentile(counts[0], 99.5)) or 1.0
    finite = np.asarray(likelihood[chosen[0]])
    limit = symmetric_limit(finite[np.isfinite(finite)]) if np.isfinite(finite).any() else 1.0
    images = []
    for t in chosen:
        panels = [
            _to_rgb(
                np.asarray(counts[t], dtype=np.float64), "gray", 0.0, raw_hi, ANIMATION_PANEL_PX
            ),
            _to_rgb(np.asarray(denoised[t]), "gray", lo, hi, ANIMATION_PANEL_PX),
            _to_rgb(np.asarray(likelihood[t]), "RdBu_r", -limit, limit, ANIMATION_PANEL_PX),
        ]
        gap = np.full((panels[0].shape[0], 4, 3), 255, dtype=np.uint8)
        images.append(np.concatenate([panels[0], gap, panels[1], gap, panels[2]], axis=1))
    with atomic_write(path, suffix=".tmp.gif") as temporary:
        iio.imwrite(temporary, np.stack(images), extension=".gif", duration=100, loop=0)
    return path


def _page(result: SeriesResult, files: dict[str, Path], names: list[str]) -> str:
    prof = result.profiles
    real = result.real_events
    event_rows = [
        [
            e.kind,
            e.when().removeprefix("frame "),
            f"{e.position[0]:.2f}, {e.position[1]:.2f}",
            "–" if e.origin is None else f"{e.origin[0]:.2f}, {e.origin[1]:.2f}",
            "yes" if e.surface else "no",
            e.z,
            e.q_value,
            e.verdict,
        ]
        for e in result.events
    ]
    mean_counts = (
        np.mean(result.verdict_counts, axis=0) if result.verdict_counts.size else np.zeros(0)
    )
    drift_total = np.hypot(*result.drift[-1])
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<title>sbdenoise series report</title>",
        f"<style>{PAGE_STYLE}</style></head><body>",
        "<h1>sbdenoise series report</h1>",
        f"<p class='note'>{result.n_frames} frames at {result.pixel_size:.5g} Å/px, denoised "
        f"with <b>{html.escape(result.method)}</b>; sbdenoise {html.escape(__version__)}.</p>",
        _sum_note(result),
        "<h2>Noisy | denoised | likelihood, frame by frame</h2>",
        f"<img src='{files['animation_gif'].name}' alt='animation'>",
        "<h2>Column events</h2>",
        f"<p>{len(real)} event(s) with a <span class='real'>real</span> verdict "
        f"(false discovery rate {result.fdr:g} over "
        f"{int(np.isfinite(result.evidence.q_value).sum())} tested surface sites of "
        f"{len(result.evidence.positions)}). An event is decided on the raw counts only: "
        "the counts within 2.5 Å of the site, frame by frame, weighted by a column's image "
        "(bright core and dark ring, fitted to the denoised average: a matched filter) and "
        "divided by each frame's dose, tested for one change of level (change-point likelihood "
        "ratio, p-value from frame permutations, Benjamini-Hochberg over the surface sites). "
        "The denoised frames only choose where to look and shape the filter. Events with "
        "q ≤ 0.5 that are not "
        "significant are listed as "
        "<i>not supported</i>: what a user might see in the denoised movie and should not "
        "believe.</p>",
        html_table(
            [
                "event",
                "frame",
                "position (y, x) Å",
                "from (y, x) Å",
                "surface",
                "z (σ)",
                "q",
                "verdict",
            ],
            event_rows,
        )
        if event_rows
        else "<p>No event.</p>",
        f"<img src='{files['events_png'].name}' alt='event traces'>",
        "<h2>Averages, sites and events</h2>",
        f"<img src='{files['overview_png'].name}' alt='averages'>",
        "<h2>Validation against the temporal average (the papers' test)</h2>",
        "<p>The intensity profile along a line through the surface columns (those the summed "
        "counts of the series support), in the aligned denoised average and in the temporal "
        f"average of the aligned raw frames, both smoothed by {PROFILE_BLUR_A:g} Å: Pearson "
        f"r = <b>{prof.r_profile:.3f}</b>. The temporal average is noisy too; a perfect "
        f"denoiser would reach about r = {prof.r_ceiling:.3f} against it (split-half "
        "reliability of the temporal average). Column intensities (mean in a "
        f"{PROFILE_RADIUS_A:g} Å disc): r = {prof.r_surface:.3f} over "
        f"{int(prof.surface.sum())} surface columns, {prof.r_all:.3f} over all "
        f"{len(prof.positions)}. A denoiser that invents or drops surface columns lowers r; "
        "the temporal average has no such bias but loses the time resolution.</p>",
        f"<img src='{files['profiles_png'].name}' alt='profiles'>",
        "<h2>Drift</h2>",
        f"<p>Total drift {drift_total:.3g} Å (phase correlation of the denoised frames, peak "
        "sought near the previous frame's drift so the lattice cannot alias it). Counts are "
        "aligned by whole pixels so they stay Poisson counts.</p>",
        f"<img src='{files['drift_png'].name}' alt='drift'>",
        "<h2>Per-frame verdicts</h2>",
        "<p>Every candidate column of every frame judged against vacuum on that frame's counts "
        "alone. One frame confirms a single surface Pt column at about 2 σ only, so many real "
        "surface columns are <i>not supported</i> in a single frame; the series evidence above "
        "adds the frames up. Mean per frame: "
        + ", ".join(f"{c:.1f} {html.escape(n)}" for n, c in zip(names, mean_counts, strict=False))
        + ".</p>",
        f"<img src='{files['verdicts_png'].name}' alt='verdict counts'>",
        "<h2>Files</h2><ul>",
    ]
    for role, path in sorted(files.items()):
        parts.append(f"<li><a href='{path.name}'>{html.escape(path.name)}</a> ({role})</li>")
    parts += [
        "<li><a href='frames/'>frames/</a> (per-frame verdict tables)</li>",
        "<li>denoised.npy, likelihood.npy (t, y, x float32 stacks)</li></ul>",
        "</body></html>",
    ]
    return "\n".join(parts)


def _sum_note(result: SeriesResult) -> str:
    """A paragraph on summed frames (empty when the frames were analysed as recorded)."""
    n = result.frames_per_sum
    if n <= 1:
        return ""
    blur = result.sum_blur
    warn = (
        f" <b>The specimen drifted up to {blur:.2g} Å within a sum: the sums are blurred; "
        "use fewer frames per sum.</b>"
        if blur > BLUR_WARNING_A
        else f" Drift within a sum at most {blur:.2g} Å."
    )
    return (
        f"<p class='note'>Each frame is the sum of {n} recorded frames (frame k = recorded "
        f"frames {n}k to {n}k + {n - 1}, added without alignment); "
        f"{result.dropped_frames} recorded frame(s) after the last whole sum not used.{warn}</p>"
    )


def write_series_report(
    result: SeriesResult, counts: np.ndarray, denoised: np.ndarray, likelihood: np.ndarray
) -> dict[str, Path]:
    """Write the figures, the animation and ``report.html`` of a series analysis.

    Parameters
    ----------
    result : SeriesResult
        The analysis.
    counts, denoised, likelihood : numpy.ndarray
        ``(t, y, x)`` raw counts, denoised frames and likelihood maps.

    Returns
    -------
    dict
        Paths by role.
    """
    out = result.out_dir
    names = result.verdict_names
    files = {
        "overview_png": plot_overview(result, out / "averages.png"),
        "drift_png": plot_drift(result, out / "drift.png"),
        "profiles_png": plot_profiles(result, out / "profiles.png"),
        "events_png": plot_event_traces(result, out / "events.png"),
        "verdicts_png": plot_verdict_counts(result, names, out / "verdicts.png"),
        "animation_gif": write_animation(counts, denoised, likelihood, out / "animation.gif"),
    }
    files["report_html"] = atomic_write_text(
        out / "report.html", _page(result, {**result.files, **files}, names)
    )
    return files
