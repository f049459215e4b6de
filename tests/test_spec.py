"""Run specs: validation with clear errors, YAML round trips, pinned hashes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError
from typer.testing import CliRunner

from frivolous.cli import app
from frivolous.runs.layout import run_name, spec_hash
from frivolous.runs.spec import RunSpec, SpecError

BASE = {"model": {"family": "mlp", "width_factor": 2}, "data": {"name": "teacher", "input_dim": 10}}


def spec(**changes) -> RunSpec:
    """BASE with changes: ``train__lr=0.1`` sets train.lr; ``seed=1`` sets the seed."""
    values: dict = {k: dict(v) for k, v in BASE.items()}
    for key, value in changes.items():
        if "__" in key:
            section, field = key.split("__")
            values.setdefault(section, {})[field] = value
        else:
            values[key] = value
    return RunSpec.from_dict(values)


def test_defaults_and_round_trip(tmp_path: Path) -> None:
    s = spec()
    assert s.train.optimizer == "momentum" and s.train.lr == 0.01 and s.measure.levels == 7
    assert s.data.options == {"input_dim": 10}
    path = tmp_path / "spec.yaml"
    path.write_text(s.to_yaml())
    assert RunSpec.from_yaml(path) == s
    with pytest.raises(ValidationError, match="frozen"):
        s.seed = 3  # type: ignore[misc]


def test_hashes_are_pinned() -> None:
    # Changing these breaks every existing run folder: only ever do it on purpose.
    assert spec_hash(spec()) == PINNED["base"]
    assert spec_hash(spec(train__lr=0.1)) == PINNED["lr"]
    assert spec_hash(spec(model__init="he_normal", seed=0)) == PINNED["he"]
    assert run_name(spec()) == f"mlp-{PINNED['base']}"


def test_hash_ignores_written_defaults_and_sees_changes() -> None:
    assert spec_hash(spec(train__lr=0.01, train__optimizer="momentum")) == spec_hash(spec())
    assert spec_hash(spec(train__epochs=51)) != spec_hash(spec())
    assert spec_hash(spec(seed=1)) != spec_hash(spec())


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"train__lrr": 0.1}, r"train\.lrr: unknown field; allowed: optimizer, lr, batch_size"),
        ({"train__optimizer": "lion"}, r"train\.optimizer: Input should be 'sgd', 'momentum', 'nesterov', 'adam'"),
        ({"train__lr": -1}, r"train\.lr: Input should be greater than 0"),
        ({"model__family": "vgg"}, r"model\.family: 'vgg' is not a model family; choose one of \[.*'alexnet'"),
        ({"model__init": "xavier"}, r"model\.init: 'xavier' is not an initialiser; choose one of"),
        ({"model__dropout": 0.5}, r"unknown option 'dropout' for model family 'mlp'; allowed: hidden_layers"),
        ({"data__image_size": 32}, r"unknown option 'image_size' for data source 'teacher'; allowed: input_dim"),
        ({"data__root": "/data"}, r"unknown option 'root'"),
        ({"model__init": "normal"}, r"init 'normal' needs init_std"),
        ({"train__patience": 3}, r"patience needs early_stopping"),
        ({"train__stop_at": 1.0}, r"stop_at needs early_stopping"),
        ({"train__monitor": "train_accuracy"}, r"monitor needs early_stopping"),
        ({"train__monitor": "loss"}, r"train\.monitor: Input should be 'val_accuracy' or 'train_accuracy'"),
        ({"train__l2_layers": ["fc1"]}, r"l2_layers needs l2 > 0"),
        ({"measure__layers": ["a"], "measure__summary_layers": ["b"]}, r"summary_layers \['b'\] are not among"),
        ({"train__schedule": "step"}, r"needs milestones"),
        ({"measure__unit": "kernel"}, r"measure\.unit: Input should be 'element' or 'channel'"),
    ],
)
def test_bad_fields_are_named_with_the_allowed_values(changes: dict, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        spec(**changes)


def test_missing_sections_and_files(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="model: required field is missing"):
        RunSpec.from_dict({"data": {"name": "teacher"}})
    with pytest.raises(SpecError, match="no spec file"):
        RunSpec.from_yaml(tmp_path / "nope.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(SpecError, match="must hold a mapping"):
        RunSpec.from_yaml(tmp_path / "list.yaml")


def test_bad_spec_exits_with_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({**BASE, "train": {"epochs": "many"}}))
    result = CliRunner().invoke(app, ["train", str(path), "--out", str(tmp_path / "runs")])
    assert result.exit_code == 2
    assert "train.epochs" in result.output


def test_effective_lr_and_batch_size() -> None:
    s = spec(train__k=4, train__lr=0.01, train__batch_size=128)
    assert s.train.effective_lr == pytest.approx(0.04) and s.train.effective_batch_size == 512
    assert spec(train__k=0.25).train.effective_batch_size == 32


PINNED = {"base": "618d893c824a", "lr": "027949d58694", "he": "4e6e7d424152"}
