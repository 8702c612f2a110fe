"""The campaign trend: model-history rows, the log-hours fit, the hours to a target."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def curve(benchmark_module):
    return benchmark_module("campaign_curve")


def _history(tmp_path: Path, rows: list[tuple[str, str, str, str]]) -> Path:
    lines = [
        "# Shipped models",
        "",
        "| version | date | arch | steps | hours | PSNR | BM3D | gap |",
    ]
    lines.append("|---|---|---|---|---|---|---|---|")
    for version, hours, psnr, bm3d in rows:
        lines.append(f"| {version} | d | unet | 1,000 (lineage) | {hours} | {psnr} | {bm3d} | x |")
    lines += ["", "## Candidates not shipped", "", "| v99 | d | a | s | 1 | 99.0 | 1 | x |"]
    path = tmp_path / "model_history.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_rows_are_read_from_the_shipped_table_only(curve, tmp_path):
    history = _history(
        tmp_path,
        [("v1", "2 (run a: 1 h)", "35.00 ± 1.6 (gate)", "34.48"), ("v2", "8", "36.00", "34.48")],
    )
    models = curve.read_shipped(history)
    assert [m.version for m in models] == ["v1", "v2"]
    assert models[0].hours == 2.0 and models[0].psnr_db == 35.0 and models[1].bm3d_db == 34.48


def test_the_trend_gains_per_doubling_and_extrapolates(curve, tmp_path):
    # 35 dB at 2 h, 36 dB at 8 h: +0.5 dB per doubling, so 38 dB at 8 * 2**4 = 128 h.
    models = curve.read_shipped(
        _history(tmp_path, [("v1", "2", "35.0", "34"), ("v2", "8", "36.0", "34")])
    )
    intercept, slope = curve.fit_log_hours(models)
    assert slope == pytest.approx(0.5)
    assert curve.hours_for(38.0, intercept, slope) == pytest.approx(128.0)
    assert math.isinf(curve.hours_for(38.0, intercept, 0.0))


def test_the_committed_history_gains_with_hours(curve):
    models = curve.read_shipped(BENCHMARKS / "results" / "model_history.md")
    assert len(models) >= 9
    hours = [m.hours for m in models]
    assert hours == sorted(hours)
    assert curve.fit_log_hours(models[3:])[1] > 0


def test_surface_rows_are_the_versions_scored_alike(curve, tmp_path):
    import json

    models = curve.read_shipped(
        _history(tmp_path, [("v1", "2", "35.0", "34"), ("v2", "8", "36.0", "34")])
    )
    entry = {"surface_jaccard": {"median": 0.7, "q1": 0.5, "q3": 0.9}}
    alike = {"elements": ["Pt"], "images": 132, "draws": 5, "methods": {"sbd": entry}}
    (tmp_path / "surface_evaluation_v2.json").write_text(json.dumps(alike))
    other = {**alike, "draws": 1}  # scored another way: left out
    (tmp_path / "surface_evaluation_v1.json").write_text(json.dumps(other))
    rows = curve.read_surface(tmp_path, models)
    assert [r["version"] for r in rows] == ["v2"]
    assert rows[0]["hours"] == 8.0 and rows[0]["median"] == 0.7
    points = [
        {"dose": 0.3, "median_equal_odds": 0.7, "median_best": 0.72},
        {"dose": 0.45, "median_equal_odds": 0.8, "median_best": 0.83},
    ]
    oracle = {"dataset": "d", "curve": points}
    (tmp_path / "surface_oracle.json").write_text(json.dumps(oracle))
    assert curve.read_oracle(tmp_path / "surface_oracle.json") == {
        "dataset": "d",
        "equal_odds": 0.8,
        "best": 0.83,
    }
    assert curve.read_oracle(tmp_path / "missing.json") is None
