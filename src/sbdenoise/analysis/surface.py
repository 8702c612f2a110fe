"""Surface columns of a particle: the vacuum-facing boundary of an alpha shape of its columns.

The alpha shape keeps the Delaunay triangles of the column positions whose circumradius is at most
``alpha`` (angstrom). Its boundary edges follow the outline of the columns; an edge is a surface
edge when the space just outside it is vacuum: outside the shape, not a small enclosed hole
(a vacancy in the bulk) and, where the frame is known, not beyond the edge of the field of view.
The columns on surface edges are the surface columns; the others are bulk.

With ``alpha`` between the circumradius of the lattice's own triangles and that of the triangles
bridging a missing column, a spurious column outside the surface hides the surface column behind
it and a missing surface column exposes the one beneath it, as in the papers' surface metrics.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi
from scipy.spatial import Delaunay, QhullError

from sbdenoise.analysis.columns import check_positions
from sbdenoise.errors import InputError

#: Default alpha (largest circumradius of a kept Delaunay triangle), in angstrom. It suits
#: fcc metals in [110] (lattice triangles up to 2.1 A) and square lattices of 2.5 to 3.5 A.
DEFAULT_ALPHA_A = 2.5
#: Distance from a boundary edge at which the outside is probed for vacuum, in angstrom.
DEFAULT_PROBE_A = 0.75
#: Holes in the shape smaller than this (angstrom squared) are vacancies, not vacuum.
DEFAULT_MIN_VACUUM_AREA_A2 = 30.0
#: Edges probing closer than this to the frame edge face the field of view's end, not vacuum (A).
DEFAULT_FRAME_MARGIN_A = 2.0
#: Spacing of the grid on which the shape's outside is rasterised, in angstrom.
RASTER_STEP_A = 0.2


@dataclass(frozen=True)
class AlphaShape:
    """An alpha shape of column positions and its surface.

    Attributes
    ----------
    positions : numpy.ndarray
        Column positions, ``(n, 2)``, ``(y, x)`` in angstrom.
    alpha : float
        Largest circumradius of a kept triangle, in angstrom.
    triangles : numpy.ndarray
        Kept Delaunay triangles, ``(t, 3)`` indices into ``positions``.
    boundary_edges : numpy.ndarray
        Edges of exactly one kept triangle, ``(e, 2)`` indices.
    normals : numpy.ndarray
        Unit outward normal of each boundary edge, ``(e, 2)``, ``(y, x)``.
    vacuum_edges : numpy.ndarray
        Boolean per boundary edge: True where it faces vacuum.
    surface : numpy.ndarray
        Boolean per column: True for surface columns (on a vacuum-facing edge, or isolated: in no
        kept triangle, and inside the frame margin).
    """

    positions: np.ndarray
    alpha: float
    triangles: np.ndarray
    boundary_edges: np.ndarray
    normals: np.ndarray
    vacuum_edges: np.ndarray
    surface: np.ndarray

    @property
    def bulk(self) -> np.ndarray:
        """Boolean per column: True for bulk (non-surface) columns."""
        return ~self.surface


def circumradii(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Circumradius of each triangle (``abc / 4 area``), in the units of ``points``.

    Degenerate (flat) triangles get an infinite radius.
    """
    a, b, c = (points[triangles[:, k]] for k in range(3))
    ab = np.linalg.norm(b - a, axis=1)
    bc = np.linalg.norm(c - b, axis=1)
    ca = np.linalg.norm(a - c, axis=1)
    cross = (b - a)[:, 0] * (c - a)[:, 1] - (b - a)[:, 1] * (c - a)[:, 0]
    area = 0.5 * np.abs(cross)
    with np.errstate(divide="ignore", invalid="ignore"):
        radius = ab * bc * ca / (4.0 * area)
    return np.where(area > 1e-12, radius, np.inf)


