"""The CeO2 support: an O-terminated (111) slab seen along [110], optionally with a step edge."""

from __future__ import annotations

import numpy as np
from ase import Atoms

from sbdenoise.specimen.crystals import LATTICE_CONSTANT, oriented_block


def d111(lattice_constant: float = LATTICE_CONSTANT["CeO2"]) -> float:
    """Spacing of (111) Ce planes, in angstrom (3.124 A for CeO2)."""
    return lattice_constant / np.sqrt(3.0)


def ceo2_support(
    width: float,
    thickness: float,
    depth: float,
    top: float,
    step_at: float | None = None,
    lattice_constant: float = LATTICE_CONSTANT["CeO2"],
) -> Atoms:
    """Build an O-terminated CeO2(111) slab in the zone-axis frame.

    Parameters
    ----------
    width : float
        Extent along x in angstrom; rounded to whole periods (a*sqrt(6)/2 = 6.63 A) so the slab
        is periodic in the simulation cell.
    thickness : float
        Extent along the beam (z) in angstrom, rounded to whole periods (a/sqrt(2) = 3.83 A).
    depth : float
        Extent along y (into the support) in angstrom, rounded to whole O-Ce-O trilayers.
    top : float
        y coordinate (angstrom) of the topmost (vacuum-facing) O plane.
    step_at : float, optional
        If given, the top trilayer is removed for x >= step_at: a monatomic step edge
        (height d(111) = 3.12 A).
    lattice_constant : float
        Cubic lattice constant of CeO2 in angstrom.

    Returns
    -------
    ase.Atoms
        The slab with cell ``(width, ..., thickness)``; the y cell length is set by the caller.
    """
    a = lattice_constant
    period_x, period_z, spacing = a * np.sqrt(6) / 2, a / np.sqrt(2), d111(a)
    n_x = max(1, round(width / period_x))
    n_z = max(1, round(thickness / period_z))
    n_layers = max(1, round(depth / spacing))
    reps = (int(np.ceil(n_x / 2)) + 1, int(np.ceil((n_layers + 2) / 3)) + 1, n_z // 2 + 2)
    block = oriented_block("CeO2", reps, a)
    pos = block.positions
    # Ce layer heights; the top trilayer is centred on the first Ce plane below 'top'.
    ce_y = np.unique(np.round(pos[block.numbers == 58, 1], 3))
    first = ce_y[1]
    keep_y = (pos[:, 1] >= first - 0.25 * spacing - 1e-3) & (
        pos[:, 1] <= first + (n_layers - 1) * spacing + 0.25 * spacing + 1e-3
    )
    x_len, z_len = n_x * period_x, n_z * period_z
    slab = wrap_unique(block[keep_y], (x_len, z_len))
    slab.positions[:, 1] += top - (first - 0.25 * spacing)
    if step_at is not None:
        in_top = slab.positions[:, 1] <= top + 0.75 * spacing
        slab = slab[~(in_top & (slab.positions[:, 0] >= step_at))]
    slab.set_cell([x_len, 1.0, z_len])
    slab.pbc = True
    return slab


def wrap_unique(atoms: Atoms, periods: tuple[float, float]) -> Atoms:
    """Wrap atoms into ``[0, period)`` along x and z and drop the periodic duplicates.

    Parameters
    ----------
    atoms : ase.Atoms
        A block larger than the periods, periodic with them along x and z.
    periods : tuple of float
        Periods along x and z in angstrom.

    Returns
    -------
    ase.Atoms
        One copy of every atom inside the periodic cell.
    """
    pos = atoms.positions.copy()
    pos[:, 0] = np.mod(pos[:, 0], periods[0])
    pos[:, 2] = np.mod(pos[:, 2], periods[1])
    key = np.round(pos / 1e-2).astype(np.int64)
    for axis, period in ((0, periods[0]), (2, periods[1])):
        wrapped = key[:, axis] == round(period / 1e-2)
        key[wrapped, axis] = 0
        pos[wrapped, axis] = 0.0
    _, first = np.unique(np.c_[key, atoms.numbers], axis=0, return_index=True)
    out = atoms[np.sort(first)]
    out.positions = pos[np.sort(first)]
    return out
