"""Electron counts against detector units: never silently treat the latter as the former."""

import numpy as np
import pytest

from sbdenoise.counts import assess_counts, detector_to_counts, prepare_counts
from sbdenoise.errors import NotCountsError
from sbdenoise.noise import sample_poisson, sample_poisson_gaussian
from sbdenoise.synthetic import synthetic_lattice


@pytest.fixture(scope="module")
def expectation():
    return synthetic_lattice((256, 256)).expectation


def test_poisson_frame_and_stack_look_like_counts(expectation):
    rng = np.random.default_rng(0)
    frame = sample_poisson(expectation, rng)
    assert assess_counts(frame).looks_like_counts
    stack = np.stack([sample_poisson(expectation, rng) for _ in range(8)])
    assert assess_counts(stack).looks_like_counts
    assert prepare_counts(frame).dtype == np.float32


def test_detector_units_are_refused_with_what_to_pass(expectation):
    rng = np.random.default_rng(1)
    frame = np.round(sample_poisson_gaussian(expectation * 30, rng, 6.0, 2000.0, 2.0))
    assessment = assess_counts(frame.astype(np.uint16))
    assert not assessment.looks_like_counts
    with pytest.raises(NotCountsError) as info:
        prepare_counts(frame.astype(np.uint16), source="frame.tif")
    message = str(info.value)
    assert message.startswith("frame.tif:")
    for option in ("--gain", "--offset", "--assume-counts"):
        assert option in message


def test_counts_on_an_offset_are_refused(expectation):
    frame = sample_poisson(expectation, np.random.default_rng(2)) + 100
    assessment = assess_counts(frame)
    assert not assessment.looks_like_counts
    assert any("no pixel is zero" in reason for reason in assessment.reasons)


def test_negative_and_fractional_values_are_not_counts(expectation):
    rng = np.random.default_rng(3)
    frame = sample_poisson(expectation, rng).astype(np.float32)
    assert not assess_counts(frame - 1).looks_like_counts
    assert not assess_counts(frame + 0.25).looks_like_counts


def test_gain_and_offset_convert_to_counts(expectation):
    rng = np.random.default_rng(4)
    frame = sample_poisson_gaussian(expectation * 20, rng, 6.0, 2000.0, 0.0)
    counts = prepare_counts(frame, gain=6.0, offset=2000.0)
    assert counts.mean() == pytest.approx(expectation.mean() * 20, rel=0.01)
    assert assess_counts(np.round(counts)).looks_like_counts


def test_an_offset_too_large_is_refused(expectation):
    frame = sample_poisson(expectation, np.random.default_rng(5)) + 10
    with pytest.raises(NotCountsError, match="offset is too large"):
        prepare_counts(frame, offset=12.0)


def test_assume_counts_skips_the_check(expectation):
    frame = sample_poisson(expectation, np.random.default_rng(6)) + 100
    assert prepare_counts(frame, assume_counts=True).mean() > 100


def test_detector_to_counts_rejects_non_positive_gain():
    with pytest.raises(ValueError, match="gain"):
        detector_to_counts(np.ones((4, 4)), gain=0.0)
