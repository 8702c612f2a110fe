"""Can a per-frame correction against the counts lift a network towards its noise-free ceiling?

``noiseless_ceiling.md`` shows the networks shrink lattice contrast even where the counts leave no
doubt, which caps them at high dose. Two corrections that need no training are tried on the
network's output, both using only what one frame gives:

- *residual Wiener*: the residual ``counts - estimate`` is shot noise plus whatever signal the
  network missed. Poisson noise is white with a known power (the frame's total counts per
  Fourier coefficient), so the residual's Fourier power above ``kappa`` times that floor is taken
  as missed signal and put back, Wiener-weighted (power smoothed over ``smooth`` frequency bins);
- *radial gain*: one least-squares gain per ring of spatial frequency (``width`` 1/A wide) that
  scales the estimate's spectrum to fit the counts. Fitted against the *clean* frame instead, it
  is an oracle: the most any such gain could give.

Scored on the validation split (the only one tuned on) at rising dose, dose-normalised PSNR (peak
1 e-/px, estimate and truth x 0.45/dose, as the dose sweep)::

    .venv/bin/python benchmarks/post_correction.py --dataset /work/data/shipped-part --threads 1

Results: ``benchmarks/results/post_correction.{json,md}``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage as ndi

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dose_sweep import REFERENCE_DOSE
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

from sbdenoise.denoise.registry import SBD_METHOD, prepare
from sbdenoise.metrics import psnr
from sbdenoise.noise.models import sample_poisson
from sbdenoise.progress import progress_bar
from sbdenoise.simulate.store import SimulatedDataset

#: Doses, e-/px in vacuum at the dataset's pixel size.
DOSES = (0.45, 1.0, 1.5, 2.0, 5.0)
#: Residual-Wiener settings tried: (smoothing of the residual power in frequency bins, kappa).
WIENER_SETTINGS = ((1.0, 4.0), (2.0, 2.0), (4.0, 2.0))
#: Ring widths of the radial gain, 1/A.
GAIN_WIDTHS = (0.02, 0.05)
#: Seed stream of this benchmark's noise.
STREAM = 12


def residual_wiener(
    counts: np.ndarray, estimate: np.ndarray, smooth: float, kappa: float
) -> np.ndarray:
    """Put back the part of ``counts - estimate`` whose Fourier power stands above the shot noise.

    Parameters
    ----------
    counts : numpy.ndarray
        ``(h, w)`` the noisy frame, e-/px (Poisson counts).
    estimate : numpy.ndarray
        ``(h, w)`` the network's estimate of the clean frame, e-/px.
    smooth : float
        Gaussian width (frequency bins) over which the residual's power is averaged; 0 for none.
    kappa : float
        Multiple of the shot-noise floor (the total counts, per Fourier coefficient of an
        unnormalised FFT) taken as noise; 1 is the plain Wiener gain.

    Returns
    -------
    numpy.ndarray
        The corrected estimate, e-/px. Where the residual is white noise it equals ``estimate``.
    """
    residual = np.fft.fft2(counts - estimate)
    power = np.abs(residual) ** 2
    if smooth > 0:
        power = ndi.gaussian_filter(power, smooth, mode="wrap")
    floor = kappa * float(np.sum(counts))
    gain = np.clip(1.0 - floor / np.maximum(power, np.finfo(float).tiny), 0.0, 1.0)
    gain[0, 0] = 0.0  # the mean is the network's
    return estimate + np.real(np.fft.ifft2(gain * residual))


def radial_gain(
    target: np.ndarray, estimate: np.ndarray, pixel_size: float, width: float
) -> tuple[np.ndarray, np.ndarray]:
    """Scale the estimate's spectrum, one least-squares gain per frequency ring, to fit ``target``.

    Parameters
    ----------
    target : numpy.ndarray
        ``(h, w)`` what the gains are fitted to: the counts, or the clean frame for an oracle.
    estimate : numpy.ndarray
        ``(h, w)`` the estimate, same unit as ``target``.
    pixel_size : float
        Angstrom per pixel.
    width : float
        Width of each ring of spatial frequency, 1/A.

    Returns
    -------
    corrected : numpy.ndarray
        ``(h, w)`` the estimate with each ring scaled by its gain (the mean kept).
    gains : numpy.ndarray
        One gain per ring: the mean's (not applied) first, then the rings from zero frequency
        outwards.
    """
    h, w = estimate.shape
    radius = np.hypot(
        np.fft.fftfreq(h, pixel_size)[:, None], np.fft.fftfreq(w, pixel_size)[None, :]
    )
    ring = np.floor(radius / width).astype(int).ravel() + 1
    ring[0] = 0  # the mean in a ring of its own, kept as it is
    spectrum = np.fft.fft2(estimate)
    fit = np.bincount(ring, np.real(np.fft.fft2(target) * np.conj(spectrum)).ravel())
    power = np.bincount(ring, (np.abs(spectrum) ** 2).ravel())
    gains = np.where(power > 0, fit / np.where(power > 0, power, 1.0), 1.0)
    scale = gains[ring].reshape(h, w)
    scale[0, 0] = 1.0
    return np.real(np.fft.ifft2(scale * spectrum)), gains


def corrections(
    counts: np.ndarray, clean: np.ndarray, estimate: np.ndarray, pixel: float
) -> dict[str, np.ndarray]:
    """Every corrected estimate of one frame by name (``oracle``: fitted to the clean frame)."""
    out = {"network": estimate}
    for smooth, kappa in WIENER_SETTINGS:
        out[f"residual Wiener s={smooth:g} k={kappa:g}"] = residual_wiener(
            counts, estimate, smooth, kappa
        )
    for width in GAIN_WIDTHS:
        out[f"radial gain {width:g}/A (counts)"] = radial_gain(counts, estimate, pixel, width)[0]
        out[f"radial gain {width:g}/A (oracle)"] = radial_gain(clean, estimate, pixel, width)[0]
    return out


def scores(
    data: SimulatedDataset, indices: np.ndarray, model: Path | None, show: bool
) -> list[dict[str, Any]]:
    """Dose-normalised PSNR of every correction, per dose, and its gain over the network."""
    network = prepare(SBD_METHOD, None, model=model)
    values: dict[tuple[str, float], list[float]] = {}
    for dose, index in progress_bar(
        [(d, int(i)) for d in DOSES for i in indices], "post correction", show=show
    ):
        clean = data.image(index).astype(np.float64) * dose / float(data.params["dose"][index])
        pixel = float(data.params["pixel_size"][index])
        counts = sample_poisson(clean, noise_rng(STREAM, int(dose * 1000), index))
        norm = REFERENCE_DOSE / dose
        estimate = network.denoise_frame(counts, pixel)
        for name, image in corrections(counts, clean, estimate, pixel).items():
            values.setdefault((name, dose), []).append(psnr(image * norm, clean * norm))
    rows = []
    for (name, dose), vals in values.items():
        gain = np.asarray(vals) - np.asarray(values[("network", dose)])
        mean, std = mean_std(vals)
        rows.append(
            {
                "method": name,
                "dose_e_per_px": dose,
                "psnr_dose_normalised": mean,
                "std": std,
                "gain_db": float(gain.mean()),
                "worst_gain_db": float(gain.min()),
                "n_images": len(vals),
            }
        )
    return rows


def markdown(result: dict[str, Any]) -> str:
    """The result as a Markdown report."""
    rows = result["rows"]
    methods = list(dict.fromkeys(r["method"] for r in rows))
    table = {(r["method"], r["dose_e_per_px"]): r for r in rows}
    pixel = result["pixel_size_A"]
    lines = [
        "# Per-frame corrections of the network against the counts",
        "",
        machine_line(result["machine"]),
        f"Command: `{result['command']}`. Total {result['seconds'] / 60:.1f} min.",
        "",
        f"{result['n_images']} validation images of `{result['dataset']}` at {pixel:.4f} A/px, "
        "one draw per dose. Network row: dose-normalised PSNR (dB, mean over images). Other "
        "rows: gain over the network (dB, mean, worst image in brackets). `oracle` rows fit to "
        "the clean frame: bounds, not methods.",
        "",
        "| method | " + " | ".join(f"{d:g} e-/px" for d in DOSES) + " |",
        "|---|" + "---:|" * len(DOSES),
    ]
    for m in methods:
        cells = []
        for d in DOSES:
            r = table[(m, d)]
            cells.append(
                f"{r['psnr_dose_normalised']:.2f}"
                if m == "network"
                else f"{r['gain_db']:+.2f} ({r['worst_gain_db']:+.2f})"
            )
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, required=True, help="simulated dataset folder")
    parser.add_argument("--model", type=Path, default=None, help="model file (default: shipped)")
    parser.add_argument("--split", default="val", help="split scored (default: val)")
    parser.add_argument("--max-images", type=int, default=6, help="images (spread over the split)")
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
    indices = spread(select(data, args.split, "white"), args.max_images)
    rows = scores(data, indices, args.model, show=not args.no_progress)
    result = {
        "machine": machine("cpu"),
        "command": "python benchmarks/post_correction.py " + " ".join(argv or sys.argv[1:]),
        "dataset": str(args.dataset),
        "split": args.split,
        "n_images": len(indices),
        "pixel_size_A": float(np.mean(data.params["pixel_size"][indices])),
        "rows": rows,
        "seconds": time.perf_counter() - start,
    }
    write_results(args.output, "post_correction", result, markdown(result))
    print(markdown(result))
    return result


if __name__ == "__main__":
    main()
