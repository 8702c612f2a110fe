"""Do the batch norm's dose-averaged statistics hold the network back at high dose?

The campaign's networks fall behind VST+BM3D above about 1 e-/px although they were trained on
doses up to 1.5 e-/px (``benchmarks/results/dose_sweep*.md``). One suspect is batch
normalisation: in eval mode every BN layer uses running statistics averaged over the whole
training dose range, so at any one dose the features are normalised by statistics that are not
that dose's. This benchmark scores a model on white test images of ``--dataset`` at each dose
twice, with the statistics as trained and with every BN layer's statistics recomputed at that
dose (cumulative average over the corner crops of ``--train-images`` training images drawn at
that dose), the same Poisson draws for both. Dose-normalised PSNR (estimate and truth x 0.45 /
dose, peak 1 e-/px), fp32. Writes ``batchnorm_statistics.{json,md}``::

    .venv/bin/python benchmarks/batchnorm_statistics.py --dataset /work/data/shipped-part \\
        --model src/sbdenoise/pretrained/sbd-unet-pt-ceo2.safetensors --doses 0.15,0.45,2.0
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from table1 import RESULTS, machine, write_atomic

from sbdenoise.denoise.inference import denoise_array
from sbdenoise.nn.model_file import load_model
from sbdenoise.nn.sampling import to_working_grid
from sbdenoise.simulate.store import SimulatedDataset

#: Side of the crops that recompute the statistics, working pixels (the training crop).
CROP = 128


def expected_counts(data: SimulatedDataset, index: int, dose: float) -> tuple[np.ndarray, float]:
    """The clean image of ``index`` as expected counts at ``dose`` e-/px, and its pixel size."""
    record = data.record(int(index))
    image = record.image.astype(np.float64) * dose / float(record.params["dose"])
    return image, float(record.params["pixel_size"])


def psnr_at(model: torch.nn.Module, card: Any, data: SimulatedDataset, test, dose: float) -> float:
    """Mean dose-normalised PSNR (dB) over ``test`` images, one seeded draw each."""
    rng = np.random.default_rng(1)
    values = []
    for index in test:
        truth, pixel_size = expected_counts(data, index, dose)
        noisy = rng.poisson(truth).astype(np.float32)
        estimate = denoise_array(model, card, noisy, pixel_size, precision="fp32")
        mse = np.mean(((estimate - truth) * 0.45 / dose) ** 2)
        values.append(10 * np.log10(1 / mse))
    return float(np.mean(values))


def recalibrated(
    model: torch.nn.Module, card: Any, data: SimulatedDataset, train, dose: float
) -> torch.nn.Module:
    """A copy of ``model`` whose batch-norm statistics are those of inputs at ``dose``."""
    copied = copy.deepcopy(model)
    for module in copied.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None  # cumulative average over every batch below
    copied.train()
    rng = np.random.default_rng(2)
    with torch.no_grad():
        for index in train:
            truth, pixel_size = expected_counts(data, index, dose)
            grid = to_working_grid(rng.poisson(truth).astype(np.float32), pixel_size, card.sampling)
            scaled = grid.counts * card.scale_for(grid.counts)
            h, w = scaled.shape
            corners = [(r, c) for r in (0, h - CROP) for c in (0, w - CROP)]
            crops = [scaled[r : r + CROP, c : c + CROP] for r, c in corners]
            copied(torch.from_numpy(np.stack(crops)[:, None].astype(np.float32)))
    return copied.eval()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--doses", default="0.15,0.45,2.0", help="e-/px, comma-separated")
    parser.add_argument("--test-images", type=int, default=12)
    parser.add_argument("--train-images", type=int, default=48)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    model, card = load_model(args.model)
    data = SimulatedDataset(args.dataset)
    test = data.indices(split="test", contrast="white")
    test = test[:: max(1, len(test) // args.test_images)][: args.test_images]
    train = data.indices(split="train", contrast="white")
    train = train[:: max(1, len(train) // args.train_images)][: args.train_images]
    rows = []
    for dose in (float(d) for d in args.doses.split(",")):
        rows.append(
            {
                "dose": dose,
                "as_trained_db": psnr_at(model, card, data, test, dose),
                "recalibrated_db": psnr_at(
                    recalibrated(model, card, data, train, dose), card, data, test, dose
                ),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    result = {
        "command": "python " + " ".join(sys.argv),
        "machine": machine("cpu"),
        "model": str(args.model),
        "test_images": len(test),
        "train_images": len(train),
        "minutes": (time.perf_counter() - start) / 60.0,
        "rows": rows,
    }
    lines = [
        "# Batch-norm statistics: as trained (dose-averaged) or recomputed at the frame's dose",
        "",
        f"Command: `{result['command']}` ({result['minutes']:.1f} min). {len(test)} white test "
        f"images, one Poisson draw each per dose; statistics recomputed from {len(train)} "
        "training images (four corner crops each) at that dose. Dose-normalised PSNR (dB), fp32.",
        "",
        "| dose (e-/px) | as trained | statistics at this dose |",
        "|---|---:|---:|",
    ]
    lines += [
        f"| {r['dose']:g} | {r['as_trained_db']:.2f} | {r['recalibrated_db']:.2f} |" for r in rows
    ]
    args.output.mkdir(parents=True, exist_ok=True)
    write_atomic(args.output / "batchnorm_statistics.json", json.dumps(result, indent=2) + "\n")
    write_atomic(args.output / "batchnorm_statistics.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    return result


if __name__ == "__main__":
    main()
