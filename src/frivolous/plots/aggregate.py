"""What each figure plots: means and standard deviations over replicates.

Every helper returns a tidy table with ``mean``, ``std`` (sample standard
deviation, ``ddof=1``; NaN for a single replicate) and ``n`` (replicates with
a value) per point, so a test can check exactly the numbers a figure draws.
Only usable runs (:func:`~frivolous.plots.select.usable`) count.
"""

from __future__ import annotations

import pandas as pd

from frivolous.measuring.measurement import ALL_LAYERS
from frivolous.plots.select import attach, usable


class NothingToPlot(ValueError):
    """A figure's tables hold no usable rows: no finished, kept, uncollapsed run has the data."""


def require(frame: pd.DataFrame, what: str) -> pd.DataFrame:
    """``frame`` itself, or :class:`NothingToPlot` naming ``what`` is missing."""
    if frame.empty:
        raise NothingToPlot(f"nothing to plot: no {what} from a finished, kept, uncollapsed run")
    return frame


def across_replicates(frame: pd.DataFrame, value: str, by: list[str]) -> pd.DataFrame:
    """Mean, standard deviation and count of ``value`` per ``by`` group; groups without a value are dropped."""
    stats = frame.groupby(by)[value].agg(["mean", "std", "count"]).reset_index().rename(columns={"count": "n"})
    return stats[stats["n"] > 0].reset_index(drop=True)


def by_width(runs: pd.DataFrame, column: str) -> pd.DataFrame:
    """A run-level column (``test_accuracy``, ``auc``, ``similarity_init`` ...) per series and width."""
    return across_replicates(usable(runs), column, ["series", "width_factor"])


def ablation_summary(
    runs: pd.DataFrame, curves: pd.DataFrame, layer: str | None = None, stage: str = "trained"
) -> pd.DataFrame:
    """Proportion of labels unchanged per series, width and level.

    Each run's curve is its per-layer curves (means over samplings) averaged
    over its probed layers, as the paper displays them, leaving out the
    all-layers-at-once curve; or, with ``layer``, that one layer's curve."""
    table = attach(runs, curves[curves["stage"] == stage])
    table = table[table["layer"] != ALL_LAYERS] if layer is None else table[table["layer"] == layer]
    keys = ["run_id", "series", "width_factor", "level"]
    per_layer = table.groupby([*keys, "layer"])["unchanged"].mean().reset_index()
    per_run = per_layer.groupby(keys)["unchanged"].mean().reset_index()
    return across_replicates(per_run, "unchanged", ["series", "width_factor", "level"])


def layer_order(table: pd.DataFrame) -> list[str]:
    """Layer names in the order they first appear: network order, as the tables are written."""
    return list(pd.unique(table["layer"]))


def per_layer_summary(runs: pd.DataFrame, layers: pd.DataFrame, metric: str, stage: str = "trained") -> pd.DataFrame:
    """``metric`` per series, layer and width: the mean over samplings of each run, then over replicates."""
    table = attach(runs, layers[layers["stage"] == stage])
    per_run = table.groupby(["run_id", "series", "layer", "width_factor"])[metric].mean().reset_index()
    return across_replicates(per_run, metric, ["series", "layer", "width_factor"])


def epoch_summary(runs: pd.DataFrame, epochs: pd.DataFrame, metric: str) -> pd.DataFrame:
    """``metric`` per series, width and checkpoint epoch."""
    return across_replicates(attach(runs, epochs), metric, ["series", "width_factor", "epoch"])


def parameter_counts(runs: pd.DataFrame) -> pd.DataFrame:
    """Parameter count per family and width, from the runs themselves (:func:`params_vs_width`'s input).

    A family's variants share its line when they have the same counts, as
    initialisers and regularisers do; when some variant changes the counts
    (one layer widened, say), each variant gets a line of its own, labelled
    ``"family, variant"``."""
    table = usable(runs).drop_duplicates(["family", "variant", "width_factor"])
    counts_differ = table.groupby(["family", "width_factor"])["params"].transform("nunique") > 1
    own_line = counts_differ.groupby(table["family"]).transform("any")
    named = table["family"] + ", " + table["variant"]
    label = named.where(own_line & (table["variant"] != ""), table["family"])
    counts = table.assign(family=label)[["family", "width_factor", "params"]].drop_duplicates()
    return counts.sort_values(["family", "width_factor"]).reset_index(drop=True)
