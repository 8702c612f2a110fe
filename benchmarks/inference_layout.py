"""Memory layout of the network at inference: channels_last against contiguous, in one run.

The shipped model denoises 1024 x 1024 frames of Poisson counts at 0.061 A/px (0.45 e-/px) end to
end through :meth:`sbdenoise.denoise.registry.PreparedMethod.denoise_frame` (binning, the network
on its 256 px working frame, unbinning), once with the weights and input in each layout
(:data:`sbdenoise.denoise.inference.MEMORY_FORMAT`), the two interleaved frame by frame so that
drift on a shared machine hits both; then the network alone on working frames of 256 and 512
px. Reports medians, the speed-up and the largest difference between the two outputs::

    .venv/bin/python benchmarks/inference_layout.py --frames 20 --compile
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

from selfsupervised import cpu_model
from table1 import RESULTS, machine, machine_line, write_results

from sbdenoise.denoise import inference
from sbdenoise.denoise.registry import prepare

LAYOUTS = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last}
PIXEL_A = 0.0609388
DOSE = 0.45


def end_to_end(frames: int, size: int) -> dict[str, Any]:
    """Median seconds per frame of each layout, and the largest output difference (e-/px)."""
    method = prepare("sbd")
    rng = np.random.default_rng(0)
    seconds: dict[str, list[float]] = {name: [] for name in LAYOUTS}
    largest = 0.0
    for index in range(frames + 1):  # the first frame of each layout warms up
        frame = rng.poisson(DOSE, (size, size)).astype(np.float32)
        outputs = {}
        for name, layout in LAYOUTS.items():
            inference.MEMORY_FORMAT = layout
            start = time.perf_counter()
            outputs[name] = method.denoise_frame(frame, PIXEL_A)
            if index > 0:
                seconds[name].append(time.perf_counter() - start)
        difference = np.abs(outputs["contiguous"] - outputs["channels_last"])
        largest = max(largest, float(difference.max()))
    inference.MEMORY_FORMAT = torch.channels_last
    return {
        "ms_per_frame": {name: 1e3 * float(np.median(s)) for name, s in seconds.items()},
        "max_difference_e_per_px": largest,
    }


def network_alone(sides: tuple[int, ...], repeats: int) -> dict[str, dict[str, float]]:
    """Median milliseconds of one forward pass per working-frame side and layout."""
    network = prepare("sbd").network.eval()
    result: dict[str, dict[str, float]] = {}
    for side in sides:
        x = torch.randn(1, 1, side, side)
        result[str(side)] = {}
        for name, layout in LAYOUTS.items():
            model = network.to(memory_format=layout)
            data = x.contiguous(memory_format=layout)
            with torch.inference_mode():
                model(data)
                times = []
                for _ in range(repeats):
                    start = time.perf_counter()
                    model(data)
                    times.append(time.perf_counter() - start)
            result[str(side)][name] = 1e3 * float(np.median(times))
    return result


def compiled_network(side: int, repeats: int) -> dict[str, float]:
    """torch.compile of the channels_last network: compile seconds and median forward ms."""
    network = prepare("sbd").network.eval().to(memory_format=torch.channels_last)
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
    whole = end_to_end(args.frames, args.size)
    alone = network_alone((256, 512), args.repeats)
    compiled = compiled_network(256, args.repeats) if args.compile else None
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
    ms = result["end_to_end"]["ms_per_frame"]
    lines = [
        "# Network memory layout at inference: channels_last against contiguous",
        "",
        f"{machine_line(result['machine'])} CPU: {cpu_model()}; fp32. Command: "
        f"`{result['command']}` ({result['seconds']:.0f} s).",
        "",
        f"End to end, {result['size']} x {result['size']} frames of Poisson counts at "
        f"{DOSE} e-/px and {PIXEL_A} A/px with the shipped model (median of "
        f"{result['frames']} frames, the layouts interleaved):",
        "",
        "| layout | ms per frame | speed-up |",
        "|---|---:|---:|",
    ]
    for name in LAYOUTS:
        lines.append(f"| {name} | {ms[name]:.0f} | {ms['contiguous'] / ms[name]:.2f}x |")
    lines += [
        "",
        f"Largest difference between the two outputs: "
        f"{result['end_to_end']['max_difference_e_per_px']:.1e} e-/px.",
        "",
        "The network alone (one forward pass, median):",
        "",
        "| working frame | contiguous ms | channels_last ms | speed-up |",
        "|---|---:|---:|---:|",
    ]
    for side, row in result["network_ms"].items():
        lines.append(
            f"| {side} px | {row['contiguous']:.1f} | {row['channels_last']:.1f} | "
            f"{row['contiguous'] / row['channels_last']:.2f}x |"
        )
    compiled = result.get("compiled_256")
    if compiled:
        lines += [
            "",
            f"torch.compile of the channels_last network, 256 px: {compiled['ms']:.1f} ms per "
            f"pass after {compiled['compile_s']:.0f} s of compilation (against "
            f"{result['network_ms']['256']['channels_last']:.1f} ms eager).",
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
