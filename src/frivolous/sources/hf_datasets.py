"""``hf-dataset:NAME[:SPLIT]``: a Hugging Face dataset from a folder or the local cache (``frivolous[hf]``).

``NAME`` is a folder written by ``Dataset.save_to_disk`` or a dataset name
that ``datasets.load_dataset`` finds in its cache (set ``HF_HUB_OFFLINE=1``
to make sure the network is never asked). ``SPLIT`` defaults to ``test``,
else ``validation``, else the first split. The inputs are the first column
among :data:`IMAGE_COLUMNS` (images, through the model's preprocessing) or
:data:`TEXT_COLUMNS` (text, through the model's tokenizer, one example per
row: see :mod:`frivolous.sources.text`); the labels, if a column of
:data:`LABEL_COLUMNS` holds them, draw a class-stratified sample.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from frivolous.sources.base import DataRequest, DataSource, SourceError, one_line
from frivolous.sources.selection import dataset_examples
from frivolous.sources.text import token_data

IMAGE_COLUMNS = ("image", "img", "pixel_values")
TEXT_COLUMNS = ("text", "sentence", "content", "review", "document")
LABEL_COLUMNS = ("label", "labels", "fine_label", "coarse_label")
SPLITS = ("test", "validation")


def resolve(request: DataRequest) -> DataSource:
    try:
        import datasets
    except ImportError:
        raise SourceError("hf-dataset:NAME needs the datasets package: pip install 'frivolous[hf]'") from None
    name, _, split = request.argument.partition(":")
    table = _split(_load(datasets, name, split or None), name, split)
    label_column = next((c for c in LABEL_COLUMNS if c in table.column_names), None)
    labels = torch.as_tensor(table[label_column]).long() if label_column else None
    label = f"hf-dataset:{request.argument}"
    if text := next((c for c in TEXT_COLUMNS if c in table.column_names), None):
        return token_data(list(table[text]), request, f"rows of {label} (column {text!r})", label, labels)
    image = next((c for c in IMAGE_COLUMNS if c in table.column_names), None)
    if image is None:
        raise SourceError(
            f"{label} has columns {table.column_names}; none holds images {list(IMAGE_COLUMNS)} or "
            f"text {list(TEXT_COLUMNS)}"
        )
    if request.model.preprocess is None:
        raise SourceError(
            f"{label} holds images, and model {request.model.label} says no preprocessing for them; "
            "give the inputs as a tensor file instead"
        )
    loader = dataset_examples(Images(table, image, request.model.preprocess), request.examples, labels, request.seed)
    count = len(loader.dataset)  # type: ignore[arg-type]
    return DataSource(
        inputs=loader,
        label=label,
        description=f"{count} of the {len(table)} images of {label} "
        f"(column {image!r}), with the model's own preprocessing",
        examples=count,
    )


class Images(Dataset):
    """The images of one column, preprocessed as they are read."""

    def __init__(self, table: Any, column: str, preprocess: Any) -> None:
        self.table, self.column, self.preprocess = table, column, preprocess

    def __len__(self) -> int:
        return len(self.table)

    def __getitem__(self, index: int) -> torch.Tensor:
        image = self.table[index][self.column]
        return self.preprocess(image.convert("RGB") if hasattr(image, "convert") else image)


def _load(datasets: Any, name: str, split: str | None) -> Any:
    try:
        if Path(name).expanduser().is_dir():
            return datasets.load_from_disk(str(Path(name).expanduser()))
        return datasets.load_dataset(name, split=split)
    except Exception as error:
        raise SourceError(
            f"cannot load Hugging Face dataset {name!r} ({one_line(error)}); with no network it must be "
            f"a save_to_disk folder or in the datasets cache {datasets.config.HF_DATASETS_CACHE}"
        ) from None


def _split(loaded: Any, name: str, split: str) -> Any:
    if not hasattr(loaded, "keys"):  # one split already
        return loaded
    splits = list(loaded.keys())
    if split:
        if split not in splits:
            raise SourceError(f"Hugging Face dataset {name!r} has no split {split!r}; it has {splits}")
        return loaded[split]
    return loaded[next((s for s in SPLITS if s in splits), splits[0])]
