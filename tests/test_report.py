"""The end of the pipeline: figures, verdicts and the report, read by a real browser."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from frivolous.cli import app
from frivolous.experiments.reproduce import report, reproduce
from frivolous.experiments.runner import run_sweep
from frivolous.experiments.sweep import SweepSpec

from conftest import TINY_SWEEP

TINY = TINY_SWEEP | {"grid": {"model.width_factor": [0.25, 1]}}
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


@pytest.fixture(scope="module")
def sweep_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sweep")
    run_sweep(SweepSpec.from_dict(TINY), folder, device="cpu", progress=False)
    return folder


def test_report_has_every_part(sweep_folder: Path) -> None:
    markdown, page = report(sweep_folder)
    text = markdown.read_text()
    for heading in ("## What was run", "## Verdicts", "## Means per width", "## Figures", "## Failed runs",
                    "## Collapsed runs"):  # fmt: skip
        assert heading in text
    assert "Spearman" in text and "model.width_factor" in text
    figures = re.findall(r"!\[[^]]*\]\(([^)]+)\)", text)
    assert len(figures) >= 8 and all((sweep_folder / f).is_file() for f in figures)
    assert (sweep_folder / "verdicts.json").is_file()
    html = page.read_text()
    assert html.count("data:image/png;base64,") == len(figures) and "src='figures/" not in html


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(chromium() is None and not os.environ.get("FRIVOLOUS_REQUIRE_CHROMIUM"),
                    reason="Debian's chromium package is not installed (.ci/run installs it)")  # fmt: skip
def test_every_figure_loads_in_headless_chromium(sweep_folder: Path, tmp_path: Path) -> None:
    _, page = report(sweep_folder)
    browser = chromium()
    assert browser is not None, "FRIVOLOUS_REQUIRE_CHROMIUM is set but chromium is missing"
    dom = subprocess.run(
        [browser, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000",
         "--dump-dom", page.resolve().as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    images = re.findall(r"<img[^>]*>", dom)
    assert len(images) >= 8
    assert all('data-loaded="1"' in image for image in images), "a figure did not load"
    assert not any("data-broken" in image for image in images)


def test_plot_and_report_commands(sweep_folder: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["plot", str(sweep_folder)])
    assert result.exit_code == 0 and "files in" in result.output
    result = runner.invoke(app, ["report", str(sweep_folder)])
    assert result.exit_code == 0 and "report.html" in result.output


def test_parameters_preset_needs_no_training(tmp_path: Path) -> None:
    outcome = reproduce("parameters", out=tmp_path)
    assert outcome.summary is None and outcome.html.is_file()
    assert (tmp_path / "figures" / "parameters.png").is_file() and (tmp_path / "parameters.parquet").is_file()


def test_reproduce_rejects_unknown_presets_and_scales(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["reproduce", "vgg-imagenet", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "unknown preset" in result.output
    result = runner.invoke(app, ["reproduce", "--scale", "huge", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "scale must be one of" in result.output


def test_presets_command_lists_every_preset() -> None:
    result = CliRunner().invoke(app, ["presets"])
    assert result.exit_code == 0
    for name in ("mlp-teacher", "alexnet-inits", "random-labels", "resnet18-imagenet", "inception-layer",
                 "parameters", "mnist1d-cnn"):  # fmt: skip
        assert name in result.output
