"""The data registry: one resolver per scheme, and the dispatch from a DATA spec to it.

======================  =====================================================
``imagefolder:PATH``    images in class folders, with the model's preprocessing
``cifar10``, ``mnist1d``, ``teacher`` (``:key=value,...``)  frivolous' data sources
``FILE.safetensors``, ``FILE.npy``  a tensor of inputs (``tensor:`` may prefix it)
``random:C,H,W``        noise, for a smoke test (the report says so)
``hf-dataset:NAME[:SPLIT]``  a Hugging Face dataset from the local cache
``FILE.txt``            text for a language model (``text:`` may prefix it)
======================  =====================================================

With no DATA, a model that brings its own data (a run folder) is measured on it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType

from frivolous.sources import frivolous_data, hf_datasets, images, tensors, text
from frivolous.sources.base import DataRequest, DataSource, ModelSource, SourceError, closest

DATA: MappingProxyType[str, Callable[[DataRequest], DataSource]] = MappingProxyType(
    {
        "imagefolder": images.resolve,
        "cifar10": frivolous_data.resolver("cifar10"),
        "mnist1d": frivolous_data.resolver("mnist1d"),
        "teacher": frivolous_data.resolver("teacher"),
        "tensor": tensors.resolve_file,
        "random": tensors.resolve_random,
        "hf-dataset": hf_datasets.resolve,
        "text": text.resolve,
    }
)
FORMS = (
    "imagefolder:PATH",
    "cifar10",
    "mnist1d",
    "teacher",
    "FILE.safetensors",
    "FILE.npy",
    "random:C,H,W",
    "hf-dataset:NAME[:SPLIT]",
    "FILE.txt",
)


def data_scheme(spec: str) -> tuple[str, str]:
    """``(scheme, argument)`` of a DATA spec (see the module's docstring)."""
    head, _, rest = spec.partition(":")
    if head in DATA:
        return head, rest
    suffix = Path(spec).suffix.lower()
    if suffix in tensors.TENSOR_SUFFIXES:
        return "tensor", spec
    if suffix in text.TEXT_SUFFIXES:
        return "text", spec
    raise SourceError(f"unknown data {spec!r}{closest(head, DATA)}; give one of: {', '.join(FORMS)}")


def resolve_data(
    spec: str | None,
    model: ModelSource,
    *,
    examples: int | None = None,
    seed: int = 0,
    data_root: Path | None = None,
) -> DataSource:
    """The examples ``spec`` names, prepared for ``model``; with no ``spec``,
    the model's own data. ``examples`` caps how many (None: the source's default)."""
    if spec is None:
        if model.own_data is None:
            raise SourceError(
                f"--data is required: {model.label} brings no data of its own; give one of: {', '.join(FORMS)}"
            )
        return model.own_data(examples)
    scheme, argument = data_scheme(spec)
    return DATA[scheme](DataRequest(argument, model, examples, seed, data_root))
