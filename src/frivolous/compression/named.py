"""Compress a model and data named as ``frivolous analyze`` names them (see :mod:`frivolous.sources`).

    torchvision:resnet18 --data imagefolder:~/val    path/to/model.py:build --weights w.safetensors --data x.npy

The model comes from the sources' model registry, the examples from its data
registry: ``examples + held_out`` of them, a seeded sample (class-stratified
where the source knows the labels). A seeded part of that sample
(stratified likewise) is held out: the fit and the search for sizes never
see it, and the agreement and accuracy are measured on it; the rest is the
calibration data. A run folder is compressed on its own splits instead
(:mod:`frivolous.experiments.compress_run`).

The architecture recorded is the spec that builds the model *without* its
weights (:func:`architecture_spec`) and the builder's options, so that
:func:`~frivolous.compression.saved.load_compressed` rebuilds it through the
same registry, shrinks its layers to the saved shapes and loads the
compressed weights: nothing is downloaded, nothing unpickled.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from frivolous.common.seeding import generator
from frivolous.compression.api import Compressed, compress, gather
from frivolous.compression.transformer_mlp import find_blocks
from frivolous.data.sampling import stratified_sample
from frivolous.sources import SourceError, resolve_data, resolve_model
from frivolous.sources.fit import check_fits
from frivolous.sources.models import model_scheme

HELD_OUT_EXAMPLES = 1000
"""Examples held out to judge on when the command line does not say."""


@dataclass(frozen=True)
class NamedCompression:
    """A named model compressed: the result, the architecture that rebuilds it
    (``{"source", "options"}``), what ``compressed.json`` records of its origin
    (``record``) and why the numbers may mean nothing (``caution``, "" if they do)."""

    result: Compressed
    architecture: dict[str, Any]
    record: dict[str, Any]
    caution: str = ""


def compress_named(
    model: str,
    data: str | None,
    *,
    weights: str | Path | None = None,
    options: Mapping[str, Any] | None = None,
    examples: int = 2000,
    held_out: int = HELD_OUT_EXAMPLES,
    agreement: float | None = None,
    units: int | Mapping[str, int] | None = None,
    ratio: float | None = None,
    seed: int = 0,
    device: str | torch.device = "auto",
    data_root: Path | None = None,
    progress: bool | None = None,
) -> NamedCompression:
    """Compress the model that the spec ``model`` names (built with ``options``,
    loaded with ``weights``) on ``examples`` examples of ``data``, judged on
    ``held_out`` others (see :func:`frivolous.compression.compress`).

    Raises :class:`~frivolous.sources.SourceError` for a model or data that
    cannot be had or do not fit, :class:`~frivolous.compression.CompressionError`
    for a graph compress cannot follow."""
    if model_scheme(model)[0] == "run":
        raise SourceError(f"{model} is a run folder: compress it on its splits (frivolous.experiments.compress_run)")
    for name, value in (("examples", examples), ("held_out", held_out)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    source = resolve_model(model, weights=weights, options=options, data_root=data_root, seed=seed)
    drawn = resolve_data(data, source, examples=examples + held_out, seed=seed, data_root=data_root)
    check_fits(source, drawn, device)
    mask: torch.Tensor | None = None
    if find_blocks(source.model) and _lengths_vary(drawn.inputs):
        inputs, mask = padded(drawn.inputs)
        labels = None
    else:
        inputs, labels = gather(drawn.inputs)
    labels = drawn.labels if drawn.labels is not None else labels
    held_count = min(held_out, max(1, round(len(inputs) * held_out / (examples + held_out))))
    fitted, judged = held_out_split(len(inputs), held_count, labels, seed)
    if len(fitted) < 2:
        raise SourceError(
            f"data {drawn.label} holds {len(inputs)} examples: too few to calibrate on some and judge on others"
        )

    def part(index: torch.Tensor) -> Any:
        if mask is not None:
            return {"input_ids": inputs[index], "attention_mask": mask[index]}
        return inputs[index] if labels is None else (inputs[index], labels[index].long())

    result = compress(
        source.model,
        part(fitted),
        held_out=part(judged),
        agreement=agreement,
        units=units,
        ratio=ratio,
        device=device,
        seed=seed,
        progress=progress,
    )
    # trust_remote_code is the caller's switch, not part of the architecture: load_compressed takes it from its caller
    kept = {name: value for name, value in (options or {}).items() if name != "trust_remote_code"}
    architecture = {"source": architecture_spec(model), "options": kept}
    record = {
        "model": model,
        "model_description": source.description,
        "weights": str(weights) if weights else None,
        "data": drawn.label,
        "data_description": drawn.description,
        "calibration_examples": len(fitted),
        "seed": seed,
    }
    return NamedCompression(result, architecture, record, drawn.meaningless)


def _lengths_vary(data: Any) -> bool:
    """Whether ``data`` is batches of token ids of more than one length (text lines, batched by length)."""
    if isinstance(data, torch.Tensor):
        return False
    return len({batch.shape[1:] for batch in data if isinstance(batch, torch.Tensor) and batch.ndim == 2}) > 1


def padded(batches: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Batches of token ids of several lengths as one right-padded tensor and its
    ``attention_mask`` (zeros over the padding, which a transformer's
    compression neither fits on nor judges)."""
    rows = [row for batch in batches for row in batch]
    longest = max(len(row) for row in rows)
    ids = torch.zeros(len(rows), longest, dtype=rows[0].dtype)
    mask = torch.zeros(len(rows), longest, dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)], mask[i, : len(row)] = row, 1
    return ids, mask


def held_out_split(
    count: int, held_out: int, labels: torch.Tensor | None, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sorted indices ``(calibration, held out)`` of ``count`` examples:
    ``held_out`` of them drawn from the seed (class-stratified when ``labels``
    are known), the others to calibrate on. Disjoint; together, all."""
    rng = generator(seed, "compress", "held-out")
    if labels is not None:
        judged = stratified_sample(labels, held_out, rng)
    else:
        judged = torch.randperm(count, generator=rng)[:held_out].sort().values
    fitted = torch.ones(count, dtype=torch.bool)
    fitted[judged] = False
    return torch.nonzero(fitted).flatten(), judged


def architecture_spec(model: str) -> str:
    """The spec that builds ``model``'s architecture without fetching its
    weights: ``torchvision:NAME`` and ``timm:NAME`` untrained, a factory file
    by its absolute path (so that it is found from any folder), a Hugging
    Face model by its local folder (a hub name: its snapshot in the cache;
    :func:`~frivolous.compression.saved.load_compressed` never downloads), others
    as given."""
    scheme, argument = model_scheme(model)
    if scheme in ("torchvision", "timm"):
        return f"{scheme}:{argument.partition(':')[0]}"
    if scheme == "hf":
        from frivolous.sources.hf_models import local_folder  # imported here: only an hf model needs it

        return f"hf:{local_folder(argument)}"
    if scheme == "factory":
        target, _, function = argument.rpartition(":")
        if target.endswith(".py"):
            target = str(Path(target).expanduser().resolve())
        return f"factory:{target}:{function}"
    return model
