"""Naming and automatic choice of probes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import frivolous as fv
from frivolous.constructions import duplicated, small_network
from frivolous.measure.graph import GraphNetwork
from frivolous.measure.probes import split_call, unique_names
from frivolous.zoo import create

from conftest import FunctionalNet, ResidualBlockNet, conv_net


def test_names() -> None:
    assert unique_names(["a", "b", "a"]) == ["a#0", "b", "a#1"]
    assert split_call("layer1.0.relu#1") == ("layer1.0.relu", 1)
    assert split_call("fc1") == ("fc1", None)


def test_automatic_layers() -> None:
    assert GraphNetwork(conv_net()).default_layers == ["relu1", "relu2"]
    assert GraphNetwork(FunctionalNet()).default_layers == ["relu(fc1)", "relu(fc2)"]
    assert GraphNetwork(ResidualBlockNet()).default_layers == ["relu#0", "relu#1"]


def test_model_declares_its_layers() -> None:
    x = torch.randn(64, 3, 32, 32)
    result = fv.measure(create("alexnet", width_factor=0.25), x, samplings=1, max_samples=500)
    assert list(result.layers) == ["conv1", "conv2", "fc1", "fc2"]
    assert result.layers["conv1"].shape == (24, 32, 32)
    assert result.layers["conv2"].shape == (64, 16, 16)


def test_nested_modules_are_distinct_probes() -> None:
    wide = duplicated(small_network(hidden=8, input_dim=12))
    network = GraphNetwork(wide)
    for name in ("hidden", "hidden.first", "hidden.second", "hidden.second.relu", "hidden.second.linear"):
        assert name in network.names
    result = fv.measure(wide, torch.randn(200, 12), ["hidden", "hidden.second", "hidden.second.linear"])
    assert result.layers["hidden"].channels == 16
    assert result.layers["hidden.second"].channels == 8


def test_functional_activation_inside_a_module() -> None:
    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(6, 6)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return F.gelu(self.fc(x)) + x

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.block = Block()
            self.out = nn.Linear(6, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.out(torch.tanh(self.block(x)))

    network = GraphNetwork(Net())
    assert network.default_layers == ["gelu(block.fc)", "tanh(block)"]


def test_a_module_returning_its_input_is_not_a_probe() -> None:
    class Identity(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), Identity(), nn.Linear(4, 2))
    network = GraphNetwork(model)
    assert "2" not in network.names and "1" in network.names
    with pytest.raises(ValueError, match="no layer named '2'"):
        fv.measure(model, torch.randn(10, 4), ["2"])
