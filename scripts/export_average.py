"""Export the moving average of the weights held in a training checkpoint as a model file.

A run with ``--ema-decay`` writes its model file only when the validation PSNR improves. When
candidates are judged on frames the validation crops do not represent (a fresh split, the gate),
the average at a given step is what is wanted; this writes it, with the run's card (step and
source recorded in the card's metrics)::

    .venv/bin/python scripts/export_average.py /work/models/sbd-unet-x2-o \\
        -o /work/models/o-step1500.safetensors

The run's model file (``MODEL.safetensors`` beside ``MODEL.run/``) supplies the architecture and
card; the checkpoint is only read. An existing output is refused.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from sbdenoise.nn.model_file import load_model, save_model
from sbdenoise.training.checkpoint import read_checkpoint
from sbdenoise.training.trainer import model_weights_path, run_folder

AVERAGE_PREFIX = "module."


def averaged_state(checkpoint: dict) -> dict:
    """The averaged network's state dict from a read checkpoint (its counter dropped).

    Raises
    ------
    SystemExit
        When the run kept no moving average.
    """
    averaged = checkpoint.get("averaged")
    if averaged is None:
        raise SystemExit("this run keeps no moving average of the weights (no --ema-decay)")
    return {
        key.removeprefix(AVERAGE_PREFIX): value
        for key, value in averaged.items()
        if key.startswith(AVERAGE_PREFIX)
    }


def logged_validation(log: Path, step: int) -> tuple[float, int] | None:
    """The last validation PSNR (dB) the run's CSV log holds at or before ``step``, and its step.

    With ``--ema-decay`` the run validates the moving average, so this is the exported
    average's score on the run's own validation crops (None: no validation logged by then).
    """
    if not log.is_file():
        return None
    found = None
    with log.open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row.get("val_psnr_db") and int(row["step"]) <= step:
                found = (float(row["val_psnr_db"]), int(row["step"]))
    return found


def export_average(model: Path, output: Path) -> int:
    """Write the checkpoint's moving average of run ``model`` to ``output``; return its step."""
    weights = model_weights_path(model)
    checkpoint_path = run_folder(model) / "checkpoint.safetensors"
    if output.exists():
        raise SystemExit(f"{output} exists: choose another output")
    checkpoint = read_checkpoint(checkpoint_path)
    network, card = load_model(weights)
    network.load_state_dict(averaged_state(checkpoint))
    step = int(checkpoint["trainer"]["step"])
    metrics = {**card.metrics, "exported_step": step, "exported_from": str(checkpoint_path)}
    validated = logged_validation(run_folder(model) / "log.csv", step)
    if validated is None:
        metrics.pop("val_psnr_db", None)
        metrics.pop("best_step", None)
    else:
        metrics["val_psnr_db"], metrics["best_step"] = validated
    training = {**card.training_data, "steps": step}
    card = card.model_copy(update={"metrics": metrics, "training_data": training})
    save_model(output, network, card)
    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="the run's model path (as given to train -o)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="model file to write")
    args = parser.parse_args()
    step = export_average(args.model, args.output)
    print(f"wrote {args.output}: moving average at step {step}")


if __name__ == "__main__":
    main()
