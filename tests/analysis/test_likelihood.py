"""Likelihood map: definition, verdicts, vacuum estimate, statistics over noise draws."""

import numpy as np
import pytest
from matplotlib.image import imread
from scipy.ndimage import gaussian_filter

from sbdenoise.analysis.likelihood import (
    classify,
    column_likelihood,
    estimate_vacuum,
    letter_value_plot,
    plot_likelihood,
    roc_auc,
    validate_likelihood,
)
from sbdenoise.errors import InputError
from sbdenoise.noise.models import sample_poisson
from sbdenoise.synthetic import synthetic_lattice
from tests.analysis.test_columns import render_columns

VACUUM = 0.45  # e-/px
PIXEL_SIZE = 0.061  # A/px
SHAPE = (64, 64)  # 3.9 A square
CENTRE = np.array([[32 * PIXEL_SIZE, 32 * PIXEL_SIZE]])
N_DRAWS = 200


def smooth(counts: np.ndarray) -> np.ndarray:
    """A simple denoiser: Gaussian smoothing with sigma 0.3 A."""
    return gaussian_filter(counts.astype(np.float64), 0.3 / PIXEL_SIZE)


def test_real_column_of_twice_the_vacuum_rate_is_supported():
    # A column whose rate peaks at twice the vacuum rate (0.45 e-/px above 0.45 e-/px vacuum).
    clean = render_columns(CENTRE, SHAPE, PIXEL_SIZE, amplitude=VACUUM, background=VACUUM)
    rng = np.random.default_rng(20240501)
    values = np.empty(N_DRAWS)
    for k in range(N_DRAWS):
        noisy = sample_poisson(clean, rng)
        values[k] = column_likelihood(noisy, smooth(noisy), CENTRE, PIXEL_SIZE, VACUUM).values[0]
    assert np.mean(values > 0) > 0.9
    assert np.mean(classify(values) == "real") > 0.9


def test_column_painted_on_vacuum_is_refuted():
    painted = render_columns(CENTRE, SHAPE, PIXEL_SIZE, amplitude=VACUUM, background=0.0)
    rng = np.random.default_rng(20240502)
    values = np.empty(N_DRAWS)
    for k in range(N_DRAWS):
        noisy = sample_poisson(np.full(SHAPE, VACUUM), rng)
        denoised = smooth(noisy) + painted  # the denoiser invents a column on pure vacuum
        values[k] = column_likelihood(noisy, denoised, CENTRE, PIXEL_SIZE, VACUUM).values[0]
    assert np.mean(values < 0) > 0.9
    assert np.mean(classify(values) == "spurious") > 0.9


def brute_force(noisy, denoised, positions, pixel_size, vacuum, radius):
    rows, cols = np.indices(noisy.shape)
    out = []
    for y, x in positions / pixel_size:
        region = np.hypot(rows - y, cols - x) <= radius / pixel_size
        c = denoised[region].mean()
        out.append(np.mean(noisy[region] * np.log(c / vacuum) - (c - vacuum)))
    return np.array(out)


def test_values_follow_the_definition_and_the_map_shows_them():
    rng = np.random.default_rng(3)
    shape = (80, 90)
    noisy = rng.poisson(0.6, shape).astype(float)
    denoised = rng.uniform(0.2, 1.2, shape)
    # Sub-pixel centres, two overlapping discs and one cut by the frame edge.
    positions = np.array([[2.0, 2.0], [2.0, 2.5], [0.1, 3.0], [3.7, 4.4]]) + np.array(
        [1.3e-3, 7.1e-3]
    )
    result = column_likelihood(noisy, denoised, positions, PIXEL_SIZE, 0.5, radius=0.4)
    expected = brute_force(noisy, denoised, positions, PIXEL_SIZE, 0.5, 0.4)
    np.testing.assert_allclose(result.values, expected, rtol=1e-10)
    assert result.n_pixels[2] < result.n_pixels[0]  # the edge column keeps only its inside part
    # Every region pixel shows the value of its nearest column; the rest is NaN.
    rows, cols = np.indices(shape)
    dist = np.stack([np.hypot(rows - y, cols - x) for y, x in positions / PIXEL_SIZE])
    inside = dist.min(axis=0) <= 0.4 / PIXEL_SIZE
    np.testing.assert_array_equal(np.isfinite(result.map), inside)
    nearest = dist.argmin(axis=0)
    np.testing.assert_allclose(result.map[inside], result.values[nearest[inside]], rtol=1e-6)
    # A region wholly outside the frame has no value and is uncertain.
    outside = column_likelihood(noisy, denoised, np.array([[-5.0, -5.0]]), PIXEL_SIZE, 0.5)
    assert np.isnan(outside.values[0]) and outside.verdict[0] == "uncertain"


