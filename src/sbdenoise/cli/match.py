"""CLI command ``match``: which simulated conditions of a dataset explain a series (see
:mod:`sbdenoise.match`); and the filters ``train --match`` takes from it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.table import Table

from sbdenoise.cli.support import (
    AssumeOption,
    GainOption,
    OffsetOption,
    PixelSizeOption,
    QuietOption,
    console,
    fail,
    split_words,
)
from sbdenoise.errors import InputError, SbdenoiseError


def match(
    series: Annotated[Path, typer.Argument(help="Series (stack) or single frame, in counts.")],
    dataset: Annotated[Path, typer.Option(help="Dataset folder from 'sbdenoise simulate'.")],
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            help="Folder for match.png, match.yaml (training subset) and ranking.csv.",
        ),
    ],
    by: Annotated[
        list[str] | None,
        typer.Option(help="Dataset parameters defining a condition (default defocus_nm,contrast)."),
    ] = None,
    aggregate: Annotated[
        str, typer.Option(help="A condition's score: its best image (best) or the mean (mean).")
    ] = "best",
    top: Annotated[
        int, typer.Option(help="Conditions shown first and selected in match.yaml.")
    ] = 3,
    split: Annotated[
        str | None, typer.Option(help="Match only this split of the dataset (train/val/test).")
    ] = None,
    pixel_size: PixelSizeOption = None,
    gain: GainOption = None,
    offset: OffsetOption = None,
    assume_counts: AssumeOption = False,
    max_frames: Annotated[int | None, typer.Option(help="Use only the first frames.")] = None,
    quiet: QuietOption = False,
) -> None:
    """Rank the dataset's simulated conditions by how well they explain the series' counts.

    Each simulation is resampled to the series' pixel size, registered to the aligned sum of its
    frames and scaled to its dose; the score is the Poisson log-likelihood of the counts (nats).
    Writes the ranking (ranking.csv), a figure (match.png) and a training subset (match.yaml:
    'sbdenoise train --spec match.yaml -o MODEL', or 'train DATASET --match match.yaml').
    """
    from sbdenoise.match import match_file
    from sbdenoise.match.figure import plot_match
    from sbdenoise.progress import progress_counter
    from sbdenoise.simulate.store import SimulatedDataset

    if not series.exists():
        raise fail(FileNotFoundError(f"{series}: no such file"))
    try:
        store = SimulatedDataset(dataset)
        criteria = {} if split is None else {"split": split}
        n_images = len(store.indices(**criteria)) if len(store) else 0
        options: dict[str, Any] = {"aggregate": aggregate, "criteria": criteria}
        if by:
            options["by"] = split_words(by)
        with progress_counter(n_images, "match", not quiet) as advance:
            result = match_file(
                series,
                store,
                pixel_size=pixel_size,
                gain=gain,
                offset=offset,
                assume_counts=assume_counts,
                max_frames=max_frames,
                progress=advance,
                **options,
            )
        output.mkdir(parents=True, exist_ok=True)
        figure = plot_match(result, output / "match.png")
        subset = result.write_subset(output / "match.yaml", top=top)
        ranking = output / "ranking.csv"
        _write_csv(result.records(), ranking)
    except (SbdenoiseError, KeyError) as error:
        raise fail(error) from None
    obs = result.observation
    label, pt, ce = result.contrast
    relative = ", ".join(
        f"{name} {value:+.1%}" for name, value in (("Pt", pt), ("Ce", ce)) if value == value
    )
    console.print(
        f"{obs.n_frames} frame(s) at {obs.dose:.3g} e-/px and {obs.pixel_size:.4g} Å/px; "
        f"{result.template_side} px square scored in {result.tiles}x{result.tiles} tiles against "
        f"{len(result.images)} simulations; "
        f"contrast of the series at the best match's columns: {label} ({relative} of vacuum)",
        highlight=False,
        soft_wrap=True,
    )
    table = Table(title=f"Simulated conditions, best first ({result.aggregate} image each)")
    for name in ("rank", *result.by, "Δlog L (nats)", "deviance/px", "images", "best image"):
        table.add_column(name, justify="right")
    rows = result.conditions
    shown = rows if len(rows) <= top + 3 else [*rows[: top + 2], rows[-1]]
    for c in shown:
        rank = rows.index(c) + 1
        table.add_row(
            str(rank),
            *(f"{v:g}" if isinstance(v, float) else str(v) for v in c.values.values()),
            f"{c.delta:.1f}",
            f"{c.deviance_per_px:.3f}",
            str(c.n_images),
            str(c.best_index),
        )
    console.print(table)
    console.print(
        f"Figure: {figure}; ranking: {ranking}; training subset: {subset}", highlight=False
    )


def _write_csv(records: list[dict[str, Any]], path: Path) -> None:
    import csv
    import io

    from sbdenoise.io.atomic import atomic_write_text

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(records[0]))
    writer.writeheader()
    writer.writerows(records)
    atomic_write_text(path, buffer.getvalue())


def match_filters(source: Path, dataset: Path | None, pixel_size: float | None = None) -> dict:
    """Training filters from a match file (``match.yaml``) or, for a series, by matching it now.

    Parameters
    ----------
    source : Path
        ``match.yaml`` written by ``sbdenoise match``, or a series file.
    dataset : Path, optional
        The dataset to match a series against (required for a series).
    pixel_size : float, optional
        The series' pixel size in angstrom when its file has none.

    Returns
    -------
    dict
        Keyword arguments of :class:`sbdenoise.training.spec.Filters`.
    """
    if source.suffix.lower() in (".yaml", ".yml"):
        try:
            content = yaml.safe_load(source.read_text()) or {}
        except (OSError, yaml.YAMLError) as error:
            raise InputError(f"not a readable match file ({error})", source) from error
        if not isinstance(content, dict) or not isinstance(content.get("filters"), dict):
            raise InputError("not a match file: no 'filters' mapping", source)
        return dict(content["filters"])
    if dataset is None:
        raise InputError("matching a series needs the DATASET to match it against", source)
    from sbdenoise.match import match_file

    return match_file(source, dataset, pixel_size=pixel_size).subset()[0]


def register(app: typer.Typer) -> None:
    """Add the ``match`` command to the main app."""
    app.command("match")(match)
