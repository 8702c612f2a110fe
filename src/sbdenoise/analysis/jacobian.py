"""Equivalent linear filter: how a network arrived at one output pixel.

For a network ``f`` and a noisy frame ``y``, the gradient ``a = d f_p(y) / d y`` of output pixel
``p`` with respect to every input pixel is the filter the network applies around ``p`` for this
input. A bias-free network built from convolutions and ReLUs is piecewise linear and positively
homogeneous, so ``f_p(y) = a . y`` exactly: the output is this adaptive filter applied to the
input (Mohan et al.). Shown beside the noisy window, it tells how far the network looks and
whether it averages along columns or paints a template.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sbdenoise.analysis.columns import _check_image
from sbdenoise.analysis.likelihood import (
    add_colorbar,
    add_scale_bar,
    grey_limits,
    image_panels,
    save_figure,
)
from sbdenoise.errors import InputError


@dataclass(frozen=True)
class EquivalentFilter:
    """The gradient of one output pixel with respect to the input frame.

    Attributes
    ----------
    weights : numpy.ndarray
        ``d f_p / d y`` for every input pixel, same shape as the input (dimensionless).
    pixel : tuple of int
        The output pixel ``(row, col)``.
    output : float
        The network's output at that pixel, e-/px.
    linear_output : float
        ``sum(weights * y)``: equal to ``output`` for a bias-free network.
    denoised : numpy.ndarray or None
        The whole network output for this input, ``(H, W)``.
    """

    weights: np.ndarray
    pixel: tuple[int, int]
    output: float
    linear_output: float
    denoised: np.ndarray | None = None

    @property
    def bias(self) -> float:
        """``output - linear_output``: the part not explained by the linear filter (e-/px)."""
        return self.output - self.linear_output

    def window(self, half_width: int) -> tuple[slice, slice]:
        """Slices of a window of ``2 half_width + 1`` pixels around the pixel, cut at the frame."""
        return window_around(self.pixel, self.weights.shape, half_width)

    def extent(self, fraction: float = 0.99) -> float:
        """Radius (pixels) around the pixel holding ``fraction`` of the filter's absolute weight."""
        return weight_radius(self.weights, self.pixel, fraction)


def window_around(
    centre: tuple[int, int], shape: tuple[int, ...], half_width: int
) -> tuple[slice, slice]:
    """Slices of a window of ``2 half_width + 1`` pixels around ``centre``, cut at the frame.

    Parameters
    ----------
    centre : tuple of int
        ``(row, col)`` of the window's centre, pixels.
    shape : tuple of int
        Shape of the frame, pixels.
    half_width : int
        Half the window's side, pixels.

    Returns
    -------
    tuple of slice
        Row and column slices.
    """
    row, col = centre
    rows, cols = shape
    return (
        slice(max(row - half_width, 0), min(row + half_width + 1, rows)),
        slice(max(col - half_width, 0), min(col + half_width + 1, cols)),
    )


def weight_radius(weights: np.ndarray, centre: tuple[int, int], fraction: float = 0.99) -> float:
    """Radius around ``centre`` holding ``fraction`` of the absolute weight, in pixels.

    Parameters
    ----------
    weights : numpy.ndarray
        A filter's weights, ``(H, W)``.
    centre : tuple of int
        ``(row, col)`` the radius is measured from, pixels.
    fraction : float
        Share of the summed absolute weight within the radius.

    Returns
    -------
    float
        The radius in pixels (0 for all-zero weights).
    """
    rows, cols = np.indices(weights.shape)
    radius = np.hypot(rows - centre[0], cols - centre[1]).ravel()
    weight = np.abs(weights).ravel()
    total = weight.sum()
    if total == 0:
        return 0.0
    order = np.argsort(radius)
    cumulative = np.cumsum(weight[order]) / total
    index = min(int(np.searchsorted(cumulative, fraction)), len(order) - 1)
    return float(radius[order][index])


