"""Shape of the supported surface candidates: is a spurious one a fringe drawn as a column?

``benchmarks/surface_power.py`` splits the spurious surface candidates that the verdicts support
into *bright* (the clean image is brighter than vacuum there: a Fresnel fringe, not a column)
and *dark* (a discovery the noise made). A fringe just outside a particle is a ridge along the
surface; a projected column is a round maximum. This benchmark measures, at every supported
surface candidate of ``benchmarks/trust.py`` runs (``--candidates CSV`` with its ``--stream``),
how round the maximum is, in the clean image and in the model's denoised frame (the same noise
draw, rebuilt from the stream): the Hessian of the image smoothed by a Gaussian of
``--sigma`` angstrom, roundness = the smaller over the larger curvature (1: round, 0: a ridge;
negative where the point is not a maximum). It also gives each candidate's distance to the nearest
true column. A model that turns fringes into blobs shows spurious candidates round in its output
but ridge-like in the clean image (2026-12-05: run ag at 2,000, `campaign/README.md`).

Writes ``NAME.json`` and ``NAME.md``::

    .venv/bin/python benchmarks/surface_shape.py --dataset /work/data/surface \
        --run ag2000=MODEL,candidates_ag2000_14.csv,14 \
        --run shipped=MODEL,candidates_shipped_14.csv,14
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage as ndi

sys.path.insert(0, str(Path(__file__).resolve().parent))

from table1 import RESULTS, machine, noise_rng, write_results
from trust import true_columns

from sbdenoise.analysis.likelihood import roc_auc
from sbdenoise.denoise.registry import prepare
from sbdenoise.noise.models import sample_poisson
from sbdenoise.progress import progress_bar
from sbdenoise.simulate.store import SimulatedDataset

#: Gaussian smoothing before the Hessian, angstrom (about a column's radius at this sampling).
SIGMA_A = 0.4
#: Percentiles reported.
PERCENTILES = (25, 50, 75)


@dataclass(frozen=True)
class TrustRun:
    """One model's trust run: its name, model file, candidates CSV and noise stream."""

    name: str
    model: str
    candidates: Path
    stream: int


def parse_run(text: str) -> TrustRun:
    """``NAME=MODEL,CSV,STREAM`` -> :class:`TrustRun`."""
    name, _, rest = text.partition("=")
    parts = rest.split(",")
    if not name or len(parts) != 3 or not parts[2].isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=MODEL,CANDIDATES.csv,STREAM")
    return TrustRun(name, parts[0], Path(parts[1]), int(parts[2]))


def roundness(image: np.ndarray, points_px: np.ndarray, sigma_px: float) -> np.ndarray:
    """Smaller over larger Hessian curvature of the smoothed image at each point.

    Parameters
    ----------
    image : numpy.ndarray
        2-D image (any units).
    points_px : numpy.ndarray
        ``(n, 2)`` positions ``(y, x)``, pixels (rounded to the nearest pixel).
    sigma_px : float
        Gaussian smoothing, pixels.

    Returns
    -------
    numpy.ndarray
        ``(n,)``: 1 for a round maximum, near 0 for a ridge, negative on a saddle (clipped at
        -1), -1 where no curvature is negative.
    """
    hyy = ndi.gaussian_filter(image, sigma_px, order=(2, 0))
    hxx = ndi.gaussian_filter(image, sigma_px, order=(0, 2))
    hxy = ndi.gaussian_filter(image, sigma_px, order=(1, 1))
    rows = np.clip(np.rint(points_px[:, 0]).astype(int), 0, image.shape[0] - 1)
    cols = np.clip(np.rint(points_px[:, 1]).astype(int), 0, image.shape[1] - 1)
    a, b, c = hyy[rows, cols], hxy[rows, cols], hxx[rows, cols]
    half_trace, spread = (a + c) / 2.0, np.sqrt(((a - c) / 2.0) ** 2 + b**2)
    steep, shallow = half_trace - spread, half_trace + spread  # steep <= shallow
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = shallow / steep
    return np.where(steep < 0, np.clip(ratio, -1.0, 1.0), -1.0)


