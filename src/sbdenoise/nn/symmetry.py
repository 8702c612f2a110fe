"""The eight symmetries of the square (quarter turns and mirrors) of an image, and their inverses.

Used where a network meets orientation: the geometric self-ensemble of inference
(:mod:`sbdenoise.denoise.inference`) and the validation crops turned through every orientation
(:mod:`sbdenoise.training.data`). The maps act on the last two axes' plane of a 2D array of any
shape (a non-square image comes back transposed by the odd quarter turns and the diagonal mirrors).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

__all__ = ["N_SYMMETRIES", "inverse_symmetry", "square_symmetry", "square_symmetry_tensor"]

#: Number of symmetries of the square.
N_SYMMETRIES = 8


def _check(k: int) -> None:
    if not 0 <= k < N_SYMMETRIES:
        raise ValueError(f"symmetry index must be 0 to 7, got {k}")


def square_symmetry(crop: np.ndarray, k: int) -> np.ndarray:
    """The ``k``-th of the eight symmetries of a square crop (0: unchanged).

    Parameters
    ----------
    crop : ndarray
        2D image.
    k : int
        0-3: turned by ``k`` quarter turns counter-clockwise; 4-7: the same, then transposed
        (the four mirror images: 4 the transpose, 5 left-right, 6 the anti-transpose, 7 up-down).

    Returns
    -------
    ndarray
        The transformed crop (a view).
    """
    _check(k)
    turned = np.rot90(crop, k % 4)
    return turned.T if k >= 4 else turned


def square_symmetry_tensor(images: torch.Tensor, k: int) -> torch.Tensor:
    """:func:`square_symmetry` of the last two axes of a tensor ``(..., H, W)``, differentiable.

    Parameters
    ----------
    images : torch.Tensor
        Images on the last two axes (for example ``(N, C, H, W)``).
    k : int
        Symmetry index, 0 to 7, as in :func:`square_symmetry`.

    Returns
    -------
    torch.Tensor
        The transformed images (for a 2D tensor, the same as :func:`square_symmetry`).
    """
    import torch

    _check(k)
    turned = torch.rot90(images, k % 4, dims=(-2, -1))
    return turned.transpose(-2, -1) if k >= 4 else turned


def inverse_symmetry(k: int) -> int:
    """Index of the symmetry that undoes ``square_symmetry(., k)``.

    Parameters
    ----------
    k : int
        Symmetry index, 0 to 7.

    Returns
    -------
    int
        The inverse's index: the opposite quarter turn for 1-3, ``k`` itself otherwise (the
        half turn and the mirrors are their own inverses).
    """
    _check(k)
    return (4 - k) % 4 if k < 4 else k
