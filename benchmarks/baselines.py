"""Benchmark of the classical baselines on one synthetic low-dose lattice, in one run.

Every spatial method is first tuned (exhaustive grid of the registry, mean PSNR) on validation
pairs: a separate, smaller synthetic frame (other column jitter) with other noise seeds. The tuned
settings are then applied to the test frame, a ``--size`` x ``--size`` synthetic lattice at
0.061 A/px and 0.45 e-/px in vacuum, for ``--realisations`` Poisson realisations. Reported per
method: PSNR (peak 1 e-/px, estimate clipped to [0, 1]) and SSIM (data range 1) as means over the
realisations, PSNR with the registry defaults, seconds per frame (median over the realisations)
and the speed as a ratio to low-pass and to the fastest method, measured in the same run. The raw
frame (PSNR unclipped, as in the papers) and the average of a 20-frame stack of the same scene are
included for reference.

Writes ``benchmarks/results/baselines.json`` and ``benchmarks/results/baselines.md``::

    .venv/bin/python benchmarks/baselines.py            # 1024 x 1024, several minutes
    .venv/bin/python benchmarks/baselines.py --quick    # 256 x 256 smoke run, ~1 minute
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from sbdenoise.baselines import BASELINES, apply_baseline, tune_baseline
from sbdenoise.metrics import psnr, ssim
from sbdenoise.noise.models import sample_poisson
from sbdenoise.synthetic import synthetic_lattice

PIXEL_SIZE = 0.061  # angstrom per pixel
DOSE = 0.45  # e-/px in vacuum
STACK_FRAMES = 20
RESULTS = Path(__file__).resolve().parent / "results"

console = Console(stderr=True, width=120)


def machine() -> dict[str, Any]:
    """Name the machine and the library versions the timings belong to."""
    versions = {}
    for package in ("numpy", "scipy", "scikit-image", "bm3d", "torch"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "usable_cpus": usable,
        "versions": versions,
    }


def log(message: str, start: float) -> None:
    console.log(f"[{time.perf_counter() - start:7.1f} s] {message}")


def plain(value: Any) -> Any:
    """JSON-friendly copy of parameter values (numpy scalars to Python)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


def evaluate(
    name: str, frames: list[np.ndarray], clean: np.ndarray, params: dict[str, Any]
) -> dict[str, Any]:
    """Apply one setting to every noisy frame: mean PSNR/SSIM, median seconds per frame."""
    scores, similarities, seconds = [], [], []
    for noisy in frames:
        start = time.perf_counter()
        estimate = apply_baseline(name, noisy, pixel_size=PIXEL_SIZE, **params)
        seconds.append(time.perf_counter() - start)
        scores.append(psnr(estimate, clean))
        similarities.append(ssim(estimate, clean))
    return {
        "psnr": float(np.mean(scores)),
        "psnr_std": float(np.std(scores)),
        "ssim": float(np.mean(similarities)),
        "seconds": float(np.median(seconds)),
    }


