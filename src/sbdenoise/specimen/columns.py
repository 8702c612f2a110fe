"""True projected atomic columns of a model: positions, element, occupancy, surface flag."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

#: Atoms closer than this in projection (angstrom) belong to the same column.
COLUMN_TOLERANCE = 0.3


def column_table(
    x: Sequence[float],
    y: Sequence[float],
    element: Sequence[str],
    n_atoms: Sequence[int],
    on_surface: Sequence[bool],
) -> np.ndarray:
    """Build the structured column array (x, y in angstrom)."""
    table = np.zeros(
        len(x),
        dtype=[("x", "f4"), ("y", "f4"), ("element", "U2"), ("n_atoms", "i2"), ("on_surface", "?")],
    )
    table["x"], table["y"], table["element"] = x, y, element
    table["n_atoms"], table["on_surface"] = n_atoms, on_surface
    return table


def group_columns(atoms: Atoms, tolerance: float = COLUMN_TOLERANCE) -> np.ndarray:
    """Label each atom with the index of its column (atoms aligned along the beam, z).

    Parameters
    ----------
    atoms : ase.Atoms
        Model in the zone-axis frame (beam along z).
    tolerance : float
        Largest projected distance (angstrom) between atoms of one column.

    Returns
    -------
    numpy.ndarray
        Column label per atom, ``0 .. n_columns - 1``.
    """
    xy = atoms.positions[:, :2]
    pairs = cKDTree(xy).query_pairs(tolerance, output_type="ndarray")
    n = len(atoms)
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def projected_columns(
    atoms: Atoms,
    tilt_mrad: tuple[float, float] = (0.0, 0.0),
    exit_z: float | None = None,
    tolerance: float = COLUMN_TOLERANCE,
) -> np.ndarray:
    """Column truth table of a model.

    A column's position is the mean over its atoms of their projection onto the exit plane along
    the (possibly tilted) beam: ``x + (exit_z - z) tan(tilt_x)``, likewise for y. This is where
    abTEM's tilted multislice images it (the tilt shifts the wave by ``dz tan(tilt)`` per slice).

    Parameters
    ----------
    atoms : ase.Atoms
        Model in the zone-axis frame.
    tilt_mrad : tuple of float
        Beam tilt along x and y, in mrad (abTEM convention).
    exit_z : float, optional
        z of the exit plane in angstrom (default: the cell height).
    tolerance : float
        Column grouping tolerance in angstrom.

    Returns
    -------
    numpy.ndarray
        Structured array (x, y in angstrom, element, n_atoms, on_surface); on_surface is
        filled by :func:`mark_surface`.
    """
    labels = group_columns(atoms, tolerance)
    n = labels.max() + 1 if len(labels) else 0
    exit_z = atoms.cell[2, 2] if exit_z is None else exit_z
    depth = exit_z - atoms.positions[:, 2]
    x = atoms.positions[:, 0] + depth * np.tan(tilt_mrad[0] * 1e-3)
    y = atoms.positions[:, 1] + depth * np.tan(tilt_mrad[1] * 1e-3)
    count = np.bincount(labels, minlength=n)
    mean_x = np.bincount(labels, x, minlength=n) / count
    mean_y = np.bincount(labels, y, minlength=n) / count
    numbers = atoms.numbers
    # Majority element: the most frequent atomic number in each column.
    elements = []
    symbols = np.array(atoms.get_chemical_symbols())
    for label in range(n):
        members = numbers[labels == label]
        values, counts = np.unique(members, return_counts=True)
        elements.append(symbols[labels == label][members == values[np.argmax(counts)]][0])
    return column_table(mean_x, mean_y, elements, count, np.zeros(n, dtype=bool))


def mark_surface(
    table: np.ndarray,
    neighbour_distance: float,
    elements: tuple[str, ...] = ("Pt",),
    n_directions: int = 12,
) -> np.ndarray:
    """Flag the vacuum-facing columns of the given elements.

    A column faces the vacuum when, at one of ``n_directions`` points around it at the
    projected nearest-neighbour distance, there is no column of any element within
    ``0.8 * neighbour_distance``. Interface columns touching the support are therefore not
    surface columns, while those at the perimeter (touching support and vacuum) are.

    Parameters
    ----------
    table : numpy.ndarray
        Column table from :func:`projected_columns` (modified copy returned).
    neighbour_distance : float
        Projected nearest-neighbour distance of the particle lattice, in angstrom (2.4 A for Pt
        along [110]).
    elements : tuple of str
        Elements whose columns can be surface columns.
    n_directions : int
        Number of probe directions.

    Returns
    -------
    numpy.ndarray
        The table with ``on_surface`` set.
    """
    table = table.copy()
    xy = np.c_[table["x"], table["y"]]
    if len(xy) == 0:
        return table
    angles = np.linspace(0, 2 * np.pi, n_directions, endpoint=False)
    probes = xy[:, None, :] + neighbour_distance * np.stack([np.cos(angles), np.sin(angles)], -1)
    tree = cKDTree(xy)
    nearest, _ = tree.query(probes.reshape(-1, 2))
    empty = (nearest > 0.8 * neighbour_distance).reshape(len(xy), n_directions)
    table["on_surface"] = empty.any(axis=1) & np.isin(table["element"], elements)
    return table
