"""Temporal baseline: moving average over the frames of a stack."""

import numpy as np
import pytest

from sbdenoise.baselines import time_average


def test_averaging_all_frames_divides_variance_by_n():
    n_frames, dose = 20, 0.45
    stack = np.random.default_rng(0).poisson(dose, (n_frames, 96, 96))
    out = time_average(stack)
    assert out.shape == stack.shape and out.dtype == np.float64
    np.testing.assert_allclose(out, out[0][None].repeat(n_frames, axis=0))
    ratio = stack.var() / out[0].var()
    # Poisson variance 0.45 -> 0.45 / 20; measured ratio 20.6, asserted within 10 %.
    assert abs(ratio - n_frames) < 0.1 * n_frames
    assert abs(out.mean() - stack.mean()) < 1e-12


def test_moving_window_divides_variance_by_window():
    stack = np.random.default_rng(1).poisson(0.45, (30, 64, 64))
    out = time_average(stack, window=5)
    ratio = stack[2:-2].var() / out[2:-2].var(axis=(1, 2)).mean()
    assert abs(ratio - 5) < 0.5


def test_window_shrinks_at_the_ends():
    stack = np.arange(6, dtype=float)[:, None, None] * np.ones((6, 2, 3))
    out = time_average(stack, window=3)
    np.testing.assert_allclose(out[:, 0, 0], [0.5, 1, 2, 3, 4, 4.5])
    out = time_average(stack, window=4)  # frames t-1 .. t+2
    np.testing.assert_allclose(out[:, 0, 0], [1, 1.5, 2.5, 3.5, 4, 4.5])
    np.testing.assert_allclose(time_average(stack, window=1), stack)
    for everything in (0, None, 6, 50):
        np.testing.assert_allclose(time_average(stack, window=everything), 2.5)


def test_time_average_rejects_bad_input():
    with pytest.raises(ValueError, match="stack"):
        time_average(np.zeros((8, 8)))
    with pytest.raises(ValueError, match="window"):
        time_average(np.zeros((3, 8, 8)), window=-1)
    with pytest.raises(ValueError, match="NaN"):
        time_average(np.full((3, 8, 8), np.nan))
