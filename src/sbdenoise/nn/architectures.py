"""Networks by name: the registry of architectures and :func:`build_model`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from sbdenoise.errors import InputError
from sbdenoise.nn.dncnn import DnCNN
from sbdenoise.nn.small_unet import SmallUNet
from sbdenoise.nn.unet import UNet

__all__ = ["ARCHITECTURES", "build_model", "parameter_count"]

#: Architecture names accepted by :func:`build_model`, with their classes.
ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "unet": UNet,
    "dncnn": DnCNN,
    "small-unet": SmallUNet,
}


def build_model(architecture: str, **kwargs: Any) -> nn.Module:
    """Build a network by name.

    Parameters
    ----------
    architecture : str
        ``"unet"`` (kwargs ``scales`` 2-6, ``base_channels``, ``bias_free``), ``"dncnn"``
        (``depth=20``, ``channels=64``, ``residual=True``, ``bias_free=False``) or
        ``"small-unet"`` (``channels=32``, ``bias_free=False``, ``residual=False``).
    **kwargs
        Passed to the network's constructor.

    Returns
    -------
    torch.nn.Module
        A freshly initialised network in training mode, float32, on the CPU.

    Raises
    ------
    InputError
        For an unknown architecture or arguments it does not take.
    """
    try:
        cls = ARCHITECTURES[architecture]
    except (KeyError, TypeError):
        raise InputError(
            f"unknown architecture {architecture!r}; choose from {sorted(ARCHITECTURES)}"
        ) from None
    try:
        return cls(**kwargs)
    except TypeError as error:
        raise InputError(f"bad arguments for architecture {architecture!r}: {error}") from error


def parameter_count(module: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters of ``module``, buffers excluded."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
