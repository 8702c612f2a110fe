"""Surface structure against dose (benchmarks/surface_dose.py)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from sbdenoise.analysis.evaluation import EvaluationResult
from sbdenoise.analysis.likelihood import validate_likelihood
from tests.analysis.test_evaluation import make_store


@pytest.fixture(scope="module")
def surface_dose(benchmark_module):
    return benchmark_module("surface_dose")


def _result(truth: list[tuple[int, bool, bool]], jaccards: list[float]) -> EvaluationResult:
    rows = [
        {"surface_jaccard": j, "surface_precision": j, "surface_recall": j, "bulk_jaccard": j,
         "psnr": 30.0}
        for j in jaccards
    ]  # fmt: skip
    columns = [{"n_atoms": n, "surface": s, "found": f} for n, s, f in truth]
    validation = validate_likelihood(np.zeros(1), np.ones(1), (0.0, 0.0))
    return EvaluationResult(rows, [], validation, {}, columns)


def test_recall_counts_surface_columns_by_their_atoms(surface_dose):
    truth = [
        (1, True, False), (1, True, True), (1, True, False), (1, False, True),  # bulk: left out
        (2, True, True), (4, True, True), (3, True, False), (9, True, True),
    ]  # fmt: skip
    recall = surface_dose.recall_by_atoms(_result(truth, [1.0]))
    assert recall["1 atom"] == {"n": 3, "recall": pytest.approx(1 / 3)}
    assert recall["2"]["recall"] == 1.0 and recall["3-4"] == {"n": 2, "recall": 0.5}
    assert recall["8+"]["n"] == 1 and recall["5-7"]["n"] == 0
    assert math.isnan(recall["5-7"]["recall"])


def test_the_share_at_the_target_ignores_frames_without_a_surface(surface_dose):
    entry = surface_dose.summarise(_result([], [0.95, 0.9, 0.5, float("nan")]), 3.0)
    assert entry["frames_at_target"] == pytest.approx(2 / 3)
    assert entry["surface_jaccard"]["median"] == 0.9 and entry["frames"] == 4
    assert entry["seconds_per_frame"] == 0.75


def test_a_run_scores_every_dose_and_the_noise_free_ceiling(surface_dose, tmp_path):
    data = make_store(tmp_path / "data", n_test=2)
    out = tmp_path / "out"
    result = surface_dose.main(
        ["--dataset", str(data), "--methods", "gaussian", "--doses", "0.1,2",
         "--output", str(out), "--quiet"]
    )  # fmt: skip
    low, high = (result["methods"]["gaussian"][d] for d in ("0.1", "2"))
    assert low["frames"] == high["frames"] == 2
    # twenty times the electrons: the lattice's columns are found at least as well
    assert high["surface_jaccard_mean"] >= low["surface_jaccard_mean"]
    assert result["clean"]["surface_jaccard"]["median"] == 1.0
    saved = json.loads((out / "surface_dose.json").read_text())
    assert saved["methods"]["gaussian"].keys() == {"0.1", "2"}
    text = (out / "surface_dose.md").read_text()
    assert "| gaussian | 0.1 |" in text and "clean (noise-free frame)" in text
    assert (out / "surface_dose.png").stat().st_size > 10_000
