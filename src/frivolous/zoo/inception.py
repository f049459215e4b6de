"""Inception-v3 for ImageNet (Szegedy et al., 2016), at any width.

The topology, module names and parameter names are torchvision's
``inception_v3`` without the auxiliary head (so a 1x model loads its state
dict): a stem of five conv-BN-ReLU layers and two max-pools; the 35x35
modules ``Mixed_5b``, ``Mixed_5c``, ``Mixed_5d``; the grid reduction
``Mixed_6a``; the 17x17 modules ``Mixed_6b`` ... ``Mixed_6e``; the reduction
``Mixed_7a``; the 8x8 modules ``Mixed_7b``, ``Mixed_7c``; average pooling,
dropout and a linear layer. The 1x model for 1000 classes has 23,834,568
parameters, as torchvision's (torchvision hard-codes its channel counts,
hence this one).

The width factor multiplies the output channels of every convolution (as
TF-slim's ``depth_multiplier``, which rounds down and keeps at least 16
channels where this rounds to nearest). With ``only`` set to a module's name,
only that module is widened and the others keep their 1x channels, the next
module taking whatever the widened one outputs: the paper's runs that vary
only "mixed 2: 35x35x288", the third 35x35 module, use ``only="Mixed_5d"``.
(A grid reduction, ``Mixed_6a`` or ``Mixed_7a``, concatenates a max-pool of
its input, so it passes the extra channels of a widened module before it on
to the module after it.)

Every branch of a module ends in conv-BN-ReLU, or is a max-pool of the
post-ReLU input, so a module's concatenated output is a post-ReLU
activation. Probed layers: the 16 the released analysis averages over
(``ImageNet/nets/inception/inception_model.py`` collects them): the five stem
convolutions ``Conv2d_1a_3x3`` ... ``Conv2d_4a_3x3`` (TF-slim's ``conv0`` ...
``conv4``) and the eleven modules ``Mixed_5b`` ... ``Mixed_7c``. The paper's
per-layer Figs. B8 and B9 show three of them, ``Mixed_5d``, ``Mixed_6e`` and
``Mixed_7c`` (:data:`FIGURE_LAYERS`), the last 35x35, 17x17 and 8x8 modules.

Inputs are 299x299; anything from 75x75 up runs. BatchNorm uses epsilon
0.001 as torchvision and TF-slim do (TF-slim's decay of 0.9997 would be
PyTorch momentum 0.0003; the default 0.1 is kept). Dropout defaults to
torchvision's 0.5 (TF-slim keeps 0.8, a dropout of 0.2).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from frivolous.zoo.option_checks import check_dropout
from frivolous.zoo.widths import scaled

Width = Callable[[int], int]
"""A module's 1x channel count -> its channel count."""

Size = int | tuple[int, int]

BN_EPS = 0.001
WIDENABLE = (
    "Conv2d_1a_3x3",
    "Conv2d_2a_3x3",
    "Conv2d_2b_3x3",
    "Conv2d_3b_1x1",
    "Conv2d_4a_3x3",
    "Mixed_5b",
    "Mixed_5c",
    "Mixed_5d",
    "Mixed_6a",
    "Mixed_6b",
    "Mixed_6c",
    "Mixed_6d",
    "Mixed_6e",
    "Mixed_7a",
    "Mixed_7b",
    "Mixed_7c",
)
"""The stem convolutions and modules, in network order: what a width factor scales, and the probed layers."""
FIGURE_LAYERS = ("Mixed_5d", "Mixed_6e", "Mixed_7c")
"""The layers of the paper's per-layer Figs. B8 and B9."""


def conv(in_channels: int, out_channels: int, kernel_size: Size, stride: int = 1, padding: Size = 0) -> nn.Sequential:
    """torchvision's ``BasicConv2d``: a bias-free convolution, BatchNorm, ReLU."""
    layer = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=False)
    return nn.Sequential(OrderedDict(conv=layer, bn=nn.BatchNorm2d(out_channels, eps=BN_EPS), relu=nn.ReLU()))


def _avg_pool(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1)


