"""Multislice HRTEM physics on coarse grids: lattice spacings, contrast reversal, dose, truth."""

import numpy as np
import pytest

from sbdenoise.config import Optics, Simulation
from sbdenoise.simulate.contrast import column_intensity
from sbdenoise.simulate.imaging import hrtem_image
from sbdenoise.simulate.multislice import configure_abtem, exit_wave
from sbdenoise.specimen.model import Specimen, StructureParams, build_pt_ceo2, column_truth
from sbdenoise.specimen.support import ceo2_support, d111

COARSE = Simulation(sampling=0.08, slice_thickness=2.5)
OPTICS = Optics()


@pytest.fixture(scope="module", autouse=True)
def _abtem():
    configure_abtem()


@pytest.fixture(scope="module")
def specimen_waves():
    params = StructureParams(0, 1.0, True, "none", 5.0, False, (0.0, 0.0), 0)
    specimen = build_pt_ceo2(params, cell_nm=3.3, support_depth_nm=1.0)
    return specimen, exit_wave(specimen, OPTICS, COARSE).waves


def test_ceo2_fft_shows_111_and_002_spacings():
    # A support-only cell periodic in x and y: whole periods, so lattice spots fall on FFT bins.
    layers = 12
    slab = ceo2_support(width=26.5, thickness=20.0, depth=layers * d111(), top=0.0)
    slab.set_cell([slab.cell[0, 0], layers * d111(), slab.cell[2, 2]])
    specimen = Specimen(slab, column_truth(slab), (0.0, 0.0))
    waves = exit_wave(specimen, OPTICS, COARSE).waves
    image = hrtem_image(waves, OPTICS, -14.0, 0.061, 0.45)
    spectrum = np.abs(np.fft.fft2(image.image - image.image.mean()))
    ky = np.fft.fftfreq(
        image.image.shape[0], image.pixel_size * image.image.shape[0] / image.image.shape[0]
    )
    kx = np.fft.fftfreq(image.image.shape[1], image.pixel_size)
    k = np.hypot(*np.meshgrid(ky, kx, indexing="ij"))
    ring = (k > 0.25) & (k < 0.45)
    strongest = np.argsort(spectrum[ring])[::-1][:12]
    spacings = 1.0 / k[ring][strongest]
    assert np.any(np.abs(spacings / 3.124 - 1) < 0.02), spacings
    assert np.any(np.abs(spacings / 2.705 - 1) < 0.02), spacings


def test_pt_column_contrast_reverses_between_overfocus_and_underfocus(specimen_waves):
    specimen, waves = specimen_waves
    pt = specimen.columns[specimen.columns["element"] == "Pt"]
    contrast = {}
    for defocus in (-6.0, 8.0):
        image = hrtem_image(waves, OPTICS, defocus, 0.061, 0.45)
        values = column_intensity(image.image, pt["x"], pt["y"], image.pixel_size)
        contrast[defocus] = np.nanmedian(values) / 0.45 - 1
    assert contrast[-6.0] > 0.03
    assert contrast[8.0] < -0.03


@pytest.mark.parametrize("dose", [0.45, 1.3])
def test_vacuum_holds_the_target_dose(specimen_waves, dose):
    specimen, waves = specimen_waves
    image = hrtem_image(waves, OPTICS, -10.0, 0.061, dose)
    top_of_particle = specimen.columns["y"].min()
    vacuum_rows = int((top_of_particle - 5.0) / image.pixel_size)
    assert vacuum_rows > 20
    assert image.image[:vacuum_rows].mean() == pytest.approx(dose, rel=0.01)


def test_column_truth_on_intensity_maxima_of_a_white_image(specimen_waves):
    # Pt columns (the ones scored later). In the 5 nm thick CeO2 the maxima sit 0.3-0.9 A off
    # the Ce columns, towards the neighbouring O columns: dynamical scattering, not a truth error.
    specimen, waves = specimen_waves
    image = hrtem_image(waves, OPTICS, -10.0, 0.061, 0.45)
    img, ps = image.image, image.pixel_size
    columns = specimen.columns[specimen.columns["element"] == "Pt"]
    errors = []
    window = round(0.8 / ps)
    for x, y in zip(columns["x"], columns["y"], strict=True):
        r, c = round(y / ps), round(x / ps)
        if not (window <= r < img.shape[0] - window and window <= c < img.shape[1] - window):
            continue
        patch = img[r - window : r + window + 1, c - window : c + window + 1]
        dr, dc = np.unravel_index(np.argmax(patch), patch.shape)
        errors.append(np.hypot((r - window + dr) * ps - y, (c - window + dc) * ps - x))
    errors = np.array(errors)
    assert len(errors) >= 10
    assert np.median(errors) < 0.1
    assert np.all(errors < 0.3)
