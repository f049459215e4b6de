"""Running a sweep: every run not yet complete goes to an executor
(:func:`complete_runs`); :func:`frivolous.sweeping.run_sweep` then rebuilds the
results tables from the run folders.

A sweep's folder::

    <out>/
      sweep.yaml        the sweep spec
      sweep.json        what was run: preset, scale, versions, device, times
      runs/             one folder per run, named by the hash of its spec
      results.parquet, layers.parquet, curves.parquet, histograms.parquet, epochs.parquet
"""

from __future__ import annotations

import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from frivolous.common.files import read_json, write_atomically, write_json
from frivolous.common.progress import progress_bar
from frivolous.experiments.batching import BatchRuns, plan
from frivolous.experiments.executors import Executor, GroupTask, Task
from frivolous.experiments.executors import executor as make_executor
from frivolous.experiments.run_pipeline import complete
from frivolous.experiments.sweep import SweepSpec
from frivolous.measuring.inputs import resolve_device
from frivolous.runs.layout import RunLayout

SWEEP_SPEC, SWEEP_INFO, RUNS = "sweep.yaml", "sweep.json", "runs"


@dataclass(frozen=True)
class SweepSummary:
    folder: Path
    total: int
    done: int
    failed: int
    skipped: int
    """Complete before this sweep started."""
    seconds: float
    diverged: int = 0
    elsewhere: int = 0
    """Completed by another process (a second sweep on the folder) while this one ran."""

    @classmethod
    def of(cls, completed: Completed, status: Any) -> SweepSummary:
        """The summary of ``completed``, counted from the runs table's ``status`` column."""
        return cls(
            completed.folder,
            completed.total,
            int((status == "done").sum()),
            int((status == "failed").sum()),
            completed.skipped,
            time.perf_counter() - completed.started,
            int((status == "diverged").sum()),
            completed.elsewhere,
        )

    def line(self) -> str:
        """E.g. "10 runs: 10 done (0 already)", or, with a second sweep on the
        folder, "10 runs: 10 done (5 here, 5 by another process, 0 already)"."""
        diverged = f", {self.diverged} diverged (left out)" if self.diverged else ""
        here = self.done + self.diverged - self.skipped - self.elsewhere
        counts = f"{here} here, {self.elsewhere} by another process, " if self.elsewhere else ""
        return (
            f"{self.total} runs: {self.done} done ({counts}{self.skipped} already){diverged}, {self.failed} failed"
            + (" (rerun the command to retry them)" if self.failed else "")
        )


def versions() -> dict[str, str]:
    from frivolous.common.version import __version__

    return {
        "frivolous": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


@dataclass(frozen=True)
class Completed:
    """What :func:`complete_runs` did: the runs planned, those complete before it
    started (``skipped``), and those another process completed meanwhile."""

    folder: Path
    total: int
    skipped: int
    elsewhere: int
    started: float


def complete_runs(
    sweep: SweepSpec,
    out: str | Path,
    *,
    preset: str = "",
    scale: str = "",
    executor: Executor | None = None,
    device: str = "auto",
    data_root: str | Path | None = None,
    progress: bool | None = None,
    batch_runs: str | int = "auto",
) -> Completed:
    """Complete every run of ``sweep`` under ``out``, skipping finished ones
    whose weights still match their checksums. A failed run is recorded and the others go on. Two sweeps on one folder
    at once complete each run once: the run's lock makes the second wait for it.

    ``batch_runs`` (``auto``, ``off`` or the most runs a batch): runs that
    can train together do so first, in batches
    (:mod:`frivolous.experiments.batching`); then every run is measured (and
    any run not trained yet trained alone). Executors that take no batches
    (Ray, Slurm) train every run alone."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_atomically(out / SWEEP_SPEC, sweep.to_yaml())
    runs_root = out / RUNS
    planned = list({RunLayout.of(p.spec, runs_root).root: p for p in sweep.expand()}.values())
    todo = [p for p in planned if not complete(RunLayout.of(p.spec, runs_root))]  # damaged ones are done again
    info = _info(out, preset, scale, device, len(planned))
    started = time.perf_counter()
    executor = executor or make_executor(1)
    setting = BatchRuns.parse(batch_runs)  # a bad value fails before any work
    root, data = str(runs_root), None if data_root is None else str(data_root)
    tasks = [Task(p.spec.to_yaml(), root, device, data) for p in todo]
    batches = plan([p.spec for p in todo], setting, parallel=executor.jobs) if executor.batches else []
    failed = elsewhere = 0
    bar = progress_bar(total=len(planned), initial=len(planned) - len(todo), desc="runs", unit="run", progress=progress)
    try:
        groups = [GroupTask(tuple(spec.to_yaml() for spec in batch), root, device, data) for batch in batches]
        if groups:
            bar.set_postfix(trained=f"0/{len(groups)} batches")
        for done, outcome in enumerate(executor.map(groups), start=1):
            bar.set_postfix(trained=f"{done}/{len(groups)} batches", refresh=False)
            bar.update(0)
            if not outcome["ok"]:
                bar.write(f"a batch of {outcome['runs']} runs failed ({outcome['error']}); they train alone")
        for outcome in executor.map(tasks):
            if not outcome["ok"]:
                failed += 1
                bar.write(f"run {outcome['run_id']} failed: {outcome['error']}")
            elif not outcome["here"]:
                elsewhere += 1
            bar.set_postfix(failed=failed, refresh=False)
            bar.update(1)
    finally:
        bar.close()
        info["seconds"] = info.get("seconds", 0.0) + time.perf_counter() - started
        info["executor"] = executor.name
        info["batch_runs"] = str(batch_runs) if executor.batches else "off"
        write_json(out / SWEEP_INFO, info)
    return Completed(out, len(planned), len(planned) - len(todo), elsewhere, started)


def _info(out: Path, preset: str, scale: str, device: str, total: int) -> dict[str, Any]:
    path = out / SWEEP_INFO
    info = read_json(path) if path.is_file() else {}
    info |= {
        "preset": preset,
        "scale": scale,
        "runs": total,
        "device": str(resolve_device(device)),
        "command": " ".join(sys.argv),
        "versions": versions(),
    }
    return info


def load_sweep(folder: str | Path) -> tuple[SweepSpec, dict[str, Any]]:
    folder = Path(folder)
    if not (folder / SWEEP_SPEC).is_file():
        raise FileNotFoundError(f"{folder} is not a sweep folder (no {SWEEP_SPEC})")
    info = read_json(folder / SWEEP_INFO) if (folder / SWEEP_INFO).is_file() else {}
    return SweepSpec.from_yaml(folder / SWEEP_SPEC), info
