"""The command line, as a new user runs it."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from frivolous import __version__
from frivolous.cli import app


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
