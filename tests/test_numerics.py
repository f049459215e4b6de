"""Measuring in bfloat16, channels last, or under autocast: the fast path is
kept (no fallback to hooks), the user's model is left as it was, and the
numbers stay close to float32's."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from typer.testing import CliRunner

from frivolous.cli import app
from frivolous.measuring import measure
from frivolous.measuring.numerics import Numerics


def resnet18() -> torch.nn.Module:
    torch.manual_seed(0)
    return torchvision.models.resnet18(num_classes=10).eval()


def images() -> torch.Tensor:
    return torch.randn(8, 3, 32, 32, generator=torch.Generator().manual_seed(1))


LAYERS = ["relu", "layer2.0.relu#1", "layer4.1.relu#1"]
OPTIONS = {"levels": 3, "samplings": 2, "max_samples": 300, "all_layers": False}


@pytest.mark.parametrize(
    "numerics",
    [{"dtype": "bfloat16"}, {"channels_last": True}, {"dtype": "bfloat16", "channels_last": True, "autocast": True}],
)
def test_other_formats_keep_the_fast_path_and_the_model(numerics: dict) -> None:
    model = resnet18()
    before = {name: value.clone() for name, value in model.state_dict().items()}
    reference = measure(model, images(), LAYERS, device="cpu", **OPTIONS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback to hooks, no failed split
        result = measure(model, images(), LAYERS, device="cpu", **OPTIONS, **numerics)
    assert result.settings["mode"] == "graph"
    assert result.settings["dtype"] == numerics.get("dtype", "float32")
    assert "dtype" not in reference.settings  # float32 results read as they always did
    for name, value in model.state_dict().items():
        assert value.dtype == before[name].dtype and torch.equal(value, before[name])
    for name, layer in reference.layers.items():
        other = result.layers[name]
        assert other.ablation.curves.shape == layer.ablation.curves.shape
        assert abs(other.auc - layer.auc) <= 0.25
        assert abs(other.similarity - layer.similarity) <= 0.1 * max(layer.similarity, 1.0)
    if numerics == {"channels_last": True}:  # the same arithmetic in another layout
        for name, layer in reference.layers.items():
            np.testing.assert_allclose(result.layers[name].ablation.curves, layer.ablation.curves, atol=0.13)


def test_inputs_follow_the_format() -> None:
    images_bf16 = Numerics("bfloat16", channels_last=True).inputs(torch.zeros(2, 3, 4, 4))
    assert images_bf16.dtype == torch.bfloat16 and images_bf16.is_contiguous(memory_format=torch.channels_last)
    tokens = torch.zeros(2, 5, dtype=torch.long)
    assert Numerics("bfloat16").inputs(tokens).dtype == torch.long
    assert Numerics("bfloat16", autocast=True).inputs(torch.zeros(2, 3)).dtype == torch.float32
    with pytest.raises(ValueError, match="dtype must be one of"):
        Numerics("int8")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_the_gpu_path_with_autocast() -> None:
    reference = measure(resnet18(), images(), LAYERS, device="cpu", **OPTIONS)
    result = measure(resnet18(), images(), LAYERS, device="cuda", dtype="bfloat16", autocast=True, **OPTIONS)
    assert result.settings["device"].startswith("cuda") and result.settings["mode"] == "graph"
    for name, layer in reference.layers.items():
        assert abs(result.layers[name].auc - layer.auc) <= 0.25


def test_analyze_takes_the_format_options(tmp_path: Path) -> None:
    from test_analyze_cost import FAST, factory

    out = tmp_path / "out"
    args = ["analyze", factory(tmp_path), *FAST, "--dtype", "bfloat16", "--channels-last", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    settings = json.loads((out / "summary.json").read_text())["settings"]
    assert settings["dtype"] == "bfloat16" and settings["channels_last"] is True and settings["mode"] == "graph"
