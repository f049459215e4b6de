"""What ``frivolous compress`` would keep of a transformer's MLP blocks, for ``frivolous analyze``.

Why: analyze's ``prunable`` counts the units a layer loses at random before
0.8 of the answers change; it says whether units *could* go, not how many a
compression keeps. For a transformer, compress folds each removed MLP unit
into the kept ones (:mod:`frivolous.compression.token_compress`), and the
width it keeps at 0.99 agreement is the number a practitioner acts on. So,
where the model has MLP blocks that compress recognises
(:func:`~frivolous.compression.transformer_mlp.find_blocks`) and the
analysis probed their hidden units, analyze runs :func:`frivolous.compress`
once at :data:`AGREEMENT` on (at most :data:`EXAMPLES` of) the analysed
examples, a seeded quarter of them held out, and adds each probed layer's
``compress_keeps``: the units its block keeps (NaN for a layer that is not
an MLP's hidden units). The report then points to the command when the MLPs
could lose many units (:data:`MANY`).

Cost: compress bisects each block's width on the calibration examples, one
forward pass over them per step, so about ``blocks x (log2(units) + 2)``
passes over ``3/4 x`` :data:`EXAMPLES` examples (GPT-2 small: 12 blocks of
3,072 units, about 170 passes of 150 examples), printed before it starts;
``--no-compress-hint`` skips it.
"""

from __future__ import annotations

import math
import shlex
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch
from torch import nn

from frivolous.compression import CompressionError, compress
from frivolous.compression.api import gather
from frivolous.compression.named import padded
from frivolous.compression.result import Compressed
from frivolous.compression.transformer_mlp import MlpBlock, elementwise, find_blocks
from frivolous.measuring.collapse import ONE_CLASS_SHARE
from frivolous.sources.base import DataSource, ModelSource

AGREEMENT = 0.99
"""The agreement with the original that compress keeps (its command's default)."""
EXAMPLES = 200
"""The analysed examples compress runs on, at most (the first ones: the analysed examples are a seeded draw)."""
MANY = 0.8
"""The MLPs have many prunable units when compress keeps at most this share of their units."""
HELD_OUT_FLOOR = 0.95
"""The report points to compress only when the held-out agreement is at least this: below it the
search fitted its few calibration examples rather than the model (an untrained ViT on 12 random
images kept 43 of 768 units and agreed on 1 of 3 held-out images), and the width says nothing."""
COLUMN = "compress_keeps"
"""The per-layer column: units of the layer's MLP block that compress keeps at :data:`AGREEMENT`."""
OUT = "small/"
"""The ``--out`` of the suggested command."""


@dataclass(frozen=True)
class CompressHint:
    """What compress kept at :data:`AGREEMENT`: ``kept`` and ``units`` of each
    probed layer's block (keyed by the probed layer), the MLP units and
    parameters of all blocks before and after, the held-out agreement (on
    ``held_out`` examples; a language model's on ``positions`` next tokens),
    perplexity where it is a causal language model, the ``examples`` it ran
    on, its ``seconds``, and the ``command`` that compresses the model.
    ``telling``: whether the agreement says anything: not where the data is
    noise, nor where the original gives one label to nearly every held-out
    example (any network answering it agrees), and then the report points nowhere."""

    kept: dict[str, int]
    units: dict[str, int]
    units_before: int
    units_after: int
    params_before: int
    params_after: int
    agreement: float
    held_out: int
    positions: int | None
    perplexity_before: float | None
    perplexity_after: float | None
    examples: int
    seconds: float
    command: str
    telling: bool = True

    @property
    def kept_share(self) -> float:
        """The share of the MLP units (of every block) compress keeps."""
        return self.units_after / max(self.units_before, 1)

    @property
    def many(self) -> bool:
        """Whether the MLPs have many prunable units: compress keeps at most :data:`MANY` of them."""
        return self.kept_share <= MANY

    def judged(self) -> str:
        """What the agreement was measured on: ``next-token agreement`` or ``top-1 agreement``."""
        return "next-token agreement" if self.positions is not None else "top-1 agreement"

    def line(self) -> str:
        """The summary's line: units and parameters before -> after, and the held-out agreement."""
        on = f"{self.positions} next tokens of {self.held_out}" if self.positions is not None else f"{self.held_out}"
        text = (
            f"MLP units {self.units_before:,} -> {self.units_after:,} ({self.kept_share:.0%} kept), "
            f"MLP parameters {self.params_before:,} -> {self.params_after:,}; held-out {self.judged()} "
            f"{self.agreement:.4f} on {on} held-out examples"
        )
        if self.perplexity_before is not None and self.perplexity_after is not None:
            text += f", perplexity {self.perplexity_before:.3f} -> {self.perplexity_after:.3f}"
        return text

    def sentence(self) -> str:
        """The report's pointer to ``frivolous compress`` when the MLPs have many prunable units
        and the held-out agreement bears the width out (:data:`HELD_OUT_FLOOR`); "" otherwise."""
        if not (self.many and self.telling and self.agreement >= HELD_OUT_FLOOR):
            return ""
        smaller = 1 - self.params_after / max(self.params_before, 1)
        return (
            f"The MLP blocks could be ~{smaller:.0%} smaller (their units {self.units_before:,} -> "
            f"{self.units_after:,}) at {AGREEMENT:g} {self.judged()} ({self.agreement:.3f} on held-out examples), "
            f"with the removed units folded into the kept ones and no retraining: {self.command}"
        )

    def with_column(self, table: pd.DataFrame) -> pd.DataFrame:
        """``table`` with :data:`COLUMN`: the units kept in each probed layer's block (NaN elsewhere)."""
        return table.assign(**{COLUMN: [float(self.kept.get(layer, math.nan)) for layer in table["layer"]]})

    def record(self) -> dict[str, Any]:
        """What ``summary.json`` keeps of it."""
        return {
            "agreement_target": AGREEMENT,
            "kept": self.kept,
            "units": self.units,
            "mlp_units_before": self.units_before,
            "mlp_units_after": self.units_after,
            "mlp_params_before": self.params_before,
            "mlp_params_after": self.params_after,
            "held_out_agreement": self.agreement,
            "held_out_examples": self.held_out,
            "held_out_positions": self.positions,
            "perplexity_before": self.perplexity_before,
            "perplexity_after": self.perplexity_after,
            "examples": self.examples,
            "seconds": round(self.seconds, 2),
            "many": self.many,
            "telling": self.telling,
            "command": self.command,
        }


