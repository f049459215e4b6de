"""The constructions of the paper's Section 2.3: from a small network S, a
network L twice as wide that computes exactly the same function, yet has
more removable units, more repeated units, or both.

S is a one-hidden-layer ReLU network ``out(u)``, ``u = relu(W x + b)``. Its
inputs have ``input_dim`` coordinates, of which S reads only the first
``signal_dim``: the rest give the construction ``[u, v]`` room for units
that are independent of ``u`` and of each other (orthonormal weights on the
unused coordinates of standard-normal inputs).

Each L has a hidden layer ``hidden`` made of two modules, ``hidden.first``
(a copy of S's units) and ``hidden.second`` (the added half), so that the
added half can be measured on its own.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import torch
from torch import nn


def _relu_layer(weight: torch.Tensor, bias: torch.Tensor) -> nn.Sequential:
    linear = nn.Linear(weight.shape[1], weight.shape[0])
    with torch.no_grad():
        linear.weight.copy_(weight)
        linear.bias.copy_(bias)
    return nn.Sequential(OrderedDict(linear=linear, relu=nn.ReLU()))


def _output(weight: torch.Tensor, bias: torch.Tensor) -> nn.Linear:
    out = nn.Linear(weight.shape[1], weight.shape[0])
    with torch.no_grad():
        out.weight.copy_(weight)
        out.bias.copy_(bias)
    return out


class OneHidden(nn.Module):
    """``out(hidden(x))``: S when ``hidden`` is one ReLU layer, L when it is
    :class:`Halves`. Probed layer: ``hidden``."""

    frivolous_layers = ("hidden",)

    def __init__(self, hidden: nn.Module, out: nn.Linear) -> None:
        super().__init__()
        self.hidden = hidden
        self.out = out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.hidden(x))


class Halves(nn.Module):
    """A hidden layer made of two halves, concatenated: ``[first, second]``."""

    def __init__(self, first: nn.Sequential, second: nn.Sequential) -> None:
        super().__init__()
        self.first = first
        self.second = second

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.first(x), self.second(x)], dim=1)


@dataclass(frozen=True)
class Construction:
    key: str
    title: str
    model: nn.Module
    expect: str


def small_network(
    *, input_dim: int = 20, signal_dim: int = 4, hidden: int = 16, classes: int = 3, seed: int = 0
) -> OneHidden:
    """A random S whose units read only the first ``signal_dim`` input
    coordinates (so that many of them correlate)."""
    if input_dim - signal_dim < hidden:
        raise ValueError("input_dim - signal_dim must be at least hidden, to fit independent units")
    g = torch.Generator().manual_seed(seed)
    weight = torch.zeros(hidden, input_dim)
    weight[:, :signal_dim] = torch.randn(hidden, signal_dim, generator=g)
    bias = 0.5 * torch.randn(hidden, generator=g)
    out_weight = torch.randn(classes, hidden, generator=g)
    out_bias = 0.1 * torch.randn(classes, generator=g)
    return OneHidden(_relu_layer(weight, bias), _output(out_weight, out_bias))


def _parts(small: OneHidden) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    linear = small.hidden.linear
    assert isinstance(linear, nn.Linear)  # S's hidden layer is a _relu_layer
    return (
        linear.weight.detach().clone(),
        linear.bias.detach().clone(),
        small.out.weight.detach().clone(),
        small.out.bias.detach().clone(),
    )


def duplicated(small: OneHidden) -> OneHidden:
    """``[u, u]`` with output weights ``[w, 0]``: more removable and more repeated."""
    w1, b1, w2, b2 = _parts(small)
    hidden = Halves(_relu_layer(w1, b1), _relu_layer(w1, b1))
    return OneHidden(hidden, _output(torch.cat([w2, torch.zeros_like(w2)], 1), b2))


def independent(small: OneHidden, *, seed: int = 0) -> OneHidden:
    """``[u, v]`` with output weights ``[w, 0]``, ``v`` independent of ``u`` and
    of each other: more removable only."""
    w1, b1, w2, b2 = _parts(small)
    hidden_units, input_dim = w1.shape
    unused = torch.nonzero(w1.abs().sum(0) == 0).flatten()
    if unused.numel() < hidden_units:
        raise ValueError("S reads too many input coordinates to add independent units")
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(unused.numel(), hidden_units, generator=g))
    v = torch.zeros(hidden_units, input_dim)
    v[:, unused] = q.T  # orthonormal rows on coordinates S ignores
    hidden = Halves(_relu_layer(w1, b1), _relu_layer(v, torch.zeros(hidden_units)))
    return OneHidden(hidden, _output(torch.cat([w2, torch.zeros_like(w2)], 1), b2))


def silent(small: OneHidden) -> OneHidden:
    """``[u, 0]`` with output weights ``[w, 0]``: the added units never respond
    (dead), so they are removable, and their correlation is undefined."""
    w1, b1, w2, b2 = _parts(small)
    hidden = Halves(_relu_layer(w1, b1), _relu_layer(torch.zeros_like(w1), torch.zeros_like(b1)))
    return OneHidden(hidden, _output(torch.cat([w2, torch.zeros_like(w2)], 1), b2))


def offset(small: OneHidden, *, eta: float = 10.0) -> OneHidden:
    """``[u, u]`` with output weights ``[w/2 + eta, w/2 - eta]``, where ``eta``
    differs per output: more repeated only. Removing unit ``k`` shifts output
    ``c`` by ``(eta_c - w_ck/2) u_k``, a different amount per class, so labels
    change and no unit is removable. (With one eta for every output the
    shifts would cancel in the arg-max.)"""
    w1, b1, w2, b2 = _parts(small)
    classes = w2.shape[0]
    etas = eta * torch.linspace(-1.0, 1.0, classes).unsqueeze(1)
    hidden = Halves(_relu_layer(w1, b1), _relu_layer(w1, b1))
    return OneHidden(hidden, _output(torch.cat([w2 / 2 + etas, w2 / 2 - etas], 1), b2))


def constructions(small: OneHidden, *, seed: int = 0, eta: float = 10.0) -> list[Construction]:
    """S and its four wide counterparts, with the kind of units the paper says
    each has more of than S."""
    return [
        Construction("S", "S   u  w", small, "-"),
        Construction("uu-w0", "L   [u,u]  [w,0]", duplicated(small), "both"),
        Construction("uv-w0", "L   [u,v]  [w,0]", independent(small, seed=seed), "removable"),
        Construction("u0-w0", "L   [u,0]  [w,0]", silent(small), "removable"),
        Construction("uu-eta", "L   [u,u]  [w/2±η]", offset(small, eta=eta), "repeated"),
    ]
