"""``torchvision:NAME[:WEIGHTS]``: a torchvision classification model.

``WEIGHTS`` is a member of the builder's weights enum (``DEFAULT``,
``IMAGENET1K_V1``, ... or the full ``ResNet18_Weights.IMAGENET1K_V1``);
without it the model is built untrained (``weights=None``). Pretrained
weights come through torchvision's own cache (``$TORCH_HOME/hub/checkpoints``,
see :func:`torch.hub.get_dir`); a missing file is downloaded if the network
allows, and otherwise the error says which file to put where.

Security: torchvision unpickles that file with ``torch.load(weights_only=False)``.
So the file is first checked against the sha256 prefix that torchvision
writes into every weights file's name (``resnet18-f37072fd.pth``), as
``torch.hub`` checks a download; a file that does not match is refused unread.

The preprocessing is the weights' own (``weights.transforms()``: resize,
centre crop, ImageNet mean and std); an untrained model gets that of the
builder's default weights, scaled to ``image_size`` when the builder takes
one (ViT), so that images reach it at the size it was designed for.
"""

from __future__ import annotations

import hashlib
import os
import re
from enum import Enum
from pathlib import Path
from urllib.parse import urlparse

import torch

from frivolous.sources.base import ModelRequest, ModelSource, SourceError, closest, one_line


def resolve(request: ModelRequest) -> ModelSource:
    from torchvision import models  # imported here: seconds to import, and only this scheme needs it

    name, _, weights_name = request.argument.partition(":")
    available = models.list_models(module=models)
    if name not in available:
        raise SourceError(
            f"unknown torchvision model {name!r}{closest(name, available)}; "
            f"torchvision has {len(available)} classification models: {', '.join(available)}"
        )
    enum = models.get_model_weights(name)
    weights = _weights(enum, weights_name, name) if weights_name else None
    if weights is not None:
        _ensure_cached(weights)
    try:
        model = models.get_model(name, weights=weights, **request.options)
    except (TypeError, ValueError) as error:
        raise SourceError(f"torchvision model {name} with {dict(request.options)}: {one_line(error)}") from None
    meta = weights or (enum.DEFAULT if hasattr(enum, "DEFAULT") else None)
    preprocess, shape = _preprocess(meta, request.options.get("image_size"))
    described = f"torchvision {name}, " + (f"weights {weights}" if weights else "untrained (weights=None)")
    return ModelSource(
        model=model,
        label=f"torchvision:{request.argument}",
        description=described,
        preprocess=preprocess,
        input_shape=shape,
        categories=tuple(weights.meta.get("categories", ())) if weights else (),
    )


def _weights(enum: type[Enum], text: str, model: str):
    member = text.rpartition(".")[2]
    choices = list(enum.__members__)
    if member not in enum.__members__:
        raise SourceError(
            f"unknown weights {text!r} for torchvision {model}{closest(member, choices)}; "
            f"choose one of {', '.join(choices)}"
        )
    return enum[member]


def cached_file(weights) -> Path:
    """Where torchvision keeps (or would keep) the file of ``weights``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(weights.url).path)


HASH_IN_NAME = re.compile(r"-([a-f0-9]+)\.")
"""The sha256 prefix in a torchvision weights file's name (as ``torch.hub.HASH_REGEX``)."""


def _ensure_cached(weights) -> None:
    path = cached_file(weights)
    found = HASH_IN_NAME.search(path.name)
    if found is None:
        raise SourceError(f"cannot verify torchvision weights {weights}: no checksum in the file name {path.name}")
    expected = found.group(1)
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            torch.hub.download_url_to_file(weights.url, str(path), expected, progress=True)
        except Exception as error:
            raise SourceError(
                f"torchvision weights {weights} are not in torch's cache and cannot be downloaded here "
                f"({one_line(error)}): download {weights.url} and put it at {path}"
            ) from None
    actual = _sha256(path)
    if not actual.startswith(expected):
        raise SourceError(
            f"{path} is not the file of torchvision weights {weights} (sha256 {actual[:12]}..., "
            f"expected {expected}...): refusing to unpickle it; delete it and download "
            f"{weights.url} again"
        )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _preprocess(weights, image_size: int | None):
    if weights is None:
        return None, None
    preprocess = weights.transforms()
    if image_size is not None:
        ratio = preprocess.resize_size[0] / preprocess.crop_size[0]
        preprocess = weights.transforms(crop_size=image_size, resize_size=round(image_size * ratio))
    crop = preprocess.crop_size[0]
    return preprocess, (3, crop, crop)
