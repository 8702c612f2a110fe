"""From an exit wave to detector counts: CTF with partial coherence, vibration, sampling, dose."""

from __future__ import annotations

import time
from dataclasses import dataclass

import abtem
import numpy as np

from sbdenoise.config import Optics
from sbdenoise.simulate.multislice import gauss_hermite_defocus


@dataclass
class DetectorImage:
    """Clean expected counts on the detector grid.

    Attributes
    ----------
    image : numpy.ndarray
        Expected counts per pixel, ``(rows, cols)`` = (y, x), float32.
    pixel_size : float
        Actual pixel size in angstrom (the cell divided by a whole number of pixels).
    seconds : float
        Wall time spent, seconds.
    """

    image: np.ndarray
    pixel_size: float
    seconds: float


def hrtem_image(
    waves: abtem.Waves,
    optics: Optics,
    defocus_nm: float,
    pixel_size: float,
    dose: float,
    focal_spread_nm: float | None = None,
    vibration_pm: float | None = None,
    focal_points: int = 7,
) -> DetectorImage:
    """Image an exit wave through the objective lens onto the detector.

    Temporal incoherence (focal spread) is integrated exactly as an incoherent sum of
    intensities over defocus (Gauss-Hermite quadrature); spatial incoherence (beam convergence)
    enters as abTEM's quasi-coherent envelope; vibration is a Gaussian blur of the intensity.
    The result is Fourier-interpolated to the detector pixel size and scaled so that vacuum holds
    ``dose`` counts per pixel (abTEM's plane wave has unit intensity).

    Parameters
    ----------
    waves : abtem.Waves
        Exit wave.
    optics : Optics
        Lens parameters (Cs, C5, convergence, default focal spread and vibration).
    defocus_nm : float
        Defocus in nm (abTEM sign, ``C10 = -defocus``).
    pixel_size : float
        Detector pixel size in angstrom.
    dose : float
        Counts per pixel in vacuum (e-/px).
    focal_spread_nm, vibration_pm : float, optional
        Override the optics values (nuisance draws).
    focal_points : int
        Quadrature points over the focal spread.

    Returns
    -------
    DetectorImage
    """
    start = time.perf_counter()
    spread = optics.focal_spread_nm if focal_spread_nm is None else focal_spread_nm
    vibration = optics.vibration_pm if vibration_pm is None else vibration_pm
    offsets, weights = gauss_hermite_defocus(spread, focal_points)
    intensity = None
    for offset, weight in zip(offsets, weights, strict=True):
        ctf = abtem.CTF(
            energy=optics.voltage_kv * 1e3,
            angular_spread=optics.convergence_mrad,
            aberration_coefficients=optics.abtem_aberrations(defocus_nm + offset),
        )
        term = waves.apply_ctf(ctf).intensity()
        intensity = term * weight if intensity is None else intensity + term * weight
    if vibration > 0:
        intensity = intensity.gaussian_filter(vibration / 100.0)  # pm -> angstrom
    detector = intensity.interpolate(sampling=pixel_size, method="fft")
    array = np.asarray(detector.array, dtype=np.float64).T  # abTEM is (x, y): rows are y
    array = np.clip(array, 0.0, None) * dose
    actual = float(np.mean(detector.sampling))
    return DetectorImage(array.astype(np.float32), actual, time.perf_counter() - start)
