"""The public measurement functions: :func:`measure`, :func:`ablation_curve`
and :func:`probes` (:func:`~frivolous.measuring.repetition.similarity` lives
with repetition)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import torch
from torch import nn

from frivolous.common.validation import check_choice, check_positive, check_threshold
from frivolous.measuring.axes import FeaturesLast, features_last_option
from frivolous.measuring.cost import Cost
from frivolous.measuring.engine import Settings, run
from frivolous.measuring.inputs import evaluating, first_batch, resolve_device
from frivolous.measuring.masks import UNITS, Unit, resolve_levels
from frivolous.measuring.measurement import AblationCurve, MeasureResult
from frivolous.measuring.numerics import Numerics
from frivolous.measuring.preparing import CHECK_EXAMPLES, prepare
from frivolous.measuring.repetition import DEAD_MODES, DeadMode
from frivolous.measuring.sampled import ESTIMATORS, Estimator, check_precision, measure_sampled


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
    estimator: Estimator = "paper",
    precision: float | None = None,
    on_cost: Callable[[Cost], None] | None = None,
    dtype: str = "float32",
    autocast: bool = False,
    channels_last: bool = False,
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
            1 GiB on CPU, a quarter of free memory on CUDA): masks, and where
            one mask of a whole batch does not fit, its examples, are split
            into re-runs that fit. Also bounds the correlation samples held
            at once (default 4 GiB): layers whose samples need more are
            measured in groups, one unablated pass over the data each.
        progress: show progress bars (default: when attached to a terminal;
            plain lines where stderr is a log).
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
        estimator: how removability is measured. ``"paper"`` (default): the
            paper's ``samplings`` random permutations, each shared by every
            example. ``"sampled"``: every example its own random nested masks,
            which estimates the same expected curve with far less noise per
            forward pass, and gives each curve a 95% confidence interval on
            its AUC and prunable units (:mod:`frivolous.measuring.sampled`);
            ``samplings`` then counts the repetition measurement's draws only.
        precision: with ``estimator="sampled"``, stop ablating a layer once
            its AUC's 95% interval is at most this half-width (at least 30
            examples first); None (default) uses every example.
        on_cost: called with the estimated cost
            (:class:`~frivolous.measuring.cost.Cost`) once the first batch is
            prepared, before the work.
        dtype: ``"float32"`` (default, the paper's), ``"bfloat16"`` or
            ``"float16"``: the number format of the forward passes (a copy of
            the model cast to it, unless ``autocast``); correlation samples
            stay float32. See :mod:`frivolous.measuring.numerics`.
        autocast: with a 16-bit ``dtype``, keep the weights float32 and run
            the passes under :func:`torch.autocast` (the usual GPU path).
        channels_last: 4-d inputs and activations channels last, the layout
            CPU (oneDNN) and GPU (cuDNN) convolutions are fastest in.
    """
    settings = _settings(
        levels, samplings, unit, seed, threshold, max_samples, dead, all_layers, max_memory, features_last=features_last
    )
    settings = replace(settings, numerics=Numerics(dtype, autocast, channels_last))
    return _estimated(model, data, layers, settings, estimator, precision, device, batch_size, progress, on_cost)


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
    estimator: Estimator = "paper",
    precision: float | None = None,
) -> AblationCurve:
    """The random-ablation curve of one layer (see :func:`measure` for the
    arguments); with ``estimator="sampled"`` a
    :class:`~frivolous.measuring.measurement.SampledCurve`, with its intervals."""
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
    result = _estimated(model, data, [layer], settings, estimator, precision, device, batch_size, progress)
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


def _estimated(
    model: nn.Module,
    data: Any,
    layers: Sequence[str] | str | None,
    settings: Settings,
    estimator: Estimator,
    precision: float | None,
    device: str | torch.device,
    batch_size: int | None,
    progress: bool | None,
    on_cost: Callable[[Cost], None] | None = None,
) -> MeasureResult:
    """The measurement with the paper's estimator of removability, or the sampled one, as ``estimator`` says."""
    check_choice("estimator", estimator, ESTIMATORS)
    check_precision(precision, estimator)
    target, batches = resolve_device(device), _batch(batch_size)
    if estimator == "sampled":
        return measure_sampled(
            model,
            data,
            layers,
            settings,
            precision,
            device=target,
            batch_size=batches,
            progress=progress,
            on_cost=on_cost,
        )
    return run(model, data, layers, settings, device=target, batch_size=batches, progress=progress, on_cost=on_cost)


def _batch(batch_size: int | None) -> int | None:
    if batch_size is not None:
        check_positive("batch_size", batch_size)
    return batch_size
