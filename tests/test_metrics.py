"""PSNR and SSIM with the papers' conventions."""

import numpy as np
import pytest

from sbdenoise.metrics import psnr, ssim
from sbdenoise.noise.models import sample_poisson


def test_raw_frame_at_045_scores_about_35_db_unclipped():
    truth = np.full((512, 512), 0.45)
    noisy = sample_poisson(truth, np.random.default_rng(0))
    # MSE of a Poisson frame is its variance, 0.45: 10 log10(1 / 0.45) = 3.47 dB.
    assert psnr(noisy, truth, clip=False) == pytest.approx(3.47, abs=0.05)
    # Clipping to [0, 1] removes part of the shot noise: about 6.2 dB.
    assert psnr(noisy, truth) == pytest.approx(6.22, abs=0.1)


def test_psnr_of_a_known_error():
    truth = np.full((64, 64), 0.5)
    assert psnr(truth + 0.1, truth) == pytest.approx(20.0, abs=1e-9)
    assert psnr(truth, truth) == float("inf")


def test_psnr_clips_the_estimate_to_the_peak():
    truth = np.full((32, 32), 1.0)
    assert psnr(np.full((32, 32), 5.0), truth) == float("inf")
    assert psnr(np.full((32, 32), 5.0), truth, clip=False) == pytest.approx(-12.04, abs=0.01)


def test_ssim_is_one_for_identical_and_lower_for_noisy():
    rng = np.random.default_rng(1)
    truth = np.clip(rng.uniform(0.3, 0.8, (128, 128)), 0, 1)
    assert ssim(truth, truth) == pytest.approx(1.0)
    assert ssim(sample_poisson(truth, rng), truth) < 0.2


def test_shape_mismatch_is_refused():
    with pytest.raises(ValueError, match="shape"):
        psnr(np.zeros((4, 4)), np.zeros((4, 5)))
