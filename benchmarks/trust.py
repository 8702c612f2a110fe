"""How well the trust signals separate real from spurious candidates, against the oracle limit.

On white test images of a simulated dataset (one Poisson draw per image and realisation at the
dataset dose), each method denoises the frame and :func:`sbdenoise.analysis.trust.judge_frame`
judges every candidate. A candidate is *real* when a true column (the store's projected columns)
lies within 0.5 A, *spurious* when none lies within 1.0 A (in between: not scored). *Surface*
candidates are those whose nearest true column is a surface column (store flag).

Signals compared by ROC AUC (real vs spurious), all candidates and surface ones:

- ``thresholds``: the papers' log-likelihood ratio (0.7 A disc, flat column rate vs vacuum);
- ``calibrated``: the calibrated p-value (smaller is more real);
- ``bootstrap``: reappearance over re-noised draws;
- ``combined``: the calibrated score where the candidate reappears in at least half the draws,
  minus infinity elsewhere (ties broken by the score);
- ``oracle``: the Neyman-Pearson statistic with the *true* profile known: the counts in the
  candidate's disc weighted by ``log(t / v)``, where ``t`` is the image's mean true surface-column
  profile placed on the candidate and ``v`` the true vacuum rate. No test that sees only these
  counts can do better.

Also: the realised false discovery rate of "supported" (spurious among supported) and the share of
real candidates supported. The calibrated test's null is "these counts are vacuum", not "no column
here": a bright interference maximum between columns is not a column, yet its counts do exceed
vacuum. So each candidate's calibrated statistic is also evaluated on the clean image (the score is
linear in the counts, so this is its expectation given the denoised profile), and the table splits
the spurious "supported" candidates into those whose clean image is brighter than vacuum there
(a real intensity feature that is not a column) and those where it is not (a discovery the noise
made); the second share over all "supported" is the realised FDR against the test's own null.
Writes ``trust.json`` and ``trust.md``::

    .venv/bin/python benchmarks/trust.py --dataset /work/data/shipped --images 6 --draws 2
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats
from scipy.spatial import cKDTree

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dose_sweep import bm3d_params
from table1 import RESULTS, machine, noise_rng, select, spread, write_results

from sbdenoise.analysis.calibration import DEFAULT_NULL_SIDE, candidate_scores
from sbdenoise.analysis.likelihood import roc_auc
from sbdenoise.analysis.trust import SURFACE_NEIGHBOURHOOD_A, judge_frame
from sbdenoise.denoise.registry import prepare
from sbdenoise.noise.models import sample_poisson
from sbdenoise.progress import progress_bar
from sbdenoise.simulate.store import SimulatedDataset

#: Seed stream of this benchmark's noise.
STREAM = 11
REAL_A, SPURIOUS_A = 0.5, 1.0
SIGNALS = ("thresholds", "calibrated", "bootstrap", "combined", "oracle")


def true_columns(data: SimulatedDataset, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Projected true column positions ``(y, x)`` in angstrom, surface flags, particle flags.

    A column is a particle column when its element is Pt (the support is CeO2).
    """
    table = data.columns(index)
    if len(table) == 0:
        return np.zeros((0, 2)), np.zeros(0, dtype=bool), np.zeros(0, dtype=bool)
    positions = np.stack([table["y"], table["x"]], axis=1).astype(np.float64)
    particle = np.asarray(table["element"]).astype(str) == "Pt"
    return positions, np.asarray(table["on_surface"], dtype=bool), particle


def surface_template(clean: np.ndarray, surface_px: np.ndarray, radius_px: float) -> np.ndarray:
    """Mean clean profile (disc offsets -> rate) around the true surface columns of one image."""
    half = int(np.ceil(radius_px))
    dy, dx = np.mgrid[-half : half + 1, -half : half + 1]
    inside = np.hypot(dy, dx) <= radius_px
    patches = []
    for row, col in np.rint(surface_px).astype(int):
        if half <= row < clean.shape[0] - half and half <= col < clean.shape[1] - half:
            patches.append(clean[row - half : row + half + 1, col - half : col + half + 1])
    if not patches:
        return np.zeros(0)
    return np.where(inside, np.mean(patches, axis=0), np.nan)


