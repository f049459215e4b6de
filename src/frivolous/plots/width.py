"""Run-level numbers against width factor: the paper's Figs. 1, 4–6 and B3–B5, B10–B13.

One line per variant (series), coloured consistently across a report's
figures; the untrained control is drawn dashed in the variant's colour,
because a claim that redundancy *emerges* with width is a claim that it
rises faster than it does at initialisation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from frivolous.plots import style
from frivolous.plots.aggregate import NothingToPlot, by_width, require
from frivolous.plots.select import notes, series_colours, usable

ACCURACY = (("test_accuracy", "-", "test accuracy"), ("train_accuracy", ":", "train accuracy"))
INIT_STYLE = ("--", "at initialisation")
TRAINED_STYLE = ("-", "trained")


def _draw_lines(ax: Axes, summary: pd.DataFrame, colours: dict[str, Any], linestyle: str = "-") -> None:
    """One error-bar line per series of a :func:`~frivolous.plots.aggregate.by_width` table.

    Series are nudged apart by :data:`~frivolous.plots.style.DODGE` so that
    overlapping error bars stay distinguishable."""
    shown = sorted(summary["series"].unique())
    for rank, series in enumerate(shown):
        points = summary[summary["series"] == series].sort_values("width_factor")
        x = points["width_factor"] * style.dodge(rank, len(shown))
        ax.errorbar(x, points["mean"], yerr=points["std"].fillna(0), color=colours[series], linestyle=linestyle,
                    marker="o", label=style.series_name(str(series)))  # fmt: skip


def _accuracy_panel(ax: Axes, runs: pd.DataFrame, colours: dict[str, Any]) -> list[tuple[str, str]]:
    drawn = []
    for column, linestyle, meaning in ACCURACY:
        summary = by_width(runs, column)
        if not summary.empty:
            _draw_lines(ax, summary, colours, linestyle)
            drawn.append((linestyle, meaning))
    if not drawn:
        raise NothingToPlot("nothing to plot: no accuracies from a finished, kept, uncollapsed run")
    ax.set_ylabel("top-1 accuracy")
    return drawn


def _metric_panel(ax: Axes, runs: pd.DataFrame, metric: str, colours: dict[str, Any],
                  show_init: bool) -> list[tuple[str, str]]:  # fmt: skip
    _draw_lines(ax, require(by_width(runs, metric), metric), colours)
    drawn = [TRAINED_STYLE]
    init = by_width(runs, f"{metric}_init") if show_init else pd.DataFrame()
    if not init.empty:
        _draw_lines(ax, init, colours, INIT_STYLE[0])
        drawn.append(INIT_STYLE)
    ax.set_ylabel(style.METRICS[metric])
    return drawn


def _finish(fig: Figure, axes: list[Axes], runs: pd.DataFrame, colours: dict[str, Any],
            styles: list[tuple[str, str]]) -> None:  # fmt: skip
    """Width ticks on every panel, one legend (variants, then line styles), the notes."""
    plotted = usable(runs)
    for ax in axes:
        style.width_axis(ax, plotted["width_factor"])
    shown = {s: colours[s] for s in sorted(plotted["series"].unique())}
    key = style.colour_key(shown) if len(shown) > 1 else []
    meanings: dict[str, list[str]] = {}
    for linestyle, meaning in dict.fromkeys(styles):
        meanings.setdefault(linestyle, []).append(meaning)
    style.legend(fig, key + style.style_key(*((ls, " / ".join(m)) for ls, m in meanings.items())))
    style.footnote(fig, notes(runs))


def accuracy_vs_width(runs: pd.DataFrame, stem: str | Path, title: str | None = None) -> list[Path]:
    """Fig. 1: test (solid) and train (dotted) accuracy against width, one line per variant."""
    colours = series_colours(runs)
    with style.panels(1, title=title) as (fig, (ax,)):
        styles = _accuracy_panel(ax, runs, colours)
        _finish(fig, [ax], runs, colours, styles)
        return style.save(fig, stem)


def metric_vs_width(runs: pd.DataFrame, stem: str | Path, metric: str = "auc", show_init: bool = True,
                    title: str | None = None) -> list[Path]:  # fmt: skip
    """Figs. 4–6: ``metric`` against width, one line per variant, the untrained control dashed."""
    style.check_metric(metric)
    colours = series_colours(runs)
    with style.panels(1, title=title) as (fig, (ax,)):
        styles = _metric_panel(ax, runs, metric, colours, show_init)
        _finish(fig, [ax], runs, colours, styles)
        return style.save(fig, stem)


def removability_and_repetition(runs: pd.DataFrame, stem: str | Path, show_init: bool = True,
                                title: str | None = None) -> list[Path]:  # fmt: skip
    """The appendix's standard figure: (a) accuracy, (b) AUC, (c) similarity against width."""
    colours = series_colours(runs)
    with style.panels(3, title=title) as (fig, axes):
        styles = _accuracy_panel(axes[0], runs, colours)
        styles += _metric_panel(axes[1], runs, "auc", colours, show_init)
        styles += _metric_panel(axes[2], runs, "similarity", colours, show_init)
        for ax, name in zip(axes, ("(a) accuracy", "(b) removability", "(c) repetition")):
            ax.set_title(name, loc="left")
        _finish(fig, axes, runs, colours, styles)
        return style.save(fig, stem)
