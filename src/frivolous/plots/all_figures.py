"""Every figure a sweep's results tables allow, written to one folder: the paper's figures first."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

import pandas as pd

from frivolous.plots.ablation import ablation_curves
from frivolous.plots.aggregate import NothingToPlot, parameter_counts
from frivolous.plots.epochs import metrics_across_epochs
from frivolous.plots.layers import per_layer_vs_width
from frivolous.plots.paper import line_colours, paper_figure
from frivolous.plots.params import params_vs_width
from frivolous.plots.used import effective_width_vs_width, units_used_vs_width
from frivolous.plots.violins import similarity_violins
from frivolous.plots.width import accuracy_vs_width, metric_vs_width, removability_and_repetition

if TYPE_CHECKING:
    from frivolous.experiments.presets import PaperFigure

Tables = Mapping[str, pd.DataFrame]
Figure = tuple[tuple[str, ...], Callable[[Tables, Path], list[Path]]]

FIGURES: MappingProxyType[str, Figure] = MappingProxyType(
    {
        "accuracy": (("runs",), lambda t, stem: accuracy_vs_width(t["runs"], stem)),
        "auc": (("runs",), lambda t, stem: metric_vs_width(t["runs"], stem, "auc")),
        "similarity": (("runs",), lambda t, stem: metric_vs_width(t["runs"], stem, "similarity")),
        "similarity-fraction": (("runs",), lambda t, stem: metric_vs_width(t["runs"], stem, "similarity_fraction")),
        "summary": (("runs",), lambda t, stem: removability_and_repetition(t["runs"], stem)),
        "parameters": (("runs",), lambda t, stem: params_vs_width(parameter_counts(t["runs"]), stem)),
        "ablation-curves": (("runs", "curves"), lambda t, stem: ablation_curves(t["runs"], t["curves"], stem)),
        "violins": (("runs", "histograms"), lambda t, stem: similarity_violins(t["runs"], t["histograms"], stem)),
        "per-layer-auc": (("runs", "layers"), lambda t, stem: per_layer_vs_width(t["runs"], t["layers"], stem, "auc")),
        "per-layer-similarity": (
            ("runs", "layers"),
            lambda t, stem: per_layer_vs_width(t["runs"], t["layers"], stem, "similarity"),
        ),
        "epochs": (("runs", "epochs"), lambda t, stem: metrics_across_epochs(t["runs"], t["epochs"], stem)),
        "units-used": (("runs", "layers"), lambda t, stem: units_used_vs_width(t["runs"], t["layers"], stem)),
        "effective-width": (("runs",), lambda t, stem: effective_width_vs_width(t["runs"], stem)),
    }
)
"""File stem -> (the tables it reads, how to draw it)."""

OVERLAID = frozenset({"accuracy", "auc", "similarity", "similarity-fraction", "summary"})
"""Figures that overlay every variant of the sweep: left out when the paper figures draw every variant."""


def plot_all(tables: Tables, out_dir: str | Path, paper_figures: Sequence[PaperFigure] = ()) -> list[Path]:
    """Write the paper figures, then every figure of :data:`FIGURES` whose tables are present and hold usable rows.

    ``tables`` maps ``"runs"``, ``"layers"``, ``"curves"``, ``"histograms"``
    and ``"epochs"`` to the sweep's results tables; other entries are
    ignored. ``paper_figures`` (a preset's) are drawn first, each as
    ``<name>.png`` (``B4.png``; :func:`~frivolous.plots.paper.paper_figure`),
    sharing one colour per line label. When they draw every variant of the
    runs table, the :data:`OVERLAID` figures, whose one line per variant
    they would repeat unreadably (a dozen lines), are left out. A figure is
    skipped, not failed, when its inputs are missing or empty (a sweep
    without checkpoint epochs has no epochs figure) or hold no finished,
    kept, uncollapsed run. Returns the PNG and SVG paths written."""
    out_dir = Path(out_dir)
    written: list[Path] = []
    runs = tables.get("runs", pd.DataFrame())
    drawable = tuple(paper_figures) if not runs.empty else ()
    colours = line_colours(drawable)
    for figure in drawable:
        try:
            written += paper_figure(runs, figure, out_dir / figure.name, colours=colours)
        except NothingToPlot:
            continue
    drawn = {variant for figure in drawable for variant in figure.lines.values()}
    covered = bool(drawable) and set(runs["variant"]) <= drawn
    for name, (needs, draw) in FIGURES.items():
        if covered and name in OVERLAID:
            continue
        if all(need in tables and not tables[need].empty for need in needs):
            try:
                written += draw(tables, out_dir / name)
            except NothingToPlot:
                continue
    return written
