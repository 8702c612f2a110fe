"""Surface and bulk column structure recovered by each method on the surface-evaluation set.

The papers judge a denoiser as scientists use it: detect the atomic columns of the denoised frame
and compare the particle's surface with the truth (precision, recall, F1, Jaccard of surface and
bulk columns, their Fig. 5). This runs :func:`sbdenoise.analysis.evaluation.evaluate` (the code of
``sbdenoise evaluate``) for every method on the same images and the same Poisson draws (the noise
of draw ``r`` of image ``i`` is seeded by ``(seed, i, r)`` whatever the method), then draws the
methods side by side and tabulates medians over (image, draw). Simulate the set first::

    sbdenoise simulate --preset surface -o /work/data/surface
    .venv/bin/python benchmarks/surface_evaluation.py --dataset /work/data/surface --draws 5

Writes ``surface_evaluation.{json,md,png}`` and each method's own evaluation folder (CSV per image
and per column) under ``--work``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dose_sweep import bm3d_params
from table1 import RESULTS, machine, spread, write_results

from sbdenoise.analysis.columns import DEFAULT_MIN_CONTRAST
from sbdenoise.analysis.evaluation import STRUCTURE_METRICS, EvaluationResult, evaluate
from sbdenoise.analysis.likelihood import _pyplot, save_figure
from sbdenoise.simulate.store import SimulatedDataset

#: Seed of the Poisson draws (shared by all methods).
SEED = 5
#: Colours of the methods in the figure, in order.
COLOURS = ("#1b7837", "#762a83", "#e08214", "#4393c3")
PARTS = ("surface", "bulk")


def method_params(name: str, ensemble: int = 1) -> dict[str, Any]:
    """Parameters of a method: VST+BM3D tuned in Table 1, sbd with its self-ensemble size, the
    others their defaults."""
    if name == "vst-bm3d":
        return bm3d_params(RESULTS / "table1.json")
    return {"ensemble": ensemble} if name == "sbd" else {}


def detection_thresholds(pairs: list[str]) -> dict[str, dict[str, float]]:
    """``["vst-bm3d=0.075"]`` -> ``{"vst-bm3d": {"min_contrast": 0.075}}`` (detector keywords)."""
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--min-contrast wants METHOD=VALUE, got {pair!r}")
        out[name] = {"min_contrast": float(value)}
    return out


def quartiles(values: np.ndarray) -> dict[str, float | None]:
    """Median and quartiles of the finite values (None when there are none)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return {"median": None, "q1": None, "q3": None, "n": 0}
    q1, median, q3 = np.percentile(finite, [25, 50, 75])
    return {"median": float(median), "q1": float(q1), "q3": float(q3), "n": int(finite.size)}


def summarise(result: EvaluationResult, seconds: float) -> dict[str, Any]:
    """Medians of the structure metrics and PSNR of one method, and its time per frame."""
    entry: dict[str, Any] = {
        "psnr": quartiles(result.metric("psnr")),
        "likelihood_auc": result.validation.auc,
        "seconds_per_frame": seconds / max(len(result.rows), 1),
    }
    for part in (*PARTS, "all"):
        for metric in STRUCTURE_METRICS:
            entry[f"{part}_{metric}"] = quartiles(result.metric(f"{part}_{metric}"))
    false_positives = result.metric("surface_false_positives")
    entry["surface_false_positives_per_frame"] = (
        float(np.nanmean(false_positives)) if false_positives.size else None
    )
    return entry


def plot(results: dict[str, EvaluationResult], path: Path, title: str) -> Path:
    """Box plots of each metric, surface and bulk, the methods side by side; PSNR last."""
    plt = _pyplot()
    names = list(results)
    fig, axes = plt.subplots(
        1, len(STRUCTURE_METRICS) + 1, figsize=(3.3 * (len(STRUCTURE_METRICS) + 1), 4.6),
        constrained_layout=True,
    )  # fmt: skip
    width = 0.8 / len(names)
    for ax, metric in zip(axes[:-1], STRUCTURE_METRICS, strict=True):
        for m, name in enumerate(names):
            for p, part in enumerate(PARTS):
                values = results[name].metric(f"{part}_{metric}")
                values = values[np.isfinite(values)]
                if values.size == 0:
                    continue
                centre = p + (m - (len(names) - 1) / 2) * width
                box = ax.boxplot(
                    [values], positions=[centre], widths=width * 0.85, patch_artist=True,
                    medianprops={"color": "black"}, flierprops={"markersize": 2},
                )  # fmt: skip
                box["boxes"][0].set_facecolor(COLOURS[m % len(COLOURS)])
                box["boxes"][0].set_alpha(0.8)
        ax.set_xticks(range(len(PARTS)), PARTS)
        ax.set_xlim(-0.55, len(PARTS) - 0.45)
        ax.set_ylim(-0.03, 1.03)
        ax.set_title(metric if metric != "f1" else "F1")
        ax.grid(axis="y", alpha=0.3)
    ax = axes[-1]
    for m, name in enumerate(names):
        values = results[name].metric("psnr")
        values = values[np.isfinite(values)]
        if values.size == 0:  # the clean reference: the estimate is the truth
            ax.text(m, 0.5, "noise-free\n(no error)", ha="center", va="center", fontsize=9,
                    transform=ax.get_xaxis_transform())  # fmt: skip
            continue
        box = ax.boxplot(
            [values], positions=[m], widths=0.6, patch_artist=True,
            medianprops={"color": "black"}, flierprops={"markersize": 2},
        )  # fmt: skip
        box["boxes"][0].set_facecolor(COLOURS[m % len(COLOURS)])
        box["boxes"][0].set_alpha(0.8)
    ax.set_xticks(range(len(names)), names, rotation=20)
    ax.set_xlim(-0.6, len(names) - 0.4)
    ax.set_title("PSNR (peak 1 e⁻/px)")
    ax.set_ylabel("dB")
    ax.grid(axis="y", alpha=0.3)
    handles = [
        plt.Rectangle((0, 0), 1, 1, color=COLOURS[m % len(COLOURS)], alpha=0.8)
        for m in range(len(names))
    ]
    fig.legend(handles, names, loc="outside lower center", ncol=len(names))
    fig.suptitle(title, fontsize=12)
    return save_figure(fig, path)


