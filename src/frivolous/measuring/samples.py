"""The rows whose correlations measure repetition, drawn while data streams by.

For a probed activation of shape ``(batch, channels, *positions)`` each
(example, position) pair is one sample (one row) and each channel is one
unit; a fully connected layer has one row per example. Up to ``capacity``
rows are kept per sampling, uniformly without replacement, by giving every
row a random key and keeping the rows with the smallest keys: that needs no
advance knowledge of the number of examples, so any DataLoader works.

While all rows seen so far fit, the samplings share one buffer (they would
all keep every row); they part only when the data overflows it.
"""

from __future__ import annotations

import torch

from frivolous.common.seeding import generator


def as_rows(activation: torch.Tensor, index: torch.Tensor | None = None) -> torch.Tensor:
    """Rows ``index`` (all if None) of ``activation`` seen as (example, position) x channel.

    Row ``i`` is example ``i // positions`` at position ``i % positions``."""
    if activation.ndim == 1:
        activation = activation.unsqueeze(1)
    grid = activation.reshape(activation.shape[0], activation.shape[1], -1)
    if index is None:
        return grid.transpose(1, 2).reshape(-1, grid.shape[1])
    positions = grid.shape[2]
    return grid[index // positions, :, index % positions]


def row_count(activation: torch.Tensor) -> int:
    return activation.numel() // activation.shape[1] if activation.ndim > 1 else activation.shape[0]


class RowSampler:
    """Up to ``capacity`` rows per sampling, uniformly without replacement."""

    def __init__(self, capacity: int, samplings: int, seed: int, layer: str) -> None:
        self.capacity = capacity
        self._generators = [generator(seed, "similarity", layer, s) for s in range(samplings)]
        self._shared_rows: list[torch.Tensor] = []
        self._shared_keys: list[list[torch.Tensor]] = [[] for _ in self._generators]
        self._reservoirs: list[tuple[torch.Tensor, torch.Tensor]] | None = None
        self.seen = 0

    def add(self, activation: torch.Tensor) -> None:
        n = row_count(activation)
        keys = [torch.rand(n, generator=g, dtype=torch.float64) for g in self._generators]
        if self._reservoirs is None and self.seen + n <= self.capacity:
            self._shared_rows.append(as_rows(activation).clone())
            for stored, new in zip(self._shared_keys, keys):
                stored.append(new)
        else:
            if self._reservoirs is None:
                self._split_shared_buffer(activation)
            assert self._reservoirs is not None  # set by _split_shared_buffer
            self._reservoirs = [self._merge(r, k, activation) for r, k in zip(self._reservoirs, keys)]
        self.seen += n

    def _split_shared_buffer(self, like: torch.Tensor) -> None:
        rows = (
            torch.cat(self._shared_rows)
            if self._shared_rows
            else like.new_empty((0, like.shape[1] if like.ndim > 1 else 1))
        )
        self._reservoirs = [
            (torch.cat(k) if k else torch.empty(0, dtype=torch.float64), rows) for k in self._shared_keys
        ]
        self._shared_rows, self._shared_keys = [], []

    def _merge(
        self, reservoir: tuple[torch.Tensor, torch.Tensor], keys: torch.Tensor, activation: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        kept_keys, kept_rows = reservoir
        if kept_keys.numel() >= self.capacity:
            candidates = torch.nonzero(keys < kept_keys.max()).flatten()
        else:
            candidates = torch.arange(keys.numel())
        if candidates.numel() == 0:
            return reservoir
        all_keys = torch.cat([kept_keys, keys[candidates]])
        new_rows = as_rows(activation, candidates.to(activation.device))
        all_rows = torch.cat([kept_rows, new_rows])
        if all_keys.numel() > self.capacity:
            chosen = torch.topk(all_keys, self.capacity, largest=False).indices
            all_keys, all_rows = all_keys[chosen], all_rows[chosen.to(all_rows.device)]
        return all_keys, all_rows

    @property
    def shared(self) -> bool:
        """True if every row seen was kept, so all samplings hold the same rows."""
        return self._reservoirs is None

    def samples(self) -> list[torch.Tensor]:
        """The kept rows: one matrix per sampling, or a single one if shared.
        Each matrix is a tensor of its own, which the caller may overwrite."""
        if self._reservoirs is None:
            return [torch.cat(self._shared_rows)]
        matrices: list[torch.Tensor] = []
        for _, rows in self._reservoirs:
            matrices.append(rows.clone() if any(rows is m for m in matrices) else rows)
        return matrices
