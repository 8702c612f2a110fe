"""Self-supervised denoisers against SBD on a simulated stationary Pt/CeO2 series, in one run.

Part 1, the series: one clean frame of the demo's atomic model (2 nm Pt on CeO2(111), [110]
zone axis, defocus -12 nm, the ``shipped`` preset's optics, 512 x 512 px at 0.061 A/px) is drawn
40 times with Poisson noise at 0.45 e-/px (fixed seed): a stationary series. Every method
denoises it through :func:`sbdenoise.denoise.registry.prepare` with its registry defaults:
``blind-spot``, ``blind-spot-es``, ``self2self``, ``udvd`` (self-supervised, trained on the
series itself), ``sbd`` (the shipped network trained on simulations), ``vst-bm3d`` (frame by
frame) and ``time-average`` (the mean of the 40 frames). Scores: PSNR (peak 1 e-/px, estimate
clipped to [0, 1]; the raw frame unclipped) and SSIM (data range 1) on the centre frame (index
20) and averaged over all 40 frames; seconds for the whole series (training included); surface
and bulk Jaccard of the columns found by :func:`sbdenoise.analysis.columns.detect_columns` in the
denoised centre frame against the simulation's true columns (matched within 0.5 A, surface by the
alpha-shape rule, as ``sbdenoise evaluate`` does by default; the clean frame's row is the
detector's ceiling).

Part 2, the papers' training-set-size curve: ``blind-spot`` trained (registry defaults, same
budget for every size) on 40, 160, 640 and 2560 noisy 128 x 128 crops of the working grid (0.244
A/px; fresh Poisson noise on the binned expectation, which is exactly Poisson) cut at random from
four clean frames of other atomic models and defoci, then applied, without more training, to 8
noisy realisations of the series' clean frame (a structure none of the crops come from): mean
PSNR against the truth, with the SBD network's PSNR on the same frames as a horizontal line.

Writes ``selfsupervised.json``, ``selfsupervised.md`` and ``selfsupervised_curve.png`` into
``benchmarks/results`` (``selfsupervised_quick.*`` and ``selfsupervised_quick_curve.png`` with
``--quick``: 5 frames of 256 px, tiny networks trained 20 steps, curve sizes 8 and 32 of 32 px
crops from the series' own clean frame; a smoke test of the script, not a result)::

    .venv/bin/python benchmarks/selfsupervised.py            # about 45-60 min on 2 cores
    .venv/bin/python benchmarks/selfsupervised.py --quick    # about 2 min
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console

from sbdenoise.analysis.columns import detect_columns, inside_frame
from sbdenoise.analysis.structure_metrics import structure_scores
from sbdenoise.analysis.surface import DEFAULT_ALPHA_A, alpha_shape
from sbdenoise.demo import demo_structure
from sbdenoise.denoise.registry import SBD_METHOD, prepare
from sbdenoise.denoise.selfsupervised import fit_blind_spot, method_settings
from sbdenoise.io.atomic import atomic_write_text
from sbdenoise.metrics import psnr, ssim
from sbdenoise.nn.sampling import to_working_grid
from sbdenoise.simulate.frame import simulate_frame
from sbdenoise.simulate.presets import get_preset
from sbdenoise.specimen.model import StructureParams

RESULTS = Path(__file__).resolve().parent / "results"
DOSE = 0.45
SERIES_DEFOCUS_NM = -12.0
SEED = 20260521
#: Columns closer than this to the frame edge are left out of the structure scores, angstrom.
BORDER_A = 1.0
#: Working sampling of the self-supervised methods and of the curve's crops, angstrom.
WORKING_SAMPLING = 0.244
SELF_SUPERVISED = ("blind-spot", "blind-spot-es", "self2self", "udvd")
METHODS = (*SELF_SUPERVISED, SBD_METHOD, "vst-bm3d", "time-average")
#: Training models of the curve: (particle diameter nm, defect, seed, defocus nm).
CURVE_MODELS = (
    (2.0, "none", 11, -16.0),
    (2.5, "remove_two", 12, -14.0),
    (1.5, "adatom", 13, -10.0),
    (3.0, "half_occupancy", 14, -8.0),
)


@dataclass(frozen=True)
class Config:
    """Sizes of one run (full or quick)."""

    name: str
    series_size: int
    frames: int
    curve_sizes: tuple[int, ...]
    curve_crop: int
    curve_frame_size: int
    curve_models: int
    test_realisations: int
    self_supervised_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    curve_params: dict[str, Any] = field(default_factory=dict)


FULL = Config(
    name="selfsupervised",
    series_size=512,
    frames=40,
    curve_sizes=(40, 160, 640, 2560),
    curve_crop=128,
    curve_frame_size=768,
    curve_models=len(CURVE_MODELS),
    test_realisations=8,
)
_TINY = {"max_steps": 20, "scales": 3, "base_channels": 8, "patch": 32, "batch_size": 4}
QUICK = Config(
    name="selfsupervised_quick",
    series_size=256,
    frames=5,
    curve_sizes=(8, 32),
    curve_crop=32,
    curve_frame_size=256,
    curve_models=0,
    test_realisations=2,
    self_supervised_params={
        "blind-spot": _TINY,
        "blind-spot-es": _TINY,
        "self2self": {**_TINY, "max_steps": 5, "n_predictions": 4},
        "udvd": _TINY,
    },
    curve_params=_TINY,
)


class ReportCollector(logging.Handler):
    """Collects the training reports the self-supervised methods log."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.reports: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        report = getattr(record, "train_report", None)
        if report is not None:
            self.reports.append(dict(report))


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (or the platform's processor string)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    """Platform, CPU, threads and library versions the timings belong to."""
    versions: dict[str, str | None] = {}
    for package in ("numpy", "scipy", "torch", "abtem", "bm3d", "sbdenoise"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
        "versions": versions,
    }


def simulate(
    structure: StructureParams, size: int, defocus_nm: float
) -> tuple[np.ndarray, float, np.ndarray]:
    """Clean frame (expected counts per pixel), pixel size (A) and true columns ``(y, x)`` (A)."""
    spec = get_preset("shipped").model_copy(update={"image_size": size})
    record = simulate_frame(structure, spec, defocus_nm, dose=DOSE)
    table = record.columns
    truth = (
        np.stack([table["y"], table["x"]], axis=1).astype(np.float64)
        if len(table)
        else np.zeros((0, 2))
    )
    return record.image.astype(np.float64), float(record.params["pixel_size"]), truth


def curve_structure(index: int) -> tuple[StructureParams, float]:
    """The ``index``-th training model of the curve and its defocus (nm)."""
    diameter, defect, seed, defocus = CURVE_MODELS[index]
    structure = StructureParams(
        structure_id=index + 1,
        particle_diameter_nm=diameter,
        interface_column=True,
        defect=defect,
        support_thickness_nm=4.0,
        step_edge=index % 2 == 1,
        tilt_deg=(0.0, 0.0),
        seed=seed,
    )
    return structure, defocus


def column_scores(
    image: np.ndarray, truth: np.ndarray, surface: np.ndarray, pixel_size: float
) -> dict[str, float]:
    """Surface, bulk and all-column Jaccard (and F1) of the columns found in ``image``."""
    found = detect_columns(image, pixel_size, border=BORDER_A)
    positions = found.positions[inside_frame(found.positions, image.shape, pixel_size, BORDER_A)]
    scores = structure_scores(
        positions,
        truth,
        DEFAULT_ALPHA_A,
        shape=image.shape,
        pixel_size=pixel_size,
        truth_surface=surface,
    )
    return {
        "surface_jaccard": scores.surface.jaccard,
        "bulk_jaccard": scores.bulk.jaccard,
        "all_jaccard": scores.all.jaccard,
        "all_f1": scores.all.f1,
        "n_found": len(positions),
    }


def image_scores(
    estimate: np.ndarray, clean: np.ndarray, centre: int, raw: bool = False
) -> dict[str, float]:
    """PSNR and SSIM on the centre frame and averaged over the frames."""
    clip = not raw
    per_frame_psnr = [psnr(frame, clean, clip=clip) for frame in estimate]
    per_frame_ssim = [ssim(frame, clean, clip=clip) for frame in estimate]
    return {
        "psnr_centre": per_frame_psnr[centre],
        "ssim_centre": per_frame_ssim[centre],
        "psnr_mean": float(np.mean(per_frame_psnr)),
        "ssim_mean": float(np.mean(per_frame_ssim)),
    }


def summarise_training(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """Steps and stopping reasons of the networks a method trained."""
    if not reports:
        return {}
    steps = [r["steps"] for r in reports]
    out: dict[str, Any] = {
        "networks": len(reports),
        "steps": int(sum(steps)),
        "training_seconds": round(sum(r["seconds"] for r in reports), 1),
        "stopped_by": sorted({r["stopped_by"] for r in reports}),
        "precision": reports[0]["precision"],
    }
    if "best_step" in reports[0]:
        out["best_step"] = reports[0]["best_step"]
    if "n_predictions" in reports[0]:
        out["n_predictions"] = min(r["n_predictions"] for r in reports)
    out["budget_seconds"] = round(sum(r["budget_seconds"] for r in reports), 1)
    return out


def run_series(
    config: Config,
    clean: np.ndarray,
    pixel_size: float,
    truth: np.ndarray,
    collector: ReportCollector,
    console: Console,
) -> dict[str, Any]:
    """Part 1: every method on the noisy series."""
    rng = np.random.default_rng(SEED)
    stack = rng.poisson(np.broadcast_to(clean, (config.frames, *clean.shape))).astype(np.float32)
    centre = config.frames // 2
    keep = inside_frame(truth, clean.shape, pixel_size, BORDER_A)
    truth = truth[keep]
    surface = alpha_shape(truth, DEFAULT_ALPHA_A, shape=clean.shape, pixel_size=pixel_size).surface
    rows: dict[str, Any] = {
        "raw": {
            **image_scores(stack, clean, centre, raw=True),
            **column_scores(stack[centre].astype(np.float64), truth, surface, pixel_size),
            "seconds": 0.0,
        },
        "clean": {
            **image_scores(clean[None], clean, 0),
            **column_scores(clean, truth, surface, pixel_size),
            "seconds": 0.0,
        },
    }
    for name in METHODS:
        params = config.self_supervised_params.get(name, {})
        console.print(f"[bold]{name}[/bold] on {config.frames} frames {params or ''}")
        collector.reports.clear()
        start = time.perf_counter()
        prepared = prepare(name, params)
        denoised = np.stack(list(prepared.denoise_stack(stack, pixel_size)))
        seconds = time.perf_counter() - start
        row = {
            **image_scores(denoised, clean, centre),
            **column_scores(denoised[centre].astype(np.float64), truth, surface, pixel_size),
            "seconds": round(seconds, 2),
            "seconds_per_frame": round(seconds / config.frames, 3),
            "params": {k: v for k, v in prepared.params.items() if k != "model"},
            "training": summarise_training(collector.reports),
        }
        rows[name] = row
        console.print(
            f"  PSNR centre {row['psnr_centre']:.2f} dB, mean {row['psnr_mean']:.2f} dB, "
            f"SSIM {row['ssim_centre']:.3f}, surface/bulk Jaccard "
            f"{row['surface_jaccard']:.2f}/{row['bulk_jaccard']:.2f}, {seconds:.1f} s"
        )
    return {
        "frames": config.frames,
        "size": list(clean.shape),
        "pixel_size": pixel_size,
        "dose": DOSE,
        "defocus_nm": SERIES_DEFOCUS_NM,
        "n_truth_columns": len(truth),
        "n_truth_surface": int(surface.sum()),
        "rows": rows,
    }


def curve_crops(clean_frames: list[np.ndarray], factor: int, crop: int, count: int) -> np.ndarray:
    """``count`` noisy ``crop x crop`` working-grid crops (counts per working pixel)."""
    rng = np.random.default_rng(SEED + count)
    binned = []
    for clean in clean_frames:
        height, width = (s // factor * factor for s in clean.shape)
        blocks = clean[:height, :width].reshape(height // factor, factor, width // factor, factor)
        binned.append(blocks.sum(axis=(1, 3)))
    out = np.empty((count, crop, crop), dtype=np.float32)
    for i in range(count):
        source = binned[rng.integers(len(binned))]
        y = rng.integers(0, source.shape[0] - crop + 1)
        x = rng.integers(0, source.shape[1] - crop + 1)
        out[i] = rng.poisson(source[y : y + crop, x : x + crop])
    return out


def run_curve(
    config: Config,
    clean_frames: list[np.ndarray],
    pixel_size: float,
    test_clean: np.ndarray,
    collector: ReportCollector,
    console: Console,
) -> dict[str, Any]:
    """Part 2: blind-spot PSNR on held-out frames against the number of noisy training crops."""
    factor = to_working_grid(test_clean, pixel_size, WORKING_SAMPLING).factor
    rng = np.random.default_rng(SEED + 1)
    tests = rng.poisson(
        np.broadcast_to(test_clean, (config.test_realisations, *test_clean.shape))
    ).astype(np.float32)
    sbd = prepare(SBD_METHOD)
    sbd_psnr = float(
        np.mean([psnr(sbd.denoise_frame(frame, pixel_size), test_clean) for frame in tests])
    )
    console.print(f"curve: SBD on the held-out frames {sbd_psnr:.2f} dB")
    points = []
    working_pixel = factor * pixel_size
    for count in config.curve_sizes:
        crops = curve_crops(clean_frames, factor, config.curve_crop, count)
        settings = method_settings(
            "blind-spot", **{**config.curve_params, "sampling": working_pixel}
        )
        collector.reports.clear()
        start = time.perf_counter()
        trained = fit_blind_spot(crops, working_pixel, settings)
        denoised = trained.denoise(tests, pixel_size)
        seconds = time.perf_counter() - start
        value = float(np.mean([psnr(d, test_clean) for d in denoised]))
        points.append(
            {
                "images": count,
                "psnr": value,
                "seconds": round(seconds, 1),
                "training": summarise_training(collector.reports),
            }
        )
        console.print(f"curve: {count} crops -> {value:.2f} dB ({seconds:.0f} s)")
    return {
        "crop_working_px": config.curve_crop,
        "working_sampling": working_pixel,
        "training_models": (
            f"{config.curve_models} clean frames of other atomic models and defoci"
            if config.curve_models
            else "the test frame's own clean frame (quick)"
        ),
        "budget": ", ".join(
            f"{k}={v}"
            for k, v in method_settings("blind-spot", **config.curve_params).__dict__.items()
            if k in ("minutes", "max_steps")
        ),
        "test_realisations": config.test_realisations,
        "sbd_psnr": sbd_psnr,
        "points": points,
    }


def plot_curve(curve: dict[str, Any], path: Path) -> None:
    """PSNR against the number of training images (log scale) with the SBD level."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = [p["images"] for p in curve["points"]]
    values = [p["psnr"] for p in curve["points"]]
    figure, axes = plt.subplots(figsize=(5.0, 3.6), dpi=150)
    axes.plot(counts, values, "o-", label="blind-spot (N2V), trained on noisy crops")
    axes.axhline(curve["sbd_psnr"], color="black", linestyle="--", label="SBD (simulations)")
    axes.set_xscale("log")
    axes.set_xticks(counts, [str(c) for c in counts])
    axes.minorticks_off()
    axes.set_xlabel(f"noisy training images ({curve['crop_working_px']}² px working grid)")
    axes.set_ylabel("PSNR on held-out frames (dB)")
    axes.legend(loc="best", fontsize=8)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)


def _fmt(value: Any, digits: int = 2) -> str:
    if isinstance(value, float):
        if np.isnan(value):
            return "n/a"
        return "inf" if np.isinf(value) else f"{value:.{digits}f}"
    return str(value)


def markdown(result: dict[str, Any], curve_png: str) -> str:
    """The results as Markdown tables."""
    info = result["machine"]
    series = result["series"]
    lines = [
        "# Self-supervised denoisers against SBD",
        "",
        f"Machine: {info['platform']}, {info['cpu_model']}, {info['cpu_count']} CPUs "
        f"({info['usable_cpus']} usable), torch {info['versions']['torch']} with "
        f"{info['torch_threads']} threads; load average at start {info['load_average_at_start']}.",
        f"Run: {result['mode']}, {result['seconds_total']:.0f} s in all.",
        "",
        f"## Stationary series: {series['frames']} frames of {series['size'][0]} x "
        f"{series['size'][1]} px at {series['pixel_size']:.4f} Å/px, {series['dose']} e-/px",
        "",
        "PSNR (peak 1 e-/px) and SSIM on the centre frame and averaged over all frames; surface "
        "and bulk Jaccard of the columns detected in the centre frame "
        f"({series['n_truth_columns']} true columns, {series['n_truth_surface']} on the surface); "
        "seconds for the whole series, training included.",
        "",
        "| method | PSNR centre (dB) | PSNR mean (dB) | SSIM centre | SSIM mean | surface J | "
        "bulk J | s | training |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, row in series["rows"].items():
        training = row.get("training") or {}
        note = (
            f"{training['steps']} steps, {training['networks']} net(s), "
            f"{'/'.join(training['stopped_by'])}, {training['precision']}"
            if training
            else ""
        )
        if "best_step" in training:
            note += f", best step {training['best_step']}"
        if "n_predictions" in training:
            note += f", {training['n_predictions']} samples/frame"
        lines.append(
            f"| {name} | {_fmt(row['psnr_centre'])} | {_fmt(row['psnr_mean'])} | "
            f"{_fmt(row['ssim_centre'], 3)} | {_fmt(row['ssim_mean'], 3)} | "
            f"{_fmt(row['surface_jaccard'])} | {_fmt(row['bulk_jaccard'])} | "
            f"{_fmt(float(row['seconds']), 1)} | {note} |"
        )
    curve = result["curve"]
    lines += [
        "",
        "The raw row is scored unclipped (the papers' convention); `clean` is the noise-free "
        "frame, the column detector's ceiling.",
        "",
        f"## Training-set size (blind-spot, {curve['crop_working_px']} x "
        f"{curve['crop_working_px']} crops at {curve['working_sampling']:.4f} Å/px)",
        "",
        f"Held-out: {curve['test_realisations']} noisy realisations of the series' clean frame; "
        f"training crops from: {curve['training_models']}. Every size trains for the same "
        f"budget ({curve['budget']}). SBD on the same frames: {curve['sbd_psnr']:.2f} dB.",
        "",
        "| noisy training images | PSNR (dB) | s | steps |",
        "|---|---|---|---|",
    ]
    for point in curve["points"]:
        lines.append(
            f"| {point['images']} | {point['psnr']:.2f} | {point['seconds']:.0f} | "
            f"{point['training'].get('steps', '')} |"
        )
    lines += ["", f"![training-set-size curve]({curve_png})", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    parser.add_argument("--output", type=Path, default=RESULTS, help="results folder")
    args = parser.parse_args(argv)
    config = QUICK if args.quick else FULL
    console = Console(stderr=True)
    collector = ReportCollector()
    logger = logging.getLogger("sbdenoise.denoise.selfsupervised")
    logger.addHandler(collector)
    logger.setLevel(logging.INFO)
    start = time.perf_counter()
    info = machine()

    console.print(f"simulating the series' clean frame ({config.series_size} px)")
    clean, pixel_size, truth = simulate(demo_structure(), config.series_size, SERIES_DEFOCUS_NM)
    series = run_series(config, clean, pixel_size, truth, collector, console)

    clean_frames = []
    for index in range(config.curve_models):
        structure, defocus = curve_structure(index)
        console.print(f"simulating curve model {index + 1}/{config.curve_models}")
        frame, _, _ = simulate(structure, config.curve_frame_size, defocus)
        clean_frames.append(frame)
    if not clean_frames:
        clean_frames = [clean]
    curve = run_curve(config, clean_frames, pixel_size, clean, collector, console)

    result = {
        "mode": "quick" if args.quick else "full",
        "machine": info,
        "seconds_total": time.perf_counter() - start,
        "load_average_at_end": [round(v, 2) for v in os.getloadavg()],
        "series": series,
        "curve": curve,
    }
    out = args.output
    out.mkdir(parents=True, exist_ok=True)
    curve_png = out / f"{config.name}_curve.png"
    plot_curve(curve, curve_png)
    atomic_write_text(
        out / f"{config.name}.json", json.dumps(result, indent=2, default=float) + "\n"
    )
    atomic_write_text(out / f"{config.name}.md", markdown(result, curve_png.name))
    console.print(f"wrote {out / config.name}.json, .md and {curve_png.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
