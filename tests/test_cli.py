"""The command line, as a new user runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from frivolous import __version__
from frivolous.cli import app
from frivolous.experiments.run import measure_run, train_run
from frivolous.runs.spec import RunSpec, SpecError


def test_demo_prints_the_constructions() -> None:
    result = CliRunner().invoke(app, ["demo", "--examples", "300", "--hidden", "8"])
    assert result.exit_code == 0, result.output
    for text in ("S   u  w", "[u,u]  [w,0]", "[u,v]  [w,0]", "[u,0]  [w,0]", "[w/2±η]", "similarity", "AUC half"):
        assert text in result.output


def test_version_and_help() -> None:
    runner = CliRunner()
    assert __version__ in runner.invoke(app, ["--version"]).output
    assert "demo" in runner.invoke(app, ["--help"]).output


def test_module_entry_point() -> None:
    out = subprocess.run([sys.executable, "-m", "frivolous", "--help"], capture_output=True, text=True, check=True)
    assert "demo" in out.stdout


def test_bad_option_exits_with_2() -> None:
    result = CliRunner().invoke(app, ["demo", "--examples", "1"])
    assert result.exit_code == 2


def test_presets_lists_the_paper_experiments_and_points_to_the_fidelity_doc() -> None:
    result = CliRunner().invoke(app, ["presets"])
    assert result.exit_code == 0, result.output
    assert "mlp-teacher" in result.output and "B4, B5, B11" in result.output
    assert "fidelity.md" in result.output


def test_measure_on_a_truncated_weights_file_says_what_to_do_in_one_line(tmp_path: Path) -> None:
    spec = RunSpec.from_dict(
        {
            "model": {"family": "mlp", "width_factor": 0.125},
            "data": {"name": "teacher", "input_dim": 6, "n_train": 60, "n_val": 20, "n_test": 20},
            "train": {"epochs": 1, "batch_size": 20},
            "measure": {"samplings": 1, "levels": 3},
        }
    )
    layout = train_run(spec, tmp_path, device="cpu", progress=False).layout
    weights = layout.weights.read_bytes()
    layout.weights.write_bytes(weights[: len(weights) // 2])
    result = CliRunner().invoke(app, ["measure", str(layout.root), "--device", "cpu"])
    assert result.exit_code == 2
    line = (
        f"{layout.weights} does not match its checksum; train the run again with `frivolous train "
        f"{layout.spec} --out {tmp_path}` (it retrains a run whose files do not match their checksums)"
    )
    assert result.output.splitlines() == [line]
    assert isinstance(result.exception, SystemExit)  # typer's exit, not a traceback
    # What the line says to do works: the run is trained again, then measured.
    train = CliRunner().invoke(app, ["train", str(layout.spec), "--out", str(tmp_path), "--device", "cpu"])
    assert train.exit_code == 0
    assert layout.weights.read_bytes() == weights
    assert CliRunner().invoke(app, ["measure", str(layout.root), "--device", "cpu"]).exit_code == 0


def test_measure_on_a_truncated_checkpoint_names_it_in_one_line(tmp_path: Path) -> None:
    spec = RunSpec.from_dict(
        {
            "model": {"family": "mlp", "width_factor": 0.125},
            "data": {"name": "teacher", "input_dim": 6, "n_train": 60, "n_val": 20, "n_test": 20},
            "train": {"epochs": 2, "batch_size": 20, "checkpoints": [1]},
        }
    )
    layout = train_run(spec, tmp_path, device="cpu", progress=False).layout
    checkpoint = layout.epoch_weights(1)
    checkpoint.write_bytes(checkpoint.read_bytes()[:100])
    with pytest.raises(SpecError) as error:
        measure_run(layout.root, stage="epoch-1", device="cpu", progress=False)
    message = str(error.value)
    assert message.startswith(f"{checkpoint} cannot be read (") and "\n" not in message
    assert message.endswith(
        f"remove the run folder {layout.root} and train it again (frivolous train {layout.spec} --out {tmp_path})"
    )
