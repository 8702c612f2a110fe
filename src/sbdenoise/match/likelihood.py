"""Poisson log-likelihood of the observed counts under a simulated image, registered and scaled.

The observed counts ``n`` (a square crop of the aligned sum, the *template*) are explained by a
simulated clean image ``m`` resampled to the data's pixel size, moved by an unknown whole-pixel
translation ``s`` and scaled by an unknown dose factor ``a``: ``n ~ Poisson(a m_s)``. For each
``s`` the best ``a`` is ``sum(n) / sum(m_s)``, so the profile log-likelihood over every
translation is one FFT correlation of ``n`` with ``log m`` and one box sum of ``m``; the
translation with the largest profile likelihood is the registration. The specimen's position in
the field of view is unknown, so every translation that keeps the template inside the
simulation is searched.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.special import gammaln, xlogy

from sbdenoise.errors import InputError

#: Floor of a simulated expectation, e-/px, so that log(m) stays finite.
FLOOR = 1e-6
#: Side of the tiles a template is scored in, angstrom: about two Pt lattice cells, so that a
#: tile holds a recognisable piece of lattice while a structure that differs from the user's
#: is matched region by region. Evidence so far is one abTEM movie (-12 nm) against the
#: shipped preset's val split (7 other structures): one registration ranked -12 nm 4th
#: (Δlog L -1446, best -6 nm); 7.6 A tiles 3rd (-214); 7.3 A tiles (a 480 px square) 1st.
TILE_A = 7.0


@dataclass(frozen=True)
class RegisteredFit:
    """The best translation and dose factor of one simulated image for the observed counts.

    Attributes
    ----------
    loglik : float
        Poisson log-likelihood of the template counts at the best translation and scale, nats.
    deviance_per_px : float
        Poisson deviance per pixel against the saturated model (about 1 for a model that explains
        the counts up to shot noise; larger: structure the model does not explain).
    offset : tuple of int
        ``(row, col)`` of the template's first pixel in the resampled simulation, px.
    scale : float
        Dose factor ``a``: the fitted expectation is ``a`` times the resampled simulation.
    """

    loglik: float
    deviance_per_px: float
    offset: tuple[int, int]
    scale: float


def resample(image: np.ndarray, from_pixel: float, to_pixel: float) -> np.ndarray:
    """Resample a clean image from one pixel size to another (cubic spline), angstrom per pixel.

    Values stay expected counts per *input* pixel; the dose factor of the fit absorbs the change
    of pixel area.
    """
    zoomed = ndimage.zoom(np.asarray(image, dtype=np.float64), from_pixel / to_pixel, order=3)
    return np.clip(zoomed, FLOOR, None)


def central_crop(image: np.ndarray, side: int) -> tuple[np.ndarray, tuple[int, int]]:
    """The central ``side`` x ``side`` square of an image and the position of its first pixel."""
    if side > min(image.shape):
        raise InputError(f"cannot crop {side} px from an image of {image.shape} px")
    r0, c0 = (image.shape[0] - side) // 2, (image.shape[1] - side) // 2
    return image[r0 : r0 + side, c0 : c0 + side], (r0, c0)


def _profile(
    log_spectrum: np.ndarray, box_sums: np.ndarray, tile: np.ndarray, shape: tuple[int, int]
) -> tuple[float, tuple[int, int], float]:
    """Best profile log-likelihood of one tile over every translation inside the model.

    Circular correlation on the model's own grid is exact for translations that keep the tile
    inside the model, the only ones kept.
    """
    h, w = tile.shape
    total = float(tile.sum())
    cross = np.fft.irfft2(log_spectrum * np.conj(np.fft.rfft2(tile, s=shape)), s=shape)
    cross = cross[: shape[0] - h + 1, : shape[1] - w + 1]
    profile = cross - total * np.log(box_sums) if total > 0 else -box_sums
    row, col = np.unravel_index(int(np.argmax(profile)), profile.shape)
    scale = total / float(box_sums[row, col])
    return float(profile[row, col]), (int(row), int(col)), scale


def _poisson_loglik(counts: np.ndarray, expected: np.ndarray) -> float:
    return float(np.sum(xlogy(counts, expected) - expected - gammaln(counts + 1.0)))


def registered_loglik(template: np.ndarray, model: np.ndarray, tiles: int = 1) -> RegisteredFit:
    """Profile Poisson log-likelihood of ``template`` under ``model`` over translation and scale.

    Parameters
    ----------
    template : numpy.ndarray
        Observed counts, ``(h, w)`` (non-negative).
    model : numpy.ndarray
        Simulated expectation on the same pixel grid, ``(H, W)`` with ``H >= h`` and ``W >= w``
        (positive).
    tiles : int
        Split the template into ``tiles x tiles`` squares, each registered and scaled on its own,
        and sum their log-likelihoods: a simulated structure that differs from the user's
        (another particle, support edge or defect) then still explains each region by its best
        local match, so that the score follows the imaging conditions more than the structure.
        1: one registration for the whole template.

    Returns
    -------
    RegisteredFit
        ``loglik`` is the (tiled) score; ``offset``, ``scale`` and ``deviance_per_px`` are those
        of the whole template's registration.
    """
    template = np.asarray(template, dtype=np.float64)
    model = np.clip(np.asarray(model, dtype=np.float64), FLOOR, None)
    h, w = template.shape
    if model.shape[0] < h or model.shape[1] < w:
        raise InputError(f"the simulation {model.shape} px is smaller than the data {(h, w)} px")
    if template.sum() <= 0:
        raise InputError("the data hold no counts")
    if tiles < 1 or min(h, w) // tiles < 8:
        raise InputError(f"cannot split {h}x{w} px into {tiles}x{tiles} tiles of at least 8 px")
    shape = model.shape
    log_spectrum = np.fft.rfft2(np.log(model))
    summed = np.cumsum(np.cumsum(np.pad(model, ((1, 0), (1, 0))), axis=0), axis=1)

    def box(th: int, tw: int) -> np.ndarray:
        return summed[th:, tw:] - summed[:-th, tw:] - summed[th:, :-tw] + summed[:-th, :-tw]

    _, (row, col), scale = _profile(log_spectrum, box(h, w), template, shape)
    expected = scale * model[row : row + h, col : col + w]
    loglik = _poisson_loglik(template, expected)
    saturated = _poisson_loglik(template, template)
    deviance = 2.0 * (saturated - loglik) / template.size
    if tiles > 1:
        th, tw = h // tiles, w // tiles
        tile_box = box(th, tw)
        loglik = 0.0
        for i in range(tiles):
            for j in range(tiles):
                tile = template[i * th : (i + 1) * th, j * tw : (j + 1) * tw]
                _, (r, c), a = _profile(log_spectrum, tile_box, tile, shape)
                loglik += _poisson_loglik(tile, a * model[r : r + th, c : c + tw])
    return RegisteredFit(loglik, deviance, (int(row), int(col)), scale)
