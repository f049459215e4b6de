"""Collapse flags: a network answering one class, one no better than the
majority class, one whose probed units are all dead, trained and at
initialisation; and the results table reading records written before them."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from torch import nn

import frivolous as fv
from conftest import TINY_SWEEP
from frivolous.common.files import read_json, write_json
from frivolous.experiments.run_pipeline import complete_run
from frivolous.experiments.sweep import SweepSpec
from frivolous.measuring.collapse import ALL_DEAD, AT_MAJORITY, ONE_CLASS, collapse_reason, majority_rate
from frivolous.results.results_table import collect
from frivolous.runs.layout import RunLayout
from frivolous.runs.spec import RunSpec
from frivolous.sweeping import run_sweep


def test_collapse_reasons() -> None:
    assert collapse_reason({0: 99, 1: 1}, False) == ONE_CLASS  # exactly 99%
    assert collapse_reason({3: 50}, False) == ONE_CLASS
    assert collapse_reason({0: 98, 1: 2}, False) == ""
    assert collapse_reason({0: 60, 1: 40}, False, train_accuracy=0.55, majority_rate=0.55) == AT_MAJORITY
    assert collapse_reason({0: 60, 1: 40}, False, train_accuracy=0.56, majority_rate=0.55) == ""
    assert collapse_reason({0: 60, 1: 40}, False, train_accuracy=0.5) == ""  # no rate: the criterion does not apply
    assert collapse_reason({0: 60, 1: 40}, True) == ALL_DEAD
    assert collapse_reason({1: 100}, True, train_accuracy=0.1, majority_rate=0.1) == "; ".join(
        [ONE_CLASS, AT_MAJORITY, ALL_DEAD]
    )
    assert majority_rate(torch.tensor([2, 2, 0, 2, 1])) == pytest.approx(0.6)
    with pytest.raises(ValueError, match="undefined"):
        majority_rate(torch.tensor([], dtype=torch.long))


def _network(hidden_bias: float = 0.0, out_bias: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(
        OrderedDict(hidden=nn.Sequential(OrderedDict(linear=nn.Linear(10, 16), relu=nn.ReLU())), out=nn.Linear(16, 3))
    )
    with torch.no_grad():
        net.hidden.linear.bias.fill_(hidden_bias)
        net.out.bias.copy_(torch.tensor(out_bias))
    return net


def _measure(net: nn.Module, inputs: torch.Tensor) -> fv.MeasureResult:
    return fv.measure(net, inputs, ["hidden"], samplings=1, levels=3, max_samples=500, progress=False)


def test_a_network_predicting_one_class_is_collapsed(inputs: torch.Tensor) -> None:
    healthy = _measure(_network(), inputs)
    assert len(healthy.predicted) > 1 and not healthy.collapsed and healthy.collapse_reason == ""
    one_class = _measure(_network(out_bias=(0.0, 100.0, 0.0)), inputs)
    assert one_class.predicted == {1: len(inputs)}
    assert one_class.collapsed and one_class.collapse_reason == ONE_CLASS and not one_class.all_dead


def test_a_network_whose_probed_units_are_all_dead_is_collapsed(inputs: torch.Tensor) -> None:
    dead = _measure(_network(hidden_bias=-100.0, out_bias=(0.0, 0.0, 0.0)), inputs)
    assert dead.layers["hidden"].dead == 16 and dead.all_dead
    assert ALL_DEAD in dead.collapse_reason and dead.collapsed  # all dead: constant logits, one class too


def test_a_run_records_the_flags_of_the_trained_and_the_initial_network(tmp_path: Path) -> None:
    # weights of std 1e-45 give logits of exactly 0: one class everywhere, at initialisation and after a step
    # of lr 1e-9, and so a training accuracy equal to that class's share, never above the majority rate
    spec = RunSpec.from_dict(
        {
            "model": {"family": "mlp", "width_factor": 0.25, "init": "normal", "init_std": 1e-45},
            "data": {"name": "teacher", "input_dim": 10, "n_train": 100, "n_val": 40, "n_test": 60},
            "train": {"epochs": 1, "batch_size": 100, "lr": 1e-9},
            "measure": {"samplings": 1, "levels": 3},
        }
    )
    record = complete_run(spec, tmp_path, device="cpu")
    labels = fv.data.load("teacher", seed=0, input_dim=10, n_train=100, n_val=40, n_test=60).train.labels
    assert record["majority_rate"] == pytest.approx(torch.bincount(labels).max().item() / 100)
    assert record["train_accuracy"] <= record["majority_rate"] and record["predicted_classes"] == 1
    assert record["collapsed"] and record["collapse_reason"].startswith(f"{ONE_CLASS}; {AT_MAJORITY}")
    assert record["collapsed_init"] is True


def test_the_table_reads_records_written_before_the_flags(tmp_path: Path) -> None:
    sweep = SweepSpec.from_dict({**TINY_SWEEP, "grid": {"model.width_factor": [0.5]}, "replicates": 1})
    run_sweep(sweep, tmp_path, device="cpu", progress=False)
    layout = RunLayout.of(sweep.expand()[0].spec, tmp_path / "runs")
    record = read_json(layout.record)
    assert {"collapse_reason", "collapsed_init", "majority_rate"} <= set(record)
    write_json(layout.record, {k: v for k, v in record.items() if k not in ("collapse_reason", "collapsed_init")})
    runs = collect(sweep, tmp_path / "runs")["runs"]
    assert runs.loc[0, "collapse_reason"] == "" and not runs.loc[0, "collapsed_init"]
    assert list(runs.columns[:12]) == [
        "run_id",
        "preset",
        "variant",
        "family",
        "width_factor",
        "replicate",
        "seed",
        "status",
        "kept",
        "collapsed",
        "collapse_reason",
        "collapsed_init",
    ]
