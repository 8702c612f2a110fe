"""Judge the snapshots a training run kept: validation PSNR and candidate columns in vacuum.

Longer training raised the validation PSNR and also the column-like blobs a network draws from
noise in vacuum (campaign/README.md, run t); the PSNR alone cannot choose a checkpoint. This
counts, for every snapshot of ``sbdenoise train --keep-every`` (``<model>.run/snapshots/``), the
candidate columns in simulated vacuum frames of the gate's size, dose, pixel size and rule
(``benchmarks/dose_sweep.py``), and writes a CSV and a Markdown table. The frames are other
Poisson draws than the gate's (seed 1; the gate's are seed 0), so that choosing a snapshot here
does not choose it on the frames ``scripts/ship_model.py`` then checks it on. Candidates come in
clustered frames (a phantom particle's outline), so the frames with candidates are counted too.

    .venv/bin/python scripts/judge_snapshots.py /work/models/RUN -o campaign/snapshots-RUN

Already judged snapshots (same file size and time) are read back from the CSV, so rerunning
while the run goes on only judges the new ones.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Annotated

import typer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from dose_sweep import VACUUM_DOSE, VACUUM_PIXEL, VACUUM_SIDE

from sbdenoise.analysis.calibration import VacuumCandidates, vacuum_candidates
from sbdenoise.denoise.registry import SBD_METHOD, prepare
from sbdenoise.nn.model_file import read_card
from sbdenoise.training.trainer import (
    SNAPSHOT_FOLDER,
    kept_snapshots,
    run_folder,
    snapshot_step,
)

#: Seed and number of the vacuum frames (the gate draws 30 frames with seed 0).
SELECTION_SEED, SELECTION_FRAMES = 1, 60

FIELDS = [
    "step",
    "val_psnr_db",
    "vacuum_per_frame",
    "vacuum_total",
    "vacuum_frames_with_candidates",
    "size",
    "mtime",
]


def judged_before(path: Path) -> dict[str, dict[str, str]]:
    """Rows of an earlier CSV, by snapshot file name."""
    if not path.is_file():
        return {}
    with path.open() as handle:
        return {row["file"]: row for row in csv.DictReader(handle)}


def selection_vacuum(model: Path) -> VacuumCandidates:
    """Candidate columns a model file draws in the selection's vacuum frames (seed 1)."""
    method = prepare(SBD_METHOD, None, model=model)
    return vacuum_candidates(
        lambda counts: method.denoise_frame(counts, VACUUM_PIXEL),
        dose=VACUUM_DOSE,
        pixel_size=VACUUM_PIXEL,
        frames=SELECTION_FRAMES,
        side=VACUUM_SIDE,
        seed=SELECTION_SEED,
    )


def judge(snapshot: Path) -> dict[str, float]:
    """Validation PSNR (dB, from the card) and vacuum candidates of one snapshot."""
    card = read_card(snapshot)
    found = selection_vacuum(snapshot)
    return {
        "step": int(card.metrics["best_step"]),
        "val_psnr_db": float(card.metrics["val_psnr_db"]),
        "vacuum_per_frame": found.per_frame,
        "vacuum_total": found.total,
        "vacuum_frames_with_candidates": found.frames_with_candidates,
    }


def main(
    model: Annotated[Path, typer.Argument(help="Model path of the run (its <model>.run/).")],
    output: Annotated[Path, typer.Option("-o", help="Output stem (.csv and .md written).")],
    every: Annotated[
        int, typer.Option(min=1, help="Judge only the snapshots at multiples of this step.")
    ] = 1,
    first: Annotated[
        int, typer.Option(min=0, help="Judge only the snapshots at this step or later.")
    ] = 0,
) -> None:
    """Judge the kept snapshots of a run (vacuum candidates per 512 px frame, 0.45 e-/px).

    A long run keeps a hundred snapshots at 20 s each; ``--every 1000 --first 5000`` judges a
    coarse grid first, and a rerun with a finer grid adds only the missing ones.
    """
    folder = run_folder(model) / SNAPSHOT_FOLDER
    snapshots = [
        path
        for path in kept_snapshots(model)
        if snapshot_step(path) >= first and snapshot_step(path) % every == 0
    ]
    if not snapshots:
        raise typer.BadParameter(
            f"no snapshots in {folder} at multiples of {every} from step {first} "
            "(train with --keep-every)"
        )
    csv_path, md_path = output.with_suffix(".csv"), output.with_suffix(".md")
    before = judged_before(csv_path)
    rows = []
    for snapshot in snapshots:
        status = snapshot.stat()
        old = before.get(snapshot.name)
        if old and int(old["size"]) == status.st_size and int(old["mtime"]) == int(status.st_mtime):
            rows.append(old)
            continue
        row = {"file": snapshot.name, **judge(snapshot)}
        row.update(size=status.st_size, mtime=int(status.st_mtime))
        print(
            f"{snapshot.name}: val {row['val_psnr_db']:.3f} dB, "
            f"{row['vacuum_per_frame']:.2f} vacuum candidates per frame, in "
            f"{row['vacuum_frames_with_candidates']} of {SELECTION_FRAMES} frames",
            flush=True,
        )
        rows.append(row)
    output.parent.mkdir(parents=True, exist_ok=True)
    with csv_path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["file", *FIELDS])
        writer.writeheader()
        writer.writerows(rows)
    lines = [
        f"# Snapshots of {Path(model).name}",
        "",
        f"Candidate columns in {SELECTION_FRAMES} simulated vacuum frames of {VACUUM_SIDE} px at "
        f"{VACUUM_DOSE} e-/px and {VACUUM_PIXEL} A/px (the gate's check on other draws: seed "
        f"{SELECTION_SEED}, the gate's is 0); validation PSNR from each snapshot's card (peak 1 "
        "e-/px).",
        "",
        "| step | validation PSNR (dB) | vacuum candidates per frame | frames with candidates |",
        "|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {int(row['step']):,} | {float(row['val_psnr_db']):.3f} | "
            f"{float(row['vacuum_per_frame']):.2f} | "
            f"{row.get('vacuum_frames_with_candidates') or '?'} of {SELECTION_FRAMES} |"
        )
    md_path.write_text("\n".join(lines) + "\n")
    print(f"wrote {csv_path} and {md_path}")


if __name__ == "__main__":
    typer.run(main)
