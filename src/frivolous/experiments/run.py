"""One run: build the data and the model from a spec, train with checkpoints,
measure, and keep everything in the run's folder.

Training is idempotent and crash-safe: a finished run is found by its
folder and skipped (once its weights match the checksums in its status:
see :mod:`frivolous.runs.integrity`); an interrupted one resumes
from its last checkpoint.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from torch import nn

from frivolous.common.files import write_atomically, write_json
from frivolous.common.parameters import parameter_count
from frivolous.common.seeding import stream_seed
from frivolous.data.bundle import DataBundle
from frivolous.measuring import MeasureResult, measure
from frivolous.measuring.inputs import resolve_device
from frivolous.runs.folder import (
    DIVERGED,
    FINISHED,
    TRAINED,
    build_model,
    damaged,
    load_data,
    load_run,
    measured_examples,
    retrain,
    stage_model,
    status,
)
from frivolous.runs.integrity import checksums, damage, discard
from frivolous.runs.layout import RunLayout
from frivolous.runs.spec import RunSpec, SpecError
from frivolous.train.batched import BATCH_RUNS
from frivolous.train.checkpoint import load_training_state, save_training_state, save_weights
from frivolous.train.distributed import SINGLE, Shard, from_environment, start
from frivolous.train.loop import Callback, Trainer, TrainerLike, TrainState, evaluate

PROVENANCE = ("training", "batch_runs", "batched_epochs", "batch_members")
"""The keys of a run's status and record that say how it was trained (:func:`provenance`)."""


class Checkpoints(Callback):
    """Restores the last state at the start; after every epoch saves it, and
    the weights at the spec's checkpoint epochs; saves the best weights when
    the monitored accuracy improves (early stopping)."""

    def __init__(self, layout: RunLayout, keep: tuple[int, ...], *, writer: bool = True) -> None:
        self.layout, self.keep, self.writer = layout, set(keep), writer

    def on_start(self, trainer: TrainerLike) -> None:
        state = load_training_state(trainer.model, trainer.optimizer, self.layout.last_state)
        if state is None:
            if 0 in self.keep and self.writer:
                save_weights(trainer.model, self.layout.epoch_weights(0))
            return
        trainer.state = TrainState.from_dict(state)
        if self.layout.best_weights.is_file():
            trainer.best_weights = load_file(str(self.layout.best_weights), device=str(trainer.device))

    def on_improvement(self, trainer: TrainerLike) -> None:
        if self.writer:
            save_weights(trainer.model, self.layout.best_weights)

    def on_epoch_end(self, trainer: TrainerLike) -> None:
        if not self.writer:
            return
        if trainer.state.epoch in self.keep:
            save_weights(trainer.model, self.layout.epoch_weights(trainer.state.epoch))
        save_training_state(trainer.model, trainer.optimizer, self.layout.last_state, trainer.state.as_dict())


@dataclass(frozen=True)
class TrainOutcome:
    layout: RunLayout
    status: dict[str, Any]
    skipped: bool


def prepare_folder(spec: RunSpec, root: str | Path) -> RunLayout:
    """Create the run folder with its spec, or check that an existing one holds this spec."""
    layout = RunLayout.of(spec, root)
    if layout.spec.is_file():
        if RunSpec.from_yaml(layout.spec) != spec:
            raise SpecError(f"{layout.root} holds a different spec than the one given (a hash collision?)")
    else:
        write_atomically(layout.spec, spec.to_yaml())
    return layout