def oracle_scores(
    counts: np.ndarray, positions_px: np.ndarray, template: np.ndarray, vacuum: float
) -> np.ndarray:
    """Standardised NP statistic of each candidate with the true surface-column profile known."""
    if template.size == 0:
        return np.full(len(positions_px), np.nan)
    half = template.shape[0] // 2
    weight = np.log(np.maximum(template, 1e-3 * vacuum) / vacuum)
    scores = np.full(len(positions_px), np.nan)
    for k, (row, col) in enumerate(np.rint(positions_px).astype(int)):
        if half <= row < counts.shape[0] - half and half <= col < counts.shape[1] - half:
            patch = counts[row - half : row + half + 1, col - half : col + half + 1]
            ok = np.isfinite(weight)
            w = weight[ok]
            scores[k] = (np.sum(patch[ok] * w) - vacuum * np.sum(w)) / np.sqrt(
                vacuum * np.sum(w * w)
            )
    return scores


def labels(
    positions: np.ndarray, truth: np.ndarray, surface: np.ndarray, particle: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per candidate: real, spurious, on the surface, at the particle (by the nearest column)."""
    if len(truth) == 0 or len(positions) == 0:
        empty = np.zeros(len(positions), dtype=bool)
        return empty, ~empty, empty, empty
    distance, nearest = cKDTree(truth).query(positions)
    return distance <= REAL_A, distance > SPURIOUS_A, surface[nearest], particle[nearest]


def test_images(data: SimulatedDataset, n: int, exclude_spread: Sequence[int] = ()) -> np.ndarray:
    """``n`` white test images, evenly spread, held out from earlier runs.

    ``exclude_spread`` lists the ``--images`` of earlier runs in order, each of which excluded
    the ones before it (``--images 12``, then ``--images 24 --exclude-spread 12``, then
    ``--images 24 --exclude-spread 12 24``): their images are left out, so each run scores
    images no earlier design choice saw.
    """
    pool = select(data, "test", "white")
    for k in exclude_spread:
        pool = np.setdiff1d(pool, spread(pool, k))
    return spread(pool, n)


def run(args: argparse.Namespace) -> dict[str, Any]:
    data = SimulatedDataset(args.dataset)
    indices = test_images(data, args.images, args.exclude_spread)
    model = None if args.model is None else str(args.model)
    methods = {}
    for name in args.methods:
        if name == "sbd":
            methods[name] = prepare("sbd", {"ensemble": args.ensemble}, model=model)
        elif name == "vst-bm3d":
            methods[name] = prepare(name, bm3d_params(RESULTS / "table1.json"))
        else:
            methods[name] = prepare(name)
    columns = ["method", "image", "realisation", "real", "spurious", "surface", "particle"]
    columns += ["supported"]
    columns += ["clean_score"]
    columns += [f"signal_{s}" for s in SIGNALS]
    columns += ["fdr_class", "p_value", "y_A", "x_A"]
    rows: list[list[Any]] = []
    variants = [tuple(v.split(":")) for v in args.variants]
    labels_of = {
        (name, variant): name if len(variants) == 1 else f"{name} ({', '.join(variant)})"
        for name in methods
        for variant in variants
    }
    seconds = dict.fromkeys(labels_of.values(), 0.0)
    null_rates: dict[str, list[float]] = {}
    surface_null = {"auto": "auto", "none": None}.get(args.surface_null, args.surface_null)
    notes: dict[str, str] = {}
    jobs = [(int(i), r) for i in indices for r in range(args.draws)]
    for index, realisation in progress_bar(jobs, "trust", show=not args.quiet):
        clean = data.image(index).astype(np.float64)
        pixel = float(data.params["pixel_size"][index])
        vacuum = float(data.params["dose"][index])
        noisy = sample_poisson(clean, noise_rng(args.stream, index, realisation))
        noisy = noisy.astype(np.float64)
        truth, on_surface, on_particle = true_columns(data, index)
        template = surface_template(clean, truth[on_surface] / pixel, args.region / pixel)
        for (name, variant), label in labels_of.items():
            prepared = methods[name]
            start = time.perf_counter()
            if variant == variants[0]:  # denoised and bootstrapped once per method and frame
                denoised = prepared.denoise_frame(noisy, pixel)
            result = judge_frame(
                noisy,
                denoised,
                pixel,
                method=prepared,
                region=args.region,
                profile=variant[0],
                classes=variant[1],
                adaptive=variant[2] if len(variant) > 2 else "lattice",
                neighbourhood=float(variant[3]) if len(variant) > 3 else SURFACE_NEIGHBOURHOOD_A,
                bootstrap=args.bootstrap if variant == variants[0] else 0,
                seed=realisation,
                show_progress=False,
                surface_null=surface_null if name == "sbd" else "auto",
            )
            if variant == variants[0]:
                stability = result.stability
            notes[label] = next(
                (n for n in result.notes if "surface null" in n or "spurious surface" in n),
                "no candidate faces the vacuum",
            )
            seconds[label] += time.perf_counter() - start
            null_rates.setdefault(label, []).append(
                result.null.candidates_per_frame if result.null is not None else np.nan
            )
            positions = result.candidates.positions
            real, spurious, surface, particle = labels(positions, truth, on_surface, on_particle)
            reappear = (  # NaN without a bootstrap (--bootstrap 0)
                np.full(len(result), np.nan) if stability is None else stability.reappearance
            )
            with np.errstate(divide="ignore"):
                evidence = -np.log(result.p_value)  # the calibrated order (p-values per candidate)
            combined = np.where(reappear >= 0.5, evidence, -1e6 + evidence)
            oracle = oracle_scores(noisy, positions / pixel, template, vacuum)
            clean_score = candidate_scores(
                clean, denoised, positions / pixel, args.region / pixel, vacuum
            )
            signals = (result.likelihood.values, evidence, reappear, combined, oracle)
            for k in range(len(result)):
                rows.append(
                    [label, index, realisation, bool(real[k]), bool(spurious[k]),
                     bool(surface[k]), bool(particle[k]), result.verdict[k] == "supported",
                     float(clean_score[k])]
                    + [float(s[k]) for s in signals]
                    + [str(result.fdr_class[k]) if result.fdr_class is not None else "",
                       float(result.p_value[k]), *map(float, positions[k])]
                )  # fmt: skip
    result = summarise(rows, columns, list(labels_of.values()), seconds, len(jobs), args)
    if args.candidates is not None:
        write_candidates(args.candidates, columns, rows)
    for label, rates in null_rates.items():  # how often the method draws a candidate in vacuum
        result["methods"][label]["vacuum_candidates_per_frame"] = float(np.nanmean(rates))
    result["null_frame_side_px"] = DEFAULT_NULL_SIDE
    result["surface_null"] = args.surface_null
    result["model"] = methods["sbd"].params.get("model") if "sbd" in methods else None
    for label, note in notes.items():  # the surface null of the last frame, in words
        result["methods"][label]["surface_null_note"] = note
    return result


def write_candidates(path: Path, columns: list[str], rows: list[list[Any]]) -> Path:
    """Every judged candidate as one CSV row (for studies of the verdicts beyond the summary)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows(rows)
    return path


def auc(table: dict[str, np.ndarray], signal: str, keep: np.ndarray) -> float | None:
    """ROC AUC of a signal, real vs spurious candidates among ``keep`` (None when one is empty)."""
    values = table[f"signal_{signal}"]
    finite = np.isfinite(values)
    real = values[keep & table["real"] & finite]
    fake = values[keep & table["spurious"] & finite]
    if len(real) == 0 or len(fake) == 0:
        return None
    return float(roc_auc(real, fake))


def false_discoveries(supported: np.ndarray, spurious: np.ndarray) -> dict[str, Any]:
    """Realised FDR of ``supported`` (spurious among them) with its 95 % Wilson interval."""
    n, k = int(supported.sum()), int(np.sum(supported & spurious))
    if n == 0:
        return {"supported": 0, "spurious": 0, "fdr": None, "low": None, "high": None}
    interval = stats.binomtest(k, n).proportion_ci(0.95, method="wilson")
    return {
        "supported": n,
        "spurious": k,
        "fdr": k / n,
        "low": float(interval.low),
        "high": float(interval.high),
    }


def summarise(
    rows: list[list[Any]],
    columns: list[str],
    methods: list[str],
    seconds: dict[str, float],
    frames: int,
    args: argparse.Namespace,
) -> dict[str, Any]:
    table_all = {c: np.array([r[i] for r in rows]) for i, c in enumerate(columns)}
    summary = {}
    for name in methods:
        mine = table_all["method"] == name
        table = {c: v[mine] for c, v in table_all.items()}
        every = np.ones(int(mine.sum()), dtype=bool)
        scored = table["real"] | table["spurious"]
        supported = table["supported"] & scored
        bright = table["clean_score"] > 0  # NaN (disc off the frame) counts as not bright
        entry: dict[str, Any] = {
            "candidates": int(mine.sum()),
            "real": int(table["real"].sum()),
            "spurious": int(table["spurious"].sum()),
            "surface_real": int((table["real"] & table["surface"]).sum()),
            "surface_spurious": int((table["spurious"] & table["surface"]).sum()),
            "realised_fdr": float(np.sum(supported & table["spurious"]) / max(supported.sum(), 1)),
            "fdr_scored": false_discoveries(supported, table["spurious"]),
            "fdr_particle": false_discoveries(supported & table["particle"], table["spurious"]),
            "fdr_support": false_discoveries(supported & ~table["particle"], table["spurious"]),
            "fdr_surface": false_discoveries(supported & table["surface"], table["spurious"]),
            "supported": int(table["supported"].sum()),
            "spurious_supported_bright": int(np.sum(supported & table["spurious"] & bright)),
            "spurious_supported_not_bright": int(np.sum(supported & table["spurious"] & ~bright)),
            "realised_fdr_vs_vacuum_null": float(
                np.sum(table["supported"] & ~bright) / max(table["supported"].sum(), 1)
            ),
            "supported_among_real": float(np.mean(table["supported"][table["real"]]))
            if table["real"].any()
            else None,
            "supported_among_surface_real": float(
                np.mean(table["supported"][table["real"] & table["surface"]])
            )
            if (table["real"] & table["surface"]).any()
            else None,
            "seconds_per_frame": seconds[name] / max(frames, 1),
        }
        for signal in SIGNALS:
            entry[f"auc_{signal}"] = auc(table, signal, every)
            entry[f"auc_surface_{signal}"] = auc(table, signal, table["surface"])
        summary[name] = entry
    return {
        "command": " ".join(sys.argv),
        "dataset": str(args.dataset),
        "images": args.images,
        "exclude_spread": args.exclude_spread,
        "stream": args.stream,
        "draws": args.draws,
        "bootstrap": args.bootstrap,
        "region_A": args.region,
        "machine": machine("cpu"),
        "methods": summary,
    }


def markdown(result: dict[str, Any]) -> str:
    def cell(value: Any) -> str:
        return "-" if value is None else f"{value:.3f}"

    lines = [
        "# Trust signals: real vs spurious candidates, against the oracle",
        "",
        f"Dataset `{result['dataset']}`, white test images: {result['images']} images"
        + (
            " (held out: not those of runs with --images "
            + ", ".join(map(str, result["exclude_spread"]))
            + ")"
            if result.get("exclude_spread")
            else ""
        )
        + f" x {result['draws']} Poisson draws at the dataset dose (noise stream "
        f"{result.get('stream', STREAM)}); bootstrap {result['bootstrap']} "
        f"draws; calibrated region {result['region_A']} A. Real: a true column within "
        f"{REAL_A} A; spurious: none within {SPURIOUS_A} A. Command: `{result['command']}`.",
        "",
        *(
            f"Surface null of {name}: {entry['surface_null_note']}."
            for name, entry in result["methods"].items()
            if "surface_null_note" in entry
        ),
        "",
        "| method | candidates (real / spurious) | surface (real / spurious) | realised FDR of "
        "supported | real supported | surface real supported | vacuum candidates per "
        f"{result['null_frame_side_px']} px frame | s / frame |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for name, e in result["methods"].items():
        lines.append(
            f"| {name} | {e['candidates']} ({e['real']} / {e['spurious']}) | "
            f"{e['surface_real']} / {e['surface_spurious']} | {cell(e['realised_fdr'])} | "
            f"{cell(e['supported_among_real'])} | {cell(e['supported_among_surface_real'])} | "
            f"{e.get('vacuum_candidates_per_frame', float('nan')):.1f} | "
            f"{e['seconds_per_frame']:.1f} |"
        )
    lines += [
        "",
        'Spurious "supported" candidates by what the clean image holds there, and the realised '
        "FDR against the calibrated test's own null (clean image not brighter than vacuum in the "
        "candidate's region, by the test's own statistic):",
        "",
        "| method | supported | spurious supported, clean brighter than vacuum | spurious "
        "supported, clean not brighter | realised FDR vs the vacuum null |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, e in result["methods"].items():
        lines.append(
            f"| {name} | {e['supported']} | {e['spurious_supported_bright']} | "
            f"{e['spurious_supported_not_bright']} | {cell(e['realised_fdr_vs_vacuum_null'])} |"
        )
    lines += [
        "",
        'Realised FDR of "supported" by where the candidate is (its nearest true column: Pt '
        "particle or CeO2 support; surface: a surface column), spurious / supported among "
        "scored candidates, with its 95 % Wilson interval:",
        "",
        "| method | all scored | particle | support | surface |",
        "|---|---|---|---|---|",
    ]

    def rate(f: dict[str, Any]) -> str:
        if f["fdr"] is None:
            return "- (none supported)"
        return (
            f"{100 * f['fdr']:.1f} % ({f['spurious']} / {f['supported']}; "
            f"{100 * f['low']:.1f}-{100 * f['high']:.1f} %)"
        )

    for name, e in result["methods"].items():
        cells = [rate(e[f"fdr_{part}"]) for part in ("scored", "particle", "support", "surface")]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "ROC AUC, real vs spurious candidates (all / surface):",
        "",
        "| method | " + " | ".join(SIGNALS) + " |",
        "|---|" + "---:|" * len(SIGNALS),
    ]
    for name, e in result["methods"].items():
        cells = [f"{cell(e[f'auc_{s}'])} / {cell(e[f'auc_surface_{s}'])}" for s in SIGNALS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--model", type=Path, default=None, help="sbd model (default: shipped)")
    parser.add_argument("--methods", nargs="+", default=["sbd", "vst-bm3d"])
    parser.add_argument(
        "--ensemble",
        type=int,
        default=1,
        help="symmetries the sbd method averages over (its -p ensemble=N); 'auto' then finds "
        "the surface null made with the same N",
    )
    parser.add_argument("--images", type=int, default=6)
    parser.add_argument(
        "--exclude-spread",
        type=int,
        nargs="*",
        default=[],
        help="leave out the images runs with --images N scored (held-out checks)",
    )
    parser.add_argument("--stream", type=int, default=STREAM, help="seed stream of the noise")
    parser.add_argument("--draws", type=int, default=2)
    parser.add_argument("--bootstrap", type=int, default=6)
    parser.add_argument("--region", type=float, default=2.0)
    parser.add_argument(
        "--variants",
        nargs="+",
        default=["neighbours:surface"],
        help="PROFILE:CLASSES[:ADAPTIVE[:NEIGHBOURHOOD]] of the calibrated verdicts (profile "
        "lattice, neighbours or own; classes surface or frame; adaptive lattice (default), all "
        "or none; neighbourhood of the surface q-values in angstrom, 0: the whole surface); "
        "each judged on the same denoised frames",
    )
    parser.add_argument(
        "--surface-null",
        default="auto",
        help="surface null of the sbd method: 'auto' (the table beside the model), 'none' "
        "(vacuum only) or a table file (sbdenoise surface-null)",
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--name", default="trust")
    parser.add_argument(
        "--candidates",
        type=Path,
        default=None,
        help="also write every judged candidate (labels, FDR class, p-value, verdict) to this CSV",
    )
    parser.add_argument("--quiet", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    result = run(args)
    text = markdown(result)
    write_results(args.output, args.name, result, text)
    print(text)
    return result


if __name__ == "__main__":
    main()
