"""Batched training: every member ends as its run trained alone would."""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file
from typer.testing import CliRunner

from conftest import TINY_SWEEP, same_tables
from frivolous.cli import app
from frivolous.common.files import read_json
from frivolous.data.bundle import DataBundle
from frivolous.experiments.batching import BatchRuns, batch_key, plan, train_together
from frivolous.experiments.run import Checkpoints, measure_run, train_run
from frivolous.experiments.sweep import SweepSpec
from frivolous.results.results_table import load_results
from frivolous.runs.folder import build_model, load_data
from frivolous.runs.layout import RunLayout
from frivolous.runs.spec import RunSpec, TrainSpec
from frivolous.sweeping import run_sweep
from frivolous.train import Trainer
from frivolous.train.batched import BATCH_RUNS, BatchedTrainer, Member, Stream
from frivolous.train.optim import make_optimizer
from frivolous.train.stacked_optim import StackedOptimizer

TINY = {
    "model": {"family": "mlp", "init": "normal", "init_std": 0.1, "width_factor": 0.125},
    "data": {"name": "teacher", "input_dim": 6, "n_train": 70, "n_val": 30, "n_test": 30},
    "train": {"epochs": 3, "batch_size": 16, "lr": 0.05},
}
"""Tiny MLPs on teacher data: 70 examples (the last batch of an epoch is smaller), 16 hidden units."""


def spec(seed: int = 0, model: dict | None = None, train: dict | None = None, data: dict | None = None) -> RunSpec:
    return RunSpec.from_dict(
        {
            "model": TINY["model"] | (model or {}),
            "data": TINY["data"] | (data or {}),
            "train": TINY["train"] | (train or {}),
            "seed": seed,
        }
    )


@functools.cache
def _data(data: str, seed: int) -> DataBundle:
    return load_data(RunSpec.from_dict({"model": {"family": "mlp"}, "data": json.loads(data), "seed": seed}))


def data_of(run: RunSpec) -> DataBundle:
    """The run's data, made once per test session (MNIST-1D takes seconds)."""
    return _data(json.dumps(run.data.model_dump(mode="json"), sort_keys=True), run.seed)


def alone(run: RunSpec) -> tuple[torch.nn.Module, Trainer]:
    bundle = data_of(run)
    trainer = Trainer(
        build_model(run, bundle), bundle, run.train, seed=run.seed, device=torch.device("cpu"), progress=False
    )
    trainer.run()
    return trainer.model, trainer


def together(runs: list[RunSpec], **options) -> list[Member]:
    seeds = sorted({run.seed for run in runs})
    bundles = {seed: data_of(next(r for r in runs if r.seed == seed)) for seed in seeds}
    members = [Member(build_model(run, bundles[run.seed]), run.train, stream=seeds.index(run.seed)) for run in runs]
    streams = [Stream(seed, bundles[seed]) for seed in seeds]
    return BatchedTrainer(members, streams, device=torch.device("cpu"), progress=False, **options).run()


def same_history(got: list[dict], want: list[dict]) -> None:
    """The same epochs and keys; accuracies and lrs equal, losses to 1e-5
    (seconds aside); ``got``, from a batch, marks every epoch as batched."""
    assert all(record[BATCH_RUNS] >= 1 for record in got) and not any(BATCH_RUNS in record for record in want)
    got = [{k: v for k, v in record.items() if k != BATCH_RUNS} for record in got]
    assert [r.keys() for r in got] == [r.keys() for r in want]
    for mine, theirs in zip(got, want):
        for key, value in theirs.items():
            if key.endswith("loss"):
                assert mine[key] == pytest.approx(value, rel=1e-5, nan_ok=True), key
            elif key != "seconds":
                assert mine[key] == value, key


