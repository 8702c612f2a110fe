"""CLI command ``simulate``: build atomic models and simulate an HRTEM dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sbdenoise.cli.support import QuietBarOption, console, fail
from sbdenoise.errors import SbdenoiseError


def simulate(
    spec_file: Annotated[
        Path | None, typer.Argument(help="Dataset spec (YAML); or use --preset.")
    ] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="Dataset folder.")] = Path("data"),
    preset: Annotated[
        str | None,
        typer.Option(help="smoke (tests, < 2 min), shipped, surface (evaluation), or paper."),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(help="Dask scheduler address, or 'synchronous' for this process only."),
    ] = None,
    workers: Annotated[int, typer.Option(help="Workers of the local cluster.")] = 2,
    seed: Annotated[int | None, typer.Option(help="Override the spec's seed.")] = None,
    cache: Annotated[
        bool,
        typer.Option(
            "--cache/--no-cache",
            help="Reuse a finished dataset of the same spec from this machine's cache "
            "($SBDENOISE_CACHE or ~/.cache/sbdenoise/datasets) and add new ones to it.",
        ),
    ] = True,
    quiet: QuietBarOption = False,
) -> None:
    """Simulate a dataset (resumable: run the same command again after an interruption)."""
    from sbdenoise.config import DatasetSpec
    from sbdenoise.simulate.presets import get_preset
    from sbdenoise.simulate.runner import run_simulation

    try:
        if (spec_file is None) == (preset is None):
            raise typer.BadParameter("give either a SPEC.yaml or --preset")
        spec = get_preset(preset) if preset else DatasetSpec.from_yaml(spec_file)
        if seed is not None:
            spec = spec.model_copy(update={"seed": seed})
        summary = run_simulation(
            spec,
            output,
            scheduler,
            n_workers=workers,
            show_progress=not quiet,
            use_cache=cache,
        )
    except (SbdenoiseError, ValueError) as error:
        raise fail(error) from None
    console.print(
        f"{summary.n_images} images in {summary.store} ({summary.n_simulated} simulated now in "
        f"{summary.seconds:.1f} s, {summary.images_per_hour:.0f} images/hour).",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    """Add the simulation command to the main app."""
    app.command()(simulate)
