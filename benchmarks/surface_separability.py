"""Can a detector find the surface columns it misses? Their response against empty lattice sites.

The median surface Jaccard of SBD at 0.45 e-/px (0.82) is set by the surface columns the detector
misses, mostly columns of one or two atoms (``surface_dose.md``). A lower threshold, or one
lowered only where the lattice expects a column (a "lattice-aware" detector), recovers them only
if the denoised frame separates them from the sites where the lattice continues into vacuum
and no column is. This benchmark measures that separation on one draw per image:

* the detector's response (scale-normalised LoG at the columns' scale, the quantity it
  thresholds) at every true surface column it found and at every one it missed, divided by the
  threshold it used on that frame (1 = just detected);
* the same at the **empty lattice sites**: one lattice step beyond a true surface column, along
  a row of true columns (``b + (b - a)`` for true columns ``a``, ``b`` within 3.3 Å), with no
  true column of any element within 1.2 Å.

For thresholds below 1 it counts, per frame, the missed columns a lowered threshold would recover
and the empty sites it would light. Each lit empty site is a spurious column outside the surface
that also hides the true column behind it, so lowering pays only where recovered columns clearly
outnumber lit sites::

    .venv/bin/python benchmarks/surface_separability.py --dataset /work/data/surface-tilt31

Writes ``surface_separability.{json,md,png}`` to ``--output``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

sys.path.insert(0, str(Path(__file__).resolve().parent))

from surface_evaluation import detection_thresholds, method_params
from table1 import RESULTS, machine, machine_line, spread, write_results

from sbdenoise.analysis.columns import (
    DEFAULT_MIN_CONTRAST,
    column_response,
    contrast_threshold,
    detect_columns,
    inside_frame,
)
from sbdenoise.analysis.evaluation import CLEAN_REFERENCE, evaluate
from sbdenoise.analysis.likelihood import _pyplot, save_figure
from sbdenoise.denoise.registry import prepare
from sbdenoise.simulate.store import SimulatedDataset

#: Seed of the Poisson draws (that of ``surface_evaluation.py``).
SEED = 5
#: Border of the scored columns, angstrom (``evaluate``'s default).
BORDER_A = 1.0
#: Largest distance of two true columns whose row is continued, angstrom (fcc [110]: 1.96-2.8).
ROW_REACH_A = 3.3
#: An empty site has no true column of any element within this distance, angstrom.
EMPTY_CLEARANCE_A = 1.2
#: Empty sites closer than this to the frame edge are left out, angstrom.
EMPTY_BORDER_A = 2.0
#: Continuations that land within this distance of each other are one site, angstrom.
MERGE_A = 0.35
#: Lowered thresholds, as fractions of the detector's own.
FRACTIONS = (0.3, 0.5, 0.7, 0.85)
GROUPS = ("found", "missed", "empty")
COLOURS = {"found": "#1b7837", "missed": "#e08214", "empty": "#762a83"}


def empty_sites(surface: np.ndarray, scored: np.ndarray, every: np.ndarray) -> np.ndarray:
    """Lattice sites one step beyond the surface columns where no column is, angstrom.

    Parameters
    ----------
    surface : numpy.ndarray
        True surface columns, ``(s, 2)``, ``(y, x)`` angstrom.
    scored : numpy.ndarray
        True columns of the scored elements (surface ones included), ``(n, 2)``.
    every : numpy.ndarray
        True columns of every element, ``(m, 2)`` (the support too).

    Returns
    -------
    numpy.ndarray
        ``(k, 2)`` sites: ``b + (b - a)`` for surface columns ``b`` and scored columns ``a``
        within :data:`ROW_REACH_A`, at least :data:`EMPTY_CLEARANCE_A` from every true column,
        merged within :data:`MERGE_A`.
    """
    if len(surface) == 0 or len(scored) < 2:
        return np.zeros((0, 2))
    neighbours = cKDTree(scored).query_ball_point(surface, ROW_REACH_A)
    steps = [2 * b - scored[a] for b, near in zip(surface, neighbours, strict=True) for a in near]
    sites = np.asarray(steps, dtype=np.float64).reshape(-1, 2)
    if len(sites) == 0:
        return sites
    sites = sites[cKDTree(every).query(sites)[0] >= EMPTY_CLEARANCE_A]
    kept: list[np.ndarray] = []
    for site in sites:
        if not kept or np.min(np.hypot(*(np.asarray(kept) - site).T)) > MERGE_A:
            kept.append(site)
    return np.asarray(kept).reshape(-1, 2)


def _sample(response: np.ndarray, positions: np.ndarray, pixel_size: float) -> np.ndarray:
    """Response at the pixels nearest to ``positions`` (angstrom)."""
    if len(positions) == 0:
        return np.zeros(0)
    rows, cols = np.rint(positions / pixel_size).astype(np.intp).T
    rows = np.clip(rows, 0, response.shape[0] - 1)
    cols = np.clip(cols, 0, response.shape[1] - 1)
    return response[rows, cols]


def separation(
    data: SimulatedDataset,
    name: str,
    indices: list[int],
    *,
    min_contrast: float,
    model: Path | None,
    seed: int,
    elements: list[str],
) -> dict[str, Any]:
    """Responses (over the detector's threshold) of found, missed and empty sites for a method."""
    frames: dict[int, np.ndarray] = {}
    if name == CLEAN_REFERENCE:
        method: Any = CLEAN_REFERENCE
    else:
        prepared = prepare(name, method_params(name), model=model if name == "sbd" else None)
        order = iter(indices)

        def method(counts: np.ndarray, pixel_size: float) -> np.ndarray:
            out = prepared.denoise_frame(counts, pixel_size)
            frames[next(order)] = np.asarray(out, dtype=np.float32)
            return out

        method.__name__ = name
    started = time.perf_counter()
    result = evaluate(
        data,
        method,
        n_realisations=1,
        indices=indices,
        seed=seed,
        border=BORDER_A,
        elements=elements,
        detection={"min_contrast": min_contrast},
    )
    values: dict[str, list[float]] = {g: [] for g in GROUPS}
    for index in indices:
        frame = frames[index] if index in frames else np.asarray(data.image(index))
        pixel_size = float(data.params["pixel_size"][index])
        found = detect_columns(frame, pixel_size, min_contrast=min_contrast, border=BORDER_A)
        scale = float(np.median(found.sigma)) / pixel_size if len(found) else 0.5 / pixel_size
        response = column_response(frame, scale) / contrast_threshold(frame, min_contrast)
        rows = [t for t in result.truth_columns if t["image"] == index]
        scored = np.array([[t["y_A"], t["x_A"]] for t in rows]).reshape(-1, 2)
        surface = np.array([t["surface"] for t in rows], dtype=bool)
        hit = np.array([t["found"] for t in rows], dtype=bool)
        table = data.columns(index)
        every = np.stack([np.asarray(table["y"]), np.asarray(table["x"])], axis=1)
        sites = empty_sites(scored[surface], scored, every)
        sites = sites[inside_frame(sites, frame.shape, pixel_size, EMPTY_BORDER_A)]
        values["found"] += _sample(response, scored[surface & hit], pixel_size).tolist()
        values["missed"] += _sample(response, scored[surface & ~hit], pixel_size).tolist()
        values["empty"] += _sample(response, sites, pixel_size).tolist()
    n = len(indices)
    arrays = {g: np.asarray(v) for g, v in values.items()}
    lowered = []
    for fraction in FRACTIONS:
        recovered = float(np.sum(arrays["missed"] >= fraction)) / n
        lit = float(np.sum(arrays["empty"] >= fraction)) / n
        lowered.append(
            {
                "fraction": fraction,
                "recovered_per_frame": recovered,
                "recovered_share": float(np.mean(arrays["missed"] >= fraction))
                if arrays["missed"].size
                else float("nan"),
                "lit_per_frame": lit,
                "lit_share": float(np.mean(arrays["empty"] >= fraction))
                if arrays["empty"].size
                else float("nan"),
            }
        )
    return {
        "min_contrast": min_contrast,
        "counts_per_frame": {g: len(v) / n for g, v in values.items()},
        "percentiles": {
            g: np.percentile(a, [5, 25, 50, 75, 95]).tolist() if a.size else None
            for g, a in arrays.items()
        },
        "lowered": lowered,
        "values": {g: np.round(a, 4).tolist() for g, a in arrays.items()},
        "seconds": time.perf_counter() - started,
    }


def plot(result: dict[str, Any], path: Path) -> Path:
    """Histograms of the response over the threshold, one panel per method."""
    plt = _pyplot()
    names = list(result["methods"])
    fig, axes = plt.subplots(1, len(names), figsize=(5.2 * len(names), 3.9), squeeze=False)
    bins = np.linspace(-0.5, 4.0, 46)
    for ax, name in zip(axes[0], names, strict=True):
        entry = result["methods"][name]
        for group in GROUPS:
            values = np.clip(np.asarray(entry["values"][group]), bins[0], bins[-1])
            if values.size == 0:
                continue
            ax.hist(
                values,
                bins=bins,
                density=True,
                histtype="step",
                lw=1.6,
                color=COLOURS[group],
                label=f"{group} ({entry['counts_per_frame'][group]:.1f}/frame)",
            )
        ax.axvline(1.0, color="k", ls="--", lw=1, label="detector threshold")
        ax.set_xlabel(f"detector response / threshold (clipped to {bins[0]:g}..{bins[-1]:g})")
        ax.set_title(f"{name} (min contrast {entry['min_contrast']:g})")
        ax.legend(fontsize=8, frameon=False)
    axes[0][0].set_ylabel("density")
    fig.suptitle(
        "True surface columns found and missed, empty lattice sites beyond the surface",
        fontsize=10,
    )
    return save_figure(fig, path)


def markdown(result: dict[str, Any], name: str) -> str:
    """The results as a Markdown page."""
    lines = [
        "# Missed surface columns against empty lattice sites",
        "",
        machine_line(result["machine"]),
        f"Dataset `{result['dataset']}`: {result['images']} images x 1 Poisson draw (seed "
        f"{result['seed']}), columns of {', '.join(result['elements'])}. Response: the "
        "detector's scale-normalised LoG at the columns' scale over the threshold it used on the "
        "frame (1 = just detected). Empty sites: one lattice step beyond a true surface column "
        f"along a row of true columns, no true column within {EMPTY_CLEARANCE_A:g} Å. Command: "
        f"`{result['command']}` ({result['minutes']:.0f} min).",
        "",
        "| method | group | per frame | 5 % | 25 % | median | 75 % | 95 % |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for method, entry in result["methods"].items():
        for group in GROUPS:
            p = entry["percentiles"][group]
            cells = " | ".join(f"{v:.2f}" for v in p) if p else " | ".join(["-"] * 5)
            lines.append(
                f"| {method} | {group} | {entry['counts_per_frame'][group]:.2f} | {cells} |"
            )
    lines += [
        "",
        "A threshold lowered to a fraction of the detector's: missed surface columns it would "
        "recover and empty sites it would light, per frame (shares in brackets).",
        "",
        "| method | fraction | recovered per frame | lit empty sites per frame |",
        "|---|---:|---:|---:|",
    ]
    for method, entry in result["methods"].items():
        for row in entry["lowered"]:
            lines.append(
                f"| {method} | {row['fraction']:g} | {row['recovered_per_frame']:.2f} "
                f"({row['recovered_share']:.0%}) | {row['lit_per_frame']:.2f} "
                f"({row['lit_share']:.0%}) |"
            )
    lines += ["", f"![separation]({name}.png)", ""]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--methods", nargs="+", default=["sbd", CLEAN_REFERENCE])
    parser.add_argument("--model", type=Path, default=None, help="sbd model (default: shipped)")
    parser.add_argument("--max-images", type=int, default=None)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--elements", nargs="*", default=["Pt"])
    parser.add_argument("--min-contrast", action="append", default=[], metavar="METHOD=VALUE")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--name", default="surface_separability")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    started = time.perf_counter()
    data = SimulatedDataset(args.dataset)
    indices = [int(i) for i in spread(data.indices(split="test"), args.max_images)]
    thresholds = detection_thresholds(args.min_contrast)
    methods = {}
    for name in args.methods:
        contrast = thresholds.get(name, {}).get("min_contrast", DEFAULT_MIN_CONTRAST)
        methods[name] = separation(
            data,
            name,
            indices,
            min_contrast=contrast,
            model=args.model,
            seed=args.seed,
            elements=args.elements,
        )
        print(f"{name}: {methods[name]['lowered']}", flush=True)
    result = {
        "command": " ".join(["benchmarks/surface_separability.py", *(argv or sys.argv[1:])]),
        "dataset": str(args.dataset),
        "images": len(indices),
        "seed": args.seed,
        "elements": list(args.elements),
        "machine": machine("cpu"),
        "methods": methods,
        "minutes": (time.perf_counter() - started) / 60,
    }
    plot(result, args.output / f"{args.name}.png")
    text = markdown(result, args.name)
    write_results(args.output, args.name, result, text)
    print(text)
    return result


if __name__ == "__main__":
    main()
