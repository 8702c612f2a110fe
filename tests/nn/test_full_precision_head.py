"""The networks' output layer runs in fp32 inside a bf16 autocast: the output is not quantized."""

from __future__ import annotations

import pytest
import torch

from sbdenoise.nn.dncnn import DnCNN
from sbdenoise.nn.small_unet import SmallUNet
from sbdenoise.nn.unet import UNet
from sbdenoise.training.precision import autocast


@pytest.mark.parametrize(
    "network",
    [UNet(scales=3, base_channels=8), DnCNN(depth=4, channels=8), SmallUNet(channels=8)],
    ids=["unet", "dncnn", "small-unet"],
)
def test_a_bf16_forward_returns_an_fp32_output_off_the_bf16_grid(network):
    torch.manual_seed(0)
    network.eval()
    frame = 1.0 + 0.05 * torch.randn(1, 1, 32, 32)  # a frame-mean-normalised input near 1
    with torch.no_grad(), autocast("bf16", torch.device("cpu")):
        out = network(frame)
    with torch.no_grad():
        reference = network(frame)
    assert out.dtype == torch.float32
    # a bf16 output near 1 would sit on a grid of 2**-7; most fp32 values are off it
    on_grid = out == out.to(torch.bfloat16).float()
    assert on_grid.float().mean() < 0.1
    # and it stays within bf16's rounding of the features, far below the grid step
    scale = reference.abs().max()
    assert (out - reference).abs().max() < 0.05 * scale
