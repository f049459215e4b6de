"""The model zoo: families, widths, parameter counts, initialisers."""

from __future__ import annotations

import math

import pytest
import torch
import torchvision
from torch import nn

import frivolous as fv
from frivolous import zoo
from frivolous.zoo.inception import FIGURE_LAYERS
from frivolous.zoo.init import INITS, initialise
from frivolous.zoo.resnet56 import PadShortcut

WIDTHS = (0.25, 0.5, 1, 2, 4)
INPUTS = {  # the smallest inputs each family takes, batch 2
    "mlp": (2, 10),
    "alexnet": (2, 3, 32, 32),
    "resnet56": (2, 3, 32, 32),
    "resnet18": (2, 3, 32, 32),
    "inception_v3": (2, 3, 75, 75),
    "cnn1d": (2, 1, 40),
}
CLASSES = {"mlp": 2, "alexnet": 10, "resnet56": 10, "resnet18": 1000, "inception_v3": 1000, "cnn1d": 10}


def parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def meta_parameters(family: str, width: float, **options: object) -> int:
    """Parameter count without allocating (or initialising) the weights."""
    with torch.device("meta"):
        return parameters(zoo.FAMILIES[family](width, **options))


def probe_outputs(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The logits and the output of each declared probe."""
    modules = dict(model.named_modules())
    outputs: dict[str, torch.Tensor] = {}
    handles = [
        modules[name].register_forward_hook(lambda _m, _i, out, name=name: outputs.__setitem__(name, out))
        for name in model.frivolous_layers
    ]
    try:
        with torch.no_grad():
            return model.eval()(x), outputs
    finally:
        for handle in handles:
            handle.remove()


def test_registry() -> None:
    assert zoo.families() == sorted(CLASSES)
    assert zoo.options("mlp") == {"in_features": 10, "hidden_layers": 1, "hidden_units": 128}
    assert zoo.options("inception_v3") == {"only": None, "dropout": 0.5}


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("family", sorted(CLASSES))
def test_every_family_at_every_width(family: str, width: float) -> None:
    model = zoo.create(family, width)
    logits, probes = probe_outputs(model, torch.randn(INPUTS[family]))
    assert logits.shape == (2, CLASSES[family])
    assert list(probes) == list(model.frivolous_layers)
    for name, out in probes.items():
        assert out.min() >= 0, f"{family} probe {name} is not a post-ReLU activation"


def test_widths_scale_units() -> None:
    def build(family: str, width: float) -> nn.Module:
        with torch.device("meta"):
            return zoo.FAMILIES[family](width)

    for width in WIDTHS:
        assert build("mlp", width).hidden1.linear.out_features == round(128 * width)
        assert build("alexnet", width).conv1[0].out_channels == round(96 * width)
        assert build("cnn1d", width).conv1.layer.out_channels == round(32 * width)
        assert build("resnet56", width).stage3[0].conv1.out_channels == round(64 * width)
        assert build("resnet18", width).layer4[0].conv1.out_channels == round(512 * width)
        assert build("inception_v3", width).Mixed_5d.out_channels == round(288 * width)


@pytest.mark.parametrize("family", sorted(CLASSES))
def test_parameters_grow_with_width(family: str) -> None:
    counts = [meta_parameters(family, width) for width in WIDTHS]
    assert counts == sorted(set(counts))


def test_parameter_counts_at_1x() -> None:
    assert parameters(zoo.create("mlp")) == 10 * 128 + 128 + 128 * 2 + 2
    assert parameters(zoo.create("alexnet")) == 6_989_642
    assert parameters(zoo.create("resnet56")) == 853_018
    assert parameters(zoo.create("resnet18")) == parameters(torchvision.models.resnet18()) == 11_689_512
    assert parameters(zoo.create("cnn1d")) == 9_610


def test_inception_is_torchvisions() -> None:
    reference = torchvision.models.inception_v3(aux_logits=False, init_weights=False).eval()
    model = zoo.create("inception_v3").eval()
    assert parameters(model) == parameters(reference) == 23_834_568
    model.load_state_dict(reference.state_dict())  # same names and shapes
    x = torch.randn(2, 3, 75, 75)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x))


def test_resnet56_shortcuts_have_no_parameters() -> None:
    model = zoo.create("resnet56", 0.5)
    assert not [name for name, _ in model.named_parameters() if "shortcut" in name]
    assert [name for name, m in model.named_modules() if isinstance(m, PadShortcut)] == [
        "stage2.0.shortcut",
        "stage3.0.shortcut",
    ]


@pytest.mark.parametrize("width", [0.25, 4])
def test_inception_widens_only_one_module(width: float) -> None:
    narrow = zoo.create("inception_v3")
    model = zoo.create("inception_v3", width, only="Mixed_5d")
    _, probes = probe_outputs(model, torch.randn(INPUTS["inception_v3"]))
    assert [probes[name].shape[1] for name in FIGURE_LAYERS] == [round(288 * width), 768, 2048]
    assert model.Mixed_6a.out_channels == 384 + 96 + round(288 * width)  # its max-pool passes them on
    for name, module in narrow.named_children():
        if name not in ("Mixed_5d", "Mixed_6a", "Mixed_6b"):  # the two after it take wider inputs
            assert parameters(getattr(model, name)) == parameters(module), name
    assert parameters(model.Mixed_5d) != parameters(narrow.Mixed_5d)


@pytest.mark.parametrize("family", sorted(CLASSES))
def test_measure_uses_the_declared_probes(family: str) -> None:
    model = zoo.create(family, 0.25)
    x = torch.randn(INPUTS[family], generator=torch.Generator().manual_seed(0))
    result = fv.measure(model, x, samplings=1, levels=3, max_samples=200, all_layers=False, progress=False)
    assert list(result.layers) == list(model.frivolous_layers)
    assert result.settings["mode"] == "graph"  # traceable: only the part after a probe is re-run


def test_num_classes() -> None:
    for family in CLASSES:
        model = zoo.create(family, 0.25, num_classes=3)
        with torch.no_grad():
            assert model.eval()(torch.zeros(INPUTS[family])).shape == (2, 3)


def test_cnn1d_takes_flat_inputs() -> None:
    model = zoo.create("cnn1d").eval()
    x = torch.randn(2, 40)
    torch.testing.assert_close(model(x), model(x.unsqueeze(1)))


FANS = (1000, 2000)  # a Linear(1000, 2000): fan_in 1000, fan_out 2000
VARIANCES = {
    "glorot_normal": 2 / sum(FANS),
    "glorot_uniform": 2 / sum(FANS),
    "he_normal": 2 / FANS[0],
    "he_uniform": 2 / FANS[0],
    "lecun_normal": 1 / FANS[0],
    "lecun_uniform": 1 / FANS[0],
    "normal": 0.03**2,
    "truncated_normal": 0.7737 * 0.03**2,
}


def _initialised(init: str, std: float | None = None, seed: int = 0) -> nn.Linear:
    layer = nn.Linear(*FANS)
    initialise(layer, init, std=std, generator=torch.Generator().manual_seed(seed))
    return layer


@pytest.mark.parametrize("init", sorted(VARIANCES))
def test_initialiser_variance(init: str) -> None:
    std = 0.03 if init in ("normal", "truncated_normal") else None
    layer = _initialised(init, std)
    weight = layer.weight.detach().double()
    assert weight.var().item() == pytest.approx(VARIANCES[init], rel=0.02)
    assert abs(weight.mean().item()) < 0.01 * math.sqrt(VARIANCES[init])
    assert not layer.bias.any()
    if init.endswith("uniform"):
        assert weight.abs().max().item() <= math.sqrt(3 * VARIANCES[init])
    if init == "truncated_normal":
        assert weight.abs().max().item() <= 2 * 0.03


def test_initialiser_fans_of_convolutions() -> None:
    conv = nn.Conv2d(64, 128, 5)
    initialise(conv, "glorot_normal", generator=torch.Generator().manual_seed(0))
    assert conv.weight.var().item() == pytest.approx(2 / (64 * 25 + 128 * 25), rel=0.02)
    conv1d = nn.Conv1d(64, 128, 5)
    initialise(conv1d, "he_uniform", generator=torch.Generator().manual_seed(0))
    assert conv1d.weight.var().item() == pytest.approx(2 / (64 * 5), rel=0.03)


def test_initialiser_sets_norms_and_default_is_untouched() -> None:
    model = zoo.create("resnet56", 0.25)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            nn.init.constant_(module.weight, 5.0)
            nn.init.constant_(module.bias, 5.0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    initialise(model, "default", generator=torch.Generator())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    initialise(model, "he_normal", generator=torch.Generator())
    assert all(
        torch.equal(m.weight, torch.ones_like(m.weight)) and not m.bias.any()
        for m in model.modules()
        if isinstance(m, nn.BatchNorm2d)
    )
    assert not model.fc.bias.any()


def test_alexnet_biases_start_as_released() -> None:
    model = zoo.create("alexnet", 0.25, init="glorot_normal", seed=1)
    for name, start in (("conv1", 0.0), ("conv2", 0.1), ("fc1", 0.1), ("fc2", 0.1), ("out", 0.0)):
        bias = model.get_submodule(name if name == "out" else f"{name}.layer").bias
        assert torch.equal(bias, torch.full_like(bias, start)), name
    default = zoo.create("alexnet", 0.25, seed=1)  # PyTorch's own init keeps its own biases
    assert len(set(default.fc1.layer.bias.tolist())) > 1


def test_inception_probes_the_layers_the_released_analysis_averages() -> None:
    released = [
        "conv0",
        "conv1",
        "conv2",
        "conv3",
        "conv4",
        "mixed_35x35x256a",
        "mixed_35x35x288a",
        "mixed_35x35x288b",
        "mixed_17x17x768a",
        "mixed_17x17x768b",
        "mixed_17x17x768c",
        "mixed_17x17x768d",
        "mixed_17x17x768e",
        "mixed_17x17x1280a",
        "mixed_8x8x2048a",
        "mixed_8x8x2048b",
    ]
    ours = [
        "Conv2d_1a_3x3",
        "Conv2d_2a_3x3",
        "Conv2d_2b_3x3",
        "Conv2d_3b_1x1",
        "Conv2d_4a_3x3",
        "Mixed_5b",
        "Mixed_5c",
        "Mixed_5d",
        "Mixed_6a",
        "Mixed_6b",
        "Mixed_6c",
        "Mixed_6d",
        "Mixed_6e",
        "Mixed_7a",
        "Mixed_7b",
        "Mixed_7c",
    ]
    assert len(released) == len(ours) == 16
    with torch.device("meta"):
        model = zoo.FAMILIES["inception_v3"](0.25)
    assert list(model.frivolous_layers) == ours
    assert set(FIGURE_LAYERS) <= set(ours) and FIGURE_LAYERS[0] == "Mixed_5d"  # released mixed_35x35x288b


def test_create_initialises() -> None:
    model = zoo.create("mlp", in_features=1000, hidden_units=2000, init="normal", init_std=0.01)
    assert model.hidden1.linear.weight.std().item() == pytest.approx(0.01, rel=0.02)
    assert not model.hidden1.linear.bias.any()
    assert set(INITS) == {*VARIANCES, "default"}


@pytest.mark.parametrize("init", ["default", "glorot_uniform", "truncated_normal"])
def test_seeded(init: str) -> None:
    std = 0.1 if init == "truncated_normal" else None
    state = torch.random.get_rng_state()
    a, b, c = (zoo.create("resnet56", 0.25, init=init, init_std=std, seed=s).state_dict() for s in (1, 1, 2))
    assert torch.equal(torch.random.get_rng_state(), state)  # the global RNG is untouched
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["stage1.0.conv1.weight"], c["stage1.0.conv1.weight"])


def test_errors() -> None:
    with pytest.raises(ValueError, match="unknown model family 'vgg'.*alexnet"):
        zoo.create("vgg")
    with pytest.raises(ValueError, match="width_factor"):
        zoo.create("mlp", 0)
    with pytest.raises(ValueError, match="unknown init 'xavier'.*glorot_normal"):
        zoo.create("mlp", init="xavier")
    with pytest.raises(ValueError, match="init 'normal' needs init_std"):
        zoo.create("mlp", init="normal")
    with pytest.raises(ValueError, match="init 'truncated_normal' needs init_std"):
        zoo.create("mlp", init="truncated_normal", init_std=-1.0)
    with pytest.raises(ValueError, match="init_std is used only by"):
        zoo.create("mlp", init="he_normal", init_std=0.1)
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['hidden'\] for model family 'mlp'.*hidden_units"):
        zoo.create("mlp", hidden=3)
    with pytest.raises(ValueError, match="num_classes"):
        zoo.create("mlp", num_classes=0)
    with pytest.raises(ValueError, match="only must be None or one of.*Mixed_5d.*got 'mixed_2'"):
        zoo.create("inception_v3", only="mixed_2")
    with pytest.raises(ValueError, match="dropout"):
        zoo.create("alexnet", dropout=1.5)
    with pytest.raises(ValueError, match="hidden_units"):
        zoo.create("mlp", hidden_units=0)
    with pytest.raises(ValueError, match="unknown init"):
        initialise(nn.Linear(2, 2), "zeros", generator=torch.Generator())
