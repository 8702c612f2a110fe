"""Summed frames in a series: the sums, the drift within them, and the pipeline on sums."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from sbdenoise.cli import app
from sbdenoise.denoise.registry import prepare
from sbdenoise.errors import InputError
from sbdenoise.series import run_series, simulated_series
from sbdenoise.series.binning import drift_within_sum, sum_frames

FRAMES, SIZE, EVENT, PER_SUM = 17, 160, 8, 2
OPTIONS = {"verdicts": "thresholds", "show_progress": False, "report": False}


def test_consecutive_frames_are_summed_and_the_remainder_is_reported():
    rng = np.random.default_rng(0)
    stack = rng.poisson(0.45, (7, 5, 6)).astype(np.float32)
    summed, dropped = sum_frames(stack, 3)
    assert summed.shape == (2, 5, 6) and summed.dtype == np.float32
    assert dropped == 1
    np.testing.assert_array_equal(summed[0], stack[0] + stack[1] + stack[2])
    np.testing.assert_array_equal(summed[1], stack[3] + stack[4] + stack[5])
    # counts are kept: the sums hold every used electron and nothing else
    assert summed.sum() == stack[:6].sum()
    same, none = sum_frames(stack, 1)
    np.testing.assert_array_equal(same, stack)
    assert none == 0


@pytest.mark.parametrize("bad", [0, -2, 1.5, "2", None])
def test_a_count_that_is_not_a_whole_number_of_frames_is_refused(bad):
    with pytest.raises(InputError, match="whole number"):
        sum_frames(np.zeros((4, 3, 3)), bad)


def test_a_frame_or_too_short_a_stack_is_refused():
    with pytest.raises(InputError, match=r"\(frames, y, x\)"):
        sum_frames(np.zeros((3, 3)), 2)
    with pytest.raises(InputError, match="fewer than one sum"):
        sum_frames(np.zeros((2, 3, 3)), 3)


def test_drift_within_a_sum_follows_a_steady_drift():
    # 0.1 A per recorded frame along y; sums of 3 are 0.3 A apart and each spans 0.2 A
    step, n = 0.1, 3
    drift = np.stack([np.arange(5) * step * n, np.zeros(5)], axis=1)
    np.testing.assert_allclose(drift_within_sum(drift, n), (n - 1) * step)
    assert np.all(drift_within_sum(drift, 1) == 0)
    # a jump between two sums is charged to both
    drift[3:, 0] += 1.0
    within = drift_within_sum(drift, n)
    assert within[2] > 0.8 and within[3] > 0.8 and within[0] == pytest.approx(0.2)


@pytest.fixture(scope="module")
def series_and_sums(tmp_path_factory):
    series = simulated_series(n_frames=FRAMES, size=SIZE, event_frame=EVENT, seed=5)
    out = tmp_path_factory.mktemp("binned") / "run"
    result = run_series(
        series.frames, out, pixel_size=series.pixel_size, frames_per_sum=PER_SUM, **OPTIONS
    )
    return series, result


def test_the_pipeline_denoises_the_sums(series_and_sums):
    series, result = series_and_sums
    assert result.n_frames == FRAMES // PER_SUM and result.dropped_frames == FRAMES % PER_SUM
    denoised = np.load(result.out_dir / "denoised.npy")
    assert denoised.shape == (FRAMES // PER_SUM, SIZE, SIZE)
    prepared = prepare("sbd", {})
    expected = prepared.denoise_frame(
        series.frames[2].astype(np.float32) + series.frames[3], series.pixel_size
    )
    np.testing.assert_allclose(denoised[1], expected, rtol=1e-4, atol=1e-4)
    summary = json.loads((result.out_dir / "series.json").read_text())
    assert summary["frames_per_sum"] == PER_SUM
    assert summary["recorded_frames_dropped"] == FRAMES % PER_SUM


def test_the_drift_of_the_sums_is_the_drift_at_their_middle(series_and_sums):
    series, result = series_and_sums
    used = series.drift[: result.n_frames * PER_SUM].reshape(-1, PER_SUM, 2).mean(axis=1)
    truth = used - used[0]
    rms = float(np.sqrt(np.mean(np.sum((result.drift - truth) ** 2, axis=1))))
    assert rms < 0.2
    # the steady drift moves the specimen by about one recorded frame's step within a sum
    per_frame = np.hypot(*np.diff(series.drift, axis=0).T).mean()
    assert np.median(result.drift_within_sum) == pytest.approx(per_frame, abs=0.1)


def test_the_leaving_column_is_found_between_the_right_sums(series_and_sums):
    series, result = series_and_sums
    real = result.real_events
    assert len(real) == 1, real
    assert real[0].kind == "leaves"
    assert real[0].covers(EVENT // PER_SUM)
    assert np.hypot(*(np.asarray(real[0].position) - series.event_position)) < 0.7


def test_another_sum_in_the_same_folder_is_refused_and_too_few_sums_too(series_and_sums):
    series, result = series_and_sums
    with pytest.raises(InputError, match="another input or other options"):
        run_series(series.frames, result.out_dir, pixel_size=series.pixel_size, **OPTIONS)
    with pytest.raises(InputError, match="fewer than 4 sums of 5"):
        run_series(series.frames, result.out_dir.parent / "x", pixel_size=0.061, frames_per_sum=5)


def test_the_cli_passes_the_sum_and_says_so(tmp_path):
    series = simulated_series(n_frames=9, size=SIZE, event_frame=None, seed=6)
    movie = tmp_path / "movie.npy"
    np.save(movie, series.frames)
    args = [
        "series",
        str(movie),
        "-o",
        str(tmp_path / "out"),
        "--pixel-size",
        str(series.pixel_size),
    ]
    result = CliRunner().invoke(app, [*args, "--sum", "2", "--verdicts", "thresholds", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "sum of 2 recorded frames (1 left over" in result.output
    page = (tmp_path / "out" / "report.html").read_text()
    assert "sum of 2 recorded frames" in page
    bad = CliRunner().invoke(app, [*args[:3], str(tmp_path / "o2"), "--sum", "0", "--quiet"])
    assert bad.exit_code != 0 and "whole number" in bad.output


def test_sums_beyond_the_training_doses_are_warned_about(series_and_sums, tmp_path):
    series, result = series_and_sums
    assert result.notes == []  # two 0.45 e-/px frames: 0.9 e-/px, inside 40-400 e-/A^2
    heavy = run_series(
        series.frames[:16], tmp_path / "heavy", pixel_size=series.pixel_size, frames_per_sum=4,
        **OPTIONS,
    )  # fmt: skip
    assert len(heavy.notes) == 1 and "outside the doses the model was trained for" in heavy.notes[0]
