"""Measuring a model for ``frivolous analyze``: every probed layer, with the
cost said first and progress over layers.

This is one call of :func:`frivolous.measuring` over every layer (one
trace, one unablated pass shared by every layer, each layer's masks
re-running only what follows it; the correlation samples of a deep network
on much data are held in groups of layers that fit in memory: see
:mod:`frivolous.measuring.engine`; with the sampled estimator, one pass in
which each example is ablated in every layer that still needs examples:
:mod:`frivolous.measuring.sampled`); the curve with every layer ablated at
once is not measured.

Before the work it prints, on stderr, an estimate from the first batch
(:mod:`frivolous.measuring.cost`), with what would cut it when it is over an
hour; where stderr is a log rather than a terminal, progress over layers
comes as plain lines (:func:`frivolous.common.progress.progress_bar`).
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from frivolous.measuring import MeasureResult, measure
from frivolous.measuring.cost import Cost

MATERIALISE_BYTES = 4 << 30
"""Inputs read from files (decoded images) are kept in memory as one tensor
when they fit in this many bytes, rather than decoded again for every layer."""


def measure_by_layer(
    model: nn.Module,
    data: Any,
    layers: Sequence[str] | None,
    *,
    device: str | torch.device = "auto",
    progress: bool | None = None,
    **options: Any,
) -> MeasureResult:
    """:func:`frivolous.measuring` of ``model`` on ``data``, layer by layer
    (``options``: its keyword arguments; ``all_layers`` is always off)."""
    data = in_memory(data)
    with said_once():
        return measure(
            model,
            data,
            layers,
            device=device,
            progress=progress,
            all_layers=False,
            on_cost=None if progress is False else say,
            **options,
        )


def say(cost: Cost) -> None:
    """The estimate, and what would cut it when it is over an hour, on stderr."""
    for line in (cost.line(), cost.suggestion()):
        if line:
            print(line, file=sys.stderr, flush=True)


@contextmanager
def said_once() -> Iterator[None]:
    """Each warning shown once, however many layers give it (``torch.fx cannot
    trace the model`` holds for every layer of a model)."""
    with warnings.catch_warnings():
        shown: set[tuple[str, type]] = set()
        show = warnings.showwarning

        def once(message, category, filename, lineno, file=None, line=None):
            if (str(message), category) not in shown:
                shown.add((str(message), category))
                show(message, category, filename, lineno, file, line)

        warnings.showwarning = once
        yield


def in_memory(data: Any, limit: int = MATERIALISE_BYTES) -> Any:
    """A DataLoader's inputs as one tensor if they fit in ``limit`` bytes, else the loader itself."""
    if not isinstance(data, DataLoader):
        return data
    batches, size = [], 0
    for batch in data:
        inputs = batch[0] if isinstance(batch, (tuple, list)) else batch
        if not isinstance(inputs, torch.Tensor):
            return data
        size += inputs.numel() * inputs.element_size()
        if size > limit:
            return data
        batches.append(inputs)
    return torch.cat(batches) if batches else data