def same_weights(member: Member, single: torch.nn.Module) -> None:
    for (name, got), want in zip(member.model.state_dict().items(), single.state_dict().values()):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7, msg=lambda m, name=name: f"{name}: {m}")


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "nesterov", "adam", "rmsprop"])
def test_members_end_with_the_weights_of_their_runs_alone(optimizer: str) -> None:
    lr = {"adam": 0.01, "rmsprop": 0.003}.get(optimizer, 0.1)
    decayed = {"schedule": "exponential", "gamma": 0.8, "weight_decay": 0.01}
    runs = [
        spec(0, {"init_std": 0.1}, {"optimizer": optimizer, "lr": lr}),
        spec(0, {"init_std": 0.5}, {"optimizer": optimizer, "lr": lr} | decayed),
        spec(0, {"init_std": 0.5}, {"optimizer": optimizer, "lr": lr / 2}),
        spec(1, {"init_std": 0.1}, {"optimizer": optimizer, "lr": lr / 2} | decayed),
    ]
    members = together(runs)
    for run, member in zip(runs, members):
        single, trainer = alone(run)
        same_weights(member, single)
        assert [r["epoch"] for r in member.state.history] == [1, 2, 3]
        same_history(member.state.history, trainer.state.history)


def test_deeper_mlps_wider_inputs_and_a_lone_member() -> None:
    wide = {"input_dim": 40}  # the first layer's gradient as a direct product (see batched.NARROW)
    runs = [
        spec(0, {"hidden_layers": 2}, {"optimizer": "adam", "lr": 0.01}, wide),
        spec(0, {"hidden_layers": 2, "init_std": 0.3}, {"optimizer": "momentum"}, wide),
    ]
    for member, run in zip(together(runs), runs):
        same_weights(member, alone(run)[0])
    (member,) = together(runs[:1])
    same_weights(member, alone(runs[0])[0])


def test_a_diverging_member_leaves_the_others_alone() -> None:
    runs = [spec(0, train={"lr": 0.1}), spec(0, train={"lr": 1e12}), spec(0, train={"lr": 0.05, "optimizer": "sgd"})]
    members = together(runs)
    for run, member in zip(runs, members):
        single, trainer = alone(run)
        assert member.state.diverged == trainer.state.diverged == (run.train.lr > 1)
        same_history(member.state.history, trainer.state.history)
        if not member.state.diverged:
            same_weights(member, single)
    diverged = members[1].state.history[-1]
    assert not torch.isfinite(torch.tensor(diverged["loss"])) and "val_accuracy" not in diverged


def test_early_stopping_stops_each_member_at_its_own_epoch() -> None:
    stop = {"early_stopping": True, "epochs": 8, "lr": 0.2}
    runs = [
        spec(0, train=stop | {"patience": 1}),
        spec(0, train=stop | {"patience": 3}),
        spec(0, train=stop | {"stop_at": 0.6}),
        spec(1, train=stop | {"monitor": "train_accuracy", "patience": 2}),
    ]
    members = together(runs)
    for run, member in zip(runs, members):
        single, trainer = alone(run)
        assert (member.state.epoch, member.state.best_epoch, member.state.stopped_early) == (
            trainer.state.epoch,
            trainer.state.best_epoch,
            trainer.state.stopped_early,
        )
        same_history(member.state.history, trainer.state.history)
        same_weights(member, single)
    assert len({member.state.epoch for member in members}) > 1


