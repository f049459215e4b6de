"""A compressed zoo network on disk, and back.

A folder holds ``model.safetensors`` (the compressed weights) and
``compressed.json``: the zoo family, width factor and options that rebuild
the original architecture, the units kept per layer, and the numbers
before -> after. :func:`load_compressed` builds the original architecture,
shrinks its layers to the saved shapes (:func:`resize_like`) and loads the
weights: no pickle, no code from the folder.
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
    "options"}`` for :func:`frivolous.zoo.create` (``options`` include ``num_classes``)."""
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


def load_compressed(folder: str | Path) -> nn.Module:
    """The compressed network saved in ``folder``, in eval mode."""
    folder = Path(folder)
    if not (folder / DESCRIPTION).is_file() or not (folder / WEIGHTS).is_file():
        raise FileNotFoundError(f"{folder} holds no compressed network ({DESCRIPTION} and {WEIGHTS})")
    architecture = json.loads((folder / DESCRIPTION).read_text())["architecture"]
    model = zoo.create(architecture["family"], architecture["width_factor"], **architecture.get("options", {}))
    state = load_file(str(folder / WEIGHTS))
    resize_like(model, state).load_state_dict(state)
    return model.eval()
