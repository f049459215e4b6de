"""``fv.compress`` for transformers: fold the units of every MLP block into the kept ones.

Block by block (:mod:`~frivolous.compression.transformer_mlp`), from the
input to the output, on the already-compressed network's activations:

1. a forward pre-hook on the block's down-projection collects the moments of
   what it reads, one sample per counted (example, token position): padding
   excluded; the pass stops there;
2. the greedy order of removal is computed from them and the
   down-projection's weights (:func:`~frivolous.compression.folding.removal_order`);
3. the number of units to keep is chosen: a given count; a share of the MLP
   parameters (``ratio``: the same share of units in every block, or spread
   over the blocks by the cost of each removal, ``spread="error"``); or the
   fewest units whose agreement with the original on the calibration data
   stays above the block's share of the allowed loss (a language model's:
   next-token agreement at every counted position);
4. the removed units are folded into the kept ones
   (:func:`~frivolous.compression.folding.fold`): the down-projection's kept
   columns become ``W_K + W_R Bᵀ`` and its bias gains ``W_R c``.

A down-projection without a bias (Llama's) cannot take ``c`` as it is:
``intercept="bias"`` (the default) gives it a bias holding ``W_R c`` (the
model keeps its class; its forward just calls the layer), ``intercept="none"``
keeps it without one and fits ``a_R ≈ a_K B`` without an intercept, on the
uncentred second moments, so ``c`` is zero by construction. A
down-projection that has a bias always takes ``W_R c``.

No gradient step is taken. Agreement (and, for a causal language model,
perplexity before and after) is measured on held-out examples that neither
the fit nor the search saw.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Mapping
from typing import Any

import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from frivolous.common.parameters import parameter_count
from frivolous.common.seeding import generator
from frivolous.common.validation import check_choice
from frivolous.compression.dense import weight_of
from frivolous.compression.folding import Moments, View, fold, removal_order
from frivolous.compression.model_costs import multiply_adds
from frivolous.compression.result import Compressed, ratio_unmet
from frivolous.compression.surgery import replace
from frivolous.compression.token_batches import Caller, TokenBatch, chunks, examples, split, token_batches
from frivolous.compression.transformer_mlp import MlpBlock, find_blocks, shrink
from frivolous.compression.unit_graph import CompressionWarning
from frivolous.measuring.inputs import evaluating

INTERCEPTS = ("bias", "none")
"""Where ``c`` of a bias-free down-projection goes: a bias added to it, or nowhere (fitted without intercept)."""
SPREADS = ("uniform", "error")
"""How ``ratio`` spreads the removals: the same share of units in every block,
or the cheapest removals first over all blocks (:func:`spread_by_error`)."""


class _Reached(Exception):
    """Raised by a hook to stop a forward pass once what it needed was read."""


def compress_blocks(
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
    intercept: str = "bias",
    spread: str = "uniform",
    batch_size: int = 16,
    device: torch.device,
    seed: int = 0,
    progress: bool | None = None,
) -> Compressed:
    """Compress the MLP blocks of the transformer ``model`` (see :func:`frivolous.compression.compress`,
    which checks the arguments and calls this for a model with MLP blocks)."""
    check_choice("intercept", intercept, INTERCEPTS)
    check_choice("spread", spread, SPREADS)
    if spread == "error" and method != "fold":
        raise ValueError(f'spread="error" spreads by the fold\'s costs; method={method!r} takes spread="uniform"')
    blocks = find_blocks(model)
    keyword = _keyword(_inner(model))
    batches = token_batches(data, keyword)
    if held_out is not None:
        calibration, held = batches, token_batches(held_out, keyword)
    else:
        calibration, held = split(batches, held_out_fraction, seed)
    if examples(calibration) < 2 or not held:
        raise ValueError(
            f"need at least 2 calibration and 1 held-out example, got {examples(calibration)} and {examples(held)}"
        )
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), None)
    calibration = [b.to(device, dtype) for b in chunks(calibration, batch_size)]
    held = [b.to(device, dtype) for b in chunks(held, batch_size)]
    with evaluating(model, device):
        reference = _Judge(Caller(_inner(model)), calibration)
        before = _Judge(Caller(_inner(model)), held)
        work = copy.deepcopy(model).eval()
        session = _Session(work, calibration, reference.labels, ridge, method, intercept, seed)
        counts = _counts(work, blocks, units, ratio, spread, session)
        rows = []
        todo = [b for b in blocks if counts is None or counts.get(b.name, b.units) < b.units]
        bar = tqdm(
            blocks, desc="compressing", unit="block", leave=False, disable=None if progress is None else not progress
        )
        for block in bar:
            if block not in todo:
                asked = counts is not None and block.name in counts
                note = "kept whole: asked for as many units as it has, or more" if asked else "kept whole: not asked"
                rows.append(_row(block, block.units, note))
                continue
            order = session.order(block, None if counts is None else block.units - max(1, counts[block.name]))
            if counts is not None:
                keep = max(1, min(counts[block.name], block.units))
            else:
                goal = 0.99 if agreement is None else agreement
                keep = session.search(block, order, 1.0 - (1.0 - goal) * (todo.index(block) + 1) / len(todo))
            session.apply(block, order, keep)
            rows.append(_row(block, keep, ""))
        after = _Judge(Caller(_inner(work)), held, before.labels)
        calibration_agreement = session.agreement()
        example = _first_input(calibration)
        macs = (_macs(model, example), _macs(work, example))
    mlp_before = sum(b.parameters(model) for b in blocks)
    mlp_after = sum(b.parameters(work) for b in find_blocks(work))
    _warn_if_unmet(units, ratio, todo, mlp_before, mlp_after)
    work.to(next(iter([*model.parameters(), *model.buffers()]), torch.empty(0)).device)
    settings = {
        "agreement": agreement,
        "units": dict(units) if isinstance(units, Mapping) else units,
        "ratio": ratio,
        "ridge": ridge,
        "method": method,
        "intercept": intercept,
        "spread": spread,
        "seed": seed,
        "held_out_fraction": None if held_out is not None else held_out_fraction,
    }
    return Compressed(
        model=work,
        agreement=after.agreement,
        params_before=parameter_count(model),
        params_after=parameter_count(work),
        macs_before=macs[0],
        macs_after=macs[1],
        layers=pd.DataFrame(rows),
        calibration_agreement=calibration_agreement,
        held_out_examples=examples(held),
        accuracy_before=before.accuracy(held),
        accuracy_after=after.accuracy(held),
        settings=settings,
        one_class_share=float(torch.bincount(before.labels).max()) / max(len(before.labels), 1),
        held_out_positions=len(before.labels) if before.per_position else None,
        perplexity_before=before.perplexity,
        perplexity_after=after.perplexity,
        mlp_params_before=mlp_before,
        mlp_params_after=mlp_after,
    )


def _inner(model: nn.Module) -> nn.Module:
    """The Hugging Face model inside :class:`~frivolous.sources.hf_models.TransformersClassifier`, else ``model``."""
    from frivolous.sources.hf_models import TransformersClassifier  # imported here: transformers only

    return model.model if isinstance(model, TransformersClassifier) else model


def _keyword(model: nn.Module) -> str:
    """How a bare tensor is passed: as a Hugging Face model's main input, else positionally."""
    return str(getattr(model, "main_input_name", "")) if hasattr(model, "config") else ""