def test_a_killed_batch_resumes_to_the_same_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runs = [
        spec(seed, train={"lr": lr, "epochs": 6, "checkpoints": [2], "optimizer": "adam"})
        for seed in (0, 1)
        for lr in (0.01, 0.003)
    ]
    train_together(runs, tmp_path / "whole", device="cpu", progress=False, save_every=math.inf)
    original = BatchedTrainer._epoch

    def killed_in_epoch_4(trainer: BatchedTrainer, epoch: int) -> None:
        original(trainer, epoch)
        if epoch == 4:
            raise KeyboardInterrupt

    monkeypatch.setattr(BatchedTrainer, "_epoch", killed_in_epoch_4)
    for folder in ("killed", "killed-then-alone"):
        with pytest.raises(KeyboardInterrupt):
            train_together(runs, tmp_path / folder, device="cpu", progress=False, save_every=math.inf)
    monkeypatch.undo()
    layouts = {folder: [RunLayout.of(run, tmp_path / folder) for run in runs] for folder in ("whole", "killed")}
    assert {read_json(layout.last_state)["epoch"] for layout in layouts["killed"]} == {2}  # the last save point

    assert all(not o.skipped for o in train_together(runs, tmp_path / "killed", device="cpu", progress=False))
    members = sorted(layout.root.name for layout in layouts["killed"])
    for whole, resumed in zip(layouts["whole"], layouts["killed"]):
        want, got = load_file(str(whole.weights)), load_file(str(resumed.weights))
        assert all(torch.equal(got[name], want[name]) for name in want)  # replayed exactly
        assert [r["epoch"] for r in read_json(resumed.history)] == list(range(1, 7))
        status = read_json(resumed.status)
        assert (status["training"], status["batch_runs"], status["batched_epochs"]) == ("batched", 4, 6)
        assert status["batch_members"] == members

    outcome = train_run(runs[0], tmp_path / "killed-then-alone", device="cpu", progress=False)  # the single trainer
    want, got = load_file(str(layouts["whole"][0].weights)), load_file(str(outcome.layout.weights))
    for name in want:
        torch.testing.assert_close(got[name], want[name], rtol=1e-5, atol=1e-7)
    # Two epochs in the batch, four alone: the status says so.
    assert {k: outcome.status[k] for k in ("training", "batch_runs", "batched_epochs", "batch_members")} == {
        "training": "mixed",
        "batch_runs": 4,
        "batched_epochs": 2,
        "batch_members": [],
    }


def test_members_saved_at_different_epochs_join_as_the_batch_reaches_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = [spec(seed, train={"lr": lr, "epochs": 5}) for seed in (0, 1) for lr in (0.1, 0.03)]
    original, saved = Checkpoints.on_epoch_end, []

    def killed_while_saving_epoch_3(self: Checkpoints, trainer: Member) -> None:
        original(self, trainer)
        saved.append(trainer.state.epoch)
        if saved.count(3) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(Checkpoints, "on_epoch_end", killed_while_saving_epoch_3)
    with pytest.raises(KeyboardInterrupt):
        train_together(runs, tmp_path, device="cpu", progress=False, save_every=0)
    monkeypatch.undo()
    layouts = [RunLayout.of(run, tmp_path) for run in runs]
    assert sorted(read_json(layout.last_state)["epoch"] for layout in layouts) == [2, 2, 3, 3]
    train_together(runs, tmp_path, device="cpu", progress=False)
    for run, layout in zip(runs, layouts):
        single = alone(run)[0].state_dict()
        got = load_file(str(layout.weights))
        for name in single:
            torch.testing.assert_close(got[name], single[name], rtol=1e-5, atol=1e-7)


def test_a_sweep_gives_the_same_tables_with_and_without_batches(tmp_path: Path) -> None:
    values = {
        **TINY_SWEEP,
        "grid": {**TINY_SWEEP["grid"], "train.lr": [0.2, 1e9]},
        "select": {"over": ["train.lr"], "by": "val_accuracy"},
    }
    sweep = SweepSpec.from_dict(values)
    for setting in ("off", "auto"):
        summary = run_sweep(sweep, tmp_path / setting, batch_runs=setting, progress=False)
        assert (summary.done, summary.failed, summary.diverged) == (4, 0, 4)
    same_tables(tmp_path / "off", tmp_path / "auto")
    best = [load_results(tmp_path / s).query("kept")["run_id"].tolist() for s in ("off", "auto")]
    assert best[0] == best[1] and len(best[0]) == 4
    # Each record says how its run was trained, the diverged ones too: alone, or with which runs.
    alone, together_ = (load_results(tmp_path / s).set_index("run_id") for s in ("off", "auto"))
    assert (alone["training"] == "single").all() and (alone["batch_runs"] == 1).all()
    assert (alone["batched_epochs"] == 0).all() and all(len(m) == 0 for m in alone["batch_members"])
    assert (together_["training"] == "batched").all() and (together_["batched_epochs"] == together_["epochs"]).all()
    for _, runs in together_.groupby("width_factor"):  # one batch per network shape: both seeds, both lrs
        assert len(runs) == 4 and (runs["batch_runs"] == 4).all()
        assert all(list(members) == sorted(runs.index) for members in runs["batch_members"])
    for run_id in together_.index:
        assert read_json(tmp_path / "auto" / "runs" / run_id / "record.json")["training"] == "batched"


