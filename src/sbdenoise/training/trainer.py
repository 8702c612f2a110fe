"""The training loop: Adam, learning rate halved on a validation plateau, early stopping.

A run lives in a folder beside the model, ``<model>.run/``: the spec (``train.yaml``), the CSV
log (``log.csv``) and the checkpoint (``checkpoint.safetensors``). Running the same spec again
into the same folder resumes from the checkpoint (after a crash, ``kill -9`` or the end of a
session); a different spec is refused. SIGTERM (``kill PID``, a batch scheduler's notice; also
what stops a run started in the background, where the shell makes it ignore Ctrl-C) finishes the
current step, writes the checkpoint and stops. The best model so far (highest validation PSNR) is
written with :func:`sbdenoise.nn.model_file.save_model` whenever it improves, so the model file
is usable while training runs.

Each step draws a batch whose crops and noise depend only on ``(seed, step, rank)``
(:meth:`TrainingData.batch`), so a resumed run is the uninterrupted run: with
``deterministic: true`` on the CPU, the weights after resumption are bitwise those of a run that
was never stopped.
"""

from __future__ import annotations

import csv
import inspect
import math
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.progress import Progress, TextColumn
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from sbdenoise import __version__
from sbdenoise.errors import InputError
from sbdenoise.nn.blocks import freeze_batch_norms
from sbdenoise.progress import progress_columns
from sbdenoise.training.checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint
from sbdenoise.training.data import (
    TrainingData,
    TrainingSources,
    ValidationSet,
    load_training_sources,
)
from sbdenoise.training.distributed import DistributedContext, init_distributed, wrap_model
from sbdenoise.training.precision import autocast, resolve_precision
from sbdenoise.training.spec import TrainSpec
from sbdenoise.training.vacuum_loss import weighted_crop_mse

#: File names inside a run folder.
SPEC_NAME = "train.yaml"
LOG_NAME = "log.csv"
SNAPSHOT_FOLDER = "snapshots"
#: Columns of the CSV log.
LOG_COLUMNS = ("step", "epoch", "train_loss", "val_psnr_db", "lr", "seconds")
#: Suffix of model weight files.
WEIGHTS_SUFFIX = ".safetensors"


@dataclass
class TrainResult:
    """What a call to :func:`train` did.

    Attributes
    ----------
    model_path : Path
        The model's weights file (its card is the same path with ``.json``).
    run_dir : Path
        The run folder (spec, log, checkpoint).
    step, total_steps : int
        Steps done so far and steps the spec asks for.
    best_psnr_db : float
        Best mean validation PSNR (peak 1 e-/px, detector scale), dB.
    best_step : int
        Step of the best validation (the weights in the model file).
    stop_reason : str
        ``"steps"`` (all done), ``"early stopping"``, ``"learning rate floor"``,
        ``"stop_at_step"`` (paused on request, resumable), ``"terminated"`` (SIGTERM, checkpoint
        written, resumable) or ``"already finished"``.
    resumed_from : int or None
        Step of the checkpoint this call resumed from (None: a fresh start).
    seconds : float
        Wall-clock time of this call's training loop, s.
    seconds_per_step : float
        Mean wall-clock time per step in this call (validations included), s.
    device : str
        Where it trained, in words.
    rank, world_size : int
        This process's rank and the number of processes.
    network : torch.nn.Module or None
        The network as it is at ``step`` (on its training device; the model file holds the best
        one instead).
    """

    model_path: Path
    run_dir: Path
    step: int
    total_steps: int
    best_psnr_db: float
    best_step: int
    stop_reason: str
    resumed_from: int | None
    seconds: float
    seconds_per_step: float
    device: str
    rank: int = 0
    world_size: int = 1
    network: nn.Module | None = field(default=None, repr=False)


def model_weights_path(model: str | Path) -> Path:
    """The weights file of a model name: ``x.safetensors`` for ``x``, ``x.json`` or itself."""
    path = Path(model)
    if path.suffix.lower() == WEIGHTS_SUFFIX:
        return path
    if path.suffix.lower() == ".json":
        return path.with_suffix(WEIGHTS_SUFFIX)
    return path.with_name(path.name + WEIGHTS_SUFFIX)


