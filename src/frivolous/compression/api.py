"""``fv.compress``: the physically smaller network that computes (nearly) the same function.

Group by group of units, from the input to the output, on the
already-compressed network's activations over calibration data:

1. the moments of what every consumer reads of the group are collected
   (:class:`Moments`, :func:`~frivolous.compression.reads.read_rows`: padding
   and every kernel tap included);
2. the greedy order of removal is computed from them and the consumers'
   weights (:func:`~frivolous.compression.folding.removal_order`);
3. the number of units to keep is chosen (a given count, a share of the
   parameters, or the smallest count whose calibration agreement with the
   original stays above the layer's share of the allowed loss);
4. the removed units are folded into the kept ones by ridge regression
   (:func:`~frivolous.compression.folding.fold`) and the layers are rebuilt
   smaller (:mod:`~frivolous.compression.surgery`);
5. the BatchNorm layers that read what the change altered (the first norm on
   every path from a consumer) have their running statistics moved by as
   much as the change moved their inputs' mean and variance on the
   calibration data (:meth:`_Session.correct_norms`). Nothing else is
   recalibrated: the group's own norms see their kept channels unchanged,
   and statistics that did not come from the calibration data (the
   training data's, usually) are kept wherever the fold is exact.

Only the part of the network a group can change is run, from values cached
at a cut just before it (:mod:`~frivolous.compression.regions`). No gradient
step is taken. The agreement reported is measured on held-out examples that
neither the fit nor the choice of sizes saw.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Mapping
from typing import Any

import pandas as pd
import torch
import torch.fx as fx
from torch import nn
from tqdm.auto import tqdm

from frivolous.common.parameters import parameter_count
from frivolous.common.seeding import generator
from frivolous.common.validation import check_choice, check_positive
from frivolous.compression.folding import Moments, View, fold, removal_order
from frivolous.compression.model_costs import multiply_adds
from frivolous.compression.reads import read_rows
from frivolous.compression.regions import Cache, descendants, node_sizes
from frivolous.compression.result import Compressed, ratio_unmet
from frivolous.compression.surgery import folded_consumer, replace, sliced_outputs, weight_columns
from frivolous.compression.token_compress import compress_blocks
from frivolous.compression.transformer_mlp import find_blocks
from frivolous.compression.unit_graph import NORMS, CompressionError, CompressionWarning, Group, UnitGraph
from frivolous.measuring.inputs import evaluating, iter_inputs, resolve_device
from frivolous.measuring.network import labels_of

METHODS = ("fold", "magnitude", "random")
"""How units are chosen and removed: ``fold`` (frivolous: least-squares residual,
folded into the kept units); baselines without compensation, for comparison:
``magnitude`` (smallest L1 norm of the producers' rows first, as magnitude
pruning) and ``random`` (a seeded random order)."""

ROWS_PER_BATCH = 65_536
"""Rows (example, position) per batch and consumer fed to the moments; more are subsampled (seeded)."""


def compress(
    model: nn.Module,
    data: Any,
    *,
    agreement: float | None = None,
    units: int | Mapping[str, int] | None = None,
    ratio: float | None = None,
    held_out: Any = None,
    held_out_fraction: float = 0.25,
    ridge: float = 1e-8,
    method: str = "fold",
    batch_size: int | None = None,
    device: str | torch.device = "auto",
    seed: int = 0,
    progress: bool | None = None,
    intercept: str = "bias",
    spread: str = "uniform",
) -> Compressed:
    """Compress ``model`` into a smaller ``nn.Module`` without gradient steps.

    A transformer (a model with MLP blocks that
    :mod:`~frivolous.compression.transformer_mlp` recognises: GPT-2, BERT,
    Llama-style gated MLPs, Hugging Face and timm ViTs) has its MLP blocks'
    hidden units compressed, with every counted (example, token position) a
    sample (:mod:`~frivolous.compression.token_compress`); its other layers
    are kept as they are.

    Args:
        model: any ``torch.fx``-traceable network of Linear/Conv layers (with
            BatchNorm, pooling, activations, flatten, residual additions and
            concatenations along channels), or a transformer; it is not
            modified, and the result keeps its dtype and device.
        data: calibration examples: a tensor of inputs, an ``(inputs, labels)``
            pair or a DataLoader (its inputs are gathered in memory). Floating
            point inputs are cast to the model's dtype. A transformer's: token
            ids ``(examples, positions)`` or images, a mapping with
            ``input_ids`` and an ``attention_mask`` (its zeros are padding:
            never fitted on nor judged), or a list of either (lengths may differ).
        agreement: the top-1 agreement with the original to keep on the
            calibration data (default 0.99): the smallest sizes that keep it are
            searched, layer by layer (each layer may lose its share of
            ``1 - agreement``). Give it, ``units`` or ``ratio``: one target.
        units: units to keep in every compressible layer (an int; a layer
            narrower than that is kept whole), or per layer (``{layer:
            units}``, layer names as in ``Compressed.layers``; the others are
            kept whole).
        ratio: compress to about ``1/ratio`` of the parameters (2.0: half),
            keeping the same share of units in every compressible layer; a
            transformer's: of its MLP blocks' parameters (see ``spread``).
        held_out: examples to measure the agreement on; by default a seeded
            ``held_out_fraction`` of ``data`` is set aside for it (and never
            used to fit or to choose).
        ridge: the regression's ridge, relative to the mean variance of the
            units. The default barely regularises, so that exact repeats fold
            exactly; raise it (1e-3 to 1e-2) when the calibration data has few
            examples for the widest layer's units.
        method: ``"fold"``; or, as baselines that remove units without
            compensating for them, ``"magnitude"`` (L1 norm of the producers'
            rows) or ``"random"``. BatchNorm is corrected in every case.
        batch_size: examples per forward pass (default 256; a transformer's 16).
        device: ``"auto"`` (CUDA if present), ``"cpu"``, ``"cuda"``, ...
        seed: seeds the held-out split and the subsampling of positions.
        progress: show a progress bar (default: when attached to a terminal).
        intercept: a transformer's bias-free down-projection (Llama's):
            ``"bias"`` gives it a bias that takes the fit's intercept ``W_R c``;
            ``"none"`` keeps it bias-free and fits without an intercept (on
            uncentred second moments).
        spread: how a transformer's ``ratio`` spreads over its MLP blocks:
            ``"uniform"`` (the same share of units in each) or ``"error"`` (the
            cheapest removals over all blocks first: the fold's greedy cost
            relative to each block's output variance, per parameter saved).

    Raises ValueError for contradictory or impossible settings; warns
    (:class:`~frivolous.compression.CompressionWarning`) when a ``units`` or
    ``ratio`` target cannot be met.
    """
    _check(agreement, units, ratio, held_out_fraction, ridge)
    check_choice("method", method, METHODS)
    target = resolve_device(device)
    if find_blocks(model):
        return compress_blocks(
            model,
            data,
            agreement=agreement,
            units=units,
            ratio=ratio,
            held_out=held_out,
            held_out_fraction=held_out_fraction,
            ridge=ridge,
            method=method,
            intercept=intercept,
            spread=spread,
            batch_size=batch_size or 16,
            device=target,
            seed=seed,
            progress=progress,
        )
    if (intercept, spread) != ("bias", "uniform"):
        raise ValueError(
            f"intercept={intercept!r} and spread={spread!r} are for a transformer's MLP blocks; "
            "this model has none compress recognises"
        )
    calibration, held, labels = _split(data, held_out, held_out_fraction, seed)
    calibration, held = _as_model_dtype(model, calibration), _as_model_dtype(model, held)
    batch = batch_size or 256
    check_positive("batch_size", batch)
    with evaluating(model, target):
        reference = _labels(model, calibration, batch, target)
        held_reference = _labels(model, held, batch, target)
        work = copy.deepcopy(model).eval()
        graph = UnitGraph(work, calibration[:2].to(target))
        compressible = [g for g in graph.groups if g.compressible]
        if not compressible:
            notes = [f"{g.name}: {g.fixed}" for g in graph.groups]
            if graph.sequence_layers:
                notes.append(
                    f"{', '.join(graph.sequence_layers)}: applied at every position of a sequence (a "
                    "transformer's layers), whose units compress does not follow"
                )
            reasons = "; ".join(notes) or "it has no Linear or Conv layer"
            raise CompressionError(f"no layer of the model can be compressed ({reasons})")
        counts = _fixed_counts(work, graph, compressible, units, ratio)
        todo = [g for g in compressible if counts is None or counts.get(g.name, g.units) < g.units]
        session = _Session(work, graph, calibration, reference, batch, target, ridge, seed, method)
        rows = []
        bar = tqdm(
            graph.groups,
            desc="compressing",
            unit="layer",
            leave=False,
            disable=None if progress is None else not progress,
        )
        for group in bar:
            if group not in todo:
                note = group.fixed or (
                    "kept whole: not asked to compress"
                    if counts is None or group.name not in counts
                    else "kept whole: asked for as many units as it has, or more"
                )
                rows.append(_row(group, group.units, note))
                continue
            session.enter(todo[todo.index(group) :])
            if counts is not None:
                keep = max(1, min(counts[group.name], group.units))
                order = session.order(group, removals=group.units - keep)
            else:
                order = session.order(group)
                goal = 0.99 if agreement is None else agreement
                keep = session.search(group, order, 1.0 - (1.0 - goal) * (todo.index(group) + 1) / len(todo))
            session.apply(group, order, keep)
            rows.append(_row(group, keep, ""))
        calibration_agreement = session.agreement()
        held_agreement = _agreement(work, held, held_reference, batch, target)
        before = (parameter_count(model), multiply_adds(model, calibration[:1].to(target)))
        after = (parameter_count(work), multiply_adds(work, calibration[:1].to(target)))
        accuracy: tuple[float | None, float | None] = (None, None)
        if labels is not None:
            accuracy = (_accuracy(model, held, labels, batch, target), _accuracy(work, held, labels, batch, target))
    work.to(next(iter([*model.parameters(), *model.buffers()]), torch.empty(0)).device)
    _warn_if_unmet(units, ratio, todo, before[0], after[0])
    settings = {
        "agreement": agreement,
        "units": dict(units) if isinstance(units, Mapping) else units,
        "ratio": ratio,
        "ridge": ridge,
        "method": method,
        "seed": seed,
        "held_out_fraction": None if held_out is not None else held_out_fraction,
    }
    return Compressed(
        model=work,
        agreement=held_agreement,
        params_before=before[0],
        params_after=after[0],
        macs_before=before[1],
        macs_after=after[1],
        layers=pd.DataFrame(rows),
        calibration_agreement=calibration_agreement,
        held_out_examples=len(held),
        accuracy_before=accuracy[0],
        accuracy_after=accuracy[1],
        settings=settings,
        one_class_share=float(torch.bincount(held_reference).max()) / len(held_reference),
    )


class _NormStatistics:
    """Per-channel mean and variance of a BatchNorm's input over the calibration data (float64)."""

    def __init__(self) -> None:
        self.count = 0
        self.total: torch.Tensor | float = 0.0
        self.squares: torch.Tensor | float = 0.0

    def add(self, inputs: torch.Tensor) -> None:
        channels = inputs.detach().transpose(0, 1).reshape(inputs.shape[1], -1).double()
        self.count += channels.shape[1]
        self.total = self.total + channels.sum(1)
        self.squares = self.squares + channels.square().sum(1)

    def moments(self) -> tuple[torch.Tensor, torch.Tensor]:
        # add() ran at least once: every norm of the statistics is reached by the calibration data
        assert isinstance(self.total, torch.Tensor) and isinstance(self.squares, torch.Tensor)
        mean = self.total / max(self.count, 1)
        return mean, (self.squares / max(self.count, 1) - mean.square()).clamp_min(0.0)


class _Session:
    """The working copy being compressed, and the calibration data it is fitted and judged on."""

    def __init__(
        self,
        work: nn.Module,
        graph: UnitGraph,
        calibration: torch.Tensor,
        reference: torch.Tensor,
        batch: int,
        device: torch.device,
        ridge: float,
        seed: int,
        method: str,
    ) -> None:
        self.work, self.graph, self.calibration, self.reference = work, graph, calibration, reference
        self.batch, self.device, self.ridge, self.seed, self.method = batch, device, ridge, seed, method
        self.moments: dict[str, Moments] = {}
        self.before: dict[str, _NormStatistics] = {}
        self.cache = Cache(
            work,
            graph.module,
            lambda: iter_inputs(calibration, batch, device),
            node_sizes(graph.module, 2),
            len(calibration),
        )
        self.calls: dict[str, list[fx.Node]] = {}
        for node in graph.module.graph.nodes:
            if node.op == "call_module":
                self.calls.setdefault(node.target, []).append(node)

    def enter(self, remaining: list[Group]) -> None:
        """Cut the network just before what ``remaining`` (this group first) can change."""
        changed = {name for g in remaining for name in (*g.producers, *g.norms, *(c.module for c in g.consumers))}
        self.cache.advance(descendants(self.graph.module.graph, changed))

    def agreement(self) -> float:
        labels = torch.cat([labels_of(output) for output in self.cache.run()])
        return float((labels == self.reference.to(labels.device)).double().mean())

    def order(self, group: Group, removals: int | None = None) -> list[int]:
        """One pass over the group's part of the network: the statistics of the
        norms that read the consumers (:meth:`correct_norms`) and, for the fold,
        the consumers' read moments; the greedy removal order (the first
        ``removals`` of it, when the number to remove is known)."""
        self.before = {name: _NormStatistics() for name in self._first_norms(group)}
        self.moments = self._collect(group, consumers=self.method == "fold")
        if self.method == "random":
            shuffle = generator(self.seed, "compress", "random", group.name)
            return torch.randperm(group.units, generator=shuffle).tolist()
        if self.method == "magnitude":
            norms_of_rows = torch.zeros(group.units, dtype=torch.float64)
            for name, channels in group.producers.items():
                weight = self.work.get_submodule(name).weight
                assert isinstance(weight, torch.Tensor)  # producers are Linear or Conv layers
                rows = weight.detach().abs().flatten(1).sum(1).double().cpu()
                norms_of_rows.index_add_(0, torch.tensor(channels), rows)
            return torch.argsort(norms_of_rows, stable=True).tolist()
        for name, moments in self.moments.items():
            if moments.rows < 2 * moments.mean.numel():
                warnings.warn(
                    f"{moments.rows} calibration samples for the {moments.mean.numel()} units read by "
                    f"{name!r}: the fit will not generalise; pass more examples or raise ridge",
                    RuntimeWarning,
                    stacklevel=4,
                )
        views = []
        for consumer in group.consumers:
            columns = weight_columns(self.work.get_submodule(consumer.module), consumer.positions).double()
            flat = columns.permute(0, 2, 1).reshape(-1, columns.shape[1])
            views.append(
                View(
                    torch.tensor(consumer.channels),
                    self.moments[consumer.module].covariance,
                    (flat.T @ flat).to(self.device),
                )
            )
        order, _ = removal_order(views, group.units, self.ridge, removals)
        return order

    def _first_norms(self, group: Group) -> list[str]:
        """The BatchNorm layers (tracking statistics) first met on every path from the group's consumers."""
        starts = [node for c in group.consumers for node in self.calls.get(c.module, [])]
        found: dict[str, None] = {}
        seen: set[fx.Node] = set()
        stack = [user for node in starts for user in node.users]
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            module = self.graph.modules.get(node.target) if node.op == "call_module" else None
            if isinstance(module, NORMS) and module.track_running_stats:
                assert isinstance(node.target, str)  # a call_module target is the module's qualified name
                found[node.target] = None
                continue
            stack.extend(node.users)
        return list(found)

    def _collect(self, group: Group, *, consumers: bool) -> dict[str, Moments]:
        """The consumers' read moments (if ``consumers``) and the input statistics
        of the norms of ``self.before``, in one pass that stops at the last of them."""
        moments: dict[str, Moments] = {}
        rng = generator(self.seed, "compress", group.name)

        def reads(name: str, positions: int):
            def record(module: nn.Module, args: tuple) -> None:
                rows, weights = read_rows(module, args[0], positions)
                if rows.shape[0] > ROWS_PER_BATCH:
                    chosen = torch.randperm(rows.shape[0], generator=rng)[:ROWS_PER_BATCH].to(rows.device)
                    rows, weights = rows[chosen], (weights[chosen] if weights is not None else None)
                moments.setdefault(name, Moments(rows.shape[1], self.device)).add(rows, weights)

            return record

        hooks = {c.module: reads(c.module, c.positions) for c in group.consumers} if consumers else {}
        self._run_with(hooks, self.before)
        return moments

    def _run_with(self, hooks: dict[str, Any], statistics: dict[str, _NormStatistics]) -> None:
        """Run the group's part of the network up to the modules of ``hooks`` and
        of ``statistics`` (norms), calling each hook on its module's input and
        adding each norm's input to its statistics."""

        def of_norm(name: str):
            def record(_module: nn.Module, args: tuple) -> None:
                statistics[name].add(args[0])

            return record

        every = {**hooks, **{name: of_norm(name) for name in statistics}}
        if not every:
            return
        handles = [self.work.get_submodule(name).register_forward_pre_hook(hook) for name, hook in every.items()]
        try:
            with torch.no_grad():
                for _ in self.cache.run([node for name in every for node in self.calls[name]]):
                    pass
        finally:
            for handle in handles:
                handle.remove()

    def search(self, group: Group, order: list[int], target: float) -> int:
        """The fewest units whose calibration agreement stays at or above ``target``
        (bisection: agreement grows with the units kept, near enough)."""
        low, high = 1, group.units
        while low < high:
            middle = (low + high) // 2
            replaced = self.apply(group, order, middle, correct=False)
            good = self.agreement() >= target
            for name, module in replaced.items():
                replace(self.work, name, module)
            low, high = (low, middle) if good else (middle + 1, high)
        return high

    def apply(self, group: Group, order: list[int], keep: int, *, correct: bool = True) -> dict[str, nn.Module]:
        """Remove all but ``keep`` units of ``group`` (the last ones in ``order``),
        folding the removed ones into their consumers; return the modules replaced.
        The search tries sizes without correcting BatchNorm, so that putting
        the replaced modules back restores the network exactly."""
        kept = torch.zeros(group.units, dtype=torch.bool)
        kept[order[group.units - keep :]] = True
        replaced: dict[str, nn.Module] = {}

        def swap(name: str, module: nn.Module) -> None:
            old = replace(self.work, name, module)
            replaced.setdefault(name, old)

        for consumer in group.consumers:
            mask = kept[list(consumer.channels)].to(self.device)
            if self.method == "fold":
                moments = self.moments[consumer.module]
                coefficients, intercept = fold(moments.covariance, moments.mean, mask, self.ridge)
            else:  # a baseline: the removed units' contributions are simply dropped
                coefficients = torch.zeros(int(mask.sum()), int((~mask).sum()), dtype=torch.float64, device=self.device)
                intercept = torch.zeros(int((~mask).sum()), dtype=torch.float64, device=self.device)
            module = self.work.get_submodule(consumer.module)
            swap(consumer.module, folded_consumer(module, mask, coefficients, intercept, consumer.positions))
        sliced: dict[str, torch.Tensor] = {}
        for sites in (group.producers, group.norms):
            for name, channels in sites.items():
                rows = torch.nonzero(kept[list(channels)]).flatten().to(self.device)
                sliced[name] = rows
                swap(name, sliced_outputs(self.work.get_submodule(name), rows))
        if correct and keep < group.units:
            self.correct_norms(sliced)
        return replaced

    def correct_norms(self, sliced: dict[str, torch.Tensor]) -> None:
        """Move the running statistics of the norms that read the consumers by
        what the change did to their inputs on the calibration data: the mean by
        the shift of the input's mean, the variance by the ratio of the input's
        variances. An exact fold moves nothing, whatever data the statistics
        came from; an approximate one keeps each channel's normalised output at
        the mean and spread it had. ``sliced``: the rows kept of norms the change
        narrowed."""
        before, after = self.before, {name: _NormStatistics() for name in self.before}
        self._run_with({}, after)
        for name, statistics in before.items():
            norm = self.work.get_submodule(name)
            # _first_norms keeps the BatchNorms that track running statistics
            assert isinstance(norm, NORMS) and norm.running_mean is not None and norm.running_var is not None
            old_mean, old_var = statistics.moments()
            if name in sliced:
                rows = sliced[name].to(old_mean.device)
                old_mean, old_var = old_mean[rows], old_var[rows]
            new_mean, new_var = after[name].moments()
            running_mean, running_var = norm.running_mean.double(), norm.running_var.double()
            scaled = old_var > 1e-12 * (1.0 + running_var)
            corrected_var = torch.where(
                scaled, running_var * new_var / old_var.clamp_min(1e-300), running_var + new_var - old_var
            ).clamp_min(0.0)
            with torch.no_grad():
                norm.running_mean.copy_(running_mean + new_mean - old_mean)
                norm.running_var.copy_(corrected_var)


def _row(group: Group, kept: int, note: str) -> dict[str, Any]:
    return {
        "layer": group.name,
        "units_before": group.units,
        "units_after": kept,
        "producers": ", ".join(group.producers),
        "consumers": ", ".join(c.module for c in group.consumers),
        "note": note,
    }


def _fixed_counts(
    work: nn.Module, graph: UnitGraph, compressible: list[Group], units: Any, ratio: float | None
) -> dict[str, int] | None:
    if isinstance(units, Mapping):
        names = {g.name for g in compressible}
        for name in units:
            if name not in names:
                fixed = next((g.fixed for g in graph.groups if g.name == name), None)
                why = f"it is kept whole: {fixed}" if fixed else f"compressible layers: {sorted(names)}"
                raise ValueError(f"cannot compress layer {name!r}; {why}")
        return {name: int(count) for name, count in units.items()}
    if units is not None:
        return {g.name: int(units) for g in compressible}
    if ratio is not None:
        share = _share_for_ratio(work, graph, compressible, ratio)
        return {g.name: max(1, round(share * g.units)) for g in compressible}
    return None


def _share_for_ratio(work: nn.Module, graph: UnitGraph, compressible: list[Group], ratio: float) -> float:
    """The share of units to keep in every compressible layer for about ``1/ratio`` of the parameters."""
    total = parameter_count(work)
    goal = total / ratio
    low, high = 0.0, 1.0
    for _ in range(40):
        middle = (low + high) / 2
        if _estimated_parameters(work, graph, compressible, middle) > goal:
            high = middle
        else:
            low = middle
    return high


def _estimated_parameters(work: nn.Module, graph: UnitGraph, compressible: list[Group], share: float) -> float:
    outputs: dict[str, float] = {}
    inputs: dict[str, float] = {}
    for group in compressible:
        for name in [*group.producers, *group.norms]:
            outputs[name] = share
        for consumer in group.consumers:
            inputs[consumer.module] = share
    total = float(parameter_count(work))
    for name in set(outputs) | set(inputs):
        module = work.get_submodule(name)
        size = sum(p.numel() for p in module.parameters(recurse=False))
        bias_tensor = getattr(module, "bias", None)
        bias = bias_tensor.numel() if bias_tensor is not None and not isinstance(module, NORMS) else 0
        if isinstance(module, NORMS):
            total -= size * (1 - outputs.get(name, 1.0))
        else:
            weight = size - bias
            total -= weight * (1 - outputs.get(name, 1.0) * inputs.get(name, 1.0)) + bias * (1 - outputs.get(name, 1.0))
    return total


def _check(agreement: float | None, units: Any, ratio: float | None, held_out_fraction: float, ridge: float) -> None:
    given = [
        name for name, value in (("agreement", agreement), ("units", units), ("ratio", ratio)) if value is not None
    ]
    if len(given) > 1:
        raise ValueError(
            f"give one of agreement=, units= and ratio=, not {' and '.join(given)}: agreement is what "
            "the search for sizes keeps; units and ratio fix the sizes"
        )
    if agreement is not None and not 0.0 < agreement <= 1.0:
        raise ValueError(f"agreement must be in (0, 1], got {agreement!r}")
    if ratio is not None and not (ratio >= 1.0 and math.isfinite(ratio)):
        raise ValueError(f"ratio must be a finite number >= 1 (2.0 keeps about half the parameters), got {ratio!r}")
    if isinstance(units, Mapping):
        for name, count in units.items():
            check_positive(f"units[{name!r}]", count)
    elif units is not None:
        check_positive("units", units)
    if not 0.0 < held_out_fraction < 1.0:
        raise ValueError(f"held_out_fraction must be in (0, 1), got {held_out_fraction!r}")
    if not ridge >= 0.0 or math.isinf(ridge):
        raise ValueError(f"ridge must be a finite number >= 0, got {ridge!r}")


def _warn_if_unmet(units: Any, ratio: float | None, todo: list[Group], before: int, after: int) -> None:
    """Say so when a fixed target left the network as it was, or could not be reached."""
    if units is not None and not todo:
        warnings.warn(
            f"units={units!r} keeps every layer whole (none is wider): nothing was compressed",
            CompressionWarning,
            stacklevel=3,
        )
    if ratio_unmet(ratio, before, after):
        warnings.warn(
            f"ratio={ratio} cannot be reached: with every compressible layer at one unit the network "
            f"keeps {after:,} of its {before:,} parameters ({before / max(after, 1):.2f}x fewer)",
            CompressionWarning,
            stacklevel=3,
        )


def _as_model_dtype(model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """Floating point ``inputs`` in the dtype of the model's floating point parameters."""
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), None)
    return inputs.to(dtype) if dtype is not None and inputs.is_floating_point() and inputs.dtype != dtype else inputs


