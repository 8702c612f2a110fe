"""Tuning of a baseline's parameters on validation pairs, as the papers tuned each method.

An exhaustive search over the product of a grid, scored by the mean PSNR (peak 1 e-/px, estimate
clipped to [0, 1], :func:`sbdenoise.metrics.psnr`) over the (clean, noisy) pairs.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sbdenoise.baselines.registry import apply_baseline, get_baseline
from sbdenoise.errors import InputError
from sbdenoise.metrics import psnr
from sbdenoise.progress import progress_bar

#: Above this many filter runs (settings x pairs), progress is shown by default.
PROGRESS_MIN_RUNS = 20


@dataclass(frozen=True)
class TuningResult:
    """Outcome of :func:`tune_baseline`.

    Attributes
    ----------
    name : str
        Baseline name.
    params : dict
        Best parameters (the registry defaults updated with the best grid point).
    psnr : float
        Mean PSNR of the best parameters over the validation pairs, in dB.
    table : list of (dict, float)
        Every grid point tried, with its full parameters and mean PSNR in dB, in search order.
    """

    name: str
    params: dict[str, Any]
    psnr: float
    table: list[tuple[dict[str, Any], float]] = field(repr=False)


def _check_pairs(pairs: Sequence[tuple[np.ndarray, np.ndarray]], temporal: bool) -> list:
    pairs = list(pairs)
    if not pairs:
        raise InputError("tune_baseline needs at least one (clean, noisy) validation pair")
    checked = []
    for i, pair in enumerate(pairs):
        if len(pair) != 2:
            raise InputError(f"validation pair {i} is not a (clean, noisy) pair")
        clean, noisy = np.asarray(pair[0], np.float64), np.asarray(pair[1])
        if temporal:
            if noisy.ndim != 3:
                raise InputError(f"pair {i}: a temporal method needs a noisy stack (frames, y, x)")
            ok = clean.shape in (noisy.shape, noisy.shape[1:])
        else:
            if noisy.ndim != 2:
                raise InputError(f"pair {i}: the noisy frame must be 2-D, got shape {noisy.shape}")
            ok = clean.shape == noisy.shape
        if not ok:
            raise InputError(
                f"pair {i}: clean shape {clean.shape} does not match noisy shape {noisy.shape}"
            )
        checked.append((clean, noisy))
    return checked


def _check_grid(grid: Mapping[str, Sequence[Any]], valid: tuple[str, ...], name: str) -> dict:
    unknown = sorted(set(grid) - set(valid))
    if unknown:
        raise InputError(
            f"grid names unknown parameter(s) {', '.join(unknown)} for baseline {name!r}; "
            f"valid parameters: {', '.join(valid)}"
        )
    out = {}
    for key, values in grid.items():
        values = list(values) if not isinstance(values, str | bytes) else [values]
        if not values:
            raise InputError(f"grid entry {key!r} has no values to try")
        out[key] = values
    return out


def tune_baseline(
    name: str,
    pairs: Sequence[tuple[np.ndarray, np.ndarray]],
    pixel_size: float | None = None,
    grid: Mapping[str, Sequence[Any]] | None = None,
    progress: bool | None = None,
) -> TuningResult:
    """Pick a baseline's parameters by exhaustive search on validation pairs.

    Parameters
    ----------
    name : str
        Baseline name (see :data:`sbdenoise.baselines.BASELINES`).
    pairs : sequence of (numpy.ndarray, numpy.ndarray)
        Validation pairs ``(clean, noisy)``: clean expectation and noisy counts, in counts per
        pixel, of the same shape ``(y, x)``. For a temporal method the noisy item is a stack
        ``(frames, y, x)`` and the clean one a stack of the same shape or one frame (the same
        expectation for every frame). Use noise realisations that are not the test data.
    pixel_size : float, optional
        Pixel size in angstrom, required by the methods whose parameters are in 1/A.
    grid : mapping of str to sequence, optional
        Values to try per parameter; default: the registry grid of the method. Parameters not in
        the grid keep their registry defaults.
    progress : bool, optional
        Show a progress bar (rich, one step per grid point); by default only when more than
        :data:`PROGRESS_MIN_RUNS` filter runs are needed.

    Returns
    -------
    TuningResult
        Best parameters, their mean PSNR in dB, and the whole table. Ties go to the first grid
        point in search order.

    Raises
    ------
    InputError
        (a ValueError) for no pairs, mismatched shapes, or unknown or empty grid entries.
    """
    baseline = get_baseline(name)
    checked = _check_pairs(pairs, baseline.temporal)
    grid = _check_grid(baseline.grid if grid is None else grid, baseline.parameters, name)
    keys = list(grid)
    points = [dict(zip(keys, values, strict=True)) for values in itertools.product(*grid.values())]
    runs = len(points) * len(checked)
    show = runs > PROGRESS_MIN_RUNS if progress is None else progress
    table: list[tuple[dict[str, Any], float]] = []
    for point in progress_bar(points, f"tuning {name}", show=show):
        params = {**baseline.defaults, **point}
        scores = []
        for clean, noisy in checked:
            estimate = apply_baseline(name, noisy, pixel_size=pixel_size, **params)
            scores.append(psnr(estimate, np.broadcast_to(clean, estimate.shape)))
        table.append((params, float(np.mean(scores))))
    best = int(np.argmax([score for _, score in table]))
    return TuningResult(name=name, params=dict(table[best][0]), psnr=table[best][1], table=table)
