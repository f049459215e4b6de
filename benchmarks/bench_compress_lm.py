"""Compressing a GPT-2's MLPs without fine-tuning, on real text (issue 19):
frivolous' least-squares fold against magnitude, Wanda-sp, FLAP and
Torch-Pruning, at matched parameter counts.

The model is the small GPT-2 that ``train_tiny_gpt2.py`` trains on the Python
documentation's reST sources (``lm_text.py``: split by file, its own BPE
tokenizer). Each method removes the same number of hidden units from every
MLP block (uniform allocation: 1.25x, 1.5x and 2x fewer MLP parameters), so
that all of them have exactly the same parameter count; nobody gets a
gradient step. Scores and compensations are computed on calibration windows
from the training split; perplexity and next-token agreement (argmax, with
the original model) on every position of 256 held-out windows (a seeded
sample of the test split's; `--test-windows 0` for all of it).

Units. A unit ``j`` of block ``l`` is the hidden feature after the GELU:
``c_fc``'s output ``j`` (its weight column and bias) and ``c_proj``'s input
``j`` (its weight row). ``a_j`` is its activation at one (window, position).

Methods:

- ``fold`` (frivolous): ``fv.compress(model, calibration, units=...)``: the
  removed units' activations are fitted by least squares on the kept ones
  (``a_R ≈ a_K B + c``) and ``B``, ``c`` added into ``c_proj``.
- ``fold, spread=error`` (frivolous, optional row): the same, but the number
  removed per block is chosen by the fold's own cost (``ratio=``, about the
  same total), so its parameter count is printed and may differ slightly.
- ``magnitude``: the L1 norm of the unit's weights, ``sum_i |c_fc[i, j]| +
  sum_o |c_proj[j, o]|`` (biases excluded); the lowest go, nothing compensates.
- ``wanda-sp``: structured Wanda as in FLAP's released ``prune_wanda_sp``:
  ``||a_j||_2 * sum_o |c_proj[j, o]|`` (the down-projection's weights on the
  unit times the RMS of its input over calibration tokens); no compensation.
- ``flap``: FLAP's fluctuation metric (WIFV): ``Var(a_j) * sum_o c_proj[j, o]^2``
  over calibration tokens, and its bias-only compensation: ``c_proj``'s bias
  gains ``sum_{j removed} mean(a_j) c_proj[j, :]``. FLAP's own allocation
  (standardised scores ranked across layers) is *not* used: uniform, like
  the others, so that the comparison is of the criteria at equal widths.
- ``torch-pruning``: ``tp.pruner.MetaPruner`` with
  ``MagnitudeImportance(p=1)`` (group L1 over ``c_fc``'s output channel and
  ``c_proj``'s input channel), only ``c_fc`` unignored, its ratio set to
  remove exactly the same units per block. Torch-Pruning does not prune HF's
  ``Conv1D`` (it traces the graph but treats Conv1D weights as unknown
  parameters and removes nothing, see the printed note), so it is run on a
  copy whose every Conv1D is replaced by the equal ``nn.Linear``
  (``weight.T``; logits unchanged to the last bit), with ``use_cache=False``
  and ``output_transform=logits`` (it fails on the KV cache's concatenation
  and on the ``ModelOutput`` otherwise).

Costs: parameters counted from the tensors (embeddings once: the LM head is
tied); multiply-adds per token from ``torch.utils.flop_counter`` on one
full window (every matrix product: Q/K/V/O, attention scores and mixing at
that context, the MLP, the LM head; FLOPs / 2 / window length).

    python benchmarks/bench_compress_lm.py                 # the table of benchmarks/README.md
    python benchmarks/bench_compress_lm.py --test-windows 16 --ratios 1.5   # a quick look

Llama (``--model out/tiny-llama``, trained by ``train_tiny_gpt2.py --arch
llama``): the MLP is gated, ``down_proj(silu(gate_proj(x)) * up_proj(x))``,
and no layer has a bias. A unit ``j`` is ``gate_proj``'s row ``j``,
``up_proj``'s row ``j`` and ``down_proj``'s column ``j``; its activation is
what ``down_proj`` reads, ``silu(gate_j) * up_j``. Since ``down_proj`` has no
bias, the fold's intercept ``c`` has nowhere to go; both of frivolous'
answers are rows: ``fold, intercept=bias`` (a bias is added to ``down_proj``,
holding ``W_R c``: 256 more parameters per block, counted) and ``fold,
intercept=none`` (``a_R ≈ a_K B`` fitted without intercept; no parameter
added). Magnitude is the L1 norm of the unit's three weight vectors; wanda-sp
and flap read ``down_proj``'s column ``j`` where GPT-2's read ``c_proj``'s row
``j``; flap's bias compensation adds a bias to ``down_proj`` (counted, as for
the fold). Torch-Pruning and ``spread=error`` are not run on the Llama by
default (``--methods`` can ask for ``fold, spread=error``).

    python benchmarks/bench_compress_lm.py --model out/tiny-llama   # the Llama table of benchmarks/README.md
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lm_text

RATIOS = (1.25, 1.5, 2.0)
TRAIN_COMMAND = "nice -n 5 python benchmarks/train_tiny_gpt2.py"


# --------------------------------------------------------------------- data


@dataclass
class Texts:
    """Token windows of the three uses: calibration (train split), a few
    validation windows for ``fv.compress``'s own report, the held-out test."""

    calibration: torch.Tensor
    validation: torch.Tensor
    test: torch.Tensor


