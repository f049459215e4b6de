"""The interface between the measurements and a model.

A :class:`ProbedNetwork` runs a model once per batch to get the reference
predictions and the probed activations (:meth:`capture`), then re-runs it
with units removed (:meth:`ablate`), for many masks in one batched call.
Two implementations exist: :class:`~frivolous.measuring.graph.GraphNetwork`
traces the model with ``torch.fx`` and re-runs only the part of the network
after the ablated layer; :class:`~frivolous.measuring.hooks.HookNetwork` works
with forward hooks on any model that ``torch.fx`` cannot trace, and re-runs
the whole network.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class Capture:
    """One batch's reference forward pass.

    ``logits``: the unablated output (batch x classes); ``activations``: the
    value of each selected probe; ``state``: what the network needs to re-run
    this batch with units removed."""

    inputs: torch.Tensor
    logits: torch.Tensor
    activations: dict[str, torch.Tensor]
    state: Any = field(default=None, repr=False)

    @property
    def size(self) -> int:
        return int(self.logits.shape[0])


class ProbedNetwork(ABC):
    """A model seen as a set of named probes that can be captured and ablated."""

    mode: str
    names: list[str]
    """Every valid probe name, aliases included."""
    default_layers: list[str]
    """The automatic choice of probes (hidden activations, never the logits,
    never a value computed from the parameters alone)."""
    multi_call: dict[str, int]
    """Modules called more than once per forward pass, with their call counts."""

    @abstractmethod
    def select(self, layers: list[str]) -> None:
        """Prepare to capture and ablate exactly these (valid) probes."""

    @abstractmethod
    def capture(self, inputs: torch.Tensor) -> Capture:
        """Run one batch unablated, keeping what :meth:`ablate` needs."""

    @abstractmethod
    def ablate(self, capture: Capture, keeps: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Logits of the batch with units removed: ``keeps[name]`` has shape
        ``(M, *unit_shape)`` (the same ``M`` for every probe), and the result
        holds ``M * N`` rows, mask-major."""

    @abstractmethod
    def rerun_bytes(self, layers: list[str]) -> int | None:
        """Estimated activation bytes per example of one ablated re-run, or
        None if unknown; used to size batches of masks."""

    def narrow(self, capture: Capture, start: int, stop: int) -> Capture:
        """Examples ``start:stop`` of ``capture``, as if captured alone, without
        a pass: so that a batch too large for one re-run can be ablated in
        parts, and checks can run on one example of the first batch. This
        default keeps no state (a network that re-runs from the inputs)."""
        return Capture(
            inputs=capture.inputs[start:stop],
            logits=capture.logits[start:stop],
            activations={name: value[start:stop] for name, value in capture.activations.items()},
        )

    def rerun_share(self, layer: str, capture: Capture | None = None, flops: int = 0) -> float:
        """The share of one forward pass that ablating ``layer`` re-runs (1.0:
        the whole network; a graph split re-runs only what follows the
        layer), used to estimate a measurement's cost: counted in
        multiply-adds on ``capture`` (whose unablated pass took ``flops``)
        where given and countable, else estimated by activation bytes."""
        return 1.0 if self.affects_output(layer) else 0.0

    def depends_on_inputs(self, layer: str) -> bool:
        """Whether ``layer``'s value can depend on the input examples; False
        for a value computed from the parameters alone (Swin-V2's position-bias
        MLP), which has no per-example units. True where the network cannot
        tell: the engine also checks that the value's first axis is the batch."""
        return True

    def affects_output(self, layer: str) -> bool:
        """Whether removing units of ``layer`` can change the output at all."""
        return True

    def check(self, capture: Capture) -> list[str]:
        """Verify the fast paths on a real batch; return warnings to show."""
        return []


def logits_of(output: Any) -> torch.Tensor:
    """The classification logits in a model's output: the tensor itself, its
    ``logits`` attribute or key, or the first element of a tuple or list."""
    if isinstance(output, torch.Tensor):
        return output
    logits = getattr(output, "logits", None)
    if isinstance(logits, torch.Tensor):
        return logits
    if isinstance(output, Mapping) and isinstance(output.get("logits"), torch.Tensor):
        return output["logits"]
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    raise TypeError(
        f"cannot find logits in the model's output of type {type(output).__name__}; "
        "return a tensor, a tuple whose first element is the logits, or an object with a 'logits' field"
    )


def labels_of(logits: torch.Tensor) -> torch.Tensor:
    """Predicted labels: the arg-max over classes, or ``logit > 0`` for a
    single-logit binary classifier."""
    if logits.ndim == 2 and logits.shape[1] >= 2:
        return logits.argmax(1)
    if logits.ndim == 1 or (logits.ndim == 2 and logits.shape[1] == 1):
        return (logits.reshape(-1) > 0).long()
    raise ValueError(
        f"expected classification logits of shape (batch, classes), got {tuple(logits.shape)}; "
        "removability compares predicted labels"
    )


def same_outputs(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether two computations of the same logits agree up to float rounding
    (different batch sizes may sum in different orders): to float32's
    rounding, or bfloat16's where either is computed in a 16-bit format."""
    if a.shape != b.shape:
        return False
    scale = float(b.abs().max()) if b.numel() else 0.0
    tolerance = 1e-4 if min(a.dtype.itemsize, b.dtype.itemsize) >= 4 else 3e-2
    return bool(torch.allclose(a.float(), b.float(), rtol=tolerance, atol=tolerance * 0.1 * max(scale, 1.0)))
