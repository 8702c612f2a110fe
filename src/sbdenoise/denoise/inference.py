"""Apply a trained denoiser to frames and stacks of any size.

A frame of counts goes through these steps (:func:`denoise_array`):

1. binned to the model's working sampling (:func:`sbdenoise.nn.sampling.to_working_grid`);
2. brought to network units (:meth:`sbdenoise.nn.card.ModelCard.scale_for`: the card's
   ``input_scale``, or one over the frame's own mean count for dose-normalised models);
3. covered by windows whose sides are multiples of the network's required size, without padding
   (:mod:`sbdenoise.nn.windows`: one window when the frame's sides already are multiples, else
   two per such axis, flush with either end and blended by the distance from their cut edges;
   only a side shorter than one multiple is padded by reflection);
4. each window denoised whole, or in tiles whose context on every side is at least half the
   card's measured receptive field (plus the network's size multiple), blended with
   raised-cosine weights over overlapping cores, so the tiled result equals the whole-image one
   up to float round-off; or, with ``field``, in overlapping tiles no larger than the field the
   network was trained on (a different result: no output pixel sees more of the frame than a
   training crop held);
5. divided by that factor and returned to the input grid and units, expected counts per input
   pixel (:func:`sbdenoise.nn.sampling.from_working_grid`).

Stacks (:func:`denoise_stack`) are processed one frame at a time, so a long memory-mapped series is
never loaded whole. Work runs under :func:`torch.inference_mode` on CUDA when available, else on
the CPU; the number of CPU threads is left to the user (:func:`torch.set_num_threads`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from sbdenoise.denoise.registry import DEFAULT_ENSEMBLE
from sbdenoise.errors import InputError
from sbdenoise.io.validation import check_frame
from sbdenoise.nn.card import ModelCard
from sbdenoise.nn.receptive_field import required_multiple
from sbdenoise.nn.sampling import DEFAULT_TOLERANCE, from_working_grid, to_working_grid
from sbdenoise.nn.symmetry import inverse_symmetry, square_symmetry
from sbdenoise.nn.windows import frame_windows, network_reach
from sbdenoise.progress import progress_bar
from sbdenoise.training.precision import autocast, resolve_precision

__all__ = [
    "ENSEMBLE_SIZES",
    "MIN_WORKING_SIZE",
    "TilePlan",
    "choose_device",
    "denoise_array",
    "denoise_stack",
    "ensemble_symmetries",
    "exact_tiles",
    "field_tiles",
    "resolve_field",
    "tile_layout",
]

#: Smallest side of a frame on the working grid, in working pixels.
MIN_WORKING_SIZE = 8
#: Memory layout of the network's weights and input. channels_last runs the shipped UNet 1.35x
#: (256 px working frame) to 1.55x (512 px) faster in fp32 on a 2-core AMD EPYC, with outputs
#: equal to 2e-6 (``benchmarks/results/inference_layout.md``), and is what bf16 autocast wants.
MEMORY_FORMAT = torch.channels_last
#: Name of the field a model was trained on, for ``field`` (the card's training crop).
TRAINING_FIELD = "training"
#: Fraction of a field tile's side discarded at each inner edge. Chosen on the validation split
#: (v13, 48 images at 0.45 e-/px, tiles of 128 px): 2/16 cost -0.067 +- 0.015 dB against the
#: whole frame, 3/16 -0.012 +- 0.008 and 4/16 +0.009 +- 0.005; 3/16 needs no more tiles than
#: 2/16 on a 1024 px frame (9) where 4/16 needs 16, and all three draw 4-10x fewer phantom
#: columns in 1024 px vacuum frames than the whole frame.
FIELD_CONTEXT = 3 / 16


@dataclass(frozen=True)
class TilePlan:
    """How a working image is cut into overlapping tiles (see :func:`tile_layout`).

    Attributes
    ----------
    side : int
        Tile side, working pixels.
    context : int
        Pixels discarded at each inner tile edge.
    blend : int
        Width of the raised-cosine ramps next to the discarded context, pixels.
    """

    side: int
    context: int
    blend: int


def _round_up(value: float, multiple: int) -> int:
    return math.ceil(value / multiple) * multiple


def exact_tiles(tile: int, receptive_field: int, multiple: int) -> TilePlan:
    """Tiles whose blended result equals the whole-image output (context >= half the field).

    Parameters
    ----------
    tile : int
        Requested tile side, working pixels (rounded up to ``multiple``).
    receptive_field : int
        The network's measured receptive field, working pixels.
    multiple : int
        The network's size multiple.

    Returns
    -------
    TilePlan

    Raises
    ------
    InputError
        If the tile is too small to keep a context of half the receptive field on both sides.
    """
    context = _round_up(network_reach(receptive_field, multiple), multiple)
    blend = _round_up(max(16, multiple), multiple)
    side = _round_up(int(tile), multiple)
    minimum = 2 * context + 2 * blend
    if side < minimum:
        raise InputError(
            f"tile of {side} working pixels is too small for a receptive field of "
            f"{receptive_field} px; use at least {minimum} (or no tiling)"
        )
    return TilePlan(side, context, blend)


def field_tiles(field: int, multiple: int) -> TilePlan:
    """Tiles no larger than ``field``: the network never sees more of the frame than that.

    A network trained on crops of ``field`` pixels and applied to a larger frame computes its
    deep features on a field it never saw in training; the shipped UNet then draws particles in
    pure vacuum many times more often than on a frame of its training field
    (``benchmarks/results/vacuum_frame_size.md``). Tiles of the training field keep every output
    pixel's input within that field; :data:`FIELD_CONTEXT` of the side is discarded at each inner
    edge and 16 px (or the size multiple) are blended.

    Parameters
    ----------
    field : int
        Largest field, working pixels (rounded down to ``multiple``).
    multiple : int
        The network's size multiple.

    Returns
    -------
    TilePlan

    Raises
    ------
    InputError
        If the field is too small for overlapping tiles to advance by a size multiple.
    """
    blend = _round_up(max(16, multiple), multiple)

    def advance(side: int) -> int:
        return side - 2 * math.ceil(side * FIELD_CONTEXT) - blend

    side = int(field) // multiple * multiple
    if advance(side) < multiple:
        smallest = next(s for s in range(multiple, 64 * blend, multiple) if advance(s) >= multiple)
        raise InputError(
            f"a field of {field} working pixels is too small to tile a network whose size "
            f"multiple is {multiple}; use at least {smallest}"
        )
    return TilePlan(side, math.ceil(side * FIELD_CONTEXT), blend)


def resolve_field(field: int | str | None, card: ModelCard) -> int | None:
    """The field in working pixels: ``"training"`` is the card's training crop.

    Parameters
    ----------
    field : int, "training" or None
        As ``denoise_array``'s ``field``.
    card : ModelCard
        The model's card.

    Returns
    -------
    int or None
        Working pixels, or None for the whole frame.

    Raises
    ------
    InputError
        If ``field`` is ``"training"`` and the card does not record its training crop, or if it
        is neither that, None nor a positive integer.
    """
    if field is None:
        return None
    if field == TRAINING_FIELD:
        crop = card.training_data.get("crop_px")
        if not crop:
            raise InputError(
                "this model's card does not record the crop it was trained on: give the field "
                "in working pixels"
            )
        return int(crop)
    if isinstance(field, bool) or not isinstance(field, int) or field < 1:
        raise InputError(
            f"field must be a positive number of working pixels or {TRAINING_FIELD!r}, "
            f"got {field!r}"
        )
    return field


def choose_device(device: str | torch.device | None = None) -> torch.device:
    """The device to run on: ``device`` if given, else CUDA when available, else the CPU."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def tile_layout(
    padded_shape: tuple[int, int], tile: int, context: int, blend: int
) -> list[tuple[int, int, np.ndarray]]:
    """Tiles covering a working image (or one of its windows), with their blending weights.

    Parameters
    ----------
    padded_shape : tuple of int
        Image shape ``(H, W)`` (multiples of the network's size multiple: a window of
        :func:`sbdenoise.nn.windows.frame_windows`).
    tile : int
        Tile side, pixels (a multiple of the size multiple; tiles are ``min(tile, H)`` by
        ``min(tile, W)``).
    context : int
        Pixels at each tile edge whose output is discarded (unless the edge is the image edge).
    blend : int
        Width of the raised-cosine ramps at the inner edges of each tile's valid region.

    Returns
    -------
    list of tuple
        ``(row, col, weight)``: the tile's top-left corner and its ``(th, tw)`` weight map, zero
        in the discarded context and positive in the valid region.
    """

    def axis(length: int) -> list[tuple[int, np.ndarray]]:
        size = min(tile, length)
        if size == length:
            return [(0, np.ones(length))]
        step = size - 2 * context - blend
        starts = [*range(0, length - size, step), length - size]
        ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(blend) + 0.5) / blend)
        result = []
        for start in starts:
            weight = np.ones(size)
            if start > 0:
                weight[:context] = 0.0
                weight[context : context + blend] = ramp
            if start + size < length:
                weight[size - context :] = 0.0
                weight[size - context - blend : size - context] = ramp[::-1]
            result.append((start, weight))
        return result

    rows, cols = axis(padded_shape[0]), axis(padded_shape[1])
    return [(r, c, np.outer(wr, wc)) for r, wr in rows for c, wc in cols]


