"""Base 16 against base 32 at equal CPU time, from the same start: validation gain per hour.

Two training logs (``<model>.run/log.csv``) that start from the same weights and validate on
the same crops (the same ``train.yaml`` validation settings) are put on one time axis: hours =
steps since the start x the seconds per step measured alone on this machine
(``benchmarks/training_speed.py``), so that whatever else ran beside either run does not count.
The table gives each run's validation PSNR gain over the common start at equal hours; the plot
shows the curves::

    .venv/bin/python benchmarks/width_at_equal_time.py \\
        --run "base 16=campaign/log-run-x.csv,19000,0.25" \\
        --run "base 32=campaign/log-run-y.csv,0,0.66" --start-db 35.9526

Each ``--run`` is ``NAME=LOG,FIRST_STEP,SECONDS_PER_STEP``: the log, the step at which the common
start sits in it, and the measured seconds per step. Results:
``benchmarks/results/width_at_equal_time.{json,md,png}``.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from table1 import RESULTS, write_results

from sbdenoise.analysis.likelihood import _pyplot, save_figure


def parse_run(text: str) -> tuple[str, Path, int, float]:
    """``NAME=LOG,FIRST_STEP,SECONDS_PER_STEP`` -> its parts."""
    name, _, rest = text.partition("=")
    parts = rest.split(",")
    if not name or len(parts) != 3:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=LOG,FIRST_STEP,SECONDS_PER_STEP")
    return name, Path(parts[0]), int(parts[1]), float(parts[2])


def validation_curve(log: Path, first_step: int) -> tuple[np.ndarray, np.ndarray]:
    """Steps since ``first_step`` and validation PSNR (dB) of every validated row after it."""
    steps, values = [], []
    with log.open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row.get("val_psnr_db") and int(row["step"]) > first_step:
                steps.append(int(row["step"]) - first_step)
                values.append(float(row["val_psnr_db"]))
    if not steps:
        raise SystemExit(f"{log}: no validation after step {first_step}")
    return np.asarray(steps), np.asarray(values)


def gain_at(hours: np.ndarray, gains: np.ndarray, when: float) -> float | None:
    """The gain (dB) at ``when`` hours, linearly interpolated (None beyond the run's end)."""
    if when > hours[-1]:
        return None
    return float(np.interp(when, np.concatenate([[0.0], hours]), np.concatenate([[0.0], gains])))


def compare(runs: list[tuple[str, Path, int, float]], start_db: float) -> dict[str, Any]:
    """Every run's gain curve on the hours axis, and the gains at a common grid of hours."""
    curves = []
    for name, log, first, seconds in runs:
        steps, values = validation_curve(log, first)
        hours = steps * seconds / 3600.0
        curves.append(
            {
                "name": name,
                "log": str(log),
                "first_step": first,
                "seconds_per_step": seconds,
                "hours": hours.tolist(),
                "gain_db": (values - start_db).tolist(),
            }
        )
    span = min(curve["hours"][-1] for curve in curves)
    grid = [float(h) for h in np.linspace(span / 6, span, 6)]
    table = [
        {
            "hours": h,
            "gain_db": {
                c["name"]: gain_at(np.asarray(c["hours"]), np.asarray(c["gain_db"]), h)
                for c in curves
            },
        }
        for h in grid
    ]
    return {"start_db": start_db, "curves": curves, "table": table}


def markdown(result: dict[str, Any]) -> str:
    """The comparison as a Markdown table."""
    names = [c["name"] for c in result["curves"]]
    lines = [
        "# Width at equal CPU time, from the same start",
        "",
        f"Validation PSNR gain (dB) over the common start ({result['start_db']:.3f} dB on the "
        "run's 96 validation crops, eight orientations, four doses), against hours of training "
        "computed from the steps and the seconds per step measured alone. Command: "
        f"`{result['command']}`.",
        "",
        "| run | log | start step | s/step (alone) | steps | hours | final gain (dB) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for c in result["curves"]:
        steps = round(c["hours"][-1] * 3600 / c["seconds_per_step"])
        lines.append(
            f"| {c['name']} | `{c['log']}` | {c['first_step']:,} | {c['seconds_per_step']:.2f} | "
            f"{steps:,} | {c['hours'][-1]:.2f} | {c['gain_db'][-1]:+.3f} |"
        )
    lines += ["", "| hours | " + " | ".join(names) + " |", "|---:|" + "---:|" * len(names)]
    for row in result["table"]:
        cells = ["-" if row["gain_db"][n] is None else f"{row['gain_db'][n]:+.3f}" for n in names]
        lines.append(f"| {row['hours']:.2f} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(result: dict[str, Any], path: Path) -> Path:
    """Gain against hours, one line per run."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6.4, 4.0))
    for c in result["curves"]:
        axis.plot(
            c["hours"], c["gain_db"], label=f"{c['name']} ({c['seconds_per_step']:.2f} s/step)"
        )
    axis.axhline(0.0, color="0.6", linewidth=0.8)
    axis.set_xlabel("training hours on this machine (steps x s/step measured alone)")
    axis.set_ylabel(f"validation gain over {result['start_db']:.3f} dB (dB)")
    axis.set_title("UNet width at equal CPU time, from the same weights")
    axis.legend()
    return save_figure(figure, path)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=parse_run, action="append", required=True)
    parser.add_argument("--start-db", type=float, required=True, help="validation at the start")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    result = compare(args.run, args.start_db)
    given = sys.argv[1:] if argv is None else argv
    result["command"] = " ".join(
        ["python benchmarks/width_at_equal_time.py", *(f'"{a}"' if " " in a else a for a in given)]
    )
    write_results(args.output, "width_at_equal_time", result, markdown(result))
    plot(result, args.output / "width_at_equal_time.png")
    print(markdown(result))
    return result


if __name__ == "__main__":
    main()
