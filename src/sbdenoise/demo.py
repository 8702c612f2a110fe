"""The main job on the embedded default: a simulated noisy Pt/CeO2 frame, denoised and shown."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sbdenoise.denoise.api import DEFAULT_METHOD, DenoiseResult, denoise_file
from sbdenoise.errors import InputError
from sbdenoise.io import Micrograph, write_image
from sbdenoise.metrics import psnr, ssim
from sbdenoise.noise.models import sample_poisson
from sbdenoise.report import side_by_side
from sbdenoise.specimen.model import StructureParams
from sbdenoise.synthetic import synthetic_lattice


@dataclass
class DemoResult:
    """Paths and numbers of one demo run."""

    noisy_path: Path
    denoised_path: Path
    figure_path: Path
    psnr_raw: float
    psnr_denoised: float
    ssim_denoised: float
    denoise: DenoiseResult


DEMO_SOURCES = ("pt-ceo2", "lattice")


@dataclass(frozen=True)
class CleanFrame:
    """A noise-free frame with what the figure says about it."""

    expectation: np.ndarray
    pixel_size: float
    description: str


def demo_structure() -> StructureParams:
    """The demo's atomic model: a 2 nm Pt particle with one surface column removed.

    The ``shipped`` preset has 2 nm particles with a removed column too; this one's seed (which
    column is removed) is not one the preset draws, so the frame is not a training image.
    """
    return StructureParams(
        structure_id=0,
        particle_diameter_nm=2.0,
        interface_column=True,
        defect="remove_one",
        support_thickness_nm=4.0,
        step_edge=False,
        tilt_deg=(0.0, 0.0),
        seed=20261123,
    )


def clean_frame(source: str, size: int, dose: float, defocus_nm: float = -12.0) -> CleanFrame:
    """The noise-free frame of the demo.

    Parameters
    ----------
    source : str
        ``"pt-ceo2"``: multislice simulation (abTEM) of :func:`demo_structure` with the
        ``shipped`` preset's optics, about 10-20 s; ``"lattice"``: the analytic synthetic
        lattice (instant, no physics).
    size : int
        Frame side, px (at most 810 for ``pt-ceo2``).
    dose : float
        Vacuum dose, e-/px.
    defocus_nm : float
        Defocus of the simulated frame, nm (abTEM sign; -12 nm gives white atomic columns).

    Returns
    -------
    CleanFrame
    """
    if source == "lattice":
        frame = synthetic_lattice((size, size), vacuum_level=dose, column_peak=dose)
        return CleanFrame(
            frame.expectation,
            frame.pixel_size,
            f"Synthetic Pt-like particle on a support, {size}x{size} px at {frame.pixel_size} Å/px",
        )
    if source != "pt-ceo2":
        raise InputError(f"unknown demo source {source!r}; choose from {', '.join(DEMO_SOURCES)}")
    from sbdenoise.simulate.frame import simulate_frame
    from sbdenoise.simulate.presets import get_preset

    spec = get_preset("shipped").model_copy(update={"image_size": size})
    record = simulate_frame(demo_structure(), spec, defocus_nm, dose=dose)
    pixel_size = float(record.params["pixel_size"])
    return CleanFrame(
        record.image.astype(np.float64),
        pixel_size,
        f"Simulated 2 nm Pt particle on CeO2(111), [110] zone axis, defocus {defocus_nm:g} nm, "
        f"{size}x{size} px at {pixel_size:.3f} Å/px",
    )


def run_demo(
    output_dir: str | Path = "demo_output",
    *,
    size: int = 512,
    dose: float = 0.45,
    method: str = DEFAULT_METHOD,
    seed: int = 0,
    source: str = "pt-ceo2",
) -> DemoResult:
    """Simulate a noisy frame, denoise it as a user would (file in, file out) and draw the result.

    Parameters
    ----------
    output_dir : str or Path
        Folder for ``noisy.tif``, ``denoised.tif``, ``truth.tif``, ``demo.png`` and
        ``demo.json``.
    size : int
        Frame size in pixels (square).
    dose : float
        Vacuum dose in e-/px.
    method : str
        Denoising method (default: the shipped network when it is installed).
    seed : int
        Seed of the Poisson noise.
    source : str
        ``"pt-ceo2"`` (multislice of a Pt/CeO2 model) or ``"lattice"`` (synthetic), see
        :func:`clean_frame`.

    Returns
    -------
    DemoResult
    """
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    frame = clean_frame(source, size, dose)
    truth = frame.expectation
    counts = sample_poisson(truth, np.random.default_rng(seed)).astype(np.uint16)
    noisy = Micrograph(counts, pixel_size=frame.pixel_size, units_found="Å")
    noisy_path = write_image(noisy, out / "noisy.tif")
    write_image(noisy.with_data(truth.astype(np.float32)), out / "truth.tif")
    result = denoise_file(noisy_path, out / "denoised.tif", method=method, show_progress=False)

    denoised = result.denoised.data
    raw_db = psnr(counts, truth, clip=False)
    den_db = psnr(denoised, truth)
    den_ssim = ssim(denoised, truth)
    figure = side_by_side(
        [
            (f"Noisy, {dose} e⁻/px vacuum: {raw_db:.1f} dB", counts),
            (f"{method}: {den_db:.1f} dB, SSIM {den_ssim:.3f}", denoised),
            ("Truth (noise-free)", truth),
        ],
        out / "demo.png",
        pixel_size=frame.pixel_size,
        title=frame.description,
    )
    summary = {
        "source": source,
        "frame": frame.description,
        "method": method,
        "params": result.params,
        "size_px": size,
        "pixel_size_angstrom": frame.pixel_size,
        "dose_e_per_px": dose,
        "psnr_raw_db_unclipped": raw_db,
        "psnr_denoised_db": den_db,
        "ssim_denoised": den_ssim,
        "seconds": result.seconds,
    }
    (out / "demo.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return DemoResult(noisy_path, result.output_path, figure, raw_db, den_db, den_ssim, result)