def _first_input(batches: list[TokenBatch]) -> torch.Tensor:
    inputs = batches[0].inputs
    return next(iter(inputs.values())) if "" not in inputs else inputs[""]


def _macs(model: nn.Module, example: torch.Tensor) -> int:
    """Multiply-adds of one example (a Hugging Face model reads a bare tensor as its main input)."""
    return multiply_adds(_inner(model), example)


class _Judge:
    """What a model predicts on some batches: its labels (one per counted position of a
    language model, else per example), and a causal language model's perplexity."""

    def __init__(self, caller: Caller, batches: list[TokenBatch], reference: torch.Tensor | None = None) -> None:
        labels, loss, count = [], 0.0, 0
        self.per_position = False
        with torch.no_grad():
            for batch in batches:
                logits = caller.logits(batch)
                self.per_position = logits.ndim == 3
                labels.append(caller.predictions(logits, batch).cpu())
                if caller.causal and "input_ids" in batch.inputs:
                    summed, counted = caller.losses(logits, batch)
                    loss, count = loss + summed, count + counted
        self.labels = torch.cat(labels)
        self.perplexity = math.exp(loss / count) if count else None
        self.agreement = float((self.labels == reference).double().mean()) if reference is not None else 1.0

    def accuracy(self, batches: list[TokenBatch]) -> float | None:
        """Top-1 accuracy against the batches' class labels (None when they have none, or per position)."""
        if self.per_position or any(b.labels is None for b in batches):
            return None
        truth = torch.cat([b.labels for b in batches if b.labels is not None]).cpu()
        return float((self.labels == truth).double().mean())


