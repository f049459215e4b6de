"""Inputs given as tensors: a file (``.safetensors``, ``.npy``) or random noise (``random:C,H,W``).

A ``.safetensors`` file holds the inputs under ``inputs`` (a file without
that tensor is an error that lists what it holds) and, optionally, class
labels under ``labels`` (used only to draw a class-stratified sample, and
by ``frivolous compress`` to report accuracy);
a ``.npy`` file is the array of inputs, read with ``allow_pickle=False``.
Floating-point inputs become float32.

``random:C,H,W`` (or ``random`` for the model's own input shape) is standard
normal noise drawn from the seed: a smoke test of the pipeline, whose
numbers describe the network on noise, not on any task; the report says so.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from frivolous.common.seeding import generator
from frivolous.sources.base import DataRequest, DataSource, SourceError, one_line
from frivolous.sources.selection import DEFAULT_EXAMPLES, tensor_examples

TENSOR_SUFFIXES = (".safetensors", ".npy")
NOISE = (
    "the inputs are random noise ({label}): the numbers describe the network on noise, not on any task; "
    "use them as a smoke test only"
)


def resolve_file(request: DataRequest) -> DataSource:
    path = Path(request.argument).expanduser()
    if not path.is_file():
        raise SourceError(f"data file {path} does not exist")
    inputs, labels = _read(path)
    if inputs.ndim < 2:
        raise SourceError(
            f"data file {path} holds a tensor of shape {tuple(inputs.shape)}; expected examples along "
            "the first dimension and at least one more"
        )
    if labels is not None and len(labels) != len(inputs):
        raise SourceError(f"data file {path}: {len(inputs)} inputs but {len(labels)} labels")
    if inputs.is_floating_point():
        inputs = inputs.float()
    chosen, chosen_labels = tensor_examples(inputs, request.examples, labels, request.seed)
    return DataSource(
        inputs=chosen,
        label=path.name,
        description=f"{len(chosen)} of the {len(inputs)} inputs "
        f"(each {'x'.join(map(str, inputs.shape[1:]))}) in {path}",
        examples=len(chosen),
        labels=chosen_labels,
    )


def _read(path: Path) -> tuple[torch.Tensor, torch.Tensor | None]:
    suffix = path.suffix.lower()
    if suffix not in TENSOR_SUFFIXES:
        raise SourceError(f"data file {path} must end in {' or '.join(TENSOR_SUFFIXES)}")
    try:
        if suffix == ".npy":
            return torch.from_numpy(np.load(path, allow_pickle=False)), None
        tensors = load_file(str(path))
    except (ValueError, OSError, SafetensorError) as error:  # a pickled .npy is a ValueError, unread
        raise SourceError(f"cannot read data file {path}: {one_line(error)}") from None
    if "inputs" not in tensors:  # never a guess: a file of weights is not a file of examples
        held = ", ".join(f"{name} {tuple(tensors[name].shape)}" for name in sorted(tensors)) or "no tensors"
        raise SourceError(
            f"data file {path} has no tensor named 'inputs' (it holds {held}); "
            "name the inputs 'inputs' (and the labels, if any, 'labels')"
        )
    labels = tensors.get("labels")
    return tensors["inputs"], None if labels is None else labels.long().flatten()


def resolve_random(request: DataRequest) -> DataSource:
    label = f"random:{request.argument}" if request.argument else "random"
    if request.argument:
        try:
            shape = tuple(int(size) for size in request.argument.split(","))
        except ValueError:
            shape = ()
        if not shape or min(shape) < 1:
            raise SourceError(f"{label}: expected positive sizes separated by commas, as random:3,32,32")
    elif request.model.input_shape is not None:
        shape = tuple(request.model.input_shape)
    else:
        raise SourceError("random needs an input shape, as random:3,32,32 (the model does not say its own)")
    count = DEFAULT_EXAMPLES if request.examples is None else request.examples
    inputs = torch.randn(count, *shape, generator=generator(request.seed, "analyze", "random"))
    return DataSource(
        inputs=inputs,
        label=label,
        description=f"{count} standard-normal inputs of shape {'x'.join(map(str, shape))}",
        examples=count,
        meaningless=NOISE.format(label=label),
    )
