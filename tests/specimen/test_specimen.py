"""Atomic models: crystal geometry, epitaxy, defects, column truth, tilt, user structures."""

import numpy as np
import pytest
from ase import Atoms
from ase.neighborlist import neighbor_list

from sbdenoise.errors import FileFormatError, InputError
from sbdenoise.specimen.columns import projected_columns
from sbdenoise.specimen.crystals import projected_neighbour_vectors
from sbdenoise.specimen.defects import DEFECTS, apply_defect, remove_interface_columns
from sbdenoise.specimen.model import StructureParams, build_pt_ceo2, load_structure
from sbdenoise.specimen.particle import atoms_for_diameter, pt_particle
from sbdenoise.specimen.support import ceo2_support


def params(**changes):
    base = dict(
        structure_id=0,
        particle_diameter_nm=2.0,
        interface_column=True,
        defect="none",
        support_thickness_nm=3.0,
        step_edge=False,
        tilt_deg=(0.0, 0.0),
        seed=1,
    )
    return StructureParams(**{**base, **changes})


def test_ceo2_slab_is_stoichiometric_o_terminated_with_bulk_bonds():
    slab = ceo2_support(width=40.0, thickness=20.0, depth=12.0, top=10.0)
    symbols = np.array(slab.get_chemical_symbols())
    assert (symbols == "O").sum() == 2 * (symbols == "Ce").sum()
    top = slab.positions[:, 1].min()
    assert set(symbols[slab.positions[:, 1] < top + 0.1]) == {"O"}
    assert top == pytest.approx(10.0)
    slab.set_cell([slab.cell[0, 0], 100.0, slab.cell[2, 2]])
    i, _, d = neighbor_list("ijd", slab, 2.6)
    assert d.min() == pytest.approx(5.411 * np.sqrt(3) / 4, rel=1e-3)  # Ce-O bond 2.343 A
    ce_coordination = np.bincount(i, minlength=len(slab))[symbols == "Ce"]
    assert set(np.unique(ce_coordination)) == {7, 8}  # surface Ce 7-fold, bulk 8-fold


def test_ce_planes_are_111_planes_three_point_12_apart():
    slab = ceo2_support(width=30.0, thickness=10.0, depth=15.0, top=0.0)
    ce_y = np.unique(np.round(slab.positions[np.array(slab.get_chemical_symbols()) == "Ce", 1], 3))
    assert np.diff(ce_y) == pytest.approx(np.full(len(ce_y) - 1, 3.124), abs=1e-3)


@pytest.mark.parametrize("diameter, expected", [(10.0, 35), (20.0, 280), (30.0, 940)])
def test_particle_sizes(diameter, expected):
    assert atoms_for_diameter(diameter) == pytest.approx(expected, rel=0.05)
    particle = pt_particle(diameter, truncation=0.0)
    assert len(particle) == pytest.approx(expected, rel=0.35)
    assert np.ptp(particle.positions[:, 0]) == pytest.approx(diameter, rel=0.25)


def test_particle_111_layers_are_horizontal_and_interface_at_zero():
    particle = pt_particle(20.0)
    layers = np.unique(np.round(particle.positions[:, 1], 3))
    assert np.diff(layers) == pytest.approx(np.full(len(layers) - 1, 3.924 / np.sqrt(3)), abs=1e-3)
    assert particle.positions[:, 1].max() == pytest.approx(0.0, abs=1e-9)


def test_projected_neighbours_of_pt_110():
    lengths = np.sort(np.linalg.norm(projected_neighbour_vectors(), axis=1))
    assert lengths == pytest.approx([2.403, 2.403, 2.403, 2.403, 2.775, 2.775], abs=2e-3)


