"""Compress a trained run: its network, fitted on its own training split and
judged on its test split, and the architecture that rebuilds it (what
``frivolous compress RUN_DIR`` writes); and a run's *effective width*, the
units of the smallest network that keeps a given agreement (what a sweep
records when ``measure.effective_width`` is set)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sized
from pathlib import Path
from typing import Any

import torch

from frivolous.common.files import write_json
from frivolous.common.seeding import generator, stream_seed
from frivolous.compression import Compressed, compress
from frivolous.data.bundle import DataBundle, Split, TensorSplit
from frivolous.data.sampling import split_labels, stratified_sample
from frivolous.runs.folder import load_data, load_run, stage_model
from frivolous.runs.layout import RunLayout
from frivolous.runs.spec import SpecError

SPLITS = ("train", "val", "test")


def compress_run(
    run_dir: str | Path,
    *,
    agreement: float | None = None,
    units: int | Mapping[str, int] | None = None,
    ratio: float | None = None,
    calibration: str = "train",
    held_out: str = "test",
    examples: int | None = 2000,
    held_out_examples: int | None = None,
    stage: str = "trained",
    device: str | torch.device = "auto",
    data_root: str | Path | None = None,
    bundle: DataBundle | None = None,
    progress: bool | None = None,
) -> tuple[Compressed, dict[str, Any]]:
    """Compress stage ``stage`` of the run in ``run_dir`` (see :func:`frivolous.compression.compress`).

    The fit and the search use ``examples`` examples (class-stratified, seeded
    by the run's seed; all if None) of the ``calibration`` split; agreement and
    accuracy are measured on ``held_out_examples`` examples of the ``held_out``
    split (stratified likewise; all if None), which they never see.
    Returns the result and the architecture that rebuilds the compressed model
    (:func:`frivolous.compression.saved.load_compressed`)."""
    for name, value in (("calibration", calibration), ("held_out", held_out)):
        if value not in SPLITS:
            raise SpecError(f"{name} must be one of {list(SPLITS)}, got {value!r}")
    if calibration == held_out:
        raise SpecError(f"the held-out split must differ from the calibration split, got {held_out!r} for both")
    spec, layout = load_run(run_dir)
    bundle = bundle or load_data(spec, data_root)
    model = stage_model(spec, layout, bundle, stage)
    splits = {"train": bundle.train, "val": bundle.val, "test": bundle.test}
    calibration_split, held_out_split = splits[calibration], splits[held_out]
    if calibration_split is None or held_out_split is None:
        missing = calibration if calibration_split is None else held_out
        raise SpecError(f"data {spec.data.name!r} has no {missing!r} split")
    seed = stream_seed(spec.seed, "compress")
    fitted = _examples(calibration_split, examples, seed)
    result = compress(
        model,
        fitted,
        agreement=agreement,
        units=units,
        ratio=ratio,
        held_out=_examples(held_out_split, held_out_examples, seed),
        device=device,
        seed=seed,
        progress=progress,
    )
    options = dict(spec.model.options) | {"num_classes": bundle.num_classes}
    if spec.model.family == "mlp":
        options.setdefault("in_features", math.prod(bundle.input_shape))
    architecture = {"family": spec.model.family, "width_factor": spec.model.width_factor, "options": options}
    return result, architecture


def effective_width(
    run_dir: str | Path,
    agreement: float,
    *,
    device: str | torch.device = "auto",
    data_root: str | Path | None = None,
    bundle: DataBundle | None = None,
) -> dict[str, Any]:
    """The run's effective width at ``agreement``: write the units kept per
    layer to its folder and return the record's fields.

    ``effective_width`` sums the units kept over the layers compress can
    shrink (a layer it keeps whole, such as an LRN-normalised conv layer or
    the logits, counts in neither sum); ``effective_width_units`` is what
    they had; ``effective_agreement`` is measured on the test split."""
    result, _ = compress_run(
        run_dir, agreement=agreement, device=device, data_root=data_root, bundle=bundle, progress=False
    )
    layers = result.layers[result.layers["note"] == ""]
    kept, units = int(layers["units_after"].sum()), int(layers["units_before"].sum())
    write_json(
        RunLayout(Path(run_dir)).effective_width,
        {
            "agreement": agreement,
            "held_out_agreement": result.agreement,
            "layers": {
                row.layer: {"units": int(row.units_before), "kept": int(row.units_after)} for row in layers.itertuples()
            },
            "params_before": result.params_before,
            "params_after": result.params_after,
            "macs_before": result.macs_before,
            "macs_after": result.macs_after,
        },
    )
    return {
        "effective_width": kept,
        "effective_width_units": units,
        "effective_width_fraction": kept / units if units else float("nan"),
        "effective_agreement": result.agreement,
    }


def _examples(split: Split, limit: int | None, seed: int) -> Any:
    """(inputs, labels) of ``limit`` examples of ``split`` (all if None), or a DataLoader over them."""
    assert isinstance(split, Sized)  # a TensorSplit, or a map-style Dataset with a length
    if limit is not None and limit < len(split):
        chosen = stratified_sample(split_labels(split), limit, generator(seed, "compress", "examples"))
        if isinstance(split, TensorSplit):
            return split.inputs[chosen.to(split.inputs.device)], split.labels[chosen.to(split.labels.device)]
        split = torch.utils.data.Subset(split, chosen.tolist())
    if isinstance(split, TensorSplit):
        return split.inputs, split.labels
    return torch.utils.data.DataLoader(split, batch_size=256)
