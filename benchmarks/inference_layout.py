"""The network at inference: memory layout and folded batch norms, in one run.

The shipped model denoises 1024 x 1024 frames of Poisson counts at 0.061 A/px (0.45 e-/px) end to
end through :func:`sbdenoise.denoise.inference.denoise_array` (binning, the network on its 256 px
working frame, unbinning) in three configurations: weights and input contiguous, channels_last
(:data:`sbdenoise.denoise.inference.MEMORY_FORMAT`), and channels_last with every batch norm
folded into its convolution (:func:`sbdenoise.nn.folding.fold_batch_norms`, what ``sbdenoise
denoise`` runs), interleaved frame by frame so that drift on a shared machine hits all; then the
network alone on working frames of 256 and 512 px. Reports medians, speed-ups and the largest
difference of each output to the contiguous one::

    .venv/bin/python benchmarks/inference_layout.py --frames 20 --compile
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from selfsupervised import cpu_model
from table1 import RESULTS, machine, machine_line, write_results

from sbdenoise.denoise import inference
from sbdenoise.denoise.registry import prepare
from sbdenoise.nn.folding import fold_batch_norms

#: Configurations compared: name -> (memory layout, batch norms folded into convolutions).
CONFIGURATIONS = {
    "contiguous": (torch.contiguous_format, False),
    "channels_last": (torch.channels_last, False),
    "channels_last, folded": (torch.channels_last, True),
}
#: End to end only: `-p ensemble=8`, eight symmetries of the square averaged.
ENSEMBLE_NAME = "channels_last, folded, ensemble 8"
BASELINE = "contiguous"
PIXEL_A = 0.0609388
DOSE = 0.45


def networks() -> tuple[Any, dict[str, torch.nn.Module]]:
    """The shipped model's card and one network per configuration, each in its layout."""
    method = prepare("sbd")
    result = {}
    for name, (layout, folded) in CONFIGURATIONS.items():
        network = fold_batch_norms(method.network)[0] if folded else copy.deepcopy(method.network)
        result[name] = network.eval().to(memory_format=layout)
    return method.card, result


def end_to_end(
    card: Any, models: dict[str, torch.nn.Module], frames: int, size: int, ensemble: bool = True
) -> dict[str, Any]:
    """Median seconds per frame of each configuration (and with an ensemble of 8), and
    the largest output differences (plain network)."""
    rng = np.random.default_rng(0)
    seconds: dict[str, list[float]] = {name: [] for name in CONFIGURATIONS}
    largest = dict.fromkeys(CONFIGURATIONS, 0.0)
    for index in range(frames + 1):  # the first frame of each configuration warms up
        frame = rng.poisson(DOSE, (size, size)).astype(np.float32)
        outputs = {}
        for name, (layout, _) in CONFIGURATIONS.items():
            inference.MEMORY_FORMAT = layout
            start = time.perf_counter()
            outputs[name] = inference.denoise_array(models[name], card, frame, PIXEL_A, ensemble=1)
            if index > 0:
                seconds[name].append(time.perf_counter() - start)
        if ensemble:
            inference.MEMORY_FORMAT = torch.channels_last
            start = time.perf_counter()
            inference.denoise_array(
                models["channels_last, folded"], card, frame, PIXEL_A, ensemble=8
            )
            if index > 0:
                seconds.setdefault(ENSEMBLE_NAME, []).append(time.perf_counter() - start)
        for name in CONFIGURATIONS:
            difference = float(np.abs(outputs[name] - outputs[BASELINE]).max())
            largest[name] = max(largest[name], difference)
    inference.MEMORY_FORMAT = torch.channels_last
    return {
        "ms_per_frame": {name: 1e3 * float(np.median(s)) for name, s in seconds.items()},
        "max_difference_e_per_px": largest,
    }


def network_alone(
    models: dict[str, torch.nn.Module], sides: tuple[int, ...], repeats: int
) -> dict[str, dict[str, float]]:
    """Median milliseconds of one forward pass per working-frame side and configuration."""
    result: dict[str, dict[str, float]] = {}
    for side in sides:
        x = torch.randn(1, 1, side, side)
        times: dict[str, list[float]] = {name: [] for name in CONFIGURATIONS}
        with torch.inference_mode():
            for repeat in range(repeats + 1):  # interleaved; the first pass warms up
                for name, (layout, _) in CONFIGURATIONS.items():
                    data = x.contiguous(memory_format=layout)
                    start = time.perf_counter()
                    models[name](data)
                    if repeat > 0:
                        times[name].append(time.perf_counter() - start)
        result[str(side)] = {name: 1e3 * float(np.median(t)) for name, t in times.items()}
    return result


