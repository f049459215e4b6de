"""A frivolous run folder (``runs/mlp-<hash>``, or ``run:PATH``): a network trained here.

The model is the run's final weights, built as its spec says. The run
brings its own measurement: its spec's measure options are the defaults of
``frivolous analyze`` (the seed included), and with no ``--data`` it is
measured on the examples ``frivolous measure`` uses (its spec's split, the
same stratified sample), so that both give the same per-layer numbers.
"""

from __future__ import annotations

from collections.abc import Sized
from pathlib import Path
from types import MappingProxyType
from typing import Any

from frivolous.sources.base import DataSource, ModelRequest, ModelSource, SourceError, one_line


def resolve(request: ModelRequest) -> ModelSource:
    # Imported here: only this scheme reads run folders.
    from frivolous.common.seeding import stream_seed
    from frivolous.runs import folder as run
    from frivolous.runs.spec import SpecError

    folder = Path(request.argument).expanduser()
    try:
        spec, layout = run.load_run(folder)
        done = run.status(layout)
        if done is None or done.get("state") != run.TRAINED:
            raise SpecError(f"run folder {folder} is not trained (its status: {(done or {}).get('state', 'none')})")
        bundle = run.load_data(spec, request.data_root)
        model = run.stage_model(spec, layout, bundle, "trained")
    except (SpecError, FileNotFoundError) as error:
        raise SourceError(one_line(error).partition(": ")[2]) from None
    except RuntimeError as error:  # the weights do not fit the spec's network
        raise SourceError(f"run folder {folder}: {one_line(error)}") from None
    options = spec.measure
    defaults: dict[str, Any] = {
        "levels": options.levels,
        "samplings": options.samplings,
        "unit": options.unit,
        "threshold": options.threshold,
        "max_samples": options.max_samples,
        "dead": options.dead,
        "seed": stream_seed(spec.seed, "measure"),
        "layers": list(options.layers) if options.layers else None,
    }
    split = {"test": bundle.test, "val": bundle.val, "train": bundle.train}[options.split]

    def own_data(examples: int | None) -> DataSource:
        if split is None:
            raise SourceError(f"data {spec.data.name!r} of run {folder} has no {options.split!r} split")
        limit = examples if examples is not None else options.max_examples
        inputs = run.measured_examples(split, limit, spec.seed)
        # A TensorSplit, or a map-style Dataset with a length (as measured_examples checks).
        assert isinstance(split, Sized)
        count = min(limit, len(split)) if limit is not None else len(split)
        return DataSource(
            inputs=inputs,
            label=f"{spec.data.name} ({options.split} split of the run)",
            description=f"{count} examples of the {options.split} split of {spec.data.name}, "
            "as frivolous measure draws them",
            examples=count,
        )

    return ModelSource(
        model=model,
        label=str(folder),
        description=f"run {folder.name}: {spec.model.family} at width "
        f"{spec.model.width_factor:g}, trained on {spec.data.name}",
        input_shape=bundle.input_shape,
        measure_defaults=MappingProxyType(defaults),
        own_data=own_data,
    )
