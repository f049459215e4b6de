"""Measurements across checkpoint epochs, one line per width: the paper's Fig. B2.

Trends that hold at every epoch past convergence cannot be an artefact of
when training was stopped."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

import pandas as pd

from frivolous.plots import style
from frivolous.plots.aggregate import epoch_summary, require
from frivolous.plots.select import notes, usable

PANELS: MappingProxyType[str, tuple[str, str]] = MappingProxyType(
    {
        "test_accuracy": ("(a) accuracy", "top-1 test accuracy"),
        "auc": ("(b) removability", style.METRICS["auc"]),
        "similarity": ("(c) repetition", style.METRICS["similarity"]),
    }
)
"""Column of the epochs table -> (panel title, axis label)."""


def metrics_across_epochs(
    runs: pd.DataFrame, epochs: pd.DataFrame, stem: str | Path, title: str | None = None
) -> list[Path]:
    """Fig. B2: accuracy, AUC and similarity against epoch, one line per width; a row of panels per variant."""
    summaries = {metric: epoch_summary(runs, epochs, metric) for metric in PANELS}
    require(pd.concat(summaries.values()), "checkpoint epochs")
    widths = sorted(usable(runs)["width_factor"].unique())
    colours = style.sequential(widths)
    series = sorted(pd.concat(summaries.values())["series"].unique())
    with style.panels(len(series) * len(PANELS), columns=len(PANELS), sharey="col", title=title) as (fig, axes):
        panels = iter(axes)
        for name in series:
            for metric, (heading, label) in PANELS.items():
                ax = next(panels)
                summary = summaries[metric]
                for width, points in summary[summary["series"] == name].groupby("width_factor"):
                    points = points.sort_values("epoch")
                    ax.errorbar(
                        points["epoch"],
                        points["mean"],
                        yerr=points["std"].fillna(0),
                        color=colours[width],
                        marker="o",
                        markersize=4,
                        label=style.width_label(width),
                    )
                ax.set_title(f"{style.series_name(name)}: {heading}" if len(series) > 1 else heading, loc="left")
                ax.set_xlabel("epoch")
                ax.set_ylabel(label)
        style.legend(fig, style.colour_key(colours, style.width_label), title="width factor")
        style.footnote(fig, notes(runs))
        return style.save(fig, stem)
