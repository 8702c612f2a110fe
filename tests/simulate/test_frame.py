"""One frame without a dataset folder: the demo's Pt/CeO2 image."""

from __future__ import annotations

import numpy as np
import pytest

from sbdenoise.errors import InputError
from sbdenoise.simulate.frame import simulate_frame
from sbdenoise.simulate.presets import get_preset
from sbdenoise.specimen.model import StructureParams

STRUCTURE = StructureParams(0, 1.0, True, "none", 3.0, False, (0.0, 0.0), 5)


@pytest.fixture(scope="module")
def frame():
    return simulate_frame(STRUCTURE, get_preset("smoke"), defocus_nm=-12.0, dose=0.6)


def test_frame_has_the_spec_size_dose_and_truth(frame):
    assert frame.image.shape == (384, 384) and frame.image.dtype == np.float32
    assert frame.params["dose"] == 0.6 and frame.params["defocus_nm"] == -12.0
    assert frame.params["pixel_size"] == pytest.approx(0.061, rel=0.01)
    # the top rows are vacuum above the particle: they hold the requested dose
    pt = frame.columns[frame.columns["element"] == "Pt"]
    assert len(pt) >= 5 and pt["on_surface"].any()
    top_row = int((pt["y"].min() - 3.0) / frame.params["pixel_size"])
    assert top_row > 10
    assert frame.image[:top_row].mean() == pytest.approx(0.6, rel=0.02)
    # the atoms scatter: the frame is not flat where the particle and support are
    assert frame.image[top_row + 100 :].std() > 100 * frame.image[:top_row].std()


def test_frame_refuses_a_non_positive_dose():
    with pytest.raises(InputError, match="dose must be positive"):
        simulate_frame(STRUCTURE, get_preset("smoke"), defocus_nm=-12.0, dose=0.0)
