"""The demo's trust benchmark: fringes apart from dark spurious columns, several draws summed."""

from __future__ import annotations

import numpy as np
import pytest

from sbdenoise.demo import run_demo


@pytest.fixture(scope="module")
def demo_trust(benchmark_module):
    return benchmark_module("demo_trust")


class _Vacuum:
    rate = 1.0


class _Result:
    vacuum = _Vacuum()


def _blob(shape: tuple[int, int], centre: tuple[float, float], height: float) -> np.ndarray:
    y, x = np.indices(shape, dtype=np.float64)
    return height * np.exp(-((y - centre[0]) ** 2 + (x - centre[1]) ** 2) / (2 * 2.0**2))


def test_only_a_candidate_where_the_noise_free_frame_is_bright_counts_as_bright(demo_trust):
    shape, pixel = (64, 64), 0.1
    positions_px = np.array([[20.0, 20.0], [44.0, 44.0]])
    # the estimate draws a column at both places; the noise-free frame has one only at the first
    denoised = 1.0 + _blob(shape, (20, 20), 0.5) + _blob(shape, (44, 44), 0.5)
    truth = 1.0 + _blob(shape, (20, 20), 0.5)
    bright = demo_trust.bright_in_truth(truth, denoised, positions_px, pixel, _Result())
    assert bright.tolist() == [True, False]
    # a frame darker than vacuum at the first place is not bright there either
    darker = 1.0 - _blob(shape, (20, 20), 0.3)
    assert not demo_trust.bright_in_truth(darker, denoised, positions_px, pixel, _Result()).any()


def test_a_spurious_candidate_is_dark_only_where_it_is_not_bright(demo_trust):
    supported = np.array([True, True, True, False])
    real = np.array([True, False, False, False])
    spurious = np.array([False, True, True, True])
    bright = np.array([False, True, False, False])
    row = demo_trust.tally(supported, real, spurious, bright)
    assert row == {
        "real": 1,
        "real_supported": 1,
        "spurious": 3,
        "spurious_supported": 2,
        "spurious_dark": 2,
        "spurious_supported_dark": 1,
    }


@pytest.mark.slow
def test_several_draws_are_judged_and_summed(demo_trust, tmp_path):
    run_demo(tmp_path / "demo", size=192, source="lattice")
    result = demo_trust.main(
        ["--demo", str(tmp_path / "demo"), "--draws", "2", "--output", str(tmp_path), "--name", "t"]
    )
    assert result["draws"] == 2 and len(result["per_draw"]) == 2
    for name, row in result["rows"].items():
        per_draw = [draw[name] for draw in result["per_draw"]]
        assert row["real"] == sum(d["real"] for d in per_draw)
        assert row["spurious_supported_dark"] <= row["spurious_supported"] <= row["spurious"]
        assert row["spurious_supported_dark"] <= row["spurious_dark"] <= row["spurious"]
        assert row["draws_without_spurious"] == sum(d["spurious_supported"] == 0 for d in per_draw)
    # the two draws are different noise: the verdicts do not repeat candidate for candidate
    first, second = result["per_draw"]
    assert first != second or first["verdicts (lattice)"]["real"] == 0
    assert (tmp_path / "t.md").read_text().count("| verdicts") == 3
