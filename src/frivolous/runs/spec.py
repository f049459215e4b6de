"""Run specs: what one run trains and measures, as typed, frozen, validated
objects that read from and write to YAML.

A spec has five sections::

    model:   {family: alexnet, width_factor: 2, init: glorot_normal, dropout: 0.5}
    data:    {name: cifar10, augment: true}
    train:   {optimizer: momentum, lr: 0.01, batch_size: 128, epochs: 100, ...}
    measure: {levels: 7, samplings: 3, ...}
    seed: 0

``model`` and ``data`` take, besides their named fields, the options of the
chosen family (``frivolous.zoo``) or data source (``frivolous.data``); any
other key is an error that names it and lists the allowed ones. Paths to data
are not part of a spec (they differ between machines, the experiment does
not): pass them to the command (``--data-root``) or set ``FRIVOLOUS_DATA``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

MACHINE_OPTIONS = frozenset({"root"})
"""Loader options that describe the machine, not the experiment: never in a spec."""


class SpecError(ValueError):
    """A spec that cannot be run, with every problem named."""


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _check_extra(section: BaseModel, kind: str, name: str, allowed: set[str]) -> None:
    extra = set(section.model_extra or {})
    unknown = sorted(extra - allowed)
    if unknown:
        raise ValueError(
            f"unknown option{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} for {kind} {name!r}; "
            f"allowed: {', '.join(sorted(allowed)) or '(none)'}"
        )


class ModelSpec(_Section):
    """The network: a family of ``frivolous.zoo`` at a width factor."""

    model_config = ConfigDict(frozen=True, extra="allow")

    family: str = Field(description="model family, one of frivolous.zoo.families()")
    width_factor: float = Field(default=1.0, gt=0, description="multiplies the units/kernels of every hidden layer")
    init: str = Field(default="default", description="initialiser, one of frivolous.zoo.INITS")
    init_std: float | None = Field(default=None, gt=0, description="std of the normal and truncated_normal inits")
    output_init_std: float | None = Field(
        default=None,
        gt=0,
        description="std of the output layer's weights (normal and truncated_normal inits; None: init_std)",
    )

    @field_validator("family")
    @classmethod
    def _known_family(cls, family: str) -> str:
        from frivolous import zoo

        if family not in zoo.FAMILIES:
            raise ValueError(f"{family!r} is not a model family; choose one of {zoo.families()}")
        return family

    @field_validator("init")
    @classmethod
    def _known_init(cls, init: str) -> str:
        from frivolous.zoo.init import INITS

        if init not in INITS:
            raise ValueError(f"{init!r} is not an initialiser; choose one of {list(INITS)}")
        return init

    @model_validator(mode="after")
    def _family_options(self) -> ModelSpec:
        from frivolous import zoo
        from frivolous.zoo.init import check_init, check_output_std

        check_init(self.init, self.init_std)
        check_output_std(self.init, self.output_init_std)
        _check_extra(self, "model family", self.family, set(zoo.options(self.family)) - {"num_classes"})
        return self

    @property
    def options(self) -> dict[str, Any]:
        """The family's own options."""
        return dict(self.model_extra or {})


class DataSpec(_Section):
    """The data: a source of ``frivolous.data`` and its options."""

    model_config = ConfigDict(frozen=True, extra="allow")

    name: str = Field(description="data source, one of frivolous.data.datasets()")

    @field_validator("name")
    @classmethod
    def _known_dataset(cls, name: str) -> str:
        from frivolous import data

        if name not in data.datasets():
            raise ValueError(f"{name!r} is not a data source; choose one of {data.datasets()}")
        return name

    @model_validator(mode="after")
    def _source_options(self) -> DataSpec:
        from frivolous import data

        allowed = set(data.option_names(self.name)) - MACHINE_OPTIONS
        _check_extra(self, "data source", self.name, allowed)
        return self

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


Optimizer = Literal["sgd", "momentum", "nesterov", "adam", "rmsprop"]
Schedule = Literal["constant", "exponential", "step"]
Monitor = Literal["val_accuracy", "train_accuracy"]


