"""Derive every random stream of a measurement from one seed.

Each stream (the unit permutation of one layer and sampling, the sample
draw of one layer and sampling) gets its own generator, seeded by a stable
hash of the user's seed and the stream's name. Adding or removing a layer
therefore never changes the masks or samples of another layer, and the
numbers do not depend on the order in which layers are processed.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch


def stream_seed(seed: int, *names: object) -> int:
    """A 63-bit seed for the stream called ``names`` under the user's ``seed``."""
    text = "\x1f".join([str(int(seed)), *map(str, names)])
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def generator(seed: int, *names: object) -> torch.Generator:
    """A CPU generator for one named stream (CPU so that results match across devices)."""
    return torch.Generator(device="cpu").manual_seed(stream_seed(seed, *names))


@contextmanager
def seeded(seed: int, *names: object) -> Iterator[None]:
    """Run the block with torch's, numpy's and Python's global generators
    seeded for the stream called ``names`` (a model built from its
    initialisation, which draws from the global generators), and put every
    generator back as it was afterwards: what the block draws depends on
    ``seed`` and ``names`` only, and nothing after it sees a difference."""
    value = stream_seed(seed, *names)
    python, numpy = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(value)  # the CPU's only: a model is built on the CPU
        random.seed(value)
        np.random.seed(value % 2**32)
        try:
            yield
        finally:
            random.setstate(python)
            np.random.set_state(numpy)
