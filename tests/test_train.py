"""Training: schedules, optimisers, early stopping, checkpoints, runs that
resume exactly after a kill, and the train/measure commands."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file
from typer.testing import CliRunner

from frivolous import data, zoo
from frivolous.cli import app
from frivolous.experiments.run import measure_run, train_run
from frivolous.runs.layout import RunLayout
from frivolous.runs.spec import RunSpec, TrainSpec
from frivolous.train import Trainer, learning_rate, make_optimizer
from frivolous.train.checkpoint import load_training_state, save_training_state
from frivolous.train.loop import evaluate
from frivolous.train.penalty import L2Penalty
from frivolous.train.stopping import EarlyStopping

TINY = {
    "model": {"family": "mlp", "width_factor": 0.25},
    "data": {"name": "teacher", "input_dim": 10, "n_train": 200, "n_val": 100, "n_test": 100},
    "train": {"lr": 0.05, "batch_size": 32, "epochs": 3},
    "measure": {"samplings": 1, "levels": 3},
}


def tiny(**train) -> RunSpec:
    return RunSpec.from_dict({**TINY, "train": {**TINY["train"], **train}})


def test_schedules() -> None:
    exponential = TrainSpec(lr=0.01, schedule="exponential", gamma=0.95)
    assert learning_rate(exponential, 1) == pytest.approx(0.01)
    assert learning_rate(exponential, 3) == pytest.approx(0.01 * 0.95**2)
    every = TrainSpec(lr=1.0, schedule="exponential", gamma=0.96, every=8)
    assert [learning_rate(every, e) for e in (1, 8, 9, 17)] == pytest.approx([1, 1, 0.96, 0.96**2])
    step = TrainSpec(lr=1.0, schedule="step", milestones=(91, 136), gamma=0.1, epochs=182)
    assert [learning_rate(step, e) for e in (1, 91, 92, 136, 137)] == pytest.approx([1, 1, 0.1, 0.1, 0.01])
    assert learning_rate(TrainSpec(lr=0.01, k=4), 5) == pytest.approx(0.04)


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "nesterov", "adam", "rmsprop"])
def test_two_epochs_lower_the_loss(optimizer: str) -> None:
    bundle = data.load("teacher", n_train=500, n_val=0, n_test=100, seed=1)
    model = zoo.create("mlp", 0.5, in_features=10, seed=1)
    lr = {"sgd": 0.5, "momentum": 0.05, "nesterov": 0.05, "adam": 0.01, "rmsprop": 0.005}[optimizer]
    spec = TrainSpec(optimizer=optimizer, lr=lr, batch_size=50, epochs=2)
    state = Trainer(model, bundle, spec, seed=0, device=torch.device("cpu"), progress=False).run()
    first, last = state.history[0]["loss"], state.history[-1]["loss"]
    assert last < first


def test_optimizer_state_round_trip(tmp_path: Path) -> None:
    model = zoo.create("mlp", 0.25, in_features=10)
    for name in ("momentum", "adam"):
        optimizer = make_optimizer(model, TrainSpec(optimizer=name))
        model(torch.randn(8, 10)).sum().backward()
        optimizer.step()
        save_training_state(model, optimizer, tmp_path / "s.json", {"epoch": 1})
        other_model = zoo.create("mlp", 0.25, in_features=10, seed=5)
        other = make_optimizer(other_model, TrainSpec(optimizer=name))
        assert load_training_state(other_model, other, tmp_path / "s.json")["epoch"] == 1
        for a, b in zip(model.parameters(), other_model.parameters()):
            assert torch.equal(a, b)
        for a, b in zip(optimizer.state.values(), other.state.values()):
            assert a.keys() == b.keys()
            for key in a:
                assert torch.equal(torch.as_tensor(a[key]), torch.as_tensor(b[key]))


def test_early_stopping_restores_the_best_weights(tmp_path: Path) -> None:
    spec = tiny(epochs=12, early_stopping=True, lr=0.3, optimizer="sgd")
    outcome = train_run(spec, tmp_path, device="cpu", progress=False)
    layout = outcome.layout
    history = json.loads(layout.history.read_text())
    best = max(history, key=lambda r: r["val_accuracy"])
    assert outcome.status["best_epoch"] == best["epoch"]
    final, best_weights = load_file(str(layout.weights)), load_file(str(layout.best_weights))
    assert all(torch.equal(final[k], best_weights[k]) for k in final)
    assert outcome.status["val_accuracy"] == pytest.approx(best["val_accuracy"])


def test_patience_stops_early(tmp_path: Path) -> None:
    outcome = train_run(
        tiny(epochs=40, early_stopping=True, patience=2, lr=1e-6), tmp_path, device="cpu", progress=False
    )
    assert outcome.status["stopped_early"] and outcome.status["epochs"] < 40


def test_run_folder_contents_and_rerun_does_nothing(tmp_path: Path) -> None:
    spec = tiny(checkpoints=(0, 2))
    outcome = train_run(spec, tmp_path, device="cpu", progress=False)
    layout = outcome.layout
    assert layout.root.name.startswith("mlp-") and layout.root.parent == tmp_path
    for path in (
        layout.spec,
        layout.status,
        layout.weights,
        layout.history,
        layout.epoch_weights(0),
        layout.epoch_weights(2),
        layout.last_state,
    ):
        assert path.is_file(), path
    assert [p.name for p in layout.checkpoints.glob("last-*")] == ["last-3.safetensors"]  # older ones removed
    assert not layout.epoch_weights(1).exists()
    assert RunSpec.from_yaml(layout.spec) == spec
    status = json.loads(layout.status.read_text())
    assert status["state"] == "trained" and status["epochs"] == 3 and 0 <= status["test_accuracy"] <= 1
    assert status["params"] == 10 * 32 + 32 + 32 * 2 + 2
    stamp = layout.weights.stat().st_mtime_ns
    again = train_run(spec, tmp_path, device="cpu", progress=False)
    assert again.skipped and layout.weights.stat().st_mtime_ns == stamp


def test_same_spec_same_weights(tmp_path: Path) -> None:
    a = train_run(tiny(), tmp_path / "a", device="cpu", progress=False).layout.weights
    b = train_run(tiny(), tmp_path / "b", device="cpu", progress=False).layout.weights
    wa, wb = load_file(str(a)), load_file(str(b))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def _run_cli(spec_path: Path, out: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "frivolous", "train", str(spec_path), "--out", str(out), "--device", "cpu"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        text=True,
    )


def test_kill_and_resume_ends_with_the_uninterrupted_weights(tmp_path: Path) -> None:
    values = {
        **TINY,
        "data": {**TINY["data"], "n_train": 2000},
        "train": {
            **TINY["train"],
            "epochs": 30,
            "lr": 0.02,
            "batch_size": 16,
            "optimizer": "adam",
            "schedule": "exponential",
            "gamma": 0.9,
        },
    }
    values["model"] = {"family": "mlp", "width_factor": 1, "hidden_layers": 2}
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(values))
    spec = RunSpec.from_yaml(spec_path)

    reference = train_run(spec, tmp_path / "uninterrupted", device="cpu", progress=False).layout

    layout = RunLayout.of(spec, tmp_path / "killed")
    process = _run_cli(spec_path, tmp_path / "killed")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if layout.last_state.is_file() and json.loads(layout.last_state.read_text())["epoch"] >= 3:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_at = json.loads(layout.last_state.read_text())["epoch"]
    assert 3 <= killed_at < 30 and not layout.status.exists()

    process = _run_cli(spec_path, tmp_path / "killed")
    out, _ = process.communicate(timeout=300)
    assert process.returncode == 0 and out.strip().splitlines()[-1] == str(layout.root)
    resumed, expected = load_file(str(layout.weights)), load_file(str(reference.weights))
    assert all(torch.equal(resumed[k], expected[k]) for k in expected)
    history = json.loads(layout.history.read_text())
    assert [r["epoch"] for r in history] == list(range(1, 31))


def test_measure_command_writes_tables(tmp_path: Path) -> None:
    layout = train_run(tiny(), tmp_path, device="cpu", progress=False).layout
    result = CliRunner().invoke(app, ["measure", str(layout.root), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "hidden1" in result.output and "mean over layers" in result.output
    for kind in ("layers", "curves", "histograms"):
        assert layout.measure_table(kind).is_file()
    summary = json.loads(layout.measure_summary().read_text())
    assert 0 <= summary["auc"] <= 1 and summary["examples"] == 100
    again = measure_run(layout.root, device="cpu", progress=False)
    assert again.auc == summary["auc"]


def test_measure_needs_a_trained_run(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["measure", str(tmp_path)])
    assert result.exit_code == 2 and "not a run folder" in result.output


def test_train_command_prints_the_run_folder(tmp_path: Path) -> None:
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(TINY))
    result = CliRunner().invoke(app, ["train", str(spec_path), "--out", str(tmp_path / "r"), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(RunLayout.of(RunSpec.from_yaml(spec_path), tmp_path / "r").root)


def test_conv_families_train_and_measure_end_to_end(tmp_path: Path) -> None:
    """CIFAR-10 files in the real format (tiny), a ResNet56 with augmentation,
    and MNIST-1D with the 1-D CNN: one epoch each, then measured."""
    from test_data import VAL_SIZE, checksums, write_cifar, write_pickle

    root = write_cifar(tmp_path / "data", write_pickle)
    cifar = RunSpec.from_dict(
        {
            "model": {"family": "resnet56", "width_factor": 0.25, "init": "glorot_normal"},
            "data": {"name": "cifar10", "n_val": VAL_SIZE, "augment": True, "checksums": checksums(root)},
            "train": {"epochs": 1, "batch_size": 32, "weight_decay": 2e-4},
            "measure": {"samplings": 1, "levels": 3, "max_examples": 16, "max_samples": 500},
        }
    )
    mnist = RunSpec.from_dict(
        {
            "model": {"family": "cnn1d", "width_factor": 0.5},
            "data": {"name": "mnist1d", "num_samples": 400},
            "train": {"epochs": 1, "batch_size": 32, "optimizer": "adam", "lr": 0.003},
            "measure": {"samplings": 1, "levels": 3, "max_examples": 50},
        }
    )
    for spec, layers in ((cifar, ["stem", "stage1", "stage2", "stage3"]), (mnist, ["conv1", "conv2", "conv3"])):
        layout = train_run(spec, tmp_path / "runs", device="cpu", data_root=root, progress=False).layout
        result = measure_run(layout.root, device="cpu", data_root=root, progress=False)
        assert list(result.layers) == layers
        assert result.settings["mode"] == "graph"
        assert 0 <= result.auc <= 1


# ---------------------------------------------------------------- early stopping rules and the L2 term


def test_early_stopping_rule() -> None:
    rule = EarlyStopping.of(TrainSpec(early_stopping=True, patience=2, monitor="train_accuracy", stop_at=1.0))
    assert rule == EarlyStopping("train_eval_accuracy", patience=2, stop_at=1.0) and rule.needs_train_evaluation
    assert EarlyStopping.of(TrainSpec()) is None
    assert not EarlyStopping.of(TrainSpec(early_stopping=True)).needs_train_evaluation
    best, best_epoch, decisions = -math.inf, 0, []
    for epoch, value in enumerate([0.5, 0.7, 0.7, 0.6, 0.9, 1.0], start=1):  # ties are no improvement
        decision = rule.decide({"epoch": epoch, "train_eval_accuracy": value, "val_accuracy": 0.0}, best, best_epoch)
        decisions.append((decision.improved, decision.stop))
        if decision.improved:
            best, best_epoch = decision.value, epoch
    assert decisions == [(True, False), (True, False), (False, False), (False, True), (True, False), (True, True)]
    with pytest.raises(KeyError, match="monitors 'train_eval_accuracy', which the epoch record lacks"):
        rule.decide({"epoch": 1, "val_accuracy": 0.5}, best, best_epoch)


def _memorisable(val_seed: int) -> data.DataBundle:
    """64 random points with random labels (easily memorised), and a validation split with random labels too."""
    inputs = torch.randn(64, 10, generator=torch.Generator().manual_seed(0))
    labels = torch.randint(2, (64,), generator=torch.Generator().manual_seed(1))
    val_labels = torch.randint(2, (64,), generator=torch.Generator().manual_seed(val_seed))
    split, val = data.TensorSplit(inputs, labels), data.TensorSplit(inputs, val_labels)
    return data.DataBundle("memorise", split, split, val, 2, (10,))


def test_stopping_on_training_accuracy_stops_at_100_percent_whatever_the_validation_labels() -> None:
    spec = TrainSpec(
        optimizer="adam",
        lr=0.03,
        batch_size=16,
        epochs=300,
        early_stopping=True,
        monitor="train_accuracy",
        patience=25,
        stop_at=1.0,
    )
    runs = []
    for val_seed in (2, 3):
        model = zoo.create("mlp", 1, in_features=10, init="he_normal", seed=0)
        trainer = Trainer(model, _memorisable(val_seed), spec, seed=0, device=torch.device("cpu"), progress=False)
        runs.append((trainer.run(), trainer.model.state_dict()))
    (state, weights), (other, other_weights) = runs
    accuracies = [record["train_eval_accuracy"] for record in state.history]
    assert state.stopped_early and accuracies[-1] == 1.0 and max(accuracies[:-1]) < 1.0
    assert state.epoch == state.best_epoch < spec.epochs and state.best_accuracy == 1.0
    assert evaluate(model, _memorisable(2).train, torch.device("cpu")).accuracy == 1.0
    # the random validation labels changed the validation accuracies, and nothing else
    assert [r["val_accuracy"] for r in state.history] != [r["val_accuracy"] for r in other.history]
    assert (other.epoch, other.best_epoch) == (state.epoch, state.best_epoch)
    assert all(torch.equal(weights[k], other_weights[k]) for k in weights)


def test_stopping_on_training_accuracy_needs_no_validation_split() -> None:
    bundle = data.load("teacher", n_train=100, n_val=0, n_test=50, seed=0)
    spec = TrainSpec(epochs=2, early_stopping=True, monitor="train_accuracy")
    state = Trainer(
        zoo.create("mlp", 0.25, in_features=10), bundle, spec, seed=0, device=torch.device("cpu"), progress=False
    ).run()
    assert all("train_eval_accuracy" in record for record in state.history)
    with pytest.raises(ValueError, match="early stopping on val_accuracy needs a validation split"):
        Trainer(
            zoo.create("mlp", 0.25, in_features=10),
            bundle,
            TrainSpec(early_stopping=True),
            seed=0,
            device=torch.device("cpu"),
        )


def test_l2_term_is_half_the_squared_fc_weights_and_touches_nothing_else() -> None:
    model = zoo.create("alexnet", 0.25, init="glorot_normal", seed=3)
    penalty = L2Penalty(model, 0.001, ("fc1", "fc2"))
    fc1, fc2 = model.fc1.layer.weight, model.fc2.layer.weight
    expected = 0.001 * 0.5 * (fc1.double().square().sum() + fc2.double().square().sum())
    value = penalty()
    assert value.item() == pytest.approx(expected.item(), rel=1e-5)
    value.backward()
    for name, parameter in model.named_parameters():
        if name in ("fc1.layer.weight", "fc2.layer.weight"):
            torch.testing.assert_close(parameter.grad, 0.001 * parameter.detach())
        else:
            assert parameter.grad is None, name  # biases, convolutions and the output layer are not penalised
    assert len(L2Penalty(model, 1.0).weights) == 5  # every layer's weight, no bias
    with pytest.raises(
        ValueError,
        match=r"l2_layers names \['fc3'\], which AlexNet lacks; its modules: "
        r"\['conv1', 'pool1', 'norm1', 'conv2'",
    ):
        L2Penalty(model, 0.001, ("fc1", "fc3"))


def test_training_with_l2_adds_the_weight_decay_step_to_the_named_layer_only() -> None:
    bundle = data.load("teacher", n_train=100, n_val=0, n_test=50, seed=0)
    start = zoo.create("mlp", 0.25, in_features=10, hidden_layers=2, init="he_normal", seed=0)
    after = {}
    for l2 in (0.0, 0.5):
        model = zoo.create("mlp", 0.25, in_features=10, hidden_layers=2, init="he_normal", seed=0)
        spec = TrainSpec(optimizer="sgd", lr=0.1, batch_size=100, epochs=1, l2=l2, l2_layers=("hidden1",) if l2 else ())
        Trainer(model, bundle, spec, seed=0, device=torch.device("cpu"), progress=False).run()
        after[l2] = model.state_dict()
    for name, initial in start.state_dict().items():
        if name == "hidden1.linear.weight":  # one full-batch SGD step: w - lr (g + l2 w)
            torch.testing.assert_close(after[0.5][name] - after[0.0][name], -0.1 * 0.5 * initial)
        else:
            assert torch.equal(after[0.5][name], after[0.0][name]), name


def test_summary_layers_make_the_run_value_measured_on_max_examples(tmp_path: Path) -> None:
    measure = {**TINY["measure"], "summary_layers": ["hidden2"], "max_examples": 40}
    spec = RunSpec.from_dict({**TINY, "model": {**TINY["model"], "hidden_layers": 2}, "measure": measure})
    layout = train_run(spec, tmp_path, device="cpu", progress=False).layout
    result = measure_run(layout.root, device="cpu", progress=False)
    summary = json.loads(layout.measure_summary("trained").read_text())
    assert list(result.layers) == ["hidden1", "hidden2"] and result.auc != result.layers["hidden2"].auc
    assert summary["auc"] == result.layers["hidden2"].auc
    assert summary["similarity"] == result.layers["hidden2"].similarity
    assert summary["examples"] == 40 and sum(summary["predicted"].values()) == 40
    with pytest.raises(ValueError, match=r"layers \['hidden3'\] were not probed; probed: \['hidden1', 'hidden2'\]"):
        result.only(["hidden3"])
