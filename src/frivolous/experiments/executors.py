"""Where the runs of a sweep execute, behind one small interface.

An executor takes tasks (one run each) and yields each task's outcome as it
finishes, in any order. Outcomes are plain dicts (``ok``, ``run_id``, and a
``record`` or an ``error``); every result a run produces is written to its
own folder by the run itself, so an executor carries no results and the
sweep's table is rebuilt from the folders afterwards. A cluster executor
only has to implement :meth:`Executor.map`.
"""

from __future__ import annotations

import importlib
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any

import torch


@dataclass(frozen=True)
class Task:
    """One run to complete: its spec as YAML text (picklable, and safe to
    send anywhere), the sweep's run root, the device and the data root."""

    spec: str
    root: str
    device: str = "auto"
    data_root: str | None = None

    def execute(self) -> dict[str, Any]:
        from frivolous.experiments.run_pipeline import attempt
        from frivolous.runs.spec import RunSpec, parse_yaml

        return attempt(RunSpec.from_dict(parse_yaml(self.spec)), self.root, self.device, self.data_root)


@dataclass(frozen=True)
class GroupTask:
    """Runs to train together as one batch (:mod:`frivolous.experiments.batching`);
    each is then measured by its own :class:`Task`. The outcome says how many
    runs the batch trained, or why it failed (its runs then train alone)."""

    specs: tuple[str, ...]
    root: str
    device: str = "auto"
    data_root: str | None = None

    def execute(self) -> dict[str, Any]:
        from frivolous.experiments.batching import attempt_together
        from frivolous.runs.spec import RunSpec, parse_yaml

        specs = [RunSpec.from_dict(parse_yaml(spec)) for spec in self.specs]
        return attempt_together(specs, self.root, self.device, self.data_root)


class Executor(ABC):
    """Runs tasks; yields their outcomes as they finish."""

    name: str
    batches = False
    """Whether it takes :class:`GroupTask`\\ s, so that a sweep can train runs in batches."""
    jobs = 1
    """Tasks it runs at a time."""

    @abstractmethod
    def map(self, tasks: Sequence[Task | GroupTask]) -> Iterator[dict[str, Any]]:
        """Yield one outcome per task (a :class:`GroupTask` only where :attr:`batches`).
        On KeyboardInterrupt, stop the tasks still running (a rerun resumes them) and re-raise."""


def single_runs(tasks: Sequence[Task | GroupTask], executor: Executor) -> list[Task]:
    """The tasks of an executor that takes no :class:`GroupTask` (its ``batches`` is False)."""
    runs = [task for task in tasks if isinstance(task, Task)]
    if len(runs) < len(tasks):
        raise TypeError(f"the {executor.name} executor takes no batches of runs")
    return runs


class InProcess(Executor):
    """One run after another in this process: no services, no pickling."""

    name = "in-process"
    batches = True

    def map(self, tasks: Sequence[Task | GroupTask]) -> Iterator[dict[str, Any]]:
        for task in tasks:
            yield task.execute()


def import_extra(module: str, extra: str, what: str) -> Any:
    """Import an optional dependency, or say which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise RuntimeError(f"{what} needs {module}: pip install 'frivolous[{extra}]'") from error


def _limit_threads(threads: int) -> None:
    torch.set_num_threads(threads)


def _execute(task: Task | GroupTask) -> dict[str, Any]:
    return task.execute()


class Processes(Executor):
    """``jobs`` worker processes on this machine, each with its share of the
    CPU threads. A worker that dies takes its run down as failed (with the
    reason), and the remaining runs go on in a fresh pool."""

    name = "processes"
    batches = True

    def __init__(self, jobs: int) -> None:
        if jobs < 1:
            raise ValueError(f"jobs must be at least 1, got {jobs}")
        self.jobs = jobs
        self.threads = max(1, (os.cpu_count() or 1) // jobs)

    def _pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.jobs, mp_context=get_context("spawn"), initializer=_limit_threads, initargs=(self.threads,)
        )

    def map(self, tasks: Sequence[Task | GroupTask]) -> Iterator[dict[str, Any]]:
        waiting = list(tasks)
        while waiting:
            pool = self._pool()
            running: dict[Future, Task | GroupTask] = {}
            try:
                while waiting or running:
                    while waiting and len(running) < self.jobs:
                        task = waiting.pop(0)
                        running[pool.submit(_execute, task)] = task
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        task = running.pop(future)
                        try:
                            yield future.result()
                        except BrokenProcessPool:
                            yield record_death(task, DIED)
                            raise
            except BrokenProcessPool:
                for task in running.values():
                    yield record_death(task, DIED)
                pool.shutdown(wait=False, cancel_futures=True)
                continue
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
            pool.shutdown()


DIED = "the worker process running this run died (killed, or out of memory)"


def record_death(task: Task | GroupTask, error: str) -> dict[str, Any]:
    """Record, in the run's folder, a failure the run could not record itself
    (a batch's runs record nothing: they then train alone)."""
    from frivolous.common.files import write_json
    from frivolous.runs.layout import RunLayout

    if isinstance(task, GroupTask):
        return {"ok": False, "runs": len(task.specs), "error": error, "traceback": ""}
    from frivolous.runs.spec import RunSpec, parse_yaml

    layout = RunLayout.of(RunSpec.from_dict(parse_yaml(task.spec)), task.root)
    failure = {"error": error, "traceback": ""}
    if layout.root.is_dir():
        write_json(layout.failure, failure)
    return {"ok": False, "run_id": layout.root.name, **failure}


EXECUTORS = ("local", "ray", "slurm")


@dataclass(frozen=True)
class ExecutorOptions:
    """Everything the command line can say about where runs execute."""

    kind: str = "local"
    jobs: int = 1
    address: str | None = None
    dashboard: bool = False
    partition: str | None = None
    minutes: int = 24 * 60
    cpus: float | None = None
    gpus: float | None = None
    mem_gb: float | None = None
    parallelism: int = 64


def executor(jobs: int = 1) -> Executor:
    """In-process for one job, worker processes for more."""
    return InProcess() if jobs == 1 else Processes(jobs)


def make_executor(options: ExecutorOptions, sweep_folder: str | os.PathLike) -> Executor:
    """The executor the options describe; Ray and submitit are imported only when chosen."""
    if options.kind == "local":
        return executor(options.jobs)
    if options.kind == "ray":
        from frivolous.experiments.ray_executor import RayExecutor

        return RayExecutor(options.address, cpus=options.cpus, gpus=options.gpus, dashboard=options.dashboard)
    if options.kind == "slurm":
        from frivolous.experiments.slurm_executor import SlurmExecutor

        return SlurmExecutor(
            os.path.join(sweep_folder, "slurm"),
            partition=options.partition,
            minutes=options.minutes,
            cpus=None if options.cpus is None else int(options.cpus),
            gpus=None if options.gpus is None else int(options.gpus),
            mem_gb=options.mem_gb,
            parallelism=options.parallelism,
        )
    raise ValueError(f"executor must be one of {list(EXECUTORS)}, got {options.kind!r}")
