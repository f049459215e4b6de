"""The per-layer table of an analysis: one row per probed layer, for files, terminal and report.

Columns: ``layer``; ``depth`` (1 for the first probed layer, in the order of
the forward pass for the automatic choice); ``shape`` (one example's
activation; with batches of different lengths, a length that varies reads
as its range, ``32x3..8``); ``units`` (of the ablation: elements or channels) and
``channels`` (of the correlations); ``auc`` and ``auc_std`` (over
samplings); ``similarity`` (mean count of other units with |r| >= the
threshold) and ``similarity_std`` (over units); ``similarity_fraction``
(similarity / (live channels - 1), live: not dead); ``dead`` units; ``features_last`` (the
layer's units are its last axis, a transformer's features: ``shape`` lists
them first, as measured). Then, where the measurement
gives them, the effective-width metrics: ``prunable`` and ``non_prunable``
units (at 0.8 agreement) and ``pca95``/``pca80`` principal components.
With the sampled estimator (``--estimator sampled``) ``auc_std`` is NaN (no
samplings) and each layer adds its 95% intervals: ``auc_low``, ``auc_high``,
``auc_half_width`` (what ``--precision`` bounds), ``prunable_low``,
``prunable_high``, and ``ablation_examples``, the predictions its curve used.
For a transformer, ``compress_keeps``: the units of the layer's MLP block
that ``frivolous compress`` keeps at 0.99 agreement (NaN for a layer that is
not an MLP's hidden units; :mod:`frivolous.analysis.compress_hint`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd
from rich.table import Table

from frivolous.measuring import MeasureResult

WIDTH_METRICS = ("prunable", "non_prunable", "pca95", "pca80")
"""Effective-width metrics, taken from each layer's result when it has them."""
HEADINGS = {
    "auc": "AUC",
    "similarity": "similarity",
    "similarity_fraction": "fraction",
    "dead": "dead",
    "prunable": "prunable",
    "non_prunable": "non-prunable",
    "pca95": "PCA 95%",
    "pca80": "PCA 80%",
    "compress_keeps": "compress keeps",
}


def layer_frame(result: MeasureResult, lengths: Sequence[int] = ()) -> pd.DataFrame:
    """The table of ``result``; ``lengths``: each batch's length, in the order
    measured, where the batches differ in length (see :func:`shape_text`)."""
    rows = []
    for depth, (name, layer) in enumerate(result.layers.items(), start=1):
        row = {
            "layer": name,
            "depth": depth,
            "shape": shape_text(layer.shape, lengths),
            "units": layer.ablation.units if layer.ablation else math.nan,
            "channels": layer.channels,
            "auc": layer.auc,
            "auc_std": layer.auc_std,
            "similarity": layer.similarity,
            "similarity_std": layer.similarity_std,
            "similarity_fraction": layer.similarity_fraction,
            "dead": layer.dead,
            "features_last": layer.features_last,
        }
        row |= {metric: float(getattr(layer, metric)) for metric in WIDTH_METRICS if hasattr(layer, metric)}
        row |= layer.ablation.interval_columns() if layer.ablation else {}
        rows.append(row)
    return pd.DataFrame(rows)


def shape_text(shape: Sequence[int], lengths: Sequence[int] = ()) -> str:
    """One example's shape as ``"32x5"``. Where the batches differ in length
    (``lengths``, the first batch's first: the one whose shape was recorded),
    an axis after the units of the first batch's length varies with the
    batch, and reads as the range of lengths: ``"32x3..8"``."""
    if len(set(lengths)) < 2:
        return "x".join(map(str, shape))
    span = f"{min(lengths)}..{max(lengths)}"
    return "x".join([str(size) if axis == 0 or size != lengths[0] else span for axis, size in enumerate(shape)])


def width_metrics(frame: pd.DataFrame) -> list[str]:
    """The effective-width metrics the table holds."""
    return [metric for metric in WIDTH_METRICS if metric in frame]


