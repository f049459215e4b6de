"""Run-level numbers against width factor: the paper's Figs. 1, 4–6 and B3–B5, B10–B13.

One line per variant (series), coloured consistently across a report's
figures. On request (``show_init``) the untrained control is drawn dashed in
the variant's colour, because a claim that redundancy *emerges* with width is
a claim that it rises faster than it does at initialisation. It is off by
default: it doubles the lines, and the paper's figures do not draw it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from frivolous.plots import style
from frivolous.plots.aggregate import NothingToPlot, by_width, require
from frivolous.plots.select import notes, series_colours, usable

ACCURACY: tuple[tuple[str, style.LineStyle, str], ...] = (
    ("test_accuracy", "-", "test accuracy"),
    ("train_accuracy", ":", "train accuracy"),
)
INIT_STYLE: tuple[style.LineStyle, str] = ("--", "at initialisation")
TRAINED_STYLE: tuple[style.LineStyle, str] = ("-", "trained")
SPREAD = ("similarity", "similarity_fraction")
"""Metrics drawn on a log axis when they span orders of magnitude (:func:`~frivolous.plots.style.spread_axis`);
never negative, so their error bars stop at 0."""


Colours = Mapping[str, Any]
"""Series label -> colour, in the order the series are drawn and listed in the legend."""


def _draw_lines(
    ax: Axes, summary: pd.DataFrame, colours: Colours, linestyle: style.LineStyle = "-", floor: float | None = None
) -> None:
    """One error-bar line per series of a :func:`~frivolous.plots.aggregate.by_width` table, in ``colours`` order.

    Series are nudged apart by :data:`~frivolous.plots.style.DODGE` so that
    overlapping error bars stay distinguishable. ``floor``: the least value
    the metric can take (0 for a count); an error bar stops there rather than
    draw values no run can have."""
    present = set(summary["series"])
    shown = [series for series in colours if series in present]
    for rank, series in enumerate(shown):
        points = summary[summary["series"] == series].sort_values("width_factor")
        x = points["width_factor"] * style.dodge(rank, len(shown))
        spread = points["std"].fillna(0)
        below = spread if floor is None else spread.clip(upper=(points["mean"] - floor).clip(lower=0))
        ax.errorbar(
            x,
            points["mean"],
            yerr=[below, spread],
            color=colours[series],
            linestyle=linestyle,
            marker="o",
            label=style.series_name(str(series)),
        )


def _accuracy_panel(ax: Axes, runs: pd.DataFrame, colours: Colours) -> list[tuple[style.LineStyle, str]]:
    drawn: list[tuple[style.LineStyle, str]] = []
    for column, linestyle, meaning in ACCURACY:
        summary = by_width(runs, column)
        if not summary.empty:
            _draw_lines(ax, summary, colours, linestyle)
            drawn.append((linestyle, meaning))
    if not drawn:
        raise NothingToPlot("nothing to plot: no accuracies from a finished, kept, uncollapsed run")
    ax.set_ylabel("top-1 accuracy")
    return drawn


def _metric_panel(
    ax: Axes, runs: pd.DataFrame, metric: str, colours: Colours, show_init: bool
) -> list[tuple[style.LineStyle, str]]:
    """``metric``'s lines, and the untrained control's when asked for; the line styles that need a key."""
    trained = require(by_width(runs, metric), metric)
    floor = 0.0 if metric in SPREAD else None
    _draw_lines(ax, trained, colours, floor=floor)
    init = by_width(runs, f"{metric}_init") if show_init else pd.DataFrame()
    if not init.empty:
        _draw_lines(ax, init, colours, INIT_STYLE[0], floor=floor)
    if metric in SPREAD:
        style.spread_axis(ax, pd.concat([trained["mean"], init.get("mean", pd.Series(dtype=float))]))
    ax.set_ylabel(style.METRICS[metric])
    return [] if init.empty else [TRAINED_STYLE, INIT_STYLE]


def _finish(
    fig: Figure, axes: list[Axes], runs: pd.DataFrame, colours: Colours, styles: list[tuple[style.LineStyle, str]]
) -> None:
    """Width ticks on every panel, one legend (variants, then line styles), the notes."""
    plotted = usable(runs)
    for ax in axes:
        style.width_axis(ax, plotted["width_factor"])
    present = set(plotted["series"])
    shown = {series: colour for series, colour in colours.items() if series in present}
    key = style.colour_key(shown) if any(shown) else []  # a lone default (unnamed) series needs no key
    meanings: dict[style.LineStyle, list[str]] = {}
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


def metric_vs_width(
    runs: pd.DataFrame, stem: str | Path, metric: str = "auc", show_init: bool = False, title: str | None = None
) -> list[Path]:
    """Figs. 4–6: ``metric`` against width, one line per variant; with ``show_init``, the untrained control dashed."""
    style.check_metric(metric)
    colours = series_colours(runs)
    with style.panels(1, title=title) as (fig, (ax,)):
        styles = _metric_panel(ax, runs, metric, colours, show_init)
        _finish(fig, [ax], runs, colours, styles)
        return style.save(fig, stem)


def removability_and_repetition(
    runs: pd.DataFrame,
    stem: str | Path,
    show_init: bool = False,
    title: str | None = None,
    colours: Colours | None = None,
) -> list[Path]:
    """The appendix's standard figure: (a) accuracy, (b) AUC, (c) similarity against width.

    ``colours`` picks the series to draw, their order and colours (default:
    every series of ``runs``, sorted, in the report's palette)."""
    colours = series_colours(runs) if colours is None else colours
    with style.panels(3, title=title) as (fig, axes):
        styles = _accuracy_panel(axes[0], runs, colours)
        styles += _metric_panel(axes[1], runs, "auc", colours, show_init)
        styles += _metric_panel(axes[2], runs, "similarity", colours, show_init)
        for ax, name in zip(axes, ("(a) accuracy", "(b) removability", "(c) similarity")):
            ax.set_title(name, loc="left")
        _finish(fig, axes, runs, colours, styles)
        return style.save(fig, stem)
