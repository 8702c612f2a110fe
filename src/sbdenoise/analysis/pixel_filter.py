"""The network's equivalent linear filter at a pixel, on the grid the network works on.

What ``sbdenoise explain`` draws and what a click in the napari widget shows. The ``sbd`` method
(:func:`sbdenoise.denoise.inference.denoise_array`) does not apply the network to a frame as it
is: it sums ``b x b`` blocks of counts to the
model's working sampling, divides by the frame's mean count (dose-normalised models), runs the
network on windows whose sides are whole size multiples, blended (:mod:`sbdenoise.nn.windows`),
and returns the result to the detector grid. The filter
shown in napari is the one of that path: the gradient of the working-grid output at the working
pixel holding the click with respect to every working pixel of counts, by autograd through the
windows and the network (:func:`sbdenoise.analysis.jacobian.equivalent_filter`), and through
the geometric self-ensemble when the method averages over symmetries of the square
(``-p ensemble=N``). The filter is therefore that of the denoiser the user actually runs,
at the frame's own dose.

Units: the weights are dimensionless (output counts per input count). The normalisation
multiplies input and output by the same factor, so the weights do not depend on it; their sum,
the **gain**, is how much the output at the pixel rises per count added to every pixel with the
normalisation held fixed. When the dose itself changes the normalisation changes with it and the
network's bias at the pixel adds to the response (:attr:`PixelFilter.uniform_response`; zero
extra for a bias-free network, which is positively homogeneous).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sbdenoise.analysis.jacobian import (
    EquivalentFilter,
    equivalent_filter,
    plot_equivalent_filter,
    weight_radius,
    window_around,
)
from sbdenoise.denoise.registry import DEFAULT_ENSEMBLE
from sbdenoise.errors import InputError
from sbdenoise.nn.receptive_field import required_multiple
from sbdenoise.nn.sampling import to_working_grid
from sbdenoise.nn.windows import network_reach

__all__ = ["PixelFilter", "pixel_filter", "plot_pixel_filter"]


@dataclass(frozen=True)
class PixelFilter:
    """Equivalent linear filter of a network at one pixel, on the network's working grid.

    Attributes
    ----------
    weights : numpy.ndarray
        ``d out / d counts`` for every working pixel, shape of the working grid (dimensionless).
    pixel : tuple of int
        The clicked pixel ``(row, col)`` of the input frame.
    working_pixel : tuple of int
        The working pixel holding it, ``(row // factor, col // factor)``.
    factor : int
        Binning factor from the input grid to the working grid.
    pixel_size : float
        Input pixel size, angstrom.
    output : float
        The network's estimate at the working pixel, expected counts per *input* pixel.
    scale : float
        Factor that brought the working counts to network units (``1 / mean`` for
        dose-normalised models).
    bias : float
        ``output - filter · input`` at the pixel in network units: the part of the output the
        linear filter does not explain (0 for a bias-free network).
    normalization : str
        ``"frame_mean"`` or ``"fixed"``, from the model card.
    counts : numpy.ndarray
        The working-grid counts the filter applies to, mean counts per *input* pixel
        (``block sum / factor**2``), shape of ``weights``.
    denoised : numpy.ndarray
        The network's estimate on the working grid, expected counts per *input* pixel.
    """

    weights: np.ndarray
    pixel: tuple[int, int]
    working_pixel: tuple[int, int]
    factor: int
    pixel_size: float
    output: float
    scale: float
    bias: float
    normalization: str
    counts: np.ndarray
    denoised: np.ndarray

    @property
    def sampling(self) -> float:
        """Working pixel size, angstrom."""
        return self.factor * self.pixel_size

    @property
    def gain(self) -> float:
        """Sum of the weights: output counts per count added to every pixel, dose held fixed."""
        return float(self.weights.sum())

    @property
    def uniform_response(self) -> float:
        """Output counts per count added to every pixel, the frame-mean normalisation included.

        ``gain + bias`` for a dose-normalised model (the normalisation follows the added
        counts), ``gain`` for a model with a fixed input scale.
        """
        return self.gain + (self.bias if self.normalization == "frame_mean" else 0.0)

    def extent(self, fraction: float = 0.99) -> float:
        """Radius around the pixel holding ``fraction`` of the absolute weight, angstrom."""
        return weight_radius(self.weights, self.working_pixel, fraction) * self.sampling

    def window(self, half_width: int) -> tuple[slice, slice]:
        """Slices of the working grid within ``half_width`` working pixels of the pixel."""
        return window_around(self.working_pixel, self.weights.shape, half_width)

    def describe(self) -> str:
        """One line for the viewer's status: output, gain and reach."""
        return (
            f"pixel ({self.pixel[0]}, {self.pixel[1]}): output {self.output:.4g} e-/px, filter "
            f"sum (gain) {self.gain:.4g}, response to dose {self.uniform_response:.4g}, 99 % of "
            f"the weight within {self.extent():.3g} Å (working grid {self.sampling:.4g} Å/px)"
        )


def _windowed(network: Any, multiple: int, reach: int) -> Any:
    """``network`` over the windows inference covers a frame with, blended as inference does.

    A side shorter than ``multiple`` is padded by reflection first; the frame is then cut into
    the windows of :func:`sbdenoise.nn.windows.frame_windows` and their outputs are blended with
    its weights, all inside the module, so the gradient with respect to a frame pixel is that
    of the output :func:`sbdenoise.denoise.inference.denoise_array` returns.
    """
    import torch
    from torch.nn import functional

    from sbdenoise.nn.windows import frame_windows

    class Windowed(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.network = network

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            height, width = x.shape[-2:]
            pad = (0, max(0, multiple - width), 0, max(0, multiple - height))
            x = functional.pad(x, pad, mode="reflect") if any(pad) else x
            total = torch.zeros_like(x)
            weights = torch.zeros_like(x)
            for row, col, weight in frame_windows(tuple(x.shape[-2:]), multiple, reach=reach):
                h, w = weight.shape
                out = self.network(x[..., row : row + h, col : col + w])
                where = (col, x.shape[-1] - col - w, row, x.shape[-2] - row - h)
                weight_map = torch.as_tensor(weight, dtype=x.dtype, device=x.device)
                total = total + functional.pad(out * weight_map, where)
                weights = weights + functional.pad(weight_map.expand_as(out), where)
            return (total / weights)[..., :height, :width]

    # in the network's mode, so that restoring the wrapper's mode restores the network's
    return Windowed().train(network.training)


def _ensembled(model: Any, symmetries: tuple[int, ...]) -> Any:
    """``model`` averaged over ``symmetries`` of the square, as the self-ensemble runs it.

    Each symmetry turns or mirrors the frame, runs the model and undoes the symmetry on the
    output, so the gradient is that of the averaged output inference returns.
    """
    import torch

    from sbdenoise.nn.symmetry import inverse_symmetry, square_symmetry_tensor

    if symmetries == (0,):
        return model

    class Ensembled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            outputs = [
                square_symmetry_tensor(
                    self.model(square_symmetry_tensor(x, k)), inverse_symmetry(k)
                )
                for k in symmetries
            ]
            return torch.stack(outputs).mean(dim=0)

    return Ensembled().train(model.training)


def pixel_filter(
    network: Any,
    card: Any,
    counts: np.ndarray,
    pixel_size: float,
    pixel: tuple[int, int],
    ensemble: int = DEFAULT_ENSEMBLE,
) -> PixelFilter:
    """Equivalent linear filter of a trained network at one pixel of a frame of counts.

    Parameters
    ----------
    network : torch.nn.Module
        The network (``PreparedMethod.network`` of the ``sbd`` method).
    card : ModelCard
        Its card (working sampling, normalisation).
    counts : numpy.ndarray
        The frame ``(y, x)``, electron counts per pixel.
    pixel_size : float
        Angstrom per pixel of ``counts``.
    pixel : tuple of int
        ``(row, col)`` of the input frame.
    ensemble : {1, 2, 4, 8}
        Size of the geometric self-ensemble the filter is taken through (the ``sbd`` method's
        ``ensemble`` parameter): the filter of the average over that many symmetries of the
        square, which is the average of the network's filters at the pixel's images under them;
        by default the method's.

    Returns
    -------
    PixelFilter

    Raises
    ------
    InputError
        For a pixel outside the frame, a pixel size that does not fit the model's sampling, or
        an ensemble size that is not 1, 2, 4 or 8.
    """
    from sbdenoise.denoise.inference import ensemble_symmetries

    frame = np.asarray(counts, dtype=np.float64)
    row, col = (int(v) for v in pixel)
    if frame.ndim != 2 or not (0 <= row < frame.shape[0] and 0 <= col < frame.shape[1]):
        raise InputError(f"pixel ({row}, {col}) lies outside the {frame.shape} frame")
    # plain binning only: the filter is read per block of input pixels (no resampled grid)
    grid = to_working_grid(frame, pixel_size, card.sampling, resample=False)
    scale = float(card.scale_for(grid.counts))
    working = (row // grid.factor, col // grid.factor)
    multiple = required_multiple(network)
    reach = network_reach(card.receptive_field_px, multiple)  # as denoise_array's windows
    model = _ensembled(_windowed(network, multiple, reach), ensemble_symmetries(ensemble))
    result = equivalent_filter(model, grid.counts * scale, working)
    return PixelFilter(
        weights=result.weights,
        pixel=(row, col),
        working_pixel=working,
        factor=grid.factor,
        pixel_size=float(pixel_size),
        output=result.output / scale / grid.factor**2,
        scale=scale,
        bias=result.bias,
        normalization=str(card.normalization),
        counts=grid.counts / grid.factor**2,
        denoised=np.asarray(result.denoised, dtype=np.float64) / scale / grid.factor**2,
    )


def plot_pixel_filter(
    probe: PixelFilter, path: str | Path, *, half_width: float | None = None, title: str = ""
) -> Path:
    """Draw the working-grid counts, the network output and the filter around the pixel.

    Parameters
    ----------
    probe : PixelFilter
        From :func:`pixel_filter`.
    path : str or Path
        PNG to write.
    half_width : float, optional
        Half the side of the window shown, angstrom (default: 1.5 times the radius holding
        99 % of the filter's absolute weight, at least 20 working pixels).
    title : str
        Figure title.

    Returns
    -------
    Path
    """
    working = EquivalentFilter(
        weights=probe.weights,
        pixel=probe.working_pixel,
        output=probe.output,
        linear_output=float(np.sum(probe.weights * probe.counts)),
        denoised=probe.denoised,
    )
    heading = title or f"pixel (row {probe.pixel[0]}, col {probe.pixel[1]})"
    return plot_equivalent_filter(
        working,
        probe.counts,
        path,
        pixel_size=probe.sampling,
        half_width=half_width,
        title=f"{heading}, working grid {probe.sampling:.4g} Å/px ({probe.factor}x{probe.factor})",
    )
