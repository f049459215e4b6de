"""A small 1-D CNN for MNIST-1D (Greydanus, 2020): the default family for
runs that must finish on a CPU in seconds.

Three convolutions of 32 channels at 1x, each followed by a ReLU: kernel 5
(stride 1), then kernel 3 with stride 2 twice, so a 40-sample input goes
40 -> 20 -> 10; flattened, then a linear layer to the classes. The 1x model
for 40 samples and 10 classes has 9,610 parameters. Inputs may be
``(batch, 40)`` or ``(batch, 1, 40)``.

Probed layers: ``conv1``, ``conv2``, ``conv3`` (each after its ReLU).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from frivolous.zoo.option_checks import check_count
from frivolous.zoo.widths import scaled

CHANNELS = 32
KERNELS_AND_STRIDES = ((5, 1), (3, 2), (3, 2))


def _block(in_channels: int, out_channels: int, kernel_size: int, stride: int) -> nn.Sequential:
    layer = nn.Conv1d(in_channels, out_channels, kernel_size, stride, padding=kernel_size // 2)
    return nn.Sequential(OrderedDict(layer=layer, relu=nn.ReLU()))


class CNN1d(nn.Module):
    frivolous_layers = ("conv1", "conv2", "conv3")
    # Set with add_module in __init__; declared here for the type checker.
    conv1: nn.Sequential
    conv2: nn.Sequential
    conv3: nn.Sequential

    def __init__(self, channels: int, input_length: int = 40, num_classes: int = 10) -> None:
        super().__init__()
        length, fan_in = input_length, 1
        for i, (kernel_size, stride) in enumerate(KERNELS_AND_STRIDES, start=1):
            self.add_module(f"conv{i}", _block(fan_in, channels, kernel_size, stride))
            length, fan_in = (length + 2 * (kernel_size // 2) - kernel_size) // stride + 1, channels
        self.out = nn.Linear(channels * length, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv3(self.conv2(self.conv1(x.flatten(1).unsqueeze(1))))
        return self.out(x.flatten(1))


def build(width_factor: float = 1.0, *, num_classes: int = 10, input_length: int = 40) -> CNN1d:
    check_count("input_length", input_length)
    return CNN1d(scaled(CHANNELS, width_factor), input_length=input_length, num_classes=num_classes)
