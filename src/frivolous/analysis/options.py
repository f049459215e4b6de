"""Reading the options of ``frivolous analyze`` as typed on a command line."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

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
