"""benchmarks/surface_evaluation.py: each method scored with the parameters asked for."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def surface_evaluation(benchmark_module):
    return benchmark_module("surface_evaluation")


def test_sbd_gets_its_self_ensemble_and_the_others_do_not(surface_evaluation):
    assert surface_evaluation.method_params("sbd", 8) == {"ensemble": 8}
    assert surface_evaluation.method_params("sbd") == {"ensemble": 1}
    assert surface_evaluation.method_params("pure-let", 8) == {}
    bm3d = surface_evaluation.method_params("vst-bm3d", 8)
    assert "ensemble" not in bm3d and bm3d  # the Table 1 tuning, not the network's size


def test_the_ensemble_option_reaches_the_arguments(surface_evaluation):
    args = surface_evaluation.parse_args(["--dataset", "d", "--methods", "sbd", "--ensemble", "4"])
    assert args.ensemble == 4 and args.methods == ["sbd"]
    assert surface_evaluation.parse_args(["--dataset", "d"]).ensemble == 1
