"""The model families of the paper, at any width factor.

    model = fv.zoo.create("alexnet", width_factor=2, init="glorot_normal", seed=1)

======================  =======  ==================================================
family                  classes  what
======================  =======  ==================================================
``mlp``                 2        one hidden layer of 128 ReLU units (synthetic data)
``alexnet``             10       the paper's AlexNet for CIFAR-10
``resnet56``            10       He et al.'s CIFAR ResNet56, option A shortcuts
``resnet18``            1000     the ImageNet ResNet18
``inception_v3``        1000     Inception-v3 (ImageNet)
``cnn1d``               10       a small 1-D CNN for MNIST-1D
======================  =======  ==================================================

Each family's probed layers have stable names, listed in the model's
``frivolous_layers`` attribute, which :func:`frivolous.measuring` uses by default.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from types import MappingProxyType
from typing import Any

import torch
from torch import nn

from frivolous.common.parameters import parameter_count as count
from frivolous.zoo import alexnet, cnn1d, inception, mlp, resnet18, resnet56
from frivolous.zoo.init import INITS, check_init, initialise

FAMILIES: MappingProxyType[str, Callable[..., nn.Module]] = MappingProxyType(
    {
        "mlp": mlp.build,
        "alexnet": alexnet.build,
        "resnet56": resnet56.build,
        "resnet18": resnet18.build,
        "inception_v3": inception.build,
        "cnn1d": cnn1d.build,
    }
)


def families() -> list[str]:
    return sorted(FAMILIES)


def options(family: str) -> dict[str, Any]:
    """The options of ``family`` beyond width and classes, with their defaults."""
    parameters = inspect.signature(_builder(family)).parameters.values()
    return {p.name: p.default for p in parameters if p.kind is p.KEYWORD_ONLY and p.name != "num_classes"}


def create(
    family: str,
    width_factor: float = 1.0,
    *,
    num_classes: int | None = None,
    init: str = "default",
    init_std: float | None = None,
    output_init_std: float | None = None,
    seed: int = 0,
    **family_options: Any,
) -> nn.Module:
    """Build ``family`` at ``width_factor`` and initialise it with ``init``.

    ``num_classes=None`` keeps the family's own number of classes (see the
    table above). ``init`` is one of :data:`~frivolous.zoo.init.INITS`;
    ``init_std`` is the standard deviation of the ``normal`` and
    ``truncated_normal`` inits, and ``output_init_std`` that of the output
    layer where it differs (the released MLPs' output std is ten times the
    hidden one). ``seed`` determines every weight; the global
    random state is left as it was. ``family_options`` are the family's own
    (:func:`options`)."""
    build = _builder(family)
    allowed = options(family)
    unknown = sorted(set(family_options) - set(allowed))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for model family {family!r}; its options are {sorted(allowed)}")
    if num_classes is not None:
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive integer or None, got {num_classes!r}")
        family_options["num_classes"] = num_classes
    check_init(init, init_std)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build(width_factor, **family_options)
    return initialise(
        model, init, std=init_std, output_std=output_init_std, generator=torch.Generator().manual_seed(seed)
    )


def parameter_count(family: str, width_factor: float = 1.0, **options: Any) -> int:
    """Parameters of ``create(family, width_factor, **options)``
    (:func:`~frivolous.common.parameters.parameter_count`), counted
    on the ``meta`` device: shapes without storage, so a 4x Inception-v3
    (about 356M parameters) costs milliseconds and no memory."""
    with torch.device("meta"):
        return count(create(family, width_factor, **options))


def _builder(family: str) -> Callable[..., nn.Module]:
    if family not in FAMILIES:
        raise ValueError(f"unknown model family {family!r}; choose one of {families()}")
    return FAMILIES[family]


__all__ = ["FAMILIES", "INITS", "create", "families", "initialise", "options", "parameter_count"]