def markdown(result: dict[str, Any]) -> str:
    """The results as a Markdown page with one table."""
    m, s = result["machine"], result["settings"]
    lines = [
        "# Classical baselines on the synthetic lattice",
        "",
        f"Test frame: {s['size']} x {s['size']} px synthetic lattice, {PIXEL_SIZE} A/px, "
        f"{DOSE} e-/px in vacuum, {s['realisations']} Poisson realisation(s). Parameters tuned "
        f"per method on {s['validation_pairs']} validation pair(s) of a separate "
        f"{s['validation_size']} x {s['validation_size']} px frame (other column jitter and "
        "noise seeds), by mean PSNR over the registry grid.",
        "",
        "PSNR: peak 1 e-/px, estimate clipped to [0, 1] (raw frame: unclipped, as in the papers); "
        "SSIM: data range 1. Seconds: median per frame (time-average: its 20-frame stack / 20); "
        'speed ratios measured in this run, "x fastest" relative to the fastest single-frame '
        "method.",
        "",
        "| method | PSNR (dB) | SSIM | PSNR defaults (dB) | s / frame | x low-pass | "
        "x fastest | tuned parameters |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in result["rows"]:
        params = ", ".join(f"{k}={v}" for k, v in row["params"].items()) or "-"

        def num(key: str, fmt: str, row: dict = row) -> str:
            value = row.get(key)
            return "-" if value is None else format(value, fmt)

        lines.append(
            f"| {row['label']} | {num('psnr', '.2f')} | {num('ssim', '.3f')} | "
            f"{num('psnr_defaults', '.2f')} | {num('seconds', '.3g')} | "
            f"{num('ratio_lowpass', '.3g')} | {num('ratio_fastest', '.3g')} | {params} |"
        )
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v)
    lines += [
        "",
        f"Machine: {m['platform']}, {m['processor']}, {m['cpu_count']} CPUs "
        f"({m['usable_cpus']} usable), Python {m['python']}; {versions}.",
        f"Total run time: {result['total_seconds']:.0f} s.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=1024, help="test frame side in px")
    parser.add_argument(
        "--quick", action="store_true", help="small smoke run (256 px test, 128 px validation)"
    )
    parser.add_argument("--realisations", type=int, default=None, help="noise realisations")
    parser.add_argument("--validation-size", type=int, default=None, help="validation side, px")
    parser.add_argument("--validation-pairs", type=int, default=None)
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    parser.add_argument(
        "--skip-textbook-bm3d",
        action="store_true",
        help="leave out VST+BM3D without binning (about 30 s per 1024 x 1024 frame)",
    )
    args = parser.parse_args(argv)
    size = 256 if args.quick and args.size == 1024 else args.size
    realisations = args.realisations or (1 if args.quick else 3)
    val_size = args.validation_size or (128 if args.quick else min(512, size))
    val_pairs = args.validation_pairs or (1 if args.quick else 2)

    start = time.perf_counter()
    clean = synthetic_lattice((size, size), pixel_size=PIXEL_SIZE, vacuum_level=DOSE, seed=0)
    clean = clean.expectation.astype(np.float64)
    frames = [sample_poisson(clean, np.random.default_rng(1000 + i)) for i in range(realisations)]
    val_clean = synthetic_lattice(
        (val_size, val_size), pixel_size=PIXEL_SIZE, vacuum_level=DOSE, seed=1
    ).expectation.astype(np.float64)
    pairs = [
        (val_clean, sample_poisson(val_clean, np.random.default_rng(2000 + i)))
        for i in range(val_pairs)
    ]
    log(f"data: test {size}^2 x {realisations}, validation {val_size}^2 x {val_pairs}", start)

    rows: list[dict[str, Any]] = []
    raw = {
        "psnr": float(np.mean([psnr(f, clean, clip=False) for f in frames])),
        "ssim": float(np.mean([ssim(f, clean, clip=False) for f in frames])),
    }
    rows.append(
        {"label": "raw frame (unclipped PSNR and SSIM)", "method": "raw", "params": {}, **raw}
    )
    flat = [np.full_like(clean, f.mean()) for f in frames]
    rows.append(
        {
            "label": "frame mean (flat image)",
            "method": "mean",
            "params": {},
            "psnr": float(np.mean([psnr(f, clean) for f in flat])),
            "ssim": float(np.mean([ssim(f, clean) for f in flat])),
        }
    )

    tuning: dict[str, Any] = {}
    spatial = [name for name, b in BASELINES.items() if not b.temporal]
    for name in spatial:
        baseline = BASELINES[name]
        t0 = time.perf_counter()
        tuned = tune_baseline(name, pairs, pixel_size=PIXEL_SIZE, progress=True)
        tuning[name] = {
            "params": plain(tuned.params),
            "validation_psnr": tuned.psnr,
            "seconds": time.perf_counter() - t0,
            "table": [{"params": plain(p), "psnr": s} for p, s in tuned.table],
        }
        log(f"tuned {name}: {plain(tuned.params)} -> {tuned.psnr:.2f} dB (validation)", start)
        row = {"label": name, "method": name, "params": plain(tuned.params)}
        row.update(evaluate(name, frames, clean, tuned.params))
        defaults = dict(baseline.defaults)
        if defaults == tuned.params:
            row["psnr_defaults"] = row["psnr"]
        else:
            row["psnr_defaults"] = evaluate(name, frames, clean, defaults)["psnr"]
        rows.append(row)
        log(f"{name}: {row['psnr']:.2f} dB, SSIM {row['ssim']:.3f}, {row['seconds']:.3g} s", start)

    if not args.skip_textbook_bm3d:
        params = {**tuning["vst-bm3d"]["params"], "sigma": 1.0, "bin_factor": 1}
        row = {"label": "vst-bm3d, no binning (textbook)", "method": "vst-bm3d", "params": params}
        row.update(evaluate("vst-bm3d", frames, clean, params))
        rows.append(row)
        log(f"vst-bm3d unbinned: {row['psnr']:.2f} dB, {row['seconds']:.3g} s", start)

    # Time average of a stack of the same scene (reference: what 20 x the dose buys).
    stack = sample_poisson(
        np.broadcast_to(clean, (STACK_FRAMES, *clean.shape)), np.random.default_rng(3000)
    )
    t0 = time.perf_counter()
    averaged = apply_baseline("time-average", stack, window=0)
    seconds = (time.perf_counter() - t0) / STACK_FRAMES
    middle = averaged[STACK_FRAMES // 2]
    rows.append(
        {
            "label": f"time-average of {STACK_FRAMES} frames (reference)",
            "method": "time-average",
            "params": {"window": 0},
            "psnr": psnr(middle, clean),
            "ssim": ssim(middle, clean),
            "seconds": seconds,
        }
    )
    log(f"time-average: {rows[-1]['psnr']:.2f} dB", start)

    timed = [r for r in rows if r.get("seconds")]
    lowpass = next(r["seconds"] for r in rows if r["method"] == "lowpass")
    # Fastest single-frame denoiser (the stack average is a reference, not a competitor).
    fastest = min(r["seconds"] for r in timed if r["method"] != "time-average")
    for r in timed:
        r["ratio_lowpass"] = r["seconds"] / lowpass
        r["ratio_fastest"] = r["seconds"] / fastest

    result = {
        "benchmark": "classical baselines, synthetic lattice",
        "settings": {
            "size": size,
            "pixel_size_A": PIXEL_SIZE,
            "dose_e_per_px": DOSE,
            "realisations": realisations,
            "validation_size": val_size,
            "validation_pairs": val_pairs,
            "stack_frames": STACK_FRAMES,
            "quick": args.quick,
        },
        "machine": machine(),
        "rows": rows,
        "tuning": tuning,
        "total_seconds": time.perf_counter() - start,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "baselines_quick" if args.quick else "baselines"
    (args.out / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / f"{stem}.md").write_text(markdown(result))
    print(markdown(result))
    log(f"wrote {args.out / stem}.json and .md", start)
    return result


if __name__ == "__main__":
    main()
