"""A loss that weighs the vacuum: where the noise-free image is flat, any structure is invented.

A faint blob that a network draws in vacuum costs almost nothing in squared error (the shipped
v4 and v5 draw 3.5-4.2 candidate columns per 512 x 512 vacuum frame at 0.45 e-/px, at a few per
cent of the level), yet it is what users fear most and what the trust verdicts pay for (a network
that draws column-like blobs from noise makes every faint real column indistinguishable from one).
With ``vacuum_weight`` > 1 the squared error of the flat pixels of each noise-free crop counts that
many times more.

The vacuum weight does not reach the band just outside a particle, where the noise-free image is
not flat but holds no column: Fresnel fringes and the tails of the surface columns. A network
trained longer sharpens those into column-like peaks (runs t and w, campaign/README.md: most of
their excess false surface columns sit there), so ``edge_weight`` > 1 makes the squared error of
the non-flat pixels within ``edge_width`` of the vacuum count that many times more.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["edge_band", "flat_pixels", "weighted_crop_mse"]

#: Window of the local spread, working pixels (5 px = 1.2 A at the shipped 0.24 A working grid).
FLAT_WINDOW = 5
#: A pixel is flat where the noise-free image's local standard deviation is below this fraction of
#: the crop's mean level (vacuum in a simulation is exactly flat; a lattice varies by 10-50 %).
FLAT_TOLERANCE = 0.005


def flat_pixels(
    clean: torch.Tensor, window: int = FLAT_WINDOW, tolerance: float = FLAT_TOLERANCE
) -> torch.Tensor:
    """Where each noise-free crop is flat (vacuum), as a boolean mask.

    Parameters
    ----------
    clean : torch.Tensor
        ``(batch, 1, h, w)`` noise-free targets (any positive scale).
    window : int
        Odd window side of the local spread, pixels.
    tolerance : float
        Largest local standard deviation, as a fraction of the crop's mean.

    Returns
    -------
    torch.Tensor
        ``(batch, 1, h, w)`` bool.
    """
    pad = window // 2
    padded = F.pad(clean, (pad, pad, pad, pad), mode="replicate")
    mean = F.avg_pool2d(padded, window, stride=1)
    square = F.avg_pool2d(padded * padded, window, stride=1)
    spread = (square - mean * mean).clamp_min(0).sqrt()
    level = clean.mean(dim=(1, 2, 3), keepdim=True).abs()
    return spread <= tolerance * level


def edge_band(flat: torch.Tensor, width: int) -> torch.Tensor:
    """The non-flat pixels within ``width`` pixels of a flat one: where a particle meets vacuum.

    Parameters
    ----------
    flat : torch.Tensor
        ``(batch, 1, h, w)`` bool, as :func:`flat_pixels` returns.
    width : int
        Reach of the band from the flat pixels, pixels (square neighbourhood; 0: no band).

    Returns
    -------
    torch.Tensor
        ``(batch, 1, h, w)`` bool; empty where a crop has no vacuum.
    """
    if width < 0:
        raise ValueError(f"the edge band's width must be >= 0 pixels, got {width}")
    if width == 0:
        return torch.zeros_like(flat)
    near = F.max_pool2d(flat.float(), 2 * width + 1, stride=1, padding=width) > 0
    return near & ~flat


def weighted_crop_mse(
    outputs: torch.Tensor,
    targets: torch.Tensor,
    vacuum_weight: float = 1.0,
    edge_weight: float = 1.0,
    edge_width: int = 0,
    norm: str = "l2",
) -> torch.Tensor:
    """Mean squared (or absolute) error per crop, vacuum and the band next to it weighted more.

    Parameters
    ----------
    outputs, targets : torch.Tensor
        ``(batch, 1, h, w)`` network outputs and noise-free targets.
    vacuum_weight : float
        Weight of the flat pixels (1: the plain MSE).
    edge_weight : float
        Weight of the non-flat pixels within ``edge_width`` of a flat one (:func:`edge_band`).
    edge_width : int
        Reach of that band, pixels of the crop.
    norm : {"l2", "l1"}
        Squared error (the posterior mean is optimal) or absolute error (the posterior median).

    Returns
    -------
    torch.Tensor
        ``(batch,)``: the weighted mean of each crop's squared (absolute) error (weights sum to
        one per crop, so the loss keeps its scale).
    """
    if norm not in ("l2", "l1"):
        raise ValueError(f"norm must be 'l2' or 'l1', got {norm!r}")
    difference = outputs.float() - targets
    error = difference.square() if norm == "l2" else difference.abs()
    band = edge_weight != 1.0 and edge_width > 0
    if vacuum_weight == 1.0 and not band:
        return error.mean(dim=(1, 2, 3))
    flat = flat_pixels(targets)
    weights = 1.0 + (vacuum_weight - 1.0) * flat.to(error.dtype)
    if band:
        weights = weights + (edge_weight - 1.0) * edge_band(flat, edge_width).to(error.dtype)
    return (error * weights).sum(dim=(1, 2, 3)) / weights.sum(dim=(1, 2, 3))
