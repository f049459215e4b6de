"""The paper's AlexNet for CIFAR-10 (after Zhang et al., 2017).

conv5x5(96) - maxpool 3/2 - LRN - conv5x5(256) - maxpool 3/2 - LRN - fc384 -
fc192 - fc10, ReLU after every hidden layer, "same" padding so the spatial
size goes 32 -> 16 -> 8. The 1x model has 6,989,642 parameters.

The LRN follows TensorFlow's ``local_response_normalization`` with depth
radius 2, alpha 2e-5, beta 0.75 and bias 1. PyTorch's LocalResponseNorm
divides alpha by the window size (5), so it gets ``alpha = 2e-5 * 5``.

Biases start as in the released code (``models/alexnet.py``): 0 in conv1
and the output layer, 0.1 in conv2, fc1 and fc2 (``frivolous_bias_init``,
which :func:`frivolous.zoo.init.initialise` applies; PyTorch's ``default``
init leaves its own biases).
"""

from __future__ import annotations

from collections import OrderedDict
from types import MappingProxyType

from torch import nn

from frivolous.zoo.option_checks import check_dropout
from frivolous.zoo.widths import scaled

LRN_RADIUS, LRN_ALPHA, LRN_BETA, LRN_BIAS = 2, 2e-5, 0.75, 1.0


def _lrn() -> nn.LocalResponseNorm:
    size = 2 * LRN_RADIUS + 1
    return nn.LocalResponseNorm(size, alpha=LRN_ALPHA * size, beta=LRN_BETA, k=LRN_BIAS)


def _block(layer: nn.Module, dropout: float) -> nn.Sequential:
    parts: OrderedDict[str, nn.Module] = OrderedDict(layer=layer, relu=nn.ReLU())
    if dropout:
        parts["dropout"] = nn.Dropout(dropout)
    return nn.Sequential(parts)


class AlexNet(nn.Module):
    """Probed layers: ``conv1``, ``conv2``, ``fc1``, ``fc2`` (each after its ReLU)."""

    frivolous_layers = ("conv1", "conv2", "fc1", "fc2")
    frivolous_bias_init = MappingProxyType({"conv2": 0.1, "fc1": 0.1, "fc2": 0.1})

    def __init__(self, widths: tuple[int, int, int, int], num_classes: int = 10, dropout: float = 0.0) -> None:
        super().__init__()
        c1, c2, f1, f2 = widths
        self.conv1 = _block(nn.Conv2d(3, c1, 5, padding=2), 0.0)
        self.pool1 = nn.MaxPool2d(3, 2, padding=1)
        self.norm1 = _lrn()
        self.conv2 = _block(nn.Conv2d(c1, c2, 5, padding=2), 0.0)
        self.pool2 = nn.MaxPool2d(3, 2, padding=1)
        self.norm2 = _lrn()
        self.fc1 = _block(nn.Linear(c2 * 8 * 8, f1), dropout)
        self.fc2 = _block(nn.Linear(f1, f2), dropout)
        self.out = nn.Linear(f2, num_classes)

    def forward(self, x):
        x = self.norm1(self.pool1(self.conv1(x)))
        x = self.norm2(self.pool2(self.conv2(x)))
        return self.out(self.fc2(self.fc1(x.flatten(1))))


def build(width_factor: float = 1.0, *, num_classes: int = 10, dropout: float = 0.0) -> AlexNet:
    check_dropout(dropout)
    c1, c2, f1, f2 = (scaled(units, width_factor) for units in (96, 256, 384, 192))
    return AlexNet((c1, c2, f1, f2), num_classes=num_classes, dropout=dropout)
