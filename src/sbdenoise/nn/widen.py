"""Grow a trained UNet to more channels without changing what it computes.

Training a wider network from scratch on 2 CPU cores costs days; widening a trained one keeps its
function and lets the new channels add capacity from there (the idea of Chen et al.'s Net2Net,
in its simplest form). Every convolution of the wider network copies the old weights into the
rows and columns of the old channels; the weights from new input channels into old output
channels (and into the 1 x 1 head) are zero, so the old channels, and therefore the output, are
exactly those of the source network, in training mode too (batch norm is per channel). The new
channels start from the usual random initialisation; their outgoing zero weights receive
gradients from the first step on.
"""

from __future__ import annotations

import torch
from torch import nn

from sbdenoise.errors import InputError
from sbdenoise.nn.unet import UNet

__all__ = ["widen_unet"]


def _copy_conv(target: nn.Conv2d, source: nn.Conv2d, input_map: torch.Tensor) -> None:
    """Embed ``source`` in ``target``: old outputs see only old inputs, at ``input_map``."""
    old_out = source.out_channels
    with torch.no_grad():
        target.weight[:old_out].zero_()
        target.weight[:old_out, input_map] = source.weight
        if source.bias is not None:
            target.bias[:old_out] = source.bias


def _copy_norm(target: nn.Module, source: nn.Module) -> None:
    """Copy the per-channel parameters and running statistics of a batch norm."""
    with torch.no_grad():
        for name, value in source.state_dict().items():
            slot = getattr(target, name)
            if value.ndim == 0:
                slot.copy_(value)
            else:
                slot[: value.shape[0]] = value


def _copy_block(target: nn.Sequential, source: nn.Sequential, input_map: torch.Tensor) -> None:
    """Embed a ConvBlock (conv, norm, ReLU, conv, norm, ReLU) in a wider one."""
    first_conv, first_norm, _, second_conv, second_norm, _ = source
    _copy_conv(target[0], first_conv, input_map)
    _copy_norm(target[1], first_norm)
    _copy_conv(target[3], second_conv, torch.arange(first_conv.out_channels))
    _copy_norm(target[4], second_norm)


def widen_unet(source: UNet, base_channels: int, seed: int = 0) -> UNet:
    """A UNet with ``base_channels`` channels that computes exactly what ``source`` computes.

    Parameters
    ----------
    source : UNet
        The trained network (any mode; it is not modified).
    base_channels : int
        Channels at the finest level of the new network, at least ``source.base_channels``.
    seed : int
        Seed of the random initialisation of the new channels.

    Returns
    -------
    UNet
        Same scales and bias-free setting, wider; in training mode, like a freshly built network.

    Raises
    ------
    InputError
        If ``base_channels`` is smaller than the source's.
    """
    if base_channels < source.base_channels:
        raise InputError(
            f"cannot widen a UNet of base {source.base_channels} channels to {base_channels}"
        )
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        wide = UNet(scales=source.scales, base_channels=base_channels, bias_free=source.bias_free)
    finally:
        torch.random.set_rng_state(generator_state)
    old = [source.base_channels * 2**level for level in range(source.scales)]
    new = [base_channels * 2**level for level in range(source.scales)]
    previous = torch.arange(1)  # the one input channel
    pairs = zip(wide.encoder, source.encoder, strict=True)
    for level, (target_block, source_block) in enumerate(pairs):
        _copy_block(target_block, source_block, previous)
        previous = torch.arange(old[level])
    pairs = zip(wide.decoder, source.decoder, strict=True)
    for index, (target_block, source_block) in enumerate(pairs):
        level = source.scales - 2 - index
        upsampled = torch.arange(old[level + 1])  # the coarser level's output comes first
        skip = new[level + 1] + torch.arange(old[level])
        _copy_block(target_block, source_block, torch.cat([upsampled, skip]))
    _copy_conv(wide.head, source.head, torch.arange(old[0]))
    return wide
