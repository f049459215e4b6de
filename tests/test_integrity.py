"""Run folders: checksums that catch missing or changed weights, and the lock
that lets two sweeps on one folder train each run once."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from filelock import FileLock, Timeout

from conftest import TIMING, TINY_SWEEP, same_tables
from frivolous.experiments import run as run_module
from frivolous.experiments.run import train_run
from frivolous.experiments.run_pipeline import complete, complete_run
from frivolous.experiments.sweep import SweepSpec
from frivolous.runs.layout import RunLayout
from frivolous.runs.spec import RunSpec
from frivolous.sweeping import run_sweep


def tiny() -> RunSpec:
    return SweepSpec.from_dict(TINY_SWEEP).expand()[0].spec


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "frivolous.runs.integrity"]


def flip_a_byte(path: Path) -> None:
    """Change one byte near the end (tensor data, not the header): the file still loads, with other weights."""
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))


def test_status_records_the_sha256_of_weights_and_history(tmp_path: Path) -> None:
    layout = train_run(tiny(), tmp_path, device="cpu", progress=False).layout
    files = json.loads(layout.status.read_text())["files"]
    assert files == {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in (layout.weights, layout.history)
    }


@pytest.mark.parametrize(
    "name, change, problem",
    [
        ("weights.safetensors", flip_a_byte, "does not match its checksum"),
        ("weights.safetensors", Path.unlink, "is missing"),
        ("history.json", lambda p: p.write_text("[]"), "does not match its checksum"),
    ],
)
def test_a_run_with_changed_or_missing_files_is_trained_again(tmp_path: Path, caplog, name, change, problem) -> None:
    spec = tiny()
    layout = train_run(spec, tmp_path, device="cpu", progress=False).layout
    weights, files = layout.weights.read_bytes(), json.loads(layout.status.read_text())["files"]
    change(layout.root / name)
    again = train_run(spec, tmp_path, device="cpu", progress=False)
    assert not again.skipped
    assert lines(caplog) == [f"{layout.root}: {name} {problem}; training it again"]
    assert all(r.exc_info is None for r in caplog.records)  # one line, no traceback
    assert layout.weights.read_bytes() == weights  # trained again from scratch: the same weights (seeded, CPU)
    assert json.loads(layout.status.read_text())["files"][layout.weights.name] == files[layout.weights.name]
    assert train_run(spec, tmp_path, device="cpu", progress=False).skipped
    assert len(lines(caplog)) == 1


def test_a_legacy_status_without_checksums_is_trusted_while_its_files_exist(tmp_path: Path, caplog) -> None:
    spec = tiny()
    layout = train_run(spec, tmp_path, device="cpu", progress=False).layout
    legacy = json.loads(layout.status.read_text())
    del legacy["files"]
    layout.status.write_text(json.dumps(legacy))
    flip_a_byte(layout.weights)  # cannot be noticed without a checksum
    assert train_run(spec, tmp_path, device="cpu", progress=False).skipped and not lines(caplog)
    layout.weights.unlink()
    assert not train_run(spec, tmp_path, device="cpu", progress=False).skipped
    assert lines(caplog) == [f"{layout.root}: weights.safetensors is missing; training it again"]
    assert "files" in json.loads(layout.status.read_text())


def test_a_complete_run_with_changed_weights_is_measured_and_recorded_again(tmp_path: Path, caplog) -> None:
    spec = tiny()
    record = complete_run(spec, tmp_path, device="cpu")
    layout = RunLayout.of(spec, tmp_path)
    summary = layout.measure_summary("trained")
    stamp = summary.stat().st_mtime_ns
    assert complete(layout) and complete_run(spec, tmp_path, device="cpu") == record  # intact: read back
    flip_a_byte(layout.weights)
    assert not complete(layout)
    again = complete_run(spec, tmp_path, device="cpu")
    assert len(lines(caplog)) == 1 and summary.stat().st_mtime_ns != stamp
    assert {k: v for k, v in again.items() if k not in TIMING} == {k: v for k, v in record.items() if k not in TIMING}
    assert complete(layout)


def test_a_sweep_redoes_only_the_damaged_run_and_ends_with_the_same_tables(tmp_path: Path, caplog) -> None:
    sweep = SweepSpec.from_dict({**TINY_SWEEP, "grid": {"model.width_factor": [0.25]}})
    run_sweep(sweep, tmp_path / "sweep", device="cpu", progress=False)
    shutil.copytree(tmp_path / "sweep", tmp_path / "before")
    damaged = RunLayout.of(sweep.expand()[1].spec, tmp_path / "sweep" / "runs")
    damaged.weights.unlink()
    summary = run_sweep(sweep, tmp_path / "sweep", device="cpu", progress=False)
    assert (summary.total, summary.done, summary.skipped) == (2, 2, 1)
    assert lines(caplog) == [f"{damaged.root}: weights.safetensors is missing; training it again"]
    same_tables(tmp_path / "before", tmp_path / "sweep")


def counting(train, marks: str):
    """``Trainer.run`` that first notes, in ``marks``, that this process starts a training."""

    def run(self):
        with open(marks, "a") as handle:
            handle.write(f"{os.getpid()}\n")
        return train(self)

    return run


def _complete_counting_trainings(spec: RunSpec, root: str, marks: str, start, results) -> None:
    """In a worker process: count trainings, wait for the other process, complete the run."""
    run_module.Trainer.run = counting(run_module.Trainer.run, marks)  # in this worker process only
    start.wait(timeout=120)
    results.put(complete_run(spec, root, device="cpu"))


def test_two_processes_completing_one_run_at_once_train_it_once(tmp_path: Path, monkeypatch) -> None:
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(2), context.Queue()
    marks, root = tmp_path / "trainings.txt", str(tmp_path / "runs")
    worker = context.Process(target=_complete_counting_trainings, args=(tiny(), root, str(marks), start, results))
    worker.start()
    monkeypatch.setattr(run_module.Trainer, "run", counting(run_module.Trainer.run, str(marks)))
    start.wait(timeout=120)
    here = complete_run(tiny(), root, device="cpu")
    there = results.get(timeout=120)
    worker.join(timeout=60)
    assert worker.exitcode == 0
    assert len(marks.read_text().split()) == 1
    assert here == there  # timings included: one of the two read the other's record


HOLD = """
import sys, time
from filelock import FileLock
lock = FileLock(sys.argv[1])
lock.acquire()
print("held", flush=True)
time.sleep(600)
"""


def test_a_lock_held_by_a_killed_process_does_not_block(tmp_path: Path, caplog) -> None:
    spec = tiny()
    layout = RunLayout.of(spec, tmp_path)
    layout.root.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(layout.lock)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(Timeout):
            FileLock(layout.lock).acquire(timeout=0)
        records: list[dict] = []
        waiter = threading.Thread(target=lambda: records.append(complete_run(spec, tmp_path, device="cpu")))
        waiter.start()
        deadline = time.monotonic() + 60
        while not lines(caplog) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert lines(caplog) == [
            f"{layout.root}: another process is completing this run (it holds run.lock); waiting for it"
        ]
        assert waiter.is_alive() and not layout.record.exists()
    finally:
        holder.kill()
        holder.wait()
    waiter.join(timeout=120)
    assert not waiter.is_alive() and records and complete(layout)
    assert layout.lock.exists()  # the file a dead process left behind binds no one
    with FileLock(layout.lock, timeout=0):
        pass


def test_files_written_atomically_get_the_umasks_mode(tmp_path: Path) -> None:
    from frivolous.common.files import write_atomically

    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    for name, write in (("text.txt", "x"), ("bytes.bin", b"x"), ("called.txt", lambda path: path.write_text("x"))):
        write_atomically(tmp_path / name, write)
        assert (tmp_path / name).stat().st_mode == plain.stat().st_mode, name  # not mkstemp's 0600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bytes.bin", "called.txt", "plain.txt", "text.txt"]
