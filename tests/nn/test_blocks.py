"""Batch norms frozen for training compute in training mode what eval mode computes."""

from __future__ import annotations

import torch

from sbdenoise.nn import build_model
from sbdenoise.nn.blocks import batch_norm_layers, freeze_batch_norms


def test_frozen_batch_norms_make_training_mode_compute_the_eval_function():
    for bias_free in (False, True):
        torch.manual_seed(0)
        network = build_model("unet", scales=3, base_channels=4, bias_free=bias_free)
        network.train()
        network(torch.rand(4, 1, 32, 32))  # running statistics away from their defaults
        network.eval()
        inputs = torch.rand(2, 1, 32, 32) * 3
        with torch.no_grad():
            expected = network(inputs)
        before = {n: b.clone() for n, b in network.named_buffers()}
        network.train()
        assert freeze_batch_norms(network) == len(batch_norm_layers(network)) > 0
        with torch.no_grad():
            frozen = network(inputs)
        torch.testing.assert_close(frozen, expected)
        for name, buffer in network.named_buffers():
            assert torch.equal(buffer, before[name]), name
        network.train()  # unfrozen: each batch by its own statistics again
        with torch.no_grad():
            assert not torch.allclose(network(inputs), expected, atol=1e-4)
