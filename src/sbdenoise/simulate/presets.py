"""Named dataset specs: ``smoke`` (tests, demo), ``shipped`` (the shipped model), ``surface``
(the surface-evaluation set), ``paper``."""

from __future__ import annotations

from sbdenoise.config import (
    DatasetSpec,
    Nuisance,
    Optics,
    Simulation,
    SpecimenGrid,
)


def smoke() -> DatasetSpec:
    """A few small images in well under two minutes: 3 structures x 2 defoci, 384 px crops."""
    return DatasetSpec(
        name="smoke",
        seed=0,
        image_size=384,
        optics=Optics(defocus_nm=[-12.0, -4.0]),
        simulation=Simulation(sampling=0.08, slice_thickness=2.5),
        specimen=SpecimenGrid(
            cell_nm=3.3,
            particle_diameter_nm=[1.0],
            interface_column=[True],
            defects=["none", "remove_one", "adatom"],
            support_thickness_nm=[3.0],
            support_depth_nm=1.0,
            step_edge=[False],
            tilt_deg=[(0.0, 0.0)],
        ),
    )


def shipped() -> DatasetSpec:
    """Data of the shipped model: white-contrast defoci, nuisance ranges, fits one session.

    160 structures drawn from the full grid x 8 overfocus values (-20 to -6 nm, abTEM sign) =
    1280 images; focal spread, vibration and pixel size drawn per image so the network does not
    learn one simulator's look. The multislice grid (0.06 A, 2 A slices) stays 47.6 dB from a
    0.04 A / 0.167 A reference on the networks' working grid as on the detector grid
    (benchmarks/results/simulation.md) and costs two thirds of the 0.05 A default.
    """
    return DatasetSpec(
        name="shipped",
        seed=2026,
        n_structures=160,
        simulation=Simulation(sampling=0.06, slice_thickness=2.0),
        optics=Optics(defocus_nm=[float(d) for d in range(-20, -4, 2)]),
        nuisance=Nuisance(
            focal_spread_nm=(2.5, 6.0), vibration_pm=(30.0, 70.0), pixel_size_rel=(-0.05, 0.05)
        ),
    )


def surface() -> DatasetSpec:
    """The papers' surface-evaluation set: 44 structures with surface defects, all test.

    Every structure carries one surface defect (a column removed, two neighbouring columns
    removed, all but one atom of a column removed, or an adatom at a new site), on a 4 nm support,
    tilted 3 deg about x and -1 deg about y (a tilt no training structure has), imaged at the
    papers' overfocus 6-10 nm (-10, -8, -6 nm in abTEM's sign) at their 0.061 A/px: 44 x 3 = 132
    images. Focal spread and vibration are drawn per image as for ``shipped``. For scoring the
    surface structure a denoiser recovers (``sbdenoise evaluate``, ``benchmarks/trust.py``).
    """
    return DatasetSpec(
        name="surface",
        seed=2027,
        n_structures=44,
        split=(0.0, 0.0, 1.0),
        simulation=Simulation(sampling=0.06, slice_thickness=2.0),
        optics=Optics(defocus_nm=[-10.0, -8.0, -6.0]),
        specimen=SpecimenGrid(
            defects=["remove_one", "remove_two", "single_atom", "adatom"],
            support_thickness_nm=[4.0],
            tilt_deg=[(3.0, -1.0)],
        ),
        nuisance=Nuisance(focal_spread_nm=(2.5, 6.0), vibration_pm=(30.0, 70.0)),
    )


def paper() -> DatasetSpec:
    """The papers' grid: 855 structures x 21 defoci = 17,955 images."""
    return DatasetSpec(name="paper", seed=2021, n_structures=855)


PRESETS = {"smoke": smoke, "shipped": shipped, "surface": surface, "paper": paper}


def get_preset(name: str) -> DatasetSpec:
    """The spec of a named preset."""
    try:
        return PRESETS[name]()
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}") from None
