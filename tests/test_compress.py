"""fv.compress: known answers (the paper's Section 2.3 constructions, units that
are exact linear combinations of others), residual streams and concatenations,
what it refuses, and that what it reports is what the smaller module does."""

from __future__ import annotations

import copy
import json
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from torch import nn

import frivolous as fv
from conftest import seeded
from frivolous import zoo
from frivolous.common.parameters import parameter_count
from frivolous.compression import CompressionError, resize_like
from frivolous.compression.folding import Moments, View, fold, removal_order
from frivolous.compression.model_costs import multiply_adds
from frivolous.constructions import duplicated, offset, silent, small_network

HIDDEN = 16


@pytest.fixture(scope="module")
def small() -> nn.Module:
    return small_network(hidden=HIDDEN, input_dim=HIDDEN + 4, signal_dim=4, seed=1)


@pytest.fixture(scope="module")
def inputs() -> torch.Tensor:
    return torch.randn(800, HIDDEN + 4, generator=seeded(3))


def same_outputs(a: nn.Module, b: nn.Module, x: torch.Tensor) -> None:
    """Equal to 1e-5 of the outputs' scale, computed in float64 so that the
    comparison is not float32 rounding of the original itself (the [w/2±η]
    construction sums terms of ±η that cancel)."""
    with torch.no_grad():
        expected = copy.deepcopy(b).double()(x.double())
        torch.testing.assert_close(
            copy.deepcopy(a).double()(x.double()), expected, rtol=1e-5, atol=1e-5 * float(expected.abs().max())
        )


@pytest.mark.parametrize(
    "construction", [duplicated, silent, offset], ids=["[u,u]-[w,0]", "[u,0]-[w,0]", "[u,u]-[w/2±η]"]
)
def test_the_constructions_compress_back_to_the_width_of_s(
    small: nn.Module, inputs: torch.Tensor, construction
) -> None:
    wide = construction(small)
    result = fv.compress(wide, inputs, units=HIDDEN, device="cpu")
    halves = result.model.hidden
    assert halves.first.linear.out_features + halves.second.linear.out_features == HIDDEN
    assert result.model.out.in_features == HIDDEN
    assert result.params_after == parameter_count(small)
    assert result.macs_after == multiply_adds(small, inputs)
    same_outputs(result.model, wide, inputs)
    assert result.agreement == 1.0
    row = result.layers.set_index("layer").loc["hidden.first.linear"]
    assert (row["units_before"], row["units_after"]) == (2 * HIDDEN, HIDDEN)


def test_the_silent_half_is_what_goes(small: nn.Module, inputs: torch.Tensor) -> None:
    result = fv.compress(silent(small), inputs, units=HIDDEN, device="cpu")
    assert result.model.hidden.second.linear.out_features == 0  # every dead unit removed, none of u
    same_outputs(result.model.hidden.first, small.hidden, inputs)


def linear_combination_network() -> nn.Sequential:
    """Hidden layer 2 (no activation) has unit 5 = 2·unit 0 − unit 3 + 0.5; after
    the ReLU of hidden layer 1, unit 7 = 3·unit 2 (ReLU(3z) = 3·ReLU(z))."""
    g = seeded(11)
    net = nn.Sequential(OrderedDict(fc1=nn.Linear(6, 8), relu=nn.ReLU(), fc2=nn.Linear(8, 6), out=nn.Linear(6, 3)))
    with torch.no_grad():
        for layer in net:
            if isinstance(layer, nn.Linear):
                layer.weight.copy_(torch.randn(layer.weight.shape, generator=g))
                layer.bias.copy_(torch.randn(layer.bias.shape, generator=g))
        net.fc1.weight[7], net.fc1.bias[7] = 3 * net.fc1.weight[2], 3 * net.fc1.bias[2]
        net.fc2.weight[5] = 2 * net.fc2.weight[0] - net.fc2.weight[3]
        net.fc2.bias[5] = 2 * net.fc2.bias[0] - net.fc2.bias[3] + 0.5
    return net


def test_a_unit_that_is_a_linear_combination_of_others_is_folded_exactly() -> None:
    net = linear_combination_network()
    x = torch.randn(600, 6, generator=seeded(4))
    result = fv.compress(net, x, units={"fc1": 7, "fc2": 5}, device="cpu")
    assert (result.model.fc1.out_features, result.model.fc2.out_features, result.model.out.in_features) == (7, 5, 5)
    same_outputs(result.model, net, x)
    assert result.widths == {"fc1": 7, "fc2": 5, "out": 3}


