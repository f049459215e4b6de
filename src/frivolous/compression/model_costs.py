"""What a network costs per example, measured on the module itself: multiply-adds
(its parameters: :mod:`frivolous.common.parameters`)."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def multiply_adds(model: nn.Module, example: torch.Tensor) -> int:
    """Multiply-adds of one forward pass on one example (``example[:1]``), as
    ``torch.utils.flop_counter`` counts them (matrix products and
    convolutions; half its FLOPs)."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(example[:1])
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2
