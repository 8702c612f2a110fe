"""benchmarks/surface_shape.py: round maxima (columns) against ridges (fringes)."""

from __future__ import annotations

import argparse

import numpy as np
import pytest


def test_roundness_tells_a_column_from_a_fringe(benchmark_module):
    shape = benchmark_module("surface_shape")
    yy, xx = np.mgrid[0:64, 0:64].astype(float)
    column = np.exp(-((yy - 20) ** 2 + (xx - 20) ** 2) / (2 * 2.0**2))
    fringe = np.exp(-((yy - 45) ** 2) / (2 * 2.0**2))  # a band along x
    elongated = np.exp(-((yy - 20) ** 2 / (2 * 2.0**2) + (xx - 45) ** 2 / (2 * 6.0**2)))
    image = column + fringe + elongated
    points = np.array([[20.0, 20.0], [45.0, 32.0], [20.0, 45.0], [32.0, 8.0]])
    value = shape.roundness(image, points, sigma_px=1.0)
    assert value[0] == pytest.approx(1.0, abs=0.02)  # round maximum
    assert abs(value[1]) < 0.02  # a ridge: no curvature along it
    assert 0.05 < value[2] < 0.5  # an elongated blob lies between
    assert value[3] < 0  # between the features: not a maximum
    assert shape.roundness(-image, points[:1], 1.0)[0] == -1.0  # a minimum
    # a turned ridge is as flat as an upright one
    turned = np.exp(-(((yy - xx) / np.sqrt(2)) ** 2) / (2 * 2.0**2))
    assert abs(shape.roundness(turned, np.array([[32.0, 32.0]]), 1.0)[0]) < 0.02


def test_runs_parse(benchmark_module):
    shape = benchmark_module("surface_shape")
    run = shape.parse_run("ag=/m/a.safetensors,/c/a_14.csv,14")
    assert (run.name, run.model, str(run.candidates), run.stream) == (
        "ag", "/m/a.safetensors", "/c/a_14.csv", 14,
    )  # fmt: skip
    for bad in ("ag=/m/a.safetensors,/c/a.csv", "=/m,/c,1", "ag=/m,/c,x"):
        with pytest.raises(argparse.ArgumentTypeError, match="NAME=MODEL"):
            shape.parse_run(bad)
