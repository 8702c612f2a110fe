"""Average the weights of a run's kept snapshots over a window of steps, as one model file.

The candidate columns a network draws in vacuum change from one snapshot to the next of the
same run (run x: 7 to 18 of 60 frames between steps 15,000 and 19,000, `campaign/README.md`)
while the validation PSNR moves by hundredths of a dB: a phantom particle is a fragile
direction in weight space. The moving average of the weights (``--ema-decay 0.999``) spans
about 1,000 steps; this averages the snapshots over a wider window (uniformly, every
parameter and batch-norm statistic), in the hope that what the snapshots do not share
cancels. The result is scored on the run's own validation crops (fp32, as
``benchmarks/campaign_plateau.py``; the last snapshot of the window is scored the same way for
comparison) and written with the last snapshot's card, the window recorded in its metrics::

    .venv/bin/python scripts/average_snapshots.py /work/models/sbd-unet-s5-x \\
        --first 16000 --last 19000 -o /work/models/x16-19k.safetensors

Judge it on vacuum with ``scripts/judge_snapshots.py`` (put it in a run folder's
``snapshots/``) and gate it with ``scripts/candidate_checks.sh`` like any candidate. An
existing output is refused.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from campaign_plateau import network_crop_psnr, per_crop_psnr, run_validation

from sbdenoise.errors import InputError
from sbdenoise.nn.model_file import load_model, save_model
from sbdenoise.nn.weight_space import mean_state
from sbdenoise.training.trainer import kept_snapshots, run_folder, snapshot_step


def window_snapshots(model: Path, first: int, last: int) -> list[Path]:
    """The snapshot files of run ``model`` at steps ``first`` to ``last`` (inclusive)."""
    chosen = [path for path in kept_snapshots(model) if first <= snapshot_step(path) <= last]
    if len(chosen) < 2:
        raise SystemExit(
            f"{len(chosen)} snapshot(s) of {run_folder(model)} between {first} and {last}"
        )
    return chosen


def averaged_state(paths: list[Path]) -> dict[str, torch.Tensor]:
    """Uniform mean of the snapshots' state dicts (integer buffers: the last snapshot's).

    Raises
    ------
    SystemExit
        When the snapshots do not hold the same tensors (another architecture or width).
    """
    try:
        return mean_state([load_model(path)[0].state_dict() for path in paths])
    except InputError as error:
        raise SystemExit(f"snapshots of different networks: {error}") from error


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="the run's model path (as given to train -o)")
    parser.add_argument("--first", type=int, required=True, help="first step of the window")
    parser.add_argument("--last", type=int, required=True, help="last step of the window")
    parser.add_argument("-o", "--output", type=Path, required=True, help="model file to write")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    if args.output.exists():
        raise SystemExit(f"{args.output} exists: choose another output")
    torch.set_num_threads(args.threads)
    paths = window_snapshots(args.model, args.first, args.last)
    network, card = load_model(paths[-1])
    network.load_state_dict(averaged_state(paths))
    steps = [snapshot_step(path) for path in paths]
    validation = run_validation(args.model)
    averaged_db = float(network_crop_psnr(network, validation).mean())
    last_db = float(per_crop_psnr(paths[-1], validation).mean())
    metrics = {**card.metrics, "averaged_steps": steps, "val_psnr_db": averaged_db}
    save_model(args.output, network, card.model_copy(update={"metrics": metrics}))
    print(
        f"wrote {args.output}: mean of {len(paths)} snapshots, steps {steps[0]}-{steps[-1]}; "
        f"validation (fp32) {averaged_db:.3f} dB against {last_db:.3f} for step {steps[-1]}"
    )


if __name__ == "__main__":
    main()
