"""Layers shared by the networks: a bias-free batch norm and convolution blocks.

A network is *bias-free* when no layer adds a constant: convolutions have no bias and the batch
norm only rescales (no mean subtraction, no shift). With ReLU, max-pooling and bilinear
upsampling, which are all positively homogeneous, such a network satisfies ``f(a y) = a f(y)``
for ``a > 0`` in eval mode (Mohan, Kadkhodaie, Simoncelli and Fernandez-Granda, ICLR 2020).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["BiasFreeBatchNorm2d", "ConvBlock", "batch_norm", "conv3x3", "full_precision"]


class BiasFreeBatchNorm2d(nn.Module):
    """Batch norm that only divides by the standard deviation and multiplies by a learned gain.

    ``y = gain * x / sqrt(var + eps)`` per channel, where ``var`` is the batch variance of the
    channel (over batch and pixels) in training mode and its running average in eval mode. The
    mean is neither subtracted nor added back and there is no shift, so in eval mode the layer is
    linear (a per-channel scale).

    Parameters
    ----------
    num_features : int
        Number of channels.
    eps : float
        Added to the variance for numerical safety (in squared input units).
    momentum : float
        Weight of the current batch in the running variance (as in :class:`torch.nn.BatchNorm2d`).

    Attributes
    ----------
    weight : torch.nn.Parameter
        Per-channel gain, initialised to 1.
    running_var : torch.Tensor
        Running (unbiased) variance per channel, a buffer saved with the weights.
    num_batches_tracked : torch.Tensor
        Number of training batches seen, a buffer.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Rescale ``x`` of shape ``(N, C, H, W)`` channel by channel."""
        if self.training:
            var = x.var(dim=(0, 2, 3), unbiased=False)
            n = x.numel() / x.shape[1]
            with torch.no_grad():
                unbiased = var * (n / max(n - 1.0, 1.0))
                self.running_var.mul_(1.0 - self.momentum).add_(self.momentum * unbiased)
                self.num_batches_tracked.add_(1)
        else:
            var = self.running_var
        scale = self.weight / torch.sqrt(var + self.eps)
        return x * scale.view(1, -1, 1, 1)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


def batch_norm(channels: int, bias_free: bool) -> nn.Module:
    """A batch norm over ``channels``: :class:`BiasFreeBatchNorm2d` or the standard one."""
    return BiasFreeBatchNorm2d(channels) if bias_free else nn.BatchNorm2d(channels)


def conv3x3(in_channels: int, out_channels: int, bias: bool, dilation: int = 1) -> nn.Conv2d:
    """A 3 x 3 convolution with zero padding that keeps the image size."""
    return nn.Conv2d(in_channels, out_channels, 3, padding=dilation, dilation=dilation, bias=bias)


class ConvBlock(nn.Sequential):
    """conv3x3 - BN - ReLU - conv3x3 - BN - ReLU, the UNet's building block.

    Parameters
    ----------
    in_channels, out_channels : int
        Channels in and out.
    bias_free : bool
        Convolutions without bias and the bias-free batch norm.
    """

    def __init__(self, in_channels: int, out_channels: int, bias_free: bool) -> None:
        super().__init__(
            conv3x3(in_channels, out_channels, bias=not bias_free),
            batch_norm(out_channels, bias_free),
            nn.ReLU(),
            conv3x3(out_channels, out_channels, bias=not bias_free),
            batch_norm(out_channels, bias_free),
            nn.ReLU(),
        )


def full_precision(layer: nn.Module, features: torch.Tensor) -> torch.Tensor:
    """Apply a network's output layer in fp32, even inside a bf16 autocast region.

    bf16 keeps 8 significant bits: an output near the frame-mean level of 1 comes out in steps of
    2**-7 (0.8 %), which is as large as the faint peaks the column detection looks for. The shipped
    UNet drew candidate columns in 16 of 60 simulated vacuum frames with a bf16 output against 6
    in fp32, and lost 0.06 dB on the gate (campaign/README.md, 2026-12-04). The features stay in
    bf16 (their rounding averages out over the channels); only the last layer's arithmetic and
    its output are fp32.

    Parameters
    ----------
    layer : torch.nn.Module
        The output layer (a convolution to one channel).
    features : torch.Tensor
        Its input, in any floating dtype.

    Returns
    -------
    torch.Tensor
        ``layer(features)`` computed and returned in float32 (float64 for float64 features, as
        the receptive-field measurement uses).
    """
    dtype = torch.promote_types(features.dtype, torch.float32)
    with torch.autocast(device_type=features.device.type, enabled=False):
        return layer(features.to(dtype))


def batch_norm_layers(network: nn.Module) -> list[nn.Module]:
    """Every batch norm of ``network``: :class:`torch.nn.BatchNorm2d` and bias-free ones."""
    return [
        module
        for module in network.modules()
        if isinstance(module, nn.modules.batchnorm._BatchNorm | BiasFreeBatchNorm2d)
    ]


def freeze_batch_norms(network: nn.Module) -> int:
    """Put every batch norm in eval mode: normalise by the running statistics and keep them.

    In training mode a batch norm divides each batch by that batch's own statistics, in eval mode
    by the running average; a network then computes in use a function it was never trained as,
    and a frame unlike the average batch (a field of pure vacuum) lands where training never put
    it. With the batch norms frozen, training optimises the function that inference runs. Their
    gains and shifts stay trainable. Call it after every ``network.train()``.

    Returns
    -------
    int
        Number of batch norms frozen.
    """
    layers = batch_norm_layers(network)
    for layer in layers:
        layer.eval()
    return len(layers)
