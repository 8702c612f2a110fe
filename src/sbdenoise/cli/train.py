"""CLI command ``train``: train a denoiser on a simulated dataset (resumable, torchrun-ready)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from sbdenoise.cli.support import QuietBarOption, console, fail, split_words
from sbdenoise.errors import SbdenoiseError


def _floats(text: str | None, option: str, count: int = 2) -> tuple[float, ...] | None:
    """Parse ``"-20,-6"`` into ``(-20.0, -6.0)``."""
    if text is None:
        return None
    try:
        values = tuple(float(v) for v in text.replace(":", ",").split(","))
    except ValueError:
        raise typer.BadParameter(f"{text!r}: expected {count} numbers, e.g. -20,-6") from None
    if len(values) != count:
        raise typer.BadParameter(f"{text!r}: expected {count} numbers", param_hint=option)
    return values


def parse_mixed_source(text: str) -> dict[str, Any]:
    """Parse ``"DATASET,crop=256,batch=2[,share=1]"`` into a mixed source of a spec.

    Parameters
    ----------
    text : str
        The ``--mix`` option's value: a dataset folder, then its crop (px at the working
        sampling), batch and optional share of the steps.

    Returns
    -------
    dict
        Fields of :class:`sbdenoise.training.spec.MixedSource` (dataset as an absolute path).
    """
    dataset, *pairs = [part.strip() for part in text.split(",")]
    if not dataset or "=" in dataset:
        raise typer.BadParameter(
            f"{text!r}: expected DATASET,crop=PX,batch=N[,share=N]", param_hint="--mix"
        )
    source: dict[str, Any] = {"dataset": str(Path(dataset).resolve())}
    for pair in pairs:
        key, _, value = pair.partition("=")
        if key not in ("crop", "batch", "share") or not value.isdigit():
            raise typer.BadParameter(
                f"{text!r}: {pair!r} is not crop=PX, batch=N or share=N", param_hint="--mix"
            )
        source[key] = int(value)
    missing = [key for key in ("crop", "batch") if key not in source]
    if missing:
        raise typer.BadParameter(f"{text!r}: give {' and '.join(missing)}", param_hint="--mix")
    return source


def _words(values: list[str] | None) -> list[str] | None:
    """Repeated or comma-separated option values as one list (None when not given)."""
    return split_words(values) if values else None


def build_spec(
    dataset: Path | None,
    spec_file: Path | None = None,
    **options: Any,
) -> Any:
    """A :class:`TrainSpec` from a YAML file (optional) and command-line overrides.

    Parameters
    ----------
    dataset : Path, optional
        Dataset folder (overrides the spec file's; stored as an absolute path).
    spec_file : Path, optional
        YAML spec to start from.
    **options
        Overrides; None means "not given". Names: architecture, scales, base_channels, bias_free,
        sampling, crop, batch, steps, epochs, lr, warmup_steps, cooldown_steps, ema_decay,
        vacuum_weight,
        edge_weight,
        edge_width_angstrom, vacuum_crops, freeze_batch_norm, dose,
        dose_range,
        normalization,
        precision,
        loss_weighting, loss_norm, seed, validate_every, checkpoint_minutes, budget_minutes,
        init_from,
        branch_from,
        contrast, structures, defect, defocus, thickness, flips, quarter_turns, rotation,
        scale_range, mix (``--mix`` values, replacing the spec file's), share,
        match_filters (filters from ``sbdenoise match``, applied before the other filter options).

    Returns
    -------
    TrainSpec
    """
    from sbdenoise.training.spec import TrainSpec

    data: dict[str, Any] = {}
    if spec_file is not None:
        data = TrainSpec.from_yaml(spec_file).model_dump(mode="json")
    if dataset is not None:
        data["dataset"] = str(Path(dataset).resolve())
    elif "dataset" in data:
        data["dataset"] = str(Path(data["dataset"]).resolve())
    else:
        raise typer.BadParameter("give a DATASET folder (or a --spec naming one)")
    architecture = options.get("architecture")
    if architecture is not None and architecture != data.get("architecture", "unet"):
        data["architecture_kwargs"] = {}
    if architecture is not None:
        data["architecture"] = architecture
    kwargs = dict(data.get("architecture_kwargs", {}))
    for name in ("scales", "base_channels", "bias_free"):
        if options.get(name) is not None:
            kwargs[name] = options[name]
    data["architecture_kwargs"] = kwargs
    for name in (
        "sampling",
        "crop",
        "batch",
        "steps",
        "epochs",
        "lr",
        "warmup_steps",
        "cooldown_steps",
        "ema_decay",
        "vacuum_weight",
        "edge_weight",
        "edge_width_angstrom",
        "vacuum_crops",
        "freeze_batch_norm",
        "dose",
        "seed",
        "validate_every",
        "checkpoint_minutes",
        "budget_minutes",
        "init_from",
        "branch_from",
        "share",
    ):
        if options.get(name) is not None:
            data[name] = options[name]
    if options.get("mix"):
        data["mix"] = [parse_mixed_source(text) for text in options["mix"]]
    dose_range = options.get("dose_range")
    if dose_range is not None:
        data["dose_range"] = (
            None if dose_range.lower() == "none" else _floats(dose_range, "--dose-range")
        )
    elif options.get("dose") is not None:
        data["dose_range"] = None  # a fixed dose asked for: every crop at it
    for name in ("normalization", "precision", "loss_weighting", "loss_norm"):
        if options.get(name) is not None:
            data[name] = options[name]
    if options.get("steps") is not None:
        data["epochs"] = None
    elif options.get("epochs") is not None:
        data["steps"] = None
    filters = dict(data.get("filters", {}))
    filters.update(options.get("match_filters") or {})
    for key, option in (("contrast", "contrast"), ("defect", "defect")):
        words = _words(options.get(option))
        if words is not None:
            filters[key] = words
    structures = _words(options.get("structures"))
    if structures is not None:
        filters["structure_ids"] = [int(s) for s in structures]
    for key, option in (("defocus_nm", "defocus"), ("support_thickness_nm", "thickness")):
        values = _floats(options.get(option), f"--{option}")
        if values is not None:
            filters[key] = sorted(values)
    data["filters"] = filters
    augmentation = dict(data.get("augmentation", {}))
    if options.get("flips") is not None:
        augmentation["flips"] = options["flips"]
    if options.get("quarter_turns") is not None:
        augmentation["quarter_turns"] = options["quarter_turns"]
    if options.get("rotation") is not None:
        augmentation["rotation_deg"] = options["rotation"]
    scale_range = options.get("scale_range")
    if scale_range is not None:
        augmentation["scale"] = (
            None if scale_range.lower() == "none" else _floats(scale_range, "--scale-range")
        )
    data["augmentation"] = augmentation
    return TrainSpec.model_validate(data)


def train(
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help="Model file (.safetensors; card .json and <model>.run/ beside)."
        ),
    ],
    dataset: Annotated[
        Path | None, typer.Argument(help="Dataset folder from 'sbdenoise simulate'.")
    ] = None,
    spec_file: Annotated[
        Path | None, typer.Option("--spec", help="Training spec (YAML); options override it.")
    ] = None,
    architecture: Annotated[
        str | None, typer.Option(help="unet (default), dncnn or small-unet.")
    ] = None,
    scales: Annotated[int | None, typer.Option(help="UNet scales, 2 to 6 (default 5).")] = None,
    base_channels: Annotated[
        int | None, typer.Option(help="UNet channels at the finest scale (default 32).")
    ] = None,
    bias_free: Annotated[
        bool | None, typer.Option("--bias-free/--with-bias", help="Bias-free network.")
    ] = None,
    sampling: Annotated[
        float | None, typer.Option(help="Working sampling, A/px (default 4 x pixel size).")
    ] = None,
    crop: Annotated[int | None, typer.Option(help="Crop size, px at working sampling.")] = None,
    batch: Annotated[int | None, typer.Option(help="Crops per step and per process.")] = None,
    steps: Annotated[int | None, typer.Option(help="Optimisation steps.")] = None,
    epochs: Annotated[float | None, typer.Option(help="Epochs (instead of --steps).")] = None,
    mix: Annotated[
        list[str] | None,
        typer.Option(
            help="Also train on this dataset, in steps of its own: DATASET,crop=PX,batch=N"
            "[,share=N] (repeatable; e.g. wide fields of view at a larger crop).",
        ),
    ] = None,
    share: Annotated[
        int | None,
        typer.Option(min=1, help="Steps of each cycle drawn from DATASET when --mix adds more."),
    ] = None,
    lr: Annotated[float | None, typer.Option(help="Adam learning rate (default 1e-3).")] = None,
    warmup_steps: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Steps over which the lr rises linearly to --lr (0); for warm starts.",
        ),
    ] = None,
    cooldown_steps: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Last steps over which the lr falls linearly towards 0 (0); with --branch-from.",
        ),
    ] = None,
    ema_decay: Annotated[
        float | None,
        typer.Option(help="Validate and save a moving average of the weights (e.g. 0.999)."),
    ] = None,
    vacuum_weight: Annotated[
        float | None,
        typer.Option(help="Weight of the squared error where the noise-free crop is flat (1)."),
    ] = None,
    edge_weight: Annotated[
        float | None,
        typer.Option(
            help="Weight of the squared error in the band next to the vacuum (fringes; 1)."
        ),
    ] = None,
    edge_width_angstrom: Annotated[
        float | None,
        typer.Option("--edge-width", help="Reach of that band from the vacuum, angstrom (4)."),
    ] = None,
    vacuum_crops: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            max=0.99,
            help="Fraction of crops replaced by pure vacuum at their dose (0; needs a dose range).",
        ),
    ] = None,
    freeze_batch_norm: Annotated[
        bool | None,
        typer.Option(
            "--freeze-batch-norm/--train-batch-norm",
            help="Train with the batch norms in eval mode: the running statistics of the start "
            "normalise every batch and stay as they are (default: train them).",
        ),
    ] = None,
    dose: Annotated[
        float | None,
        typer.Option(help="One fixed dose, e-/px in vacuum, instead of a dose range."),
    ] = None,
    dose_range: Annotated[
        str | None,
        typer.Option(
            help="Doses per area drawn per crop, e-/A^2, e.g. 40,400 (the default), or none."
        ),
    ] = None,
    normalization: Annotated[
        str | None,
        typer.Option(help="frame_mean (default: counts / their mean) or fixed (single dose)."),
    ] = None,
    precision: Annotated[
        str | None,
        typer.Option(help="auto (default: bf16 where the hardware has it), bf16 or fp32."),
    ] = None,
    loss_weighting: Annotated[
        str | None,
        typer.Option(help="uniform (default: plain MSE) or dose (each crop's MSE x its dose)."),
    ] = None,
    loss_norm: Annotated[
        str | None,
        typer.Option(help="l2 (default: squared error, posterior mean) or l1 (absolute: median)."),
    ] = None,
    contrast: Annotated[
        list[str] | None, typer.Option(help="Contrast classes to train on (white, black, ...).")
    ] = None,
    structures: Annotated[
        list[str] | None, typer.Option(help="Structure ids to train on, e.g. 0,4,7.")
    ] = None,
    defect: Annotated[list[str] | None, typer.Option(help="Defect classes to train on.")] = None,
    defocus: Annotated[
        str | None, typer.Option(help="Defocus range, nm (abTEM sign), e.g. -20,-6.")
    ] = None,
    thickness: Annotated[
        str | None, typer.Option(help="Support thickness range, nm, e.g. 3,5.")
    ] = None,
    match: Annotated[
        Path | None,
        typer.Option(
            help="Train on the conditions that match a series: match.yaml from 'sbdenoise "
            "match', or the series itself (matched now against DATASET)."
        ),
    ] = None,
    flips: Annotated[bool | None, typer.Option("--flips/--no-flips", help="Random flips.")] = None,
    quarter_turns: Annotated[
        bool | None,
        typer.Option(
            "--quarter-turns/--no-quarter-turns",
            help="Random exact turns by multiples of 90 degrees (with flips: all eight "
            "symmetries of the square, so --rotation can be small and --crop larger).",
        ),
    ] = None,
    rotation: Annotated[
        float | None, typer.Option(help="Random rotations within +-this, degrees (0: none).")
    ] = None,
    scale_range: Annotated[
        str | None, typer.Option(help="Random magnification range, e.g. 0.955,1.055 or none.")
    ] = None,
    validate_every: Annotated[
        int | None, typer.Option(help="Steps between validations (default: one epoch).")
    ] = None,
    checkpoint_minutes: Annotated[
        float | None, typer.Option(help="Minutes between checkpoints (default 5).")
    ] = None,
    budget_minutes: Annotated[
        float | None,
        typer.Option(help="Stop after this many minutes of training, summed over resumes."),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of initialisation, crops, noise.")] = None,
    init_from: Annotated[
        Path | None,
        typer.Option(
            help="Start from this model's weights (same architecture, or a narrower UNet, "
            "widened without changing its output; fresh optimiser)."
        ),
    ] = None,
    branch_from: Annotated[
        Path | None,
        typer.Option(
            help="Go on from another run's checkpoint (or run folder): weights, optimiser and "
            "step, with this run's options; the other run is left as it was.",
        ),
    ] = None,
    threads: Annotated[int | None, typer.Option(help="CPU threads per process.")] = None,
    keep_every: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Also keep the (averaged) weights every this many steps, at validation steps, "
            "in <MODEL>.run/snapshots/ (not part of the spec: a resumed run may add it).",
        ),
    ] = None,
    device: Annotated[
        str | None, typer.Option(help="Force a device (cpu, cuda:0); default CUDA if present.")
    ] = None,
    quiet: QuietBarOption = False,
) -> None:
    """Train a denoiser on simulated data; run it again to resume; use torchrun for several GPUs.

    The run folder <MODEL>.run/ keeps the spec, the CSV log and the checkpoint. Several GPUs:
    torchrun --nproc_per_node=4 -m sbdenoise train DATASET -o MODEL, then the same options.
    """
    from sbdenoise.training.trainer import train as run_training

    try:
        match_filters = None
        if match is not None:
            from sbdenoise.cli.match import match_filters as read_match

            match_filters = read_match(match, dataset)
            console.print(f"Matched subset: {match_filters}", highlight=False)
        spec = build_spec(
            dataset,
            spec_file,
            architecture=architecture,
            scales=scales,
            base_channels=base_channels,
            bias_free=bias_free,
            sampling=sampling,
            crop=crop,
            batch=batch,
            steps=steps,
            epochs=epochs,
            mix=mix,
            share=share,
            lr=lr,
            warmup_steps=warmup_steps,
            cooldown_steps=cooldown_steps,
            ema_decay=ema_decay,
            vacuum_weight=vacuum_weight,
            edge_weight=edge_weight,
            edge_width_angstrom=edge_width_angstrom,
            vacuum_crops=vacuum_crops,
            freeze_batch_norm=freeze_batch_norm,
            dose=dose,
            dose_range=dose_range,
            normalization=normalization,
            precision=precision,
            loss_weighting=loss_weighting,
            loss_norm=loss_norm,
            seed=seed,
            validate_every=validate_every,
            checkpoint_minutes=checkpoint_minutes,
            budget_minutes=budget_minutes,
            init_from=None if init_from is None else str(init_from.resolve()),
            branch_from=None if branch_from is None else str(branch_from.resolve()),
            contrast=contrast,
            structures=structures,
            defect=defect,
            defocus=defocus,
            thickness=thickness,
            flips=flips,
            quarter_turns=quarter_turns,
            rotation=rotation,
            scale_range=scale_range,
            match_filters=match_filters,
        )
        result = run_training(
            spec,
            output,
            show_progress=not quiet,
            threads=threads,
            keep_every=keep_every,
            device=device,
            console=console,
        )
    except (SbdenoiseError, ValueError) as error:
        raise fail(error) from None
    if result.rank == 0:
        console.print(
            f"Model: {result.model_path} (best validation PSNR {result.best_psnr_db:.2f} dB at "
            f"step {result.best_step}); run folder: {result.run_dir}",
            highlight=False,
            soft_wrap=True,
        )


def register(app: typer.Typer) -> None:
    """Add the ``train`` command to the main app."""
    app.command("train")(train)
