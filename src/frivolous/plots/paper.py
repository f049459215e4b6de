"""The paper's own figures: one figure per :class:`~frivolous.experiments.presets.PaperFigure` of a preset.

A preset that runs several of the paper's experiments in one sweep (the MLPs
of B4, B5 and B11) names, per figure of the paper, which of its variants are
that figure's lines and what the legend calls them. Each figure is the
appendix's three panels, (a) accuracy, (b) removability, (c) similarity,
against width, with only those lines, in the paper's order and under the
paper's labels ("σ=1e-4", "Adam"), so that it can be read beside the paper's.
The same runs may be lines of two figures (B11's momentum line is B4's
default σ).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import matplotlib as mpl
import pandas as pd
from matplotlib.colors import ListedColormap

from frivolous.plots.aggregate import NothingToPlot
from frivolous.plots.width import removability_and_repetition

if TYPE_CHECKING:
    from frivolous.experiments.presets import PaperFigure


def line_colours(figures: Iterable[PaperFigure]) -> dict[str, Any]:
    """A colour per line label of ``figures``, in order of first appearance.

    Keyed by label, so that a label (σ=1e-2) has the same colour in every
    paper figure of a report (B4 and B5) and neighbouring lines of one figure
    get neighbouring colours of the qualitative map."""
    labels = list(dict.fromkeys(label for figure in figures for label in figure.lines))
    cmap = mpl.colormaps["tab10" if len(labels) <= 10 else "tab20"]
    assert isinstance(cmap, ListedColormap)
    colours = cast("Sequence[Any]", cmap.colors)  # tab10 and tab20 hold a tuple of RGB tuples
    return {label: colours[i % len(colours)] for i, label in enumerate(labels)}


def figure_runs(runs: pd.DataFrame, figure: PaperFigure) -> pd.DataFrame:
    """The runs of ``figure``'s lines, each relabelled as its line: ``variant`` is the line's label.

    A variant that is a line twice (or of two figures) contributes its runs to
    each. A line whose variant the sweep did not run is left out (a quick
    sweep runs fewer σ than the paper's figure shows). The family is set to
    the figure's name, so a line is its label even when the lines come from
    different network families."""
    lines = [
        runs[runs["variant"] == variant].assign(variant=label, family=figure.name)
        for label, variant in figure.lines.items()
    ]
    lines = [line for line in lines if not line.empty]
    if not lines:
        raise NothingToPlot(
            f"nothing to plot for figure {figure.name}: the runs table has none of its variants "
            f"{list(figure.lines.values())}"
        )
    return pd.concat(lines, ignore_index=True)


def figure_title(figure: PaperFigure) -> str:
    """``"Fig. B4: <title>"``, the figure's name as the paper numbers it."""
    return f"Fig. {figure.name}: {figure.title}" if figure.title else f"Fig. {figure.name}"


def paper_figure(
    runs: pd.DataFrame,
    figure: PaperFigure,
    stem: str | Path,
    show_init: bool = False,
    colours: dict[str, Any] | None = None,
) -> list[Path]:
    """Draw ``figure``: (a) accuracy, (b) removability, (c) similarity against width, one line per ``figure.lines``.

    Lines are drawn and listed in the order of ``figure.lines``, named by
    their labels; only finished, kept (selected), uncollapsed runs are
    plotted, error bars are the standard deviation over replicates and the
    footnote names the collapsed runs left out. ``show_init`` adds each
    line's untrained control, dashed. ``colours`` maps line labels to colours
    (default :func:`line_colours` of this figure alone; :func:`~frivolous.plots.plot_all`
    passes one map for all of a report's paper figures). Writes ``<stem>.png``
    and ``<stem>.svg`` and returns their paths."""
    palette = line_colours([figure]) if colours is None else colours
    ordered = {label: palette[label] for label in figure.lines}
    return removability_and_repetition(
        figure_runs(runs, figure), stem, show_init=show_init, title=figure_title(figure), colours=ordered
    )
