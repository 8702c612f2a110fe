"""Surface columns confirmed at a matched realised FDR (benchmarks/surface_power.py)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="module")
def power(benchmark_module):
    return benchmark_module("surface_power")


def test_confirmed_at_picks_the_deepest_threshold_within_the_level(power):
    # Ranked: R R S R R R R S R S; FDR after each: 0 0 1/3 1/4 1/5 1/6 1/7 2/8 2/9 3/10
    evidence = np.arange(10, 0, -1, dtype=float)
    real = np.array([1, 1, 0, 1, 1, 1, 1, 0, 1, 0], dtype=bool)
    assert power.confirmed_at(evidence, real, 0.0) == 2
    assert power.confirmed_at(evidence, real, 0.15) == 6  # FDR 1/7 after the seventh
    assert power.confirmed_at(evidence, real, 0.25) == 7  # 2/9 after the ninth
    assert power.confirmed_at(evidence, real, 1.0) == 7


def test_a_tie_is_cut_whole(power):
    # The second and third share their evidence: no threshold keeps one without the other.
    evidence = np.array([3.0, 2.0, 2.0, 1.0])
    real = np.array([True, True, False, False])
    assert power.confirmed_at(evidence, real, 0.0) == 1
    assert power.confirmed_at(evidence, real, 0.3) == 1
    assert power.confirmed_at(evidence, real, 0.34) == 2  # FDR 1/3 with the tie, 2/4 below


def _write(path: Path, rows: list[tuple[int, int, bool, bool, bool, bool, float]]) -> Path:
    columns = ["method", "image", "realisation", "real", "spurious", "surface", "supported"]
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*columns, "signal_calibrated"])
        for image, draw, real, spurious, surface, supported, evidence in rows:
            writer.writerow(["sbd", image, draw, real, spurious, surface, supported, evidence])
    return path


def _frames(rng: np.random.Generator, separation: float) -> list:
    """20 frames, each 8 real and 4 spurious surface candidates, plus rows that must not count."""
    rows = []
    for image in range(20):
        for _ in range(8):
            rows.append((image, 0, True, False, True, True, rng.normal(separation, 1.0)))
        for _ in range(4):
            rows.append((image, 0, False, True, True, False, rng.normal(0.0, 1.0)))
        rows.append((image, 0, False, False, True, True, 99.0))  # neither real nor spurious
        rows.append((image, 0, False, True, False, True, 99.0))  # not at the surface
    return rows


def test_the_better_separating_model_confirms_more_at_every_level(power, tmp_path):
    rng = np.random.default_rng(0)
    weak = power.read_candidates([_write(tmp_path / "weak.csv", _frames(rng, 2.0))])
    strong = power.read_candidates([_write(tmp_path / "strong.csv", _frames(rng, 4.0))])
    assert len(weak.real) == 20 * 12 and weak.real.sum() == 160
    assert weak.evidence.max() < 99.0  # unscored and off-surface rows were dropped
    for level in power.LEVELS:
        paired = power.paired_bootstrap(strong, weak, power.confirmed_statistic(level))
        assert paired["difference"] > 2 * paired["se"] > 0
        assert paired["share_above"] > 0.95


def test_the_result_names_the_nominal_verdicts_and_the_plot_is_written(power, tmp_path):
    rng = np.random.default_rng(1)
    first = _write(tmp_path / "a.csv", _frames(rng, 3.0))
    second = _write(tmp_path / "b.csv", _frames(rng, 3.0))
    result = power.main(
        ["--run", f"ref={first}", "--run", f"new={second}", "--output", str(tmp_path)]
    )
    reference = result["models"]["ref"]
    assert reference["nominal_supported"] == 160 and reference["nominal_fdr"] == 0.0
    assert "against_ref" in result["models"]["new"]
    assert (tmp_path / "surface_power.png").stat().st_size > 10_000
    assert "confirmed at 2 %" in (tmp_path / "surface_power.md").read_text()


def test_a_missing_csv_is_named(power, tmp_path):
    with pytest.raises(SystemExit):
        power.parse_args(["--run", f"x={tmp_path / 'nope.csv'}"])


def _credulous(honest: list) -> list:
    """The same frames, but every image's first spurious surface candidate is supported."""
    credulous, seen = [], set()
    for row in honest:
        image, draw, real, spurious, surface, _supported, evidence = row
        if spurious and surface and image not in seen:
            seen.add(image)
            row = (image, draw, real, spurious, surface, True, evidence)
        credulous.append(row)
    return credulous


def test_the_nominal_fdr_difference_is_paired_over_images(power, tmp_path):
    rng = np.random.default_rng(2)
    honest = _frames(rng, 3.0)
    credulous = _credulous(honest)
    mine = power.read_candidates([_write(tmp_path / "c.csv", credulous)])
    theirs = power.read_candidates([_write(tmp_path / "h.csv", honest)])
    assert power.nominal_fdr(theirs) == 0.0
    assert power.nominal_fdr(mine) == pytest.approx(20 / 180)
    paired = power.paired_bootstrap(mine, theirs, power.nominal_fdr)
    assert paired["difference"] == pytest.approx(20 / 180)
    assert paired["share_above"] == 1.0 and 0 < paired["se"] < paired["difference"]
    assert sum(power.false_supported(mine).values()) == 20


def test_each_stream_gets_its_own_difference_and_their_spread(power, tmp_path):
    rng = np.random.default_rng(3)
    honest = _frames(rng, 3.0)
    credulous = _credulous(honest)  # on the second stream only
    mine = power.read_candidates(
        [_write(tmp_path / "m13.csv", honest), _write(tmp_path / "m14.csv", credulous)]
    )
    theirs = power.read_candidates(
        [_write(tmp_path / "t13.csv", honest), _write(tmp_path / "t14.csv", honest)]
    )
    by_stream = power.stream_differences(mine, theirs)
    assert by_stream["differences"] == pytest.approx([0.0, 20 / 180])
    assert by_stream["se_between_streams"] == pytest.approx(np.std([0, 20 / 180], ddof=1) / 2**0.5)
    single = power.stream_differences(
        power.read_candidates([tmp_path / "m14.csv"]), power.read_candidates([tmp_path / "t14.csv"])
    )
    assert single["differences"] == pytest.approx([20 / 180])
    assert single["se_between_streams"] is None