#: Symmetries of the square in ensemble order (indices of :func:`square_symmetry`): identity,
#: left-right and up-down mirrors, half turn, then transpose, quarter turns and anti-transpose;
#: the first 2, 4 or 8 form a group.
_ENSEMBLE_ORDER = (0, 5, 7, 2, 4, 1, 3, 6)
#: Accepted sizes of the geometric self-ensemble.
ENSEMBLE_SIZES = (1, 2, 4, 8)


def ensemble_symmetries(size: int) -> tuple[int, ...]:
    """The symmetries of the square (indices of :func:`square_symmetry`) an ensemble averages.

    Raises
    ------
    InputError
        For a size that is not one of :data:`ENSEMBLE_SIZES`.
    """
    if size not in ENSEMBLE_SIZES:
        raise InputError(
            f"ensemble must be one of {', '.join(map(str, ENSEMBLE_SIZES))} (symmetries of the "
            f"square averaged), got {size!r}"
        )
    return _ENSEMBLE_ORDER[:size]


def _place(model: nn.Module, device: torch.device) -> None:
    """Put ``model`` in eval mode on ``device`` in :data:`MEMORY_FORMAT`, unless it is already.

    Moving is skipped when every parameter already lies there in that layout: ``Module.to``
    walks and re-lays every tensor, a few milliseconds per frame under a profiler on 2 CPU cores.
    """
    tensors = list(model.parameters()) + list(model.buffers())
    placed = all(
        t.device == device and (t.dim() != 4 or t.is_contiguous(memory_format=MEMORY_FORMAT))
        for t in tensors
    )
    if not placed:
        model.to(device, memory_format=MEMORY_FORMAT)
    model.eval()


