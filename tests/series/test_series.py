"""The in-situ series workflow on simulated series with known drift and a known event."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from sbdenoise.cli import app
from sbdenoise.errors import InputError
from sbdenoise.series import common_window, run_series, simulated_series
from sbdenoise.series import pipeline as pipeline_module
from sbdenoise.series.drift import register
from sbdenoise.series.events import (
    change_interval,
    change_p_values,
    change_statistic,
    event_family,
    merge_sites,
    surface_flags,
)

FRAMES, SIZE, EVENT = 20, 160, 10
#: Small and fast: the analytic lattice (strong columns), thresholds instead of a simulated null.
OPTIONS = {"verdicts": "thresholds", "show_progress": False}


@pytest.fixture(scope="module")
def moving_series():
    return simulated_series(n_frames=FRAMES, size=SIZE, event_frame=EVENT, seed=3)


@pytest.fixture(scope="module")
def analysed(moving_series, tmp_path_factory):
    out = tmp_path_factory.mktemp("series") / "run"
    result = run_series(moving_series.frames, out, pixel_size=moving_series.pixel_size, **OPTIONS)
    return result


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_drift_is_recovered_within_a_fifth_of_an_angstrom(moving_series, analysed):
    # On this small field (160 px, 1 nm) at 0.45 e-/px the estimate's error is 0.06-0.22 A rms
    # over seeds 3-6: v3 and v4 0.06-0.20 (seed 3: 0.092 with v3, 0.108 with v4); v19 0.127,
    # 0.208, 0.151, 0.106 and v20 0.158, 0.220, 0.175, 0.132 on seeds 3-6 (v20 is the sharper
    # denoiser and 0.02-0.03 A worse here on every seed). The demo's larger movie comes within
    # 0.06 A. The bound is the small field's over models and seeds, with some margin.
    error = analysed.drift - moving_series.drift
    rms = float(np.sqrt(np.mean(np.sum(error**2, axis=1))))
    assert np.hypot(*moving_series.drift[-1]) > 1.0  # the series does drift
    assert rms < 0.2


def test_the_leaving_column_is_reported_at_its_frame_with_a_real_verdict(moving_series, analysed):
    real = analysed.real_events
    assert len(real) == 1, real
    event = real[0]
    assert event.kind == "leaves"
    assert abs(event.frame - EVENT) <= 1
    assert event.frames[0] <= event.frame <= event.frames[1] and event.covers(EVENT)
    assert np.hypot(*(np.asarray(event.position) - moving_series.event_position)) < 0.7
    assert event.surface
    assert event.q_value <= 0.05
    rows = _rows(analysed.files["events_csv"])
    assert rows[0]["verdict"] == "real" and rows[0]["kind"] == "leaves"


def test_report_and_outputs_are_written(analysed):
    out = analysed.out_dir
    page = (out / "report.html").read_text()
    assert "leaves" in page and "animation.gif" in page
    import imageio.v3 as iio

    assert iio.imread(out / "animation.gif").shape[0] == FRAMES
    assert len(list((out / "frames").glob("verdicts-*.csv"))) == FRAMES
    assert np.load(out / "denoised.npy").shape == (FRAMES, SIZE, SIZE)
    assert len(_rows(out / "drift.csv")) == FRAMES
    assert 0.5 < analysed.profiles.r_profile <= 1.0


@pytest.mark.slow
def test_a_killed_run_resumes_to_the_same_results(moving_series, analysed, tmp_path, monkeypatch):
    out = tmp_path / "killed"
    real_judge = pipeline_module.judge_frame
    calls = {"n": 0}

    def judge_then_die(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 12:
            raise KeyboardInterrupt
        return real_judge(*args, **kwargs)

    monkeypatch.setattr(pipeline_module, "judge_frame", judge_then_die)
    with pytest.raises(KeyboardInterrupt):
        run_series(moving_series.frames, out, pixel_size=moving_series.pixel_size, **OPTIONS)
    monkeypatch.setattr(pipeline_module, "judge_frame", real_judge)
    assert not (out / "events.csv").exists()

    resumed = run_series(moving_series.frames, out, pixel_size=moving_series.pixel_size, **OPTIONS)
    assert resumed.resumed_frames == FRAMES  # the denoising was not redone
    for name in (
        "drift.csv",
        "sites.csv",
        "events.csv",
        "profiles.csv",
        "frames/verdicts-0015.csv",
    ):
        assert (out / name).read_text() == (analysed.out_dir / name).read_text(), name


def test_another_input_in_the_same_folder_is_refused(moving_series, analysed):
    other = moving_series.frames.copy()
    other[0, 0, 0] += 1
    with pytest.raises(InputError, match="another input or other options"):
        run_series(other, analysed.out_dir, pixel_size=moving_series.pixel_size, **OPTIONS)


@pytest.mark.slow
def test_static_series_gives_no_event_from_the_cli(tmp_path):
    static = simulated_series(n_frames=FRAMES, size=SIZE, event_frame=None, seed=4)
    movie = tmp_path / "static.npy"
    np.save(movie, static.frames)
    result = CliRunner().invoke(
        app,
        [
            "series",
            str(movie),
            "-o",
            str(tmp_path / "out"),
            "--pixel-size",
            str(static.pixel_size),
            "--verdicts",
            "thresholds",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Report:" in result.output
    rows = _rows(tmp_path / "out" / "events.csv")
    assert not [r for r in rows if r["verdict"] == "real"]


def test_single_frame_and_too_short_series_are_refused(moving_series, tmp_path):
    with pytest.raises(InputError, match="single frame"):
        run_series(moving_series.frames[0], tmp_path / "a", pixel_size=0.061, **OPTIONS)
    with pytest.raises(InputError, match="at least"):
        run_series(moving_series.frames[:3], tmp_path / "b", pixel_size=0.061, **OPTIONS)
    with pytest.raises(InputError, match="pixel size"):
        run_series(moving_series.frames, tmp_path / "c", **OPTIONS)


def test_change_statistic_finds_a_step_and_its_p_values_are_calibrated():
    rng = np.random.default_rng(0)
    exposure = rng.uniform(0.9, 1.1, 40)[:, None]
    step = np.where(np.arange(40) < 25, 100.0, 80.0)[:, None] * exposure
    counts = rng.poisson(np.repeat(step, 3, axis=1))
    statistic, frame = change_statistic(counts / exposure, counts / exposure**2)
    assert np.all(np.abs(frame - 25) <= 1)
    assert np.all(statistic > 10)

    null_counts = rng.poisson(exposure * np.full((1, 300), 100.0))
    values, variance = null_counts / exposure, null_counts / exposure**2
    statistic, _ = change_statistic(values, variance)
    p = change_p_values(statistic, values, variance, permutations=50, seed=1)
    assert 0.02 <= np.mean(p < 0.05) <= 0.09
    assert 0.07 <= np.mean(p < 0.1) <= 0.14


def test_the_change_frame_interval_covers_the_truth_and_shrinks_with_evidence():
    """At one column's contrast (a 15 % step in about 140 counts per frame) the most likely
    frame misses the true one by more than a frame in about a fifth of the series; the
    likelihood interval covers it in about 9 of 10, and a step twice as large pins it."""
    rng = np.random.default_rng(3)
    widths = []
    for drop, least in ((20.0, 0.86), (40.0, 0.95)):
        level = np.where(np.arange(40) < 20, 140.0, 140.0 - drop)[:, None]
        counts = rng.poisson(np.repeat(level, 1000, axis=1)).astype(float)
        _, frame = change_statistic(counts, counts)
        low, high = change_interval(counts, counts)
        assert np.all((low <= frame) & (frame <= high))
        assert np.mean((low <= 20) & (20 <= high)) >= least
        widths.append(np.mean(high - low))
    assert widths[1] < 0.5 * widths[0]


def test_a_strong_change_gets_a_p_value_beyond_the_permutations():
    """The exponential tail extends the pooled permutation null: a 10-sigma step is not
    capped at 1 / (permutations x sites)."""
    rng = np.random.default_rng(1)
    counts = rng.poisson(np.full((40, 30), 100.0)).astype(float)
    counts[20:, 0] -= 40.0
    statistic, _ = change_statistic(counts, counts)
    p = change_p_values(statistic, counts, counts, permutations=20, seed=0)
    assert p[0] < 1e-6
    assert np.all(p[1:] > 1e-4)


def test_registration_does_not_lock_onto_a_lattice_vector():
    """A crystal correlates with itself at every lattice vector; removing one column used to
    make plain phase correlation jump by one (2.4 A here)."""
    series = simulated_series(n_frames=12, size=SIZE, event_frame=6, seed=5)
    pixel = series.pixel_size
    for t in (5, 6, 11):
        found = register(
            series.expectation[0],
            series.expectation[t],
            pixel,
            expected_px=series.drift[t - 1] / pixel,
        )
        assert np.hypot(*(found * pixel - series.drift[t])) < 0.03


def test_common_window_refuses_a_drift_larger_than_the_frame():
    drift = np.array([[0.0, 0.0], [9.5, 0.0]])
    with pytest.raises(InputError, match="no common field of view"):
        common_window(drift, 0.061, (160, 160))


def test_sites_merge_nearby_positions():
    sites = merge_sites([np.array([[0.0, 0.0], [5.0, 5.0]]), np.array([[0.4, 0.0]])])
    assert sites.shape == (2, 2)
    assert np.allclose(sites[0], [0.2, 0.0])


def test_truth_flags_the_leaving_column_as_a_surface_column(moving_series):
    """The series' truth says which columns face vacuum; the one that leaves is one of them."""
    flags = moving_series.on_surface
    assert flags.shape == (len(moving_series.columns),) and flags.dtype == bool
    leaving = np.argmin(np.hypot(*(moving_series.columns - moving_series.event_position).T))
    assert flags[leaving]
    assert not flags.all()  # the support's columns are not particle surface