def snapshot_path(model: str | Path, step: int) -> Path:
    """Where ``train(..., keep_every=...)`` keeps the weights of step ``step``."""
    return run_folder(model) / SNAPSHOT_FOLDER / f"step-{step:07d}.safetensors"


def snapshot_step(path: str | Path) -> int:
    """The step of a kept snapshot from its file name (``step-0004500.safetensors`` -> 4500)."""
    return int(Path(path).stem.removeprefix("step-"))


def kept_snapshots(model: str | Path) -> list[Path]:
    """The snapshot files a run kept (``--keep-every``), in step order."""
    return sorted((run_folder(model) / SNAPSHOT_FOLDER).glob("step-*.safetensors"))


def run_folder(model: str | Path) -> Path:
    """The run folder of a model: ``<model>.run`` beside its weights file."""
    weights = model_weights_path(model)
    return weights.with_suffix(".run")


def adopt_recorded_init(spec: TrainSpec, run_dir: Path) -> TrainSpec:
    """``spec`` with the warm start its run folder recorded, when it names none itself.

    A warm start only matters at step 0; resuming a run that began from ``--init-from`` should
    not require repeating it.

    Parameters
    ----------
    spec : TrainSpec
        The spec asked for.
    run_dir : Path
        The run folder.

    Returns
    -------
    TrainSpec
    """
    path = run_dir / SPEC_NAME
    if spec.init_from is not None or not path.exists():
        return spec
    recorded = TrainSpec.from_yaml(path).init_from
    return spec if recorded is None else spec.model_copy(update={"init_from": recorded})


def _check_keep_every(keep_every: int | None, validate_every: int) -> None:
    """Refuse snapshot steps that miss the validation steps (a snapshot keeps its validation)."""
    if keep_every is not None and (keep_every < 1 or keep_every % validate_every):
        raise InputError(
            f"snapshots are kept at validation steps: keep_every ({keep_every}) must be a "
            f"multiple of the steps between validations ({validate_every})"
        )


def check_run_folder(spec: TrainSpec, run_dir: Path, write: bool = True) -> bool:
    """Refuse to mix two specs in one run folder; record the spec on a first run.

    Parameters
    ----------
    spec : TrainSpec
        The spec of this run.
    run_dir : Path
        The run folder.
    write : bool
        Write the spec when the folder has none (only rank 0 writes).

    Returns
    -------
    bool
        True when the folder already held this spec (a rerun), False for a new run.

    Raises
    ------
    InputError
        When the folder holds a different spec.
    """
    path = run_dir / SPEC_NAME
    if path.exists():
        previous = TrainSpec.from_yaml(path)
        if previous != spec:
            old, new = previous.model_dump(mode="json"), spec.model_dump(mode="json")
            changed = ", ".join(
                f"{key}: {old.get(key)!r} -> {new.get(key)!r}"
                for key in new
                if old.get(key) != new.get(key)
            )
            raise InputError(
                "this run folder holds a training with a different spec "
                f"({changed}); to resume, run with the same options; to start another "
                "training, choose another output (-o) or remove the folder",
                run_dir,
            )
        return True
    if write:
        run_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        spec.to_yaml(tmp)
        tmp.replace(path)
    return False


