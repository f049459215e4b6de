"""What a measurement will cost, said before it starts.

The unit is the *forward-pass equivalent*: one unablated forward pass of
every example. A measurement executes

* one unablated pass over the data (the reference predictions and the
  captures of every probed layer at once; one more per extra group of layers
  when the correlation samples of all layers would not fit in memory
  together: see :mod:`frivolous.measuring.engine`), and
* for each probed layer and each distinct mask, a re-run of the part of the
  network after the layer: its graph split's suffix
  (:mod:`frivolous.measuring.graph`), or the whole network where there is none.

This is the floor: nothing less measures the same numbers. The share of a
pass that a suffix re-runs is counted in multiply-adds
(``torch.utils.flop_counter``: convolutions and matrix products) when the
split is checked on one example; where nothing is counted (a model without
them) it is estimated by the suffix's activation bytes against the whole
graph's (the sizes that size batches of masks). The distinct masks of a
layer are ``samplings`` per level strictly between 0 and 1, plus one for
removing everything (the same mask in every sampling); removing nothing is
never run. The trace and the checks, a few passes of one example, are not
counted. The time is the count times the timed capture of the first batch,
scaled to every example.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from frivolous.measuring.inputs import batch_count, evaluating, first_batch, known_examples, resolve_device
from frivolous.measuring.masks import resolve_levels
from frivolous.measuring.preparing import Prepared, prepare_timed

AN_HOUR = 3600.0
"""Estimates above this many seconds come with a suggestion of what would cut them."""


@dataclass(frozen=True)
class Cost:
    """The estimated cost of measuring ``layers`` on ``examples`` examples."""

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
    """The :class:`Cost` of measuring ``layers`` of ``model`` on ``data``, from
    its first batch; ``layers`` resolved as :func:`frivolous.measuring.probes`
    does (None: the automatic choice). :func:`frivolous.measuring.measure`
    says the same before its work when asked (``on_cost``)."""
    target = resolve_device(device)
    with evaluating(model, target), torch.inference_mode():
        first = first_batch(data, batch_size, target)
        prepared, seconds = prepare_timed(model, first, layers)
    examples = example_count(data, batch_size, len(first))
    return prepared_cost(prepared, seconds, examples, distinct_masks(levels, samplings))


def prepared_cost(prepared: Prepared, seconds: float, examples: int, masks: int, passes_over_data: int = 1) -> Cost:
    """The :class:`Cost` of measuring ``prepared`` (whose capture of the first
    batch took ``seconds``) on ``examples`` examples with ``masks`` distinct
    masks per layer, in ``passes_over_data`` unablated passes."""
    network = prepared.network
    passes = passes_over_data + masks * sum(network.rerun_share(name) for name in prepared.names)
    total = passes * seconds_per_example(seconds, len(prepared.capture.inputs)) * examples
    return Cost(prepared.names, passes, total, examples, masks, str(prepared.capture.inputs.device))


def seconds_per_example(seconds: float, examples: int) -> float:
    """One example's share of the timed capture of the first batch."""
    return seconds / max(examples, 1)


def example_count(data: Any, batch_size: int | None, first: int) -> int:
    """The number of examples in ``data``: as it says where it does, else
    estimated from the first batch's length and the number of batches."""
    known = known_examples(data)
    return known if known is not None else first * (batch_count(data, batch_size) or 1)
