"""Probed activations whose features are their last axis, seen features first.

:func:`frivolous.measure` reads a probed activation as ``(batch, channels,
*positions)``: the units of a conv layer are its channels, and every
(example, position) pair is a sample. A transformer's hidden activations
are ``(batch, tokens, features)``, and so are those of the MLPs in ViT, Swin
and MaxViT and of ConvNeXt's blocks (``(batch, height, width, channels)``):
read as they come, their "channels" would be token positions. So before
measuring, each probed activation module whose input was made by a
feature-last producer (a ``Linear``, a ``LayerNorm``, or any module with a
2-D weight, as GPT-2's ``Conv1D``) is wrapped in :class:`FeaturesFirst`,
which hands the same values on unchanged but passes them, features first,
through an ``nn.Identity`` named ``<module>.features``: that identity is
what is probed and ablated. The units of such a layer are then its hidden
features, with examples x positions as samples, as conv positions are.

The wrapping is decided from one forward pass on two examples, with hooks
that note which module made each activation's input; activations applied
as functions (``F.relu(x)``) are left as they are.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from frivolous.measure.inputs import evaluating
from frivolous.measure.probes import split_call

SUFFIX = "features"
"""The name of the probed identity inside a :class:`FeaturesFirst` wrapper."""


class FeaturesFirst(nn.Module):
    """An activation module whose output's last axis holds the features, with
    a probe (``self.features``) that sees them as the first axis after the batch."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.features = nn.Identity()

    def forward(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        return self.features(self.inner(*args, **kwargs).movedim(-1, 1)).movedim(1, -1)


def features_last(model: nn.Module, names: Iterable[str], example: torch.Tensor) -> list[str]:
    """The modules among the probes ``names`` whose every call takes an input
    made by a feature-last producer and gives an output of 3 or more axes."""
    modules = dict(model.named_modules())
    candidates = {split_call(name)[0] for name in names if split_call(name)[0] in modules}
    producers: dict[int, nn.Module] = {}
    kept: list[torch.Tensor] = []  # keeps every output alive, so that no id is reused during the pass
    verdicts: dict[str, list[bool]] = {name: [] for name in candidates}

    def note(module: nn.Module, args: tuple, output: Any) -> None:
        if isinstance(output, torch.Tensor):
            producers[id(output)] = module
            kept.append(output)

    def judge(name: str):
        def hook(module: nn.Module, args: tuple, output: Any) -> None:
            made_by = producers.get(id(args[0])) if args and isinstance(args[0], torch.Tensor) else None
            verdicts[name].append(isinstance(output, torch.Tensor) and output.ndim >= 3 and _feature_last(made_by))
        return hook

    handles = [module.register_forward_hook(note) for module in modules.values()]
    handles += [modules[name].register_forward_hook(judge(name)) for name in candidates]
    try:
        with evaluating(model, example.device), torch.inference_mode():
            model(example)
    finally:
        for handle in handles:
            handle.remove()
    return sorted(name for name, calls in verdicts.items() if calls and all(calls))


def _feature_last(module: nn.Module | None) -> bool:
    if module is None:
        return False
    if isinstance(module, nn.LayerNorm):
        return True
    weight = getattr(module, "weight", None)
    return isinstance(weight, torch.Tensor) and weight.ndim == 2


@contextmanager
def features_first(model: nn.Module, modules: Iterable[str]) -> Iterator[None]:
    """``model`` with each of ``modules`` (qualified names) wrapped in
    :class:`FeaturesFirst`; the original modules are put back afterwards."""
    originals = {}
    for name in modules:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        originals[name] = (parent, child, getattr(parent, child))
        setattr(parent, child, FeaturesFirst(originals[name][2]))
    try:
        yield
    finally:
        for parent, child, module in originals.values():
            setattr(parent, child, module)


def probe_name(name: str, wrapped: Iterable[str]) -> str:
    """The probe of ``name`` once ``wrapped`` modules are wrapped: ``"a.act#1"`` -> ``"a.act.features#1"``."""
    module, call = split_call(name)
    if module not in set(wrapped):
        return name
    return f"{module}.{SUFFIX}" + (f"#{call}" if call is not None else "")
