"""Probing and ablating a model through its ``torch.fx`` graph.

The model is traced once. A tracer that records the output node of every
module call maps each probe name to a node of the graph, nested modules
included (a block and the ReLU inside it are different nodes of one graph).

To ablate a probe ``P`` the graph is split in two. The *suffix* holds the
nodes that depend on ``P`` (its descendants); everything else, including
parallel branches that ``P`` does not feed, is computed once per batch by
the reference pass and handed to the suffix as inputs (the *live* values).
The suffix starts by zeroing the removed units of ``P`` for ``M`` masks at
once, so one call of the suffix evaluates ``M`` masks on ``N`` examples as
one batch of ``M * N``. A probe the output does not depend on needs no
re-run at all.

The split is verified on the first example (an all-keeping mask must give the
reference logits); a probe that fails the check is ablated by re-running
the whole graph instead, and a model whose trace does not reproduce its own
output is handed to :class:`~frivolous.measuring.hooks.HookNetwork`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.fx as fx
from torch import nn
from torch.fx.passes.shape_prop import ShapeProp
from torch.utils.flop_counter import FlopCounterMode

from frivolous.measuring.masks import apply_keep
from frivolous.measuring.network import Capture, ProbedNetwork, labels_of, logits_of, same_outputs
from frivolous.measuring.operators import ACTIVATION_FUNCTIONS, ACTIVATION_METHODS, is_activation_module, is_inplace
from frivolous.measuring.probes import call_names, function_name, unique_names


class TraceMismatch(RuntimeError):
    """The traced graph does not compute what the model computes."""


class _RecordingTracer(fx.Tracer):
    """A tracer that remembers which node each module call returned."""

    def __init__(self) -> None:
        super().__init__()
        self.module_outputs: list[tuple[str, fx.Node]] = []
        self._created = 0

    def create_node(self, *args: Any, **kwargs: Any) -> fx.Node:
        node = super().create_node(*args, **kwargs)
        self._created += 1
        node.meta["frivolous_order"] = self._created
        return node

    def call_module(self, m: nn.Module, forward: Any, args: Any, kwargs: Any) -> Any:
        start = self._created
        out = super().call_module(m, forward, args, kwargs)
        # A module that returns a value it did not compute (its input, say)
        # has no output of its own to probe.
        if isinstance(out, fx.Proxy) and out.node.meta.get("frivolous_order", 0) > start:
            try:
                self.module_outputs.append((self.path_of_module(m), out.node))
            except NameError:  # a module created during forward, not in the hierarchy
                pass
        return out


def _keep_names(layers: frozenset[str]) -> dict[str, str]:
    """The keyword argument of each layer's keep mask in the graph masking ``layers``."""
    return {name: f"keep_{i}" for i, name in enumerate(sorted(layers))}


def ancestors(targets: Iterable[fx.Node]) -> set[fx.Node]:
    """``targets`` and every node they depend on."""
    found: set[fx.Node] = set()
    stack = list(targets)
    while stack:
        node = stack.pop()
        if node not in found:
            found.add(node)
            stack.extend(node.all_input_nodes)
    return found


def _copy_if_tensor(value: Any) -> Any:
    return value.clone() if isinstance(value, torch.Tensor) else value


@dataclass
class _Split:
    """How to ablate one probe: the suffix module and the values it reads."""

    probe: fx.Node
    live: list[fx.Node]  # probe first, then the other values the suffix reads
    batched: list[bool]  # whether each live value carries the batch dimension
    suffix: fx.GraphModule | None  # None: re-run the whole graph instead
    bytes_per_example: int | None
    batchable: bool = True  # False: live values not stackable, one mask per call
    flops_per_example: int = 0  # multiply-adds of one re-run of one example, counted by check(); 0: unknown