def load_texts(folder: Path, length: int, calibration: int, test_windows: int, seed: int) -> Texts:
    """Windows of ``length`` tokens tokenized with the model's own tokenizer;
    the calibration windows are a seeded sample of the training split's."""
    tok = lm_text.load_tokenizer(folder)
    files = lm_text.split_files()
    train = lm_text.chunks(lm_text.encode_stream(tok, lm_text.read_texts(files["train"])), length)
    pick = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))[:calibration]
    validation = lm_text.chunks(lm_text.encode_stream(tok, lm_text.read_texts(files["validation"])), length)
    test = lm_text.chunks(lm_text.encode_stream(tok, lm_text.read_texts(files["test"])), length)
    if test_windows:
        test = test[
            torch.randperm(len(test), generator=torch.Generator().manual_seed(seed + 1))[:test_windows].sort().values
        ]
    return Texts(train[pick.sort().values], validation[:16], test)


def load_model(folder: Path) -> nn.Module:
    """The trained GPT-2 (or Llama) in evaluation mode; a missing folder says how to make it."""
    if not (folder / "model.safetensors").is_file():
        arch = " --arch llama" if "llama" in folder.name else ""
        raise SystemExit(f"no trained model in {folder}: run `{TRAIN_COMMAND}{arch} --out {folder}` first")
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(folder).eval()


def is_llama(model: nn.Module) -> bool:
    """Whether the model is the gated, bias-free Llama (else the GPT-2)."""
    return model.config.model_type == "llama"


def context_length(model: nn.Module) -> int:
    """The model's context, the length of every window."""
    return model.config.max_position_embeddings if is_llama(model) else model.config.n_positions


# ----------------------------------------------------------- measurement


@torch.no_grad()
def logits_argmax_and_nll(model: nn.Module, windows: torch.Tensor, batch: int) -> tuple[torch.Tensor, float]:
    """The argmax prediction at every position but the last, and the total
    next-token negative log-likelihood (float64) over those positions."""
    model.eval()
    preds, nll = [], 0.0
    for x in windows.split(batch):
        logits = model(input_ids=x, use_cache=False).logits[:, :-1].float()
        preds.append(logits.argmax(-1))
        nll += nn.functional.cross_entropy(logits.flatten(0, 1), x[:, 1:].flatten(), reduction="sum").double().item()
    return torch.cat(preds), nll


def evaluate(model: nn.Module, windows: torch.Tensor, reference: torch.Tensor, batch: int) -> tuple[float, float]:
    """Held-out perplexity and next-token agreement (argmax equal to the original's)."""
    preds, nll = logits_argmax_and_nll(model, windows, batch)
    return math.exp(nll / preds.numel()), (preds == reference).double().mean().item()


def mlp_parameters(model: nn.Module) -> int:
    """Parameters of the MLP blocks' two layers (weights and biases)."""
    return sum(p.numel() for block in blocks(model) for p in block.parameters())


