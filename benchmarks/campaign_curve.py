"""Where the campaign is going: gate PSNR of every shipped model against the CPU hours behind it.

Reads the shipped-model table of ``benchmarks/results/model_history.md`` (each row's wall hours
on 2 cores and its PSNR on the gate, VST+BM3D on the same frames), fits the gate PSNR as a
straight line in log2 of the hours (the usual shape of a training curve far from convergence)
over the later models, and reads off how many CPU hours the issue's targets would cost at that
rate: 38 dB, and VST+BM3D + 4 dB. Beside it, the issue's structure target: the median surface
Jaccard of each version scored alike (``surface_evaluation_vN.json``: Pt columns, 5 draws of the
132 images of the ``surface`` set), with what one frame's counts support without a prior about
the surface (the counts-only oracle, ``surface_oracle.json``) where it has been measured. The
fit is a trend of a campaign whose recipe changed along the way (more structures, a moving
average, vacuum weighting), not a law; its extrapolation says how far the targets are at the
rate this CPU campaign has been buying decibels. Writes
``campaign_curve.{json,md,png}``::

    .venv/bin/python benchmarks/campaign_curve.py [--fit-from v4] [--history FILE]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from table1 import RESULTS, write_results

from sbdenoise.analysis.likelihood import _pyplot, save_figure

TARGET_PSNR_DB = 38.0
TARGET_GAP_DB = 4.0
TARGET_SURFACE_JACCARD = 0.9
#: The surface evaluations that compare across versions: Pt columns, 132 images, 5 draws.
SURFACE_SCORING = {"elements": ["Pt"], "images": 132, "draws": 5}
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


@dataclass(frozen=True)
class ShippedModel:
    """One row of the shipped-model table.

    Attributes
    ----------
    version : str
        ``v1``, ``v2``, ...
    hours : float
        Wall hours of training behind the model on 2 cores (cumulative over its lineage).
    psnr_db : float
        Its gate PSNR, dB (peak 1 e-/px).
    bm3d_db : float
        VST+BM3D on the same frames, dB.
    """

    version: str
    hours: float
    psnr_db: float
    bm3d_db: float


def _leading_number(cell: str) -> float:
    """The first number of a table cell (``"35.79 ± 1.66 (gate ...)"`` -> 35.79)."""
    match = _NUMBER.search(cell.replace(",", ""))
    if match is None:
        raise ValueError(f"no number in table cell {cell!r}")
    return float(match.group())


def read_shipped(history: Path) -> list[ShippedModel]:
    """The shipped models of ``model_history.md`` (the table before "Candidates not shipped").

    Parameters
    ----------
    history : Path
        The model history file.

    Returns
    -------
    list of ShippedModel
        In table order.
    """
    text = history.read_text().split("## Candidates not shipped")[0]
    rows = [line for line in text.splitlines() if re.match(r"\|\s*v\d+\s*\|", line)]
    if not rows:
        raise ValueError(f"{history} has no shipped-model rows")
    models = []
    for row in rows:
        cells = [cell.strip() for cell in row.strip().strip("|").split("|")]
        # version | date | architecture | steps | hours | PSNR | VST+BM3D | gap | previous | doses
        models.append(
            ShippedModel(
                version=cells[0],
                hours=_leading_number(cells[4]),
                psnr_db=_leading_number(cells[5]),
                bm3d_db=_leading_number(cells[6]),
            )
        )
    return models


def fit_log_hours(models: list[ShippedModel]) -> tuple[float, float]:
    """Least-squares ``psnr = intercept + slope * log2(hours)``; ``(intercept, slope)``, dB."""
    if len(models) < 2:
        raise ValueError("a trend needs at least two models")
    x = np.log2([m.hours for m in models])
    y = np.array([m.psnr_db for m in models])
    slope, intercept = np.polyfit(x, y, 1)
    return float(intercept), float(slope)


def hours_for(psnr_db: float, intercept: float, slope: float) -> float:
    """CPU hours at which the trend reaches ``psnr_db`` (inf for a flat or falling trend)."""
    if slope <= 0:
        return float("inf")
    return float(2.0 ** ((psnr_db - intercept) / slope))


def read_surface(results: Path, models: list[ShippedModel]) -> list[dict[str, float | str]]:
    """Median surface Jaccard (and quartiles) of each version scored as :data:`SURFACE_SCORING`."""
    rows: list[dict[str, float | str]] = []
    for m in models:
        path = results / f"surface_evaluation_{m.version}.json"
        if not path.is_file():
            continue
        scored = json.loads(path.read_text())
        if any(scored.get(key) != value for key, value in SURFACE_SCORING.items()):
            continue
        jaccard = scored["methods"]["sbd"]["surface_jaccard"]
        rows.append(
            {
                "version": m.version,
                "hours": m.hours,
                "median": jaccard["median"],
                "q1": jaccard["q1"],
                "q3": jaccard["q3"],
            }
        )
    return rows


def read_oracle(path: Path, dose: float = 0.45) -> dict[str, float | str] | None:
    """The oracle's median surface Jaccard at ``dose`` (e-/px) from ``surface_oracle.json``."""
    if not path.is_file():
        return None
    oracle = json.loads(path.read_text())
    for point in oracle["curve"]:
        if abs(point["dose"] - dose) < 1e-9:
            return {
                "dataset": oracle["dataset"],
                "equal_odds": point["median_equal_odds"],
                "best": point["median_best"],
            }
    return None


