"""CLI command ``export-bmz``: a model file as a BioImage Model Zoo package."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sbdenoise.cli.support import console, fail
from sbdenoise.errors import SbdenoiseError


def export_bmz(
    output: Annotated[Path, typer.Option("--output", "-o", help="The package to write (.zip).")],
    model: Annotated[
        Path | None,
        typer.Argument(help="Model weights (.safetensors) or card (.json); default: shipped."),
    ] = None,
    name: Annotated[str | None, typer.Option(help="Model name (default: the file's).")] = None,
    size: Annotated[int, typer.Option(help="Side of the test frame, working pixels.")] = 256,
    seed: Annotated[int, typer.Option(help="Seed of the test frame's noise.")] = 0,
) -> None:
    """Write MODEL as a BioImage Model Zoo package (rdf.yaml 0.5, TorchScript weights).

    The package holds the network with its normalisation as TorchScript, a simulated test frame
    and sbdenoise's own result on it, a cover, and the model card (optics, doses, working pixel
    size, training data) in config.sbdenoise. The zoo model takes counts per pixel at the
    model's working pixel size: bin finer frames by summing counts.
    """
    from sbdenoise.bmz import export_bmz as export

    if model is not None and not model.exists():
        raise fail(FileNotFoundError(f"{model}: no such model file"))
    try:
        path = export(model, output, name=name, size=size, seed=seed)
    except (SbdenoiseError, ImportError, ValueError) as error:
        raise fail(error) from None
    console.print(f"Wrote {path} (BioImage Model Zoo, format 0.5, validated).", highlight=False)


def register(app: typer.Typer) -> None:
    """Add the export command to the main app."""
    app.command("export-bmz")(export_bmz)
