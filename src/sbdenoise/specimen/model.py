"""Assemble a specimen: Pt particle on CeO2(111), its variants, and the column truth."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import ase.io
import numpy as np
from ase import Atoms

from sbdenoise.errors import FileFormatError, InputError
from sbdenoise.specimen.columns import mark_surface, projected_columns
from sbdenoise.specimen.crystals import LATTICE_CONSTANT, projected_neighbour_vectors
from sbdenoise.specimen.defects import apply_defect, remove_interface_columns
from sbdenoise.specimen.particle import pt_particle
from sbdenoise.specimen.support import ceo2_support

#: Gap between the Pt interface layer and the topmost O plane of the support, angstrom.
INTERFACE_GAP = 2.3
#: Vacuum kept below the support (the cell is periodic in y), angstrom.
BOTTOM_MARGIN = 4.0
#: Slab of empty space above and below the specimen along the beam, angstrom.
Z_MARGIN = 1.0


@dataclass(frozen=True)
class StructureParams:
    """One atomic model of the grid.

    Attributes
    ----------
    structure_id : int
        Index of the structure in its dataset.
    particle_diameter_nm : float
        Equivalent-sphere diameter of the Pt particle, nm.
    interface_column : bool
        Keep the perimeter columns of the interface layer.
    defect : str
        Surface defect (see :data:`sbdenoise.specimen.defects.DEFECTS`).
    support_thickness_nm : float
        Support thickness along the beam, nm.
    step_edge : bool
        A monatomic step on the support surface beside the particle.
    tilt_deg : tuple of float
        Specimen tilt about x and about y, degrees.
    seed : int
        Seed of the random choices (which column gets the defect).
    """

    structure_id: int
    particle_diameter_nm: float
    interface_column: bool
    defect: str
    support_thickness_nm: float
    step_edge: bool
    tilt_deg: tuple[float, float]
    seed: int

    def as_params(self) -> dict[str, object]:
        """Flat parameters for the dataset store."""
        values = asdict(self)
        values["tilt_x_deg"], values["tilt_y_deg"] = values.pop("tilt_deg")
        values.pop("seed")
        return values


@dataclass
class Specimen:
    """An atomic model ready for multislice, with its truth.

    Attributes
    ----------
    atoms : ase.Atoms
        Model in the zone-axis frame (beam along z), orthogonal cell.
    columns : numpy.ndarray
        True projected columns (see :func:`sbdenoise.specimen.columns.column_table`).
    tilt_mrad : tuple of float
        Beam tilt along x and y for abTEM, mrad.
    """

    atoms: Atoms
    columns: np.ndarray
    tilt_mrad: tuple[float, float]


def tilt_to_beam_mrad(tilt_deg: tuple[float, float]) -> tuple[float, float]:
    """Specimen tilt (about x, about y) in degrees to abTEM beam tilt (along x, along y) in mrad.

    A tilt about y moves the projection along x, a tilt about x moves it along y.
    """
    about_x, about_y = tilt_deg
    return (float(np.deg2rad(about_y) * 1e3), float(np.deg2rad(about_x) * 1e3))


def build_pt_ceo2(params: StructureParams, cell_nm: float = 5.3, support_depth_nm: float = 1.5):
    """Build the Pt/CeO2(111) specimen for one point of the grid.

    Parameters
    ----------
    params : StructureParams
        The structure to build.
    cell_nm : float
        Lateral cell size in nm (rounded to whole support periods along x; y is the same).
    support_depth_nm : float
        Support extent below its surface, nm.

    Returns
    -------
    Specimen
    """
    rng = np.random.default_rng(params.seed)
    thickness = 10.0 * params.support_thickness_nm
    particle = pt_particle(10.0 * params.particle_diameter_nm)
    if not params.interface_column:
        particle = remove_interface_columns(particle)
    particle = apply_defect(particle, params.defect, rng)

    probe = ceo2_support(10.0 * cell_nm, thickness, 10.0 * support_depth_nm, top=0.0)
    width = probe.cell[0, 0]
    height = width
    top = height - 10.0 * support_depth_nm - BOTTOM_MARGIN
    step_at = None
    if params.step_edge:
        step_at = 0.5 * width + 0.5 * np.ptp(particle.positions[:, 0]) + 6.0
    support = ceo2_support(10.0 * cell_nm, thickness, 10.0 * support_depth_nm, top, step_at)

    depth = max(support.cell[2, 2], np.ptp(particle.positions[:, 2]) + 1.0)
    particle.positions[:, 0] += 0.5 * width
    particle.positions[:, 1] += top - INTERFACE_GAP
    particle.positions[:, 2] += 0.5 * support.cell[2, 2]
    atoms = support + particle
    atoms.positions[:, 2] += Z_MARGIN - min(0.0, particle.positions[:, 2].min())
    atoms.set_cell([width, height, depth + 2 * Z_MARGIN])
    atoms.pbc = True
    tilt = tilt_to_beam_mrad(params.tilt_deg)
    columns = column_truth(atoms, tilt)
    return Specimen(atoms, columns, tilt)


def column_truth(atoms: Atoms, tilt_mrad: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Projected column table with vacuum-facing Pt columns flagged as surface."""
    nn = float(np.min(np.linalg.norm(projected_neighbour_vectors(LATTICE_CONSTANT["Pt"]), axis=1)))
    untilted = mark_surface(projected_columns(atoms), nn)
    tilted = projected_columns(atoms, tilt_mrad)
    tilted["on_surface"] = untilted["on_surface"]
    return tilted


def load_structure(path: str | Path, tilt_deg: tuple[float, float] = (0.0, 0.0)) -> Specimen:
    """Use any structure file ASE reads (CIF, xyz with a cell, POSCAR...) as the specimen.

    The file must already be in the imaging orientation (beam along z) with an orthogonal cell.
    Surface flags are computed for every element from the projected nearest-neighbour distance.

    Parameters
    ----------
    path : str or Path
        Structure file.
    tilt_deg : tuple of float
        Specimen tilt about x and about y, degrees.

    Returns
    -------
    Specimen
    """
    path = Path(path)
    if not path.is_file():
        raise FileFormatError("structure file not found", path)
    try:
        atoms = ase.io.read(path)
    except Exception as error:  # ASE raises many types for unreadable files
        raise FileFormatError(f"ASE could not read this structure: {error}", path) from error
    cell = atoms.cell.array
    if atoms.cell.rank < 3 or not np.allclose(cell - np.diag(np.diag(cell)), 0, atol=1e-6):
        raise InputError("the structure needs an orthogonal cell with the beam along z", path)
    tilt = tilt_to_beam_mrad(tilt_deg)
    table = projected_columns(atoms, tilt)
    xy = np.c_[table["x"], table["y"]]
    if len(xy) > 1:
        from scipy.spatial import cKDTree

        nn = float(np.median(cKDTree(xy).query(xy, k=2)[0][:, 1]))
        flagged = mark_surface(table, nn, elements=tuple(np.unique(table["element"])))
        table["on_surface"] = flagged["on_surface"]
    return Specimen(atoms, table, tilt)
