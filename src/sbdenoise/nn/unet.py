"""The papers' large-field-of-view UNet, with a bias-free option.

Architecture (Vincent et al., Microsc. Microanal. 2021; Mohan et al., 2022): ``scales`` resolution
levels; at level ``l`` a block conv3x3-BN-ReLU-conv3x3-BN-ReLU with ``base_channels * 2**l``
channels; 2 x 2 max-pooling between encoder levels; bilinear x2 upsampling on the way up, whose
result is concatenated with the encoder features of the same level (skip connection) and passed
through a block; a 1 x 1 convolution maps the finest features to one output channel.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sbdenoise.errors import InputError
from sbdenoise.nn.blocks import ConvBlock, full_precision

__all__ = ["UNet"]

#: Allowed number of resolution levels.
MIN_SCALES, MAX_SCALES = 2, 6


class UNet(nn.Module):
    """UNet mapping ``(N, 1, H, W)`` to ``(N, 1, H, W)`` in the units of the input.

    Parameters
    ----------
    scales : int
        Number of resolution levels, 2 to 6 (``scales - 1`` poolings). The receptive field grows
        roughly as ``2**scales``.
    base_channels : int
        Channels at the finest level; level ``l`` has ``base_channels * 2**l``.
    bias_free : bool
        Remove every additive constant (convolutions without bias, :class:`BiasFreeBatchNorm2d`),
        so that in eval mode ``f(a y) = a f(y)`` for ``a > 0``.

    Notes
    -----
    ``H`` and ``W`` must be multiples of ``2**(scales - 1)`` (:attr:`required_multiple`); padding
    is the caller's job (:func:`sbdenoise.denoise.inference.denoise_array` pads by reflection).
    """

    def __init__(self, scales: int = 5, base_channels: int = 32, bias_free: bool = False) -> None:
        super().__init__()
        if not isinstance(scales, int) or not MIN_SCALES <= scales <= MAX_SCALES:
            raise InputError(f"UNet scales must be an integer from 2 to 6, got {scales!r}")
        if not isinstance(base_channels, int) or base_channels < 1:
            raise InputError(
                f"UNet base_channels must be a positive integer, got {base_channels!r}"
            )
        self.scales = scales
        self.base_channels = base_channels
        self.bias_free = bool(bias_free)
        widths = [base_channels * 2**level for level in range(scales)]
        self.encoder = nn.ModuleList()
        previous = 1
        for width in widths:
            self.encoder.append(ConvBlock(previous, width, self.bias_free))
            previous = width
        self.decoder = nn.ModuleList()
        for level in reversed(range(scales - 1)):
            self.decoder.append(
                ConvBlock(widths[level + 1] + widths[level], widths[level], bias_free)
            )
        self.head = nn.Conv2d(widths[0], 1, 1, bias=not self.bias_free)

    @property
    def required_multiple(self) -> int:
        """Input height and width must be multiples of this (``2**(scales - 1)``)."""
        return 2 ** (self.scales - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Denoise ``x`` of shape ``(N, 1, H, W)``; returns the same shape."""
        multiple = self.required_multiple
        if x.shape[-1] % multiple or x.shape[-2] % multiple:
            raise InputError(
                f"UNet with {self.scales} scales needs height and width that are multiples of "
                f"{multiple} pixels, got {tuple(x.shape[-2:])}; pad the input first"
            )
        skips = []
        out = x
        for level, block in enumerate(self.encoder):
            if level > 0:
                out = F.max_pool2d(out, 2)
            out = block(out)
            skips.append(out)
        skips.pop()  # the coarsest level feeds the decoder directly
        for block in self.decoder:
            skip = skips.pop()
            out = F.interpolate(out, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            out = block(torch.cat([out, skip], dim=1))
        return full_precision(self.head, out)
