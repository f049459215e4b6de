"""The model registry: one resolver per scheme, and the dispatch from a MODEL spec to it.

========================  ===================================================
``torchvision:NAME[:W]``  a torchvision classification model, weights ``W``
``timm:NAME[:pretrained]``  a timm model
``hf:NAME_OR_PATH``       a Hugging Face transformers model (local folder or cache)
``PATH`` / ``run:PATH``   a frivolous run folder
``FILE.py:FN`` / ``pkg.mod:FN``  your own factory (``factory:`` may prefix it)
========================  ===================================================
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from frivolous.common.seeding import seeded
from frivolous.sources import factory, hf_models, run_folder, timm_models, torchvision_models
from frivolous.sources.base import ModelRequest, ModelSource, SourceError, closest
from frivolous.sources.weights import load_weights

MODELS: MappingProxyType[str, Callable[[ModelRequest], ModelSource]] = MappingProxyType(
    {
        "torchvision": torchvision_models.resolve,
        "timm": timm_models.resolve,
        "hf": hf_models.resolve,
        "run": run_folder.resolve,
        "factory": factory.resolve,
    }
)
FORMS = (
    "torchvision:NAME[:WEIGHTS]",
    "timm:NAME[:pretrained]",
    "hf:NAME_OR_PATH",
    "a run folder",
    "path/to/file.py:FUNCTION",
    "package.module:FUNCTION",
)


def model_scheme(spec: str) -> tuple[str, str]:
    """``(scheme, argument)`` of a MODEL spec (see the module's docstring)."""
    head, sep, rest = spec.partition(":")
    if sep and head in MODELS:
        return head, rest
    if Path(spec).expanduser().is_dir():
        return "run", spec
    if sep:
        if head.isidentifier() and closest(head, MODELS) and importlib.util.find_spec(head) is None:
            raise SourceError(f"unknown model scheme {head!r}{closest(head, MODELS)}; give one of: {', '.join(FORMS)}")
        return "factory", spec
    if "/" in spec or spec.startswith("."):
        raise SourceError(f"run folder {spec} does not exist")
    raise SourceError(f"unknown model {spec!r}; give one of: {', '.join(FORMS)}")


def resolve_model(
    spec: str,
    *,
    weights: str | Path | None = None,
    options: Mapping[str, Any] | None = None,
    data_root: Path | None = None,
    seed: int = 0,
) -> ModelSource:
    """The model that ``spec`` names, built with ``options`` (keyword arguments
    of its builder or factory) and loaded with the weights file ``weights``.

    The builder runs under ``seed`` (the stream ``"model"`` of
    :func:`frivolous.common.seeding.seeded`): a model left untrained, or the
    parts of one its weights do not cover, is the same for the same seed,
    and the global generators are as they were afterwards. A run folder is
    built from its own spec's seed."""
    scheme, argument = model_scheme(spec)
    if scheme == "run" and (weights is not None or options):
        raise SourceError("a run folder is built from its own spec and weights; drop --weights and --model-arg")
    with seeded(seed, "model"):
        source = MODELS[scheme](ModelRequest(argument, MappingProxyType(dict(options or {})), data_root))
    if weights is None:
        return source
    load_weights(source.model, weights)
    return replace(source, description=f"{source.description}, weights from {weights}")
