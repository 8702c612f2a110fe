"""A synthetic white-contrast lattice frame: the embedded default for tests, demo and benchmarks.

It stands in for a simulated HRTEM image until the multislice pipeline exists: Gaussian atomic
columns of a projected fcc particle (Pt [110]-like cell) sitting on a denser support lattice, with
vacuum above, all in expected electrons per pixel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter

#: Projected Pt [110] cell (angstrom): columns at (0, 0) and (a/2, b/2) of an a x b rectangle.
PARTICLE_CELL_A = (3.92, 2.77)
#: Projected support cell (angstrom), a CeO2-like spacing.
SUPPORT_CELL_A = (3.83, 3.12)


@dataclass(frozen=True)
class SyntheticFrame:
    """A synthetic noise-free frame and the truth behind it.

    Attributes
    ----------
    expectation : numpy.ndarray
        Expected counts per pixel, shape ``(y, x)``.
    pixel_size : float
        Angstrom per pixel.
    columns : numpy.ndarray
        True column positions, shape ``(n, 2)``, ``(y, x)`` in angstrom.
    on_particle : numpy.ndarray
        Boolean per column: True for particle columns, False for support columns.
    vacuum_mask : numpy.ndarray
        Boolean image, True where there is only vacuum.
    vacuum_level : float
        Expected counts per pixel in vacuum.
    column_amplitude : numpy.ndarray
        Peak height of each column above the background, e-/px.
    column_sigma : float
        Gaussian width of every column image, angstrom.
    """

    expectation: np.ndarray
    pixel_size: float
    columns: np.ndarray
    on_particle: np.ndarray
    vacuum_mask: np.ndarray
    vacuum_level: float
    column_amplitude: np.ndarray
    column_sigma: float


def _lattice(cell: tuple[float, float], extent: tuple[float, float], origin: tuple[float, float]):
    """Centred-rectangular lattice points ``(y, x)`` in angstrom covering ``extent``."""
    a, b = cell
    ny = int(np.ceil(extent[0] / b)) + 2
    nx = int(np.ceil(extent[1] / a)) + 2
    iy, ix = np.meshgrid(np.arange(-1, ny), np.arange(-1, nx), indexing="ij")
    corner = np.stack([iy * b, ix * a], axis=-1).reshape(-1, 2)
    centre = corner + np.array([b / 2, a / 2])
    return np.concatenate([corner, centre]) + np.asarray(origin)


def render_columns(
    columns: np.ndarray,
    amplitude: np.ndarray,
    shape: tuple[int, int],
    pixel_size: float,
    sigma_a: float,
) -> np.ndarray:
    """Sum of isotropic Gaussians at ``columns`` evaluated on the pixel grid.

    Parameters
    ----------
    columns : numpy.ndarray
        ``(n, 2)`` centres, ``(y, x)`` angstrom.
    amplitude : numpy.ndarray
        ``(n,)`` peak heights, e-/px.
    shape : tuple of int
        Image shape, px.
    pixel_size : float
        Angstrom per pixel.
    sigma_a : float
        Gaussian width, angstrom.

    Returns
    -------
    numpy.ndarray
        ``shape`` float64 image, e-/px.
    """
    image = np.zeros(shape, dtype=np.float64)
    sigma_px = sigma_a / pixel_size
    half = int(np.ceil(4 * sigma_px))
    for (cy, cx), amp in zip(columns / pixel_size, amplitude, strict=True):
        y0, x0 = round(float(cy)), round(float(cx))
        ys = slice(max(y0 - half, 0), min(y0 + half + 1, shape[0]))
        xs = slice(max(x0 - half, 0), min(x0 + half + 1, shape[1]))
        if ys.start >= ys.stop or xs.start >= xs.stop:
            continue
        yy, xx = np.mgrid[ys, xs]
        image[ys, xs] += amp * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma_px**2))
    return image


def synthetic_lattice(
    shape: tuple[int, int] = (512, 512),
    *,
    pixel_size: float = 0.061,
    vacuum_level: float = 0.45,
    column_peak: float = 0.45,
    column_sigma: float = 0.45,
    particle_radius: float | None = None,
    seed: int = 0,
) -> SyntheticFrame:
    """Build a synthetic white-contrast frame of a particle on a support.

    Parameters
    ----------
    shape : tuple of int
        Frame shape ``(y, x)`` in pixels.
    pixel_size : float
        Angstrom per pixel (default 0.061, the reference detector).
    vacuum_level : float
        Expected counts per pixel in vacuum (e-/px).
    column_peak : float
        Height of a particle column above the local background (e-/px); support columns get 80 %.
    column_sigma : float
        Gaussian width of a column image, in angstrom.
    particle_radius : float, optional
        Radius of the half-disc particle in angstrom; default: 30 % of the frame width.
    seed : int
        Seed of the small random intensity jitter between columns.

    Returns
    -------
    SyntheticFrame
        The clean expectation and its truth.
    """
    if pixel_size <= 0:
        raise ValueError("pixel_size must be positive (angstrom per pixel)")
    rng = np.random.default_rng(seed)
    height, width = shape[0] * pixel_size, shape[1] * pixel_size
    support_top = 0.72 * height
    radius = 0.3 * width if particle_radius is None else particle_radius
    centre = np.array([support_top, 0.5 * width])

    support = _lattice(SUPPORT_CELL_A, (height - support_top, width), (support_top + 1.0, 0.0))
    particle = _lattice(PARTICLE_CELL_A, (radius + 2, 2 * radius + 4), centre - [radius, radius])
    in_disc = np.linalg.norm(particle - centre, axis=1) <= radius
    particle = particle[in_disc & (particle[:, 0] < support_top - 0.5)]
    support = support[
        (support[:, 0] >= support_top + 0.8)
        & (support[:, 0] < height + 2)
        & (support[:, 1] > -2)
        & (support[:, 1] < width + 2)
    ]

    columns = np.concatenate([particle, support])
    on_particle = np.r_[np.ones(len(particle), bool), np.zeros(len(support), bool)]
    amplitude = column_peak * np.where(on_particle, 1.0, 0.8) * rng.uniform(0.9, 1.1, len(columns))

    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]] * pixel_size
    inside = (np.hypot(yy - centre[0], xx - centre[1]) <= radius + 1.0) & (yy < support_top)
    matter = inside | (yy >= support_top)
    # Matter lowers the smooth background a little (white contrast: columns bright, gaps darker).
    background = vacuum_level * (
        1.0 - 0.2 * gaussian_filter(matter.astype(float), 1.0 / pixel_size)
    )
    image = background + render_columns(columns, amplitude, shape, pixel_size, column_sigma)
    vacuum = ~matter & (gaussian_filter(matter.astype(float), 1.0 / pixel_size) < 1e-3)
    keep = (
        (columns[:, 0] >= 0)
        & (columns[:, 0] < height)
        & (columns[:, 1] >= 0)
        & (columns[:, 1] < width)
    )
    return SyntheticFrame(
        expectation=image.astype(np.float32),
        pixel_size=pixel_size,
        columns=columns[keep],
        on_particle=on_particle[keep],
        vacuum_mask=vacuum,
        vacuum_level=vacuum_level,
        column_amplitude=amplitude[keep],
        column_sigma=column_sigma,
    )
