"""What caps SBD at high dose: each model's error on a noise-free input, and how it is spread.

At high dose the margin of the networks over VST+BM3D shrinks (``dose_sweep.md``): above about
300 e-/A^2 VST+BM3D gains 1.6-2.1 dB per doubling of the dose, the networks about 1. This
benchmark feeds each model the gate's test frames at rising doses and, last, the noise-free frame
itself, and reports the dose-normalised PSNR (estimate and truth times ``0.45 / dose``, peak 1
e-/px, as the dose sweep). The noise-free row is the model's *ceiling*: a denoiser that used the
data fully would return a noise-free frame unchanged (infinite PSNR); whatever error remains is
the network's own (a learnt shrinkage of contrast, the working grid, its arithmetic), and no
dose can take a model above it. The error of the noise-free row is split by spatial period
(Fourier power in bands of period, A) to show *what* the network changes, the mean (a uniform
offset) apart. VST+BM3D runs on the same noisy frames as the baseline of the same run::

    .venv/bin/python benchmarks/noiseless_ceiling.py --dataset /work/data/shipped-part \\
        --model v20=src/sbdenoise/pretrained/sbd-unet-pt-ceo2.safetensors,precision=fp32

Results: ``benchmarks/results/noiseless_ceiling.{json,md,png}``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dose_sweep import (
    REFERENCE_DOSE,
    add_model_argument,
    bm3d_params,
    denoisers,
    model_files,
    model_params,
)
from table1 import (
    RESULTS,
    machine,
    machine_line,
    mean_std,
    noise_rng,
    select,
    spread,
    write_results,
)

from sbdenoise.metrics import psnr
from sbdenoise.noise.models import sample_poisson
from sbdenoise.progress import progress_bar
from sbdenoise.simulate.store import SimulatedDataset

#: Doses, e-/px in vacuum at the dataset's pixel size; ``inf`` is the noise-free frame.
DOSES = (0.45, 1.0, 2.0, 5.0, 20.0, float("inf"))
#: Bands of spatial period (A) the noise-free error's power is split into: slow background,
#: lattice fringes and column spacings (Pt {111} 2.27 A, {200} 1.96 A), column shapes, finer.
PERIOD_BANDS = ((3.0, float("inf")), (1.2, 3.0), (0.6, 1.2), (0.0, 0.6))
#: Seed stream of this benchmark's noise (distinct from the dose sweep's).
STREAM = 11


def band_fractions(error: np.ndarray, pixel_size: float) -> list[float]:
    """Fraction of an error image's Fourier power in each band of :data:`PERIOD_BANDS`.

    Parameters
    ----------
    error : numpy.ndarray
        ``(h, w)`` estimate minus truth, any unit.
    pixel_size : float
        Angstrom per pixel.

    Returns
    -------
    list of float
        One fraction per band. The zero frequency (the mean) is in none: its share is the
        offset's, ``mean(error)**2 / mean(error**2)``, and with it the fractions sum to 1.
    """
    power = np.abs(np.fft.fft2(error)) ** 2
    fy = np.fft.fftfreq(error.shape[0], d=pixel_size)
    fx = np.fft.fftfreq(error.shape[1], d=pixel_size)
    frequency = np.hypot(fy[:, None], fx[None, :])  # cycles per angstrom
    period = np.where(frequency > 0, 1.0 / np.maximum(frequency, 1e-12), np.inf)
    total = float(power.sum())
    return [float(power[(period >= lo) & (period < hi)].sum() / total) for lo, hi in PERIOD_BANDS]


def scores(
    data: SimulatedDataset, indices: np.ndarray, methods: dict[str, Any], show: bool
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Dose-normalised PSNR per method and dose, and the noise-free error's anatomy per model."""
    values: dict[tuple[str, float], list[float]] = {}
    anatomy: dict[str, dict[str, list[Any]]] = {}
    items = [(dose, int(i)) for dose in DOSES for i in indices]
    for dose, index in progress_bar(items, "noiseless ceiling", show=show):
        clean0 = data.image(index).astype(np.float64)
        pixel = float(data.params["pixel_size"][index])
        d0 = float(data.params["dose"][index])
        if np.isinf(dose):
            clean, noisy, norm = clean0, clean0, REFERENCE_DOSE / d0
        else:
            clean = clean0 * dose / d0
            noisy = sample_poisson(clean, noise_rng(STREAM, int(dose * 1000), index))
            norm = REFERENCE_DOSE / dose
        for name, method in methods.items():
            if np.isinf(dose) and name == "vst-bm3d":
                continue  # its noise model needs counts; a noise-free frame is not one
            estimate = method.denoise_frame(noisy, pixel)
            values.setdefault((name, dose), []).append(psnr(estimate * norm, clean * norm))
            if np.isinf(dose):
                error = (estimate - clean) * norm
                entry = anatomy.setdefault(name, {"bands": [], "offset_share": []})
                entry["bands"].append(band_fractions(error, pixel))
                entry["offset_share"].append(float(error.mean() ** 2 / np.mean(error**2)))
    rows = []
    for (name, dose), vals in values.items():
        mean, std = mean_std(vals)
        rows.append(
            {
                "method": name,
                "dose_e_per_px": None if np.isinf(dose) else dose,
                "psnr_dose_normalised": mean,
                "std": std,
                "n_images": len(vals),
            }
        )
    summary = {
        name: {
            "band_fractions": np.mean(entry["bands"], axis=0).tolist(),
            "offset_share": float(np.mean(entry["offset_share"])),
        }
        for name, entry in anatomy.items()
    }
    return rows, summary