class _Session:
    """The working model and its calibration batches, as blocks are compressed in turn."""

    def __init__(
        self,
        work: nn.Module,
        batches: list[TokenBatch],
        reference: torch.Tensor,
        ridge: float,
        method: str,
        intercept: str,
        seed: int,
    ) -> None:
        self.work, self.batches, self.reference, self.ridge = work, batches, reference, ridge
        self.method, self.intercept, self.seed = method, intercept, seed
        self.caller = Caller(_inner(work))
        self.moments: dict[str, Moments] = {}

    def collect(self, blocks: list[MlpBlock]) -> dict[str, Moments]:
        """The moments of what each block's down-projection reads, one row per counted
        position, in passes that stop at the last of them."""
        moments: dict[str, Moments] = {}
        last = blocks[-1].consumer
        current: list[TokenBatch] = []

        def reads(name: str):
            def record(_module: nn.Module, args: tuple) -> None:
                values = args[0]
                mask = current[0].mask
                if mask is not None and tuple(values.shape[:-1]) == tuple(mask.shape):
                    rows = values[mask.to(values.device)]
                else:
                    rows = values.reshape(-1, values.shape[-1])
                moments.setdefault(name, Moments(rows.shape[1], rows.device)).add(rows)
                if name == last:
                    raise _Reached

            return record

        handles = [self.work.get_submodule(b.consumer).register_forward_pre_hook(reads(b.consumer)) for b in blocks]
        try:
            with torch.no_grad():
                for batch in self.batches:
                    current[:] = [batch]
                    try:
                        self.caller.logits(batch)
                    except _Reached:
                        pass
        finally:
            for handle in handles:
                handle.remove()
        return moments

    def fitted_moments(self, block: MlpBlock, moments: Moments) -> tuple[torch.Tensor, torch.Tensor]:
        """``(second moments, mean)`` the fit uses: the covariance and mean, or, fitted
        without intercept (a bias-free consumer, ``intercept="none"``), the uncentred
        second moments and a zero mean."""
        if self.intercept == "none" and getattr(self.work.get_submodule(block.consumer), "bias", None) is None:
            mean = moments.mean
            return moments.covariance + torch.outer(mean, mean), torch.zeros_like(mean)
        return moments.covariance, moments.mean

    def costs(self, blocks: list[MlpBlock]) -> dict[str, list[float]]:
        """Each block's removal costs in the greedy's order (one pass over all blocks,
        on the network as it is), relative to the variance of the block's output."""
        moments = self.collect(blocks)
        costs = {}
        for block in blocks:
            second, _ = self.fitted_moments(block, moments[block.consumer])
            gram = self._gram(block)
            _, steps = removal_order([View(torch.arange(block.units), second, gram)], block.units, self.ridge)
            scale = float((gram * second).sum()) or 1.0
            costs[block.name] = [cost / scale for cost in steps]
        return costs

    def _gram(self, block: MlpBlock) -> torch.Tensor:
        weight = weight_of(self.work.get_submodule(block.consumer)).double()
        return weight.T @ weight

    def order(self, block: MlpBlock, removals: int | None) -> list[int]:
        """The block's units in the order they are removed (the fold's greedy, or a baseline's)."""
        if self.method == "random":
            return torch.randperm(block.units, generator=generator(self.seed, "compress", block.name)).tolist()
        if self.method == "magnitude":
            norms = sum(weight_of(self.work.get_submodule(name)).abs().sum(1).cpu() for name in block.producers)
            assert isinstance(norms, torch.Tensor)
            return torch.argsort(norms, stable=True).tolist()
        self.moments[block.name] = self.collect([block])[block.consumer]
        second, _ = self.fitted_moments(block, self.moments[block.name])
        view = View(torch.arange(block.units), second, self._gram(block))
        return removal_order([view], block.units, self.ridge, removals)[0]

    def apply(self, block: MlpBlock, order: list[int], keep: int) -> dict[str, nn.Module]:
        """Keep the last ``keep`` units of ``order``, folding the others in; return the modules replaced."""
        kept = torch.zeros(block.units, dtype=torch.bool)
        kept[order[block.units - keep :]] = True
        if self.method == "fold":
            second, mean = self.fitted_moments(block, self.moments[block.name])
            coefficients, intercept = fold(second, mean, kept.to(second.device), self.ridge)
            fitted_without = (
                self.intercept == "none" and getattr(self.work.get_submodule(block.consumer), "bias", None) is None
            )
            return shrink(self.work, block, kept, coefficients, None if fitted_without else intercept)
        removed = int((~kept).sum())
        return shrink(self.work, block, kept, torch.zeros(keep, removed, dtype=torch.float64), None)

    def agreement(self) -> float:
        """Agreement with the original on the calibration data."""
        return _Judge(self.caller, self.batches, self.reference).agreement

    def search(self, block: MlpBlock, order: list[int], target: float) -> int:
        """The fewest units whose calibration agreement stays at or above ``target``
        (bisection: agreement grows with the units kept, near enough)."""
        low, high = 1, block.units
        while low < high:
            middle = (low + high) // 2
            replaced = self.apply(block, order, middle)
            good = self.agreement() >= target
            for name, module in replaced.items():
                replace(self.work, name, module)
            low, high = (low, middle) if good else (middle + 1, high)
        return high


