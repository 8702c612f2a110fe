"""``sbdenoise fit``: simulate, train, judge and calibrate a model for one microscope.

Stages, each resumable (run the same command again after an interruption):

1. ``simulate``: the dataset into ``DIR/dataset`` (the machine's dataset cache serves an
   unchanged spec at once; an interrupted simulation resumes from its finished parts);
2. ``train``: the network into ``DIR/model.safetensors`` (resumes from ``DIR/model.run``);
3. ``evaluate``: the model, the shipped model (``sbd-shipped``: does the fit pay?) and the
   classical baselines on the same test frames, PSNR, SSIM and surface / bulk column Jaccard,
   ``DIR/table.md`` (a finished method is not scored again);
4. ``surface-null``: the model's surface null (``DIR/model.surface-null.json``) on validation
   images, so its trust verdicts at the surface are calibrated.

``DIR/fit.yaml`` keeps the spec: a change to a section whose stage has begun (the dataset once
simulated, the training once started) is refused rather than mixed.
Before each stage the remaining time is estimated, from this run's own measured rates where it
has them (the simulation's images per hour, the training's seconds per step) and otherwise from
rates measured on 2 cores (:data:`SECONDS_PER_MEGAPIXEL` and so on).
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sbdenoise.errors import InputError
from sbdenoise.fitting.spec import FitSpec
from sbdenoise.io.atomic import atomic_write

__all__ = ["STAGES", "FitResult", "estimate_seconds", "run_fit"]

STAGES = ("simulate", "train", "evaluate", "surface-null")
#: Simulation, seconds per megapixel of image on 2 cores (the `shipped` preset: 1,280 images of
#: 810 x 810 px in 10.1 min, 2026-12-02).
SECONDS_PER_MEGAPIXEL = 0.72
#: Starting the simulation's workers and building the first structures, seconds (the `smoke`
#: preset's 6 small images take 40 s).
SIMULATION_OVERHEAD_SECONDS = 35.0
#: Training, seconds per step of the shipped recipe on 2 cores (UNet, base 16, 5 scales, batch
#: 8 of 128 px crops, fp32; benchmarks/results/training_speed.md); scaled by pixels per batch.
SECONDS_PER_STEP = 0.45
#: Scoring one 810 px test frame on 2 cores, seconds: the network, VST+BM3D, other baselines
#: (column detection and matching included).
SECONDS_PER_FRAME = {"sbd": 1.5, "vst-bm3d": 6.0}
OTHER_METHOD_SECONDS = 3.0
#: One surface-null frame (denoise + candidates + verdicts), seconds, and one vacuum null table.
SURFACE_NULL_FRAME_SECONDS = 2.0
VACUUM_NULL_SECONDS = 40.0


@dataclass
class FitResult:
    """What a fit produced.

    Attributes
    ----------
    folder : Path
        The fit folder.
    model : Path
        The trained model file.
    table : list of dict
        One row per method: ``method``, ``psnr_db``, ``ssim``, ``surface_jaccard``,
        ``bulk_jaccard``, ``frames``.
    surface_null : Path or None
        The model's surface null table (None when disabled).
    seconds : dict
        Wall seconds each stage took in this call (0 for one already done).
    """

    folder: Path
    model: Path
    table: list[dict[str, Any]]
    surface_null: Path | None
    seconds: dict[str, float] = field(default_factory=dict)


#: The fit spec's sections, with what shows that the stage using each has begun.
_SECTION_OUTPUTS = {
    "dataset": "dataset",
    "train": "model.run/checkpoint.safetensors",
    "evaluation": "evaluation",
    "surface_null": "model.surface-null.json",
}


def _check_folder(spec: FitSpec, folder: Path) -> None:
    """Write ``fit.yaml``; refuse a spec whose changes touch a stage that has begun.

    A changed section whose stage has not begun (say, the training options after the
    simulation) is taken: the folder then holds the new spec.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "fit.yaml"
    if path.is_file():
        before = FitSpec.from_yaml(path)
        changed = [
            name for name in _SECTION_OUTPUTS if getattr(before, name) != getattr(spec, name)
        ]
        begun = [name for name in changed if (folder / _SECTION_OUTPUTS[name]).exists()]
        if begun:
            raise InputError(
                f"this folder holds a fit whose {', '.join(begun)} section(s) differ from this "
                "spec, and their stages have begun: use a new folder, or the same spec to resume",
                folder,
            )
        if not changed:
            return
        if "train" in changed:  # a training that never wrote a checkpoint has nothing to keep
            for stale in ("train.yaml", "log.csv"):
                (folder / "model.run" / stale).unlink(missing_ok=True)
    with atomic_write(path) as temporary:
        temporary.write_text(spec.to_yaml())


def _image_count_and_megapixels(spec: FitSpec) -> tuple[int, float]:
    from sbdenoise.simulate.plan import default_image_size, plan_dataset

    dataset = spec.dataset_spec()
    count = sum(len(task.images) for task in plan_dataset(dataset))
    side = dataset.image_size or default_image_size(dataset)
    return count, side * side / 1e6


