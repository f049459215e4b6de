"""A transformer's calibration data: batches of inputs whose samples are (example, token position) pairs.

A transformer's MLP is applied at every position, so every non-padding
position of every example is one sample of its units. The data comes as a
tensor (token ids, or images), a mapping such as a tokenizer's output
(``input_ids`` with an ``attention_mask``: its zeros are padding, never
sampled nor judged), an ``(inputs, labels)`` pair, or any iterable of
those (batches may differ in length). Each is kept as a :class:`TokenBatch`;
:func:`split` holds a seeded share of the examples out. :class:`Caller`
runs the model on a batch whatever it returns (a ``ModelOutput``'s
``logits``, a tuple, a tensor) and reads its predictions: the argmax at
every counted position of a language model's logits (its next token), or
one label per example of a classifier's.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from frivolous.common.seeding import generator

MASK = "attention_mask"
NOT_INPUTS = ("labels",)
"""Keys of a mapping that are not the model's inputs."""


@dataclass(frozen=True)
class TokenBatch:
    """Keyword inputs of one forward pass (``""``: the one positional input of
    a plain module), the positions that count (``mask``, (examples, positions),
    None: all) and class labels (None: none given)."""

    inputs: dict[str, torch.Tensor]
    mask: torch.Tensor | None = None
    labels: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(next(iter(self.inputs.values())))

    def select(self, index: torch.Tensor) -> TokenBatch:
        return TokenBatch(
            {key: value[index] for key, value in self.inputs.items()},
            self.mask[index] if self.mask is not None else None,
            self.labels[index] if self.labels is not None else None,
        )

    def to(self, device: torch.device, dtype: torch.dtype | None) -> TokenBatch:
        """On ``device``; floating point inputs (images) in ``dtype``."""

        def moved(value: torch.Tensor) -> torch.Tensor:
            cast = dtype if dtype is not None and value.is_floating_point() else None
            return value.to(device=device, dtype=cast)

        return TokenBatch(
            {key: moved(value) for key, value in self.inputs.items()},
            self.mask.to(device) if self.mask is not None else None,
            self.labels,
        )


def token_batches(data: Any, keyword: str) -> list[TokenBatch]:
    """``data`` as batches; a bare tensor is passed as ``keyword`` (``""``: positionally)."""
    if isinstance(data, TokenBatch):
        return [data]
    if isinstance(data, torch.Tensor):
        return [TokenBatch({keyword: data})]
    if isinstance(data, Mapping):
        mask = data.get(MASK)
        inputs = {str(key): torch.as_tensor(value) for key, value in data.items() if key not in NOT_INPUTS}
        labels = data.get("labels")
        labels = torch.as_tensor(labels) if labels is not None and torch.as_tensor(labels).ndim == 1 else None
        return [TokenBatch(inputs, torch.as_tensor(mask).bool() if mask is not None else None, labels)]
    if _is_pair(data):
        inputs, labels = data
        return [TokenBatch({keyword: inputs}, None, labels)]
    batches = [batch for item in data for batch in token_batches(item, keyword)]
    if not batches:
        raise ValueError("data is empty: it holds no examples to compress on")
    return batches


def _is_pair(data: Any) -> bool:
    return (
        isinstance(data, (tuple, list))
        and len(data) == 2
        and all(isinstance(d, torch.Tensor) for d in data)
        and data[1].ndim == 1
        and len(data[0]) == len(data[1])
        and not data[1].is_floating_point()
    )


def split(batches: list[TokenBatch], fraction: float, seed: int) -> tuple[list[TokenBatch], list[TokenBatch]]:
    """``(calibration, held out)``: a seeded ``fraction`` of the examples held out (at least one)."""
    total = sum(len(b) for b in batches)
    order = torch.randperm(total, generator=generator(seed, "compress", "held-out"))
    held = torch.zeros(total, dtype=torch.bool)
    held[order[: max(1, round(fraction * total))]] = True
    calibration: list[TokenBatch] = []
    judged: list[TokenBatch] = []
    start = 0
    for batch in batches:
        mine = held[start : start + len(batch)]
        start += len(batch)
        for part, chosen in ((calibration, ~mine), (judged, mine)):
            if chosen.any():
                part.append(batch.select(torch.nonzero(chosen).flatten()))
    return calibration, judged


def examples(batches: list[TokenBatch]) -> int:
    return sum(len(b) for b in batches)


def chunks(batches: list[TokenBatch], size: int) -> Iterator[TokenBatch]:
    """The batches cut into batches of at most ``size`` examples."""
    for batch in batches:
        for start in range(0, len(batch), size):
            yield batch.select(torch.arange(start, min(start + size, len(batch))))


class Caller:
    """Runs ``model`` (a Hugging Face model, or any module of one input) on a
    :class:`TokenBatch` and reads what it predicts."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.causal = type(model).__name__.endswith(("ForCausalLM", "LMHeadModel"))
        """A causal language model: its perplexity is measured."""

    def logits(self, batch: TokenBatch) -> torch.Tensor:
        if "" in batch.inputs:
            output = self.model(batch.inputs[""])
        else:
            output = self.model(**batch.inputs)
        if isinstance(output, torch.Tensor):
            return output
        logits = getattr(output, "logits", None)
        if isinstance(logits, torch.Tensor):
            return logits
        if isinstance(output, (tuple, list)) and isinstance(output[0], torch.Tensor):
            return output[0]
        raise TypeError(f"cannot read logits from the model's output, a {type(output).__name__}")

    @staticmethod
    def predictions(logits: torch.Tensor, batch: TokenBatch) -> torch.Tensor:
        """The argmax at every counted position of ``(examples, positions, classes)``
        logits (flattened), or of every example's ``(examples, classes)`` logits."""
        labels = logits.argmax(-1)
        if labels.ndim == 2 and batch.mask is not None:
            return labels[batch.mask.to(labels.device)]
        return labels.flatten()

    def losses(self, logits: torch.Tensor, batch: TokenBatch) -> tuple[float, int]:
        """A causal language model's summed next-token negative log-likelihood
        over the positions whose token and next token both count, and their number."""
        ids = batch.inputs["input_ids"]
        counted = batch.mask if batch.mask is not None else torch.ones_like(ids, dtype=torch.bool)
        pairs = (counted[:, :-1] & counted[:, 1:]).to(logits.device)
        predicted, targets = logits[:, :-1][pairs].double(), ids[:, 1:].to(logits.device)[pairs]
        return float(F.cross_entropy(predicted, targets, reduction="sum")), int(pairs.sum())
