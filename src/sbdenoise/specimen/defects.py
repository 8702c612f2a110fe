"""Surface defects on a particle: the variants the trust analysis must tell apart."""

from __future__ import annotations

from typing import Literal

import numpy as np
from ase import Atoms

from sbdenoise.config import DEFECTS
from sbdenoise.specimen.columns import group_columns, mark_surface, projected_columns
from sbdenoise.specimen.crystals import projected_neighbour_vectors

Defect = Literal["none", "remove_one", "remove_two", "half_occupancy", "single_atom", "adatom"]
#: Projected nearest-neighbour distance of Pt columns along [110], angstrom.
PT_PROJECTED_NN = 2.40


def _surface_columns(particle: Atoms) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Column labels per atom, the column table, and the free-surface columns (not interface)."""
    labels = group_columns(particle)
    table = mark_surface(projected_columns(particle, exit_z=0.0), PT_PROJECTED_NN)
    bottom = table["y"] > table["y"].max() - 0.5  # interface layer (largest y)
    candidates = np.flatnonzero(table["on_surface"] & ~bottom)
    if candidates.size == 0:
        raise ValueError("the particle has no free surface column to modify")
    return labels, table, candidates


def remove_interface_columns(particle: Atoms) -> Atoms:
    """Remove the two perimeter columns of the interface layer (the 'no interface column' form)."""
    labels = group_columns(particle)
    table = projected_columns(particle, exit_z=0.0)
    bottom = np.flatnonzero(table["y"] > table["y"].max() - 0.5)
    ends = bottom[[np.argmin(table["x"][bottom]), np.argmax(table["x"][bottom])]]
    return particle[~np.isin(labels, ends)]


def apply_defect(particle: Atoms, defect: str, rng: np.random.Generator) -> Atoms:
    """Return a copy of ``particle`` with one surface defect.

    Parameters
    ----------
    particle : ase.Atoms
        Particle in the zone-axis frame, interface at the largest y.
    defect : str
        One of :data:`DEFECTS`: remove one surface column, remove two neighbouring ones, halve
        a column's occupancy, leave a single atom in a column, or add an adatom at a new site.
    rng : numpy.random.Generator
        Chooses the column.

    Returns
    -------
    ase.Atoms
    """
    if defect not in DEFECTS:
        raise ValueError(f"unknown defect {defect!r}; choose from {', '.join(DEFECTS)}")
    if defect == "none":
        return particle.copy()
    labels, table, candidates = _surface_columns(particle)
    chosen = int(rng.choice(candidates))
    members = np.flatnonzero(labels == chosen)
    members = members[np.argsort(particle.positions[members, 2])]
    if defect == "remove_one":
        drop = members
    elif defect == "remove_two":
        xy = np.c_[table["x"], table["y"]]
        distance = np.linalg.norm(xy[candidates] - xy[chosen], axis=1)
        distance[candidates == chosen] = np.inf
        second = int(candidates[np.argmin(distance)])
        drop = np.r_[members, np.flatnonzero(labels == second)]
    elif defect == "half_occupancy":
        drop = members[1::2]
    elif defect == "single_atom":
        drop = np.delete(members, len(members) // 2)
    else:  # adatom: one atom at an empty lattice site next to a surface column, towards vacuum
        # The drawn column first; where it has no free outward site (a column in a concave
        # corner), the next surface columns in index order.
        for column in [chosen, *(int(c) for c in candidates if c != chosen)]:
            options = _adatom_sites(table, column)
            if options.size:
                site = options[int(rng.choice(len(options)))]
                hosts = np.flatnonzero(labels == column)
                hosts = hosts[np.argsort(particle.positions[hosts, 2])]
                z = particle.positions[hosts[len(hosts) // 2], 2]
                out = particle.copy()
                out += Atoms("Pt", positions=[[site[0], site[1], z]])
                return out
        raise ValueError("no surface column of this particle has a free site for an adatom")
    return particle[~np.isin(np.arange(len(particle)), drop)]


def _adatom_sites(table: np.ndarray, column: int) -> np.ndarray:
    """Empty lattice sites (x, y) next to ``column``, outward from the particle, above its base."""
    xy = np.c_[table["x"], table["y"]]
    centre = xy.mean(axis=0)
    sites = xy[column] + projected_neighbour_vectors()
    empty = np.min(np.linalg.norm(sites[:, None] - xy[None], axis=2), axis=1) > 1.5
    outward = np.linalg.norm(sites - centre, axis=1) > np.linalg.norm(xy[column] - centre)
    above = sites[:, 1] < table["y"].max() - 0.5
    return sites[empty & outward & above]
