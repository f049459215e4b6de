"""Building blocks shared by the ResNet families.

Every ReLU is its own module (never one module called twice), so that each
activation has an unambiguous probe name, and none works in place.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn


def conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> nn.Sequential:
    """A bias-free convolution with "same"-style padding, BatchNorm and ReLU;
    probing the Sequential gives the post-ReLU activation."""
    conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding=kernel_size // 2, bias=False)
    return nn.Sequential(OrderedDict(conv=conv, bn=nn.BatchNorm2d(out_channels), relu=nn.ReLU()))


class BasicBlock(nn.Module):
    """He et al.'s basic block (v1): ``relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))``
    with 3x3 convolutions; the first one carries the stride."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, shortcut: nn.Module) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = shortcut
        self.relu2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu1(self.bn1(self.conv1(x)))
        return self.relu2(self.bn2(self.conv2(out)) + self.shortcut(x))


def stage(in_channels: int, out_channels: int, blocks: int, stride: int, shortcut: type[nn.Module]) -> nn.Sequential:
    """``blocks`` basic blocks; the first changes the shape (if it does) and
    gets ``shortcut(in_channels, out_channels, stride)``, the rest an identity."""
    first = BasicBlock(in_channels, out_channels, stride, _shortcut(in_channels, out_channels, stride, shortcut))
    rest = [BasicBlock(out_channels, out_channels, 1, nn.Identity()) for _ in range(blocks - 1)]
    return nn.Sequential(first, *rest)


def _shortcut(in_channels: int, out_channels: int, stride: int, shortcut: type[nn.Module]) -> nn.Module:
    if stride == 1 and in_channels == out_channels:
        return nn.Identity()
    return shortcut(in_channels, out_channels, stride)
