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
    # cloned: tied weights (a language model's embedding and head) share memory, which safetensors refuses
    state = {name: tensor.detach().cpu().clone().contiguous() for name, tensor in result.model.state_dict().items()}
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
        **{
            name: getattr(result, name)
            for name in (
                "held_out_positions",
                "perplexity_before",
                "perplexity_after",
                "mlp_params_before",
                "mlp_params_after",
            )
            if getattr(result, name) is not None
        },
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
    target = _holder(model, state)
    saved_dtypes = {tensor.dtype for tensor in state.values() if tensor.is_floating_point()}
    if len(saved_dtypes) == 1:  # built in the default dtype: take the saved one, so no weight is rounded
        target.to(saved_dtypes.pop())
    resize_like(target, state).load_state_dict(state)
    return target.eval()


def _holder(model: nn.Module, state: dict[str, Any]) -> nn.Module:
    """The module ``state`` was saved from: ``model``, or the Hugging Face model
    inside it (``hf:`` rebuilds a wrapper; a model compressed by ``fv.compress``
    directly was saved without it): the one whose names ``state`` shares most."""
    inner = getattr(model, "model", None)
    if not isinstance(inner, nn.Module):
        return model
    names = set(state)
    return inner if len(names & set(inner.state_dict())) > len(names & set(model.state_dict())) else model
