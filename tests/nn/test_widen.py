"""Widening a UNet keeps its output and adds trainable capacity."""

from __future__ import annotations

import pytest
import torch

from sbdenoise.errors import InputError
from sbdenoise.nn import UNet
from sbdenoise.nn.widen import widen_unet


def _trained_like(scales: int, base: int, bias_free: bool = False) -> UNet:
    """A UNet with non-trivial weights and batch-norm statistics (a few training passes)."""
    torch.manual_seed(3)
    network = UNet(scales=scales, base_channels=base, bias_free=bias_free)
    network.train()
    with torch.no_grad():
        for _ in range(3):
            network(torch.rand(2, 1, 32, 32) * 3)
    return network


@pytest.mark.parametrize(("scales", "bias_free"), [(3, False), (4, True)])
def test_widened_unet_computes_the_same_output(scales, bias_free):
    source = _trained_like(scales, 4, bias_free)
    wide = widen_unet(source, 7, seed=1)
    assert wide.base_channels == 7 and wide.scales == scales and wide.bias_free == bias_free
    assert sum(p.numel() for p in wide.parameters()) > sum(p.numel() for p in source.parameters())
    inputs = torch.rand(3, 1, 32, 32) * 2
    for mode in ("eval", "train"):  # train mode: batch statistics, per channel
        source.train(mode == "train")
        wide.train(mode == "train")
        with torch.no_grad():
            torch.testing.assert_close(wide(inputs), source(inputs), atol=1e-5, rtol=1e-5)


def test_new_channels_learn_from_the_first_step():
    source = _trained_like(3, 4)
    wide = widen_unet(source, 8, seed=0)
    head_before = wide.head.weight.detach().clone()
    assert torch.count_nonzero(head_before[:, 4:]) == 0
    optimizer = torch.optim.SGD(wide.parameters(), lr=0.1)
    loss = (wide(torch.rand(2, 1, 32, 32)) - 0.5).square().mean()
    loss.backward()
    optimizer.step()
    assert torch.count_nonzero(wide.head.weight[:, 4:]) > 0


def test_widening_does_not_touch_the_source_or_the_global_seed():
    source = _trained_like(2, 4)
    before = {k: v.clone() for k, v in source.state_dict().items()}
    torch.manual_seed(11)
    expected = torch.rand(1)
    torch.manual_seed(11)
    widen_unet(source, 6, seed=5)
    assert torch.equal(torch.rand(1), expected)
    for key, value in source.state_dict().items():
        assert torch.equal(value, before[key])


def test_narrowing_is_refused():
    with pytest.raises(InputError, match="cannot widen"):
        widen_unet(_trained_like(2, 8), 4)
