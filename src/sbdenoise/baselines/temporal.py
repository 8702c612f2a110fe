"""Temporal baseline: a centred moving average over the frames of a stack."""

from __future__ import annotations

import numpy as np

from sbdenoise.errors import InputError


def time_average(stack: np.ndarray, window: int | None = 0) -> np.ndarray:
    """Average every frame of a stack with its neighbours in time.

    Frame ``t`` is replaced by the mean of frames ``t - (window - 1) // 2`` to
    ``t + window // 2`` (a centred window of ``window`` frames; for an even window one more frame
    after ``t`` than before). Near the ends of the stack the window shrinks to the frames that
    exist, so no frame is invented. Averaging ``n`` frames of the same expectation divides the
    Poisson variance by ``n`` (and blurs anything that moves).

    Parameters
    ----------
    stack : numpy.ndarray
        Frames of electron counts per pixel, shape ``(frames, y, x)``.
    window : int or None
        Number of frames averaged; 0 or None (default) averages all frames, so every output frame
        is the mean of the stack. A window longer than the stack also averages all frames.

    Returns
    -------
    numpy.ndarray
        Expected counts per pixel (float64), shape ``(frames, y, x)``.

    Raises
    ------
    InputError
        (a ValueError) if ``stack`` is not a finite 3-D array or ``window`` is negative.
    """
    data = np.asarray(stack, dtype=np.float64)
    if data.ndim != 3:
        raise InputError(
            "time_average needs a stack of shape (frames, y, x), "
            f"got an array of shape {data.shape}"
        )
    if data.size == 0:
        raise InputError(f"the stack is empty (shape {data.shape})")
    if not np.all(np.isfinite(data)):
        raise InputError("the stack contains NaN or infinite values")
    if window is not None and (isinstance(window, bool) or int(window) != window or window < 0):
        raise InputError(f"window must be a non-negative number of frames or None, got {window!r}")
    n = data.shape[0]
    if not window or window >= n:
        return np.broadcast_to(data.mean(axis=0), data.shape).copy()
    window = int(window)
    cumulative = np.concatenate([np.zeros((1, *data.shape[1:])), np.cumsum(data, axis=0)])
    t = np.arange(n)
    lo = np.clip(t - (window - 1) // 2, 0, n)
    hi = np.clip(t + window // 2 + 1, 0, n)
    counts = (hi - lo).astype(np.float64)[:, None, None]
    return (cumulative[hi] - cumulative[lo]) / counts
