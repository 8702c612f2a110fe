"""Weight-space means: snapshot averages and the line from a run's start to its end."""

from __future__ import annotations

import pytest
import torch

from sbdenoise.errors import InputError
from sbdenoise.nn import UNet
from sbdenoise.nn.blocks import BiasFreeBatchNorm2d
from sbdenoise.nn.weight_space import interpolate_unets, mean_state, recalibrate_batch_norm
from sbdenoise.nn.widen import widen_unet


def _trained_like(base: int, seed: int, scales: int = 3) -> UNet:
    """A UNet with its own weights and batch-norm statistics."""
    torch.manual_seed(seed)
    network = UNet(scales=scales, base_channels=base)
    network.train()
    with torch.no_grad():
        for _ in range(2):
            network(torch.rand(2, 1, 32, 32) * (1 + seed))
    return network.eval()


def test_mean_state_weights_every_float_tensor_and_keeps_the_last_counters():
    first, second = _trained_like(4, 1).state_dict(), _trained_like(4, 2).state_dict()
    second_counter = next(k for k, v in second.items() if not v.is_floating_point())
    second[second_counter] = torch.tensor(17)
    mean = mean_state([first, second], [0.25, 0.75])
    for key, value in mean.items():
        if value.is_floating_point():
            expected = 0.25 * first[key].double() + 0.75 * second[key].double()
            torch.testing.assert_close(value.double(), expected, rtol=1e-6, atol=1e-7)
            assert value.dtype == second[key].dtype
        else:
            assert torch.equal(value, second[key])
    assert int(mean[second_counter]) == 17
    uniform = mean_state([first, second])
    key = "head.weight"
    torch.testing.assert_close(uniform[key], (first[key] + second[key]) / 2)


def test_mean_state_refuses_what_is_not_a_convex_combination_of_one_architecture():
    narrow, wide = _trained_like(4, 1).state_dict(), _trained_like(6, 1).state_dict()
    with pytest.raises(InputError, match="no state"):
        mean_state([])
    with pytest.raises(InputError, match="sum to one"):
        mean_state([narrow, narrow], [0.5, 0.6])
    with pytest.raises(InputError, match="non-negative"):
        mean_state([narrow, narrow], [1.5, -0.5])
    with pytest.raises(InputError, match="2 weights for 1"):
        mean_state([narrow], [0.5, 0.5])
    with pytest.raises(InputError, match="is \\("):
        mean_state([narrow, wide])
    fewer = dict(narrow)
    fewer.pop("head.weight")
    with pytest.raises(InputError, match="other tensors"):
        mean_state([narrow, fewer])


def test_the_line_starts_at_the_widened_start_and_ends_at_the_end():
    start, end = _trained_like(4, 1), _trained_like(8, 2)
    inputs = torch.rand(2, 1, 32, 32) * 2
    with torch.no_grad():
        at_start = interpolate_unets(start, end, 0.0, widen_seed=5)(inputs)
        at_end = interpolate_unets(start, end, 1.0, widen_seed=5)(inputs)
        halfway = interpolate_unets(start, end, 0.5, widen_seed=5)
        torch.testing.assert_close(at_start, start(inputs), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(at_end, end(inputs), atol=1e-6, rtol=1e-6)
        assert not torch.allclose(halfway(inputs), at_end, atol=1e-4)
    # the middle of the line is the mean of the run's initial weights (widened with its seed)
    # and the end's
    initial = widen_unet(start, 8, seed=5).state_dict()
    for key, value in halfway.state_dict().items():
        if value.is_floating_point():
            expected = (initial[key].double() + end.state_dict()[key].double()) / 2
            torch.testing.assert_close(value.double(), expected, rtol=1e-6, atol=1e-7)
    assert not halfway.training and halfway.base_channels == 8


def test_interpolation_refuses_other_networks_and_fractions():
    start, end = _trained_like(4, 1), _trained_like(8, 2)
    with pytest.raises(InputError, match="in \\[0, 1\\]"):
        interpolate_unets(start, end, 1.5)
    with pytest.raises(InputError, match="cannot widen"):
        interpolate_unets(end, start, 0.5)
    with pytest.raises(InputError, match="4-scale"):
        interpolate_unets(_trained_like(4, 1, scales=4), end, 0.5)


@pytest.mark.parametrize("layer", [torch.nn.BatchNorm2d, BiasFreeBatchNorm2d])
def test_recalibration_makes_the_running_statistics_the_plain_mean_of_the_batches(layer):
    torch.manual_seed(0)
    network = torch.nn.Sequential(layer(2), torch.nn.ReLU())
    batches = [torch.randn(3, 2, 5, 5) * (1 + k) + k for k in range(4)]
    used = recalibrate_batch_norm(network, batches)
    assert used == 4 and not network.training
    norm = network[0]
    assert norm.momentum == pytest.approx(0.1)
    variances = torch.stack([b.var(dim=(0, 2, 3), unbiased=True) for b in batches])
    torch.testing.assert_close(norm.running_var, variances.mean(0), rtol=1e-5, atol=1e-6)
    if layer is torch.nn.BatchNorm2d:
        means = torch.stack([b.mean(dim=(0, 2, 3)) for b in batches])
        torch.testing.assert_close(norm.running_mean, means.mean(0), rtol=1e-5, atol=1e-6)


def test_recalibration_without_batches_refuses_and_keeps_the_statistics():
    network = _trained_like(4, 1)
    before = {k: v.clone() for k, v in network.state_dict().items()}
    with pytest.raises(InputError, match="no batches"):
        recalibrate_batch_norm(network, [])
    for key, value in network.state_dict().items():
        assert torch.equal(value, before[key])


def test_recalibrated_interpolation_normalises_by_its_own_statistics():
    """Far apart, the mean of two networks' statistics is not the statistics of their mean."""
    start, end = _trained_like(4, 1), _trained_like(8, 2)
    inputs = torch.rand(4, 1, 32, 32) * 3
    halfway = interpolate_unets(start, end, 0.5, widen_seed=5)
    recalibrated = interpolate_unets(start, end, 0.5, widen_seed=5)
    recalibrate_batch_norm(recalibrated, [inputs])
    with torch.no_grad():
        recalibrated.train()
        in_training = recalibrated(inputs)  # normalised by these very inputs' statistics
        recalibrated.eval()
        error_recalibrated = (recalibrated(inputs) - in_training).abs().max()
        error_interpolated = (halfway(inputs) - in_training).abs().max()
    # only the unbiased (running) against biased (batch) variance separates the first two
    assert error_recalibrated < 0.05 * error_interpolated
