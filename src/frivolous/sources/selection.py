"""Which examples of a data source are measured, and in what form.

Part of a labelled source is a class-stratified sample (a prefix of a
class-sorted folder would measure a few classes only: see
:mod:`frivolous.data.sampling`); part of an unlabelled one is a uniform
sample. Both are drawn from the seed, and kept in the source's order.
"""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset, Subset

from frivolous.common.seeding import generator
from frivolous.data.sampling import stratified_sample

DEFAULT_EXAMPLES = 1000
"""Examples measured when ``--examples`` is not given (and the source has more)."""
LOADER_BATCH = 64
"""Images decoded per batch of a file-backed source."""


def chosen(total: int, wanted: int | None, labels: torch.Tensor | None, seed: int) -> torch.Tensor | None:
    """Sorted indices of the examples to measure, or None for all ``total`` of them."""
    wanted = DEFAULT_EXAMPLES if wanted is None else wanted
    if wanted >= total:
        return None
    rng = generator(seed, "analyze", "examples")
    if labels is not None:
        return stratified_sample(labels, wanted, rng)
    return torch.randperm(total, generator=rng)[:wanted].sort().values


def tensor_examples(
    inputs: torch.Tensor, wanted: int | None, labels: torch.Tensor | None, seed: int
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The chosen inputs, and their labels (None if ``labels`` is)."""
    index = chosen(len(inputs), wanted, labels, seed)
    if index is None:
        return inputs, labels
    return inputs[index], None if labels is None else labels[index]


def dataset_examples(dataset: Dataset, wanted: int | None, labels: torch.Tensor | None, seed: int) -> DataLoader:
    """A DataLoader over the chosen examples of a Dataset read item by item (images from files)."""
    index = chosen(len(dataset), wanted, labels, seed)  # type: ignore[arg-type]
    subset = dataset if index is None else Subset(dataset, index.tolist())
    return DataLoader(subset, batch_size=LOADER_BATCH)
