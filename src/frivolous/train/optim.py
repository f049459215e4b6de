"""Optimisers and learning-rate schedules of the paper's recipes."""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from typing import TypedDict

import torch
from torch import nn

from frivolous.runs.spec import TrainSpec


class _Eps(TypedDict, total=False):
    """The optional ``eps`` keyword of Adam and RMSprop."""

    eps: float


def make_optimizer(model: nn.Module | Iterable[torch.Tensor], spec: TrainSpec) -> torch.optim.Optimizer:
    """The spec's optimiser at its effective (k-scaled) learning rate, over a
    model's parameters or given tensors (the batched trainer's slices)."""
    tensors = model.parameters() if isinstance(model, nn.Module) else model
    parameters = [p for p in tensors if p.requires_grad]
    lr, decay = spec.effective_lr, spec.weight_decay
    extra: _Eps = {} if spec.eps is None else {"eps": spec.eps}
    if spec.optimizer == "sgd":
        return torch.optim.SGD(parameters, lr=lr, weight_decay=decay)
    if spec.optimizer in ("momentum", "nesterov"):
        nesterov = spec.optimizer == "nesterov"
        return torch.optim.SGD(parameters, lr=lr, momentum=spec.momentum, nesterov=nesterov, weight_decay=decay)
    if spec.optimizer == "adam":
        return torch.optim.Adam(parameters, lr=lr, weight_decay=decay, **extra)
    return torch.optim.RMSprop(parameters, lr=lr, alpha=spec.alpha, momentum=spec.momentum, weight_decay=decay, **extra)


def learning_rate(spec: TrainSpec, epoch: int) -> float:
    """The learning rate of ``epoch`` (counted from 1), a pure function of the
    epoch so that a resumed run follows the same schedule."""
    base, done = spec.effective_lr, epoch - 1
    if spec.schedule == "exponential":
        return base * spec.gamma ** (done // spec.every)
    if spec.schedule == "step":
        return base * spec.gamma ** bisect.bisect_left(sorted(spec.milestones), epoch)
    return base


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
