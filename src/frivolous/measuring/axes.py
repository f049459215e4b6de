"""Which axis of a probed activation holds its units: the first after the batch, or the last.

:func:`frivolous.measuring` reads a probe as ``(batch, channels, *positions)``:
a conv layer's units are its channels, and every (example, position) pair is
a sample of them. The hidden activations of a transformer are ``(batch,
tokens, features)``, and so are those of the MLPs in ViT, Swin and MaxViT
and of ConvNeXt's blocks (``(batch, height, width, channels)``): read as
they come, their "channels" would be token positions. Such a probe is
*features last*. The engine measures it through the view
:func:`units_first` (``activation.movedim(-1, 1)``), so that its units are
its features, with examples x positions as samples as conv positions are;
every shape, mask and sample of the measurement is the view's. A mask drawn
for the view is moved back onto the activation (:func:`onto_activation`):
removing a unit zeroes one feature at every position (``unit="channel"``)
or one (position, feature) element (``unit="element"``).

Which probes are features last is decided by what made their values, not by
the probed module's type: the same ``nn.GELU`` follows a conv in one network
and a ``Linear`` on tokens in another. :func:`detect_features_last` watches
one forward pass on two examples with a :class:`~torch.overrides.TorchFunctionMode`,
which sees every torch function the model calls, in modules or not (so a
functional ``F.relu(self.fc1(x))``, a residual sum or the output of a whole
``nn.TransformerEncoderLayer`` are judged alike), and marks a tensor as
features last when

- an operation on its last axis made it (:data:`LAST_AXIS_OPERATIONS`:
  ``F.linear``, hence ``nn.Linear``; ``F.layer_norm``; ``F.rms_norm``;
  ``F.embedding``; multi-head attention), or a matrix product by a
  two-dimensional parameter (GPT-2's ``Conv1D``);
- or it has the shape of a marked tensor it was computed from (elementwise
  operations: activation functions, dropout, residual sums, scaling by a
  statistic, in-place operations);
- or it is a reshape of a marked tensor, or a view of one, that keeps the
  last axis where it was (merging or splitting the other axes, slicing
  tokens, swapping batch and tokens).

A probe is features last when its value is marked and has three or more
axes (with two, both readings are the same). Convolutions, pooling and
anything else leave a tensor unmarked: channels first, as the paper's conv
layers. While it watches, PyTorch skips its fused transformer fast path
(which it does whenever a torch-function mode is active); the measured
passes use it as usual. Where the rules misjudge a model (an ``einsum``
that computes features from scratch, say), ``features_last=`` of
:func:`frivolous.measuring` names the layers instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from frivolous.measuring.network import ProbedNetwork
from frivolous.measuring.probes import resolve_name

FeaturesLast = bool | str | Sequence[str] | None
"""The ``features_last`` option: None detects; True or False says it of every
probed layer; one name or a sequence of names lists the features-last layers
(layers that exist but are not probed may be among them, so that one list
serves calls that probe different layers)."""

WATCHED_EXAMPLES = 2
"""Examples of the forward pass that decides which probes are features last."""

LAST_AXIS_OPERATIONS = frozenset(
    {"linear", "bilinear", "layer_norm", "rms_norm", "embedding", "multi_head_attention_forward"}
)
"""Torch functions (by name: a module's functional form and ``torch.*``'s share it)
whose result holds features in its last axis (its first result, for attention)."""
MATRIX_PRODUCTS = frozenset({"matmul", "__matmul__", "mm", "addmm", "bmm", "baddbmm"})
"""Matrix products: features last when one factor is a two-dimensional parameter."""
RESHAPES = frozenset({"reshape", "view", "flatten", "unflatten"})
"""Reshapes that may copy: a marked input's last axis survives them when its size does."""


