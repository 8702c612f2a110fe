"""Denoising networks: the papers' UNet (optionally bias-free), DnCNN and the small UNet.

Every network maps ``(N, 1, H, W)`` float32 to ``(N, 1, H, W)`` in the units of its input (the
scaled counts of :class:`sbdenoise.nn.card.ModelCard`). Build one by name with
:func:`build_model`; save and load it with :mod:`sbdenoise.nn.model_file`.
"""

from __future__ import annotations

from sbdenoise.nn.architectures import ARCHITECTURES, build_model, parameter_count
from sbdenoise.nn.blocks import BiasFreeBatchNorm2d
from sbdenoise.nn.card import ModelCard, make_card
from sbdenoise.nn.dncnn import DnCNN
from sbdenoise.nn.model_file import load_model, save_model
from sbdenoise.nn.receptive_field import measure_receptive_field, required_multiple
from sbdenoise.nn.small_unet import SmallUNet
from sbdenoise.nn.unet import UNet

__all__ = [
    "ARCHITECTURES",
    "BiasFreeBatchNorm2d",
    "DnCNN",
    "ModelCard",
    "SmallUNet",
    "UNet",
    "build_model",
    "load_model",
    "make_card",
    "measure_receptive_field",
    "parameter_count",
    "required_multiple",
    "save_model",
]
