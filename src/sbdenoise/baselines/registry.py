"""Registry of the classical baselines: one name, one function, its defaults and its tuning grid.

The CLI and the benchmarks reach every baseline through :func:`apply_baseline`, so that a method
is called the same way everywhere (one frame, or a stack frame by frame; pixel size where the
method speaks in reciprocal angstrom).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from sbdenoise.baselines.fourier import bragg_mask, low_pass
from sbdenoise.baselines.purelet import pure_let
from sbdenoise.baselines.spatial import adaptive_wiener, gaussian, median
from sbdenoise.baselines.temporal import time_average
from sbdenoise.baselines.vst import vst_bm3d, vst_nlm
from sbdenoise.errors import InputError

#: Arguments a baseline function takes that are not tunable parameters.
_NOT_PARAMETERS = ("pixel_size",)


@dataclass(frozen=True, eq=False)
class Baseline:
    """A classical denoiser and how to call and tune it.

    Attributes
    ----------
    name : str
        Registry name (as typed on the command line).
    func : callable
        ``func(data, [pixel_size,] **params) -> numpy.ndarray``: a frame ``(y, x)`` of counts to
        expected counts (spatial methods), or a stack ``(frames, y, x)`` to a stack (temporal).
    defaults : Mapping
        Default value of every tunable parameter (read-only; the function's own defaults).
    grid : Mapping
        Values searched by :func:`sbdenoise.baselines.tune_baseline` for each parameter.
    uses_pixel_size : bool
        True if ``func`` needs the pixel size in angstrom (its parameters are in 1/A).
    temporal : bool
        True if ``func`` works on a stack of frames rather than one frame.
    description : str
        One line for help texts and tables.
    """

    name: str
    func: Callable[..., np.ndarray]
    defaults: Mapping[str, Any]
    grid: Mapping[str, list]
    uses_pixel_size: bool
    temporal: bool
    description: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "defaults", MappingProxyType(dict(self.defaults)))
        object.__setattr__(
            self, "grid", MappingProxyType({k: list(v) for k, v in self.grid.items()})
        )
        unknown = set(self.grid) - set(self.parameters)
        if unknown:
            raise ValueError(f"grid of {self.name!r} names unknown parameters {sorted(unknown)}")

    @property
    def parameters(self) -> tuple[str, ...]:
        """Names of the keyword parameters ``func`` accepts (data and pixel size excluded)."""
        names = list(inspect.signature(self.func).parameters)[1:]
        return tuple(n for n in names if n not in _NOT_PARAMETERS)

    def check_params(self, params: Mapping[str, Any]) -> None:
        """Raise a ValueError naming the valid parameters if ``params`` has an unknown name."""
        unknown = sorted(set(params) - set(self.parameters))
        if unknown:
            raise InputError(
                f"unknown parameter(s) {', '.join(unknown)} for baseline {self.name!r}; "
                f"valid parameters: {', '.join(self.parameters) or '(none)'}"
            )


def _defaults(func: Callable[..., np.ndarray], names: tuple[str, ...]) -> dict[str, Any]:
    """The function's own default values of ``names`` (one source of truth for defaults)."""
    signature = inspect.signature(func).parameters
    return {n: signature[n].default for n in names if n in signature}


def _entry(
    name: str,
    func: Callable[..., np.ndarray],
    grid: dict[str, list],
    description: str,
    uses_pixel_size: bool = False,
    temporal: bool = False,
    tunable: tuple[str, ...] | None = None,
) -> Baseline:
    names = tuple(grid) if tunable is None else tunable
    return Baseline(
        name=name,
        func=func,
        defaults=_defaults(func, names),
        grid=grid,
        uses_pixel_size=uses_pixel_size,
        temporal=temporal,
        description=description,
    )


#: Every classical baseline by name.
BASELINES: dict[str, Baseline] = {
    b.name: b
    for b in (
        _entry(
            "lowpass",
            low_pass,
            {"cutoff": [0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.35], "edge": [0.0, 0.2]},
            "radial FFT low-pass (cut-off in 1/A)",
            uses_pixel_size=True,
        ),
        _entry(
            "wiener",
            adaptive_wiener,
            {"radius": [4, 8, 13, 20]},
            "local Wiener filter, Poisson noise model (window radius in px)",
        ),
        _entry(
            "gaussian",
            gaussian,
            {"sigma": [2.0, 4.0, 6.0, 8.0, 12.0]},
            "Gaussian smoothing (sigma in px)",
        ),
        _entry(
            "median",
            median,
            {"size": [3, 5, 9], "bin_factor": [1, 4, 8]},
            "median filter on counts binned b x b (window in binned px)",
        ),
        _entry(
            "bragg",
            bragg_mask,
            {"spot_radius": [0.03, 0.05, 0.08, 0.12], "threshold": [3.5, 4.5, 6.0]},
            "Bragg spot mask: automatic FFT peaks, soft discs (radii in 1/A)",
            uses_pixel_size=True,
        ),
        _entry(
            "vst-nlm",
            vst_nlm,
            {
                "h": [0.2, 0.3, 0.45, 0.6],
                "patch_size": [5, 7],
                "patch_distance": [8, 12],
                "bin_factor": [4, 8],
            },
            "Anscombe + non-local means + exact unbiased inverse, on b x b binned counts",
        ),
        _entry(
            "vst-bm3d",
            vst_bm3d,
            {"sigma": [0.8, 1.0, 1.2], "bin_factor": [2, 4, 6, 8, 12]},
            "Anscombe + BM3D + exact unbiased inverse, on b x b binned counts",
        ),
        _entry(
            "pure-let",
            pure_let,
            {"levels": [4, 5, 6, 7], "cycle_spins": [4, 8]},
            "PURE-LET: Haar-domain Poisson unbiased risk estimate, linear expansion of thresholds",
        ),
        _entry(
            "time-average",
            time_average,
            {"window": [0, 5, 10, 20]},
            "centred moving average over frames of a stack (window in frames, 0 = all)",
            temporal=True,
        ),
    )
}


def get_baseline(name: str) -> Baseline:
    """Look up a baseline by name.

    Parameters
    ----------
    name : str
        One of the keys of :data:`BASELINES`.

    Returns
    -------
    Baseline
        The registry entry.

    Raises
    ------
    InputError
        (a ValueError) listing the valid names if ``name`` is unknown.
    """
    try:
        return BASELINES[name]
    except (KeyError, TypeError):
        raise InputError(
            f"unknown baseline {name!r}; valid names: {', '.join(BASELINES)}"
        ) from None


def apply_baseline(
    name: str, data: np.ndarray, pixel_size: float | None = None, **params: Any
) -> np.ndarray:
    """Run a baseline on a frame or a stack.

    Parameters
    ----------
    name : str
        Baseline name (see :data:`BASELINES`).
    data : numpy.ndarray
        Electron counts per pixel: a frame ``(y, x)`` or a stack ``(frames, y, x)``. Spatial
        methods are applied to every frame of a stack in turn; temporal methods need a stack.
    pixel_size : float, optional
        Pixel size in angstrom; required by the methods whose parameters are in 1/A
        (``uses_pixel_size``), ignored by the others.
    **params
        Parameters of the method; missing ones take the registry defaults.

    Returns
    -------
    numpy.ndarray
        Expected counts per pixel (float64), same shape as ``data``.

    Raises
    ------
    InputError
        (a ValueError) for an unknown name or parameter, a missing pixel size, or data of the
        wrong dimensionality.
    """
    baseline = get_baseline(name)
    baseline.check_params(params)
    data = np.asarray(data)
    kwargs = {**baseline.defaults, **params}
    if baseline.uses_pixel_size:
        if pixel_size is None:
            raise InputError(
                f"baseline {name!r} works in physical units and needs the pixel size in angstrom; "
                "pass --pixel-size (pixel_size=...) or read a file that records it"
            )
        kwargs["pixel_size"] = pixel_size
    if baseline.temporal:
        if data.ndim != 3:
            raise InputError(
                f"baseline {name!r} averages over time and needs a stack (frames, y, x), "
                f"got an array of shape {data.shape}"
            )
        return np.asarray(baseline.func(data, **kwargs), dtype=np.float64)
    if data.ndim == 2:
        return np.asarray(baseline.func(data, **kwargs), dtype=np.float64)
    if data.ndim == 3:
        if data.shape[0] == 0:
            raise InputError(f"the stack has no frames (shape {data.shape})")
        return np.stack([np.asarray(baseline.func(f, **kwargs), np.float64) for f in data])
    raise InputError(
        f"baseline {name!r} needs a frame (y, x) or a stack (frames, y, x), "
        f"got an array of shape {data.shape}"
    )
