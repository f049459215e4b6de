"""Which runs of a sweep train together, and training them into their own
run folders (``frivolous sweep/reproduce --batch-runs auto|N|off``).

Runs batch (:mod:`frivolous.train.batched`) when their networks have the
same shape and their data the same spec and batch size: they may differ in
seed (each seed is its own stream of batches), initialisation, optimiser,
learning rate and schedule, weight decay, early stopping, epochs and kept
checkpoints. Batches are formed of the runs of the MLP and the 1-D CNN on
data held as tensors (teacher, MNIST-1D): ``auto`` puts at most
:data:`AUTO_LIMIT` runs in a batch, and as many as keep its training state
within :data:`MEMORY_BUDGET`; ``N`` at most N (and within the budget);
``off`` (or 1) trains every run alone.

A batch writes each run's folder as :func:`~frivolous.experiments.run.train_run`
would (status, weights, history, checkpoints), so that the sweep then only
measures it; its status and record also say that it trained in a batch, and
with which runs (:func:`~frivolous.experiments.run.provenance`). Batched and
separate training agree to float rounding step by step (tested to 1e-5 on
non-chaotic settings), but in chaotic ones (large steps, many epochs) the
rounding differences grow into different final numbers (docs/fidelity.md,
"Batched and separate training"). A batch that fails leaves its runs to be
trained alone, each resuming from its last checkpoint.
"""

from __future__ import annotations

import json
import logging
import math
import time
import traceback
from collections import defaultdict
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from frivolous.experiments import run_costs
from frivolous.experiments.run import Checkpoints, TrainOutcome, open_run, record_training
from frivolous.measuring.inputs import resolve_device
from frivolous.runs.folder import FINISHED, build_model, load_data, status
from frivolous.runs.integrity import try_run_lock
from frivolous.runs.layout import RunLayout
from frivolous.runs.spec import RunSpec
from frivolous.train.batched import SAVE_SECONDS, BatchedTrainer, Member, Stream

FAMILIES = ("mlp", "cnn1d")
"""The families with batched passes of their own (:mod:`frivolous.train.batched`)."""
DATA = ("teacher", "mnist1d")
"""Data sources held as tensors without augmentation: their runs can batch."""
AUTO_LIMIT = 64
"""``auto``: at most this many runs a batch."""
MEMORY_BUDGET = 2 * 2**30
"""Bytes of training state (weights, gradients, optimiser state) a batch may hold."""
BYTES_PER_PARAMETER = 5 * 4
"""Float32 weights, gradients, two optimiser buffers (Adam's), and a copy while re-stacking."""


@dataclass(frozen=True)
class BatchRuns:
    """The ``--batch-runs`` setting: ``limit`` runs a batch at most (1: off)."""

    limit: int
    auto: bool = False

    @classmethod
    def parse(cls, value: str | int) -> BatchRuns:
        text = str(value).strip().lower()
        if text == "auto":
            return cls(AUTO_LIMIT, auto=True)
        if text == "off":
            return cls(1)
        if text.isdigit() and int(text) >= 1:
            return cls(int(text))
        raise ValueError(f"--batch-runs must be auto, off or a positive number of runs, got {value!r}")

    @property
    def off(self) -> bool:
        return self.limit == 1


def batch_key(spec: RunSpec) -> str | None:
    """Runs with equal keys can train in one batch; None for a run that trains alone."""
    train = spec.train
    if spec.model.family not in FAMILIES or spec.data.name not in DATA or train.precision != "fp32" or train.l2:
        return None
    shape = {"family": spec.model.family, "width_factor": spec.model.width_factor, **spec.model.options}
    return json.dumps([shape, spec.data.model_dump(mode="json"), train.effective_batch_size], sort_keys=True)