def train_run(
    spec: RunSpec,
    root: str | Path,
    *,
    device: str | torch.device = "auto",
    data_root: str | Path | None = None,
    progress: bool | None = None,
) -> TrainOutcome:
    """Train ``spec`` into its folder under ``root``; skip it if it is done.

    A run whose loss becomes non-finite ends there with status ``diverged``
    (its history kept, no weights): a sweep records it and leaves it out of
    the learning-rate selection instead of failing.

    Under ``torchrun`` the processes train the run together (see
    :mod:`frivolous.train.distributed`) and the first one writes the folder."""
    shard = from_environment()
    target = start(shard, resolve_device(device))
    if shard.main:
        open_run(spec, root)
    shard.barrier()
    layout = RunLayout.of(spec, root)
    done = status(layout)
    if done is not None and done.get("state") in FINISHED:
        return TrainOutcome(layout, done, skipped=True)
    started = time.perf_counter()
    bundle = load_data(spec, data_root)
    model = build_model(spec, bundle)
    trainer = Trainer(
        model,
        bundle.on(target),
        spec.train,
        seed=spec.seed,
        device=target,
        progress=progress,
        callbacks=[Checkpoints(layout, spec.train.checkpoints, writer=shard.main)],
        shard=shard,
    )
    state = trainer.run()
    return record_training(spec, layout, trainer.model, trainer.data, state, target, started=started, shard=shard)


def open_run(spec: RunSpec, root: str | Path) -> RunLayout:
    """Prepare the run's folder (see :func:`prepare_folder`); a run whose
    status says trained but whose weights are gone or changed is discarded,
    to be trained again: never skip it."""
    layout = prepare_folder(spec, root)
    if problem := damaged(layout):
        discard(layout, problem)
    return layout


def provenance(history: list[dict[str, Any]], members: tuple[str, ...] = ()) -> dict[str, Any]:
    """How a run was trained, from its epochs' records (a batch marks its
    epochs with :data:`~frivolous.train.batched.BATCH_RUNS`):

    - ``training``: ``single`` (every epoch alone), ``batched`` (every epoch
      in a batch, :mod:`frivolous.experiments.batching`) or ``mixed`` (a batch
      resumed alone, or a run resumed in a batch);
    - ``batch_runs``: the most runs that trained together in one epoch (1 alone);
    - ``batched_epochs``: how many epochs trained in a batch;
    - ``batch_members``: the run ids of the batch its training ended in
      (``members``; empty when it ended alone).

    Batched and separate training agree to float rounding at every step, but
    not at the end of a chaotic training (large steps, many epochs), where
    rounding differences grow: these keys say which numbers a run holds."""
    batched = [record[BATCH_RUNS] for record in history if BATCH_RUNS in record]
    mode = "single" if not batched else "batched" if len(batched) == len(history) else "mixed"
    return {
        "training": mode,
        "batch_runs": max(batched, default=1),
        "batched_epochs": len(batched),
        "batch_members": list(members),
    }


def record_training(
    spec: RunSpec,
    layout: RunLayout,
    model: nn.Module,
    data: DataBundle,
    state: TrainState,
    target: torch.device,
    *,
    started: float,
    shard: Shard = SINGLE,
    members: tuple[str, ...] = (),
) -> TrainOutcome:
    """Write the folder of a run whose training ended (``model`` holding its
    final weights): weights, history and status, or a diverged status, each
    with the run's :func:`provenance`. The single trainer and the batched
    one (:mod:`frivolous.experiments.batching`, which names the batch's
    ``members``) end their runs here; ``started`` is the ``perf_counter``
    time the run's training began."""
    if state.diverged:
        return _diverged(layout, state, spec, target, shard, time.perf_counter() - started, members)
    evaluations = {
        f"{name}_accuracy": evaluate(
            model, split, target, precision=spec.train.precision, workers=spec.train.workers, shard=shard
        ).accuracy
        for name, split in (("train", data.train), ("val", data.val), ("test", data.test))
        if split is not None
    }
    result = {
        "state": TRAINED,
        "epochs": state.epoch,
        "best_epoch": state.best_epoch if spec.train.early_stopping else state.epoch,
        "stopped_early": state.stopped_early,
        "params": parameter_count(model),
        "device": str(target),
        "processes": shard.world,
        "seconds": time.perf_counter() - started,
        **evaluations,
        **provenance(state.history, members),
    }
    if shard.main:
        save_weights(model, layout.weights)
        write_json(layout.history, state.history)
        result["files"] = checksums(layout)
        write_json(layout.status, result)  # last: the run is complete once this exists
    shard.barrier()
    return TrainOutcome(layout, result, skipped=False)


