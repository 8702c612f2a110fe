"""Where the campaign is going: gate PSNR of every shipped model against the CPU hours behind it.

Reads the shipped-model table of ``benchmarks/results/model_history.md`` (each row's wall hours
on 2 cores and its PSNR on the gate, VST+BM3D on the same frames), fits the gate PSNR as a
straight line in log2 of the hours (the usual shape of a training curve far from convergence)
over the later models, and reads off how many CPU hours the issue's targets would cost at that
rate: 38 dB, and VST+BM3D + 4 dB. The fit is a trend of a campaign whose recipe changed along the
way (more structures, a moving average, vacuum weighting), not a law; its extrapolation says how
far the targets are at the rate this CPU campaign has been buying decibels. Writes
``campaign_curve.{json,md,png}``::

    .venv/bin/python benchmarks/campaign_curve.py [--fit-from v4] [--history FILE]
"""

from __future__ import annotations

import argparse
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


def plot(
    models: list[ShippedModel], fitted: list[ShippedModel], fit: tuple[float, float], path: Path
) -> None:
    """Gate PSNR against hours, the trend, VST+BM3D and the targets."""
    plt = _pyplot()
    intercept, slope = fit
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", type=Path, default=RESULTS / "model_history.md")
    parser.add_argument(
        "--fit-from", default="v4", help="first version in the fit (v1 trained a single dose)"
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

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
    write_results(args.output, "campaign_curve", result, "\n".join(lines))
    plot(models, fitted, (intercept, slope), args.output / "campaign_curve.png")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
