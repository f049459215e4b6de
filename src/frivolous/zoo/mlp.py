"""The paper's multilayer perceptron: hidden layers of 128 ReLU units at 1x."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from itertools import pairwise

from torch import nn

from frivolous.zoo.option_checks import check_count
from frivolous.zoo.widths import scaled


class MLP(nn.Module):
    """``in_features -> [hidden_i -> ReLU]* -> num_classes``.

    Probed layers are the hidden blocks ``hidden1``, ``hidden2``, ... (after
    the ReLU); ``out`` gives the logits (``frivolous_output``: the layer an
    ``output_init_std`` initialises)."""

    def __init__(self, in_features: int, num_classes: int, hidden: Sequence[int]) -> None:
        super().__init__()
        widths = [in_features, *hidden]
        for i, (fan_in, fan_out) in enumerate(pairwise(widths), start=1):
            block = nn.Sequential(OrderedDict(linear=nn.Linear(fan_in, fan_out), relu=nn.ReLU()))
            self.add_module(f"hidden{i}", block)
        self.out = nn.Linear(widths[-1], num_classes)
        self.frivolous_layers = tuple(f"hidden{i}" for i in range(1, len(hidden) + 1))
        self.frivolous_output = "out"

    def forward(self, x):
        x = x.flatten(1)
        for name in self.frivolous_layers:
            x = getattr(self, name)(x)
        return self.out(x)


def build(
    width_factor: float = 1.0,
    *,
    num_classes: int = 2,
    in_features: int = 10,
    hidden_layers: int = 1,
    hidden_units: int = 128,
) -> MLP:
    for name, value in (("in_features", in_features), ("hidden_layers", hidden_layers), ("hidden_units", hidden_units)):
        check_count(name, value)
    return MLP(in_features, num_classes, [scaled(hidden_units, width_factor)] * hidden_layers)
