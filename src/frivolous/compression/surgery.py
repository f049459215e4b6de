"""Smaller modules: a Linear, Conv or BatchNorm rebuilt with fewer channels (a
transformer's dense layers: :mod:`~frivolous.compression.dense`).

Every function returns a new module (the old one is left untouched), of the
same class and settings, so the compressed model is the user's own class
with smaller layers in it, and a state dict of the new shapes loads into a
model rebuilt by :func:`resize_like`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch
from torch import nn

from frivolous.compression.dense import bias_of, is_conv1d, is_dense, rebuilt, weight_of
from frivolous.compression.unit_graph import NORMS, PRODUCERS

Layer = nn.Linear | nn.Conv1d | nn.Conv2d
"""A module of :data:`PRODUCERS`: the layers that produce and consume units."""
Norm = nn.BatchNorm1d | nn.BatchNorm2d
"""A module of :data:`NORMS`."""


def weight_columns(module: nn.Module, positions: int = 1) -> torch.Tensor:
    """The consumer's weights as ``(outputs, channels, elements)``: kernel
    elements of a conv, flattened positions of a Linear after a flatten."""
    assert isinstance(module, PRODUCERS)  # consumers are Linear or Conv layers (see unit_graph)
    weight = module.weight.detach()
    if isinstance(module, nn.Linear):
        return weight.reshape(weight.shape[0], -1, positions)
    return weight.reshape(weight.shape[0], weight.shape[1], -1)


def folded_consumer(
    module: nn.Module, keep: torch.Tensor, coefficients: torch.Tensor, intercept: torch.Tensor, positions: int = 1
) -> nn.Module:
    """``module`` reading only the channels ``keep`` (a boolean mask over its
    input channels), with the removed channels' weights folded into the kept
    ones (``W_K + W_R Bᵀ``) and their mean into the bias (``W_R c``, summed over
    kernel elements or positions)."""
    assert isinstance(module, PRODUCERS)  # consumers are Linear or Conv layers (see unit_graph)
    columns = weight_columns(module, positions).double()
    kept, removed = columns[:, keep], columns[:, ~keep]
    kept = kept + torch.einsum("ore,kr->oke", removed, coefficients.to(columns))
    shift = torch.einsum("ore,r->o", removed, intercept.to(columns))
    weight = kept.reshape(
        module.weight.shape[0],
        *((-1,) if isinstance(module, nn.Linear) else (int(keep.sum()), *module.weight.shape[2:])),
    )
    bias = (module.bias.detach().double() if module.bias is not None else torch.zeros_like(shift)) + shift
    needs_bias = module.bias is not None or bool((shift != 0).any())  # a bias-free conv gains one if it must
    return _rebuilt(module, weight, bias if needs_bias else None, inputs=int(keep.sum()) * positions)


def sliced_outputs(module: nn.Module, rows: torch.Tensor) -> nn.Module:
    """A producer (Linear, Conv) or a BatchNorm keeping only the output channels ``rows`` (indices)."""
    if isinstance(module, NORMS):
        return _norm(module, rows)
    if not isinstance(module, PRODUCERS):
        raise TypeError(f"cannot remove output channels of a {type(module).__name__}")
    bias = module.bias.detach()[rows] if module.bias is not None else None
    return _rebuilt(module, module.weight.detach()[rows], bias, outputs=len(rows))


def _rebuilt(
    module: Layer,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    *,
    inputs: int | None = None,
    outputs: int | None = None,
) -> nn.Module:
    dtype, device = module.weight.dtype, module.weight.device
    with warnings.catch_warnings():  # a layer left with no channel initialises an empty tensor, harmlessly
        warnings.filterwarnings("ignore", "Initializing zero-element tensors", UserWarning)
        new = _empty_like(module, inputs, outputs, bias is not None, dtype, device)
    with torch.no_grad():
        new.weight.copy_(weight.to(dtype))
        if bias is not None:
            assert new.bias is not None  # built with a bias just above
            new.bias.copy_(bias.to(dtype))
    new.train(module.training)
    return new


def _empty_like(
    module: Layer, inputs: int | None, outputs: int | None, bias: bool, dtype: torch.dtype, device: torch.device
) -> Layer:
    if isinstance(module, nn.Linear):
        return nn.Linear(
            _or(inputs, module.in_features), _or(outputs, module.out_features), bias=bias, device=device, dtype=dtype
        )
    # The stubs type the stored kernel_size, stride, ... as tuple[int, ...], the
    # constructors as tuples of one length; the stored ones have that length.
    conv: Callable[..., Layer] = type(module)
    return conv(
        _or(inputs, module.in_channels),
        _or(outputs, module.out_channels),
        module.kernel_size,
        module.stride,
        module.padding,
        module.dilation,
        1,
        bias,
        module.padding_mode,
        device=device,
        dtype=dtype,
    )


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


def _norm(module: Norm, rows: torch.Tensor) -> nn.Module:
    """A BatchNorm of the same class, settings, dtype and device, keeping the channels ``rows``."""
    floating = [t for t in (*module.parameters(), *module.buffers()) if t.is_floating_point()]
    like = floating[0] if floating else torch.empty(0)
    new = type(module)(
        len(rows),
        module.eps,
        module.momentum,
        module.affine,
        module.track_running_stats,
        device=like.device,
        dtype=like.dtype,
    )
    with torch.no_grad():
        for name in ("weight", "bias", "running_mean", "running_var"):
            value = getattr(module, name, None)
            if value is not None:
                getattr(new, name).copy_(value.detach()[rows])
        if module.num_batches_tracked is not None:
            assert new.num_batches_tracked is not None  # same track_running_stats as module
            new.num_batches_tracked.copy_(module.num_batches_tracked)
    new.train(module.training)
    return new


def replace(model: nn.Module, name: str, module: nn.Module) -> nn.Module:
    """Put ``module`` at ``name`` in ``model``; return the module it replaces."""
    parent, _, child = name.rpartition(".")
    owner = model.get_submodule(parent) if parent else model
    old = owner.get_submodule(child)
    setattr(owner, child, module)
    return old


def resize_like(model: nn.Module, state: dict[str, torch.Tensor]) -> nn.Module:
    """``model`` with every Linear, Conv, BatchNorm and GPT-2 ``Conv1D`` rebuilt to
    the shapes of ``state`` (a compressed model's state dict, a bias where it
    has one), ready for ``load_state_dict``."""
    for name, module in list(model.named_modules()):
        weight = state.get(f"{name}.weight" if name else "weight")
        bias = state.get(f"{name}.bias" if name else "bias")
        if isinstance(module, NORMS):
            size = state.get(f"{name}.running_mean", weight)
            if size is not None and size.shape[0] != module.num_features:
                replace(model, name, _norm(module, torch.arange(size.shape[0])))
        elif is_dense(module) and weight is not None:
            shape = tuple(weight.T.shape if is_conv1d(module) else weight.shape)
            if shape != tuple(weight_of(module).shape) or (bias is not None and bias_of(module) is None):
                zeros = torch.zeros(shape, dtype=weight.dtype)
                fresh = rebuilt(module, zeros, torch.zeros(shape[0], dtype=weight.dtype) if bias is not None else None)
                replace(model, name, fresh)
        elif isinstance(module, PRODUCERS) and weight is not None and weight.shape != module.weight.shape:
            inputs = weight.shape[1]
            fresh = _rebuilt(
                module,
                torch.zeros(weight.shape, dtype=weight.dtype),
                torch.zeros(weight.shape[0], dtype=weight.dtype) if bias is not None else None,
                inputs=inputs,
                outputs=weight.shape[0],
            )
            replace(model, name, fresh)
        elif isinstance(module, PRODUCERS) and module.bias is None and bias is not None:
            replace(model, name, _rebuilt(module, module.weight.detach(), bias))
    return model