def _boundary(points: np.ndarray, triangles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edges used by exactly one triangle and their outward unit normals."""
    if len(triangles) == 0:
        return np.zeros((0, 2), dtype=np.intp), np.zeros((0, 2))
    edges = np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]])
    opposite = np.concatenate([triangles[:, 2], triangles[:, 0], triangles[:, 1]])
    key = np.sort(edges, axis=1)
    _, first, counts = np.unique(key, axis=0, return_index=True, return_counts=True)
    single = first[counts == 1]
    edges, opposite = edges[single], opposite[single]
    a, b, c = points[edges[:, 0]], points[edges[:, 1]], points[opposite]
    direction = b - a
    normal = np.stack([-direction[:, 1], direction[:, 0]], axis=1)
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    inward = np.sum((c - 0.5 * (a + b)) * normal, axis=1) > 0
    normal[inward] *= -1
    return edges.astype(np.intp), normal


def alpha_shape(
    positions: np.ndarray,
    alpha: float = DEFAULT_ALPHA_A,
    *,
    shape: tuple[int, int] | None = None,
    pixel_size: float | None = None,
    vacuum_mask: np.ndarray | None = None,
    probe: float = DEFAULT_PROBE_A,
    min_vacuum_area: float = DEFAULT_MIN_VACUUM_AREA_A2,
    frame_margin: float = DEFAULT_FRAME_MARGIN_A,
) -> AlphaShape:
    """Alpha shape of column positions and its vacuum-facing surface columns.

    Parameters
    ----------
    positions : numpy.ndarray
        Column positions, ``(n, 2)``, ``(y, x)`` in angstrom.
    alpha : float
        Largest circumradius of a kept Delaunay triangle, in angstrom.
    shape : tuple of int, optional
        Frame shape in pixels (needs ``pixel_size``). Edges facing the frame edge (within
        ``frame_margin``) are then not surface: what lies beyond the field of view is unknown.
    pixel_size : float, optional
        Angstrom per pixel of ``shape`` and ``vacuum_mask``.
    vacuum_mask : numpy.ndarray, optional
        Boolean image, True on vacuum pixels. When given, an edge faces vacuum only where its
        probe point falls on a vacuum pixel (so an undetected support is not vacuum).
    probe : float
        Distance from an edge's midpoint, along its outward normal, at which the outside is
        tested, in angstrom.
    min_vacuum_area : float
        Enclosed holes of the shape smaller than this (angstrom squared) are not vacuum.
    frame_margin : float
        Probe points closer than this to the frame edge are not vacuum, in angstrom.

    Returns
    -------
    AlphaShape
    """
    points = check_positions(positions)
    if not alpha > 0:
        raise InputError(f"alpha must be a positive length in angstrom, got {alpha}")
    if (shape is not None or vacuum_mask is not None) and pixel_size is None:
        raise InputError("a frame shape or vacuum mask needs the pixel size (angstrom per pixel)")
    if vacuum_mask is not None:
        vacuum_mask = np.asarray(vacuum_mask, dtype=bool)
        shape = shape or vacuum_mask.shape
    n = len(points)
    tri = None
    if n >= 3:
        try:
            tri = Delaunay(points)
        except QhullError:  # all columns on one line: no triangle
            tri = None
    simplices = np.zeros((0, 3), dtype=np.intp) if tri is None else tri.simplices.astype(np.intp)
    kept = circumradii(points, simplices) <= alpha
    triangles = simplices[kept]
    edges, normals = _boundary(points, triangles)

    if shape is not None:
        extent = (np.asarray(shape[:2], dtype=np.float64) - 1) * float(pixel_size)
        lo, hi = np.zeros(2), extent
    elif n:
        pad = 2 * alpha + probe + 1.0
        lo, hi = points.min(axis=0) - pad, points.max(axis=0) + pad
    else:
        lo, hi = np.zeros(2), np.ones(2)
    outside = _outside_raster(points, triangles, alpha, lo, hi, min_vacuum_area)

    def in_vacuum(where: np.ndarray) -> np.ndarray:
        idx = np.rint((where - lo) / RASTER_STEP_A).astype(np.intp)
        within = np.all((idx >= 0) & (idx < np.array(outside.shape)), axis=1)
        idx = np.clip(idx, 0, np.array(outside.shape) - 1)
        ok = np.where(within, outside[idx[:, 0], idx[:, 1]], True)
        if shape is not None:
            ok &= np.all((where >= lo + frame_margin) & (where <= hi - frame_margin), axis=1)
        if vacuum_mask is not None:
            pix = np.rint(where / float(pixel_size)).astype(np.intp)
            pix_in = np.all((pix >= 0) & (pix < np.array(vacuum_mask.shape)), axis=1)
            pix = np.clip(pix, 0, np.array(vacuum_mask.shape) - 1)
            ok &= pix_in & vacuum_mask[pix[:, 0], pix[:, 1]]
        return ok

    mid = 0.5 * (points[edges[:, 0]] + points[edges[:, 1]]) if len(edges) else np.zeros((0, 2))
    vacuum_edges = in_vacuum(mid + probe * normals) if len(edges) else np.zeros(0, dtype=bool)
    surface = np.zeros(n, dtype=bool)
    surface[edges[vacuum_edges].ravel()] = True
    isolated = np.ones(n, dtype=bool)
    isolated[triangles.ravel()] = False
    if shape is not None and n:
        isolated &= np.all((points >= lo + frame_margin) & (points <= hi - frame_margin), axis=1)
    surface |= isolated
    return AlphaShape(points, float(alpha), triangles, edges, normals, vacuum_edges, surface)


def _fill_triangles(
    corners: np.ndarray, lo: np.ndarray, size: np.ndarray, reach: float
) -> np.ndarray:
    """Raster (step :data:`RASTER_STEP_A`, origin ``lo``) of the union of triangles.

    Vectorised scan conversion: each triangle fits in a square of side ``2 reach`` (its
    circumcircle's), so a fixed grid of offsets from its lower corner covers it; barycentric
    signs keep the grid points inside. Triangles are processed in chunks to bound memory.

    Parameters
    ----------
    corners : numpy.ndarray
        Triangle corners, ``(t, 3, 2)`` in angstrom.
    lo : numpy.ndarray
        Position of raster point ``(0, 0)``, angstrom.
    size : numpy.ndarray
        Raster shape.
    reach : float
        Largest circumradius of the triangles, angstrom.
    """
    inside = np.zeros(tuple(size), dtype=bool)
    m = int(np.ceil(2 * reach / RASTER_STEP_A)) + 2
    dy, dx = np.mgrid[0:m, 0:m]
    offsets = np.stack([dy.ravel(), dx.ravel()], axis=1)
    base = np.floor((corners.min(axis=1) - lo) / RASTER_STEP_A).astype(np.intp)
    a, b, c = corners[:, 0], corners[:, 1], corners[:, 2]

    def edge(p: np.ndarray, q: np.ndarray, r: np.ndarray) -> np.ndarray:
        return (q[..., 0] - p[..., 0]) * (r[..., 1] - p[..., 1]) - (q[..., 1] - p[..., 1]) * (
            r[..., 0] - p[..., 0]
        )

    chunk = max(1, 2_000_000 // len(offsets))
    for start in range(0, len(corners), chunk):
        sl = slice(start, start + chunk)
        idx = base[sl, None, :] + offsets[None, :, :]
        pts = lo + RASTER_STEP_A * idx
        pa, pb, pc = a[sl, None], b[sl, None], c[sl, None]
        area = edge(pa, pb, pc)
        eps = 1e-9 * np.abs(area)
        w0, w1, w2 = edge(pb, pc, pts) * area, edge(pc, pa, pts) * area, edge(pa, pb, pts) * area
        hit = (w0 >= -eps) & (w1 >= -eps) & (w2 >= -eps)
        hit &= np.all((idx >= 0) & (idx < size), axis=2)
        inside[idx[..., 0][hit], idx[..., 1][hit]] = True
    return inside


def _outside_raster(
    points: np.ndarray,
    triangles: np.ndarray,
    alpha: float,
    lo: np.ndarray,
    hi: np.ndarray,
    min_area: float,
) -> np.ndarray:
    """Raster (step :data:`RASTER_STEP_A`) of the region outside the shape, small holes filled."""
    size = np.maximum(np.ceil((hi - lo) / RASTER_STEP_A).astype(int) + 1, 1)
    if len(triangles):
        inside = _fill_triangles(points[triangles], lo, size, alpha)
    else:
        inside = np.zeros(tuple(size), dtype=bool)
    outside = ~inside
    labels, count = ndi.label(outside)
    if count:
        area = np.bincount(labels.ravel(), minlength=count + 1) * RASTER_STEP_A**2
        edge_labels = np.unique(
            np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
        )
        small = area < min_area
        small[edge_labels] = False
        small[0] = False
        outside &= ~small[labels]
    return outside


def surface_columns(
    positions: np.ndarray,
    *,
    alpha: float = DEFAULT_ALPHA_A,
    shape: tuple[int, int] | None = None,
    pixel_size: float | None = None,
    vacuum_mask: np.ndarray | None = None,
) -> np.ndarray:
    """Boolean per column: True for the vacuum-facing surface columns (see :func:`alpha_shape`).

    Parameters
    ----------
    positions : numpy.ndarray
        Column positions, ``(n, 2)``, ``(y, x)`` in angstrom.
    alpha : float
        Alpha in angstrom.
    shape : tuple of int, optional
        Frame shape in pixels (with ``pixel_size``), to leave out the frame edges.
    pixel_size : float, optional
        Angstrom per pixel.
    vacuum_mask : numpy.ndarray, optional
        Boolean image of vacuum pixels.

    Returns
    -------
    numpy.ndarray
        Boolean array of length ``n``.
    """
    return alpha_shape(
        positions, alpha, shape=shape, pixel_size=pixel_size, vacuum_mask=vacuum_mask
    ).surface