def _run_network(
    model: nn.Module,
    image: np.ndarray,
    plan: TilePlan | None,
    batch_size: int,
    device: torch.device,
    precision: str,
    ensemble: int = 1,
    reach: int | None = None,
) -> np.ndarray:
    """Network output for a 2-D float32 image on the working grid (any size).

    ``plan`` is None (the whole image at once) or its tiles. ``precision`` is ``"bf16"``
    (autocast) or ``"fp32"``; the input has the model's layout (:data:`MEMORY_FORMAT`). With
    ``ensemble`` > 1 the output is the mean over that many symmetries of the square (flips, then
    quarter turns and transposes): the image is transformed, denoised and transformed back.
    ``reach`` (half the receptive field, working pixels) shortens the windows at the far ends
    (:func:`sbdenoise.nn.windows.axis_windows`).
    """
    outputs = [
        square_symmetry(
            _run_network_once(
                model,
                np.ascontiguousarray(square_symmetry(image, k)),
                plan,
                batch_size,
                device,
                precision,
                reach,
            ),
            inverse_symmetry(k),
        )
        for k in ensemble_symmetries(ensemble)
    ]
    return np.mean(outputs, axis=0, dtype=np.float32) if ensemble > 1 else outputs[0]


def _run_network_once(
    model: nn.Module,
    image: np.ndarray,
    plan: TilePlan | None,
    batch_size: int,
    device: torch.device,
    precision: str,
    reach: int | None = None,
) -> np.ndarray:
    """Network output for one orientation of the image (see :func:`_run_network`).

    The image is covered by windows whose sides are multiples of the network's size multiple
    (:func:`sbdenoise.nn.windows.frame_windows`: one window when the sides already are, else two
    per such axis, flush with either end, blended); a side shorter than one multiple is first
    padded by reflection to it. Each window is denoised whole or in ``plan``'s tiles.
    """
    multiple = required_multiple(model)
    height, width = image.shape
    pad = (max(0, multiple - height), max(0, multiple - width))
    padded = np.pad(image, ((0, pad[0]), (0, pad[1])), mode="reflect") if any(pad) else image
    windows = frame_windows(padded.shape, multiple, reach=reach)
    if len(windows) == 1:
        return _run_window(model, padded, plan, batch_size, device, precision)[:height, :width]
    placed = []
    for row, col, weight in windows:
        crop = np.ascontiguousarray(padded[_region(row, col, weight)])
        placed.append(
            (row, col, weight, _run_window(model, crop, plan, batch_size, device, precision))
        )
    return _blend(padded.shape, placed)[:height, :width].astype(np.float32)


