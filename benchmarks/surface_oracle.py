"""What one frame's counts can tell about a short surface column: the counts-only oracle.

The median surface Jaccard of SBD at 0.45 e-/px stays near 0.82 against a target of 0.9
(``surface_dose.md``), set by short surface columns the detector misses
(``surface_separability.md``). Is that the method or the counts? This benchmark asks a detector
that knows everything about the specimen (every other atom, defocus, focal spread, vibration,
dose) except whether one given surface column is there. For each true surface Pt column of up
to ``--max-atoms`` atoms it simulates the frame again with the column's atoms removed (abTEM,
the set's own spec), and the Poisson likelihood-ratio test between the two noise-free frames
(:mod:`sbdenoise.analysis.detectability`) gives the oracle's detection and false-alarm
probabilities on one frame. By the Neyman-Pearson lemma no denoiser and detector has a better
pair of the two on that column (its ROC curve is the ceiling); a method can find more of the
columns only by saying "column" more readily where none is, that is by a prior about where
columns are, not by the counts.

Scored on the same frames and truth as ``evaluate`` (Pt columns, surface by the alpha-shape rule,
one Poisson draw at seed 5):

* per class of atom count: the oracle's detection probability at equal odds against the share
  SBD (and VST+BM3D) found, column by column;
* per frame, the oracle's expected surface Jaccard when each test of a short column is matched by
  one test at an empty lattice site as hard (its false alarms), longer columns taken as found:
  ``sum P_detect / (n_surface + sum P_false_alarm)`` at equal odds and at the best common
  prior odds; against dose, by scaling both frames. This is what one frame's counts support
  without a prior about the surface; it is not an upper bound on a method that has one (a
  network trained on lattices has), which can go past it by drawing the columns its prior
  expects, at the price of drawing them also where they are not.

The per-column simulations are appended to ``<output>/<name>.columns.jsonl`` and skipped on a
rerun, so an interrupted run resumes::

    .venv/bin/python benchmarks/surface_oracle.py --dataset /work/data/surface-tilt31

Writes ``surface_oracle.{json,md,png}`` to ``--output``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

sys.path.insert(0, str(Path(__file__).resolve().parent))

from surface_dose import ATOM_CLASSES, TARGET
from surface_evaluation import detection_thresholds, method_params
from table1 import RESULTS, machine, machine_line, spread, write_results

from sbdenoise.analysis.detectability import LikelihoodRatioTest, likelihood_ratio_test
from sbdenoise.analysis.evaluation import CLEAN_REFERENCE, EvaluationResult, evaluate
from sbdenoise.analysis.likelihood import _pyplot, save_figure
from sbdenoise.config import DatasetSpec
from sbdenoise.progress import progress_bar
from sbdenoise.simulate.plan import plan_dataset
from sbdenoise.simulate.store import SimulatedDataset

#: Seed of the Poisson draws (that of ``surface_evaluation.py`` and ``surface_dose.py``).
SEED = 5
#: Doses of the oracle's curve, e-/px (the frames' own dose is 0.45).
DOSES = (0.15, 0.3, 0.45, 0.6, 1.0, 1.5)
#: Largest distance between a scored true column and the model's column it names, angstrom.
MATCH_A = 0.05
#: Log prior odds tried for the oracle's best common threshold.
LOG_ODDS = np.linspace(-3.0, 3.0, 61)
COLOURS = {"oracle": "#1b7837", "sbd": "#762a83", "vst-bm3d": "#e08214", "clean": "#4393c3"}


def atom_class(n_atoms: int) -> str:
    """Label of the atom-count class of ``surface_dose.py``."""
    for label, low, high in ATOM_CLASSES:
        if low <= n_atoms <= high:
            return label
    raise ValueError(f"no class for {n_atoms} atoms")


def crop_shift(full: np.ndarray, cropped: np.ndarray, pixel_size: float) -> float:
    """Offset (angstrom, equal in x and y) between a model's column table and its cropped copy.

    The crop is centred and square, so the offset is a whole number of pixels in both axes; the
    one that maps the most cropped columns onto model columns is returned.
    """
    tree = cKDTree(np.c_[full["x"], full["y"]])
    xy = np.c_[cropped["x"], cropped["y"]]
    best, best_hits = 0.0, -1
    for k in range(0, int(np.ceil(full["x"].max() / pixel_size)) + 1):
        hits = int(np.sum(tree.query(xy + k * pixel_size)[0] < 1e-3))
        if hits > best_hits:
            best, best_hits = k * pixel_size, hits
        if best_hits == len(xy):
            break
    if best_hits < len(xy):
        raise RuntimeError(f"crop offset maps only {best_hits} of {len(xy)} columns")
    return best


def whole_structures(data: SimulatedDataset, indices: list[int], count: int) -> list[int]:
    """The images of ``count`` structures spread over those of ``indices`` (one removal of a
    column serves every image of its structure, so subsets are taken by structure)."""
    structure = np.asarray(data.params["structure_id"])
    chosen = {int(s) for s in spread(sorted({int(structure[i]) for i in indices}), count)}
    return [i for i in indices if int(structure[i]) in chosen]


def clean_reference(data: SimulatedDataset, indices: list[int], seed: int) -> EvaluationResult:
    """The noise-free frames scored as ``evaluate`` scores a method (one draw): the true surface
    Pt columns, and the detector's own ceiling."""
    return evaluate(
        data, CLEAN_REFERENCE, indices=indices, n_realisations=1, seed=seed, elements=["Pt"]
    )


