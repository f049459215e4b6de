"""Where the runs of a sweep execute, behind one small interface.

An executor takes tasks (one run each) and yields each task's outcome as it
finishes, in any order. Outcomes are plain dicts (``ok``, ``run_id``, and a
``record`` or an ``error``); every result a run produces is written to its
own folder by the run itself, so an executor carries no results and the
sweep's table is rebuilt from the folders afterwards. A cluster executor
only has to implement :meth:`Executor.map`.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any

import torch
import yaml


@dataclass(frozen=True)
class Task:
    """One run to complete: its spec as YAML text (picklable, and safe to
    send anywhere), the sweep's run root, the device and the data root."""

    spec: str
    root: str
    device: str = "auto"
    data_root: str | None = None

    def execute(self) -> dict[str, Any]:
        from frivolous.experiments.pipeline import attempt
        from frivolous.experiments.spec import RunSpec

        return attempt(RunSpec.from_dict(yaml.safe_load(self.spec)), self.root, self.device, self.data_root)


class Executor(ABC):
    """Runs tasks; yields their outcomes as they finish."""

    name: str

    @abstractmethod
    def map(self, tasks: Sequence[Task]) -> Iterator[dict[str, Any]]:
        """Yield one outcome per task. On KeyboardInterrupt, stop the tasks
        still running (a rerun resumes them) and re-raise."""


class InProcess(Executor):
    """One run after another in this process: no services, no pickling."""

    name = "in-process"

    def map(self, tasks: Sequence[Task]) -> Iterator[dict[str, Any]]:
        for task in tasks:
            yield task.execute()


def _limit_threads(threads: int) -> None:
    torch.set_num_threads(threads)


def _execute(task: Task) -> dict[str, Any]:
    return task.execute()


class Processes(Executor):
    """``jobs`` worker processes on this machine, each with its share of the
    CPU threads. A worker that dies takes its run down as failed (with the
    reason), and the remaining runs go on in a fresh pool."""

    name = "processes"

    def __init__(self, jobs: int) -> None:
        if jobs < 1:
            raise ValueError(f"jobs must be at least 1, got {jobs}")
        self.jobs = jobs
        self.threads = max(1, (os.cpu_count() or 1) // jobs)

    def _pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=self.jobs, mp_context=get_context("spawn"),
                                   initializer=_limit_threads, initargs=(self.threads,))  # fmt: skip

    def map(self, tasks: Sequence[Task]) -> Iterator[dict[str, Any]]:
        waiting = list(tasks)
        while waiting:
            pool = self._pool()
            running: dict[Future, Task] = {}
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
                            yield _died(task)
                            raise
            except BrokenProcessPool:
                for task in running.values():
                    yield _died(task)
                pool.shutdown(wait=False, cancel_futures=True)
                continue
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
            pool.shutdown()


def _died(task: Task) -> dict[str, Any]:
    from frivolous.experiments.layout import RunLayout, write_json
    from frivolous.experiments.spec import RunSpec

    layout = RunLayout.of(RunSpec.from_dict(yaml.safe_load(task.spec)), task.root)
    failure = {"error": "the worker process running this run died (killed, or out of memory)", "traceback": ""}
    if layout.root.is_dir():
        write_json(layout.failure, failure)
    return {"ok": False, "run_id": layout.root.name, **failure}


def executor(jobs: int = 1) -> Executor:
    """In-process for one job, worker processes for more."""
    return InProcess() if jobs == 1 else Processes(jobs)
