"""Early stopping: which epoch's weights to keep, and when to stop.

One rule for every trainer (the loop, the batched trainer): after each
epoch, the monitored accuracy of the epoch's record is compared with the
best so far. A strictly higher value is an improvement (keep these
weights); training stops once ``patience`` epochs have passed without one,
or as soon as the monitored accuracy reaches ``stop_at``.

The monitor is the validation accuracy, or, for random labels (whose
validation labels are random too, so that their accuracy carries no
signal), the accuracy on the whole training split, measured in eval mode
after the epoch. That is the released code's rule (``train.py``): random
labels stop on training accuracy with patience 25, and at once at 100%.
The running accuracy of the epoch's batches would not do: it averages over
weights that changed during the epoch, with dropout and augmentation on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from frivolous.runs.spec import TrainSpec

TRAIN_EVAL_ACCURACY = "train_eval_accuracy"
"""The epoch record's key for the accuracy on the whole training split in eval mode."""
MONITORED: MappingProxyType[str, str] = MappingProxyType(
    {"val_accuracy": "val_accuracy", "train_accuracy": TRAIN_EVAL_ACCURACY}
)
"""``TrainSpec.monitor`` -> the key of the epoch record it follows."""


@dataclass(frozen=True)
class Decision:
    """What one epoch's record means for early stopping."""

    improved: bool
    """The monitored accuracy beats the best so far: keep this epoch's weights."""
    stop: bool
    """Train no further."""
    value: float
    """The epoch's monitored accuracy."""


@dataclass(frozen=True)
class EarlyStopping:
    """The early-stopping rule of a spec (see the module's docstring)."""

    key: str
    patience: int | None = None
    stop_at: float | None = None

    @classmethod
    def of(cls, spec: TrainSpec) -> EarlyStopping | None:
        """The spec's rule, or None when it trains every epoch and keeps the last weights."""
        if not spec.early_stopping:
            return None
        return cls(MONITORED[spec.monitor], spec.patience, spec.stop_at)

    @property
    def needs_train_evaluation(self) -> bool:
        """Whether each epoch must evaluate the whole training split for this rule."""
        return self.key == TRAIN_EVAL_ACCURACY

    def decide(self, record: Mapping[str, Any], best: float, best_epoch: int) -> Decision:
        """The decision after the epoch ``record["epoch"]``, given the best
        monitored accuracy so far and its epoch (``-inf`` and 0 before any)."""
        if self.key not in record:
            raise KeyError(f"early stopping monitors {self.key!r}, which the epoch record lacks (has {sorted(record)})")
        value = float(record[self.key])
        improved = value > best
        waited = 0 if improved else record["epoch"] - best_epoch
        stop = (self.stop_at is not None and value >= self.stop_at) or (
            self.patience is not None and waited >= self.patience
        )
        return Decision(improved, stop, value)