class GraphNetwork(ProbedNetwork):
    mode = "graph"

    def __init__(self, model: nn.Module) -> None:
        tracer = _RecordingTracer()
        graph = tracer.trace(model)
        self._model = model
        self.module = fx.GraphModule(model, graph)
        self.modules = dict(self.module.named_modules())
        self.graph = self.module.graph
        self._inplace = any(is_inplace(n, self.modules) for n in self.graph.nodes)
        self.logits = self._reduce_output_to_logits()
        self._batch_nodes = self._descendants(n for n in self.graph.nodes if n.op == "placeholder")
        self._logit_ancestors = ancestors([self.logits])
        self._full_bytes: int | None = None
        self._full_flops = 0
        self._nodes: dict[str, fx.Node] = {}
        self._canonical: dict[fx.Node, str] = {}
        self.multi_call: dict[str, int] = {}
        self._index_module_outputs(tracer.module_outputs)
        activations = self._index_functional_activations()
        self.names = list(self._nodes)
        logit_side = self._logit_side()
        self.default_layers = list(  # an activation of parameters only has no per-example units
            dict.fromkeys(self._canonical[n] for n in activations if n not in logit_side and n in self._batch_nodes)
        )
        self._splits: dict[str, _Split] = {}
        self._full: dict[frozenset[str], fx.GraphModule] = {}
        self._selected: list[str] = []
        self._capture_module: fx.GraphModule | None = None
        self._captured: list[fx.Node] = []
        self._shapes_known = False

    # ---- naming -------------------------------------------------------------

    def _reduce_output_to_logits(self) -> fx.Node:
        """Make the graph return only the logits (as :func:`logits_of` picks them)."""
        graph = self.module.graph
        output = next(n for n in graph.nodes if n.op == "output")
        value = output.args[0]
        if isinstance(value, (tuple, list)) and value and isinstance(value[0], fx.Node):
            value = value[0]
        elif isinstance(value, dict) and isinstance(value.get("logits"), fx.Node):
            value = value["logits"]
        if not isinstance(value, fx.Node):
            with graph.inserting_before(output):
                value = graph.call_function(logits_of, (output.args[0],))
        output.args = (value,)
        self.module.recompile()
        return value

    def _index_module_outputs(self, outputs: list[tuple[str, fx.Node]]) -> None:
        calls: defaultdict[str, list[fx.Node]] = defaultdict(list)
        for name, node in outputs:
            calls[name].append(node)
        for module, nodes in calls.items():
            if len(nodes) > 1:
                self.multi_call[module] = len(nodes)
            for name, node in zip(call_names(module, len(nodes)), nodes):
                self._nodes[name] = node
                self._canonical.setdefault(node, name)  # innermost module first

    def _index_functional_activations(self) -> list[fx.Node]:
        """Name functional activations ``fn(source)``; return every activation node."""
        activations, functional, bases = [], [], []
        for node in self.graph.nodes:
            if node.op == "call_module" and is_activation_module(self.modules[node.target]):
                activations.append(node)
            elif (node.op == "call_function" and node.target in ACTIVATION_FUNCTIONS) or (
                node.op == "call_method" and node.target in ACTIVATION_METHODS
            ):
                activations.append(node)
                functional.append(node)
                source = node.args[0]
                source_name = self._canonical.get(source, source.name) if isinstance(source, fx.Node) else "?"
                bases.append(f"{function_name(node.target)}({source_name})")
        for name, node in zip(unique_names(bases), functional):
            self._nodes[name] = node
            self._canonical.setdefault(node, name)
        return activations

    def _logit_side(self) -> set[fx.Node]:
        """The logits and every node they follow from without a parametrised
        operation in between: activations there are outputs, not hidden units."""
        side: set[fx.Node] = set()
        stack = [self.logits]
        while stack:
            node = stack.pop()
            if node in side:
                continue
            side.add(node)
            if not self._parametrised(node):
                stack.extend(node.all_input_nodes)
        return side

    def _parametrised(self, node: fx.Node) -> bool:
        if node.op == "call_module":
            module = self.modules[node.target]
            return any(True for _ in module.parameters()) or any(True for _ in module.buffers())
        return any(arg.op == "get_attr" for arg in node.all_input_nodes)

    # ---- graph surgery --------------------------------------------------------

    @staticmethod
    def _descendants(roots: Iterable[fx.Node]) -> set[fx.Node]:
        seen: set[fx.Node] = set()
        stack = list(roots)
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            stack.extend(u for u in node.users if u.op != "output")
        return seen

    def depends_on_inputs(self, layer: str) -> bool:
        return self._nodes[layer] in self._batch_nodes

    def affects_output(self, layer: str) -> bool:
        return self._nodes[layer] in self._logit_ancestors

    def _split(self, layer: str) -> _Split:
        """The suffix of ``layer``: what depends on it *and* leads to the logits
        (an auxiliary head it also feeds is not re-run)."""
        probe = self._nodes[layer]
        after = (self._descendants([probe]) & self._logit_ancestors) - {probe}
        live = [probe] + [
            n
            for n in self.graph.nodes
            if n is not probe and n not in after and n.op != "output" and any(u in after for u in n.users)
        ]
        graph = fx.Graph()
        env: dict[fx.Node, Any] = {}
        placeholders = [n for n in live if n.op != "get_attr"]
        for i, node in enumerate(placeholders):
            env[node] = graph.placeholder(f"live_{i}")
        for node in live:
            if node.op == "get_attr":
                env[node] = graph.node_copy(node)
        keep = graph.placeholder("keep")
        env[probe] = graph.call_function(apply_keep, (env[probe], keep, False))
        for node in self.graph.nodes:
            if node in after:
                env[node] = graph.node_copy(node, lambda a: env[a])
        graph.output(env[self.logits])
        return _Split(
            probe=probe,
            live=placeholders,
            batched=[n in self._batch_nodes for n in placeholders],
            suffix=fx.GraphModule(self.module, graph),
            bytes_per_example=None,
        )

    def _full_graph(self, layers: frozenset[str]) -> fx.GraphModule:
        """The whole graph with the given probes masked; its input must be
        repeated once per mask."""
        if layers in self._full:
            return self._full[layers]
        probes = {self._nodes[name]: name for name in layers}
        graph = fx.Graph()
        env: dict[fx.Node, Any] = {}
        originals = [n for n in self.graph.nodes if n.op == "placeholder"]
        for node in originals:
            env[node] = graph.node_copy(node)
        keeps = {name: graph.placeholder(arg, default_value=None) for name, arg in _keep_names(layers).items()}
        for node in self.graph.nodes:
            if node.op in ("placeholder", "output"):
                continue
            env[node] = graph.node_copy(node, lambda a: env[a])
            if node in probes:
                env[node] = graph.call_function(apply_keep, (env[node], keeps[probes[node]], True))
        graph.output(env[self.logits])
        module = fx.GraphModule(self.module, graph)
        self._full[layers] = module
        return module

    def _capture_graph(self) -> fx.GraphModule:
        """The whole graph returning the logits, every selected probe and every
        value a suffix reads; copies of them if the graph changes tensors in place."""
        graph = fx.Graph()
        env: dict[fx.Node, Any] = {}
        wanted = set(self._captured)
        kept: dict[fx.Node, Any] = {}
        for node in self.graph.nodes:
            if node.op == "output":
                continue
            env[node] = graph.node_copy(node, lambda a: env[a])
            if node in wanted:
                kept[node] = graph.call_function(_copy_if_tensor, (env[node],)) if self._inplace else env[node]
        graph.output((env[self.logits], tuple(kept[n] for n in self._captured)))
        return fx.GraphModule(self.module, graph)

    # ---- ProbedNetwork --------------------------------------------------------

    def select(self, layers: list[str]) -> None:
        self._selected = list(layers)
        captured: dict[fx.Node, None] = {}
        for name in layers:
            captured[self._nodes[name]] = None
            if self.affects_output(name) and name not in self._splits:
                self._splits[name] = self._split(name)
            if name in self._splits:
                captured.update(dict.fromkeys(self._splits[name].live))
        self._captured = list(captured)
        self._capture_module = self._capture_graph()

    def capture(self, inputs: torch.Tensor) -> Capture:
        assert self._capture_module is not None, "select() first"
        if not self._shapes_known:
            self._estimate_sizes(inputs)
        logits, values = self._capture_module(inputs)
        by_node = dict(zip(self._captured, values))
        activations = {name: by_node[self._nodes[name]] for name in self._selected}
        return Capture(inputs=inputs, logits=logits, activations=activations, state=by_node)

    def ablate(self, capture: Capture, keeps: Mapping[str, torch.Tensor]) -> torch.Tensor:
        if len(keeps) == 1:
            ((name, keep),) = keeps.items()
            split = self._splits.get(name)
            if split is not None and split.suffix is not None:
                return self._run_suffix(split, capture, keep)
        return self._run_full(capture, keeps)

    def _run_suffix(self, split: _Split, capture: Capture, keep: torch.Tensor) -> torch.Tensor:
        assert split.suffix is not None  # ablate() runs a suffix only where the split has one
        masks = keep.shape[0]
        if masks > 1 and not split.batchable:
            return torch.cat([self._run_suffix(split, capture, keep[m : m + 1]) for m in range(masks)])
        values = [capture.state[n] for n in split.live]
        args = [values[0]]
        for value, batched in zip(values[1:], split.batched[1:]):
            if batched and masks > 1:
                value = value.repeat(masks, *([1] * (value.ndim - 1)))
            elif self._inplace:
                value = _copy_if_tensor(value)
            args.append(value)
        return split.suffix(*args, keep)

    def _run_full(self, capture: Capture, keeps: Mapping[str, torch.Tensor]) -> torch.Tensor:
        layers = frozenset(keeps)
        module = self._full_graph(layers)
        masks = next(iter(keeps.values())).shape[0]
        inputs = capture.inputs.repeat(masks, *([1] * (capture.inputs.ndim - 1)))
        names = _keep_names(layers)
        kwargs = {names[name]: keep for name, keep in keeps.items()}
        return module(inputs, **kwargs)

    def check(self, capture: Capture) -> list[str]:
        """Verify the trace against the model, then each split, on the first
        example of this batch (one example: the checks stay small beside the
        measurement, and they count each split's multiply-adds on the way).

        Raises :class:`TraceMismatch` if the traced graph does not reproduce
        the model's own logits; a split that fails is replaced by a re-run of
        the whole graph, with a warning."""
        one = self.narrow(capture, 0, 1)
        expected = logits_of(self._model(one.inputs))
        if not same_outputs(one.logits, expected) or not torch.equal(labels_of(one.logits), labels_of(expected)):
            raise TraceMismatch("the torch.fx trace of the model does not reproduce its output")
        warnings = []
        for name in self._selected:
            split = self._splits.get(name)
            if split is None:
                continue
            split.batchable = all(
                not batched or (isinstance(v, torch.Tensor) and v.ndim > 0 and v.shape[0] == capture.size)
                for v, batched in zip((capture.state[node] for node in split.live), split.batched)
            )
            keep = torch.ones(1, *one.state[split.probe].shape[1:], dtype=torch.bool, device=one.inputs.device)
            reason = "its re-run does not reproduce the model's output"
            try:
                with FlopCounterMode(display=False) as counter:
                    out = self._run_suffix(split, one, keep)
                ok = same_outputs(out, one.logits)
                split.flops_per_example = counter.get_total_flops()
            except Exception as error:
                ok, reason = False, f"{type(error).__name__}: {error}"
            if not ok:
                split.suffix = None
                warnings.append(f"layer {name!r}: {reason}; ablating it by re-running the whole network (slower)")
        return warnings

    def narrow(self, capture: Capture, start: int, stop: int) -> Capture:
        n = capture.size
        state = {
            node: value[start:stop]
            if node in self._batch_nodes and isinstance(value, torch.Tensor) and value.ndim and len(value) == n
            else value
            for node, value in capture.state.items()
        }
        return Capture(
            inputs=capture.inputs[start:stop],
            logits=capture.logits[start:stop],
            activations={name: state[self._nodes[name]] for name in capture.activations},
            state=state,
        )

    def _estimate_sizes(self, inputs: torch.Tensor) -> None:
        """Record the per-example size of every node, and the multiply-adds of
        one example's whole pass, from one example."""
        self._shapes_known = True
        try:
            with FlopCounterMode(display=False) as counter:
                ShapeProp(self.module).propagate(inputs[:1])
        except Exception:
            return
        self._full_flops = counter.get_total_flops()
        for split in self._splits.values():
            nodes = self._descendants([split.probe]) & self._logit_ancestors
            split.bytes_per_example = _node_bytes(nodes)
        self._full_bytes = _node_bytes(self.graph.nodes)

    def rerun_bytes(self, layers: list[str]) -> int | None:
        if len(layers) == 1 and layers[0] in self._splits and self._splits[layers[0]].suffix is not None:
            return self._splits[layers[0]].bytes_per_example
        return self._full_bytes

    def rerun_share(self, layer: str, capture: Capture | None = None, flops: int = 0) -> float:
        if not self.affects_output(layer):
            return 0.0
        split = self._splits.get(layer)
        if split is None or split.suffix is None:
            return 1.0
        if split.flops_per_example and self._full_flops:  # counted by check() and the size pass
            return min(1.0, split.flops_per_example / self._full_flops)
        if capture is not None and flops > 0:
            keep = torch.ones(
                1, *capture.state[split.live[0]].shape[1:], dtype=torch.bool, device=capture.inputs.device
            )
            try:
                with FlopCounterMode(display=False) as counter:
                    self._run_suffix(split, capture, keep)
                return min(1.0, counter.get_total_flops() / flops)
            except Exception:  # an estimate: fall back to activation bytes
                pass
        if not split.bytes_per_example or not self._full_bytes:
            return 1.0
        return min(1.0, split.bytes_per_example / self._full_bytes)


def _node_bytes(nodes: Iterable[fx.Node]) -> int:
    total = 0
    for node in nodes:
        meta = node.meta.get("tensor_meta")
        if meta is None or not hasattr(meta, "shape"):
            continue
        total += int(torch.Size(meta.shape).numel()) * torch.empty((), dtype=meta.dtype).element_size()
    return total
