"""Text for transformers models: a text file (``FILE.txt`` or ``text:FILE``), tokenised by the model's tokenizer.

For a causal language model the whole file is one stream of tokens, cut
into windows of :data:`WINDOW` tokens (fewer if the model's positions are
fewer): every window has the same length, so nothing is padded, and every
position of every window is a prediction (its next token). For a sequence
classifier each non-empty line is one example, cut at :data:`WINDOW`
tokens; lines are grouped into batches of one length each, so that no
sequence is padded and no padding ever counts as a sample (the layers are
then measured with channel units: a hidden feature is one unit).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from frivolous.sources.base import CAUSAL_LM, DataRequest, DataSource, ModelSource, SourceError
from frivolous.sources.selection import chosen

TEXT_SUFFIXES = (".txt",)
WINDOW = 128
"""Tokens per example (a causal LM's window; the cut of a classifier's line)."""
BATCH = 32
"""Sequences per batch of one length."""


class Batches:
    """Batches of token ids, each of its own length, that can be read again and again.

    Not a list: :func:`frivolous.measuring` would read a list of two batches of
    one size as an ``(inputs, labels)`` pair."""

    def __init__(self, batches: list[torch.Tensor]) -> None:
        self._batches = tuple(batches)

    def __iter__(self) -> Iterator[torch.Tensor]:
        return iter(self._batches)

    def __len__(self) -> int:
        return len(self._batches)


def resolve(request: DataRequest) -> DataSource:
    path = Path(request.argument).expanduser()
    if not path.is_file():
        raise SourceError(f"text file {path} does not exist")
    tokenizer = require_tokenizer(request.model, str(path))
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not lines:
        raise SourceError(f"text file {path} holds no text")
    if request.model.task != CAUSAL_LM:
        return token_data(lines, request, f"lines of {path}", label=path.name)
    length = window(request.model)
    stream = [token for ids in tokenizer(lines, add_special_tokens=False)["input_ids"] for token in ids]
    if len(stream) < length:
        raise SourceError(f"text file {path} holds {len(stream)} tokens, fewer than one window of {length}")
    windows = torch.tensor(stream[: len(stream) // length * length]).view(-1, length)
    index = chosen(len(windows), request.examples, None, request.seed)
    picked = windows if index is None else windows[index]
    return DataSource(
        inputs=picked,
        label=path.name,
        description=f"{len(picked)} of the {len(windows)} windows of "
        f"{length} tokens of {path} ({picked.numel()} next-token predictions)",
        examples=len(picked),
    )


def require_tokenizer(model: ModelSource, data: str) -> Any:
    if model.tokenizer is None:
        raise SourceError(
            f"text data {data} needs a tokenizer, and model {model.label} has none: save its tokenizer "
            "beside its config (tokenizer.save_pretrained)"
        )
    return model.tokenizer


def window(model: ModelSource) -> int:
    return min(WINDOW, model.input_shape[0]) if model.input_shape else WINDOW


def token_data(
    texts: list[str], request: DataRequest, what: str, label: str, labels: torch.Tensor | None = None
) -> DataSource:
    """One example per text, cut at the model's window, in batches of one length each (nothing padded)."""
    tokenizer = require_tokenizer(request.model, label)
    index = chosen(len(texts), request.examples, labels, request.seed)
    picked = texts if index is None else [texts[i] for i in index.tolist()]
    ids = tokenizer(picked, truncation=True, max_length=window(request.model))["input_ids"]
    by_length: defaultdict[int, list[list[int]]] = defaultdict(list)
    for sequence in ids:
        by_length[len(sequence)].append(sequence)
    batches = [
        torch.tensor(group[start : start + BATCH])
        for _, group in sorted(by_length.items())
        for start in range(0, len(group), BATCH)
    ]
    tokens = sum(len(sequence) for sequence in ids)
    return DataSource(
        inputs=Batches(batches),
        label=label,
        description=f"{len(ids)} {what}, {tokens} tokens in {len(batches)} batches of one length each (no padding)",
        examples=len(ids),
        positions_vary=len(by_length) > 1,
    )