def _dose(row: dict[str, Any]) -> float:
    """A row's dose, e-/px; the noise-free row (stored as null) as infinity."""
    dose = row["dose_e_per_px"]
    return float("inf") if dose is None else float(dose)


def _dose_label(dose: float) -> str:
    return "noise-free" if np.isinf(dose) else f"{dose:g}"


def markdown(result: dict[str, Any]) -> str:
    """The result as a Markdown report."""
    rows = result["rows"]
    methods = list(dict.fromkeys(r["method"] for r in rows))
    table = {(r["method"], _dose(r)): r for r in rows}
    pixel = result["pixel_size_A"]
    lines = [
        "# The noise-free ceiling of each model",
        "",
        machine_line(result["machine"]),
        f"Command: `{result['command']}`. Total {result['seconds'] / 60:.1f} min.",
        "",
        f"Dose-normalised PSNR (dB; estimate and truth x 0.45/dose, peak 1 e-/px) on "
        f"{result['n_images']} test images of `{result['dataset']}` at {pixel:.4f} A/px "
        f"(dose in e-/A^2 = dose in e-/px / {pixel**2:.5f}); mean ± std over images. "
        "`noise-free`: the clean frame itself as input.",
        "",
        "| dose (e-/px) | " + " | ".join(methods) + " |",
        "|---|" + "---:|" * len(methods),
    ]
    for dose in DOSES:
        cells = []
        for m in methods:
            r = table.get((m, dose))
            cells.append(
                "n/a" if r is None else f"{r['psnr_dose_normalised']:.2f} ± {r['std']:.2f}"
            )
        lines.append(f"| {_dose_label(dose)} | " + " | ".join(cells) + " |")
    bands = " | ".join(
        f"{lo:g}-{hi:g} A" if np.isfinite(hi) else f"> {lo:g} A" for lo, hi in PERIOD_BANDS
    )
    lines += [
        "",
        "Where the noise-free error lies: share of its Fourier power per band of spatial period, "
        "and the share of its mean square that is a uniform offset.",
        "",
        f"| model | {bands} | offset |",
        "|---|" + "---:|" * (len(PERIOD_BANDS) + 1),
    ]
    for name, entry in result["anatomy"].items():
        shares = " | ".join(f"{100 * f:.0f} %" for f in entry["band_fractions"])
        lines.append(f"| {name} | {shares} | {100 * entry['offset_share']:.0f} % |")
    return "\n".join(lines) + "\n"


def plot(result: dict[str, Any], path: Path) -> None:
    """PSNR against dose per method, each model's noise-free ceiling as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    finite = [d for d in DOSES if np.isfinite(d)]
    pixel = result["pixel_size_A"]
    for i, method in enumerate(dict.fromkeys(r["method"] for r in result["rows"])):
        color = f"C{i}"
        by_dose = {_dose(r): r for r in result["rows"] if r["method"] == method}
        ys = [by_dose[d]["psnr_dose_normalised"] for d in finite if d in by_dose]
        xs = [d / pixel**2 for d in finite if d in by_dose]
        label = method
        if float("inf") in by_dose:
            ceiling = by_dose[float("inf")]["psnr_dose_normalised"]
            ax.axhline(ceiling, color=color, ls="--", lw=1)
            label = f"{method} (noise-free {ceiling:.1f} dB)"
        ax.plot(xs, ys, "o-", color=color, label=label)
    if result.get("training_dose_range"):
        low, high = result["training_dose_range"]
        ax.axvspan(low, high, color="0.5", alpha=0.12, lw=0, label="training doses (shipped)")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: f"{x:g}"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("dose (e-/Å²)")
    ax.set_ylabel("dose-normalised PSNR (dB)")
    ax.set_title("Networks approach their noise-free ceiling; VST+BM3D keeps climbing", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def shipped_dose_range() -> list[float] | None:
    """The shipped model's training dose range (e-/A^2) from its card, or None."""
    from sbdenoise.nn.model_file import read_card
    from sbdenoise.pretrained import shipped_model_path

    dose_range = read_card(shipped_model_path()).dose_range_per_area
    return None if dose_range is None else [float(v) for v in dose_range]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, required=True, help="simulated dataset folder")
    add_model_argument(parser)
    parser.add_argument("--max-images", type=int, default=4, help="test images (spread)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--output", type=Path, default=RESULTS, help="results folder")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    start = time.perf_counter()
    data = SimulatedDataset(args.dataset)
    indices = spread(select(data, "test", "white"), args.max_images)
    methods = denoisers(
        model_files(args.model), bm3d_params(RESULTS / "table1.json"), model_params(args.model)
    )
    rows, anatomy = scores(data, indices, methods, show=not args.no_progress)
    result = {
        "machine": machine("cpu"),
        "command": "python benchmarks/noiseless_ceiling.py " + " ".join(argv or sys.argv[1:]),
        "dataset": str(args.dataset),
        "n_images": len(indices),
        "pixel_size_A": float(np.mean(data.params["pixel_size"][indices])),
        "rows": rows,
        "anatomy": anatomy,
        "training_dose_range": shipped_dose_range(),
        "seconds": time.perf_counter() - start,
    }
    write_results(args.output, "noiseless_ceiling", result, markdown(result))
    plot(result, args.output / "noiseless_ceiling.png")
    print(markdown(result))
    return result


if __name__ == "__main__":
    main()
