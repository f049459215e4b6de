"""What can be probed in a model, what the probes are called, and the
automatic choice of probes.

A *probe* is one activation tensor of a forward pass. Its name is

- the qualified name of the module that returns it (as in
  ``model.named_modules()``), e.g. ``"features.1"``;
- ``"name#k"`` for the ``k``-th call (from 0) of a module called more than
  once in one forward pass, e.g. a ReLU reused inside a residual block
  (``"layer1.0.relu#1"``); the bare name of such a module is refused as
  ambiguous, never silently mixed;
- ``"fn(source)"`` for a functional activation such as ``F.relu(self.fc1(x))``
  (``"relu(fc1)"``), where ``source`` names what the function was applied to.

The automatic choice (``layers=None``) follows the paper: hidden activations
after the nonlinearity, never the logits. Never either a value computed from
the parameters alone (the MLP that makes Swin-V2's position bias from a fixed
table): its first axis is not the batch, so it has no per-example units, and
naming one is an error. A model may instead list its own probes in an
attribute ``frivolous_layers`` (the model zoo does).
"""

from __future__ import annotations

import difflib
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

from torch import nn

MODEL_LAYERS_ATTRIBUTE = "frivolous_layers"


def function_name(target: object) -> str:
    name = getattr(target, "__name__", str(target))
    return name.rstrip("_") or name


def call_names(module: str, calls: int) -> list[str]:
    """Public names of the calls of one module: the bare name if called once."""
    return [module] if calls == 1 else [f"{module}#{k}" for k in range(calls)]


def split_call(name: str) -> tuple[str, int | None]:
    """``"a.b#2"`` -> ``("a.b", 2)``; ``"a.b"`` -> ``("a.b", None)``."""
    base, sep, index = name.rpartition("#")
    if sep and index.isdigit():
        return base, int(index)
    return name, None


def unique_names(names: Sequence[str]) -> list[str]:
    """Append ``#k`` to names that occur more than once, in order of occurrence."""
    totals = Counter(names)
    seen: defaultdict[str, int] = defaultdict(int)
    out = []
    for name in names:
        if totals[name] > 1:
            out.append(f"{name}#{seen[name]}")
            seen[name] += 1
        else:
            out.append(name)
    return out


def model_layers(model: nn.Module) -> list[str] | None:
    """The probes a model declares for itself, if any."""
    declared = getattr(model, MODEL_LAYERS_ATTRIBUTE, None)
    return None if declared is None else list(declared)


def resolve_name(name: str, valid: Iterable[str], multi_call: dict[str, int]) -> str:
    """Return ``name`` if valid; otherwise raise an error that says why and
    lists the valid names closest to it."""
    valid = list(valid)
    if name in valid:
        return name
    if name in multi_call:
        raise ValueError(
            f"module {name!r} is called {multi_call[name]} times in one forward pass, so its output "
            f"is ambiguous; name one call: {', '.join(call_names(name, multi_call[name]))}"
        )
    raise ValueError(f"no layer named {name!r} in the model. {describe_valid(valid, name)}")


def describe_valid(valid: Sequence[str], near: str | None = None, shown: int = 40) -> str:
    if not valid:
        return "The model has no probe-able layers."
    close = difflib.get_close_matches(near, valid, n=5, cutoff=0.5) if near else []
    ordered = close + [v for v in valid if v not in close]
    listed = ", ".join(repr(v) for v in ordered[:shown])
    more = f", ... and {len(valid) - shown} more" if len(valid) > shown else ""
    hint = f"Closest: {', '.join(map(repr, close))}. " if close else ""
    return f"{hint}Valid names ({len(valid)}): {listed}{more}"
