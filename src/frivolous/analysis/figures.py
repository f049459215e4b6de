"""The figures of one analysed model: each metric against depth, |r| histograms, ablation curves.

Drawn with the sweep figures' look (:mod:`frivolous.plots.style`): layers are
coloured by depth from the same map as the per-layer sweep figures, and each
function writes ``<stem>.png`` and ``<stem>.svg`` and returns their paths.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from frivolous.analysis.layer_table import width_metrics
from frivolous.plots import style
from frivolous.plots.layers import LAYER_MAP

HISTOGRAM_LAYERS = 4
"""Layers whose |r| histograms are drawn: evenly spaced in depth, first and last included."""
HISTOGRAM_BINS = 50
"""The 1000 stored bins are summed into this many for drawing."""
MAX_LEGEND = 12
"""Beyond this many layers the ablation curves name only the first and the last."""
MAX_NAME = 36
"""Characters of a layer's name shown in a legend or title (its end, which tells layers apart)."""
PANELS = {
    "auc": "area under ablation curve",
    "similarity": "similar units per unit",
    "similarity_fraction": "fraction of other units similar",
    "dead_fraction": "fraction of units dead",
}
WIDTH_LINES = {
    "non_prunable": ("units", "non-prunable units (0.8 agreement)"),
    "pca95": ("channels", "principal components (95% variance)"),
    "pca80": ("channels", "principal components (80% variance)"),
}
"""The effective-width metrics drawn, each as a share of the layer's units or channels."""


def metrics_by_depth(table: pd.DataFrame, stem: str | Path, title: str | None = None) -> list[Path]:
    """One panel per metric against the layer's depth (AUC with its standard
    deviation over samplings), and one of the effective widths, where measured,
    as shares of the layer's size."""
    frame = table.assign(dead_fraction=table["dead"] / table["channels"])
    widths = [metric for metric in WIDTH_LINES if metric in width_metrics(table)]
    with style.panels(len(PANELS) + bool(widths), title=title) as (fig, axes):
        for ax, (metric, label) in zip(axes, PANELS.items()):
            error = frame["auc_std"] if metric == "auc" else None
            ax.errorbar(frame["depth"], frame[metric], yerr=error, marker="o", markersize=4, color="C0")
            ax.set_ylabel(label)
        if widths:
            ax = axes[-1]
            for i, metric in enumerate(widths):
                size, label = WIDTH_LINES[metric]
                ax.plot(
                    frame["depth"],
                    frame[metric] / frame[size],
                    marker="o",
                    markersize=4,
                    color=f"C{i + 1}",
                    label=label,
                )
            ax.set_ylabel("share of the layer's units")
            ax.set_ylim(0, 1.03)
            ax.legend(fontsize="small", loc="best")
        for i, ax in enumerate(axes):
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            if i + style.MAX_COLUMNS >= len(axes):  # nothing below it
                ax.set_xlabel("depth (probed layer, in network order)")
        style.footnote(fig, ["AUC error bars: standard deviation over samplings"])
        return style.save(fig, stem)


def chosen_layers(layers: list[str], count: int = HISTOGRAM_LAYERS) -> list[str]:
    """Up to ``count`` of ``layers`` evenly spaced in depth, the first and the last included."""
    if len(layers) <= count:
        return list(layers)
    return [layers[i] for i in np.unique(np.linspace(0, len(layers) - 1, count).round().astype(int))]


def similarity_histograms(
    histograms: pd.DataFrame, layers: list[str], threshold: float, stem: str | Path, title: str | None = None
) -> list[Path]:
    """One panel per chosen layer: the share of unit pairs per |r| bin, the threshold marked."""
    with style.panels(len(layers), title=title) as (fig, axes):
        for ax, layer in zip(axes, layers):
            rows = histograms[histograms["layer"] == layer]
            counts = rows["pairs"].to_numpy()
            grouped = counts.reshape(HISTOGRAM_BINS, -1).sum(1) if len(counts) % HISTOGRAM_BINS == 0 else counts
            total = grouped.sum()
            edges = np.linspace(0, 1, len(grouped) + 1)
            ax.stairs(grouped / total if total else grouped, edges, fill=True, alpha=0.8, color="C0")
            ax.axvline(threshold, color="C3", linestyle="--", linewidth=1.2)
            ax.set_title(f"{short(layer)} ({int(total):,} pairs)" if total else f"{short(layer)} (no live pairs)")
            ax.set_xlabel("|Pearson r| between unit pairs")
            ax.set_xlim(0, 1)
        for ax in axes[:: style.MAX_COLUMNS]:
            ax.set_ylabel("share of pairs")
        style.footnote(
            fig,
            [
                f"dashed line: the threshold |r| = {threshold:g} of a repeated pair; pairs summed "
                "over samplings; dead units left out"
            ],
        )
        return style.save(fig, stem)


def ablation_curves(curves: pd.DataFrame, layers: list[str], stem: str | Path, title: str | None = None) -> list[Path]:
    """Every probed layer's mean ablation curve, coloured by depth."""
    colours = style.sequential(layers, LAYER_MAP)
    with style.panels(1, title=title) as (fig, axes):
        ax = axes[0]
        for layer in layers:
            points = curves[curves["layer"] == layer].groupby("level")["unchanged"].mean()
            named = len(layers) <= MAX_LEGEND or layer in (layers[0], layers[-1])
            ax.plot(
                points.index * 100,
                points.to_numpy(),
                color=colours[layer],
                marker="o",
                markersize=3,
                label=short(layer) if named else None,
            )
        ax.set_xlabel("% of units removed")
        ax.set_ylabel("proportion of labels unchanged")
        ax.set_xlim(-3, 103)
        ax.set_ylim(0, 1.03)
        if len(layers) > 1:
            fig.legend(loc="outside right center", title="layer (by depth)")
        style.footnote(fig, ["mean over samplings; labels compared with the unablated network's own predictions"])
        return style.save(fig, stem)


def short(name: str) -> str:
    """``name``, or its last :data:`MAX_NAME` characters after an ellipsis."""
    return name if len(name) <= MAX_NAME else "…" + name[-(MAX_NAME - 1) :]


def draw_all(
    table: pd.DataFrame, curves: pd.DataFrame, histograms: pd.DataFrame, threshold: float, folder: Path
) -> list[Path]:
    """Every figure, as PNG and SVG in ``folder``; returns the PNGs."""
    layers = list(table["layer"])
    written = metrics_by_depth(table, folder / "metrics-by-depth", "Removability and repetition by depth")
    if not histograms.empty:
        written += similarity_histograms(
            histograms,
            chosen_layers(layers),
            threshold,
            folder / "similarity-histograms",
            "|r| between unit pairs, chosen layers",
        )
    if not curves.empty:
        written += ablation_curves(curves, layers, folder / "ablation-curves", "Random-ablation curves")
    return [path for path in written if path.suffix == ".png"]
