"""Pt nanoparticles: Wulff shapes in the [110] zone axis, truncated at a (111) interface."""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.cluster import wulff_construction

from sbdenoise.specimen.crystals import LATTICE_CONSTANT, rotation_to_zone_axis

#: Relative surface energies of Pt facets (111) < (100) < (110), used for the Wulff shape.
PT_SURFACE_ENERGIES = {(1, 1, 1): 1.00, (1, 0, 0): 1.16, (1, 1, 0): 1.26}


def atoms_for_diameter(diameter: float, lattice_constant: float = LATTICE_CONSTANT["Pt"]) -> int:
    """Number of fcc atoms in a sphere of the given diameter (angstrom)."""
    volume = np.pi / 6.0 * diameter**3
    return max(4, round(4.0 * volume / lattice_constant**3))


def pt_particle(
    diameter: float,
    truncation: float = 0.25,
    lattice_constant: float = LATTICE_CONSTANT["Pt"],
) -> Atoms:
    """A Wulff-shaped Pt particle in the zone-axis frame, flattened at its (111) interface.

    Parameters
    ----------
    diameter : float
        Equivalent-sphere diameter in angstrom (10, 20, 30 A give about 35, 280, 940 atoms).
    truncation : float
        Fraction of the (111) layers removed at the bottom (the interface facet); 0 keeps the
        free Wulff shape.
    lattice_constant : float
        Pt lattice constant in angstrom.

    Returns
    -------
    ase.Atoms
        Atoms centred on the origin in x and z, with the bottom (interface) layer at ``y = 0`` and
        the particle extending to negative ``y`` (towards the vacuum).
    """
    if diameter <= 0:
        raise ValueError(f"particle diameter must be positive, got {diameter} A")
    cluster = wulff_construction(
        "Pt",
        list(PT_SURFACE_ENERGIES),
        list(PT_SURFACE_ENERGIES.values()),
        atoms_for_diameter(diameter, lattice_constant),
        "fcc",
        rounding="closest",
        latticeconstant=lattice_constant,
    )
    crystal = (
        cluster.positions
        - cluster.positions[
            np.argmin(np.linalg.norm(cluster.positions - cluster.positions.mean(axis=0), axis=1))
        ]
    )
    positions = crystal @ rotation_to_zone_axis().T
    layers = np.unique(np.round(positions[:, 1], 2))
    n_remove = round(truncation * len(layers))
    if n_remove:
        positions = positions[np.round(positions[:, 1], 2) <= layers[-1 - n_remove]]
    positions[:, 1] -= positions[:, 1].max()
    positions[:, 0] -= 0.5 * (positions[:, 0].max() + positions[:, 0].min())
    positions[:, 2] -= 0.5 * (positions[:, 2].max() + positions[:, 2].min())
    return Atoms("Pt" * len(positions), positions=positions)
