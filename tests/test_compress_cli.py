"""``frivolous compress``: one target (--agreement, --units or --ratio), and a
compression that changes nothing is an error, not a 1.00x folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from frivolous.cli import app

FACTORIES = '''
import torch
from torch import nn


def _filled(net, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=g))
    return net


def repeated(hidden=8):
    """6 -> 2 * hidden -> 3 whose second half of hidden units repeats the first."""
    net = _filled(nn.Sequential(nn.Linear(6, 2 * hidden), nn.ReLU(), nn.Linear(2 * hidden, 3)))
    with torch.no_grad():
        net[0].weight[hidden:], net[0].bias[hidden:] = net[0].weight[:hidden], net[0].bias[:hidden]
    return net


def widths():
    """6 -> 16 -> 128 -> 3."""
    return _filled(nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 128), nn.ReLU(), nn.Linear(128, 3)))
'''


def factory(folder: Path, marker: Path | None = None) -> str:
    """The factory file; with ``marker``, importing it writes that file (the model was loaded)."""
    path = folder / "nets.py"
    path.write_text(
        FACTORIES + (f"\nfrom pathlib import Path\nPath({str(marker)!r}).write_text('loaded')\n" if marker else "")
    )
    return str(path)


def run(*arguments: str):
    return CliRunner().invoke(
        app,
        [
            "compress",
            *arguments,
            "--data",
            "random:6",
            "--examples",
            "120",
            "--held-out-examples",
            "60",
            "--device",
            "cpu",
        ],
    )


@pytest.mark.parametrize(
    ("targets", "named"),
    [
        (["--agreement", "0.95", "--ratio", "2"], "--agreement and --ratio"),
        (["--agreement", "0.95", "--units", "4"], "--agreement and --units"),
        (["--units", "4", "--ratio", "2"], "--units and --ratio"),
    ],
    ids=["agreement and ratio", "agreement and units", "units and ratio"],
)
def test_contradictory_targets_are_refused_before_the_model_is_loaded(tmp_path, targets: list[str], named: str) -> None:
    marker = tmp_path / "loaded"
    done = run(f"{factory(tmp_path, marker)}:repeated", *targets, "--out", str(tmp_path / "small"))
    assert done.exit_code == 2, done.output
    assert done.output.strip() == (
        f"error: give one of --agreement, --units and --ratio, not {named}: --agreement is "
        "what the search for sizes keeps, --units and --ratio fix the sizes"
    )
    assert not marker.exists() and not (tmp_path / "small").exists()


def test_more_units_than_any_layer_has_is_an_error_that_names_the_widths(tmp_path) -> None:
    out = tmp_path / "small"
    done = run(f"{factory(tmp_path)}:widths", "--units", "500", "--out", str(out))
    assert done.exit_code == 2, done.output
    assert done.output.strip() == (
        "error: --units 500 keeps every layer whole (the layers compress can shrink have 16 "
        f"to 128 units); nothing written to {out}"
    )
    assert not out.exists()


def test_one_target_at_a_time_and_the_agreement_by_default(tmp_path) -> None:
    """--ratio alone is not met by a default --agreement; with no target the search keeps 0.99 and
    folds the repeated half of the hidden units away."""
    nets = factory(tmp_path)
    halved = run(f"{nets}:repeated", "--ratio", "2", "--out", str(tmp_path / "halved"))
    assert halved.exit_code == 0, halved.output
    settings = json.loads((tmp_path / "halved" / "compressed.json").read_text())["settings"]
    assert (settings["agreement"], settings["ratio"]) == (None, 2.0)
    searched = run(f"{nets}:repeated", "--out", str(tmp_path / "searched"))
    assert searched.exit_code == 0, searched.output
    described = json.loads((tmp_path / "searched" / "compressed.json").read_text())
    assert described["settings"]["units"] is None and described["settings"]["ratio"] is None
    assert described["layers"][0]["units_after"] <= 8 < described["layers"][0]["units_before"] == 16
    assert described["agreement"] >= 0.95


def test_a_target_that_cannot_be_met_is_said_once_as_the_commands_warning(tmp_path) -> None:
    """Printed as the command prints its warnings, not as Python's warning with a source line."""
    done = run(f"{factory(tmp_path)}:repeated", "--ratio", "1000", "--out", str(tmp_path / "small"))
    assert done.exit_code == 0, done.output
    assert done.output.count("cannot be reached") == 1 and "warning: ratio=1000.0 cannot be reached" in done.output
    assert "CompressionWarning" not in done.output and "warnings.warn" not in done.output