def supported_surface_rows(path: Path) -> list[dict[str, Any]]:
    """The supported surface candidates (real or spurious) of a trust run's candidates CSV."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [
        row
        for row in rows
        if row["supported"] == "True"
        and row["surface"] == "True"
        and (row["real"] == "True" or row["spurious"] == "True")
    ]


def measure(data: SimulatedDataset, run: TrustRun, sigma_a: float, show: bool) -> dict[str, Any]:
    """Roundness (clean and denoised) and distance to the nearest true column per candidate."""
    rows = supported_surface_rows(run.candidates)
    method = prepare("sbd", model=run.model)
    frames: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for row in rows:
        frames.setdefault((int(row["image"]), int(row["realisation"])), []).append(row)
    real, clean_round, denoised_round, distance = [], [], [], []
    for (index, realisation), group in progress_bar(list(frames.items()), run.name, show=show):
        clean = data.image(index).astype(np.float64)
        pixel = float(data.params["pixel_size"][index])
        noisy = sample_poisson(clean, noise_rng(run.stream, index, realisation))
        denoised = method.denoise_frame(noisy.astype(np.float64), pixel)
        points = np.array([[float(r["y_A"]), float(r["x_A"])] for r in group])
        truth, _, _ = true_columns(data, index)
        real += [r["real"] == "True" for r in group]
        clean_round += list(roundness(clean, points / pixel, sigma_a / pixel))
        denoised_round += list(roundness(denoised, points / pixel, sigma_a / pixel))
        if len(truth):
            gaps = np.hypot(*(points[:, None, :] - truth[None, :, :]).transpose(2, 0, 1))
            distance += list(gaps.min(axis=1))
        else:
            distance += [np.inf] * len(group)
    is_real = np.array(real, dtype=bool)
    result: dict[str, Any] = {"model": run.model, "candidates": str(run.candidates)}
    for key, values in (
        ("clean", np.array(clean_round)),
        ("denoised", np.array(denoised_round)),
        ("distance_A", np.array(distance)),
    ):
        result[key] = {
            label: {
                "n": int(part.size),
                "percentiles": [float(v) for v in np.percentile(part, PERCENTILES)]
                if part.size
                else None,
            }
            for label, part in (("real", values[is_real]), ("spurious", values[~is_real]))
        }
        if key != "distance_A" and is_real.any() and (~is_real).any():
            result[key]["auc_real_rounder"] = roc_auc(values[is_real], values[~is_real])
    return result


def markdown(result: dict[str, Any]) -> str:
    """The result as a markdown page."""

    def cell(entry: dict[str, Any]) -> str:
        if not entry["percentiles"]:
            return "-"
        return f"{entry['n']}: " + " / ".join(f"{v:.2f}" for v in entry["percentiles"])

    lines = [
        "# Shape of the supported surface candidates",
        "",
        f"Dataset `{result['dataset']}`; Hessian after a Gaussian of {result['sigma_A']} A; "
        f"roundness 1: a round maximum, 0: a ridge. Cells: candidates, then the "
        f"{', '.join(map(str, PERCENTILES))}th percentiles. Command: `{result['command']}`.",
        "",
        "| model | roundness in the clean image, real | spurious | AUC | roundness in the "
        "denoised frame, real | spurious | AUC | distance to the nearest true column (A), "
        "spurious |",
        "|---|---|---|---:|---|---|---:|---|",
    ]
    for name, run in result["runs"].items():
        lines.append(
            f"| {name} | {cell(run['clean']['real'])} | {cell(run['clean']['spurious'])} | "
            f"{run['clean'].get('auc_real_rounder', float('nan')):.3f} | "
            f"{cell(run['denoised']['real'])} | {cell(run['denoised']['spurious'])} | "
            f"{run['denoised'].get('auc_real_rounder', float('nan')):.3f} | "
            f"{cell(run['distance_A']['spurious'])} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, required=True, help="the trust runs' dataset")
    parser.add_argument(
        "--run", type=parse_run, action="append", required=True, help="NAME=MODEL,CSV,STREAM"
    )
    parser.add_argument("--sigma", type=float, default=SIGMA_A, help="smoothing, angstrom")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--name", default="surface_shape")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    data = SimulatedDataset(args.dataset)
    result: dict[str, Any] = {
        "benchmark": "surface_shape",
        "command": "python benchmarks/surface_shape.py "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "dataset": str(args.dataset),
        "sigma_A": args.sigma,
        "machine": machine("cpu"),
        "runs": {run.name: measure(data, run, args.sigma, not args.quiet) for run in args.run},
    }
    text = markdown(result)
    write_results(args.output, args.name, result, text)
    print(text)
    return result


if __name__ == "__main__":
    main()