def parameters(model: nn.Module) -> int:
    """Parameters of the model, each tensor once (the tied LM head is the embedding)."""
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def macs_per_token(model: nn.Module, length: int) -> float:
    """Multiply-adds per token of one full window (half the FLOPs that
    ``torch.utils.flop_counter`` counts, divided by the window length)."""
    x = torch.zeros(1, length, dtype=torch.long)
    with FlopCounterMode(display=False) as counter:
        model(input_ids=x, use_cache=False)
    return counter.get_total_flops() / 2 / length


# -------------------------------------------------------- unit statistics


def blocks(model: nn.Module) -> list[nn.Module]:
    """The MLP of every transformer block (GPT-2: ``c_fc``, act, ``c_proj``; Llama: gate, up, down)."""
    if is_llama(model):
        return [layer.mlp for layer in model.model.layers]
    return [block.mlp for block in model.transformer.h]


def block_names(model: nn.Module) -> list[str]:
    """The blocks' module names, as ``fv.compress(units=...)`` keys them."""
    stem = "model.layers" if is_llama(model) else "transformer.h"
    return [f"{stem}.{i}.mlp" for i in range(len(blocks(model)))]


def consumer(mlp: nn.Module) -> nn.Module:
    """The layer that reads the hidden units (``c_proj``, ``down_proj``)."""
    return mlp.down_proj if hasattr(mlp, "down_proj") else mlp.c_proj


def hidden_units(mlp: nn.Module) -> int:
    """The block's number of hidden units."""
    return mlp.down_proj.in_features if hasattr(mlp, "down_proj") else mlp.c_fc.weight.shape[1]


def down_rows(mlp: nn.Module) -> torch.Tensor:
    """The consumer's weights on each unit, units x outputs (``c_proj.weight``, ``down_proj.weight.T``)."""
    return mlp.down_proj.weight.t() if hasattr(mlp, "down_proj") else mlp.c_proj.weight


@dataclass
class UnitStats:
    """Per block, over calibration tokens: the mean, variance and RMS of each
    hidden unit's activation (the input of ``c_proj``), in float64."""

    mean: list[torch.Tensor]
    var: list[torch.Tensor]
    rms: list[torch.Tensor]


def run_with_consumer_hooks(
    model: nn.Module, windows: torch.Tensor, batch: int, hook: Callable[[int], Callable], *, outputs: bool = False
) -> int:
    """Every calibration window through ``model`` with ``hook(i)`` on block ``i``'s
    consumer, seeing what it reads (a pre-hook) or, with ``outputs``, what it
    writes; the hooks removed afterwards. Returns the number of blocks hooked."""
    consumers = [consumer(mlp) for mlp in blocks(model)]
    handles = [
        (c.register_forward_hook if outputs else c.register_forward_pre_hook)(hook(i)) for i, c in enumerate(consumers)
    ]
    try:
        for x in windows.split(batch):
            model(input_ids=x, use_cache=False)
    finally:
        for h in handles:
            h.remove()
    return len(handles)


@torch.no_grad()
def unit_stats(model: nn.Module, windows: torch.Tensor, batch: int) -> UnitStats:
    """One pass over the calibration windows with a hook on every consumer's input."""
    n = len(blocks(model))
    sums = [torch.zeros(0, dtype=torch.float64)] * n
    squares = [torch.zeros(0, dtype=torch.float64)] * n
    count = [0]

    def hook(i: int) -> Callable:
        def record(_module: nn.Module, args: tuple) -> None:
            a = args[0].reshape(-1, args[0].shape[-1]).double()
            sums[i] = a.sum(0) + (sums[i] if sums[i].numel() else 0)
            squares[i] = (a * a).sum(0) + (squares[i] if squares[i].numel() else 0)
            if i == 0:
                count[0] += a.shape[0]

        return record

    run_with_consumer_hooks(model, windows, batch, hook)
    mean = [s / count[0] for s in sums]
    second = [q / count[0] for q in squares]
    return UnitStats(mean, [q - m * m for q, m in zip(second, mean)], [q.sqrt() for q in second])


