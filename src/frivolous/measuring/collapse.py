"""When a network's measurements mean nothing: collapse.

A network that answers one class for (nearly) every example changes (nearly)
no answer when units are removed, so its ablation curve stays near 1 and its
AUC reads as "very removable"; a network whose probed units are all dead has
no defined correlations. Such a run must be flagged and left out, and so must
its initialisation control: "beyond initialisation" means nothing when the
baseline is a collapsed network.

A network is collapsed for any of these reasons (a run lists every one that
holds, joined by ``"; "``):

- :data:`ONE_CLASS`: one class takes at least :data:`ONE_CLASS_SHARE` of the
  predictions on the measured examples;
- :data:`AT_MAJORITY`: its training accuracy is not above the majority-class
  rate of the training labels (it learnt nothing a constant answer would not
  give; trained networks only: a network at initialisation has learnt nothing
  by definition);
- :data:`ALL_DEAD`: every unit of every probed layer is dead (zero variance).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

ONE_CLASS_SHARE = 0.99
"""The share of the predictions one class must take for a network to count as
collapsed. Not 1: a network that answers one class for all but a handful of
examples is as degenerate (its curve sits within 1% of 1 whatever is
removed), and a stray example must not hide that. Not much lower: on a
2-class task with 60/40 labels, a working network may well predict the
majority class for 70-80% of examples."""
ONE_CLASS = "one class predicts ≥99% of test examples"
AT_MAJORITY = "training accuracy not above majority-class rate"
ALL_DEAD = "every probed unit dead"
REASONS = (ONE_CLASS, AT_MAJORITY, ALL_DEAD)


def collapse_reason(
    predicted: Mapping[Any, int],
    all_dead: bool,
    *,
    train_accuracy: float | None = None,
    majority_rate: float | None = None,
) -> str:
    """Why a network is collapsed ("" if it is not): see the module's docstring.

    ``predicted`` counts the examples assigned to each class; the training
    criterion applies only when both ``train_accuracy`` and ``majority_rate``
    are given."""
    reasons = []
    total = sum(predicted.values())
    if total and max(predicted.values()) / total >= ONE_CLASS_SHARE:
        reasons.append(ONE_CLASS)
    if train_accuracy is not None and majority_rate is not None and train_accuracy <= majority_rate:
        reasons.append(AT_MAJORITY)
    if all_dead:
        reasons.append(ALL_DEAD)
    return "; ".join(reasons)


def majority_rate(labels: torch.Tensor) -> float:
    """The share of the most frequent of ``labels`` (class indices): the
    accuracy of always answering the majority class."""
    if not len(labels):
        raise ValueError("the majority-class rate of no labels is undefined")
    return int(torch.bincount(labels.long().flatten()).max()) / len(labels)