class TrainSpec(_Section):
    """How to train. The appendix's recipes: AlexNet momentum 0.9, lr 0.01
    decayed 5% per epoch (``schedule: exponential, gamma: 0.95``), batch 128,
    early stopping on validation accuracy; ResNets step decay
    (``schedule: step, milestones: [91, 136], gamma: 0.1``); Inception RMSProp
    with 4% decay every 8 epochs (``gamma: 0.96, every: 8``). As in the
    released code, random labels stop on training accuracy
    (``monitor: train_accuracy, patience: 25, stop_at: 1.0``; see
    :mod:`frivolous.train.stopping`) and the AlexNet's weight decay is a loss
    term on its fc1 and fc2 weights (``l2: 0.001, l2_layers: [fc1, fc2]``; see
    :mod:`frivolous.train.penalty`), not the optimiser's ``weight_decay``."""

    optimizer: Optimizer = Field(default="momentum", description="sgd (no momentum), momentum, nesterov, adam, rmsprop")
    lr: float = Field(default=0.01, gt=0, description="learning rate before the k factor")
    batch_size: int = Field(default=128, ge=1, description="batch size before the k factor")
    k: float = Field(default=1.0, gt=0, description="lr·batch-size factor: multiplies both")
    epochs: int = Field(default=50, ge=0, description="epochs to train (the most, with early stopping)")
    momentum: float = Field(default=0.9, ge=0, lt=1, description="momentum of momentum, nesterov and rmsprop")
    alpha: float = Field(default=0.9, gt=0, lt=1, description="rmsprop's decay of the squared-gradient average")
    eps: float | None = Field(default=None, gt=0, description="epsilon of adam/rmsprop (None: PyTorch's)")
    weight_decay: float = Field(default=0.0, ge=0, description="L2 penalty, through the optimizer")
    schedule: Schedule = Field(default="constant", description="learning-rate schedule, by epoch")
    gamma: float = Field(default=0.1, gt=0, le=1, description="decay factor of exponential and step schedules")
    every: int = Field(default=1, ge=1, description="exponential schedule: decay once every this many epochs")
    milestones: tuple[int, ...] = Field(
        default=(), description="step schedule: epochs at which the lr is multiplied by gamma"
    )
    early_stopping: bool = Field(default=False, description="keep the weights of the epoch of best monitored accuracy")
    patience: int | None = Field(default=None, ge=1, description="stop after this many epochs without improvement")
    monitor: Monitor = Field(
        default="val_accuracy",
        description="early stopping follows val_accuracy, or train_accuracy "
        "(the whole training split in eval mode; for random labels, as the released code)",
    )
    stop_at: float | None = Field(
        default=None, gt=0, le=1, description="stop as soon as the monitored accuracy reaches this"
    )
    l2: float = Field(default=0.0, ge=0, description="loss term l2 * sum(||w||^2 / 2) over the weights of l2_layers")
    l2_layers: tuple[str, ...] = Field(
        default=(), description="modules whose weights (not biases) l2 penalises; (): all"
    )
    checkpoints: tuple[int, ...] = Field(default=(), description="epochs whose weights are kept (0: initialisation)")
    precision: Literal["fp32", "bf16"] = Field(default="fp32", description="bf16: autocast forward passes")
    channels_last: bool = Field(default=False, description="channels-last memory format for conv nets")
    workers: int = Field(default=0, ge=0, description="DataLoader workers for datasets read from files")

    @model_validator(mode="after")
    def _consistent(self) -> TrainSpec:
        for name, default in (("patience", None), ("stop_at", None), ("monitor", "val_accuracy")):
            if getattr(self, name) != default and not self.early_stopping:
                raise ValueError(f"{name} needs early_stopping: true")
        if self.l2_layers and not self.l2:
            raise ValueError("l2_layers needs l2 > 0")
        if self.schedule == "step" and not self.milestones:
            raise ValueError("schedule 'step' needs milestones")
        if any(e < 0 or e > self.epochs for e in self.checkpoints):
            raise ValueError(f"checkpoints must lie in 0..epochs ({self.epochs}), got {list(self.checkpoints)}")
        return self

    @property
    def effective_lr(self) -> float:
        return self.lr * self.k

    @property
    def effective_batch_size(self) -> int:
        return max(1, round(self.batch_size * self.k))