def equivalent_filter(model: Any, noisy: np.ndarray, pixel: tuple[int, int]) -> EquivalentFilter:
    """Gradient of one output pixel of a network with respect to its input, by autograd.

    Parameters
    ----------
    model : torch.nn.Module
        Maps a ``(1, 1, H, W)`` float tensor to a ``(1, 1, H, W)`` tensor. It is run in eval
        mode on the device and dtype of its parameters (CPU float32 if it has none).
    noisy : numpy.ndarray
        The input frame ``(H, W)``, as the model expects it (counts per pixel for sbdenoise
        models).
    pixel : tuple of int
        Output pixel ``(row, col)``.

    Returns
    -------
    EquivalentFilter
    """
    import torch

    frame = _check_image(noisy, "noisy frame")
    row, col = (int(v) for v in pixel)
    if not (0 <= row < frame.shape[0] and 0 <= col < frame.shape[1]):
        raise InputError(f"pixel ({row}, {col}) lies outside the {frame.shape} frame")
    parameter = next(iter(model.parameters()), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    dtype = parameter.dtype if parameter is not None else torch.float32
    was_training = model.training
    model.eval()
    try:
        x = torch.tensor(frame, dtype=dtype, device=device)[None, None].requires_grad_(True)
        out = model(x)
        if tuple(out.shape) != tuple(x.shape):
            raise InputError(
                f"the model maps {tuple(x.shape)} to {tuple(out.shape)}; it must keep the shape"
            )
        value = out[0, 0, row, col]
        (grad,) = torch.autograd.grad(value, x)
    finally:
        model.train(was_training)
    weights = grad[0, 0].detach().double().cpu().numpy()
    return EquivalentFilter(
        weights=weights,
        pixel=(row, col),
        output=float(value.detach()),
        linear_output=float(np.sum(weights * frame)),
        denoised=out[0, 0].detach().float().cpu().numpy(),
    )


def plot_equivalent_filter(
    result: EquivalentFilter,
    noisy: np.ndarray,
    path: str | Path,
    *,
    pixel_size: float | None = None,
    half_width: float | None = None,
    denoised: np.ndarray | None = None,
    title: str = "",
) -> Path:
    """Draw the noisy window beside the equivalent filter (as the papers' Fig. 8).

    Parameters
    ----------
    result : EquivalentFilter
        From :func:`equivalent_filter`.
    noisy : numpy.ndarray
        The input frame.
    path : str or Path
        PNG to write.
    pixel_size : float, optional
        Angstrom per pixel, for the scale bars (nm) and the window size.
    half_width : float, optional
        Half the side of the window shown: angstrom if ``pixel_size`` is given, else pixels.
        Default: 1.5 times the radius holding 99 % of the filter's weight (at least 20 px).
    denoised : numpy.ndarray, optional
        The network output, shown as a middle panel (default: the one kept in ``result``).
    title : str
        Figure title.

    Returns
    -------
    Path
    """
    frame = np.asarray(noisy, dtype=np.float64)
    denoised = result.denoised if denoised is None else denoised
    if half_width is None:
        half_px = max(20, int(np.ceil(1.5 * result.extent())))
    else:
        half_px = int(np.ceil(half_width / pixel_size if pixel_size else half_width))
    rows, cols = result.window(max(half_px, 1))
    marker = (result.pixel[1] - cols.start, result.pixel[0] - rows.start)
    panels: list[tuple[str, np.ndarray, str]] = [("noisy input", frame[rows, cols], "gray")]
    if denoised is not None:
        panels.append(
            ("network output", np.asarray(denoised, dtype=np.float64)[rows, cols], "gray")
        )
    panels.append(("equivalent linear filter", result.weights[rows, cols], "filter"))
    fig, axes = image_panels(len(panels), 4.9, 5.0)
    for ax, (label, image, kind) in zip(axes, panels, strict=True):
        if kind == "gray":
            lo, hi = grey_limits(image)
            shown = ax.imshow(image, cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
            add_colorbar(fig, ax, shown, "e⁻/px")
        else:
            limit = float(np.max(np.abs(image))) or 1.0
            shown = ax.imshow(
                image, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest"
            )
            add_colorbar(fig, ax, shown, "weight ∂f(p)/∂y (per input pixel)")
        ax.plot(*marker, marker="+", color="lime", ms=12, mew=1.5)
        ax.set_title(label)
        add_scale_bar(ax, image.shape, pixel_size)
    heading = title or f"pixel (row {result.pixel[0]}, col {result.pixel[1]})"
    fig.suptitle(
        f"{heading}: output {result.output:.4g} e⁻/px, filter · input {result.linear_output:.4g},"
        f" filter sum {result.weights.sum():.3g}",
        fontsize=11,
    )
    return save_figure(fig, path)