def test_a_column_under_the_fresnel_fringe_stays_in_the_event_family():
    """At defocus the counts support maxima just outside the particle (the fringe); the outline
    then draws its surface through them and the real top layer looks one layer deep. The event
    family keeps that layer and still leaves out the particle's core; a lone site out in the
    vacuum (where an atom could arrive) is tested as before."""
    spacing = 2.4
    grid = np.array([(r, c) for r in range(8) for c in range(8)], dtype=float) * spacing
    fringe = np.array([(-1.0, c) for c in range(1, 7)]) * spacing
    far_vacuum = np.array([[-12.0, 8.0]])
    sites = np.vstack([grid, fringe, far_vacuum])
    outline = np.vstack([grid, fringe])
    top_layer = np.flatnonzero(
        (grid[:, 0] == 0) & (grid[:, 1] > spacing) & (grid[:, 1] < 6 * spacing)
    )
    core = np.flatnonzero(
        (grid[:, 0] >= 2 * spacing)
        & (grid[:, 0] <= 5 * spacing)
        & (grid[:, 1] >= 2 * spacing)
        & (grid[:, 1] <= 5 * spacing)
    )
    plain = surface_flags(sites, outline)
    family = event_family(sites, outline)
    assert not plain[top_layer].any()  # the fringe hides the real surface from the outline
    assert family[top_layer].all()
    assert family[len(grid) : len(grid) + len(fringe)].all()  # the fringe sites stay tested
    assert not family[core].any()
    assert family[-1] and plain[-1]
    # without a fringe the family is the surface plus one layer: nothing deeper
    bare = event_family(grid, grid)
    depth = np.minimum.reduce(
        [grid[:, 0], grid[:, 1], 7 * spacing - grid[:, 0], 7 * spacing - grid[:, 1]]
    )
    assert np.array_equal(bare, depth < 1.5 * spacing)


@pytest.mark.slow
def test_the_series_demo_scores_its_events_against_the_truth(tmp_path):
    """The demo's verdict on its own movie: the leaving column found, every other real event
    counted as false (nothing else changes in the simulation)."""
    from sbdenoise.series.demo import run_series_demo

    movie = run_series_demo(
        tmp_path / "series",
        n_frames=FRAMES,
        size=SIZE,
        source="lattice",
        seed=3,
        show_progress=False,
    )
    assert movie.event_found
    assert movie.false_events == len(movie.result.real_events) - 1
    # the same small field and seed as test_drift_is_recovered_within_a_fifth_of_an_angstrom
    assert movie.drift_error_rms < 0.2
    assert movie.movie_path.exists() and (tmp_path / "series" / "truth.json").exists()
