"""A simulated in-situ series with known truth: slow drift, shot noise and one surface event.

The frames are what a user's movie looks like (electron counts at about 0.45 e-/px per frame)
and the truth is what a series analysis must recover: the drift of every frame and the frame at
which one surface column leaves the particle.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
from scipy import ndimage

from sbdenoise.analysis.surface import surface_columns
from sbdenoise.errors import InputError
from sbdenoise.synthetic import render_columns, synthetic_lattice

#: Sources of the clean frames: the analytic lattice (instant) or abTEM multislice (~1 min).
SERIES_SOURCES = ("lattice", "pt-ceo2")


@dataclass(frozen=True)
class SimulatedSeries:
    """Noisy frames of a drifting specimen and the truth behind them.

    Attributes
    ----------
    frames : numpy.ndarray
        ``(t, y, x)`` electron counts per pixel (uint16).
    expectation : numpy.ndarray
        ``(t, y, x)`` expected counts per pixel of each frame (float32).
    pixel_size : float
        Angstrom per pixel.
    drift : numpy.ndarray
        ``(t, 2)`` displacement of the specimen in frame ``t`` relative to frame 0, ``(y, x)`` in
        angstrom (a feature at ``p`` in frame 0 is at ``p + drift[t]`` in frame ``t``).
    columns : numpy.ndarray
        ``(n, 2)`` true column positions in frame 0, ``(y, x)`` angstrom (the leaving column
        included).
    on_surface : numpy.ndarray
        ``(n,)`` bool: the column belongs to the particle and faces vacuum (the truth's own flag
        for the multislice source; the outline of the particle's columns for the lattice).
    event_position : numpy.ndarray or None
        ``(y, x)`` of the column that leaves, in frame-0 angstrom; None for a static series.
    event_frame : int or None
        First frame without that column.
    dose : float
        Vacuum dose per frame, e-/px.
    description : str
        One line for reports.
    """

    frames: np.ndarray
    expectation: np.ndarray
    pixel_size: float
    drift: np.ndarray
    columns: np.ndarray
    on_surface: np.ndarray
    event_position: np.ndarray | None
    event_frame: int | None
    dose: float
    description: str


def drift_path(n_frames: int, total_a: tuple[float, float], curvature: float = 0.3) -> np.ndarray:
    """A slow, smooth drift: ``total_a`` reached at the last frame, slightly accelerating.

    Parameters
    ----------
    n_frames : int
        Number of frames.
    total_a : tuple of float
        Displacement at the last frame, ``(y, x)`` angstrom.
    curvature : float
        Share of the displacement that grows quadratically rather than linearly (0-1).

    Returns
    -------
    numpy.ndarray
        ``(n_frames, 2)`` displacement per frame, angstrom (zero at frame 0).
    """
    s = np.linspace(0.0, 1.0, n_frames) if n_frames > 1 else np.zeros(1)
    shape = (1.0 - curvature) * s + curvature * s**2
    return shape[:, None] * np.asarray(total_a, dtype=np.float64)[None, :]


def _lattice_frames(size: int, margin: int, dose: float, seed: int):
    """Clean frames of the analytic lattice with and without its top surface column."""
    lattice = synthetic_lattice(
        (size + 2 * margin, size + 2 * margin), vacuum_level=dose, column_peak=dose, seed=seed
    )
    pixel = lattice.pixel_size
    columns = lattice.columns
    particle = np.flatnonzero(lattice.on_particle)
    centre_x = 0.5 * (size + 2 * margin) * pixel
    near_axis = particle[np.abs(columns[particle, 1] - centre_x) < 3.0]
    top = near_axis[np.argmin(columns[near_axis, 0])]
    leaving = render_columns(
        columns[top : top + 1],
        lattice.column_amplitude[top : top + 1],
        lattice.expectation.shape,
        pixel,
        lattice.column_sigma,
    )
    description = "synthetic Pt-like particle on a support (analytic lattice, no physics)"
    on_surface = np.zeros(len(columns), dtype=bool)
    on_surface[particle] = surface_columns(columns[particle])
    return (
        lattice.expectation,
        lattice.expectation - leaving,
        pixel,
        columns,
        on_surface,
        columns[top],
        description,
    )


@lru_cache(maxsize=2)
def _multislice_frames(size: int, margin: int, dose: float):
    """Clean abTEM frames of the demo particle with and without one free-surface column."""
    from dataclasses import replace

    from sbdenoise.demo import demo_structure
    from sbdenoise.simulate.frame import simulate_frame
    from sbdenoise.simulate.presets import get_preset

    spec = get_preset("shipped").model_copy(update={"image_size": size + 2 * margin})
    whole = replace(demo_structure(), defect="none")
    before = simulate_frame(whole, spec, -12.0, dose=dose)
    after = simulate_frame(replace(whole, defect="remove_one"), spec, -12.0, dose=dose)
    pixel = float(before.params["pixel_size"])
    all_columns = np.column_stack([before.columns["y"], before.columns["x"]]).astype(np.float64)
    kept = np.column_stack([after.columns["y"], after.columns["x"]]).astype(np.float64)
    gone = [
        i for i, p in enumerate(all_columns) if np.min(np.hypot(*(kept - p).T), initial=9.9) > 0.3
    ]
    if len(gone) != 1:
        raise RuntimeError(f"expected one removed column, found {len(gone)}")
    description = (
        "abTEM multislice of a 2 nm Pt particle on CeO2(111), [110], defocus -12 nm "
        f"({pixel:.3f} Å/px)"
    )
    return (
        before.image.astype(np.float64),
        after.image.astype(np.float64),
        pixel,
        all_columns,
        np.asarray(before.columns["on_surface"], dtype=bool),
        all_columns[gone[0]],
        description,
    )


def simulated_series(
    *,
    n_frames: int = 40,
    size: int = 256,
    dose: float = 0.45,
    drift_a: tuple[float, float] = (0.6, -0.9),
    event_frame: int | None = 20,
    source: Literal["lattice", "pt-ceo2"] = "lattice",
    seed: int = 0,
) -> SimulatedSeries:
    """Simulate a drifting series in which one surface column leaves at a known frame.

    Parameters
    ----------
    n_frames : int
        Number of frames (the papers' series has 40).
    size : int
        Frame side, px.
    dose : float
        Vacuum dose per frame, e-/px (0.45 at 40 frames/s in the papers).
    drift_a : tuple of float
        Specimen displacement at the last frame, ``(y, x)`` angstrom.
    event_frame : int, optional
        First frame without the top surface column; None for a static specimen.
    source : str
        ``"lattice"`` (analytic, instant) or ``"pt-ceo2"`` (abTEM multislice, about a minute).
    seed : int
        Seed of the shot noise (and of the lattice's intensity jitter).

    Returns
    -------
    SimulatedSeries
    """
    if n_frames < 2:
        raise InputError(f"a series needs at least 2 frames, got {n_frames}")
    if event_frame is not None and not 0 < event_frame < n_frames:
        raise InputError(f"event_frame must lie in 1..{n_frames - 1}, got {event_frame}")
    if not dose > 0:
        raise InputError(f"dose must be positive (e-/px), got {dose}")
    if source not in SERIES_SOURCES:
        raise InputError(f"unknown source {source!r}; choose from {', '.join(SERIES_SOURCES)}")
    pixel_guess = 0.05  # the smallest pixel of the sources, angstrom
    margin = int(np.ceil(np.max(np.abs(drift_a)) / pixel_guess)) + 8
    if source == "lattice":
        before, after, pixel, columns, on_surface, leaving, description = _lattice_frames(
            size, margin, dose, seed
        )
    else:
        before, after, pixel, columns, on_surface, leaving, description = _multislice_frames(
            size, margin, dose
        )
    drift = drift_path(n_frames, drift_a)
    rng = np.random.default_rng(seed)
    frames = np.empty((n_frames, size, size), dtype=np.uint16)
    expectation = np.empty((n_frames, size, size), dtype=np.float32)
    window = (slice(margin, margin + size), slice(margin, margin + size))
    for t in range(n_frames):
        clean = after if event_frame is not None and t >= event_frame else before
        moved = ndimage.shift(clean, drift[t] / pixel, order=3, mode="nearest")[window]
        expectation[t] = np.clip(moved, 0.0, None)
        frames[t] = rng.poisson(expectation[t])
    origin = margin * pixel
    inside = np.all((columns >= origin) & (columns < origin + size * pixel), axis=1)
    return SimulatedSeries(
        frames=frames,
        expectation=expectation,
        pixel_size=pixel,
        drift=drift,
        columns=columns[inside] - origin,
        on_surface=on_surface[inside],
        event_position=None if event_frame is None else leaving - origin,
        event_frame=event_frame,
        dose=dose,
        description=f"{description}; {n_frames} frames at {dose:g} e-/px",
    )