def test_specimen_sits_on_the_support_with_truth():
    specimen = build_pt_ceo2(params())
    atoms, table = specimen.atoms, specimen.columns
    symbols = np.array(atoms.get_chemical_symbols())
    pt_bottom = atoms.positions[symbols == "Pt", 1].max()
    support_top = atoms.positions[symbols != "Pt", 1].min()
    assert support_top - pt_bottom == pytest.approx(2.3)
    assert table["n_atoms"][table["element"] == "Pt"].sum() == (symbols == "Pt").sum()
    assert table["n_atoms"].sum() == len(atoms)
    pt = table[table["element"] == "Pt"]
    # Surface columns face the vacuum: the top layer is all surface, the interior none.
    top_layer = pt["y"] < pt["y"].min() + 0.5
    assert pt["on_surface"][top_layer].all()
    assert 0 < pt["on_surface"].sum() < len(pt)
    assert not table["on_surface"][table["element"] != "Pt"].any()


def test_defects_change_the_columns_as_named():
    base = pt_particle(20.0)
    before = projected_columns(base, exit_z=0.0)
    counts = {}
    for defect in DEFECTS:
        after = projected_columns(apply_defect(base, defect, np.random.default_rng(3)), exit_z=0.0)
        counts[defect] = (len(after), after["n_atoms"].sum(), after["n_atoms"].min())
    n, atoms = len(before), before["n_atoms"].sum()
    assert counts["none"][:2] == (n, atoms)
    assert counts["remove_one"][0] == n - 1
    assert counts["remove_two"][0] == n - 2
    assert counts["half_occupancy"][0] == n and counts["half_occupancy"][1] < atoms
    assert counts["single_atom"][0] == n and counts["single_atom"][2] == 1
    assert counts["adatom"][0] == n + 1 and counts["adatom"][1] == atoms + 1
    with pytest.raises(ValueError, match="unknown defect"):
        apply_defect(base, "vacancy", np.random.default_rng(0))


def test_interface_column_variant_removes_two_perimeter_columns():
    base = pt_particle(20.0)
    assert (
        len(projected_columns(remove_interface_columns(base), exit_z=0.0))
        == len(projected_columns(base, exit_z=0.0)) - 2
    )


def test_step_edge_removes_one_trilayer_on_one_side():
    flat = build_pt_ceo2(params())
    stepped = build_pt_ceo2(params(step_edge=True))
    n_flat = np.sum(np.array(flat.atoms.get_chemical_symbols()) == "Ce")
    n_step = np.sum(np.array(stepped.atoms.get_chemical_symbols()) == "Ce")
    assert 0 < n_flat - n_step < n_flat / 5


def test_tilt_moves_column_truth_along_the_beam_projection():
    flat = build_pt_ceo2(params())
    tilted = build_pt_ceo2(params(tilt_deg=(0.0, 2.0)))  # about y: shifts along x
    assert tilted.tilt_mrad == pytest.approx((34.9, 0.0), abs=0.1)
    shift = tilted.columns["x"] - flat.columns["x"]
    assert np.all(shift > 0)
    assert tilted.columns["y"] == pytest.approx(flat.columns["y"], abs=1e-4)


def test_a_user_structure_file(tmp_path):
    atoms = Atoms(
        "Au4", positions=[[2, 2, 1], [2, 2, 3], [4.5, 2, 1], [2, 4.5, 2]], cell=[8, 8, 4], pbc=True
    )
    path = tmp_path / "gold.cif"
    atoms.write(path)
    specimen = load_structure(path)
    assert sorted(specimen.columns["n_atoms"]) == [1, 1, 2]
    with pytest.raises(FileFormatError, match="not found"):
        load_structure(tmp_path / "missing.cif")
    (tmp_path / "bad.cif").write_text("not a structure")
    with pytest.raises(FileFormatError, match=r"bad\.cif"):
        load_structure(tmp_path / "bad.cif")
    Atoms("Au", cell=[[4, 1, 0], [0, 4, 0], [0, 0, 4]]).write(tmp_path / "skew.cif")
    with pytest.raises(InputError, match="orthogonal"):
        load_structure(tmp_path / "skew.cif")


def test_an_adatom_finds_a_site_for_every_seed_and_size():
    for diameter in (10.0, 20.0, 30.0):
        base = pt_particle(diameter)
        n = len(projected_columns(base, exit_z=0.0))
        for seed in range(60):
            with_adatom = apply_defect(base, "adatom", np.random.default_rng(seed))
            assert len(with_adatom) == len(base) + 1
            assert len(projected_columns(with_adatom, exit_z=0.0)) == n + 1
