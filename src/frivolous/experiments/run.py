"""One run: build the data and the model from a spec, train with checkpoints,
measure, and keep everything in the run's folder.

Training is idempotent and crash-safe: a finished run is found by its
folder and skipped; an interrupted one resumes from its last checkpoint.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from torch import nn

from frivolous import data as datasets
from frivolous import zoo
from frivolous.data.bundle import DataBundle, Split, TensorSplit
from frivolous.experiments.layout import RunLayout, read_json, write_atomically, write_json
from frivolous.experiments.spec import RunSpec, SpecError
from frivolous.measure import MeasureResult, measure
from frivolous.measure.inputs import resolve_device
from frivolous.measure.seeding import stream_seed
from frivolous.train.checkpoint import load_training_state, save_training_state, save_weights
from frivolous.train.distributed import from_environment, start
from frivolous.train.loop import Callback, Trainer, TrainState, evaluate

TRAINED = "trained"


def load_data(spec: RunSpec, data_root: str | Path | None = None) -> DataBundle:
    """The spec's data; ``data_root`` goes to sources that read files."""
    options = spec.data.options
    if data_root is not None and "root" in datasets.option_names(spec.data.name):
        options["root"] = str(data_root)
    return datasets.load(spec.data.name, seed=spec.seed, **options)


def build_model(spec: RunSpec, bundle: DataBundle) -> nn.Module:
    """The spec's network, sized for the data (classes; the MLP's inputs)."""
    options = spec.model.options
    if spec.model.family == "mlp":
        options.setdefault("in_features", math.prod(bundle.input_shape))
    return zoo.create(spec.model.family, spec.model.width_factor, num_classes=bundle.num_classes,
                      init=spec.model.init, init_std=spec.model.init_std, seed=stream_seed(spec.seed, "model"),
                      **options)  # fmt: skip


class Checkpoints(Callback):
    """Restores the last state at the start; after every epoch saves it, and
    the weights at the spec's checkpoint epochs; saves the best weights when
    validation improves."""

    def __init__(self, layout: RunLayout, keep: tuple[int, ...], *, writer: bool = True) -> None:
        self.layout, self.keep, self.writer = layout, set(keep), writer

    def on_start(self, trainer: Trainer) -> None:
        state = load_training_state(trainer.model, trainer.optimizer, self.layout.last_state)
        if state is None:
            if 0 in self.keep and self.writer:
                save_weights(trainer.model, self.layout.epoch_weights(0))
            return
        trainer.state = TrainState.from_dict(state)
        if self.layout.best_weights.is_file():
            trainer.best_weights = load_file(str(self.layout.best_weights), device=str(trainer.device))

    def on_improvement(self, trainer: Trainer) -> None:
        if self.writer:
            save_weights(trainer.model, self.layout.best_weights)

    def on_epoch_end(self, trainer: Trainer) -> None:
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
    text = spec.to_yaml()
    if layout.spec.is_file():
        if RunSpec.from_yaml(layout.spec) != spec:
            raise SpecError(f"{layout.root} holds a different spec than the one given (a hash collision?)")
    else:
        write_atomically(layout.spec, text)
    return layout


def status(layout: RunLayout) -> dict[str, Any] | None:
    return read_json(layout.status) if layout.status.is_file() else None


def train_run(
    spec: RunSpec,
    root: str | Path,
    *,
    device: str | torch.device = "auto",
    data_root: str | Path | None = None,
    progress: bool | None = None,
) -> TrainOutcome:
    """Train ``spec`` into its folder under ``root``; skip it if it is done.

    Under ``torchrun`` the processes train the run together (see
    :mod:`frivolous.train.distributed`) and the first one writes the folder."""
    shard = from_environment()
    target = start(shard, resolve_device(device))
    if shard.main:
        prepare_folder(spec, root)
    shard.barrier()
    layout = RunLayout.of(spec, root)
    done = status(layout)
    if done is not None and done.get("state") == TRAINED:
        return TrainOutcome(layout, done, skipped=True)
    started = time.perf_counter()
    bundle = load_data(spec, data_root)
    model = build_model(spec, bundle)
    trainer = Trainer(model, _on(bundle, target), spec.train, seed=spec.seed, device=target, progress=progress,
                      callbacks=[Checkpoints(layout, spec.train.checkpoints, writer=shard.main)], shard=shard)  # fmt: skip
    state = trainer.run()
    evaluations = {
        f"{name}_accuracy": evaluate(trainer.model, split, target, precision=spec.train.precision,
                                     workers=spec.train.workers, shard=shard).accuracy  # fmt: skip
        for name, split in (("train", trainer.data.train), ("val", trainer.data.val), ("test", trainer.data.test))
        if split is not None
    }
    result = {
        "state": TRAINED,
        "epochs": state.epoch,
        "best_epoch": state.best_epoch if spec.train.early_stopping else state.epoch,
        "stopped_early": state.stopped_early,
        "params": zoo.count_parameters(trainer.model),
        "device": str(target),
        "processes": shard.world,
        "seconds": time.perf_counter() - started,
        **evaluations,
    }
    if shard.main:
        save_weights(trainer.model, layout.weights)
        write_json(layout.history, state.history)
        write_json(layout.status, result)  # last: the run is complete once this exists
    shard.barrier()
    return TrainOutcome(layout, result, skipped=False)


