"""An explicit L2 term in the loss, over the weights of chosen layers.

The optimiser's ``weight_decay`` decays every parameter, biases and norm
scales included. The released AlexNet instead adds to its loss
``weight_decay * sum(tf.nn.l2_loss(w))``, that is ``l2 * sum(||w||^2 / 2)``,
over the weights of fc1 and fc2 only (``models/alexnet.py``, ``train.py``).
``TrainSpec.l2`` and ``l2_layers`` give that term: its gradient adds
``l2 * w`` to each penalised weight's gradient, as weight decay would on
those weights alone.

The term is a function of the weights only, so it needs no state of its
own in a checkpoint, and under DDP each process adds the same term before
the gradients are averaged.
"""

from __future__ import annotations

import torch
from torch import nn

from frivolous.runs.spec import TrainSpec


class L2Penalty:
    """``strength * sum(||w||^2 / 2)`` over the weights (parameters of two or
    more dimensions: Linear and conv kernels, not biases or norm scales) of
    the modules named ``layers``, or of the whole model when ``layers`` is empty."""

    def __init__(self, model: nn.Module, strength: float, layers: tuple[str, ...] = ()) -> None:
        self.strength = strength
        self.weights = penalised_weights(model, layers)
        if not self.weights:
            raise ValueError(f"l2 has no weights to penalise in {list(layers) or 'the model'}")

    @classmethod
    def of(cls, model: nn.Module, spec: TrainSpec) -> L2Penalty | None:
        """The spec's term for ``model``, or None when ``spec.l2`` is 0."""
        return cls(model, spec.l2, spec.l2_layers) if spec.l2 else None

    def __call__(self) -> torch.Tensor:
        squares = torch.stack([w.float().square().sum() for w in self.weights])
        return self.strength * 0.5 * squares.sum()


def penalised_weights(model: nn.Module, layers: tuple[str, ...]) -> list[nn.Parameter]:
    """The weights of the modules ``layers`` (the whole model for none), each once."""
    modules = {name: module for name, module in model.named_modules() if name}
    unknown = [name for name in layers if name not in modules]
    if unknown:
        raise ValueError(
            f"l2_layers names {unknown}, which {type(model).__name__} lacks; its modules: "
            f"{[name for name in modules if '.' not in name]}"
        )
    scopes = [modules[name] for name in layers] if layers else [model]
    weights: dict[int, nn.Parameter] = {}
    for scope in scopes:
        for parameter in scope.parameters():
            if parameter.requires_grad and parameter.ndim >= 2:
                weights.setdefault(id(parameter), parameter)
    return list(weights.values())