class _TerminationRequest:
    """A SIGTERM handler that only records the request; the loop stops at a step boundary."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self, signum: int, frame: Any) -> None:
        self.requested = True


@contextmanager
def _stop_on_sigterm() -> Iterator[_TerminationRequest]:
    """Catch SIGTERM while training (main thread only; elsewhere signals cannot be handled)."""
    request = _TerminationRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return
    previous = signal.signal(signal.SIGTERM, request)
    try:
        yield request
    finally:
        signal.signal(signal.SIGTERM, previous)


def _warm_up_learning_rate(optimizer: torch.optim.Optimizer, spec: TrainSpec, step: int) -> None:
    """Set the learning rate of step ``step`` (0-based) of the spec's linear warm-up.

    During the first ``spec.warmup_steps`` steps the rate is ``spec.lr * (step + 1) /
    warmup_steps``; the last of them sets ``spec.lr`` itself, from where the plateau schedule
    takes over. A resumed run continues the same ramp (the step is in its checkpoint).
    """
    if step < spec.warmup_steps:
        for group in optimizer.param_groups:
            group["lr"] = spec.lr * (step + 1) / spec.warmup_steps


def _cool_down_learning_rate(
    optimizer: torch.optim.Optimizer,
    spec: TrainSpec,
    step: int,
    total: int,
    state: dict[str, Any],
) -> bool:
    """Set the learning rate of step ``step`` (0-based) of the spec's linear cooldown.

    The last ``spec.cooldown_steps`` steps of a run of ``total`` run at ``rate * (total - step)
    / cooldown_steps``, where ``rate`` is the learning rate of the cooldown's first step, kept
    in ``state["cooldown_lr"]`` so that a resumed run continues the same line.

    Returns
    -------
    bool
        True when ``step`` is in the cooldown.
    """
    if not spec.cooldown_steps or step < total - spec.cooldown_steps:
        return False
    if state["cooldown_lr"] is None:
        state["cooldown_lr"] = float(optimizer.param_groups[0]["lr"])
    for group in optimizer.param_groups:
        group["lr"] = state["cooldown_lr"] * (total - step) / spec.cooldown_steps
    return True


def branch_checkpoint(source: str | Path) -> Path:
    """The checkpoint file a ``branch_from`` names (the file itself, or a run folder holding it).

    Raises
    ------
    InputError
        When there is no such checkpoint.
    """
    path = Path(source)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise InputError(
            "branch_from names no training checkpoint: give a run's checkpoint.safetensors or "
            "its run folder",
            path,
        )
    return path


def _branch(
    spec: TrainSpec,
    network: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    averaged: nn.Module | None,
) -> dict[str, Any]:
    """Load another run's checkpoint (``spec.branch_from``) as the start of this run.

    Returns the trainer state to continue from: the other run's step, time, counters of the
    receptive field and noisy PSNR, with this run's own record (best validation, log position,
    stop) started afresh.
    """
    path = branch_checkpoint(str(spec.branch_from))
    try:
        loaded = load_checkpoint(path, network, optimizer, scheduler, averaged=averaged)
    except InputError:
        raise
    except (RuntimeError, ValueError, KeyError) as error:
        raise InputError(
            f"branch_from holds a different network or optimiser than this spec builds ({error})",
            path,
        ) from error
    state = {
        **loaded,
        "best_psnr_db": -math.inf,
        "best_step": -1,
        "bad_validations": 0,
        "csv_offset": 0,
        "finished": False,
        "stop_reason": "",
        "cooldown_lr": None,
        "branched_from": {"checkpoint": str(path.resolve()), "step": int(loaded["step"])},
    }
    return state


def _initial_state() -> dict[str, Any]:
    return {
        "step": 0,
        "best_psnr_db": -math.inf,
        "best_step": -1,
        "bad_validations": 0,
        "seconds": 0.0,
        "csv_offset": 0,
        "loss_sum": 0.0,
        "loss_count": 0,
        "finished": False,
        "stop_reason": "",
        "receptive_field_px": None,
        "noisy_psnr_db": None,
        "cooldown_lr": None,
        "branched_from": None,
    }


def validate(
    model: nn.Module,
    validation: ValidationSet,
    context: DistributedContext,
    batch: int,
) -> float:
    """Mean PSNR (dB, peak 1 e-/px, detector scale) of the model on the validation crops.

    Processes share the crops (rank ``r`` takes crops ``r, r + n, ...``) and the sums are
    reduced, so every process gets the same value.
    """
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    indices = np.arange(context.rank, len(validation), context.world_size)
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(indices), batch):
            chunk = indices[start : start + batch]
            outputs = model(validation.inputs[chunk].to(context.device))
            total += float(validation.psnr_values(outputs, chunk).sum())
    for module, mode in modes:  # each as it was (frozen batch norms stay frozen)
        module.train(mode)
    summed, count = context.all_reduce_sum([total, float(len(indices))])
    return summed / count


def _dose_text(spec: TrainSpec, data: TrainingData) -> str:
    """How the run treats dose, for its first lines of output."""
    if data.dose_range_working is None:
        return (
            f"dose {data.dose:.3g} e-/px ({data.dose_working:.3g} per working pixel), "
            f"{data.normalization} normalization"
        )
    low, high = spec.dose_range or (0.0, 0.0)
    wlow, whigh = data.dose_range_working
    vacuum = "" if spec.vacuum_weight == 1.0 else f", vacuum weighted {spec.vacuum_weight:g} x"
    if spec.edge_weight != 1.0:
        vacuum += f", the {spec.edge_width_angstrom:g} A band next to it {spec.edge_weight:g} x"
    if spec.vacuum_crops > 0:
        vacuum += f", {100 * spec.vacuum_crops:g} % of crops pure vacuum"
    if spec.freeze_batch_norm:
        vacuum += ", batch norms frozen (running statistics of the start)"
    return (
        f"doses {low:.3g}-{high:.3g} e-/A^2 ({wlow:.3g}-{whigh:.3g} per working pixel, drawn per "
        f"crop), {data.normalization} normalization, {spec.loss_weighting} loss weighting "
        f"({spec.loss_norm}){vacuum}"
    )


def _card(
    spec: TrainSpec,
    sources: TrainingSources,
    state: dict[str, Any],
    world_size: int,
    total: int,
) -> Any:
    from sbdenoise.nn.card import ModelCard

    data = sources.primary
    rf = int(state["receptive_field_px"])
    optics = dict(data.dataset_spec.get("optics", {}))
    optics["nuisance"] = data.dataset_spec.get("nuisance", {})
    training = {
        **data.summary,
        # the widest field of view trained on: what `field="training"` tiles to
        "crop_px": max(source.crop for source in sources.specs),
        "batch": spec.batch,
        "processes": world_size,
        "steps": total,
        "seed": spec.seed,
        "augmentation": spec.augmentation.model_dump(mode="json"),
        "spec": spec.model_dump(mode="json"),
    }
    if state.get("branched_from"):
        training["branched_from"] = state["branched_from"]
    if spec.mix:
        training["own_crop_px"] = spec.crop
        training["mix"] = sources.mix_summary()
    metrics = {
        "val_psnr_db": state["best_psnr_db"],
        "val_psnr_noisy_db": state["noisy_psnr_db"],
        "best_step": state["best_step"],
        "val_crops": len(data.validation),
        "val_crop_px": int(data.validation.inputs.shape[-1]),
        "psnr_convention": "peak 1 e-/px, expected counts per detector pixel, estimate clipped",
    }
    return ModelCard(
        architecture=spec.architecture,
        architecture_kwargs=dict(spec.architecture_kwargs),
        sampling=data.sampling,
        dose=data.dose_working,
        input_scale=data.input_scale,
        normalization=data.normalization,
        dose_range_per_area=list(spec.dose_range) if spec.dose_range is not None else None,
        receptive_field_px=rf,
        receptive_field_angstrom=rf * data.sampling,
        optics=optics,
        defocus_nm=list(data.summary["defocus_values"]),
        training_data=training,
        metrics=metrics,
        sbdenoise_version=__version__,
    )


class _Log:
    """The CSV log, truncated to the checkpoint's position on resumption (rank 0 only)."""

    def __init__(self, path: Path, offset: int, enabled: bool) -> None:
        self.enabled = enabled
        self.handle = None
        if not enabled:
            return
        mode = "r+" if path.exists() else "w"
        self.handle = open(path, mode, newline="")
        self.handle.truncate(offset)
        self.handle.seek(offset)
        self.writer = csv.writer(self.handle)
        if offset == 0:
            self.writer.writerow(LOG_COLUMNS)
            self.handle.flush()

    def row(self, values: list[Any]) -> None:
        if self.handle is not None:
            self.writer.writerow(values)
            self.handle.flush()

    def offset(self) -> int:
        return 0 if self.handle is None else self.handle.tell()

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None


