"""The public measurement functions: :func:`measure`, :func:`ablation_curve`
and :func:`probes` (:func:`~frivolous.measuring.repetition.similarity` lives
with repetition)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from frivolous.common.validation import check_choice, check_positive, check_threshold
from frivolous.measuring.axes import FeaturesLast, features_last_option
from frivolous.measuring.engine import CHECK_EXAMPLES, Settings, prepare, run
from frivolous.measuring.inputs import evaluating, first_batch, resolve_device
from frivolous.measuring.masks import UNITS, Unit, resolve_levels
from frivolous.measuring.measurement import AblationCurve, MeasureResult
from frivolous.measuring.repetition import DEAD_MODES, DeadMode


def measure(
    model: nn.Module,
    data: Any,
    layers: Sequence[str] | str | None = None,
    *,
    levels: int | Sequence[float] = 7,
    samplings: int = 3,
    unit: Unit = "element",
    threshold: float = 0.5,
    max_samples: int = 50_000,
    batch_size: int | None = None,
    device: str | torch.device = "auto",
    seed: int = 0,
    dead: DeadMode = "exclude",
    all_layers: bool = True,
    max_memory: int | None = None,
    progress: bool | None = None,
    features_last: FeaturesLast = None,
) -> MeasureResult:
    """Measure how removable and how repeated the units of ``model`` are.

    Args:
        model: any ``nn.Module`` that maps a batch of inputs to class logits.
            It is measured in eval mode and given back in its own mode, on its
            own device.
        data: the evaluation examples: a DataLoader, a tensor of inputs, or an
            ``(inputs, labels)`` pair. Labels are never used: removability
            compares each prediction with the unablated network's own.
        layers: names of the activations to probe (module names as in
            ``model.named_modules()``, ``"name#k"`` for the k-th call of a
            module called several times, ``"fn(source)"`` for functional
            activations), or None for hidden activations after each
            nonlinearity (never the logits, nor values computed from the
            parameters alone), or the model's own ``frivolous_layers``.
        levels: number of evenly spaced ablation levels from 0 to 1, or the
            fractions themselves.
        samplings: random permutations of units (removability) and random
            draws of samples (repetition), each reported as mean and std.
        unit: ``"element"`` removes single kernel applications of a conv
            layer (the paper's text); ``"channel"`` removes whole channels
            (the released code). Identical for fully connected layers.
        threshold: a pair of units is repeated when ``|r| >= threshold``.
        max_samples: rows per layer and sampling for the correlations; a
            conv layer's rows are (example, position) pairs.
        batch_size: examples per forward pass (tensor data; splits a
            DataLoader's batches if smaller).
        device: ``"auto"`` (CUDA if present), ``"cpu"``, ``"cuda"``, ...
        seed: seeds every permutation and every sample draw.
        dead: ``"exclude"`` leaves dead units out of the pair statistics;
            ``"legacy"`` counts each as -1 like the released code.
        all_layers: also measure one curve with all probed layers ablated at once.
        max_memory: bytes of activations one batched re-run may use (default:
            1 GiB on CPU, a quarter of free memory on CUDA).
        progress: show progress bars (default: when attached to a terminal).
        features_last: which probed layers hold their units in the last axis
            rather than the first after the batch. A transformer's hidden
            activations are ``(batch, tokens, features)``: read as they come,
            its token positions would be the units. A features-last layer is
            measured as ``activation.movedim(-1, 1)``: its features are the
            units (a channel unit zeroes one feature at every token), every
            (example, token) pair is a sample, and its result's ``shape``
            lists the features first. None (default) detects them from what
            made each probe's value (``nn.Linear``, ``LayerNorm``, embeddings,
            attention, and what follows from them elementwise: see
            :mod:`frivolous.measuring.axes`); True or False says it of every
            probed layer; layer names list exactly the features-last layers
            (names of layers that are not probed are allowed).
    """
    settings = _settings(
        levels, samplings, unit, seed, threshold, max_samples, dead, all_layers, max_memory, features_last=features_last
    )
    return run(
        model, data, layers, settings, device=resolve_device(device), batch_size=_batch(batch_size), progress=progress
    )


def ablation_curve(
    model: nn.Module,
    data: Any,
    layer: str,
    *,
    levels: int | Sequence[float] = 7,
    samplings: int = 3,
    unit: Unit = "element",
    seed: int = 0,
    batch_size: int | None = None,
    device: str | torch.device = "auto",
    max_memory: int | None = None,
    progress: bool | None = None,
    features_last: FeaturesLast = None,
) -> AblationCurve:
    """The random-ablation curve of one layer (see :func:`measure` for the arguments)."""
    if not isinstance(layer, str):
        raise TypeError(f"layer must be one layer name, got {type(layer).__name__}")
    settings = _settings(
        levels,
        samplings,
        unit,
        seed,
        0.5,
        2,
        "exclude",
        False,
        max_memory,
        repetition=False,
        features_last=features_last,
    )
    result = run(
        model, data, [layer], settings, device=resolve_device(device), batch_size=_batch(batch_size), progress=progress
    )
    curve = next(iter(result.layers.values())).ablation
    assert curve is not None
    return curve


def probes(
    model: nn.Module,
    data: Any,
    layers: Sequence[str] | str | None = None,
    *,
    device: str | torch.device = "auto",
) -> list[str]:
    """The layers :func:`measure` would probe, by the names it reports them
    under: ``layers`` checked and resolved (an error names the valid ones),
    or the automatic choice, in the order of the forward pass. Runs the model
    on a few examples of ``data``."""
    target = resolve_device(device)
    with evaluating(model, target), torch.inference_mode():
        _, names, _ = prepare(model, first_batch(data, CHECK_EXAMPLES, target), layers)
    return names


def _settings(
    levels: int | Sequence[float],
    samplings: int,
    unit: Unit,
    seed: int,
    threshold: float,
    max_samples: int,
    dead: DeadMode,
    all_layers: bool,
    max_memory: int | None,
    repetition: bool = True,
    features_last: FeaturesLast = None,
) -> Settings:
    check_positive("samplings", samplings)
    check_choice("unit", unit, UNITS)
    check_threshold(threshold)
    check_positive("max_samples", max_samples, minimum=2)
    check_choice("dead", dead, DEAD_MODES)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    if max_memory is not None:
        check_positive("max_memory", max_memory)
    return Settings(
        levels=resolve_levels(levels),
        samplings=samplings,
        unit=unit,
        threshold=float(threshold),
        max_samples=max_samples,
        seed=seed,
        dead=dead,
        repetition=repetition,
        all_layers=all_layers,
        max_memory=max_memory,
        features_last=features_last_option(features_last),
    )


def _batch(batch_size: int | None) -> int | None:
    if batch_size is not None:
        check_positive("batch_size", batch_size)
    return batch_size
