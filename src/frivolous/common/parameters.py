"""The one way frivolous counts a model's parameters."""

from __future__ import annotations

from torch import nn


def parameter_count(model: nn.Module) -> int:
    """Every parameter (trainable or not), counted once even if shared: what the
    model holds, which is what a smaller model saves."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
