"""Small models and data shared by the tests."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


class TinyConvNet(nn.Module):
    """conv -> relu -> pool -> conv -> relu -> fc: probed at both ReLUs."""

    def __init__(self, conv1d: bool = False) -> None:
        super().__init__()
        conv, pool = (nn.Conv1d, nn.MaxPool1d) if conv1d else (nn.Conv2d, nn.MaxPool2d)
        self.conv1 = conv(3, 6, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.pool = pool(2)
        self.conv2 = conv(6, 8, 3, padding=1)
        self.relu2 = nn.ReLU(inplace=True)
        self.fc = nn.LazyLinear(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.relu1(self.conv1(x)))
        x = self.relu2(self.conv2(x))
        return self.fc(x.flatten(1))


class FunctionalNet(nn.Module):
    """ReLUs applied with torch.nn.functional: probes are named relu(fc1), relu(fc2)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(10, 24)
        self.fc2 = nn.Linear(24, 12)
        self.out = nn.Linear(12, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(F.relu(self.fc2(F.relu(self.fc1(x)))))


class ResidualBlockNet(nn.Module):
    """One ReLU module called twice per forward pass, as in torchvision's BasicBlock."""

    def __init__(self) -> None:
        super().__init__()
        self.inp = nn.Linear(10, 16)
        self.fc1 = nn.Linear(16, 16)
        self.fc2 = nn.Linear(16, 16)
        self.relu = nn.ReLU()
        self.out = nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.inp(x)
        h = self.relu(self.fc1(x))
        return self.out(self.relu(self.fc2(h) + x))


class UntraceableNet(nn.Module):
    """Data-dependent control flow: torch.fx cannot trace it."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden = nn.Sequential(OrderedDict(linear=nn.Linear(10, 20), relu=nn.ReLU()))
        self.out = nn.Linear(20, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.hidden(x)
        if h.sum() > -1e9:  # always true, but fx cannot know
            return self.out(h)
        return self.out(-h)


def mlp(inputs: int = 10, hidden: tuple[int, ...] = (32, 16), classes: int = 3, seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    for fan_in, fan_out in zip((inputs, *hidden), hidden):
        layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(hidden[-1], classes))


@pytest.fixture
def inputs() -> torch.Tensor:
    return torch.randn(300, 10, generator=seeded(1))


@pytest.fixture
def images() -> torch.Tensor:
    return torch.randn(40, 3, 8, 8, generator=seeded(2))


def conv_net(conv1d: bool = False, seed: int = 0) -> TinyConvNet:
    torch.manual_seed(seed)
    net = TinyConvNet(conv1d)
    net(torch.zeros(1, 3, 8) if conv1d else torch.zeros(1, 3, 8, 8))  # materialise the lazy layer
    return net


TINY_SWEEP = {
    "model": {"family": "mlp", "init": "normal", "init_std": 0.1},
    "data": {"name": "teacher", "input_dim": 10, "n_train": 100, "n_val": 60, "n_test": 60},
    "train": {"epochs": 2, "batch_size": 25, "lr": 0.05},
    "measure": {"samplings": 1, "levels": 3},
    "grid": {"model.width_factor": [0.25, 0.5]},
    "replicates": 2,
}
"""A sweep of four tiny MLP runs on teacher data (seconds in all)."""

TIMING = ["seconds", "train_seconds"]


def same_tables(a: Path, b: Path) -> None:
    """Two sweep folders hold the same tables, timings and how the runs were
    trained (alone or in which batch) aside."""
    from frivolous.experiments.run import PROVENANCE
    from frivolous.results.results_table import load_results

    for kind in ("runs", "layers", "curves", "histograms"):
        left, right = load_results(a, kind), load_results(b, kind)
        left, right = (t.drop(columns=[c for c in [*TIMING, *PROVENANCE] if c in t]) for t in (left, right))
        pd.testing.assert_frame_equal(left, right)