def markdown(result: dict[str, Any]) -> str:
    def cell(q: dict[str, Any]) -> str:
        if q["median"] is None:
            return "-"
        return f"{q['median']:.3f} ({q['q1']:.2f}-{q['q3']:.2f})"

    lines = [
        "# Surface-evaluation set: columns recovered, surface and bulk",
        "",
        f"Dataset `{result['dataset']}` ({result['images']} images, {result['draws']} Poisson "
        f"draws each at the dataset dose, the same draws for every method). Medians over "
        "(image, draw), interquartile range in brackets; columns matched within "
        f"{result['match_distance_A']} A; surface columns by the same alpha-shape rule on both "
        f"sides. Scored columns: {', '.join(result['elements']) or 'all'} (true columns of these "
        "elements, and the detected columns nearest to them). Machine: "
        f"{result['machine']['processor']}, {result['machine']['usable_cpus']} usable CPUs, "
        f"torch threads {result['machine']['torch_threads']}. Command: `{result['command']}`. "
        "Column detector threshold (min_contrast) per method: "
        + ", ".join(
            f"{name} {threshold if threshold is not None else DEFAULT_MIN_CONTRAST:g}"
            for name, threshold in result.get("min_contrast", {}).items()
        )
        + " (`detector_threshold.md`).",
        "",
        "| method | surface Jaccard | surface precision | surface recall | surface F1 | "
        "bulk Jaccard | bulk F1 | PSNR (dB) | s / frame |",
        "|---|---|---|---|---|---|---|---|---:|",
    ]
    for name, e in result["methods"].items():
        lines.append(
            f"| {name} | {cell(e['surface_jaccard'])} | {cell(e['surface_precision'])} | "
            f"{cell(e['surface_recall'])} | {cell(e['surface_f1'])} | {cell(e['bulk_jaccard'])} "
            f"| {cell(e['bulk_f1'])} | {cell(e['psnr'])} | {e['seconds_per_frame']:.2f} |"
        )
    lines += ["", "![box plots](surface_evaluation.png)", ""]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--methods", nargs="+", default=["sbd", "vst-bm3d", "pure-let"])
    parser.add_argument("--model", type=Path, default=None, help="sbd model (default: shipped)")
    parser.add_argument(
        "--ensemble", type=int, default=1, help="self-ensemble size of sbd (-p ensemble=N)"
    )
    parser.add_argument("--draws", type=int, default=5, help="Poisson draws per image")
    parser.add_argument("--max-images", type=int, default=None)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--elements", nargs="*", default=["Pt"], help="columns scored (none given: all)"
    )
    parser.add_argument(
        "--min-contrast",
        action="append",
        default=[],
        metavar="METHOD=VALUE",
        help="detector threshold of one method (repeatable; default: the detector's)",
    )
    parser.add_argument("--work", type=Path, default=Path("/tmp/surface_evaluation"))
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--name", default="surface_evaluation")
    parser.add_argument("--quiet", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    data = SimulatedDataset(args.dataset)
    indices = spread(data.indices(split="test"), args.max_images)  # over the set, not its start
    results: dict[str, EvaluationResult] = {}
    summary: dict[str, Any] = {}
    detection = detection_thresholds(args.min_contrast)
    for name in args.methods:
        start = time.perf_counter()
        results[name] = evaluate(
            data,
            name,
            n_realisations=args.draws,
            indices=[int(i) for i in indices],
            params=method_params(name, args.ensemble),
            model=args.model if name == "sbd" else None,
            seed=args.seed,
            elements=args.elements or None,
            detection=detection.get(name),
            output_dir=args.work / name,
            show_progress=not args.quiet,
        )
        summary[name] = summarise(results[name], time.perf_counter() - start)
        print(f"{name}: {summary[name]['surface_jaccard']} ({summary[name]['psnr']})", flush=True)
    result = {
        "command": " ".join(["benchmarks/surface_evaluation.py", *sys.argv[1:]]),
        "dataset": str(args.dataset),
        "images": len(indices),
        "draws": args.draws,
        "seed": args.seed,
        "elements": list(args.elements),
        "match_distance_A": results[args.methods[0]].summary["match_distance_A"],
        "machine": machine("cpu"),
        "min_contrast": {
            name: detection.get(name, {}).get("min_contrast") for name in args.methods
        },
        "methods": summary,
    }
    args.output.mkdir(parents=True, exist_ok=True)
    plot(
        results,
        args.output / f"{args.name}.png",
        f"Surface-evaluation set: {len(indices)} images x {args.draws} noise draws",
    )
    text = markdown(result).replace("surface_evaluation.png", f"{args.name}.png")
    write_results(args.output, args.name, result, text)
    print(text)
    return result


if __name__ == "__main__":
    main()
