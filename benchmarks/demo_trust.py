"""How many of the demo frame's real columns one frame's counts can confirm, against two oracles.

Reads what ``sbdenoise demo`` wrote (``noisy.tif``, ``denoised.tif``, ``truth.tif``: the counts,
the shipped network's output and the noise-free frame, 0.45 e-/px) and judges every candidate of
the denoised frame with :func:`sbdenoise.analysis.trust.judge_frame`, once per profile. The
columns of the noise-free frame are its own candidates (local maxima of ``truth.tif`` by the same
rule); a candidate is *real* within 0.6 A of one and *spurious* beyond 1 A (between: not scored).

Two oracles see the same counts and the same candidates, with the noise-free profile known; their
p-values are normal tails, their q-values from the same procedure within the same surface and bulk
families as the default verdicts (adaptive two-stage at the bulk's lattice sites,
Benjamini-Hochberg elsewhere):

- ``shape oracle``: the test ``profile="lattice"`` makes at a lattice site (the column shape on
  the disc of half the distance to the nearest other candidate, given the disc's total), with the
  noise-free profile at each candidate in place of its neighbours' mean, at every candidate. It
  holds its false-alarm rate under "no column here, any flat level", as the lattice verdicts do.
- ``vacuum oracle``: the Neyman-Pearson statistic of the noise-free profile against vacuum on the
  candidate's Voronoi cell (2 A at most). It is the most powerful test where the alternative to a
  column is vacuum; at a surface it is not (an empty site there is lit by its neighbours'
  fringes), which is why no verdict uses it. An upper bound on what any test could support.

One frame is one Poisson draw, and whether a borderline candidate is supported in it is partly
luck (and, for a candidate at the edge of the detector's threshold, even the CPU's bf16 rounding).
``--draws N`` repeats the whole judgement on N draws of the same noise-free frame: draw 0 is the
demo's own ``noisy.tif`` and ``denoised.tif``; draw k >= 1 is ``sample_poisson(truth,
default_rng(k))``, denoised here by the same method. Spurious supported candidates are split by
the noise-free frame at the candidate: *bright* where it is brighter than vacuum there (the
drawn profile's likelihood-ratio score of the noise-free frame against vacuum is positive, as in
``benchmarks/trust.py``: a fringe or a delocalised column image, which the counts do show) and
*dark* where it is not (a column the data cannot have shown).

Writes ``demo_trust.{json,md}``::

    .venv/bin/sbdenoise demo --output demo_output
    .venv/bin/python benchmarks/demo_trust.py --demo demo_output --draws 20
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
from scipy import stats
from scipy.spatial import cKDTree

sys.path.insert(0, str(Path(__file__).resolve().parent))

from table1 import RESULTS, machine, write_results

from sbdenoise.analysis.calibration import candidate_scores
from sbdenoise.analysis.candidates import find_candidates
from sbdenoise.analysis.column_profiles import own_region_pixels
from sbdenoise.analysis.likelihood import disc_pixels
from sbdenoise.analysis.trust import DEFAULT_FDR, DEFAULT_REGION_A, class_q_values, judge_frame
from sbdenoise.denoise.registry import PreparedMethod, prepare
from sbdenoise.noise.models import sample_poisson

REAL_A, SPURIOUS_A = 0.6, 1.0
#: (row name, judge_frame profile, adaptive classes) of the verdicts compared.
VARIANTS = (
    ("verdicts (lattice)", "lattice", "lattice"),
    ("verdicts (lattice, plain BH)", "lattice", "none"),
    ("verdicts (neighbours)", "neighbours", "lattice"),
)


def shape_oracle(
    counts: np.ndarray, truth: np.ndarray, positions_px: np.ndarray, radius_px: float, v: float
) -> np.ndarray:
    """Column-shape scores with the noise-free profile at each position (see the module notes)."""
    nearest, _ = cKDTree(positions_px).query(positions_px, k=2)
    reach = np.minimum(radius_px, 0.5 * nearest[:, 1])
    scores = np.full(len(positions_px), np.nan)
    for i, centre in enumerate(positions_px):
        _, flat, _ = disc_pixels(centre[None], reach[i], truth.shape)
        weight = np.log(np.maximum(truth.ravel()[flat], 1e-3 * v) / v)
        weight -= weight.mean()
        y = counts.ravel()[flat]
        spread = np.sqrt(y.mean() * np.sum(weight**2))
        scores[i] = np.sum(y * weight) / spread if spread > 0 else np.nan
    return scores


def vacuum_oracle(
    counts: np.ndarray, truth: np.ndarray, positions_px: np.ndarray, radius_px: float, v: float
) -> np.ndarray:
    """Standardised NP statistic of the noise-free profile against vacuum on each Voronoi cell."""
    column, flat = own_region_pixels(positions_px, radius_px, truth.shape)
    weight = np.log(np.maximum(truth.ravel()[flat], 1e-3 * v) / v)
    n = len(positions_px)
    top = np.bincount(column, weights=(counts.ravel()[flat] - v) * weight, minlength=n)
    spread = np.sqrt(np.bincount(column, weights=v * weight**2, minlength=n))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(spread > 0, top / spread, np.nan)


def run(args: argparse.Namespace) -> dict[str, Any]:
    counts = tifffile.imread(args.demo / "noisy.tif").astype(np.float64)
    denoised = tifffile.imread(args.demo / "denoised.tif").astype(np.float64)
    truth = tifffile.imread(args.demo / "truth.tif").astype(np.float64)
    meta = json.loads((args.demo / "demo.json").read_text())
    pixel = float(meta["pixel_size_angstrom"])
    params = None if args.ensemble is None else {"ensemble": args.ensemble}
    method = prepare("sbd", params, model=None if args.model is None else str(args.model))
    columns = find_candidates(truth, pixel).positions
    draws = [judge_draw(counts, denoised, truth, columns, pixel, method)]
    for k in range(1, args.draws):
        counts_k = sample_poisson(truth, np.random.default_rng(k)).astype(np.float64)
        denoised_k = method.denoise_frame(counts_k, pixel).astype(np.float64)
        draws.append(judge_draw(counts_k, denoised_k, truth, columns, pixel, method))
    rows = {
        name: {key: sum(d["rows"][name][key] for d in draws) for key in draws[0]["rows"][name]}
        for name in draws[0]["rows"]
    }
    for name, row in rows.items():
        row["draws_without_spurious"] = sum(
            d["rows"][name]["spurious_supported"] == 0 for d in draws
        )
        row["draws_without_dark_spurious"] = sum(
            d["rows"][name]["spurious_supported_dark"] == 0 for d in draws
        )
    first = draws[0]
    return {
        "command": " ".join(sys.argv),
        "demo": str(args.demo),
        "frame": meta.get("frame", ""),
        "dose_e_per_px": meta.get("dose_e_per_px"),
        "model": method.params.get("model"),
        "draws": len(draws),
        "noise_free_columns": len(columns),
        "candidates": first["candidates"],
        "lattice_sites": first["lattice_sites"],
        "real_at_lattice_sites": first["real_at_lattice_sites"],
        "machine": machine("cpu"),
        "rows": rows,
        "per_draw": [d["rows"] for d in draws],
    }


def judge_draw(
    counts: np.ndarray,
    denoised: np.ndarray,
    truth: np.ndarray,
    columns: np.ndarray,
    pixel: float,
    method: PreparedMethod,
) -> dict[str, Any]:
    """Every verdict variant and both oracles on one noisy frame and its denoised image.

    Parameters
    ----------
    counts, denoised, truth : numpy.ndarray
        ``(y, x)`` counts, the method's estimate and the noise-free frame, e-/px.
    columns : numpy.ndarray
        ``(n, 2)`` columns of the noise-free frame, A.
    pixel : float
        Pixel size, A.
    method : PreparedMethod
        The method that made ``denoised`` (the verdicts' bootstrap runs it again).

    Returns
    -------
    dict
        ``rows`` (the tallies of :func:`tally` per test), ``candidates``, ``lattice_sites`` and
        ``real_at_lattice_sites`` (of the default lattice verdicts).
    """
    rows: dict[str, dict[str, int]] = {}
    lattice = None
    for name, profile, adaptive in VARIANTS:
        result = judge_frame(
            counts,
            denoised,
            pixel,
            method=method,
            profile=profile,
            adaptive=adaptive,
            show_progress=False,
        )
        distance, _ = cKDTree(columns).query(result.candidates.positions)
        real, spurious = distance <= REAL_A, distance > SPURIOUS_A
        bright = bright_in_truth(
            truth, denoised, result.candidates.positions / pixel, pixel, result
        )
        supported = result.verdict == "supported"
        rows[name] = tally(supported, real, spurious, bright)
        if lattice is None:
            lattice = (result, real, spurious, bright)
    assert lattice is not None
    result, real, spurious, bright = lattice
    v = result.vacuum.rate
    positions_px = result.candidates.positions / pixel
    radius_px = DEFAULT_REGION_A / pixel
    for name, scores in (
        ("shape oracle", shape_oracle(counts, truth, positions_px, radius_px, v)),
        ("vacuum oracle", vacuum_oracle(counts, truth, positions_px, radius_px, v)),
    ):
        q = class_q_values(stats.norm.sf(scores), result.fdr_class, DEFAULT_FDR)
        with np.errstate(invalid="ignore"):
            rows[name] = tally(q <= DEFAULT_FDR, real, spurious, bright)
    return {
        "rows": rows,
        "candidates": len(result),
        "lattice_sites": int(np.sum(result.lattice_site)),
        "real_at_lattice_sites": int(np.sum(real & result.lattice_site.astype(bool))),
    }


def bright_in_truth(
    truth: np.ndarray, denoised: np.ndarray, positions_px: np.ndarray, pixel: float, result: Any
) -> np.ndarray:
    """True where the noise-free frame is brighter than vacuum at a candidate.

    The likelihood-ratio score of the noise-free frame (in place of the counts) for the drawn
    profile against vacuum, on the candidate's Voronoi cell, is positive (NaN, a cell off the
    frame, counts as not bright), the rule of ``benchmarks/trust.py``.
    """
    score = candidate_scores(
        truth, denoised, positions_px, DEFAULT_REGION_A / pixel, result.vacuum.rate
    )
    return np.nan_to_num(score, nan=-1.0) > 0


def tally(
    supported: np.ndarray, real: np.ndarray, spurious: np.ndarray, bright: np.ndarray
) -> dict[str, int]:
    """Supported real and spurious candidates, how many of each there are, and the spurious
    supported where the noise-free frame is dark (not brighter than vacuum)."""
    return {
        "real": int(real.sum()),
        "real_supported": int(np.sum(supported & real)),
        "spurious": int(spurious.sum()),
        "spurious_supported": int(np.sum(supported & spurious)),
        "spurious_dark": int(np.sum(spurious & ~bright)),
        "spurious_supported_dark": int(np.sum(supported & spurious & ~bright)),
    }


def markdown(result: dict[str, Any]) -> str:
    draws = result["draws"]
    lines = [
        "# The demo frame: what one frame's counts confirm, against two oracles",
        "",
        f"{result['frame']}, {result['dose_e_per_px']} e-/px; model `{result['model']}`. "
        f"Draw 0 (the demo's own): {result['candidates']} candidates, {result['lattice_sites']} "
        f"at lattice sites ({result['real_at_lattice_sites']} of them real); "
        f"{result['noise_free_columns']} columns in the noise-free frame. Real: within {REAL_A} A "
        f"of one; spurious: beyond {SPURIOUS_A} A; *dark*: the noise-free frame is not brighter "
        "than vacuum there (the rest are fringes the counts do show). FDR "
        f"{DEFAULT_FDR:.0%} within the surface, bulk and lattice-site families (adaptive two-stage "
        "procedure at the bulk's lattice sites, Benjamini-Hochberg elsewhere, unless the row says "
        f"plain BH). Command: `{result['command']}`.",
        "",
    ]
    if draws > 1:
        lines += [
            f"Summed over {draws} Poisson draws of the same noise-free frame (draw 0 the demo's "
            "own, draw k >= 1 `sample_poisson(truth, default_rng(k))`):",
            "",
        ]
    lines += [
        "| test | real supported | spurious supported | of them dark | draws with no spurious "
        "supported | draws with no dark spurious supported |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, row in result["rows"].items():
        share = row["real_supported"] / max(row["real"], 1)
        lines.append(
            f"| {name} | {row['real_supported']} of {row['real']} ({share:.0%}) | "
            f"{row['spurious_supported']} of {row['spurious']} | "
            f"{row['spurious_supported_dark']} of {row['spurious_dark']} | "
            f"{row['draws_without_spurious']} of {draws} | "
            f"{row['draws_without_dark_spurious']} of {draws} |"
        )
    lines += [
        "",
        "The shape oracle is the limit of the lattice verdicts' test (same null, true profile); "
        "the vacuum oracle is not a valid test at a surface and bounds every test from above.",
        "",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--demo", type=Path, default=Path("demo_output"))
    parser.add_argument("--model", type=Path, default=None, help="sbd model (default: shipped)")
    parser.add_argument(
        "--ensemble",
        type=int,
        default=None,
        help="the sbd method's ensemble, as the demo output was denoised (default: the method's)",
    )
    parser.add_argument(
        "--draws",
        type=int,
        default=1,
        help="Poisson draws of the noise-free frame to judge (1: the demo's own frame only)",
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--name", default="demo_trust")
    args = parser.parse_args(argv)
    if args.draws < 1:
        parser.error(f"--draws must be at least 1, got {args.draws}")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    result = run(args)
    text = markdown(result)
    write_results(args.output, args.name, result, text)
    print(text)
    return result


if __name__ == "__main__":
    main()
