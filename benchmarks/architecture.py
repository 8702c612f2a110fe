"""UNet depth and width at equal CPU time: validation PSNR against receptive field.

Issue 11 asks that the shipped architecture be chosen from measurements at equal CPU time: base
16 against 32 channels, and 3 to 6 scales (the receptive field grows with the scales; the papers
argue for a field of view of about 5.5 nm). Each network is trained *from scratch* with the
campaign's recipe (doses 40-400 e-/A^2 drawn per crop, frame-mean input, dose-weighted loss,
rotations over the full circle, white-contrast images of ``--dataset``) for the same CPU time:
every configuration's seconds per step are probed back to back first (the same load for all),
and each then gets ``minutes * 60 / (s/step)`` steps, so a busy machine slows the run but does not
bias the comparison. All networks are scored on the same fixed validation crops (``val_seed`` 0,
turned through the eight symmetries of the square, ``val_crops`` of them); the test split is not
looked at: this chooses an architecture.

A configuration is ``SCALESxBASE``, with a ``bf`` suffix for the bias-free form (no additive
constant anywhere: convolutions without bias, batch norm that only rescales; Mohan et al. 2020
showed such networks generalise across noise levels), e.g. ``5x16,5x16bf``.

Resumable: finished networks are kept in ``--work`` and not trained again. Writes
``<name>.{json,md,png}`` (default ``architecture``) to ``--output``::

    .venv/bin/python benchmarks/architecture.py --dataset /work/data/shipped --minutes 8
    .venv/bin/python benchmarks/architecture.py --configs 5x16,5x16bf --name bias_free \
        --work /work/models/bias-free --minutes 25 --threads 1
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch
from training_speed import machine, time_steps

from sbdenoise.analysis.likelihood import _pyplot, save_figure
from sbdenoise.io.atomic import atomic_write_text
from sbdenoise.nn.model_file import load_model
from sbdenoise.training.precision import resolve_precision
from sbdenoise.training.spec import Augmentation, Filters, TrainSpec
from sbdenoise.training.trainer import LOG_NAME, model_weights_path, train

RESULTS = Path(__file__).parent / "results"
#: Configurations compared by default: depth at base 16, and width at 5 scales.
CONFIGS = "3x16,4x16,5x16,6x16,5x32"
#: Validations per run.
VALIDATIONS = 10
#: Suffix of a bias-free configuration.
BIAS_FREE = "bf"


def parse_configs(text: str) -> list[tuple[int, int, bool]]:
    """``"5x16,5x16bf"`` -> ``[(5, 16, False), (5, 16, True)]`` (scales, base, bias-free)."""
    configs = []
    for word in text.split(","):
        word = word.strip()
        bias_free = word.endswith(BIAS_FREE)
        scales, _, base = word.removesuffix(BIAS_FREE).partition("x")
        configs.append((int(scales), int(base), bias_free))
    return configs


def config_name(scales: int, base: int, bias_free: bool) -> str:
    """The inverse of :func:`parse_configs` for one configuration."""
    return f"{scales}x{base}{BIAS_FREE if bias_free else ''}"


def base_spec(args: argparse.Namespace) -> TrainSpec:
    """The campaign's recipe, from scratch, with a fixed and orientation-mixed validation set."""
    return TrainSpec(
        dataset=str(args.dataset),
        architecture="unet",
        crop=128,
        batch=8,
        lr=args.lr,
        val_crops=args.val_crops,
        val_orientations=True,
        dose_range=(40.0, 400.0),
        normalization="frame_mean",
        loss_weighting="dose",
        precision="auto",
        filters=Filters(contrast=["white"]),
        augmentation=Augmentation(rotation_deg=90.0),
        early_stop_patience=1000,
        seed=args.seed,
    )


