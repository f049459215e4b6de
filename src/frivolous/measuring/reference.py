"""Slow, obviously correct versions of both measurements.

They are the baselines of the benchmarks and the references of the tests:
the ablation curve by re-running the full network once per mask with a
forward hook, exactly as the released code did; the similarity by
``numpy.corrcoef`` and a threshold count over the full units x units
matrix, exactly as the released code did. They use the same masks as
:mod:`frivolous.measuring.masks`, so their curves must equal the fast ones.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from frivolous.measuring.masks import (
    Unit,
    count_units,
    keep_mask,
    removal_counts,
    resolve_levels,
    unit_permutation,
    unit_shape,
)
from frivolous.measuring.network import labels_of, logits_of


def ablation_curves(
    model: nn.Module,
    inputs: torch.Tensor,
    module_name: str,
    *,
    levels: int = 7,
    samplings: int = 3,
    unit: Unit = "element",
    seed: int = 0,
    layer_name: str | None = None,
    call: int = 0,
    features_last: bool = False,
) -> np.ndarray:
    """``samplings x levels`` fractions of unchanged labels, one full forward
    pass per mask with a hook on the ``call``-th call of ``module_name``.
    ``layer_name`` is the probe name the masks are seeded with (default: the
    module name). ``features_last``: the output's units are its last axis;
    each mask is drawn for the output with that axis first, then moved back."""
    module = dict(model.named_modules())[module_name]
    fractions = resolve_levels(levels)
    model.eval()
    with torch.inference_mode():
        reference = labels_of(logits_of(model(inputs)))
        shape: list[tuple[int, ...]] = []
        handle = module.register_forward_hook(lambda _m, _a, out: shape.append(tuple(out.shape[1:])))
        model(inputs[:1])
        handle.remove()
        example_shape = shape[call]
        if features_last:
            example_shape = (example_shape[-1], *example_shape[:-1])
        units = count_units(example_shape, unit)
        view = unit_shape(example_shape, unit)
        counts = removal_counts(fractions, units)
        curves = np.empty((samplings, len(fractions)))
        for s in range(samplings):
            permutation = unit_permutation(seed, layer_name or module_name, s, units)
            for i, removed in enumerate(counts):
                keep = keep_mask(permutation, int(removed)).view(view).to(inputs.device)
                if features_last:
                    keep = keep.movedim(0, -1)
                handle = module.register_forward_hook(_mask_call(keep, call))
                try:
                    labels = labels_of(logits_of(model(inputs)))
                finally:
                    handle.remove()
                curves[s, i] = (labels == reference).double().mean().item()
    return curves


def _mask_call(keep: torch.Tensor, call: int):
    """A forward hook that zeroes the removed units at the ``call``-th call only."""
    calls = [0]

    def hook(_module: nn.Module, _args: object, out: torch.Tensor) -> torch.Tensor | None:
        calls[0] += 1
        return out * keep if calls[0] - 1 == call else None

    return hook


def similarity_counts(activations: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """The released code's per-unit counts: ``numpy.corrcoef`` on all units,
    ``|r| >= threshold``, minus the unit itself. Dead units get NaN rows and
    thus a count of -1."""
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.abs(np.corrcoef(np.asarray(activations, dtype=np.float64), rowvar=False))
    return (r >= threshold).sum(1) - 1
