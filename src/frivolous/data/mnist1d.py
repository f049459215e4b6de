"""MNIST-1D (Greydanus, 2020): ten 1-D digit templates, randomly padded, sheared,
scaled, translated and noised into sequences of length 40.

The ``mnist1d`` package generates it locally (its ``get_dataset`` would
download a pickle, so it is never called). The package keeps its own split:
the first 80% of the ``num_samples`` examples train, the rest test; a seeded
``val_fraction`` of the training part becomes the validation split.

Generation reseeds the global ``random`` and ``numpy.random`` generators; both
are saved and restored around it, so loading leaves the caller's random state
as it was.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from numbers import Real

import numpy as np
import torch

from frivolous.common import seeding
from frivolous.data import loader_checks as checks
from frivolous.data.bundle import DataBundle, TensorSplit

NUM_CLASSES = 10
SEQUENCE_LENGTH = 40


def load(*, seed: int = 0, num_samples: int = 5000, val_fraction: float = 0.1) -> DataBundle:
    """MNIST-1D generated from ``seed`` (``seed=42`` is the package's default
    generation); inputs are (N, 1, 40) float32 sequences, labels the digits."""
    num_samples = checks.count("num_samples", num_samples, NUM_CLASSES)
    if num_samples % NUM_CLASSES:
        raise ValueError(
            f"num_samples must be a multiple of {NUM_CLASSES} "
            f"(MNIST-1D makes as many examples of each digit), got {num_samples}"
        )
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, Real) or not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction!r}")
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed must be in [0, 2**32) for MNIST-1D (numpy's seed range), got {seed}")
    # Imported here: the package imports matplotlib, which the other data sources do not need.
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples, args.seed = num_samples, seed
    with _global_rngs_restored():
        raw = make_dataset(args)
    train, test = _split(raw["x"], raw["y"]), _split(raw["x_test"], raw["y_test"])
    n_val = round(val_fraction * len(train))
    if n_val >= len(train):
        raise ValueError(f"val_fraction={val_fraction} leaves no training examples out of {len(train)}")
    order = torch.randperm(len(train), generator=seeding.generator(seed, "mnist1d", "validation"))
    val_part, train_part = order[:n_val], order[n_val:]
    return DataBundle(
        name="mnist1d",
        train=TensorSplit(train.inputs[train_part], train.labels[train_part]),
        val=TensorSplit(train.inputs[val_part], train.labels[val_part]) if n_val else None,
        test=test,
        num_classes=NUM_CLASSES,
        input_shape=(1, SEQUENCE_LENGTH),
    )


def _split(sequences: np.ndarray, digits: np.ndarray) -> TensorSplit:
    inputs = torch.from_numpy(np.asarray(sequences, dtype=np.float32)).unsqueeze(1)
    return TensorSplit(inputs, torch.from_numpy(np.asarray(digits, dtype=np.int64)))


@contextmanager
def _global_rngs_restored() -> Iterator[None]:
    numpy_state, python_state = np.random.get_state(), random.getstate()
    try:
        yield
    finally:
        np.random.set_state(numpy_state)
        random.setstate(python_state)
