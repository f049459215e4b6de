"""The model families available so far."""

from __future__ import annotations

import pytest
import torch

from frivolous import zoo


def parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_alexnet_matches_the_paper() -> None:
    model = zoo.create("alexnet")
    assert parameters(model) == 6_989_642
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize("width", [0.25, 0.5, 1, 2, 4])
def test_widths(width: float) -> None:
    mlp = zoo.create("mlp", width, in_features=10, num_classes=2)
    assert mlp.hidden1.linear.out_features == round(128 * width)
    assert mlp(torch.zeros(3, 10)).shape == (3, 2)
    alexnet = zoo.create("alexnet", width)
    assert alexnet.conv1[0].out_channels == round(96 * width)


def test_seeded() -> None:
    a, b, c = zoo.create("mlp", seed=1), zoo.create("mlp", seed=1), zoo.create("mlp", seed=2)
    assert torch.equal(a.hidden1.linear.weight, b.hidden1.linear.weight)
    assert not torch.equal(a.hidden1.linear.weight, c.hidden1.linear.weight)


def test_errors() -> None:
    with pytest.raises(ValueError, match="unknown model family 'vgg'.*alexnet"):
        zoo.create("vgg")
    with pytest.raises(ValueError, match="width_factor"):
        zoo.create("mlp", 0)
