"""Interpolate a trained network towards the one its run began from, and judge each point.

Every run trained past v12 gained PSNR and drew more phantom particles in vacuum and more false
surface columns (``campaign/README.md``); choosing among a run's snapshots filters that, it does
not cure it. The straight line in weight space between the run's start and its end
(:func:`sbdenoise.nn.weight_space.interpolate_unets`, WiSE-FT) is a second axis: a point
``t`` on it may keep most of the end's gain and the start's restraint. For each fraction this
writes the model file (the end's card, the interpolation recorded in its metrics) and scores it
as ``scripts/judge_snapshots.py`` scores a snapshot: the run's own validation crops (fp32, peak
1 e-/px) and the selection's 60 vacuum frames (seed 1; the gate's are seed 0), so that the gate
(``scripts/candidate_checks.sh``) stays a test of the point chosen here::

    .venv/bin/python scripts/interpolate_models.py /work/models/v12.safetensors \\
        /work/models/y9500.safetensors --run /work/models/sbd-unet-s5-y \\
        --fractions 0,0.25,0.5,0.75,1 -o /work/models/wise-y9500

writes ``/work/models/wise-y9500/t050.safetensors`` and so on, and ``judged.md`` / ``.csv``.
The start is widened with the run's seed (its ``train.yaml``) when it is narrower than the end.
Existing model files are not overwritten (they are scored again); a rerun with other fractions
adds its rows to the folder's table.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from campaign_plateau import network_crop_psnr
from judge_snapshots import SELECTION_FRAMES, selection_vacuum

from sbdenoise.nn.model_file import load_model, save_model
from sbdenoise.nn.weight_space import interpolate_unets, recalibrate_batch_norm
from sbdenoise.training.data import TrainingData, load_training_data
from sbdenoise.training.spec import TrainSpec
from sbdenoise.training.trainer import run_folder

#: Step number of the first recalibration batch: far past any run's end, so the crops, doses and
#: noise are fresh draws from the training images (never the validation ones).
RECALIBRATION_STEP = 10**9

FIELDS = ["fraction", "val_psnr_db", "vacuum_per_frame", "vacuum_frames_with_candidates"]


def parse_fractions(text: str) -> list[float]:
    """``"0,0.5,1"`` -> ``[0.0, 0.5, 1.0]``, each in [0, 1]."""
    values = [float(part) for part in text.split(",") if part.strip()]
    if not values or any(not 0.0 <= value <= 1.0 for value in values):
        raise argparse.ArgumentTypeError(f"{text!r}: expected fractions in [0, 1], comma separated")
    return values


def point_name(fraction: float) -> str:
    """File stem of a point: 0.25 -> ``t025``."""
    return f"t{round(100 * fraction):03d}"


def recalibration_batches(data: TrainingData, spec: TrainSpec, count: int) -> list[torch.Tensor]:
    """``count`` noisy training batches as the run draws them, at steps it will never reach."""
    first = RECALIBRATION_STEP
    return [data.batch(spec, first + index)[0] for index in range(count)]


def merged_with_earlier(path: Path, rows: list[dict]) -> list[dict]:
    """``rows`` and the rows of an earlier ``judged.csv`` at other fractions, by fraction."""
    earlier = []
    if path.is_file():
        with path.open(newline="") as handle:
            earlier = [
                {
                    "fraction": float(row["fraction"]),
                    "val_psnr_db": float(row["val_psnr_db"]),
                    "vacuum_per_frame": float(row["vacuum_per_frame"]),
                    "vacuum_frames_with_candidates": int(row["vacuum_frames_with_candidates"]),
                }
                for row in csv.DictReader(handle)
            ]
    new = {row["fraction"] for row in rows}
    kept = [row for row in earlier if row["fraction"] not in new]
    return sorted(kept + rows, key=lambda row: row["fraction"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("start", type=Path, help="model file the run began from")
    parser.add_argument("end", type=Path, help="model file of the trained network")
    parser.add_argument("--run", type=Path, required=True, help="the run's model path (train -o)")
    parser.add_argument("--fractions", type=parse_fractions, default=[0.0, 0.25, 0.5, 0.75, 1.0])
    parser.add_argument("-o", "--output", type=Path, required=True, help="folder to write")
    parser.add_argument(
        "--recalibrate",
        type=int,
        default=64,
        help="training batches that measure each point's batch-norm statistics (0: interpolate "
        "the statistics too)",
    )
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    spec = TrainSpec.from_yaml(run_folder(args.run) / "train.yaml")
    start, _ = load_model(args.start)
    end, card = load_model(args.end)
    data = load_training_data(spec, 16)
    validation = data.validation
    args.output.mkdir(parents=True, exist_ok=True)
    batches = recalibration_batches(data, spec, args.recalibrate) if args.recalibrate else []
    rows = []
    for fraction in args.fractions:
        path = args.output / f"{point_name(fraction)}.safetensors"
        if path.exists():  # scored as written, whatever options made it
            network, _ = load_model(path)
            val_db = float(network_crop_psnr(network, validation).mean())
        else:
            network = interpolate_unets(start, end, fraction, widen_seed=spec.seed)
            if batches:
                recalibrate_batch_norm(network, batches)
            val_db = float(network_crop_psnr(network, validation).mean())
            interpolation = {
                "start": str(args.start),
                "end": str(args.end),
                "fraction": fraction,
                "recalibration_batches": args.recalibrate,
            }
            metrics = {**card.metrics, "val_psnr_db": val_db, "interpolation": interpolation}
            save_model(path, network, card.model_copy(update={"metrics": metrics}))
        found = selection_vacuum(path)
        row = {
            "fraction": fraction,
            "val_psnr_db": val_db,
            "vacuum_per_frame": found.per_frame,
            "vacuum_frames_with_candidates": found.frames_with_candidates,
        }
        rows.append(row)
        print(
            f"t = {fraction:.2f}: validation {val_db:.3f} dB (fp32), vacuum candidates in "
            f"{found.frames_with_candidates} of {SELECTION_FRAMES} frames "
            f"({found.per_frame:.2f} per frame)",
            flush=True,
        )
    rows = merged_with_earlier(args.output / "judged.csv", rows)
    with (args.output / "judged.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    lines = [
        f"# {args.start.name} -> {args.end.name} in weight space",
        "",
        f"`(1 - t) * start + t * end`, the start widened with the run's seed {spec.seed} where "
        f"narrower; batch-norm statistics "
        + (
            f"measured on {args.recalibrate} training batches at each point. "
            if args.recalibrate
            else "interpolated too. "
        )
        + f"Validation: the crops of `{run_folder(args.run) / 'train.yaml'}` (fp32, peak "
        f"1 e-/px). Vacuum: the selection's {SELECTION_FRAMES} frames (seed 1, not the gate's).",
        "",
        "| t | validation PSNR (dB) | vacuum candidates per frame | frames with candidates |",
        "|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['fraction']:.2f} | {row['val_psnr_db']:.3f} | "
            f"{row['vacuum_per_frame']:.2f} | {row['vacuum_frames_with_candidates']} of "
            f"{SELECTION_FRAMES} |"
        )
    (args.output / "judged.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {args.output / 'judged.md'}")


if __name__ == "__main__":
    main()