def simulate_tests(
    data: SimulatedDataset,
    surface: list[dict[str, Any]],
    max_atoms: int,
    journal: Path,
    show_progress: bool,
) -> list[dict[str, Any]]:
    """Simulate each short surface column's absence; one likelihood-ratio test per frame.

    Resumes from ``journal`` (one JSON line per column and structure).
    """
    from sbdenoise.simulate.runner import _build_specimen, structure_images
    from sbdenoise.specimen.columns import group_columns
    from sbdenoise.specimen.model import Specimen

    spec = DatasetSpec.model_validate(data.spec)
    tasks = {image.index: task for task in plan_dataset(spec) for image in task.images}
    lines = journal.read_text().splitlines() if journal.exists() else []
    done = [json.loads(line) for line in lines if line.strip()]
    seen = {(row["structure_index"], round(row["x_A"], 3), round(row["y_A"], 3)) for row in done}
    wanted: dict[int, dict[tuple[float, float], int]] = defaultdict(dict)
    for row in surface:
        if row["n_atoms"] <= max_atoms:
            task = tasks[int(row["image"])]
            first = task.images[0].index
            wanted[first][(round(float(row["x_A"]), 3), round(float(row["y_A"]), 3))] = int(
                row["n_atoms"]
            )
    todo = [
        (first, key, n)
        for first, columns in wanted.items()
        for key, n in columns.items()
        if (first, *key) not in seen
    ]
    models: dict[int, tuple[Any, float, cKDTree, np.ndarray]] = {}
    for first, (x, y), n_atoms in progress_bar(todo, "columns removed", show_progress):
        task = tasks[first]
        if first not in models:
            specimen = _build_specimen(spec, task)
            pixel_size = float(data.params["pixel_size"][first])  # as imaged, not as asked
            shift = crop_shift(specimen.columns, data.columns(first), pixel_size)
            tree = cKDTree(np.c_[specimen.columns["x"], specimen.columns["y"]])
            models = {first: (specimen, shift, tree, group_columns(specimen.atoms))}
        specimen, shift, tree, labels = models[first]
        distance, label = tree.query([x + shift, y + shift])
        if distance > MATCH_A:
            raise RuntimeError(f"no model column at ({x}, {y}) A of image {first}")
        keep = labels != label
        edited = Specimen(specimen.atoms[keep], specimen.columns, specimen.tilt_mrad)
        start = time.perf_counter()
        tests = {}
        for record in structure_images(task, spec, specimen=edited):
            test = likelihood_ratio_test(data.image(record.index), record.image)
            tests[str(record.index)] = test.__dict__
        row = {
            "structure_index": first,
            "x_A": x,
            "y_A": y,
            "n_atoms": n_atoms,
            "seconds": time.perf_counter() - start,
            "tests": tests,
        }
        with journal.open("a") as handle:
            handle.write(json.dumps(row) + "\n")
        done.append(row)
    return done


