"""Rough CPU cost of a run, for ``frivolous presets``.

An optimiser step costs a fixed overhead plus a cost per parameter (the
weights and their gradients are read and written every step: this
dominates the MLPs), and a conv net's examples cost what its forward and
backward passes cost at its width (FLOPs grow as width squared). Each
measured stage (trained, at initialisation, at each kept epoch) costs about
``MEASURE_PASSES`` forward passes per measured example. The constants were
fitted on the 2-core CPU of ``benchmarks/README.md``; treat the result as
an order of magnitude.
"""

from __future__ import annotations

import math
from functools import lru_cache

from frivolous import zoo
from frivolous.experiments.spec import RunSpec

STEP_SECONDS = 1e-3
"""Fixed cost of a step: 10-dim MLP runs of the main job took about 1 ms per step at every width."""
STEP_SECONDS_PER_PARAMETER = 4e-9
"""10,000-dim MLP runs of the main job: about 3.9 ms more per step per million parameters."""
CONV_EXAMPLES_PER_SECOND = {"alexnet": (114, 2), "resnet56": (128, 2), "resnet18": (9, 2), "inception_v3": (3, 2),
                            "cnn1d": (12_000, 1)}  # fmt: skip
"""(training examples per second at 1x, power of the width factor they divide by): alexnet and
resnet56 measured by benchmarks/bench_train.py; cnn1d from the mnist1d-cnn quick preset (its
small layers scale about linearly); resnet18 and inception_v3 scaled from resnet56 by their
forward FLOPs (not measured)."""
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


@lru_cache(maxsize=None)
def _parameters(family: str, width: float, classes: int, options: tuple) -> int:
    return zoo.parameter_count(family, width, num_classes=classes, **dict(options))


def run_seconds(spec: RunSpec) -> float:
    """Estimated CPU seconds to train and measure ``spec``."""
    name, family, width = spec.data.name, spec.model.family, spec.model.width_factor
    options = spec.model.options
    if family == "mlp":
        options.setdefault("in_features", spec.data.options.get("input_dim", 10))
    parameters = _parameters(family, width, CLASSES[name], tuple(sorted(options.items())))
    examples = spec.data.options.get("n_train") or TRAIN_EXAMPLES[name]
    steps = spec.train.epochs * math.ceil(examples / spec.train.effective_batch_size)
    seconds = RUN_SECONDS + steps * (STEP_SECONDS + STEP_SECONDS_PER_PARAMETER * parameters)
    if family in CONV_EXAMPLES_PER_SECOND:
        rate_1x, power = CONV_EXAMPLES_PER_SECOND[family]
        rate = rate_1x / (1.0 if options.get("only") else width**power)
        measured = spec.measure.max_examples or TEST_EXAMPLES[name]
        stages = 2 + sum(1 for e in spec.train.checkpoints if e > 0)
        seconds += spec.train.epochs * examples / rate + stages * MEASURE_PASSES * measured / (rate / FORWARD_SHARE)
    return seconds


def describe(specs: list[RunSpec]) -> str:
    hours = sum(run_seconds(spec) for spec in specs) / 3600
    size = f"{hours * 60:.2g} CPU-minutes" if hours < 1 else f"{hours:.2g} CPU-hours"
    return f"{len(specs)} runs, ~{size}"
