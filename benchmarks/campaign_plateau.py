"""The training campaign on one yardstick: validation PSNR per dose against CPU hours.

Each run of the campaign logged its validation PSNR on its own crops, so the logs do not
compare across runs. This benchmark scores the campaign's surviving models on one fixed set of
validation crops (those of one run's spec: same dataset, filters, ``val_seed``, orientations,
four doses over the training range), per dose and overall, and plots them against the wall
hours of training behind each (from ``benchmarks/results/model_history.md``), so that where the
campaign stands, and whether it still rises, can be read from one figure. Only validation
structures are looked at. Writes ``campaign_plateau.{json,md,png}``::

    .venv/bin/python benchmarks/campaign_plateau.py /work/models/sbd-unet-dose-j.run/train.yaml \\
        --model v2=/tmp/v2.safetensors=2.76 --model v3=src/.../sbd-unet-pt-ceo2.safetensors=4.36
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from table1 import RESULTS, machine, write_atomic

from sbdenoise.analysis.likelihood import _pyplot, save_figure
from sbdenoise.nn.model_file import load_model
from sbdenoise.training.data import ValidationSet, load_training_data
from sbdenoise.training.spec import TrainSpec
from sbdenoise.training.trainer import run_folder


def parse_model(text: str) -> tuple[str, Path, float]:
    """``NAME=PATH=HOURS`` -> ``(name, path, hours)``."""
    name, path, hours = text.rsplit("=", 2) if text.count("=") >= 2 else (text, "", "")
    if not path or not hours:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=PATH=HOURS")
    return name, Path(path), float(hours)


def run_validation(model: Path) -> ValidationSet:
    """The validation crops of a run (``train -o`` path), as its ``train.yaml`` draws them."""
    spec = TrainSpec.from_yaml(run_folder(model) / "train.yaml")
    return load_training_data(spec, 16).validation


def per_crop_psnr(path: Path, validation: ValidationSet, batch: int = 8) -> np.ndarray:
    """PSNR (dB, peak 1 e-/px at the reference dose) of a model file on every validation crop."""
    network, _ = load_model(path)
    return network_crop_psnr(network, validation, batch)


def network_crop_psnr(
    network: torch.nn.Module, validation: ValidationSet, batch: int = 8
) -> np.ndarray:
    """:func:`per_crop_psnr` of a network in memory (put in eval mode)."""
    network.eval()
    values = []
    with torch.no_grad():
        for start in range(0, len(validation), batch):
            chunk = np.arange(start, min(start + batch, len(validation)))
            values.append(validation.psnr_values(network(validation.inputs[chunk]), chunk))
    return np.concatenate(values)


def markdown(result: dict[str, Any]) -> str:
    doses = result["doses_e_per_px"]
    lines = [
        "# The campaign on one yardstick",
        "",
        f"Command: `{result['command']}` ({result['minutes']:.1f} min). "
        f"{result['crops']} validation crops of `{result['spec']}` (validation structures only, "
        "eight orientations, fp32); PSNR per crop at the reference dose's scale (peak 1 e-/px), "
        "averaged per dose and over all crops.",
        "",
        "| model | wall hours | all doses | " + " | ".join(f"{d:.2f} e-/px" for d in doses) + " |",
        "|---|---:|---:|" + "---:|" * len(doses),
    ]
    for row in result["rows"]:
        lines.append(
            f"| {row['name']} | {row['hours']:.2f} | {row['mean_db']:.2f} | "
            + " | ".join(f"{v:.2f}" for v in row["per_dose_db"])
            + " |"
        )
    return "\n".join(lines) + "\n"


def plot(result: dict[str, Any], path: Path) -> Path:
    """Validation PSNR per dose (and overall) against wall hours."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    rows = result["rows"]
    hours = [r["hours"] for r in rows]
    for k, dose in enumerate(result["doses_e_per_px"]):
        ax.plot(hours, [r["per_dose_db"][k] for r in rows], "o-", ms=4, label=f"{dose:.2f} e-/px")
    ax.plot(hours, [r["mean_db"] for r in rows], "ks-", lw=2, label="all crops")
    for r in rows:
        where = (r["hours"], r["mean_db"])
        ax.annotate(r["name"], where, textcoords="offset points", xytext=(4, 6))
    ax.set_xlabel("wall hours of training behind the model (2 cores)")
    ax.set_ylabel("validation PSNR (dB, peak 1 e-/px)")
    ax.set_title("the campaign on one set of validation crops")
    ax.legend(fontsize=8, ncol=2, loc="lower right")
    fig.tight_layout()
    return save_figure(fig, path)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("spec", type=Path, help="train.yaml of the run whose crops are used")
    parser.add_argument("--model", type=parse_model, action="append", required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    spec = TrainSpec.from_yaml(args.spec)
    data = load_training_data(spec, 16)
    validation = data.validation
    to_e_per_px = 1.0 / data.factor**2
    doses = sorted(set(np.round(validation.doses, 6)))
    rows = []
    for name, path, hours in sorted(args.model, key=lambda m: m[2]):
        values = per_crop_psnr(path, validation)
        per_dose = [float(values[np.isclose(validation.doses, d)].mean()) for d in doses]
        rows.append(
            {
                "name": name,
                "path": str(path),
                "hours": hours,
                "mean_db": float(values.mean()),
                "per_dose_db": per_dose,
            }
        )
        print(name, f"{values.mean():.2f}", [f"{v:.2f}" for v in per_dose], flush=True)
    result = {
        "command": "python " + " ".join(sys.argv),
        "machine": machine("cpu"),
        "spec": str(args.spec),
        "crops": len(validation),
        "doses_e_per_px": [float(d) * to_e_per_px for d in doses],
        "minutes": (time.perf_counter() - start) / 60.0,
        "rows": rows,
    }
    args.output.mkdir(parents=True, exist_ok=True)
    write_atomic(args.output / "campaign_plateau.json", json.dumps(result, indent=2) + "\n")
    write_atomic(args.output / "campaign_plateau.md", markdown(result))
    plot(result, args.output / "campaign_plateau.png")
    print(markdown(result))
    return result


if __name__ == "__main__":
    main()