def test_table(done: list[dict[str, Any]]) -> dict[tuple[int, float, float], LikelihoodRatioTest]:
    """Likelihood-ratio test per (image, x, y) of a scored surface column."""
    table = {}
    for row in done:
        for index, moments in row["tests"].items():
            table[(int(index), row["x_A"], row["y_A"])] = LikelihoodRatioTest(**moments)
    return table


def _key(row: dict[str, Any]) -> tuple[int, float, float]:
    return int(row["image"]), round(float(row["x_A"]), 3), round(float(row["y_A"]), 3)


def oracle_jaccard(
    frame: list[dict[str, Any]],
    tests: dict[tuple[int, float, float], LikelihoodRatioTest],
    factor: float,
    log_odds: float,
) -> float:
    """The oracle's expected surface Jaccard on one frame (see the module docstring).

    Columns without a test (longer than ``--max-atoms``) count as found, never as false alarms.
    """
    found, false_alarms = 0.0, 0.0
    for row in frame:
        test = tests.get(_key(row))
        if test is None:
            found += 1.0
            continue
        p_detect, p_false = test.at_dose_factor(factor).probabilities(log_odds)
        found += p_detect
        false_alarms += p_false
    return found / (len(frame) + false_alarms) if frame else float("nan")


def oracle_curve(
    surface: list[dict[str, Any]],
    tests: dict[tuple[int, float, float], LikelihoodRatioTest],
    frame_dose: float,
) -> list[dict[str, Any]]:
    """Median of the per-frame oracle Jaccard at each dose, at equal and best common odds."""
    frames: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in surface:
        frames[int(row["image"])].append(row)
    curve = []
    for dose in DOSES:
        factor = dose / frame_dose
        medians = []
        for odds in LOG_ODDS:
            values = [oracle_jaccard(rows, tests, factor, odds) for rows in frames.values()]
            medians.append((float(np.median(values)), float(odds), values))
        equal = next(m for m in medians if abs(m[1]) < 1e-9)
        best = max(medians, key=lambda m: (m[0], -abs(m[1])))
        curve.append(
            {
                "dose": dose,
                "median_equal_odds": equal[0],
                "mean_equal_odds": float(np.mean(equal[2])),
                "frames_at_target_equal_odds": float(np.mean(np.asarray(equal[2]) >= TARGET)),
                "median_best": best[0],
                "best_log_odds": best[1],
                "frames_at_target_best": float(np.mean(np.asarray(best[2]) >= TARGET)),
            }
        )
    return curve


def _detect_at(test: LikelihoodRatioTest, factor: float) -> float:
    return test.at_dose_factor(factor).probabilities()[0]


def by_class(
    surface: list[dict[str, Any]],
    tests: dict[tuple[int, float, float], LikelihoodRatioTest],
    found: dict[str, dict[tuple[int, float, float], bool]],
    frame_dose: float,
) -> dict[str, dict[str, Any]]:
    """Per class of atom count: the oracle's probabilities and each method's share found."""
    out = {}
    for label, low, high in ATOM_CLASSES:
        rows = [r for r in surface if low <= r["n_atoms"] <= high and _key(r) in tests]
        if not rows:
            continue
        entry: dict[str, Any] = {"n": len(rows)}
        probs = np.array([tests[_key(r)].probabilities() for r in rows])
        entry["oracle_detect"] = float(probs[:, 0].mean())
        entry["oracle_false_alarm"] = float(probs[:, 1].mean())
        entry["oracle_dprime_median"] = float(np.median([tests[_key(r)].dprime for r in rows]))
        entry["oracle_detect_by_dose"] = {
            f"{dose:g}": float(
                np.mean([_detect_at(tests[_key(r)], dose / frame_dose) for r in rows])
            )
            for dose in DOSES
        }
        for method, table in found.items():
            entry[f"found_{method}"] = float(np.mean([table[_key(r)] for r in rows]))
        out[label] = entry
    return out


#: Bins of the oracle's separation d' for the found-share curve.
DPRIME_BINS = (0.0, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 6.0, np.inf)


