"""Two denoisers on one surface set, frame by frame (benchmarks/surface_paired.py)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.analysis.test_evaluation import make_store


@pytest.fixture(scope="module")
def surface_paired(benchmark_module):
    return benchmark_module("surface_paired")


def test_paired_differences_count_frames_and_skip_missing_scores(surface_paired):
    first = np.array([0.5, 0.8, np.nan, 0.6])
    second = np.array([0.7, 0.8, 0.9, 0.5])
    e = surface_paired.paired(first, second)
    assert e["n"] == 3 and e["better"] == 1 and e["worse"] == 1
    assert e["difference"] == pytest.approx((0.2 + 0.0 - 0.1) / 3)
    assert e["standard_error"] == pytest.approx(np.std([0.2, 0.0, -0.1], ddof=1) / np.sqrt(3))


def test_sides_are_parsed_and_bad_ones_refused(surface_paired, tmp_path):
    assert surface_paired.parse_side("a=gaussian") == ("a", "gaussian", None)
    model = tmp_path / "m.safetensors"
    assert surface_paired.parse_side(f"b=sbd:{model}") == ("b", "sbd", model)
    with pytest.raises(SystemExit, match="LABEL=METHOD"):
        surface_paired.parse_side("gaussian")


def test_the_noise_free_frame_beats_a_filter_and_equals_itself(surface_paired, tmp_path):
    data = make_store(tmp_path / "data", n_test=3)
    out = tmp_path / "out"
    run = ["--dataset", str(data), "--output", str(out)]
    better = surface_paired.main([*run, "a=gaussian", "b=clean"])
    jaccard = better["metrics"]["surface_jaccard"]
    assert jaccard["difference"] > 3 * jaccard["standard_error"] > 0
    assert jaccard["better"] == 3 and jaccard["second_median"] == 1.0
    assert better["metrics"]["psnr"]["n"] == 0  # the noise-free frame has no finite PSNR
    same = surface_paired.main([*run, "a=gaussian", "b=gaussian"])
    for entry in same["metrics"].values():
        assert entry["difference"] == 0.0 and entry["better"] == entry["worse"] == 0
    assert (out / "surface_paired.md").read_text().startswith("# b against a")
