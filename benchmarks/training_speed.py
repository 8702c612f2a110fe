"""Training throughput on this machine: seconds per step and pixels per second, fp32 vs bf16.

One optimisation step (forward, MSE loss in fp32, backward, Adam) of the UNet on a batch of
random Poisson crops, exactly as :mod:`sbdenoise.training.trainer` runs it: ``fp32``, or bf16
autocast with channels_last (``bf16``; fp32 master weights), optionally under ``torch.compile``.
Each configuration is warmed up, then timed over ``--steps`` steps (median of per-step times).
Ratios are against fp32 of the same network in the same run. The machine is named in the results.

Writes benchmarks/results/training_speed.{json,md}::

    .venv/bin/python benchmarks/training_speed.py            # base 16 and 32, fp32 / bf16
    .venv/bin/python benchmarks/training_speed.py --compile  # also torch.compile (slow to build)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from sbdenoise.nn import build_model
from sbdenoise.training.precision import autocast, cpu_has_bf16

RESULTS = Path(__file__).parent / "results"


#: Memory layouts compared.
LAYOUTS = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last}


def machine() -> dict[str, object]:
    """Where the run happened."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "platform": platform.platform(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cpu_bf16": cpu_has_bf16(),
        "torch": torch.__version__,
    }


def time_steps(
    base: int,
    precision: str,
    *,
    layout: str = "channels_last",
    compiled: bool,
    steps: int,
    warmup: int,
    batch: int,
    crop: int,
    scales: int = 5,
    bias_free: bool = False,
) -> list[float]:
    """Per-step wall times (s) of one configuration (a UNet of ``scales`` scales).

    ``layout`` is the memory layout of the weights and the input, ``"channels_last"`` (what
    ``sbdenoise train`` uses) or ``"contiguous"``.
    """
    torch.manual_seed(0)
    memory_format = LAYOUTS[layout]
    network = build_model("unet", scales=scales, base_channels=base, bias_free=bias_free)
    network = network.to(memory_format=memory_format)
    model = torch.compile(network) if compiled else network
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-4)
    generator = torch.Generator().manual_seed(1)
    clean = torch.rand((batch, 1, crop, crop), generator=generator) * 2 + 6
    inputs = torch.poisson(clean, generator=generator) / 7.2
    targets = clean / 7.2
    inputs = inputs.contiguous(memory_format=memory_format)
    device = torch.device("cpu")
    times = []
    for step in range(warmup + steps):
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        with autocast(precision, device):
            outputs = model(inputs)
        loss = F.mse_loss(outputs.float(), targets)
        loss.backward()
        optimizer.step()
        if step >= warmup:
            times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12, help="timed steps per configuration")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--bases", default="16,32", help="UNet base channels to compare")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile")
    parser.add_argument("--name", default="training_speed", help="results file name")
    args = parser.parse_args()
    configurations = [("fp32", "contiguous"), ("fp32", "channels_last"), ("bf16", "channels_last")]
    rows = []
    for base in [int(b) for b in args.bases.split(",")]:
        for precision, layout in configurations:
            for compiled in (False, True) if args.compile else (False,):
                times = time_steps(
                    base,
                    precision,
                    layout=layout,
                    compiled=compiled,
                    steps=args.steps,
                    warmup=args.warmup,
                    batch=args.batch,
                    crop=args.crop,
                )
                seconds = statistics.median(times)
                rows.append(
                    {
                        "base_channels": base,
                        "precision": precision,
                        "layout": layout,
                        "compiled": compiled,
                        "seconds_per_step": seconds,
                        "pixels_per_second": args.batch * args.crop**2 / seconds,
                    }
                )
                print(
                    f"base {base} {precision} {layout}{' compiled' if compiled else ''}: "
                    f"{seconds:.3f} s/step"
                )
    for row in rows:
        reference = next(
            r
            for r in rows
            if r["base_channels"] == row["base_channels"]
            and r["precision"] == "fp32"
            and r.get("layout", "contiguous") == "contiguous"
            and not r["compiled"]
        )
        row["speedup_vs_fp32"] = reference["seconds_per_step"] / row["seconds_per_step"]
    result = {
        "machine": machine(),
        "network": "unet, 5 scales",
        "batch": args.batch,
        "crop_px": args.crop,
        "steps_timed": args.steps,
        "rows": rows,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(result, indent=2) + "\n")
    info = result["machine"]
    lines = [
        "# Training speed (one optimisation step, UNet 5 scales)",
        "",
        f"Machine: {info['cpu']}, {info['cpu_count']} CPUs, torch {info['torch']} with "
        f"{info['torch_threads']} threads, AVX512-BF16/AMX: {info['cpu_bf16']}. Batch "
        f"{args.batch} of {args.crop} px crops; median of {args.steps} steps after "
        f"{args.warmup} warm-up steps. Command: `python benchmarks/training_speed.py"
        f"{''.join(' ' + a for a in sys.argv[1:])}`.",
        "",
        "| base channels | precision | layout | torch.compile | s/step | pixels/s | "
        "speed-up vs fp32 contiguous |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['base_channels']} | {r['precision']} | {r['layout']} | "
        f"{'yes' if r['compiled'] else 'no'} | "
        f"{r['seconds_per_step']:.3f} | {r['pixels_per_second']:.0f} | "
        f"{r['speedup_vs_fp32']:.2f}x |"
        for r in rows
    ]
    lines.append("")
    (RESULTS / f"{args.name}.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
