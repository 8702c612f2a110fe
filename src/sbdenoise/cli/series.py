"""CLI command ``series``: the in-situ series workflow (see :mod:`sbdenoise.series`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from sbdenoise.cli.support import (
    AssumeOption,
    FrameGainOption,
    MethodOption,
    ModelOption,
    OffsetOption,
    ParamOption,
    PixelSizeOption,
    QuietOption,
    console,
    fail,
    parse_params,
)
from sbdenoise.errors import SbdenoiseError
from sbdenoise.series.binning import BLUR_WARNING_A


def series(
    movie: Annotated[
        Path, typer.Argument(help="Stack of frames (dm4, mrc, tif, emd, ser, hspy, npy).")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output folder (resumable).")],
    method: MethodOption = "sbd",
    param: ParamOption = None,
    model: ModelOption = None,
    pixel_size: PixelSizeOption = None,
    gain: FrameGainOption = None,
    offset: OffsetOption = None,
    assume_counts: AssumeOption = False,
    fdr: Annotated[float, typer.Option(help="False discovery rate of verdicts and events.")] = 0.05,
    verdicts: Annotated[
        str,
        typer.Option(help="Per-frame verdicts: calibrated (simulated null, cached) or thresholds."),
    ] = "calibrated",
    max_frames: Annotated[int | None, typer.Option(help="Analyse only the first frames.")] = None,
    frames_per_sum: Annotated[
        int,
        typer.Option(
            "--sum",
            help="Sum this many consecutive frames before the analysis: N x the counts, N x "
            "coarser time, for a particle that holds still (1: every frame as recorded).",
        ),
    ] = 1,
    seed: Annotated[int, typer.Option(help="Seed of the permutations and the null.")] = 0,
    quiet: QuietOption = False,
) -> None:
    """Analyse an in-situ series: denoise every frame, align, judge, track surface columns.

    Writes into OUTPUT: the denoised frames, a verdict table and likelihood map per frame, the
    drift, the tracked surface sites and their events (each decided on the raw counts, with a
    q-value), the profile comparison of the denoised average with the temporal average, an
    animation and report.html. Run the same command again to resume a killed run.
    """
    from sbdenoise.series import run_series

    if verdicts not in ("calibrated", "thresholds"):
        raise typer.BadParameter(
            f"{verdicts!r}: choose calibrated or thresholds", param_hint="--verdicts"
        )
    if not movie.exists():
        raise fail(FileNotFoundError(f"{movie}: no such file"))
    try:
        result = run_series(
            movie,
            output,
            method=method,
            params=parse_params(param),
            model=model,
            pixel_size=pixel_size,
            gain=gain,
            offset=offset,
            assume_counts=assume_counts,
            fdr=fdr,
            verdicts=verdicts,  # type: ignore[arg-type]
            max_frames=max_frames,
            frames_per_sum=frames_per_sum,
            seed=seed,
            show_progress=not quiet,
        )
    except SbdenoiseError as error:
        raise fail(error) from None
    for note in result.notes:
        console.print(f"[yellow]{note}[/]", highlight=False)
    drift = result.drift[-1]
    if result.frames_per_sum > 1:
        blur = result.sum_blur
        blurred = " [bold red](blurred: use fewer frames per sum)[/]"
        console.print(
            f"Each frame is the sum of {result.frames_per_sum} recorded frames "
            f"({result.dropped_frames} left over, not used); drift within a sum up to "
            f"{blur:.2f} Å" + (blurred if blur > BLUR_WARNING_A else ""),
            highlight=False,
        )
    console.print(
        f"{result.n_frames} frames at {result.pixel_size:.4g} Å/px, {result.method}; drift "
        f"({drift[0]:+.2f}, {drift[1]:+.2f}) Å over the series"
        + (
            f" (resumed after {result.resumed_frames} denoised frames)"
            if result.resumed_frames
            else ""
        ),
        highlight=False,
    )
    table = Table(title=f"Column events (FDR {fdr:g})")
    for name in ("event", "frame", "y, x (Å)", "surface", "z (σ)", "q", "verdict"):
        table.add_column(name)
    for e in result.events:
        table.add_row(
            e.kind,
            e.when().removeprefix("frame "),
            f"{e.position[0]:.2f}, {e.position[1]:.2f}",
            "yes" if e.surface else "no",
            f"{e.z:.1f}",
            f"{e.q_value:.2g}",
            e.verdict,
        )
    console.print(table if result.events else "No column event.")
    prof = result.profiles
    console.print(
        f"Profile along the surface, denoised vs temporal average: r = {prof.r_profile:.3f} "
        f"(noise ceiling {prof.r_ceiling:.3f}).",
        highlight=False,
    )
    if "report_html" in result.files:
        console.print(f"Report: {result.files['report_html']}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add the series command to the main app."""
    app.command("series")(series)