def _progress(enabled: bool, console: Console) -> Progress | None:
    if not enabled:
        return None
    return Progress(*progress_columns(), TextColumn("{task.fields[status]}"), console=console)


def train(
    spec: TrainSpec,
    model: str | Path,
    *,
    show_progress: bool = True,
    threads: int | None = None,
    device: str | None = None,
    stop_at_step: int | None = None,
    keep_every: int | None = None,
    rank: int | None = None,
    world_size: int | None = None,
    init_method: str | None = None,
    console: Console | None = None,
) -> TrainResult:
    """Train (or resume training) a denoiser as the spec says.

    Parameters
    ----------
    spec : TrainSpec
        What to train; ``spec.dataset`` should be an absolute path when runs are resumed from
        another working directory.
    model : str or Path
        Model file to write (``.safetensors``, card beside it as ``.json``); the run folder is
        ``<model>.run``.
    show_progress : bool
        Show a progress bar (rank 0 only).
    threads : int, optional
        CPU threads per process (torch.set_num_threads); default: torch's choice.
    device : str, optional
        Force a device; default CUDA when available, else the CPU.
    stop_at_step : int, optional
        Write a checkpoint and return after this many steps (the run stays resumable).
    keep_every : int, optional
        Also keep the judged weights (the moving average when there is one) every this many
        steps, at validation steps, as ``<model>.run/snapshots/step-NNNNNNN.safetensors`` with
        their cards, so a run can be judged afterwards on more than validation PSNR. How a run
        is executed, not what it trains: not part of the spec.
    rank, world_size, init_method : optional
        Distributed setup when not started by torchrun (see
        :func:`sbdenoise.training.distributed.init_distributed`).
    console : rich.console.Console, optional
        Where messages go (default: standard output).

    Returns
    -------
    TrainResult

    Raises
    ------
    InputError
        For a run folder holding another spec, filters that leave no data, a crop that does not
        fit, or an architecture that does not exist.
    """
    console = console or Console()
    context = init_distributed(rank, world_size=world_size, init_method=init_method, device=device)
    deterministic_before = torch.are_deterministic_algorithms_enabled()
    threads_before = torch.get_num_threads()
    try:
        if threads is not None:
            torch.set_num_threads(threads)
        if spec.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
        with _stop_on_sigterm() as termination:
            return _train(
                spec,
                Path(model),
                context,
                show_progress,
                stop_at_step,
                keep_every,
                console,
                termination,
            )
    finally:
        torch.use_deterministic_algorithms(deterministic_before)
        torch.set_num_threads(threads_before)
        context.close()


