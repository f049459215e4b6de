"""Every figure a sweep's results tables allow, written to one folder."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType

import pandas as pd

from frivolous.plots.ablation import ablation_curves
from frivolous.plots.aggregate import NothingToPlot, parameter_counts
from frivolous.plots.epochs import metrics_across_epochs
from frivolous.plots.layers import per_layer_vs_width
from frivolous.plots.params import params_vs_width
from frivolous.plots.violins import similarity_violins
from frivolous.plots.width import accuracy_vs_width, metric_vs_width, removability_and_repetition

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
    }
)
"""File stem -> (the tables it reads, how to draw it)."""


def plot_all(tables: Tables, out_dir: str | Path) -> list[Path]:
    """Write every figure of :data:`FIGURES` whose tables are present and hold usable rows.

    ``tables`` maps ``"runs"``, ``"layers"``, ``"curves"``, ``"histograms"``
    and ``"epochs"`` to the sweep's results tables; other entries are
    ignored. A figure is skipped, not failed, when its inputs are missing or
    empty (a sweep without checkpoint epochs has no epochs figure) or hold no
    finished, kept, uncollapsed run. Returns the PNG and SVG paths written."""
    out_dir = Path(out_dir)
    written: list[Path] = []
    for name, (needs, draw) in FIGURES.items():
        if all(need in tables and not tables[need].empty for need in needs):
            try:
                written += draw(tables, out_dir / name)
            except NothingToPlot:
                continue
    return written
