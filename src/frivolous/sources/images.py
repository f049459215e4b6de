"""``imagefolder:PATH``: images in class folders (``PATH/<class>/<image>``), as torchvision reads them.

Each image goes through the model's own preprocessing (the weights'
transforms: see :class:`~frivolous.sources.base.ModelSource`). A model with
none (your own factory, an untrained builder without metadata) gets the
images resized and centre-cropped to its input size when that is known
(224 pixels square otherwise), as tensors in [0, 1] with no normalisation:
give a tensor file for anything else. The class folders are the labels of a
class-stratified sample when not every image is measured.
"""

from __future__ import annotations

from pathlib import Path

import torch

from frivolous.sources.base import DataRequest, DataSource, SourceError, one_line
from frivolous.sources.selection import dataset_examples

DEFAULT_SIDE = 224


def resolve(request: DataRequest) -> DataSource:
    from torchvision import datasets, transforms  # imported here: seconds to import

    folder = Path(request.argument).expanduser()
    if not folder.is_dir():
        raise SourceError(f"imagefolder:{request.argument}: {folder} is not a folder (expected PATH/<class>/<image>)")
    preprocess = request.model.preprocess
    note = "the model's own preprocessing"
    if preprocess is None:
        shape = request.model.input_shape
        size = tuple(shape[-2:]) if shape is not None and len(shape) == 3 else (DEFAULT_SIDE, DEFAULT_SIDE)
        preprocess = transforms.Compose(
            [transforms.Resize(min(size)), transforms.CenterCrop(size), transforms.ToTensor()]
        )
        note = f"resized and cropped to {size[0]}x{size[1]}, in [0, 1], not normalised (the model has no metadata)"
    try:
        dataset = datasets.ImageFolder(str(folder), transform=preprocess)
    except (FileNotFoundError, OSError) as error:
        raise SourceError(f"imagefolder:{request.argument}: {one_line(error)}") from None
    labels = torch.as_tensor(dataset.targets, dtype=torch.long)
    loader = dataset_examples(dataset, request.examples, labels, request.seed)
    count = len(loader.dataset)  # type: ignore[arg-type]
    return DataSource(
        inputs=loader,
        label=f"imagefolder:{request.argument}",
        description=f"{count} of {len(dataset)} images in {len(dataset.classes)} class folders of {folder}; {note}",
        examples=count,
    )