def _region(row: int, col: int, weight: np.ndarray) -> tuple[slice, slice]:
    """The slices of a piece with top-left corner ``(row, col)`` and ``weight``'s shape."""
    return slice(row, row + weight.shape[0]), slice(col, col + weight.shape[1])


def _blend(
    shape: tuple[int, ...], placed: Iterable[tuple[int, int, np.ndarray, np.ndarray]]
) -> np.ndarray:
    """Weighted mean of overlapping pieces ``(row, col, weight, output)`` over a ``shape`` image."""
    total = np.zeros(shape)
    weights = np.zeros(shape)
    for row, col, weight, output in placed:
        region = _region(row, col, weight)
        total[region] += weight * output
        weights[region] += weight
    return total / weights


def _run_window(
    model: nn.Module,
    image: np.ndarray,
    plan: TilePlan | None,
    batch_size: int,
    device: torch.device,
    precision: str,
) -> np.ndarray:
    """Network output for an image whose sides are multiples of the network's size multiple."""
    layout_format = MEMORY_FORMAT
    shape = image.shape

    def forward(batch: list[np.ndarray]) -> np.ndarray:
        tensor = torch.from_numpy(np.stack(batch)[:, None]).to(device)
        with autocast(precision, device):
            output = model(tensor.contiguous(memory_format=layout_format))
        return output[:, 0].float().cpu().numpy()

    if plan is None or (shape[0] <= plan.side and shape[1] <= plan.side):
        return forward([image])[0]
    layout = tile_layout(shape, plan.side, plan.context, plan.blend)
    groups = (layout[first : first + batch_size] for first in range(0, len(layout), batch_size))
    placed = (
        (r, c, w, result)
        for group in groups
        for (r, c, w), result in zip(
            group, forward([image[_region(r, c, w)] for r, c, w in group]), strict=True
        )
    )
    return _blend(shape, placed).astype(np.float32)


def _tile_plan(
    model: nn.Module,
    card: ModelCard,
    tile: int | None,
    field: int | str | None,
    source: str | Path | None,
) -> TilePlan | None:
    """The tiles of ``tile`` (exact) or ``field`` (limited), or None for the whole frame."""
    try:
        working_field = resolve_field(field, card)
        if working_field is not None and tile is not None:
            raise InputError("give a tile (same result as the whole frame) or a field, not both")
        multiple = required_multiple(model)
        if working_field is not None:
            return field_tiles(working_field, multiple)
        if tile is not None:
            return exact_tiles(tile, card.receptive_field_px, multiple)
    except InputError as error:
        raise InputError(error.problem, source) from error
    return None


