"""A compressed network on disk, and back.

A folder holds ``model.safetensors`` (the compressed weights) and
``compressed.json``: what rebuilds the original architecture, the units
kept per layer, and the numbers before -> after. The architecture is a zoo
network (``{"family", "width_factor", "options"}``: a run folder's) or a
model spec of :mod:`frivolous.sources` without its weights
(``{"source": "torchvision:resnet18", "options": {...}}``: see
:mod:`frivolous.compression.named`). :func:`load_compressed` builds the
original architecture, shrinks its layers to the saved shapes
(:func:`resize_like`) and loads the weights: no pickle. ``compressed.json``
is a file anyone can write, so what it names is rebuilt under the rules of
:mod:`frivolous.compression.rebuild`: nothing is downloaded, only an allow-list
of builder options is taken from it, and code (a factory, a Hugging Face
folder's own modelling file) runs only when the caller says it trusts it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file
from torch import nn

from frivolous.compression.api import Compressed
from frivolous.compression.rebuild import original
from frivolous.compression.surgery import resize_like

WEIGHTS = "model.safetensors"
DESCRIPTION = "compressed.json"


def save_compressed(
    result: Compressed, folder: str | Path, architecture: dict[str, Any], extra: dict[str, Any] | None = None
) -> Path:
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
        "params_before": result.params_before,
        "params_after": result.params_after,
        "macs_before": result.macs_before,
        "macs_after": result.macs_after,
        "agreement": result.agreement,
        "calibration_agreement": result.calibration_agreement,
        "held_out_examples": result.held_out_examples,
        "accuracy_before": result.accuracy_before,
        "accuracy_after": result.accuracy_after,
        "settings": result.settings,
        **(extra or {}),
    }
    (folder / DESCRIPTION).write_text(json.dumps(description, indent=2, sort_keys=True, default=str) + "\n")
    return folder


def load_compressed(folder: str | Path, *, run_factory: bool = False, trust_remote_code: bool = False) -> nn.Module:
    """The compressed network saved in ``folder``, in eval mode.

    ``compressed.json`` names the original architecture, and this rebuilds
    it without running or fetching anything you did not ask for (see
    :mod:`frivolous.compression.rebuild`): ``torchvision:NAME`` and
    ``timm:NAME`` untrained, with a few builder options only (such as
    ``num_classes``); ``hf:FOLDER`` from a local folder's config, with no
    options; nothing downloaded (a hub name, a weights tag or ``:pretrained``
    is refused). Code runs only when you pass its switch here, never because
    the file asks: a factory (your ``file.py:build``) with
    ``run_factory=True``; a Hugging Face folder's own modelling code (an
    ``auto_map`` in its ``config.json``) with ``trust_remote_code=True``.
    Anything else raises :class:`~frivolous.sources.SourceError` (a
    ValueError) with one line that says why."""
    folder = Path(folder)
    if not (folder / DESCRIPTION).is_file() or not (folder / WEIGHTS).is_file():
        raise FileNotFoundError(f"{folder} holds no compressed network ({DESCRIPTION} and {WEIGHTS})")
    architecture = json.loads((folder / DESCRIPTION).read_text())["architecture"]
    model = original(
        architecture, str(folder / DESCRIPTION), run_factory=run_factory, trust_remote_code=trust_remote_code
    )
    state = load_file(str(folder / WEIGHTS))
    resize_like(model, state).load_state_dict(state)
    return model.eval()
