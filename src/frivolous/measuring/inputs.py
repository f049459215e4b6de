"""Turning what the user passes as ``data``, ``device`` and ``model`` into
batches of inputs on one device, a model on that device in eval mode, and
restoring the model afterwards."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch import nn

DEFAULT_BATCH_SIZE = 256


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` is CUDA when present, else the CPU."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}") from error
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was asked for, but CUDA is not available")
    return resolved


def _as_tensor(value: Any) -> torch.Tensor | None:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value)
    return None


def _inputs_of_batch(batch: Any) -> torch.Tensor:
    tensor = _as_tensor(batch)
    if tensor is not None:
        return tensor
    if isinstance(batch, (tuple, list)) and batch:
        first = _as_tensor(batch[0])
        if first is not None:
            return first
    if isinstance(batch, Mapping):
        raise TypeError(
            f"batches are dicts with keys {list(batch)}; pass a DataLoader whose batches are "
            "tensors or (inputs, labels) tuples"
        )
    raise TypeError(f"cannot read inputs from a batch of type {type(batch).__name__}")


def _is_pair(data: Any) -> bool:
    """An (inputs, labels) pair of tensors or arrays with one label per input."""
    if not (isinstance(data, (tuple, list)) and len(data) == 2):
        return False
    inputs, labels = (_as_tensor(d) for d in data)
    return (
        inputs is not None
        and labels is not None
        and inputs.ndim > 0
        and labels.ndim > 0
        and (len(inputs) == len(labels))
    )


def iter_inputs(data: Any, batch_size: int | None, device: torch.device) -> Iterator[torch.Tensor]:
    """Input batches of at most ``batch_size`` examples (a DataLoader's own
    batches if None), on ``device``. Labels, if any, are dropped: removability
    compares with the unablated prediction, never with a label."""
    whole = _as_tensor(data)
    if whole is None and _is_pair(data):
        whole = _as_tensor(data[0])
    if whole is not None:
        if whole.ndim == 0:
            raise ValueError("data is a scalar; pass a batch of inputs (examples along the first dimension)")
        batches: Iterable[Any] = whole.split(batch_size or DEFAULT_BATCH_SIZE)
    elif isinstance(data, Iterable) and not isinstance(data, (str, bytes, Mapping)):
        batches = data
    else:
        raise TypeError(
            f"data must be a DataLoader, a tensor of inputs or an (inputs, labels) pair, got {type(data).__name__}"
        )
    for batch in batches:
        inputs = _inputs_of_batch(batch)
        for chunk in inputs.split(batch_size) if batch_size else (inputs,):
            if len(chunk):
                yield chunk.to(device, non_blocking=True)


def first_batch(data: Any, batch_size: int | None, device: torch.device) -> torch.Tensor:
    """The first batch :func:`iter_inputs` yields; data with none is a clear error."""
    first = next(iter_inputs(data, batch_size, device), None)
    if first is None:
        raise ValueError("data is empty: it holds no examples to measure on")
    return first


def known_examples(data: Any) -> int | None:
    """The number of examples in ``data`` where it says so without a pass over
    it (a tensor, an ``(inputs, labels)`` pair, a loader of a sized dataset)."""
    whole = _as_tensor(data)
    if whole is None and _is_pair(data):
        whole = _as_tensor(data[0])
    if whole is not None:
        return len(whole) if whole.ndim else None
    dataset = getattr(data, "dataset", None)
    return len(dataset) if dataset is not None and hasattr(dataset, "__len__") else None


def batch_count(data: Any, batch_size: int | None) -> int | None:
    """Number of batches :func:`iter_inputs` will yield, if known in advance."""
    whole = _as_tensor(data)
    if whole is None and _is_pair(data):
        whole = _as_tensor(data[0])
    if whole is not None:
        size = batch_size or DEFAULT_BATCH_SIZE
        return -(-len(whole) // size) if whole.ndim else None
    if batch_size is None and hasattr(data, "__len__"):
        try:
            return len(data)
        except TypeError:
            return None
    return None


@contextmanager
def evaluating(model: nn.Module, device: torch.device) -> Iterator[nn.Module]:
    """The model in eval mode on ``device``; afterwards every module's own
    training flag, and the model's device, are restored."""
    modes = {module: module.training for module in model.modules()}
    tensors = [*model.parameters(), *model.buffers()]
    devices = {t.device for t in tensors}
    moved = bool(tensors) and devices != {device}
    if moved and len(devices) > 1:
        raise ValueError(
            f"the model is spread over devices {sorted(map(str, devices))}; "
            "pass device= the one that holds its inputs, or place it on one device"
        )
    original = next(iter(devices)) if devices else device
    model.eval()
    if moved:
        model.to(device)
    try:
        yield model
    finally:
        if moved:
            model.to(original)
        for module, training in modes.items():
            module.training = training
