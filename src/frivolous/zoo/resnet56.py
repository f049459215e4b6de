"""ResNet56 for CIFAR-10 (He et al., 2016, section 4.2).

A 3x3 convolution with 16 channels, BatchNorm and ReLU; three stages of nine
basic blocks with 16, 32 and 64 channels (the second and third start with
stride 2, so 32 -> 16 -> 8); global average pooling and a linear layer.
Every channel count is multiplied by the width factor.

Shortcuts follow He et al.'s CIFAR option A: the identity, and where a block
changes the shape, the input subsampled with stride 2 and padded with zero
channels, so shortcuts have no parameters. (TensorFlow's official ResNet,
which the paper's released code may have used, projects with a 1x1
convolution in the first block of every stage instead.) The 1x model for 10
classes has 853,018 parameters.

Probed layers: ``stem`` (after its ReLU) and ``stage1``, ``stage2``,
``stage3`` (each stage's output: its last block after the final ReLU).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from frivolous.zoo.blocks import conv_bn_relu, stage
from frivolous.zoo.widths import scaled

BLOCKS_PER_STAGE = 9
CHANNELS = (16, 32, 64)


class PadShortcut(nn.Module):
    """Option A: keep every ``stride``-th position and append zero channels."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        if out_channels < in_channels:
            raise ValueError(f"a zero-padding shortcut cannot reduce {in_channels} channels to {out_channels}")
        self.stride = stride
        self.extra = out_channels - in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x[:, :, :: self.stride, :: self.stride], (0, 0, 0, 0, 0, self.extra))


class ResNet56(nn.Module):
    frivolous_layers = ("stem", "stage1", "stage2", "stage3")

    def __init__(self, channels: tuple[int, int, int], num_classes: int = 10) -> None:
        super().__init__()
        c1, c2, c3 = channels
        self.stem = conv_bn_relu(3, c1, 3)
        self.stage1 = stage(c1, c1, BLOCKS_PER_STAGE, 1, PadShortcut)
        self.stage2 = stage(c1, c2, BLOCKS_PER_STAGE, 2, PadShortcut)
        self.stage3 = stage(c2, c3, BLOCKS_PER_STAGE, 2, PadShortcut)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c3, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stage3(self.stage2(self.stage1(self.stem(x))))
        return self.fc(self.pool(x).flatten(1))


def build(width_factor: float = 1.0, *, num_classes: int = 10) -> ResNet56:
    c1, c2, c3 = (scaled(c, width_factor) for c in CHANNELS)
    return ResNet56((c1, c2, c3), num_classes=num_classes)
