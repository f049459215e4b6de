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
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from frivolous.common.validation import check_finite
from frivolous.measuring.axes import features_last_probes, onto_activation, units_first
from frivolous.measuring.graph import GraphNetwork, TraceMismatch
from frivolous.measuring.hooks import HookNetwork
from frivolous.measuring.inputs import batch_count, evaluating, iter_inputs
from frivolous.measuring.masks import Unit, count_units, keep_mask, removal_counts, unit_permutation, unit_shape
from frivolous.measuring.measurement import ALL_LAYERS, AblationCurve, LayerResult, MeasureResult
from frivolous.measuring.network import Capture, ProbedNetwork, labels_of
from frivolous.measuring.pca import variance_spectrum
from frivolous.measuring.probes import describe_valid, model_layers, resolve_name
from frivolous.measuring.repetition import DeadMode, pair_statistics
from frivolous.measuring.samples import RowSampler

CPU_MEMORY_BUDGET = 1 << 30
CHECK_EXAMPLES = 16
"""Examples on which the fast ablation paths are checked against the model."""


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

    def describe(self) -> dict[str, Any]:
        return {
            "levels": self.levels.tolist(),
            "samplings": self.samplings,
            "unit": self.unit,
            "threshold": self.threshold,
            "max_samples": self.max_samples,
            "seed": self.seed,
            "dead": self.dead,
        }


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

    def evaluate(self, network: ProbedNetwork, capture: Capture, reference: torch.Tensor, chunk: int) -> None:
        n = capture.size
        self.examples += n
        for start in range(0, self.masks, chunk):
            stop = min(start + chunk, self.masks)
            keeps = {l: k[start:stop].view(stop - start, *self.unit_shapes[l]) for l, k in self.keeps.items()}
            keeps = {l: onto_activation(k) if l in self.features_last else k for l, k in keeps.items()}
            labels = labels_of(network.ablate(capture, keeps)).view(stop - start, n)
            self.unchanged[start:stop] += (labels == reference).sum(1)

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


def _build_network(model: nn.Module, first: torch.Tensor) -> tuple[ProbedNetwork, str | None]:
    try:
        return GraphNetwork(model), None
    except Exception as error:
        return HookNetwork(model, first[:2]), f"{type(error).__name__}: {error}"


def _resolve_layers(
    network: ProbedNetwork, model: nn.Module, layers: Sequence[str] | None, left_out: Sequence[str] = ()
) -> list[str]:
    if layers is None:
        declared = model_layers(model)
        names = declared if declared is not None else [n for n in network.default_layers if n not in left_out]
        if not names:
            raise ValueError(
                "nothing to probe: the model applies no activation function (ReLU, GELU, tanh, ...) "
                "to a hidden layer computed from its inputs; name the layers to probe with layers=[...]. "
                + describe_valid(network.names)
            )
    else:
        names = [layers] if isinstance(layers, str) else list(layers)
        if not names:
            raise ValueError("layers is empty; pass None for the automatic choice, or layer names")
    return list(dict.fromkeys(resolve_name(name, network.names, network.multi_call) for name in names))


def prepare(
    model: nn.Module, first: torch.Tensor, layers: Sequence[str] | None
) -> tuple[ProbedNetwork, list[str], Capture]:
    """The model seen as a :class:`ProbedNetwork` (traced, else hooked; the
    fast paths checked on ``first``), the resolved probe names, and the
    capture of the batch ``first``. Warns of every fallback it takes."""
    network, trace_error = _build_network(model, first)
    if trace_error:
        warnings.warn(
            f"torch.fx cannot trace the model ({trace_error}); measuring with forward hooks: "
            "module outputs only, and ablation re-runs the whole network",
            RuntimeWarning,
            stacklevel=4,
        )
    try:
        names, capture, check = _select(network, model, first, layers)
        notes = network.check(check)
    except TraceMismatch as error:
        warnings.warn(f"{error}; measuring with forward hooks instead", RuntimeWarning, stacklevel=4)
        network = HookNetwork(model, first[:2])
        names, capture, _ = _select(network, model, first, layers)
        notes = []
    for note in notes:
        warnings.warn(note, RuntimeWarning, stacklevel=4)
    return network, names, capture