def denoise_array(
    model: nn.Module,
    card: ModelCard,
    counts: np.ndarray,
    pixel_size: float,
    tile: int | None = None,
    batch_size: int = 4,
    device: str | torch.device | None = None,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    precision: str = "auto",
    ensemble: int = DEFAULT_ENSEMBLE,
    field: int | str | None = None,
    source: str | Path | None = None,
) -> np.ndarray:
    """Denoise one frame of electron counts.

    Parameters
    ----------
    model : torch.nn.Module
        The network (put in eval mode and moved to ``device``).
    card : ModelCard
        Its card: working sampling, input scale, receptive field.
    counts : numpy.ndarray
        One frame ``(y, x)`` of counts per pixel (integers or floats; any size of at least 16
        pixels a side; singleton axes are dropped).
    pixel_size : float
        Pixel size of ``counts``, angstrom; must be within ``tolerance`` of an integer fraction of
        ``card.sampling``.
    tile : int, optional
        Tile side in working-grid pixels (the network's input grid). None, or a tile at least as
        large as the working image's windows, denoises each window at once. Each tile discards
        a context of ``ceil(receptive_field / 2) + m`` pixels (rounded up to a multiple of ``m``,
        the network's size multiple) at its inner edges and blends over ``max(16, m)`` more, so
        a tile must be at least twice the sum of the two.
    batch_size : int
        Tiles per forward pass.
    device : str or torch.device, optional
        Where to run; default CUDA when available, else the CPU.
    tolerance : float
        Accepted relative mismatch between the binned pixel size and ``card.sampling``.
    precision : {"auto", "bf16", "fp32"}
        Arithmetic of the network: ``"bf16"`` autocasts the convolutions to bfloat16 with
        channels_last memory (about twice as fast on CPUs with AVX512-BF16/AMX; the output
        differs from fp32 by far less than the denoising error, see
        ``benchmarks/results/inference_precision.md``); ``"auto"`` picks bf16 where the
        hardware has it, fp32 elsewhere.
    ensemble : {1, 2, 4, 8}
        Geometric self-ensemble: the mean of the network's outputs over this many symmetries of
        the square (1: the plain network; 2: with the left-right mirror; 4: all flips; 8: flips,
        quarter turns and transposes). Costs ``ensemble`` times the network time; the network
        was trained with flips and rotations, so each orientation is an equally valid estimate
        and their mean has less variance (see ``benchmarks/results/ensemble.md``). The default
        is the ``sbd`` method's (:data:`sbdenoise.denoise.registry.DEFAULT_ENSEMBLE`); with 8
        the result does not depend on how the frame is turned or mirrored.
    field : int or "training", optional
        Largest field the network sees at once, working pixels; ``"training"`` is the crop the
        model was trained on (from its card). A larger frame is cut into overlapping tiles of
        that side (:func:`field_tiles`), so no output pixel depends on more of the frame than a
        training crop held; the result differs from the whole-frame one. None (default): the
        whole frame, or ``tile``. Not with ``tile``.
    source : str or Path, optional
        Name of the frame's origin (a file), used in error messages.

    Returns
    -------
    numpy.ndarray
        Denoised frame, expected counts per input pixel, float32, same shape as ``counts``.

    Raises
    ------
    InputError
        For an array that is not one finite frame of at least 16 x 16 pixels, a pixel size that
        does not fit the model's sampling, a frame too small on the working grid, a tile too
        small for the receptive field, a bad field, or both a tile and a field.
    """
    frame = check_frame(counts, source)
    try:
        grid = to_working_grid(frame, pixel_size, card.sampling, tolerance)
    except InputError as error:
        raise InputError(error.problem, source) from error
    if min(grid.counts.shape) < MIN_WORKING_SIZE:
        raise InputError(
            f"a {frame.shape[0]} x {frame.shape[1]} frame is {grid.counts.shape[0]} x "
            f"{grid.counts.shape[1]} pixels at the model's sampling ({card.sampling:.4g} A/px); "
            f"at least {MIN_WORKING_SIZE} are needed on each side",
            source,
        )
    if batch_size < 1:
        raise InputError(f"batch_size must be at least 1, got {batch_size}")
    ensemble_symmetries(ensemble)  # checks the size before any work
    plan = _tile_plan(model, card, tile, field, source)
    torch_device = choose_device(device)
    try:
        arithmetic = resolve_precision(precision, torch_device)
    except ValueError as error:
        raise InputError(str(error), source) from error
    _place(model, torch_device)
    try:
        scale = card.scale_for(grid.counts)
    except ValueError as error:
        raise InputError(str(error), source) from error
    scaled = (grid.counts * np.float32(scale)).astype(np.float32)
    reach = network_reach(card.receptive_field_px, required_multiple(model))
    with torch.inference_mode():
        output = _run_network(
            model,
            scaled,
            plan,
            batch_size,
            torch_device,
            arithmetic,
            ensemble,
            reach,
        )
    working = output / np.float32(scale)
    return from_working_grid(working, grid)


class _Counted:
    """An iterator with a known length (so the progress bar shows a total)."""

    def __init__(self, iterator: Iterator[np.ndarray], n: int | None) -> None:
        self.iterator, self.n = iterator, n

    def __iter__(self) -> Iterator[np.ndarray]:
        return self.iterator

    def __len__(self) -> int:
        return 0 if self.n is None else self.n


