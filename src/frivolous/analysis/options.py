"""Reading the options of ``frivolous analyze`` as typed on a command line."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from frivolous.measuring.sampled import ESTIMATORS
from frivolous.sources.base import SourceError, option_value

SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)(i?)[bB]?\s*$")
POWERS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4}


def parse_size(text: str) -> int:
    """``"2GiB"`` -> 2147483648, ``"500MB"`` -> 500000000, ``"1048576"`` -> 1048576 bytes."""
    match = SIZE.match(text)
    if match is None:
        raise SourceError(f"--max-memory must be a size in bytes such as 2GiB, 500MB or 1048576, got {text!r}")
    number, prefix, binary = match.groups()
    size = int(float(number) * (1024 if binary else 1000) ** POWERS[prefix.lower()])
    if size < 1:
        raise SourceError(f"--max-memory must be at least one byte, got {text!r}")
    return size


def estimator_options(estimator: str | None, precision: float | None) -> dict[str, Any]:
    """``--estimator`` and ``--precision`` checked before any model is loaded,
    as keyword arguments of :func:`frivolous.measuring` (empty: the paper's estimator).
    A precision is an interval's half-width, which only the sampled estimator has."""
    if estimator is not None and estimator not in ESTIMATORS:
        raise SourceError(f"--estimator must be one of {', '.join(ESTIMATORS)}, got {estimator!r}")
    if precision is not None:
        if not 0 < precision <= 0.5:
            raise SourceError(
                f"--precision must lie in (0, 0.5] (the half-width of each layer's AUC interval), got {precision:g}"
            )
        if estimator != "sampled":
            raise SourceError("--precision needs --estimator sampled: the paper's samplings have no interval")
    return {"estimator": estimator, "precision": precision} if estimator is not None else {}


def parse_model_args(items: Iterable[str]) -> dict[str, Any]:
    """``["num_classes=10", "image_size=32"]`` -> ``{"num_classes": 10, "image_size": 32}`` (values as YAML)."""
    options = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip().isidentifier():
            raise SourceError(f"--model-arg must be KEY=VALUE with KEY a Python name, got {item!r}")
        options[key.strip()] = option_value(value)
    return options


def layer_names(items: Iterable[str] | None) -> list[str] | None:
    """``--layers a,b --layers c`` -> ``["a", "b", "c"]``; nothing given -> None (the automatic choice)."""
    names = [name.strip() for item in items or () for name in item.split(",") if name.strip()]
    return names or None


def default_out(model: str) -> str:
    """``analysis/<model spec made into a folder name>``."""
    return "analysis/" + (re.sub(r"[^A-Za-z0-9_.-]+", "-", model).strip("-.") or "model")