def plot(
    models: list[ShippedModel],
    fitted: list[ShippedModel],
    fit: tuple[float, float],
    path: Path,
    surface: list[dict[str, float | str]] | None = None,
    oracle: dict[str, float | str] | None = None,
) -> None:
    """Gate PSNR against hours, the trend, VST+BM3D and the targets; the surface Jaccard beside."""
    plt = _pyplot()
    intercept, slope = fit
    if surface:
        fig, (ax, side) = plt.subplots(1, 2, figsize=(14, 4.8))
        plot_surface(side, surface, oracle)
    else:
        fig, ax = plt.subplots(figsize=(7.5, 4.6))
    hours = np.array([m.hours for m in models])
    ax.plot(hours, [m.psnr_db for m in models], "o-", color="tab:blue", label="shipped SBD (gate)")
    for m in models:
        ax.annotate(
            m.version, (m.hours, m.psnr_db), textcoords="offset points", xytext=(4, -11), fontsize=8
        )
    reach = hours_for(TARGET_PSNR_DB, intercept, slope)
    right = min(max(hours.max() * 4, reach * 1.2 if np.isfinite(reach) else 0), 5000.0)
    grid = np.geomspace(min(m.hours for m in fitted), right, 100)
    ax.plot(
        grid,
        intercept + slope * np.log2(grid),
        "--",
        color="tab:blue",
        alpha=0.6,
        label=f"trend from {fitted[0].version}: {slope:+.2f} dB per doubling of CPU hours",
    )
    bm3d = float(np.median([m.bm3d_db for m in models]))
    ax.axhline(bm3d, color="tab:gray", lw=1, label=f"VST+BM3D on the gate ({bm3d:.2f} dB)")
    ax.axhline(TARGET_PSNR_DB, color="tab:red", lw=1, ls=":", label=f"target {TARGET_PSNR_DB:g} dB")
    ax.axhline(
        bm3d + TARGET_GAP_DB,
        color="tab:orange",
        lw=1,
        ls=":",
        label=f"target VST+BM3D + {TARGET_GAP_DB:g} dB",
    )
    ax.set_xscale("log")
    ax.set_xlabel("wall hours of training behind the model (2 CPU cores, cumulative)")
    ax.set_ylabel("gate PSNR (dB, peak 1 e-/px, 0.45 e-/px)")
    ax.set_title("The SBD campaign: what each CPU hour bought")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    save_figure(fig, path)


