"""CIFAR-10 from the python-pickle files that torchvision and the dataset's
authors distribute (``cifar-10-batches-py/``), read without any download.

Security: the files are pickles, and unpickling runs whatever a pickle asks.
So each file's bytes are read once, their md5 is checked against the known
checksum (torchvision's table), and only then are those same bytes unpickled,
by an unpickler that allows only the globals these files need (see
:class:`CifarUnpickler`). A file that does not match is refused unread.

Splits: the paper's 45,000 train / 5,000 validation / 10,000 test. The
validation split is the last ``n_val`` examples of the training files,
whatever the seed. Inputs are standardised per channel with the training
split's mean and std.
"""

from __future__ import annotations

import hashlib
import io
import pickle
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

import numpy as np
import torch
import torch.nn.functional as F

from frivolous.common import seeding
from frivolous.data import loader_checks as checks
from frivolous.data.bundle import DataBundle, TensorSplit
from frivolous.data.paths import data_root

try:  # numpy >= 2
    from numpy._core.multiarray import _reconstruct
except ImportError:  # numpy 1.x
    from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]  # same function, numpy 1.x path

FOLDER = "cifar-10-batches-py"
TRAIN_FILES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5")
TEST_FILE = "test_batch"
META_FILE = "batches.meta"
MD5 = MappingProxyType(
    {
        "data_batch_1": "c99cafc152244af753f735de768cd75f",
        "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
        "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
        "data_batch_4": "634d18415352ddfa80567beed471001a",
        "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
        "test_batch": "40351d587109b95175f43aff81a1287e",
        "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
    }
)
"""The md5 of each original file, as in torchvision.datasets.CIFAR10."""
URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CHANNELS, SIDE = 3, 32
PAD = 4


def load(
    *,
    seed: int = 0,
    root: str | Path | None = None,
    n_val: int = 5000,
    n_train: int | None = None,
    augment: bool = False,
    random_labels: bool = False,
    checksums: Mapping[str, str] | None = None,
) -> DataBundle:
    """CIFAR-10 from ``root/cifar-10-batches-py`` (``root`` defaults to
    :func:`~frivolous.data.paths.data_root`).

    ``augment`` gives the bundle :func:`crop_and_flip`. ``random_labels``
    replaces the train and validation labels by uniform random ones drawn from
    ``seed`` (test labels stay true), as in Zhang et al. (2017). ``n_train``
    keeps only the first that many training examples (for quick runs; the
    validation split is unchanged). ``checksums``
    replaces the table of the original files' md5s, for CIFAR-format files you
    made yourself; it must name every file."""
    n_val = checks.count("n_val", n_val)
    folder = Path(data_root() if root is None else root).expanduser() / FOLDER
    expected = _expected_checksums(checksums)
    _require_files(folder)
    num_classes = len(_label_names(folder / META_FILE, expected[META_FILE]))
    images, labels = _read_batches(folder, TRAIN_FILES, expected, num_classes)
    test_images, test_labels = _read_batches(folder, (TEST_FILE,), expected, num_classes)
    if n_val >= len(labels):
        raise ValueError(f"n_val={n_val} must be smaller than the {len(labels)} training examples")
    if random_labels:
        rng = seeding.generator(seed, "cifar10", "random labels")
        labels = torch.randint(num_classes, labels.shape, generator=rng)
    available = len(labels) - n_val
    used = available if n_train is None else min(checks.count("n_train", n_train, 1), available)
    mean, std = _channel_stats(images[:used])
    inputs, test_inputs = _standardised(images, mean, std), _standardised(test_images, mean, std)
    return DataBundle(
        name="cifar10",
        train=TensorSplit(inputs[:used], labels[:used]),
        val=TensorSplit(inputs[available:], labels[available:]) if n_val else None,
        test=TensorSplit(test_inputs, test_labels),
        num_classes=num_classes,
        input_shape=(CHANNELS, SIDE, SIDE),
        augment=crop_and_flip if augment else None,
    )