def _select(
    network: ProbedNetwork, model: nn.Module, first: torch.Tensor, layers: Sequence[str] | None
) -> tuple[list[str], Capture, Capture]:
    """The resolved probes, selected in ``network``, with their captures of
    ``first`` and of its first :data:`CHECK_EXAMPLES` examples.

    Every probe must hold one row per example: masks and samples are drawn
    along its first axis. A value computed from the parameters alone (the
    sigmoid of Swin-V2's position-bias MLP, ``(heads, tokens, tokens)``) does
    not: the automatic choice leaves it out, and naming it (in ``layers`` or
    the model's ``frivolous_layers``) is an error that says so, rather than a
    shape error, or worse a silently wrong curve, deep inside an ablation."""
    names = _resolve_layers(network, model, layers)
    network.select(names)
    captures = network.capture(first), network.capture(first[:CHECK_EXAMPLES])
    _check_finite(captures[0].logits, captures[0].activations)
    unbatched = [name for name in names if not _holds_examples(network, name, captures)]
    if not unbatched:
        return names, *captures
    if layers is not None or model_layers(model) is not None:
        name, value = unbatched[0], captures[0].activations[unbatched[0]]
        raise ValueError(
            f"layer {name!r} cannot be probed: its value, of shape {tuple(value.shape)} on {len(first)} "
            "examples, does not hold one row per example (it does not depend on the inputs: computed from the "
            "parameters alone, as a position bias), so it has no per-example units to remove or correlate; "
            "name layers computed from the inputs"
        )
    names = _resolve_layers(network, model, layers, left_out=unbatched)
    network.select(names)
    return names, network.capture(first), network.capture(first[:CHECK_EXAMPLES])


def _holds_examples(network: ProbedNetwork, name: str, captures: Sequence[Capture]) -> bool:
    """Whether probe ``name`` can depend on the inputs and its first axis is the
    batch in every capture: the inputs' first axis (not the logits', which a
    causal LM flattens to one row per position). The captures differ in length
    when the first batch has more than :data:`CHECK_EXAMPLES` examples, which
    catches a value whose first axis merely has the batch's length; the traced
    graph knows what depends on the inputs whatever the lengths."""
    return network.depends_on_inputs(name) and all(
        c.activations[name].ndim > 0 and c.activations[name].shape[0] == len(c.inputs) for c in captures
    )


def _memory_budget(settings: Settings, device: torch.device) -> int:
    if settings.max_memory is not None:
        return settings.max_memory
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free // 4
    return CPU_MEMORY_BUDGET


def _chunk(network: ProbedNetwork, curve: _Curve, examples: int, budget: int) -> int:
    per_example = network.rerun_bytes(curve.layers)
    if not per_example:
        return min(curve.masks, 8)
    return int(np.clip(budget // (per_example * examples), 1, max(curve.masks, 1)))


def run(
    model: nn.Module,
    data: Any,
    layers: Sequence[str] | None,
    settings: Settings,
    *,
    device: torch.device,
    batch_size: int | None,
    progress: bool | None,
) -> MeasureResult:
    with evaluating(model, device), torch.inference_mode():
        batches = iter_inputs(data, batch_size, device)
        first = next(batches, None)
        if first is None:
            raise ValueError("data is empty: it holds no examples to measure on")
        network, names, first_capture = prepare(model, first, layers)
        last = features_last_probes(network, first, first_capture.activations, settings.features_last)
        shapes = {name: tuple(value.shape[1:]) for name, value in units_first(first_capture.activations, last).items()}
        curves = _curves(network, names, shapes, settings, device, last)
        samplers = (
            {name: RowSampler(settings.max_samples, settings.samplings, settings.seed, name) for name in names}
            if settings.repetition
            else {}
        )
        budget = _memory_budget(settings, device)
        captures = itertools.chain([first_capture], (network.capture(x) for x in batches))
        examples = 0
        predicted: dict[int, int] = {}
        bar = tqdm(
            captures,
            total=batch_count(data, batch_size),
            desc="measuring",
            unit="batch",
            disable=None if progress is None else not progress,
            leave=False,
        )
        for capture in bar:
            activations = units_first(capture.activations, last)
            _check_capture(capture.logits, activations, shapes, settings.unit)
            examples += capture.size
            for name, sampler in samplers.items():
                sampler.add(activations[name])
            reference = labels_of(capture.logits)
            for label, count in zip(*torch.unique(reference, return_counts=True)):
                predicted[int(label)] = predicted.get(int(label), 0) + int(count)
            for curve in curves:
                if any(network.affects_output(l) for l in curve.layers):
                    curve.evaluate(network, capture, reference, _chunk(network, curve, capture.size, budget))
                else:
                    curve.skip(capture.size)
        similarities, spectra = _similarities(samplers, settings, progress)
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
