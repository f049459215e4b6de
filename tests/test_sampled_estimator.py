"""The sampled estimator of removability (``estimator="sampled"``): known answers, not timings.

The reference is computed here by brute force, without frivolous: a hidden
layer of 4 units has 24 permutations, so the paper's curve averaged over
every permutation is exact, per input. Inputs are drawn from a set of 12
points, so the expectation over the data is exact too, and the estimator's
intervals can be held against the true value over many seeds. Every draw is
seeded, so the statistical checks give the same counts on every run; their
bounds are set wide of the nominal rate (about 4 binomial standard errors)
so that a harmless change of random streams cannot fail them either.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from conftest import mlp
from frivolous.measuring import ablation_curve, measure
from frivolous.measuring.measurement import AblationCurve, SampledCurve
from frivolous.measuring.sampled import MIN_EXAMPLES, unreached
from test_analyze import analyze_cli, factory_file, one_line_error

LEVELS = np.linspace(0, 1, 7)
POINTS = 12


def tiny() -> nn.Sequential:
    """3 inputs, 4 hidden ReLU units (layer "1"), 3 classes; output weights
    large enough that removing units often changes the label."""
    torch.manual_seed(4)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 3))
    nn.init.normal_(model[2].weight, std=2.0)
    return model


def points() -> torch.Tensor:
    return torch.randn(POINTS, 3, generator=torch.Generator().manual_seed(0))


def exact_curves(model: nn.Sequential, inputs: torch.Tensor) -> np.ndarray:
    """Per input, the fraction of the 24 permutations under which its label
    survives each level (nested removal of the first round(p * 4) units)."""
    with torch.no_grad():
        hidden = model[1](model[0](inputs))
        reference = model[2](hidden).argmax(1)
        survived = np.zeros((len(inputs), len(LEVELS)))
        orders = list(itertools.permutations(range(4)))
        for order in orders:
            for j, removed in enumerate(np.rint(LEVELS * 4).astype(int)):
                keep = torch.ones(4)
                keep[list(order[:removed])] = 0
                survived[:, j] += (model[2](hidden * keep).argmax(1) == reference).numpy()
    return survived / len(orders)


def area(curve: np.ndarray) -> float:
    return float(((curve[1:] + curve[:-1]) / 2 * np.diff(LEVELS)).sum())


def exact_truth() -> tuple[np.ndarray, float, float]:
    """The expected curve over permutations and over the 12 equally likely
    points, its AUC, and its prunable units (4 x its crossing of 0.8)."""
    curve = exact_curves(tiny(), points()).mean(0)
    prunable = AblationCurve("1", "element", 4, LEVELS, np.rint(LEVELS * 4), curve[None], POINTS).prunable()
    return curve, area(curve), prunable


def draw(count: int, seed: int) -> torch.Tensor:
    """``count`` inputs drawn uniformly, with replacement, from the 12 points."""
    return points()[torch.randint(0, POINTS, (count,), generator=torch.Generator().manual_seed(seed))]


def sampled(inputs: torch.Tensor, seed: int = 0, **options: object) -> SampledCurve:
    curve = ablation_curve(tiny(), inputs, "1", estimator="sampled", seed=seed, device="cpu", **options)
    assert isinstance(curve, SampledCurve)
    return curve


def test_the_estimate_converges_to_the_expectation_over_every_permutation() -> None:
    curve, auc, _ = exact_truth()
    assert 0.55 < auc < 0.75  # a layer whose units matter: the test has something to find
    estimate = sampled(draw(5000, seed=7))
    assert estimate.examples == 5000 and estimate.curves.shape == (1, len(LEVELS))
    assert np.abs(estimate.curve - curve).max() < 0.025
    assert abs(estimate.auc - auc) < 0.015
    assert estimate.auc_interval[0] <= auc <= estimate.auc_interval[1]
    assert estimate.half_width < 0.015 and np.isnan(estimate.auc_std)


def test_the_intervals_cover_the_exact_values_at_their_stated_rate() -> None:
    _, auc, prunable = exact_truth()
    runs, covered, prunable_covered = 100, 0, 0
    for seed in range(runs):
        estimate = sampled(draw(60, seed=1000 + seed), seed=seed)
        low, high = estimate.auc_interval
        covered += low <= auc <= high
        prunable_covered += estimate.prunable_interval[0] <= prunable <= estimate.prunable_interval[1]
        assert 0.0 <= low <= estimate.auc <= high <= 1.0
    assert 0.88 <= covered / runs <= 0.99  # nominal 0.95
    assert prunable_covered / runs >= 0.85  # a percentile bootstrap of a non-smooth statistic: looser


def test_a_precision_target_stops_once_the_interval_is_that_narrow() -> None:
    data = draw(3000, seed=3)
    stopped = sampled(data, precision=0.05)
    assert stopped.half_width <= 0.05 and MIN_EXAMPLES <= stopped.examples < 3000
    # The masks are drawn example after example, so the same seed on the examples before the
    # stop gives the same tallies: one example fewer was not yet narrow enough.
    before = sampled(data[: stopped.examples - 1])
    assert before.half_width > 0.05
    assert sampled(data[: stopped.examples]).auc == stopped.auc


def test_when_the_data_runs_out_first_the_result_says_so() -> None:
    result = measure(tiny(), draw(100, seed=5), ["1"], estimator="sampled", precision=0.001, device="cpu")
    curve = result.layers["1"].ablation
    assert isinstance(curve, SampledCurve) and curve.examples == 100 and curve.half_width > 0.001
    message = unreached(result)
    assert message.startswith("the data ran out before the AUC interval reached ±0.001 for 1 curve: 1 (±")
    loose = measure(tiny(), draw(100, seed=5), ["1"], estimator="sampled", precision=0.4, device="cpu")
    assert unreached(loose) == "" and loose.layers["1"].ablation.examples == MIN_EXAMPLES


def test_seeds_reproduce_whatever_the_batch_size() -> None:
    model, data = mlp(), torch.randn(120, 10, generator=torch.Generator().manual_seed(1))

    def frames(seed: int, batch_size: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        result = measure(model, data, estimator="sampled", seed=seed, batch_size=batch_size, device="cpu")
        return result.frame("layers"), result.frame("curves")

    layers, curves = frames(0, 64)
    again, again_curves = frames(0, 7)
    pd.testing.assert_frame_equal(layers, again)
    pd.testing.assert_frame_equal(curves, again_curves)
    assert not frames(1, 64)[1]["unchanged"].equals(curves["unchanged"])
    assert {"auc_low", "auc_high", "auc_half_width", "prunable_low", "prunable_high", "ablation_examples"} <= set(
        layers
    )
    assert layers["similarity"].notna().all() and "<all layers>" in set(curves["layer"])
    assert "auc_low" not in measure(model, data, device="cpu").frame("layers")  # the paper's estimator stays


class Wrapped(nn.Module):
    """The tiny model as ``net``; ``branch``: behind a test of a value, which
    torch.fx cannot trace, so that it is measured with hooks."""

    def __init__(self, branch: bool) -> None:
        super().__init__()
        self.net, self.branch = tiny(), branch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x) if not self.branch or x.sum() > -1e9 else -self.net(x)


def test_hooks_and_graph_splits_give_the_same_tallies() -> None:
    """Same seed, same masks: a model measured with forward hooks (whole re-runs, examples
    captured alone) counts exactly what the traced one does (re-runs after the layer, narrowed captures)."""
    data = draw(90, seed=4)
    traced = ablation_curve(Wrapped(branch=False), data, "net.1", estimator="sampled", device="cpu")
    with pytest.warns(RuntimeWarning, match="cannot trace"):
        hooked = ablation_curve(Wrapped(branch=True), data, "net.1", estimator="sampled", device="cpu", batch_size=32)
    assert isinstance(traced, SampledCurve) and isinstance(hooked, SampledCurve)
    assert np.array_equal(traced.curves, hooked.curves) and traced.auc_interval == hooked.auc_interval


def test_a_layer_whose_outgoing_weights_are_zero_is_removable_with_certainty() -> None:
    model = tiny()
    with torch.no_grad():
        model[2].weight.zero_()
        model[2].bias.copy_(torch.tensor([0.0, 1.0, 0.0]))
    estimate = ablation_curve(model, draw(200, seed=2), "1", estimator="sampled", device="cpu")
    assert isinstance(estimate, SampledCurve)
    assert estimate.auc == 1.0 and estimate.auc_interval[1] == 1.0
    assert estimate.prunable() == 4 and estimate.prunable_interval == (4.0, 4.0)
    # 200 examples that all survive: the interval is not of width zero but the rule of three's, about 2.7 / n.
    assert 0.005 < estimate.half_width < 0.02


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"estimator": "exact"}, "estimator must be one of \\['paper', 'sampled'\\], got 'exact'"),
        ({"estimator": "sampled", "precision": 0}, "precision must be a number in \\(0, 0.5\\]"),
        ({"estimator": "sampled", "precision": 0.7}, "precision must be a number in \\(0, 0.5\\]"),
        ({"precision": 0.01}, "precision needs estimator='sampled'"),
    ],
)
def test_bad_estimator_options_are_refused(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        measure(tiny(), draw(10, seed=0), **options)  # type: ignore[arg-type]


def test_analyze_with_the_sampled_estimator(tmp_path: Path) -> None:
    out = tmp_path / "out"
    model = f"{factory_file(tmp_path)}:build"
    args = ["--data", "random:10", "--examples", "80", "--out", str(out), "--levels", "3", "--device", "cpu"]
    code, output = analyze_cli(model, *args, "--estimator", "sampled", "--precision", "0.2")
    assert code == 0, output
    table = pd.read_csv(out / "layers.csv")
    assert {"auc_low", "auc_high", "prunable_low", "prunable_high"} <= set(table)
    assert (table["auc_low"] <= table["auc"]).all() and (table["auc"] <= table["auc_high"]).all()
    assert (table["auc_half_width"] <= 0.2).all()
    report = (out / "report.html").read_text()
    assert "95% confidence interval" in report and "sampled" in report
    assert "[" in output  # the terminal table shows the intervals


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--estimator", "exact"], "error: --estimator must be one of paper, sampled, got 'exact'"),
        (["--estimator", "sampled", "--precision", "0"], "error: --precision must lie in (0, 0.5]"),
        (["--precision", "0.01"], "error: --precision needs --estimator sampled"),
    ],
)
def test_analyze_refuses_bad_estimator_options_in_one_line(tmp_path: Path, flags: list[str], message: str) -> None:
    line = one_line_error(f"{factory_file(tmp_path)}:build", "--data", "random:10", *flags)
    assert line.startswith(message)


def test_the_sampled_estimator_says_its_cost_first_and_runs_in_the_number_format_asked_for() -> None:
    """One cost for the whole measurement, before the work (analyze prints
    it), counting one nested mask per removing level; and every pass, the
    ablated ones too, runs in the format asked for (the layer after the
    probe only ever reads bfloat16), on a cast copy: the model keeps float32."""
    costs = []
    inputs = points().repeat(5, 1)
    result = measure(tiny(), inputs, ["1"], levels=LEVELS, estimator="sampled", on_cost=costs.append, progress=False)
    assert len(costs) == 1
    assert costs[0].masks == len(LEVELS) - 1 and costs[0].examples == len(inputs)
    assert result.layers["1"].ablation.examples == len(inputs)

    model, read = tiny(), []
    model[2].register_forward_pre_hook(lambda module, args: read.append(args[0].dtype))
    measure(model, inputs, ["1"], levels=LEVELS, estimator="sampled", dtype="bfloat16", progress=False)
    assert len(read) > len(inputs) and set(read) == {torch.bfloat16}
    assert model[2].weight.dtype == torch.float32
