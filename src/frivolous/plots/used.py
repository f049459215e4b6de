"""How wide the layers really are: non-prunable units and PCA components against
each layer's width, and each run's effective width (the units of the smallest
network ``fv.compress`` finds at the spec's agreement) against its width, on
log–log axes with the identity line (the AAAI version's "wider networks are
not really that wide").

A layer that needs all its units lies on the identity line; one whose
non-prunable units or principal components stop growing with width bends
below it. Points are layers of trained networks: the value of each run
(non-prunable units from the largest prunable count over samplings, as the
released notebooks; components averaged over samplings), then the mean over
replicates.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from frivolous.plots import style
from frivolous.plots.aggregate import NothingToPlot, across_replicates, layer_order, require
from frivolous.plots.layers import LAYER_MAP
from frivolous.plots.select import attach, notes, series_colours, usable

QUANTITIES = (
    ("non_prunable", "units", "units in the layer", "non-prunable units (0.8 agreement)"),
    ("pca95", "channels", "units (channels) in the layer", "principal components (95% variance)"),
)
"""(value, the width it is compared with, x label, y label) per panel."""


def used_units_summary(runs: pd.DataFrame, layers: pd.DataFrame, stage: str = "trained") -> pd.DataFrame:
    """Per series, layer and width factor: the layer's width ``x`` and each
    quantity's ``mean``, ``std`` and ``n`` over replicates (``quantity`` names it)."""
    needed = {"prunable", "units", "pca95", "channels"}
    if not needed <= set(layers.columns):
        return pd.DataFrame()
    table = attach(runs, layers[layers["stage"] == stage])
    keys = ["run_id", "series", "layer", "width_factor"]
    per_run = (
        table.groupby(keys)
        .agg(
            units=("units", "first"),
            channels=("channels", "first"),
            prunable=("prunable", "max"),
            pca95=("pca95", "mean"),
        )
        .reset_index()
    )
    per_run["non_prunable"] = per_run["units"] - per_run["prunable"]
    parts = []
    for value, width, _, _ in QUANTITIES:
        stats = across_replicates(per_run, value, ["series", "layer", "width_factor"])
        x = per_run.groupby(["series", "layer", "width_factor"])[width].mean().rename("x").reset_index()
        parts.append(stats.merge(x, on=["series", "layer", "width_factor"]).assign(quantity=value))
    return pd.concat(parts, ignore_index=True)


def units_used_vs_width(
    runs: pd.DataFrame, layers: pd.DataFrame, stem: str | Path, title: str | None = None
) -> list[Path]:
    """Non-prunable units and PCA components (95%) of each layer against its
    width, log–log, with the identity line; two panels per series, layers coloured by depth."""
    summary = require(used_units_summary(runs, layers), "prunable units or PCA components")
    order = [name for name in layer_order(layers) if name in set(summary["layer"])]
    colours = style.sequential(order, LAYER_MAP)
    series = sorted(summary["series"].unique())
    with style.panels(len(QUANTITIES) * len(series), columns=len(QUANTITIES), title=title) as (fig, axes):
        for row, name in enumerate(series):
            for column, (value, _, xlabel, ylabel) in enumerate(QUANTITIES):
                ax = axes[row * len(QUANTITIES) + column]
                panel = summary[(summary["series"] == name) & (summary["quantity"] == value)]
                for layer in order:
                    points = panel[panel["layer"] == layer].sort_values("x")
                    if not points.empty:
                        ax.errorbar(
                            points["x"],
                            points["mean"],
                            yerr=points["std"].fillna(0),
                            color=colours[layer],
                            marker="o",
                            markersize=4,
                            label=layer,
                        )
                _identity(ax, panel["x"])
                ax.set_xscale("log", base=2)
                ax.set_yscale("log", base=2)
                ax.set_xlabel(xlabel)
                ax.set_ylabel(ylabel)
                if len(series) > 1:
                    ax.set_title(style.series_name(name))
        style.legend(fig, style.colour_key(colours, str), title="layer")
        style.footnote(fig, [*notes(runs), "dashed: the identity (every unit used)"])
        return style.save(fig, stem)


def _identity(ax: Axes, widths: pd.Series) -> None:
    low, high = float(np.nanmin(widths)), float(np.nanmax(widths))
    ax.plot([low, high], [low, high], color="0.5", linestyle="--", linewidth=1.0, zorder=0)


def effective_width_vs_width(runs: pd.DataFrame, stem: str | Path, title: str | None = None) -> list[Path]:
    """Each run's effective width (units kept by ``fv.compress`` over the layers
    it can shrink) against those layers' units, log–log with the identity line;
    one line per series, the mean over replicates per width factor."""
    if not {"effective_width", "effective_width_units"} <= set(runs.columns):
        raise NothingToPlot("nothing to plot: no effective width in the runs (set measure.effective_width)")
    table = usable(runs).dropna(subset=["effective_width"])
    stats = require(across_replicates(table, "effective_width", ["series", "width_factor"]), "effective width")
    widths = table.groupby(["series", "width_factor"])["effective_width_units"].mean().rename("x").reset_index()
    stats = stats.merge(widths, on=["series", "width_factor"])
    colours = series_colours(runs)
    with style.panels(1, title=title) as (fig, (ax,)):
        for name, points in stats.groupby("series"):
            points = points.sort_values("x")
            ax.errorbar(
                points["x"],
                points["mean"],
                yerr=points["std"].fillna(0),
                color=colours[name],
                marker="o",
                label=style.series_name(name),
            )
        _identity(ax, stats["x"])
        ax.set_xscale("log", base=2)
        ax.set_yscale("log", base=2)
        ax.set_xlabel("units (layers compress can shrink)")
        ax.set_ylabel("effective width (units kept)")
        style.legend(fig, style.colour_key({k: v for k, v in colours.items() if k in set(stats["series"])}))
        style.footnote(fig, [*notes(runs), "dashed: the identity (every unit needed)"])
        return style.save(fig, stem)
