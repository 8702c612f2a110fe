"""Surface structure recovered against dose: is the surface Jaccard short of data or of the model?

The surface-evaluation set is scored at the papers' 0.45 e-/px. This benchmark scores the same
structures at other doses (the noise-free frames scaled, fresh Poisson draws; ``evaluate(...,
dose=D)``, the code of ``sbdenoise evaluate --dose``) and reports, per method and dose, the
median surface Jaccard with its quartiles and the share of frames at or above 0.9, and for each
method the recall of the true surface columns by the number of atoms they hold. A detector that
finds every column on the noise-free frames (``clean``, one row: its scores do not depend on the
dose) bounds what any denoiser can reach with this detector. Where a method's curve keeps rising
with dose, its shortfall at 0.45 e-/px is the noise (too few electrons per column for a single
frame), not the detector or the scoring::

    .venv/bin/python benchmarks/surface_dose.py --dataset /work/data/surface

Writes ``surface_dose.{json,md,png}`` to ``--output``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from surface_evaluation import detection_thresholds, method_params, quartiles
from table1 import RESULTS, machine, machine_line, spread, write_results

from sbdenoise.analysis.columns import DEFAULT_MIN_CONTRAST
from sbdenoise.analysis.evaluation import CLEAN_REFERENCE, EvaluationResult, evaluate
from sbdenoise.analysis.likelihood import _pyplot, save_figure
from sbdenoise.progress import progress_bar
from sbdenoise.simulate.store import SimulatedDataset

#: Seed of the Poisson draws (that of ``surface_evaluation.py``; shared by all methods).
SEED = 5
#: Doses scored by default, e-/px (the network's training range is 0.15-1.5 at 0.061 A/px).
DOSES = (0.15, 0.3, 0.45, 0.6, 1.0, 1.5)
#: Classes of surface columns by atom count, for the recall breakdown: (label, low, high).
ATOM_CLASSES = (("1 atom", 1, 1), ("2", 2, 2), ("3-4", 3, 4), ("5-7", 5, 7), ("8+", 8, 10**6))
#: The issue's target for the median surface Jaccard.
TARGET = 0.9
COLOURS = ("#1b7837", "#762a83", "#e08214", "#4393c3")


def recall_by_atoms(result: EvaluationResult) -> dict[str, dict[str, float | int]]:
    """Share of the true surface columns found (matched by any detection), by atom count."""
    surface = [t for t in result.truth_columns if t["surface"]]
    out: dict[str, dict[str, float | int]] = {}
    for label, low, high in ATOM_CLASSES:
        found = [t["found"] for t in surface if low <= t["n_atoms"] <= high]
        out[label] = {"n": len(found), "recall": float(np.mean(found)) if found else float("nan")}
    return out


def summarise(result: EvaluationResult, seconds: float) -> dict[str, Any]:
    """Quartiles of the surface scores, the share of frames at the target, recall by atoms."""
    jaccard = result.metric("surface_jaccard")
    finite = jaccard[np.isfinite(jaccard)]
    return {
        "surface_jaccard": quartiles(jaccard),
        "surface_jaccard_mean": float(finite.mean()) if finite.size else None,
        "frames_at_target": float(np.mean(finite >= TARGET)) if finite.size else None,
        "surface_precision": quartiles(result.metric("surface_precision")),
        "surface_recall": quartiles(result.metric("surface_recall")),
        "bulk_jaccard": quartiles(result.metric("bulk_jaccard")),
        "psnr": quartiles(result.metric("psnr")),
        "recall_by_atoms": recall_by_atoms(result),
        "frames": len(result.rows),
        "seconds_per_frame": seconds / max(len(result.rows), 1),
    }


def plot(result: dict[str, Any], path: Path) -> Path:
    """Median surface Jaccard against dose (quartile band), and recall by atom count."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8), constrained_layout=True)
    for m, (name, by_dose) in enumerate(result["methods"].items()):
        doses = sorted(by_dose, key=float)
        x = [float(d) for d in doses]
        med = [by_dose[d]["surface_jaccard"]["median"] for d in doses]
        q1 = [by_dose[d]["surface_jaccard"]["q1"] for d in doses]
        q3 = [by_dose[d]["surface_jaccard"]["q3"] for d in doses]
        colour = COLOURS[m % len(COLOURS)]
        left.plot(x, med, "o-", color=colour, label=f"{name} (median)")
        left.fill_between(x, q1, q3, color=colour, alpha=0.15)
        for k, (label, _, _) in enumerate(ATOM_CLASSES):
            recall = [by_dose[d]["recall_by_atoms"][label]["recall"] for d in doses]
            right.plot(x, recall, "o-" if m == 0 else "s--", color=plt.cm.viridis(k / 4.5),
                       label=f"{name}: {label}")  # fmt: skip
    clean = result.get("clean")
    if clean is not None:
        left.axhline(clean["surface_jaccard"]["median"], color="0.3", lw=1,
                     label="noise-free frame (detector ceiling)")  # fmt: skip
        for k, (label, _, _) in enumerate(ATOM_CLASSES):
            right.axhline(clean["recall_by_atoms"][label]["recall"], color=plt.cm.viridis(k / 4.5),
                          ls=":", lw=1)  # fmt: skip
        right.plot([], [], ls=":", color="0.3", label="noise-free frame")
    left.axhline(TARGET, color="crimson", ls=":", lw=1.2, label=f"target {TARGET}")
    left.axvline(0.45, color="0.6", ls="--", lw=0.8)
    right.axvline(0.45, color="0.6", ls="--", lw=0.8)
    ticks = sorted({float(d) for by_dose in result["methods"].values() for d in by_dose})
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set_xticks(ticks, [f"{d:g}" for d in ticks])
        ax.minorticks_off()
        ax.set_xlabel("dose (e⁻/px at the set's pixel size)")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3, which="both")
    left.set_ylabel("surface Jaccard (median, quartile band)")
    left.set_title("Surface columns recovered against dose")
    left.legend(fontsize=8, loc="lower right")
    right.set_ylabel("share of true surface columns found")
    right.set_title("Surface columns found, by atoms per column")
    right.legend(fontsize=7, ncol=2, loc="lower right")
    return save_figure(fig, path)


