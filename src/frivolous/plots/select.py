"""Which runs a figure shows, how each is labelled, and what the figure's note says.

A figure shows only runs that finished (``status == "done"``), that the sweep
kept, and whose training did not collapse. Collapsed runs are named in the
figure's note rather than dropped silently: leaving out a variant's failures
unannounced would flatter it.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from frivolous.plots.style import ERROR_NOTE, palette, powers_of_ten, width_label

RUN_KEYS = ["run_id", "series", "family", "variant", "width_factor", "replicate"]
"""The columns of a run that companion tables borrow when joined to ``runs``."""
LISTED = 4
"""Left-out runs named one by one in a note; beyond this, only counted."""


def series_labels(runs: pd.DataFrame) -> pd.Series:
    """The line a run belongs to: its variant, prefixed by its family when a table mixes families."""
    variant = runs["variant"].fillna("").astype(str)
    if runs["family"].nunique() <= 1:
        return variant
    family = runs["family"].astype(str)
    return (family + ", " + variant).where(variant != "", family)


def series_colours(runs: pd.DataFrame) -> dict[str, Any]:
    """A colour per series of the whole table, plotted or not, so a variant keeps its colour in every figure."""
    return palette(series_labels(runs))


def _finished(runs: pd.DataFrame) -> pd.Series:
    return (runs["status"] == "done") & runs["kept"].fillna(False).astype(bool)


def _collapsed(runs: pd.DataFrame) -> pd.Series:
    return runs["collapsed"].fillna(False).astype(bool)


def usable(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs to plot, with a ``series`` column (see :func:`series_labels`)."""
    labelled = runs.assign(series=series_labels(runs))
    return labelled[_finished(runs) & ~_collapsed(runs)].reset_index(drop=True)


def collapsed(runs: pd.DataFrame) -> pd.DataFrame:
    """Finished, kept runs left out because their training collapsed."""
    labelled = runs.assign(series=series_labels(runs))
    return labelled[_finished(runs) & _collapsed(runs)].reset_index(drop=True)


def attach(runs: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """``table`` restricted to usable runs, with each row's series, width and replicate."""
    keys = usable(runs)[RUN_KEYS]
    borrowed = [c for c in RUN_KEYS if c != "run_id"]
    return table.drop(columns=[c for c in borrowed if c in table.columns]).merge(keys, on="run_id", how="inner")


def notes(runs: pd.DataFrame, *, error_bars: bool = True) -> list[str]:
    """The small print of a figure of ``runs``: the error bars' meaning and the collapsed runs left out."""
    lines = []
    if error_bars:
        counts = usable(runs).groupby(["series", "width_factor"]).size()
        if len(counts):
            low, high = int(counts.min()), int(counts.max())
            lines.append(f"{ERROR_NOTE} ({low if low == high else f'{low}–{high}'} per point)")
    left_out = collapsed(runs)
    if len(left_out):
        runs_word = "run" if len(left_out) == 1 else "runs"
        named = [
            f"{powers_of_ten(r.series or r.family)} {width_label(r.width_factor)}x #{r.replicate}"
            for r in left_out.head(LISTED).itertuples()
        ]
        more = f" and {len(left_out) - LISTED} more" if len(left_out) > LISTED else ""
        lines.append(f"left out {len(left_out)} collapsed {runs_word}: {', '.join(named)}{more}")
    return lines