@torch.no_grad()
def components_for(model: nn.Module, windows: torch.Tensor, batch: int, share: float = 0.99) -> list[int]:
    """Per block, the principal components of the hidden activations (centred,
    over calibration tokens) that hold ``share`` of their variance: how
    redundant the units are, which is what the fold exploits (a low count
    means removed units are nearly linear combinations of kept ones)."""
    grams: dict[int, torch.Tensor] = {}
    sums: dict[int, torch.Tensor] = {}
    count = [0]

    def hook(i: int) -> Callable:
        def record(_module: nn.Module, args: tuple) -> None:
            a = args[0].reshape(-1, args[0].shape[-1]).double()
            grams[i] = a.T @ a + grams.get(i, 0)
            sums[i] = a.sum(0) + sums.get(i, 0)
            if i == 0:
                count[0] += a.shape[0]

        return record

    hooked = run_with_consumer_hooks(model, windows, batch, hook)
    out = []
    for i in range(hooked):
        mean = sums[i] / count[0]
        cov = grams[i] / count[0] - torch.outer(mean, mean)
        eig = torch.linalg.eigvalsh(cov).flip(0).clamp(min=0)
        out.append(int((eig.cumsum(0) / eig.sum() < share).sum().item()) + 1)
    return out


@torch.no_grad()
def output_rms(model: nn.Module, windows: torch.Tensor, batch: int) -> list[float]:
    """Per block, the RMS over calibration tokens of the MLP output's L2 norm:
    the scale against which an added bias (the fold's ``W_R c``) is read."""
    sums: dict[int, float] = {}
    count = [0]

    def hook(i: int) -> Callable:
        def record(_module: nn.Module, _args: tuple, out: torch.Tensor) -> None:
            y = out.reshape(-1, out.shape[-1]).double()
            sums[i] = sums.get(i, 0.0) + y.pow(2).sum().item()
            if i == 0:
                count[0] += y.shape[0]

        return record

    hooked = run_with_consumer_hooks(model, windows, batch, hook, outputs=True)
    return [math.sqrt(sums[i] / count[0]) for i in range(hooked)]


def added_bias_norms(original: nn.Module, compressed: nn.Module) -> list[float] | None:
    """Per block, the L2 norm of a bias that the compression added to a bias-free consumer (None: none added)."""
    norms = []
    for before, after in zip(blocks(original), blocks(compressed)):
        if consumer(before).bias is not None or consumer(after).bias is None:
            return None
        norms.append(consumer(after).bias.double().norm().item())
    return norms


# -------------------------------------------------------------- removal


def units_to_remove(model: nn.Module, ratio: float) -> int:
    """Units to remove from every block so that the MLPs have ``1/ratio`` of their parameters (nearest)."""
    mlp = blocks(model)[0]
    hidden = hidden_units(mlp)
    if is_llama(model):  # gate row + up row + down column, no biases
        per_unit = mlp.gate_proj.in_features + mlp.up_proj.in_features + mlp.down_proj.out_features
    else:  # c_fc column + bias, c_proj row
        per_unit = mlp.c_fc.weight.shape[0] + 1 + mlp.c_proj.weight.shape[1]
    per_block = sum(p.numel() for p in mlp.parameters())
    return min(hidden - 1, round(per_block * (1 - 1 / ratio) / per_unit))


def lowest(scores: torch.Tensor, k: int) -> torch.Tensor:
    """The keep mask that drops the ``k`` lowest scores (ties: the lower index goes first)."""
    keep = torch.ones(scores.numel(), dtype=torch.bool)
    keep[torch.argsort(scores, stable=True)[:k]] = False
    return keep


