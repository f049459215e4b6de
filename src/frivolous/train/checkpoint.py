"""Saving and restoring training state without pickle.

Tensors (weights, optimiser buffers) go to safetensors files; everything
else (epoch, optimiser settings, early-stopping state, history) to JSON.
Both are written atomically, the JSON last, so a state on disk is always a
complete one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from frivolous.common.files import read_json, write_atomically, write_json

MODEL, OPTIMIZER = "model/", "optimizer/"


def _contiguous(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {name: t.detach().contiguous().cpu().clone() for name, t in tensors.items()}


def save_weights(model: nn.Module, path: Path) -> None:
    tensors = _contiguous(model.state_dict())
    write_atomically(path, lambda temporary: save_file(tensors, str(temporary)))


def save_training_state(
    model: nn.Module, optimizer: torch.optim.Optimizer, state_path: Path, state: dict[str, Any]
) -> None:
    """Model and optimiser tensors, then the JSON state that names them.

    The tensors go to a file of their own epoch (``<stem>-<epoch>.safetensors``),
    so that a crash between the two writes leaves the previous JSON naming the
    previous, still present, tensors: the pair on disk always belongs together.
    Tensor files the JSON no longer names are removed afterwards."""
    optimizer_state = optimizer.state_dict()
    tensors = {MODEL + name: t for name, t in model.state_dict().items()}
    scalars: dict[str, dict[str, Any]] = {}
    for index, values in optimizer_state["state"].items():
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{OPTIMIZER}{index}/{key}"] = value
            else:
                scalars.setdefault(str(index), {})[key] = value
    tensors = _contiguous(tensors)
    name = f"{state_path.stem}-{state['epoch']}.safetensors"
    write_atomically(state_path.parent / name, lambda temporary: save_file(tensors, str(temporary)))
    optimizer_json = {"param_groups": optimizer_state["param_groups"], "scalars": scalars}
    write_json(state_path, {**state, "tensors": name, "optimizer": optimizer_json})
    for stale in state_path.parent.glob(f"{state_path.stem}-*.safetensors"):
        if stale.name != name:
            stale.unlink(missing_ok=True)


def load_training_state(model: nn.Module, optimizer: torch.optim.Optimizer, state_path: Path) -> dict[str, Any] | None:
    """Restore model and optimiser; return the JSON state, or None if there is none."""
    if not state_path.is_file():
        return None
    state = read_json(state_path)
    device = next(model.parameters()).device
    tensors = load_file(str(state_path.parent / state["tensors"]), device=str(device))
    model.load_state_dict({name[len(MODEL) :]: t for name, t in tensors.items() if name.startswith(MODEL)})
    per_parameter: dict[int, dict[str, Any]] = {}
    for name, tensor in tensors.items():
        if name.startswith(OPTIMIZER):
            index, key = name[len(OPTIMIZER) :].split("/", 1)
            per_parameter.setdefault(int(index), {})[key] = tensor
    for index, values in state["optimizer"]["scalars"].items():
        per_parameter.setdefault(int(index), {}).update(values)
    optimizer.load_state_dict({"state": per_parameter, "param_groups": state["optimizer"]["param_groups"]})
    return state