def warm_start(network: torch.nn.Module, spec: TrainSpec) -> None:
    """Copy the weights of ``spec.init_from`` into ``network``.

    The source must have the same architecture and options, except that a UNet may start from a
    narrower UNet of the same scales: it is widened without changing its output
    (:func:`sbdenoise.nn.widen.widen_unet`), so the new channels add capacity to a trained model.

    Raises
    ------
    InputError
        If the model file's architecture or its arguments differ from the spec's (other than a
        smaller UNet ``base_channels``).
    """
    from sbdenoise.nn.model_file import load_model
    from sbdenoise.nn.widen import widen_unet

    source, card = load_model(spec.init_from)
    wanted = dict(spec.architecture_kwargs)
    given = dict(card.architecture_kwargs)
    if card.architecture == spec.architecture == "unet" and _narrower_unet(given, wanted):
        source = widen_unet(source, int(wanted["base_channels"]), seed=spec.seed)
    elif card.architecture != spec.architecture or given != wanted:
        raise InputError(
            f"--init-from {spec.init_from}: its network is {card.architecture} "
            f"{card.architecture_kwargs}, this run trains {spec.architecture} "
            f"{wanted}; give the same architecture options (a UNet may only grow its "
            "base channels)"
        )
    network.load_state_dict(source.state_dict())


