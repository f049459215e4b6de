"""The number format and memory layout a measurement runs in.

float32 is the default and the paper's. Two cheaper ways are offered as
options, because the ablated re-runs are nearly all of a measurement's work
and they only compare predicted labels:

* ``dtype="bfloat16"``: the model's weights and the inputs cast to bfloat16
  (a copy of the model: the user's own is never changed), so convolutions
  and matrix products run in bfloat16 (AMX or AVX512-BF16 on CPUs that have
  them, tensor cores on GPUs); with ``autocast=True`` the weights stay
  float32 and :func:`torch.autocast` picks the precision per operation
  instead (the usual GPU path).
* ``channels_last=True``: 4-d activations laid out channels last, the
  layout oneDNN and cuDNN convolutions are fastest in.

Labels can flip where two logits are within bfloat16's rounding, so curves
move a little; correlation samples are kept in float32 whatever the format.
"""

from __future__ import annotations

import copy
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import torch
from torch import nn

DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass(frozen=True)
class Numerics:
    """How a measurement computes: ``dtype`` (a key of :data:`DTYPES`), by
    casting the model or by ``autocast``, and whether channels last."""

    dtype: str = "float32"
    autocast: bool = False
    channels_last: bool = False

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")

    @property
    def default(self) -> bool:
        return self == Numerics()

    @property
    def casts(self) -> bool:
        """Whether the model and inputs are cast (rather than autocast or left as they are)."""
        return self.dtype != "float32" and not self.autocast

    def model(self, model: nn.Module) -> nn.Module:
        """``model`` itself when nothing changes; else a copy in this format."""
        if not self.casts and not self.channels_last:
            return model
        changed = copy.deepcopy(model)
        if self.casts:
            changed.to(DTYPES[self.dtype])
        if self.channels_last:
            changed.to(memory_format=torch.channels_last)
        return changed

    def inputs(self, batch: torch.Tensor) -> torch.Tensor:
        """A batch in this format: floating inputs cast, images channels last
        (token ids and other integer inputs as they are)."""
        if self.casts and batch.is_floating_point():
            batch = batch.to(DTYPES[self.dtype])
        if self.channels_last and batch.ndim == 4:
            batch = batch.contiguous(memory_format=torch.channels_last)
        return batch

    def running(self, device: torch.device) -> AbstractContextManager:
        """The context every forward pass runs in: autocast when asked."""
        if not self.autocast or self.dtype == "float32":
            return nullcontext()
        return torch.autocast(device.type, dtype=DTYPES[self.dtype])

    def describe(self) -> dict[str, object]:
        """What a result's settings say of it (nothing for the default, so
        that float32 results read as they always did)."""
        if self.default:
            return {}
        return {"dtype": self.dtype, "autocast": self.autocast, "channels_last": self.channels_last}