def test_removal_order_and_fold_on_known_moments() -> None:
    """Unit 2 = unit 0 + unit 1 exactly, unit 3 is never read: 3 goes first (no
    weight), then one of the dependent three; the fold recovers the combination."""
    a = torch.randn(500, 4, generator=seeded(5), dtype=torch.float64)
    a[:, 2] = a[:, 0] + a[:, 1] + 1.0
    moments = Moments(4, torch.device("cpu"))
    moments.add(a)
    torch.testing.assert_close(moments.covariance, torch.cov(a.T, correction=0))
    weights = torch.tensor([[1.0, 2.0, 3.0, 0.0]], dtype=torch.float64)
    view = View(torch.arange(4), moments.covariance, weights.T @ weights)
    order, costs = removal_order([view], 4, ridge=0.0)
    assert order[0] == 3 and order[1] in (0, 1, 2) and costs[1] < 1e-6 < costs[2]
    keep = torch.tensor([True, True, False, False])
    coefficients, intercept = fold(moments.covariance, moments.mean, keep, ridge=0.0)
    torch.testing.assert_close(coefficients[:, 0], torch.ones(2, dtype=torch.float64))
    torch.testing.assert_close(intercept[0], torch.tensor(1.0, dtype=torch.float64))


class ResidualNet(nn.Module):
    """A stem, two residual blocks on one stream (identity shortcuts), a pooled linear head."""

    def __init__(self, channels: int = 8) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels), nn.ReLU())
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(channels, channels, 3, padding=1),
                nn.ReLU(),
                nn.Conv2d(channels, channels, 3, padding=1, bias=False),
                nn.BatchNorm2d(channels),
            )
            for _ in range(2)
        )
        self.head = nn.Linear(channels, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for block in self.blocks:
            x = torch.relu(block(x) + x)
        return self.head(x.mean((2, 3)))


def trained_like(model: nn.Module, x: torch.Tensor) -> nn.Module:
    """BatchNorm statistics of ``x`` exactly (one cumulative batch), then eval mode."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.momentum = None
    with torch.no_grad():
        model.train()
        model(x)
    return model.eval()


def agreement_by_hand(original: nn.Module, small: nn.Module, x: torch.Tensor) -> float:
    with torch.no_grad():
        return float((original(x).argmax(1) == small(x).argmax(1)).double().mean())


def test_a_residual_stream_shares_one_keep_set_and_reports_its_true_agreement() -> None:
    torch.manual_seed(0)
    x = torch.randn(160, 3, 8, 8, generator=seeded(6))
    held = torch.randn(80, 3, 8, 8, generator=seeded(7))
    net = trained_like(ResidualNet(), x)
    result = fv.compress(net, x, held_out=held, units=5, device="cpu")
    stream = result.layers.set_index("layer").loc["stem.0"]
    assert "blocks.0.2" in stream["producers"] and "blocks.1.2" in stream["producers"]
    m = result.model
    assert m.stem[0].out_channels == m.blocks[0][2].out_channels == m.blocks[1][2].out_channels == 5
    assert m.blocks[0][0].in_channels == m.head.in_features == 5 and m.blocks[0][0].out_channels == 5
    assert result.agreement == pytest.approx(agreement_by_hand(net, m, held))
    assert result.held_out_examples == 80
    assert result.params_after == parameter_count(m) < result.params_before


def test_a_duplicated_residual_stream_compresses_exactly() -> None:
    """Every writer of the stream writes channel 7 as a copy of channel 0 (the same
    weights), so removing it and folding it into channel 0 changes nothing."""
    x = torch.randn(120, 3, 8, 8, generator=seeded(8))
    net = ResidualNet()
    with torch.no_grad():
        for conv, norm in ((net.stem[0], net.stem[1]), *((b[2], b[3]) for b in net.blocks)):
            conv.weight[7] = conv.weight[0]
            norm.weight[7], norm.bias[7] = norm.weight[0] + 0.5, norm.bias[0] - 0.1
            norm.weight[0], norm.bias[0] = norm.weight[7], norm.bias[7]
    net = trained_like(net, x)  # the statistics of this data: recalibrating them changes nothing
    result = fv.compress(net, x, held_out=x, units={"stem.0": 7}, device="cpu")  # recalibrated on all of x
    assert result.model.stem[0].out_channels == 7
    same_outputs(result.model, net, x)


class ConcatNet(nn.Module):
    """Two conv branches concatenated along channels, read by one conv (an Inception-style module)."""

    def __init__(self) -> None:
        super().__init__()
        self.left = nn.Sequential(nn.Conv1d(2, 6, 3, padding=1), nn.ReLU())
        self.right = nn.Sequential(nn.Conv1d(2, 4, 5, padding=2), nn.BatchNorm1d(4), nn.ReLU())
        self.mix = nn.Conv1d(10, 6, 3, padding=1)
        self.out = nn.Linear(6 * 12, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.mix(torch.cat([self.left(x), self.right(x)], dim=1)))
        return self.out(torch.flatten(y, 1))


def test_a_concatenation_is_one_layer_and_reports_its_true_agreement() -> None:
    x = torch.randn(200, 2, 12, generator=seeded(9))
    held = torch.randn(100, 2, 12, generator=seeded(10))
    net = trained_like(ConcatNet(), x)
    result = fv.compress(net, x, held_out=held, units={"left.0": 6}, device="cpu")
    m = result.model
    assert m.left[0].out_channels + m.right[0].out_channels == 6 == m.mix.in_channels
    assert m.right[1].num_features == m.right[0].out_channels
    assert result.agreement == pytest.approx(agreement_by_hand(net, m, held))
    kept = result.layers.set_index("layer")
    assert kept.loc["left.0", "units_before"] == 10 and kept.loc["mix", "units_after"] == 6  # not asked: whole


def test_flatten_into_linear_and_the_agreement_search(tmp_path) -> None:
    """cnn1d: conv layers, a flatten into the output layer; the search keeps the
    calibration agreement, and the smaller model loads back into a rebuilt zoo model."""
    model = zoo.create("cnn1d", 0.5, seed=0).eval()
    x = torch.randn(300, 40, generator=seeded(12))
    result = fv.compress(model, x, agreement=0.95, device="cpu")
    assert result.calibration_agreement >= 0.95 - 1e-9  # BatchNorm-free: nothing moves after the search
    assert result.params_after < result.params_before and result.macs_after < result.macs_before
    assert result.macs_after == multiply_adds(result.model, x)
    rebuilt = resize_like(zoo.create("cnn1d", 0.5, seed=1), result.model.state_dict())
    rebuilt.load_state_dict(result.model.state_dict())
    same_outputs(rebuilt.eval(), result.model, x)


def test_ratio_reaches_about_that_share_of_the_parameters() -> None:
    model = zoo.create("mlp", 1.0, in_features=10, num_classes=2, hidden_layers=2, seed=0).eval()
    x = torch.randn(400, 10, generator=seeded(13))
    result = fv.compress(model, x, ratio=2.0, device="cpu")
    assert result.params_before / result.params_after == pytest.approx(2.0, rel=0.05)


def test_batchnorm_statistics_move_by_what_the_change_moved_on_the_calibration_data() -> None:
    """The norm after the consumer: its running mean shifts by the shift of its
    input's calibration mean, its variance scales by the ratio of the variances;
    statistics that did not come from the calibration data are not reset."""
    net = nn.Sequential(nn.Linear(5, 12), nn.ReLU(), nn.Linear(12, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 2))
    x = torch.randn(64, 5, generator=seeded(14))
    with torch.no_grad():
        net[3].running_mean.copy_(torch.linspace(-1, 1, 6))
        net[3].running_var.copy_(torch.linspace(0.5, 2, 6))
    net.eval()
    result = fv.compress(net, x, held_out=x[:8], units={"0": 6}, batch_size=64, device="cpu")
    with torch.no_grad():
        old, new = net[:3](x).double(), result.model[:3](x).double()
    expected_mean = net[3].running_mean.double() + new.mean(0) - old.mean(0)
    expected_var = net[3].running_var.double() * new.var(0) / old.var(0)
    # the least squares keep the calibration mean (its intercept), not the variance: the fold is not exact here
    assert not torch.allclose(new.var(0), old.var(0), rtol=1e-3)
    torch.testing.assert_close(result.model[3].running_mean.double(), expected_mean, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(result.model[3].running_var.double(), expected_var, rtol=1e-4, atol=1e-5)


class Normalised(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.norm = nn.LocalResponseNorm(3)
        self.fc = nn.Linear(4 * 6 * 6, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.norm(torch.relu(self.conv(x))).flatten(1))


class Branchy(nn.Module):
    """Control flow on the data: torch.fx cannot trace it."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(6, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x if x.sum() > 0 else -x)


def test_what_compress_cannot_follow_is_named() -> None:
    x = torch.randn(20, 3, 8, 8, generator=seeded(15))
    with pytest.raises(CompressionError, match=r"'norm'.*LocalResponseNorm"):
        fv.compress(Normalised(), x, units=2, device="cpu")
    with pytest.raises(CompressionError, match="cannot trace"):
        fv.compress(Branchy(), torch.randn(20, 6), device="cpu")
    with pytest.raises(ValueError, match=r"cannot compress layer 'out'.*network's output"):
        fv.compress(linear_combination_network(), torch.randn(20, 6), units={"out": 1}, device="cpu")
    with pytest.raises(ValueError, match="one of agreement=, units= and ratio=, not units and ratio"):
        fv.compress(linear_combination_network(), torch.randn(20, 6), units=2, ratio=2.0, device="cpu")
    with pytest.raises(ValueError, match="not agreement and ratio"):
        fv.compress(linear_combination_network(), torch.randn(20, 6), agreement=0.95, ratio=2.0, device="cpu")
    with pytest.raises(ValueError, match="agreement"):
        fv.compress(linear_combination_network(), torch.randn(20, 6), agreement=1.5, device="cpu")


@pytest.mark.filterwarnings("ignore:.*calibration samples:RuntimeWarning")  # the same warning for 'out'
def test_alexnet_keeps_its_normalised_conv_layers_whole_and_compresses_the_rest() -> None:
    model = zoo.create("alexnet", 0.125, num_classes=10, seed=0).eval()
    x = torch.randn(40, 3, 32, 32, generator=seeded(16))
    with pytest.warns(RuntimeWarning, match="30 calibration samples for the 48 units read by 'fc2.layer'"):
        result = fv.compress(model, x, units=8, device="cpu")
    layers = result.layers.set_index("layer")
    assert "LocalResponseNorm" in layers.loc["conv1.layer", "note"]
    assert layers.loc["conv1.layer", "units_after"] == 12 and layers.loc["fc1.layer", "units_after"] == 8
    assert result.model.fc1.layer.out_features == 8 == result.model.fc2.layer.in_features


def test_the_command_compresses_a_run_and_the_folder_loads_back(tmp_path) -> None:
    from typer.testing import CliRunner

    from conftest import TINY_SWEEP
    from frivolous.cli import app
    from frivolous.compression.saved import load_compressed
    from frivolous.experiments.run import train_run
    from frivolous.experiments.sweep import SweepSpec
    from frivolous.runs.folder import load_data, load_run, stage_model

    spec = SweepSpec.from_dict(TINY_SWEEP).expand()[0].spec
    layout = train_run(spec, tmp_path / "runs", device="cpu", progress=False).layout
    out = tmp_path / "small"
    done = CliRunner().invoke(app, ["compress", str(layout.root), "--out", str(out), "--ratio", "2", "--device", "cpu"])
    assert done.exit_code == 0, done.output
    assert "parameters" in done.output and "agreement" in done.output and "accuracy" in done.output
    small = load_compressed(out)
    spec, layout = load_run(layout.root)
    bundle = load_data(spec)
    original = stage_model(spec, layout, bundle, "trained").eval()
    description = json.loads((out / "compressed.json").read_text())
    assert parameter_count(small) == description["params_after"] < description["params_before"]
    assert agreement_by_hand(original, small, bundle.test.inputs) == pytest.approx(description["agreement"])
    refused = CliRunner().invoke(app, ["compress", str(layout.root), "--out", str(out), "--data", "test"])
    assert refused.exit_code == 2 and "differ" in refused.output
    for wrong, said in ((["--data", "mnist1d"], "the split to fit on"), (["--model-arg", "x=1"], "its own spec")):
        refused = CliRunner().invoke(app, ["compress", str(layout.root), "--out", str(tmp_path / "no"), *wrong])
        assert refused.exit_code == 2 and said in refused.output and not (tmp_path / "no").exists()
    fewer = CliRunner().invoke(
        app,
        [
            "compress",
            f"run:{layout.root}",
            "--out",
            str(tmp_path / "fewer"),
            "--ratio",
            "2",
            "--held-out-examples",
            "20",
            "--device",
            "cpu",
        ],
    )
    assert fewer.exit_code == 0, fewer.output
    assert json.loads((tmp_path / "fewer" / "compressed.json").read_text())["held_out_examples"] == 20


def test_the_baselines_remove_without_compensating(small: nn.Module, inputs: torch.Tensor) -> None:
    """Magnitude pruning finds the silent half of [u,0] (all-zero rows), but on
    [u,u] with [w/2±η] it drops half of every pair's contribution, which the fold keeps."""
    dropped = fv.compress(silent(small), inputs, units=HIDDEN, method="magnitude", device="cpu")
    assert dropped.model.hidden.second.linear.out_features == 0
    same_outputs(dropped.model, silent(small), inputs)
    for method in ("magnitude", "random"):
        result = fv.compress(offset(small), inputs, units=HIDDEN, method=method, device="cpu")
        assert result.agreement < 0.99 and result.settings["method"] == method  # the fold: exactly 1
    with pytest.raises(ValueError, match="method must be one of"):
        fv.compress(small, inputs, method="taylor", device="cpu")


@pytest.mark.filterwarnings("ignore:.*calibration samples:RuntimeWarning")  # 100 training examples: a tiny run
def test_a_sweep_records_each_runs_effective_width_and_draws_it(tmp_path) -> None:
    from conftest import TINY_SWEEP
    from frivolous import plots
    from frivolous.common.files import read_json
    from frivolous.experiments.sweep import SweepSpec
    from frivolous.results.results_table import load_results
    from frivolous.runs.layout import RunLayout
    from frivolous.sweeping import run_sweep

    sweep = SweepSpec.from_dict(
        {**TINY_SWEEP, "measure": {**TINY_SWEEP["measure"], "effective_width": 0.9}, "replicates": 1}
    )
    run_sweep(sweep, tmp_path, device="cpu", progress=False)
    runs = load_results(tmp_path)
    assert (runs["effective_width"] <= runs["effective_width_units"]).all()
    assert runs["effective_width_units"].tolist() == [32, 64]  # the hidden layer: 128 units at 1x
    fraction = runs["effective_width"] / runs["effective_width_units"]
    assert runs["effective_width_fraction"].tolist() == fraction.tolist()
    for run in sweep.expand():
        saved = read_json(RunLayout.of(run.spec, tmp_path / "runs").effective_width)
        assert saved["agreement"] == 0.9 and sum(layer["kept"] for layer in saved["layers"].values()) in set(
            runs["effective_width"]
        )
    assert [p.name for p in plots.effective_width_vs_width(runs, tmp_path / "ew")] == ["ew.png", "ew.svg"]


# ---- frivolous compress MODEL: models and data named as analyze names them ----------------------------------

NAMED_FACTORIES = """
import torch
from torch import nn


def mlp(hidden=12):
    return nn.Sequential(nn.Linear(6, hidden), nn.ReLU(), nn.Linear(hidden, 3))


class Branchy(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 3)

    def forward(self, x):
        return self.fc(x) if x.sum() > 0 else -self.fc(x)


def branchy():
    return Branchy()
"""


def named_factory(folder) -> str:
    """A factory file with ``mlp`` (6 -> hidden -> 3) and ``branchy`` (data-dependent control flow: untraceable)."""
    path = folder / "nets.py"
    path.write_text(NAMED_FACTORIES)
    return str(path)


def repeated_mlp() -> nn.Sequential:
    """6 -> 12 -> 3 whose hidden units 6..11 repeat units 0..5: six units compute it exactly."""
    g = seeded(20)
    net = nn.Sequential(nn.Linear(6, 12), nn.ReLU(), nn.Linear(12, 3))
    with torch.no_grad():
        for layer in (net[0], net[2]):
            layer.weight.copy_(torch.randn(layer.weight.shape, generator=g))
            layer.bias.copy_(torch.randn(layer.bias.shape, generator=g))
        net[0].weight[6:], net[0].bias[6:] = net[0].weight[:6], net[0].bias[:6]
    return net.eval()


def labelled_file(folder, count: int = 300) -> tuple[str, torch.Tensor, torch.Tensor]:
    from safetensors.torch import save_file

    x, labels = torch.randn(count, 6, generator=seeded(21)), torch.randint(0, 3, (count,), generator=seeded(22))
    path = folder / "data.safetensors"
    save_file({"inputs": x, "labels": labels}, str(path))
    return str(path), x, labels


def test_held_out_examples_are_a_seeded_stratified_part_disjoint_from_the_calibration_ones() -> None:
    from frivolous.compression.named import held_out_split

    labels = torch.arange(100) % 4
    fitted, judged = held_out_split(100, 20, labels, seed=3)
    assert torch.bincount(labels[judged]).tolist() == [5, 5, 5, 5]
    assert sorted(fitted.tolist() + judged.tolist()) == list(range(100))
    again, other = held_out_split(100, 20, labels, seed=3)[1], held_out_split(100, 20, labels, seed=4)[1]
    assert torch.equal(again, judged) and not torch.equal(other, judged)
    fitted, judged = held_out_split(10, 3, None, seed=0)
    assert len(judged) == 3 and sorted(fitted.tolist() + judged.tolist()) == list(range(10))


def test_a_factory_model_with_weights_compresses_from_the_command_line_and_loads_back(tmp_path) -> None:
    """The weights file, not the factory's own initialisation, is compressed (its repeated units fold
    exactly); the folder rebuilds through the factory, only when asked to run it."""
    from safetensors.torch import save_file
    from typer.testing import CliRunner

    from frivolous.cli import app
    from frivolous.compression.saved import load_compressed

    factory = named_factory(tmp_path)
    net = repeated_mlp()
    save_file(net.state_dict(), str(tmp_path / "weights.safetensors"))
    data, x, _ = labelled_file(tmp_path)
    out = tmp_path / "small"
    done = CliRunner().invoke(
        app,
        [
            "compress",
            f"{factory}:mlp",
            "--model-arg",
            "hidden=12",
            "--weights",
            str(tmp_path / "weights.safetensors"),
            "--data",
            data,
            "--units",
            "6",
            "--examples",
            "200",
            "--held-out-examples",
            "100",
            "--out",
            str(out),
            "--device",
            "cpu",
        ],
    )
    assert done.exit_code == 0, done.output
    assert "fitted on 200 examples of data.safetensors, judged on 100 others" in done.output
    assert "accuracy" in done.output and "agreement       1.0000 on 100 held-out examples" in done.output
    description = json.loads((out / "compressed.json").read_text())
    assert description["architecture"] == {
        "source": f"factory:{Path(factory).resolve()}:mlp",
        "options": {"hidden": 12},
    }
    assert (description["calibration_examples"], description["held_out_examples"]) == (200, 100)
    assert description["accuracy_before"] == description["accuracy_after"] is not None
    with pytest.raises(ValueError, match="run_factory=True"):
        load_compressed(out)
    small = load_compressed(out, run_factory=True)
    assert (small[0].out_features, small[2].in_features) == (6, 6)
    assert parameter_count(small) == description["params_after"] == parameter_count(net) - 6 * 6 - 6 - 3 * 6
    same_outputs(small, net, x)


def test_a_named_model_is_judged_on_the_held_out_examples_it_reports(tmp_path) -> None:
    from frivolous.compression.named import compress_named, held_out_split

    factory = named_factory(tmp_path)
    data, x, labels = labelled_file(tmp_path)
    named = compress_named(
        f"{factory}:mlp", data, options={"hidden": 16}, examples=200, held_out=100, ratio=3.0, seed=7, device="cpu"
    )
    result = named.result
    fitted, judged = held_out_split(300, 100, labels, seed=7)
    assert named.record["calibration_examples"] == len(fitted) == 200 and result.held_out_examples == 100
    original = named_factory_model(factory, seed=7, hidden=16)  # the model is built under the seed
    assert agreement_by_hand(original, result.model, x[judged]) == pytest.approx(result.agreement)
    with torch.no_grad():
        accuracy = float((result.model(x[judged]).argmax(1) == labels[judged]).double().mean())
    assert result.accuracy_after == pytest.approx(accuracy) and result.agreement < 1.0


def named_factory_model(factory: str, seed: int = 0, **options) -> nn.Module:
    from frivolous.sources import resolve_model

    return resolve_model(f"{factory}:mlp", options=options, seed=seed).model.eval()


def test_a_torchvision_model_compresses_and_rebuilds_without_its_weights(tmp_path) -> None:
    from frivolous.compression.named import architecture_spec, compress_named
    from frivolous.compression.saved import load_compressed, save_compressed

    torch.manual_seed(0)
    named = compress_named(
        "torchvision:resnet18",
        "random:3,32,32",
        options={"num_classes": 10},
        units={"layer1.0.conv1": 8},
        examples=24,
        held_out=8,
        device="cpu",
    )
    assert named.caution and "noise" in named.caution  # random inputs: the numbers describe the network on noise
    assert named.result.accuracy_before is None  # and there are no labels to measure accuracy with
    save_compressed(named.result, tmp_path / "small", named.architecture, named.record)
    small = load_compressed(tmp_path / "small")
    block = small.layer1[0]
    assert block.conv1.out_channels == 8 == block.bn1.num_features == block.conv2.in_channels
    x = torch.randn(4, 3, 32, 32, generator=seeded(23))
    with torch.no_grad():
        torch.testing.assert_close(small(x), named.result.model.eval()(x))
    assert parameter_count(small) == named.result.params_after < named.result.params_before
    assert architecture_spec("torchvision:resnet18:IMAGENET1K_V1") == "torchvision:resnet18"
    assert architecture_spec("timm:resnet50.a1_in1k:pretrained") == "timm:resnet50.a1_in1k"
    assert architecture_spec("frivolous.zoo:create") == "factory:frivolous.zoo:create"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["torchvison:resnet18", "--data", "random:3,32,32"], "unknown model scheme 'torchvison'"),
        (["{factory}:mlp", "--data", "random:3,8,8"], "does not fit model"),
        (["{factory}:branchy", "--data", "random:6"], "torch.fx cannot trace the model"),
        (["{factory}:mlp"], "--data is required"),
        (["{factory}:mlp", "--data", "random:6", "--stage", "init"], "--held-out and --stage are a run folder's"),
        (["{factory}:nothing", "--data", "random:6"], "has no function 'nothing'"),
        (["runs/no-such-run", "--data", "train"], "run folder runs/no-such-run does not exist"),
    ],
    ids=[
        "unknown model",
        "data that does not fit",
        "untraceable graph",
        "no data",
        "a run's option",
        "no factory",
        "no run folder",
    ],
)
def test_bad_inputs_to_compress_are_one_line_and_status_2(tmp_path, arguments: list[str], message: str) -> None:
    from typer.testing import CliRunner

    from frivolous.cli import app

    factory = named_factory(tmp_path)
    given = [a.format(factory=factory) for a in arguments]
    done = CliRunner().invoke(app, ["compress", *given, "--out", str(tmp_path / "small"), "--device", "cpu"])
    assert done.exit_code == 2, done.output
    assert len(done.output.strip().splitlines()) == 1 and done.output.startswith("error: ") and message in done.output
    assert not (tmp_path / "small").exists()


