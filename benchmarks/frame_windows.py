"""Frames whose working grid is not a multiple of the network's size: reflection padding vs windows.

A UNet with 5 scales takes sides that are multiples of 16 working pixels. Until 2026-12-06 a frame
whose working grid was not such a multiple was padded by reflection at its bottom and right edges
(at 0.049 A/px an 810 px frame is 162 working pixels, padded by 30); now it is covered by windows
of whole multiples, flush with either end and blended (:mod:`sbdenoise.nn.windows`). This
benchmark scores both on the same noisy frames:

- ``padded``: the working image padded by reflection at the bottom and right to the next
  multiple, denoised at once and cropped back: what inference did before;
- ``windows``: the frame as it is, through today's inference;
- optionally ``windows, ensemble 8``.

Frame sets: the small-pixel robustness set (0.049 A/px, its own 810 px frames) and the shipping
gate's test frames (0.059-0.061 A/px) cropped to the sizes given by ``--crops`` (512 px is the
control: a multiple, where both are the same computation). PSNR is dose-normalised (estimate and
truth x 0.45 / dose, peak 1 e-/px), as in ``dose_sweep.py``; the difference is paired per frame.

    python benchmarks/frame_windows.py --gate-data /work/data/shipped-part \\
        --small-pixel-data /work/data/robustness-pixel-0.8
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from table1 import RESULTS, machine, machine_line, select, spread, write_results

from sbdenoise.denoise.inference import _place, _run_window, choose_device
from sbdenoise.denoise.registry import SBD_METHOD, prepare
from sbdenoise.io.validation import check_frame
from sbdenoise.metrics import psnr
from sbdenoise.nn.card import ModelCard
from sbdenoise.nn.folding import fold_batch_norms
from sbdenoise.nn.receptive_field import required_multiple
from sbdenoise.nn.sampling import DEFAULT_TOLERANCE, from_working_grid, to_working_grid
from sbdenoise.noise.models import sample_poisson
from sbdenoise.simulate.store import SimulatedDataset
from sbdenoise.training.precision import resolve_precision

REFERENCE_DOSE = 0.45


def padded_estimate(
    network: torch.nn.Module, card: ModelCard, counts: np.ndarray, pixel: float
) -> np.ndarray:
    """Inference before 2026-12-06: reflection padding at the bottom and right to a multiple.

    The steps of :func:`sbdenoise.denoise.inference.denoise_array` with the working image padded
    by reflection to the next multiple of the network's size multiple, denoised at once and
    cropped back (the whole-frame path as it was; ensemble 1, the card's precision default).
    """
    grid = to_working_grid(check_frame(counts), pixel, card.sampling, DEFAULT_TOLERANCE)
    scale = np.float32(card.scale_for(grid.counts))
    scaled = (grid.counts * scale).astype(np.float32)
    multiple = required_multiple(network)
    height, width = scaled.shape
    pad = ((0, -height % multiple), (0, -width % multiple))
    device = choose_device(None)
    _place(network, device)
    with torch.inference_mode():
        output = _run_window(
            network,
            np.pad(scaled, pad, mode="reflect"),
            None,
            1,
            device,
            resolve_precision("auto", device),
        )
    return from_working_grid(output[:height, :width] / scale, grid)


def frames(args: argparse.Namespace) -> list[tuple[str, SimulatedDataset, int, int]]:
    """``(set label, dataset, image index, crop side or 0 for the whole frame)``."""
    out: list[tuple[str, SimulatedDataset, int, int]] = []
    if args.small_pixel_data is not None:
        small = SimulatedDataset(args.small_pixel_data)
        for index in select(small, "test", "white")[: args.max_images]:
            out.append(("0.049 A/px, whole frame", small, int(index), 0))
    if args.gate_data is not None:
        gate = SimulatedDataset(args.gate_data)
        chosen = spread(select(gate, "test", "white"), args.max_images)
        for crop in args.crops:
            for index in chosen:
                out.append((f"gate frames cropped to {crop} px", gate, int(index), crop))
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    model = None if args.model is None else str(args.model)
    methods = {"windows": prepare(SBD_METHOD, {"ensemble": 1}, model=model)}
    if args.ensemble:
        methods["windows, ensemble 8"] = prepare(SBD_METHOD, {"ensemble": 8}, model=model)
    plain = methods["windows"]
    assert plain.card is not None and plain.network is not None
    folded, _ = fold_batch_norms(plain.network)  # the network as the sbd method runs it
    scores: dict[tuple[str, float], dict[str, list[float]]] = {}
    seconds: dict[str, list[float]] = {}
    shapes: dict[str, tuple[int, int]] = {}
    for label, data, index, crop in frames(args):
        clean0 = data.image(index).astype(np.float64)
        if crop:
            clean0 = clean0[:crop, :crop]
        shapes[label] = clean0.shape
        pixel = float(data.params["pixel_size"][index])
        for dose in args.doses:
            clean = clean0 * dose / float(data.params["dose"][index])
            rng = np.random.default_rng([index, round(dose * 1000), crop])
            noisy = sample_poisson(clean, rng)
            norm = REFERENCE_DOSE / dose
            row = scores.setdefault((label, dose), {})
            for name in ("padded", *methods):
                start = time.perf_counter()
                if name == "padded":
                    estimate = padded_estimate(folded, plain.card, noisy, pixel)
                else:
                    estimate = methods[name].denoise_frame(noisy, pixel)
                seconds.setdefault(f"{label}|{name}", []).append(time.perf_counter() - start)
                row.setdefault(name, []).append(psnr(estimate * norm, clean * norm))
    rows = []
    for (label, dose), row in scores.items():
        base = np.array(row["padded"])
        for name, values in row.items():
            diff = np.array(values) - base
            rows.append(
                {
                    "frames": label,
                    "shape": list(shapes[label]),
                    "dose_e_per_px": dose,
                    "method": name,
                    "n": len(values),
                    "psnr_dose_normalised": float(np.mean(values)),
                    "gain_over_padded": float(diff.mean()),
                    "gain_se": float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else 0,
                    "s_per_frame": float(np.mean(seconds[f"{label}|{name}"])),
                }
            )
    return {
        "command": " ".join(sys.argv),
        "model": plain.params.get("model"),
        "machine": machine("cpu"),
        "rows": rows,
    }


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "# Frames off the network's size multiple: reflection padding vs windows",
        "",
        f"Model `{result['model']}`. {machine_line(result['machine'])}. Command: "
        f"`{result['command']}`. Dose-normalised PSNR (dB; estimate and truth x 0.45 / dose, "
        "peak 1 e-/px), mean over frames; gain: paired difference from `padded` (before "
        "2026-12-06: reflection padding at the bottom and right), ± its standard error.",
        "",
        "| frames | shape (px) | dose (e-/px) | method | PSNR (dB) | gain (dB) | s / frame |",
        "|---|---|---:|---|---:|---:|---:|",
    ]
    for row in result["rows"]:
        gain = (
            "-"
            if row["method"] == "padded"
            else f"{row['gain_over_padded']:+.2f} ± {row['gain_se']:.2f}"
        )
        lines.append(
            f"| {row['frames']} | {row['shape'][0]} x {row['shape'][1]} | "
            f"{row['dose_e_per_px']:g} | {row['method']} | {row['psnr_dose_normalised']:.2f} | "
            f"{gain} | {row['s_per_frame']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=None, help="sbd model (default: shipped)")
    parser.add_argument("--gate-data", type=Path, default=None, help="store with a test split")
    parser.add_argument("--small-pixel-data", type=Path, default=None, help="0.049 A/px store")
    parser.add_argument(
        "--crops", type=lambda s: [int(v) for v in s.split(",")], default=[512, 500, 600]
    )
    parser.add_argument(
        "--doses", type=lambda s: [float(v) for v in s.split(",")], default=[0.45, 1.5]
    )
    parser.add_argument("--max-images", type=int, default=8)
    parser.add_argument("--ensemble", action="store_true", help="also score ensemble 8")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--name", default="frame_windows")
    args = parser.parse_args(argv)
    if args.gate_data is None and args.small_pixel_data is None:
        parser.error("give --gate-data, --small-pixel-data or both")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    result = run(args)
    text = markdown(result)
    write_results(args.output, args.name, result, text)
    print(text)
    return result


if __name__ == "__main__":
    main()
