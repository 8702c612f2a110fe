"""The counts-only oracle for short surface columns (benchmarks/surface_oracle.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sbdenoise.analysis.detectability import LikelihoodRatioTest
from sbdenoise.specimen.columns import column_table


@pytest.fixture(scope="module")
def oracle(benchmark_module):
    return benchmark_module("surface_oracle")


def test_crop_shift_finds_the_whole_pixel_offset_of_a_centred_crop(oracle):
    rng = np.random.default_rng(3)
    n = 60
    full = column_table(rng.uniform(0, 30, n), rng.uniform(0, 30, n), ["Pt"] * n, [3] * n, [0] * n)
    pixel = 0.061
    shift = 37 * pixel
    inside = (full["x"] > shift) & (full["y"] > shift) & (full["x"] < 20) & (full["y"] < 20)
    cropped = full[inside].copy()
    cropped["x"] -= shift
    cropped["y"] -= shift
    assert oracle.crop_shift(full, cropped, pixel) == pytest.approx(shift)
    cropped["x"][0] += 0.4  # a column that is not in the model
    with pytest.raises(RuntimeError, match="maps only"):
        oracle.crop_shift(full, cropped, pixel)


def test_subsets_are_whole_structures(oracle):
    from types import SimpleNamespace

    store = SimpleNamespace(params={"structure_id": np.repeat(np.arange(10), 3)})  # 3 per structure
    chosen = oracle.whole_structures(store, list(range(30)), 4)
    structures = sorted({i // 3 for i in chosen})
    assert len(structures) == 4 and structures[0] == 0 and structures[-1] == 9
    assert len(chosen) == 12  # every image of each chosen structure


def _test(dprime: float) -> LikelihoodRatioTest:
    """A symmetric test with separation ``dprime`` (unit variances, threshold half-way)."""
    return LikelihoodRatioTest(dprime / 2, 1.0, -dprime / 2, 1.0, 0.0)


def test_oracle_jaccard_charges_misses_and_mirror_false_alarms(oracle):
    frame = [{"image": 0, "x_A": float(k), "y_A": 0.0, "n_atoms": 2} for k in range(4)]
    # two short columns with tests, two long ones without: taken as found
    tests = {oracle._key(frame[0]): _test(2.0), oracle._key(frame[1]): _test(0.0)}
    p_detect, p_false = tests[oracle._key(frame[0])].probabilities()
    assert p_detect == pytest.approx(0.8413, abs=1e-4)
    assert p_false == pytest.approx(0.1587, abs=1e-4)
    expected = (p_detect + 0.5 + 2) / (4 + p_false + 0.5)
    assert oracle.oracle_jaccard(frame, tests, 1.0, 0.0) == pytest.approx(expected)
    # four times the dose doubles d': the frame gets closer to 1; the blind column stays a coin
    assert oracle.oracle_jaccard(frame, tests, 4.0, 0.0) > expected
    assert oracle.oracle_jaccard(frame, {}, 1.0, 0.0) == 1.0


@pytest.mark.slow
def test_a_run_removes_each_short_surface_column_and_resumes(oracle, smoke_dataset, tmp_path):
    out = tmp_path / "out"
    run = ["--dataset", str(smoke_dataset), "--methods", "gaussian", "--max-atoms", "4"]
    result = oracle.main([*run, "--output", str(out), "--quiet"])
    journal = out / "surface_oracle.columns.jsonl"
    rows = [json.loads(line) for line in journal.read_text().splitlines()]
    assert len(rows) == result["columns_simulated"] > 0
    assert all(1 <= row["n_atoms"] <= 4 for row in rows)
    # every removal changes every frame of its structure and is told apart better than chance
    for row in rows:
        assert len(row["tests"]) == 2  # the smoke preset's two defoci
        for moments in row["tests"].values():
            test = LikelihoodRatioTest(**moments)
            assert test.dprime > 0.3
            p_detect, p_false = test.probabilities()
            assert p_detect > p_false
    # more atoms, easier to see (mean d' by atom count, where two counts are present)
    by_atoms = {}
    for row in rows:
        for moments in row["tests"].values():
            by_atoms.setdefault(row["n_atoms"], []).append(LikelihoodRatioTest(**moments).dprime)
    counts = sorted(by_atoms)
    if len(counts) > 1:
        assert np.mean(by_atoms[counts[-1]]) > np.mean(by_atoms[counts[0]])
    curve = [c["median_equal_odds"] for c in result["curve"]]
    assert curve == sorted(curve)  # the oracle's Jaccard rises with dose
    assert (out / "surface_oracle.png").stat().st_size > 10_000
    # a rerun simulates nothing new
    again = oracle.main([*run, "--output", str(out), "--quiet"])
    assert len(journal.read_text().splitlines()) == len(rows)
    assert again["by_class"] == result["by_class"]
