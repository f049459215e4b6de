"""Beyond one machine: Ray and Slurm (submitit) executors, and DDP training."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from safetensors.torch import load_file

from conftest import TINY_SWEEP, same_tables
from frivolous.common.files import read_json
from frivolous.experiments.executors import Task
from frivolous.experiments.run import train_run
from frivolous.experiments.sweep import SweepSpec
from frivolous.results.results_table import load_results
from frivolous.runs.layout import RunLayout
from frivolous.runs.spec import RunSpec
from frivolous.sweeping import run_sweep


@pytest.fixture(scope="module")
def in_process(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("in-process")
    run_sweep(SweepSpec.from_dict(TINY_SWEEP), folder, device="cpu", progress=False)
    return folder


# ---------------------------------------------------------------- Ray

ray = pytest.importorskip("ray", reason="pip install 'frivolous[ray]'")

from frivolous.experiments.ray_executor import RayExecutor  # noqa: E402


class DiesOnce(Task):
    """A task whose worker process is killed the first time it runs it."""

    def execute(self) -> dict:
        marker = Path(self.root).parent / "died"
        if not marker.exists():
            marker.write_text("killed once")
            os.kill(os.getpid(), signal.SIGKILL)
        return super().execute()


def test_ray_retries_a_killed_worker(tmp_path: Path) -> None:
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    spec = SweepSpec.from_dict({**TINY_SWEEP, "grid": {"model.width_factor": [0.25]}, "replicates": 1}).expand()[0].spec
    task = DiesOnce(spec.to_yaml(), str(tmp_path / "runs"), "cpu")
    (outcome,) = list(RayExecutor(local_cpus=2).map([task]))
    assert outcome["ok"], outcome
    assert (tmp_path / "died").read_text() == "killed once"
    assert RunLayout.of(spec, tmp_path / "runs").record.is_file()


def test_ray_gives_the_in_process_numbers_and_records_a_failing_run(in_process: Path, tmp_path: Path) -> None:
    """One Ray instance (its start is most of the cost) for both: the fine
    runs are the in-process sweep's runs, measured to the same numbers."""
    sweep = SweepSpec.from_dict({**TINY_SWEEP, "variants": {"fine": {}, "broken": {"data.n_train": 3}}})
    summary = run_sweep(sweep, tmp_path, executor=RayExecutor(local_cpus=2), device="cpu", progress=False)
    assert (summary.done, summary.failed) == (4, 4)
    runs = load_results(tmp_path)
    assert runs.loc[runs["status"] == "failed", "error"].str.contains("n_train=3").all()
    failure = read_json(next(tmp_path.glob("runs/*/failed.json")))
    assert "Traceback" in failure["traceback"]
    for kind, key in (("runs", ["run_id"]), ("layers", ["run_id", "stage", "layer"])):
        ours = load_results(tmp_path, kind).dropna(subset=["auc"]).set_index(key).sort_index()
        theirs = load_results(in_process, kind).set_index(key).sort_index()
        numbers = ["auc", "similarity", *(["test_accuracy", "params"] if kind == "runs" else [])]
        pd.testing.assert_frame_equal(ours[numbers], theirs[numbers], check_dtype=False)  # NaN rows made it float


DASHBOARD_PORT, LOOPBACK = 8265, "0100007F"  # 127.0.0.1 as /proc/net/tcp writes it


def listening(port: int) -> list[str]:
    """Local addresses listening on ``port`` (from /proc/net/tcp and tcp6)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.append(address)
    return found


def test_ray_dashboard_is_never_public(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAY_ADDRESS", "10.255.255.1:6379")  # must not be used without --address
    for dashboard in (False, True):
        executor = RayExecutor(local_cpus=1, dashboard=dashboard)
        with pytest.warns(RuntimeWarning, match="RAY_ADDRESS=10.255.255.1:6379 is ignored"):
            started = executor._start()
        try:
            addresses = listening(DASHBOARD_PORT)
            assert addresses == ([LOOPBACK] if dashboard else []), addresses
        finally:
            started.shutdown()


# ---------------------------------------------------------------- Slurm (submitit's local executor)


def test_submitit_local_executor_gives_the_in_process_table(in_process: Path, tmp_path: Path) -> None:
    pytest.importorskip("submitit")
    from frivolous.experiments.slurm_executor import SlurmExecutor

    executor = SlurmExecutor(tmp_path / "slurm", cluster="local", minutes=10)
    summary = run_sweep(SweepSpec.from_dict(TINY_SWEEP), tmp_path, executor=executor, device="cpu", progress=False)
    assert summary.done == 4
    same_tables(in_process, tmp_path)


def test_preempted_slurm_job_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    submitit = pytest.importorskip("submitit")
    from frivolous.experiments.slurm_executor import _job_class

    values = {
        **TINY_SWEEP,
        "train": {**TINY_SWEEP["train"], "epochs": 40, "batch_size": 5, "optimizer": "adam", "lr": 0.01},
    }
    spec = SweepSpec.from_dict({**values, "grid": {"model.width_factor": [1]}, "replicates": 1}).expand()[0].spec
    reference = train_run(spec, tmp_path / "reference", device="cpu", progress=False).layout
    layout = RunLayout.of(spec, tmp_path / "runs")
    executor = submitit.AutoExecutor(folder=str(tmp_path / "logs"), cluster="local")
    executor.update_parameters(timeout_min=10)
    job = executor.submit(_job_class(submitit)(), Task(spec.to_yaml(), str(tmp_path / "runs"), "cpu"))
    import time

    deadline = time.monotonic() + 600  # a bound on a hang only: a loaded machine starts the job slowly
    while not (layout.last_state.is_file() and read_json(layout.last_state)["epoch"] >= 3):
        assert time.monotonic() < deadline and not job.done(), "the job never reached epoch 3"
        time.sleep(0.05)
    job._interrupt()  # what Slurm's preemption signal does: checkpoint() and requeue
    outcome = job.result()
    assert outcome["ok"], outcome
    resumed, expected = load_file(str(layout.weights)), load_file(str(reference.weights))
    assert all(torch.equal(resumed[k], expected[k]) for k in expected)
    assert len(read_json(layout.history)) == 40


# ---------------------------------------------------------------- DDP


def test_two_processes_train_like_one(tmp_path: Path) -> None:
    values = {
        "model": {"family": "mlp", "width_factor": 0.5, "hidden_layers": 2},
        "data": {"name": "teacher", "input_dim": 10, "n_train": 200, "n_val": 40, "n_test": 40},
        "train": {
            "epochs": 3,
            "batch_size": 20,
            "lr": 0.05,
            "optimizer": "momentum",
            "early_stopping": True,
            "monitor": "train_accuracy",
            "l2": 0.01,
            "l2_layers": ["hidden1"],
        },
    }
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(values))
    spec = RunSpec.from_dict(values)
    one = train_run(spec, tmp_path / "one", device="cpu", progress=False)
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        "-m",
        "frivolous",
        "train",
        str(spec_path),
        "--out",
        str(tmp_path / "two"),
        "--device",
        "cpu",
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    assert done.returncode == 0, done.stderr[-3000:]
    layout = RunLayout.of(spec, tmp_path / "two")
    assert done.stdout.strip().splitlines() == [str(layout.root)]  # one process prints
    two = read_json(layout.status)
    assert two["processes"] == 2 and two["epochs"] == 3
    for name in ("train_accuracy", "val_accuracy", "test_accuracy"):
        assert two[name] == pytest.approx(one.status[name])
    a, b = load_file(str(one.layout.weights)), load_file(str(layout.weights))
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6)
