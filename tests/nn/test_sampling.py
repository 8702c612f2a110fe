"""Working sampling: binning keeps counts Poisson; bin then unbin loses nothing measurable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sbdenoise.errors import InputError
from sbdenoise.metrics import psnr
from sbdenoise.nn.sampling import (
    WorkingGrid,
    binning_factor,
    from_working_grid,
    to_working_grid,
)
from sbdenoise.synthetic import synthetic_lattice

PIXEL = 0.0609  # angstrom per detector pixel


@pytest.fixture(scope="module")
def lattice() -> np.ndarray:
    """A clean frame of Gaussian columns (sigma 0.45 A: nothing beyond 1 / (0.49 A)), odd size."""
    return synthetic_lattice((301, 333), pixel_size=PIXEL).expectation


@pytest.mark.parametrize("factor", [2, 3, 4])
def test_round_trip_of_a_clean_image_is_lossless(lattice, factor):
    grid = to_working_grid(lattice, PIXEL, factor * PIXEL)
    assert grid.factor == factor
    assert grid.counts.shape == (-(-301 // factor), -(-333 // factor))
    # Block sums: counts per working pixel (the dose per pixel grows by factor**2).
    assert grid.counts[5:-5, 5:-5].mean() == pytest.approx(
        factor**2 * lattice[5 * factor : -5 * factor, 5 * factor : -5 * factor].mean(), rel=0.02
    )
    back = from_working_grid(grid.counts, grid)
    assert back.shape == lattice.shape and back.dtype == np.float32
    value = psnr(back, lattice, clip=False)
    print(f"round trip b={factor}: {value:.1f} dB")
    assert value > 50.0
    # Without compensating the box filter and the block-centre shift (plain pixel replication)
    # the same test fails: it measures the interpolation, it is not trivially passed.
    naive = np.kron(grid.counts, np.ones((factor, factor)))[:301, :333] / factor**2
    assert psnr(naive, lattice, clip=False) < 50.0


def test_factor_one_is_identity(lattice):
    grid = to_working_grid(lattice, PIXEL, PIXEL * 1.02)
    assert grid.factor == 1 and grid.sampling == pytest.approx(PIXEL)
    np.testing.assert_allclose(from_working_grid(grid.counts, grid), lattice, rtol=1e-6)


def test_binned_counts_stay_poisson():
    rng = np.random.default_rng(0)
    counts = rng.poisson(0.45, (600, 600))
    grid = to_working_grid(counts, PIXEL, 3 * PIXEL)
    binned = grid.counts
    assert np.array_equal(binned, np.round(binned))  # whole numbers of electrons
    assert binned.mean() == pytest.approx(9 * 0.45, rel=0.01)
    assert binned.var() == pytest.approx(binned.mean(), rel=0.05)  # variance = mean
    assert binned.sum() == counts.sum()


def test_padding_is_remembered():
    frame = np.ones((17, 23))
    grid = to_working_grid(frame, 0.06, 0.24)
    assert isinstance(grid, WorkingGrid)
    assert grid.pad == (3, 1) and grid.input_shape == (17, 23)
    assert grid.counts.shape == (5, 6)
    np.testing.assert_allclose(grid.counts, 16.0)  # edges padded by reflection, not zeros
    np.testing.assert_allclose(from_working_grid(grid.counts, grid), 1.0, atol=1e-6)


def test_factor_tolerance():
    assert binning_factor(0.0609, 4 * 0.0609) == 4
    assert binning_factor(0.0609 * 1.05, 4 * 0.0609) == 4  # pixel size 5 % off: accepted
    assert binning_factor(0.0609 * 0.95, 4 * 0.0609) == 4
    with pytest.raises(InputError, match=r"ratio 2\.500"):
        binning_factor(0.1, 0.25)
    with pytest.raises(InputError, match="coarser"):
        binning_factor(0.5, 0.25)
    with pytest.raises(InputError, match="pixel size"):
        binning_factor(0.0, 0.25)
    with pytest.raises(InputError, match="pixel size"):
        binning_factor(float("nan"), 0.25)


def test_bad_frames_rejected():
    with pytest.raises(InputError, match="2-D"):
        to_working_grid(np.ones((4, 16, 16)), PIXEL, 2 * PIXEL)
    bad = np.ones((16, 16))
    bad[3, 3] = np.nan
    with pytest.raises(InputError, match="finite"):
        to_working_grid(bad, PIXEL, 2 * PIXEL)
    grid = to_working_grid(np.ones((16, 16)), PIXEL, 2 * PIXEL)
    with pytest.raises(InputError, match="shape"):
        from_working_grid(np.ones((7, 8)), grid)


@pytest.mark.slow
@pytest.mark.parametrize("factor", [2, 3, 4])
def test_round_trip_of_simulated_images(tmp_path_factory, factor):
    """The same on multislice images of the smoke preset (about 15 s to simulate)."""
    from sbdenoise.simulate.store import SimulatedDataset

    out = tmp_path_factory.getbasetemp() / "smoke"
    if not (out / "dataset.h5").is_file():
        cli = Path(sys.executable).with_name("sbdenoise")
        command = [str(cli), "simulate", "--preset", "smoke", "-o", str(out)]
        subprocess.run([*command, "--scheduler", "synchronous"], check=True, capture_output=True)
    data = SimulatedDataset(out)
    for index in range(len(data)):
        image = data.image(index)[:-1, 3:]  # an odd size, not a multiple of the factor
        pixel = float(data.params["pixel_size"][index])
        grid = to_working_grid(image, pixel, factor * pixel)
        assert psnr(from_working_grid(grid.counts, grid), image, clip=False) > 50.0


@pytest.mark.parametrize("pixel", [0.067, 0.055])
def test_pixel_sizes_between_binning_factors_are_resampled(pixel):
    sampling = 4 * PIXEL  # ratio 3.64 or 4.43: no integer within 6 %
    with pytest.raises(InputError, match="not within"):
        binning_factor(pixel, sampling)
    lattice = synthetic_lattice((300, 320), pixel_size=pixel).expectation
    grid = to_working_grid(lattice, pixel, sampling)
    assert grid.resampled and grid.factor == int(sampling // pixel)
    assert grid.sampling == pytest.approx(sampling, rel=0.01)
    assert grid.counts.shape == tuple(round(n * pixel / grid.sampling) for n in (300, 320))
    # counts per working pixel: the dose per area is kept
    inner = grid.counts[4:-4, 4:-4].mean()
    assert inner == pytest.approx(
        lattice[16:-16, 16:-16].mean() * (grid.sampling / pixel) ** 2, rel=0.02
    )
    back = from_working_grid(grid.counts, grid)
    assert back.shape == lattice.shape
    assert psnr(back[8:-8, 8:-8], lattice[8:-8, 8:-8], clip=False) > 50.0
    with pytest.raises(InputError, match="not within"):
        to_working_grid(lattice, pixel, sampling, resample=False)


def test_resampled_counts_keep_variance_equal_to_mean_and_white():
    counts = np.random.default_rng(1).poisson(0.45, (800, 800)).astype(np.float64)
    grid = to_working_grid(counts, 0.067, 4 * PIXEL)
    inner = grid.counts[4:-4, 4:-4]
    assert inner.mean() == pytest.approx(0.45 * (grid.sampling / 0.067) ** 2, rel=0.01)
    assert inner.var() == pytest.approx(inner.mean(), rel=0.04)  # as Poisson counts
    for a, b in ((inner[:, :-1], inner[:, 1:]), (inner[:-1], inner[1:])):
        assert abs(np.corrcoef(a.ravel(), b.ravel())[0, 1]) < 0.03  # no correlation made


def test_fourier_resampling_gives_the_sums_over_the_new_cells():
    from sbdenoise.nn.sampling import _resample_rows

    def integral(x):  # of 2 + cos(2 pi x / 37.3) + 0.5 sin(2 pi x / 11.1)
        return (
            2 * x
            + 37.3 / (2 * np.pi) * np.sin(2 * np.pi * x / 37.3)
            - 0.5 * 11.1 / (2 * np.pi) * np.cos(2 * np.pi * x / 11.1)
        )

    def sums(width, n):
        edges = np.arange(n + 1) * width
        return integral(edges[1:]) - integral(edges[:-1])

    for n_out in (246, 360):  # fewer and more cells over the same 300 input cells
        got = _resample_rows(sums(1.0, 300)[None], n_out)[0]
        want = sums(300 / n_out, n_out)
        assert np.abs(got - want)[10:-10].max() < 0.01 * want.mean()
        # half a cell off (no centre shift) would be wrong by several per cent
        assert np.abs(np.roll(got, 1) - want)[10:-10].max() > 0.02 * want.mean()


def test_input_coarser_than_the_model_is_still_refused():
    with pytest.raises(InputError, match="coarser"):
        to_working_grid(np.ones((64, 64)), 0.5, 0.25)
