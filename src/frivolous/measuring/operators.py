"""The operators frivolous' two graph walkers recognise in a ``torch.fx`` trace,
in one table: the probes and the ablation split (:mod:`frivolous.measuring`)
and the unit graph of compression (:mod:`frivolous.compression.unit_graph`) read
the same activations, in-place writes and channel-wise operations."""

from __future__ import annotations

import operator
from collections.abc import Mapping

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

ACTIVATION_MODULES: tuple[type[nn.Module], ...] = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.PReLU,
    nn.RReLU,
    nn.ELU,
    nn.CELU,
    nn.SELU,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.Hardtanh,
    nn.Sigmoid,
    nn.Tanh,
    nn.Softplus,
    nn.Softsign,
    nn.Tanhshrink,
    nn.LogSigmoid,
)

ACTIVATION_FUNCTIONS: frozenset = frozenset(
    {
        torch.relu,
        torch.relu_,
        F.relu,
        F.relu_,
        F.relu6,
        F.leaky_relu,
        F.leaky_relu_,
        F.elu,
        F.elu_,
        F.celu,
        F.selu,
        F.gelu,
        F.silu,
        F.mish,
        F.hardswish,
        F.hardsigmoid,
        F.hardtanh,
        F.softplus,
        F.softsign,
        F.logsigmoid,
        torch.sigmoid,
        torch.tanh,
        F.sigmoid,
        F.tanh,
    }
)

ACTIVATION_METHODS: frozenset[str] = frozenset({"relu", "relu_", "sigmoid", "sigmoid_", "tanh", "tanh_"})


def is_activation_module(module: nn.Module) -> bool:
    return isinstance(module, ACTIVATION_MODULES)


INPLACE_OPERATORS = frozenset(
    {
        operator.iadd,
        operator.isub,
        operator.imul,
        operator.itruediv,
        operator.ifloordiv,
        operator.imod,
        operator.ipow,
        operator.iand,
        operator.ior,
        operator.ixor,
    }
)
"""``x += y`` and its kind: they write into their first operand."""


def is_inplace(node: fx.Node, modules: Mapping[str, nn.Module]) -> bool:
    """Whether ``node`` may write into a value it reads (``relu_``, ``inplace=True``, ``x += y``)."""
    if node.op == "call_function" and node.target in INPLACE_OPERATORS:
        return True
    if node.op == "call_module":
        assert isinstance(node.target, str)  # a call_module target is the module's qualified name
        return bool(getattr(modules[node.target], "inplace", False))
    if node.op in ("call_function", "call_method"):
        name = node.target if isinstance(node.target, str) else getattr(node.target, "__name__", "")
        return (name.endswith("_") and not name.startswith("_")) or bool(node.kwargs.get("inplace", False))
    return False


CHANNELWISE_MODULES = (
    nn.Identity,
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d,
)
"""Modules that compute each output channel from the same input channel alone."""
CHANNELWISE_FUNCTIONS = frozenset(
    {
        F.dropout,
        F.max_pool1d,
        F.max_pool2d,
        F.avg_pool1d,
        F.avg_pool2d,
        F.adaptive_avg_pool1d,
        F.adaptive_avg_pool2d,
        F.adaptive_max_pool1d,
        F.adaptive_max_pool2d,
        *ACTIVATION_FUNCTIONS,
    }
)
CHANNELWISE_METHODS = frozenset({"contiguous", "clone", "detach", *ACTIVATION_METHODS})
ADDITIONS = frozenset({operator.add, operator.iadd, torch.add})
FLATTENS = frozenset({torch.flatten})
RESHAPE_METHODS = frozenset({"flatten", "view", "reshape"})
REDUCTIONS = frozenset({"mean", "sum", "amax"})
REDUCTION_FUNCTIONS = frozenset({torch.mean, torch.sum, torch.amax})
