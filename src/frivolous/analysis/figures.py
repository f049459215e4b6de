"""The figures of one analysed model: its widths by depth, each metric against depth, |r| histograms, ablation curves.

Drawn with the sweep figures' look (:mod:`frivolous.plots.style`): layers are
coloured by depth from the same map as the per-layer sweep figures (with a
colour bar instead of a legend beyond :data:`MAX_LEGEND` layers), and each
function writes ``<stem>.png`` and ``<stem>.svg`` and returns their paths.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.cm import ScalarMappable
from matplotlib.colors import ListedColormap, Normalize
from matplotlib.ticker import MaxNLocator

from frivolous.analysis.layer_table import width_metrics
from frivolous.plots import style
from frivolous.plots.layers import LAYER_MAP

HISTOGRAM_LAYERS = 4
"""Layers whose |r| histograms are drawn: evenly spaced in depth, first and last included."""
HISTOGRAM_BINS = 50
"""The 1000 stored bins are summed into this many for drawing."""
MAX_LEGEND = 12
"""Beyond this many layers the ablation curves are keyed by a colour bar of depth, not a legend."""
MAX_NAMED_TICKS = 40
"""Up to this many layers, the widths figure names each layer under its depth."""
WIDE = (11.0, 4.8)
"""Inches of a one-panel figure that spans the page (about 1,650 pixels at the saved resolution)."""
MAX_NAME = 36
"""Characters of a layer's name shown in a legend or title (its end, which tells layers apart)."""
PANELS = {
    "auc": "area under ablation curve",
    "similarity": "similar units per unit",
    "similarity_fraction": "share of other live units similar",
    "dead_fraction": "fraction of units dead",
}
WIDTH_LINES = {
    "non_prunable": ("units", "non-prunable units (0.8 agreement)"),
    "pca95": ("channels", "principal components (95% variance)"),
    "pca80": ("channels", "principal components (80% variance)"),
}
"""The effective-width metrics drawn, each as a share of the layer's units or channels."""
WIDTHS = {
    "units": ("units (ablated)", "-", "o"),
    "channels": ("channels (correlated)", "-", "s"),
    "non_prunable": ("non-prunable units (0.8 agreement)", "--", "o"),
    "pca95": ("PCA components (95% variance)", ":", "^"),
    "pca80": ("PCA components (80% variance)", ":", "v"),
    "compress_keeps": ("units compress keeps (0.99 agreement)", "-.", "D"),
}
"""The lines of the headline figure: label, line style, marker (what compress keeps: a transformer's MLPs only)."""
CAPTIONS = {
    "widths-by-depth": "how wide each layer is and how wide it really is: its units, the units that cannot be "
    "removed without changing an answer (0.8 agreement) and the principal components that hold 95% and 80% of "
    "its variance, by depth (symmetric log scale).",
    "metrics-by-depth": "each layer's AUC, similarity, share of other live units similar and share of dead "
    "units, by depth; the last panel gives the effective widths as shares of the layer's size.",
    "similarity-histograms": "the distribution of |r| between pairs of live units in four layers, evenly "
    "spaced in depth; the dashed line is the threshold.",
    "ablation-curves": "the proportion of labels unchanged as units are removed at random, one curve per layer, "
    "coloured by depth.",
}
"""What each figure shows, for the report's captions (keyed by file stem)."""


def widths_by_depth(table: pd.DataFrame, stem: str | Path, title: str | None = None) -> list[Path]:
    """The headline figure: each layer's units, channels (where they differ from the units), non-prunable
    units, principal components (95% and 80%, where measured) and what compress keeps (a transformer's
    MLPs) against depth, on a symmetric log axis
    (a layer with no non-prunable unit sits at 0)."""
    lines = [
        column
        for column in WIDTHS
        if column in table
        and table[column].notna().any()
        and not (column == "channels" and table["channels"].equals(table["units"]))
    ]
    layers = list(table["layer"])
    with style.panels(1, title=title) as (fig, axes):
        fig.set_size_inches(WIDE[0] + 2.5, WIDE[1])  # the legend takes the extra inches on the right
        ax = axes[0]
        for i, column in enumerate(lines):
            label, linestyle, marker = WIDTHS[column]
            ax.plot(
                table["depth"],
                table[column],
                linestyle=linestyle,
                marker=marker,
                markersize=5,
                color=f"C{i}",
                label=label,
            )
        ax.set_yscale("symlog", linthresh=1, linscale=0.6)
        ax.set_ylim(bottom=0)
        ax.set_ylabel("count (symmetric log scale)")
        if len(layers) <= MAX_NAMED_TICKS:
            ax.set_xticks(list(table["depth"]), [f"{d}  {short(n)}" for d, n in zip(table["depth"], layers)])
            ax.tick_params(axis="x", labelrotation=60)
            for tick in ax.get_xticklabels():
                tick.set_horizontalalignment("right")
                tick.set_rotation_mode("anchor")
            ax.set_xlabel("probed layer (depth and name, in network order)")
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_xlabel(
                f"depth (probed layer, in network order: 1 = {short(layers[0])}, {len(layers)} = {short(layers[-1])})"
            )
        fig.legend(loc="outside right upper")
        style.footnote(
            fig,
            [
                "units: what the ablation removes (elements or channels, per --unit); PCA components are of the "
                "channels; non-prunable: units less those removable before fewer than 80% of labels stay unchanged"
            ],
        )
        return style.save(fig, stem)


