"""CLI command ``fit``: simulate, train, judge and calibrate a model for one microscope."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from sbdenoise.cli.support import QuietBarOption, console, fail
from sbdenoise.errors import SbdenoiseError


def fit(
    spec_file: Annotated[Path, typer.Argument(help="Fit spec (YAML): dataset, train, evaluation.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Fit folder.")],
    workers: Annotated[int, typer.Option(help="Simulation workers.")] = 2,
    threads: Annotated[int | None, typer.Option(help="CPU threads of training.")] = None,
    quiet: QuietBarOption = False,
) -> None:
    """A model for your microscope: simulate -> train -> test table -> surface null.

    Every stage resumes: run the same command again after an interruption. The folder gets
    model.safetensors (+ card), table.md, model.surface-null.json and fit.yaml.
    """
    from sbdenoise.fitting import FitSpec, run_fit

    try:
        spec = FitSpec.from_yaml(spec_file)
        result = run_fit(
            spec,
            output,
            workers=workers,
            threads=threads,
            show_progress=not quiet,
            say=lambda text: console.print(text, highlight=False, soft_wrap=True),
        )
    except (SbdenoiseError, ValueError, OSError) as error:
        raise fail(error) from None
    table = Table("method", "PSNR dB", "SSIM", "surface Jaccard", "bulk Jaccard")
    for row in result.table:
        table.add_row(
            row["method"], f"{row['psnr_db']:.2f}", f"{row['ssim']:.3f}",
            f"{row['surface_jaccard']:.3f}", f"{row['bulk_jaccard']:.3f}",
        )  # fmt: skip
    console.print(table)
    console.print(f"Model: {result.model}; table: {result.folder / 'table.md'}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add the ``fit`` command to the main app."""
    app.command("fit")(fit)
