"""The small UNet the papers compare the large UNet against (small field of view).

Vincent et al. (Microsc. Microanal. 2021) and Mohan et al. (2022) compare their large UNet with the
small UNet used beside DnCNN and DURR in Mohan, Kadkhodaie, Simoncelli and Fernandez-Granda,
"Robust and interpretable blind image denoising via bias-free convolutional neural networks"
(ICLR 2020). Its layer list, as given by that work's public code, is (``c = channels``, ReLU after
every layer but the last):

==========  ===========================================  ==============
layer       operation                                    channels
==========  ===========================================  ==============
conv1       5 x 5 convolution                            1 -> c
conv2       3 x 3 convolution (kept for the skip)        c -> c
conv3       3 x 3 convolution, stride 2                  c -> 2c
conv4       3 x 3 convolution                            2c -> 2c
conv5       3 x 3 convolution, dilation 2                2c -> 2c
conv6       3 x 3 convolution, dilation 4                2c -> 2c
conv7       4 x 4 transposed convolution, stride 2       2c -> 2c
conv8       3 x 3 convolution on [conv7, conv2]          3c -> c
conv9       5 x 5 convolution, never a bias              c -> 1
==========  ===========================================  ==============

with ``c = 32``, no batch norm, and the output the clean-image estimate (``residual=False``).
What could not be verified from the 2021 paper's text is whether its comparison used exactly this
list (rather than, say, a variant with batch norm); this module implements the list above. Its
measured receptive field is a few tens of pixels (see :mod:`sbdenoise.nn.receptive_field`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sbdenoise.errors import InputError
from sbdenoise.nn.blocks import full_precision

__all__ = ["SmallUNet"]


class SmallUNet(nn.Module):
    """Small UNet mapping ``(N, 1, H, W)`` to ``(N, 1, H, W)`` in the units of the input.

    Parameters
    ----------
    channels : int
        Channels of the full-resolution layers (``c`` in the module docstring); the half-resolution
        layers have ``2 c``.
    bias_free : bool
        Convolutions without bias (the network has no batch norm).
    residual : bool
        Predict the noise and subtract it from the input.

    Notes
    -----
    ``H`` and ``W`` must be even (:attr:`required_multiple` is 2).
    """

    #: Input height and width must be multiples of this.
    required_multiple = 2

    def __init__(self, channels: int = 32, bias_free: bool = False, residual: bool = False) -> None:
        super().__init__()
        if not isinstance(channels, int) or channels < 1:
            raise InputError(f"small-unet channels must be a positive integer, got {channels!r}")
        self.channels = channels
        self.bias_free = bool(bias_free)
        self.residual = bool(residual)
        c, bias = channels, not self.bias_free
        self.conv1 = nn.Conv2d(1, c, 5, padding=2, bias=bias)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=bias)
        self.conv3 = nn.Conv2d(c, 2 * c, 3, stride=2, padding=1, bias=bias)
        self.conv4 = nn.Conv2d(2 * c, 2 * c, 3, padding=1, bias=bias)
        self.conv5 = nn.Conv2d(2 * c, 2 * c, 3, padding=2, dilation=2, bias=bias)
        self.conv6 = nn.Conv2d(2 * c, 2 * c, 3, padding=4, dilation=4, bias=bias)
        self.conv7 = nn.ConvTranspose2d(2 * c, 2 * c, 4, stride=2, padding=1, bias=bias)
        self.conv8 = nn.Conv2d(3 * c, c, 3, padding=1, bias=bias)
        self.conv9 = nn.Conv2d(c, 1, 5, padding=2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Denoise ``x`` of shape ``(N, 1, H, W)`` (``H``, ``W`` even); returns the same shape."""
        if x.shape[-1] % 2 or x.shape[-2] % 2:
            raise InputError(
                f"small-unet needs even height and width, got {tuple(x.shape[-2:])}; "
                "pad the input first"
            )
        full = F.relu(self.conv2(F.relu(self.conv1(x))))
        half = F.relu(self.conv3(full))
        for conv in (self.conv4, self.conv5, self.conv6):
            half = F.relu(conv(half))
        up = F.relu(self.conv7(half))
        out = full_precision(self.conv9, F.relu(self.conv8(torch.cat([up, full], dim=1))))
        return x - out if self.residual else out