def crop_and_flip(inputs: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A random crop of each image from the image zero-padded by 4 pixels, flipped
    left-right with probability 1/2 (the usual CIFAR augmentation).

    The padding is zeros of the standardised inputs, i.e. the training mean
    colour. One batched gather on the inputs' device; the offsets and flips are
    drawn on the generator's device (a CPU generator may serve a CUDA batch)."""
    batch, _, height, width = inputs.shape
    device = generator.device
    rows = torch.randint(2 * PAD + 1, (batch, 1), generator=generator, device=device).to(inputs.device)
    cols = torch.randint(2 * PAD + 1, (batch, 1), generator=generator, device=device).to(inputs.device)
    flip = torch.randint(2, (batch, 1), generator=generator, device=device).to(inputs.device).bool()
    across = torch.arange(width, device=inputs.device)
    cols = cols + torch.where(flip, width - 1 - across, across)
    rows = rows + torch.arange(height, device=inputs.device)
    padded = F.pad(inputs, (PAD, PAD, PAD, PAD))
    examples = torch.arange(batch, device=inputs.device)[:, None, None]
    # Advanced indices around a slice put their dims first: (batch, height, width, channels).
    return padded[examples, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2).contiguous()


def _latin1_encode(text: str, encoding: str) -> bytes:
    """``_codecs.encode`` restricted to the one use pickle makes of it."""
    if encoding != "latin1":
        raise pickle.UnpicklingError(f"refusing _codecs.encode with codec {encoding!r} (only latin1)")
    return text.encode("latin1")


class CifarUnpickler(pickle.Unpickler):
    """An unpickler that builds only what CIFAR-10 files contain: dicts, lists,
    numbers, strings, bytes and numpy arrays.

    Allowed globals: ``numpy.ndarray``, ``numpy.dtype`` and numpy's array
    ``_reconstruct`` (how numpy pickles an array, under its 1.x and 2.x module
    names), and ``_codecs.encode`` with the ``latin1`` codec only (how Python 3
    writes ``bytes`` at pickle protocol 2). Any other global is refused.
    Python 2 strings (the original files' keys) are read as bytes, as in the
    dataset authors' own loading snippet."""

    ALLOWED = MappingProxyType(
        {
            ("numpy", "ndarray"): np.ndarray,
            ("numpy", "dtype"): np.dtype,
            ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
            ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
            ("_codecs", "encode"): _latin1_encode,
        }
    )

    def __init__(self, file: io.BufferedIOBase, source: str) -> None:
        super().__init__(file, encoding="bytes")
        self.source = source

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in self.ALLOWED:
            allowed = sorted(".".join(key) for key in self.ALLOWED)
            raise pickle.UnpicklingError(
                f"{self.source}: refusing to load the global {module}.{name}; a CIFAR-10 file needs only {allowed}"
            )
        return self.ALLOWED[module, name]


def read_verified(path: Path, md5: str) -> object:
    """Unpickle ``path`` with :class:`CifarUnpickler` if its md5 is ``md5``; a
    ValueError naming the file and both checksums, before any unpickling, if not."""
    data = path.read_bytes()
    actual = hashlib.md5(data, usedforsecurity=False).hexdigest()
    if actual != md5.lower():
        raise ValueError(
            f"{path}: md5 is {actual}, expected {md5}; refusing to unpickle a file "
            "that is not the known CIFAR-10 file (re-download or re-extract it)"
        )
    return CifarUnpickler(io.BytesIO(data), source=str(path)).load()


def _expected_checksums(checksums: Mapping[str, str] | None) -> Mapping[str, str]:
    if checksums is None:
        return MD5
    missing, unknown = sorted(set(MD5) - set(checksums)), sorted(set(checksums) - set(MD5))
    if missing or unknown:
        raise ValueError(
            f"checksums must give the md5 of exactly the files {sorted(MD5)}; missing: {missing}, unknown: {unknown}"
        )
    return checksums


def _require_files(folder: Path) -> None:
    missing = [name for name in MD5 if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"CIFAR-10 not found: expected the files {list(MD5)} in {folder} "
            f"(missing: {missing}). frivolous never downloads data. Download {URL} and "
            f"extract it in {folder.parent} (it unpacks to {FOLDER}/), or run "
            f"torchvision.datasets.CIFAR10(root, download=True) on a machine with network "
            f"access and copy its {FOLDER}/ into {folder.parent}; or pass root= or set $FRIVOLOUS_DATA to the "
            f"folder that holds {FOLDER}/"
        )


def _label_names(path: Path, md5: str) -> list[bytes]:
    meta = read_verified(path, md5)
    if not isinstance(meta, dict) or not isinstance(meta.get(b"label_names"), list):
        raise ValueError(f"{path}: expected a dict whose b'label_names' is a list of class names")
    return meta[b"label_names"]


def _read_batches(
    folder: Path, names: tuple[str, ...], expected: Mapping[str, str], num_classes: int
) -> tuple[np.ndarray, torch.Tensor]:
    """The images (N, 3, 32, 32) uint8 and int64 labels of the files ``names``, in order."""
    images, labels = [], []
    for name in names:
        batch = read_verified(folder / name, expected[name])
        if not isinstance(batch, dict) or not {b"data", b"labels"} <= batch.keys():
            found = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
            raise ValueError(f"{folder / name}: expected a dict with b'data' and b'labels', found {found}")
        data, batch_labels = np.asarray(batch[b"data"]), np.asarray(batch[b"labels"], dtype=np.int64)
        if data.dtype != np.uint8 or data.shape != (len(batch_labels), CHANNELS * SIDE * SIDE):
            raise ValueError(
                f"{folder / name}: b'data' must be uint8 of shape ({len(batch_labels)}, "
                f"{CHANNELS * SIDE * SIDE}), found {data.dtype} of shape {data.shape}"
            )
        if len(batch_labels) and not 0 <= batch_labels.min() <= batch_labels.max() < num_classes:
            raise ValueError(f"{folder / name}: labels must be in [0, {num_classes})")
        images.append(data.reshape(-1, CHANNELS, SIDE, SIDE))
        labels.append(batch_labels)
    return np.concatenate(images), torch.from_numpy(np.concatenate(labels))


def _channel_stats(images: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std of uint8 images, exact: from a histogram of the 256 values."""
    values = np.arange(256, dtype=np.float64)
    means, stds = [], []
    for channel in range(CHANNELS):
        frequency = np.bincount(images[:, channel].ravel(), minlength=256) / images[:, channel].size
        mean = frequency @ values
        means.append(mean)
        stds.append(np.sqrt(frequency @ (values - mean) ** 2))
    if not all(stds):
        raise ValueError(f"the training images have a constant channel (stds {stds}); cannot standardise")
    return torch.tensor(means), torch.tensor(stds)


def _standardised(images: np.ndarray, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    inputs = torch.from_numpy(images).float()
    return inputs.sub_(mean.float()[:, None, None]).div_(std.float()[:, None, None])
