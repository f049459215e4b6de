"""The data sources of the paper, each returning a :class:`DataBundle`.

    bundle = fv.data.load("teacher", seed=3, input_dim=10_000)

Nothing is ever downloaded: the teacher data and MNIST-1D are generated
locally; CIFAR-10 and ImageNet are read from files you provide (under
``$FRIVOLOUS_DATA``, default ``~/.frivolous/data``), and a missing dataset
raises an error that says where to put it and how to get it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from types import MappingProxyType
from typing import Any

from frivolous.data import cifar10, imagenet, mnist1d, teacher
from frivolous.data.bundle import DataBundle, TensorSplit

DATASETS: MappingProxyType[str, Callable[..., DataBundle]] = MappingProxyType(
    {"teacher": teacher.load, "mnist1d": mnist1d.load, "cifar10": cifar10.load, "imagenet": imagenet.load}
)


def datasets() -> list[str]:
    return sorted(DATASETS)


def option_names(name: str) -> list[str]:
    """The options (keyword arguments besides ``seed``) that dataset ``name`` accepts."""
    return [option for option in inspect.signature(_loader(name)).parameters if option != "seed"]


def load(name: str, *, seed: int = 0, **options: Any) -> DataBundle:
    """Dataset ``name`` with ``options``, everything random in it drawn from ``seed``."""
    accepted = option_names(name)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for dataset {name!r}; it accepts {accepted}")
    return DATASETS[name](seed=seed, **options)


def _loader(name: str) -> Callable[..., DataBundle]:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {datasets()}")
    return DATASETS[name]


__all__ = ["DATASETS", "DataBundle", "TensorSplit", "datasets", "load", "option_names"]
