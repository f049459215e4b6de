"""Sweeps on Slurm through submitit (``--executor slurm``); installed with
``pip install frivolous[slurm]``.

The runs of a sweep go out as one Slurm job array (at most ``parallelism``
at a time), each job one run, with the partition, time limit, CPUs, GPUs and
memory given. Jobs write their run folders on the filesystem they share
with the submitting machine, as on any Slurm cluster. A job that is
preempted or reaches its time limit is requeued by submitit, and the run
resumes from its last checkpoint (a run always does). submitit's logs go to
``<sweep>/slurm/``.

``cluster="local"`` runs the same jobs as local processes through
submitit's local executor; the tests use it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from frivolous.experiments.executors import Executor, GroupTask, Task, import_extra, record_death, single_runs

POLL_SECONDS = 1.0


def _job_class(submitit: Any) -> type:
    class RunJob(submitit.helpers.Checkpointable):
        """One run; on preemption or timeout submitit requeues it with the same task."""

        def __call__(self, task: Task) -> dict[str, Any]:
            return task.execute()

    return RunJob


class SlurmExecutor(Executor):
    name = "slurm"

    def __init__(
        self,
        logs: str | Path,
        *,
        partition: str | None = None,
        minutes: int = 24 * 60,
        cpus: int | None = None,
        gpus: int | None = None,
        mem_gb: float | None = None,
        parallelism: int = 64,
        cluster: str | None = None,
    ) -> None:
        self.logs, self.partition, self.minutes = Path(logs), partition, minutes
        self.cpus, self.gpus, self.mem_gb, self.parallelism, self.cluster = cpus, gpus, mem_gb, parallelism, cluster

    def _executor(self, submitit: Any) -> Any:
        executor = submitit.AutoExecutor(folder=str(self.logs / "%j"), cluster=self.cluster)
        parameters: dict[str, Any] = {"timeout_min": self.minutes, "slurm_array_parallelism": self.parallelism}
        optional = {
            "slurm_partition": self.partition,
            "cpus_per_task": self.cpus,
            "gpus_per_node": self.gpus,
            "mem_gb": self.mem_gb,
        }
        parameters |= {k: v for k, v in optional.items() if v is not None}
        executor.update_parameters(**parameters)
        return executor

    def map(self, tasks: Sequence[Task | GroupTask]) -> Iterator[dict[str, Any]]:
        if not tasks:
            return
        runs = single_runs(tasks, self)
        submitit = import_extra("submitit", "slurm", "the Slurm executor")
        executor = self._executor(submitit)
        job = _job_class(submitit)()
        with executor.batch():  # one job array
            jobs = [executor.submit(job, task) for task in runs]
        pending = dict(zip(jobs, runs))
        try:
            while pending:
                finished = [j for j in pending if j.done()]
                if not finished:
                    time.sleep(POLL_SECONDS)
                for submitted in finished:
                    task = pending.pop(submitted)
                    try:
                        yield submitted.result()
                    except Exception as error:
                        yield record_death(task, f"Slurm job {submitted.job_id} failed: {error}")
        except BaseException:
            for submitted in pending:
                submitted.cancel(check=False)
            raise
