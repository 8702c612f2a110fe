"""Blind-spot masks: which pixels a self-supervised loss sees, and what the network sees there.

Noise2Void masking (:func:`n2v_mask`) replaces a few pixels of each patch by the value of a random
neighbour and scores the network only at those pixels, whose noisy values it did not see.
Self2Self masking (:func:`bernoulli_mask`) hides a random 30 % of the pixels and scores the rest.

All arrays are torch tensors of normalised counts (counts divided by the frame's mean count), so
the functions have no units of their own; positions are in pixels of the working grid.
"""

from __future__ import annotations

import torch

__all__ = ["NEIGHBOUR_RADIUS", "bernoulli_mask", "mask_spacing", "n2v_mask"]

#: Half-width of the window from which a masked pixel's replacement is drawn, pixels (5 x 5).
NEIGHBOUR_RADIUS = 2


def mask_spacing(fraction: float, radius: int = NEIGHBOUR_RADIUS) -> int:
    """Side of the grid cells that each hold one masked pixel, pixels.

    Parameters
    ----------
    fraction : float
        Wanted fraction of masked pixels, ``0 < fraction <= 1 / (2 radius + 1)**2``.
    radius : int
        Half-width of the replacement window, pixels.

    Returns
    -------
    int
        ``round(1 / sqrt(fraction))``, at least ``2 radius + 1`` (so the real fraction is
        ``1 / spacing**2``).

    Raises
    ------
    ValueError
        If ``fraction`` is outside ``(0, 1 / (2 radius + 1)**2]``.
    """
    smallest = 2 * radius + 1
    if not 0.0 < fraction <= 1.0 / smallest**2 + 1e-12:
        raise ValueError(
            f"mask fraction must be in (0, {1.0 / smallest**2:.3g}] (one masked pixel per "
            f"{smallest} x {smallest} cell at most), got {fraction!r}"
        )
    return max(smallest, round(fraction**-0.5))


def n2v_mask(
    patches: torch.Tensor,
    fraction: float,
    generator: torch.Generator,
    radius: int = NEIGHBOUR_RADIUS,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Noise2Void masking: a few pixels per patch replaced by the value of a random neighbour.

    The patch is divided into cells of :func:`mask_spacing` pixels; one pixel per cell is masked,
    drawn at least ``radius`` pixels inside its cell, and gets the (original) value of a pixel
    drawn uniformly from the ``(2 radius + 1)**2 - 1`` others of the window around it. Masked
    pixels are therefore at least ``2 radius + 1`` pixels apart, so no replacement value is
    taken from another masked pixel's position either: the noisy value of a masked pixel is
    nowhere in the masked patch, and a loss restricted to the masked pixels cannot be lowered by
    copying the input.

    Parameters
    ----------
    patches : torch.Tensor
        ``(N, H, W)`` patches; ``H`` and ``W`` at least the spacing.
    fraction : float
        Wanted fraction of masked pixels (see :func:`mask_spacing`).
    generator : torch.Generator
        Source of the random positions and neighbours.
    radius : int
        Half-width of the replacement window, pixels.

    Returns
    -------
    masked : torch.Tensor
        A copy of ``patches`` with the masked pixels replaced.
    mask : torch.Tensor
        ``(N, H, W)`` boolean, True at the masked pixels (where the loss is taken).

    Raises
    ------
    ValueError
        For a bad fraction or patches smaller than one cell.
    """
    spacing = mask_spacing(fraction, radius)
    n, height, width = patches.shape
    cells_y, cells_x = height // spacing, width // spacing
    if cells_y == 0 or cells_x == 0:
        raise ValueError(
            f"patches of {height} x {width} px are smaller than the mask spacing {spacing} px"
        )
    shape = (n, cells_y, cells_x)
    inner = spacing - 2 * radius
    rows = torch.randint(0, inner, shape, generator=generator) + radius
    cols = torch.randint(0, inner, shape, generator=generator) + radius
    rows = rows + spacing * torch.arange(cells_y).view(1, -1, 1)
    cols = cols + spacing * torch.arange(cells_x).view(1, 1, -1)
    side = 2 * radius + 1
    centre = (side * side) // 2
    pick = torch.randint(0, side * side - 1, shape, generator=generator)
    pick = pick + (pick >= centre).long()  # skip the pixel itself
    source_rows = rows + pick // side - radius
    source_cols = cols + pick % side - radius
    batch = torch.arange(n).view(-1, 1, 1).expand(shape)
    masked = patches.clone()
    masked[batch, rows, cols] = patches[batch, source_rows, source_cols]
    mask = torch.zeros(patches.shape, dtype=torch.bool)
    mask[batch, rows, cols] = True
    return masked, mask


def bernoulli_mask(shape: tuple[int, ...], drop: float, generator: torch.Generator) -> torch.Tensor:
    """Self2Self sampling: each pixel kept with probability ``1 - drop``, independently.

    Parameters
    ----------
    shape : tuple of int
        Shape of the mask.
    drop : float
        Probability that a pixel is hidden from the network, ``0 < drop < 1``.
    generator : torch.Generator
        Source of the draws.

    Returns
    -------
    torch.Tensor
        float32 mask, 1 where the network sees the pixel and 0 where it is hidden (and scored).
    """
    if not 0.0 < drop < 1.0:
        raise ValueError(f"drop probability must be in (0, 1), got {drop!r}")
    return (torch.rand(shape, generator=generator) >= drop).float()
