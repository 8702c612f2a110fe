"""Registry of baselines and their tuning on validation pairs."""

import inspect

import numpy as np
import pytest

from sbdenoise.baselines import (
    BASELINES,
    TuningResult,
    apply_baseline,
    gaussian,
    get_baseline,
    tune_baseline,
)
from sbdenoise.metrics import psnr
from sbdenoise.noise.models import sample_poisson
from sbdenoise.synthetic import synthetic_lattice

PIXEL_SIZE = 0.061
NAMES = {
    "lowpass",
    "wiener",
    "gaussian",
    "median",
    "bragg",
    "vst-nlm",
    "vst-bm3d",
    "pure-let",
    "time-average",
}


@pytest.fixture(scope="module")
def lattice():
    clean = synthetic_lattice((192, 192), pixel_size=PIXEL_SIZE).expectation.astype(np.float64)
    noisy = sample_poisson(clean, np.random.default_rng(0))
    return clean, noisy


def test_registry_names_and_entries():
    assert set(BASELINES) == NAMES
    for name, baseline in BASELINES.items():
        assert baseline.name == name and baseline.description
        signature = inspect.signature(baseline.func).parameters
        assert set(baseline.grid) <= set(baseline.parameters)
        assert all(len(values) >= 1 for values in baseline.grid.values())
        for key, value in baseline.defaults.items():
            assert signature[key].default == value  # defaults are the function's own
        assert ("pixel_size" in signature) == baseline.uses_pixel_size
    assert [n for n, b in BASELINES.items() if b.temporal] == ["time-average"]
    with pytest.raises(TypeError):
        BASELINES["gaussian"].defaults["sigma"] = 1.0  # read-only


def test_get_baseline_lists_valid_names():
    assert get_baseline("gaussian").func is gaussian
    with pytest.raises(ValueError, match="valid names: lowpass, wiener"):
        get_baseline("bm4d")


@pytest.mark.parametrize("name", sorted(NAMES - {"time-average"}))
def test_every_spatial_baseline_raises_psnr(lattice, name):
    clean, noisy = lattice
    raw = psnr(noisy, clean, clip=False)  # 3.6 dB
    out = apply_baseline(name, noisy, pixel_size=PIXEL_SIZE)
    assert out.shape == noisy.shape and out.dtype == np.float64
    # Measured on 192 x 192 with the registry defaults: 20.5 (lowpass, 1.35 1/A) to 28.2 dB
    # (vst-bm3d); the smallest gain over the raw frame is 16.9 dB.
    assert psnr(out, clean) > raw + 15.0


def test_time_average_raises_psnr(lattice):
    clean, _ = lattice
    stack = sample_poisson(np.broadcast_to(clean, (20, *clean.shape)), np.random.default_rng(1))
    out = apply_baseline("time-average", stack)
    # 20 frames: the noise variance drops 20 times (13 dB): 3.6 dB raw -> 16.6 dB (clipped).
    truth = np.broadcast_to(clean, out.shape)
    assert psnr(out, truth) > psnr(stack, truth, clip=False) + 12.0


def test_apply_baseline_validates_parameters(lattice):
    _, noisy = lattice
    with pytest.raises(ValueError, match="valid parameters: sigma"):
        apply_baseline("gaussian", noisy, sgma=3)
    with pytest.raises(ValueError, match="--pixel-size"):
        apply_baseline("lowpass", noisy)
    with pytest.raises(ValueError, match="--pixel-size"):
        apply_baseline("bragg", noisy, pixel_size=None)
    with pytest.raises(ValueError, match="stack"):
        apply_baseline("time-average", noisy)
    with pytest.raises(ValueError, match="frame"):
        apply_baseline("gaussian", noisy[0])
    with pytest.raises(ValueError, match="valid names"):
        apply_baseline("nope", noisy)


def test_apply_baseline_params_and_stacks(lattice):
    _, noisy = lattice
    np.testing.assert_allclose(apply_baseline("gaussian", noisy, sigma=2.5), gaussian(noisy, 2.5))
    np.testing.assert_allclose(apply_baseline("gaussian", noisy), gaussian(noisy))
    stack = np.stack([noisy, noisy[::-1], noisy[:, ::-1]])
    out = apply_baseline("lowpass", stack, pixel_size=PIXEL_SIZE, cutoff=0.8)
    assert out.shape == stack.shape
    for frame_in, frame_out in zip(stack, out, strict=True):
        np.testing.assert_allclose(
            frame_out, apply_baseline("lowpass", frame_in, pixel_size=PIXEL_SIZE, cutoff=0.8)
        )


def test_tune_picks_the_better_setting(lattice):
    clean, _ = lattice
    pairs = [(clean, sample_poisson(clean, np.random.default_rng(s))) for s in (10, 11)]
    result = tune_baseline("gaussian", pairs, grid={"sigma": [0.3, 6.0]})
    assert isinstance(result, TuningResult)
    assert result.params == {"sigma": 6.0}
    assert [p["sigma"] for p, _ in result.table] == [0.3, 6.0]
    expected = np.mean([psnr(gaussian(noisy, 6.0), c) for c, noisy in pairs])
    assert result.psnr == pytest.approx(expected)
    # Measured: 6.4 dB at 0.3 px, 27.6 dB at 6 px.
    assert result.table[1][1] > result.table[0][1] + 15.0


def test_tune_uses_registry_grid_and_pixel_size(lattice):
    clean, noisy = lattice
    result = tune_baseline("lowpass", [(clean, noisy)], pixel_size=PIXEL_SIZE, progress=False)
    grid = get_baseline("lowpass").grid
    assert len(result.table) == len(grid["cutoff"]) * len(grid["edge"])
    # The synthetic columns carry little above 0.7 1/A: a low cut-off wins.
    assert result.params["cutoff"] <= 0.6
    assert result.psnr == max(score for _, score in result.table)


def test_tune_temporal_method(lattice):
    clean, _ = lattice
    stack = sample_poisson(np.broadcast_to(clean, (8, *clean.shape)), np.random.default_rng(2))
    result = tune_baseline("time-average", [(clean, stack)], grid={"window": [1, 0]})
    assert result.params == {"window": 0}  # a static scene: average everything


def test_tune_rejects_bad_pairs_and_grids(lattice):
    clean, noisy = lattice
    with pytest.raises(ValueError, match="at least one"):
        tune_baseline("gaussian", [])
    with pytest.raises(ValueError, match="does not match"):
        tune_baseline("gaussian", [(clean, noisy[:100])])
    with pytest.raises(ValueError, match="2-D"):
        tune_baseline("gaussian", [(clean[None], noisy[None])])
    with pytest.raises(ValueError, match="valid parameters"):
        tune_baseline("gaussian", [(clean, noisy)], grid={"radius": [3]})
    with pytest.raises(ValueError, match="no values"):
        tune_baseline("gaussian", [(clean, noisy)], grid={"sigma": []})
    with pytest.raises(ValueError, match="--pixel-size"):
        tune_baseline("lowpass", [(clean, noisy)], grid={"cutoff": [1.0]})
