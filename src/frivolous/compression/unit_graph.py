"""Who produces and who consumes each unit: the channel graph of a model.

A *unit* is one output channel of a Linear or Conv layer (a *producer*),
followed through the operations that treat every channel alike and apart
(activations, pooling, dropout, BatchNorm, flatten) to the Linear or Conv
layers that read it (its *consumers*). Removing a unit removes its row from
every producer, its parameters from every BatchNorm on the way, and its
columns from every consumer.

- A residual addition makes the channels of its operands one unit each: the
  units of every layer that writes into one residual stream share one
  keep-set.
- A concatenation along channels puts its operands' units side by side in
  one tensor: they form one *group* (one layer to compress), as an
  Inception module's or a DenseNet block's output is one layer.
- A flatten into a Linear layer makes each channel a block of columns.

A group whose units reach anything else (an operation that mixes channels,
such as LocalResponseNorm or a reshape other than flatten, a module called
twice, or the network's output) is kept whole; :attr:`Group.fixed` says why,
naming the node. The graph comes from ``torch.fx``; a model it cannot trace
gets a :class:`CompressionError`.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.fx as fx
from torch import nn
from torch.fx.passes.shape_prop import ShapeProp

from frivolous.measuring.operators import (
    ADDITIONS,
    CHANNELWISE_FUNCTIONS,
    CHANNELWISE_METHODS,
    CHANNELWISE_MODULES,
    FLATTENS,
    REDUCTION_FUNCTIONS,
    REDUCTIONS,
    RESHAPE_METHODS,
    is_activation_module,
)

PRODUCERS = (nn.Linear, nn.Conv1d, nn.Conv2d)
NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


class CompressionError(ValueError):
    """The model cannot be compressed as asked (untraceable, or nothing to compress)."""


class CompressionWarning(UserWarning):
    """A target of ``units`` or ``ratio`` that the compression could not meet."""


@dataclass(frozen=True)
class Consumer:
    """A Linear or Conv layer that reads a group's units: ``channels[i]`` is the
    group unit of its input channel ``i``; a flattened input has ``positions``
    columns per channel (channel-major), else 1."""

    module: str
    channels: tuple[int, ...]
    positions: int = 1


@dataclass
class Group:
    """Units decided together: one layer to compress.

    ``producers`` and ``norms`` map a module name to the group unit of each of
    its output (or normalised) channels; ``consumers`` read the units."""

    name: str
    units: int
    producers: dict[str, tuple[int, ...]] = field(default_factory=dict)
    norms: dict[str, tuple[int, ...]] = field(default_factory=dict)
    consumers: list[Consumer] = field(default_factory=list)
    fixed: str = ""
    """Why the group must be kept whole ("" if it can be compressed)."""

    @property
    def compressible(self) -> bool:
        return not self.fixed


class _UnionFind:
    def __init__(self) -> None:
        self.parent: list[int] = []

    def add(self) -> int:
        self.parent.append(len(self.parent))
        return len(self.parent) - 1

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        a, b = self.find(a), self.find(b)
        if a != b:
            self.parent[max(a, b)] = min(a, b)


@dataclass(frozen=True)
class _Space:
    """The units carried by one tensor of the trace, one id per channel;
    ``positions`` > 0 once flattened (columns per channel)."""

    ids: tuple[int, ...]
    positions: int = 0


class UnitGraph:
    """The groups of units of ``model``, traced with ``torch.fx`` on ``example`` (one batch of inputs)."""

    def __init__(self, model: nn.Module, example: torch.Tensor) -> None:
        try:
            self.module = fx.symbolic_trace(model)
        except Exception as error:
            raise CompressionError(
                f"torch.fx cannot trace the model ({type(error).__name__}: {error}); compress needs a traceable "
                "graph of Linear/Conv layers"
            ) from error
        with torch.no_grad():
            ShapeProp(self.module).propagate(example[:2])
        self.modules = dict(self.module.named_modules())
        self._ids = _UnionFind()  # one unit: united across residual additions
        self._together = _UnionFind()  # one group: side by side in a tensor
        self._fixed: dict[int, str] = {}
        self._producers: list[tuple[str, tuple[int, ...]]] = []
        self._norms: list[tuple[str, tuple[int, ...]]] = []
        self._consumers: list[tuple[str, tuple[int, ...], int]] = []
        self.sequence_layers: list[str] = []
        """Linear layers applied at every position of a sequence: their units are
        the last axis, which compress does not follow (they are left as they are)."""
        calls: dict[str, int] = {}
        for node in self.module.graph.nodes:
            if node.op == "call_module":
                calls[node.target] = calls.get(node.target, 0) + 1
        self._twice = {name for name, count in calls.items() if count > 1}
        spaces: dict[fx.Node, _Space | None] = {}
        for node in self.module.graph.nodes:
            spaces[node] = self._visit(node, spaces)
        self.groups = self._assemble()

    # ---- walking the trace ------------------------------------------------------

    def _new_space(self, channels: int) -> _Space:
        ids = []
        for _ in range(channels):
            self._ids.add()
            ids.append(self._together.add())
        for i in ids[1:]:
            self._together.union(ids[0], i)
        return _Space(tuple(ids))

    def _fix(self, space: _Space | None, reason: str) -> None:
        if space is not None and space.ids:
            root = self._together.find(space.ids[0])
            self._fixed.setdefault(root, reason)

    def _visit(self, node: fx.Node, spaces: dict[fx.Node, _Space | None]) -> _Space | None:
        inputs = [(arg, spaces.get(arg)) for arg in node.all_input_nodes]
        carried = [space for _, space in inputs if space is not None]
        if node.op in ("placeholder", "get_attr"):
            return None
        if node.op == "output":
            for space in carried:
                self._fix(space, "its units are the network's output")
            return None
        if not carried and node.op != "call_module":
            return None
        if node.op != "call_module" and _shape(node) is None:
            return None  # not a tensor (a size, a shape): carries no unit
        handler = {"call_module": self._module, "call_function": self._function, "call_method": self._method}
        result = handler[node.op](node, carried, spaces)
        if result is _UNSUPPORTED:
            for space in carried:
                self._fix(
                    space,
                    f"its units reach node {node.name!r} ({_describe(node, self.modules)}), "
                    "which compress cannot follow",
                )
            return None
        return result

    def _module(self, node: fx.Node, carried: list[_Space], spaces: dict) -> Any:
        assert isinstance(node.target, str)  # a call_module target is the module's qualified name
        module = self.modules[node.target]
        source = spaces.get(node.args[0]) if node.args and isinstance(node.args[0], fx.Node) else None
        if isinstance(module, PRODUCERS) and getattr(module, "groups", 1) == 1:
            if node.target in self._twice:
                for space in carried:
                    self._fix(space, f"its units reach {node.target!r}, a module called more than once")
                return None
            if source is not None and not self._consume(node, module, source):
                self._fix(
                    source,
                    f"its units reach {node.target!r} ({type(module).__name__}) in a layout compress cannot follow",
                )
            shape = _shape(node)
            if shape is not None and isinstance(module, nn.Linear) and len(shape) != 2:
                self.sequence_layers.append(node.target)
                return None  # a Linear over the last dimension of a sequence: not a channel producer
            if shape is None:
                return None
            space = self._new_space(shape[1])
            self._producers.append((node.target, space.ids))
            return space
        if source is None:
            return None if not carried else _UNSUPPORTED
        if isinstance(module, NORMS) and node.target not in self._twice and not source.positions:
            self._norms.append((node.target, source.ids))
            return source
        if isinstance(module, CHANNELWISE_MODULES) or is_activation_module(module):
            return source
        if isinstance(module, nn.Flatten) and module.start_dim == 1:
            return self._flatten(node, source)
        return _UNSUPPORTED

    def _consume(self, node: fx.Node, module: nn.Module, source: _Space) -> bool:
        assert isinstance(node.target, str)  # a call_module target is the module's qualified name
        if isinstance(module, nn.Linear):
            shape = _shape(node.args[0])
            if shape is None or len(shape) != 2:
                return False
            positions = source.positions or 1
        else:
            if source.positions:
                return False
            positions = 1
        if len(source.ids) * positions != (module.in_features if isinstance(module, nn.Linear) else module.in_channels):
            return False
        self._consumers.append((node.target, source.ids, positions))
        return True

    def _function(self, node: fx.Node, carried: list[_Space], spaces: dict) -> Any:
        target = node.target
        first = spaces.get(node.args[0]) if node.args and isinstance(node.args[0], fx.Node) else None
        if target in ADDITIONS:
            return self._add(node, spaces)
        if target is torch.cat:
            return self._cat(node, spaces)
        if target in FLATTENS and first is not None and _flatten_dim(node) == 1:
            return self._flatten(node, first)
        if target in CHANNELWISE_FUNCTIONS and first is not None and len(carried) == 1:
            return first
        if target in REDUCTION_FUNCTIONS and first is not None and not first.positions and _over_positions(node):
            return first
        if target is operator.getitem and first is not None and _keeps_channels(node.args[1]) and not first.positions:
            return first  # x[:, :, ::2, ::2]: positions only
        if target in (operator.mul, operator.truediv) and first is not None and len(carried) == 1:
            other = node.args[1]
            return first if isinstance(other, (int, float)) else _UNSUPPORTED
        return _UNSUPPORTED

    def _method(self, node: fx.Node, carried: list[_Space], spaces: dict) -> Any:
        source = spaces.get(node.args[0]) if isinstance(node.args[0], fx.Node) else None
        if source is None or len(carried) != 1:
            return _UNSUPPORTED
        if node.target in CHANNELWISE_METHODS:
            return source
        if node.target in REDUCTIONS and not source.positions and _over_positions(node):
            return source  # x.mean((2, 3)): global pooling
        if node.target in RESHAPE_METHODS:
            before, after = _shape(node.args[0]), _shape(node)
            if (
                before is not None
                and after is not None
                and len(after) == 2
                and after[0] == before[0]
                and (len(before) > 2 or source.positions)
            ):
                return self._flatten(node, source)
            if before == after:
                return source
        return _UNSUPPORTED

    def _flatten(self, node: fx.Node, source: _Space) -> Any:
        if source.positions:
            return source
        shape = _shape(node.args[0])
        if shape is None:
            return _UNSUPPORTED
        return _Space(source.ids, positions=math.prod(shape[2:]) if len(shape) > 2 else 1)

    def _add(self, node: fx.Node, spaces: dict) -> Any:
        operands = [a for a in node.args if isinstance(a, fx.Node)]
        if len(operands) == 1 and all(isinstance(a, (int, float, fx.Node)) for a in node.args):
            return spaces.get(operands[0])  # x + a constant: channel-wise
        known = [spaces.get(a) for a in operands]
        if len(operands) != 2 or any(s is None for s in known):
            return _UNSUPPORTED
        a, b = known
        assert a is not None and b is not None  # checked just above
        if len(a.ids) != len(b.ids) or a.positions != b.positions:
            return _UNSUPPORTED
        for i, j in zip(a.ids, b.ids):
            self._ids.union(i, j)
            self._together.union(i, j)
        return a

    def _cat(self, node: fx.Node, spaces: dict) -> Any:
        tensors = node.args[0]
        # A node is visited only if an input carries units, which a tuple-valued node
        # does not: cat's first argument here is a list or tuple of nodes.
        assert isinstance(tensors, (list, tuple))
        dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)
        known = [spaces.get(t) if isinstance(t, fx.Node) else None for t in tensors]
        if dim not in (1, -(len(_shape(node) or ())) + 1) or any(s is None or s.positions for s in known):
            return _UNSUPPORTED
        ids = tuple(i for s in known if s is not None for i in s.ids)  # none is None, by the check above
        for i in ids[1:]:
            self._together.union(ids[0], i)
        return _Space(ids)

    # ---- groups -----------------------------------------------------------------

    def _assemble(self) -> list[Group]:
        units: dict[int, dict[int, int]] = {}  # group root -> unit root -> index in the group

        def index(unit: int) -> tuple[int, int]:
            root, group = self._ids.find(unit), self._together.find(unit)
            members = units.setdefault(group, {})
            return group, members.setdefault(root, len(members))

        groups: dict[int, Group] = {}

        def group_of(ids: tuple[int, ...], name: str) -> tuple[Group, tuple[int, ...]]:
            located = [index(i) for i in ids]
            root = located[0][0]
            group = groups.setdefault(root, Group(name=name, units=0))
            return group, tuple(i for _, i in located)

        for name, ids in self._producers:
            group, local = group_of(ids, name)
            group.producers[name] = local
        for name, ids in self._norms:
            group, local = group_of(ids, name)
            group.norms[name] = local
        for name, ids, positions in self._consumers:
            group, local = group_of(ids, name)
            group.consumers.append(Consumer(name, local, positions))
        for root, group in groups.items():
            group.units = len(units[root])
            group.fixed = self._fixed.get(root, "") or ("" if group.consumers else "no layer reads its units")
        return list(groups.values())

    def group(self, name: str) -> Group:
        for group in self.groups:
            if group.name == name:
                return group
        raise ValueError(f"no layer {name!r} to compress; layers: {[g.name for g in self.groups]}")


_UNSUPPORTED = object()


def _shape(node: Any) -> tuple[int, ...] | None:
    meta = node.meta.get("tensor_meta") if isinstance(node, fx.Node) else None
    return tuple(meta.shape) if meta is not None and hasattr(meta, "shape") else None


def _over_positions(node: fx.Node) -> bool:
    """A reduction over positions only (never examples or channels)."""
    dims = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
    shape = _shape(node.args[0])
    if dims is None or shape is None:
        return False
    dims = [d % len(shape) for d in (dims if isinstance(dims, (tuple, list)) else (dims,))]
    return 0 not in dims and 1 not in dims


def _keeps_channels(index: Any) -> bool:
    """An index that takes every example and every channel (it may subsample positions)."""
    whole = slice(None, None, None)
    return isinstance(index, tuple) and len(index) >= 2 and index[0] == whole and index[1] == whole


def _flatten_dim(node: fx.Node) -> fx.node.Argument:
    """The ``start_dim`` argument of a flatten (an int unless computed in the graph)."""
    return node.args[1] if len(node.args) > 1 else node.kwargs.get("start_dim", 0)


def _describe(node: fx.Node, modules: dict[str, nn.Module]) -> str:
    if node.op == "call_module":
        assert isinstance(node.target, str)  # a call_module target is the module's qualified name
        return type(modules[node.target]).__name__
    target = node.target
    return f"{getattr(target, '__name__', target)}()" if node.op == "call_function" else f".{target}()"
