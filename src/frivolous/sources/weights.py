"""Loading a weights file into a model, refusing anything but tensors.

A ``.safetensors`` file holds nothing but tensors. A ``.pt``/``.pth``/``.bin``
file is a pickle, and unpickling runs whatever the file asks; it is read
only through ``torch.load(weights_only=True)``, which builds tensors and
plain containers and refuses everything else. A checkpoint that wraps its
state dict (``{"state_dict": ...}``, ``{"model": ...}``) is unwrapped, and a
``module.`` prefix left by DataParallel is dropped.

A file that does not match the model is refused before anything is loaded,
with the keys and shapes that differ named in one line.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from frivolous.sources.base import SourceError, one_line

SAFE_SUFFIXES = (".safetensors",)
PICKLE_SUFFIXES = (".pt", ".pth", ".bin")
WRAPPERS = ("state_dict", "model_state_dict", "model")
"""Keys under which training scripts commonly keep a model's state dict."""
SHOWN = 5
"""Keys named per kind of mismatch; the rest are counted."""


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a weights file, by name (see the module's docstring)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise SourceError(f"weights file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix in SAFE_SUFFIXES:
        try:
            return load_file(str(path))
        except (SafetensorError, OSError) as error:
            raise SourceError(f"cannot read weights file {path}: {one_line(error)}") from None
    if suffix in PICKLE_SUFFIXES:
        try:
            loaded = torch.load(path, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as error:
            raise SourceError(
                f"cannot read weights file {path} with torch.load(weights_only=True), which refuses anything "
                f"but tensors: {one_line(error)}; save a state dict (ideally as .safetensors)"
            ) from None
        return _state_dict_in(loaded, path)
    raise SourceError(f"weights file {path} must end in {', '.join(SAFE_SUFFIXES + PICKLE_SUFFIXES)}")


def _state_dict_in(loaded: object, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(loaded, Mapping):
        for key in WRAPPERS:
            if isinstance(loaded.get(key), Mapping):
                loaded = loaded[key]
                break
    if not isinstance(loaded, Mapping) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise SourceError(f"weights file {path} holds a {type(loaded).__name__}, not a state dict of tensors")
    state = dict(loaded)
    if state and all(key.startswith("module.") for key in state):
        state = {key.removeprefix("module."): value for key, value in state.items()}
    return state


def load_weights(model: nn.Module, path: str | Path) -> None:
    """Load the weights file ``path`` into ``model``, or a :class:`SourceError`
    naming the missing, unexpected and mis-shaped keys."""
    state = read_state_dict(path)
    expected = model.state_dict()
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    shapes = [
        f"{key} {tuple(state[key].shape)} in the file, {tuple(value.shape)} in the model"
        for key, value in expected.items()
        if key in state and state[key].shape != value.shape
    ]
    problems = [
        f"{what} ({len(items)}): {', '.join(items[:SHOWN])}{', ...' if len(items) > SHOWN else ''}"
        for what, items in (("missing keys", missing), ("unexpected keys", unexpected), ("shapes differ", shapes))
        if items
    ]
    if problems:
        raise SourceError(f"weights file {path} does not match the model: {'; '.join(problems)}")
    model.load_state_dict(state)
