"""A model made ready to measure, once: traced (else hooked), its probes
resolved, the fast ablation paths checked, the first batch captured.

Everything here is done once per measurement, whatever the number of
probed layers: one trace, one capture of the first batch (which the
measurement then uses as its own, not a pass of its own), and checks on a
single example. Checks on one example cost a pass of one example per
layer's re-run instead of the first batch's, so they stay small beside the
measurement even on a few examples (see :mod:`frivolous.measuring.cost`).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import nn

from frivolous.common.validation import check_finite
from frivolous.measuring.graph import GraphNetwork, TraceMismatch
from frivolous.measuring.hooks import HookNetwork
from frivolous.measuring.network import Capture, ProbedNetwork
from frivolous.measuring.probes import describe_valid, model_layers, resolve_name

CHECK_EXAMPLES = 16
"""Examples of the data that :func:`frivolous.measuring.probes` runs the model on."""


class Prepared(NamedTuple):
    """A model seen as a :class:`ProbedNetwork` with its probes selected."""

    network: ProbedNetwork
    names: list[str]
    """The resolved probe names, in the order of the forward pass."""
    capture: Capture
    """The first batch's unablated pass: the measurement's own first capture."""


def prepare(model: nn.Module, first: torch.Tensor, layers: Sequence[str] | None) -> Prepared:
    """The model seen as a :class:`ProbedNetwork` (traced, else hooked; the
    fast paths checked on the first example of ``first``), the resolved probe
    names, and the capture of the batch ``first``. Warns of every fallback it takes."""
    return prepare_timed(model, first, layers)[0]


def prepare_timed(model: nn.Module, first: torch.Tensor, layers: Sequence[str] | None) -> tuple[Prepared, float]:
    """:func:`prepare`, and the wall time of its capture of ``first``: what one
    forward pass of the first batch costs here."""
    network, trace_error = _build_network(model, first)
    if trace_error:
        warnings.warn(
            f"torch.fx cannot trace the model ({trace_error}); measuring with forward hooks: "
            "module outputs only, and ablation re-runs the whole network",
            RuntimeWarning,
            stacklevel=4,
        )
    try:
        names, capture, seconds = _select(network, model, first, layers)
        notes = network.check(capture)
    except TraceMismatch as error:
        warnings.warn(f"{error}; measuring with forward hooks instead", RuntimeWarning, stacklevel=4)
        network = HookNetwork(model, first[:2])
        names, capture, seconds = _select(network, model, first, layers)
        notes = []
    for note in notes:
        warnings.warn(note, RuntimeWarning, stacklevel=4)
    return Prepared(network, names, capture), seconds


def _build_network(model: nn.Module, first: torch.Tensor) -> tuple[ProbedNetwork, str | None]:
    try:
        return GraphNetwork(model), None
    except Exception as error:
        return HookNetwork(model, first[:2]), f"{type(error).__name__}: {error}"


def resolve_layers(
    network: ProbedNetwork, model: nn.Module, layers: Sequence[str] | None, left_out: Sequence[str] = ()
) -> list[str]:
    """The probe names ``layers`` asks for (None: the model's own list, else the
    network's automatic choice less ``left_out``), checked and deduplicated."""
    if layers is None:
        declared = model_layers(model)
        names = declared if declared is not None else [n for n in network.default_layers if n not in left_out]
        if not names:
            raise ValueError(
                "nothing to probe: the model applies no activation function (ReLU, GELU, tanh, ...) "
                "to a hidden layer computed from its inputs; name the layers to probe with layers=[...]. "
                + describe_valid(network.names)
            )
    else:
        names = [layers] if isinstance(layers, str) else list(layers)
        if not names:
            raise ValueError("layers is empty; pass None for the automatic choice, or layer names")
    return list(dict.fromkeys(resolve_name(name, network.names, network.multi_call) for name in names))


def _select(
    network: ProbedNetwork, model: nn.Module, first: torch.Tensor, layers: Sequence[str] | None
) -> tuple[list[str], Capture, float]:
    """The resolved probes, selected in ``network``, with their capture of
    ``first`` and the seconds it took.

    Every probe must hold one row per example: masks and samples are drawn
    along its first axis. A value computed from the parameters alone (the
    sigmoid of Swin-V2's position-bias MLP, ``(heads, tokens, tokens)``) does
    not: the automatic choice leaves it out, and naming it (in ``layers`` or
    the model's ``frivolous_layers``) is an error that says so, rather than a
    shape error, or worse a silently wrong curve, deep inside an ablation."""
    names = resolve_layers(network, model, layers)
    network.select(names)
    capture, seconds = _timed_capture(network, first)
    check_finite(capture.logits, "the model's outputs")
    for name, value in capture.activations.items():
        check_finite(value, f"the activations of layer {name!r}")
    unbatched = [name for name in names if not _holds_examples(network, name, capture)]
    if not unbatched:
        return names, capture, seconds
    if layers is not None or model_layers(model) is not None:
        name, value = unbatched[0], capture.activations[unbatched[0]]
        raise ValueError(
            f"layer {name!r} cannot be probed: its value, of shape {tuple(value.shape)} on {len(first)} "
            "examples, does not hold one row per example (it does not depend on the inputs: computed from the "
            "parameters alone, as a position bias), so it has no per-example units to remove or correlate; "
            "name layers computed from the inputs"
        )
    names = resolve_layers(network, model, layers, left_out=unbatched)
    network.select(names)
    capture, seconds = _timed_capture(network, first)
    return names, capture, seconds


def _timed_capture(network: ProbedNetwork, inputs: torch.Tensor) -> tuple[Capture, float]:
    synchronize = torch.cuda.synchronize if inputs.device.type == "cuda" else (lambda: None)
    synchronize()
    started = time.perf_counter()
    capture = network.capture(inputs)
    synchronize()
    return capture, time.perf_counter() - started


def _holds_examples(network: ProbedNetwork, name: str, capture: Capture) -> bool:
    """Whether probe ``name`` can depend on the inputs and its first axis is the
    batch: the inputs' first axis (not the logits', which a causal LM flattens
    to one row per position). A value whose first axis merely has the batch's
    length is caught by what the network knows: the traced graph knows what
    depends on the inputs, and the forward hooks keep only values whose first
    axis had the length of the two examples they were found on."""
    value = capture.activations[name]
    return network.depends_on_inputs(name) and value.ndim > 0 and value.shape[0] == len(capture.inputs)
