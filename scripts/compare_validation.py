"""Score several models on the same validation crops (those of one training run's spec).

Validation PSNRs in training logs compare only between runs that share the validation crops
(same dataset, filters, crop size and ``val_seed``). This script loads one run's spec, builds its
validation crops once and scores every model on them (mean PSNR, dB, peak 1 e-/px, detector
scale, as the trainer reports)::

    .venv/bin/python scripts/compare_validation.py /work/models/sbd-unet-dose-f.run/train.yaml \\
        campaign/sbd-unet-dose.safetensors /work/models/sbd-unet-dose-e.safetensors
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from sbdenoise.nn.model_file import load_model
from sbdenoise.training.data import load_training_data
from sbdenoise.training.distributed import DistributedContext
from sbdenoise.training.spec import TrainSpec
from sbdenoise.training.trainer import validate


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("spec", type=Path, help="train.yaml of a run folder")
    parser.add_argument("models", type=Path, nargs="+", help="model files (.safetensors)")
    parser.add_argument("--multiple", type=int, default=16, help="crop multiple of the networks")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    spec = TrainSpec.from_yaml(args.spec)
    start = time.perf_counter()
    data = load_training_data(spec, args.multiple)
    print(
        f"{len(data.validation)} validation crops (val_seed {spec.val_seed}) built in "
        f"{time.perf_counter() - start:.0f} s",
        flush=True,
    )
    scores = {}
    for path in args.models:
        network, _ = load_model(path)
        scores[str(path)] = validate(network, data.validation, DistributedContext(), spec.batch)
        print(f"{scores[str(path)]:.3f} dB  {path}", flush=True)
    return scores


if __name__ == "__main__":
    main()
