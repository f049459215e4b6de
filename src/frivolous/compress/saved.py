"""A compressed network on disk, and back.

A folder holds ``model.safetensors`` (the compressed weights) and
``compressed.json``: what rebuilds the original architecture, the units
kept per layer, and the numbers before -> after. The architecture is a zoo
network (``{"family", "width_factor", "options"}``: a run folder's) or a
model spec of :mod:`frivolous.sources` without its weights
(``{"source": "torchvision:resnet18", "options": {...}}``: see
:mod:`frivolous.compress.named`). :func:`load_compressed` builds the
original architecture, shrinks its layers to the saved shapes
(:func:`resize_like`) and loads the weights: no pickle. A factory
(``file.py:build``) is code, named in ``compressed.json``: it is run only
when the caller says it trusts it (``run_factory=True``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file
from torch import nn

from frivolous import zoo
from frivolous.compress.api import Compressed
from frivolous.compress.surgery import resize_like

WEIGHTS = "model.safetensors"
DESCRIPTION = "compressed.json"


def save_compressed(result: Compressed, folder: str | Path, architecture: dict[str, Any],
                    extra: dict[str, Any] | None = None) -> Path:  # fmt: skip
    """Write ``result`` into ``folder``; ``architecture`` is ``{"family", "width_factor",
    "options"}`` for :func:`frivolous.zoo.create` (``options`` include ``num_classes``),
    or ``{"source", "options"}`` for :func:`frivolous.sources.resolve_model`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {name: tensor.detach().cpu().contiguous() for name, tensor in result.model.state_dict().items()}
    save_file(state, str(folder / WEIGHTS))
    description = {
        "architecture": architecture,
        "layers": result.layers.to_dict("records"),
        "params_before": result.params_before, "params_after": result.params_after,
        "macs_before": result.macs_before, "macs_after": result.macs_after,
        "agreement": result.agreement, "calibration_agreement": result.calibration_agreement,
        "held_out_examples": result.held_out_examples,
        "accuracy_before": result.accuracy_before, "accuracy_after": result.accuracy_after,
        "settings": result.settings, **(extra or {}),
    }  # fmt: skip
    (folder / DESCRIPTION).write_text(json.dumps(description, indent=2, sort_keys=True, default=str) + "\n")
    return folder


def load_compressed(folder: str | Path, *, run_factory: bool = False) -> nn.Module:
    """The compressed network saved in ``folder``, in eval mode. A network
    whose architecture comes from a factory (your ``file.py:build``) is
    rebuilt by calling it, which runs that code: only with ``run_factory=True``."""
    folder = Path(folder)
    if not (folder / DESCRIPTION).is_file() or not (folder / WEIGHTS).is_file():
        raise FileNotFoundError(f"{folder} holds no compressed network ({DESCRIPTION} and {WEIGHTS})")
    architecture = json.loads((folder / DESCRIPTION).read_text())["architecture"]
    model = _original(architecture, folder, run_factory)
    state = load_file(str(folder / WEIGHTS))
    resize_like(model, state).load_state_dict(state)
    return model.eval()


def _original(architecture: dict[str, Any], folder: Path, run_factory: bool) -> nn.Module:
    """The original (uncompressed) architecture, with whatever weights its builder gives it."""
    options = architecture.get("options", {})
    if "source" not in architecture:
        return zoo.create(architecture["family"], architecture["width_factor"], **options)
    from frivolous.sources import resolve_model  # imported here: only a named model needs the sources
    from frivolous.sources.models import model_scheme

    spec = architecture["source"]
    if model_scheme(spec)[0] == "factory" and not run_factory:
        raise ValueError(f"{folder} is rebuilt by calling the factory {spec} (code named in its {DESCRIPTION}); "
                         "pass run_factory=True if you trust it")  # fmt: skip
    return resolve_model(spec, options=options).model