def _on(bundle: DataBundle, device: torch.device) -> DataBundle:
    """The bundle with its tensor splits moved to ``device`` once."""
    def move(split: Split | None) -> Split | None:
        return split.to(device) if isinstance(split, TensorSplit) else split

    return DataBundle(bundle.name, move(bundle.train), move(bundle.test), move(bundle.val), bundle.num_classes,
                      bundle.input_shape, bundle.augment)  # fmt: skip


def load_run(run_dir: str | Path) -> tuple[RunSpec, RunLayout]:
    layout = RunLayout(Path(run_dir))
    if not layout.spec.is_file():
        raise SpecError(f"{run_dir} is not a run folder (no spec.yaml)")
    return RunSpec.from_yaml(layout.spec), layout


def stage_model(spec: RunSpec, layout: RunLayout, bundle: DataBundle, stage: str) -> nn.Module:
    """The network of a stage: ``trained`` (final weights), ``init`` (as
    built from the seed, before any step) or ``epoch-<n>`` (a kept checkpoint)."""
    model = build_model(spec, bundle)
    if stage == "init":
        return model
    path = layout.weights if stage == "trained" else layout.epoch_weights(int(stage.removeprefix("epoch-")))
    if not path.is_file():
        raise SpecError(f"{layout.root} has no weights for stage {stage!r} ({path.name})")
    model.load_state_dict(load_file(str(path)))
    return model


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
    the tables and a summary into the run's folder."""
    spec, layout = load_run(run_dir)
    done = status(layout)
    if done is None or done.get("state") != TRAINED:
        raise SpecError(f"{run_dir} is not trained yet; run `frivolous train` on its spec first")
    bundle = bundle or load_data(spec, data_root)
    model = stage_model(spec, layout, bundle, stage)
    options = spec.measure
    split = {"test": bundle.test, "val": bundle.val, "train": bundle.train}[options.split]
    if split is None:
        raise SpecError(f"data {spec.data.name!r} has no {options.split!r} split to measure on")
    result = measure(
        model, _examples(split, options.max_examples), list(options.layers) if options.layers else None,
        levels=options.levels, samplings=options.samplings, unit=options.unit, threshold=options.threshold,
        max_samples=options.max_samples, device=device, seed=stream_seed(spec.seed, "measure"),
        dead=options.dead, progress=progress,
    )  # fmt: skip
    for kind in ("layers", "curves", "histograms"):
        table = result.frame(kind)
        write_atomically(layout.measure_table(kind, stage),
                         lambda path, table=table: table.to_parquet(path, index=False))  # fmt: skip
    summary = {
        "auc": result.auc, "auc_std": result.auc_std, "similarity": result.similarity,
        "similarity_std": result.similarity_std, "similarity_fraction": result.similarity_fraction,
        "collapsed": result.collapsed, "predicted": {str(k): v for k, v in result.predicted.items()},
        "examples": result.examples, "settings": result.settings,
    }  # fmt: skip
    if stage.startswith("epoch-"):  # the figure of metrics across epochs needs the accuracy too
        target = resolve_device(device)
        summary["test_accuracy"] = evaluate(model.to(target), bundle.test, target).accuracy
    write_json(layout.measure_summary(stage), summary)
    return result


def _examples(split: Split, limit: int | None) -> Any:
    if isinstance(split, TensorSplit):
        return split.inputs if limit is None else split.inputs[:limit]
    if limit is not None:
        split = torch.utils.data.Subset(split, range(min(limit, len(split))))
    return torch.utils.data.DataLoader(split, batch_size=256)
