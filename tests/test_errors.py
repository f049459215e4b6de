"""Bad input gets a clear error, never a wrong number."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import frivolous as fv
from conftest import mlp


@pytest.mark.parametrize(
    "data",
    [
        torch.empty(0, 10),
        DataLoader(TensorDataset(torch.empty(0, 10)), batch_size=4),
        [],
        (torch.empty(0, 10), torch.empty(0)),
    ],
)
def test_empty_data(data) -> None:
    with pytest.raises(ValueError, match="data is empty"):
        fv.measure(mlp(), data)


def test_unknown_layer_lists_the_valid_names(inputs: torch.Tensor) -> None:
    with pytest.raises(ValueError, match=r"no layer named '2x'.*Closest: '2'.*Valid names \(5\)") as error:
        fv.measure(mlp(), inputs, layers=["2x"])
    assert "'4'" in str(error.value)


def test_nothing_to_probe(inputs: torch.Tensor) -> None:
    with pytest.raises(ValueError, match="nothing to probe"):
        fv.measure(nn.Linear(10, 3), inputs)
    with pytest.raises(ValueError, match="layers is empty"):
        fv.measure(mlp(), inputs, layers=[])


def test_the_logits_are_never_probed_automatically(inputs: torch.Tensor) -> None:
    model = nn.Sequential(nn.Linear(10, 8), nn.Tanh(), nn.Linear(8, 3), nn.Sigmoid())
    assert list(fv.measure(model, inputs).layers) == ["1"]


def test_nan_and_inf_activations(inputs: torch.Tensor) -> None:
    bad = inputs.clone()
    bad[5, 2] = float("nan")
    with pytest.raises(ValueError, match="NaN or infinite"):
        fv.measure(mlp(), bad)
    bad[5, 2] = float("inf")
    with pytest.raises(ValueError, match="NaN or infinite"):
        fv.measure(mlp(), bad)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"levels": 1}, "levels must be at least 2"),
        ({"levels": [0.0, 0.5]}, "from 0 to 1"),
        ({"levels": [0.0, 0.7, 0.3, 1.0]}, "increase strictly"),
        ({"threshold": 0.0}, r"threshold must lie in \(0, 1\]"),
        ({"threshold": 1.01}, r"threshold must lie in \(0, 1\]"),
        ({"unit": "kernel"}, "unit must be one of"),
        ({"samplings": 0}, "samplings must be"),
        ({"max_samples": 1}, "max_samples must be"),
        ({"dead": "drop"}, "dead must be one of"),
        ({"batch_size": 0}, "batch_size must be"),
        ({"device": "tpu:0"}, "device must be"),
        ({"seed": 1.5}, "seed must be an integer"),
    ],
)
def test_bad_arguments(inputs: torch.Tensor, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        fv.measure(mlp(), inputs, **kwargs)


def test_bad_data_and_outputs(inputs: torch.Tensor) -> None:
    with pytest.raises(TypeError, match="data must be"):
        fv.measure(mlp(), "images/")
    with pytest.raises(ValueError, match="classification logits"):
        fv.measure(nn.Sequential(nn.Linear(10, 8), nn.ReLU(), nn.Unflatten(1, (2, 4))), inputs, layers=["1"])
    with pytest.raises(ValueError, match="fewer than 2 samples"):
        fv.measure(mlp(), inputs[:1])


def test_cuda_requested_without_cuda(inputs: torch.Tensor) -> None:
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(ValueError, match="CUDA is not available"):
        fv.measure(mlp(), inputs, device="cuda")
