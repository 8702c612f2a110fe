"""The column detector's contrast threshold, chosen on a surface set the evaluation never scores.

``detect_columns`` keeps a Laplacian-of-Gaussian peak when the column stands ``min_contrast``
(a fraction of the image's median) above its surroundings. Surface Pt columns under strong
vibration, or short ones, stand only 15-20 % above the median, so the threshold decides how
many of them any method can be credited with. This scores the surface and bulk Jaccard of the Pt
columns (``sbdenoise evaluate``'s code, one Poisson draw per image, the draws of
``benchmarks/surface_evaluation.py``) at several thresholds on a surface set simulated with
another seed than the scored one, for the noise-free frames (the detector's ceiling) and for
denoised ones::

    sbdenoise simulate --preset surface --seed 20261207 -o /work/data/surface-val
    .venv/bin/python benchmarks/detector_threshold.py --dataset /work/data/surface-val \\
        --method clean --thresholds 0.2,0.15,0.1,0.075

Each run writes ``detector_threshold_<method>.json`` under ``--output``; ``--merge`` turns the
runs found there into ``detector_threshold.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dose_sweep import bm3d_params
from surface_evaluation import SEED
from table1 import RESULTS, machine, machine_line

from sbdenoise.analysis.evaluation import CLEAN_REFERENCE, evaluate
from sbdenoise.denoise.registry import prepare

#: Seed of the surface set the threshold is chosen on (the scored set uses the preset's).
VALIDATION_SEED = 20261207


def cached_denoiser(name: str) -> Any:
    """``denoiser(counts, pixel_size)`` of a registry method that denoises each frame once."""
    prepared = prepare(name, bm3d_params(RESULTS / "table1.json") if name == "vst-bm3d" else None)
    cache: dict[str, np.ndarray] = {}

    def denoise(counts: np.ndarray, pixel_size: float) -> np.ndarray:
        key = hashlib.sha1(np.ascontiguousarray(counts).tobytes()).hexdigest()
        if key not in cache:
            cache[key] = prepared.denoise_frame(counts, pixel_size)
        return cache[key]

    denoise.__name__ = name
    return denoise


def summary(values: dict[str, np.ndarray]) -> dict[str, float | int]:
    """Median and mean surface and bulk Jaccard, images below 0.9, mean precision and recall."""
    surface = values["surface_jaccard"]
    return {
        "surface_median": float(np.nanmedian(surface)),
        "surface_mean": float(np.nanmean(surface)),
        "below_09": int(np.sum(surface < 0.9)),
        "n": int(surface.size),
        "precision": float(np.nanmean(values["surface_precision"])),
        "recall": float(np.nanmean(values["surface_recall"])),
        "bulk_median": float(np.nanmedian(values["bulk_jaccard"])),
        "bulk_mean": float(np.nanmean(values["bulk_jaccard"])),
    }


def measure(dataset: Path, method: str, thresholds: list[float], draws: int) -> dict[str, Any]:
    """Scores of one method at each threshold (the frames denoised once)."""
    denoiser = CLEAN_REFERENCE if method == CLEAN_REFERENCE else cached_denoiser(method)
    rows = {}
    for threshold in thresholds:
        start = time.perf_counter()
        result = evaluate(
            dataset,
            denoiser,
            n_realisations=draws,
            split="test",
            seed=SEED,
            detection={"min_contrast": threshold},
            elements=("Pt",),
        )
        metrics = ("surface_jaccard", "surface_precision", "surface_recall", "bulk_jaccard")
        rows[f"{threshold:g}"] = summary({m: result.metric(m) for m in metrics})
        print(f"{method} {threshold:g}: {rows[f'{threshold:g}']}", flush=True)
        rows[f"{threshold:g}"]["seconds"] = time.perf_counter() - start
    return {"method": method, "dataset": str(dataset), "draws": draws, "thresholds": rows}


def markdown(runs: list[dict[str, Any]], info: dict[str, Any]) -> str:
    """The merged runs as a Markdown report."""
    lines = [
        "# The column detector's contrast threshold, on a surface set simulated with another seed",
        "",
        machine_line(info),
        f"Dataset `{runs[0]['dataset']}` (`sbdenoise simulate --preset surface --seed "
        f"{VALIDATION_SEED}`: 132 images, none of them in the scored surface set), "
        f"{runs[0]['draws']} Poisson draw per image at the dataset dose, Pt columns. Command per "
        "method: `python benchmarks/detector_threshold.py --dataset DATASET --method METHOD "
        "--thresholds ...`; merged with `--merge`. Surface Jaccard median / mean, images below "
        "0.9, mean surface precision and recall, bulk Jaccard median / mean.",
        "",
        "| method | min_contrast | surface Jaccard (median / mean) | below 0.9 | precision | "
        "recall | bulk Jaccard (median / mean) |",
        "|---|---:|---|---:|---:|---:|---|",
    ]
    for run in runs:
        best = max(run["thresholds"], key=lambda t: run["thresholds"][t]["surface_mean"])
        for threshold, r in run["thresholds"].items():
            mark = " (best)" if threshold == best else ""
            lines.append(
                f"| {run['method']} | {threshold}{mark} | {r['surface_median']:.3f} / "
                f"{r['surface_mean']:.3f} | {r['below_09']} of {r['n']} | {r['precision']:.3f} | "
                f"{r['recall']:.3f} | {r['bulk_median']:.3f} / {r['bulk_mean']:.3f} |"
            )
    notes = [f"- {run['method']}: {run['note']}" for run in runs if run.get("note")]
    if notes:
        lines += ["", "Notes:", *notes]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, help="surface set simulated with another seed")
    parser.add_argument("--method", default=CLEAN_REFERENCE, help="clean, sbd, vst-bm3d, ...")
    parser.add_argument("--thresholds", default="0.2,0.15,0.1,0.075", help="min_contrast values")
    parser.add_argument("--draws", type=int, default=1, help="Poisson draws per image")
    parser.add_argument("--output", type=Path, default=RESULTS, help="results folder")
    parser.add_argument("--merge", action="store_true", help="write the report from the runs")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.merge:
        runs = [
            json.loads(path.read_text())
            for path in sorted(args.output.glob("detector_threshold_*.json"))
        ]
        text = markdown(runs, runs[0]["machine"])
        (args.output / "detector_threshold.md").write_text(text)
        print(text)
        return
    if args.dataset is None:
        raise SystemExit("--dataset is needed to measure")
    import torch

    torch.set_num_threads(1)
    thresholds = [float(t) for t in args.thresholds.split(",")]
    run = measure(args.dataset, args.method, thresholds, args.draws)
    run["machine"] = machine("cpu")
    args.output.mkdir(parents=True, exist_ok=True)
    path = args.output / f"detector_threshold_{args.method}.json"
    path.write_text(json.dumps(run, indent=1) + "\n")


if __name__ == "__main__":
    main()
