"""Self-supervised denoisers (blind-spot, blind-spot-es, self2self, udvd): masks, budget, results.

The networks are tiny (3 scales, 8 channels, 32 px crops; the registry test uses the default
network) and train a few steps with fixed seeds, so the file runs in seconds on one thread.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch

from sbdenoise.denoise.registry import get_method, prepare
from sbdenoise.denoise.selfsupervised import (
    BestWeights,
    bernoulli_mask,
    blind_spot_denoise,
    held_out_frames,
    mask_spacing,
    method_settings,
    n2v_mask,
    settings_from_params,
    train_network,
)
from sbdenoise.denoise.selfsupervised import methods as ss_methods
from sbdenoise.denoise.selfsupervised.data import (
    allowed_origins,
    temporal_windows,
    to_working_stack,
)
from sbdenoise.errors import InputError
from sbdenoise.metrics import psnr
from sbdenoise.synthetic import synthetic_lattice

PIXEL = 0.061
#: A tiny network and short crops: milliseconds per step.
TINY = {"scales": 3, "base_channels": 8, "patch": 32, "batch_size": 4}


@pytest.fixture(scope="module")
def lattice():
    """A 256 x 256 synthetic frame at 0.061 A/px (64 x 64 on the working grid), 0.45 e-/px."""
    frame = synthetic_lattice((256, 256), pixel_size=PIXEL)
    noisy = np.random.default_rng(7).poisson(frame.expectation).astype(np.float32)
    return frame.expectation, noisy


def settings(name: str, **params) -> ss_methods.Settings:
    checked = method_settings(name, **params)
    assert checked == settings_from_params(name, get_method(name).resolve_params(params))
    return checked


# -- masks ------------------------------------------------------------------------------------


@pytest.mark.parametrize("fraction", [0.01, 0.04])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_n2v_mask_never_shows_a_masked_pixels_value(fraction, seed):
    # Unique values: a masked pixel's noisy value must be nowhere in the masked patch.
    patches = torch.arange(3 * 40 * 41, dtype=torch.float32).reshape(3, 40, 41)
    masked, mask = n2v_mask(patches, fraction, torch.Generator().manual_seed(seed))
    spacing = mask_spacing(fraction)
    assert mask.shape == patches.shape and mask.dtype == torch.bool
    assert mask.sum(dim=(1, 2)).tolist() == [(40 // spacing) * (41 // spacing)] * 3
    assert torch.equal(masked[~mask], patches[~mask])
    for n, y, x in mask.nonzero().tolist():
        true_value = patches[n, y, x]
        assert not (masked[n] == true_value).any()
        # The replacement is another pixel of the 5 x 5 window (N2V).
        window = patches[n, max(y - 2, 0) : y + 3, max(x - 2, 0) : x + 3]
        assert (window == masked[n, y, x]).any() and masked[n, y, x] != true_value


def test_mask_fraction_and_spacing():
    assert mask_spacing(0.01) == 10 and mask_spacing(0.005) == 14 and mask_spacing(0.04) == 5
    for bad in (0.0, 0.05, -0.01):
        with pytest.raises(ValueError, match="mask fraction"):
            mask_spacing(bad)
    with pytest.raises(InputError, match="mask fraction"):
        prepare("blind-spot", {"mask_fraction": 0.2})
    with pytest.raises(InputError, match="minutes must be a positive number"):
        prepare("udvd", {"minutes": 0})
    with pytest.raises(InputError, match="frames must be odd"):
        prepare("udvd", {"frames": 4})
    with pytest.raises(InputError, match="unknown parameter"):
        prepare("self2self", {"mask_fraction": 0.01})


def test_bernoulli_mask_keeps_about_one_minus_drop():
    keep = bernoulli_mask((4, 1, 64, 64), 0.3, torch.Generator().manual_seed(0))
    assert set(keep.unique().tolist()) == {0.0, 1.0}
    assert keep.mean().item() == pytest.approx(0.7, abs=0.02)


# -- bookkeeping ------------------------------------------------------------------------------


def test_best_weights_keeps_the_lowest_validation_loss():
    network = torch.nn.Linear(1, 1)
    best = BestWeights()
    best.restore(network)  # nothing kept yet: no effect
    losses = [3.0, 2.0, 2.5, 1.5, 1.7, math.nan]
    kept = []
    for step, loss in enumerate(losses):
        with torch.no_grad():
            network.weight.fill_(float(step))
        kept.append(best.update(step, loss, network))
    assert kept == [True, True, False, True, False, False]
    assert best.best_step == 3 and best.best_loss == 1.5 and len(best.history) == 6
    best.restore(network)
    assert network.weight.item() == 3.0


def test_train_network_restores_the_best_validated_weights():
    network = torch.nn.Linear(4, 1)
    data = torch.randn(16, 4)

    def step_loss(net):
        return (net(data) ** 2).mean()

    snapshots = []
    planned = iter([5.0, 4.0, 1.0, 3.0] + [9.0] * 100)

    def validate(net):
        snapshots.append(net.weight.detach().clone())
        return next(planned)

    report = train_network(
        network, step_loss, minutes=60, max_steps=32, learning_rate=0.1, validate=validate
    )
    assert report.stopped_by == "max_steps" and report.steps == 32
    assert len(snapshots) == 17  # 16 during the run and one after the last step
    assert report.best is not None and report.best.best_loss == 1.0
    assert torch.equal(network.weight, snapshots[2])
    assert not torch.equal(snapshots[2], snapshots[-1])


def test_minutes_budget_stops_training():
    network = torch.nn.Linear(1, 1)

    def slow_step(net):
        time.sleep(0.01)
        return net(torch.ones(1, 1)).sum() ** 2

    report = train_network(network, slow_step, minutes=0.03 / 60, max_steps=None, learning_rate=0.1)
    assert report.stopped_by == "budget"
    assert 1 <= report.steps <= 5
    assert report.seconds < 0.5


def test_minutes_cover_training_and_prediction(lattice):
    _, noisy = lattice
    torch.optim.Adam(torch.nn.Linear(1, 1).parameters())  # torch's one-time import, not timed
    start = time.perf_counter()
    out, report = blind_spot_denoise(
        np.stack([noisy] * 3), PIXEL, settings("blind-spot", minutes=0.02, **TINY)
    )
    elapsed = time.perf_counter() - start
    # the budget, not a step count, ended training (how many steps fit depends on the machine)
    assert report.stopped_by == "budget" and report.steps >= 1
    assert report.budget_seconds < 1.2  # 1.2 s less binning and the estimated prediction
    assert elapsed < 1.2 + 1.5
    assert out.shape == (3, *noisy.shape) and np.isfinite(out).all()


def test_held_out_frames_and_windows():
    assert [held_out_frames(n) for n in (1, 2, 8, 12, 40)] == [1, 1, 1, 2, 5]
    windows = temporal_windows(40, 5)
    assert windows[0].tolist() == [2, 1, 0, 1, 2]
    assert windows[1].tolist() == [3, 0, 1, 2, 3]
    assert windows[20].tolist() == [18, 19, 20, 21, 22]
    assert windows[39].tolist() == [37, 38, 39, 38, 37]
    for n in (2, 3, 4, 40):
        w = temporal_windows(n, 5)
        # A neighbour channel never holds the centre frame itself (its noise would leak).
        assert all(t not in np.delete(w[t], 2) for t in range(n))
    held = np.zeros((8, 8), dtype=bool)
    held[:4, :4] = True
    origins = allowed_origins(held, 4)
    assert origins.shape == (5, 5)
    assert origins[0, 4] and origins[4, 0] and not origins[3, 3] and not origins[0, 0]


# -- methods ----------------------------------------------------------------------------------


def test_registry_blind_spot_returns_counts_of_the_input_shape(lattice):
    _, noisy = lattice
    method = get_method("blind-spot")
    assert method.kind == "self-supervised" and method.trains_on_input
    assert method.needs_pixel_size and not method.needs_stack and not method.uses_model
    out = prepare("blind-spot", {"max_steps": 5}).denoise_frame(noisy, PIXEL)
    assert out.shape == noisy.shape and out.dtype == np.float32
    assert np.isfinite(out).all()
    assert out.mean() >= 0
    assert out.mean() == pytest.approx(noisy.mean(), rel=0.05)


def test_blind_spot_gains_over_raw_binned_and_flat(lattice):
    truth, noisy = lattice
    out = prepare("blind-spot", {"max_steps": 40, "mask_fraction": 0.04, **TINY}).denoise_frame(
        noisy, PIXEL
    )
    working = to_working_stack(noisy[None], PIXEL, 0.244)
    binned = working.to_input_grid(working.data)[0]  # the working grid alone
    flat = np.full_like(truth, noisy.mean())
    gain = psnr(out, truth)
    assert gain > psnr(noisy, truth, clip=False) + 15.0  # raw frame: 3.5 dB
    assert gain > psnr(binned, truth) + 8.0
    assert gain > psnr(flat, truth) + 0.7


def test_blind_spot_es_on_a_frame_and_on_a_stack(lattice):
    _, noisy = lattice
    out, report = blind_spot_denoise(
        noisy[None], PIXEL, settings("blind-spot-es", max_steps=4, **TINY), early_stopping=True
    )
    assert out.shape == (1, *noisy.shape) and np.isfinite(out).all()
    assert report.best is not None and len(report.best.history) == 5  # steps 0-4
    assert 0 <= report.best.best_step <= 4
    stack = np.stack([noisy[:128, :128]] * 4)
    out = np.stack(
        list(prepare("blind-spot-es", {"max_steps": 2, **TINY}).denoise_stack(stack, PIXEL))
    )
    assert out.shape == stack.shape and out.dtype == np.float32 and np.isfinite(out).all()


def test_self2self_averages_dropout_samples(lattice, monkeypatch):
    _, noisy = lattice
    frame = noisy[:96, :96]
    params = {"max_steps": 2, "n_predictions": 3, **TINY}
    first = prepare("self2self", params).denoise_frame(frame, PIXEL)
    again = prepare("self2self", params).denoise_frame(frame, PIXEL)
    other = prepare("self2self", {**params, "seed": 1}).denoise_frame(frame, PIXEL)
    np.testing.assert_array_equal(first, again)
    assert np.abs(first - other).max() > 1e-4

    samples = []
    original = ss_methods.predict

    def recording(network, inputs, dropout=False):
        out = original(network, inputs, dropout)
        if dropout:  # passes without dropout only time the network for the budget
            samples.append(out.clone())
        return out

    monkeypatch.setattr(ss_methods, "predict", recording)
    out = prepare("self2self", params).denoise_frame(frame, PIXEL)
    np.testing.assert_array_equal(out, first)
    assert len(samples) == 3
    assert not torch.equal(samples[0], samples[1])
    mean = torch.stack(samples).mean(dim=0).numpy()
    working = to_working_stack(frame[None], PIXEL, 0.244)
    np.testing.assert_allclose(out, working.to_input_grid(mean)[0], rtol=1e-5, atol=1e-6)


def test_udvd_needs_a_stack_and_denoises_one(lattice):
    truth, noisy = lattice
    assert get_method("udvd").needs_stack
    prepared = prepare("udvd", {"max_steps": 3, **TINY})
    with pytest.raises(InputError, match="needs a stack"):
        prepared.denoise_frame(noisy, PIXEL)
    with pytest.raises(InputError, match="at least 2 frames"):
        list(prepared.denoise_stack(noisy[None], PIXEL))
    rng = np.random.default_rng(3)
    stack = rng.poisson(np.stack([truth[:128, :128]] * 3)).astype(np.float32)
    out = np.stack(list(prepared.denoise_stack(stack, PIXEL)))
    assert out.shape == stack.shape and out.dtype == np.float32 and np.isfinite(out).all()
    assert out.mean() == pytest.approx(stack.mean(), rel=0.05)
