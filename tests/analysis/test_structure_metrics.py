"""Precision, recall, F1 and Jaccard of columns, surface and bulk apart: the papers' check."""

import math

import numpy as np
import pytest

from sbdenoise.analysis.columns import detect_columns
from sbdenoise.analysis.structure_metrics import (
    DetectionScores,
    detection_scores,
    structure_scores,
)
from sbdenoise.errors import InputError
from sbdenoise.metrics import psnr
from tests.analysis.test_columns import render_columns
from tests.analysis.test_surface import SPACING, particle

PIXEL_SIZE = 0.1
SHAPE = (256, 256)  # 25.5 A square


@pytest.fixture(scope="module")
def scene():
    """A particle of 21 Gaussian columns (15 on the surface) and estimates with one error each."""
    positions, cells = particle()
    positions = positions + 1.5  # centre it in the frame
    truth_image = render_columns(positions, SHAPE, PIXEL_SIZE)
    # What a good denoiser leaves: a little residual error, the same in every estimate.
    residual = np.random.default_rng(5).normal(0.0, 0.05, SHAPE)
    spurious = np.array([[4 * SPACING, 2 * SPACING]]) + 8.0 + 1.5  # in vacuum, above (3, 2)
    missing = cells.index((3, 2))
    estimates = {
        "good": truth_image + residual,
        "spurious": render_columns(np.vstack([positions, spurious]), SHAPE, PIXEL_SIZE) + residual,
        "missing": render_columns(np.delete(positions, missing, 0), SHAPE, PIXEL_SIZE) + residual,
    }
    return positions, truth_image, estimates


def score(positions, image):
    found = detect_columns(image, PIXEL_SIZE)
    return structure_scores(found.positions, positions, shape=SHAPE, pixel_size=PIXEL_SIZE)


def test_good_estimate_scores_one(scene):
    positions, _, estimates = scene
    scores = score(positions, estimates["good"])
    assert scores.truth_surface.sum() == 15 and (~scores.truth_surface).sum() == 6
    for part in (scores.surface, scores.bulk, scores.all):
        assert (part.precision, part.recall, part.jaccard, part.f1) == (1.0, 1.0, 1.0, 1.0)


def test_one_spurious_column_the_papers_check(scene):
    positions, truth_image, estimates = scene
    scores = score(positions, estimates["spurious"])
    assert round(scores.surface.precision, 3) == 0.933
    assert scores.surface.precision == pytest.approx(14 / 15)
    assert round(scores.surface.jaccard, 3) == 0.875
    # The hidden surface column is now bulk: an extra bulk column, precision 6/7.
    assert scores.bulk.precision == pytest.approx(6 / 7) and scores.bulk.recall == 1.0
    # Over all columns it is one error in 22: the surface metrics show it far more clearly.
    assert scores.all.precision == pytest.approx(21 / 22)
    # PSNR barely moves: one column more costs a fraction of a dB (of about 26 dB).
    good = psnr(estimates["good"], truth_image)
    drop = good - psnr(estimates["spurious"], truth_image)
    assert 0 < drop < 0.4 and drop / good < 0.02  # while the surface Jaccard drops 12.5 %


def test_one_missing_column_the_papers_check(scene):
    positions, truth_image, estimates = scene
    scores = score(positions, estimates["missing"])
    assert round(scores.surface.recall, 3) == 0.933
    assert scores.surface.recall == pytest.approx(14 / 15)
    assert round(scores.surface.jaccard, 3) == 0.875
    # The exposed column is a false surface column and a missing bulk one.
    assert scores.surface.precision == pytest.approx(14 / 15)
    assert scores.bulk.recall == pytest.approx(5 / 6) and scores.bulk.precision == 1.0
    good = psnr(estimates["good"], truth_image)
    drop = good - psnr(estimates["missing"], truth_image)
    assert 0 < drop < 0.4 and drop / good < 0.02  # while the surface Jaccard drops 12.5 %


def test_scores_from_counts_and_empty_sets():
    s = DetectionScores.from_counts(14, 1, 1)
    assert (s.precision, s.recall, s.jaccard) == pytest.approx((14 / 15, 14 / 15, 14 / 16))
    assert s.f1 == pytest.approx(2 * s.precision * s.recall / (s.precision + s.recall))
    empty = detection_scores(np.zeros((0, 2)), np.zeros((0, 2)))
    assert math.isnan(empty.precision) and math.isnan(empty.jaccard)
    none_found = detection_scores(np.zeros((0, 2)), np.ones((3, 2)))
    assert none_found.recall == 0.0 and math.isnan(none_found.precision)
    assert s.as_dict("surface_")["surface_true_positives"] == 14


def test_given_truth_surface_flags_are_used():
    positions, _ = particle()
    flags = np.zeros(len(positions), dtype=bool)
    flags[:5] = True
    scores = structure_scores(positions, positions, truth_surface=flags)
    assert scores.surface.recall == pytest.approx(5 / 5)
    assert scores.surface.precision == pytest.approx(5 / 15)
    with pytest.raises(InputError, match="one flag per true column"):
        structure_scores(positions, positions, truth_surface=flags[:3])
