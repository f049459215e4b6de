"""What a data source hands to training and measurement.

Small datasets (teacher, MNIST-1D, CIFAR-10) are :class:`TensorSplit`\\ s:
whole tensors that move to the training device once, so that batches are
slices with no host round trip. Large ones (ImageNet) are torch Datasets
read through a DataLoader.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from torch.utils.data import Dataset

Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]
"""A random augmentation of a batch of inputs (on the inputs' device), drawn
from the given generator so that it is reproducible."""


@dataclass(frozen=True)
class TensorSplit:
    """Inputs (examples along dim 0) and int64 labels, as whole tensors."""

    inputs: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self) -> None:
        if len(self.inputs) != len(self.labels):
            raise ValueError(f"{len(self.inputs)} inputs but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.labels)

    def to(self, device: torch.device | str) -> TensorSplit:
        return TensorSplit(self.inputs.to(device), self.labels.to(device))


Split = TensorSplit | Dataset


@dataclass(frozen=True)
class DataBundle:
    """Train, validation (optional) and test splits of one dataset.

    ``augment`` applies to training batches of a :class:`TensorSplit` (a
    Dataset applies its own transforms)."""

    name: str
    train: Split
    test: Split
    val: Split | None
    num_classes: int
    input_shape: tuple[int, ...]
    augment: Augment | None = None

    def on(self, device: torch.device) -> DataBundle:
        """The bundle with its tensor splits moved to ``device`` once (a Dataset stays where it is)."""

        def move(split: Split) -> Split:
            return split.to(device) if isinstance(split, TensorSplit) else split

        val = None if self.val is None else move(self.val)
        return replace(self, train=move(self.train), test=move(self.test), val=val)