def by_dprime(
    surface: list[dict[str, Any]],
    tests: dict[tuple[int, float, float], LikelihoodRatioTest],
    found: dict[str, dict[tuple[int, float, float], bool]],
) -> list[dict[str, Any]]:
    """Share found by each method and the oracle's detection probability, in bins of d'."""
    rows = [r for r in surface if _key(r) in tests]
    dprime = np.array([tests[_key(r)].dprime for r in rows])
    out = []
    for low, high in itertools.pairwise(DPRIME_BINS):
        inside = [r for r, d in zip(rows, dprime, strict=True) if low <= d < high]
        if not inside:
            continue
        entry: dict[str, Any] = {"low": low, "high": None if np.isinf(high) else high}
        entry["n"] = len(inside)
        entry["oracle_detect"] = float(np.mean([tests[_key(r)].probabilities()[0] for r in inside]))
        for method, table in found.items():
            entry[f"found_{method}"] = float(np.mean([table[_key(r)] for r in inside]))
        out.append(entry)
    return out


def method_scores(
    data: SimulatedDataset,
    indices: list[int],
    args: argparse.Namespace,
    reference: EvaluationResult,
) -> tuple[dict[str, dict[tuple[int, float, float], bool]], dict[str, float]]:
    """Which scored surface columns each method found, and its median surface Jaccard."""
    thresholds = detection_thresholds(args.min_contrast)
    found, medians = {}, {}
    for name in [*args.methods, CLEAN_REFERENCE]:
        if name == CLEAN_REFERENCE:
            result = reference
        else:
            result = evaluate(
                data,
                name,
                params=method_params(name),
                model=args.model if name == "sbd" else None,
                indices=indices,
                n_realisations=1,
                seed=args.seed,
                elements=["Pt"],
                detection=thresholds.get(name),
                show_progress=not args.quiet,
            )
        found[name] = {_key(r): bool(r["found"]) for r in result.truth_columns if r["surface"]}
        jaccard = result.metric("surface_jaccard")
        medians[name] = float(np.nanmedian(jaccard))
    return found, medians


def dose_curves(path: Path, dataset: Path) -> dict[str, dict[str, float]]:
    """Median surface Jaccard against dose per method from ``surface_dose.json``, when it scored
    the same dataset (all its images), else nothing."""
    if not path.is_file():
        return {}
    scored = json.loads(path.read_text())
    if Path(scored["dataset"]).resolve() != Path(dataset).resolve():
        return {}
    return {
        method: {dose: entry["surface_jaccard"]["median"] for dose, entry in by_dose.items()}
        for method, by_dose in scored["methods"].items()
    }


