"""Each probed layer's AUC or similarity against width: the paper's Figs. B6–B9."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.cm import ScalarMappable
from matplotlib.colors import ListedColormap, Normalize

from frivolous.plots import style
from frivolous.plots.aggregate import layer_order, per_layer_summary, require
from frivolous.plots.select import notes, usable

LAYER_MAP = "plasma"
"""Layers are coloured by depth, from a map other than the widths' so the two never read alike."""
MAX_LEGEND = 12
"""Beyond this many layers (ResNet56 has 28) a colour bar replaces the legend."""


def per_layer_vs_width(
    runs: pd.DataFrame, layers: pd.DataFrame, stem: str | Path, metric: str = "auc", title: str | None = None
) -> list[Path]:
    """Figs. B6–B9: ``metric`` of each trained layer against width, one panel per variant.

    A point is the mean over samplings of each run, then over replicates."""
    style.check_metric(metric)
    summary = require(per_layer_summary(runs, layers, metric), f"per-layer {metric}")
    order = [name for name in layer_order(layers) if name in set(summary["layer"])]
    colours = style.sequential(order, LAYER_MAP)
    widths = usable(runs)["width_factor"]
    series = sorted(summary["series"].unique())
    with style.panels(len(series), sharey=True, title=title) as (fig, axes):
        for ax, name in zip(axes, series):
            panel = summary[summary["series"] == name]
            for layer in order:
                points = panel[panel["layer"] == layer].sort_values("width_factor")
                if not points.empty:
                    ax.errorbar(
                        points["width_factor"],
                        points["mean"],
                        yerr=points["std"].fillna(0),
                        color=colours[layer],
                        marker="o",
                        markersize=4,
                        label=layer,
                    )
            style.width_axis(ax, widths)
            if len(series) > 1:
                ax.set_title(style.series_name(name))
        for ax in axes[:: style.MAX_COLUMNS]:
            ax.set_ylabel(style.METRICS[metric])
        if len(order) <= MAX_LEGEND:
            style.legend(fig, style.colour_key(colours, str), title="layer")
        else:
            bar = ScalarMappable(Normalize(-0.5, len(order) - 0.5), ListedColormap(list(colours.values())))
            cbar = fig.colorbar(bar, ax=axes, label="layer (network order)", aspect=40)
            cbar.set_ticks([0, len(order) - 1], labels=[order[0], order[-1]])
        style.footnote(fig, notes(runs))
        return style.save(fig, stem)