def test_batched_and_separate_training_agree_to_1e5_where_training_is_not_chaotic(tmp_path: Path) -> None:
    """SGD from a small initialisation with a moderate learning rate: rounding differences do not grow."""
    calm = {"lr": 0.05, "epochs": 5}
    runs = [
        spec(
            seed,
            {"width_factor": 0.5, "init_std": 0.01},
            calm | {"optimizer": optimizer},
            {"n_train": 200, "input_dim": 10},
        )
        for seed in (0, 1)
        for optimizer in ("sgd", "momentum")
    ]
    runs = [RunSpec.from_dict({**run.to_dict(), "measure": {"samplings": 1, "levels": 3}}) for run in runs]
    batched = train_together(runs, tmp_path / "batched", device="cpu", progress=False)
    assert len(batched) == 4 and all(o.status["training"] == "batched" for o in batched)
    by_folder = {outcome.layout.root: outcome for outcome in batched}
    for run in runs:
        outcome = by_folder[RunLayout.of(run, tmp_path / "batched").root]
        alone_ = train_run(run, tmp_path / "alone", device="cpu", progress=False)
        assert alone_.status["training"] == "single" and alone_.status["batch_members"] == []
        got, want = load_file(str(outcome.layout.weights)), load_file(str(alone_.layout.weights))
        for name in want:
            torch.testing.assert_close(got[name], want[name], rtol=1e-5, atol=1e-7)
        for split in ("train", "val", "test"):
            assert outcome.status[f"{split}_accuracy"] == pytest.approx(alone_.status[f"{split}_accuracy"], abs=1e-5)
        measured = [measure_run(o.layout.root, device="cpu", progress=False) for o in (outcome, alone_)]
        assert measured[0].auc == pytest.approx(measured[1].auc, abs=1e-5)
        assert measured[0].similarity == pytest.approx(measured[1].similarity, abs=1e-5)


def test_which_runs_batch_together() -> None:
    same = [
        spec(seed, {"init_std": std}, {"lr": lr, "optimizer": opt})
        for seed in (0, 1)
        for std in (0.1, 1.0)
        for lr in (0.1, 0.01)
        for opt in ("sgd", "adam")
    ]
    alone_ = [
        spec(0, {"width_factor": 0.25}),
        spec(0, train={"batch_size": 32}),
        spec(0, train={"precision": "bf16"}),
        RunSpec.from_dict({**TINY, "model": {"family": "alexnet"}, "data": {"name": "cifar10"}}),
    ]
    assert len({batch_key(s) for s in same}) == 1 and batch_key(alone_[-1]) is None and batch_key(alone_[2]) is None
    batches = plan(same + alone_, BatchRuns.parse("auto"))
    assert [len(b) for b in batches] == [16]
    assert [b[0].seed for b in batches] == [0] and {s.seed for s in batches[0]} == {0, 1}
    assert sorted(len(b) for b in plan(same, BatchRuns.parse("5"))) == [4, 4, 4, 4]
    assert sorted(len(b) for b in plan(same, BatchRuns.parse("auto"), parallel=3)) == [4, 4, 8]
    assert plan(same, BatchRuns.parse("off")) == plan(same, BatchRuns.parse(1)) == []
    for bad in ("0", "fast", "-2"):
        with pytest.raises(ValueError, match="auto, off or a positive number"):
            BatchRuns.parse(bad)


