"""Parameter counts against width: the paper's Fig. B1.

Counting needs no training, only the architecture (:func:`frivolous.zoo.parameter_count`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from frivolous import zoo
from frivolous.plots import style
from frivolous.plots.aggregate import require

WIDTHS = (0.25, 0.5, 1.0, 2.0, 4.0)


def parameter_table(families: Sequence[str] | None = None, widths: Sequence[float] = WIDTHS) -> pd.DataFrame:
    """Trainable parameters of each zoo family (all by default) at each width: ``family, width_factor, params``."""
    rows = []
    for family in zoo.families() if families is None else families:
        for width in widths:
            rows.append({"family": family, "width_factor": float(width), "params": zoo.parameter_count(family, width)})
    return pd.DataFrame(rows, columns=["family", "width_factor", "params"])


def params_vs_width(params: pd.DataFrame, stem: str | Path, title: str | None = None) -> list[Path]:
    """Fig. B1: trainable parameters (log scale) against width, one line per family."""
    require(params, "parameter counts")
    colours = style.palette(params["family"])
    with style.panels(1, title=title) as (fig, (ax,)):
        for family, points in params.groupby("family"):
            points = points.sort_values("width_factor")
            ax.plot(points["width_factor"], points["params"], color=colours[family], marker="o", label=family)
        ax.set_yscale("log")
        ax.set_ylabel("trainable parameters")
        style.width_axis(ax, params["width_factor"])
        if len(colours) == 1:
            ax.set_title(params["family"].iloc[0])
        style.legend(fig, style.colour_key(colours, str))
        return style.save(fig, stem)
