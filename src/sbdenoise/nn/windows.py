"""Cover a frame with windows the network accepts, without padding it.

A UNet with ``s`` scales takes sides that are multiples of ``m = 2**(s - 1)``. A frame whose
working grid is not such a multiple used to be padded by reflection at its bottom and right
edges; the mirrored specimen there is nothing a training crop ever showed, and it cost v24 1.5-2
dB over whole 810 px frames at 0.049 A/px (162 working px, padded by 30) and 3-4 dB over 600 px
crops of the gate's frames (``benchmarks/results/frame_windows.md``). Instead, an axis that is
not a multiple is covered by the two windows of the largest multiple below its length, flush
with either end; each is a true crop of the frame, like the crops the network was trained on,
and each output pixel is the weighted mean of the windows that hold it, weighted by the distance
from the window's cut edge (the edge inside the frame), so a pixel is taken mostly from the
window in which it lies far from a cut. An axis shorter than one multiple is still padded by
reflection (its caller's job).

The window at the far end need not be as long as the first: given the network's ``reach`` (half
its receptive field), a window long enough for its last pixels to see that far, plus the ramp,
gives them every input they can depend on, so it is cut to that length (a multiple): on a large
frame two strips instead of two more whole frames.
"""

from __future__ import annotations

import numpy as np

__all__ = ["WINDOW_RAMP", "axis_windows", "frame_windows", "network_reach"]

#: Distance from a window's cut edge (working pixels) over which its weight rises linearly to one.
WINDOW_RAMP = 16


def network_reach(receptive_field_px: int, multiple: int) -> int:
    """How far a network's output at a pixel looks, working pixels, with a size multiple's margin.

    Half the measured receptive field plus the network's size multiple: the context exact tiles
    keep (:func:`sbdenoise.denoise.inference.exact_tiles`, before rounding) and the ``reach``
    inference and the pixel filter give :func:`frame_windows`.
    """
    return -(-receptive_field_px // 2) + multiple


def axis_windows(
    length: int, multiple: int, ramp: int = WINDOW_RAMP, reach: int | None = None
) -> list[tuple[int, np.ndarray]]:
    """The windows covering one axis, with their blending weights.

    Parameters
    ----------
    length : int
        Length of the axis, pixels; at least ``multiple``.
    multiple : int
        Window lengths must be multiples of this.
    ramp : int
        Pixels from a cut edge over which a window's weight rises from ``0.5 / ramp`` to one.
    reach : int, optional
        How far the network's output at a pixel looks, pixels (half its receptive field). With
        it the window at the far end is as long as ``reach + (length - size) + ramp`` rounded up
        to a multiple, if that is shorter than ``size``.

    Returns
    -------
    list of tuple
        ``(start, weight)``: one window ``(0, ones(length))`` for a length that is a multiple;
        otherwise two: ``size`` (the largest multiple below ``length``) long from 0, and one
        flush with the far end, ``size`` long or shorter (``reach``). Their weights are
        ``min(1, (d + 0.5) / ramp)`` with ``d`` the distance from the window's cut edge, pixels.

    Raises
    ------
    ValueError
        If ``length`` is shorter than ``multiple`` or either is not positive.
    """
    if multiple < 1 or ramp < 1 or length < multiple:
        raise ValueError(
            f"an axis of {length} px cannot hold a window of a multiple of {multiple} px "
            f"(ramp {ramp})"
        )
    if length % multiple == 0:
        return [(0, np.ones(length))]
    size = length // multiple * multiple
    end = size
    if reach is not None:
        end = min(size, -(-(reach + length - size + ramp) // multiple) * multiple)
    first = np.minimum(1.0, (np.arange(size) + 0.5) / ramp)[::-1].copy()
    last = np.minimum(1.0, (np.arange(end) + 0.5) / ramp)
    return [(0, first), (length - end, last)]


def frame_windows(
    shape: tuple[int, int], multiple: int, ramp: int = WINDOW_RAMP, reach: int | None = None
) -> list[tuple[int, int, np.ndarray]]:
    """The windows covering a frame: 1, 2 or 4, their corners and 2-D blending weights.

    Parameters
    ----------
    shape : tuple of int
        ``(H, W)``, each at least ``multiple``.
    multiple : int
        Window sides must be multiples of this.
    ramp, reach : int
        As :func:`axis_windows`.

    Returns
    -------
    list of tuple
        ``(row, col, weight)``: the window's top-left corner and its ``(h, w)`` weight map (the
        outer product of the two axes' weights).
    """
    rows = axis_windows(shape[0], multiple, ramp, reach)
    cols = axis_windows(shape[1], multiple, ramp, reach)
    return [(r, c, np.outer(wr, wc)) for r, wr in rows for c, wc in cols]
