"""Removability: the fast ablation paths against a full forward pass per mask."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import frivolous as fv
from conftest import FunctionalNet, ResidualBlockNet, UntraceableNet, conv_net, mlp, seeded
from frivolous.measuring import reference
from frivolous.measuring.masks import unit_permutation


def test_mlp_curves_equal_a_full_forward_pass_per_mask(inputs: torch.Tensor) -> None:
    model = mlp()
    result = fv.measure(model, inputs, levels=6, samplings=2, seed=5)
    assert list(result.layers) == ["1", "3"]
    for name in ("1", "3"):
        expected = reference.ablation_curves(model, inputs, name, levels=6, samplings=2, seed=5)
        np.testing.assert_array_equal(result.layers[name].ablation.curves, expected)
    assert result.settings["mode"] == "graph"


@pytest.mark.parametrize("conv1d", [False, True])
@pytest.mark.parametrize("unit", ["element", "channel"])
def test_conv_curves_equal_the_reference(conv1d: bool, unit: str) -> None:
    model = conv_net(conv1d)
    data = torch.randn(30, 3, 8, *(() if conv1d else (8,)), generator=seeded(4))
    result = fv.measure(model, data, unit=unit, samplings=2)
    for name in ("relu1", "relu2"):
        expected = reference.ablation_curves(model, data, name, samplings=2, unit=unit)
        np.testing.assert_array_equal(result.layers[name].ablation.curves, expected)


def test_units_element_and_channel() -> None:
    model, data = conv_net(), torch.randn(30, 3, 8, 8, generator=seeded(4))
    element = fv.measure(model, data, unit="element", samplings=2)
    channel = fv.measure(model, data, unit="channel", samplings=2)
    assert element.layers["relu1"].ablation.units == 6 * 8 * 8
    assert channel.layers["relu1"].ablation.units == 6
    assert not np.array_equal(element.layers["relu1"].ablation.curves, channel.layers["relu1"].ablation.curves)
    # on a fully connected layer both kinds of unit are neurons: same masks, same curves
    fc, x = mlp(), torch.randn(200, 10, generator=seeded(1))
    a = fv.measure(fc, x, unit="element", samplings=2)
    b = fv.measure(fc, x, unit="channel", samplings=2)
    for name in a.layers:
        np.testing.assert_array_equal(a.layers[name].ablation.curves, b.layers[name].ablation.curves)


def test_levels_are_nested_and_curves_start_at_one(inputs: torch.Tensor) -> None:
    curve = fv.ablation_curve(mlp(), inputs, "1", levels=5, samplings=3)
    assert curve.curves.shape == (3, 5)
    assert (curve.curves[:, 0] == 1).all()
    np.testing.assert_array_equal(curve.removed, [0, 8, 16, 24, 32])
    assert np.allclose(curve.levels, np.linspace(0, 1, 5))
    # everything removed: every sampling sees the same network
    assert np.all(curve.curves[:, -1] == curve.curves[0, -1])
    expected_auc = ((curve.curves[:, 1:] + curve.curves[:, :-1]) / 2 * 0.25).sum(1)
    assert curve.auc == pytest.approx(expected_auc.mean())
    assert curve.auc_std == pytest.approx(expected_auc.std())


def test_explicit_levels(inputs: torch.Tensor) -> None:
    curve = fv.ablation_curve(mlp(), inputs, "1", levels=[0.0, 0.5, 1.0], samplings=1)
    np.testing.assert_array_equal(curve.removed, [0, 16, 32])


def test_zero_outgoing_weights_give_auc_one(inputs: torch.Tensor) -> None:
    model = mlp()
    with torch.no_grad():
        model[2].weight.zero_()  # the weights out of layer "1"
    curve = fv.ablation_curve(model, inputs, "1")
    assert curve.auc == 1.0 and (curve.curves == 1).all()


def test_a_layer_the_output_ignores_needs_no_rerun(inputs: torch.Tensor) -> None:
    class SideBranch(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.side = nn.Sequential(nn.Linear(10, 5), nn.ReLU())
            self.main = mlp()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.side(x)
            return self.main(x)

    result = fv.measure(SideBranch(), inputs, layers=["side", "main.1"])
    assert result.layers["side"].auc == 1.0
    assert result.layers["main.1"].auc < 1.0


def test_same_seed_same_result_different_seed_different_masks(inputs: torch.Tensor) -> None:
    model = conv_net()
    data = torch.randn(30, 3, 8, 8, generator=seeded(4))
    a = fv.measure(model, data, seed=3, max_samples=500)
    b = fv.measure(model, data, seed=3, max_samples=500)
    c = fv.measure(model, data, seed=4, max_samples=500)
    assert a.frame().equals(b.frame()) and a.frame("curves").equals(b.frame("curves"))
    assert not a.frame("curves").equals(c.frame("curves"))
    assert not torch.equal(unit_permutation(3, "relu1", 0, 384), unit_permutation(4, "relu1", 0, 384))
    assert not torch.equal(unit_permutation(3, "relu1", 0, 384), unit_permutation(3, "relu1", 1, 384))


def test_functional_relu(inputs: torch.Tensor) -> None:
    torch.manual_seed(0)
    model = FunctionalNet()
    result = fv.measure(model, inputs, samplings=2)
    assert list(result.layers) == ["relu(fc1)", "relu(fc2)"]
    # zeroing fc1's output before the ReLU is the same as zeroing after it
    expected = reference.ablation_curves(model, inputs, "fc1", samplings=2, layer_name="relu(fc1)")
    np.testing.assert_array_equal(result.layers["relu(fc1)"].ablation.curves, expected)


def test_module_called_twice_is_probed_per_call(inputs: torch.Tensor) -> None:
    torch.manual_seed(0)
    model = ResidualBlockNet()
    result = fv.measure(model, inputs, samplings=2)
    assert list(result.layers) == ["relu#0", "relu#1"]
    for call in (0, 1):
        expected = reference.ablation_curves(model, inputs, "relu", samplings=2, call=call, layer_name=f"relu#{call}")
        np.testing.assert_array_equal(result.layers[f"relu#{call}"].ablation.curves, expected)
    with pytest.raises(ValueError, match=r"called 2 times.*relu#0, relu#1"):
        fv.measure(model, inputs, layers=["relu"])


def test_untraceable_model_falls_back_to_hooks(inputs: torch.Tensor) -> None:
    torch.manual_seed(0)
    model = UntraceableNet()
    with pytest.warns(RuntimeWarning, match="torch.fx cannot trace"):
        result = fv.measure(model, inputs, samplings=2)
    assert result.settings["mode"] == "hooks"
    assert list(result.layers) == ["hidden.relu"]
    expected = reference.ablation_curves(model, inputs, "hidden.relu", samplings=2)
    np.testing.assert_array_equal(result.layers["hidden.relu"].ablation.curves, expected)
    with pytest.warns(RuntimeWarning):
        traced_equivalent = fv.measure(model, inputs, layers=["hidden"], samplings=2)
    assert traced_equivalent.layers["hidden"].similarity == result.layers["hidden.relu"].similarity


def test_all_layers_curve_ablates_every_layer_at_once(inputs: torch.Tensor) -> None:
    model = mlp()
    result = fv.measure(model, inputs, levels=4, samplings=2)
    joint = result.all_layers
    assert joint is not None and joint.layer == fv.ALL_LAYERS
    np.testing.assert_array_equal(joint.removed, [0, 16, 32, 48])
    modules = dict(model.named_modules())
    with torch.no_grad():
        expected_labels = model(inputs).argmax(1)
        for s in range(2):
            for i, level in enumerate(joint.levels):
                handles = []
                for name, units in (("1", 32), ("3", 16)):
                    keep = torch.ones(units)
                    keep[unit_permutation(0, name, s, units)[: round(level * units)]] = 0
                    handles.append(modules[name].register_forward_hook(lambda _m, _a, out, k=keep: out * k))
                labels = model(inputs).argmax(1)
                for handle in handles:
                    handle.remove()
                assert joint.curves[s, i] == (labels == expected_labels).double().mean().item()


def test_data_forms_agree(inputs: torch.Tensor) -> None:
    model = mlp()
    labels = torch.zeros(len(inputs), dtype=torch.long)
    as_tensor = fv.measure(model, inputs)
    as_pair = fv.measure(model, (inputs, labels))
    as_loader = fv.measure(model, DataLoader(TensorDataset(inputs, labels), batch_size=64))
    as_split = fv.measure(model, inputs, batch_size=7)
    for other in (as_pair, as_loader, as_split):
        assert as_tensor.frame().equals(other.frame())
        assert as_tensor.frame("curves").equals(other.frame("curves"))


def test_batched_masks_match_one_mask_per_pass(inputs: torch.Tensor) -> None:
    model = conv_net()
    data = torch.randn(30, 3, 8, 8, generator=seeded(4))
    batched = fv.measure(model, data, max_samples=100)
    one_at_a_time = fv.measure(model, data, max_samples=100, max_memory=1)
    assert batched.frame("curves").equals(one_at_a_time.frame("curves"))


def test_model_mode_and_device_are_restored(inputs: torch.Tensor) -> None:
    model = mlp()
    model[0].train()
    model[2].eval()
    model.train()
    model[2].eval()
    before = {name: m.training for name, m in model.named_modules()}
    fv.measure(model, inputs)
    assert {name: m.training for name, m in model.named_modules()} == before


def test_measured_in_eval_mode(inputs: torch.Tensor) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Dropout(0.9), nn.Linear(32, 3)).train()
    a = fv.measure(model, inputs)
    b = fv.measure(model, inputs)
    assert a.frame("curves").equals(b.frame("curves"))  # dropout off: deterministic
    assert model.training


def test_single_logit_binary_classifier(inputs: torch.Tensor) -> None:
    model = mlp(classes=1)
    curve = fv.ablation_curve(model, inputs, "1", samplings=1)
    expected = reference.ablation_curves(model, inputs, "1", samplings=1)
    np.testing.assert_array_equal(curve.curves, expected)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(inputs: torch.Tensor) -> None:
    model = conv_net()
    data = torch.randn(30, 3, 8, 8, generator=seeded(4))
    cpu = fv.measure(model, data, device="cpu")
    cuda = fv.measure(model, data.cuda(), device="cuda")
    assert next(model.parameters()).device.type == "cpu"
    np.testing.assert_allclose(cpu.frame()["auc"], cuda.frame()["auc"], atol=0.05)
    np.testing.assert_allclose(cpu.frame()["similarity"], cuda.frame()["similarity"], atol=0.05)


def test_no_warnings_on_a_plain_model(inputs: torch.Tensor) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fv.measure(mlp(), inputs)


def test_a_layer_changed_in_place_afterwards_is_captured_before(images: torch.Tensor) -> None:
    """conv2's output is overwritten by an in-place ReLU; the probe must see it as conv2 left it."""
    model = conv_net()
    result = fv.measure(model, images, layers=["conv2"], samplings=2, max_samples=10_000)
    expected = reference.ablation_curves(model, images, "conv2", samplings=2)
    np.testing.assert_array_equal(result.layers["conv2"].ablation.curves, expected)
    captured = []
    handle = model.conv2.register_forward_hook(lambda _m, _a, out: captured.append(out.clone()))
    with torch.no_grad():
        model.eval()(images)
    handle.remove()
    rows = captured[0].permute(0, 2, 3, 1).reshape(-1, 8)
    assert (rows < 0).any()  # pre-ReLU values, not the ReLU's
    expected_counts = fv.similarity(rows).counts
    np.testing.assert_array_equal(result.layers["conv2"].similarities[0].counts, expected_counts)