def _narrower_unet(given: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """Whether UNet options ``given`` differ from ``wanted`` only by fewer base channels."""
    from sbdenoise.nn.unet import UNet

    defaults = {
        name: parameter.default for name, parameter in inspect.signature(UNet).parameters.items()
    }
    given, wanted = {**defaults, **given}, {**defaults, **wanted}
    same_rest = all(given[key] == wanted[key] for key in defaults if key != "base_channels")
    return same_rest and given["base_channels"] < wanted["base_channels"]


def _train(
    spec: TrainSpec,
    model_path: Path,
    context: DistributedContext,
    show_progress: bool,
    stop_at_step: int | None,
    keep_every: int | None,
    console: Console,
    termination: _TerminationRequest,
) -> TrainResult:
    from sbdenoise.nn import build_model, measure_receptive_field, required_multiple
    from sbdenoise.nn.model_file import save_model

    main = context.is_main

    def say(message: str) -> None:
        if main:
            console.print(message, highlight=False, soft_wrap=True)

    weights = model_weights_path(model_path)
    run_dir = run_folder(model_path)
    spec = adopt_recorded_init(spec, run_dir)
    if spec.validate_every:  # refuse before the run folder records anything
        _check_keep_every(keep_every, spec.validate_every)
    check_run_folder(spec, run_dir, write=main)
    torch.manual_seed(spec.seed)
    network = build_model(spec.architecture, **spec.architecture_kwargs)
    multiple = required_multiple(network)
    if spec.crop % multiple:
        raise InputError(
            f"crop {spec.crop} px is not a multiple of {multiple}, as {spec.architecture} "
            f"{spec.architecture_kwargs} needs"
        )
    sources = load_training_sources(spec, multiple)
    data = sources.primary
    steps_per_epoch = spec.steps_per_epoch or sources.steps_per_epoch(context.world_size)
    total = spec.total_steps(steps_per_epoch)
    validate_every = spec.validate_every or steps_per_epoch
    _check_keep_every(keep_every, validate_every)
    edge_width = round(spec.edge_width_angstrom / data.sampling)
    network.to(context.device)
    precision = resolve_precision(spec.precision, context.device)
    # channels_last in every precision: fp32 steps run 1.10-1.15x faster on the CPUs here, and
    # bf16 autocast wants it (benchmarks/results/training_speed_layout.md)
    network.to(memory_format=torch.channels_last)
    if context.device.type == "cuda" and not spec.deterministic:
        torch.backends.cudnn.benchmark = True  # fixed crop size: let cuDNN pick its kernels
    optimizer = torch.optim.Adam(network.parameters(), lr=spec.lr)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer,
        mode="max",
        factor=spec.lr_factor,
        patience=spec.lr_patience,
        threshold=spec.min_improvement_db,
        threshold_mode="abs",
    )
    averaged = None
    if spec.ema_decay is not None:
        averaged = AveragedModel(
            network, multi_avg_fn=get_ema_multi_avg_fn(spec.ema_decay), use_buffers=True
        )
    # what validation scores and the model file holds: the moving average when there is one
    judged = network if averaged is None else averaged.module
    state = _initial_state()
    checkpoint = run_dir / CHECKPOINT_NAME
    resumed_from = None
    if checkpoint.exists():
        state.update(load_checkpoint(checkpoint, network, optimizer, scheduler, averaged=averaged))
        resumed_from = int(state["step"])
    elif spec.branch_from is not None:
        state.update(_branch(spec, network, optimizer, scheduler, averaged))
        if state["step"] >= total:
            raise InputError(
                f"branch_from is at step {state['step']}, not before this run's last step "
                f"({total}): give more --steps",
                spec.branch_from,
            )
    elif spec.init_from is not None:
        warm_start(network, spec)
    context.barrier()

    def result(reason: str, seconds: float = 0.0, steps: int = 0) -> TrainResult:
        return TrainResult(
            model_path=weights,
            run_dir=run_dir,
            step=int(state["step"]),
            total_steps=total,
            best_psnr_db=float(state["best_psnr_db"]),
            best_step=int(state["best_step"]),
            stop_reason=reason,
            resumed_from=resumed_from,
            seconds=seconds,
            seconds_per_step=seconds / steps if steps else float("nan"),
            device=context.describe(),
            rank=context.rank,
            world_size=context.world_size,
            network=network,
        )

    if state["finished"]:
        say(f"This run is already finished ({state['stop_reason']}, step {state['step']}).")
        return result("already finished")

    description = context.describe()
    say(description[0].upper() + description[1:] + f", {precision}.")
    say(
        f"{len(data.train_indices)} training and {len(data.val_indices)} validation images at "
        f"{data.sampling:.4f} A/px (binning {data.factor}), {_dose_text(spec, data)}; "
        f"{total} steps of {spec.batch} crops of "
        f"{spec.crop} px per process, validation every {validate_every} steps."
    )
    if spec.mix:
        say(f"Mixed sources, {sources.describe()}; validation on {Path(spec.dataset).name}.")
    if resumed_from is not None:
        say(f"Resuming from step {resumed_from} (checkpoint {checkpoint}).")
    elif state["branched_from"] is not None:
        origin = state["branched_from"]
        say(f"Branching from step {origin['step']} of {origin['checkpoint']}.")
    if spec.cooldown_steps:
        say(
            f"Cooldown: the learning rate falls linearly towards 0 over steps "
            f"{total - spec.cooldown_steps}-{total}."
        )
    if main and state["receptive_field_px"] is None:
        state["receptive_field_px"] = measure_receptive_field(network)
        state["noisy_psnr_db"] = data.validation.noisy_psnr()
        say(
            f"Receptive field {state['receptive_field_px']} px = "
            f"{state['receptive_field_px'] * data.sampling / 10:.2f} nm; noisy validation PSNR "
            f"{state['noisy_psnr_db']:.2f} dB."
        )

    net = wrap_model(network, context)
    network.train()
    if spec.freeze_batch_norm:
        freeze_batch_norms(network)
    log = _Log(run_dir / LOG_NAME, int(state["csv_offset"]), main)
    progress = _progress(show_progress and main, console)
    start = time.perf_counter()
    last_checkpoint = start
    first_step = int(state["step"])
    seconds_before = float(state["seconds"])
    reason = "steps"

    def write_checkpoint() -> None:
        nonlocal last_checkpoint
        if main:
            state["seconds"] = seconds_before + time.perf_counter() - start
            state["csv_offset"] = log.offset()
            save_checkpoint(checkpoint, network, optimizer, scheduler, state, averaged)
        last_checkpoint = time.perf_counter()

    task = None
    if progress is not None:
        progress.start()
        task = progress.add_task("train", total=total, completed=first_step, status="")
    try:
        while state["step"] < total:
            inputs, targets, crop_weights = sources.weighted_batch(
                int(state["step"]), context.rank, context.device
            )
            inputs = inputs.contiguous(memory_format=torch.channels_last)
            _warm_up_learning_rate(optimizer, spec, int(state["step"]))
            cooling = _cool_down_learning_rate(optimizer, spec, int(state["step"]), total, state)
            optimizer.zero_grad(set_to_none=True)
            with autocast(precision, context.device):
                outputs = net(inputs)
            per_crop = weighted_crop_mse(
                outputs, targets, spec.vacuum_weight, spec.edge_weight, edge_width, spec.loss_norm
            )
            loss = (per_crop * crop_weights).mean()
            loss.backward()
            optimizer.step()
            if averaged is not None:
                averaged.update_parameters(network)
            state["step"] += 1
            state["loss_sum"] += float(loss.detach())
            state["loss_count"] += 1
            step = int(state["step"])
            spent = seconds_before + time.perf_counter() - start
            out_of_time = spec.budget_minutes is not None and spent >= 60.0 * spec.budget_minutes
            validating = step % validate_every == 0 or step == total or out_of_time
            logging = validating or step % spec.log_every == 0
            stop = False
            val_psnr: float | str = ""
            if logging:
                loss_sum, loss_count = context.all_reduce_sum(
                    [state["loss_sum"], float(state["loss_count"])]
                )
                train_loss = loss_sum / max(loss_count, 1.0)
                state["loss_sum"], state["loss_count"] = 0.0, 0
            if validating:
                context.broadcast_buffers(network)
                val_psnr = validate(judged, data.validation, context, spec.batch)
                if step > spec.warmup_steps and not cooling:  # the ramps set the lr themselves
                    scheduler.step(val_psnr)
                if val_psnr > state["best_psnr_db"] + spec.min_improvement_db or (
                    state["best_step"] < 0
                ):
                    state["best_psnr_db"], state["best_step"] = val_psnr, step
                    state["bad_validations"] = 0
                    if main:
                        save_model(
                            weights, judged, _card(spec, sources, state, context.world_size, total)
                        )
                else:
                    state["bad_validations"] += 1
                if main and keep_every and step % keep_every == 0:
                    # the snapshot's card names its own step and validation PSNR
                    own = {**state, "best_psnr_db": val_psnr, "best_step": step}
                    save_model(
                        snapshot_path(model_path, step),
                        judged,
                        _card(spec, sources, own, context.world_size, total),
                    )
                lr_now = optimizer.param_groups[0]["lr"]
                if out_of_time:
                    stop, reason = True, "time budget"
                elif state["bad_validations"] >= spec.early_stop_patience:
                    stop, reason = True, "early stopping"
                elif lr_now < spec.min_lr and not cooling:
                    stop, reason = True, "learning rate floor"
            if logging:
                lr_now = optimizer.param_groups[0]["lr"]
                seconds = seconds_before + time.perf_counter() - start
                log.row(
                    [
                        step,
                        f"{step / steps_per_epoch:.4f}",
                        f"{train_loss:.6g}",
                        f"{val_psnr:.4f}" if val_psnr != "" else "",
                        f"{lr_now:.3g}",
                        f"{seconds:.2f}",
                    ]
                )
                if progress is not None:
                    best = state["best_psnr_db"]
                    status = f"loss {train_loss:.4g}"
                    if best > -math.inf:
                        status += f", best val {best:.2f} dB"
                    progress.update(task, status=status)
            if progress is not None:
                progress.update(task, completed=step)
            if stop or step == total:
                state["finished"], state["stop_reason"] = True, reason
                write_checkpoint()
                break
            pause = stop_at_step is not None and step >= stop_at_step
            due = time.perf_counter() - last_checkpoint > 60.0 * spec.checkpoint_minutes
            if validating or pause or (main and due):
                write_checkpoint()
            if pause:
                reason = "stop_at_step"
                break
            if termination.requested:
                write_checkpoint()
                reason = "terminated"
                say(f"Terminated at step {step}; checkpoint written, rerun to resume.")
                break
    except KeyboardInterrupt:
        write_checkpoint()
        say(f"Interrupted at step {state['step']}; checkpoint written, rerun to resume.")
        raise
    finally:
        if progress is not None:
            progress.stop()
        log.close()
    elapsed = time.perf_counter() - start
    steps_done = int(state["step"]) - first_step
    outcome = result(reason, elapsed, steps_done)
    if reason != "stop_at_step":
        say(
            f"Stopped at step {outcome.step} ({reason}); best validation PSNR "
            f"{outcome.best_psnr_db:.2f} dB at step {outcome.best_step}; model: {weights}"
        )
    if steps_done:
        say(f"{steps_done} steps in {elapsed:.1f} s ({outcome.seconds_per_step:.3f} s/step).")
    return outcome
