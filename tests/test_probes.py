"""Naming and automatic choice of probes."""

from __future__ import annotations

import re
from contextlib import nullcontext

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import frivolous as fv
from conftest import FunctionalNet, ResidualBlockNet, conv_net, seeded
from frivolous.constructions import duplicated, small_network
from frivolous.measuring import reference
from frivolous.measuring.graph import GraphNetwork
from frivolous.measuring.probes import split_call, unique_names
from frivolous.zoo import create


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


class PositionBias(nn.Module):
    """Conv -> ReLU on (batch, 4, 2, 4), plus a bias that an MLP with a ReLU and a
    sigmoid computes from a fixed table of positions (Swin-V2's position-bias
    MLP, in small), then a Linear head on the sum: the MLP's values have the
    table's first axis (2), not the batch."""

    def __init__(self, traceable: bool = True) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.traceable = traceable
        self.conv, self.act = nn.Conv2d(2, 4, 3, padding=1), nn.ReLU()
        rows, columns = torch.meshgrid(torch.linspace(-1, 1, 2), torch.linspace(-1, 1, 4), indexing="ij")
        self.register_buffer("positions", torch.stack([rows, columns], -1))  # (2, 4, 2)
        self.bias_mlp = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 4))
        self.head = nn.Linear(32, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.traceable and x.sum() > float("inf"):  # data-dependent: torch.fx cannot trace it
            return x
        bias = torch.sigmoid(self.bias_mlp(self.positions)).permute(2, 0, 1)  # (4, 2, 4)
        return self.head((self.act(self.conv(x)) + bias).flatten(1))


def test_values_of_parameters_alone_are_not_probed_by_default() -> None:
    x = torch.randn(20, 2, 2, 4, generator=seeded(0))
    assert GraphNetwork(PositionBias()).default_layers == ["act"]
    expected = reference.ablation_curves(PositionBias(), x, "act", levels=3, samplings=2)
    settings = dict(levels=3, samplings=2, max_samples=500)
    named = fv.measure(PositionBias(), x, ["act"], **settings)
    with pytest.warns(RuntimeWarning, match="forward hooks"):  # hooks see bias_mlp.1, of length 2 on 2 examples
        hooked = fv.measure(PositionBias(traceable=False), x, **settings)
    assert expected.min() < 1  # the ablations change predictions
    for result in (fv.measure(PositionBias(), x, **settings), hooked, named):
        assert list(result.layers) == ["act"]
        np.testing.assert_array_equal(result.layers["act"].ablation.curves, expected)
        for mine, theirs in zip(result.layers["act"].similarities, named.layers["act"].similarities):
            np.testing.assert_array_equal(mine.counts, theirs.counts)
    assert fv.probes(PositionBias(), x) == ["act"]


@pytest.mark.parametrize(
    ("traceable", "layer", "examples"),
    [
        (True, "sigmoid(bias_mlp.2)", 20),
        (True, "bias_mlp.1", 2),
        (False, "bias_mlp.1", 20),
    ],
)
def test_naming_a_value_of_parameters_alone_says_why_it_cannot_be_probed(
    traceable: bool, layer: str, examples: int
) -> None:
    """Also where its first axis has the batch's length (2): the graph knows it does not depend on the inputs."""
    x = torch.randn(examples, 2, 2, 4, generator=seeded(0))
    with nullcontext() if traceable else pytest.warns(RuntimeWarning, match="forward hooks"):
        with pytest.raises(
            ValueError,
            match=rf"layer '{re.escape(layer)}' cannot be probed: .* does not hold one "
            "row per example .* computed from the parameters alone",
        ):
            fv.measure(PositionBias(traceable), x, ["act", layer], samplings=1, levels=2)


def test_a_model_declaring_a_value_of_parameters_alone_is_told_why_it_cannot_be_probed() -> None:
    model = PositionBias()
    model.frivolous_layers = ["act", "bias_mlp.1"]
    with pytest.raises(ValueError, match="layer 'bias_mlp.1' cannot be probed"):
        fv.probes(model, torch.randn(4, 2, 2, 4, generator=seeded(0)))