def test_batch_runs_option(tmp_path: Path) -> None:
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(TINY_SWEEP))
    bad = CliRunner().invoke(
        app, ["sweep", str(tmp_path / "sweep.yaml"), "--out", str(tmp_path / "out"), "--batch-runs", "fast"]
    )
    assert bad.exit_code == 2 and "--batch-runs must be auto, off or a positive number" in bad.output
    cluster = CliRunner().invoke(
        app,
        [
            "sweep",
            str(tmp_path / "sweep.yaml"),
            "--out",
            str(tmp_path / "out"),
            "--executor",
            "ray",
            "--batch-runs",
            "4",
        ],
    )
    assert cluster.exit_code == 2 and "needs the local executor" in cluster.output
    assert not (tmp_path / "out" / "runs").exists()


STEPPERS = [
    ("sgd", {}),
    ("sgd", {"weight_decay": 0.1}),
    ("momentum", {}),
    ("momentum", {"weight_decay": 0.1}),
    ("nesterov", {"momentum": 0.5}),
    ("adam", {}),
    ("adam", {"weight_decay": 0.1, "eps": 1e-3}),
    ("rmsprop", {}),
    ("rmsprop", {"momentum": 0.0, "alpha": 0.5}),
]


@pytest.mark.parametrize(("optimizer", "settings"), STEPPERS)
def test_a_stacked_step_is_each_runs_torch_step(optimizer: str, settings: dict) -> None:
    shapes, runs, generator = [(5, 3), (5,)], 4, torch.Generator().manual_seed(0)
    start = [torch.randn(runs, *shape, generator=generator) for shape in shapes]
    grads = [[torch.randn(runs, *shape, generator=generator) for shape in shapes] for _ in range(12)]
    for lrs in ([0.1] * runs, [0.1, 0.01, 0.1, 0.3]):  # shared, then per run
        train = TrainSpec(optimizer=optimizer, **settings)
        alone_ = [[start_[i].clone().requires_grad_() for start_ in start] for i in range(runs)]
        optimizers = [make_optimizer(tensors, train) for tensors in alone_]
        stacked = StackedOptimizer([tensor.clone() for tensor in start], optimizers)
        stacked.set_lr(lrs)
        for step in grads:
            stacked.step(step)
            for i, (tensors, own) in enumerate(zip(alone_, optimizers)):
                for tensor, grad in zip(tensors, step):
                    tensor.grad = grad[i].clone()
                own.step()
        for k in range(len(shapes)):
            want = torch.stack([tensors[k].detach() for tensors in alone_])
            if len(set(lrs)) == 1:
                assert torch.equal(stacked.tensors[k], want)  # PyTorch's arithmetic, to the last bit
            else:
                torch.testing.assert_close(stacked.tensors[k], want, rtol=1e-6, atol=1e-7)
            for key, value in optimizers[0].state[alone_[0][k]].items():
                assert stacked.state[k][key].shape == (value.shape if value.ndim == 0 else (runs, *value.shape))


def test_cnn1d_members_end_with_the_weights_of_their_runs_alone() -> None:
    def cnn(seed: int, init: str, train: dict) -> RunSpec:
        return RunSpec.from_dict(
            {
                "model": {"family": "cnn1d", "width_factor": 0.25, "init": init},
                "data": {"name": "mnist1d", "num_samples": 300},
                "train": {"batch_size": 50, "epochs": 2} | train,
                "seed": seed,
            }
        )

    adam = {"optimizer": "adam", "lr": 0.003}
    runs = [
        cnn(0, "he_normal", adam),
        cnn(1, "he_normal", adam),
        cnn(0, "glorot_uniform", {"optimizer": "momentum", "lr": 0.05, "early_stopping": True, "patience": 1}),
    ]
    for run, member in zip(runs, together(runs)):
        single, trainer = alone(run)
        same_history(member.state.history, trainer.state.history)
        same_weights(member, single)
