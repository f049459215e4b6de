"""The model families of the paper, at any width factor.

    model = fv.zoo.create("alexnet", width_factor=2)

Each family's probed layers have stable names, listed in the model's
``frivolous_layers`` attribute, which :func:`frivolous.measure` uses by default.
"""

from __future__ import annotations

from collections.abc import Callable
from types import MappingProxyType
from typing import Any

import torch
from torch import nn

from frivolous.zoo import alexnet, mlp

FAMILIES: MappingProxyType[str, Callable[..., nn.Module]] = MappingProxyType(
    {"mlp": mlp.build, "alexnet": alexnet.build}
)


def families() -> list[str]:
    return sorted(FAMILIES)


def create(family: str, width_factor: float = 1.0, *, seed: int = 0, **options: Any) -> nn.Module:
    """Build ``family`` at ``width_factor``, its weights drawn from ``seed``."""
    if family not in FAMILIES:
        raise ValueError(f"unknown model family {family!r}; choose one of {families()}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return FAMILIES[family](width_factor, **options)


__all__ = ["FAMILIES", "create", "families"]