def plot(result: dict[str, Any], path: Path) -> Path:
    """Share found against the oracle's d', and the oracle's median Jaccard against dose."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8), constrained_layout=True)
    bins = result["by_dprime"]
    x = [0.5 * (b["low"] + (b["high"] if b["high"] is not None else b["low"] + 2.0)) for b in bins]
    left.plot(x, [b["oracle_detect"] for b in bins], "o-", color=COLOURS["oracle"], lw=2,
              label="oracle (told all but the column), equal odds")  # fmt: skip
    for method in result["methods"]:
        colour = COLOURS.get(method, "0.4")
        label = "noise-free frame (detector)" if method == CLEAN_REFERENCE else method
        left.plot(x, [b[f"found_{method}"] for b in bins], "s--", color=colour, label=label)
    left.set_xlabel("oracle's separation d' of the column on one frame")
    left.set_ylabel("share of true surface columns found")
    left.set_title(f"Short surface columns (<= {result['max_atoms']} atoms) at "
                   f"{result['frame_dose']:g} e⁻/px")  # fmt: skip
    left.set_ylim(-0.02, 1.02)
    left.grid(alpha=0.3)
    left.legend(fontsize=8, loc="lower right")
    doses = [c["dose"] for c in result["curve"]]
    right.plot(doses, [c["median_equal_odds"] for c in result["curve"]], "o-",
               color=COLOURS["oracle"], lw=2, label="counts-only oracle, equal odds")  # fmt: skip
    right.plot(doses, [c["median_best"] for c in result["curve"]], "o:",
               color=COLOURS["oracle"], label="counts-only oracle, best common odds")  # fmt: skip
    for method, median in result["method_medians"].items():
        if method == CLEAN_REFERENCE:
            continue
        right.plot([result["frame_dose"]], [median], "s", ms=9, color=COLOURS.get(method, "0.4"),
                   label=f"{method} on the same frames")  # fmt: skip
    for method, by_dose in result.get("dose_curves", {}).items():
        doses_m = sorted(by_dose, key=float)
        right.plot([float(d) for d in doses_m], [by_dose[d] for d in doses_m], "--",
                   color=COLOURS.get(method, "0.4"), alpha=0.8,
                   label=f"{method}, all images of the set (surface_dose.md)")  # fmt: skip
    right.axhline(TARGET, color="crimson", ls=":", lw=1.2, label=f"target {TARGET}")
    right.set_xscale("log")
    right.set_xticks(doses, [f"{d:g}" for d in doses])
    right.minorticks_off()
    right.set_xlabel("dose (e⁻/px at the set's pixel size)")
    right.set_ylabel("median surface Jaccard over frames")
    right.set_title("What one frame's counts support, against dose")
    shown = [c["median_equal_odds"] for c in result["curve"]] + list(
        result["method_medians"].values()
    )
    shown += [v for by_dose in result.get("dose_curves", {}).values() for v in by_dose.values()]
    right.set_ylim(max(0.0, min(shown) - 0.05), 1.02)
    right.grid(alpha=0.3, which="both")
    right.legend(fontsize=8, loc="lower right")
    return save_figure(fig, path)


def markdown(result: dict[str, Any], name: str) -> str:
    methods = list(result["methods"])
    curves = result.get("dose_curves", {})
    heads = ["noise-free frame" if m == CLEAN_REFERENCE else m for m in methods]
    lines = [
        "# What one frame's counts can tell about a surface column: the counts-only oracle",
        "",
        machine_line(result["machine"]),
        f"Dataset `{result['dataset']}`: {result['images']} images at {result['frame_dose']:g} "
        f"e-/px, one Poisson draw (seed {result['seed']}); Pt columns, surface by the alpha-shape "
        "rule, as `evaluate` scores them. For each of the "
        f"{result['columns_simulated']} true surface columns of at most {result['max_atoms']} "
        "atoms the frames were simulated again without the column (abTEM, the set's spec; "
        f"median {result['seconds_per_column']:.1f} s per column for its frames, "
        f"{result['simulation_minutes']:.0f} min in all). The "
        "oracle is the Poisson likelihood-ratio test between the two noise-free frames: it is "
        "told every other atom, the optics and the dose, and no denoiser and detector has a "
        "better pair of detection and false-alarm rates on that column (Neyman-Pearson); a "
        "method finds more only by saying 'column' more readily, from a prior about the "
        "surface, not from the counts. "
        f"Command: `{result['command']}` "
        f"({result['minutes']:.0f} min to score; the simulations are kept in "
        f"`{name}.columns.jsonl`).",
        "",
        "## By atoms per column",
        "",
        "| atoms | columns x frames | oracle d' (median) | oracle P(detect), equal odds | "
        "oracle P(false alarm) | " + " | ".join(f"found: {h}" for h in heads) + " |",
        "|---|---:|---:|---:|---:|" + "---:|" * len(heads),
    ]
    for label, e in result["by_class"].items():
        lines.append(
            f"| {label} | {e['n']} | {e['oracle_dprime_median']:.2f} | {e['oracle_detect']:.2f} | "
            f"{e['oracle_false_alarm']:.2f} | "
            + " | ".join(f"{e[f'found_{m}']:.2f}" for m in methods)
            + " |"
        )
    lines += [
        "",
        "## By the oracle's separation d'",
        "",
        "| d' | columns x frames | oracle P(detect) | "
        + " | ".join(f"found: {h}" for h in heads)
        + " |",
        "|---|---:|---:|" + "---:|" * len(heads),
    ]
    for b in result["by_dprime"]:
        span = f"{b['low']:g}-{b['high']:g}" if b["high"] is not None else f">= {b['low']:g}"
        lines.append(
            f"| {span} | {b['n']} | {b['oracle_detect']:.2f} | "
            + " | ".join(f"{b[f'found_{m}']:.2f}" for m in methods)
            + " |"
        )
    lines += [
        "",
        "A method that finds more than the oracle's equal-odds test in a bin works at another "
        "operating point and pays for it in false alarms; the Jaccard below weighs both.",
        "",
        "## The oracle's surface Jaccard against dose",
        "",
        "Per frame `(sum P_detect + n_long) / (n_surface + sum P_false_alarm)`: each short "
        "column's test is matched by one test at an empty lattice site as hard as it (its false "
        "alarms), columns longer than the limit are taken as found; a missed column exposing "
        "the one behind it is not charged. What the counts support with no prior about the "
        "surface: a method with one (a network trained on lattices) can go past it by drawing "
        "the columns the lattice expects, and pays where they are not. Doses other than the "
        "frames' own scale both noise-free frames. The last columns: each method's median over "
        "all images of the set at each dose (`surface_dose.md`), where it scored this set.",
        "",
        f"| dose e-/px | dose e-/A^2 | median, equal odds | frames >= {TARGET} | "
        f"median, best common odds (log odds) | frames >= {TARGET} | "
        + "".join(f"{m}, all images | " for m in curves),
        "|---:|---:|---:|---:|---:|---:|" + "---:|" * len(curves),
    ]
    for c in result["curve"]:
        dose = f"{c['dose']:g}"
        measured = "".join(
            f"{by_dose.get(dose, float('nan')):.3f} | " for by_dose in curves.values()
        )
        lines.append(
            f"| {dose} | {c['dose'] / result['pixel_size'] ** 2:.0f} | "
            f"{c['median_equal_odds']:.3f} | {c['frames_at_target_equal_odds']:.0%} | "
            f"{c['median_best']:.3f} ({c['best_log_odds']:+.1f}) | "
            f"{c['frames_at_target_best']:.0%} | " + measured
        )
    lines += [
        "",
        f"Median surface Jaccard on the same frames at {result['frame_dose']:g} e-/px: "
        + ", ".join(
            f"{h} {result['method_medians'][m]:.3f}" for m, h in zip(methods, heads, strict=True)
        )
        + ".",
        "",
        f"![counts-only oracle]({name}.png)",
        "",
    ]
    return "\n".join(line.rstrip() for line in lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--methods", nargs="*", default=["sbd", "vst-bm3d"])
    parser.add_argument("--model", type=Path, default=None, help="sbd model (default: shipped)")
    parser.add_argument("--max-images", type=int, default=None)
    parser.add_argument(
        "--structures", type=int, default=None, help="this many structures, all their images"
    )
    parser.add_argument("--max-atoms", type=int, default=7)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--min-contrast", action="append", default=["vst-bm3d=0.075"], metavar="METHOD=VALUE"
    )
    parser.add_argument("--simulate-only", action="store_true")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--name", default="surface_oracle")
    parser.add_argument("--quiet", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any] | None:
    args = parse_args(argv)
    started = time.perf_counter()
    data = SimulatedDataset(args.dataset)
    indices = [int(i) for i in spread(data.indices(split="test"), args.max_images)]
    if args.structures is not None:
        indices = whole_structures(data, indices, args.structures)
    reference = clean_reference(data, indices, args.seed)
    surface = [dict(row) for row in reference.truth_columns if row["surface"]]
    args.output.mkdir(parents=True, exist_ok=True)
    journal = args.output / f"{args.name}.columns.jsonl"
    done = simulate_tests(data, surface, args.max_atoms, journal, not args.quiet)
    if args.simulate_only:
        return None
    tests = test_table(done)
    frame_dose = float(np.median(data.params["dose"][indices]))
    found, medians = method_scores(data, indices, args, reference)
    result = {
        "command": " ".join(["benchmarks/surface_oracle.py", *(argv or sys.argv[1:])]),
        "dataset": str(args.dataset),
        "images": len(indices),
        "seed": args.seed,
        "max_atoms": args.max_atoms,
        "frame_dose": frame_dose,
        "pixel_size": float(np.median(data.params["pixel_size"][indices])),
        "columns_simulated": len(done),
        "seconds_per_column": float(np.median([row["seconds"] for row in done])) if done else 0.0,
        "simulation_minutes": sum(row["seconds"] for row in done) / 60.0,
        "methods": list(found),
        "by_class": by_class(surface, tests, found, frame_dose),
        "by_dprime": by_dprime(surface, tests, found),
        "curve": oracle_curve(surface, tests, frame_dose),
        "method_medians": medians,
        "dose_curves": dose_curves(RESULTS / "surface_dose.json", args.dataset),
        "machine": machine("cpu"),
        "minutes": (time.perf_counter() - started) / 60.0,
    }
    write_results(args.output, args.name, result, markdown(result, args.name))
    plot(result, args.output / f"{args.name}.png")
    return result


if __name__ == "__main__":
    main()
