"""DnCNN (Zhang, Zuo, Chen, Meng and Zhang, IEEE TIP 2017), the papers' small-field baseline.

``depth`` 3 x 3 convolutions with ``channels`` channels: conv-ReLU, then ``depth - 2`` times
conv-BN-ReLU, then a conv to one channel. In residual form the network predicts the noise and the
output is the input minus that prediction. The receptive field of ``depth`` 3 x 3 layers is
``2 * depth + 1`` pixels (41 for the standard 20 layers).
"""

from __future__ import annotations

import torch
from torch import nn

from sbdenoise.errors import InputError
from sbdenoise.nn.blocks import batch_norm, conv3x3, full_precision

__all__ = ["DnCNN"]


class DnCNN(nn.Module):
    """DnCNN mapping ``(N, 1, H, W)`` to ``(N, 1, H, W)`` in the units of the input.

    Parameters
    ----------
    depth : int
        Number of convolution layers (at least 3).
    channels : int
        Feature channels of the hidden layers.
    residual : bool
        Predict the noise and subtract it from the input (the published form).
    bias_free : bool
        Convolutions without bias and the bias-free batch norm.
    """

    #: Any input size works.
    required_multiple = 1

    def __init__(
        self, depth: int = 20, channels: int = 64, residual: bool = True, bias_free: bool = False
    ) -> None:
        super().__init__()
        if not isinstance(depth, int) or depth < 3:
            raise InputError(f"DnCNN depth must be an integer of at least 3, got {depth!r}")
        if not isinstance(channels, int) or channels < 1:
            raise InputError(f"DnCNN channels must be a positive integer, got {channels!r}")
        self.depth = depth
        self.channels = channels
        self.residual = bool(residual)
        self.bias_free = bool(bias_free)
        bias = not self.bias_free
        layers: list[nn.Module] = [conv3x3(1, channels, bias), nn.ReLU()]
        for _ in range(depth - 2):
            layers += [
                conv3x3(channels, channels, bias),
                batch_norm(channels, bias_free),
                nn.ReLU(),
            ]
        layers.append(conv3x3(channels, 1, bias))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Denoise ``x`` of shape ``(N, 1, H, W)``; returns the same shape."""
        out = full_precision(self.body[-1], self.body[:-1](x))
        return x - out if self.residual else out