def probed_blocks(model: nn.Module, layers: Iterable[str], blocks: Sequence[MlpBlock]) -> dict[str, MlpBlock]:
    """Each probed layer that reads a block's hidden units, and its block: the
    down-projection's input probe (``...down_proj.input``, a gated MLP's
    product), or, in a block with one producer, an elementwise activation
    inside the block. A gated MLP's activation is only its gate half: not its units."""
    found = {}
    for layer in layers:
        for block in blocks:
            if layer == f"{block.consumer}.input":
                found[layer] = block
            elif (
                len(block.producers) == 1
                and layer.startswith(f"{block.name}.")
                and layer not in block.modules
                and elementwise(model.get_submodule(layer))
            ):
                found[layer] = block
    return found


def command_line(model: str, data: str | None, extra: Sequence[str] = ()) -> str:
    """``frivolous compress MODEL --data DATA ... --agreement 0.99 --out small/``, quoted for a shell."""
    words = ["frivolous", "compress", model, *(["--data", data] if data else []), *extra]
    return " ".join(shlex.quote(word) for word in words) + f" --agreement {AGREEMENT:g} --out {OUT}"


def compress_hint(
    model: ModelSource,
    data: DataSource,
    layers: Sequence[str],
    *,
    command: str | None = None,
    device: str | torch.device = "auto",
    seed: int = 0,
    progress: bool | None = None,
) -> CompressHint | None:
    """Compress ``model`` at :data:`AGREEMENT` on the first :data:`EXAMPLES`
    examples of ``data`` and say what each of the probed ``layers`` keeps;
    None when no probed layer is an MLP's hidden units, or when compress
    cannot run on these examples (said on stderr: the analysis stands without it).
    ``command``: the compress command to suggest (default: from the labels)."""
    blocks = find_blocks(model.model)
    mapped = probed_blocks(model.model, layers, blocks)
    if not mapped:
        return None
    inputs = examples_of(data)
    count = len(next(iter(inputs.values()))) if isinstance(inputs, dict) else len(inputs)
    passes = sum(math.ceil(math.log2(max(b.units, 2))) + 2 for b in blocks)
    if progress is not False:
        print(
            f"compress hint: compress at {AGREEMENT:g} agreement on {count} of the examples, {len(blocks)} MLP "
            f"blocks: ~{passes} forward passes of {count - round(count / 4)} examples (--no-compress-hint skips it)",
            file=sys.stderr,
            flush=True,
        )
    started = time.perf_counter()
    try:
        result = compress(model.model, inputs, agreement=AGREEMENT, device=device, seed=seed, progress=progress)
    except (CompressionError, ValueError, TypeError, RuntimeError) as error:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        print(f"compress hint skipped: {reason}", file=sys.stderr, flush=True)
        return None
    telling = not data.meaningless and result.one_class_share < ONE_CLASS_SHARE
    command = command or command_line(model.label, data.label)
    return _hint(result, mapped, count, time.perf_counter() - started, command, telling)


def examples_of(data: DataSource) -> torch.Tensor | dict[str, torch.Tensor]:
    """The first :data:`EXAMPLES` examples of ``data`` as compress takes them: one
    tensor, or, for token ids of several lengths, right-padded ids and their
    ``attention_mask`` (padding is never a sample)."""
    inputs = data.inputs
    if data.positions_vary:
        ids, mask = padded(_first_batches(inputs))
        return {"input_ids": ids[:EXAMPLES], "attention_mask": mask[:EXAMPLES]}
    if not isinstance(inputs, torch.Tensor):
        inputs, _ = gather(_first_batches(inputs))
    return inputs[:EXAMPLES]


def _first_batches(data: Any) -> list[Any]:
    """Batches of ``data`` until they hold :data:`EXAMPLES` examples (a loader's later batches are never read)."""
    batches, count = [], 0
    for batch in data:
        batches.append(batch)
        first = batch[0] if isinstance(batch, (tuple, list)) else batch
        count += len(first)
        if count >= EXAMPLES:
            break
    return batches


def _hint(
    result: Compressed, mapped: dict[str, MlpBlock], examples: int, seconds: float, command: str, telling: bool
) -> CompressHint:
    widths = {name: int(kept) for name, kept in result.widths.items()}
    return CompressHint(
        kept={layer: widths[block.name] for layer, block in mapped.items()},
        units={layer: block.units for layer, block in mapped.items()},
        units_before=int(result.layers["units_before"].sum()),
        units_after=sum(widths.values()),
        params_before=result.mlp_params_before or 0,
        params_after=result.mlp_params_after or 0,
        agreement=result.agreement,
        held_out=result.held_out_examples,
        positions=result.held_out_positions,
        perplexity_before=result.perplexity_before,
        perplexity_after=result.perplexity_after,
        examples=examples,
        seconds=seconds,
        command=command,
        telling=telling,
    )
