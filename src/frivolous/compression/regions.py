"""Run only the part of a network that a group's change can reach.

Compressing a group changes its producers, norms and consumers; nothing
computed before them changes. So the traced graph is cut (:class:`Cache`):
the values at the cut (the *frontier*: what the rest reads of what came
before) are computed once per group for all calibration examples and kept,
and every pass the group needs — its consumers' moments, each size the
search tries, its norms' statistics — starts from them and stops at the
last node it needs (:meth:`Cache.run`). The cut moves down the network as
the groups are compressed in order (:meth:`Cache.advance`), computing each
node between two cuts once, so the prefix of the network is never run
again: compressing a ResNet-50 costs a few full calibration passes instead of
one or more per layer and per size tried.

The nodes run through :class:`_LiveInterpreter`, which looks each module up
in the working model when it is called: modules swapped in by the
compression are the ones that run.

A cache larger than :data:`CACHE_BYTES` is not kept: each pass then starts
from the inputs (and still stops at the last node it needs).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
import torch.fx as fx
from torch import nn

from frivolous.measuring.graph import ancestors
from frivolous.measuring.operators import is_inplace

CACHE_BYTES = 2 * 2**30
"""The most memory the values at a cut may take, for all calibration examples together."""


class _LiveInterpreter(fx.Interpreter):
    """Runs ``graph`` with the modules and attributes of ``model`` as they are now
    (constants the tracer made live on the traced module)."""

    def __init__(self, model: nn.Module, traced: fx.GraphModule, graph: fx.Graph) -> None:
        super().__init__(model, garbage_collect_values=True, graph=graph)
        self.traced = traced

    def fetch_attr(self, target: str) -> Any:
        try:
            return super().fetch_attr(target)
        except (AttributeError, RuntimeError):  # not an attribute of the model: a constant of the trace
            value: Any = self.traced
            for atom in target.split("."):
                value = getattr(value, atom)
            return value


def descendants(graph: fx.Graph, modules: Iterable[str]) -> set[fx.Node]:
    """The nodes that calls of ``modules`` (names) compute, and every node that depends on them."""
    names = set(modules)
    reached: set[fx.Node] = set()
    for node in graph.nodes:
        if (node.op == "call_module" and node.target in names) or any(a in reached for a in node.all_input_nodes):
            reached.add(node)
    return reached


class Cache:
    """The values at a cut of the traced network, for every calibration batch.

    ``region`` is the set of nodes that may change from now on; the cut is
    the nodes outside it that it reads (plus the inputs, when it reads them)."""

    def __init__(
        self,
        model: nn.Module,
        traced: fx.GraphModule,
        batches: Callable[[], Iterable[torch.Tensor]],
        sizes: dict[fx.Node, int],
        examples: int,
    ) -> None:
        self.model, self.traced, self.batches = model, traced, batches
        self.sizes, self.examples = sizes, examples
        self.nodes = list(traced.graph.nodes)
        self.placeholders = [n for n in self.nodes if n.op == "placeholder"]
        self.region: set[fx.Node] = set(self.nodes)
        self.frontier: list[fx.Node] = list(self.placeholders)
        self.values: list[tuple[torch.Tensor, ...]] | None = None  # per batch, the frontier's values
        self._graphs: dict[tuple, tuple[fx.Graph, set[int]]] = {}
        self.follows_edges = not _flows_through_writes(self.nodes, dict(model.named_modules()))
        """False when a value reaches a node only by being written into (``t.add_(y)`` whose
        result is dropped while ``t`` is read later): the graph's edges then miss a
        dependency, so every pass runs the whole network."""

    def advance(self, region: set[fx.Node]) -> None:
        """Move the cut to just before ``region`` (a subset of the current one):
        compute its frontier from the current values (or drop them if too large)."""
        if not self.follows_edges:
            return
        frontier = _frontier(self.nodes, region)
        if set(frontier) == set(self.frontier) and self.values is not None:
            self.region = region
            return
        keep = sum(self.sizes.get(n, 0) for n in frontier) * self.examples <= CACHE_BYTES
        values = None
        if keep:
            values = [tuple(v) for v in self._each(frontier, self.region)]
        self.region, self.frontier, self.values = region, frontier, values

    def run(self, targets: Iterable[fx.Node] | None = None) -> Iterable[Any]:
        """For each calibration batch, run the region up to ``targets`` (to the
        output if None) and yield the output's value (None when stopped early)."""
        output = [n for n in self.nodes if n.op == "output"]
        ends = list(targets) if targets is not None and self.follows_edges else output
        for values in self._each(ends, self.region):
            yield values[0] if targets is None else None

    def _each(self, ends: list[fx.Node], region: set[fx.Node]) -> Iterable[list[Any]]:
        """For each batch, the values of ``ends``, computed inside ``region`` from
        the cached frontier (or from the inputs, when nothing is cached)."""
        if self.values is not None:
            graph, written = self._graph(tuple(self.frontier), tuple(ends), frozenset(region))
            interpreter = _LiveInterpreter(self.model, self.traced, graph)
            for values in self.values:
                yield interpreter.run(*(v.clone() if i in written else v for i, v in enumerate(values)))
        else:
            graph, _ = self._graph(tuple(self.placeholders), tuple(ends), frozenset(self.nodes))
            interpreter = _LiveInterpreter(self.model, self.traced, graph)
            for batch in self.batches():
                yield interpreter.run(batch)

    def _written(self, graph: fx.Graph) -> set[int]:
        """The inputs of ``graph`` that an operation may write into (``t.add_(y)``,
        ``relu(inplace=True)``): they are copied before each run, so that the
        cache stays as it was."""
        modules = dict(self.model.named_modules())
        placeholders = [n for n in graph.nodes if n.op == "placeholder"]
        return {
            i
            for i, p in enumerate(placeholders)
            if any(is_inplace(user, modules) and user.args and user.args[0] is p for user in p.users)
        }

    def _graph(
        self, inputs: tuple[fx.Node, ...], ends: tuple[fx.Node, ...], region: frozenset
    ) -> tuple[fx.Graph, set[int]]:
        """A graph reading ``inputs`` and returning the values of ``ends``, made
        of the nodes of ``region`` that ``ends`` need (the output node's own
        value when it is one of ``ends``), and its inputs written into
        (:meth:`_written`); made once for each set of inputs, ends and region."""
        key = (inputs, ends, region)
        if key not in self._graphs:
            needed = (ancestors(ends) if self.follows_edges else set(self.nodes)) & region - set(inputs)
            graph = fx.Graph()
            env: dict[fx.Node, fx.Node] = {n: graph.placeholder(f"cut_{n.name}") for n in inputs}
            for node in self.nodes:
                if node in needed and node.op not in ("output", "placeholder"):
                    env[node] = graph.node_copy(node, lambda n: env[n])
            values = [fx.node.map_arg(e.args[0], env.__getitem__) if e.op == "output" else env[e] for e in ends]
            graph.output(tuple(values))
            self._graphs[key] = (graph, self._written(graph))
        return self._graphs[key]


