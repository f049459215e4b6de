"""Features in the last axis: transformer activations measured with their features as units."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import frivolous as fv
from conftest import seeded
from frivolous.measuring import reference
from frivolous.measuring.axes import onto_activation
from frivolous.measuring.masks import apply_keep
from frivolous.sources.text import Batches

D_MODEL, TOKENS = 8, 5


class Encoder(nn.Module):
    """Tokens embedded by a Linear, two ``nn.TransformerEncoder`` layers, the mean over tokens, a head."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Linear(3, D_MODEL)
        layer = nn.TransformerEncoderLayer(D_MODEL, 2, 16, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(D_MODEL, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(self.embed(x)).mean(1))


class CopiedFeatures(nn.Module):
    """Linear -> ReLU on (batch, tokens, features): features 4..7 are exact copies of features 0..3."""

    def __init__(self, traceable: bool = True) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.traceable = traceable
        self.hidden, self.act, self.out = nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)
        with torch.no_grad():
            self.hidden.weight[4:] = self.hidden.weight[:4]
            self.hidden.bias[4:] = self.hidden.bias[:4]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.traceable and x.sum() > float("inf"):  # data-dependent: torch.fx cannot trace it
            return x
        return self.out(self.act(self.hidden(x))).mean(1)


class Conv1D(nn.Module):
    """GPT-2's projection: ``x @ weight + bias`` as one ``addmm`` on the flattened tokens, reshaped back."""

    def __init__(self, inputs: int, outputs: int) -> None:
        super().__init__()
        self.weight, self.bias = nn.Parameter(torch.randn(inputs, outputs)), nn.Parameter(torch.zeros(outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.size()[:-1] + (self.weight.shape[1],)  # noqa: RUF005 - a traced size cannot be unpacked
        return torch.addmm(self.bias, x.reshape(-1, x.size(-1)), self.weight).view(size)


class Mixed(nn.Module):
    """One probe of each kind the detection must tell apart."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.norm = nn.LayerNorm(4)
        self.fc1 = nn.Linear(4, 6)
        self.proj = Conv1D(6, 5)
        self.pooled = nn.Linear(5, 7)
        self.head = nn.Linear(7, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels_first = F.relu(self.conv(x))  # (batch, 4, 3, 3)
        features_last = self.norm(channels_first.permute(0, 2, 3, 1))  # (batch, 3, 3, 4)
        hidden = F.gelu(self.fc1(features_last)) + 1.0  # elementwise after a Linear
        projected = self.proj(hidden.flatten(1, 2))  # (batch, 9, 5): tokens merged, the features stay last
        moved = torch.tanh(projected.transpose(1, 2))  # (batch, 5, 9): the features are no longer last
        return self.head(torch.relu(self.pooled(moved.mean(2))))  # a 2-D layer: both readings agree


def test_a_transformer_encoder_has_d_model_units_per_layer() -> None:
    model, data = Encoder(), torch.randn(24, TOKENS, 3, generator=seeded(1))
    for unit, units in (("channel", D_MODEL), ("element", D_MODEL * TOKENS)):
        result = fv.measure(model, data, ["embed", "encoder"], unit=unit, samplings=2, levels=4, device="cpu")
        for name, layer in result.layers.items():
            assert layer.features_last and layer.shape == (D_MODEL, TOKENS) and layer.channels == D_MODEL
            assert layer.ablation.units == units and layer.similarities[0].units == D_MODEL
            assert layer.similarities[0].samples == 24 * TOKENS  # every (example, token) pair is a sample
            expected = reference.ablation_curves(
                model, data, name, samplings=2, levels=4, unit=unit, features_last=True
            )
            np.testing.assert_array_equal(layer.ablation.curves, expected)  # the last level removes every unit


@pytest.mark.filterwarnings("ignore:torch.fx cannot trace:RuntimeWarning")  # the untraceable case says so
@pytest.mark.parametrize("traceable", [True, False])
def test_a_copied_feature_correlates_with_its_original_at_one(traceable: bool) -> None:
    model, data = CopiedFeatures(traceable), torch.randn(40, TOKENS, 4, generator=seeded(2))
    result = fv.measure(model, data, ["act"], threshold=0.999, samplings=1, device="cpu")
    layer = result.layers["act"]
    assert result.settings["mode"] == ("graph" if traceable else "hooks")
    assert layer.features_last and layer.shape == (8, TOKENS) and layer.dead == 0
    np.testing.assert_array_equal(layer.similarities[0].counts, np.ones(8))  # each feature has exactly its copy
    assert layer.histogram[0][-1] == 4  # four pairs at |r| = 1
    rows = model.act(model.hidden(data)).reshape(-1, 8).detach().numpy()  # (example, token) x feature, by hand
    default = fv.measure(model, data, ["act"], samplings=1, device="cpu").layers["act"].similarities[0]
    np.testing.assert_array_equal(default.counts, reference.similarity_counts(rows))
    for unit in ("channel", "element"):
        curves = fv.measure(model, data, ["act"], unit=unit, device="cpu").layers["act"].ablation.curves
        np.testing.assert_array_equal(
            curves, reference.ablation_curves(model, data, "act", unit=unit, features_last=True)
        )


def test_removing_a_features_last_unit_zeroes_that_feature_at_every_token() -> None:
    keep = torch.ones(1, 8, 1, dtype=torch.bool)  # one channel mask for the units-first view (units, tokens)
    keep[0, 3] = False
    activation = torch.rand(2, TOKENS, 8) + 1  # (batch, tokens, features), nowhere zero
    ablated = apply_keep(activation, onto_activation(keep), repeated=False)
    assert ablated.shape == activation.shape and (ablated[..., 3] == 0).all()
    assert torch.equal(
        torch.cat([ablated[..., :3], ablated[..., 4:]], -1), torch.cat([activation[..., :3], activation[..., 4:]], -1)
    )


def test_detection_follows_what_made_each_value() -> None:
    model, data = Mixed(), torch.randn(6, 3, 3, 3, generator=seeded(3))
    layers = ["relu(conv)", "norm", "gelu(fc1)", "proj", "tanh(transpose)", "relu(pooled)"]

    def features_last(**option: object) -> dict[str, fv.LayerResult]:
        result = fv.measure(model, data, layers, samplings=1, levels=2, device="cpu", **option)
        return {name: layer for name, layer in result.layers.items() if layer.features_last}

    detected = features_last()
    assert list(detected) == ["norm", "gelu(fc1)", "proj"]
    assert detected["gelu(fc1)"].shape == (6, 3, 3) and detected["proj"].shape == (5, 9)
    assert list(features_last(features_last=["relu(conv)"])) == ["relu(conv)"]
    assert features_last(features_last=["relu(conv)"])["relu(conv)"].shape == (3, 4, 3)
    assert features_last(features_last=False) == {}
    assert list(features_last(features_last=True)) == layers[:5]  # never the 2-D layer


def test_features_last_names_layers_of_the_model() -> None:
    model, data = CopiedFeatures(), torch.randn(10, TOKENS, 4, generator=seeded(2))
    named = fv.measure(model, data, ["act"], features_last=["hidden"], samplings=1, levels=2, device="cpu")
    assert not named.layers["act"].features_last  # a layer not probed may be named (one list for many calls)
    with pytest.raises(ValueError, match="no layer named 'akt'"):
        fv.measure(model, data, ["act"], features_last="akt", device="cpu")
    with pytest.raises(ValueError, match=r"features_last must be None \(detect\), True, False, or layer names, got 3"):
        fv.measure(model, data, features_last=3, device="cpu")


def test_features_last_with_channel_units_takes_sequences_of_different_lengths() -> None:
    model = CopiedFeatures()
    batches = Batches([torch.randn(4, 5, 4, generator=seeded(4)), torch.randn(4, 9, 4, generator=seeded(5))])
    layer = fv.measure(model, batches, ["act"], unit="channel", samplings=1, levels=3, device="cpu").layers["act"]
    assert layer.features_last and layer.ablation.units == 8 and layer.similarities[0].samples == 4 * 5 + 4 * 9
    with pytest.raises(ValueError, match=r"changed shape between batches \(\(8, 5\) -> \(8, 9\)\)"):
        fv.measure(model, batches, ["act"], unit="element", samplings=1, device="cpu")
