"""``frivolous reproduce``: a preset end to end, from the sweep to the report.

sweep (train and measure every run) -> results tables -> figures -> verdicts
-> ``report.md`` and ``report.html`` in the sweep's folder. Each step reads
only the files of the step before, so figures and report can be rebuilt
from a finished (or half-finished) sweep with ``frivolous plot`` and
``frivolous report``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from frivolous.common.files import read_json, write_json
from frivolous.experiments.executors import Executor
from frivolous.experiments.presets import DEFAULT, PaperFigure, Preset
from frivolous.experiments.presets import preset as find_preset
from frivolous.experiments.runner import SWEEP_INFO, SweepSummary, load_sweep, versions
from frivolous.results.results_table import TABLES, load_results
from frivolous.results.sweep_report import ReportInputs, write_report
from frivolous.results.verdicts import layer_verdicts, verdicts
from frivolous.sweeping import run_sweep

FIGURES = "figures"


def figures(folder: str | Path) -> list[Path]:
    """Every figure the sweep's tables allow (PNG and SVG under ``folder/figures``), its paper figures first."""
    from frivolous.plots import plot_all

    folder = Path(folder)
    tables = {kind: load_results(folder, kind) for kind in TABLES}
    return plot_all(tables, folder / FIGURES, paper_figures=_paper_figures(folder))


def _paper_figures(folder: Path) -> tuple[PaperFigure, ...]:
    """The paper figures of the preset that ran the sweep in ``folder``; none for a sweep of no (known) preset."""
    info = read_json(folder / SWEEP_INFO) if (folder / SWEEP_INFO).is_file() else {}
    try:
        return find_preset(info["preset"]).paper_figures if info.get("preset") else ()
    except ValueError:
        return ()


def report(folder: str | Path, *, title: str | None = None) -> tuple[Path, Path]:
    """Figures, verdicts and the report of a sweep folder."""
    folder = Path(folder)
    sweep, info = load_sweep(folder)
    runs = load_results(folder)
    pngs = [p for p in figures(folder) if p.suffix == ".png"]
    name = info.get("preset") or folder.name
    inputs = ReportInputs(
        title=title or _title(name, info.get("scale", "")),
        info=info,
        sweep_yaml=sweep.to_yaml(),
        runs=runs,
        verdicts=verdicts(runs),
        figures=pngs,
        layer_verdicts=layer_verdicts(runs, load_results(folder, "layers")),
    )
    return write_report(inputs, folder)


def _title(name: str, scale: str) -> str:
    try:
        found = find_preset(name)
    except ValueError:
        return f"frivolous sweep {name}"
    return f"{found.title} (figures {found.figures}; {scale} scale)"


@dataclass(frozen=True)
class Reproduction:
    folder: Path
    summary: SweepSummary | None
    markdown: Path
    html: Path
    seconds: float


def reproduce(
    name: str = DEFAULT,
    *,
    scale: str = "quick",
    out: str | Path | None = None,
    executor: Executor | None = None,
    device: str = "auto",
    data_root: str | Path | None = None,
    progress: bool | None = None,
    batch_runs: str | int = "auto",
) -> Reproduction:
    """Run preset ``name`` at ``scale`` into ``out`` (default ``out/<preset>-<scale>``) and report on it
    (``batch_runs``: see :func:`~frivolous.experiments.runner.complete_runs`)."""
    started = time.perf_counter()
    chosen = find_preset(name)
    folder = Path(out) if out is not None else Path("out") / f"{name}-{scale}"
    if chosen.build is None:
        markdown, page = _parameters_only(chosen, folder)
        return Reproduction(folder, None, markdown, page, time.perf_counter() - started)
    summary = run_sweep(
        chosen.sweep(scale),
        folder,
        preset=name,
        scale=scale,
        executor=executor,
        device=device,
        data_root=data_root,
        progress=progress,
        batch_runs=batch_runs,
    )
    markdown, page = report(folder)
    return Reproduction(folder, summary, markdown, page, time.perf_counter() - started)


def _parameters_only(chosen: Preset, folder: Path) -> tuple[Path, Path]:
    """The B1 figure needs no training: count parameters, plot, and report."""
    from frivolous.plots import parameter_table, params_vs_width

    folder.mkdir(parents=True, exist_ok=True)
    table = parameter_table()
    table.to_parquet(folder / "parameters.parquet", index=False)
    written = params_vs_width(table, folder / FIGURES / "parameters", title=chosen.title)
    write_json(folder / SWEEP_INFO, {"preset": chosen.name, "scale": "-", "versions": versions()})
    inputs = ReportInputs(
        title=f"{chosen.title} (figure {chosen.figures})",
        info={"preset": chosen.name, "versions": versions(), "seconds": 0.0},
        sweep_yaml="# no training: parameter counts of frivolous.zoo.create(family, width)\n",
        runs=pd.DataFrame({"status": pd.Series(dtype=str)}),
        verdicts=pd.DataFrame(),
        figures=[p for p in written if p.suffix == ".png"],
    )
    return write_report(inputs, folder)