def features_last_option(value: FeaturesLast) -> bool | tuple[str, ...] | None:
    """``value`` checked as a ``features_last`` option (see :data:`FeaturesLast`):
    None or a bool as it is, one name or several as a tuple of names."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Sequence) and all(isinstance(name, str) for name in value):
        return tuple(value)
    raise ValueError(f"features_last must be None (detect), True, False, or layer names, got {value!r}")


def features_last_probes(
    network: ProbedNetwork,
    example: torch.Tensor,
    activations: Mapping[str, torch.Tensor],
    option: bool | tuple[str, ...] | None,
) -> frozenset[str]:
    """The probes whose units are their last axis, among the selected probes of
    ``network`` (``activations``: their values on ``example``): detected when
    ``option`` is None, else as ``option`` says (a name that is no layer of
    the model is an error). A probe of fewer than three axes is never among
    them: both readings of it are the same, so a network of such layers only
    (an MLP) needs no detection."""
    deep = {name for name, value in activations.items() if value.ndim >= 3}
    if option is None:
        return detect_features_last(network, example[:WATCHED_EXAMPLES]) if deep else frozenset()
    if isinstance(option, bool):
        return frozenset(deep if option else ())
    return frozenset({resolve_name(name, network.names, network.multi_call) for name in option} & deep)


def detect_features_last(network: ProbedNetwork, example: torch.Tensor) -> frozenset[str]:
    """The selected probes of ``network`` whose values, on ``example``, are
    marked features last by the rules of this module."""
    with _FeaturesWatch() as watch:
        activations = network.capture(example).activations
    return frozenset(name for name, value in activations.items() if value.ndim >= 3 and watch.marked(value))


def units_first(activations: Mapping[str, torch.Tensor], features_last: Iterable[str]) -> dict[str, torch.Tensor]:
    """The activations as the measurement sees them: each features-last one with its last axis moved to axis 1."""
    moved = set(features_last)
    return {name: value.movedim(-1, 1) if name in moved else value for name, value in activations.items()}


def onto_activation(keep: torch.Tensor) -> torch.Tensor:
    """Masks ``(M, units, *positions)`` drawn for the :func:`units_first` view
    of a features-last probe, laid out as the activation itself: units last."""
    return keep.movedim(1, -1)


class _FeaturesWatch(TorchFunctionMode):
    """Marks the tensors of one forward pass whose last axis holds features (the rules: see the module)."""

    def __init__(self) -> None:
        super().__init__()
        self._marked: dict[int, torch.Tensor] = {}  # keeps every marked tensor alive, so that no id is reused

    def marked(self, value: Any) -> bool:
        return isinstance(value, torch.Tensor) and id(value) in self._marked

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        name = getattr(func, "__name__", "")
        values = result if isinstance(result, (tuple, list)) else (result,)
        outputs = [value for value in values if isinstance(value, torch.Tensor)]
        if name in LAST_AXIS_OPERATIONS or (name in MATRIX_PRODUCTS and any(map(_is_matrix_parameter, args))):
            outputs = outputs[:1]
        else:
            first = args[0] if args and self.marked(args[0]) else None
            inputs = [value for value in (*args, *kwargs.values()) if self.marked(value)]
            outputs = [
                out
                for out in outputs
                if any(out.shape == x.shape for x in inputs)
                or (first is not None and _keeps_last_axis(out, first, name))
            ]
        for out in outputs:
            self._marked[id(out)] = out
        return result


def _is_matrix_parameter(value: Any) -> bool:
    return isinstance(value, nn.Parameter) and value.ndim == 2


def _keeps_last_axis(out: torch.Tensor, source: torch.Tensor, name: str) -> bool:
    """Whether ``out``, made from ``source`` by the operation ``name``, has
    ``source``'s last axis as its own: a reshape that keeps its size, or a view
    whose last axis steps through ``source``'s memory as ``source``'s last axis does."""
    if out.ndim == 0 or source.ndim == 0 or out.shape[-1] != source.shape[-1]:
        return False
    if name in RESHAPES:
        return True
    if out.layout != torch.strided or source.layout != torch.strided:
        return False
    same_memory = out.untyped_storage().data_ptr() == source.untyped_storage().data_ptr()
    return same_memory and out.stride(-1) == source.stride(-1)
