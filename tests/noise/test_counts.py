"""Electron counts against detector units: never silently treat the latter as the former."""

import numpy as np
import pytest

from sbdenoise.errors import NotCountsError
from sbdenoise.noise.counts import (
    assess_counts,
    detector_to_counts,
    prepare_counts,
    quantisation_step,
    zero_fraction_deficit,
)
from sbdenoise.noise.models import sample_poisson, sample_poisson_gaussian
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


def test_gain_and_offset_that_mimic_poisson_dispersion_are_refused():
    """2 x Poisson(0.5) + 1 has mean 2 and variance 2, yet moves in steps of 2 electrons."""
    rng = np.random.default_rng(5)
    frame = 2 * rng.poisson(0.5, (256, 256)) + 1
    assert frame.var() / frame.mean() == pytest.approx(1.0, abs=0.05)
    assessment = assess_counts(frame.astype(np.uint16))
    assert not assessment.looks_like_counts
    assert any("quantised in steps of 2" in reason for reason in assessment.reasons)
    assert quantisation_step(frame) == 2


def test_too_few_zeros_for_poisson_counts_are_refused():
    """Counts plus a sparse dark signal: zeros fewer than exp(-mean) allows."""
    rng = np.random.default_rng(6)
    frame = rng.poisson(0.45, (256, 256)) + (rng.random((256, 256)) < 0.4)
    assessment = assess_counts(frame.astype(np.uint16))
    assert not assessment.looks_like_counts
    reason = next(r for r in assessment.reasons if "of pixels are zero" in r)
    observed, bound = zero_fraction_deficit(frame)
    assert observed == pytest.approx(np.mean(frame == 0))
    assert bound == pytest.approx(np.exp(-frame.mean()))
    assert f"{observed:.2%}" in reason


@pytest.mark.parametrize("dose", [0.05, 0.45, 1.5, 6.0])
def test_real_poisson_frames_pass_the_zero_and_step_checks(expectation, dose):
    """No false alarm over 20 seeds per dose, with structure (the bound holds for any image)."""
    for seed in range(20):
        frame = np.random.default_rng([seed, int(dose * 100)]).poisson(expectation * dose / 0.45)
        assert zero_fraction_deficit(frame) is None, (dose, seed)
        assert quantisation_step(frame) == 1


@pytest.mark.parametrize("dose", [0.15, 0.45, 1.5, 3.0])
def test_a_flat_poisson_frame_is_counts_at_any_dose(dose):
    # block means of a flat frame differ by shot noise only: no gain or offset can be fitted from
    # them (a line through them once reported gain 1.33, offset 0.35 at 1.5 e-/px)
    for seed in range(4):
        counts = np.random.default_rng(seed).poisson(dose, size=(128, 128)).astype(np.uint16)
        assessment = assess_counts(counts)
        assert assessment.looks_like_counts, assessment.summary()
        assert assessment.noise is not None and assessment.noise.fit_from_one_level
    # the same frame in detector units (gain 3, offset 50) is still refused
    units = np.random.default_rng(0).poisson(dose, size=(128, 128)) * 3 + 50
    assert not assess_counts(units.astype(np.uint16)).looks_like_counts
