"""Sweep specs: a run spec plus the settings to vary, expanded into runs.

::

    model: {family: mlp, init: normal, init_std: 0.01}
    data: {name: teacher, input_dim: 10000}
    train: {epochs: 50}
    grid:                          # crossed with each other
      model.width_factor: [0.25, 0.5, 1, 2, 4]
      model.init_std: [0.001, 0.01, 0.1]
    variants:                      # named sets of changes, crossed with the grid
      momentum: {}
      sgd: {train.optimizer: sgd}
      adam: {train.optimizer: adam, train.lr: 0.001}   # pins a grid field for this variant
    replicates: 3                  # seeds seed, seed+1, ...
    select: {over: [train.lr, train.batch_size], by: val_accuracy}

Every expanded run is validated as a run spec; an error names the run's
settings. A change to ``null`` removes the field, so that a variant can
switch, say, the model family without inheriting options it does not take.
A variant that sets a field the grid varies pins it: that variant runs the
grid's other fields at its one value (the released code's Adam ignores the
learning-rate grid, for instance).

``select`` reproduces the paper's "Best" learning rate and batch size: the
runs that differ only in the ``over`` fields are candidates of one group,
and the one with the best ``by`` is kept.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from frivolous.runs.spec import RunSpec, SpecError, describe, dump_yaml, read_mapping

SECTIONS = ("model", "data", "train", "measure")
WIDTH = "model.width_factor"


class Selection(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    over: tuple[str, ...] = Field(description="grid fields whose values are candidates")
    by: Literal["val_accuracy"] = Field("val_accuracy", description="keep the candidate with the best of this")


def _check_path(path: str) -> str:
    section, _, name = path.partition(".")
    if path == "seed":
        raise ValueError("vary the seed with replicates, not the grid")
    if section not in SECTIONS or not name or "." in name:
        raise ValueError(f"{path!r} is not a field path; write section.field with section one of {list(SECTIONS)}")
    return path


class SweepSpec(BaseModel):
    """A run spec (the base) with ``grid``, ``variants``, ``replicates`` and ``select``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: dict[str, Any]
    data: dict[str, Any]
    train: dict[str, Any] = {}
    measure: dict[str, Any] = {}
    seed: int = Field(0, ge=0)
    grid: dict[str, tuple[Any, ...]] = Field(default_factory=dict, description="field path -> values")
    variants: dict[str, dict[str, Any]] = Field(default_factory=dict, description="name -> field path -> value")
    replicates: int = Field(1, ge=1, description="runs per setting, with seeds seed, seed+1, ...")
    select: Selection | None = None

    @field_validator("grid")
    @classmethod
    def _grid(cls, grid: dict[str, tuple[Any, ...]]) -> dict[str, tuple[Any, ...]]:
        for path, values in grid.items():
            _check_path(path)
            if not values:
                raise ValueError(f"grid field {path!r} has no values")
            if len(set(map(repr, values))) != len(values):
                raise ValueError(f"grid field {path!r} repeats a value: {list(values)}")
        return grid

    @field_validator("variants")
    @classmethod
    def _variants(cls, variants: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for changes in variants.values():
            for path in changes:
                _check_path(path)
        return variants

    @model_validator(mode="after")
    def _selection(self) -> SweepSpec:
        if self.select is not None:
            missing = [path for path in self.select.over if path not in self.grid]
            if missing:
                raise ValueError(f"select.over names fields the grid does not vary: {missing}")
        return self

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> SweepSpec:
        try:
            sweep = cls.model_validate(dict(values))
        except ValidationError as error:
            raise SpecError(describe(error).replace("invalid spec", "invalid sweep spec")) from None
        sweep.expand()  # every run must be valid
        return sweep

    @classmethod
    def from_yaml(cls, path: str | Path) -> SweepSpec:
        holding = "a run spec's sections and grid, variants, replicates, select"
        return cls.from_dict(read_mapping(path, "sweep spec", holding))

    def to_yaml(self) -> str:
        return dump_yaml(self.model_dump(mode="json", exclude_defaults=True))

    @property
    def varied(self) -> list[str]:
        """Field paths that differ between runs: the grid's, then the variants'."""
        changed = [p for changes in self.variants.values() for p in changes]
        return list(dict.fromkeys([*self.grid, *changed]))

    def expand(self) -> list[PlannedRun]:
        """Every run of the sweep, in a fixed order."""
        base = {section: dict(getattr(self, section)) for section in SECTIONS}
        variants = self.variants or {"": {}}
        grid_paths = list(self.grid)
        runs = []
        for variant, changes in variants.items():
            grid = [(changes[path],) if path in changes else values for path, values in self.grid.items()]
            for point in itertools.product(*grid):
                values = dict(zip(grid_paths, point))
                for replicate in range(self.replicates):
                    spec = self._spec(base, {**changes, **values}, self.seed + replicate, variant, values)
                    runs.append(
                        PlannedRun(
                            spec,
                            variant,
                            replicate,
                            values,
                            self._label(variant, values),
                            self._group(variant, values, replicate),
                        )
                    )
        return runs

    def _spec(self, base: dict, changes: dict[str, Any], seed: int, variant: str, values: dict) -> RunSpec:
        tree = copy.deepcopy(base)
        for path, value in changes.items():
            section, name = path.split(".")
            if value is None:
                tree[section].pop(name, None)
            else:
                tree[section][name] = value
        try:
            return RunSpec.from_dict({**tree, "seed": seed})
        except SpecError as error:
            where = ", ".join(f"{k}={v}" for k, v in values.items())
            raise SpecError(f"run ({f'variant {variant!r}, ' if variant else ''}{where}): {error}") from None

    def _label(self, variant: str, values: dict[str, Any]) -> str:
        """The run's variant: its settings other than width and the selected fields."""
        hidden = {WIDTH, *(self.select.over if self.select else ())}
        parts = [variant] if variant else []
        parts += [f"{path.split('.')[-1]}={value}" for path, value in values.items() if path not in hidden]
        return ", ".join(parts)

    def _group(self, variant: str, values: dict[str, Any], replicate: int) -> str:
        """Runs of one group are candidates for one kept run (all but the selected fields equal)."""
        over = set(self.select.over) if self.select else set()
        key = [variant, *(f"{p}={v}" for p, v in values.items() if p not in over), f"replicate={replicate}"]
        return "|".join(key)


@dataclass(frozen=True)
class PlannedRun:
    """One run of a sweep and where it sits in it."""

    spec: RunSpec
    variant_name: str
    replicate: int
    values: dict[str, Any] = field(default_factory=dict)
    variant: str = ""
    group: str = ""
