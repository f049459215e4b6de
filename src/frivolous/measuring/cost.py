"""What a layer-by-layer measurement will cost, said before it starts.

The unit is the *forward-pass equivalent*: one unablated forward pass of
every example. Measuring one probed layer on its own (as ``frivolous
analyze`` does) executes

* one unablated pass (the reference predictions and the captures), and
* for each distinct mask, a re-run of the part of the network after the
  layer: its graph split's suffix (:mod:`frivolous.measuring.graph`), or the
  whole network where there is none.

The share of a pass that a suffix re-runs is counted in multiply-adds
(``torch.utils.flop_counter``: convolutions and matrix products) by running
it once with one mask on one example; where nothing is counted (a model
without them) it is estimated by the suffix's activation bytes against the
whole graph's (the sizes that size batches of masks). The distinct masks of a
layer are ``samplings`` per level strictly between 0 and 1, plus one for
removing everything (the same mask in every sampling); removing nothing is
never run. Traces and checks, a few passes of the first batch per layer, are
not counted. The time is the count times one timed forward pass of the first
batch, scaled to every example.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from frivolous.measuring.engine import prepare
from frivolous.measuring.inputs import batch_count, evaluating, first_batch, resolve_device
from frivolous.measuring.masks import resolve_levels

AN_HOUR = 3600.0
"""Estimates above this many seconds come with a suggestion of what would cut them."""


@dataclass(frozen=True)
class Cost:
    """The estimated cost of measuring ``layers`` one at a time on ``examples`` examples."""

    layers: list[str]
    passes: float
    """Forward-pass equivalents over every example (see the module's text)."""
    seconds: float
    """Estimated seconds: ``passes`` times one forward pass of every example."""
    examples: int
    masks: int
    """Distinct masks per layer."""
    device: str

    def line(self) -> str:
        """E.g. "estimate: ~190 forward passes of 1,000 examples (12 layers, 16 masks each), ~3.2 h on this machine"."""
        return (
            f"estimate: ~{self.passes:,.0f} forward passes of {self.examples:,} examples "
            f"({len(self.layers)} layers, {self.masks} masks each), {approximately(self.seconds)} on this machine"
        )

    def suggestion(self) -> str:
        """What would cut an estimate over an hour ("" when it is not)."""
        if self.seconds <= AN_HOUR:
            return ""
        gpu = "" if self.device.startswith("cuda") else ", or a GPU (--device cuda)"
        return (
            f"over an hour: fewer examples (--examples {max(self.examples // 10, 2)}), "
            f"fewer layers (--layers NAME,NAME){gpu} would cut it"
        )


def approximately(seconds: float) -> str:
    """``~`` and the :func:`duration`, or "under 1 s"."""
    return "under 1 s" if seconds < 1 else f"~{duration(seconds)}"


def duration(seconds: float) -> str:
    """``seconds`` as a reader counts them: "40 s", "12 min", "3.2 h", "2.5 days"."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def distinct_masks(levels: int | Sequence[float], samplings: int) -> int:
    """Masks evaluated per layer: ``samplings`` per level strictly inside (0, 1), one for 1."""
    values = resolve_levels(levels)
    return samplings * int(((values > 0) & (values < 1)).sum()) + 1


def estimate(
    model: nn.Module,
    data: Any,
    layers: Sequence[str] | None = None,
    *,
    levels: int | Sequence[float] = 7,
    samplings: int = 3,
    batch_size: int | None = None,
    device: str | torch.device = "auto",
) -> Cost:
    """The :class:`Cost` of measuring ``layers`` of ``model`` on ``data`` one
    layer at a time, from its first batch; ``layers`` resolved as
    :func:`frivolous.measuring.probes` does (None: the automatic choice)."""
    target = resolve_device(device)
    with evaluating(model, target), torch.inference_mode():
        first = first_batch(data, batch_size, target)
        network, names, _ = prepare(model, first, layers)
        seconds = _one_pass(model, first, target) / len(first)
        with FlopCounterMode(display=False) as counter:
            one = network.capture(first[:1])
        flops = counter.get_total_flops()
        masks = distinct_masks(levels, samplings)
        passes = sum(1.0 + masks * network.rerun_share(name, one, flops) for name in names)
    examples = _examples(data, batch_size, len(first))
    return Cost(names, passes, passes * seconds * examples, examples, masks, str(target))


def _one_pass(model: nn.Module, inputs: torch.Tensor, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    started = time.perf_counter()
    model(inputs)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - started


def _examples(data: Any, batch_size: int | None, first: int) -> int:
    whole = data[0] if isinstance(data, (tuple, list)) and len(data) == 2 else data
    if isinstance(whole, torch.Tensor) and whole.ndim:
        return len(whole)
    dataset = getattr(data, "dataset", None)
    if dataset is not None and hasattr(dataset, "__len__"):
        return len(dataset)
    return first * (batch_count(data, batch_size) or 1)