def _frames_of(frames: Any) -> tuple[Iterator[np.ndarray], int | None]:
    """Iterator over the frames of a stack, and their number when known."""
    if hasattr(frames, "shape") and hasattr(frames, "__getitem__"):
        ndim = len(frames.shape)
        if ndim == 2:
            return iter([frames]), 1
        if ndim != 3:
            raise InputError(
                f"a stack must be (frames, y, x); got an array of shape {tuple(frames.shape)}"
            )
        n = int(frames.shape[0])
        return (frames[i] for i in range(n)), n
    if isinstance(frames, Iterable):
        n = len(frames) if hasattr(frames, "__len__") else None  # type: ignore[arg-type]
        return iter(frames), n
    raise InputError(f"expected a stack of frames, got {type(frames).__name__}")


def denoise_stack(
    model: nn.Module,
    card: ModelCard,
    frames: Iterable[np.ndarray] | np.ndarray,
    pixel_size: float,
    *,
    out: np.ndarray | None = None,
    tile: int | None = None,
    batch_size: int = 4,
    device: str | torch.device | None = None,
    progress: bool = True,
    tolerance: float = DEFAULT_TOLERANCE,
    precision: str = "auto",
    ensemble: int = DEFAULT_ENSEMBLE,
    field: int | str | None = None,
    source: str | Path | None = None,
) -> np.ndarray:
    """Denoise a stack frame by frame, never holding more than one frame's work in memory.

    Parameters
    ----------
    model : torch.nn.Module
        The network.
    card : ModelCard
        Its card.
    frames : array_like or iterable of numpy.ndarray
        A ``(frames, y, x)`` array (a :class:`numpy.memmap`, an h5py or zarr dataset: anything
        indexed frame by frame) or an iterable of ``(y, x)`` frames (e.g. a generator reading a
        file). A single ``(y, x)`` array is a stack of one.
    pixel_size : float
        Pixel size, angstrom.
    out : numpy.ndarray, optional
        ``(frames, y, x)`` float array to write into (a :class:`numpy.memmap` keeps the result on
        disk; it is flushed at the end). Default: a new float32 array in memory.
    tile, batch_size, device, tolerance, precision, ensemble, field
        As in :func:`denoise_array`.
    progress : bool
        Show a progress bar.
    source : str or Path, optional
        Name of the stack's origin, used in error messages with the frame index.

    Returns
    -------
    numpy.ndarray
        ``out`` (or the new array): denoised frames, expected counts per pixel.

    Raises
    ------
    InputError
        For a bad frame (see :func:`denoise_array`), frames of different shapes, or an ``out``
        whose shape does not match the stack.
    """
    iterator, n = _frames_of(frames)
    if out is not None:
        if out.ndim != 3 or (n is not None and out.shape[0] != n):
            raise InputError(
                f"out has shape {out.shape}; it must be (frames, y, x) with {n} frames"
            )
        if out.dtype.kind != "f":
            raise InputError(f"out must be a floating-point array, got {out.dtype}")
    results: list[np.ndarray] = []
    label = "stack" if source is None else str(source)
    shape: tuple[int, ...] | None = None
    for index, frame in enumerate(
        progress_bar(
            _Counted(iterator, n) if n is not None else iterator, "denoising", show=progress
        )
    ):
        where = f"{label} frame {index}"
        denoised = denoise_array(
            model,
            card,
            np.asarray(frame),
            pixel_size,
            tile,
            batch_size,
            device,
            tolerance=tolerance,
            precision=precision,
            ensemble=ensemble,
            field=field,
            source=where,
        )
        if shape is None:
            shape = denoised.shape
            if out is None and n is not None:
                out = np.empty((n, *shape), dtype=np.float32)
        elif denoised.shape != shape:
            raise InputError(f"frame of shape {denoised.shape} in a stack of {shape}", where)
        if out is None:
            results.append(denoised)
            continue
        if index >= out.shape[0] or out.shape[1:] != shape:
            raise InputError(
                f"out has shape {out.shape} but frame {index} is {shape}; it must hold every frame"
            )
        out[index] = denoised
    if out is None:
        if not results:
            raise InputError("the stack holds no frames", source)
        return np.stack(results)
    if isinstance(out, np.memmap):
        out.flush()
    return out