def _counts(
    work: nn.Module,
    blocks: list[MlpBlock],
    units: int | Mapping[str, int] | None,
    ratio: float | None,
    spread: str,
    session: _Session,
) -> dict[str, int] | None:
    if isinstance(units, Mapping):
        names = [b.name for b in blocks]
        for name in units:
            if name not in names:
                raise ValueError(f"cannot compress layer {name!r}; the MLP blocks compress can shrink: {names}")
        return {name: int(count) for name, count in units.items()}
    if units is not None:
        return {b.name: int(units) for b in blocks}
    if ratio is None:
        return None
    if spread == "error":
        return spread_by_error(work, blocks, ratio, session.costs(blocks))
    return _uniform(work, blocks, ratio)


def _uniform(work: nn.Module, blocks: list[MlpBlock], ratio: float) -> dict[str, int]:
    """The same share of units in every block, the largest whose MLP parameters are at most ``1/ratio`` of theirs."""
    total = sum(b.parameters(work) for b in blocks)
    per_unit = {b.name: b.parameters_per_unit(work) for b in blocks}

    def counts(share: float) -> dict[str, int]:
        return {b.name: max(1, round(share * b.units)) for b in blocks}

    def size(share: float) -> float:
        chosen = counts(share)
        return total - sum((b.units - chosen[b.name]) * per_unit[b.name] for b in blocks)

    low, high = 0.0, 1.0
    for _ in range(40):
        middle = (low + high) / 2
        low, high = (middle, high) if size(middle) <= total / ratio else (low, middle)
    return counts(low)


def spread_by_error(
    work: nn.Module, blocks: list[MlpBlock], ratio: float, costs: Mapping[str, list[float]]
) -> dict[str, int]:
    """Units to keep per block for at most ``1/ratio`` of the MLP parameters,
    taking the cheapest removals over all blocks first: each removal's cost
    (the increase in the block's output error, relative to its output's
    variance, made non-decreasing along the block's greedy order) per
    parameter it saves. One unit per block is always kept."""
    total = sum(b.parameters(work) for b in blocks)
    per_unit = {b.name: b.parameters_per_unit(work) for b in blocks}
    candidates = []
    for block in blocks:
        running = 0.0
        for step, cost in enumerate(costs[block.name][: block.units - 1]):
            running = max(running, cost)
            candidates.append((running / per_unit[block.name], block.name, step))
    candidates.sort()
    removed = {b.name: 0 for b in blocks}
    saved, goal = 0, total - total / ratio
    for _, name, _ in candidates:
        if saved >= goal:
            break
        removed[name] += 1
        saved += per_unit[name]
    return {b.name: b.units - removed[b.name] for b in blocks}


def _row(block: MlpBlock, kept: int, note: str) -> dict[str, Any]:
    return {
        "layer": block.name,
        "units_before": block.units,
        "units_after": kept,
        "producers": ", ".join(block.producers),
        "consumers": block.consumer,
        "note": note,
    }


def _warn_if_unmet(units: Any, ratio: float | None, todo: list[MlpBlock], before: int, after: int) -> None:
    """What api._warn_if_unmet says of a network, said of the MLP blocks and their parameters."""
    if units is not None and not todo:
        warnings.warn(
            f"units={units!r} keeps every MLP block whole (none is wider): nothing was compressed",
            CompressionWarning,
            stacklevel=4,
        )
    if ratio_unmet(ratio, before, after):
        warnings.warn(
            f"ratio={ratio} cannot be reached: with every MLP block at one unit the MLPs keep {after:,} of "
            f"their {before:,} parameters ({before / max(after, 1):.2f}x fewer)",
            CompressionWarning,
            stacklevel=4,
        )
