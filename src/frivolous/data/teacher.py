"""The paper's synthetic data: uncorrelated inputs labelled by a random teacher.

Inputs are standard normal. The teacher is the 1/4x version of the paper's
MLP (one hidden layer of 32 ReLU units, 2 outputs) with truncated-normal
weights of std 0.01, cut at 2 std, and zero biases, as in the authors'
released code; an input's label is the teacher's arg-max output.

The paper keeps a teacher only if it gives each label to 40-60% of random
inputs. Here the check is made on the training inputs themselves, so the set
a student learns from is balanced for certain, whatever its size (the
validation and test inputs come from the same distribution and are close to
balanced, but are not checked). Rejected teachers are redrawn from one seeded
stream, so the same seed always gives the same teacher and data.
"""

from __future__ import annotations

import torch

from frivolous.common import seeding
from frivolous.data import loader_checks as checks
from frivolous.data.bundle import DataBundle, TensorSplit

HIDDEN_UNITS = 32
"""A quarter of the 128 hidden units of the paper's 1x student."""
NUM_CLASSES = 2
WEIGHT_STD = 0.01
TRUNCATION = 2.0
"""Weights are cut at this many standard deviations, as TensorFlow's truncated normal."""
BALANCE_FIFTHS = (2, 3)
"""Each label must cover between 2/5 and 3/5 of the training inputs (kept as
fifths so that the check is exact integer arithmetic)."""
CHUNK = 8192
"""Inputs labelled at a time (one chunk for every preset's 1,000 examples)."""
MAX_DRAWS = 1000
"""About 30% of teachers are balanced, so 1000 draws fail with probability ~0.7**1000."""


def load(
    *, seed: int = 0, n_train: int = 1000, n_val: int = 1000, n_test: int = 1000, input_dim: int = 10
) -> DataBundle:
    """Standard-normal inputs of ``input_dim`` (the paper: 10 and 10,000), labelled by a
    balanced random teacher; ``n_val=0`` gives no validation split."""
    n_train = checks.count("n_train", n_train, 1)
    n_val = checks.count("n_val", n_val)
    n_test = checks.count("n_test", n_test, 1)
    input_dim = checks.count("input_dim", input_dim, 1)
    if _balanced_count_range(n_train) is None:
        raise ValueError(f"n_train={n_train} cannot be balanced: no count of either label is 40-60% of it")
    inputs = {
        split: torch.randn(n, input_dim, generator=seeding.generator(seed, "teacher", "inputs", split))
        for split, n in (("train", n_train), ("val", n_val), ("test", n_test))
    }
    teacher = _balanced_teacher(seed, inputs["train"])
    splits = {split: TensorSplit(x, teacher(x)) for split, x in inputs.items()}
    return DataBundle(
        name="teacher",
        train=splits["train"],
        val=splits["val"] if n_val else None,
        test=splits["test"],
        num_classes=NUM_CLASSES,
        input_shape=(input_dim,),
    )


class Teacher:
    """Labels inputs with the arg-max of ``relu(x W1^T) W2^T`` (zero biases).

    It computes in float64 so that labels do not depend on the BLAS in use,
    :data:`CHUNK` inputs at a time so that 100,000 inputs of 10,000 dims (the
    released code's data set) need no 8 GB float64 copy."""

    def __init__(self, input_dim: int, rng: torch.Generator) -> None:
        self.hidden = _truncated_normal((HIDDEN_UNITS, input_dim), rng)
        self.out = _truncated_normal((NUM_CLASSES, HIDDEN_UNITS), rng)

    def __call__(self, inputs: torch.Tensor) -> torch.Tensor:
        return torch.cat(
            [(torch.relu(chunk.double() @ self.hidden.T) @ self.out.T).argmax(dim=1) for chunk in inputs.split(CHUNK)]
        )


def _truncated_normal(shape: tuple[int, int], rng: torch.Generator) -> torch.Tensor:
    bound = TRUNCATION * WEIGHT_STD
    weights = torch.empty(shape, dtype=torch.float64)
    return torch.nn.init.trunc_normal_(weights, std=WEIGHT_STD, a=-bound, b=bound, generator=rng)


def _balanced_count_range(n: int) -> tuple[int, int] | None:
    """The counts ``c`` with ``2/5 n <= c <= 3/5 n``, or None if there is none."""
    low, high = -(-BALANCE_FIFTHS[0] * n // 5), BALANCE_FIFTHS[1] * n // 5
    return (low, high) if low <= high else None


def _balanced_teacher(seed: int, train_inputs: torch.Tensor) -> Teacher:
    rng = seeding.generator(seed, "teacher", "weights")
    balanced = _balanced_count_range(len(train_inputs))
    assert balanced is not None  # load() refused an n_train that cannot be balanced
    low, high = balanced
    for _ in range(MAX_DRAWS):
        teacher = Teacher(train_inputs.shape[1], rng)
        counts = torch.bincount(teacher(train_inputs), minlength=NUM_CLASSES)
        if bool(((counts >= low) & (counts <= high)).all()):
            return teacher
    raise RuntimeError(
        f"no balanced teacher in {MAX_DRAWS} draws for seed {seed} "
        f"and {len(train_inputs)} training inputs; try another seed"
    )
