"""Folding batch norms into convolutions keeps the network's output and leaves the source alone."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sbdenoise.nn import UNet
from sbdenoise.nn.architectures import build_model
from sbdenoise.nn.blocks import BiasFreeBatchNorm2d
from sbdenoise.nn.folding import fold_batch_norms


def _trained_like(network: nn.Module) -> nn.Module:
    """The network after a few training passes: batch-norm statistics far from their defaults."""
    torch.manual_seed(5)
    with torch.no_grad():
        for module in network.modules():
            if isinstance(module, (nn.BatchNorm2d, BiasFreeBatchNorm2d)):
                module.weight.uniform_(0.5, 2.0)
                if getattr(module, "bias", None) is not None:
                    module.bias.uniform_(-0.5, 0.5)
        network.train()
        for _ in range(3):
            network(torch.rand(2, 1, 32, 32) * 4)
    return network.eval()


def _norms(network: nn.Module) -> int:
    return sum(isinstance(m, (nn.BatchNorm2d, BiasFreeBatchNorm2d)) for m in network.modules())


@pytest.mark.parametrize("bias_free", [False, True])
def test_folded_unet_computes_the_same_output(bias_free):
    network = _trained_like(UNet(scales=3, base_channels=4, bias_free=bias_free))
    folded, count = fold_batch_norms(network)
    assert count == _norms(network) == 2 * 5  # two per block, 3 encoder + 2 decoder blocks
    assert _norms(folded) == 0
    inputs = torch.rand(3, 1, 32, 32) * 2
    with torch.no_grad():
        torch.testing.assert_close(folded(inputs), network(inputs), atol=1e-5, rtol=1e-5)


def test_a_bias_free_network_stays_bias_free():
    network = _trained_like(UNet(scales=3, base_channels=4, bias_free=True))
    folded, _ = fold_batch_norms(network)
    convs = [m for m in folded.modules() if isinstance(m, nn.Conv2d)]
    assert convs and all(c.bias is None for c in convs)
    x = torch.rand(1, 1, 32, 32)
    with torch.no_grad():  # positively homogeneous: f(a y) = a f(y)
        torch.testing.assert_close(folded(3.0 * x), 3.0 * folded(x), atol=1e-5, rtol=1e-5)


def test_folding_leaves_the_source_untouched_and_in_its_mode():
    network = _trained_like(UNet(scales=2, base_channels=4))
    network.train()
    before = {k: v.clone() for k, v in network.state_dict().items()}
    folded, _ = fold_batch_norms(network)
    assert network.training and not folded.training
    assert not any(p.requires_grad for p in folded.parameters())
    for key, value in network.state_dict().items():
        assert torch.equal(value, before[key])


def test_every_registered_architecture_folds_to_the_same_output():
    cases = [
        ("dncnn", {"depth": 5, "channels": 8}),
        ("unet", {"scales": 2}),
        ("small-unet", {"channels": 4}),
    ]
    for name, kwargs in cases:
        network = _trained_like(build_model(name, **kwargs))
        folded, count = fold_batch_norms(network)
        assert count == _norms(network)  # small-unet has none: nothing to fold, same output
        assert _norms(folded) == 0
        x = torch.rand(1, 1, 24, 24)
        with torch.no_grad():
            torch.testing.assert_close(folded(x), network(x), atol=1e-5, rtol=1e-5)
