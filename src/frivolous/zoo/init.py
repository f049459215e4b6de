"""Weight initialisations, the paper's and PyTorch's.

The paper varies the initialisation of AlexNet (Glorot, He, LeCun; normal and
uniform, Fig. B3) and the standard deviation of the MLP's normal
initialisation (Figs. B4, B5); its ResNets start from Glorot and its
Inception-v3 from a truncated normal with std 0.1. Each name below sets the
weights of every ``Conv1d``, ``Conv2d`` and ``Linear`` layer to zero-mean
values of the given variance, their biases to zero, and every BatchNorm to
weight 1, bias 0; other modules keep PyTorch's initialisation.

======================  =========================================  ============
name                    weight variance                            distribution
======================  =========================================  ============
``glorot_normal``       2 / (fan_in + fan_out)                     normal
``glorot_uniform``      2 / (fan_in + fan_out)                     uniform
``he_normal``           2 / fan_in                                 normal
``he_uniform``          2 / fan_in                                 uniform
``lecun_normal``        1 / fan_in                                 normal
``lecun_uniform``       1 / fan_in                                 uniform
``normal``              std²                                       normal
``truncated_normal``    0.7737 std² (a normal of std ``std`` cut   truncated
                        at ±2 std, TensorFlow's convention)
``default``             PyTorch's own init, left untouched         --
======================  =========================================  ============

A family may start some biases at a constant other than 0: its model's
``frivolous_bias_init`` maps module names to that value, set after the
zeroing above (the AlexNet's ``{"conv2": 0.1, "fc1": 0.1, "fc2": 0.1}``, as
the released code). ``default`` leaves every bias to PyTorch.

A uniform distribution of variance v has limits ±sqrt(3 v). ``fan_in`` and
``fan_out`` are input and output channels times the kernel size. The normal
variants draw from a plain normal, as PyTorch's ``xavier_normal_`` and
``kaiming_normal_`` do; Keras instead draws them from a truncated normal
rescaled to the same variance.

Values are drawn on the CPU from a :class:`torch.Generator`, so the same
seed gives the same weights on every device.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import MappingProxyType

import torch
from torch import nn

WEIGHTED = (nn.Conv1d, nn.Conv2d, nn.Linear)
NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)
BIAS_INIT_ATTRIBUTE = "frivolous_bias_init"
"""A family's {module name: starting bias} for biases that do not start at 0."""
TRUNCATION = 2.0
"""Truncated-normal values lie within this many standard deviations of 0."""

Fans = tuple[int, int]

VARIANCES: MappingProxyType[str, Callable[[Fans], float]] = MappingProxyType(
    {
        "glorot": lambda fans: 2.0 / (fans[0] + fans[1]),
        "he": lambda fans: 2.0 / fans[0],
        "lecun": lambda fans: 1.0 / fans[0],
    }
)
"""Weight variance of each scaling rule, from ``(fan_in, fan_out)``."""
INITS: tuple[str, ...] = (
    *(f"{rule}_{shape}" for rule in VARIANCES for shape in ("normal", "uniform")),
    "normal",
    "truncated_normal",
    "default",
)
NEEDS_STD: tuple[str, ...] = ("normal", "truncated_normal")


def check_init(init: str, std: float | None) -> None:
    """Raise a ValueError unless ``init`` is known and ``std`` is given exactly when it needs one."""
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; choose one of {list(INITS)}")
    if init in NEEDS_STD:
        if std is None or isinstance(std, bool) or not isinstance(std, (int, float)) or not (0 < std < math.inf):
            raise ValueError(f"init {init!r} needs init_std, a positive number, got {std!r}")
    elif std is not None:
        raise ValueError(f"init_std is used only by the inits {list(NEEDS_STD)}, not by {init!r}")


def initialise(
    model: nn.Module,
    init: str,
    *,
    std: float | None = None,
    output_std: float | None = None,
    generator: torch.Generator,
) -> nn.Module:
    """Initialise ``model`` in place with ``init`` (see the module's table), drawing from ``generator``.

    ``output_std`` gives the output layer (the module the model names in its
    ``frivolous_output`` attribute) its own std: the authors' released MLPs
    draw the output weights with ten times the hidden std (see
    ``docs/fidelity.md``). None: the output layer draws like the others."""
    check_init(init, std)
    output = _output_module(model, init, output_std)
    if init == "default":
        return model
    for module in model.modules():
        if isinstance(module, WEIGHTED):
            _draw(module.weight, init, output_std if module is output else std, generator)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, NORMS) and module.affine:
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    _family_biases(model)
    return model


def check_output_std(init: str, output_std: float | None) -> None:
    """Raise a ValueError unless ``output_std`` is None or a valid std of an init that takes one."""
    if output_std is None:
        return
    if init not in NEEDS_STD:
        raise ValueError(f"output_init_std is used only by the inits {list(NEEDS_STD)}, not by {init!r}")
    check_init(init, output_std)


def _output_module(model: nn.Module, init: str, output_std: float | None) -> nn.Module | None:
    check_output_std(init, output_std)
    if output_std is None:
        return None
    name = getattr(model, "frivolous_output", None)
    if name is None:
        raise ValueError(
            f"{type(model).__name__} names no output layer (frivolous_output), so it takes no output_init_std"
        )
    return model.get_submodule(name)


def _family_biases(model: nn.Module) -> None:
    """Set the biases a family starts at a constant other than 0 (``frivolous_bias_init``)."""
    for name, value in getattr(model, BIAS_INIT_ATTRIBUTE, {}).items():
        for module in model.get_submodule(name).modules():
            if isinstance(module, WEIGHTED) and module.bias is not None:
                nn.init.constant_(module.bias, value)


def fans(weight: torch.Tensor) -> Fans:
    """``(fan_in, fan_out)`` of a Linear or convolution weight: channels times kernel size."""
    receptive = math.prod(weight.shape[2:])
    return weight.shape[1] * receptive, weight.shape[0] * receptive


@torch.no_grad()
def _draw(weight: torch.Tensor, init: str, std: float | None, generator: torch.Generator) -> None:
    values = torch.empty(weight.shape, dtype=torch.float32, device=generator.device)
    if init == "normal":
        assert std is not None  # check_init requires a std for this init
        values.normal_(0.0, std, generator=generator)
    elif init == "truncated_normal":
        assert std is not None  # check_init requires a std for this init
        bound = TRUNCATION * std
        nn.init.trunc_normal_(values, 0.0, std, -bound, bound, generator=generator)
    else:
        rule, shape = init.rsplit("_", 1)
        variance = VARIANCES[rule](fans(weight))
        if shape == "normal":
            values.normal_(0.0, math.sqrt(variance), generator=generator)
        else:
            limit = math.sqrt(3.0 * variance)
            values.uniform_(-limit, limit, generator=generator)
    weight.copy_(values)


__all__ = ["INITS", "initialise"]