def kept_columns(frame: pd.DataFrame) -> list[str]:
    """``["compress_keeps"]`` where the table has what compress keeps (a transformer's), else none."""
    return ["compress_keeps"] if "compress_keeps" in frame else []


def terminal_table(frame: pd.DataFrame, title: str) -> Table:
    table = Table(title=title)
    table.add_column("layer", no_wrap=True)
    extra, kept = width_metrics(frame), kept_columns(frame)
    headings = (HEADINGS[m] for m in (*extra, *kept))
    for column in ("depth", "shape", "units", "AUC", "similarity", "fraction", "dead", *headings):
        table.add_column(column, justify="right", no_wrap=True)
    aucs, prunable = auc_texts(frame), prunable_texts(frame)
    for i, row in enumerate(frame.itertuples(index=False)):
        table.add_row(
            row.layer,
            str(row.depth),
            row.shape,
            _count(row.units),
            aucs[i],
            f"{row.similarity:.2f} ± {row.similarity_std:.2f}",
            f"{row.similarity_fraction:.4f}",
            str(row.dead),
            *(prunable[i] if metric == "prunable" else _number(getattr(row, metric)) for metric in extra),
            *(_count(getattr(row, column)) for column in kept),
        )
    table.add_section()
    means = frame[["auc", "similarity", "similarity_fraction", *extra]].mean()
    table.add_row(
        "mean over layers",
        "",
        "",
        "",
        f"{means['auc']:.3f}",
        f"{means['similarity']:.2f}",
        f"{means['similarity_fraction']:.4f}",
        "",
        *(_number(means[metric]) for metric in extra),
        *("" for _ in kept),
    )
    return table


def display_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The table as read in the report: rounded, each mean beside its spread, headings as in the terminal."""
    shown = pd.DataFrame(
        {
            "layer": frame["layer"],
            "depth": frame["depth"],
            "shape": frame["shape"],
            "units": frame["units"].map(_count),
            "channels": frame["channels"],
        }
    )
    shown["AUC"] = auc_texts(frame)
    shown["similarity"] = [f"{m:.2f} ± {s:.2f}" for m, s in zip(frame["similarity"], frame["similarity_std"])]
    shown["fraction"] = frame["similarity_fraction"].map(lambda v: f"{v:.4f}")
    shown["dead"] = frame["dead"]
    for metric in width_metrics(frame):
        shown[HEADINGS[metric]] = prunable_texts(frame) if metric == "prunable" else frame[metric].map(_number)
    for column in kept_columns(frame):
        shown[HEADINGS[column]] = frame[column].map(_count)
    shown["features"] = frame["features_last"].map({True: "last axis", False: "first axis"})
    return shown


def sampled(frame: pd.DataFrame) -> bool:
    """Whether the table holds the sampled estimator's intervals (``--estimator sampled``)."""
    return "auc_low" in frame


def auc_texts(frame: pd.DataFrame) -> list[str]:
    """Each layer's AUC as read: ``0.912 ± 0.004`` (std over samplings), or
    with the sampled estimator ``0.912 [0.905, 0.919]`` (its 95% interval)."""
    if sampled(frame):
        return [f"{m:.3f} [{lo:.3f}, {hi:.3f}]" for m, lo, hi in zip(frame["auc"], frame["auc_low"], frame["auc_high"])]
    return [f"{m:.3f} ± {s:.3f}" for m, s in zip(frame["auc"], frame["auc_std"])]


def prunable_texts(frame: pd.DataFrame) -> list[str]:
    """Each layer's prunable units as read, with the sampled estimator's 95% interval: ``12.3 [10.0, 14.1]``."""
    if "prunable" not in frame:
        return []
    if sampled(frame):
        return [
            f"{_number(m)} [{_number(lo)}, {_number(hi)}]"
            for m, lo, hi in zip(frame["prunable"], frame["prunable_low"], frame["prunable_high"])
        ]
    return [_number(m) for m in frame["prunable"]]


def _count(value: float) -> str:
    return "-" if pd.isna(value) else str(int(value))


def _number(value: float) -> str:
    return "-" if pd.isna(value) else f"{value:.1f}"
