"""Which units an ablation removes, and how a removal is applied.

A *unit* of a probed activation of shape ``(batch, channels, *positions)`` is
either one element of ``(channels, *positions)`` (``"element"``: one
application of a kernel, the paper's text) or one channel (``"channel"``: the
authors' released code). For a fully connected layer the two coincide.

For one sampling, one random permutation of the units is drawn; the level
``p`` removes the first ``round(p * units)`` units of that permutation, so the
removed sets are nested across levels. Removal sets an activation to zero,
without rescaling the rest, for every example alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch

from frivolous.common.seeding import generator

Unit = Literal["element", "channel"]
UNITS: tuple[str, ...] = ("element", "channel")


def resolve_levels(levels: int | Sequence[float]) -> np.ndarray:
    """The ablation levels as fractions of units: ``levels`` evenly spaced
    values from 0 to 1, or the given increasing values, which must start at
    0 and end at 1 so that the curve's area covers the whole range."""
    if isinstance(levels, (int, np.integer)) and not isinstance(levels, bool):
        if levels < 2:
            raise ValueError(f"levels must be at least 2 (the curve needs 0 and 1), got {levels}")
        return np.linspace(0.0, 1.0, int(levels))
    values = np.asarray(levels, dtype=float)
    if values.ndim != 1 or values.size < 2:
        raise ValueError(f"levels must be an integer >= 2 or a sequence of at least 2 fractions, got {levels!r}")
    if values[0] != 0.0 or values[-1] != 1.0 or np.any(np.diff(values) <= 0):
        raise ValueError(f"level fractions must increase strictly from 0 to 1, got {values.tolist()}")
    return values


def removal_counts(levels: np.ndarray, units: int) -> np.ndarray:
    """How many units each level removes: ``round(p * units)``, halves to even
    as Python's and NumPy's ``round`` do."""
    return np.rint(levels * units).astype(np.int64)


def unit_permutation(seed: int, layer: str, sampling: int, units: int) -> torch.Tensor:
    """The order in which sampling ``sampling`` of ``layer`` removes its units.

    Does not depend on the unit kind, so ``element`` and ``channel`` ablations
    of a fully connected layer use the very same masks."""
    return torch.randperm(units, generator=generator(seed, "ablation", layer, sampling))


def keep_mask(permutation: torch.Tensor, removed: int) -> torch.Tensor:
    """A flat boolean mask that keeps every unit but the first ``removed`` of ``permutation``."""
    keep = torch.ones(permutation.numel(), dtype=torch.bool)
    keep[permutation[:removed]] = False
    return keep


def unit_shape(example_shape: Sequence[int], unit: Unit) -> tuple[int, ...]:
    """The shape of one example's mask, broadcastable against the activation
    of one example (``example_shape`` excludes the batch dimension)."""
    example_shape = tuple(example_shape)
    if unit == "element" or len(example_shape) <= 1:
        return example_shape
    return (example_shape[0],) + (1,) * (len(example_shape) - 1)


def count_units(example_shape: Sequence[int], unit: Unit) -> int:
    return int(np.prod(unit_shape(example_shape, unit), dtype=np.int64))


def apply_keep(value: torch.Tensor, keep: torch.Tensor, repeated: bool) -> torch.Tensor:
    """Zero the removed units of ``value`` for each of ``M`` masks at once.

    ``keep`` has shape ``(M, *unit_shape)``. If ``repeated`` is false, ``value``
    holds ``N`` examples and the result holds the ``M * N`` ablated copies,
    mask-major; if true, ``value`` already holds ``M * N`` examples (the input
    was repeated upstream) and copy ``m`` is ablated with mask ``m``.
    """
    masks = keep.shape[0]
    keep = keep.unsqueeze(1)
    if repeated:
        value = value.reshape(masks, -1, *value.shape[1:])
    else:
        value = value.unsqueeze(0)
    return (value * keep).flatten(0, 1)
