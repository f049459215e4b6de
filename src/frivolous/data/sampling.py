"""A split's labels, and seeded class-stratified samples of its examples.

Datasets read from class folders come sorted by class: the first 10,000 of
ImageNet's 50,000 validation images are the first 200 of its 1,000 classes.
A prefix of such a split measures a network on a fifth of its task, so a
measurement on part of a split draws a class-stratified sample instead:
each class contributes in proportion to its share of the split.
"""

from __future__ import annotations

import torch
from torch.utils.data import Subset

from frivolous.data.bundle import Split, TensorSplit


def split_labels(split: Split) -> torch.Tensor:
    """Every label of ``split`` (int64, on the CPU), read without its inputs
    where the split says them: a :class:`TensorSplit`'s labels, torchvision's
    ``targets`` (ImageFolder, CIFAR10), through any :class:`Subset`. Any other
    Dataset is read example by example."""
    if isinstance(split, TensorSplit):
        return split.labels.cpu()
    if isinstance(split, Subset):
        return split_labels(split.dataset)[torch.as_tensor(split.indices, dtype=torch.long)]
    targets = getattr(split, "targets", None)
    if targets is not None:
        return torch.as_tensor(targets, dtype=torch.long).cpu()
    count = len(split)  # type: ignore[arg-type]  # map-style Datasets have __len__; torch's stub leaves it out
    return torch.tensor([int(split[i][1]) for i in range(count)], dtype=torch.long)


def stratified_sample(labels: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """Indices (sorted) of ``n`` of the examples with ``labels``, drawn from
    ``generator``: each class gets ``n`` times its share of the examples,
    rounded down, and the examples left over go to the classes with the
    largest remainders (ties in a random order); within a class the examples
    are a uniform random choice. ``n`` of ``C`` equal classes take ``n / C``
    from each when that divides."""
    labels = torch.as_tensor(labels).cpu()
    total = len(labels)
    if isinstance(n, bool) or not isinstance(n, int) or not 0 < n <= total:
        raise ValueError(f"n must be an integer in 1..{total} (the number of examples), got {n!r}")
    classes, counts = torch.unique(labels, return_counts=True)
    quota, remainder = (counts * n).div(total, rounding_mode="floor"), (counts * n) % total
    left = n - int(quota.sum())
    if left:
        tie_break = torch.randperm(len(classes), generator=generator)
        by_remainder = sorted(range(len(classes)), key=lambda c: (-int(remainder[c]), int(tie_break[c])))
        quota[by_remainder[:left]] += 1
    members = labels.argsort(stable=True).split(counts.tolist())
    chosen = [group[torch.randperm(len(group), generator=generator)[:k]] for group, k in zip(members, quota.tolist())]
    return torch.cat(chosen).sort().values
