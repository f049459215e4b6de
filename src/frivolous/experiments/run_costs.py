"""Rough CPU cost of a run, for ``frivolous presets``.

An optimiser step costs a fixed overhead plus a cost per parameter (the
weights and their gradients are read and written every step: this
dominates the MLPs), and a conv net's examples cost what its forward and
backward passes cost at its width (FLOPs grow as width squared). Each
measured stage (trained, at initialisation, at each kept epoch) costs about
``MEASURE_PASSES`` forward passes per measured example. Runs that train
together in a batch (``--batch-runs``, :mod:`frivolous.experiments.batching`)
share each step's fixed cost: a batch's step costs one overhead, a little
per run and a cost per parameter of its runs. The constants were
fitted on the 2-core CPU of ``benchmarks/README.md``; treat the result as
an order of magnitude.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import cache

from frivolous import zoo
from frivolous.runs.spec import RunSpec

STEP_SECONDS = 1e-3
"""Fixed cost of a step: 10-dim MLP runs of the main job took about 1 ms per step at every width."""
SECONDS_PER_PARAMETER_EXAMPLE = 1.25e-10
"""Per parameter and training example (products and memory traffic grow with both): 10,000-dim MLP
runs of the main job took about 3.9 ms more per step of 32 examples per million parameters."""
CONV_EXAMPLES_PER_SECOND = {
    "alexnet": (114, 2),
    "resnet56": (128, 2),
    "resnet18": (9, 2),
    "inception_v3": (3, 2),
    "cnn1d": (12_000, 1),
}
"""(training examples per second at 1x, power of the width factor they divide by): alexnet and
resnet56 measured by benchmarks/bench_train.py; cnn1d from the mnist1d-cnn quick preset (its
small layers scale about linearly); resnet18 and inception_v3 scaled from resnet56 by their
forward FLOPs (not measured)."""
BATCH_STEP_SECONDS = 1e-3
"""Fixed cost of a step of a batch of runs (one pass's overhead, as a single run's step)."""
MEMBER_STEP_SECONDS = 9e-5
"""Per step and run of a batch: fitted so that the model gives the 8.6x that benchmarks/bench_batched.py
measured on the 10-dim B5 grid (375 runs in 10 batches), whose runs are almost all fixed cost."""
BATCH_SECONDS_PER_PARAMETER_EXAMPLE = 3.8e-11
"""Per parameter and training example in a batch (one product for the runs of a stream): fitted to
the 3.8x measured on a slice of the 10,000-dim B4 grid (50 runs in 2 batches)."""
CONV_BATCH_SPEEDUP = 1.5
"""A 1-D CNN's examples cost this many times less in a batch (benchmarks/README.md: 2.2x at width
1/4, 1.7x at 1, 1.0x at 4 for the mnist1d-cnn preset's batches)."""
RUN_SECONDS = 0.5
"""Per run: building data and model, evaluations, the measurements' fixed costs (MLP runs of the
main job)."""
MEASURE_PASSES = 20
"""Forward passes per example and measured stage (7 levels x 3 samplings, deduplicated, plus capture)."""
FORWARD_SHARE = 1 / 3
"""A forward pass costs about a third of a training step (forward and backward)."""
CLASSES = {"teacher": 2, "mnist1d": 10, "cifar10": 10, "imagenet": 1000}
TRAIN_EXAMPLES = {"teacher": 1000, "mnist1d": 3600, "cifar10": 45_000, "imagenet": 1_281_167}
TEST_EXAMPLES = {"teacher": 1000, "mnist1d": 1000, "cifar10": 10_000, "imagenet": 50_000}


@cache
def _parameters(family: str, width: float, classes: int, options: tuple) -> int:
    return zoo.parameter_count(family, width, num_classes=classes, **dict(options))


def parameters(spec: RunSpec) -> int:
    """The trainable parameters of the spec's network (counted without building it)."""
    options = spec.model.options
    if spec.model.family == "mlp":
        options.setdefault("in_features", spec.data.options.get("input_dim", 10))
    return _parameters(
        spec.model.family, spec.model.width_factor, CLASSES[spec.data.name], tuple(sorted(options.items()))
    )


def train_seconds(spec: RunSpec) -> float:
    """Estimated CPU seconds to train ``spec`` alone."""
    examples = spec.train.epochs * _train_examples(spec)
    seconds = _steps(spec) * STEP_SECONDS + examples * parameters(spec) * SECONDS_PER_PARAMETER_EXAMPLE
    if spec.model.family in CONV_EXAMPLES_PER_SECOND:
        seconds += examples / _conv_rate(spec)
    return seconds


def run_seconds(spec: RunSpec) -> float:
    """Estimated CPU seconds to train ``spec`` alone and measure it."""
    return train_seconds(spec) + _other_seconds(spec)


def batch_seconds(batch: Sequence[RunSpec]) -> float:
    """Estimated CPU seconds to train ``batch`` as one (:mod:`frivolous.experiments.batching`) and
    measure its runs: each step of the batch costs a fixed overhead, a little per run, and a cost per
    parameter of its runs (less than alone: one product for the runs of a stream)."""
    seconds = max(_steps(spec) for spec in batch) * (BATCH_STEP_SECONDS + MEMBER_STEP_SECONDS * len(batch))
    for spec in batch:
        examples = spec.train.epochs * _train_examples(spec)
        seconds += examples * parameters(spec) * BATCH_SECONDS_PER_PARAMETER_EXAMPLE + _other_seconds(spec)
        if spec.model.family in CONV_EXAMPLES_PER_SECOND:
            seconds += examples / _conv_rate(spec) / CONV_BATCH_SPEEDUP
    return seconds


def _other_seconds(spec: RunSpec) -> float:
    """Building, evaluating and measuring a run (everything but its training steps)."""
    seconds = RUN_SECONDS
    if spec.model.family in CONV_EXAMPLES_PER_SECOND:
        measured = spec.measure.max_examples or TEST_EXAMPLES[spec.data.name]
        stages = 2 + sum(1 for e in spec.train.checkpoints if e > 0)
        seconds += stages * MEASURE_PASSES * measured / (_conv_rate(spec) / FORWARD_SHARE)
    return seconds


def _train_examples(spec: RunSpec) -> int:
    return spec.data.options.get("n_train") or TRAIN_EXAMPLES[spec.data.name]


def _steps(spec: RunSpec) -> int:
    return spec.train.epochs * math.ceil(_train_examples(spec) / spec.train.effective_batch_size)


def _conv_rate(spec: RunSpec) -> float:
    rate_1x, power = CONV_EXAMPLES_PER_SECOND[spec.model.family]
    return rate_1x / (1.0 if spec.model.options.get("only") else spec.model.width_factor**power)


def describe(specs: list[RunSpec], batches: Sequence[Sequence[RunSpec]] = ()) -> str:
    """Runs and their estimated CPU time, the runs of ``batches`` trained in them and the others alone."""
    batched = {id(spec) for batch in batches for spec in batch}
    seconds = sum(batch_seconds(batch) for batch in batches)
    seconds += sum(run_seconds(spec) for spec in specs if id(spec) not in batched)
    hours = seconds / 3600
    size = f"{hours * 60:.2g} CPU-minutes" if hours < 1 else f"{hours:.2g} CPU-hours"
    return f"{len(specs)} runs, ~{size}"
