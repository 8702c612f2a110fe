"""Crystal structures and the [110] zone-axis orientation shared by particle and support.

Frame of every atomic model (angstrom): ``x`` along the image columns, ``y`` along the image rows
(pointing *down* in the image, so vacuum is at small ``y`` and the support at large ``y``), ``z``
along the beam (entrance surface at small ``z``). For both Pt and CeO2 the crystal is oriented
cube-on-cube with

- ``x`` parallel to [1 -1 -2],
- ``-y`` parallel to [1 -1 1] (the (111) surface normal points up, towards the vacuum),
- ``z`` parallel to [1 1 0] (the beam: zone axis [110]),

which gives the epitaxy Pt(111) || CeO2(111) with Pt[110] || CeO2[110].
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from ase import Atoms
from ase.lattice.cubic import SimpleCubicFactory

#: Lattice constants in angstrom (room temperature).
LATTICE_CONSTANT = {"Pt": 3.924, "CeO2": 5.411}

#: Crystal directions along x, y and z of the model frame (see module docstring).
ZONE_AXIS_DIRECTIONS = ((1, -1, -2), (-1, 1, -1), (1, 1, 0))


class _FluoriteFactory(SimpleCubicFactory):
    """Fluorite (C1, CaF2 type) on the conventional cubic cell: cations fcc, anions at 1/4."""

    bravais_basis: ClassVar = [
        [0.0, 0.0, 0.0],
        [0.0, 0.5, 0.5],
        [0.5, 0.0, 0.5],
        [0.5, 0.5, 0.0],
    ] + [[x, y, z] for x in (0.25, 0.75) for y in (0.25, 0.75) for z in (0.25, 0.75)]
    element_basis = (0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1)


class _FccFactory(SimpleCubicFactory):
    """fcc on the conventional cubic cell (four atoms), so any lattice direction can be used."""

    bravais_basis: ClassVar = [[0.0, 0.0, 0.0], [0.0, 0.5, 0.5], [0.5, 0.0, 0.5], [0.5, 0.5, 0.0]]
    element_basis = (0, 0, 0, 0)


Fluorite = _FluoriteFactory()
Fcc = _FccFactory()


def rotation_to_zone_axis() -> np.ndarray:
    """Rotation matrix taking cubic-crystal coordinates to the model frame.

    Returns
    -------
    numpy.ndarray
        ``(3, 3)`` orthonormal matrix ``R`` with ``r_model = R @ r_crystal``.
    """
    rows = np.array(ZONE_AXIS_DIRECTIONS, dtype=float)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def oriented_block(
    material: str, size: tuple[int, int, int], lattice_constant: float | None = None
) -> Atoms:
    """An orthogonal block of Pt or CeO2 in the zone-axis orientation.

    Parameters
    ----------
    material : {"Pt", "CeO2"}
        Which crystal.
    size : tuple of int
        Repeats of the orthogonal cell along x, y, z (periods a*sqrt(6), a*sqrt(3), a*sqrt(2)).
    lattice_constant : float, optional
        Cubic lattice constant in angstrom (default :data:`LATTICE_CONSTANT`).

    Returns
    -------
    ase.Atoms
        Atoms with an orthogonal cell aligned with x, y, z.
    """
    a = LATTICE_CONSTANT[material] if lattice_constant is None else lattice_constant
    directions = [list(d) for d in ZONE_AXIS_DIRECTIONS]
    if material == "CeO2":
        return Fluorite(
            directions=directions, size=size, symbol=("Ce", "O"), latticeconstant=a, pbc=True
        )
    if material == "Pt":
        return Fcc(directions=directions, size=size, symbol=("Pt",), latticeconstant=a, pbc=True)
    raise ValueError(f"unknown material {material!r}; use 'Pt' or 'CeO2'")


def projected_neighbour_vectors(lattice_constant: float = LATTICE_CONSTANT["Pt"]) -> np.ndarray:
    """In-plane vectors (x, y) in angstrom from an fcc column to its projected neighbours.

    For the [110] projection these are four vectors of length a*sqrt(3/8) (2.40 A for Pt) and
    two of a/sqrt(2) (2.77 A).
    """
    half = lattice_constant / 2.0
    vectors = []
    for i in (-1, 0, 1):
        for j in (-1, 0, 1):
            for k in (-1, 0, 1):
                if (i + j + k) % 2 == 0 and (i, j, k) != (0, 0, 0):
                    vectors.append(np.array([i, j, k]) * half)
    xy = (np.array(vectors) @ rotation_to_zone_axis().T)[:, :2]
    length = np.linalg.norm(xy, axis=1)
    keep = (length > 0.5) & (length < 0.75 * lattice_constant)
    return np.unique(np.round(xy[keep], 6), axis=0)