class MeasureSpec(_Section):
    """The options of :func:`frivolous.measuring` for this run."""

    split: Literal["test", "val", "train"] = Field(default="test", description="the examples to measure on")
    max_examples: int | None = Field(
        default=None, ge=2, description="measure on a seeded class-stratified sample of at most this many examples"
    )
    layers: tuple[str, ...] | None = Field(default=None, description="layers to probe (None: the model's own)")
    summary_layers: tuple[str, ...] | None = Field(
        default=None, description="probed layers whose mean is the run's AUC and similarity (None: every probed layer)"
    )
    levels: int = Field(default=7, ge=2)
    samplings: int = Field(default=3, ge=1)
    unit: Literal["element", "channel"] = "element"
    threshold: float = Field(default=0.5, gt=0, le=1)
    max_samples: int = Field(default=50_000, ge=2)
    dead: Literal["exclude", "legacy"] = "exclude"
    effective_width: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="top-1 agreement at which fv.compress "
        "measures the run's effective width: the units of the smallest network "
        "that keeps it (None: not measured)",
    )

    @model_validator(mode="after")
    def _summary_probed(self) -> MeasureSpec:
        if self.summary_layers == ():
            raise ValueError("summary_layers must name at least one layer (or be null: every probed layer)")
        if self.summary_layers and self.layers is not None:
            unprobed = [name for name in self.summary_layers if name not in self.layers]
            if unprobed:
                raise ValueError(f"summary_layers {unprobed} are not among the probed layers {list(self.layers)}")
        return self


class RunSpec(_Section):
    """One run: train ``model`` on ``data`` as ``train`` says, then measure it."""

    model: ModelSpec
    data: DataSpec
    train: TrainSpec = TrainSpec()
    measure: MeasureSpec = MeasureSpec()
    seed: int = Field(default=0, ge=0, description="seeds initialisation, data, batches, dropout and measurement")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> RunSpec:
        try:
            return cls.model_validate(dict(values))
        except ValidationError as error:
            raise SpecError(describe(error)) from None

    @classmethod
    def from_yaml(cls, path: str | Path) -> RunSpec:
        return cls.from_dict(read_mapping(path, "spec", "sections model, data, train, measure, seed"))

    def to_dict(self) -> dict[str, Any]:
        """Every field, defaults included, as plain data."""
        return self.model_dump(mode="json")

    def to_yaml(self) -> str:
        return dump_yaml(self.to_dict())


def parse_yaml(text: str) -> Any:
    """YAML text as Python values, parsed safely: by libyaml's C parser where
    PyYAML has it, 8 times faster than the pure-Python one it falls
    back to (5.2 ms against 0.66 ms for a run spec here; a sweep reads every
    run's spec several times)."""
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def dump_yaml(values: Any) -> str:
    """Python values as YAML text, keys in their order, by libyaml's C emitter where PyYAML has it."""
    return yaml.dump(values, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), sort_keys=False)


def read_mapping(path: str | Path, what: str, holding: str) -> Mapping[str, Any]:
    """The mapping a YAML spec file holds, or a :class:`SpecError` that says why not."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"no {what} file at {path}")
    try:
        values = parse_yaml(path.read_text())
    except yaml.YAMLError as error:
        raise SpecError(f"{path} is not valid YAML: {error}") from None
    if not isinstance(values, Mapping):
        raise SpecError(f"{path} must hold a mapping with {holding}")
    return values


def describe(error: ValidationError) -> str:
    """One line per problem: where it is, what is wrong, what is allowed."""
    lines = []
    for problem in error.errors():
        where = ".".join(str(part) for part in problem["loc"]) or "spec"
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            section = _section_at(problem["loc"][:-1])
            allowed = ", ".join(section.model_fields) if section else ""
            message = f"unknown field; allowed: {allowed}"
        elif problem["type"] == "missing":
            message = "required field is missing"
        lines.append(f"{where}: {message}")
    return "invalid spec:\n  " + "\n  ".join(lines)


def _section_at(location: tuple) -> type[BaseModel] | None:
    section: type[BaseModel] = RunSpec
    for part in location:
        field = section.model_fields.get(str(part))
        if field is None or not isinstance(field.annotation, type) or not issubclass(field.annotation, BaseModel):
            return None
        section = field.annotation
    return section
