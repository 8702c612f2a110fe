"""Missed surface columns against empty lattice sites (benchmarks/surface_separability.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.analysis.test_evaluation import make_store


@pytest.fixture(scope="module")
def separability(benchmark_module):
    return benchmark_module("surface_separability")


def _half_lattice(spacing: float = 2.0, rows: int = 6, cols: int = 8) -> np.ndarray:
    """A square lattice filling y < rows * spacing: its top row (largest y) faces vacuum."""
    y, x = np.meshgrid(np.arange(rows) * spacing, np.arange(cols) * spacing, indexing="ij")
    return np.stack([y.ravel(), x.ravel()], axis=1) + 10.0


def test_empty_sites_continue_the_rows_beyond_the_surface_only(separability):
    lattice = _half_lattice()
    top = lattice[:, 0] == lattice[:, 0].max()
    sites = separability.empty_sites(lattice[top], lattice, lattice)
    assert len(sites) > 0
    # every site lies outside the particle (above it, or beyond the ends of its top row), one
    # step or a diagonal step out, never on a column
    (y0, x0), (y1, x1) = lattice.min(axis=0), lattice.max(axis=0)
    outside = (sites[:, 0] > y1 + 1.0) | (sites[:, 1] < x0 - 1.0) | (sites[:, 1] > x1 + 1.0)
    assert np.all(outside)
    assert np.all(sites[:, 0] <= y1 + 2.0 + 1e-9) and np.all(sites[:, 0] > y0)
    nearest = np.min(np.hypot(*(sites[:, None, :] - lattice[None]).transpose(2, 0, 1)), axis=1)
    assert np.all(nearest >= separability.EMPTY_CLEARANCE_A)
    # the site straight above each top column is there, once
    above = lattice[top] + [2.0, 0.0]
    for site in above:
        assert np.sum(np.hypot(*(sites - site).T) < separability.MERGE_A) == 1


def test_a_column_of_another_element_there_makes_the_site_not_empty(separability):
    lattice = _half_lattice()
    top = lattice[:, 0] == lattice[:, 0].max()
    support = lattice[top] + [2.0, 0.0]  # a layer of support columns just beyond the surface
    sites = separability.empty_sites(lattice[top], lattice, np.concatenate([lattice, support]))
    assert not np.any(np.min(np.hypot(*(sites[:, None] - support[None]).T), axis=0) < 1.0)


def test_a_run_sorts_the_true_surface_columns_by_the_detector_threshold(separability, tmp_path):
    data = make_store(tmp_path / "data", n_test=2)
    out = tmp_path / "out"
    run = ["--dataset", str(data), "--methods", "gaussian", "--output", str(out)]
    found_all = separability.main([*run[:3], "gaussian", "clean", *run[4:]])
    for name in ("gaussian", "clean"):
        entry = found_all["methods"][name]
        assert entry["counts_per_frame"]["found"] > 5 and entry["counts_per_frame"]["missed"] == 0
        assert min(entry["values"]["found"]) >= 0.7  # at the true positions, not the peaks
        assert [row["fraction"] for row in entry["lowered"]] == list(separability.FRACTIONS)
    # a threshold too high for these columns misses every one of them, each below it
    strict = separability.main([*run, "--min-contrast", "gaussian=0.5"])["methods"]["gaussian"]
    stricter = separability.main([*run, "--min-contrast", "gaussian=1.0"])["methods"]["gaussian"]
    assert strict["counts_per_frame"]["found"] == 0 and max(strict["values"]["missed"]) < 1.0
    # the response is over the threshold: twice the threshold, about half the ratio (the
    # response's scale follows the columns each threshold detects, so not exactly half)
    ratio = np.mean(stricter["values"]["missed"]) / np.mean(strict["values"]["missed"])
    assert 0.4 < ratio < 0.6
    # the lowered thresholds recover the missed columns in order of their response
    recovered = [row["recovered_share"] for row in strict["lowered"]]
    assert recovered == sorted(recovered, reverse=True) and recovered[0] == 1.0
    saved = json.loads((out / "surface_separability.json").read_text())
    assert saved["images"] == 2 and saved["methods"]["gaussian"]["min_contrast"] == 1.0
    assert "| gaussian | missed |" in (out / "surface_separability.md").read_text()
    assert (out / "surface_separability.png").stat().st_size > 10_000