def shrink_block(mlp: nn.Module, keep: torch.Tensor, bias_shift: torch.Tensor | None = None) -> None:
    """Rebuild one GPT-2 MLP (``Conv1D``: ``y = x W + b``, W is in x out) with
    the units ``keep`` only, in place; ``bias_shift`` is added to ``c_proj``'s
    bias. Written here rather than borrowed from frivolous, so that the
    baselines share no code with the method they are compared against."""
    from transformers.pytorch_utils import Conv1D

    idx = torch.nonzero(keep).flatten()
    fc, proj = mlp.c_fc, mlp.c_proj
    new_fc = Conv1D(len(idx), fc.weight.shape[0])
    new_fc.weight.data = fc.weight.data[:, idx].clone()
    new_fc.bias.data = fc.bias.data[idx].clone()
    new_proj = Conv1D(proj.weight.shape[1], len(idx))
    new_proj.weight.data = proj.weight.data[idx].clone()
    bias = proj.bias.data.double() + (bias_shift if bias_shift is not None else 0)
    new_proj.bias.data = bias.to(proj.bias.dtype)
    mlp.c_fc, mlp.c_proj = new_fc, new_proj


def shrink_gated_block(mlp: nn.Module, keep: torch.Tensor, bias_shift: torch.Tensor | None = None) -> None:
    """The same for a Llama MLP (``nn.Linear``: ``y = x W^T``, no biases): the
    units ``keep`` of ``gate_proj``/``up_proj`` (rows) and ``down_proj``
    (columns); ``bias_shift`` becomes a new bias of ``down_proj``."""
    idx = torch.nonzero(keep).flatten()
    for name in ("gate_proj", "up_proj"):
        old = getattr(mlp, name)
        new = nn.Linear(old.in_features, len(idx), bias=False)
        new.weight.data = old.weight.data[idx].clone()
        setattr(mlp, name, new)
    old = mlp.down_proj
    new = nn.Linear(len(idx), old.out_features, bias=bias_shift is not None or old.bias is not None)
    new.weight.data = old.weight.data[:, idx].clone()
    if new.bias is not None:
        bias = (old.bias.data.double() if old.bias is not None else 0) + (bias_shift if bias_shift is not None else 0)
        new.bias.data = torch.as_tensor(bias, dtype=torch.float64).to(old.weight.dtype).expand(old.out_features).clone()
    mlp.down_proj = new


def pruned_by_scores(model: nn.Module, scores: list[torch.Tensor], k: int, stats: UnitStats | None = None) -> nn.Module:
    """A copy with the ``k`` lowest-scored units of every block removed; with
    ``stats``, FLAP's bias compensation (the removed units' mean output)."""
    pruned = copy.deepcopy(model)
    for i, (mlp, s) in enumerate(zip(blocks(pruned), scores)):
        keep = lowest(s, k)
        shift = None
        if stats is not None:
            shift = stats.mean[i][~keep] @ down_rows(mlp).data[~keep].double()
        (shrink_gated_block if is_llama(pruned) else shrink_block)(mlp, keep, shift)
    return pruned


def magnitude_scores(model: nn.Module) -> list[torch.Tensor]:
    """L1 norm of each unit's weights: its ``c_fc`` column plus its ``c_proj`` row (Llama: gate, up, down)."""
    if is_llama(model):
        return [
            mlp.gate_proj.weight.abs().sum(1) + mlp.up_proj.weight.abs().sum(1) + mlp.down_proj.weight.abs().sum(0)
            for mlp in blocks(model)
        ]
    return [mlp.c_fc.weight.abs().sum(0) + mlp.c_proj.weight.abs().sum(1) for mlp in blocks(model)]


def wanda_sp_scores(model: nn.Module, stats: UnitStats) -> list[torch.Tensor]:
    """Structured Wanda: the RMS of the unit's activation times the L1 norm of its ``c_proj`` row."""
    return [r * down_rows(mlp).double().abs().sum(1) for mlp, r in zip(blocks(model), stats.rms)]


def flap_scores(model: nn.Module, stats: UnitStats) -> list[torch.Tensor]:
    """FLAP's WIFV: the variance of the unit's activation times the squared norm of its ``c_proj`` row."""
    return [v * down_rows(mlp).double().pow(2).sum(1) for mlp, v in zip(blocks(model), stats.var)]


# ---------------------------------------------------------------- methods


@dataclass
class Context:
    """What every method may read: the original, its unit statistics, the texts."""

    model: nn.Module
    stats: UnitStats
    texts: Texts
    batch: int
    seed: int


Method = Callable[[Context, float], nn.Module]
"""A method: (context, ratio) -> a compressed copy of the model."""