def test_a_transformer_is_refused_with_the_reason() -> None:
    """Its Linear layers act on every token: their units are not the axis
    compress follows, and it says so rather than fold the wrong axis."""
    layer = nn.TransformerEncoderLayer(8, 2, 16, batch_first=True, dropout=0.0)
    model = nn.Sequential(
        nn.Linear(4, 8), nn.TransformerEncoder(layer, 1, enable_nested_tensor=False), nn.Flatten(), nn.Linear(8 * 5, 3)
    )
    inputs = torch.randn(40, 5, 4, generator=seeded(0))
    with pytest.raises(CompressionError, match="at every position of a sequence"):
        fv.compress(model, inputs, ratio=1.5)


def test_a_network_that_answers_one_label_is_flagged() -> None:
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    with torch.no_grad():
        model[2].weight.zero_()
        model[2].bias.copy_(torch.tensor([1.0, 0.0, 0.0]))  # label 0 whatever the input
    inputs = torch.randn(80, 4, generator=seeded(1))
    result = fv.compress(model, inputs, units=1)
    assert result.one_class_share == 1.0 and result.agreement == 1.0
    assert "warning: the original gives one label to 100.0%" in result.summary()
    trained = fv.compress(small_network(), torch.randn(80, 20, generator=seeded(2)), units=1)
    assert trained.one_class_share < 0.99 and "warning" not in trained.summary()
