"""``frivolous demo``: what removable and repeated units are, shown on the
paper's Section 2.3 constructions.

A small random network S and four networks L twice as wide that compute
exactly S's function are measured on the same inputs. The table shows how
the two measurements of the paper tell them apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from frivolous.constructions import Construction, constructions, small_network
from frivolous.measuring import measure
from frivolous.measuring.network import labels_of

HALF = "hidden.second"


@dataclass(frozen=True)
class DemoRow:
    """One network's measurements (its ``hidden`` layer; ``half_auc`` is the
    AUC of the added half alone, for the wide networks)."""

    title: str
    expect: str
    units: int
    agreement: float
    auc: float
    auc_std: float
    half_auc: float | None
    similarity: float
    similarity_std: float
    fraction: float
    dead: int


def run_demo(*, examples: int = 2000, hidden: int = 32, seed: int = 0, samplings: int = 20) -> list[DemoRow]:
    """Build S (``hidden`` units) and its wide counterparts, and measure them
    on ``examples`` standard-normal inputs. Many samplings, because a random
    ablation of a small layer varies a lot from one permutation to another."""
    small = small_network(hidden=hidden, input_dim=hidden + 4, signal_dim=4, seed=seed)
    inputs = torch.randn(examples, hidden + 4, generator=torch.Generator().manual_seed(seed + 1))
    with torch.no_grad():
        reference = labels_of(small(inputs))
    return [_measure_one(c, inputs, reference, seed, samplings) for c in constructions(small, seed=seed)]


def _measure_one(
    construction: Construction, inputs: torch.Tensor, reference: torch.Tensor, seed: int, samplings: int
) -> DemoRow:
    model = construction.model
    wide = construction.key != "S"
    layers = ["hidden", HALF] if wide else ["hidden"]
    result = measure(
        model, inputs, layers, seed=seed, samplings=samplings, all_layers=False, device="cpu", progress=False
    )
    layer = result.layers["hidden"]
    with torch.no_grad():
        agreement = float((labels_of(model(inputs)) == reference).float().mean())
    return DemoRow(
        title=construction.title,
        expect=construction.expect,
        units=layer.channels,
        agreement=agreement,
        auc=layer.auc,
        auc_std=layer.auc_std,
        half_auc=result.layers[HALF].auc if wide else None,
        similarity=layer.similarity,
        similarity_std=layer.similarity_std,
        fraction=layer.similarity_fraction,
        dead=layer.dead,
    )


NOTES = """\
network: the hidden units, then the weights out of them; paper: what L has more of than S.
agree: fraction of inputs on which the network predicts S's label (the same function).
AUC: area under the random-ablation curve of the hidden layer (1: no label ever changes);
AUC half: the same for the added half of the layer alone.
similarity: mean number of other units with |Pearson r| >= 0.5; fraction: that / (live units - 1).
dead: units that never vary; they are left out of the similarity.

- [u,u], [w,0]: every unit has a twin, so the similarity is exactly 2 * sim(S) + 1, and the
  added half has zero outgoing weights: removing it never changes a label (its AUC is 1).
- [u,v], [w,0]: v is independent of u, so nothing new is repeated; the added half is removable.
- [u,0], [w,0]: the added units are dead: removable, and excluded from the similarity.
- [u,u], [w/2±η], η differing per class: repeated, yet removing any unit shifts each class
  by a different amount, so the labels change: repeated units need not be removable.

Random ablation removes a fraction of all units. In the [w,0] networks half of the units
matter, and removing a random fraction p of the layer removes on average the same fraction p
of them, so the whole layer's AUC matches S's: the extra removability shows in the added half."""


def render(rows: list[DemoRow], console: Console) -> None:
    table = Table(
        title="The constructions of the paper's Section 2.3: S and four networks L twice as wide, same function"
    )
    table.add_column("network", no_wrap=True)
    table.add_column("paper: more", no_wrap=True)
    for column in ("units", "agree", "AUC", "AUC half", "similarity", "fraction", "dead"):
        table.add_column(column, justify="right", no_wrap=True)
    for row in rows:
        table.add_row(
            escape(row.title),
            row.expect,
            str(row.units),
            f"{row.agreement:.3f}",
            f"{row.auc:.3f} ± {row.auc_std:.3f}",
            "-" if row.half_auc is None else f"{row.half_auc:.3f}",
            f"{row.similarity:.2f} ± {row.similarity_std:.2f}",
            f"{row.fraction:.3f}",
            str(row.dead),
        )
    console.print(table)
    console.print(NOTES, markup=False, highlight=False)