def magnitude(ctx: Context, ratio: float) -> nn.Module:
    """Magnitude (L1 of the unit's weights), uniform, no compensation."""
    return pruned_by_scores(ctx.model, magnitude_scores(ctx.model), units_to_remove(ctx.model, ratio))


def wanda_sp(ctx: Context, ratio: float) -> nn.Module:
    """Wanda-sp, uniform, no compensation."""
    return pruned_by_scores(ctx.model, wanda_sp_scores(ctx.model, ctx.stats), units_to_remove(ctx.model, ratio))


def flap(ctx: Context, ratio: float) -> nn.Module:
    """FLAP's WIFV metric with its bias compensation, uniform allocation."""
    k = units_to_remove(ctx.model, ratio)
    return pruned_by_scores(ctx.model, flap_scores(ctx.model, ctx.stats), k, stats=ctx.stats)


def fold(ctx: Context, ratio: float, intercept: str = "bias") -> nn.Module:
    """frivolous' fold at the same widths as the baselines (``units=`` per block);
    ``intercept`` matters only where the consumer has no bias (Llama)."""
    import frivolous as fv

    keep = hidden_units(blocks(ctx.model)[0]) - units_to_remove(ctx.model, ratio)
    result = fv.compress(
        ctx.model,
        ctx.texts.calibration,
        units=dict.fromkeys(block_names(ctx.model), keep),
        held_out=ctx.texts.validation,
        method="fold",
        intercept=intercept,
        batch_size=ctx.batch,
        device="cpu",
        seed=ctx.seed,
        progress=False,
    )
    return result.model


def fold_without_intercept(ctx: Context, ratio: float) -> nn.Module:
    """The fold fitted without intercept (``a_R ≈ a_K B``), no bias added (Llama's question)."""
    return fold(ctx, ratio, intercept="none")


def fold_spread_error(ctx: Context, ratio: float) -> nn.Module:
    """frivolous' fold with its own allocation over blocks (``spread="error"``), about the same MLP parameters."""
    import frivolous as fv

    result = fv.compress(
        ctx.model,
        ctx.texts.calibration,
        ratio=ratio,
        spread="error",
        held_out=ctx.texts.validation,
        method="fold",
        batch_size=ctx.batch,
        device="cpu",
        seed=ctx.seed,
        progress=False,
    )
    return result.model


def conv1d_as_linear(model: nn.Module) -> nn.Module:
    """A copy with every HF ``Conv1D`` replaced by the equal ``nn.Linear`` (weight transposed)."""
    from transformers.pytorch_utils import Conv1D

    out = copy.deepcopy(model)
    for parent in list(out.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, Conv1D):
                linear = nn.Linear(child.weight.shape[0], child.weight.shape[1])
                linear.weight.data = child.weight.data.t().contiguous()
                linear.bias.data = child.bias.data.clone()
                setattr(parent, name, linear)
    return out


def tp_prune(model: nn.Module, k: int, nudge: float = 0.0) -> nn.Module:
    """Torch-Pruning's MetaPruner (L1 magnitude) removing ``k`` channels of
    every ``c_fc`` (and so of ``c_proj``'s input), everything else ignored, in
    place; ``nudge`` (in channels) moves the ratio past Torch-Pruning's rounding."""
    import torch_pruning as tp

    fcs = [mlp.c_fc for mlp in blocks(model)]
    hidden = fcs[0].weight.shape[0] if isinstance(fcs[0], nn.Linear) else fcs[0].weight.shape[1]
    ignored = [m for m in model.modules() if len(list(m.children())) == 0 and not any(m is f for f in fcs)]
    example = {"input_ids": torch.zeros(1, 8, dtype=torch.long), "use_cache": False}
    pruner = tp.pruner.MetaPruner(
        model,
        example,
        importance=tp.importance.MagnitudeImportance(p=1),
        pruning_ratio=0.0,
        pruning_ratio_dict={f: (k + nudge) / hidden for f in fcs},
        ignored_layers=ignored,
        output_transform=lambda out: out.logits,
    )
    pruner.step()
    model.zero_grad(set_to_none=True)
    return model.eval()


