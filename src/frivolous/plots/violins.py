"""Violin plots of pairwise |r| per width: the paper's Fig. 3."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from frivolous.plots import style
from frivolous.plots.aggregate import NothingToPlot
from frivolous.plots.density import SMOOTHING, violins
from frivolous.plots.select import notes, usable

HALF_WIDTH = 0.4
"""Half the widest point of a violin, in octaves of width factor (ticks are one octave apart)."""


def similarity_violins(
    runs: pd.DataFrame,
    histograms: pd.DataFrame,
    stem: str | Path,
    layer: str | None = None,
    title: str | None = None,
    smoothing: float = SMOOTHING,
) -> list[Path]:
    """Fig. 3: the distribution of |r| over unit pairs at each width, one panel per variant.

    The paper shows the final convolutional layer; by default each run's last
    probed layer is shown, or ``layer`` when given. Each violin is scaled to
    its own widest point, and a black bar marks its mean."""
    shapes = violins(runs, histograms, layer, smoothing=smoothing)
    if not shapes:
        raise NothingToPlot("nothing to plot: no |r| histograms from a finished, kept, uncollapsed run")
    widths = sorted(usable(runs)["width_factor"].unique())
    colours = style.sequential(widths)
    series = sorted({v.series for v in shapes})
    with style.panels(len(series), sharey=True, title=title) as (fig, axes):
        for ax, name in zip(axes, series):
            shown = [v for v in shapes if v.series == name]
            for v in shown:
                x = np.log2(v.width_factor)
                half = v.density[v.shown] / v.density.max() * HALF_WIDTH
                ax.fill_betweenx(
                    v.centres[v.shown],
                    x - half,
                    x + half,
                    facecolor=colours[v.width_factor],
                    alpha=0.8,
                    edgecolor="0.2",
                    linewidth=0.6,
                )
                ax.hlines(v.mean, x - HALF_WIDTH / 2, x + HALF_WIDTH / 2, color="black", linewidth=2)
            style.width_axis(ax, widths, log=False)
            ax.set_xlim(np.log2(widths[0]) - 0.6, np.log2(widths[-1]) + 0.6)
            ax.grid(axis="x", visible=False)
            layers = sorted({v.layer for v in shown})
            heading = [style.series_name(name)] if len(series) > 1 else []
            heading += [f"layer {layers[0]}"] if len(layers) == 1 else []
            ax.set_title(" · ".join(heading))
        axes[0].set_ylim(0, 1)
        for ax in axes[:: style.MAX_COLUMNS]:
            ax.set_ylabel("|Pearson r| between unit pairs")
        about = f"density of |r| over all unit pairs, smoothed (σ = {smoothing:g}); black bar: mean |r|"
        style.footnote(fig, [about, *notes(runs, error_bars=False)])
        return style.save(fig, stem)
