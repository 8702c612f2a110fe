"""Surface columns from an alpha shape (alpha in angstrom), vacuum-facing boundary only."""

import numpy as np
import pytest

from sbdenoise.analysis.surface import alpha_shape, circumradii, surface_columns
from sbdenoise.errors import InputError

SPACING = 2.8  # angstrom: lattice triangles have circumradius 1.98 A, gaps of one column 2.8 A


def particle(jitter: float = 0.03, seed: int = 0) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """A square-lattice particle with 15 surface and 6 bulk columns (rows 0-2: 5, row 3: 6)."""
    cells = [(r, c) for r in range(3) for c in range(5)] + [(3, c) for c in range(6)]
    rng = np.random.default_rng(seed)
    positions = np.array(cells, dtype=float) * SPACING + 8.0
    return positions + rng.normal(0.0, jitter, positions.shape), cells


def test_particle_has_fifteen_surface_columns():
    positions, cells = particle()
    shape = alpha_shape(positions)
    assert shape.surface.sum() == 15
    bulk = {cells[i] for i in np.flatnonzero(shape.bulk)}
    assert bulk == {(r, c) for r in (1, 2) for c in (1, 2, 3)}
    assert np.all(circumradii(positions, shape.triangles) <= 2.5)
    # Outward normals point away from the particle's centre.
    mid = 0.5 * (positions[shape.boundary_edges[:, 0]] + positions[shape.boundary_edges[:, 1]])
    assert np.all(np.sum((mid - positions.mean(axis=0)) * shape.normals, axis=1) > 0)


def test_spurious_column_hides_the_surface_column_behind_it():
    positions, cells = particle()
    spurious = np.array([[4 * SPACING + 8.0, 2 * SPACING + 8.0]])  # above (3, 2)
    surface = surface_columns(np.vstack([positions, spurious]))
    assert surface.sum() == 15
    assert surface[-1]
    assert not surface[cells.index((3, 2))]


def test_missing_column_exposes_the_one_beneath():
    positions, cells = particle()
    gone = cells.index((3, 2))
    kept = [c for i, c in enumerate(cells) if i != gone]
    surface = surface_columns(np.delete(positions, gone, axis=0))
    assert surface.sum() == 15
    assert surface[kept.index((2, 2))]


def test_a_bulk_vacancy_is_not_vacuum():
    grid = np.array([(r, c) for r in range(7) for c in range(7) if (r, c) != (3, 3)], float)
    positions = grid * SPACING + 5.0 + np.random.default_rng(1).normal(0, 0.03, grid.shape)
    surface = surface_columns(positions)
    assert surface.sum() == 24  # the outer ring only
    # With a tiny area limit the hole counts as vacuum: the columns around it become surface.
    holed = alpha_shape(positions, min_vacuum_area=0.1).surface
    ring = np.hypot(*(grid - 3).T) < 1.5
    assert np.array_equal(holed & ~surface, ring & holed) and 4 <= (holed & ring).sum() <= 8


def test_frame_edges_are_not_surface_but_vacuum_is():
    pixel_size = 0.1
    shape = (200, 200)  # 19.9 A square
    grid = np.array([(r, c) for r in range(4, 8) for c in range(8)], float) * SPACING
    positions = grid + np.random.default_rng(2).normal(0, 0.03, grid.shape)
    # The lattice fills the lower part of the frame, cut by its left, right and bottom edges.
    surface = alpha_shape(positions, shape=shape, pixel_size=pixel_size).surface
    top = positions[:, 0] < 4 * SPACING + 0.5
    assert np.array_equal(surface, top & (positions[:, 1] > 1.5) & (positions[:, 1] < 18.0))
    # Without the frame every outline column is surface.
    assert surface_columns(positions).sum() == 2 * (4 + 8) - 4
    # A vacuum mask limited to the left half keeps only the left part of the top row.
    mask = np.zeros(shape, dtype=bool)
    mask[:, :100] = True
    left = alpha_shape(positions, shape=shape, pixel_size=pixel_size, vacuum_mask=mask).surface
    # Edges whose outside lies left of x = 10 A count: their end columns reach one spacing beyond.
    assert np.all(left <= surface) and 3 <= left.sum() < surface.sum()
    assert np.all(positions[left, 1] < 10.0 + SPACING)


def test_few_or_collinear_columns_are_all_surface():
    assert surface_columns(np.array([[0.0, 0.0], [0.0, 2.0]])).all()
    line = np.stack([np.zeros(5), np.arange(5) * 2.0], axis=1)
    assert surface_columns(line).all()
    assert surface_columns(np.zeros((0, 2))).shape == (0,)


def test_bad_input_is_refused():
    with pytest.raises(InputError, match="alpha"):
        alpha_shape(np.zeros((3, 2)), alpha=0.0)
    with pytest.raises(InputError, match="pixel size"):
        alpha_shape(np.zeros((3, 2)), shape=(10, 10))
