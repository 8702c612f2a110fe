"""CLI command group ``experiment``: studies that train and test several networks
(:mod:`sbdenoise.experiments`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sbdenoise.cli.support import QuietOption, console, fail, split_words
from sbdenoise.errors import SbdenoiseError

experiment_app = typer.Typer(
    help="Studies that train and test several networks.", no_args_is_help=True
)


@experiment_app.command("generalization")
def generalization(
    dataset: Annotated[Path, typer.Argument(help="Dataset folder from 'sbdenoise simulate'.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Study folder (rerun to resume).")],
    family: Annotated[
        list[str] | None,
        typer.Option(help="Subset families: contrast, structure, defect (default: all three)."),
    ] = None,
    budget_minutes: Annotated[
        float, typer.Option(help="Training time per network, minutes (equal CPU time).")
    ] = 10.0,
    max_train_images: Annotated[
        int | None, typer.Option(help="Cap on the equal number of training images per subset.")
    ] = None,
    test_images: Annotated[int, typer.Option(help="Test images per subset.")] = 4,
    realisations: Annotated[int, typer.Option(help="Poisson draws per test image.")] = 1,
    scales: Annotated[int, typer.Option(help="UNet scales.")] = 5,
    base_channels: Annotated[int, typer.Option(help="UNet channels at the finest level.")] = 16,
    crop: Annotated[int, typer.Option(help="Crop size, px at the working sampling.")] = 128,
    batch: Annotated[int, typer.Option(help="Crops per step.")] = 8,
    lr: Annotated[float, typer.Option(help="Adam learning rate.")] = 1e-3,
    seed: Annotated[int, typer.Option(help="Seed of test choice, training and noise.")] = 0,
    threads: Annotated[int | None, typer.Option(help="CPU threads of training.")] = None,
    quiet: QuietOption = False,
) -> None:
    """Train one network per subset (contrast class, particle size, defect type) for the same
    time and test each on every subset of its family: PSNR and surface Jaccard heat maps with
    VST+BM3D as the floor (generalization_<family>.png, generalization.md)."""
    from sbdenoise.experiments import DEFAULT_FAMILIES, run_generalization
    from sbdenoise.training.spec import TrainSpec

    families = split_words(family)
    try:
        spec = TrainSpec(
            dataset=str(dataset.resolve()),
            architecture="unet",
            architecture_kwargs={"scales": scales, "base_channels": base_channels},
            crop=crop,
            batch=batch,
            lr=lr,
        )
        result = run_generalization(
            dataset,
            output,
            families=families or DEFAULT_FAMILIES,
            spec=spec,
            budget_minutes=budget_minutes,
            max_train_images=max_train_images,
            test_images=test_images,
            realisations=realisations,
            seed=seed,
            threads=threads,
            show_progress=not quiet,
        )
    except (SbdenoiseError, ValueError) as error:
        raise fail(error) from None
    for note in result.notes:
        console.print(note, highlight=False)
    console.print(
        "Written: " + ", ".join(str(path) for path in result.paths.values()), highlight=False
    )


def register(app: typer.Typer) -> None:
    """Add the ``experiment`` command group to the main app."""
    app.add_typer(experiment_app, name="experiment")