def test_verdict_thresholds_are_configurable():
    values = np.array([0.02, 0.005, 0.0, -0.006, -0.02])
    assert classify(values).tolist() == ["real", "real", "uncertain", "spurious", "spurious"]
    assert classify(values, real=0.03, spurious=-0.03).tolist() == ["uncertain"] * 5
    with pytest.raises(InputError, match="below the real"):
        classify(values, real=-0.01, spurious=0.01)


@pytest.fixture(scope="module")
def lattice():
    frame = synthetic_lattice((256, 256))
    noisy = sample_poisson(frame.expectation, np.random.default_rng(7))
    return frame, noisy, smooth(noisy)


def test_vacuum_is_found_in_the_flat_region(lattice):
    frame, noisy, denoised = lattice
    vacuum = estimate_vacuum(denoised, frame.pixel_size, noisy=noisy)
    assert vacuum.rate == pytest.approx(VACUUM, rel=0.05)
    assert vacuum.source == "noisy counts" and vacuum.area > 20.0
    # No vacuum pixel lies on a column.
    rows, cols = np.nonzero(vacuum.mask)
    pix = frame.columns / frame.pixel_size
    near = np.min(np.hypot(rows[:, None] - pix[:, 0], cols[:, None] - pix[:, 1]), axis=1)
    assert near.min() * frame.pixel_size > 1.0
    # The likelihood uses it when no rate is given.
    result = column_likelihood(noisy, denoised, frame.columns, frame.pixel_size)
    assert result.vacuum.rate == vacuum.rate
    # A frame with no vacuum (pure noise, no flat region) is refused with advice.
    with pytest.raises(InputError, match="give the vacuum rate"):
        estimate_vacuum(np.random.default_rng(0).poisson(0.45, (128, 128)), PIXEL_SIZE)


def test_likelihood_map_of_a_large_frame(lattice):
    """A 1024 x 1024 frame with hundreds of columns (its speed is a benchmark, not a test)."""
    frame = synthetic_lattice((1024, 1024), seed=1)
    noisy = sample_poisson(frame.expectation, np.random.default_rng(8))
    denoised = gaussian_filter(noisy.astype(np.float32), 0.3 / PIXEL_SIZE)
    assert len(frame.columns) >= 250
    result = column_likelihood(noisy, denoised, frame.columns, frame.pixel_size)
    assert len(result.values) == len(frame.columns)
    assert result.counts()["real"] > 100


def test_roc_auc_is_the_mann_whitney_probability():
    rng = np.random.default_rng(4)
    pos, neg = rng.normal(1, 1, 40), rng.normal(0, 1, 30)
    pos[:5] = neg[:5]  # some ties
    pairs = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    assert roc_auc(pos, neg) == pytest.approx(pairs.mean())
    assert roc_auc([2, 3], [0, 1]) == 1.0 and roc_auc([0, 1], [2, 3]) == 0.0
    assert roc_auc([1.0, 1.0], [1.0]) == 0.5
    assert np.isnan(roc_auc([], [1.0]))


def test_figures(tmp_path, lattice):
    frame, noisy, denoised = lattice
    result = column_likelihood(noisy, denoised, frame.columns, frame.pixel_size)
    png = plot_likelihood(result, denoised, tmp_path / "map.png", noisy=noisy, title="test")
    assert imread(png).shape[1] > 3 * imread(png).shape[0] / 2
    csv = result.write_csv(tmp_path / "map.csv").read_text().splitlines()
    assert csv[0].startswith("column,y_A,x_A,row_px,col_px,value,verdict")
    assert len(csv) == len(frame.columns) + 1
    rng = np.random.default_rng(5)
    check = validate_likelihood(rng.normal(0.02, 0.01, 300), rng.normal(-0.01, 0.01, 60))
    assert check.auc > 0.95
    assert imread(check.plot(tmp_path / "lv.png")).ndim == 3
    assert imread(letter_value_plot({"a": [1.0, 2.0], "b": []}, tmp_path / "small.png")).ndim == 3


def test_bad_input_is_refused():
    with pytest.raises(InputError, match="differ in shape"):
        column_likelihood(np.zeros((4, 4)), np.zeros((4, 5)), np.zeros((0, 2)), 0.1, 0.45)
    with pytest.raises(InputError, match="vacuum rate"):
        column_likelihood(np.zeros((4, 4)), np.zeros((4, 4)), np.zeros((0, 2)), 0.1, -1.0)
