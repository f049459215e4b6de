"""The end of the pipeline: figures, verdicts and the report, read by a real browser."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import TINY_SWEEP
from frivolous.cli import app
from frivolous.experiments.sweep import SweepSpec
from frivolous.reproduce import report, reproduce
from frivolous.results.page import FIGURE_SCALE, html_figure, html_pairs, png_width
from frivolous.results.sweep_report import ReportInputs, write_report
from frivolous.results.verdicts import layer_verdicts, verdicts
from frivolous.sweeping import run_sweep

TINY = TINY_SWEEP | {"grid": {"model.width_factor": [0.25, 1]}}
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def sweep_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sweep")
    run_sweep(SweepSpec.from_dict(TINY), folder, device="cpu", progress=False)
    return folder


def test_report_has_every_part(sweep_folder: Path) -> None:
    markdown, page = report(sweep_folder)
    text = markdown.read_text()
    headings = [
        "## Verdicts",
        "## Figures",
        "## Verdicts in detail",
        "## Flagged runs",
        "### Failed runs (0)",
        "### Diverged runs (0)",
        "### Collapsed runs (0)",
        "### Groups with no usable candidate (0)",
        "## Means per width",
        "## What was run",
    ]
    assert [text.index(heading) for heading in headings] == sorted(text.index(heading) for heading in headings)
    assert "Spearman" in text and "model.width_factor" in text and "Equivalence margins" in text
    assert "| variant | runs | accuracy | AUC | similarity | hypothesis | AUC beyond init |" in text
    figures = re.findall(r"!\[[^]]*\]\(([^)]+)\)", text)
    assert len(figures) >= 8 and all((sweep_folder / f).is_file() for f in figures)
    assert (sweep_folder / "verdicts.json").is_file()
    assert "- **trained**: 4 in batches" in text  # each width's two seeds trained together
    html = page.read_text()
    assert html.count("data:image/png;base64,") == len(figures) and "src='figures/" not in html
    # Each embedded figure is a link to its full-size file beside the page, shown at one scale of its pixels.
    linked = re.findall(r"<a href='([^']+)' title='open the full-size figure'><img alt='[^']*' width='(\d+)'", html)
    assert [href for href, _ in linked] == figures
    assert all(
        int(width) == round(png_width((sweep_folder / href).read_bytes()) * FIGURE_SCALE) for href, width in linked
    )
    # The compact table and the flagged count come first; the long sentences sit in a closed details block.
    assert html.index("<table>") < html.index("Flagged runs") < html.index("<details id='details'>")
    assert html.index("<details id='details'>") < html.index("Over finished, non-collapsed") < html.index("<figure ")
    assert "<details id='layers'>" not in html and "### Per layer" not in text  # the tiny MLP has one layer


def flagged_sweep() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run and layers tables of a sweep of two variants at five widths, 3
    replicates, one candidate per selection group, and trouble in variant
    "a": a failed run, a run collapsed after training (its group has no
    other candidate), one collapsed at initialisation, and a group with a
    second candidate, both of which diverged. In "a" the first layer's AUC,
    and so the network's, rises with width."""
    rng = np.random.default_rng(0)
    rows = []
    for variant in ("a", "b"):
        for width in (0.25, 0.5, 1.0, 2.0, 4.0):
            for replicate in range(3):
                rise = 0.05 * np.log2(width) if variant == "a" else 0.0
                rows.append(
                    {
                        "run_id": f"{variant}-{width}-{replicate}",
                        "preset": "mlp",
                        "variant": variant,
                        "width_factor": width,
                        "replicate": replicate,
                        "seed": replicate,
                        "group": f"{variant}|w={width}|r={replicate}",
                        "status": "done",
                        "kept": True,
                        "collapsed": False,
                        "collapsed_init": False,
                        "collapse_reason": "",
                        "diverged_reason": "",
                        "error": "",
                        "test_accuracy": 0.9 + 0.01 * rng.normal(),
                        "auc": 0.5 + rise + 0.01 * rng.normal(),
                        "similarity": 2 + 0.01 * rng.normal(),
                        "similarity_fraction": 0.1 + 0.01 * rng.normal(),
                        "auc_init": 0.4 + 0.01 * rng.normal(),
                        "similarity_init": 1 + 0.01 * rng.normal(),
                        "similarity_fraction_init": 0.05 + 0.01 * rng.normal(),
                    }
                )
    runs = pd.DataFrame(rows).set_index("run_id", drop=False)
    runs.loc["a-0.25-0", ["status", "kept", "error"]] = ["failed", False, "RuntimeError: out of memory"]
    runs.loc["a-0.5-1", ["collapsed", "collapse_reason"]] = [True, "one class predicted"]
    runs.loc["a-1.0-2", ["collapsed_init", "collapse_reason"]] = [True, "every unit dead at initialisation"]
    runs.loc["a-2.0-0", ["status", "kept", "diverged_reason"]] = ["diverged", False, "the training loss became nan"]
    twin = runs.loc[["a-2.0-0"]].assign(run_id="a-2.0-0-lr2")
    runs = pd.concat([runs, twin.set_index("run_id", drop=False)]).reset_index(drop=True)
    layer_rows = []
    for run in runs.itertuples():
        for layer in ("hidden1", "hidden2"):
            for stage in ("trained", "init"):
                auc = run.auc if layer == "hidden1" and stage == "trained" else 0.5 + 0.01 * rng.normal()
                layer_rows.append(
                    {
                        "run_id": run.run_id,
                        "stage": stage,
                        "layer": layer,
                        "sampling": 0,
                        "auc": auc,
                        "similarity": 2 + 0.01 * rng.normal(),
                        "similarity_fraction": 0.1 + 0.01 * rng.normal(),
                    }
                )
    return runs, pd.DataFrame(layer_rows)


