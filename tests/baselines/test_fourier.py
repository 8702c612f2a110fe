"""Fourier baselines: low-pass and Bragg spot mask."""

import numpy as np
import pytest

from sbdenoise.baselines import bragg_mask, find_bragg_peaks, low_pass
from sbdenoise.metrics import psnr
from sbdenoise.noise.models import sample_poisson
from sbdenoise.synthetic import synthetic_lattice

PIXEL_SIZE = 0.061


@pytest.fixture(scope="module")
def lattice():
    """A 256 x 256 synthetic lattice at 0.45 e-/px and one Poisson frame of it (seed 0)."""
    clean = synthetic_lattice((256, 256), pixel_size=PIXEL_SIZE).expectation.astype(np.float64)
    noisy = sample_poisson(clean, np.random.default_rng(0))
    return clean, noisy, psnr(noisy, clean, clip=False)


def hexagonal_lattice(n=256, period=2.0, contrast=0.3, dose=0.45):
    """A pure periodic expectation: three cosines of period ``period`` A at 0, 60 and 120 deg."""
    yy, xx = np.mgrid[:n, :n] * PIXEL_SIZE
    angles = np.deg2rad([0.0, 60.0, 120.0])
    g = np.stack([np.sin(angles), np.cos(angles)], axis=1) / period  # (ky, kx) in 1/A
    waves = sum(np.cos(2 * np.pi * (gy * yy + gx * xx)) for gy, gx in g)
    return dose * (1.0 + contrast * waves), g


def test_low_pass_raises_psnr(lattice):
    clean, noisy, raw = lattice
    # Measured: 3.6 dB raw (unclipped) -> 20.2 dB at the default 1.35 1/A cut-off (seed 0),
    # 27 dB at 0.5 1/A with a soft edge (the synthetic columns carry little above 0.7 1/A).
    assert psnr(low_pass(noisy, PIXEL_SIZE), clean) > raw + 15.0
    assert psnr(low_pass(noisy, PIXEL_SIZE, cutoff=0.5, edge=0.2), clean) > raw + 22.0


def test_low_pass_keeps_mean_exactly(lattice):
    _, noisy, _ = lattice
    for cutoff, edge in [(1.35, 0.0), (0.3, 0.2), (0.01, 0.0)]:
        out = low_pass(noisy, PIXEL_SIZE, cutoff=cutoff, edge=edge)
        assert out.shape == noisy.shape and out.dtype == np.float64
        assert abs(out.mean() - noisy.mean()) < 1e-12 * noisy.mean()


def test_low_pass_beyond_nyquist_is_identity():
    counts = np.random.default_rng(3).poisson(0.45, (64, 50))
    out = low_pass(counts, PIXEL_SIZE, cutoff=100.0)
    np.testing.assert_allclose(out, counts, atol=1e-12)


@pytest.mark.parametrize(
    "bad", [np.zeros(10), np.zeros((2, 8, 8)), np.full((8, 8), np.nan), np.zeros((0, 4))]
)
def test_fourier_filters_reject_bad_frames(bad):
    with pytest.raises(ValueError):
        low_pass(bad, PIXEL_SIZE)
    with pytest.raises(ValueError):
        bragg_mask(bad, PIXEL_SIZE)


def test_fourier_filters_reject_bad_pixel_size():
    frame = np.ones((16, 16))
    for bad in (0.0, -1.0, np.nan):
        with pytest.raises(ValueError, match="pixel size"):
            low_pass(frame, bad)
    with pytest.raises(ValueError, match="cutoff"):
        low_pass(frame, PIXEL_SIZE, cutoff=0.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bragg_peaks_of_a_periodic_lattice(seed):
    expectation, g = hexagonal_lattice()
    counts = np.random.default_rng(seed).poisson(expectation)
    peaks = find_bragg_peaks(counts, PIXEL_SIZE)
    known = np.concatenate([g, -g])
    bin_width = 1.0 / (256 * PIXEL_SIZE)  # 0.064 1/A
    # Every found peak is one of the 6 known reflections (3 + Friedel mates) within one FFT bin,
    # and every known reflection is found.
    distance = np.linalg.norm(peaks[:, None, :] - known[None, :, :], axis=2)
    assert len(peaks) == 6
    assert distance.min(axis=1).max() < bin_width
    assert distance.min(axis=0).max() < bin_width


def test_bragg_mask_on_periodic_lattice():
    expectation, _ = hexagonal_lattice()
    counts = np.random.default_rng(0).poisson(expectation)
    out = bragg_mask(counts, PIXEL_SIZE)
    # Measured: 3.5 dB raw -> 26.9 dB; the mean count is kept exactly and the output is real.
    assert psnr(out, expectation) > psnr(counts, expectation, clip=False) + 21.0
    assert abs(out.mean() - counts.mean()) < 1e-12
    assert out.dtype == np.float64 and out.shape == counts.shape


def test_bragg_finds_nothing_in_pure_noise():
    counts = np.random.default_rng(5).poisson(0.45, (256, 256))
    assert len(find_bragg_peaks(counts, PIXEL_SIZE)) == 0


def test_bragg_mask_raises_psnr_on_synthetic_lattice():
    # 512 px: at 256 px the particle lattice is too small to give reliable peaks at 0.45 e-/px.
    clean = synthetic_lattice((512, 512), pixel_size=PIXEL_SIZE).expectation.astype(np.float64)
    noisy = sample_poisson(clean, np.random.default_rng(0))
    peaks = find_bragg_peaks(noisy, PIXEL_SIZE)
    assert len(peaks) >= 4
    # The strongest reflections: Pt [110] (1,1) at 0.44 1/A and (2,0)/(0,2) near 0.51 1/A.
    assert np.all(np.abs(np.hypot(*peaks.T) - 0.48) < 0.06)
    # Measured: 3.5 dB raw -> 29 dB.
    assert psnr(bragg_mask(noisy, PIXEL_SIZE), clean) > psnr(noisy, clean, clip=False) + 23.0
