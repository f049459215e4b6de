"""``cifar10``, ``mnist1d``, ``teacher`` (``NAME[:key=value,...]``): frivolous' own data sources.

The test split of :func:`frivolous.data.load`, with the options given
(``teacher:input_dim=10000``, ``cifar10:root=/data``); the inputs are as
frivolous trains on them (CIFAR-10 standardised per channel, no resizing).
The teacher data takes its input dimension from the model when the model
says it. Nothing is downloaded: see :mod:`frivolous.data`.
"""

from __future__ import annotations

import math

from frivolous import data as datasets
from frivolous.data.bundle import TensorSplit
from frivolous.sources.base import DataRequest, DataSource, SourceError, one_line, parse_options
from frivolous.sources.selection import tensor_examples


def resolver(name: str):
    """The resolver of frivolous data source ``name``."""

    def resolve(request: DataRequest) -> DataSource:
        options = parse_options(request.argument, name)
        accepted = datasets.option_names(name)
        if name == "teacher" and "input_dim" not in options and request.model.input_shape is not None:
            options["input_dim"] = math.prod(request.model.input_shape)
        if "root" in accepted and "root" not in options and request.data_root is not None:
            options["root"] = str(request.data_root)
        try:
            bundle = datasets.load(name, seed=request.seed, **options)
        except (ValueError, TypeError, FileNotFoundError) as error:
            raise SourceError(f"data {name}: {one_line(error).partition(': ')[2]}") from None
        split = bundle.test
        assert isinstance(split, TensorSplit)
        inputs, labels = tensor_examples(split.inputs, request.examples, split.labels, request.seed)
        shown = ",".join(f"{k}={v}" for k, v in options.items() if k != "root")
        return DataSource(
            inputs=inputs,
            label=name + (f":{shown}" if shown else ""),
            description=f"{len(inputs)} of the {len(split)} test examples of {name}" + (f" ({shown})" if shown else ""),
            examples=len(inputs),
            labels=labels,
        )

    return resolve
