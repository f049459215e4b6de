"""One pass over the data that measures every probed layer at once.

Per batch: one reference forward pass captures the predictions and the
probed activations; the activations feed the row samplers of the
repetition measurement; then, for each ablation curve, the batched masks
are evaluated by re-running only what the ablation changes. Afterwards the
sampled rows are correlated by blocks. A probe whose units are its last axis
(a transformer's features) is sampled and masked through its units-first
view (:mod:`frivolous.measuring.axes`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from frivolous.common.progress import progress_bar
from frivolous.common.validation import check_finite
from frivolous.measuring.axes import features_last_probes, onto_activation, units_first
from frivolous.measuring.cost import Cost, example_count, prepared_cost
from frivolous.measuring.inputs import batch_count, evaluating, iter_inputs, known_examples
from frivolous.measuring.masks import Unit, count_units, keep_mask, removal_counts, unit_permutation, unit_shape
from frivolous.measuring.measurement import ALL_LAYERS, AblationCurve, LayerResult, MeasureResult
from frivolous.measuring.network import Capture, ProbedNetwork, labels_of
from frivolous.measuring.numerics import Numerics
from frivolous.measuring.pca import variance_spectrum
from frivolous.measuring.preparing import prepare_timed
from frivolous.measuring.repetition import DeadMode, pair_statistics
from frivolous.measuring.samples import RowSampler, row_count

CPU_MEMORY_BUDGET = 1 << 30
"""Bytes of activations one batched re-run may use on a CPU, unless ``max_memory`` says otherwise."""
SAMPLE_MEMORY_BUDGET = 4 << 30
"""Bytes of correlation samples held at once, unless ``max_memory`` says
otherwise: layers whose samples need more are measured in groups, one
unablated pass over the data each (ResNet-50 on 1,000 images at the paper's
50,000 rows and 3 samplings holds about 14 GB of samples over its 49 layers)."""


@dataclass(frozen=True)
class Settings:
    """Everything that decides the numbers of one measurement."""

    levels: np.ndarray
    samplings: int
    unit: Unit
    threshold: float
    max_samples: int
    seed: int
    dead: DeadMode
    removability: bool = True
    repetition: bool = True
    all_layers: bool = True
    max_memory: int | None = None
    features_last: bool | tuple[str, ...] | None = None
    numerics: Numerics = field(default_factory=Numerics)

    def describe(self) -> dict[str, Any]:
        return {
            "levels": self.levels.tolist(),
            "samplings": self.samplings,
            "unit": self.unit,
            "threshold": self.threshold,
            "max_samples": self.max_samples,
            "seed": self.seed,
            "dead": self.dead,
        } | self.numerics.describe()


class _Curve:
    """The masks of one ablation curve (one layer, or several layers removed
    together) and the running count of unchanged labels per mask.

    Masks are deduplicated: a level that removes nothing needs no forward
    pass (its value is 1), and removing every unit gives the same mask in
    every sampling, so it is evaluated once."""

    def __init__(
        self,
        name: str,
        layers: list[str],
        shapes: dict[str, tuple[int, ...]],
        settings: Settings,
        device: torch.device,
        features_last: frozenset[str],
    ) -> None:
        self.name, self.layers, self.settings = name, layers, settings
        self.features_last = features_last & set(layers)
        self.unit_shapes = {l: unit_shape(shapes[l], settings.unit) for l in layers}
        self.units = {l: count_units(shapes[l], settings.unit) for l in layers}
        counts = {l: removal_counts(settings.levels, self.units[l]) for l in layers}
        removed_total = sum(counts.values())
        assert isinstance(removed_total, np.ndarray)  # layers is never empty, so not sum's start value 0
        self.removed = removed_total
        self.index = np.full((settings.samplings, len(settings.levels)), -1)
        masks: dict[str, list[torch.Tensor]] = {l: [] for l in layers}
        seen: dict[tuple, int] = {}
        for s in range(settings.samplings):
            permutations = {l: unit_permutation(settings.seed, l, s, self.units[l]) for l in layers}
            for i in range(len(settings.levels)):
                removed = tuple(int(counts[l][i]) for l in layers)
                if not any(removed):
                    continue
                everything = all(r == self.units[l] for r, l in zip(removed, layers))
                key = (None if everything else s, removed)
                if key not in seen:
                    seen[key] = len(seen)
                    for l, r in zip(layers, removed):
                        masks[l].append(keep_mask(permutations[l], r))
                self.index[s, i] = seen[key]
        self.keeps = {l: torch.stack(m).to(device) for l, m in masks.items() if m}
        self.unchanged = torch.zeros(len(seen), dtype=torch.int64, device=device)
        self.examples = 0

    @property
    def masks(self) -> int:
        return int(self.unchanged.numel())

    def evaluate(self, network: ProbedNetwork, capture: Capture, reference: torch.Tensor, chunk: Chunk) -> None:
        n = capture.size
        self.examples += n
        for begin in range(0, n, chunk.examples):
            end = min(begin + chunk.examples, n)
            part = capture if end - begin == n else network.narrow(capture, begin, end)
            for start in range(0, self.masks, chunk.masks):
                stop = min(start + chunk.masks, self.masks)
                keeps = {l: k[start:stop].view(stop - start, *self.unit_shapes[l]) for l, k in self.keeps.items()}
                keeps = {l: onto_activation(k) if l in self.features_last else k for l, k in keeps.items()}
                labels = labels_of(network.ablate(part, keeps)).view(stop - start, end - begin)
                self.unchanged[start:stop] += (labels == reference[begin:end]).sum(1)

    def skip(self, examples: int) -> None:
        """Count a batch that cannot change (the output does not depend on these layers)."""
        self.unchanged += examples
        self.examples += examples

    def result(self) -> AblationCurve:
        unchanged = self.unchanged.cpu().numpy() / max(self.examples, 1)
        curves = np.where(self.index >= 0, unchanged[np.maximum(self.index, 0)], 1.0)
        return AblationCurve(
            layer=self.name,
            unit=self.settings.unit,
            units=sum(self.units.values()),
            levels=self.settings.levels.copy(),
            removed=self.removed,
            curves=curves,
            examples=self.examples,
        )


def _memory_budget(settings: Settings, device: torch.device) -> int:
    if settings.max_memory is not None:
        return settings.max_memory
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free // 4
    return CPU_MEMORY_BUDGET


@dataclass(frozen=True)
class Chunk:
    """How much of one curve's work one batched re-run takes: ``masks`` masks
    of ``examples`` examples (``masks * examples`` copies of the suffix)."""

    masks: int
    examples: int


def _chunk(network: ProbedNetwork, curve: _Curve, examples: int, budget: int) -> Chunk:
    """As many masks per re-run as ``budget`` bytes of activations hold for
    all ``examples``; where not even one mask fits, one mask of as many
    examples as fit (at least one)."""
    per_example = network.rerun_bytes(curve.layers)
    if not per_example:
        return Chunk(min(curve.masks, 8), examples)
    copies = budget // per_example
    if copies < examples:
        return Chunk(1, max(int(copies), 1))
    return Chunk(int(np.clip(copies // examples, 1, max(curve.masks, 1))), examples)


def _groups(
    names: list[str], activations: dict[str, torch.Tensor], examples: int | None, settings: Settings, budget: int
) -> list[list[str]]:
    """The probed layers in groups, in order, whose correlation samples fit in
    ``budget`` bytes together (a layer that alone does not is a group of its
    own). Each group costs one unablated pass over the data, so a measurement
    whose samples fit makes exactly one; ``examples`` None (a loader of
    unknown length) counts every layer at its full ``max_samples``.
    ``activations`` are the first batch's, units first."""
    if not settings.repetition:
        return [names]
    groups: list[list[str]] = [[]]
    held = 0
    for name in names:
        value = activations[name]
        rows = row_count(value) // max(len(value), 1) * examples if examples is not None else None
        kept = settings.max_samples if rows is None else min(rows, settings.max_samples)
        copies = settings.samplings if rows is None or rows > settings.max_samples else 1
        size = kept * copies * (value.shape[1] if value.ndim > 1 else 1) * value.element_size()
        if groups[-1] and held + size > budget:
            groups.append([])
            held = 0
        groups[-1].append(name)
        held += size
    return groups


