"""The network at inference: memory layout, folded batch norms and arithmetic, in one run.

The shipped model denoises 1024 x 1024 frames of Poisson counts at 0.061 A/px (0.45 e-/px) end to
end through :func:`sbdenoise.denoise.inference.denoise_array` (binning, the network on its 256 px
working frame, unbinning) in these configurations, all in fp32: weights and input contiguous,
channels_last (:data:`sbdenoise.denoise.inference.MEMORY_FORMAT`), and channels_last with every
batch norm folded into its convolution (:func:`sbdenoise.nn.folding.fold_batch_norms`); and,
where the CPU has bfloat16 arithmetic, the last one in bf16 autocast, which is what ``sbdenoise
denoise`` runs by default there (``precision="auto"``). They are interleaved frame by frame so
that drift on a shared machine hits all; then the network alone on working frames of 256 and
512 px, with the arithmetic of their convolutions and the rate each pass reaches. Reports
medians, speed-ups and the largest difference of each output to the contiguous one;
``--compile`` also times :func:`torch.compile` of the folded network in each arithmetic::

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
from sbdenoise.training.precision import autocast, resolve_precision

#: Configurations compared: name -> (memory layout, batch norms folded into convolutions,
#: arithmetic).
FP32_CONFIGURATIONS = {
    "contiguous": (torch.contiguous_format, False, "fp32"),
    "channels_last": (torch.channels_last, False, "fp32"),
    "channels_last, folded": (torch.channels_last, True, "fp32"),
}
#: The default of ``sbdenoise denoise`` where the CPU has bfloat16 arithmetic.
BF16_NAME = "channels_last, folded, bf16"
#: End to end only: `-p ensemble=8`, eight symmetries of the square averaged.
ENSEMBLE_NAME = "channels_last, folded, ensemble 8"
#: Issue 11's target for a 1024 x 1024 frame end to end on 2 cores, milliseconds.
TARGET_MS = 50.0
BASELINE = "contiguous"
PIXEL_A = 0.0609388
DOSE = 0.45


Configuration = tuple[Any, bool, str]


def configurations() -> dict[str, Configuration]:
    """The configurations this machine runs: the fp32 ones, and bf16 where the CPU has it."""
    result = dict(FP32_CONFIGURATIONS)
    if resolve_precision("auto", torch.device("cpu")) == "bf16":
        result[BF16_NAME] = (torch.channels_last, True, "bf16")
    return result


def networks(
    chosen: dict[str, Configuration],
) -> tuple[Any, dict[str, torch.nn.Module]]:
    """The shipped model's card and one network per configuration, each in its layout
    (configurations that differ only in arithmetic share one network)."""
    method = prepare("sbd")
    built: dict[tuple[Any, bool], torch.nn.Module] = {}
    result = {}
    for name, (layout, folded, _) in chosen.items():
        if (layout, folded) not in built:
            network = (
                fold_batch_norms(method.network)[0] if folded else copy.deepcopy(method.network)
            )
            built[layout, folded] = network.eval().to(memory_format=layout)
        result[name] = built[layout, folded]
    return method.card, result


def end_to_end(
    card: Any,
    models: dict[str, torch.nn.Module],
    chosen: dict[str, Configuration],
    frames: int,
    size: int,
    ensemble: bool = True,
) -> dict[str, Any]:
    """Median seconds per frame of each configuration (and with an ensemble of 8), and
    the largest output differences (plain network)."""
    rng = np.random.default_rng(0)
    seconds: dict[str, list[float]] = {name: [] for name in chosen}
    largest = dict.fromkeys(chosen, 0.0)
    for index in range(frames + 1):  # the first frame of each configuration warms up
        frame = rng.poisson(DOSE, (size, size)).astype(np.float32)
        outputs = {}
        for name, (layout, _, precision) in chosen.items():
            inference.MEMORY_FORMAT = layout
            start = time.perf_counter()
            outputs[name] = inference.denoise_array(
                models[name], card, frame, PIXEL_A, ensemble=1, precision=precision
            )
            if index > 0:
                seconds[name].append(time.perf_counter() - start)
        if ensemble:
            inference.MEMORY_FORMAT = torch.channels_last
            start = time.perf_counter()
            inference.denoise_array(
                models["channels_last, folded"], card, frame, PIXEL_A, ensemble=8, precision="fp32"
            )
            if index > 0:
                seconds.setdefault(ENSEMBLE_NAME, []).append(time.perf_counter() - start)
        for name in chosen:
            difference = float(np.abs(outputs[name] - outputs[BASELINE]).max())
            largest[name] = max(largest[name], difference)
    inference.MEMORY_FORMAT = torch.channels_last
    return {
        "ms_per_frame": {name: 1e3 * float(np.median(s)) for name, s in seconds.items()},
        "ms_per_frame_10_90": {
            name: [1e3 * float(q) for q in np.percentile(s, [10, 90])]
            for name, s in seconds.items()
        },
        "max_difference_e_per_px": largest,
    }


def convolution_gflop(model: torch.nn.Module, side: int) -> float:
    """Floating-point operations of every convolution in one pass over a ``side`` px frame.

    Parameters
    ----------
    model : torch.nn.Module
        A network with one input channel.
    side : int
        Side of the square working frame (px).

    Returns
    -------
    float
        Two operations (a multiply and an add) per weight per output pixel, summed over every
        :class:`torch.nn.Conv2d`, in 1e9 operations; the rest of the network (activations,
        pooling, upsampling, concatenation) is not counted.
    """
    total = 0

    def count(layer: torch.nn.Conv2d, _: Any, output: torch.Tensor) -> None:
        nonlocal total
        per_output = layer.in_channels // layer.groups * layer.kernel_size[0] * layer.kernel_size[1]
        total += 2 * output.numel() * per_output

    hooks = [
        layer.register_forward_hook(count)
        for layer in model.modules()
        if isinstance(layer, torch.nn.Conv2d)
    ]
    try:
        with torch.inference_mode():
            model(torch.zeros(1, 1, side, side))
    finally:
        for hook in hooks:
            hook.remove()
    return total / 1e9


def _forward(model: torch.nn.Module, data: torch.Tensor, precision: str) -> torch.Tensor:
    with autocast(precision, torch.device("cpu")):
        return model(data)


def network_alone(
    models: dict[str, torch.nn.Module],
    chosen: dict[str, Configuration],
    sides: tuple[int, ...],
    repeats: int,
) -> dict[str, dict[str, float]]:
    """Median milliseconds of one forward pass per working-frame side and configuration."""
    result: dict[str, dict[str, float]] = {}
    for side in sides:
        x = torch.randn(1, 1, side, side)
        times: dict[str, list[float]] = {name: [] for name in chosen}
        with torch.inference_mode():
            for repeat in range(repeats + 1):  # interleaved; the first pass warms up
                for name, (layout, _, precision) in chosen.items():
                    data = x.contiguous(memory_format=layout)
                    start = time.perf_counter()
                    _forward(models[name], data, precision)
                    if repeat > 0:
                        times[name].append(time.perf_counter() - start)
        result[str(side)] = {name: 1e3 * float(np.median(t)) for name, t in times.items()}
    return result


def compiled_network(
    network: torch.nn.Module, precision: str, side: int, repeats: int
) -> dict[str, float]:
    """torch.compile of the folded channels_last network in one arithmetic: seconds to the end
    of the first call (compilation; a warm on-disk cache shortens it) and median ms per pass."""
    data = torch.randn(1, 1, side, side).contiguous(memory_format=torch.channels_last)
    start = time.perf_counter()
    compiled = torch.compile(copy.deepcopy(network))
    with torch.inference_mode():
        _forward(compiled, data, precision)
        compile_seconds = time.perf_counter() - start
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            _forward(compiled, data, precision)
            times.append(time.perf_counter() - start)
    return {"compile_s": compile_seconds, "ms": 1e3 * float(np.median(times))}


def run(args: argparse.Namespace) -> dict[str, Any]:
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    chosen = configurations()
    card, models = networks(chosen)
    whole = end_to_end(card, models, chosen, args.frames, args.size)
    alone = network_alone(models, chosen, (256, 512), args.repeats)
    folded = models["channels_last, folded"]
    compiled = (
        {
            precision: compiled_network(folded, precision, 256, args.repeats)
            for precision in sorted({c[2] for c in chosen.values()})
        }
        if args.compile
        else None
    )
    return {
        "command": " ".join(sys.argv),
        "machine": machine("cpu"),
        "cpu": cpu_model(),
        "threads": args.threads,
        "frames": args.frames,
        "size": args.size,
        "configurations": {name: c[2] for name, c in chosen.items()},
        "default": BF16_NAME if BF16_NAME in chosen else "channels_last, folded",
        "target_ms": TARGET_MS,
        "end_to_end": whole,
        "network_ms": alone,
        "convolution_gflop": {str(side): convolution_gflop(folded, side) for side in (256, 512)},
        "compiled_256": compiled,
        "seconds": time.perf_counter() - started,
    }


def markdown(result: dict[str, Any]) -> str:
    whole = result["end_to_end"]
    ms = whole["ms_per_frame"]
    names = list(result["configurations"])
    default = result["default"]
    lines = [
        "# Network at inference: memory layout, folded batch norms and arithmetic",
        "",
        f"{machine_line(result['machine'])} CPU: {result['cpu']}. Command: "
        f"`{result['command']}` ({result['seconds']:.0f} s).",
        "",
        f"End to end (`denoise_array`: binning, the network on its working frame, unbinning), "
        f"{result['size']} x {result['size']} frames of Poisson counts at {DOSE} e-/px and "
        f"{PIXEL_A} A/px with the shipped model (median of {result['frames']} frames, the "
        "configurations interleaved). 'Folded': every batch norm folded into the convolution "
        "before it (`sbdenoise.nn.folding`). fp32 unless named; bf16 is autocast with the "
        "output layer in fp32, the default of `sbdenoise denoise` on CPUs with bfloat16 "
        "arithmetic. The plain network (`ensemble=1`) unless named.",
        "",
        f"**What `sbdenoise denoise` runs here ({default}): {ms[default]:.0f} ms per frame, "
        f"against the target of {result['target_ms']:.0f} ms "
        f"({'met' if ms[default] <= result['target_ms'] else 'not met'}).**",
        "",
        "| configuration | ms per frame | 10-90 % of frames | speed-up | largest difference to "
        "contiguous (e-/px) |",
        "|---|---:|---:|---:|---:|",
    ]
    spread = whole.get("ms_per_frame_10_90", {})
    for name in names:
        low, high = spread.get(name, (float("nan"), float("nan")))
        lines.append(
            f"| {name} | {ms[name]:.0f} | {low:.0f}-{high:.0f} | {ms[BASELINE] / ms[name]:.2f}x | "
            f"{whole['max_difference_e_per_px'][name]:.1e} |"
        )
    if ENSEMBLE_NAME in ms:
        lines.append(
            f"| {ENSEMBLE_NAME} (`-p ensemble=8`, fp32) | {ms[ENSEMBLE_NAME]:.0f} | | "
            f"{ms[BASELINE] / ms[ENSEMBLE_NAME]:.2f}x | (another estimate) |"
        )
    lines += [
        "",
        "The network alone (one forward pass, median, interleaved):",
        "",
        "| working frame | " + " | ".join(f"{name} ms" for name in names) + " | "
        f"speed-up of {default} |",
        "|---|" + "---:|" * (len(names) + 1),
    ]
    for side, row in result["network_ms"].items():
        cells = " | ".join(f"{row[name]:.1f}" for name in names)
        lines.append(f"| {side} px | {cells} | {row[BASELINE] / row[default]:.2f}x |")
    gflop = result.get("convolution_gflop")
    if gflop:
        lines += [""]
        for side, operations in gflop.items():
            rate = operations / (result["network_ms"][side][default] / 1e3)
            lines.append(
                f"- {side} px: the convolutions hold {operations:.1f} GFLOP per pass; {default} "
                f"runs them at {rate:.0f} GFLOP/s."
            )
        budget = result["target_ms"] / 1e3
        lines.append(
            f"- The {result['target_ms']:.0f} ms target asks for at least "
            f"{gflop['256'] / budget:.0f} GFLOP/s for the 256 px pass's convolutions alone."
        )
    compiled = result.get("compiled_256")
    if compiled:
        eager = {"fp32": "channels_last, folded", "bf16": BF16_NAME}
        lines += ["", "torch.compile of the folded channels_last network, 256 px:", ""]
        for precision, timing in compiled.items():
            lines.append(
                f"- {precision}: {timing['ms']:.1f} ms per pass after {timing['compile_s']:.0f} "
                f"s of compilation (against {result['network_ms']['256'][eager[precision]]:.1f} "
                "ms eager)."
            )
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
