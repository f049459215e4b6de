"""Token-wise dense layers seen one way: ``nn.Linear`` and GPT-2's ``Conv1D``.

A transformer's MLP is made of layers applied at every token position: most
are ``nn.Linear`` (weight ``(out, in)``), GPT-2's are
``transformers.pytorch_utils.Conv1D`` (weight ``(in, out)``, always a bias).
The fold and the surgery work on ``(out, in)`` weights: :func:`weight_of`
reads either kind that way and :func:`rebuilt` writes an ``(out, in)``
weight back into a new layer of the same class, so the compressed model
keeps its own classes. The new layer keeps the children and forward hooks
attached to the old one (a probe of :mod:`frivolous.sources.hf_models`
hangs on a ``down_proj``), so a model wrapped for measuring stays measurable.
"""

from __future__ import annotations

import torch
from torch import nn


def is_conv1d(module: nn.Module) -> bool:
    """Whether ``module`` is GPT-2's ``Conv1D`` (checked without importing transformers for other modules)."""
    if not type(module).__module__.startswith("transformers."):
        return False
    from transformers.pytorch_utils import Conv1D  # imported here: only a transformers module needs it

    return isinstance(module, Conv1D)


def is_dense(module: nn.Module) -> bool:
    """Whether ``module`` is a layer :func:`weight_of` and :func:`rebuilt` know."""
    return isinstance(module, nn.Linear) or is_conv1d(module)


def weight_of(module: nn.Module) -> torch.Tensor:
    """The layer's weight as ``(out, in)`` (a view, detached)."""
    weight = module.weight
    assert isinstance(weight, torch.Tensor)  # a dense layer's
    return weight.detach().T if is_conv1d(module) else weight.detach()


def bias_of(module: nn.Module) -> torch.Tensor | None:
    bias = getattr(module, "bias", None)
    return bias.detach() if isinstance(bias, torch.Tensor) else None


def sizes(module: nn.Module) -> tuple[int, int]:
    """``(out, in)`` features."""
    out, inputs = weight_of(module).shape
    return int(out), int(inputs)


def rebuilt(module: nn.Module, weight: torch.Tensor, bias: torch.Tensor | None) -> nn.Module:
    """A layer of ``module``'s class, dtype and device with the ``(out, in)``
    ``weight`` and ``bias`` (None: no bias; a ``Conv1D`` always has one, zero
    if None), carrying ``module``'s children and forward hooks."""
    like = module.weight
    assert isinstance(like, torch.Tensor)  # a dense layer's
    out, inputs = weight.shape
    new: nn.Module
    values: tuple[torch.Tensor, ...]
    if is_conv1d(module):
        new = type(module)(out, inputs)
        new.to(device=like.device, dtype=like.dtype)
        values = (weight.T, bias if bias is not None else torch.zeros(out))
    else:
        new = nn.Linear(inputs, out, bias=bias is not None, device=like.device, dtype=like.dtype)
        values = (weight, bias) if bias is not None else (weight,)
    with torch.no_grad():
        for parameter, value in zip((new.weight, new.bias), values):
            assert isinstance(parameter, torch.Tensor)
            parameter.copy_(value.to(like))
    for name, child in module.named_children():
        new.add_module(name, child)
    new._forward_pre_hooks.update(module._forward_pre_hooks)
    new._forward_hooks.update(module._forward_hooks)
    new.train(module.training)
    return new