def compiled_network(network: torch.nn.Module, side: int, repeats: int) -> dict[str, float]:
    """torch.compile of the folded channels_last network: compile seconds and median ms."""
    data = torch.randn(1, 1, side, side).contiguous(memory_format=torch.channels_last)
    start = time.perf_counter()
    compiled = torch.compile(network)
    with torch.inference_mode():
        compiled(data)
        compile_seconds = time.perf_counter() - start
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            compiled(data)
            times.append(time.perf_counter() - start)
    return {"compile_s": compile_seconds, "ms": 1e3 * float(np.median(times))}


def run(args: argparse.Namespace) -> dict[str, Any]:
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    card, models = networks()
    whole = end_to_end(card, models, args.frames, args.size)
    alone = network_alone(models, (256, 512), args.repeats)
    folded = models["channels_last, folded"]
    compiled = compiled_network(folded, 256, args.repeats) if args.compile else None
    return {
        "command": " ".join(sys.argv),
        "machine": machine("cpu"),
        "threads": args.threads,
        "frames": args.frames,
        "size": args.size,
        "end_to_end": whole,
        "network_ms": alone,
        "compiled_256": compiled,
        "seconds": time.perf_counter() - started,
    }


def markdown(result: dict[str, Any]) -> str:
    whole = result["end_to_end"]
    ms = whole["ms_per_frame"]
    lines = [
        "# Network at inference: memory layout and folded batch norms",
        "",
        f"{machine_line(result['machine'])} CPU: {cpu_model()}; fp32. Command: "
        f"`{result['command']}` ({result['seconds']:.0f} s).",
        "",
        f"End to end (`denoise_array`: binning, the network on its working frame, unbinning), "
        f"{result['size']} x {result['size']} frames of Poisson counts at {DOSE} e-/px and "
        f"{PIXEL_A} A/px with the shipped model (median of {result['frames']} frames, the "
        "configurations interleaved). 'Folded': every batch norm folded into the convolution "
        "before it (`sbdenoise.nn.folding`, what `sbdenoise denoise` runs). The plain network "
        "(`ensemble=1`) unless named.",
        "",
        "| configuration | ms per frame | speed-up | largest difference to contiguous (e-/px) |",
        "|---|---:|---:|---:|",
    ]
    for name in CONFIGURATIONS:
        lines.append(
            f"| {name} | {ms[name]:.0f} | {ms[BASELINE] / ms[name]:.2f}x | "
            f"{whole['max_difference_e_per_px'][name]:.1e} |"
        )
    if ENSEMBLE_NAME in ms:
        lines.append(
            f"| {ENSEMBLE_NAME} (`-p ensemble=8`) | {ms[ENSEMBLE_NAME]:.0f} | "
            f"{ms[BASELINE] / ms[ENSEMBLE_NAME]:.2f}x | (another estimate) |"
        )
    lines += [
        "",
        "The network alone (one forward pass, median, interleaved):",
        "",
        "| working frame | " + " | ".join(f"{name} ms" for name in CONFIGURATIONS) + " | "
        "speed-up of the last |",
        "|---|" + "---:|" * (len(CONFIGURATIONS) + 1),
    ]
    last = list(CONFIGURATIONS)[-1]
    for side, row in result["network_ms"].items():
        cells = " | ".join(f"{row[name]:.1f}" for name in CONFIGURATIONS)
        lines.append(f"| {side} px | {cells} | {row[BASELINE] / row[last]:.2f}x |")
    compiled = result.get("compiled_256")
    if compiled:
        lines += [
            "",
            f"torch.compile of the folded channels_last network, 256 px: {compiled['ms']:.1f} "
            f"ms per pass after {compiled['compile_s']:.0f} s of compilation (against "
            f"{result['network_ms']['256'][last]:.1f} ms eager).",
        ]
    lines.append("")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--compile", action="store_true", help="also time torch.compile")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--name", default="inference_layout")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    result = run(args)
    text = markdown(result)
    write_results(args.output, args.name, result, text)
    print(text)
    return result


if __name__ == "__main__":
    main()