def markdown(result: dict[str, Any], name: str) -> str:
    def q(entry: dict[str, Any]) -> str:
        return (
            "-"
            if entry["median"] is None
            else (f"{entry['median']:.3f} ({entry['q1']:.2f}-{entry['q3']:.2f})")
        )

    labels = [label for label, _, _ in ATOM_CLASSES]
    lines = [
        "# Surface columns recovered against dose",
        "",
        machine_line(result["machine"]),
        f"Dataset `{result['dataset']}`: {result['images']} images x {result['draws']} Poisson "
        f"draw(s) per dose (seed {result['seed']}), the noise-free frames scaled to each dose; "
        f"columns of {', '.join(result['elements'])} scored as in `surface_evaluation.md` "
        "(matched within 0.5 A, surface by the same alpha-shape rule on both sides). Detector "
        "threshold per method: "
        + ", ".join(f"{k} {v:g}" for k, v in result["min_contrast"].items())
        + f". Command: `{result['command']}` ({result['minutes']:.0f} min).",
        "",
        "| method | dose e-/px | dose e-/A^2 | surface Jaccard median (quartiles) | mean | frames "
        f">= {TARGET} | surface precision | surface recall | "
        + " | ".join(f"found: {label}" for label in labels)
        + " |",
        "|---|---:|---:|---|---:|---:|---|---|" + "---:|" * len(labels),
    ]
    rows = [(n, d, e) for n, by_dose in result["methods"].items() for d, e in by_dose.items()]
    if result.get("clean") is not None:
        rows.append(("clean (noise-free frame)", None, result["clean"]))
    for method, dose, e in rows:
        dose_cells = (
            f"{float(dose):g} | {float(dose) / result['pixel_size'] ** 2:.0f}"
            if dose is not None
            else "any | any"
        )
        found = " | ".join(f"{e['recall_by_atoms'][label]['recall']:.2f}" for label in labels)
        lines.append(
            f"| {method} | {dose_cells} | {q(e['surface_jaccard'])} | "
            f"{e['surface_jaccard_mean']:.3f} | {e['frames_at_target']:.0%} | "
            f"{q(e['surface_precision'])} | {q(e['surface_recall'])} | {found} |"
        )
    counts = result["methods"][next(iter(result["methods"]))]
    first = counts[next(iter(counts))]["recall_by_atoms"]
    lines += [
        "",
        "True surface columns per class (per draw, all images): "
        + ", ".join(f"{label} {first[label]['n']}" for label in labels)
        + ". 'found': a detection (surface or bulk) within 0.5 A of the true column.",
        "",
        f"![surface Jaccard against dose]({name}.png)",
        "",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--methods", nargs="+", default=["sbd"])
    parser.add_argument("--model", type=Path, default=None, help="sbd model (default: shipped)")
    parser.add_argument("--doses", default=",".join(f"{d:g}" for d in DOSES),
                        help="comma-separated doses, e-/px")  # fmt: skip
    parser.add_argument("--draws", type=int, default=1, help="Poisson draws per image and dose")
    parser.add_argument("--max-images", type=int, default=None)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--elements", nargs="*", default=["Pt"])
    parser.add_argument("--min-contrast", action="append", default=[], metavar="METHOD=VALUE")
    parser.add_argument("--no-clean", action="store_true", help="skip the noise-free row")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--name", default="surface_dose")
    parser.add_argument("--quiet", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    started = time.perf_counter()
    data = SimulatedDataset(args.dataset)
    indices = [int(i) for i in spread(data.indices(split="test"), args.max_images)]
    doses = [float(d) for d in args.doses.split(",") if d.strip()]
    detection = detection_thresholds(args.min_contrast)
    common = {
        "n_realisations": args.draws,
        "indices": indices,
        "seed": args.seed,
        "elements": args.elements or None,
    }
    methods: dict[str, dict[str, Any]] = {}
    jobs = [(name, dose) for name in args.methods for dose in doses]
    for name, dose in progress_bar(jobs, "methods x doses", not args.quiet):
        start = time.perf_counter()
        result = evaluate(
            data,
            name,
            params=method_params(name),
            model=args.model if name == "sbd" else None,
            dose=dose,
            detection=detection.get(name),
            **common,
        )
        entry = summarise(result, time.perf_counter() - start)
        methods.setdefault(name, {})[f"{dose:g}"] = entry
        print(f"{name} at {dose:g} e-/px: surface Jaccard {entry['surface_jaccard']}", flush=True)
    clean = None
    if not args.no_clean:
        start = time.perf_counter()
        reference = evaluate(data, CLEAN_REFERENCE, detection=detection.get("clean"), **common)
        clean = summarise(reference, time.perf_counter() - start)
    result = {
        "command": " ".join(["benchmarks/surface_dose.py", *(argv or sys.argv[1:])]),
        "dataset": str(args.dataset),
        "images": len(indices),
        "draws": args.draws,
        "seed": args.seed,
        "elements": list(args.elements),
        "pixel_size": float(np.median(np.asarray(data.params["pixel_size"])[indices])),
        "machine": machine("cpu"),
        "min_contrast": {
            name: detection.get(name, {}).get("min_contrast", DEFAULT_MIN_CONTRAST)
            for name in [*args.methods, *([] if args.no_clean else ["clean"])]
        },
        "methods": methods,
        "clean": clean,
        "minutes": (time.perf_counter() - started) / 60,
    }
    plot(result, args.output / f"{args.name}.png")
    text = markdown(result, args.name)
    write_results(args.output, args.name, result, text)
    print(text)
    return result


if __name__ == "__main__":
    main()
