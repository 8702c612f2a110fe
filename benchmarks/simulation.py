"""Simulation benchmark: convergence of the multislice grid, and images per hour on this machine.

1. Convergence: one Pt/CeO2 structure imaged (white contrast, -12 nm) with a reference grid of
   0.167 A slices and 0.04 A sampling, against coarser grids. The error is reported as PSNR of
   the clean detector image at 0.45 e-/px (peak 1 e-/px, as everywhere) against the reference:
   above 50 dB it is negligible next to the denoisers' 30-43 dB. The same error is also reported
   on the networks' working grid (4 x 4 binning, 0.244 A/px, as mean e- per detector pixel): the
   denoiser never sees finer detail, so that column is what decides the training-set grid
   (>= 45 dB).
2. Throughput: the ``shipped`` preset's grid on a few structures, with 1 and 2 dask workers;
   wall time split into potential, multislice and imaging (CTF + detector).

Writes benchmarks/results/simulation.json and simulation.md.

Usage: python benchmarks/simulation.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from sbdenoise.config import Optics, Simulation
from sbdenoise.metrics import psnr
from sbdenoise.simulate.imaging import hrtem_image
from sbdenoise.simulate.multislice import configure_abtem, exit_wave
from sbdenoise.simulate.presets import get_preset
from sbdenoise.simulate.runner import run_simulation
from sbdenoise.specimen.model import StructureParams, build_pt_ceo2
from sbdenoise.training.data import bin_sum

RESULTS = Path(__file__).parent / "results"
#: Binning from the detector (0.061 A/px) to the networks' working grid (0.244 A/px).
WORKING_BINNING = 4


def machine() -> dict[str, object]:
    import abtem
    import torch

    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "abtem": abtem.__version__,
        "numpy": np.__version__,
        "torch": torch.__version__,
    }


def on_working_grid(image: np.ndarray, factor: int = WORKING_BINNING) -> np.ndarray:
    """Mean counts per detector pixel over ``factor x factor`` blocks (the networks' grid)."""
    return bin_sum(image, factor) / factor**2


def convergence(quick: bool) -> list[dict[str, float]]:
    configure_abtem()
    params = StructureParams(0, 2.0, True, "none", 4.0, False, (0.0, 0.0), 0)
    specimen = build_pt_ceo2(params, cell_nm=3.3, support_depth_nm=1.0)
    optics = Optics()
    reference_grid = Simulation(sampling=0.04, slice_thickness=0.167)
    grids = [
        (0.04, 0.5),
        (0.04, 1.0),
        (0.04, 2.0),
        (0.04, 3.0),
        (0.05, 2.0),
        (0.06, 2.0),
        (0.08, 2.0),
        (0.08, 2.5),
        (0.1, 2.0),
        (0.1, 2.5),
        (0.12, 2.5),
    ]
    if quick:
        grids = [(0.05, 2.0), (0.08, 2.5), (0.1, 2.5)]

    def image(grid: Simulation) -> tuple[np.ndarray, float]:
        start = time.perf_counter()
        waves = exit_wave(specimen, optics, grid).waves
        seconds = time.perf_counter() - start
        return hrtem_image(waves, optics, -12.0, 0.061, 0.45).image, seconds

    reference, ref_seconds = image(reference_grid)
    rows = [
        {
            "sampling": 0.04,
            "slice_thickness": 0.167,
            "psnr_db": float("inf"),
            "psnr_working_db": float("inf"),
            "seconds": ref_seconds,
        }
    ]
    for sampling, thickness in grids:
        result, seconds = image(Simulation(sampling=sampling, slice_thickness=thickness))
        rows.append(
            {
                "sampling": sampling,
                "slice_thickness": thickness,
                "psnr_db": psnr(result, reference, clip=False),
                "psnr_working_db": psnr(
                    on_working_grid(result), on_working_grid(reference), clip=False
                ),
                "seconds": seconds,
            }
        )
        print(
            f"  sampling {sampling} A, slices {thickness} A: {rows[-1]['psnr_db']:.1f} dB "
            f"({rows[-1]['psnr_working_db']:.1f} dB on the working grid), "
            f"{seconds:.1f} s"
        )
    return rows


def throughput(n_structures: int, workers: int) -> dict[str, float]:
    spec = get_preset("shipped").model_copy(update={"n_structures": n_structures, "name": "bench"})
    folder = Path(tempfile.mkdtemp(prefix="sbdenoise-bench-"))
    try:
        summary = run_simulation(spec, folder, n_workers=workers, show_progress=False)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    stages = {
        s: float(sum(getattr(t, s) for t in summary.timings))
        for s in ("potential", "multislice", "imaging", "total")
    }
    return {
        "workers": workers,
        "images": summary.n_simulated,
        "wall_seconds": summary.seconds,
        "images_per_hour": summary.images_per_hour,
        **{f"{k}_seconds_in_workers": v for k, v in stages.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer grids and structures")
    args = parser.parse_args()
    print("convergence against 0.167 A slices, 0.04 A sampling")
    conv = convergence(args.quick)
    n = 2 if args.quick else 6
    print(f"throughput on {n} structures of the shipped preset")
    runs = [throughput(n, 1), throughput(n, 2)]
    for run in runs:
        print(f"  {run['workers']} worker(s): {run['images_per_hour']:.0f} images/hour")
    speedup = runs[1]["images_per_hour"] / runs[0]["images_per_hour"]
    result = {
        "machine": machine(),
        "convergence": conv,
        "throughput": runs,
        "speedup_2_vs_1_workers": speedup,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "simulation.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# Simulation benchmark",
        "",
        f"Machine: {result['machine']['platform']}, {result['machine']['cpu_count']} CPUs, "
        f"abTEM {result['machine']['abtem']}. Command: `python benchmarks/simulation.py`.",
        "",
        "## Convergence (clean image at 0.45 e-/px, PSNR against 0.167 A slices / 0.04 A grid)",
        "",
        "| sampling (A) | slice (A) | PSNR detector grid (dB) | PSNR working grid (dB) | "
        "exit wave (s) |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['sampling']} | {r['slice_thickness']} | {r['psnr_db']:.1f} | "
        f"{r['psnr_working_db']:.1f} | {r['seconds']:.1f} |"
        for r in conv
    ]
    lines += [
        "",
        "## Throughput (shipped preset: 5.3 nm cell, 8 defoci per structure)",
        "",
        "| workers | images | wall (s) | images/hour | potential (s) | multislice (s) | "
        "imaging (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['workers']} | {r['images']} | {r['wall_seconds']:.0f} | "
        f"{r['images_per_hour']:.0f} | {r['potential_seconds_in_workers']:.0f} | "
        f"{r['multislice_seconds_in_workers']:.0f} | "
        f"{r['imaging_seconds_in_workers']:.0f} |"
        for r in runs
    ]
    lines += ["", f"Speed-up from 1 to 2 workers: {speedup:.2f}x.", ""]
    (RESULTS / "simulation.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
