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

from frivolous.cli import app
from frivolous.experiments.executors import Processes
from frivolous.experiments.layout import RunLayout
from frivolous.experiments.presets import PRESETS, SCALES
from frivolous.experiments.runner import run_sweep
from frivolous.experiments.spec import SpecError
from frivolous.experiments.sweep import SweepSpec
from frivolous.results.table import load_results

from conftest import TINY_SWEEP, same_tables



def tiny(**changes) -> SweepSpec:
    return SweepSpec.from_dict({**TINY_SWEEP, **changes})


def test_tiny_sweep_end_to_end(tmp_path: Path) -> None:
    summary = run_sweep(tiny(), tmp_path, device="cpu", progress=False)
    assert (summary.total, summary.done, summary.failed) == (4, 4, 0)
    runs = load_results(tmp_path)
    for column in ("run_id", "preset", "family", "width_factor", "replicate", "params", "train_accuracy",
                   "test_accuracy", "auc", "auc_std", "similarity", "similarity_std", "status", "auc_init",
                   "similarity_init", "similarity_fraction", "similarity_fraction_init", "model.width_factor",
                   "collapsed", "kept"):  # fmt: skip
        assert column in runs, column
    assert sorted(runs["width_factor"]) == [0.25, 0.25, 0.5, 0.5] and set(runs["replicate"]) == {0, 1}
    assert runs["run_id"].is_unique and (runs["status"] == "done").all() and runs["kept"].all()
    assert runs["params"].tolist()[0] < runs["params"].tolist()[-1]
    layers = load_results(tmp_path, "layers")
    assert set(layers["stage"]) == {"trained", "init"} and set(layers["run_id"]) == set(runs["run_id"])
    assert not load_results(tmp_path, "curves").empty and not load_results(tmp_path, "histograms").empty


def test_finished_runs_are_skipped(tmp_path: Path) -> None:
    run_sweep(tiny(), tmp_path, device="cpu", progress=False)
    records = sorted(tmp_path.glob("runs/*/record.json"))
    stamps = [p.stat().st_mtime_ns for p in records]
    again = run_sweep(tiny(), tmp_path, device="cpu", progress=False)
    assert again.skipped == 4 and [p.stat().st_mtime_ns for p in records] == stamps


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
    sweep = tiny(grid={"model.width_factor": [0.25], "train.lr": [0.0001, 0.05]},
                 select={"over": ["train.lr"], "by": "val_accuracy"})  # fmt: skip
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
    values = {**TINY_SWEEP, "grid": {"model.width_factor": [0.25, 0.5, 1]}, "train": {**TINY_SWEEP["train"], "epochs": 6}}
    spec_path = tmp_path / "sweep.yaml"
    spec_path.write_text(yaml.safe_dump(values))
    run_sweep(SweepSpec.from_dict(values), tmp_path / "whole", device="cpu", progress=False)
    command = [sys.executable, "-m", "frivolous", "sweep", str(spec_path), "--out", str(tmp_path / "killed"),
               "--device", "cpu"]  # fmt: skip
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
        ({"grid": {"model.width_factor": [1]}, "variants": {"a": {"model.width_factor": 2}}}, "both in the grid"),
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