def probe(configs: list[tuple[int, int, bool]], steps: int) -> dict[str, float]:
    """Median seconds per training step of each configuration, measured back to back.

    In the arithmetic training will use here (bf16 where the CPU has it, fp32 elsewhere).
    """
    precision = resolve_precision("auto", torch.device("cpu"))
    seconds = {}
    for scales, base, bias_free in configs:
        times = time_steps(
            base,
            precision,
            compiled=False,
            steps=steps,
            warmup=2,
            batch=8,
            crop=128,
            scales=scales,
            bias_free=bias_free,
        )
        seconds[config_name(scales, base, bias_free)] = statistics.median(times)
    return seconds


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Probe, train every configuration for the same CPU time, and collect the results."""
    configs = parse_configs(args.configs)
    args.work.mkdir(parents=True, exist_ok=True)
    probe_path = args.work / "probe.json"
    if probe_path.exists():
        seconds = json.loads(probe_path.read_text())
    else:
        seconds = probe(configs, args.probe_steps)
        atomic_write_text(probe_path, json.dumps(seconds, indent=2) + "\n")
    spec = base_spec(args)
    rows = []
    for scales, base, bias_free in configs:
        name = config_name(scales, base, bias_free)
        steps = max(VALIDATIONS, round(args.minutes * 60 / seconds[name]))
        every = max(1, steps // VALIDATIONS)
        kwargs: dict[str, Any] = {"scales": scales, "base_channels": base}
        if bias_free:
            kwargs["bias_free"] = True
        config_spec = spec.model_copy(
            update={"architecture_kwargs": kwargs, "steps": steps, "validate_every": every}
        )
        started = time.perf_counter()
        outcome = train(
            config_spec,
            args.work / f"{name}.safetensors",
            show_progress=args.progress,
            threads=args.threads,
        )
        network, card = load_model(model_weights_path(args.work / name))
        rows.append(
            {
                "name": name,
                "scales": scales,
                "base_channels": base,
                "bias_free": bias_free,
                "parameters": sum(p.numel() for p in network.parameters()),
                "receptive_field_px": card.receptive_field_px,
                "receptive_field_nm": card.receptive_field_angstrom / 10,
                "probe_s_per_step": seconds[name],
                "steps": steps,
                "best_val_psnr_db": outcome.best_psnr_db,
                "best_step": outcome.best_step,
                "wall_s_this_call": time.perf_counter() - started,
                "curve": _curve(outcome.run_dir / LOG_NAME),
            }
        )
        print(f"{name}: {outcome.best_psnr_db:.2f} dB at step {outcome.best_step} of {steps}")
    return {
        "command": " ".join(sys.argv),
        "machine": machine(),
        "dataset": str(args.dataset),
        "minutes_per_network": args.minutes,
        "val_crops": args.val_crops,
        "lr": args.lr,
        "rows": rows,
    }


def _curve(log: Path) -> list[tuple[int, float]]:
    """(step, validation PSNR) pairs of a run's CSV log."""
    with open(log, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [(int(row["step"]), float(row["val_psnr_db"])) for row in rows if row["val_psnr_db"]]


def markdown(result: dict[str, Any]) -> str:
    """The results table."""
    lines = [
        "# UNet depth and width at equal CPU time",
        "",
        f"Machine: {result['machine']['cpu']}, {result['machine']['cpu_count']} CPUs, torch "
        f"{result['machine']['torch']}. Command: `{result['command']}`. Every network trained "
        f"from scratch for the same CPU time ({result['minutes_per_network']} min at the probed "
        f"speed) on the white images of `{result['dataset']}` with the campaign's recipe (lr "
        f"{result['lr']:g}); validation: {result['val_crops']} fixed crops in the eight "
        "orientations, four doses over 40-400 e-/A^2, dose-normalised PSNR (peak 1 e-/px).",
        "",
        "| scales x base | parameters | receptive field (px / nm) | s/step (probe) | steps "
        "| best val PSNR (dB) | at step |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        lines.append(
            f"| {row['name']} | {row['parameters'] / 1e6:.2f} M "
            f"| {row['receptive_field_px']} / {row['receptive_field_nm']:.1f} "
            f"| {row['probe_s_per_step']:.3f} | {row['steps']} | {row['best_val_psnr_db']:.2f} "
            f"| {row['best_step']} |"
        )
    return "\n".join(lines) + "\n"


def plot(result: dict[str, Any], path: Path) -> Path:
    """Best validation PSNR against receptive field, and the validation curves."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for row in result["rows"]:
        marker = "^" if row.get("bias_free") else ("o" if row["base_channels"] == 16 else "s")
        left.plot(row["receptive_field_nm"], row["best_val_psnr_db"], marker, ms=8)
        left.annotate(
            row["name"],
            (row["receptive_field_nm"], row["best_val_psnr_db"]),
            textcoords="offset points",
            xytext=(6, 4),
        )
        steps, psnr = zip(*row["curve"], strict=True) if row["curve"] else ((), ())
        right.plot(steps, psnr, marker=marker, ms=3, label=row["name"])
    left.axvline(5.5, color="0.6", ls="--", lw=1)
    left.text(5.5, left.get_ylim()[0], " 5.5 nm", color="0.4", va="bottom")
    left.set_xlabel("receptive field (nm)")
    left.set_ylabel("best validation PSNR (dB)")
    left.set_title("equal CPU time: circles base 16, squares 32, triangles bias-free")
    right.set_xlabel("step")
    right.set_ylabel("validation PSNR (dB)")
    right.set_title("validation curves")
    right.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def main() -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=Path("/work/data/shipped"))
    parser.add_argument("--configs", default=CONFIGS, help="e.g. 5x16,5x32,5x16bf")
    parser.add_argument("--minutes", type=float, default=8.0, help="CPU minutes per network")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--val-crops", type=int, default=96)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--probe-steps", type=int, default=6)
    parser.add_argument("--work", type=Path, default=Path("/work/models/architecture"))
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--name", default="architecture", help="Stem of the result files.")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads of the training.")
    parser.add_argument("--no-progress", dest="progress", action="store_false")
    args = parser.parse_args()
    result = run(args)
    args.output.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.output / f"{args.name}.json", json.dumps(result, indent=2) + "\n")
    atomic_write_text(args.output / f"{args.name}.md", markdown(result))
    plot(result, args.output / f"{args.name}.png")
    print(markdown(result))
    return result


if __name__ == "__main__":
    main()
