"""The model benchmarks' shared ``--model NAME=FILE[,KEY=VALUE...]`` option."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def dose_sweep(benchmark_module):
    return benchmark_module("dose_sweep")


def test_parameters_after_the_file_reach_the_method(dose_sweep):
    items = ["v8=/m/v8.safetensors,ensemble=8,precision=fp32", "plain=/m/p.safetensors"]
    assert dose_sweep.model_files(items) == {
        "v8": Path("/m/v8.safetensors"),
        "plain": Path("/m/p.safetensors"),
    }
    assert dose_sweep.model_params(items) == {
        "v8": {"ensemble": 8, "precision": "fp32"},
        "plain": {},
    }


def test_a_parameter_without_a_value_is_refused(dose_sweep):
    with pytest.raises(SystemExit, match="KEY=VALUE"):
        dose_sweep.model_params(["v8=/m/v8.safetensors,ensemble"])
