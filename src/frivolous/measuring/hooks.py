"""Probing and ablating a model with forward hooks.

For models that ``torch.fx`` cannot trace (data-dependent control flow, for
instance). Probes are module outputs only, one per call, found by running
the model once on two examples. Ablation re-runs the whole network on the
batch repeated once per mask, with a hook that zeroes the removed units of
each copy, so many masks still share one forward pass.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from frivolous.measuring.masks import apply_keep
from frivolous.measuring.network import Capture, ProbedNetwork, logits_of
from frivolous.measuring.operators import is_activation_module
from frivolous.measuring.probes import call_names, split_call


class HookNetwork(ProbedNetwork):
    mode = "hooks"

    def __init__(self, model: nn.Module, example: torch.Tensor) -> None:
        self.model = model
        self._modules = {name: m for name, m in model.named_modules() if name}
        calls: defaultdict[str, list[torch.Tensor | None]] = defaultdict(list)

        def record(name: str, output: Any) -> None:
            usable = isinstance(output, torch.Tensor) and output.ndim >= 1 and output.shape[0] == len(example)
            calls[name].append(output if usable else None)

        with self._hooks({name: record for name in self._modules}):
            logits = logits_of(model(example))
        self.multi_call = {name: len(outs) for name, outs in calls.items() if len(outs) > 1}
        self.names, self.default_layers = [], []
        self._bytes = 0
        for module, outputs in calls.items():
            if any(o is None for o in outputs):
                continue
            names = call_names(module, len(outputs))
            self.names += names
            for name, output in zip(names, outputs):
                assert output is not None  # modules with a None output were skipped above
                self._bytes += output[0].numel() * output.element_size()
                if is_activation_module(self._modules[module]) and output is not logits:
                    self.default_layers.append(name)
        self._selected: list[str] = []

    @contextmanager
    def _hooks(self, actions: Mapping[str, Callable[[str, Any], Any]]):
        """Call ``actions[module](name, output)`` at every call of those modules;
        a non-None return value replaces the output."""
        handles = [
            self._modules[module].register_forward_hook(
                lambda _m, _args, output, module=module: actions[module](module, output)
            )
            for module in actions
        ]
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()

    def _at_calls(self, per_probe: Mapping[str, Callable[[str, torch.Tensor], Any]]):
        """Hooks that run ``per_probe[name]`` at exactly the probed call of each module."""
        wanted: defaultdict[str, dict[int, tuple[str, Callable]]] = defaultdict(dict)
        for name, action in per_probe.items():
            module, call = split_call(name)
            if module not in self._modules:  # a module whose name contains '#'
                module, call = name, None
            wanted[module][call or 0] = (name, action)
        seen: Counter[str] = Counter()

        def dispatch(module: str, output: Any) -> Any:
            call = seen[module]
            seen[module] += 1
            if call in wanted[module]:
                name, action = wanted[module][call]
                return action(name, output)
            return None

        return self._hooks({module: dispatch for module in wanted})

    def select(self, layers: list[str]) -> None:
        self._selected = list(layers)

    def capture(self, inputs: torch.Tensor) -> Capture:
        activations: dict[str, torch.Tensor] = {}

        def keep_copy(name: str, output: torch.Tensor) -> None:
            activations[name] = output.clone()  # later in-place operations must not change it

        with self._at_calls({name: keep_copy for name in self._selected}):
            logits = logits_of(self.model(inputs))
        return Capture(inputs=inputs, logits=logits, activations=activations)

    def ablate(self, capture: Capture, keeps: Mapping[str, torch.Tensor]) -> torch.Tensor:
        masks = next(iter(keeps.values())).shape[0]
        inputs = capture.inputs.repeat(masks, *([1] * (capture.inputs.ndim - 1)))
        actions = {name: (lambda n, out: apply_keep(out, keeps[n], True)) for name in keeps}
        with self._at_calls(actions):
            return logits_of(self.model(inputs))

    def rerun_bytes(self, layers: list[str]) -> int | None:
        return self._bytes or None
