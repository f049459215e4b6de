"""Measuring a model one probed layer at a time, with a progress bar over layers.

Each layer is a call of :func:`frivolous.measuring` of its own. The numbers are
those of one call over every layer (each layer's masks and samples are drawn
from streams named after the layer: see :mod:`frivolous.common.seeding`),
but only one layer's samples are held at a time, which bounds the memory of
a deep network's correlations by its widest layer rather than by the sum of
all, and the bar can say which layer is being measured and when the last
will be done. The price is one unablated forward pass per layer, small
beside the ablated re-runs; the curve with every layer ablated at once is
not measured.

Before the work it prints, on stderr, an estimate from the first batch
(:mod:`frivolous.measuring.cost`), with what would cut it when it is over an
hour; where stderr is a log rather than a terminal, progress over layers
comes as plain lines (:func:`frivolous.common.progress.progress_bar`).
"""

from __future__ import annotations

import inspect
import sys
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from frivolous.common.progress import progress_bar
from frivolous.measuring import MeasureResult, measure
from frivolous.measuring.cost import estimate

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
    results, last = {}, None
    with said_once():
        defaults = inspect.signature(measure).parameters
        cost = estimate(
            model,
            data,
            layers,
            levels=options.get("levels", defaults["levels"].default),
            samplings=options.get("samplings", defaults["samplings"].default),
            batch_size=options.get("batch_size"),
            device=device,
        )
        names = cost.layers
        if progress is not False:
            for line in (cost.line(), cost.suggestion()):
                if line:
                    print(line, file=sys.stderr, flush=True)
        bar = progress_bar(total=len(names), progress=progress, desc="layers", unit="layer")
        try:
            for name in names:
                bar.set_postfix_str(name, refresh=True)  # in a log: one line per layer
                last = measure(model, data, [name], device=device, all_layers=False, progress=False, **options)
                results[name] = last.layers[name]
                bar.update(1)
        finally:
            bar.close()
    assert last is not None
    return MeasureResult(
        layers=results,
        all_layers=None,
        examples=last.examples,
        settings=last.settings | {"layers": names},
        predicted=last.predicted,
    )


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
