"""Phantom particles in pure vacuum against the frame's side: whole frame or the training field.

The shipping gate counts the candidate columns a model draws in 512 px vacuum frames: 128
working pixels, the very field the networks were trained on. A user's camera frame is 1024-4096
px. This benchmark denoises pure Poisson vacuum (0.45 e-/px at 0.061 A/px) at several sides,
an equal area of each, and counts candidates (the trust analysis's rule) per megapixel and the
frames that hold any. Each model runs whole-frame (the default) and with ``field="training"``
(:func:`sbdenoise.denoise.inference.field_tiles`: tiles no larger than the training crop). The
same run scores both modes on the first images of a dataset's validation split (one draw at the
dataset dose, PSNR with peak 1 e-/px), so the price in PSNR and time sits beside the gain::

    .venv/bin/python benchmarks/vacuum_frame_size.py --dataset /work/data/shipped-s5 \\
        --model v13=src/sbdenoise/pretrained/sbd-unet-pt-ceo2.safetensors \\
        --model y15100=/work/models/y15100.safetensors

Results: ``benchmarks/results/vacuum_frame_size.{json,md,png}``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from table1 import RESULTS, machine, noise_rng, select, write_results

from sbdenoise.analysis.calibration import vacuum_candidates
from sbdenoise.analysis.likelihood import _pyplot, save_figure
from sbdenoise.denoise.inference import TRAINING_FIELD
from sbdenoise.denoise.registry import SBD_METHOD, prepare
from sbdenoise.metrics import psnr
from sbdenoise.noise.models import sample_poisson
from sbdenoise.progress import progress_bar
from sbdenoise.simulate.store import SimulatedDataset

#: Vacuum dose (e-/px) and pixel size (A): the gate's.
DOSE, PIXEL = 0.45, 0.061
#: Frame sides, detector pixels (512: the gate's vacuum frames).
SIDES = (512, 768, 1024, 1536)
#: Noise stream of the validation draws (not the gate's, not the training's).
STREAM = 31
#: Inference modes: name -> the sbd method's ``field`` parameter.
MODES = {"whole frame": None, "training field": TRAINING_FIELD}


def frames_for(side: int, megapixels: float) -> int:
    """Frames of ``side`` px that hold about ``megapixels`` (at least 2)."""
    return max(2, round(megapixels * 1e6 / side**2))


def vacuum_row(method: Any, side: int, megapixels: float, seed: int) -> dict[str, Any]:
    """Candidates the method draws in vacuum frames of one side."""
    frames = frames_for(side, megapixels)
    start = time.perf_counter()
    found = vacuum_candidates(
        lambda counts: method.denoise_frame(counts, PIXEL),
        dose=DOSE,
        pixel_size=PIXEL,
        frames=frames,
        side=side,
        seed=seed + side,
    )
    return {
        "side_px": side,
        "frames": frames,
        "megapixels": frames * side**2 / 1e6,
        "candidates": found.total,
        "candidates_per_mpx": found.per_megapixel,
        "frames_with_candidates": found.frames_with_candidates,
        "seconds": time.perf_counter() - start,
    }


def validation_psnr(method: Any, data: SimulatedDataset, indices: np.ndarray) -> dict[str, Any]:
    """Mean PSNR (dB, peak 1 e-/px) and seconds per image on validation images."""
    scores, seconds = [], 0.0
    for index in indices:
        clean = data.image(int(index)).astype(np.float64)
        noisy = sample_poisson(clean, noise_rng(STREAM, 0, int(index)))
        start = time.perf_counter()
        estimate = method.denoise_frame(noisy, float(data.params["pixel_size"][index]))
        seconds += time.perf_counter() - start
        scores.append(psnr(estimate, clean))
    return {
        "psnr": float(np.mean(scores)),
        "psnr_per_image": [float(s) for s in scores],
        "seconds_per_image": seconds / len(indices),
    }


def markdown(result: dict[str, Any]) -> str:
    """The tables of a run."""
    lines = [
        "# Phantom particles in vacuum against the frame side",
        "",
        f"Pure Poisson vacuum at {DOSE} e-/px and {PIXEL} A/px, about {result['megapixels']:g} "
        "Mpx per side (the frames below), candidate columns by the trust analysis's rule; "
        "`whole frame` is the default inference, `training field` tiles no larger than the "
        f'crop the model was trained on (`field="training"`). Command: `{result["command"]}`; '
        f"{result['minutes']:.1f} min, torch threads {result['threads']}.",
        "",
        "| model | mode | side (px) | working px | frames | candidates per Mpx | "
        "frames with candidates |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for model in result["models"]:
        for mode, rows in model["vacuum"].items():
            for row in rows:
                lines.append(
                    f"| {model['name']} | {mode} | {row['side_px']} | "
                    f"{row['side_px'] // model['binning']} | {row['frames']} | "
                    f"{row['candidates_per_mpx']:.1f} | {row['frames_with_candidates']} of "
                    f"{row['frames']} |"
                )
    lines += [
        "",
        f"## Validation PSNR ({result['validation_images']} {result['contrast']} images of the "
        f"`val` split of `{result['dataset']}`, one draw at the dataset dose, stream {STREAM})",
        "",
        "| model | mode | PSNR (dB) | difference to the first mode (dB) | s per image |",
        "|---|---|---:|---:|---:|",
    ]
    for model in result["models"]:
        base = next(iter(model["validation"].values()))
        for mode, row in model["validation"].items():
            diff = np.asarray(row["psnr_per_image"]) - np.asarray(base["psnr_per_image"])
            spread = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else 0.0
            lines.append(
                f"| {model['name']} | {mode} | {row['psnr']:.3f} | "
                f"{diff.mean():+.3f} ± {spread:.3f} | {row['seconds_per_image']:.2f} |"
            )
    return "\n".join(lines) + "\n"


def figure(result: dict[str, Any], path: Path) -> None:
    """Candidates per megapixel against the frame side, one line per model and mode."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    styles = {"whole frame": "-o", "training field": "--s"}
    for model in result["models"]:
        for mode, rows in model["vacuum"].items():
            sides = [row["side_px"] for row in rows]
            rates = [max(row["candidates_per_mpx"], 0.1) for row in rows]
            ax.plot(sides, rates, styles.get(mode, "-"), label=f"{model['name']}, {mode}")
    ax.set_yscale("log")
    sides = {row["side_px"] for m in result["models"] for r in m["vacuum"].values() for row in r}
    ax.set_xticks(sorted(sides))
    ax.set_xlabel("vacuum frame side, detector px (0.061 A/px)")
    ax.set_ylabel("candidate columns per Mpx (0.1 = none)")
    ax.set_title("Columns drawn in pure vacuum, 0.45 e-/px")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, required=True, help="dataset with a val split")
    parser.add_argument(
        "--model", action="append", required=True, help="NAME=PATH of a model file (repeatable)"
    )
    parser.add_argument("--megapixels", type=float, default=8.0, help="vacuum area per side")
    parser.add_argument("--validation-images", type=int, default=24)
    parser.add_argument(
        "--contrast", default="white", help="contrast class of the validation images, or all"
    )
    parser.add_argument("--seed", type=int, default=11, help="seed of the vacuum frames")
    parser.add_argument(
        "--sides",
        type=lambda text: [int(side) for side in text.split(",")],
        default=list(SIDES),
        help="frame sides, detector px, comma separated",
    )
    parser.add_argument(
        "--modes",
        type=lambda text: [mode.strip() for mode in text.split(",")],
        default=list(MODES),
        help=f"inference modes, comma separated: {', '.join(MODES)}",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--stem", default="vacuum_frame_size")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    unknown = set(args.modes) - set(MODES)
    if unknown:
        raise SystemExit(f"unknown modes {sorted(unknown)}; choose from {list(MODES)}")
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    data = SimulatedDataset(args.dataset)
    indices = select(data, "val", args.contrast)[: args.validation_images]
    if not len(indices):
        raise SystemExit(f"{args.dataset} has no validation images of contrast {args.contrast}")
    models = []
    for item in args.model:
        name, _, path = item.partition("=")
        if not name or not path:
            raise SystemExit(f"--model {item!r}: expected NAME=PATH")
        entry: dict[str, Any] = {"name": name, "path": path, "vacuum": {}, "validation": {}}
        for mode in args.modes:
            method = prepare(SBD_METHOD, {"field": MODES[mode]}, model=Path(path))
            entry["binning"] = round(method.card.sampling / PIXEL)
            entry["vacuum"][mode] = [
                vacuum_row(method, side, args.megapixels, args.seed)
                for side in progress_bar(args.sides, f"{name}, {mode}")
            ]
            entry["validation"][mode] = validation_psnr(method, data, indices)
        models.append(entry)
    result = {
        "command": "python benchmarks/vacuum_frame_size.py " + " ".join(argv or sys.argv[1:]),
        "machine": machine("cpu"),
        "threads": args.threads,
        "dataset": str(args.dataset),
        "validation_images": len(indices),
        "contrast": args.contrast,
        "megapixels": args.megapixels,
        "dose_e_per_px": DOSE,
        "pixel_size_A": PIXEL,
        "models": models,
        "minutes": (time.perf_counter() - started) / 60,
    }
    text = markdown(result)
    write_results(args.output, args.stem, result, text)
    figure(result, args.output / f"{args.stem}.png")
    print(text)
    return result


if __name__ == "__main__":
    main()
