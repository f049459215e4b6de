"""Random-ablation curves, one line per width: the paper's Fig. 2."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from frivolous.plots import style
from frivolous.plots.aggregate import ablation_summary, require
from frivolous.plots.select import notes, usable


def ablation_curves(
    runs: pd.DataFrame, curves: pd.DataFrame, stem: str | Path, layer: str | None = None, title: str | None = None
) -> list[Path]:
    """Fig. 2: proportion of labels unchanged against % of units removed, one panel per variant.

    Each run's curve is averaged over its probed layers, as in the paper,
    unless ``layer`` names one layer (or ``"<all layers>"``, every layer
    ablated at once)."""
    summary = require(ablation_summary(runs, curves, layer), "ablation curves")
    widths = sorted(usable(runs)["width_factor"].unique())
    colours = style.sequential(widths)
    series = sorted(summary["series"].unique())
    with style.panels(len(series), sharey=True, title=title) as (fig, axes):
        for ax, name in zip(axes, series):
            for width, points in summary[summary["series"] == name].groupby("width_factor"):
                ax.errorbar(
                    points["level"] * 100,
                    points["mean"],
                    yerr=points["std"].fillna(0),
                    color=colours[width],
                    marker="o",
                    label=style.width_label(width),
                )
            ax.set_xlabel("% of units removed")
            ax.set_xlim(-3, 103)
            if len(series) > 1:
                ax.set_title(style.series_name(name))
        axes[0].set_ylim(0, 1.03)
        for ax in axes[:: style.MAX_COLUMNS]:
            ax.set_ylabel("proportion of labels unchanged")
        style.legend(fig, style.colour_key(colours, style.width_label), title="width factor")
        which = "mean over probed layers of each run's per-layer curves" if layer is None else f"layer {layer}"
        style.footnote(fig, [which, *notes(runs)])
        return style.save(fig, stem)
