"""Training data of the self-supervised methods: frames on the working grid and random crops.

Every frame is binned to the working grid (:func:`sbdenoise.nn.sampling.to_working_grid`: sums
of ``b x b`` blocks of counts, still Poisson) and divided by its mean count per working pixel,
so the network sees values around 1 whatever the dose; estimates are multiplied back and returned
to the input grid by :func:`sbdenoise.nn.sampling.from_working_grid`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sbdenoise.errors import InputError
from sbdenoise.nn.sampling import WorkingGrid, from_working_grid, to_working_grid

__all__ = [
    "CropSampler",
    "WorkingStack",
    "allowed_origins",
    "fit_patch",
    "temporal_windows",
    "to_working_stack",
]


@dataclass
class WorkingStack:
    """Frames on the working grid, normalised by their mean count.

    Attributes
    ----------
    data : numpy.ndarray
        ``(T, h, w)`` float32: counts per working pixel divided by the frame's mean.
    means : numpy.ndarray
        ``(T,)`` mean count per working pixel of each frame (1 for an empty frame), counts.
    grids : list of WorkingGrid
        The binning of each frame, to return estimates to the input grid.
    """

    data: np.ndarray
    means: np.ndarray
    grids: list[WorkingGrid]

    def to_input_grid(self, estimates: np.ndarray) -> np.ndarray:
        """Normalised estimates ``(T, h, w)`` back to expected counts per input pixel.

        Negative estimates are set to 0 on the working grid (expected counts are not negative).
        Returns ``(T, H, W)`` float32.
        """
        out = [
            from_working_grid(np.maximum(estimate, 0.0) * mean, grid)
            for estimate, mean, grid in zip(estimates, self.means, self.grids, strict=True)
        ]
        return np.stack(out).astype(np.float32)


def to_working_stack(stack: np.ndarray, pixel_size: float, sampling: float) -> WorkingStack:
    """Bin every frame of ``stack`` ``(T, H, W)`` (counts) to ``sampling`` A/px and normalise."""
    array = np.asarray(stack)
    if array.ndim != 3 or array.shape[0] < 1:
        raise InputError(f"expected a stack (frames, y, x), got shape {array.shape}")
    grids = [to_working_grid(frame, pixel_size, sampling) for frame in array]
    data = np.stack([grid.counts for grid in grids]).astype(np.float32)
    means = data.mean(axis=(1, 2), dtype=np.float64)
    means = np.where(means > 0, means, 1.0)
    data /= means[:, None, None].astype(np.float32)
    return WorkingStack(data, means, grids)


def fit_patch(patch: int, shape: tuple[int, int], multiple: int, smallest: int) -> int:
    """Training patch side, pixels: ``patch`` or less, a multiple of ``multiple``, within ``shape``.

    Raises
    ------
    InputError
        When the frame on the working grid cannot hold a patch of ``smallest`` pixels.
    """
    fits = (min(min(shape), int(patch)) // multiple) * multiple
    if fits < max(smallest, multiple):
        raise InputError(
            f"the frame is {shape[0]} x {shape[1]} px on the working grid: too small to train on "
            f"(at least {max(smallest, multiple)} px needed)"
        )
    return fits


def allowed_origins(held_out: np.ndarray, size: int) -> np.ndarray:
    """Top-left corners of ``size x size`` crops that avoid every held-out pixel.

    Parameters
    ----------
    held_out : numpy.ndarray
        ``(h, w)`` boolean, True on held-out pixels.
    size : int
        Crop side, pixels.

    Returns
    -------
    numpy.ndarray
        ``(h - size + 1, w - size + 1)`` boolean, True where a crop may start.
    """
    table = np.zeros((held_out.shape[0] + 1, held_out.shape[1] + 1), dtype=np.int64)
    table[1:, 1:] = held_out.astype(np.int64).cumsum(0).cumsum(1)
    inside = (
        table[size:, size:] - table[:-size, size:] - table[size:, :-size] + table[:-size, :-size]
    )
    return inside == 0


def temporal_windows(n_frames: int, width: int) -> np.ndarray:
    """Frame indices of the ``width``-frame window centred on every frame.

    At the ends of the series a missing neighbour ``t - k`` is replaced by ``t + k`` and vice
    versa (reflection about the centre frame), so a neighbour channel never holds the centre
    frame itself; where neither exists (fewer frames than the window), the nearest other frame
    is used.

    Parameters
    ----------
    n_frames : int
        Frames in the series, at least 2.
    width : int
        Odd window width (5 for UDVD).

    Returns
    -------
    numpy.ndarray
        ``(n_frames, width)`` int indices; column ``width // 2`` is the frame itself.
    """
    if n_frames < 2:
        raise InputError("a temporal window needs a stack of at least 2 frames")
    half = width // 2
    windows = np.empty((n_frames, width), dtype=np.int64)
    for t in range(n_frames):
        windows[t, half] = t
        for k in range(1, half + 1):
            for sign in (-1, 1):
                index = t + sign * k
                if not 0 <= index < n_frames:
                    index = t - sign * k
                if not 0 <= index < n_frames:
                    index = t + 1 if t + 1 < n_frames else t - 1
                windows[t, half + sign * k] = index
    return windows


class CropSampler:
    """Random square crops with random 90-degree rotations and flips.

    Parameters
    ----------
    frames : numpy.ndarray
        ``(T, h, w)`` normalised frames.
    samples : numpy.ndarray
        ``(S, C)`` frame indices: sample ``s`` stacks frames ``samples[s]`` as channels.
    size : int
        Crop side, pixels.
    rng : numpy.random.Generator
        Source of the random choices.
    origins : numpy.ndarray, optional
        Boolean map of allowed top-left corners (see :func:`allowed_origins`), the same for every
        sample; default: anywhere.
    """

    def __init__(
        self,
        frames: np.ndarray,
        samples: np.ndarray,
        size: int,
        rng: np.random.Generator,
        origins: np.ndarray | None = None,
    ) -> None:
        self.frames = frames
        self.samples = np.asarray(samples, dtype=np.int64)
        self.size = int(size)
        self.rng = rng
        height, width = frames.shape[-2:]
        if origins is None:
            origins = np.ones((height - self.size + 1, width - self.size + 1), dtype=bool)
        self.corners = np.argwhere(origins)
        if len(self.corners) == 0:
            raise ValueError(f"no {self.size} px crop fits outside the held-out area")

    def draw(self, count: int) -> np.ndarray:
        """``(count, C, size, size)`` float32 crops."""
        out = np.empty((count, self.samples.shape[1], self.size, self.size), dtype=np.float32)
        picks = self.rng.integers(0, len(self.samples), count)
        corners = self.corners[self.rng.integers(0, len(self.corners), count)]
        turns = self.rng.integers(0, 4, count)
        flips = self.rng.integers(0, 2, count)
        for i in range(count):
            y, x = corners[i]
            crop = self.frames[self.samples[picks[i]], y : y + self.size, x : x + self.size]
            crop = np.rot90(crop, turns[i], axes=(1, 2))
            out[i] = crop[:, :, ::-1] if flips[i] else crop
        return out
