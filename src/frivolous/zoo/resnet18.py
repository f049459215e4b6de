"""ResNet18 for ImageNet (He et al., 2016), at any width.

The standard topology, as torchvision's ``resnet18``: a 7x7 stride-2
convolution with 64 channels, BatchNorm, ReLU and a 3x3 stride-2 max-pool;
four stages of two basic blocks with 64, 128, 256 and 512 channels (stages
2-4 start with stride 2); global average pooling and a linear layer. Where a
block changes the shape its shortcut is a 1x1 convolution and BatchNorm
(option B). Every channel count is multiplied by the width factor; the 1x
model for 1000 classes has 11,689,512 parameters, as torchvision's.

(torchvision's ResNet fixes the widths, hence this one. The paper's appendix
A.1 says 7x7 kernels throughout and 64, 64, 128, 256 filters; those are
slips for the standard model the paper says it used.)

Probed layers: ``stem`` (after its ReLU, before the max-pool) and
``layer1`` ... ``layer4`` (each stage's last block after the final ReLU).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from frivolous.zoo.blocks import conv_bn_relu, stage
from frivolous.zoo.widths import scaled

BLOCKS_PER_STAGE = 2
STEM_CHANNELS = 64
CHANNELS = (64, 128, 256, 512)


class Projection(nn.Sequential):
    """Option B: a strided 1x1 convolution and BatchNorm."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        conv = nn.Conv2d(in_channels, out_channels, 1, stride, bias=False)
        super().__init__(OrderedDict(conv=conv, bn=nn.BatchNorm2d(out_channels)))


class ResNet18(nn.Module):
    frivolous_layers = ("stem", "layer1", "layer2", "layer3", "layer4")
    # Set with add_module in __init__; declared here for the type checker.
    layer1: nn.Sequential
    layer2: nn.Sequential
    layer3: nn.Sequential
    layer4: nn.Sequential

    def __init__(self, stem: int, channels: tuple[int, int, int, int], num_classes: int = 1000) -> None:
        super().__init__()
        self.stem = conv_bn_relu(3, stem, 7, stride=2)
        self.maxpool = nn.MaxPool2d(3, 2, padding=1)
        widths = (stem, *channels)
        for i, (fan_in, width) in enumerate(zip(widths, channels), start=1):
            layer = stage(fan_in, width, BLOCKS_PER_STAGE, 1 if i == 1 else 2, Projection)
            self.add_module(f"layer{i}", layer)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.stem(x))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.pool(x).flatten(1))


def build(width_factor: float = 1.0, *, num_classes: int = 1000) -> ResNet18:
    c1, c2, c3, c4 = (scaled(c, width_factor) for c in CHANNELS)
    return ResNet18(scaled(STEM_CHANNELS, width_factor), (c1, c2, c3, c4), num_classes=num_classes)