def run(
    model: nn.Module,
    data: Any,
    layers: Sequence[str] | None,
    settings: Settings,
    *,
    device: torch.device,
    batch_size: int | None,
    progress: bool | None,
    on_cost: Callable[[Cost], None] | None = None,
) -> MeasureResult:
    """Measure ``layers`` of ``model`` on ``data``: one trace, one unablated
    pass over the data per group of layers (one, unless their correlation
    samples would not fit in memory together), each batch's capture shared
    by every layer of the group, and each layer's masks re-running only what
    follows it. ``on_cost`` hears the estimated cost before the work."""
    numerics = settings.numerics
    model = numerics.model(model)
    with evaluating(model, device), torch.inference_mode(), numerics.running(device):
        batches = (numerics.inputs(x) for x in iter_inputs(data, batch_size, device))
        first = next(batches, None)
        if first is None:
            raise ValueError("data is empty: it holds no examples to measure on")
        prepared, seconds = prepare_timed(model, first, layers)
        network, names, first_capture = prepared.network, prepared.names, prepared.capture
        last = features_last_probes(network, first, first_capture.activations, settings.features_last)
        first_activations = units_first(first_capture.activations, last)
        shapes = {name: tuple(value.shape[1:]) for name, value in first_activations.items()}
        curves = _curves(network, names, shapes, settings, device, last)
        budget = _memory_budget(settings, device)
        examples_known = known_examples(data)
        groups = _groups(names, first_activations, examples_known, settings, _sample_budget(settings))
        if on_cost is not None:
            examples_estimated = example_count(data, batch_size, len(first))
            on_cost(prepared_cost(prepared, seconds, examples_estimated, _masks_per_layer(curves), len(groups)))
        total = batch_count(data, batch_size)
        bar = progress_bar(
            total=len(names) * total if total else None,
            progress=progress,
            desc="layers" if total == 1 else "layers x batches",
            unit="layer",
        )
        examples = 0
        predicted: dict[int, int] = {}
        similarities: dict[str, tuple] = {}
        spectra: dict[str, tuple] = {}
        try:
            for number, group in enumerate(groups):
                if len(groups) > 1:
                    network.select(group)  # the batches to come capture this group's layers only
                captures: Iterator[Capture] = (
                    itertools.chain([first_capture], (network.capture(x) for x in batches))
                    if number == 0
                    else (network.capture(numerics.inputs(x)) for x in iter_inputs(data, batch_size, device))
                )
                group_curves = [c for c in curves if c.name in group or (number == 0 and c.name == ALL_LAYERS)]
                samplers = (
                    {name: RowSampler(settings.max_samples, settings.samplings, settings.seed, name) for name in group}
                    if settings.repetition
                    else {}
                )
                for capture in captures:
                    activations = units_first({name: capture.activations[name] for name in group}, last)
                    _check_capture(capture.logits, activations, shapes, settings.unit)
                    reference = labels_of(capture.logits)
                    if number == 0:
                        examples += capture.size
                        for label, count in zip(*torch.unique(reference, return_counts=True)):
                            predicted[int(label)] = predicted.get(int(label), 0) + int(count)
                    for name, sampler in samplers.items():
                        sampler.add(activations[name].float())  # float32 samples whatever the format
                    for curve in group_curves:
                        bar.set_postfix_str(curve.name, refresh=True)  # in a log: a line per layer
                        if any(network.affects_output(l) for l in curve.layers):
                            curve.evaluate(network, capture, reference, _chunk(network, curve, capture.size, budget))
                        else:
                            curve.skip(capture.size)
                        if curve.name != ALL_LAYERS:
                            bar.update(1)
                with torch.autocast(device.type, enabled=False):  # correlations in float32 always
                    found, spectrum = _similarities(samplers, settings, progress)
                similarities |= found
                spectra |= spectrum
        finally:
            bar.close()
    by_layer = {c.name: c.result() for c in curves if c.name != ALL_LAYERS}
    joint = next((c.result() for c in curves if c.name == ALL_LAYERS), None)
    results = {
        name: LayerResult(
            name,
            shapes[name],
            by_layer.get(name),
            similarities.get(name, ()),
            spectra.get(name, ()),
            features_last=name in last,
        )
        for name in names
    }
    described = settings.describe() | {"mode": network.mode, "device": str(device), "layers": names}
    return MeasureResult(
        layers=results,
        all_layers=joint,
        examples=examples,
        settings=described,
        predicted=dict(sorted(predicted.items())),
    )


