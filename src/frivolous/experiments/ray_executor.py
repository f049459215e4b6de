"""Sweeps on a Ray cluster (``--executor ray``); installed with ``pip install frivolous[ray]``.

Each run is one Ray task with the CPUs and GPUs it asks for (the sweep's
``resources``, or defaults per model family). Workers write their run
folders themselves, so **the sweep's folder must be on a filesystem every
worker and the driver share** (NFS, a cluster filesystem, or one machine).
The driver checks that each finished run's record is visible to it, and
records the run as failed with that explanation when it is not; the tables
are rebuilt from the folders exactly as with the other executors.

Safety: without ``--address`` a private local Ray instance is started for
the command and shut down after it, whatever ``RAY_ADDRESS`` says (a
warning names it). The Ray dashboard is off unless asked for, and then
bound to 127.0.0.1 only; Ray's own ports are bound to loopback for a local
instance. To use a remote cluster, reach it through an SSH tunnel (for
example ``ssh -N -L 10001:localhost:10001 head-node`` and
``--address ray://localhost:10001``); never expose its ports publicly.

Faults: a worker process that dies (killed, out of memory) is retried by
Ray up to ``RETRIES`` times, resuming the run from its last checkpoint; a
run that raises is recorded as failed with its traceback and the sweep goes
on; Ctrl-C cancels every outstanding task, and a rerun resumes.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

from frivolous.experiments.executors import Executor, GroupTask, Task, import_extra, record_death, single_runs
from frivolous.runs.spec import parse_yaml

RETRIES = 2
"""Times Ray re-runs a task whose worker process died."""

DEFAULT_RESOURCES: dict[str, tuple[float, float]] = {
    "mlp": (1, 0),
    "cnn1d": (1, 0),
    "alexnet": (2, 1),
    "resnet56": (2, 1),
    "resnet18": (8, 1),
    "inception_v3": (8, 1),
}
"""(CPUs, GPUs) a run of each family asks for; GPUs only when the cluster has any."""


def _family(task: Task) -> str:
    return parse_yaml(task.spec)["model"]["family"]


class RayExecutor(Executor):
    """Runs each task as a Ray task on a local instance or on the cluster at ``address``."""

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        *,
        cpus: float | None = None,
        gpus: float | None = None,
        local_cpus: int | None = None,
        dashboard: bool = False,
    ) -> None:
        self.address, self.cpus, self.gpus = address, cpus, gpus
        self.local_cpus, self.dashboard = local_cpus, dashboard

    def _start(self) -> Any:
        ray = import_extra("ray", "ray", "the Ray executor")
        options: dict[str, Any] = {
            "include_dashboard": self.dashboard,
            "log_to_driver": False,
            "configure_logging": False,
        }
        if self.dashboard:
            options["dashboard_host"] = "127.0.0.1"
        if self.address is None:
            if os.environ.get("RAY_ADDRESS"):
                warnings.warn(
                    f"RAY_ADDRESS={os.environ['RAY_ADDRESS']} is ignored: without --address the sweep runs on a "
                    "private local Ray instance; pass --address to use a cluster",
                    RuntimeWarning,
                    stacklevel=3,
                )
            options |= {"address": "local", "_node_ip_address": "127.0.0.1", "num_cpus": self.local_cpus}
        else:
            options["address"] = self.address
        ray.init(**options)
        return ray

    def _resources(self, ray: Any, task: Task) -> dict[str, float]:
        cpus, gpus = DEFAULT_RESOURCES.get(_family(task), (1, 0))
        has_gpus = ray.cluster_resources().get("GPU", 0) > 0
        return {
            "num_cpus": self.cpus if self.cpus is not None else cpus,
            "num_gpus": self.gpus if self.gpus is not None else (gpus if has_gpus else 0),
        }

    def map(self, tasks: Sequence[Task | GroupTask]) -> Iterator[dict[str, Any]]:
        if not tasks:
            return
        runs = single_runs(tasks, self)
        ray = self._start()
        pending: dict[Any, Task] = {}
        try:
            remote = ray.remote(max_retries=RETRIES, retry_exceptions=False)(_execute_on_worker)
            pending = {remote.options(**self._resources(ray, task)).remote(task): task for task in runs}
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                task = pending.pop(done[0])
                try:
                    outcome = ray.get(done[0])
                except ray.exceptions.RayError as error:  # the worker died more than RETRIES times
                    outcome = record_death(task, f"the worker running this run failed {RETRIES + 1} times: {error}")
                yield _visible(outcome, task)
        except BaseException:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
        finally:
            ray.shutdown()


def _execute_on_worker(task: Task) -> dict[str, Any]:
    return task.execute()


def _visible(outcome: dict[str, Any], task: Task) -> dict[str, Any]:
    """A run a worker finished must be visible here, where the tables are built."""
    if not outcome.get("ok"):
        return outcome
    from frivolous.runs.layout import RunLayout
    from frivolous.runs.spec import RunSpec

    layout = RunLayout.of(RunSpec.from_dict(parse_yaml(task.spec)), task.root)
    if layout.record.is_file():
        return outcome
    return {
        "ok": False,
        "run_id": layout.root.name,
        "traceback": "",
        "error": f"the worker finished the run, but {layout.record} is not visible to the driver: "
        "the sweep folder must be on a filesystem shared by the driver and every worker",
    }
