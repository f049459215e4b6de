"""No wasted passes: ``frivolous analyze`` executes close to the floor of
multiply-adds its numbers need, and gives the numbers it gave before.

The floor (:mod:`frivolous.measuring.cost`): one unablated pass of every
example, plus, for every probed layer and every distinct mask, a re-run of
the layers after it on every example. Work is counted with
``torch.utils.flop_counter.FlopCounterMode`` around the whole call, never timed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
import torchvision
from torch.utils.flop_counter import FlopCounterMode

from frivolous.analysis import measure_by_layer
from frivolous.measuring import measure
from frivolous.measuring.cost import distinct_masks
from frivolous.measuring.graph import GraphNetwork
from frivolous.measuring.network import ProbedNetwork

KNOWN = {
    "by_layer": {
        "relu": [[[8, 7, 0], [8, 4, 0]], 0.0, 0],
        "layer1.0.relu#0": [[[8, 4, 1], [8, 1, 1]], 0.560676, 1],
        "layer1.0.relu#1": [[[8, 2, 0], [8, 2, 0]], 1.578125, 0],
        "layer1.1.relu#0": [[[8, 3, 0], [8, 0, 0]], 1.435484, 2],
        "layer1.1.relu#1": [[[8, 7, 0], [8, 1, 0]], 2.28125, 0],
        "layer2.0.relu#0": [[[8, 3, 1], [8, 6, 1]], 9.614035, 14],
        "layer2.0.relu#1": [[[8, 1, 0], [8, 1, 0]], 5.504274, 11],
        "layer2.1.relu#0": [[[8, 0, 1], [8, 1, 1]], 13.716535, 1],
        "layer2.1.relu#1": [[[8, 4, 0], [8, 0, 0]], 12.666667, 2],
        "layer3.0.relu#0": [[[8, 2, 0], [8, 5, 0]], 55.889908, 38],
        "layer3.0.relu#1": [[[8, 2, 0], [8, 3, 0]], 47.511521, 39],
        "layer3.1.relu#0": [[[8, 7, 8], [8, 4, 8]], 67.082645, 14],
        "layer3.1.relu#1": [[[8, 1, 0], [8, 0, 0]], 79.810277, 3],
        "layer4.0.relu#0": [[[8, 7, 6], [8, 7, 6]], 68.83792, 185],
        "layer4.0.relu#1": [[[8, 7, 0], [8, 8, 0]], 68.921212, 182],
        "layer4.1.relu#0": [[[8, 7, 7], [8, 7, 7]], 70.77381, 176],
        "layer4.1.relu#1": [[[8, 0, 0], [8, 7, 0]], 93.105023, 74],
    },
    "measure": {
        "layer1.0.relu#1": [[[8, 6, 1, 0], [8, 1, 0, 0]], 1.21875, 0],
        "layer3.1.relu#0": [[[8, 6, 7, 8], [8, 7, 7, 8]], 67.082645, 14],
        "relu": [[[8, 7, 7, 0], [8, 3, 4, 0]], 0.0, 0],
    },
    "measure_all": [[8, 6, 6, 0], [8, 5, 0, 0]],
}
"""Computed by the code before the passes were shared (one measure call per
layer, checks on the whole first batch): each layer's curves times the 8
examples, its similarity (6 places) and dead units; see the settings below."""


def resnet18() -> torch.nn.Module:
    torch.manual_seed(0)
    return torchvision.models.resnet18(num_classes=10).eval()


def images(n: int = 8, side: int = 32) -> torch.Tensor:
    return torch.randn(n, 3, side, side, generator=torch.Generator().manual_seed(1))


def summary(result: Any) -> dict[str, list]:
    return {
        name: [np.rint(layer.ablation.curves * 8).astype(int).tolist(), round(layer.similarity, 6), layer.dead]
        for name, layer in result.layers.items()
    }


@pytest.mark.parametrize("max_memory", [None, 200_000])
def test_analyze_gives_the_known_answers(max_memory: int | None) -> None:
    """Also when --max-memory splits the examples of every re-run and the
    correlation samples into several passes over the data."""
    options = {"levels": 3, "samplings": 2, "max_samples": 300, "max_memory": max_memory}
    result = measure_by_layer(resnet18(), images(), None, device="cpu", progress=False, **options)
    assert summary(result) == KNOWN["by_layer"]


def test_measure_gives_the_known_answers() -> None:
    layers = ["layer1.0.relu#1", "layer3.1.relu#0", "relu"]
    result = measure(resnet18(), images(), layers, device="cpu", levels=4, samplings=2, unit="channel", seed=3)
    assert summary(result) == KNOWN["measure"]
    assert result.all_layers is not None
    assert np.rint(result.all_layers.curves * 8).astype(int).tolist() == KNOWN["measure_all"]


def floor_flops(model: torch.nn.Module, inputs: torch.Tensor, levels: int, samplings: int) -> tuple[int, int]:
    """The floor of a measurement of every default probe, and one pass's
    multiply-adds: each layer's re-run counted on one example with one mask,
    through the public ProbedNetwork interface."""
    with FlopCounterMode(display=False) as one, torch.inference_mode():
        model(inputs[:1])
    network = GraphNetwork(model)
    rerun = 0
    with torch.inference_mode():
        for name in network.default_layers:
            network.select([name])
            capture = network.capture(inputs[:1])
            keep = torch.ones(1, *capture.activations[name].shape[1:], dtype=torch.bool)
            with FlopCounterMode(display=False) as counter:
                network.ablate(capture, {name: keep})
            rerun += counter.get_total_flops()
            assert counter.get_total_flops() < one.get_total_flops() or name == network.default_layers[0]
    n = len(inputs)
    return n * one.get_total_flops() + n * distinct_masks(levels, samplings) * rerun, one.get_total_flops()


@pytest.mark.parametrize(("levels", "samplings", "n"), [(3, 1, 8), (7, 3, 4)])
def test_analyze_executes_at_most_1_3_times_the_floor(levels: int, samplings: int, n: int) -> None:
    model, inputs = resnet18(), images(n)
    floor, one = floor_flops(model, inputs, levels, samplings)
    with FlopCounterMode(display=False) as whole:
        measure_by_layer(model, inputs, None, device="cpu", progress=False, levels=levels, samplings=samplings)
    ratio = whole.get_total_flops() / floor
    assert floor > 2 * n * one  # the re-runs dominate: the floor is not just the unablated pass
    assert 1.0 <= ratio <= 1.3, ratio


def test_max_memory_splits_the_examples_of_a_re_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """A budget too small for one mask of the whole batch: every re-run holds
    fewer examples than the batch, and the curves do not change."""
    model, inputs = resnet18(), images()
    rows: list[int] = []
    ablate = GraphNetwork.ablate

    def counted(self: ProbedNetwork, capture: Any, keeps: Any) -> torch.Tensor:
        rows.append(capture.size)
        return ablate(self, capture, keeps)  # type: ignore[arg-type]

    options = {"levels": 3, "samplings": 1, "device": "cpu", "all_layers": False, "max_samples": 100}
    whole = measure(model, inputs, ["relu", "layer1.0.relu#0"], **options)
    monkeypatch.setattr(GraphNetwork, "ablate", counted)
    split = measure(model, inputs, ["relu", "layer1.0.relu#0"], max_memory=300_000, **options)
    assert rows and max(rows) < len(inputs)
    for name, layer in whole.layers.items():
        np.testing.assert_array_equal(split.layers[name].ablation.curves, layer.ablation.curves)
