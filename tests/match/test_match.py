"""sbdenoise.match: registration, likelihood, ranking, subset, CLI and the done-when recovery.

Fast tests use a small analytic store (Gaussian columns whose height and width depend on a
"defocus"); the recovery tests use abTEM multislice (``conftest.py``) and are marked slow.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from sbdenoise.errors import FileFormatError, InputError
from sbdenoise.match import match_conditions, observe
from sbdenoise.match.conditions import rank_conditions, subset_filters
from sbdenoise.match.likelihood import registered_loglik
from sbdenoise.simulate.contrast import classify_contrast
from sbdenoise.simulate.store import ImageRecord, consolidate, write_part
from sbdenoise.specimen.columns import column_table
from sbdenoise.synthetic import render_columns

from .conftest import GRID_STEP_NM, draw_series

PIXEL = 0.08
SIZE = 160
TOY_DEFOCI = (-12.0, -8.0, -4.0, 0.0, 4.0, 8.0)


def _toy_columns(seed: int, extent: float) -> np.ndarray:
    """A 2.8 A square lattice of columns, randomly shifted (y, x) angstrom."""
    offset = np.random.default_rng(seed).uniform(0, 2.8, 2)
    grid = np.arange(-2.8, extent + 2.8, 2.8)
    yy, xx = np.meshgrid(grid, grid, indexing="ij")
    return np.column_stack([yy.ravel(), xx.ravel()]) + offset


def toy_image(defocus: float, seed: int, pixel: float = PIXEL, size: int = SIZE):
    """Clean image (e-/px at 0.45 in vacuum) whose column height and width follow ``defocus``."""
    columns = _toy_columns(seed, size * pixel)
    height = 0.45 * 0.4 * np.cos(np.pi * (defocus + 14.0) / 24.0)  # never 0 on the grid
    sigma = 0.35 + 0.02 * abs(defocus)
    image = 0.45 + render_columns(
        columns, np.full(len(columns), height), (size, size), pixel, sigma
    )
    return np.clip(image, 0.01, None), columns


def write_toy_store(directory, defoci=TOY_DEFOCI, with_contrast=True):
    """An analytic dataset store: two structures (seeds) x ``defoci``."""
    index = 0
    for structure in range(2):
        for defocus in defoci:
            image, columns = toy_image(defocus, seed=structure)
            table = column_table(
                columns[:, 1],
                columns[:, 0],
                ["Pt"] * len(columns),
                [5] * len(columns),
                [False] * len(columns),
            )
            params = {
                "structure_id": structure,
                "split": "train",
                "defocus_nm": defocus,
                "pixel_size": PIXEL,
                "dose": 0.45,
            }
            if with_contrast:
                params["contrast"] = classify_contrast(image, table, PIXEL, 0.45)[0]
            write_part(directory, ImageRecord(index, image.astype(np.float32), params, table))
            index += 1
    consolidate(directory, index, {"name": "toy"})
    return directory


@pytest.fixture(scope="module")
def toy_store(tmp_path_factory):
    return write_toy_store(tmp_path_factory.mktemp("toy") / "data")


def toy_series(defocus, seed, n_frames=20, pixel=0.07):
    """Noisy drifting frames of a toy structure outside the store (seed 7) at another pixel."""
    clean, _ = toy_image(defocus, seed=7, pixel=pixel, size=200)
    return draw_series(clean, pixel, seed, n_frames, size=120), pixel


# --- likelihood and registration -------------------------------------------------------------


def test_registration_finds_the_shift_and_the_dose():
    model, _ = toy_image(-8.0, seed=1)
    rng = np.random.default_rng(0)
    r0, c0 = 17, 31
    counts = rng.poisson(3.0 * model[r0 : r0 + 100, c0 : c0 + 100])
    fit = registered_loglik(counts, model)
    period = 2.8 / PIXEL  # the lattice repeats every 35 px: any period is the same fit
    error = (np.subtract(fit.offset, (r0, c0)) + period / 2) % period - period / 2
    assert np.all(np.abs(error) <= 1.0)
    assert fit.scale == pytest.approx(3.0, rel=0.02)
    assert 0.8 < fit.deviance_per_px < 1.3  # explained up to shot noise
    blurred = registered_loglik(counts, toy_image(8.0, seed=1)[0])
    assert blurred.loglik < fit.loglik - 50


def test_tiles_explain_a_mixed_field_better_than_one_registration():
    model, _ = toy_image(-8.0, seed=1)
    rng = np.random.default_rng(1)
    field = np.concatenate([model[:60, :120], toy_image(-8.0, seed=2)[0][:60, :120]])
    counts = rng.poisson(2.0 * field)  # two lattices shifted against each other
    whole = registered_loglik(counts, model)
    tiled = registered_loglik(counts, model, tiles=2)
    assert tiled.loglik > whole.loglik + 20
    assert tiled.offset == whole.offset and tiled.scale == whole.scale
    with pytest.raises(InputError, match="tiles"):
        registered_loglik(counts, model, tiles=20)


def test_registration_refuses_a_too_small_model():
    with pytest.raises(InputError, match="smaller"):
        registered_loglik(np.ones((50, 50)), np.ones((40, 60)))


# --- observation -----------------------------------------------------------------------------


def test_observation_aligns_and_sums_counts():
    frames, pixel = toy_series(0.0, seed=3, n_frames=12)
    observation = observe(frames, pixel)
    assert observation.n_frames == 12
    assert observation.counts.dtype == np.float64
    assert np.allclose(observation.counts, np.rint(observation.counts))  # still whole counts
    assert observation.dose == pytest.approx(frames.mean(), rel=0.05)
    assert np.abs(observation.drift[-1]).max() > 0.1  # the series drifts by up to 1.5 A


def test_observation_needs_a_pixel_size():
    with pytest.raises(InputError, match="pixel size"):
        observe(np.ones((4, 64, 64)), None)
    with pytest.raises(InputError):
        observe(np.ones((4, 64, 64)), -0.05)


# --- ranking and subset ----------------------------------------------------------------------


def test_conditions_rank_by_their_best_image_and_give_filters():
    params = {
        "defocus_nm": np.array([-8.0, -8.0, -4.0, -4.0, 0.0]),
        "contrast": np.array(["white", "white", "white", "intermediate", "black"]),
    }
    logliks = np.array([-10.0, -30.0, -12.0, -11.0, -50.0])
    ranked = rank_conditions(params, np.arange(5), logliks, np.ones(5), ("defocus_nm",))
    assert [c.values["defocus_nm"] for c in ranked] == [-8.0, -4.0, 0.0]
    assert ranked[0].delta == 0.0 and ranked[1].delta == pytest.approx(-1.0)
    assert ranked[0].n_images == 2 and ranked[0].best_index == 0
    mean = rank_conditions(params, np.arange(5), logliks, np.ones(5), ("defocus_nm",), "mean")
    assert mean[0].values["defocus_nm"] == -4.0  # -11.5 on average beats -20
    both = rank_conditions(params, np.arange(5), logliks, np.ones(5), ("defocus_nm", "contrast"))
    filters, ignored = subset_filters(both[:3])
    assert filters == {"defocus_nm": [-8.0, -4.0], "contrast": ["intermediate", "white"]}
    assert ignored == []


# --- the API on the analytic store -----------------------------------------------------------


@pytest.mark.parametrize("truth", [-8.0, 4.0])
def test_match_recovers_the_toy_defocus(toy_store, truth):
    frames, pixel = toy_series(truth, seed=11)
    result = match_conditions(frames, toy_store, pixel_size=pixel)
    assert result.best.values["defocus_nm"] == truth
    assert result.conditions[-1].delta < -100
    assert len(result.images) == 2 * len(TOY_DEFOCI)


def test_match_refuses_bad_inputs(toy_store, tmp_path):
    frames, pixel = toy_series(0.0, seed=1, n_frames=4)
    with pytest.raises(InputError, match="pixel size"):
        match_conditions(frames, toy_store, pixel_size=None)
    with pytest.raises(InputError, match="records no 'tilt_x_deg'"):
        match_conditions(frames, toy_store, pixel_size=pixel, by=("tilt_x_deg",))
    with pytest.raises(InputError, match="no simulated images"):
        match_conditions(frames, toy_store, pixel_size=pixel, criteria={"split": "test"})
    with pytest.raises(FileFormatError):
        match_conditions(frames, tmp_path / "empty", pixel_size=pixel)
    no_contrast = write_toy_store(tmp_path / "no-contrast", defoci=(0.0,), with_contrast=False)
    with pytest.raises(InputError, match="records no 'contrast'"):
        match_conditions(frames, no_contrast, pixel_size=pixel)
    with pytest.raises(InputError, match="compared"):  # a wrong pixel size leaves too little
        match_conditions(frames, toy_store, pixel_size=pixel * 20)


# --- CLI -------------------------------------------------------------------------------------


def test_cli_match_writes_table_figure_and_subset(toy_store, tmp_path):
    from sbdenoise.cli import app
    from sbdenoise.cli.train import build_spec
    from sbdenoise.io import Micrograph, write_image
    from sbdenoise.training.spec import TrainSpec

    frames, pixel = toy_series(-8.0, seed=5, n_frames=15)
    movie = tmp_path / "movie.tif"
    write_image(Micrograph(frames, pixel), movie)
    out = tmp_path / "match"
    runner = CliRunner()
    result = runner.invoke(
        app, ["match", str(movie), "--dataset", str(toy_store), "-o", str(out), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    assert "Simulated conditions" in result.output and "Δlog L" in result.output
    first_row = next(line for line in result.output.splitlines() if re.match(r"│\s+1\s+│", line))
    assert "-8" in first_row
    png = (out / "match.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    ranking = (out / "ranking.csv").read_text().splitlines()
    assert ranking[0].startswith("rank,defocus_nm,contrast") and len(ranking) > 3
    subset = yaml.safe_load((out / "match.yaml").read_text())
    assert subset["filters"]["defocus_nm"][0] <= -8.0 <= subset["filters"]["defocus_nm"][1]
    spec = TrainSpec.from_yaml(out / "match.yaml")  # train --spec accepts it as it is
    assert spec.filters.defocus_nm == tuple(subset["filters"]["defocus_nm"])
    from sbdenoise.cli.match import match_filters

    merged = build_spec(toy_store, match_filters=match_filters(out / "match.yaml", None))
    assert merged.filters.contrast == subset["filters"]["contrast"]
    overridden = build_spec(
        toy_store, match_filters=match_filters(out / "match.yaml", None), contrast=["black"]
    )
    assert overridden.filters.contrast == ["black"]  # options given beat the match


def test_cli_match_reports_a_missing_pixel_size(toy_store, tmp_path):
    from sbdenoise.cli import app

    movie = tmp_path / "movie.npy"
    np.save(movie, toy_series(0.0, seed=2, n_frames=3)[0])
    result = CliRunner().invoke(
        app, ["match", str(movie), "--dataset", str(toy_store), "-o", str(tmp_path / "m")]
    )
    assert result.exit_code == 2
    assert "pixel size" in result.output


# --- done-when: abTEM coarse grid, 0.45 e-/px ------------------------------------------------


def _truth_contrast(sources, k, frames_seed, n_frames):
    """Contrast class of what the series' field shows (the clean crop of frame 0)."""
    size = 256
    margin = (sources.images[k].shape[0] - size) // 2
    rng = np.random.default_rng(frames_seed)
    rng.uniform(-1.5, 1.5, 2)
    r0, c0 = margin + rng.integers(-margin // 2, margin // 2 + 1, 2)
    columns = sources.columns.copy()
    columns["x"] -= c0 * sources.pixel_size
    columns["y"] -= r0 * sources.pixel_size
    crop = sources.images[k][r0 : r0 + size, c0 : c0 + size]
    return classify_contrast(crop, columns, sources.pixel_size, 0.45)[0]


@pytest.mark.slow
def test_match_recovers_defocus_and_contrast_in_ten_series(coarse_dataset, series_sources):
    hits, lines = 0, []
    for seed in range(10):
        rng = np.random.default_rng([13, seed])
        k = int(rng.integers(len(series_sources.defocus_nm)))
        n_frames = int(rng.integers(10, 41))
        frames = draw_series(series_sources.images[k], series_sources.pixel_size, seed, n_frames)
        result = match_conditions(frames, coarse_dataset, pixel_size=series_sources.pixel_size)
        truth = series_sources.defocus_nm[k]
        found = result.best.values["defocus_nm"]
        contrast = _truth_contrast(series_sources, k, seed, n_frames)
        hit = abs(found - truth) <= GRID_STEP_NM + 1e-6 and result.contrast[0] == contrast
        hits += hit
        lines.append(
            f"seed {seed}, {n_frames} frames: {truth:+.0f} nm {contrast} -> {found:+.0f} nm "
            f"{result.contrast[0]} (grid class {result.best.values['contrast']})"
        )
    print("\n".join(lines))  # shown with pytest -s
    assert hits >= 9, lines


@pytest.mark.slow
def test_match_from_single_frames(coarse_dataset, series_sources):
    hits = 0
    for seed in range(4):
        k = (2 * seed + 1) % len(series_sources.defocus_nm)
        frame = draw_series(series_sources.images[k], series_sources.pixel_size, seed, 1)[0]
        result = match_conditions(frame, coarse_dataset, pixel_size=series_sources.pixel_size)
        assert result.observation.n_frames == 1
        found = result.best.values["defocus_nm"]
        hits += abs(found - series_sources.defocus_nm[k]) <= GRID_STEP_NM + 1e-6
    assert hits >= 3
