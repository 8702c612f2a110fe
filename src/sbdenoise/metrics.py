"""Image quality metrics with the papers' conventions (counts per pixel, peak 1 e-/px)."""

from __future__ import annotations

import numpy as np
from skimage.metrics import structural_similarity

#: Peak value of the PSNR, in electrons per pixel.
PSNR_PEAK = 1.0


def _check_pair(estimate: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    estimate = np.asarray(estimate, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.float64)
    if estimate.shape != truth.shape:
        raise ValueError(f"estimate has shape {estimate.shape} but truth has shape {truth.shape}")
    return estimate, truth


def psnr(estimate: np.ndarray, truth: np.ndarray, clip: bool = True) -> float:
    """Peak signal-to-noise ratio in dB with a peak of 1 e-/px.

    Parameters
    ----------
    estimate : numpy.ndarray
        Denoised image (or raw frame), counts per pixel.
    truth : numpy.ndarray
        Noise-free expectation, counts per pixel.
    clip : bool
        Clip the estimate to ``[0, 1]`` first, as the papers do for denoised estimates. A raw
        0.45 e-/px Poisson frame scores 3.5 dB unclipped (its MSE is its variance, 0.45) and about
        6.2 dB clipped (clipping alone removes part of the shot noise), so the raw-frame row of a
        table is reported with ``clip=False``.

    Returns
    -------
    float
        ``10 log10(1 / MSE)``, in dB.
    """
    estimate, truth = _check_pair(estimate, truth)
    if clip:
        estimate = np.clip(estimate, 0.0, PSNR_PEAK)
    mse = float(np.mean((estimate - truth) ** 2))
    if mse == 0.0:
        return float("inf")
    return 10.0 * np.log10(PSNR_PEAK**2 / mse)


def ssim(estimate: np.ndarray, truth: np.ndarray, clip: bool = True) -> float:
    """Structural similarity with ``data_range = 1`` e-/px, estimate clipped as in :func:`psnr`."""
    estimate, truth = _check_pair(estimate, truth)
    if clip:
        estimate = np.clip(estimate, 0.0, PSNR_PEAK)
    return float(structural_similarity(estimate, truth, data_range=PSNR_PEAK))
