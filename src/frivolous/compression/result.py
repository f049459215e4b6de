"""What a compression returns: the smaller network and what it cost (:class:`Compressed`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from torch import nn

from frivolous.measuring.collapse import ONE_CLASS_SHARE

RATIO_SLACK = 1.1
"""A ``ratio`` target counts as unmet when what compress shrinks (the network's
parameters; a transformer's MLP parameters) has fewer than ``ratio / RATIO_SLACK``
times fewer parameters (a share of units rounds to whole units per layer, so a
ratio is met only about)."""


def ratio_unmet(ratio: float | None, before: int, after: int) -> bool:
    """Whether a ``ratio`` target was missed by more than :data:`RATIO_SLACK` (False without one)."""
    return ratio is not None and before / max(after, 1) < ratio / RATIO_SLACK


@dataclass(frozen=True)
class Compressed:
    """A compressed network and what it cost.

    ``agreement``: fraction of held-out examples whose top-1 label equals the
    original network's (a language model's: held-out token positions whose
    next-token prediction, the argmax of the logits, equals the original's;
    ``held_out_positions`` counts them); ``accuracy_before``/``accuracy_after``:
    top-1 accuracy on them when labels were given (else None);
    ``perplexity_before``/``perplexity_after``: a causal language model's
    held-out perplexity (else None); ``mlp_params_before``/``mlp_params_after``:
    a transformer's MLP parameters, the ones compress shrinks (else None).
    ``layers``: one row per group of units (``layer`` names its first producer;
    a transformer's MLP block, the module holding its producers): ``units_before``,
    ``units_after``, the modules involved and, for a group kept whole, why."""

    model: nn.Module
    agreement: float
    params_before: int
    params_after: int
    macs_before: int
    macs_after: int
    layers: pd.DataFrame
    calibration_agreement: float
    held_out_examples: int
    accuracy_before: float | None = None
    accuracy_after: float | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    one_class_share: float = 0.0
    """The share of held-out examples to which the original gives its most
    common label: from :data:`~frivolous.measuring.collapse.ONE_CLASS_SHARE` on,
    any network that answers that label agrees with it, and :meth:`summary` warns."""
    held_out_positions: int | None = None
    perplexity_before: float | None = None
    perplexity_after: float | None = None
    mlp_params_before: int | None = None
    mlp_params_after: int | None = None

    @property
    def widths(self) -> dict[str, int]:
        """Units kept per group (its ``layer`` name)."""
        return dict(zip(self.layers["layer"], self.layers["units_after"].astype(int)))

    def summary(self) -> str:
        """Parameters, multiply-adds, agreement and accuracy (or perplexity), before -> after."""
        lines = [
            f"parameters      {self.params_before:,} -> {self.params_after:,} "
            f"({self.params_before / max(self.params_after, 1):.2f}x fewer)",
        ]
        if self.mlp_params_before is not None and self.mlp_params_after is not None:
            lines.append(
                f"MLP parameters  {self.mlp_params_before:,} -> {self.mlp_params_after:,} "
                f"({self.mlp_params_before / max(self.mlp_params_after, 1):.2f}x fewer)"
            )
        judged = (
            f"{self.held_out_positions} held-out token positions of {self.held_out_examples} examples"
            if self.held_out_positions is not None
            else f"{self.held_out_examples} held-out examples"
        )
        lines += [
            f"multiply-adds   {self.macs_before:,} -> {self.macs_after:,} "
            f"({self.macs_before / max(self.macs_after, 1):.2f}x fewer)",
            f"agreement       {self.agreement:.4f} on {judged} (calibration {self.calibration_agreement:.4f})",
        ]
        if self.accuracy_before is not None and self.accuracy_after is not None:
            lines.append(f"accuracy        {self.accuracy_before:.4f} -> {self.accuracy_after:.4f}")
        if self.perplexity_before is not None and self.perplexity_after is not None:
            lines.append(f"perplexity      {self.perplexity_before:.3f} -> {self.perplexity_after:.3f} (held out)")
        if self.one_class_share >= ONE_CLASS_SHARE:
            lines.append(
                f"warning: the original gives one label to {self.one_class_share:.1%} of the held-out "
                "examples, so any network answering that label agrees with it: the agreement says nothing "
                "about which units it needs (untrained, or collapsed?)"
            )
        return "\n".join(lines)
