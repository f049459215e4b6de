"""Whether the data fits the model: one forward pass on two examples, before any measurement.

A shape or dtype the model cannot take fails deep inside its forward pass
with a long traceback; here it becomes one line that names the model, the
data and one input's shape. So does an output that holds no classification
logits (removability compares predicted labels).
"""

from __future__ import annotations

import torch

from frivolous.measuring.inputs import evaluating, iter_inputs, resolve_device
from frivolous.measuring.network import labels_of, logits_of
from frivolous.sources.base import DataSource, ModelSource, SourceError, one_line

TRIAL_EXAMPLES = 2


def check_fits(model: ModelSource, data: DataSource, device: str | torch.device = "auto") -> None:
    target = resolve_device(device)
    try:
        first = next(iter_inputs(data.inputs, TRIAL_EXAMPLES, target), None)
    except (TypeError, ValueError) as error:
        raise SourceError(f"data {data.label}: {one_line(error)}") from None
    if first is None:
        raise SourceError(f"data {data.label} holds no examples")
    shape = "x".join(map(str, first.shape[1:])) or "scalar"
    with evaluating(model.model, target), torch.inference_mode():
        try:
            output = model.model(first)
        except Exception as error:
            raise SourceError(
                f"data {data.label} (inputs of shape {shape}, {str(first.dtype).removeprefix('torch.')}) "
                f"does not fit model {model.label}: {one_line(error)}"
            ) from None
        try:
            labels_of(logits_of(output))
        except (TypeError, ValueError) as error:
            raise SourceError(f"model {model.label} on data {data.label}: {one_line(error)}") from None