class InceptionA(nn.Module):
    """35x35: 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avgpool-1x1."""

    def __init__(self, in_channels: int, pool_features: int, width: Width) -> None:
        super().__init__()
        self.branch1x1 = conv(in_channels, width(64), 1)
        self.branch5x5_1 = conv(in_channels, width(48), 1)
        self.branch5x5_2 = conv(width(48), width(64), 5, padding=2)
        self.branch3x3dbl_1 = conv(in_channels, width(64), 1)
        self.branch3x3dbl_2 = conv(width(64), width(96), 3, padding=1)
        self.branch3x3dbl_3 = conv(width(96), width(96), 3, padding=1)
        self.branch_pool = conv(in_channels, width(pool_features), 1)
        self.out_channels = 2 * width(64) + width(96) + width(pool_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch5x5 = self.branch5x5_2(self.branch5x5_1(x))
        branch3x3dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch1x1(x), branch5x5, branch3x3dbl, self.branch_pool(_avg_pool(x))], 1)


class InceptionB(nn.Module):
    """35x35 -> 17x17: 3x3/2 | 1x1-3x3-3x3/2 | maxpool/2."""

    def __init__(self, in_channels: int, width: Width) -> None:
        super().__init__()
        self.branch3x3 = conv(in_channels, width(384), 3, stride=2)
        self.branch3x3dbl_1 = conv(in_channels, width(64), 1)
        self.branch3x3dbl_2 = conv(width(64), width(96), 3, padding=1)
        self.branch3x3dbl_3 = conv(width(96), width(96), 3, stride=2)
        self.out_channels = width(384) + width(96) + in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch3x3dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch3x3(x), branch3x3dbl, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class InceptionC(nn.Module):
    """17x17 with factorised 7x7 convolutions: 1x1 | 1x1-1x7-7x1 | 1x1-7x1-1x7-7x1-1x7 | avgpool-1x1."""

    def __init__(self, in_channels: int, channels_7x7: int, width: Width) -> None:
        super().__init__()
        c7, c192 = width(channels_7x7), width(192)
        self.branch1x1 = conv(in_channels, c192, 1)
        self.branch7x7_1 = conv(in_channels, c7, 1)
        self.branch7x7_2 = conv(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = conv(c7, c192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = conv(in_channels, c7, 1)
        self.branch7x7dbl_2 = conv(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = conv(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = conv(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = conv(c7, c192, (1, 7), padding=(0, 3))
        self.branch_pool = conv(in_channels, c192, 1)
        self.out_channels = 4 * c192

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch7x7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        branch7x7dbl = self.branch7x7dbl_1(x)
        for layer in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            branch7x7dbl = layer(branch7x7dbl)
        return torch.cat([self.branch1x1(x), branch7x7, branch7x7dbl, self.branch_pool(_avg_pool(x))], 1)


class InceptionD(nn.Module):
    """17x17 -> 8x8: 1x1-3x3/2 | 1x1-1x7-7x1-3x3/2 | maxpool/2."""

    def __init__(self, in_channels: int, width: Width) -> None:
        super().__init__()
        c192 = width(192)
        self.branch3x3_1 = conv(in_channels, c192, 1)
        self.branch3x3_2 = conv(c192, width(320), 3, stride=2)
        self.branch7x7x3_1 = conv(in_channels, c192, 1)
        self.branch7x7x3_2 = conv(c192, c192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = conv(c192, c192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = conv(c192, c192, 3, stride=2)
        self.out_channels = width(320) + c192 + in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch3x3 = self.branch3x3_2(self.branch3x3_1(x))
        branch7x7x3 = self.branch7x7x3_1(x)
        for layer in (self.branch7x7x3_2, self.branch7x7x3_3, self.branch7x7x3_4):
            branch7x7x3 = layer(branch7x7x3)
        return torch.cat([branch3x3, branch7x7x3, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class InceptionE(nn.Module):
    """8x8 with expanded filter banks: 1x1 | 1x1-(1x3, 3x1) | 1x1-3x3-(1x3, 3x1) | avgpool-1x1."""

    def __init__(self, in_channels: int, width: Width) -> None:
        super().__init__()
        c384 = width(384)
        self.branch1x1 = conv(in_channels, width(320), 1)
        self.branch3x3_1 = conv(in_channels, c384, 1)
        self.branch3x3_2a = conv(c384, c384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = conv(c384, c384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = conv(in_channels, width(448), 1)
        self.branch3x3dbl_2 = conv(width(448), c384, 3, padding=1)
        self.branch3x3dbl_3a = conv(c384, c384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = conv(c384, c384, (3, 1), padding=(1, 0))
        self.branch_pool = conv(in_channels, width(192), 1)
        self.out_channels = width(320) + 4 * c384 + width(192)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch3x3 = self.branch3x3_1(x)
        branch3x3dbl = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        return torch.cat(
            [
                self.branch1x1(x),
                self.branch3x3_2a(branch3x3),
                self.branch3x3_2b(branch3x3),
                self.branch3x3dbl_3a(branch3x3dbl),
                self.branch3x3dbl_3b(branch3x3dbl),
                self.branch_pool(_avg_pool(x)),
            ],
            1,
        )


class InceptionV3(nn.Module):
    frivolous_layers = WIDENABLE

    def __init__(self, widths: Callable[[str], Width], num_classes: int = 1000, dropout: float = 0.5) -> None:
        """``widths(name)`` scales the channels of the module called ``name``."""
        super().__init__()
        c1a, c2a, c2b = widths("Conv2d_1a_3x3")(32), widths("Conv2d_2a_3x3")(32), widths("Conv2d_2b_3x3")(64)
        c3b, c4a = widths("Conv2d_3b_1x1")(80), widths("Conv2d_4a_3x3")(192)
        self.Conv2d_1a_3x3 = conv(3, c1a, 3, stride=2)
        self.Conv2d_2a_3x3 = conv(c1a, c2a, 3)
        self.Conv2d_2b_3x3 = conv(c2a, c2b, 3, padding=1)
        self.maxpool1 = nn.MaxPool2d(kernel_size=3, stride=2)
        self.Conv2d_3b_1x1 = conv(c2b, c3b, 1)
        self.Conv2d_4a_3x3 = conv(c3b, c4a, 3)
        self.maxpool2 = nn.MaxPool2d(kernel_size=3, stride=2)
        self.Mixed_5b = InceptionA(c4a, 32, widths("Mixed_5b"))
        self.Mixed_5c = InceptionA(self.Mixed_5b.out_channels, 64, widths("Mixed_5c"))
        self.Mixed_5d = InceptionA(self.Mixed_5c.out_channels, 64, widths("Mixed_5d"))
        self.Mixed_6a = InceptionB(self.Mixed_5d.out_channels, widths("Mixed_6a"))
        self.Mixed_6b = InceptionC(self.Mixed_6a.out_channels, 128, widths("Mixed_6b"))
        self.Mixed_6c = InceptionC(self.Mixed_6b.out_channels, 160, widths("Mixed_6c"))
        self.Mixed_6d = InceptionC(self.Mixed_6c.out_channels, 160, widths("Mixed_6d"))
        self.Mixed_6e = InceptionC(self.Mixed_6d.out_channels, 192, widths("Mixed_6e"))
        self.Mixed_7a = InceptionD(self.Mixed_6e.out_channels, widths("Mixed_7a"))
        self.Mixed_7b = InceptionE(self.Mixed_7a.out_channels, widths("Mixed_7b"))
        self.Mixed_7c = InceptionE(self.Mixed_7b.out_channels, widths("Mixed_7c"))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(self.Mixed_7c.out_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool1(self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x))))
        x = self.maxpool2(self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x)))
        for module in (
            self.Mixed_5b,
            self.Mixed_5c,
            self.Mixed_5d,
            self.Mixed_6a,
            self.Mixed_6b,
            self.Mixed_6c,
            self.Mixed_6d,
            self.Mixed_6e,
            self.Mixed_7a,
            self.Mixed_7b,
            self.Mixed_7c,
        ):
            x = module(x)
        return self.fc(self.dropout(self.avgpool(x)).flatten(1))


def build(
    width_factor: float = 1.0, *, num_classes: int = 1000, only: str | None = None, dropout: float = 0.5
) -> InceptionV3:
    """Inception-v3 with every module widened by ``width_factor``, or only the module named ``only``."""
    if only is not None and only not in WIDENABLE:
        raise ValueError(f"only must be None or one of {list(WIDENABLE)}, got {only!r}")
    check_dropout(dropout)

    def widths(name: str) -> Width:
        return partial(scaled, width_factor=width_factor if only in (None, name) else 1.0)

    return InceptionV3(widths, num_classes=num_classes, dropout=dropout)