def _masks_per_layer(curves: list[_Curve]) -> int:
    return max((c.masks for c in curves if c.name != ALL_LAYERS), default=0)


def _sample_budget(settings: Settings) -> int:
    return settings.max_memory if settings.max_memory is not None else SAMPLE_MEMORY_BUDGET


def _curves(
    network: ProbedNetwork,
    names: list[str],
    shapes: dict[str, tuple[int, ...]],
    settings: Settings,
    device: torch.device,
    features_last: frozenset[str],
) -> list[_Curve]:
    if not settings.removability:
        return []
    curves = [_Curve(name, [name], shapes, settings, device, features_last) for name in names]
    if settings.all_layers and len(names) > 1:
        curves.append(_Curve(ALL_LAYERS, names, shapes, settings, device, features_last))
    return curves


def _check_finite(logits: torch.Tensor, activations: dict[str, torch.Tensor]) -> None:
    check_finite(logits, "the model's outputs")
    for name, value in activations.items():
        check_finite(value, f"the activations of layer {name!r}")


def _check_capture(
    logits: torch.Tensor, activations: dict[str, torch.Tensor], shapes: dict[str, tuple[int, ...]], unit: str
) -> None:
    """Every batch's activations (units first) have the first batch's shape;
    with channel units only the channels must agree, so that batches of
    different lengths (token sequences grouped by length, with no padding)
    can be measured: a channel's mask and its samples do not depend on the
    number of positions."""
    _check_finite(logits, activations)
    for name, value in activations.items():
        shape, first = tuple(value.shape[1:]), shapes[name]
        if shape != first and not (unit == "channel" and len(shape) == len(first) and shape[:1] == first[:1]):
            raise ValueError(
                f"layer {name!r} changed shape between batches ({first} -> {shape}); inputs must all have the "
                "same shape (with unit='channel', the same channels)"
            )


def _similarities(
    samplers: dict[str, RowSampler], settings: Settings, progress: bool | None
) -> tuple[dict[str, tuple], dict[str, tuple]]:
    """Per layer, the pair statistics and the variance spectra (PCA) of each sampling's rows."""
    out, spectra = {}, {}
    items: Iterator = tqdm(
        samplers.items(),
        desc="correlating",
        unit="layer",
        disable=None if progress is None else not progress,
        leave=False,
    )
    for name, sampler in items:
        matrices = sampler.samples()
        if matrices[0].shape[0] < 2:
            raise ValueError(f"layer {name!r} has fewer than 2 samples; measure on more examples")
        copies = settings.samplings if sampler.shared else 1
        spectra[name] = tuple(
            [variance_spectrum(rows) for rows in matrices] * copies
        )  # before the rows are overwritten
        # The samplers' buffers are ours: standardise them in place, no copy.
        results = [pair_statistics(rows, settings.threshold, settings.dead, overwrite=True) for rows in matrices]
        out[name] = tuple(results * copies)
    return out, spectra