def plot_surface(
    ax, surface: list[dict[str, float | str]], oracle: dict[str, float | str] | None
) -> None:
    """Median surface Jaccard (quartile bars) against hours, the target and the counts-only
    oracle."""
    hours = np.array([float(r["hours"]) for r in surface])
    median = np.array([float(r["median"]) for r in surface])
    low = median - np.array([float(r["q1"]) for r in surface])
    high = np.array([float(r["q3"]) for r in surface]) - median
    ax.errorbar(hours, median, yerr=[low, high], fmt="o-", color="tab:purple", capsize=3,
                label="shipped SBD: median surface Jaccard (quartiles)")  # fmt: skip
    for r in surface:
        ax.annotate(str(r["version"]), (float(r["hours"]), float(r["median"])),
                    textcoords="offset points", xytext=(4, 6), fontsize=8)  # fmt: skip
    ax.axhline(TARGET_SURFACE_JACCARD, color="tab:red", lw=1, ls=":",
               label=f"target {TARGET_SURFACE_JACCARD:g}")  # fmt: skip
    if oracle is not None:
        ax.axhline(float(oracle["equal_odds"]), color="tab:green", lw=1.5,
                   label="counts-only oracle on one frame, equal odds")  # fmt: skip
        ax.axhline(float(oracle["best"]), color="tab:green", lw=1, ls="--",
                   label="counts-only oracle, best common odds")  # fmt: skip
    ax.set_xlabel("wall hours of training behind the model (2 CPU cores, cumulative)")
    ax.set_ylabel("surface Jaccard at 0.45 e-/px (Pt, 132 images x 5 draws)")
    ax.set_title("The structure target: surface columns of one frame")
    ax.set_ylim(0.25, 1.0)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", type=Path, default=RESULTS / "model_history.md")
    parser.add_argument(
        "--fit-from", default="v4", help="first version in the fit (v1 trained a single dose)"
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--oracle", type=Path, default=RESULTS / "surface_oracle.json")
    args = parser.parse_args(argv)

    models = read_shipped(args.history)
    versions = [m.version for m in models]
    if args.fit_from not in versions:
        raise SystemExit(
            f"--fit-from {args.fit_from}: not a shipped version ({', '.join(versions)})"
        )
    fitted = models[versions.index(args.fit_from) :]
    intercept, slope = fit_log_hours(fitted)
    bm3d = float(np.median([m.bm3d_db for m in models]))
    latest = models[-1]
    targets = {
        f"{TARGET_PSNR_DB:g} dB": TARGET_PSNR_DB,
        f"VST+BM3D + {TARGET_GAP_DB:g} dB ({bm3d + TARGET_GAP_DB:.2f} dB)": bm3d + TARGET_GAP_DB,
    }
    reach = {name: hours_for(value, intercept, slope) for name, value in targets.items()}
    result = {
        "history": str(args.history),
        "fit_from": args.fit_from,
        "fit": {"intercept_db": intercept, "slope_db_per_doubling": slope},
        "models": [asdict(m) for m in models],
        "hours_to_reach": reach,
    }
    surface = read_surface(args.history.parent, models)
    oracle = read_oracle(args.oracle)
    result["surface_jaccard"] = surface
    result["surface_oracle"] = oracle
    lines = [
        "# The campaign's trend: gate PSNR against CPU hours",
        "",
        f"Command: `python benchmarks/campaign_curve.py --fit-from {args.fit_from}` (reads "
        f"`{args.history.name}`; no computation beyond the fit). Gate: the white test images "
        "of the `shipped` preset at 0.45 e-/px, peak 1 e-/px, each model's own row.",
        "",
        "| version | wall hours (2 cores) | gate PSNR (dB) | VST+BM3D (dB) | gap (dB) "
        "| trend (dB) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for m in models:
        trend = intercept + slope * np.log2(m.hours) if m in fitted else None
        lines.append(
            f"| {m.version} | {m.hours:.2f} | {m.psnr_db:.2f} | {m.bm3d_db:.2f} | "
            f"{m.psnr_db - m.bm3d_db:+.2f} | {'' if trend is None else f'{trend:.2f}'} |"
        )
    lines += [
        "",
        f"Trend over {fitted[0].version}-{latest.version}: **{slope:+.3f} dB per doubling of the "
        f"CPU hours** (intercept {intercept:.2f} dB at 1 h). At that rate, from "
        f"{latest.version} ({latest.hours:.1f} h, {latest.psnr_db:.2f} dB):",
        "",
    ]
    for name, hours in reach.items():
        lines.append(
            f"- {name}: about {hours:,.0f} CPU hours on 2 cores "
            f"({hours / latest.hours:,.0f} x what stands behind {latest.version})"
            if np.isfinite(hours)
            else f"- {name}: not reached by a flat trend"
        )
    lines += [
        "",
        "An extrapolation of a campaign whose recipe changed as it went, not a promise; it says "
        "how far the targets are at the rate these CPU sessions have been buying decibels. The "
        "hours are training only: simulating the structure sets the later models trained on "
        "(14-30 min per set of 160 structures) is not counted, so the real cost is higher.",
        "",
    ]
    if surface:
        lines += [
            "## The structure target: median surface Jaccard",
            "",
            "Each version's `surface_evaluation_vN.json` scored alike (Pt columns, the 132 images "
            "of the `surface` set, 5 Poisson draws at 0.45 e-/px); the median is a ratio of small "
            "whole numbers (9/11 = 0.818), so it moves in steps. Each row as it was scored when "
            "the version shipped: the inference (windows since v24) and the detector's defaults "
            "changed along the way (`campaign/README.md`).",
            "",
            "| version | wall hours | median surface Jaccard | quartiles |",
            "|---|---:|---:|---|",
        ]
        lines += [
            f"| {r['version']} | {float(r['hours']):.2f} | {float(r['median']):.3f} | "
            f"{float(r['q1']):.2f}-{float(r['q3']):.2f} |"
            for r in surface
        ]
        lines.append("")
        if oracle is not None:
            lines += [
                "What one frame's counts support without a prior about the surface (the "
                f"counts-only oracle, `surface_oracle.md`, `{oracle['dataset']}`): "
                f"median {float(oracle['equal_odds']):.3f} at equal odds, "
                f"{float(oracle['best']):.3f} at the best common odds; the target is "
                f"{TARGET_SURFACE_JACCARD:g}.",
                "",
            ]
    write_results(args.output, "campaign_curve", result, "\n".join(lines))
    plot(models, fitted, (intercept, slope), args.output / "campaign_curve.png", surface, oracle)
    print("\n".join(lines))
    return result


if __name__ == "__main__":
    main()