def _flows_through_writes(nodes: list[fx.Node], modules: dict[str, nn.Module]) -> bool:
    """Whether a node writes into a value that a later node reads directly (not through the writer's result)."""
    position = {node: i for i, node in enumerate(nodes)}
    for node in nodes:
        if is_inplace(node, modules) and node.args and isinstance(node.args[0], fx.Node):
            written = node.args[0]
            if any(position[user] > position[node] for user in written.users if user is not node):
                return True
    return False


def _frontier(nodes: list[fx.Node], region: set[fx.Node]) -> list[fx.Node]:
    """The nodes outside ``region`` that it reads, in graph order."""
    read = {a for n in region for a in n.all_input_nodes if a not in region}
    return [n for n in nodes if n in read]


def node_sizes(traced: fx.GraphModule, examples_in_trace: int) -> dict[fx.Node, int]:
    """Bytes per example of every node's value, from the shapes recorded when the graph was traced."""
    sizes: dict[fx.Node, int] = {}
    for node in traced.graph.nodes:
        meta = node.meta.get("tensor_meta")
        if meta is not None and hasattr(meta, "shape"):
            numel = 1
            for size in meta.shape:
                numel *= int(size)
            sizes[node] = numel * torch.empty(0, dtype=meta.dtype).element_size() // max(examples_in_trace, 1)
    return sizes