def torch_pruning_on_conv1d(ctx: Context, ratio: float) -> str:
    """What Torch-Pruning does to the HF model as it is (Conv1D): a one-line outcome for the notes."""
    import warnings

    pruned = copy.deepcopy(ctx.model)
    before = parameters(pruned)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tp_prune(pruned, units_to_remove(ctx.model, ratio))
    except Exception as error:
        return f"fails: {type(error).__name__}: {error}"
    removed = before - parameters(pruned)
    return f"runs, removes {removed} parameters (Conv1D weights are 'unwrapped parameters' to it)"


def torch_pruning(ctx: Context, ratio: float) -> nn.Module:
    """Torch-Pruning on the Conv1D→Linear copy (see the module docstring)."""
    import warnings

    k = units_to_remove(ctx.model, ratio)
    hidden = blocks(ctx.model)[0].c_fc.weight.shape[1]
    widths: set[int] = set()
    for nudge in (0.0, -0.25, 0.25):  # the ratio whose rounding gives exactly k
        pruned = conv1d_as_linear(ctx.model)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tp_prune(pruned, k, nudge)
        widths = {mlp.c_fc.out_features for mlp in blocks(pruned)}
        if widths == {hidden - k}:
            return pruned
    raise RuntimeError(f"Torch-Pruning left widths {widths}, not {hidden - k}")


METHODS: dict[str, Method] = {
    "fold": fold,
    "fold, spread=error": fold_spread_error,
    "fold, intercept=none": fold_without_intercept,
    "magnitude": magnitude,
    "wanda-sp": wanda_sp,
    "flap": flap,
    "torch-pruning": torch_pruning,
}
"""Adding a method is one function and one entry here."""

DEFAULT_METHODS = {
    "gpt2": ["fold", "fold, spread=error", "magnitude", "wanda-sp", "flap", "torch-pruning"],
    "llama": ["fold", "fold, intercept=none", "magnitude", "wanda-sp", "flap"],
}
"""The rows of each table of ``benchmarks/README.md``; on the Llama, ``fold`` is ``intercept="bias"``."""


# ------------------------------------------------------------------ run


@dataclass
class Row:
    """One line of the table."""

    method: str
    ratio: float
    params: int
    mlp_params: int
    macs: float
    perplexity: float
    agreement: float
    seconds: float


def measure(name: str, ratio: float, model: nn.Module, ctx: Context, reference: torch.Tensor, sec: float) -> Row:
    """Costs and held-out quality of one compressed (or the original) model."""
    ppl, agree = evaluate(model, ctx.texts.test, reference, ctx.batch)
    length = ctx.texts.test.shape[1]
    return Row(name, ratio, parameters(model), mlp_parameters(model), macs_per_token(model, length), ppl, agree, sec)