def _measured_seconds_per_step(run_dir: Path) -> float | None:
    """Seconds per step from a run folder's CSV log (None before two logged rows)."""
    log = run_dir / "log.csv"
    if not log.is_file():
        return None
    with log.open() as handle:
        rows = [row for row in csv.DictReader(handle) if row.get("step") and row.get("seconds")]
    if len(rows) < 2:
        return None
    first, last = rows[0], rows[-1]
    steps = int(last["step"]) - int(first["step"])
    return (float(last["seconds"]) - float(first["seconds"])) / steps if steps > 0 else None


def estimate_seconds(spec: FitSpec, folder: Path, done: set[str]) -> dict[str, float]:
    """Estimated wall seconds of each stage not in ``done`` (2 cores; measured rates first).

    Parameters
    ----------
    spec : FitSpec
        The fit.
    folder : Path
        Its folder (a training run there gives measured seconds per step).
    done : set of str
        Stages already finished.

    Returns
    -------
    dict
        Stage name -> estimated seconds, for the stages left.
    """
    images, megapixels = _image_count_and_megapixels(spec)
    estimate: dict[str, float] = {}
    if "simulate" not in done:
        estimate["simulate"] = (
            SIMULATION_OVERHEAD_SECONDS + images * megapixels * SECONDS_PER_MEGAPIXEL
        )
    if "train" not in done:
        train = spec.train_spec(str(folder / "dataset"))
        per_step = _measured_seconds_per_step(folder / "model.run")
        if per_step is None:
            width = float(train.architecture_kwargs.get("base_channels", 16)) / 16.0
            per_step = SECONDS_PER_STEP * train.batch * (train.crop / 128) ** 2 / 8 * width**2
        steps = train.steps or 1000
        estimate["train"] = per_step * steps
        if train.budget_minutes is not None:
            estimate["train"] = min(estimate["train"], 60.0 * train.budget_minutes)
    frame_scale = megapixels / 0.656  # scoring times above are for 810 x 810 px
    if "evaluate" not in done:
        options = spec.evaluation
        frames = min(options.max_images or images, images) * options.realisations
        per_frame = sum(
            SECONDS_PER_FRAME.get(name, OTHER_METHOD_SECONDS)
            for name in ["sbd", *options.baselines]
        )
        estimate["evaluate"] = frames * per_frame * frame_scale
    if "surface-null" not in done and spec.surface_null.enabled:
        options = spec.surface_null
        frames = options.max_images * len(options.doses)
        estimate["surface-null"] = (
            frames * SURFACE_NULL_FRAME_SECONDS * frame_scale
            + len(options.doses) * VACUUM_NULL_SECONDS
        )
    return estimate


def _contrast(spec: FitSpec) -> str:
    """The contrast class the network trains on ("all" unless the filters name exactly one)."""
    contrast = (spec.train.get("filters") or {}).get("contrast")
    return contrast[0] if isinstance(contrast, list) and len(contrast) == 1 else "all"


def _test_indices(dataset: Path, spec: FitSpec) -> np.ndarray:
    from sbdenoise.simulate.store import SimulatedDataset

    data = SimulatedDataset(dataset)
    contrast = _contrast(spec)
    chosen = (
        data.indices(split="test")
        if contrast == "all"
        else data.indices(split="test", contrast=contrast)
    )
    if len(chosen) == 0:
        raise InputError(
            f"the dataset has no {contrast} test images to judge the model on", dataset
        )
    return chosen[: spec.evaluation.max_images or len(chosen)]


def _evaluate(spec: FitSpec, folder: Path, model: Path, show_progress: bool) -> list[dict]:
    """Score the model and the baselines on the same test frames (finished methods kept)."""
    from sbdenoise.analysis.evaluation import evaluate
    from sbdenoise.pretrained import shipped_model_path

    dataset = folder / "dataset"
    indices = _test_indices(dataset, spec)
    rows = []
    entries = [("sbd", "sbd", model)]
    shipped = shipped_model_path() if spec.evaluation.shipped else None
    if shipped is not None:
        entries.append(("sbd-shipped", "sbd", shipped))
    entries += [(name, name, None) for name in spec.evaluation.baselines]
    for label, method, weights in entries:
        out = folder / "evaluation" / label
        summary_path = out / "fit-summary.json"
        if summary_path.is_file():
            rows.append(json.loads(summary_path.read_text()))
            continue
        result = evaluate(
            dataset,
            method,
            n_realisations=spec.evaluation.realisations,
            indices=indices,
            model=weights,
            seed=spec.evaluation.seed,
            elements=spec.evaluation.elements,
            output_dir=out,
            show_progress=show_progress,
        )
        mean = result.summary["mean"]
        row = {
            "method": label,
            "psnr_db": float(mean["psnr"]),
            "ssim": float(mean["ssim"]),
            "surface_jaccard": float(mean["surface_jaccard"]),
            "bulk_jaccard": float(mean["bulk_jaccard"]),
            "frames": len(result.rows),
        }
        with atomic_write(summary_path) as temporary:
            temporary.write_text(json.dumps(row, indent=1) + "\n")
        rows.append(row)
    return rows