def gather(data: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
    """All inputs of ``data`` in one tensor, and its labels if it has them."""
    if (
        isinstance(data, (tuple, list))
        and len(data) == 2
        and all(isinstance(d, torch.Tensor) for d in data)
        and (len(data[0]) == len(data[1]))
    ):
        return data[0], data[1]
    if isinstance(data, torch.Tensor):
        return data, None
    inputs, labels = [], []
    for batch in data:
        if isinstance(batch, (tuple, list)) and len(batch) >= 2:
            inputs.append(torch.as_tensor(batch[0]))
            labels.append(torch.as_tensor(batch[1]))
        else:
            inputs.append(next(iter_inputs(batch, None, torch.device("cpu"))))
    if not inputs:
        raise ValueError("data is empty: it holds no examples to compress on")
    return torch.cat(inputs), (torch.cat(labels) if len(labels) == len(inputs) else None)


def _split(
    data: Any, held_out: Any, fraction: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    inputs, labels = gather(data)
    if held_out is not None:
        held, held_labels = gather(held_out)
        calibration = inputs
    else:
        order = torch.randperm(len(inputs), generator=generator(seed, "compress", "held-out"))
        count = max(1, round(fraction * len(inputs)))
        held, calibration = inputs[order[:count]], inputs[order[count:]]
        held_labels = labels[order[:count]] if labels is not None else None
    if len(calibration) < 2 or len(held) < 1:
        raise ValueError(f"need at least 2 calibration and 1 held-out example, got {len(calibration)} and {len(held)}")
    return calibration, held, held_labels


def _labels(model: nn.Module, inputs: torch.Tensor, batch: int, device: torch.device) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([labels_of(model(x)) for x in iter_inputs(inputs, batch, device)])


def _agreement(
    model: nn.Module, inputs: torch.Tensor, reference: torch.Tensor, batch: int, device: torch.device
) -> float:
    return float((_labels(model, inputs, batch, device) == reference).double().mean())


def _accuracy(model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor, batch: int, device: torch.device) -> float:
    return float((_labels(model, inputs, batch, device).cpu() == labels.cpu()).double().mean())
