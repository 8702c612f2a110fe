"""How SBD models fare when the specimen is turned by any angle, not only by quarter turns.

A micrograph shows the particle and its support at whatever angle the specimen sat in the
holder. Networks trained with continuous rotations of the crops (``--rotation``) see every angle;
those trained with small rotations plus exact quarter turns (``--rotation 8 --quarter-turns``,
which allows larger crops) see angles within a few degrees of the square's symmetries only. This
measures what that costs.

For every white test image of a dataset (or a spread subset), the noise-free image is turned by
each angle (cubic spline, about its centre), the largest centred square that holds only turned
image is cut out, one Poisson draw at the dataset dose is taken (fixed seed per image and angle),
and each model denoises it; PSNR (peak 1 e-/px, estimate clipped to [0, 1]) against the turned
noise-free square. VST+BM3D (the tuned parameters of ``table1.json``) is the floor. Writes
``rotation.json`` and ``rotation.md``::

    .venv/bin/python benchmarks/rotation.py --dataset /work/data/shipped-part \\
        --model v7=src/sbdenoise/pretrained/sbd-unet-pt-ceo2.safetensors \\
        --model o=/work/models/o-b.safetensors --max-images 16
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage as ndi

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dose_sweep import add_model_argument, bm3d_params, denoisers, model_files, model_params
from table1 import (
    RESULTS,
    machine,
    machine_line,
    mean_std,
    noise_rng,
    select,
    spread,
    write_results,
)

from sbdenoise.metrics import psnr
from sbdenoise.noise.models import sample_poisson
from sbdenoise.progress import progress_bar
from sbdenoise.simulate.store import SimulatedDataset

#: Angles scored, degrees (0: as simulated; 90 is exact, the others interpolated).
ANGLES = (0.0, 15.0, 30.0, 45.0, 90.0)
#: Seed stream of this benchmark's noise.
STREAM = 21


def turned_square(image: np.ndarray, angle_deg: float) -> np.ndarray:
    """``image`` turned by ``angle_deg`` about its centre, cut to the largest clean square.

    Parameters
    ----------
    image : numpy.ndarray
        ``(n, n)`` noise-free image, e-/px.
    angle_deg : float
        Counter-clockwise angle, degrees.

    Returns
    -------
    numpy.ndarray
        ``(m, m)`` with ``m = floor(n / (|cos| + |sin|))`` less a 2 px margin for the spline:
        every pixel comes from inside the original image.
    """
    if angle_deg % 90 == 0:
        return np.rot90(image, int(angle_deg // 90)).copy()
    turned = ndi.rotate(image, angle_deg, reshape=False, order=3, mode="nearest")
    theta = math.radians(angle_deg)
    side = int(image.shape[0] / (abs(math.cos(theta)) + abs(math.sin(theta)))) - 4
    start = (image.shape[0] - side) // 2
    return np.clip(turned[start : start + side, start : start + side], 0.0, None)


def score(
    data: SimulatedDataset, indices: np.ndarray, methods: dict[str, Any], show: bool
) -> dict[str, Any]:
    """PSNR per method and angle over the chosen images, and seconds per frame."""
    psnrs = {name: {angle: [] for angle in ANGLES} for name in methods}
    seconds = dict.fromkeys(methods, 0.0)
    frames = 0
    jobs = [(int(i), k, angle) for i in indices for k, angle in enumerate(ANGLES)]
    for index, k, angle in progress_bar(jobs, "rotation", show=show):
        clean = turned_square(data.image(index).astype(np.float64), angle)
        pixel = float(data.params["pixel_size"][index])
        noisy = sample_poisson(clean, noise_rng(STREAM, k, index))
        frames += 1
        for name, method in methods.items():
            start = time.perf_counter()
            estimate = method.denoise_frame(noisy, pixel)
            seconds[name] += time.perf_counter() - start
            psnrs[name][angle].append(psnr(estimate, clean))
    rows = {}
    for name in methods:
        rows[name] = {
            str(angle): {
                "psnr": mean_std(values)[0],
                "psnr_std": mean_std(values)[1],
                "psnr_per_image": values,
            }
            for angle, values in psnrs[name].items()
        }
        rows[name]["seconds_per_frame"] = seconds[name] / max(frames, 1)
    return {"n_images": len(indices), "indices": [int(i) for i in indices], "rows": rows}


def markdown(result: dict[str, Any]) -> str:
    """One table: PSNR per angle, and each model's paired difference to the first model."""
    rows = result["scores"]["rows"]
    names = list(rows)
    models = [n for n in names if n != "vst-bm3d"]
    angles = [str(a) for a in ANGLES]
    lines = [
        "# SBD when the specimen is turned by any angle",
        "",
        f"{machine_line(result['machine'])} Command: `{result['command']}`. "
        f"{result['scores']['n_images']} white test images of `{result['dataset']}`, each turned "
        "(cubic spline, largest clean centred square), one Poisson draw per image and angle at "
        f"the dataset dose; {result['total_seconds'] / 60:.1f} min.",
        "",
        "| method | " + " | ".join(f"{float(a):g}°" for a in angles) + " | s / frame |",
        "|---|" + "---:|" * (len(angles) + 1),
    ]
    for name in names:
        cells = [f"{rows[name][a]['psnr']:.2f} ± {rows[name][a]['psnr_std']:.2f}" for a in angles]
        lines.append(
            f"| {name} | " + " | ".join(cells) + f" | {rows[name]['seconds_per_frame']:.2f} |"
        )
    if len(models) > 1:
        first = models[0]
        lines += ["", f"Paired difference to {first} (dB, mean ± standard error):", ""]
        lines += [
            "| model | " + " | ".join(f"{float(a):g}°" for a in angles) + " |",
            "|---|" + "---:|" * len(angles),
        ]
        for name in models[1:]:
            cells = []
            for a in angles:
                diff = np.subtract(
                    rows[name][a]["psnr_per_image"], rows[first][a]["psnr_per_image"]
                )
                error = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else float("nan")
                cells.append(f"{diff.mean():+.3f} ± {error:.3f}")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, required=True, help="dataset with a test split")
    add_model_argument(parser)
    parser.add_argument("--max-images", type=int, default=16, help="spread subset of the test")
    parser.add_argument("--table1", type=Path, default=RESULTS / "table1.json")
    parser.add_argument("--no-bm3d", action="store_true", help="leave VST+BM3D out")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--name", default="rotation", help="results file stem")
    parser.add_argument("--output", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    start = time.perf_counter()
    data = SimulatedDataset(args.dataset)
    models = model_files(args.model)
    methods = denoisers(models, bm3d_params(args.table1), model_params(args.model))
    if args.no_bm3d:
        del methods["vst-bm3d"]
    indices = spread(select(data, "test", "white"), args.max_images)
    result: dict[str, Any] = {
        "benchmark": "rotation",
        "command": "python benchmarks/rotation.py "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "dataset": str(args.dataset),
        "models": {k: str(v) for k, v in models.items()},
        "angles_deg": list(ANGLES),
        "machine": machine("cpu"),
        "scores": score(data, indices, methods, not args.no_progress),
    }
    result["total_seconds"] = time.perf_counter() - start
    text = markdown(result)
    write_results(args.output, args.name, result, text)
    print(text)
    return result


if __name__ == "__main__":
    main()
