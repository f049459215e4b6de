"""Sweeps: expansion, selection, skipping, failures, kills, worker processes, presets."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from conftest import TINY_SWEEP, same_tables
from frivolous.cli import app
from frivolous.experiments import runner
from frivolous.experiments.executors import Processes
from frivolous.experiments.presets import PRESETS, SCALES
from frivolous.experiments.run_pipeline import complete_run
from frivolous.experiments.sweep import SweepSpec
from frivolous.results.results_table import load_results
from frivolous.runs.layout import RunLayout
from frivolous.runs.spec import SpecError
from frivolous.sweeping import run_sweep


def tiny(**changes) -> SweepSpec:
    return SweepSpec.from_dict({**TINY_SWEEP, **changes})


def test_tiny_sweep_end_to_end(tmp_path: Path) -> None:
    summary = run_sweep(tiny(), tmp_path, device="cpu", progress=False)
    assert (summary.total, summary.done, summary.failed) == (4, 4, 0)
    runs = load_results(tmp_path)
    for column in (
        "run_id",
        "preset",
        "family",
        "width_factor",
        "replicate",
        "params",
        "train_accuracy",
        "test_accuracy",
        "auc",
        "auc_std",
        "similarity",
        "similarity_std",
        "status",
        "auc_init",
        "similarity_init",
        "similarity_fraction",
        "similarity_fraction_init",
        "model.width_factor",
        "collapsed",
        "kept",
    ):
        assert column in runs, column
    assert sorted(runs["width_factor"]) == [0.25, 0.25, 0.5, 0.5] and set(runs["replicate"]) == {0, 1}
    assert runs["run_id"].is_unique and (runs["status"] == "done").all() and runs["kept"].all()
    assert runs["params"].tolist()[0] < runs["params"].tolist()[-1]
    layers = load_results(tmp_path, "layers")
    assert set(layers["stage"]) == {"trained", "init"} and set(layers["run_id"]) == set(runs["run_id"])
    assert not load_results(tmp_path, "curves").empty and not load_results(tmp_path, "histograms").empty


def test_finished_runs_are_skipped(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run_sweep(tiny(), tmp_path, device="cpu", progress=False)
    records = sorted(tmp_path.glob("runs/*/record.json"))
    stamps = [p.stat().st_mtime_ns for p in records]
    capsys.readouterr()
    again = run_sweep(tiny(), tmp_path, device="cpu")  # stderr is no terminal here: progress as plain lines
    assert again.skipped == 4 and [p.stat().st_mtime_ns for p in records] == stamps
    log = capsys.readouterr().err
    finished = [line for line in log.splitlines() if line.startswith("runs: 100%") and "4/4" in line]
    assert "\r" not in log and len(finished) == 1, log


def test_runs_another_process_completed_are_counted_apart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two sweeps on one folder: each counts the runs it completed and those the other one did."""
    sweep = tiny()
    for planned in sweep.expand()[:2]:  # what a second sweep completes while this one is under way
        complete_run(planned.spec, tmp_path / "runs", device="cpu")
    monkeypatch.setattr(runner, "complete", lambda layout: False)  # this sweep planned them before they were done
    summary = run_sweep(sweep, tmp_path, device="cpu", progress=False)
    assert (summary.done, summary.skipped, summary.elsewhere) == (4, 0, 2)
    assert summary.line() == "4 runs: 4 done (2 here, 2 by another process, 0 already), 0 failed"
    monkeypatch.undo()
    assert run_sweep(sweep, tmp_path, device="cpu", progress=False).line() == "4 runs: 4 done (4 already), 0 failed"


