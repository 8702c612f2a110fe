"""Variance-stabilised baselines: VST + NLM and VST + BM3D."""

import numpy as np
import pytest

from sbdenoise.baselines import vst_bm3d, vst_nlm
from sbdenoise.metrics import psnr
from sbdenoise.noise.models import sample_poisson
from sbdenoise.synthetic import synthetic_lattice


def lattice(size):
    clean = synthetic_lattice((size, size), pixel_size=0.061).expectation.astype(np.float64)
    noisy = sample_poisson(clean, np.random.default_rng(0))
    return clean, noisy, psnr(noisy, clean, clip=False)


def test_vst_nlm_raises_psnr():
    clean, noisy, raw = lattice(256)
    out = vst_nlm(noisy)
    assert out.shape == noisy.shape and out.dtype == np.float64
    # Measured: 3.6 dB raw (unclipped) -> 26.7 dB (gain 23.1 dB).
    assert psnr(out, clean) > raw + 21.0


def test_vst_nlm_odd_shape_and_tiny_frame():
    counts = np.random.default_rng(1).poisson(0.45, (70, 45))
    assert vst_nlm(counts).shape == (70, 45)
    # Binned to a single pixel: still a frame of the input shape, keeping the mean count.
    tiny = np.random.default_rng(2).poisson(2.0, (8, 8))
    out = vst_nlm(tiny, bin_factor=8)
    assert out.shape == (8, 8) and np.all(out >= 0)


@pytest.mark.slow
def test_vst_bm3d_raises_psnr_and_binning_helps():
    clean, noisy, raw = lattice(128)
    binned = psnr(vst_bm3d(noisy), clean)
    plain = psnr(vst_bm3d(noisy, bin_factor=1), clean)
    # Measured on 128 x 128: 3.8 dB raw -> 28.0 dB binned 8 x 8 (default), 25.1 dB unbinned.
    assert binned > raw + 22.0
    assert plain > raw + 19.0
    assert binned > plain + 1.5


def test_vst_bm3d_rejects_too_small_frames():
    counts = np.random.default_rng(0).poisson(0.45, (64, 64))
    with pytest.raises(ValueError, match="too small for BM3D"):
        vst_bm3d(counts, bin_factor=8)  # 8 x 8 binned: not larger than one BM3D block
    with pytest.raises(ValueError, match="profile"):
        vst_bm3d(counts, bin_factor=4, profile="nonsense")


@pytest.mark.parametrize("func", [vst_nlm, vst_bm3d])
def test_vst_filters_reject_bad_input(func):
    with pytest.raises(ValueError):
        func(np.zeros((2, 16, 16)))
    with pytest.raises(ValueError):
        func(np.full((16, 16), np.nan))
    with pytest.raises(ValueError):
        func(np.zeros((128, 128)), bin_factor=0)
