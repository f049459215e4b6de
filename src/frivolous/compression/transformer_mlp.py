"""The MLP blocks of a transformer, and their units: who produces them, who reads them.

A transformer's MLP reads the residual stream at every token position
through one or two *producers*, applies an elementwise activation, and
writes back through one *consumer*, the down-projection. Its units are the
features the down-projection reads: after the activation, or, in a gated
MLP, the product ``act(gate(x)) * up(x)``. Nothing else reads them, so
removing unit ``j`` removes row ``j`` of every producer and column ``j`` of
the consumer, and a removed unit folds exactly into the kept ones when it is
a linear function of them (:mod:`~frivolous.compression.folding`).

Blocks are recognised by their modules' structure, never by tracing (a
Hugging Face model's keyword arguments, caches and ``ModelOutput`` defeat
``torch.fx``), and only where the code between producer and consumer is known
to be elementwise:

- GPT-2's ``mlp``: ``c_fc`` -> ``act`` -> ``c_proj`` (``Conv1D`` or Linear);
- gated MLPs (Llama, Mistral, Qwen, ...): ``down_proj(act_fn(gate_proj(x)) * up_proj(x))``;
- BERT's layers (and Hugging Face ViT's before transformers 5):
  ``intermediate.dense`` -> ``intermediate.intermediate_act_fn`` -> ``output.dense``;
- Hugging Face ViT's (and CLIP's) ``mlp``: ``fc1`` -> ``activation_fn`` -> ``fc2``;
- DistilBERT's ``ffn``: ``lin1`` -> ``activation`` -> ``lin2``;
- timm's ``Mlp`` (its ViTs'): ``fc1`` -> ``act`` -> ``fc2``, with no norm between.

An MLP built otherwise is not a block, and the model's other layers
(attention, embeddings, heads) are left as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from frivolous.compression.dense import bias_of, is_dense, rebuilt, sizes, weight_of
from frivolous.compression.surgery import replace
from frivolous.measuring.operators import is_activation_module

PATTERNS = (
    (("c_fc",), "act", "c_proj"),
    (("gate_proj", "up_proj"), "act_fn", "down_proj"),
    (("lin1",), "activation", "lin2"),
)
"""``(producers, activation, consumer)``: attribute paths from the block's module
(the one that holds them) for each recognised form; BERT's is :data:`SPLIT`,
timm's :data:`TIMM`."""
SPLIT = ("intermediate.dense",), "intermediate.intermediate_act_fn", "output.dense"
"""BERT's and ViT's layer: the units are made in ``intermediate`` and read by ``output.dense``."""
TIMM = ("fc1",), "act", "fc2"
"""timm's ``Mlp``: recognised in timm's modules only (a model's own ``fc1``, ``act``, ``fc2`` may be anything)."""
HF_MLP = ("fc1",), "activation_fn", "fc2"
"""Hugging Face ViT's (and CLIP's) ``mlp``: recognised in transformers' modules only."""


@dataclass(frozen=True)
class MlpBlock:
    """One MLP: ``name`` is the module holding its producers and activation;
    ``producers`` and ``consumer`` are full module names; ``units`` its width."""

    name: str
    producers: tuple[str, ...]
    consumer: str
    units: int

    def parameters(self, model: nn.Module) -> int:
        """The parameters of the block's producers and consumer."""
        return sum(p.numel() for name in self.modules for p in model.get_submodule(name).parameters(recurse=False))

    def parameters_per_unit(self, model: nn.Module) -> int:
        """What removing one unit saves: a row (and bias) of each producer, a column of the consumer."""
        per_unit = sizes(model.get_submodule(self.consumer))[0]
        for name in self.producers:
            producer = model.get_submodule(name)
            per_unit += sizes(producer)[1] + (bias_of(producer) is not None)
        return per_unit

    @property
    def modules(self) -> tuple[str, ...]:
        return (*self.producers, self.consumer)


def find_blocks(model: nn.Module) -> list[MlpBlock]:
    """The MLP blocks of ``model`` that :data:`PATTERNS` recognise, in module order."""
    blocks = []
    for name, module in model.named_modules():
        found = _block(model, name, module)
        if found is not None:
            blocks.append(found)
    return blocks


def _block(model: nn.Module, name: str, module: nn.Module) -> MlpBlock | None:
    forms = list(PATTERNS)
    if isinstance(getattr(module, "intermediate", None), nn.Module):
        forms.append(SPLIT)
    if type(module).__module__.startswith("timm.") and isinstance(getattr(module, "norm", None), nn.Identity):
        forms.append(TIMM)  # with a norm between fc1 and fc2 the units are not elementwise
    if type(module).__module__.startswith("transformers."):
        forms.append(HF_MLP)
    for producers, act, consumer in forms:
        parts = [_child(module, path) for path in (*producers, act, consumer)]
        if any(part is None for part in parts):
            continue
        *made, activation, read = parts
        assert activation is not None and read is not None
        if not (all(m is not None and is_dense(m) for m in made) and is_dense(read) and elementwise(activation)):
            continue
        width = sizes(read)[1]
        if any(m is not None and sizes(m)[0] != width for m in made):
            continue
        prefix = f"{name}." if name else ""
        owner = f"{name}.intermediate" if consumer == SPLIT[2] else name
        return MlpBlock(owner, tuple(prefix + p for p in producers), prefix + consumer, width)
    return None


def _child(module: nn.Module, path: str) -> nn.Module | None:
    for atom in path.split("."):
        child = getattr(module, atom, None)
        if not isinstance(child, nn.Module):
            return None
        module = child
    return module


def elementwise(module: nn.Module) -> bool:
    """Whether ``module`` is an activation applied to each value alone (PyTorch's, or transformers')."""
    if isinstance(module, nn.PReLU):
        return module.num_parameters == 1
    if is_activation_module(module):
        return True
    if not type(module).__module__.startswith("transformers."):
        return False
    from transformers import activations  # imported here: only a transformers module needs it

    classes = {value[0] if isinstance(value, tuple) else value for value in activations.ACT2CLS.values()}
    return type(module) in classes - {activations.LinearActivation} or isinstance(module, activations.GELUActivation)


def shrink(
    model: nn.Module, block: MlpBlock, keep: torch.Tensor, coefficients: torch.Tensor, intercept: torch.Tensor | None
) -> dict[str, nn.Module]:
    """Keep the units ``keep`` (a boolean mask) of ``block`` in ``model``: the
    producers keep those rows; the consumer keeps those columns, with the
    removed ones folded in (``W_K + W_R Bᵀ``, ``B = coefficients``, kept x removed)
    and ``W_R c`` added to its bias (``c = intercept``; None: no bias is added,
    a consumer without one stays without). Returns the modules replaced."""
    replaced = {}
    rows = torch.nonzero(keep.cpu()).flatten()
    for name in block.producers:
        producer = model.get_submodule(name)
        bias = bias_of(producer)
        weight = weight_of(producer)
        new = rebuilt(
            producer, weight[rows.to(weight.device)], bias[rows.to(bias.device)] if bias is not None else None
        )
        replaced[name] = replace(model, name, new)
    consumer = model.get_submodule(block.consumer)
    weight = weight_of(consumer).double()
    mask = keep.to(weight.device)
    removed = weight[:, ~mask]
    folded = weight[:, mask] + removed @ coefficients.to(weight).T
    bias = bias_of(consumer)
    if intercept is not None:
        shift = removed @ intercept.to(weight)
        bias = shift if bias is None else bias.double() + shift
    replaced[block.consumer] = replace(model, block.consumer, rebuilt(consumer, folded, bias))
    return replaced
