"""Reading a run folder back: its spec, its state, its data and its network at
any stage, and the examples it is measured on. Shared by the loop that
trains a run (:mod:`frivolous.experiments.run`) and the practitioner's side
that analyses or compresses one (:mod:`frivolous.sources.run_folder`,
:mod:`frivolous.experiments.compress_run`), so that neither reaches into the
other."""

from __future__ import annotations

import math
from collections.abc import Sized
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from frivolous import data as datasets
from frivolous import zoo
from frivolous.common.files import read_json
from frivolous.common.seeding import generator, stream_seed
from frivolous.data.bundle import DataBundle, Split, TensorSplit
from frivolous.data.sampling import split_labels, stratified_sample
from frivolous.runs.integrity import damage
from frivolous.runs.layout import RunLayout
from frivolous.runs.spec import RunSpec, SpecError

TRAINED = "trained"
DIVERGED = "diverged"
"""The training loss became non-finite: a final state (training again would
diverge again, deterministically), with no weights to measure."""
FINISHED = (TRAINED, DIVERGED)


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
    return zoo.create(
        spec.model.family,
        spec.model.width_factor,
        num_classes=bundle.num_classes,
        init=spec.model.init,
        init_std=spec.model.init_std,
        output_init_std=spec.model.output_init_std,
        seed=stream_seed(spec.seed, "model"),
        **options,
    )


def status(layout: RunLayout) -> dict[str, Any] | None:
    return read_json(layout.status) if layout.status.is_file() else None


def damaged(layout: RunLayout) -> str | None:
    """What is wrong with the files of a run whose status says trained (see
    :func:`~frivolous.runs.integrity.damage`), or None; None too for a run not trained."""
    done = status(layout)
    return damage(layout, done) if done is not None and done.get("state") == TRAINED else None


def load_run(run_dir: str | Path) -> tuple[RunSpec, RunLayout]:
    layout = RunLayout(Path(run_dir))
    if not layout.spec.is_file():
        raise SpecError(f"{run_dir} is not a run folder (no spec.yaml)")
    return RunSpec.from_yaml(layout.spec), layout


def stage_model(spec: RunSpec, layout: RunLayout, bundle: DataBundle, stage: str) -> nn.Module:
    """The network of a stage: ``trained`` (final weights), ``init`` (as
    built from the seed, before any step) or ``epoch-<n>`` (a kept checkpoint).
    A weights file that cannot be read (a kept checkpoint has no checksum)
    is named in one line, with what to do."""
    model = build_model(spec, bundle)
    if stage == "init":
        return model
    path = layout.weights if stage == "trained" else layout.epoch_weights(int(stage.removeprefix("epoch-")))
    if not path.is_file():
        raise SpecError(f"{layout.root} has no weights for stage {stage!r} ({path.name})")
    try:
        weights = load_file(str(path))
    except SafetensorError as error:
        raise SpecError(
            f"{path} cannot be read ({error}): remove the run folder {layout.root} and train it again "
            f"({retrain(layout)})"
        ) from None
    model.load_state_dict(weights)
    return model


def retrain(layout: RunLayout) -> str:
    """The command that trains a run again (into the folder it is in)."""
    return f"frivolous train {layout.spec} --out {layout.root.parent}"


def measured_examples(split: Split, limit: int | None, seed: int) -> Any:
    """The examples a run is measured on: all of ``split``, or a
    class-stratified sample of ``limit`` of them drawn from ``seed`` (the same
    for every stage of a run), never a prefix (see :mod:`frivolous.data.sampling`);
    ``frivolous analyze`` of a run folder draws the same."""
    assert isinstance(split, Sized)  # a TensorSplit, or a map-style Dataset with a length
    if limit is not None and limit < len(split):
        chosen = stratified_sample(split_labels(split), limit, generator(seed, "measure", "examples"))
        if isinstance(split, TensorSplit):
            return split.inputs[chosen.to(split.inputs.device)]
        split = torch.utils.data.Subset(split, chosen.tolist())
    return split.inputs if isinstance(split, TensorSplit) else torch.utils.data.DataLoader(split, batch_size=256)
