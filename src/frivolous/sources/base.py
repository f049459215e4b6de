"""What a resolver hands back, what it is handed, and how it fails.

A *model source* is a network ready to measure plus what its origin knows
about its inputs (the preprocessing of its weights, one example's shape, its
tokenizer); a *data source* is the examples to measure it on, already in the
form :func:`frivolous.measuring` takes. A resolver that cannot do its job
raises :class:`SourceError` with one line that names the bad value and what
would work instead: the command line prints that line and exits with status 2.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml
from torch import nn

CAUSAL_LM = "causal-lm"
TEXT_CLASSIFICATION = "text-classification"
IMAGE_CLASSIFICATION = "image-classification"


class SourceError(ValueError):
    """A model or data spec that cannot be turned into a model or data; the message is one line."""


@dataclass(frozen=True)
class DataSource:
    """Examples to measure on.

    ``inputs`` is what :func:`frivolous.measuring` takes (a tensor of inputs, a
    DataLoader, or a list of batches). ``meaningless`` says why the numbers
    measured on these examples mean nothing ("" when they do), for the top of
    the report. ``positions_vary``: the batches differ in length (token
    sequences grouped by length, so that none is padded), which only channel
    units can measure. ``labels``: the class of each example of a tensor of
    ``inputs``, when the source knows them (a DataLoader yields its own);
    measuring never reads them, ``frivolous compress`` reports accuracy with them."""

    inputs: Any
    label: str
    description: str
    examples: int
    meaningless: str = ""
    positions_vary: bool = False
    labels: Any = None


@dataclass(frozen=True)
class ModelSource:
    """A network and what its origin knows about its inputs.

    ``preprocess`` turns one image (PIL or uint8 tensor) into the model's
    input tensor, from the weights' own metadata; ``input_shape`` is one
    example's input shape when the origin knows it (``random`` and the
    teacher data use it; a language model's: its longest sequence);
    ``categories`` name the output classes; ``task`` is what a transformers
    model does (:data:`CAUSAL_LM` ...: text sources cut text for it) and
    ``tokenizer`` its tokenizer;
    ``measure_defaults`` are keyword arguments of :func:`frivolous.measuring`
    that the origin prescribes (a run folder: its spec's measure options), and
    ``own_data`` gives the examples the origin measures on (a run folder: its
    spec's split), called with the number of examples wanted (None: the origin's
    own choice)."""

    model: nn.Module
    label: str
    description: str
    preprocess: Callable[[Any], Any] | None = None
    input_shape: tuple[int, ...] | None = None
    categories: tuple[str, ...] = ()
    task: str = ""
    tokenizer: Any = None
    measure_defaults: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    own_data: Callable[[int | None], DataSource] | None = None


@dataclass(frozen=True)
class ModelRequest:
    """What a model resolver is given: the part of the spec after ``scheme:``,
    the builder's keyword arguments (``--model-arg``), and the folder of
    frivolous' own datasets (for a run folder)."""

    argument: str
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    data_root: Path | None = None


@dataclass(frozen=True)
class DataRequest:
    """What a data resolver is given: the part of the spec after ``scheme:``,
    the model it must fit, how many examples to measure (None: the source's
    default) and the seed of their choice."""

    argument: str
    model: ModelSource
    examples: int | None = None
    seed: int = 0
    data_root: Path | None = None


def parse_options(text: str, what: str) -> dict[str, Any]:
    """``"a=1,b=x"`` -> ``{"a": 1, "b": "x"}`` (values read as YAML scalars)."""
    options: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SourceError(f"{what}: expected options as key=value[,key=value...], got {text!r}")
        options[key.strip()] = option_value(value)
    return options


def option_value(text: str) -> Any:
    """An option's value as typed (``KEY=VALUE``): read as a YAML scalar, so
    that ``10`` is a number and ``true`` a bool; nothing is the empty string."""
    return yaml.safe_load(text) if text.strip() else ""


def closest(name: str, choices: Iterable[str]) -> str:
    """``" (closest: a, b)"`` or ``""``: the choices that look like ``name``."""
    close = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.6)
    return f" (closest: {', '.join(close)})" if close else ""


def one_line(error: BaseException) -> str:
    """An exception as ``Type: first line of its message``."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__
