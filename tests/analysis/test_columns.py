"""LoG column detection in angstrom, sub-pixel refinement and one-to-one matching."""

import numpy as np
import pytest

from sbdenoise.analysis.columns import (
    detect_columns,
    inside_frame,
    match_columns,
    refine_peaks,
    write_csv,
)
from sbdenoise.errors import InputError
from sbdenoise.synthetic import synthetic_lattice


def render_columns(
    positions: np.ndarray,
    shape: tuple[int, int],
    pixel_size: float,
    amplitude: float = 0.45,
    sigma: float = 0.45,
    background: float = 0.45,
) -> np.ndarray:
    """Gaussian columns (angstrom positions and width) on a flat background, in e-/px."""
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]] * pixel_size
    image = np.full(shape, background, dtype=np.float64)
    for y, x in np.asarray(positions, dtype=np.float64).reshape(-1, 2):
        image += amplitude * np.exp(-((rows - y) ** 2 + (cols - x) ** 2) / (2 * sigma**2))
    return image


def random_columns(n: int, extent: float, min_separation: float, seed: int) -> np.ndarray:
    """``n`` random positions (angstrom) in a square, at least ``min_separation`` apart."""
    rng = np.random.default_rng(seed)
    points: list[np.ndarray] = []
    while len(points) < n:
        p = rng.uniform(2.0, extent - 2.0, 2)
        if all(np.hypot(*(p - q)) >= min_separation for q in points):
            points.append(p)
    return np.array(points)


def test_subpixel_positions_at_a_coarse_sampling():
    pixel_size = 0.2
    truth = random_columns(12, 128 * pixel_size, 2.5, seed=1)
    image = render_columns(truth, (128, 128), pixel_size)
    refined = detect_columns(image, pixel_size)
    coarse = detect_columns(image, pixel_size, refine=False)
    match = match_columns(refined.positions, truth, 0.5)
    assert match.true_positives == len(truth) == len(refined)
    # A fifth of a pixel or better once refined; whole-pixel positions are several times worse.
    assert match.distance.max() < 0.04
    coarse_error = match_columns(coarse.positions, truth, 0.5).distance.mean()
    assert coarse_error > 3 * match.distance.mean()
    # The scale found matches the rendered width; the strength is half the peak height.
    assert np.median(refined.sigma) == pytest.approx(0.45, abs=0.13)
    assert np.median(refined.strength) == pytest.approx(0.45 / 2, rel=0.25)


def test_same_settings_find_the_same_columns_at_two_samplings():
    truth = random_columns(8, 12.0, 2.2, seed=2)
    found = []
    for pixel_size in (0.061, 0.122):
        n = round(12.0 / pixel_size)
        found.append(detect_columns(render_columns(truth, (n, n), pixel_size), pixel_size))
    assert len(found[0]) == len(found[1]) == len(truth)
    match = match_columns(found[0].positions, found[1].positions, 0.3)
    assert match.true_positives == len(truth)
    assert match.distance.max() < 0.03


def test_clean_synthetic_lattice_is_found_exactly():
    frame = synthetic_lattice((256, 256), pixel_size=0.1)
    truth = frame.columns[inside_frame(frame.columns, frame.expectation.shape, 0.1, 0.5)]
    found = detect_columns(frame.expectation, frame.pixel_size)
    match = match_columns(found.positions, truth)
    assert match.false_positives == 0 and match.false_negatives == 0
    # Columns near the frame edge or the support's background step shift by a few pm at most.
    assert np.median(match.distance) < 0.01
    assert match.distance.max() < 0.1


def test_the_default_contrast_finds_faint_columns_and_not_fainter_bumps():
    # Columns 17 % above a flat background (a short surface column under strong vibration) are
    # found with the default threshold, which the former 0.2 missed; bumps of 8 % are not.
    truth = random_columns(8, 12.0, 2.5, seed=4)
    faint = render_columns(truth, (120, 120), 0.1, amplitude=0.17, background=1.0)
    found = detect_columns(faint, 0.1)
    assert match_columns(found.positions, truth).true_positives == len(truth) == len(found)
    assert len(detect_columns(faint, 0.1, min_contrast=0.2)) == 0
    bumps = render_columns(truth, (120, 120), 0.1, amplitude=0.08, background=1.0)
    assert len(detect_columns(bumps, 0.1)) == 0


def test_dark_columns_with_dark_polarity():
    truth = random_columns(6, 12.0, 2.5, seed=3)
    image = render_columns(truth, (120, 120), 0.1, amplitude=-0.3, background=0.8)
    assert len(detect_columns(image, 0.1)) == 0
    dark = detect_columns(image, 0.1, polarity="dark")
    assert match_columns(dark.positions, truth).true_positives == len(truth)


def test_matching_is_one_to_one_and_globally_best():
    truth = np.array([[0.0, 0.0], [0.0, 0.8]])
    # A greedy nearest-first match pairs detection 0 with truth 1 (0.3 A) and leaves detection 1
    # without a partner; the optimal assignment pairs both.
    detected = np.array([[0.0, 0.5], [0.0, 1.2]])
    match = match_columns(detected, truth, max_distance=0.5)
    assert match.true_positives == 2
    assert sorted(zip(match.detected.tolist(), match.truth.tolist(), strict=True)) == [
        (0, 0),
        (1, 1),
    ]
    # Two detections on one column: one matches, the other is spurious.
    match = match_columns(np.array([[0.0, 0.0], [0.0, 0.1]]), truth[:1], 0.5)
    assert (match.true_positives, match.false_positives, match.false_negatives) == (1, 1, 0)
    # Beyond the distance nothing matches.
    match = match_columns(np.array([[5.0, 5.0]]), truth, 0.5)
    assert (match.true_positives, match.false_positives, match.false_negatives) == (0, 1, 2)
    assert match_columns(np.zeros((0, 2)), truth).false_negatives == 2


def test_refine_peaks_recovers_a_quadratic_maximum():
    rows, cols = np.mgrid[0:21, 0:21]
    field = -((rows - 10.3) ** 2) - 2 * (cols - 9.6) ** 2 + 0.5 * (rows - 10.3) * (cols - 9.6)
    refined = refine_peaks(field, np.array([[8.0, 12.0]]))
    np.testing.assert_allclose(refined[0], [10.3, 9.6], atol=1e-9)


def test_bad_input_is_refused():
    with pytest.raises(InputError, match="2-D"):
        detect_columns(np.zeros((2, 8, 8)), 0.1)
    with pytest.raises(InputError, match="pixel size"):
        detect_columns(np.zeros((8, 8)), 0.0)
    with pytest.raises(InputError, match="sigma_range"):
        detect_columns(np.zeros((8, 8)), 0.1, sigma_range=(0.5, 0.2))
    with pytest.raises(InputError, match="min_contrast"):
        detect_columns(np.ones((8, 8)), 0.1, min_contrast=0.0)
    with pytest.raises(InputError, match=r"\(n, 2\)"):
        match_columns(np.zeros((3, 3)), np.zeros((2, 2)))


def test_write_csv_round_trip(tmp_path):
    path = write_csv(tmp_path / "sub" / "t.csv", [{"a": 1, "b": 0.123456789}], ["a", "b"])
    assert path.read_text().splitlines() == ["a,b", "1,0.123457"]
