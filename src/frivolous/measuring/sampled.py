"""The sampled estimator of removability: random nested masks for every example, with confidence intervals.

``measure(..., estimator="sampled")``. The paper's curve of a layer is, at
each level ``p``, the fraction of examples whose predicted label survives the
removal of the first ``round(p * units)`` units of one random permutation
that every example shares; its three samplings are three draws of that
permutation. What they estimate is the curve's expectation over
permutations, and three shared draws estimate it poorly: every example sees
the same few permutations, so their noise does not average out over the
examples. The expectation of a mean is the mean of the expectations, so
giving every example its *own* permutation (its levels nested as in the
paper, its masks drawn from a stream named after the seed and the layer,
example after example: :mod:`frivolous.common.seeding`) estimates the same
expected curve, and the permutation noise now averages over the examples.
Given the model, the examples' contributions are independent, which gives
confidence intervals on each layer's AUC and prunable units
(:mod:`frivolous.measuring.intervals`, which says why each kind).

With ``precision``, a layer takes examples one after another until the
half-width of its AUC's 95% interval is at most ``precision`` (after at
least :data:`MIN_EXAMPLES`, below which the normal interval is not trusted),
then stops being ablated; when the data runs out first, the result says so
(:func:`unreached`). Stopping at the first narrow enough interval lets its
coverage fall slightly below the nominal 95% (a sequential test's classic
caveat); the minimum keeps that small.

Cost: one unablated pass over the examples used, in batches, and per
example one masked re-run per level that removes something (of what
follows the layer), where the paper's three samplings re-run about three
per level. The repetition measurement is :func:`frivolous.measuring.engine.run`'s,
unchanged, over all the data: one more unablated pass.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from frivolous.common.seeding import generator, stream_seed
from frivolous.common.validation import check_finite
from frivolous.measuring.axes import features_last_probes, onto_activation, units_first
from frivolous.measuring.cost import Cost, distinct_masks, example_count, prepared_cost
from frivolous.measuring.engine import Settings, run
from frivolous.measuring.inputs import evaluating, iter_inputs
from frivolous.measuring.intervals import (
    CONFIDENCE,
    RatioMoments,
    bootstrap_curves,
    percentile_interval,
    trapezoid,
)
from frivolous.measuring.masks import count_units, removal_counts, unit_shape
from frivolous.measuring.measurement import ALL_LAYERS, AblationCurve, LayerResult, MeasureResult, SampledCurve
from frivolous.measuring.network import Capture, ProbedNetwork, labels_of
from frivolous.measuring.preparing import prepare_timed

Estimator = Literal["paper", "sampled"]
ESTIMATORS: tuple[str, ...] = ("paper", "sampled")
MIN_EXAMPLES = 30
"""Examples a layer takes before a precision target may stop it."""


def check_precision(precision: float | None, estimator: str) -> None:
    """``precision``: None, or a half-width in (0, 0.5], and only with the sampled estimator."""
    if precision is None:
        return
    if isinstance(precision, bool) or not isinstance(precision, (int, float)) or not 0 < precision <= 0.5:
        raise ValueError(f"precision must be a number in (0, 0.5] (the AUC interval's half-width), got {precision!r}")
    if estimator != "sampled":
        raise ValueError("precision needs estimator='sampled': the paper's samplings have no interval to narrow")


def measure_sampled(
    model: nn.Module,
    data: Any,
    layers: Sequence[str] | None,
    settings: Settings,
    precision: float | None,
    *,
    device: torch.device,
    batch_size: int | None,
    progress: bool | None,
    on_cost: Callable[[Cost], None] | None = None,
) -> MeasureResult:
    """:func:`frivolous.measuring.measure` with the sampled estimator of removability
    (``settings.levels``, ``unit``, ``seed``, ``all_layers``, ``numerics``;
    ``samplings`` is the repetition measurement's alone). ``on_cost`` hears
    the estimated cost before the work."""
    removal = _removability(model, data, layers, settings, precision, device, batch_size, progress, on_cost)
    described = settings.describe() | {
        "estimator": "sampled",
        "precision": precision,
        "confidence": CONFIDENCE,
        "mode": removal.mode,
        "device": str(device),
        "layers": removal.names,
    }
    if not settings.repetition:
        results = {
            name: LayerResult(
                name, removal.shapes[name], removal.curves[name], features_last=name in removal.features_last
            )
            for name in removal.names
        }
        return MeasureResult(results, removal.joint, removal.examples, described, removal.predicted)
    repeated = run(
        model,
        data,
        removal.names,
        replace(settings, removability=False, all_layers=False),
        device=device,
        batch_size=batch_size,
        progress=progress,
    )
    results = {name: replace(layer, ablation=removal.curves[name]) for name, layer in repeated.layers.items()}
    return replace(repeated, layers=results, all_layers=removal.joint, settings=repeated.settings | described)


def unreached(result: MeasureResult) -> str:
    """A sentence naming the curves whose AUC interval is wider than the
    precision asked for, the data having run out first ("" if none)."""
    precision = result.settings.get("precision")
    if result.settings.get("estimator") != "sampled" or precision is None:
        return ""
    curves = [layer.ablation for layer in result.layers.values()] + [result.all_layers]
    wide = [c for c in curves if isinstance(c, SampledCurve) and not c.half_width <= precision]
    if not wide:
        return ""
    listed = ", ".join(f"{c.layer} (±{c.half_width:.3g} on {c.examples})" for c in wide)
    return (
        f"the data ran out before the AUC interval reached ±{precision:g} for {len(wide)} "
        f"curve{'s' if len(wide) > 1 else ''}: {listed}; measure on more examples for that precision"
    )


@dataclass(frozen=True)
class _Removal:
    """What the sampled pass found: the resolved probes, their shapes (units
    first), the curves, and the unablated predictions of the examples it used."""

    names: list[str]
    shapes: dict[str, tuple[int, ...]]
    features_last: frozenset[str]
    curves: dict[str, SampledCurve]
    joint: SampledCurve | None
    examples: int
    predicted: dict[int, int]
    mode: str


def _removability(
    model: nn.Module,
    data: Any,
    layers: Sequence[str] | None,
    settings: Settings,
    precision: float | None,
    device: torch.device,
    batch_size: int | None,
    progress: bool | None,
    on_cost: Callable[[Cost], None] | None,
) -> _Removal:
    """One pass over the examples, each captured alone and ablated with its
    own masks in every curve that still needs examples; it ends when every
    curve has reached ``precision`` or the data runs out. In the number
    format the settings ask for, as the repetition pass runs
    (:class:`~frivolous.measuring.numerics.Numerics`)."""
    numerics = settings.numerics
    model = numerics.model(model)
    with evaluating(model, device), torch.inference_mode(), numerics.running(device):
        batches = (numerics.inputs(x) for x in iter_inputs(data, batch_size, device))
        first = next(batches, None)
        if first is None:
            raise ValueError("data is empty: it holds no examples to measure on")
        prepared, seconds = prepare_timed(model, first, layers)
        network, names, first_capture = prepared.network, prepared.names, prepared.capture
        if on_cost is not None:
            # every example one nested mask per removing level (the paper's one sampling), and a
            # second unablated pass for the repetition measurement: an upper estimate under ``precision``
            masks = distinct_masks(settings.levels.tolist(), 1)
            on_cost(prepared_cost(prepared, seconds, example_count(data, batch_size, len(first)), masks, 2))
        last = features_last_probes(network, first, first_capture.activations, settings.features_last)
        shapes = {name: tuple(value.shape[1:]) for name, value in units_first(first_capture.activations, last).items()}
        curves = [_Tallies(name, [name], shapes, settings, last) for name in names]
        if settings.all_layers and len(names) > 1:
            curves.append(_Tallies(ALL_LAYERS, names, shapes, settings, last))
        examples = 0
        predicted: dict[int, int] = {}
        captures = itertools.chain([first_capture], (network.capture(inputs) for inputs in batches))
        bar = tqdm(
            total=_known_length(data),
            desc="sampled ablation",
            unit="example",
            disable=None if progress is None else not progress,
            leave=False,
        )
        try:
            for capture in _one_by_one(network, captures):
                active = [c for c in curves if not c.done(precision)]
                if not active:
                    break
                reference = labels_of(capture.logits)
                examples += capture.size
                for label, count in zip(*torch.unique(reference, return_counts=True)):
                    predicted[int(label)] = predicted.get(int(label), 0) + int(count)
                for curve in active:
                    curve.add(network, capture, reference)
                bar.update(1)
        finally:
            bar.close()
    results = {c.name: c.result() for c in curves}
    return _Removal(
        names=names,
        shapes=shapes,
        features_last=last,
        curves={name: results[name] for name in names},
        joint=results.get(ALL_LAYERS),
        examples=examples,
        predicted=dict(sorted(predicted.items())),
        mode=network.mode,
    )


def _one_by_one(network: ProbedNetwork, captures: Iterable[Capture]) -> Iterator[Capture]:
    """The examples of each batch's capture, one at a time, each as if
    captured alone (masks differ from example to example, and a network
    applies each mask to every example of a capture): narrowed, without a
    pass, where every example has one prediction; captured again one by one
    where a batch's predictions are not one per example (a causal language
    model predicts at every position). Batches are captured as they are reached."""
    for batch in captures:
        check_finite(batch.logits, "the model's outputs")
        if batch.size == len(batch.inputs):
            yield from (network.narrow(batch, i, i + 1) for i in range(batch.size))
        else:
            yield from (network.capture(inputs) for inputs in batch.inputs.split(1))


def _known_length(data: Any) -> int | None:
    return len(data) if isinstance(data, torch.Tensor) and data.ndim else None


class _Tallies:
    """One curve (one layer, or every layer removed together) of the sampled
    estimator: per example, how many of its predictions survive each level,
    and the running moments of its AUC.

    Every layer of the curve draws one permutation per example from its own
    stream, so that a layer's masks are the same whether it is measured alone
    or beside others, and whatever the batch size."""

    def __init__(
        self,
        name: str,
        layers: list[str],
        shapes: dict[str, tuple[int, ...]],
        settings: Settings,
        features_last: frozenset[str],
    ) -> None:
        self.name, self.layers, self.settings = name, layers, settings
        self.features_last = features_last & set(layers)
        self.unit_shapes = {l: unit_shape(shapes[l], settings.unit) for l in layers}
        self.units = {l: count_units(shapes[l], settings.unit) for l in layers}
        self.counts = {l: removal_counts(settings.levels, self.units[l]) for l in layers}
        removed = np.sum([self.counts[l] for l in layers], axis=0)
        self.removed = removed
        self.passes = np.flatnonzero(removed > 0)
        """The levels that remove something; the others keep every label."""
        self.streams = {l: generator(settings.seed, "sampled ablation", name, l) for l in layers}
        self.survived: list[torch.Tensor] = []
        self.rows: list[int] = []
        self.moments = RatioMoments()

    def done(self, precision: float | None) -> bool:
        return precision is not None and self.moments.inputs >= MIN_EXAMPLES and self.moments.half_width() <= precision

    def add(self, network: ProbedNetwork, capture: Capture, reference: torch.Tensor) -> None:
        """Ablate the example of ``capture`` (one input, ``capture.size``
        predictions) with its own nested masks, one re-run per level that removes something."""
        rows = capture.size
        survived = torch.full((len(self.settings.levels),), rows, dtype=torch.int64, device=reference.device)
        if self.passes.size:
            keeps = {l: self._keeps(l, reference.device) for l in self.layers}
            labels = labels_of(network.ablate(capture, keeps)).view(len(self.passes), rows)
            survived[torch.as_tensor(self.passes, device=reference.device)] = (labels == reference).sum(1)
        self.survived.append(survived)
        self.rows.append(rows)
        curve = survived.cpu().numpy().astype(float)
        self.moments.add(float(trapezoid(self.settings.levels, curve)), float(rows))

    def _keeps(self, layer: str, device: torch.device) -> torch.Tensor:
        """This example's masks of ``layer`` at the levels that need a pass:
        the first ``count`` units of one fresh permutation removed at each."""
        units = self.units[layer]
        order = torch.randperm(units, generator=self.streams[layer])
        rank = torch.empty(units, dtype=torch.int64)
        rank[order] = torch.arange(units)
        counts = torch.as_tensor(self.counts[layer][self.passes])
        keep = (rank.unsqueeze(0) >= counts.unsqueeze(1)).to(device)
        keep = keep.view(len(self.passes), *self.unit_shapes[layer])
        return onto_activation(keep) if layer in self.features_last else keep

    def result(self) -> SampledCurve:
        levels = self.settings.levels
        survived = torch.stack(self.survived).cpu().numpy().astype(float)
        rows = np.asarray(self.rows, dtype=float)
        curve = survived.sum(0) / rows.sum()
        units = sum(self.units.values())
        rng = np.random.default_rng(stream_seed(self.settings.seed, "sampled bootstrap", self.name))
        resampled = AblationCurve(
            self.name, self.settings.unit, units, levels, self.removed, bootstrap_curves(survived, rows, rng), len(rows)
        )
        half = self.moments.half_width()
        return SampledCurve(
            layer=self.name,
            unit=self.settings.unit,
            units=units,
            levels=levels.copy(),
            removed=self.removed,
            curves=curve[None, :],
            examples=int(rows.sum()),
            auc_interval=self.moments.interval() if not math.isnan(half) else (math.nan, math.nan),
            prunable_interval=percentile_interval(resampled.crossings() * units),
            half_width=half,
            confidence=CONFIDENCE,
        )
