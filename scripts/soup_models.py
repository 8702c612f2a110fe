"""Weighted mean of model files fine-tuned from one start with frozen batch norms, as one model.

Runs trained with ``--freeze-batch-norm`` from the same start keep its batch-norm statistics, so
their weights can be averaged as they are: no statistics to re-measure (compare
``scripts/interpolate_models.py``, whose ends have their own). Two such runs from v13 on
different data, one on the wide fields that remove the phantom particles and one on the
``shipped`` crops that carry PSNR, average to a network with some of each
(``campaign/README.md``, 2026-12-04)::

    .venv/bin/python scripts/soup_models.py -o /work/models/soup.safetensors \\
        0.5=/work/models/sbd-unet-wide-ab.run/snapshots/step-0003500.safetensors \\
        0.5=/work/models/sbd-unet-s5-ad.run/snapshots/step-0001000.safetensors

The result has the first member's card, with the members and weights recorded in its metrics
(``soup``) and, with ``--run``, its PSNR on that run's validation crops (``val_psnr_db``,
fp32); ``--half-precision`` stores float16 weights (half the file: a base-32 UNet in 16 MB
instead of 31) and scores them as stored. Judge it with ``benchmarks/vacuum_frame_size.py``
and gate it with ``scripts/candidate_checks.sh`` like any candidate. An existing output is refused.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from campaign_plateau import network_crop_psnr, run_validation

from sbdenoise.errors import InputError
from sbdenoise.nn.model_file import load_model, round_to_half_precision, save_model
from sbdenoise.nn.weight_space import mean_state

#: Largest relative difference between the members' batch-norm running statistics.
STATISTICS_TOLERANCE = 1e-6


def parse_member(text: str) -> tuple[float, Path]:
    """``WEIGHT=PATH`` -> ``(weight, path)``."""
    weight, _, path = text.partition("=")
    try:
        value = float(weight)
    except ValueError:
        value = -1.0
    if not path or not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected WEIGHT=PATH with a positive weight")
    return value, Path(path)


def check_shared_statistics(states: list[dict[str, torch.Tensor]], names: list[str]) -> None:
    """Refuse members whose batch-norm running statistics differ (they need re-measuring).

    Raises
    ------
    InputError
        If a running mean or variance differs between members by more than
        :data:`STATISTICS_TOLERANCE` of its size.
    """
    first = states[0]
    for key, reference in first.items():
        if "running_" not in key:
            continue
        scale = float(reference.abs().max()) or 1.0
        for state, name in zip(states[1:], names[1:], strict=True):
            if float((state[key] - reference).abs().max()) > STATISTICS_TOLERANCE * scale:
                raise InputError(
                    f"{name} has other batch-norm statistics than {names[0]} ({key}): average "
                    "only runs trained with --freeze-batch-norm from one start, or use "
                    "scripts/interpolate_models.py, which re-measures them"
                )


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("members", nargs="+", type=parse_member, help="WEIGHT=MODEL_FILE")
    parser.add_argument("-o", "--output", type=Path, required=True, help="model file to write")
    parser.add_argument(
        "--run",
        type=Path,
        help="a run (train -o) whose validation crops score the soup (val_psnr_db of its card)",
    )
    parser.add_argument(
        "--half-precision",
        action="store_true",
        help="store the weights as float16 (half the file; scored as stored). With it, one "
        "member is allowed: a half-precision copy of that model",
    )
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.output.exists():
        raise SystemExit(f"{args.output} exists; choose another name")
    if len(args.members) < 2 and not args.half_precision:
        raise SystemExit("give at least two members (or one with --half-precision)")
    loaded = [load_model(path) for _, path in args.members]
    names = [str(path) for _, path in args.members]
    states = [network.state_dict() for network, _ in loaded]
    if any(state.keys() != states[0].keys() for state in states):
        raise SystemExit("the members are not the same architecture")
    try:
        check_shared_statistics(states, names)
    except InputError as error:
        raise SystemExit(str(error)) from None
    total = sum(weight for weight, _ in args.members)
    weights = [weight / total for weight, _ in args.members]
    network, card = loaded[0]
    network.load_state_dict(mean_state(states, weights))
    soup: dict = {"members": names, "weights": weights}
    if args.half_precision:
        round_to_half_precision(network)  # scored as the file will be loaded
        soup["parameters_dtype"] = "float16"
    metrics = {**card.metrics, "soup": soup}
    metrics.pop("val_psnr_db", None)  # the first member's, on its own crops: not the soup's
    if args.run is not None:
        validation = run_validation(args.run)
        metrics["val_psnr_db"] = float(network_crop_psnr(network, validation).mean())
        soup["validation_run"] = str(args.run)
        print(f"validation (fp32) on the crops of {args.run}: {metrics['val_psnr_db']:.3f} dB")
    path = save_model(
        args.output,
        network,
        card.model_copy(update={"metrics": metrics}),
        half_precision=args.half_precision,
    )
    print(
        f"wrote {path}: " + ", ".join(f"{w:.3g} x {n}" for w, n in zip(weights, names, strict=True))
    )
    return path


if __name__ == "__main__":
    main()
