"""The self-supervised methods' network: the papers' UNet with more input channels or dropout.

The UNet comes from :func:`sbdenoise.nn.build_model`; this module changes the built instance
only (the classes of :mod:`sbdenoise.nn` are untouched): its first convolution is replaced to take
``in_channels`` channels (UDVD's five frames, Self2Self's image and mask), dropout layers are put
in front of the decoder blocks and of the output convolution (Self2Self), and the output layer
starts at the constant 1 (zero weights, bias 1), the mean of an input normalised by its mean.
"""

from __future__ import annotations

import torch
from torch import nn

from sbdenoise.nn import build_model, required_multiple

__all__ = ["SelfSupervisedUNet", "build_network", "predict"]


class SelfSupervisedUNet(nn.Module):
    """A UNet of :mod:`sbdenoise.nn` mapping ``(N, C, H, W)`` to ``(N, 1, H, W)``.

    Parameters
    ----------
    in_channels : int
        Input channels.
    scales : int
        UNet resolution levels (2-6).
    base_channels : int
        Channels at the finest level.
    dropout : float
        Dropout probability before every decoder block and the output convolution (0: none).
    """

    def __init__(
        self, in_channels: int = 1, scales: int = 4, base_channels: int = 16, dropout: float = 0.0
    ) -> None:
        super().__init__()
        unet = build_model("unet", scales=scales, base_channels=base_channels)
        if in_channels != 1:
            first = unet.encoder[0][0]
            unet.encoder[0][0] = nn.Conv2d(
                in_channels, first.out_channels, 3, padding=1, bias=first.bias is not None
            )
        if dropout > 0:
            for index, block in enumerate(unet.decoder):
                unet.decoder[index] = nn.Sequential(nn.Dropout(dropout), block)
            unet.head = nn.Sequential(nn.Dropout(dropout), unet.head)
        head = unet.head[-1] if isinstance(unet.head, nn.Sequential) else unet.head
        with torch.no_grad():
            head.weight.zero_()
            head.bias.fill_(1.0)
        self.unet = unet
        self.in_channels = in_channels
        self.dropout = dropout

    @property
    def required_multiple(self) -> int:
        """Input height and width must be multiples of this, pixels."""
        return required_multiple(self.unet)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(N, in_channels, H, W)`` to ``(N, 1, H, W)``."""
        return self.unet(x)

    def dropout_active(self, active: bool) -> None:
        """Switch the dropout layers on (sampling) or off, leaving batch norm as it is."""
        for module in self.modules():
            if isinstance(module, nn.Dropout):
                module.train(active)


def build_network(
    in_channels: int, scales: int, base_channels: int, dropout: float = 0.0
) -> SelfSupervisedUNet:
    """A fresh :class:`SelfSupervisedUNet` (float32, CPU, training mode)."""
    return SelfSupervisedUNet(in_channels, scales, base_channels, dropout)


def _pad_to(image: torch.Tensor, multiple: int) -> tuple[torch.Tensor, int, int]:
    """Pad ``(N, C, H, W)`` at the bottom and right by reflection to multiples of ``multiple``."""
    height, width = image.shape[-2:]
    pad_y, pad_x = -height % multiple, -width % multiple
    if pad_y or pad_x:
        mode = "reflect" if pad_y < height and pad_x < width else "replicate"
        image = nn.functional.pad(image, (0, pad_x, 0, pad_y), mode=mode)
    return image, height, width


@torch.no_grad()
def predict(
    network: SelfSupervisedUNet, inputs: torch.Tensor, dropout: bool = False
) -> torch.Tensor:
    """Run the network on whole frames in float32, one at a time.

    Parameters
    ----------
    network : SelfSupervisedUNet
        Trained network; put in eval mode (batch norm uses its running statistics).
    inputs : torch.Tensor
        ``(N, C, H, W)`` normalised inputs of any size (padded by reflection and cropped back).
    dropout : bool
        Keep dropout active (one Self2Self sample) instead of off.

    Returns
    -------
    torch.Tensor
        ``(N, H, W)`` float32 outputs.
    """
    network.eval()
    network.dropout_active(dropout)
    padded, height, width = _pad_to(inputs.float(), network.required_multiple)
    out = torch.cat([network(padded[i : i + 1]) for i in range(padded.shape[0])])
    return out[:, 0, :height, :width]