def table(rows: list[Row], original: Row, digits: int = 2) -> str:
    """The markdown table: per ratio and method, with the perplexity increase
    over the original (perplexities to ``digits`` decimals)."""
    lines = [
        "| ratio | method | params | MLP params | MACs/token | held-out ppl | Δppl | agreement | seconds |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in [original, *rows]:
        ratio = "1x" if r is original else f"{r.ratio:g}x"
        lines.append(
            f"| {ratio} | {r.method} | {r.params:,} | {r.mlp_params:,} | {r.macs / 1e6:.2f} M "
            f"| {r.perplexity:.{digits}f} | {r.perplexity - original.perplexity:+.{digits}f} "
            f"| {r.agreement:.4f} | {r.seconds:.1f} |"
        )
    return "\n".join(lines)


def goal(rows: list[Row], original: Row, ratio: float = 1.5) -> str:
    """Issue 19's goal at ``ratio``: the fold's perplexity increase at most half of the best baseline's."""
    at = {r.method: r.perplexity - original.perplexity for r in rows if r.ratio == ratio}
    baselines = {m: d for m, d in at.items() if not m.startswith("fold")}
    if "fold" not in at or not baselines:
        return f"goal at {ratio:g}x: not measured (fold or baselines missing)"
    best = min(baselines, key=lambda m: baselines[m])
    met = at["fold"] <= 0.5 * baselines[best]
    return (
        f"goal at {ratio:g}x: fold Δppl {at['fold']:+.2f} vs best baseline ({best}) {baselines[best]:+.2f}: "
        f"ratio {at['fold'] / baselines[best]:.2f} -> {'met' if met else 'NOT met'} (target <= 0.50)"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The benchmark's settings; the defaults make the table of ``benchmarks/README.md``."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, default=Path("out/tiny-gpt2"))
    p.add_argument("--ratios", type=float, nargs="+", default=list(RATIOS))
    p.add_argument("--methods", nargs="+", choices=list(METHODS), help="default: the table's rows for the model")
    p.add_argument("--calibration", type=int, default=128, help="calibration windows from the train split")
    p.add_argument("--test-windows", type=int, default=256, help="held-out windows, a seeded sample (0: all)")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--digits", type=int, default=2, help="decimals of the perplexity columns")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Load, measure the original, compress with every method at every ratio, print the table."""
    args = parse_args(argv)
    start = time.perf_counter()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model = load_model(args.model)
    if args.methods is None:
        args.methods = DEFAULT_METHODS["llama" if is_llama(model) else "gpt2"]
    record = args.model / "training.json"
    if record.is_file():
        trained = json.loads(record.read_text())
        print(
            f"model: {trained['parameters']:,} parameters, validation perplexity {trained['validation_perplexity']:.2f}"
        )
    length = context_length(model)
    texts = load_texts(args.model, length, args.calibration, args.test_windows, args.seed)
    print(
        f"calibration {tuple(texts.calibration.shape)} windows from train, test {tuple(texts.test.shape)} "
        f"({texts.test[:, 1:].numel():,} predicted positions)",
        flush=True,
    )
    t = time.perf_counter()
    stats = unit_stats(model, texts.calibration, args.batch)
    ctx = Context(model, stats, texts, args.batch, args.seed)
    reference, _ = logits_argmax_and_nll(model, texts.test, args.batch)
    original = measure("original", 1.0, model, ctx, reference, time.perf_counter() - t)
    print(table([], original, args.digits), flush=True)
    pcs = components_for(model, texts.calibration, args.batch)
    hidden = hidden_units(blocks(model)[0])
    print(f"principal components for 99% of the MLP activations' variance, per block (of {hidden}): {pcs}")
    rows: list[Row] = []
    notes: list[str] = []
    scale = output_rms(model, texts.calibration, args.batch) if is_llama(model) else None
    if scale is not None:
        print(f"RMS of the MLP output's norm over calibration tokens, per block: {[round(v, 3) for v in scale]}")
    for ratio in args.ratios:
        k = units_to_remove(model, ratio)
        print(f"\n{ratio:g}x: {k} of {hidden_units(blocks(model)[0])} units removed per block", flush=True)
        if "torch-pruning" in args.methods:
            notes.append(f"torch-pruning on HF Conv1D at {ratio:g}x: {torch_pruning_on_conv1d(ctx, ratio)}")
            print(notes[-1], flush=True)
        for name in args.methods:
            t = time.perf_counter()
            try:
                compressed = METHODS[name](ctx, ratio)
            except Exception as error:  # a method that cannot run is reported, not hidden
                notes.append(f"{name} at {ratio:g}x: {type(error).__name__}: {error}")
                print(notes[-1], flush=True)
                continue
            rows.append(measure(name, ratio, compressed, ctx, reference, time.perf_counter() - t))
            r = rows[-1]
            print(f"  {name:20s} ppl {r.perplexity:8.2f} agreement {r.agreement:.4f} ({r.seconds:.1f}s)", flush=True)
            norms = added_bias_norms(model, compressed) if scale is not None else None
            if norms is not None:
                shares = ", ".join(f"{n:.3f} ({n / s:.2f})" for n, s in zip(norms, scale))
                notes.append(
                    f"{name} at {ratio:g}x: norm of the added down_proj bias per block (/ output RMS): {shares}"
                )
                print(f"    {notes[-1]}", flush=True)
    print()
    print(table(rows, original, args.digits))
    print()
    for note in notes:
        print(f"- {note}")
    print(goal(rows, original))
    print(f"wall time {time.perf_counter() - start:.0f} s, {torch.get_num_threads()} threads")


if __name__ == "__main__":
    main()