def test_report_counts_and_lists_flagged_runs_and_shows_layers(tmp_path: Path) -> None:
    runs, layers = flagged_sweep()
    inputs = ReportInputs(
        title="flagged",
        info={},
        sweep_yaml="grid: {}\n",
        runs=runs,
        figures=[],
        verdicts=verdicts(runs, permutations=500),
        layer_verdicts=layer_verdicts(runs, layers, permutations=500),
    )
    markdown, page = write_report(inputs, tmp_path)
    text = markdown.read_text()
    summary = (
        "1 failed, 2 diverged, 1 collapsed after training, 1 collapsed at initialisation, "
        "2 groups with every candidate diverged or collapsed"
    )
    assert f"**Flagged runs**: {summary}" in text
    # Each trend with its slope per doubling ± the half-width of its 90% interval.
    flat = r"→ flat \([+-][\d.e-]+ ± [\d.e-]+\)"
    rises = r"↑ rises \(\+0\.05\d? ± 0\.00\d+\)"
    assert re.search(rf"\| a \| 12 \| {flat} \| {rises} \| {flat} \| ✓ holds \| ↑ rises ", text)
    assert re.search(rf"\| b \| 15 \| {flat} \| {flat} \| {flat} \| ✗ fails \| {flat} \| {flat} \| ✗ fails \|", text)
    sections = text[text.index("## Flagged runs") : text.index("## Means per width")]
    assert "### Failed runs (1)" in sections and "RuntimeError: out of memory" in sections
    assert (
        "### Diverged runs (2)" in sections
        and "| a-2.0-0-lr2 | a | 2.0 | 0 | the training loss became nan |" in sections
    )
    assert "### Collapsed runs (2)" in sections and "every unit dead at initialisation" in sections
    assert "| a-0.5-1 | a | 0.5 | 1 | trained | one class predicted |" in sections
    # Both candidates of one group diverged; the only candidate of another collapsed.
    assert "### Groups with no usable candidate (2)" in sections
    assert "| a\\|w=0.5\\|r=1 | a | 0.5 | 1 | 0 | 1 |" in sections
    assert "| a\\|w=2.0\\|r=0 | a | 2.0 | 2 | 2 | 0 |" in sections
    layer_section = text[text.index("### Per layer") : text.index("## Flagged runs")]
    assert "| a | hidden1 | 12 | ↑ rises (+0.0" in layer_section and "| b | hidden2 | 15 |" in layer_section
    assert "collapsed at initialisation (left out of the controlled tests)" in text
    html = page.read_text()
    assert "<details id='layers'><summary>Per-layer trends</summary>" in html
    assert "<td class='verdict rises'>↑ rises (+0.05" in html and "colspan='3'>controlled" in html
    assert (tmp_path / "layer_verdicts.json").is_file()


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(
    chromium() is None and not os.environ.get("FRIVOLOUS_REQUIRE_CHROMIUM"),
    reason="Debian's chromium package is not installed (.ci/run installs it)",
)
def test_every_figure_loads_in_headless_chromium(sweep_folder: Path, tmp_path: Path) -> None:
    _, page = report(sweep_folder)
    browser = chromium()
    assert browser is not None, "FRIVOLOUS_REQUIRE_CHROMIUM is set but chromium is missing"
    dom = subprocess.run(
        [
            browser,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=10000",
            "--dump-dom",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
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
    for name in (
        "mlp-teacher",
        "alexnet-inits",
        "random-labels",
        "resnet18-imagenet",
        "inception-layer",
        "parameters",
        "mnist1d-cnn",
    ):
        assert name in result.output


def test_a_trend_within_the_margin_has_its_own_sign_and_class(tmp_path: Path) -> None:
    runs, _ = flagged_sweep()
    table = verdicts(runs, permutations=500, deltas={"auc": 0.2})  # the rise of "a" lies inside this margin
    assert table.set_index("variant").loc["a", "auc_trend"] == "rises, within the margin"
    write_report(ReportInputs(title="margin", info={}, sweep_yaml="", runs=runs, figures=[], verdicts=table), tmp_path)
    html = (tmp_path / "report.html").read_text()
    assert "<td class='verdict rises within'>↗ rises, within the margin (+0.05" in html
    assert "↗ / ↘ rises / falls, within the margin" in html


def test_page_blocks_link_figures_and_show_pairs_as_a_table(tmp_path: Path) -> None:
    from matplotlib.figure import Figure

    figure = tmp_path / "figures" / "one.png"
    figure.parent.mkdir()
    Figure(figsize=(3, 2)).savefig(figure, dpi=100)
    figure.with_suffix(".svg").write_text("<svg/>")
    block = html_figure(figure, page=tmp_path / "report.html", caption="a <caption>")
    shown = round(300 * FIGURE_SCALE)
    assert block.startswith(
        f"<figure style='width: {shown}px'><a href='figures/one.png' title='open the full-size figure'><img alt='one' "
    )
    assert f"width='{round(300 * FIGURE_SCALE)}'" in block and "data-loaded" not in block  # set by the browser
    assert "<b>one</b>: a &lt;caption&gt; (full size: <a href='figures/one.png'>PNG</a>, " in block
    assert "<a href='figures/one.svg'>SVG</a>" in block
    assert "<a " not in html_figure(figure)  # without the page, nothing to link from
    assert html_pairs([("seed", "0"), ("a<b", "{'x': 1}")]) == (
        "<table class='pairs'><tbody><tr><th>seed</th><td>0</td></tr>"
        "<tr><th>a&lt;b</th><td>{&#x27;x&#x27;: 1}</td></tr></tbody></table>"
    )
    assert html_pairs([]) == "" and png_width(b"not a png") is None