def metrics_by_depth(table: pd.DataFrame, stem: str | Path, title: str | None = None) -> list[Path]:
    """One panel per metric against the layer's depth (AUC with its standard
    deviation over samplings), and one of the effective widths, where measured,
    as shares of the layer's size."""
    frame = table.assign(dead_fraction=table["dead"] / table["channels"])
    widths = [metric for metric in WIDTH_LINES if metric in width_metrics(table)]
    with style.panels(len(PANELS) + bool(widths), title=title) as (fig, axes):
        for ax, (metric, label) in zip(axes, PANELS.items()):
            error = auc_error(frame) if metric == "auc" else None
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
        style.footnote(
            fig,
            [
                "AUC error bars: 95% confidence interval (sampled estimator)"
                if "auc_low" in frame
                else "AUC error bars: standard deviation over samplings"
            ],
        )
        return style.save(fig, stem)


def auc_error(frame: pd.DataFrame) -> np.ndarray | pd.Series:
    """The AUC's error bars: its std over samplings, or the sampled estimator's interval (below, above)."""
    if "auc_low" in frame:
        return np.vstack([frame["auc"] - frame["auc_low"], frame["auc_high"] - frame["auc"]])
    return frame["auc_std"]


def chosen_layers(layers: list[str], count: int = HISTOGRAM_LAYERS) -> list[str]:
    """Up to ``count`` of ``layers`` evenly spaced in depth, the first and the last included."""
    if len(layers) <= count:
        return list(layers)
    return [layers[i] for i in np.unique(np.linspace(0, len(layers) - 1, count).round().astype(int))]


def similarity_histograms(
    histograms: pd.DataFrame, layers: list[str], threshold: float, stem: str | Path, title: str | None = None
) -> list[Path]:
    """One panel per chosen layer: the share of unit pairs per |r| bin, the threshold marked."""
    with style.panels(len(layers), columns=2, title=title) as (fig, axes):
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
        for ax in axes[::2]:
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
    """Every probed layer's mean ablation curve, coloured by depth: named in a legend up to
    :data:`MAX_LEGEND` layers, keyed by a colour bar of depth beyond."""
    colours = style.sequential(layers, LAYER_MAP)
    legend = len(layers) <= MAX_LEGEND
    with style.panels(1, title=title) as (fig, axes):
        fig.set_size_inches(WIDE[0] * 0.8, WIDE[1] * 1.2)
        ax = axes[0]
        for layer in layers:
            points = curves[curves["layer"] == layer].groupby("level")["unchanged"].mean()
            ax.plot(
                points.index * 100,
                points.to_numpy(),
                color=colours[layer],
                marker="o",
                markersize=4,
                alpha=0.9,
                label=f"{layers.index(layer) + 1}  {short(layer)}",
            )
        ax.set_xlabel("% of units removed")
        ax.set_ylabel("proportion of labels unchanged")
        ax.set_xlim(-3, 103)
        ax.set_ylim(0, 1.03)
        if len(layers) > 1 and legend:
            fig.legend(loc="outside right center", title="layer (depth, name)")
        elif len(layers) > 1:
            bar = ScalarMappable(Normalize(0.5, len(layers) + 0.5), ListedColormap(list(colours.values())))
            cbar = fig.colorbar(bar, ax=axes, aspect=30, pad=0.02)
            cbar.set_label(f"depth (1 = {short(layers[0])}, {len(layers)} = {short(layers[-1])})")
            cbar.locator = MaxNLocator(integer=True)
            cbar.update_ticks()
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
    written = widths_by_depth(table, folder / "widths-by-depth", "How wide each layer is, and how wide it really is")
    written += metrics_by_depth(table, folder / "metrics-by-depth", "Removability and repetition by depth")
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
