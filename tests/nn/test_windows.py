"""Windows of whole size multiples cover a frame without padding it, blended away from cuts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sbdenoise.denoise.inference import denoise_array
from sbdenoise.nn import build_model
from sbdenoise.nn.card import make_card
from sbdenoise.nn.windows import axis_windows, frame_windows


def test_an_axis_that_is_a_multiple_is_one_window():
    ((start, weight),) = axis_windows(64, 16)
    assert start == 0 and weight.shape == (64,) and np.all(weight == 1.0)


@pytest.mark.parametrize(("length", "multiple"), [(162, 16), (17, 16), (125, 32), (33, 4)])
def test_other_axes_are_two_flush_windows_weighted_away_from_their_cuts(length, multiple):
    (first, w_first), (second, w_second) = axis_windows(length, multiple, ramp=8)
    size = length // multiple * multiple
    assert first == 0 and second == length - size
    assert len(w_first) == len(w_second) == size
    # each window's weight is smallest at its cut (inside the frame) and one far from it
    assert w_first[-1] == w_first.min() < 1.0 and w_first[0] == 1.0
    assert w_second[0] == w_second.min() < 1.0 and w_second[-1] == 1.0
    total = np.zeros(length)
    total[:size] += w_first
    total[second:] += w_second
    assert total.min() > 0.5  # every pixel is covered, and never by near-cut outputs alone


def test_too_short_an_axis_is_refused():
    with pytest.raises(ValueError, match="cannot hold"):
        axis_windows(12, 16)


def test_frame_windows_are_the_products_of_the_axes():
    windows = frame_windows((40, 32), 16)
    assert [(r, c) for r, c, _ in windows] == [(0, 0), (8, 0)]
    assert all(w.shape == (32, 32) for _, _, w in windows)
    assert len(frame_windows((33, 35), 16)) == 4 and len(frame_windows((32, 48), 16)) == 1


def test_inference_blends_true_crops_of_the_frame_and_pads_nothing():
    torch.manual_seed(0)
    model = build_model("unet", scales=3, base_channels=4).eval()  # size multiple 4
    card = make_card(model, "unet", {"scales": 3, "base_channels": 4}, 0.1, 1.0, input_scale=1.0)
    frame = np.random.default_rng(0).poisson(1.0, (38, 41)).astype(np.float32)
    out = denoise_array(model, card, frame, 0.1, precision="fp32")  # the working grid itself
    total, weights = np.zeros(frame.shape), np.zeros(frame.shape)
    for row, col, weight in frame_windows(frame.shape, 4):
        crop = frame[row : row + weight.shape[0], col : col + weight.shape[1]]
        with torch.no_grad():
            result = model(torch.from_numpy(np.ascontiguousarray(crop))[None, None])[0, 0]
        total[row : row + weight.shape[0], col : col + weight.shape[1]] += weight * result.numpy()
        weights[row : row + weight.shape[0], col : col + weight.shape[1]] += weight
    np.testing.assert_allclose(out, total / weights, rtol=1e-4, atol=1e-5)
    # reflection padding, as before, gives another answer at the far edges
    padded = np.pad(frame, ((0, 2), (0, 3)), mode="reflect")
    with torch.no_grad():
        old = model(torch.from_numpy(padded)[None, None])[0, 0, :38, :41].numpy()
    assert np.abs(old - out)[-3:, :].max() > 1e-3


def test_the_far_window_is_cut_to_the_network_reach_without_changing_the_far_edge():
    (_, first), (start, last) = axis_windows(150, 4, ramp=16, reach=30)
    assert len(first) == 148 and len(last) == 48 and start == 102  # 30 + 2 + 16 -> 48
    assert len(axis_windows(150, 4, ramp=16, reach=200)[1][1]) == 148  # never longer than size
    torch.manual_seed(1)
    model = build_model("unet", scales=3, base_channels=4).eval()  # receptive field 52 px
    card = make_card(model, "unet", {"scales": 3, "base_channels": 4}, 0.1, 1.0, input_scale=1.0)
    assert card.receptive_field_px // 2 + 4 <= 30
    frame = np.random.default_rng(1).poisson(1.0, (150, 36)).astype(np.float32)
    out = denoise_array(model, card, frame, 0.1, precision="fp32")
    # the last rows, which only the far window holds: the same as from a whole-length window
    with torch.no_grad():
        whole = model(torch.from_numpy(np.ascontiguousarray(frame[2:]))[None, None])[0, 0]
    np.testing.assert_allclose(out[-2:], whole.numpy()[-2:], rtol=1e-4, atol=1e-5)