def _diverged(
    layout: RunLayout,
    state: TrainState,
    spec: RunSpec,
    target: torch.device,
    shard: Shard,
    seconds: float,
    members: tuple[str, ...],
) -> TrainOutcome:
    last = state.history[-1]
    result = {
        "state": DIVERGED,
        "epochs": state.epoch,
        "loss": last["loss"],
        "device": str(target),
        "processes": shard.world,
        "seconds": seconds,
        "reason": f"the training loss became {last['loss']} in epoch {state.epoch} (lr {last['lr']:g})",
        **provenance(state.history, members),
    }
    if shard.main:
        write_json(layout.history, state.history)
        write_json(layout.status, result)
    shard.barrier()
    return TrainOutcome(layout, result, skipped=False)


def measure_run(
    run_dir: str | Path,
    *,
    stage: str = "trained",
    device: str | torch.device = "auto",
    data_root: str | Path | None = None,
    bundle: DataBundle | None = None,
    progress: bool | None = None,
) -> MeasureResult:
    """Measure one stage of a trained run with its spec's options, and write
    the tables and a summary into the run's folder. Trained weights that no
    longer match the checksums their status took (truncated, changed,
    missing) are refused in one line that says how to train the run again."""
    spec, layout = load_run(run_dir)
    done = status(layout)
    if done is None or done.get("state") != TRAINED:
        raise SpecError(f"{run_dir} is not trained yet; run `frivolous train` on its spec first")
    if stage == "trained" and (problem := damage(layout, done)):
        raise SpecError(
            f"{layout.root}/{problem}; train the run again with `{retrain(layout)}` (it retrains a "
            "run whose files do not match their checksums)"
        )
    bundle = bundle or load_data(spec, data_root)
    model = stage_model(spec, layout, bundle, stage)
    options = spec.measure
    split = {"test": bundle.test, "val": bundle.val, "train": bundle.train}[options.split]
    if split is None:
        raise SpecError(f"data {spec.data.name!r} has no {options.split!r} split to measure on")
    result = measure(
        model,
        measured_examples(split, options.max_examples, spec.seed),
        list(options.layers) if options.layers else None,
        levels=options.levels,
        samplings=options.samplings,
        unit=options.unit,
        threshold=options.threshold,
        max_samples=options.max_samples,
        device=device,
        seed=stream_seed(spec.seed, "measure"),
        dead=options.dead,
        progress=progress,
    )
    for kind in ("layers", "curves", "histograms"):
        table = result.frame(kind)
        write_atomically(
            layout.measure_table(kind, stage), lambda path, table=table: table.to_parquet(path, index=False)
        )
    network = result.only(options.summary_layers) if options.summary_layers else result
    summary = {
        "auc": network.auc,
        "auc_std": network.auc_std,
        "similarity": network.similarity,
        "prunable": network.prunable,
        "non_prunable": network.non_prunable,
        "pca95": network.pca95,
        "pca80": network.pca80,
        "similarity_std": network.similarity_std,
        "similarity_fraction": network.similarity_fraction,
        "collapsed": result.collapsed,
        "collapse_reason": result.collapse_reason,
        "all_dead": result.all_dead,
        "predicted": {str(k): v for k, v in result.predicted.items()},
        "examples": result.examples,
        "settings": result.settings,
    }
    if stage.startswith("epoch-"):  # the figure of metrics across epochs needs the accuracy too
        target = resolve_device(device)
        summary["test_accuracy"] = evaluate(model.to(target), bundle.test, target).accuracy
    write_json(layout.measure_summary(stage), summary)
    return result
