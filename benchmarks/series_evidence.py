"""Evidence that adds up over a series: how many frames confirm the real surface columns.

One frame's counts confirm a single surface Pt column only at about 2 sigma; a series adds the
evidence up. This measures how fast: a static abTEM movie of the demo's Pt/CeO2 particle at
0.45 e-/px (``simulated_series``, ``pt-ceo2`` source, no drift, no event), several noise seeds,
each frame denoised by the shipped model. For the first ``n`` frames (n = 1 ... frames), the
candidates of the denoised average are judged by :func:`sbdenoise.series.pipeline.series_columns`
(the summed counts at each candidate against a ring around it, Benjamini-Hochberg at 5 % over the
candidates), exactly as ``sbdenoise series`` does. Reported per n, over the seeds: the share of
the true surface columns (Pt columns facing vacuum, as the atomic model flags them, at least
1.5 A from the frame's edge) that are "supported", the share found as candidates at all, and the
candidates that lie more than 0.5 A from every column of the atomic model and are nevertheless
"supported" (in this particle: the bright Fresnel fringe 2 A outside the top facet).

    .venv/bin/python benchmarks/series_evidence.py            # 4 seeds x 10 frames, ~10 min
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from sbdenoise.denoise.registry import prepare
from sbdenoise.series import simulated_series
from sbdenoise.series.pipeline import series_columns

RESULTS = Path(__file__).parent / "results"
#: A candidate within this distance of a true column is that column, angstrom.
MATCH_A = 0.5
#: True columns closer than this to the frame's edge are not counted (their ring leaves it), A.
EDGE_A = 1.5


def _scores(
    denoised_mean: np.ndarray,
    total: np.ndarray,
    pixel: float,
    columns: np.ndarray,
    surface: np.ndarray,
) -> dict[str, float]:
    positions, supported = series_columns(denoised_mean, total, pixel)
    if len(positions) == 0:
        return {"supported": 0.0, "found": 0.0, "false_supported": 0}
    distance = np.hypot(*(positions[None] - columns[:, None]).transpose(2, 0, 1))
    nearest = np.argmin(distance, axis=1)
    close = distance[np.arange(len(columns)), nearest] < MATCH_A
    hit = close & supported[nearest]
    false = distance.min(axis=0) >= MATCH_A
    return {
        "supported": float(np.mean(hit[surface])),
        "found": float(np.mean(close[surface])),
        "false_supported": int(np.sum(false & supported)),
    }


def run(seeds: int, frames: int, size: int) -> dict:
    clean = simulated_series(
        n_frames=2, size=size, dose=0.45, drift_a=(0.0, 0.0), event_frame=None, source="pt-ceo2"
    )
    pixel = clean.pixel_size
    columns = clean.columns
    extent = np.array(clean.expectation.shape[1:]) * pixel
    inside = np.all((columns > EDGE_A) & (columns < extent - EDGE_A), axis=1)
    surface = clean.on_surface & inside
    prepared = prepare("sbd")
    rows: list[list[dict]] = []
    for seed in range(seeds):
        rng = np.random.default_rng(1000 + seed)
        counts = rng.poisson(clean.expectation[0], size=(frames, *clean.expectation.shape[1:]))
        denoised = np.stack(list(prepared.denoise_stack(counts, pixel)))
        per_n = []
        for n in range(1, frames + 1):
            score = _scores(
                denoised[:n].mean(axis=0), counts[:n].sum(axis=0), pixel, columns, surface
            )
            per_n.append({"frames": n, **score})
        rows.append(per_n)
        print(f"seed {seed}: " + ", ".join(f"{r['supported']:.2f}" for r in per_n), flush=True)
    summary = []
    for i in range(frames):
        at_n = [seed_rows[i] for seed_rows in rows]
        summary.append(
            {
                "frames": i + 1,
                "supported_mean": float(np.mean([r["supported"] for r in at_n])),
                "supported_min": float(np.min([r["supported"] for r in at_n])),
                "found_mean": float(np.mean([r["found"] for r in at_n])),
                "false_supported_mean": float(np.mean([r["false_supported"] for r in at_n])),
            }
        )
    return {
        "pixel_size_a": pixel,
        "surface_columns": int(surface.sum()),
        "seeds": seeds,
        "per_seed": rows,
        "summary": summary,
    }


def write_markdown(result: dict, path: Path) -> None:
    lines = [
        "# Evidence over a series: real surface columns confirmed by the summed counts",
        "",
        f"Machine: {result['machine']}. Command: `{result['command']}`; "
        f"{result['wall_minutes']:.1f} min wall.",
        "",
        f"Static abTEM Pt/CeO2 movie at 0.45 e-/px, {result['pixel_size_a']:.4f} A/px, "
        f"{result['surface_columns']} true surface columns in the frame, {result['seeds']} "
        "noise seeds; shipped model; `series_columns` (disc against ring, BH 5 %).",
        "",
        "| frames summed | surface columns supported (mean) | worst seed | found as candidates "
        "| supported candidates > 0.5 A from any true column (mean) |",
        "|---|---|---|---|---|",
    ]
    for row in result["summary"]:
        lines.append(
            f"| {row['frames']} | {row['supported_mean']:.2f} | {row['supported_min']:.2f} | "
            f"{row['found_mean']:.2f} | {row['false_supported_mean']:.1f} |"
        )
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--size", type=int, default=384, help="frame side, pixels")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", type=Path, default=RESULTS / "series_evidence")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    result = run(args.seeds, args.frames, args.size)
    result["machine"] = (
        f"{platform.processor() or platform.machine()}, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads)"
    )
    result["command"] = (
        f"python benchmarks/series_evidence.py --seeds {args.seeds} --frames {args.frames}"
    )
    result["wall_minutes"] = (time.perf_counter() - start) / 60
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.with_suffix(".json").write_text(json.dumps(result, indent=2))
    write_markdown(result, args.output.with_suffix(".md"))
    print(args.output.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