def test_a_failing_run_does_not_stop_the_sweep(tmp_path: Path) -> None:
    spec_path = tmp_path / "sweep.yaml"
    # n_train=3 cannot hold a 40-60% label balance: the data source refuses it at run time
    spec_path.write_text(yaml.safe_dump({**TINY_SWEEP, "variants": {"fine": {}, "broken": {"data.n_train": 3}}}))
    result = CliRunner().invoke(app, ["sweep", str(spec_path), "--out", str(tmp_path / "out"), "--device", "cpu"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1].startswith("8 runs: 4 done (0 already), 4 failed")
    runs = load_results(tmp_path / "out")
    failed = runs[runs["status"] == "failed"]
    assert set(failed["variant"]) == {"broken"} and failed["error"].str.contains("n_train=3").all()
    assert (runs[runs["variant"] == "fine"]["status"] == "done").all()
    again = CliRunner().invoke(app, ["sweep", str(spec_path), "--out", str(tmp_path / "out"), "--device", "cpu"])
    assert "8 runs: 4 done (4 already), 4 failed" in again.output  # only the failed ones were retried


def test_selection_keeps_the_best_candidate(tmp_path: Path) -> None:
    sweep = tiny(
        grid={"model.width_factor": [0.25], "train.lr": [0.0001, 0.05]},
        select={"over": ["train.lr"], "by": "val_accuracy"},
    )
    run_sweep(sweep, tmp_path, device="cpu", progress=False)
    runs = load_results(tmp_path)
    assert len(runs) == 4 and runs["kept"].sum() == 2 and (runs["candidates"] == 2).all()
    for _, group in runs.groupby("group"):
        best = group.sort_values("val_accuracy", ascending=False, kind="stable").iloc[0]
        assert group.loc[group["kept"], "run_id"].item() == best["run_id"]
    assert "train.lr" in runs and runs["variant"].eq("").all()


def test_worker_processes_give_the_same_table(tmp_path: Path) -> None:
    run_sweep(tiny(), tmp_path / "serial", device="cpu", progress=False)
    run_sweep(tiny(), tmp_path / "parallel", executor=Processes(2), device="cpu", progress=False)
    same_tables(tmp_path / "serial", tmp_path / "parallel")


def test_kill_and_rerun_gives_the_same_table(tmp_path: Path) -> None:
    values = {
        **TINY_SWEEP,
        "grid": {"model.width_factor": [0.25, 0.5, 1]},
        "train": {**TINY_SWEEP["train"], "epochs": 6},
    }
    spec_path = tmp_path / "sweep.yaml"
    spec_path.write_text(yaml.safe_dump(values))
    run_sweep(SweepSpec.from_dict(values), tmp_path / "whole", device="cpu", progress=False)
    command = [
        sys.executable,
        "-m",
        "frivolous",
        "sweep",
        str(spec_path),
        "--out",
        str(tmp_path / "killed"),
        "--device",
        "cpu",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(tmp_path.glob("killed/runs/*/record.json"))) < 2:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished = len(list(tmp_path.glob("killed/runs/*/record.json")))
    assert 2 <= finished < 6
    assert subprocess.run(command, capture_output=True).returncode == 0
    same_tables(tmp_path / "whole", tmp_path / "killed")


@pytest.mark.parametrize("name", sorted(PRESETS))
@pytest.mark.parametrize("scale", SCALES)
def test_every_preset_expands_to_valid_runs(name: str, scale: str) -> None:
    preset = PRESETS[name]
    if preset.build is None:
        with pytest.raises(ValueError, match="trains nothing"):
            preset.sweep(scale)
        return
    sweep = preset.sweep(scale)
    runs = sweep.expand()
    names = {RunLayout.of(r.spec, "x").root.name for r in runs}
    assert len(names) == len(runs)  # no two runs share a folder
    widths = {r.spec.model.width_factor for r in runs}
    assert widths == ({0.25, 0.5, 1} if name == "inception" and scale == "paper" else set(widths)) and len(widths) >= 3
    assert {r.replicate for r in runs} == ({0, 1, 2} if scale == "paper" else {0, 1})
    assert "runs" in preset.estimate(scale)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"grid": {"width_factor": [1]}}, "is not a field path"),
        ({"grid": {"seed": [1, 2]}}, "replicates"),
        ({"grid": {"model.width_factor": []}}, "has no values"),
        ({"select": {"over": ["train.lr"]}}, "select.over names fields the grid does not vary"),
        ({"grid": {"model.width_factor": [1, -2]}}, r"(?s)run \(model.width_factor=-2\).*greater than 0"),
        ({"variants": {"bad": {"train.optimizer": "lion"}}}, r"(?s)run \(variant 'bad'.*train.optimizer"),
        ({"replicates": 0}, "replicates"),
        ({"sweeps": 3}, "unknown field"),
    ],
)
def test_bad_sweep_specs(changes: dict, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        tiny(**changes)


def test_null_removes_a_field() -> None:
    sweep = tiny(variants={"no init": {"model.init": None, "model.init_std": None}})
    assert sweep.expand()[0].spec.model.init == "default"


def test_a_variant_that_sets_a_grid_field_pins_it():
    sweep = SweepSpec.from_dict(
        {
            "model": {"family": "mlp"},
            "data": {"name": "teacher"},
            "grid": {"model.width_factor": [1, 2], "train.lr": [0.1, 0.01, 0.001]},
            "variants": {"momentum": {}, "adam": {"train.optimizer": "adam", "train.lr": 0.001}},
            "select": {"over": ["train.lr"]},
        }
    )
    runs = sweep.expand()
    adam = [r for r in runs if r.variant_name == "adam"]
    assert len([r for r in runs if r.variant_name == "momentum"]) == 6
    assert len(adam) == 2 and {r.spec.train.lr for r in adam} == {0.001}
    assert {r.spec.model.width_factor for r in adam} == {1, 2}
    assert len({r.group for r in adam}) == 2  # one candidate per group: nothing to select


def test_a_diverged_candidate_is_recorded_and_never_selected(tmp_path):
    """An lr that blows the loss up ends its run as "diverged" (no error, no
    retry) and the selection keeps the best healthy candidate."""
    from conftest import TINY_SWEEP
    from frivolous.results.results_table import load_results
    from frivolous.sweeping import run_sweep

    values = TINY_SWEEP | {
        "grid": {"model.width_factor": [0.25], "train.lr": [0.05, 1e30]},
        "replicates": 1,
        "select": {"over": ["train.lr"]},
    }
    summary = run_sweep(SweepSpec.from_dict(values), tmp_path, progress=False)
    assert summary.failed == 0
    runs = load_results(tmp_path).set_index("train.lr")
    assert runs.loc[1e30, "status"] == "diverged" and not runs.loc[1e30, "kept"]
    assert "training loss became" in runs.loc[1e30, "diverged_reason"]
    assert runs.loc[0.05, "status"] == "done" and runs.loc[0.05, "kept"]
    assert runs["healthy_candidates"].tolist() == [1, 1]
    again = run_sweep(SweepSpec.from_dict(values), tmp_path, progress=False)
    assert again.skipped == 2  # a diverged run is final: not trained again


def test_the_mlp_presets_are_the_released_experiments() -> None:
    """B4/B5/B11 as docs/fidelity.md states: truncated normal with a 10x output std, the released σ and lr
    grids, momentum 0.9, batch 128, lr x 0.95 per epoch, 50 epochs, Adam at its fixed lr 1e-3."""
    runs = PRESETS["mlp-teacher"].sweep("paper").expand()
    by_variant: dict[str, list] = {}
    for run in runs:
        by_variant.setdefault(run.variant_name, []).append(run.spec)
    sigmas = {1e-4, 1e-2, 1.0, 1e2, 1e4}
    for dim, prefix in ((10, "10-dim"), (10_000, "10k-dim")):
        specs = [s for name, group in by_variant.items() if name.startswith(prefix + ", σ") for s in group]
        assert {s.model.init_std for s in specs} == sigmas and {s.data.options["input_dim"] for s in specs} == {dim}
        assert len(specs) == 5 * 5 * 5 * 3  # σ x lr x width x replicate
    momentum = by_variant["10k-dim, σ=1e-2"]
    for spec in momentum:
        assert spec.model.init == "truncated_normal" and spec.model.output_init_std == 10 * spec.model.init_std
        train = spec.train
        assert (train.optimizer, train.momentum, train.batch_size, train.epochs) == ("momentum", 0.9, 128, 50)
        assert (train.schedule, train.gamma, train.every, train.weight_decay) == ("exponential", 0.95, 1, 0.0)
    assert {s.train.lr for s in momentum} == {1.0, 0.1, 0.01, 1e-3, 1e-4}
    assert {s.train.lr for s in by_variant["10k-dim, SGD"]} == {1.0, 0.1, 0.01, 1e-3, 1e-4}
    assert {s.train.optimizer for s in by_variant["10k-dim, SGD"]} == {"sgd"}
    adam = by_variant["10k-dim, Adam"]
    assert len(adam) == 5 * 3 and {(s.train.lr, s.train.schedule) for s in adam} == {(1e-3, "constant")}
    assert len(runs) == 375 + 375 + 75 + 15
    figures = {f.name: f for f in PRESETS["mlp-teacher"].paper_figures}
    assert list(figures) == ["B4", "B5", "B11"]
    assert figures["B11"].lines["momentum"] == "10k-dim, σ=1e-2"
    assert set(figures["B4"].lines.values()) | set(figures["B5"].lines.values()) | {
        "10k-dim, SGD",
        "10k-dim, Adam",
    } == set(by_variant)