def plan(specs: Sequence[RunSpec], setting: BatchRuns, *, parallel: int = 1) -> list[list[RunSpec]]:
    """The batches of ``specs`` (two runs or more each; the rest train alone):
    runs of one key, a seed's runs kept together where the limit allows; at
    least ``parallel`` batches where there are runs enough, for that many workers."""
    if setting.off:
        return []
    keyed: dict[str, list[RunSpec]] = defaultdict(list)
    for spec in specs:
        if (key := batch_key(spec)) is not None:
            keyed[key].append(spec)
    batches = []
    for runs in keyed.values():
        runs = sorted(runs, key=lambda spec: spec.seed)
        limit = min(setting.limit, max(1, MEMORY_BUDGET // (BYTES_PER_PARAMETER * run_costs.parameters(runs[0]))))
        count = math.ceil(len(runs) / limit)
        size = math.ceil(len(runs) / count)
        batches += [runs[i : i + size] for i in range(0, len(runs), size)]
    while len(batches) < parallel and batches and len(largest := max(batches, key=len)) >= 4:
        batches.remove(largest)
        batches += [largest[: len(largest) // 2], largest[len(largest) // 2 :]]
    return [batch for batch in batches if len(batch) >= 2]


def train_together(
    specs: Sequence[RunSpec],
    root: str | Path,
    *,
    device: str | torch.device = "auto",
    data_root: str | Path | None = None,
    progress: bool | None = None,
    save_every: float = SAVE_SECONDS,
) -> list[TrainOutcome]:
    """Train ``specs`` as one batch into their folders under ``root``; runs
    already finished are skipped, and runs whose lock another process holds
    are left to it. Returns the outcomes of the runs trained or skipped."""
    target = resolve_device(device)
    outcomes: list[TrainOutcome] = []
    with ExitStack() as locks:
        chosen = []
        for spec in specs:
            layout = RunLayout.of(spec, root)
            if _hold(layout, locks):
                layout = open_run(spec, root)
                done = status(layout)
                if done is not None and done.get("state") in FINISHED:
                    outcomes.append(TrainOutcome(layout, done, skipped=True))
                else:
                    chosen.append((spec, layout))
        if not chosen:
            return outcomes
        seeds = sorted({spec.seed for spec, _ in chosen})
        bundles = {seed: load_data(next(s for s, _ in chosen if s.seed == seed), data_root) for seed in seeds}
        runs = {}
        for spec, layout in chosen:
            member = Member(
                build_model(spec, bundles[spec.seed]),
                spec.train,
                stream=seeds.index(spec.seed),
                callbacks=[Checkpoints(layout, spec.train.checkpoints)],
            )
            runs[id(member)] = (spec, layout, member)
        streams = [Stream(seed, bundles[seed]) for seed in seeds]
        trainer = BatchedTrainer(
            [member for _, _, member in runs.values()], streams, device=target, progress=progress, save_every=save_every
        )
        members = tuple(sorted(layout.root.name for _, layout in chosen))

        def finish(member: Member) -> None:
            spec, layout, _ = runs[id(member)]
            started = time.perf_counter() - sum(record["seconds"] for record in member.state.history)
            outcomes.append(
                record_training(
                    spec,
                    layout,
                    member.model,
                    trainer.streams[member.stream].data,
                    member.state,
                    target,
                    started=started,
                    members=members,
                )
            )

        trainer.run(finish)
    return outcomes


def _hold(layout: RunLayout, locks: ExitStack) -> bool:
    """Take the run's lock for the batch's lifetime, unless another process holds it."""
    lock = try_run_lock(layout)
    if lock is None:
        logging.getLogger(__name__).warning("%s: another process is completing this run; not batching it", layout.root)
        return False
    locks.callback(lock.release)
    return True


def attempt_together(specs: Sequence[RunSpec], root: str | Path, device: str, data_root: str | None) -> dict[str, Any]:
    """:func:`train_together` that never raises: a failed batch is reported
    (its runs then train alone, from their checkpoints)."""
    try:
        outcomes = train_together(specs, root, device=device, data_root=data_root, progress=False)
    except Exception as error:
        return {
            "ok": False,
            "runs": len(specs),
            "error": f"{type(error).__name__}: {error}",
            "traceback": traceback.format_exc(),
        }
    return {"ok": True, "runs": len(specs), "trained": sum(not o.skipped for o in outcomes)}
