"""Exit waves by plane-wave multislice (abTEM), computed once per structure."""

from __future__ import annotations

import time
from dataclasses import dataclass

import abtem
import numpy as np

from sbdenoise.config import Optics, Simulation
from sbdenoise.specimen.model import Specimen

#: glibc ``mallopt`` parameters (malloc.h) and the values that keep freed arrays in the heap.
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
_KEEP_HEAP = {_M_MMAP_THRESHOLD: 32 * 2**20, _M_TRIM_THRESHOLD: 2**31 - 1, _M_TOP_PAD: 256 * 2**20}


def keep_freed_memory() -> bool:
    """Ask glibc to reuse freed arrays instead of returning them to the kernel.

    Multislice allocates and frees wave and potential arrays of a few MB for every slice. With
    glibc's defaults they are mapped and unmapped each time, and a profile of a simulation worker
    showed 42 % of its time in the kernel's page-fault handler zeroing fresh pages. Raising the
    mmap threshold to its maximum (32 MB) and never trimming the heap keeps those pages.

    Returns
    -------
    bool
        True when the settings were applied (glibc found), False elsewhere (nothing changed).
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return all(mallopt(parameter, value) == 1 for parameter, value in _KEEP_HEAP.items())


def configure_abtem(threads: int = 1) -> None:
    """Set abTEM for eager CPU work inside one process (no nested dask, FFTW plans kept).

    FFTW plans with ``FFTW_ESTIMATE``: nuisance draws of the pixel size give every image its own
    detector grid, and measuring a plan per grid cost 1-2 s per image (benchmarked), while
    estimated plans are made in microseconds and cached per worker like the others.
    """
    abtem.config.set(
        {
            "device": "cpu",
            "fft": "fftw",
            "fftw.threads": threads,
            "fftw.planning_effort": "FFTW_ESTIMATE",
            "dask.lazy": False,
            "diagnostics.progress_bar": False,
            "diagnostics.task_progress": False,
            "precision": "float32",
        }
    )


@dataclass
class ExitWave:
    """The complex exit wave of one structure and what it cost.

    Attributes
    ----------
    waves : abtem.Waves
        Exit wave on the simulation grid (computed, numpy-backed).
    seconds_potential, seconds_multislice : float
        Wall time of building the projected potential and of the propagation, seconds.
    """

    waves: abtem.Waves
    seconds_potential: float
    seconds_multislice: float


def exit_wave(specimen: Specimen, optics: Optics, simulation: Simulation) -> ExitWave:
    """Propagate a plane wave through the specimen.

    Parameters
    ----------
    specimen : Specimen
        Atomic model; its beam tilt is applied to the propagator (abTEM small-angle tilt).
    optics : Optics
        Gives the acceleration voltage.
    simulation : Simulation
        Grid sampling, slice thickness and scattering-factor parametrisation.

    Returns
    -------
    ExitWave
    """
    start = time.perf_counter()
    potential = abtem.Potential(
        specimen.atoms,
        sampling=simulation.sampling,
        slice_thickness=simulation.slice_thickness,
        projection="infinite",
        parametrization=simulation.parametrization,
    ).build(lazy=False)
    built = time.perf_counter()
    wave = abtem.PlaneWave(energy=optics.voltage_kv * 1e3, tilt=specimen.tilt_mrad)
    waves = wave.multislice(potential, lazy=False)
    done = time.perf_counter()
    return ExitWave(waves, built - start, done - built)


def gauss_hermite_defocus(
    focal_spread_nm: float, n_points: int = 7
) -> tuple[np.ndarray, np.ndarray]:
    """Defocus offsets (nm) and weights integrating over a Gaussian focal spread.

    ``focal_spread_nm`` is the 1/e half-width of the defocus distribution (abTEM's convention),
    so the density is ``exp(-(df / focal_spread)**2)``.
    """
    if focal_spread_nm <= 0:
        return np.zeros(1), np.ones(1)
    nodes, weights = np.polynomial.hermite.hermgauss(n_points)
    return nodes * focal_spread_nm, weights / weights.sum()
