"""Neighbour templates: a candidate is tested against the columns around it, not its own drawing."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from sbdenoise.analysis.calibration import NullTable, simulate_null, tail_p_values
from sbdenoise.analysis.candidates import find_candidates
from sbdenoise.analysis.column_profiles import (
    cut_patches,
    distinct_axes,
    lattice_sites,
    neighbour_weights,
    patch_half,
    shape_scores,
    template_scores,
    weighted_scores,
)
from sbdenoise.analysis.trust import benjamini_hochberg, fdr_classes, surface_candidates
from sbdenoise.errors import InputError

PIXEL = 0.061
VACUUM = 0.45


def blob(shape, centre, sigma, height):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return height * np.exp(-((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2) / (2 * sigma**2))


def square_lattice(shape=(160, 160), spacing=40, height=0.2):
    """Columns on a square grid (pixels) and the expected counts of the frame."""
    centres = np.array(
        [(y, x) for y in range(20, shape[0], spacing) for x in range(20, shape[1], spacing)], float
    )
    image = np.full(shape, VACUUM)
    for centre in centres:
        image += blob(shape, centre, 5.0, height)
    return centres, image


def test_patches_are_cut_around_centres_with_nan_beyond_the_frame():
    image = np.arange(100.0).reshape(10, 10)
    patches = cut_patches(image, np.array([[5, 5], [0, 9]]), 1)
    assert patches.shape == (2, 9)
    assert np.array_equal(patches[0], image[4:7, 4:7].ravel())
    corner = patches[1].reshape(3, 3)
    assert np.isnan(corner[0]).all() and np.isnan(corner[:, 2]).all()
    assert corner[1, 1] == image[0, 9] and corner[2, 0] == image[1, 8]
    assert patch_half(2.0 / PIXEL) == 34


def test_a_candidate_weights_come_from_its_neighbours_not_from_its_own_profile():
    centres, image = square_lattice()
    radius = 15.0
    base = neighbour_weights(image, centres, radius, VACUUM, neighbours=4)
    # redraw one candidate much brighter: its own weights do not change, its neighbours' do
    target = 5
    changed = image + blob(image.shape, centres[target], 5.0, 1.0)
    after = neighbour_weights(changed, centres, radius, VACUUM, neighbours=4)
    assert np.allclose(after[target], base[target], atol=1e-4)
    distance = np.linalg.norm(centres - centres[target], axis=1)
    close = np.argsort(distance)[1:3]
    assert not np.allclose(after[close], base[close])
    # the weights of a lattice column: positive at the centre, zero outside its region
    half = patch_half(radius)
    side = 2 * half + 1
    centre_weight = base[target].reshape(side, side)[half, half]
    assert centre_weight == pytest.approx(np.log(image[20, 20] / VACUUM), rel=0.02)
    corner = base[target].reshape(side, side)[0, 0]
    assert corner == 0.0
    with pytest.raises(InputError, match="vacuum rate"):
        neighbour_weights(image, centres, radius, 0.0)
    with pytest.raises(InputError, match="at least one neighbour"):
        neighbour_weights(image, centres, radius, VACUUM, neighbours=0)


def test_fixed_weights_score_vacuum_as_standard_normal_and_columns_high():
    centres, image = square_lattice()
    rng = np.random.default_rng(3)
    radius = 15.0
    vacuum_scores, column_scores = [], []
    for _ in range(150):
        vacuum = rng.poisson(VACUUM, image.shape).astype(float)
        scores, weights = template_scores(vacuum, image, centres, radius, VACUUM)
        vacuum_scores.append(scores)
        column_scores.append(template_scores(rng.poisson(image), image, centres, radius, VACUUM)[0])
        # the same weights score patches the same way, one by one or as a pool
        pool = cut_patches(vacuum, np.rint(centres).astype(int), patch_half(radius))
        assert np.allclose(np.diag(weighted_scores(pool, weights, VACUUM)), scores)
    vacuum_scores = np.concatenate(vacuum_scores)
    assert abs(np.mean(vacuum_scores)) < 0.08 and abs(np.std(vacuum_scores) - 1) < 0.08
    assert np.median(np.concatenate(column_scores)) > 2


def test_p_values_per_candidate_use_each_candidates_own_null_column():
    rng = np.random.default_rng(0)
    null = np.sort(rng.normal(0.0, 1.0, (400, 2)), axis=0)
    null[:, 1] += 2.0  # a heavier null for the second candidate
    p = tail_p_values(null, np.array([1.0, 1.0]))
    assert p[0] == pytest.approx((1 + np.sum(null[:, 0] >= 1.0)) / 401)
    assert p[1] > 0.8 > p[0]
    # a shared null gives what the table's own p-values give
    shared = np.sort(rng.normal(0.5, 1.2, 300))
    table = NullTable(shared, 10, VACUUM, PIXEL, 2.0, "x")
    grid = np.linspace(-2, 9, 23)
    assert np.allclose(table.p_values(grid), tail_p_values(shared, grid))
    with pytest.raises(InputError, match="no vacuum patches"):
        table.p_values_for(np.array([1.0]), np.ones((1, 9)))


@pytest.mark.slow
def test_neighbour_p_values_are_calibrated_on_fresh_vacuum():
    def smooth(counts):
        return ndi.gaussian_filter(np.asarray(counts, dtype=np.float64), 6.0)

    null = simulate_null(
        smooth, dose=VACUUM, pixel_size=PIXEL, radius=1.0, side=256, candidates=1500,
        max_frames=120, seed=0, show_progress=False,
    )  # fmt: skip
    assert null.patches is not None and len(null.patches) >= 500
    # fresh vacuum frames: candidates chosen by the same rule, tested against their neighbours
    rng = np.random.default_rng(11)
    p_values = []
    for _ in range(40):
        counts = rng.poisson(VACUUM, (256, 256)).astype(np.float64)
        denoised = smooth(counts)
        found = find_candidates(denoised, PIXEL)
        if len(found) < 2:
            continue
        scores, weights = template_scores(
            counts, denoised, found.positions / PIXEL, 1.0 / PIXEL, float(counts.mean())
        )
        p_values.append(null.p_values_for(scores, weights))
    p = np.concatenate(p_values)
    p = p[np.isfinite(p)]
    assert len(p) >= 300
    for level in (0.05, 0.2, 0.5):
        error = 3 * np.sqrt(level * (1 - level) / len(p)) + 0.02
        assert np.mean(p <= level) <= level + error


def test_false_discoveries_are_controlled_within_surface_and_bulk_classes():
    p = np.array([0.001, 0.002, 0.003, 0.004, 0.04, 0.04, 0.5])
    classes = np.array(["bulk"] * 4 + ["surface"] * 3)
    q = benjamini_hochberg(p, classes)
    assert np.allclose(q[:4], benjamini_hochberg(p[:4]))
    assert np.allclose(q[4:], benjamini_hochberg(p[4:]))
    # over the whole frame the bulk's small p-values would carry the surface's 0.04 through
    assert np.all(benjamini_hochberg(p)[4:6] <= 0.05) and np.all(q[4:6] > 0.05)
    centres, _ = square_lattice((400, 400), spacing=40)
    inner = centres[(centres.min(axis=1) >= 60) & (centres.max(axis=1) <= 340)]
    lone = np.array([[500.0, 500.0]])
    positions = np.vstack([inner, lone]) * PIXEL
    grouping = fdr_classes(positions, (600, 600), PIXEL, "surface", alpha=1.8)
    assert grouping[-1] == "surface"  # alone in vacuum
    assert set(grouping) == {"surface", "bulk"}
    assert list(fdr_classes(positions, (600, 600), PIXEL, "frame")) == ["frame"] * len(positions)
    with pytest.raises(InputError, match="surface"):
        fdr_classes(positions, (600, 600), PIXEL, "wrong")  # type: ignore[arg-type]


def test_rows_through_a_candidate_are_counted_modulo_half_a_turn():
    assert distinct_axes(np.array([]), 30.0) == 0
    assert distinct_axes(np.array([10.0]), 30.0) == 1
    assert distinct_axes(np.array([0.0, 1.0, 179.0]), 30.0) == 1  # 0 and 179 deg: one row
    assert distinct_axes(np.array([0.0, 90.0]), 30.0) == 2
    assert distinct_axes(np.array([0.0, 60.0, 120.0]), 30.0) == 3


def test_lattice_sites_are_predicted_inside_a_2d_lattice_not_along_a_facet_or_a_fringe():
    rng = np.random.default_rng(5)
    grid = np.array([(y, x) for y in range(5) for x in range(5)], float) * 40.0 + 50.0
    jittered = grid + rng.normal(0, 1.0, grid.shape)
    sites, predicted = lattice_sites(jittered, reach_px=70.0, tolerance_px=8.0)
    interior = np.all((grid > 50) & (grid < 210), axis=1)
    # rows cross only inside: the 9 interior columns; an edge column lies on one row (its facet)
    assert np.array_equal(predicted, interior)
    assert np.allclose(sites[~predicted], jittered[~predicted])
    assert np.max(np.linalg.norm(sites[interior] - grid[interior], axis=1)) < 2.5
    # the site comes from the neighbours: moving a column's own maximum (here without changing
    # which neighbours lie within reach) does not move its site
    moved = jittered.copy()
    moved[12] += (4.0, -3.0)
    again, still = lattice_sites(moved, reach_px=70.0, tolerance_px=8.0)
    assert still[12] and np.allclose(again[12], sites[12])
    # a single row (a facet, or a fringe drawn around a particle) predicts no site
    row = np.stack([np.full(6, 80.0), 40.0 * np.arange(6)], axis=1)
    assert not lattice_sites(row, 60.0, 8.0)[1].any()
    assert not lattice_sites(row[:2], 60.0, 8.0)[1].any()


def test_shape_scores_ignore_the_flat_level_that_fools_a_test_against_vacuum():
    centres, image = square_lattice((200, 200), spacing=40, height=0.2)
    inner = centres[np.all((centres > 30) & (centres < 170), axis=1)]
    rng = np.random.default_rng(8)
    radius = 30.0
    # no columns, a flat level above vacuum: the halo an empty surface site gets from its
    # neighbours' fringes. The shape test stays standard normal; the vacuum test passes it.
    shape_null, vacuum_null, real = [], [], []
    for _ in range(120):
        lit = rng.poisson(1.3 * VACUUM, image.shape).astype(float)
        shape_null.append(shape_scores(lit, image, inner, radius, VACUUM))
        vacuum_null.append(template_scores(lit, image, inner, radius, VACUUM)[0])
        real.append(shape_scores(rng.poisson(image).astype(float), image, inner, radius, VACUUM))
    shape_null, vacuum_null = np.concatenate(shape_null), np.concatenate(vacuum_null)
    assert abs(np.mean(shape_null)) < 0.1 and abs(np.std(shape_null) - 1) < 0.1
    assert np.mean(shape_null > 1.645) < 0.075
    assert np.mean(vacuum_null > 1.645) > 0.5
    assert np.median(np.concatenate(real)) > 2
    assert shape_scores(image, image, np.zeros((0, 2)), radius, VACUUM).shape == (0,)


def test_a_fringe_of_blobs_around_a_particle_does_not_hide_its_surface():
    grid = np.arange(100, 301, 40, dtype=float)  # 6 x 6 columns, 40 px apart
    particle = np.array([(y, x) for y in grid for x in grid])
    # the fringe a network draws around a particle: blobs 25 px (1.5 A) outside its outer layer
    ring = np.arange(75, 326, 40, dtype=float)
    fringe = np.array(
        [(75.0, x) for x in ring] + [(325.0, x) for x in ring]
        + [(y, 75.0) for y in ring[1:-1]] + [(y, 325.0) for y in ring[1:-1]]
    )  # fmt: skip
    positions = np.vstack([particle, fringe]) * PIXEL
    outer = np.zeros(len(positions), dtype=bool)
    outer[: len(particle)] = np.any((particle == 100) | (particle == 300), axis=1)
    second = np.zeros(len(positions), dtype=bool)
    second[: len(particle)] = ~outer[: len(particle)] & np.any(
        (particle == 140) | (particle == 260), axis=1
    )
    shape = (400, 400)
    by_shape = surface_candidates(positions, shape, PIXEL, alpha=2.0)
    assert by_shape[len(particle) :].all() and not by_shape[outer].any()  # the fringe hides it
    vacuum = np.ones(shape, dtype=bool)
    vacuum[90:311, 90:311] = False  # the flat vacuum begins 10 px (0.6 A) outside the particle
    facing = surface_candidates(positions, shape, PIXEL, vacuum, alpha=2.0)
    assert facing[outer].all() and facing[len(particle) :].all()
    assert not facing[second].any()  # 50 px (3 A) from the vacuum: the bulk
    grouping = fdr_classes(positions, shape, PIXEL, "surface", alpha=2.0, vacuum_mask=vacuum)
    assert np.array_equal(grouping == "surface", facing)
    assert surface_candidates(np.zeros((0, 2)), shape, PIXEL, vacuum).shape == (0,)