def table_markdown(rows: list[dict[str, Any]], spec: FitSpec) -> str:
    """The fit's test table as Markdown."""
    lines = [
        "# Fit: test split",
        "",
        f"{rows[0]['frames']} test frames ({spec.evaluation.realisations} Poisson draw(s) per "
        f"image, seed {spec.evaluation.seed}), PSNR with peak 1 e-/px; column Jaccard of "
        f"{', '.join(spec.evaluation.elements or ['all'])} columns, the surface from the same "
        "alpha-shape rule on both sides.",
        "",
        "| method | PSNR dB | SSIM | surface Jaccard | bulk Jaccard |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['method']} | {row['psnr_db']:.2f} | {row['ssim']:.3f} | "
            f"{row['surface_jaccard']:.3f} | {row['bulk_jaccard']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def run_fit(
    spec: FitSpec,
    folder: str | Path,
    *,
    workers: int = 2,
    threads: int | None = None,
    show_progress: bool = True,
    say: Callable[[str], None] = print,
) -> FitResult:
    """Run (or resume) a fit into ``folder``.

    Parameters
    ----------
    spec : FitSpec
        What to simulate, train and judge.
    folder : str or Path
        The fit folder (``fit.yaml``, ``dataset/``, ``model.safetensors``, ``model.run/``,
        ``evaluation/``, ``table.md``, ``model.surface-null.json``).
    workers : int
        Simulation workers.
    threads : int, optional
        CPU threads of training and inference.
    show_progress : bool
        Progress bars of the stages.
    say : callable
        Where the stage messages and time estimates go.

    Returns
    -------
    FitResult
    """
    from sbdenoise.analysis.surface_calibration import calibrate_surface_null
    from sbdenoise.analysis.surface_null import sidecar_path
    from sbdenoise.simulate.runner import run_simulation
    from sbdenoise.training.trainer import train

    folder = Path(folder).resolve()
    _check_folder(spec, folder)
    dataset, model = folder / "dataset", folder / "model.safetensors"
    state_path = folder / "fit-state.json"
    state = json.loads(state_path.read_text()) if state_path.is_file() else {"done": []}
    done = set(state["done"])
    seconds: dict[str, float] = {}

    def finish(stage: str, started: float) -> None:
        seconds[stage] = time.perf_counter() - started
        done.add(stage)
        state["done"] = [s for s in STAGES if s in done]
        state.setdefault("seconds", {})[stage] = (
            state.get("seconds", {}).get(stage, 0.0) + (seconds[stage])
        )
        with atomic_write(state_path) as temporary:
            temporary.write_text(json.dumps(state, indent=1) + "\n")

    def announce(stage: str) -> None:
        left = estimate_seconds(spec, folder, done)
        total = sum(left.values())
        say(
            f"fit: {stage} ({STAGES.index(stage) + 1}/{len(STAGES)}); about {_minutes(total)} "
            "left in all ("
            + ", ".join(f"{name} {_minutes(value)}" for name, value in left.items())
            + ")"
        )

    for stage in STAGES:
        if stage in done or (stage == "surface-null" and not spec.surface_null.enabled):
            seconds[stage] = 0.0
            continue
        announce(stage)
        started = time.perf_counter()
        if stage == "simulate":
            run_simulation(
                spec.dataset_spec(), dataset, n_workers=workers, show_progress=show_progress
            )
        elif stage == "train":
            result = train(
                spec.train_spec(str(dataset)), model, show_progress=show_progress, threads=threads
            )
            if result.stop_reason in ("terminated", "stop_at_step"):
                raise InputError(
                    f"training stopped ({result.stop_reason}) at step {result.step}: run the "
                    "same command again to resume",
                    folder,
                )
        elif stage == "evaluate":
            rows = _evaluate(spec, folder, model, show_progress)
            with atomic_write(folder / "table.md") as temporary:
                temporary.write_text(table_markdown(rows, spec))
        else:
            calibrate_surface_null(
                dataset,
                "sbd",
                model=model,
                split="val",
                contrast=_contrast(spec),
                max_images=spec.surface_null.max_images,
                doses=spec.surface_null.doses,
                show_progress=show_progress,
            )
        finish(stage, started)
        say(f"fit: {stage} done in {_minutes(seconds[stage])}")
    rows = _evaluate(spec, folder, model, show_progress=False)  # read back, all finished
    null = sidecar_path(model) if spec.surface_null.enabled else None
    return FitResult(folder=folder, model=model, table=rows, surface_null=null, seconds=seconds)
