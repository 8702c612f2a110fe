"""The in-memory image type: pixel values with their calibration beside them."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Micrograph:
    """An image or a stack of frames with its calibration.

    Parameters
    ----------
    data : numpy.ndarray
        Pixel values, shape ``(y, x)`` for a frame or ``(frames, y, x)`` for a stack.
    pixel_size : float or None
        Pixel size in angstrom (the same along y and x), or None when the file does not say.
    units_found : str or None
        The length unit as stored in the file, before normalisation (for reporting).
    source : Path or None
        The file the image was read from.
    metadata : dict
        Anything else worth keeping (original metadata, per-axis calibration, acquisition info).
    """

    data: np.ndarray
    pixel_size: float | None = None
    units_found: str | None = None
    source: Path | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def is_stack(self) -> bool:
        """True for a ``(frames, y, x)`` stack."""
        return self.data.ndim == 3

    @property
    def frame_shape(self) -> tuple[int, int]:
        """Shape ``(y, x)`` of one frame, in pixels."""
        return tuple(self.data.shape[-2:])  # type: ignore[return-value]

    @property
    def n_frames(self) -> int:
        """Number of frames (1 for a single image)."""
        return int(self.data.shape[0]) if self.is_stack else 1

    def with_data(self, data: np.ndarray, **changes: Any) -> Micrograph:
        """Return a copy with new pixel values and the same calibration."""
        return replace(self, data=data, **changes)
