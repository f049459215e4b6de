"""ImageNet (ILSVRC-2012) from an ImageFolder tree: ``root/train/<class>/*`` and
``root/val/<class>/*``, read image by image through torchvision.

The splits are torch Datasets with the standard transforms: for training a
RandomResizedCrop and a horizontal flip, for evaluation a resize to 256/224 of
the image size and a center crop; then ImageNet's mean and std. The official
validation set is the paper's test set, as usual. ImageNet has no held-out
split of its own: the bundle's ``val`` is ``None`` unless ``root/holdout/<class>/*``
exists (for example images moved out of ``train``), which is then used with
the evaluation transforms.

``seed`` is accepted for the common interface and does not change the data:
the random crops and flips draw from torch's generator in the DataLoader's
workers, which the training loop seeds.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import Subset

from frivolous.common import seeding
from frivolous.data import loader_checks as checks
from frivolous.data.bundle import DataBundle
from frivolous.data.paths import data_root

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
RESIZE_RATIO = 256 / 224
"""Evaluation resizes the short side to this times the crop (256 for 224, 342 for 299)."""
LAYOUT = "root/train/<class>/<image> and root/val/<class>/<image>, the same class folders in both"
HOW_TO_GET = (
    "frivolous never downloads data. Get ILSVRC-2012 from https://image-net.org/ (an account "
    "is needed), extract the training archive into train/ (one folder per class) and reorganise "
    "the flat validation images into val/<class>/ folders (for example with the widely used "
    "valprep.sh script); then pass root= or put it at $FRIVOLOUS_DATA/imagenet"
)


def load(
    *,
    seed: int = 0,
    root: str | Path | None = None,
    image_size: int = 224,
    augment: bool = True,
    n_train: int | None = None,
) -> DataBundle:
    """ImageNet at ``image_size`` (224; 299 for Inception-v3) from ``root``
    (default ``data_root() / "imagenet"``); ``augment=False`` gives the training
    split the evaluation transforms. ``n_train`` keeps a random subset (drawn
    from ``seed``) of that many training images, for quick runs; the random
    crops draw from the DataLoader's seeded generators (module docstring)."""
    image_size = checks.count("image_size", image_size, 1)
    folder = Path(data_root() / "imagenet" if root is None else root).expanduser()
    missing = [str(folder / split) for split in ("train", "val") if not (folder / split).is_dir()]
    if missing:
        raise FileNotFoundError(f"ImageNet not found: missing {missing}. Expected {LAYOUT}. {HOW_TO_GET}")
    # Imported here: torchvision takes seconds to import, and only this data source needs it.
    from torchvision import datasets, transforms

    normalise = [transforms.ToTensor(), transforms.Normalize(MEAN, STD)]
    evaluation = transforms.Compose(
        [transforms.Resize(round(image_size * RESIZE_RATIO)), transforms.CenterCrop(image_size), *normalise]
    )
    training = transforms.Compose(
        [transforms.RandomResizedCrop(image_size), transforms.RandomHorizontalFlip(), *normalise]
    )
    train = datasets.ImageFolder(folder / "train", training if augment else evaluation)
    test = datasets.ImageFolder(folder / "val", evaluation)
    holdout = datasets.ImageFolder(folder / "holdout", evaluation) if (folder / "holdout").is_dir() else None
    for split, dataset in (("val", test), ("holdout", holdout)):
        if dataset is not None and dataset.classes != train.classes:
            only_train = sorted(set(train.classes) - set(dataset.classes))
            only_split = sorted(set(dataset.classes) - set(train.classes))
            raise ValueError(
                f"{folder / split} and {folder / 'train'} must hold the same class folders; "
                f"only in train: {only_train[:10]}, only in {split}: {only_split[:10]} (at most 10 shown)"
            )
    if n_train is not None and checks.count("n_train", n_train, 1) < len(train):
        chosen = torch.randperm(len(train), generator=seeding.generator(seed, "imagenet", "subset"))[:n_train]
        train = Subset(train, sorted(chosen.tolist()))
    return DataBundle(
        name="imagenet",
        train=train,
        val=holdout,
        test=test,
        num_classes=len(train.classes),
        input_shape=(3, image_size, image_size),
    )
