"""Geometric self-ensemble of the SBD network, and how it fares when the specimen is turned.

On the gate frames of ``benchmarks/dose_sweep.py`` (every white test image of a dataset, one
Poisson draw each at the dataset dose, the same seeds), two orientations:

- **upright**: the frames as simulated (support below, particle above: the orientations the
  network was trained on, rotations within +-45 degrees and flips);
- **quarter turn**: the same noisy frames turned by 90 degrees (support at the side), denoised,
  and turned back before scoring: what a user whose micrograph shows the support on the left
  gets.

For each model: PSNR (peak 1 e-/px, estimate clipped to [0, 1]) with ``ensemble`` 1, 2, 4 and 8
(the mean over that many symmetries of the square: identity, left-right mirror, up-down mirror,
half turn, then the transposes and quarter turns) and seconds per frame; VST+BM3D (the tuned
parameters of ``table1.json``) on the same frames as the floor. Writes ``ensemble.json`` and
``ensemble.md`` to ``--output``::

    .venv/bin/python benchmarks/ensemble.py --dataset /work/data/shipped-part \\
        --model v3=src/sbdenoise/pretrained/sbd-unet-pt-ceo2.safetensors
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dose_sweep import STREAM, add_model_argument, bm3d_params, model_files, model_params
from table1 import (
    RESULTS,
    machine,
    machine_line,
    mean_std,
    noise_rng,
    select,
    spread,
    write_atomic,
)

from sbdenoise.denoise.inference import ENSEMBLE_SIZES
from sbdenoise.denoise.registry import SBD_METHOD, prepare
from sbdenoise.metrics import psnr
from sbdenoise.noise.models import sample_poisson
from sbdenoise.progress import progress_bar
from sbdenoise.simulate.store import SimulatedDataset

#: Orientations scored: name -> (turn applied to the noisy frame, turn undoing it).
ORIENTATIONS = {
    "upright": (lambda a: a, lambda a: a),
    "quarter turn": (lambda a: np.rot90(a, 1), lambda a: np.rot90(a, -1)),
}


def score(
    data: SimulatedDataset,
    indices: np.ndarray,
    methods: dict[str, Any],
    show: bool,
) -> list[dict[str, Any]]:
    """PSNR and seconds per frame of every method in every orientation."""
    psnrs: dict[tuple[str, str], list[float]] = {}
    seconds: dict[tuple[str, str], float] = {}
    for index in progress_bar(indices, "ensemble", show=show):
        clean = data.image(int(index)).astype(np.float64)
        pixel = float(data.params["pixel_size"][index])
        noisy = sample_poisson(clean, noise_rng(STREAM, 0, int(index)))
        for orientation, (turn, unturn) in ORIENTATIONS.items():
            frame = np.ascontiguousarray(turn(noisy))
            for name, method in methods.items():
                start = time.perf_counter()
                estimate = unturn(method.denoise_frame(frame, pixel))
                key = (orientation, name)
                seconds[key] = seconds.get(key, 0.0) + time.perf_counter() - start
                psnrs.setdefault(key, []).append(psnr(estimate, clean))
    rows = []
    for (orientation, name), values in psnrs.items():
        mean, std = mean_std(values)
        rows.append(
            {
                "orientation": orientation,
                "method": name,
                "psnr": mean,
                "psnr_std": std,
                "seconds_per_frame": seconds[(orientation, name)] / len(indices),
                "psnr_per_image": values,
            }
        )
    return rows


def markdown(result: dict[str, Any]) -> str:
    """The table, one row per method and orientation, with the gain over ensemble 1."""
    m = result["machine"]
    lines = [
        "# Geometric self-ensemble of the SBD network, upright and turned a quarter",
        "",
        f"Command: `{result['command']}` ({result['total_seconds'] / 60:.1f} min).",
        f"{machine_line(m).rstrip('.')}; load average at start {result['load_average']}.",
        "",
        f"{result['n_images']} white {result.get('split', 'test')} images of "
        f"`{result['dataset']}`, one Poisson draw each at the dataset dose (on the test split: "
        "the gate's frames and seeds). PSNR peak 1 e-/px, mean +- std "
        "over images; 'gain' is the mean per-image difference to the same model with ensemble 1 "
        "in the same orientation; seconds per frame on this machine.",
        "",
        "| orientation | method | PSNR (dB) | gain (dB) | s / frame |",
        "|---|---|---|---|---|",
    ]
    rows = result["rows"]
    plain = {(r["orientation"], r["method"]): r for r in rows}
    for row in rows:
        base_name = row["method"].split(" x")[0]
        base = plain.get((row["orientation"], f"{base_name} x1"))
        gain = (
            f"{np.mean(np.subtract(row['psnr_per_image'], base['psnr_per_image'])):+.2f}"
            if base is not None and row["method"] != "vst-bm3d"
            else ""
        )
        lines.append(
            f"| {row['orientation']} | {row['method']} | {row['psnr']:.2f} +- "
            f"{row['psnr_std']:.2f} | {gain} | {row['seconds_per_frame']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, required=True, help="dataset with a test split")
    add_model_argument(parser)
    parser.add_argument(
        "--split",
        choices=("test", "val"),
        default="test",
        help="split scored: test (the gate's frames) or val (choosing a setting on a fresh "
        "validation split)",
    )
    parser.add_argument("--max-images", type=int, default=None, help="spread subset of the split")
    parser.add_argument("--table1", type=Path, default=RESULTS / "table1.json")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument(
        "--ensembles",
        default=",".join(map(str, ENSEMBLE_SIZES)),
        help="ensemble sizes scored per model, comma-separated (1 alone: the orientation check)",
    )
    parser.add_argument("--no-bm3d", action="store_true", help="leave VST+BM3D out")
    parser.add_argument("--name", default="ensemble", help="results file stem")
    parser.add_argument("--output", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    start = time.perf_counter()
    models = model_files(args.model)
    data = SimulatedDataset(args.dataset)
    indices = spread(select(data, args.split, "white"), args.max_images)
    methods: dict[str, Any] = {}
    if not args.no_bm3d:
        methods["vst-bm3d"] = prepare("vst-bm3d", bm3d_params(args.table1))
    params = model_params(args.model)
    for name, path in models.items():
        for size in (int(word) for word in args.ensembles.split(",")):
            methods[f"{name} x{size}"] = prepare(
                SBD_METHOD, {**params.get(name, {}), "ensemble": size}, model=path
            )
    result: dict[str, Any] = {
        "benchmark": "ensemble",
        "command": "python benchmarks/ensemble.py "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "dataset": str(args.dataset),
        "split": args.split,
        "models": {k: str(v) for k, v in models.items()},
        "n_images": len(indices),
        "indices": [int(i) for i in indices],
        "machine": machine("cpu"),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    result["rows"] = score(data, indices, methods, not args.no_progress)
    result["total_seconds"] = time.perf_counter() - start
    args.output.mkdir(parents=True, exist_ok=True)
    write_atomic(args.output / f"{args.name}.json", json.dumps(result, indent=2) + "\n")
    write_atomic(args.output / f"{args.name}.md", markdown(result))
    print(markdown(result))
    return result


if __name__ == "__main__":
    main()
